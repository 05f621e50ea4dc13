package failover

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berth/berth/internal/syncbuf"
)

// readyTimeout is generous: the machine may be loaded.
const readyTimeout = time.Minute

// serverProcess is a `berth server` subprocess.
type serverProcess struct {
	name, dataDir, addr string
	cmd                 *exec.Cmd
	output              *syncbuf.Buffer
	// exited receives the process's Wait result once.
	exited chan error
}

// startServer runs `berth server` on the external etcd and waits until /readyz answers
// ok; t.Cleanup kills it if it is still running.
func startServer(t *testing.T, bin, name, dataDir, addr, etcdURL string) *serverProcess {
	t.Helper()
	p := &serverProcess{name: name, dataDir: dataDir, addr: addr, output: &syncbuf.Buffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, "server", "--data-dir", dataDir, "--listen", addr,
		"--etcd-endpoints", etcdURL, "--disable-agent", "--log-level", "info")
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
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
			t.Logf("server %s (%s) output:\n%s", name, addr, p.output.String())
		}
	})
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		// Readiness only; the credentials are checked by the client-go calls that follow.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback readiness probe only
	}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := hc.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("server %s exited before ready: %v\n%s", name, err, p.output.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s not ready within %s\n%s", name, readyTimeout, p.output.String())
		}
	}
}

// signal sends sig and returns when the signal was sent.
func (p *serverProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// wait returns the exit status once the process has exited, failing after timeout.
func (p *serverProcess) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("server %s did not exit within %s", p.name, timeout)
		return nil
	}
}

// sharePKI copies the cluster CA and node token of an existing server's data dir into a
// new one, as every server of an HA control plane shares them: clients and nodes then
// trust and authenticate to any of the servers.
func sharePKI(t *testing.T, from, to string) {
	t.Helper()
	for _, f := range []string{"tls/ca.crt", "tls/ca.key", "node-token"} {
		data, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(to, f)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// front stands for the load balancer of an HA control plane: every client dials the
// server it currently points at, whatever the URL says. Connections already open stay
// with their server until it closes them.
type front struct{ addr atomic.Value }

func newFront(addr string) *front {
	f := &front{}
	f.addr.Store(addr)
	return f
}

func (f *front) set(addr string) { f.addr.Store(addr) }

func (f *front) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, f.addr.Load().(string))
}

// config returns rest configs through the front: admin (the shared CA signed every
// server's admin certificate) and node (the shared node token).
func (f *front) configs(t *testing.T, dataDir string) (admin, node *rest.Config) {
	t.Helper()
	admin, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "admin.kubeconfig"))
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	admin.QPS, admin.Burst, admin.Timeout = -1, 0, 10*time.Second
	admin.Dial = f.dial
	token, err := os.ReadFile(filepath.Join(dataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	node = &rest.Config{
		Host: admin.Host, BearerToken: strings.TrimSpace(string(token)), Dial: f.dial,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dataDir, "tls", "ca.crt")},
	}
	return admin, node
}

// leaseWatch records every holder of the controllers' Lease, with the time it was seen.
type leaseWatch struct {
	mu      sync.Mutex
	holders []holderChange
	changed chan struct{} // closed and replaced on every change
}

type holderChange struct {
	holder string
	// seen is when the watch delivered the change; acquired is the Lease's acquireTime.
	seen, acquired time.Time
}

func watchLease(t *testing.T, client kubernetes.Interface, name string) *leaseWatch {
	t.Helper()
	w := &leaseWatch{changed: make(chan struct{})}
	lw := cache.NewListWatchFromClient(client.CoordinationV1().RESTClient(), "leases", metav1.NamespaceSystem,
		fields.OneTermEqualSelector("metadata.name", name))
	inf := cache.NewSharedIndexInformer(lw, &coordinationv1.Lease{}, 0, cache.Indexers{})
	record := func(obj any) {
		l, ok := obj.(*coordinationv1.Lease)
		if !ok {
			return
		}
		seen := time.Now()
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		var acquired time.Time
		if l.Spec.AcquireTime != nil {
			acquired = l.Spec.AcquireTime.Time
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if n := len(w.holders); n > 0 && w.holders[n-1].holder == holder {
			return
		}
		w.holders = append(w.holders, holderChange{holder: holder, seen: seen, acquired: acquired})
		close(w.changed)
		w.changed = make(chan struct{})
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	runInformer(t, inf)
	return w
}

// holder returns the current holder and a channel closed at the next change.
func (w *leaseWatch) holder() (holderChange, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.holders) == 0 {
		return holderChange{}, w.changed
	}
	return w.holders[len(w.holders)-1], w.changed
}

// waitHolder waits until the holder identity names the server at addr.
func (w *leaseWatch) waitHolder(t *testing.T, addr string, timeout time.Duration) holderChange {
	t.Helper()
	deadline := time.After(timeout)
	for {
		h, changed := w.holder()
		if strings.Contains(h.holder, "_"+addr+"_") {
			return h
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("lease not held by %s within %s; holders so far: %v", addr, timeout, w.history())
		}
	}
}

// releasedBefore returns the release (empty holder) that came just before the latest
// holder naming addr, if the watch saw one.
func (w *leaseWatch) releasedBefore(addr string) (holderChange, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.holders) - 1; i > 0; i-- {
		if strings.Contains(w.holders[i].holder, "_"+addr+"_") {
			prev := w.holders[i-1]
			return prev, prev.holder == "" && !prev.acquired.IsZero()
		}
	}
	return holderChange{}, false
}

func (w *leaseWatch) history() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.holders))
	for _, h := range w.holders {
		out = append(out, fmt.Sprintf("%q@%s", h.holder, h.seen.Format("15:04:05.000")))
	}
	return out
}

// podLog records every pod of a namespace ever seen: how many are live (not
// terminating) at once, at most, and how many were deleted.
type podLog struct {
	inf     cache.SharedIndexInformer
	mu      sync.Mutex
	seen    map[types.UID]bool
	live    map[types.UID]bool
	maxLive int
	deleted int
	changed chan struct{} // closed and replaced whenever live changes
}

func recordPods(t *testing.T, client kubernetes.Interface, namespace string) *podLog {
	t.Helper()
	l := &podLog{seen: map[types.UID]bool{}, live: map[types.UID]bool{}, changed: make(chan struct{})}
	lw := cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "pods", namespace, fields.Everything())
	l.inf = cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	if _, err := l.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    l.observe,
		UpdateFunc: func(_, obj any) { l.observe(obj) },
		DeleteFunc: l.gone,
	}); err != nil {
		t.Fatal(err)
	}
	runInformer(t, l.inf)
	return l
}

func (l *podLog) observe(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[p.UID] = true
	if p.DeletionTimestamp != nil {
		delete(l.live, p.UID)
	} else {
		l.live[p.UID] = true
		l.maxLive = max(l.maxLive, len(l.live))
	}
	l.notify()
}

// notify wakes waitLive; l.mu is held.
func (l *podLog) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitLive waits until more than n pods are live and returns how many; after timeout it
// returns the count as it is.
func (l *podLog) waitLive(n int, timeout time.Duration) int {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		live, changed := len(l.live), l.changed
		l.mu.Unlock()
		if live > n {
			return live
		}
		select {
		case <-changed:
		case <-deadline:
			return live
		}
	}
}

func (l *podLog) gone(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.live, p.UID)
	l.deleted++
	l.notify()
}

type podCounts struct {
	seen, live, maxLive, deleted, running int
	owners                                map[string]int // live pods per owning ReplicaSet
	uids                                  map[types.UID]bool
}

func (l *podLog) counts() podCounts {
	l.mu.Lock()
	c := podCounts{seen: len(l.seen), live: len(l.live), maxLive: l.maxLive, deleted: l.deleted,
		owners: map[string]int{}, uids: map[types.UID]bool{}}
	for uid := range l.live {
		c.uids[uid] = true
	}
	l.mu.Unlock()
	for _, obj := range l.inf.GetStore().List() {
		p := obj.(*corev1.Pod)
		if p.DeletionTimestamp != nil {
			continue
		}
		owner := "<none>"
		if ref := metav1.GetControllerOf(p); ref != nil {
			owner = ref.Kind + "/" + ref.Name
		}
		c.owners[owner]++
		if p.Status.Phase == corev1.PodRunning {
			c.running++
		}
	}
	return c
}

// resetMax starts a new high-water mark at the current live count.
func (l *podLog) resetMax() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxLive = len(l.live)
}

func runInformer(t *testing.T, inf cache.SharedIndexInformer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.Run(ctx.Done())
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	syncCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync within 30s")
	}
}

// eventually polls cond until it holds, failing with what after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (%s)", what, timeout, state)
		}
		<-tick.C
	}
}
