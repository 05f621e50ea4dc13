package dns

import (
	"encoding/binary"
	"sync"
)

// answerCache holds packed replies to cluster questions, keyed by the question as it
// arrived (name bytes exactly, so the reply's question section — which answer names
// point into — is the asker's, case and all) and the request flags the reply depends
// on. A reply is valid while the Source's version is the one it was made at; serving
// one is a copy and a new message ID, without parsing or allocating.
type answerCache struct {
	mu      sync.RWMutex
	entries map[string]cachedReply
	max     int
}

type cachedReply struct {
	wire    []byte
	version uint64
}

func newAnswerCache(max int) *answerCache {
	return &answerCache{entries: make(map[string]cachedReply), max: max}
}

func (c *answerCache) get(key []byte, version uint64) ([]byte, bool) {
	c.mu.RLock()
	e, ok := c.entries[string(key)]
	c.mu.RUnlock()
	return e.wire, ok && e.version == version
}

func (c *answerCache) put(key []byte, version uint64, wire []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[string(key)]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // map order is random: evict an arbitrary entry
			delete(c.entries, k)
			break
		}
	}
	c.entries[string(key)] = cachedReply{wire: wire, version: version}
}

// Flags of a query that its reply depends on, the last byte of a cache key.
const (
	keyRD  = 1 << iota // recursion desired, echoed
	keyCD              // checking disabled, echoed
	keyOPT             // EDNS: the reply carries an OPT record
	keyDO              // DNSSEC OK, echoed in the OPT record
)

const (
	headerSize = 12
	typeOPT    = 41
)

// queryKey reads a plain query — one question, no answers or authority, at most an
// EDNS version 0 OPT record, and nothing else — and appends its cache key to key. It
// also returns the largest UDP reply the client takes. ok is false for anything else,
// which takes the general path.
func queryKey(msg, key []byte) (_ []byte, udpSize int, ok bool) {
	if len(msg) < headerSize {
		return key, 0, false
	}
	flags1, flags2 := msg[2], msg[3]
	if flags1&0xf8 != 0 { // QR, opcode: a query with opcode QUERY
		return key, 0, false
	}
	if binary.BigEndian.Uint16(msg[4:]) != 1 || binary.BigEndian.Uint16(msg[6:]) != 0 || binary.BigEndian.Uint16(msg[8:]) != 0 {
		return key, 0, false
	}
	additional := binary.BigEndian.Uint16(msg[10:])
	if additional > 1 {
		return key, 0, false
	}
	// The question name: labels up to the root, no compression (there is nothing to
	// point back to), at most 255 bytes.
	off := headerSize
	for {
		if off >= len(msg) {
			return key, 0, false
		}
		l := int(msg[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 {
			return key, 0, false
		}
		off += 1 + l
		if off-headerSize >= 255 { // with the root label, more than 255 bytes
			return key, 0, false
		}
	}
	if off+4 > len(msg) {
		return key, 0, false
	}
	key = append(key, msg[headerSize:off+4]...) // name, type, class
	off += 4
	var f byte
	if flags1&0x01 != 0 {
		f |= keyRD
	}
	if flags2&0x10 != 0 {
		f |= keyCD
	}
	udpSize = 512
	if additional == 1 {
		// The OPT record: root name, type, payload size, extended rcode, version, flags,
		// options.
		if off+11 > len(msg) || msg[off] != 0 || binary.BigEndian.Uint16(msg[off+1:]) != typeOPT {
			return key, 0, false
		}
		if msg[off+5] != 0 || msg[off+6] != 0 { // extended rcode, version
			return key, 0, false
		}
		udpSize = max(int(binary.BigEndian.Uint16(msg[off+3:])), 512)
		f |= keyOPT
		if msg[off+7]&0x80 != 0 {
			f |= keyDO
		}
		rdlen := int(binary.BigEndian.Uint16(msg[off+9:]))
		off += 11 + rdlen
	}
	if off != len(msg) {
		return key, 0, false
	}
	return append(key, f), udpSize, true
}
