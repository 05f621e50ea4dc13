package dns

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestQueryKey(t *testing.T) {
	pack := func(m *dns.Msg) []byte {
		t.Helper()
		wire, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return wire
	}
	plain := pack(question("foo.default.svc.cluster.local.", dns.TypeA))
	withEDNS := func(size uint16, do bool) []byte {
		m := question("foo.default.svc.cluster.local.", dns.TypeA)
		m.SetEdns0(size, do)
		return pack(m)
	}
	// A name of n wire bytes with the root label.
	nameOf := func(n int) string {
		var labels []string
		for n > 1 {
			l := min(63, n-2)
			labels = append(labels, strings.Repeat("a", l))
			n -= l + 1
		}
		return strings.Join(labels, ".") + "."
	}
	rawQuestion := func(name string) []byte {
		m := question("x.", dns.TypeA)
		wire := pack(m)[:headerSize]
		for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
			wire = append(wire, byte(len(l)))
			wire = append(wire, l...)
		}
		return append(wire, 0, 0, 1, 0, 1)
	}
	setFlag := func(wire []byte, i int, bit byte) []byte {
		wire = bytes.Clone(wire)
		wire[i] |= bit
		return wire
	}
	setCount := func(wire []byte, i int, n uint16) []byte {
		wire = bytes.Clone(wire)
		binary.BigEndian.PutUint16(wire[i:], n)
		return wire
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		ok   bool
		size int
		flag byte
	}{
		{name: "plain query", pkt: plain, ok: true, size: 512, flag: keyRD},
		{name: "no recursion desired", pkt: pack(func() *dns.Msg { m := question("a.", dns.TypeA); m.RecursionDesired = false; return m }()), ok: true, size: 512},
		{name: "checking disabled", pkt: setFlag(plain, 3, 0x10), ok: true, size: 512, flag: keyRD | keyCD},
		{name: "EDNS", pkt: withEDNS(4096, false), ok: true, size: 4096, flag: keyRD | keyOPT},
		{name: "EDNS DO", pkt: withEDNS(1232, true), ok: true, size: 1232, flag: keyRD | keyOPT | keyDO},
		{name: "EDNS below 512", pkt: withEDNS(100, false), ok: true, size: 512, flag: keyRD | keyOPT},
		{name: "a response", pkt: setFlag(plain, 2, 0x80)},
		{name: "opcode notify", pkt: setFlag(plain, 2, dns.OpcodeNotify<<3)},
		{name: "two questions", pkt: setCount(plain, 4, 2)},
		{name: "an answer", pkt: setCount(plain, 6, 1)},
		{name: "two additionals", pkt: setCount(plain, 10, 2)},
		{name: "short", pkt: plain[:len(plain)-1]},
		{name: "trailing bytes", pkt: append(bytes.Clone(plain), 0)},
		{name: "header only", pkt: plain[:headerSize]},
		{name: "compressed name", pkt: append(bytes.Clone(plain[:headerSize]), 0xc0, 12, 0, 1, 0, 1)},
		{name: "name of 255 bytes", pkt: rawQuestion(nameOf(255)), ok: true, size: 512, flag: keyRD},
		{name: "name of 256 bytes", pkt: rawQuestion(nameOf(256))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, size, ok := queryKey(tc.pkt, nil)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			var m dns.Msg
			if ok {
				if err := m.Unpack(tc.pkt); err != nil || len(m.Question) != 1 {
					t.Fatalf("accepted a packet miekg reads as %v, %v", m.Question, err)
				}
				if size != tc.size || key[len(key)-1] != tc.flag {
					t.Errorf("size %d flags %b, want %d %b", size, key[len(key)-1], tc.size, tc.flag)
				}
			}
		})
	}
}

func TestAnswerCacheBounded(t *testing.T) {
	c := newAnswerCache(3)
	for i := range 10 {
		c.put([]byte{byte(i)}, 1, []byte{byte(i)})
	}
	if len(c.entries) != 3 {
		t.Errorf("%d entries, want 3", len(c.entries))
	}
	if _, ok := c.get([]byte{9}, 1); !ok {
		t.Errorf("the newest entry is gone")
	}
	if _, ok := c.get([]byte{9}, 2); ok {
		t.Errorf("an entry of an old version is served")
	}
}
