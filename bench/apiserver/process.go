package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth/berth/bench/proc"
	"github.com/berth/berth/internal/syncbuf"
)

// server is a `berth server` subprocess.
type server struct {
	cmd     *exec.Cmd
	dataDir string
	addr    string
	output  *syncbuf.Buffer
	exited  chan struct{}
	waitErr error
	// ReadyAfter is the time from exec to the first /readyz that answered ok.
	ReadyAfter time.Duration
}

// startServer runs `<bin> server` on dataDir and a free loopback port and returns once
// /readyz answers ok.
func startServer(ctx context.Context, bin, dataDir string) (*server, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	s := &server{dataDir: dataDir, addr: addr, output: &syncbuf.Buffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "server", "--data-dir", dataDir, "--listen", addr, "--disable-agent", "--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		// A first start writes its CA while it starts; readiness needs no trust.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback probe
	}}
	defer hc.CloseIdleConnections()
	deadline := start.Add(60 * time.Second)
	for {
		resp, err := hc.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.ReadyAfter = time.Since(start)
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited before ready: %v\n%s", s.waitErr, s.output.String())
		case <-ctx.Done():
			s.kill()
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("server not ready after 60s\n%s", s.output.String())
		}
	}
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 30 s).
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.waitErr
	case <-time.After(30 * time.Second):
		s.kill()
		return fmt.Errorf("server did not stop within 30s of SIGTERM")
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill() // our own child, by PID
	<-s.exited
}

func (s *server) kubeconfig() string { return filepath.Join(s.dataDir, "admin.kubeconfig") }

// rssBytes reads the resident set size of the server process.
func (s *server) rssBytes() (int64, error) {
	m, err := proc.ReadMemory(s.cmd.Process.Pid)
	return m.RSS * 1024, err
}

// cpuTime reads the user+system CPU time the server process has used.
func (s *server) cpuTime() (time.Duration, error) { return proc.CPUTime(s.cmd.Process.Pid) }

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
