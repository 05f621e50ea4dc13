package dns

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// startServer serves src on a loopback port until the test ends.
func startServer(t *testing.T, src Source, cfg Config) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Upstreams == nil {
		cfg.Upstreams = []string{closedPort(t)}
	}
	srv, err := NewServer(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// closedPort is a loopback UDP/TCP address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// fakeUpstream is a resolver on loopback (UDP and TCP on one port) that answers every
// A question with 192.0.2.1 and records the transports it was asked over.
type fakeUpstream struct {
	addr string
	mu   sync.Mutex
	nets []string
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	// The server's own listen: the UDP port the kernel picks may be taken for TCP (another
	// process got it), and then it tries another.
	pc, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{addr: pc.LocalAddr().String()}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.mu.Lock()
		u.nets = append(u.nets, w.RemoteAddr().Network())
		u.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if r.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(r.Question[0].Name + " 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

func (u *fakeUpstream) transports() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.nets...)
}

// exchange asks addr one question over network ("udp" or "tcp").
func exchange(t *testing.T, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", network, m.Question[0].Name, err)
	}
	if resp.Id != m.Id {
		t.Fatalf("reply ID %d, want %d", resp.Id, m.Id)
	}
	return resp
}

func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// TestServerAnswers asks every resolver case through a real server, over UDP and TCP,
// twice (the second UDP answer comes from the answer cache).
func TestServerAnswers(t *testing.T) {
	up := startUpstream(t)
	srv := startServer(t, testSource(), Config{Upstreams: []string{up.addr}})
	for _, network := range []string{"udp", "tcp"} {
		for round := range 2 {
			for _, tc := range resolveCases {
				t.Run(fmt.Sprintf("%s/%d/%s", network, round, tc.name), func(t *testing.T) {
					resp := exchange(t, network, srv.Addr, question(tc.qname, tc.qtype))
					if !resp.Response || resp.Opcode != dns.OpcodeQuery || !resp.RecursionDesired || !resp.RecursionAvailable {
						t.Errorf("header: %+v", resp.MsgHdr)
					}
					if len(resp.Question) != 1 || resp.Question[0].Name != tc.qname {
						t.Errorf("question section %v", resp.Question)
					}
					if tc.forwd {
						// The fake upstream answers, without authority.
						if resp.Authoritative || resp.Rcode != dns.RcodeSuccess {
							t.Errorf("forwarded answer: %s", resp)
						}
						return
					}
					if !resp.Authoritative {
						t.Errorf("cluster answer not authoritative")
					}
					answer := resp.Answer
					if tc.qtype != dns.TypeCNAME && len(answer) > 0 && answer[0].Header().Rrtype == dns.TypeCNAME {
						answer = answer[:1] // the followed target is checked in TestServerExternalName
					}
					checkAnswer(t, tc, true, resp.Rcode, answer, resp.Ns, resp.Extra)
				})
			}
		}
	}
}

func TestServerPreservesCase(t *testing.T) {
	srv := startServer(t, testSource(), Config{})
	for _, name := range []string{"FoO.DeFault.svc.cluster.local.", "foo.default.svc.cluster.local.", "FoO.DeFault.svc.cluster.local.", "FOO.DEFAULT.SVC.CLUSTER.LOCAL."} {
		resp := exchange(t, "udp", srv.Addr, question(name, dns.TypeA))
		if resp.Question[0].Name != name || len(resp.Answer) != 1 || resp.Answer[0].Header().Name != name {
			t.Errorf("asked %s, got %s", name, resp)
		}
	}
}

func TestServerFollowsSourceChanges(t *testing.T) {
	src := testSource()
	srv := startServer(t, src, Config{})
	firstA := func(name string) string {
		t.Helper()
		resp := exchange(t, "udp", srv.Addr, question(name, dns.TypeA))
		if resp.Rcode != dns.RcodeSuccess {
			return dns.RcodeToString[resp.Rcode]
		}
		return values(resp.Answer)
	}
	const name = "foo.default.svc.cluster.local."
	for range 2 { // the second answer is cached
		if got := firstA(name); got != "A 10.43.0.20" {
			t.Fatalf("before: %s", got)
		}
	}
	src.SetService(clusterIPService("default", "foo", []string{"10.43.0.99"}, httpPort))
	if got := firstA(name); got != "A 10.43.0.99" {
		t.Errorf("after an update: %s", got)
	}
	src.DeleteService("default", "foo")
	if got := firstA(name); got != "NXDOMAIN" {
		t.Errorf("after a delete: %s", got)
	}
	src.SetEndpointSlice(endpointSlice("default", "db", "db-a", pgSlice, endpoint("10.42.9.9", true, "")))
	src.DeleteEndpointSlice("default", "db-b")
	if got := firstA("db.default.svc.cluster.local."); got != "A 10.42.9.9" {
		t.Errorf("headless after an endpoint change: %s", got)
	}
}

// bigHeadless is a source with one headless service of n endpoints.
func bigHeadless(n int) *MemorySource {
	var eps []discoveryv1.Endpoint
	for i := range n {
		eps = append(eps, endpoint(fmt.Sprintf("10.42.%d.%d", i/250, i%250+1), true, ""))
	}
	return NewMemorySource([]*corev1.Service{headlessService("default", "big", pgPort)},
		[]*discoveryv1.EndpointSlice{endpointSlice("default", "big", "big-a", pgSlice, eps...)})
}

func TestServerTruncatesForUDP(t *testing.T) {
	srv := startServer(t, bigHeadless(100), Config{})
	const name = "big.default.svc.cluster.local."
	for _, tc := range []struct {
		name      string
		network   string
		edns      uint16
		truncated bool
		max       int
	}{
		{name: "udp without EDNS", network: "udp", truncated: true, max: dns.MinMsgSize},
		{name: "udp with a small EDNS size", network: "udp", edns: 256, truncated: true, max: dns.MinMsgSize},
		{name: "udp with EDNS 1232", network: "udp", edns: 1232, truncated: true, max: 1232},
		{name: "udp with EDNS 4096", network: "udp", edns: 4096, max: 4096},
		{name: "tcp", network: "tcp", max: dns.MaxMsgSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 2 {
				m := question(name, dns.TypeA)
				if tc.edns != 0 {
					m.SetEdns0(tc.edns, false)
				}
				resp := exchange(t, tc.network, srv.Addr, m)
				resp.Compress = true // as it was sent
				size := resp.Len()
				if resp.Truncated != tc.truncated || size > tc.max {
					t.Fatalf("round %d: truncated %v with %d answers, %d bytes; want truncated %v within %d",
						round, resp.Truncated, len(resp.Answer), size, tc.truncated, tc.max)
				}
				if !tc.truncated && len(resp.Answer) != 100 {
					t.Errorf("%d answers, want 100", len(resp.Answer))
				}
				if tc.truncated && (len(resp.Answer) == 0 || len(resp.Answer) >= 100) {
					t.Errorf("truncated answer holds %d records", len(resp.Answer))
				}
			}
		})
	}
	// What a stub resolver does with TC: ask again over TCP.
	resp := exchange(t, "udp", srv.Addr, question(name, dns.TypeA))
	if !resp.Truncated {
		t.Fatal("not truncated")
	}
	if resp = exchange(t, "tcp", srv.Addr, question(name, dns.TypeA)); len(resp.Answer) != 100 {
		t.Errorf("tcp fallback: %d answers", len(resp.Answer))
	}
}

// TestServerAnswersBeyondTheReadBuffer: a UDP reply larger than the buffer queries are
// read into (an EDNS client asking for 400 addresses) is built whole.
func TestServerAnswersBeyondTheReadBuffer(t *testing.T) {
	srv := startServer(t, bigHeadless(400), Config{})
	for round := range 2 {
		m := question("big.default.svc.cluster.local.", dns.TypeA)
		m.SetEdns0(65000, false)
		resp := exchange(t, "udp", srv.Addr, m)
		if resp.Truncated || len(resp.Answer) != 400 || resp.Len() <= udpReadSize {
			t.Fatalf("round %d: truncated %v, %d answers, %d bytes; want all 400 in more than %d bytes",
				round, resp.Truncated, len(resp.Answer), resp.Len(), udpReadSize)
		}
	}
}

func TestServerForwards(t *testing.T) {
	up := startUpstream(t)
	srv := startServer(t, testSource(), Config{Upstreams: []string{closedPort(t), up.addr}})
	for _, network := range []string{"udp", "tcp"} {
		resp := exchange(t, network, srv.Addr, question("example.org.", dns.TypeA))
		if resp.Rcode != dns.RcodeSuccess || values(resp.Answer) != "A 192.0.2.1" || resp.Answer[0].Header().Ttl != 60 {
			t.Errorf("%s: forwarded answer %s", network, resp)
		}
	}
	if got := up.transports(); len(got) != 2 || got[0] != "udp" || got[1] != "tcp" {
		t.Errorf("upstream asked over %v, want the client's transports [udp tcp]", got)
	}
}

func TestServerUpstreamDown(t *testing.T) {
	for _, tc := range []struct {
		name      string
		upstreams []string
	}{
		{name: "closed port", upstreams: []string{closedPort(t)}},
		{name: "no upstreams", upstreams: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, testSource(), Config{Upstreams: tc.upstreams, ResolvConf: "/nonexistent"})
			for _, network := range []string{"udp", "tcp"} {
				if resp := exchange(t, network, srv.Addr, question("example.org.", dns.TypeA)); resp.Rcode != dns.RcodeServerFailure {
					t.Errorf("%s: rcode %s, want SERVFAIL", network, dns.RcodeToString[resp.Rcode])
				}
			}
			// Cluster names still answer.
			if resp := exchange(t, "udp", srv.Addr, question("foo.default.svc.cluster.local.", dns.TypeA)); len(resp.Answer) != 1 {
				t.Errorf("cluster name: %s", resp)
			}
		})
	}
}

func TestServerExternalName(t *testing.T) {
	up := startUpstream(t)
	src := testSource()
	src.SetService(externalService("default", "alias", "foo.default.svc.cluster.local"))
	src.SetService(externalService("default", "loop", "loop.default.svc.cluster.local"))
	srv := startServer(t, src, Config{Upstreams: []string{up.addr}})
	for _, tc := range []struct {
		name, qname string
		qtype       uint16
		rcode       int
		answer      string
	}{
		{name: "outside: CNAME and the upstream's A", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: "A 192.0.2.1, CNAME example.org."},
		{name: "outside: CNAME only", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeCNAME, answer: "CNAME example.org."},
		{name: "inside: CNAME and the service's A", qname: "alias.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: "A 10.43.0.20, CNAME foo.default.svc.cluster.local."},
		{name: "a loop ends", qname: "loop.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: "CNAME loop.default.svc.cluster.local., CNAME loop.default.svc.cluster.local., CNAME loop.default.svc.cluster.local., CNAME loop.default.svc.cluster.local., CNAME loop.default.svc.cluster.local., CNAME loop.default.svc.cluster.local., CNAME loop.default.svc.cluster.local., CNAME loop.default.svc.cluster.local., CNAME loop.default.svc.cluster.local."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				resp := exchange(t, network, srv.Addr, question(tc.qname, tc.qtype))
				if resp.Rcode != tc.rcode || values(resp.Answer) != tc.answer {
					t.Errorf("%s: %s %s, want %q", network, dns.RcodeToString[resp.Rcode], values(resp.Answer), tc.answer)
				}
			}
		})
	}
}

func TestServerEDNS(t *testing.T) {
	srv := startServer(t, testSource(), Config{})
	for _, do := range []bool{false, true} {
		for round := range 2 {
			m := question("foo.default.svc.cluster.local.", dns.TypeA)
			m.SetEdns0(4096, do)
			resp := exchange(t, "udp", srv.Addr, m)
			opt := resp.IsEdns0()
			if opt == nil || opt.Do() != do || opt.UDPSize() != ednsSize || len(resp.Answer) != 1 {
				t.Errorf("do=%v round %d: %s", do, round, resp)
			}
		}
	}
	m := question("foo.default.svc.cluster.local.", dns.TypeA)
	m.SetEdns0(4096, false)
	m.IsEdns0().SetVersion(1)
	if resp := exchange(t, "udp", srv.Addr, m); resp.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", dns.RcodeToString[resp.Rcode])
	}
}

func TestServerOddRequests(t *testing.T) {
	srv := startServer(t, testSource(), Config{})
	two := question("foo.default.svc.cluster.local.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	notify := question("cluster.local.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	for _, tc := range []struct {
		name  string
		m     *dns.Msg
		rcode int
	}{
		{name: "two questions", m: two, rcode: dns.RcodeFormatError},
		{name: "notify", m: notify, rcode: dns.RcodeNotImplemented},
	} {
		for _, network := range []string{"udp", "tcp"} {
			if resp := exchange(t, network, srv.Addr, tc.m); resp.Rcode != tc.rcode {
				t.Errorf("%s over %s: rcode %s, want %s", tc.name, network, dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
		}
	}
}

// TestServerMalformed sends packets that do not parse: the server answers FORMERR to
// those with a query header, drops the rest, and keeps answering.
func TestServerMalformed(t *testing.T) {
	srv := startServer(t, testSource(), Config{})
	conn, err := net.Dial("udp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	valid, err := question("foo.default.svc.cluster.local.", dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		pkt   []byte
		reply bool
		rcode int // of the reply, if one is due
	}{
		{name: "empty", pkt: []byte{}},
		{name: "short", pkt: []byte{1, 2, 3}},
		{name: "header claiming a question", pkt: []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, reply: true, rcode: dns.RcodeFormatError},
		{name: "truncated question", pkt: valid[:len(valid)-3], reply: true, rcode: dns.RcodeFormatError},
		{name: "label past the end", pkt: append(append([]byte{}, valid[:12]...), 63, 'a'), reply: true, rcode: dns.RcodeFormatError},
		{name: "compression loop", pkt: append(append([]byte{}, valid[:12]...), 0xc0, 12, 0, 1, 0, 1), reply: true, rcode: dns.RcodeFormatError},
		{name: "a response", pkt: append([]byte{0xab, 0xcd, 0x80}, valid[3:]...)},
		// miekg ignores what follows the message, and so do we.
		{name: "trailing garbage", pkt: append(append([]byte{}, valid...), 1, 2, 3), reply: true, rcode: dns.RcodeSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := conn.Write(tc.pkt); err != nil {
				t.Fatal(err)
			}
			if tc.reply {
				buf := make([]byte, 512)
				if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("no reply: %v", err)
				}
				var resp dns.Msg
				if err := resp.Unpack(buf[:n]); err != nil || resp.Rcode != tc.rcode || resp.Id != uint16(tc.pkt[0])<<8|uint16(tc.pkt[1]) {
					t.Errorf("reply %v (%v), want %s", resp.MsgHdr, err, dns.RcodeToString[tc.rcode])
				}
			}
			if resp := exchange(t, "udp", srv.Addr, question("foo.default.svc.cluster.local.", dns.TypeA)); len(resp.Answer) != 1 {
				t.Errorf("after a malformed packet: %s", resp)
			}
		})
	}
}

// TestServerWildcardListen serves UDP through miekg's server, which replies from the
// address each query was sent to.
func TestServerWildcardListen(t *testing.T) {
	srv := startServer(t, testSource(), Config{Listen: "0.0.0.0:0"})
	_, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	for _, network := range []string{"udp", "tcp"} {
		if resp := exchange(t, network, addr, question("foo.default.svc.cluster.local.", dns.TypeA)); values(resp.Answer) != "A 10.43.0.20" {
			t.Errorf("%s: %s", network, resp)
		}
	}
}

func TestServerNameserverRecord(t *testing.T) {
	srv := startServer(t, testSource(), Config{})
	resp := exchange(t, "udp", srv.Addr, question("ns.dns.cluster.local.", dns.TypeA))
	if values(resp.Answer) != "A 127.0.0.1" {
		t.Errorf("ns.dns: %s", resp)
	}
}

// TestServerConcurrent asks many questions at once (run with -race).
func TestServerConcurrent(t *testing.T) {
	up := startUpstream(t)
	src := testSource()
	srv := startServer(t, src, Config{Upstreams: []string{up.addr}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				tc := resolveCases[(i*50+j)%len(resolveCases)]
				c := &dns.Client{Timeout: 5 * time.Second}
				if _, _, err := c.Exchange(question(tc.qname, tc.qtype), srv.Addr); err != nil {
					t.Errorf("%s: %v", tc.qname, err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			src.SetService(clusterIPService("default", "churn", []string{fmt.Sprintf("10.43.1.%d", i+1)}, httpPort))
		}
	})
	wg.Wait()
}

func TestServerDoesNotForwardToItself(t *testing.T) {
	self := closedPort(t)
	srv := startServer(t, testSource(), Config{Listen: self, Upstreams: []string{self}})
	if len(srv.upstreams) != 0 {
		t.Fatalf("upstreams %v include the server", srv.upstreams)
	}
	if resp := exchange(t, "udp", srv.Addr, question("example.org.", dns.TypeA)); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
}
