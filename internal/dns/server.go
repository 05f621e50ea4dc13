package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Config configures a Server.
type Config struct {
	// Listen is the UDP and TCP address to serve on (e.g. "10.43.0.10:53").
	Listen string
	// Domain is the cluster domain (default "cluster.local").
	Domain string
	// Upstreams are "host:port" resolvers for names outside the cluster; empty reads
	// ResolvConf.
	Upstreams []string
	// ResolvConf is read for upstreams when Upstreams is empty (default /etc/resolv.conf).
	ResolvConf string
	// UpstreamTimeout bounds one exchange with one upstream (default 2 s).
	UpstreamTimeout time.Duration
	// CacheSize bounds the answers for cluster names kept ready to send (default 10 000;
	// negative disables the cache). Entries are dropped when the Source changes.
	CacheSize int
	Log       *slog.Logger
}

const (
	defaultCacheSize = 10000
	// maxUpstreamQueries bounds the forwarded questions in flight; beyond it the
	// server answers SERVFAIL at once instead of queueing behind a slow upstream.
	maxUpstreamQueries = 1024
	// ednsSize is the UDP payload size the server advertises (the DNS flag day 2020 value).
	ednsSize = 1232
	// maxCNAMEChain bounds how many in-cluster CNAMEs an answer follows.
	maxCNAMEChain = 8
)

// Server serves cluster DNS on UDP and TCP.
type Server struct {
	resolver  *Resolver
	versioned Versioned // nil: the Source cannot say when it changes, so nothing is cached
	cache     *answerCache
	upstreams []string
	log       *slog.Logger
	udpClient *dns.Client
	tcpClient *dns.Client

	// Exactly one of udpConn (served by the server's own loop) and udp (miekg's server,
	// used when listening on a wildcard address, where replies need the destination
	// address of each query as their source) is set.
	udpConn *net.UDPConn
	udp     *dns.Server
	tcp     *dns.Server

	upstreamSlots chan struct{}
	wg            sync.WaitGroup // the listeners' goroutines and the forwards in flight
	// baseCtx ends when Serve returns; forwards in flight are cancelled with it.
	baseCtx context.Context

	// Addr is the bound address (useful with port 0).
	Addr string
}

// NewServer binds the listeners; call Serve to answer.
func NewServer(src Source, cfg Config) (*Server, error) {
	if cfg.Domain == "" {
		cfg.Domain = "cluster.local"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = 2 * time.Second
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = defaultCacheSize
	}
	upstreams := cfg.Upstreams
	if len(upstreams) == 0 {
		path := cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		cc, err := dns.ClientConfigFromFile(path)
		if err != nil {
			cfg.Log.Warn("dns: no upstream resolvers; names outside the cluster will fail", "resolvConf", path, "err", err)
		} else {
			for _, s := range cc.Servers {
				upstreams = append(upstreams, net.JoinHostPort(s, cc.Port))
			}
		}
	}
	pc, ln, err := listen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	s := &Server{
		resolver:      NewResolver(src, cfg.Domain),
		upstreams:     withoutAddr(upstreams, pc.LocalAddr().String()),
		log:           cfg.Log,
		udpClient:     &dns.Client{Net: "udp", Timeout: cfg.UpstreamTimeout},
		tcpClient:     &dns.Client{Net: "tcp", Timeout: cfg.UpstreamTimeout},
		upstreamSlots: make(chan struct{}, maxUpstreamQueries),
		baseCtx:       context.Background(),
		Addr:          pc.LocalAddr().String(),
	}
	if v, ok := src.(Versioned); ok && cfg.CacheSize > 0 {
		s.versioned, s.cache = v, newAnswerCache(cfg.CacheSize)
	}
	local := pc.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	if local.IsUnspecified() {
		s.udp = &dns.Server{PacketConn: pc, Handler: s}
	} else {
		s.udpConn = pc.(*net.UDPConn)
		s.resolver.nsAddr = local
	}
	s.tcp = &dns.Server{Listener: ln, Handler: s}
	return s, nil
}

// withoutAddr drops self from upstreams: a node whose resolv.conf names the cluster
// DNS address would otherwise have the server forward to itself until it runs out of
// slots.
func withoutAddr(upstreams []string, self string) []string {
	var out []string
	for _, up := range upstreams {
		if up != self {
			out = append(out, up)
		}
	}
	return out
}

// listen binds UDP and TCP on one port. When the port is the kernel's choice (0), the
// UDP one may be taken for TCP: then it tries again with another.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen %s: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || attempt == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dns: listen tcp %s: %w", pc.LocalAddr(), err)
		}
	}
}

// Serve answers until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.baseCtx = ctx
	errs := make(chan error, 2)
	servers := []*dns.Server{s.tcp}
	if s.udp != nil {
		servers = append(servers, s.udp)
	}
	var err error
	for _, srv := range servers {
		// Shutdown fails on a server that has not started yet, which would then serve
		// forever: wait until each has.
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Go(func() { errs <- srv.ActivateAndServe() })
		select {
		case <-started:
		case err = <-errs:
		}
		if err != nil {
			break
		}
	}
	if s.udpConn != nil {
		s.wg.Go(func() { errs <- s.serveUDP() })
	}
	if err == nil {
		select {
		case <-ctx.Done():
		case err = <-errs:
		}
	}
	cancel()
	for _, srv := range servers {
		_ = srv.Shutdown()
	}
	if s.udpConn != nil {
		_ = s.udpConn.Close()
	}
	s.wg.Wait()
	return err
}

// ServeDNS implements dns.Handler, for TCP (and UDP on a wildcard address).
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	m := s.respond(req, tcp)
	if m == nil {
		return
	}
	if !tcp {
		fitUDP(m, req)
	}
	_ = w.WriteMsg(m)
}

// respond answers req, asking the upstreams when it must.
func (s *Server) respond(req *dns.Msg, tcp bool) *dns.Msg {
	m, needsUpstream, _ := s.respondLocally(req)
	if !needsUpstream {
		return m
	}
	if m == nil {
		return s.forward(req, tcp)
	}
	// An ExternalName CNAME: add the target's records as the upstreams give them.
	target := m.Answer[len(m.Answer)-1].(*dns.CNAME).Target
	q := dns.Question{Name: target, Qtype: req.Question[0].Qtype, Qclass: req.Question[0].Qclass}
	up := new(dns.Msg)
	up.Id = dns.Id()
	up.RecursionDesired = true
	up.Question = []dns.Question{q}
	if resp, err := s.exchange(up, tcp); err == nil {
		m.Answer = append(m.Answer, resp.Answer...)
		m.Rcode = resp.Rcode
	}
	return m
}

// respondLocally answers req from the cluster's records. needsUpstream says that the
// upstreams must answer (m is nil) or complete the answer (m ends in a CNAME out of
// the cluster); cacheable says m depends only on the question and the Source.
func (s *Server) respondLocally(req *dns.Msg) (m *dns.Msg, needsUpstream, cacheable bool) {
	m = new(dns.Msg)
	switch {
	case req.Response:
		return nil, false, false // never answer answers
	case req.Opcode != dns.OpcodeQuery:
		m.SetRcode(req, dns.RcodeNotImplemented)
		return m, false, false
	case len(req.Question) != 1:
		m.SetRcode(req, dns.RcodeFormatError)
		return m, false, false
	}
	opt := req.IsEdns0()
	if opt != nil && opt.Version() != 0 {
		m.SetRcode(req, dns.RcodeBadVers)
		m.SetEdns0(ednsSize, opt.Do())
		return m, false, false
	}
	q := req.Question[0]
	ans := s.resolver.Resolve(q)
	if !ans.Handled {
		return nil, true, false
	}
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable, m.Compress = true, true, true
	m.Rcode = ans.Rcode
	m.Answer, m.Ns, m.Extra = ans.Answer, ans.Ns, ans.Extra
	// Follow CNAMEs (ExternalName services) for the types they stand in for.
	for range maxCNAMEChain {
		cname, ok := lastCNAME(m.Answer)
		if !ok || q.Qtype == dns.TypeCNAME || q.Qtype == dns.TypeANY {
			break
		}
		next := s.resolver.Resolve(dns.Question{Name: cname.Target, Qtype: q.Qtype, Qclass: q.Qclass})
		if !next.Handled {
			needsUpstream = true
			break
		}
		m.Answer = append(m.Answer, next.Answer...)
		m.Rcode, m.Ns = next.Rcode, next.Ns
		if len(next.Answer) > 0 {
			m.Ns = nil
		}
	}
	if opt != nil {
		m.SetEdns0(ednsSize, opt.Do())
	}
	return m, needsUpstream, !needsUpstream
}

// lastCNAME returns the CNAME the answer ends with, if it ends with one.
func lastCNAME(rrs []dns.RR) (*dns.CNAME, bool) {
	if len(rrs) == 0 {
		return nil, false
	}
	c, ok := rrs[len(rrs)-1].(*dns.CNAME)
	return c, ok
}

// fitUDP truncates m to what the client of req takes over UDP: 512 bytes, or its EDNS
// payload size. Truncate sets TC when records had to go; the client retries over TCP.
func fitUDP(m, req *dns.Msg) {
	m.Truncate(udpSize(req))
}

func udpSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}

// forward relays req to the upstreams, over the transport it came on; SERVFAIL when
// none answers.
func (s *Server) forward(req *dns.Msg, tcp bool) *dns.Msg {
	resp, err := s.exchange(req, tcp)
	if err != nil {
		s.log.Debug("dns forward failed", "name", req.Question[0].Name, "err", err)
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		m.RecursionAvailable = true
		return m
	}
	resp.Id = req.Id
	return resp
}

// exchange asks each upstream in turn until one answers.
func (s *Server) exchange(req *dns.Msg, tcp bool) (*dns.Msg, error) {
	client := s.udpClient
	if tcp {
		client = s.tcpClient
	}
	var lastErr error = errors.New("no upstream resolvers")
	for _, up := range s.upstreams {
		resp, _, err := client.ExchangeContext(s.baseCtx, req, up)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if s.baseCtx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}
