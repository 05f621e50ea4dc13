package dns

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/miekg/dns"
)

// fuzzServer is a Server that is not listening: the fuzz targets call its packet path.
func fuzzServer() *Server {
	src := testSource()
	return &Server{
		resolver:      NewResolver(src, "cluster.local"),
		versioned:     src,
		cache:         newAnswerCache(64),
		log:           slog.New(slog.DiscardHandler),
		upstreamSlots: make(chan struct{}, 1),
	}
}

func addQuerySeeds(f *testing.F) {
	for _, tc := range resolveCases {
		m := question(tc.qname, tc.qtype)
		if wire, err := m.Pack(); err == nil {
			f.Add(wire)
		}
		m.SetEdns0(1232, true)
		if wire, err := m.Pack(); err == nil {
			f.Add(wire)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
}

// FuzzServePacket feeds arbitrary packets to the UDP path: it must not panic, must
// reply with messages that parse, must accept into the cache only what miekg parses as
// the same question, and must serve from the cache what it would have made afresh.
func FuzzServePacket(f *testing.F) {
	addQuerySeeds(f)
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, pkt []byte) {
		l := s.lookup(pkt, nil, nil)
		var req dns.Msg
		reqErr := req.Unpack(pkt)
		if l.key != nil {
			if reqErr != nil || len(req.Question) != 1 {
				t.Fatalf("queryKey accepted a packet miekg reads as %v, %v", req.Question, reqErr)
			}
		}
		wire, later := s.answerPacket(pkt, l, nil)
		if later != nil {
			if reqErr != nil {
				t.Fatalf("forwarding a packet that does not parse")
			}
			return
		}
		if wire == nil {
			return
		}
		var resp dns.Msg
		if err := resp.Unpack(wire); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if !resp.Response || resp.Id != uint16(pkt[0])<<8|uint16(pkt[1]) {
			t.Fatalf("reply header %+v", resp.MsgHdr)
		}
		if reqErr == nil && len(wire) > udpSize(&req) {
			t.Fatalf("%d-byte UDP reply for a client that takes %d", len(wire), udpSize(&req))
		}
		if l.key == nil {
			return
		}
		// The same question with another ID, now from the cache if it was kept.
		again := bytes.Clone(pkt)
		again[0] ^= 0xff
		if hit := s.lookup(again, nil, nil); hit.reply != nil {
			want := bytes.Clone(wire)
			want[0] ^= 0xff
			if !bytes.Equal(hit.reply, want) {
				t.Fatalf("cached reply\n%x\ndiffers from the fresh one\n%x", hit.reply, want)
			}
		}
	})
}

// FuzzResolve asks arbitrary names: no panic, and every cluster answer is positive or
// carries the SOA.
func FuzzResolve(f *testing.F) {
	for _, tc := range resolveCases {
		f.Add(tc.qname, tc.qtype)
	}
	r := NewResolver(testSource(), "cluster.local")
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		ans := r.Resolve(dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET})
		if ans.Handled && len(ans.Answer) == 0 && len(ans.Ns) == 0 {
			t.Fatalf("%s %d: empty answer without SOA", name, qtype)
		}
	})
}
