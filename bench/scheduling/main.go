// Command scheduling measures berth's scheduling throughput: it starts `berth server` as
// a subprocess on a fresh data dir, registers simulated nodes, creates pods (directly or
// through one ReplicaSet or one Deployment) and prints pods/s from creation to all bound and to all Running,
// the p50/p99 scheduling latency (pod first seen → seen bound) and the server's RSS.
//
//	go run ./bench/scheduling -nodes 1000 -pods 10000
//
// Nodes come from `berth agent --simulated-nodes` when -agent is set, otherwise from a
// minimal in-process simulator (Node objects + a status writer that turns bound pods
// Running, as a kubelet's status manager would; -status-workers 0 leaves them Pending and
// measures scheduling alone). It also prints storage writes per pod.
//
// To see where the time goes, -cpuprofile/-memprofile run the server inside the bench
// process and profile the measured phase; the bench's own goroutines carry the label
// side=bench, so `go tool pprof -tagignore side=bench` shows the server alone.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/berth/berth/bench/proc"
)

type options struct {
	nodes, pods, creators, statusWorkers     int
	replicaSet, deployment, agent, inProcess bool
	berth, dataDir, cpuProfile, memProf      string
	timeout                                  time.Duration
}

func main() {
	// The bench shares the machine with the server it measures: its own collections
	// (an informer of every pod, the simulator's requests) should take as little of the
	// CPU as they can. Its memory is not what is measured. The server, a child process,
	// keeps its own settings.
	debug.SetGCPercent(400)
	var o options
	flag.IntVar(&o.nodes, "nodes", 1000, "simulated nodes")
	flag.IntVar(&o.pods, "pods", 10000, "pods to schedule")
	flag.IntVar(&o.creators, "creators", 32, "concurrent pod creators (direct mode)")
	flag.IntVar(&o.statusWorkers, "status-workers", 32, "in-process simulator: concurrent status writers (0: pods stay Pending; the run ends when all are bound)")
	flag.BoolVar(&o.replicaSet, "replicaset", false, "create the pods through one ReplicaSet instead of directly")
	flag.BoolVar(&o.deployment, "deployment", false, "create the pods through one Deployment (its ReplicaSet) instead of directly")
	flag.BoolVar(&o.agent, "agent", false, "run `berth agent --simulated-nodes` instead of the in-process simulator")
	flag.StringVar(&o.berth, "berth", "", "berth binary (default: build ./cmd/berth into a temp dir)")
	flag.StringVar(&o.dataDir, "data-dir", "", "server data dir (default: a temp dir, removed afterwards)")
	flag.BoolVar(&o.inProcess, "in-process", false, "run the server in this process (RSS and CPU then include the bench's own)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase to this file (implies -in-process)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after")
	flag.StringVar(&o.memProf, "memprofile", "", "write an allocation profile of the measured phase to this file (implies -in-process)")
	flag.Parse()
	o.inProcess = o.inProcess || o.cpuProfile != "" || o.memProf != ""
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	res, err := run(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	res.print()
}

type result struct {
	Nodes, Pods            int
	Mode                   string
	BoundPerSec            float64 `json:"bound_pods_per_sec"`
	RunningPerSec          float64 `json:"running_pods_per_sec"`
	CreateSeconds          float64 `json:"create_seconds"`
	SeenSeconds            float64 `json:"all_seen_seconds"`
	BoundSeconds           float64 `json:"all_bound_seconds"`
	RunningSeconds         float64 `json:"all_running_seconds"`
	P50LatencyMs           float64 `json:"p50_scheduling_latency_ms"`
	P99LatencyMs           float64 `json:"p99_scheduling_latency_ms"`
	ServerRSSMiB           float64 `json:"server_rss_mib"`
	ServerPeakRSSMiB       float64 `json:"server_peak_rss_mib"`
	ServerCPUSeconds       float64 `json:"server_cpu_seconds"`
	ServerCPUMeasured      float64 `json:"server_cpu_seconds_measured"`
	BenchCPUMeasured       float64 `json:"bench_cpu_seconds_measured"`
	WritesPerPod           float64 `json:"storage_writes_per_pod"`
	ServerAllocKBPerPod    float64 `json:"server_alloc_kb_per_pod"`
	ServerAllocsPerPod     float64 `json:"server_allocs_per_pod"`
	ServerGCCycles         int     `json:"server_gc_cycles"`
	MaxPodsPerNode, Spread int
}

func (r result) print() {
	fmt.Printf("%-34s %v\n", "nodes / pods / mode", fmt.Sprintf("%d / %d / %s", r.Nodes, r.Pods, r.Mode))
	fmt.Printf("%-34s %.2f s\n", "creation (client side)", r.CreateSeconds)
	fmt.Printf("%-34s %.2f s  → %.0f pods/s\n", "creation start → all created", r.SeenSeconds, float64(r.Pods)/r.SeenSeconds)
	fmt.Printf("%-34s %.2f s  → %.0f pods/s\n", "creation start → all bound", r.BoundSeconds, r.BoundPerSec)
	fmt.Printf("%-34s %.2f s  → %.0f pods/s\n", "creation start → all Running", r.RunningSeconds, r.RunningPerSec)
	fmt.Printf("%-34s p50 %.1f ms, p99 %.1f ms\n", "scheduling latency (seen→bound)", r.P50LatencyMs, r.P99LatencyMs)
	fmt.Printf("%-34s %.0f MiB now, %.0f MiB peak, %.1f CPU-s\n", "server RSS", r.ServerRSSMiB, r.ServerPeakRSSMiB, r.ServerCPUSeconds)
	fmt.Printf("%-34s server %.1f, bench %.1f (simulator, tracker, clients)\n", "CPU-s from creation to the end", r.ServerCPUMeasured, r.BenchCPUMeasured)
	fmt.Printf("%-34s max %d, max-min %d\n", "pods per node", r.MaxPodsPerNode, r.Spread)
	fmt.Printf("%-34s %.2f\n", "storage writes per pod", r.WritesPerPod)
	if r.ServerAllocsPerPod > 0 {
		fmt.Printf("%-34s %.0f KB in %.0f objects (%d collections)\n", "server allocation per pod", r.ServerAllocKBPerPod, r.ServerAllocsPerPod, r.ServerGCCycles)
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func run(ctx context.Context, o options) (result, error) {
	res := result{Nodes: o.nodes, Pods: o.pods, Mode: "pods"}
	switch {
	case o.deployment:
		res.Mode = "deployment"
	case o.replicaSet:
		res.Mode = "replicaset"
	}
	dir := o.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "berth-bench-scheduling-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	bin := o.berth
	if bin == "" && (o.agent || !o.inProcess) {
		bin = filepath.Join(dir, "berth")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/berth")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as `make build` builds it
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return res, fmt.Errorf("build berth: %w", err)
		}
	}
	start := startServer
	if o.inProcess {
		start = startInProcess
	}
	server, cfg, err := start(ctx, bin, filepath.Join(dir, "data"))
	if err != nil {
		return res, err
	}
	defer server.stop()
	if o.inProcess {
		// Everything the bench starts from here on carries this label, so a profile can
		// tell the bench's own work from the server's (pprof -tagignore side=bench).
		pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("side", "bench")))
	}
	client := kubernetes.NewForConfigOrDie(cfg)

	simCtx, stopSim := context.WithCancel(ctx)
	var simWG sync.WaitGroup
	defer simWG.Wait()
	defer stopSim() // runs first: the simulator and informers stop, then we wait for them
	// One pod informer serves the simulated kubelets and the tracker: the bench shares the
	// server's two cores, so its own watch decoding is kept to one stream (kubelets speak
	// protobuf, and so does this client).
	watchCfg := rest.CopyConfig(cfg)
	watchCfg.ContentType = k8sruntime.ContentTypeProtobuf
	watchCfg.AcceptContentTypes = k8sruntime.ContentTypeProtobuf + "," + k8sruntime.ContentTypeJSON
	factory := informers.NewSharedInformerFactoryWithOptions(kubernetes.NewForConfigOrDie(watchCfg), 0, informers.WithNamespace("bench"))
	podInf := factory.Core().V1().Pods().Informer()
	defer func() { stopSim(); factory.Shutdown() }()
	if o.agent {
		agent := exec.CommandContext(simCtx, bin, "agent", "--simulated-nodes", strconv.Itoa(o.nodes),
			"--server", cfg.Host, "--token-file", filepath.Join(dir, "data", "node-token"))
		agent.Stdout, agent.Stderr = os.Stderr, os.Stderr
		if err := agent.Start(); err != nil {
			return res, fmt.Errorf("start agent: %w", err)
		}
		defer stop(agent)
	} else {
		if err := registerNodes(ctx, client, o.nodes); err != nil {
			return res, err
		}
		// Kubelets speak protobuf.
		kubelet := rest.CopyConfig(cfg)
		kubelet.ContentType = k8sruntime.ContentTypeProtobuf
		kubelet.AcceptContentTypes = k8sruntime.ContentTypeProtobuf + "," + k8sruntime.ContentTypeJSON
		kubeletClient := kubernetes.NewForConfigOrDie(kubelet)
		simWG.Go(func() { simulateKubelet(simCtx, kubeletClient, podInf, o.statusWorkers) })
		simWG.Go(func() { renewLeases(simCtx, kubeletClient, o.nodes) })
	}
	if err := waitNodes(ctx, client, o.nodes); err != nil {
		return res, err
	}

	track := newTracker(o.pods, !o.agent && o.statusWorkers == 0)
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { track.observe(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { track.observe(obj.(*corev1.Pod)) },
	}); err != nil {
		return res, err
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	factory.Start(simCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInf.HasSynced) {
		return res, ctx.Err()
	}

	if o.cpuProfile != "" {
		stopProfile, err := profileCPU(o.cpuProfile)
		if err != nil {
			return res, err
		}
		defer stopProfile()
	}
	if o.memProf != "" {
		defer writeAllocs(o.memProf)
	}
	revBefore, err := currentRevision(ctx, client)
	if err != nil {
		return res, err
	}
	serverCPU0, benchCPU0 := cpuSeconds(server.pid), cpuSeconds(os.Getpid())
	mem0, memOK := server.memStats()
	begin := time.Now()
	switch {
	case o.deployment:
		err = createDeployment(ctx, client, o.pods)
	case o.replicaSet:
		err = createReplicaSet(ctx, client, o.pods)
	default:
		err = createPods(ctx, client, o.pods, o.creators)
	}
	if err != nil {
		return res, err
	}
	res.CreateSeconds = time.Since(begin).Seconds()
	if err := track.wait(ctx); err != nil {
		return res, fmt.Errorf("%w (bound %d, running %d of %d)", err, track.bound.Load(), track.running.Load(), o.pods)
	}
	res.SeenSeconds = track.lastSeen().Sub(begin).Seconds()
	res.BoundSeconds = track.lastBound().Sub(begin).Seconds()
	if !track.boundOnly {
		res.RunningSeconds = track.lastRunning().Sub(begin).Seconds()
	}
	if revAfter, err := currentRevision(ctx, client); err == nil {
		res.WritesPerPod = float64(revAfter-revBefore) / float64(o.pods)
	}
	res.BoundPerSec = float64(o.pods) / res.BoundSeconds
	if res.RunningSeconds > 0 {
		res.RunningPerSec = float64(o.pods) / res.RunningSeconds
	}
	lat := track.latencies()
	res.P50LatencyMs = percentile(lat, 0.50)
	res.P99LatencyMs = percentile(lat, 0.99)
	res.MaxPodsPerNode, res.Spread = track.perNode()
	res.ServerRSSMiB, res.ServerPeakRSSMiB = rss(server.pid)
	res.ServerCPUSeconds = cpuSeconds(server.pid)
	res.ServerCPUMeasured = res.ServerCPUSeconds - serverCPU0
	res.BenchCPUMeasured = cpuSeconds(os.Getpid()) - benchCPU0
	if mem1, ok := server.memStats(); ok && memOK {
		d := mem1.minus(mem0)
		res.ServerAllocKBPerPod = float64(d.totalAlloc) / 1024 / float64(o.pods)
		res.ServerAllocsPerPod = float64(d.mallocs) / float64(o.pods)
		res.ServerGCCycles = int(d.numGC)
	}
	return res, nil
}

// serverHandle is a running server: its process (for RSS and CPU) and how to stop it.
type serverHandle struct {
	pid  int
	stop func()
	// memStats reads the server's allocation counters (false when it cannot).
	memStats func() (memStats, bool)
}

// memStats are the server's cumulative allocation counters (runtime.MemStats).
type memStats struct{ totalAlloc, mallocs, numGC uint64 }

func (m memStats) minus(o memStats) memStats {
	return memStats{m.totalAlloc - o.totalAlloc, m.mallocs - o.mallocs, m.numGC - o.numGC}
}

// pprofMemStats reads the counters from a server's profiling endpoint: the heap profile
// in text ends with runtime.MemStats.
func pprofMemStats(addr string) (memStats, bool) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		return memStats{}, false
	}
	defer resp.Body.Close()
	var m memStats
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		for name, field := range map[string]*uint64{"# TotalAlloc = ": &m.totalAlloc, "# Mallocs = ": &m.mallocs, "# NumGC = ": &m.numGC} {
			if v, ok := strings.CutPrefix(sc.Text(), name); ok {
				if n, err := strconv.ParseUint(v, 10, 64); err == nil {
					*field = n
					found++
				}
			}
		}
	}
	return m, found == 3
}

func startServer(ctx context.Context, bin, dataDir string) (*serverHandle, *rest.Config, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, bin, "server", "--data-dir", dataDir, "--listen", addr, "--disable-agent",
		"--cluster-cidr", benchClusterCIDR)
	// The server's profiling endpoint, for its allocation counters (or the one asked for).
	pprofAddr := os.Getenv("BERTH_PPROF_ADDR")
	if pprofAddr == "" {
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		pprofAddr = pl.Addr().String()
		pl.Close()
		cmd.Env = append(os.Environ(), "BERTH_PPROF_ADDR="+pprofAddr)
	}
	logFile, err := os.Create(dataDir + ".log")
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for tick := time.NewTicker(50 * time.Millisecond); ; <-tick.C {
		if cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "admin.kubeconfig")); err == nil {
			cfg.QPS, cfg.Burst = 10000, 20000
			if _, err := kubernetes.NewForConfigOrDie(cfg).Discovery().ServerVersion(); err == nil {
				tick.Stop()
				return &serverHandle{pid: cmd.Process.Pid, stop: func() { stop(cmd) },
					memStats: func() (memStats, bool) { return pprofMemStats(pprofAddr) }}, cfg, nil
			}
		}
		if time.Now().After(deadline) {
			stop(cmd)
			return nil, nil, fmt.Errorf("server not ready after 30 s (log: %s.log)", dataDir)
		}
	}
}

// benchClusterCIDR holds a /24 for each of up to 16 384 nodes (the default /16 has room
// for 256: the node IPAM controller would keep retrying the rest during the run), away
// from the default service range 10.43.0.0/16.
const benchClusterCIDR = "10.64.0.0/10"

func stop(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}

func zoneOf(i int) string { return fmt.Sprintf("zone-%c", 'a'+i%3) }

// registerNodes creates Ready nodes as kubelets would (in parallel).
func registerNodes(ctx context.Context, client kubernetes.Interface, n int) error {
	return parallel(ctx, n, 32, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("sim-%d", i)
		list := corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("64Gi"),
			corev1.ResourcePods: resource.MustParse("110"),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				corev1.LabelHostname: name, corev1.LabelTopologyZone: zoneOf(i), corev1.LabelOSStable: "linux",
			}},
		}
		created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create node %s: %w", name, err)
		}
		// Node IPAM may set the podCIDR meanwhile: retry on conflict.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			now := metav1.Now()
			created.Status = corev1.NodeStatus{
				Capacity: list, Allocatable: list,
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}},
			}
			_, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) {
				if latest, gerr := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); gerr == nil {
					created = latest
				}
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("mark node %s ready: %w", name, err)
		}
		return nil
	})
}

// leaseRenewInterval is a kubelet's: a quarter of its 40 s lease.
const leaseRenewInterval = 10 * time.Second

// leaseWorkers is how many lease writes are in flight at once. Kubelets renew
// independently, each with its own request; with a handful of workers, a server busy
// with the pods (tens of ms a request) took longer than the 40 s grace to get round
// all 5 000 nodes, and the node monitor marked them NotReady mid-run — tainting them
// and writing every pod's Ready=False, work a real cluster would not have.
const leaseWorkers = 128

// renewLeases keeps each simulated node's Lease in kube-node-lease, renewed every
// leaseRenewInterval as kubelets do (a tenth of the nodes each second), so nodes stay
// Ready through runs longer than the node monitor's grace period and the server carries
// the heartbeat writes a cluster of that size has.
func renewLeases(ctx context.Context, client kubernetes.Interface, n int) {
	leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	held := make([]*coordinationv1.Lease, n) // the last written version of each
	const slices = 10
	tick := time.NewTicker(leaseRenewInterval / slices)
	defer tick.Stop()
	for round := 0; ; round++ {
		slice := round % slices
		_ = parallel(ctx, (n+slices-1-slice)/slices, leaseWorkers, func(ctx context.Context, j int) error {
			i := j*slices + slice
			now := metav1.NewMicroTime(time.Now())
			var err error
			if l := held[i]; l != nil {
				l.Spec.RenewTime = &now
				if held[i], err = leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
					held[i] = nil // renewed next round from what the server has
				}
				return nil
			}
			name := fmt.Sprintf("sim-%d", i)
			held[i], err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: new(int32(40)), RenewTime: &now},
			}, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				held[i], _ = leases.Get(ctx, name, metav1.GetOptions{})
			}
			return nil
		})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// currentRevision is the storage revision: the resourceVersion of a consistent list.
// Revisions count writes, so two of them tell how many writes happened in between.
func currentRevision(ctx context.Context, client kubernetes.Interface) (int64, error) {
	list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(list.ResourceVersion, 10, 64)
}

func waitNodes(ctx context.Context, client kubernetes.Interface, n int) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err == nil && len(list.Items) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d nodes: %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}

// simulateKubelet turns pods bound to a node Running and Ready, with workers sharing one
// informer (what a simulated node agent does, minus leases).
func simulateKubelet(ctx context.Context, client kubernetes.Interface, inf cache.SharedIndexInformer, workers int) {
	work := make(chan *corev1.Pod, 100000)
	enqueue := func(pod *corev1.Pod) {
		if pod.Spec.NodeName != "" && pod.Status.Phase == corev1.PodPending {
			work <- pod
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { enqueue(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { enqueue(obj.(*corev1.Pod)) },
	})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case pod := <-work:
					now := metav1.Now()
					p := pod.DeepCopy()
					p.Status.Phase = corev1.PodRunning
					p.Status.StartTime = &now
					p.Status.Conditions = append(p.Status.Conditions,
						corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
						corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
						corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now})
					_, _ = client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
				}
			}
		})
	}
	wg.Wait()
}

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "app:0.3.2",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
		}}},
	}
}

func createPods(ctx context.Context, client kubernetes.Interface, n, creators int) error {
	tmpl := podTemplate()
	return parallel(ctx, n, creators, func(ctx context.Context, i int) error {
		pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
		pod.Name = fmt.Sprintf("bench-%d", i)
		if _, err := client.CoreV1().Pods("bench").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s: %w", pod.Name, err)
		}
		return nil
	})
}

func createReplicaSet(ctx context.Context, client kubernetes.Interface, n int) error {
	replicas := int32(n)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas, Template: podTemplate(),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
		},
	}
	_, err := client.AppsV1().ReplicaSets("bench").Create(ctx, rs, metav1.CreateOptions{})
	return err
}

func createDeployment(ctx context.Context, client kubernetes.Interface, n int) error {
	replicas := int32(n)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Template: podTemplate(),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
		},
	}
	_, err := client.AppsV1().Deployments("bench").Create(ctx, d, metav1.CreateOptions{})
	return err
}

// parallel runs f for 0..n-1 on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(context.Context, int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// tracker records when each pod was first seen, seen bound and seen Running.
type tracker struct {
	mu             sync.Mutex
	want           int
	boundOnly      bool // done when all are bound (nobody makes them Running)
	seen, boundAt  map[types.UID]time.Time
	runningAt      map[types.UID]time.Time
	nodeOf         map[types.UID]string
	bound, running atomic.Int64
	done           chan struct{}
}

func newTracker(want int, boundOnly bool) *tracker {
	return &tracker{want: want, boundOnly: boundOnly, seen: map[types.UID]time.Time{}, boundAt: map[types.UID]time.Time{},
		runningAt: map[types.UID]time.Time{}, nodeOf: map[types.UID]string{}, done: make(chan struct{})}
}

func (t *tracker) observe(pod *corev1.Pod) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[pod.UID]; !ok {
		t.seen[pod.UID] = now
	}
	if _, ok := t.boundAt[pod.UID]; !ok && pod.Spec.NodeName != "" {
		t.boundAt[pod.UID] = now
		t.nodeOf[pod.UID] = pod.Spec.NodeName
		if t.bound.Add(1) == int64(t.want) && t.boundOnly {
			close(t.done)
		}
	}
	if _, ok := t.runningAt[pod.UID]; !ok && pod.Status.Phase == corev1.PodRunning {
		t.runningAt[pod.UID] = now
		if t.running.Add(1) == int64(t.want) {
			close(t.done)
		}
	}
}

func (t *tracker) wait(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return errors.New("timed out")
	}
}

func latest(m map[types.UID]time.Time) time.Time {
	var last time.Time
	for _, at := range m {
		if at.After(last) {
			last = at
		}
	}
	return last
}

// lastSeen is when the last pod was first seen: created (and in the informer).
func (t *tracker) lastSeen() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return latest(t.seen)
}

func (t *tracker) lastBound() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return latest(t.boundAt)
}

func (t *tracker) lastRunning() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return latest(t.runningAt)
}

func (t *tracker) latencies() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Duration, 0, len(t.boundAt))
	for uid, at := range t.boundAt {
		out = append(out, at.Sub(t.seen[uid]))
	}
	slices.Sort(out)
	return out
}

func (t *tracker) perNode() (maxPods, spread int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	counts := map[string]int{}
	for _, n := range t.nodeOf {
		counts[n]++
	}
	lo := 1 << 30
	for _, c := range counts {
		maxPods, lo = max(maxPods, c), min(lo, c)
	}
	return maxPods, maxPods - lo
}

func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(q*float64(len(sorted)-1))].Microseconds()) / 1000
}

// rss reads the current and peak resident set of a process, in MiB (0 when unreadable).
func rss(pid int) (now, peak float64) {
	m, _ := proc.ReadMemory(pid)
	return float64(m.RSS) / 1024, float64(m.Peak) / 1024
}

// cpuSeconds reads the user+system CPU time of a process (0 when unreadable).
func cpuSeconds(pid int) float64 {
	d, _ := proc.CPUTime(pid)
	return d.Seconds()
}
