package e2e

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/syncbuf"
	"github.com/berth/berth/test/e2e/framework"
	itframework "github.com/berth/berth/test/integration/framework"
)

// Protocols kubectl can be made to speak for exec/attach/cp and port-forward.
var kubectlProtocols = []struct {
	name string
	env  []string
}{
	{name: "websocket", env: nil}, // kubectl's default: v5.channel.k8s.io / SPDY-over-WebSocket
	{name: "spdy", env: []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}},
}

// kubectlCmd is the real kubectl against the cluster, with env added.
func kubectlCmd(ctx context.Context, t *testing.T, c *framework.Cluster, env []string, args ...string) *osexec.Cmd {
	t.Helper()
	cmd := osexec.CommandContext(ctx, itframework.KubectlPath(t), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = append(append(os.Environ(), "HOME="+c.Node.DataDir, "KUBECACHEDIR="+filepath.Join(c.Node.DataDir, "kubecache")), env...)
	return cmd
}

type kubectlResult struct {
	stdout, stderr string
	err            error
}

// kubectlRun runs kubectl to the end (60 s at most) with stdin.
func kubectlRun(t *testing.T, c *framework.Cluster, env []string, stdin string, args ...string) kubectlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := kubectlCmd(ctx, t, c, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return kubectlResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

func mustKubectl(t *testing.T, c *framework.Cluster, env []string, stdin string, args ...string) string {
	t.Helper()
	r := kubectlRun(t, c, env, stdin, args...)
	if r.err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// background is a kubectl left running (logs -f, attach, port-forward) whose output
// the test reads as it comes.
type background struct {
	cmd    *osexec.Cmd
	stdin  io.WriteCloser
	out    syncbuf.Buffer
	done   chan struct{}
	cancel context.CancelFunc
}

func startKubectl(t *testing.T, c *framework.Cluster, env []string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	b := &background{cmd: kubectlCmd(ctx, t, c, env, args...), done: make(chan struct{}), cancel: cancel}
	var err error
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *background) output() string { return b.out.String() }

// waitOutput waits until the output matches re and returns the submatches.
func (b *background) waitOutput(t *testing.T, what string, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	framework.Eventually(t, 30*time.Second, what, func() (bool, error) {
		m = re.FindStringSubmatch(b.output())
		select {
		case <-b.done:
			if m == nil {
				t.Fatalf("kubectl exited before %s: %s", what, b.output())
			}
		default:
		}
		return m != nil, nil
	})
	return m
}

// stop ends kubectl (SIGKILL via its context) and waits for it.
func (b *background) stop() {
	b.cancel()
	<-b.done
}

// openPTY opens a pseudo-terminal of rows×cols: the controlling side and the terminal
// kubectl gets as its stdin/stdout.
func openPTY(t *testing.T, rows, cols uint16) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var unlock int32
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, ptm.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatal(errno)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	setPTYSize(t, ptm, rows, cols)
	t.Cleanup(func() { ptm.Close(); pts.Close() })
	return ptm, pts
}

func setPTYSize(t *testing.T, f *os.File, rows, cols uint16) {
	t.Helper()
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
}

// ptyReader collects what the terminal shows.
type ptyReader struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func readPTY(ptm *os.File) *ptyReader {
	r := &ptyReader{}
	go func() {
		br := bufio.NewReader(ptm)
		chunk := make([]byte, 4096)
		for {
			n, err := br.Read(chunk)
			r.mu.Lock()
			r.buf.Write(chunk[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return r
}

func (r *ptyReader) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}
