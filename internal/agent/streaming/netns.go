package streaming

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// DialInNetNS dials from inside the network namespace at path (e.g. /run/netns/<name>),
// where the runtime's streaming server listens on loopback; empty path dials directly.
// The socket is created on an OS thread that entered the namespace and keeps it; the
// thread is never unlocked, so the Go runtime discards it afterwards.
func DialInNetNS(path string) DialFunc {
	var d net.Dialer
	if path == "" {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		done := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				done <- result{err: fmt.Errorf("open netns %s: %w", path, err)}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				done <- result{err: fmt.Errorf("enter netns %s: %w", path, err)}
				return
			}
			c, err := d.DialContext(ctx, network, addr)
			done <- result{c, err}
		}()
		r := <-done
		return r.conn, r.err
	}
}
