package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
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
	Log        *slog.Logger
}

// Server serves cluster DNS on UDP and TCP.
type Server struct {
	resolver  *Resolver
	upstreams []string
	log       *slog.Logger
	udp, tcp  *dns.Server
	client    *dns.Client
	wg        sync.WaitGroup
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
	upstreams := cfg.Upstreams
	if len(upstreams) == 0 {
		path := cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		if cc, err := dns.ClientConfigFromFile(path); err == nil {
			for _, s := range cc.Servers {
				upstreams = append(upstreams, net.JoinHostPort(s, cc.Port))
			}
		}
	}
	pc, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("dns: listen udp %s: %w", cfg.Listen, err)
	}
	// TCP on the same port as UDP (which may have been chosen by the kernel).
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("dns: listen tcp %s: %w", pc.LocalAddr(), err)
	}
	s := &Server{
		resolver: NewResolver(src, cfg.Domain), upstreams: upstreams, log: cfg.Log,
		client: &dns.Client{Timeout: 2 * time.Second},
		Addr:   pc.LocalAddr().String(),
	}
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: ln, Handler: s}
	return s, nil
}

// Serve answers until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	errs := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			errs <- srv.ActivateAndServe()
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
	s.wg.Wait()
	return err
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNotImplemented)
		_ = w.WriteMsg(m)
		return
	}
	ans := s.resolver.Resolve(req.Question[0])
	if !ans.Handled {
		s.forward(w, req)
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Rcode = ans.Rcode
	m.Answer, m.Extra, m.Ns = ans.Answer, ans.Extra, ans.Ns
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// forward relays a question to the first upstream that answers.
func (s *Server) forward(w dns.ResponseWriter, req *dns.Msg) {
	var lastErr error = errors.New("no upstream resolvers")
	for _, up := range s.upstreams {
		resp, _, err := s.client.Exchange(req, up)
		if err == nil {
			_ = w.WriteMsg(resp)
			return
		}
		lastErr = err
	}
	s.log.Debug("dns forward failed", "name", req.Question[0].Name, "err", lastErr)
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	_ = w.WriteMsg(m)
}
