package framework

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/berth/berth/internal/netns"
)

// InClusterAPIAddress is where pods of a cluster with ClusterOptions.InClusterAPI reach
// the API server: an address of the node's network namespace (on its lo),
// published as the kubernetes Service's endpoint.
const InClusterAPIAddress = "10.254.0.1"

// apiForwarder accepts connections inside a node's network namespace and relays them
// to the API server on the host's loopback, so that pods reach the API through the
// kubernetes Service as they would a server listening on the node's address.
type apiForwarder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// startAPIForwarder listens on listen inside the namespace at nsPath and relays to target.
func startAPIForwarder(t testing.TB, nsPath, listen, target string) *apiForwarder {
	t.Helper()
	ln, err := netns.Value(nsPath, func() (net.Listener, error) { return net.Listen("tcp", listen) })
	if err != nil {
		t.Fatalf("API forwarder in %s: %v", nsPath, err)
	}
	f := &apiForwarder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Go(f.accept)
	return f
}

func (f *apiForwarder) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return // closed
		}
		if !f.track(c) {
			return
		}
		f.wg.Go(func() { f.relay(c) })
	}
}

// track remembers an open connection; false (and the connection closed) once the
// forwarder is closing.
func (f *apiForwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		_ = c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *apiForwarder) untrack(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
	_ = c.Close()
}

// relay copies both ways between a pod's connection and the API server.
func (f *apiForwarder) relay(c net.Conn) {
	defer f.untrack(c)
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		return
	}
	if !f.track(up) {
		return
	}
	defer f.untrack(up)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, c)
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, _ = io.Copy(c, up)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	<-done
}

// Close stops accepting, closes every relayed connection and waits for the relays.
func (f *apiForwarder) Close() error {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	err := f.ln.Close()
	f.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
