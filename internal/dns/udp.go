package dns

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"

	"github.com/miekg/dns"
)

// serveUDP reads queries with one goroutine per usable CPU, each answering cluster
// questions itself — from the answer cache when it can, which neither parses nor
// allocates — and handing questions for the upstreams to goroutines of their own.
// (miekg's server starts a goroutine and allocates buffers and messages for every
// packet, which cost about half the CPU of an answer.) It returns when the
// connection is closed.
func (s *Server) serveUDP() error {
	readers := runtime.GOMAXPROCS(0)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() { errs[i] = s.readUDP() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// udpReadSize bounds a query read over UDP. Queries are small (one question and an OPT
// record); CoreDNS (miekg's default) reads them into 512 bytes. Replies are built in a
// buffer that starts at the usual EDNS size and grows for larger answers.
const udpReadSize = 4096

func (s *Server) readUDP() error {
	buf := make([]byte, udpReadSize)
	out := make([]byte, 0, udpReadSize)
	key := make([]byte, 0, 300)
	for {
		n, from, err := s.udpConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Debug("dns: udp read", "err", err)
			continue // e.g. an ICMP error reported on the socket
		}
		pkt := buf[:n]
		l := s.lookup(pkt, key[:0], out[:0])
		if l.reply != nil {
			_, _ = s.udpConn.WriteToUDPAddrPort(l.reply, from)
			continue
		}
		wire, later := s.answerPacket(pkt, l, out[:0])
		switch {
		case later != nil:
			s.respondLater(later, from)
		case wire != nil:
			_, _ = s.udpConn.WriteToUDPAddrPort(wire, from)
		}
	}
}

// cacheLookup is what the answer cache says about one packet.
type cacheLookup struct {
	key     []byte // nil if the packet's reply cannot be cached
	version uint64 // of the Source, read before any answer is made
	reply   []byte // the cached reply with the packet's message ID; nil on a miss
}

// lookup finds pkt's reply in the cache; key and out are buffers for the key and the
// reply.
func (s *Server) lookup(pkt, key, out []byte) cacheLookup {
	if s.cache == nil {
		return cacheLookup{}
	}
	key, size, ok := queryKey(pkt, key)
	if !ok {
		return cacheLookup{}
	}
	l := cacheLookup{key: key, version: s.versioned.Version()}
	if wire, ok := s.cache.get(key, l.version); ok && len(wire) <= size {
		l.reply = append(out, wire...)
		l.reply[0], l.reply[1] = pkt[0], pkt[1]
	}
	return l
}

// answerPacket is the general path: parse, resolve, pack into out, and keep the reply
// in the cache when it may be reused. It returns the UDP reply to pkt (nil: none), or
// the parsed request if the upstreams must answer it.
func (s *Server) answerPacket(pkt []byte, l cacheLookup, out []byte) (wire []byte, later *dns.Msg) {
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		return formatError(pkt), nil
	}
	m, needsUpstream, cacheable := s.respondLocally(req)
	if needsUpstream {
		return nil, req
	}
	if m == nil {
		return nil, nil
	}
	wire, err := m.PackBuffer(out)
	if err != nil {
		s.log.Debug("dns: pack reply", "name", req.Question[0].Name, "err", err)
		return nil, nil
	}
	if len(wire) > udpSize(req) {
		fitUDP(m, req)
		if wire, err = m.PackBuffer(out); err != nil {
			return nil, nil
		}
		cacheable = false
	}
	// Keep the reply if it was made for exactly this question: the packed question is
	// the asked one, byte for byte (the key holds it, and a flags byte).
	if cacheable && l.key != nil {
		question := l.key[:len(l.key)-1]
		if bytes.HasPrefix(wire[headerSize:], question) {
			s.cache.put(l.key, l.version, bytes.Clone(wire))
		}
	}
	return wire, nil
}

// respondLater answers a question for the upstreams on a goroutine of its own, or
// SERVFAIL at once when too many are in flight.
func (s *Server) respondLater(req *dns.Msg, from netip.AddrPort) {
	select {
	case s.upstreamSlots <- struct{}{}:
	default:
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		s.writeUDP(m, req, from)
		return
	}
	s.wg.Go(func() {
		defer func() { <-s.upstreamSlots }()
		s.writeUDP(s.respond(req, false), req, from)
	})
}

func (s *Server) writeUDP(m, req *dns.Msg, from netip.AddrPort) {
	fitUDP(m, req)
	wire, err := m.Pack()
	if err != nil {
		s.log.Debug("dns: pack reply", "err", err)
		return
	}
	_, _ = s.udpConn.WriteToUDPAddrPort(wire, from)
}

// formatError is the reply to a message that does not parse: FORMERR when at least
// its header does and it is a query (as miekg's server does); nil otherwise.
func formatError(pkt []byte) []byte {
	if len(pkt) < headerSize || pkt[2]&0x80 != 0 {
		return nil
	}
	m := new(dns.Msg)
	m.Id = uint16(pkt[0])<<8 | uint16(pkt[1])
	m.Response = true
	m.Opcode = int(pkt[2]>>3) & 0xf
	m.Rcode = dns.RcodeFormatError
	wire, err := m.Pack()
	if err != nil {
		return nil
	}
	return wire
}
