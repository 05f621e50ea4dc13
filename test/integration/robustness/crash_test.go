package robustness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berth/berth/internal/syncbuf"
	"github.com/berth/berth/test/integration/framework"
)

const (
	writers = 8
	// ackedBeforeStop is how many acknowledged creates there are when the server is
	// stopped, so that the stop lands in the middle of steady writes.
	ackedBeforeStop = 400
	readyTimeout    = 30 * time.Second
)

// TestKillDuringWrites: SIGKILL the server during writes; after a restart on the same
// data dir every acknowledged create is there.
func TestKillDuringWrites(t *testing.T) {
	runStopDuringWrites(t, syscall.SIGKILL)
}

// TestSIGTERMDuringWrites: SIGTERM during writes shuts down cleanly (exit 0), loses no
// acknowledged write, and the server is ready again quickly after a restart.
func TestSIGTERMDuringWrites(t *testing.T) {
	runStopDuringWrites(t, syscall.SIGTERM)
}

func runStopDuringWrites(t *testing.T, sig syscall.Signal) {
	bin := framework.BerthPath(t)
	dataDir := t.TempDir()
	addr := framework.FreeLoopbackAddr(t)

	first := startServer(t, bin, dataDir, addr)
	client := adminClient(t, dataDir)
	acked := &ackLog{}
	stopWriters := writeUntilStopped(client, acked)

	deadline := time.Now().Add(2 * time.Minute)
	for acked.count() < ackedBeforeStop {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in 2 minutes; errors: %v", acked.count(), acked.firstErr())
		}
		select {
		case <-first.exited:
			t.Fatalf("server exited during writes:\n%s", first.output.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := first.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	var exitErr error
	select {
	case exitErr = <-first.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not exit within 30s of %v", sig)
	}
	stopWriters()
	if sig == syscall.SIGTERM && exitErr != nil {
		t.Errorf("exit after SIGTERM: %v (want status 0)\n%s", exitErr, first.output.String())
	}
	t.Logf("%v after %d acknowledged creates (%d failed in flight)", sig, acked.count(), acked.failures())

	second := startServer(t, bin, dataDir, addr)
	t.Logf("restart → /readyz: %s", second.readyAfter)
	if second.readyAfter > 5*time.Second {
		t.Errorf("restart took %s to be ready (goal < 1 s)", second.readyAfter)
	}
	list, err := adminClient(t, dataDir).CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	present := map[string]bool{}
	for _, cm := range list.Items {
		present[cm.Name] = true
	}
	var lost []string
	for _, name := range acked.names() {
		if !present[name] {
			lost = append(lost, name)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged creates lost after %v, e.g. %v", len(lost), acked.count(), sig, lost[:min(len(lost), 10)])
	}
}

// ackLog records acknowledged creates.
type ackLog struct {
	mu     sync.Mutex
	acked  []string
	failed int
	err    error
}

func (a *ackLog) add(name string) {
	a.mu.Lock()
	a.acked = append(a.acked, name)
	a.mu.Unlock()
}

func (a *ackLog) fail(err error) {
	a.mu.Lock()
	a.failed++
	if a.err == nil {
		a.err = err
	}
	a.mu.Unlock()
}

func (a *ackLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.acked)
}

func (a *ackLog) failures() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

func (a *ackLog) firstErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *ackLog) names() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.acked...)
}

// writeUntilStopped creates ConfigMaps from several goroutines, recording each create the
// server acknowledged; the returned func stops the writers and waits for them.
func writeUntilStopped(client kubernetes.Interface, acked *ackLog) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cms := client.CoreV1().ConfigMaps("default")
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				_, err := cms.Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Data:       map[string]string{"i": fmt.Sprint(i)},
				}, metav1.CreateOptions{})
				if err != nil {
					acked.fail(err)
					// The server is going away; do not spin.
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				acked.add(name)
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// serverProcess is a `berth server` subprocess.
type serverProcess struct {
	cmd    *exec.Cmd
	output *syncbuf.Buffer
	// exited receives the process's Wait result once.
	exited chan error
	// readyAfter is the time from exec to the first successful /readyz.
	readyAfter time.Duration
}

// startServer runs `berth server` and waits until /readyz answers ok; t.Cleanup kills it
// if it is still running.
func startServer(t *testing.T, bin, dataDir, addr string) *serverProcess {
	t.Helper()
	p := &serverProcess{output: &syncbuf.Buffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, "server", "--data-dir", dataDir, "--listen", addr, "--disable-agent", "--log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	waited := make(chan struct{})
	go func() {
		p.exited <- p.cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // only this test's own process, by PID
		<-waited
		if t.Failed() {
			t.Logf("server output:\n%s", p.output.String())
		}
	})
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		// Readiness is probed before the CA exists on a first start; the credentials
		// are checked by the client-go calls that follow.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback readiness probe only
	}}
	defer hc.CloseIdleConnections()
	deadline := start.Add(readyTimeout)
	for {
		resp, err := hc.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.readyAfter = time.Since(start)
				break
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("server exited before ready: %v\n%s", err, p.output.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within %s\n%s", readyTimeout, p.output.String())
		}
	}
	return p
}

func adminClient(t *testing.T, dataDir string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "admin.kubeconfig"))
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst, cfg.Timeout = -1, 0, 10*time.Second
	return kubernetes.NewForConfigOrDie(cfg)
}
