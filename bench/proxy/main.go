// Command proxy measures berth's service proxy (internal/proxy):
//
//   - sync time: the proxy runs with N Services (2 endpoints each) in its table; one
//     Service's endpoints change again and again, and each incremental sync is timed
//     (goal: flat in N, O(change)); the full sync at start is timed too (wall and CPU
//     time, operations and transactions), and in the kernel the full sync of a second
//     proxy started over the table the first one left ("restart", an agent restarting);
//   - request latency through a ClusterIP against straight to the pod IP, from a pod on
//     the same node, with the largest N present (goal: ratio ≤ 1.1).
//
// As root it runs everything in a lab of network namespaces (internal/proxy/proxytest)
// with the kernel's nftables, through proxy.NewNFTables (the full sync's first
// transaction runs the nft binary, the rest go over netlink; "tx nl/nft" counts each
// kind); each sync's CPU time is reported beside its wall time, which depends on the
// machine's load: the process's and nft's ("full CPU", since the proxy started; the
// kernel's work on netlink transactions counts as the process's system time), and
// nft's alone (user+sys of the child processes). -null times only the proxy's own work (rules, diff,
// transaction) against a table that accepts every transaction and keeps nothing (no
// root, no latency figures).
//
//	go run ./bench/proxy -services 1000,10000
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/netns"
	"github.com/berth/berth/internal/proxy"
	"github.com/berth/berth/internal/proxy/nftlink"
	"github.com/berth/berth/internal/proxy/proxytest"
)

type options struct {
	services []int
	changes  int
	// endpoints per Service
	endpoints int
	requests  int
	fake      bool
	jsonOut   bool
}

func main() {
	var o options
	var counts string
	flag.StringVar(&counts, "services", "1000,10000", "comma-separated numbers of Services in the table")
	flag.IntVar(&o.changes, "changes", 30, "endpoint changes of one Service timed per size")
	flag.IntVar(&o.endpoints, "endpoints", 2, "endpoints of each Service")
	flag.IntVar(&o.requests, "requests", 2000, "requests per latency arm")
	flag.BoolVar(&o.fake, "null", false, "sync into a table that keeps nothing: the proxy's own cost only (no root needed; no latency figures)")
	flag.BoolVar(&o.jsonOut, "json", false, "print only JSON")
	flag.Parse()
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			log.Fatalf("-services: bad count %q", c)
		}
		o.services = append(o.services, n)
	}
	res, err := run(context.Background(), o)
	if err != nil {
		log.Fatal(err)
	}
	if o.jsonOut {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return
	}
	res.print()
}

type syncFigures struct {
	Services       int     `json:"services"`
	FullSyncMs     float64 `json:"full_sync_ms"`
	FullOperations int     `json:"full_sync_operations"`
	ChangeP50Ms    float64 `json:"one_service_sync_p50_ms"`
	ChangeP90Ms    float64 `json:"one_service_sync_p90_ms"`
	ChangeMaxMs    float64 `json:"one_service_sync_max_ms"`
	// ChangeNftSyncs counts the one-Service syncs that ran nft (those that created a
	// class map: the first Service with a new number of endpoints), and
	// ChangeMaxNetlinkMs is the longest of the others.
	ChangeNftSyncs     int     `json:"one_service_syncs_through_nft"`
	ChangeMaxNetlinkMs float64 `json:"one_service_sync_max_netlink_ms"`
	ChangeOps          int     `json:"one_service_sync_operations_max"`
	// NftCPUP50Ms is the CPU time (user+sys) of the nft processes of one sync.
	NftCPUP50Ms  float64 `json:"one_service_sync_nft_cpu_p50_ms"`
	FullNftCPUMs float64 `json:"full_sync_nft_cpu_ms"`
	// FullCPUMs is the CPU time of the whole full sync: the bench process's (the
	// proxy's work and the kernel's on its netlink transactions) and nft's.
	FullCPUMs        float64 `json:"full_sync_cpu_ms"`
	FullTransactions int     `json:"full_sync_transactions"`
	// RestartSyncMs is the full sync of a proxy started over the table a stopped one
	// left (an agent restarting), RestartCPUMs its CPU time (kernel table only).
	RestartSyncMs float64 `json:"restart_full_sync_ms,omitempty"`
	RestartCPUMs  float64 `json:"restart_full_sync_cpu_ms,omitempty"`
	// NetlinkTx and NftTx count the transactions sent over netlink and run by nft
	// (kernel table only).
	NetlinkTx int `json:"netlink_transactions,omitempty"`
	NftTx     int `json:"nft_transactions,omitempty"`
}

type latencyFigures struct {
	Mode          string  `json:"mode"`
	DirectP50Us   float64 `json:"direct_p50_us"`
	DirectP99Us   float64 `json:"direct_p99_us"`
	DirectMeanUs  float64 `json:"direct_mean_us"`
	ServiceP50Us  float64 `json:"clusterip_p50_us"`
	ServiceP99Us  float64 `json:"clusterip_p99_us"`
	ServiceMeanUs float64 `json:"clusterip_mean_us"`
	RatioP50      float64 `json:"ratio_p50"`
	RatioMean     float64 `json:"ratio_mean"`
}

type result struct {
	Table   string           `json:"table"`
	Syncs   []syncFigures    `json:"syncs"`
	Latency []latencyFigures `json:"latency,omitempty"`
}

func (r *result) print() {
	fmt.Printf("proxy sync (%s)\n", r.Table)
	fmt.Printf("%-9s %13s %12s %12s %9s %6s %13s %13s %13s %13s %14s %15s %9s %12s\n", "services", "full sync ms", "full CPU ms", "full nft CPU", "full ops", "full tx",
		"restart ms", "1-svc p50 ms", "1-svc p90 ms", "1-svc max ms", "max nl-only ms", "1-svc nft CPU", "1-svc ops", "tx nl/nft")
	for _, s := range r.Syncs {
		txs, restart := "-", "-" // the null table
		if s.NetlinkTx+s.NftTx > 0 {
			txs = fmt.Sprintf("%d/%d", s.NetlinkTx, s.NftTx)
			restart = fmt.Sprintf("%.1f", s.RestartSyncMs)
		}
		fmt.Printf("%-9d %13.1f %12.1f %12.1f %9d %6d %13s %13.2f %13.2f %13.2f %14s %15.2f %9d %12s\n", s.Services, s.FullSyncMs, s.FullCPUMs, s.FullNftCPUMs, s.FullOperations,
			s.FullTransactions, restart, s.ChangeP50Ms, s.ChangeP90Ms, s.ChangeMaxMs, fmt.Sprintf("%.2f (%d nft)", s.ChangeMaxNetlinkMs, s.ChangeNftSyncs), s.NftCPUP50Ms, s.ChangeOps, txs)
	}
	if len(r.Latency) > 0 {
		fmt.Printf("\nrequest latency, pod → pod on one node (%d services in the table)\n", r.Syncs[len(r.Syncs)-1].Services)
		fmt.Printf("%-22s %10s %10s %10s %12s %12s %12s %10s %10s\n", "mode", "pod p50µs", "pod p99µs", "pod mean", "svc p50µs", "svc p99µs", "svc mean", "ratio p50", "ratio mean")
		for _, l := range r.Latency {
			fmt.Printf("%-22s %10.0f %10.0f %10.0f %12.0f %12.0f %12.0f %10.3f %10.3f\n", l.Mode, l.DirectP50Us, l.DirectP99Us, l.DirectMeanUs,
				l.ServiceP50Us, l.ServiceP99Us, l.ServiceMeanUs, l.RatioP50, l.RatioMean)
		}
	}
	b, _ := json.Marshal(r)
	fmt.Printf("\nJSON %s\n", b)
}

func run(ctx context.Context, o options) (*result, error) {
	res := &result{Table: "kernel nftables in a network namespace"}
	var lab *proxytest.Lab
	if o.fake {
		res.Table = "null"
	} else {
		if why := proxytest.Require(); why != "" {
			return nil, fmt.Errorf("%s; or run with -fake", why)
		}
		var err error
		if lab, err = proxytest.New(proxytest.Options{Pods: 2, Prefix: "berth-bench-proxy"}); err != nil {
			return nil, err
		}
		defer func() {
			if err := lab.Close(); err != nil {
				log.Printf("close lab: %v", err)
			}
		}()
	}
	for i, n := range o.services {
		last := i == len(o.services)-1
		figures, stop, err := measureSyncs(ctx, lab, n, o.endpoints, o.changes, last && lab != nil)
		if err != nil {
			return nil, err
		}
		res.Syncs = append(res.Syncs, figures)
		if last && lab != nil {
			lat, err := measureLatency(lab, o.requests)
			stop()
			if err != nil {
				return nil, err
			}
			res.Latency = lat
		}
	}
	return res, nil
}

// measureSyncs runs a proxy over n Services and times the syncs of one Service's
// endpoint changes. In the kernel it then stops that proxy leaving its table, as an
// agent that restarts does, and times the rebuild of a second one over it. With
// withWeb it also serves "web" (pod-0 of the lab) and keeps the proxy running until
// stop.
func measureSyncs(ctx context.Context, lab *proxytest.Lab, n, endpoints, changes int, withWeb bool) (syncFigures, func(), error) {
	fig := syncFigures{Services: n}
	objects := make([]runtime.Object, 0, 2*n+2)
	for i := range n {
		svc, slice := benchService(i, endpoints, endpoints)
		objects = append(objects, svc, slice)
	}
	if withWeb {
		web, slice := labService(lab)
		objects = append(objects, web, slice)
	}
	// NewSimpleClientset: NewClientset's managed-fields machinery costs seconds here.
	client := fake.NewSimpleClientset(objects...) //nolint:staticcheck
	px, err := startProxy(ctx, lab, client, lab != nil)
	if err != nil {
		return fig, nil, err
	}
	full, err := px.next("full sync")
	if err != nil {
		px.stop()
		return fig, nil, err
	}
	fig.FullSyncMs, fig.FullOperations, fig.FullTransactions = ms(full.Duration), full.Operations, full.Transactions
	fig.FullCPUMs, fig.FullNftCPUMs = ms(full.cpu), ms(full.nftCPU)

	var took, cpu []time.Duration
	for c := range changes {
		_, slice := benchService(n/2, endpoints, endpoints+(c+1)%2) // +1, +0, +1, … endpoints
		if _, err := client.DiscoveryV1().EndpointSlices("bench").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			px.stop()
			return fig, nil, err
		}
		r, err := px.next("one-service sync")
		if err != nil {
			px.stop()
			return fig, nil, err
		}
		if r.Full || r.Changed != 1 {
			px.stop()
			return fig, nil, fmt.Errorf("one-service change gave sync %+v", r.SyncResult)
		}
		took = append(took, r.Duration)
		if r.nftCPU > 0 {
			fig.ChangeNftSyncs++
		} else {
			fig.ChangeMaxNetlinkMs = max(fig.ChangeMaxNetlinkMs, ms(r.Duration))
		}
		cpu = append(cpu, r.nftCPU)
		fig.ChangeOps = max(fig.ChangeOps, r.Operations)
	}
	if st, ok := px.nft.(interface{ Stats() nftlink.Stats }); ok {
		fig.NetlinkTx, fig.NftTx = st.Stats().Netlink, st.Stats().Exec
	}
	slices.Sort(took)
	slices.Sort(cpu)
	fig.NftCPUP50Ms = ms(pct(cpu, 50))
	fig.ChangeP50Ms, fig.ChangeP90Ms, fig.ChangeMaxMs = ms(pct(took, 50)), ms(pct(took, 90)), ms(took[len(took)-1])

	if lab != nil {
		// An agent restarting: the table of the last one is there, serving, and the
		// new proxy rebuilds over it.
		px.stop()
		if px, err = startProxy(ctx, lab, client, false); err != nil {
			return fig, nil, err
		}
		again, err := px.next("full sync over the old table")
		if err != nil {
			px.stop()
			return fig, nil, err
		}
		fig.RestartSyncMs, fig.RestartCPUMs = ms(again.Duration), ms(again.cpu)
	}
	if !withWeb {
		px.stop()
		return fig, func() {}, nil
	}
	return fig, px.stop, nil
}

// benchProxy is a running proxy whose syncs the bench reads.
type benchProxy struct {
	nft     knftables.Interface
	results chan timedSync
	done    chan error
	stop    func()
}

// timedSync is a sync with the CPU time it took: the bench process's own (the proxy,
// and the kernel's work on netlink transactions) and its nft children's.
type timedSync struct {
	proxy.SyncResult
	cpu, nftCPU time.Duration
}

// startProxy runs a proxy over client's objects (in the lab's node, or into the null
// table without a lab); keep leaves its table when stop is called.
func startProxy(ctx context.Context, lab *proxytest.Lab, client *fake.Clientset, keep bool) (*benchProxy, error) {
	var nft knftables.Interface = nullTable{knftables.NewFake("", "")}
	if lab != nil {
		var err error
		if nft, err = proxy.NewNFTables(lab.Node.Path); err != nil {
			return nil, err
		}
	}
	b := &benchProxy{nft: nft, results: make(chan timedSync, 16), done: make(chan error, 1)}
	// Each sync's CPU time since the previous one's end (the proxy is idle between
	// them, up to its informers).
	self0, children0 := processCPU()
	p, err := proxy.New(proxy.Config{
		NodeName: "node-a", NodeIPs: []string{proxytest.NodeIP}, ClusterCIDR: proxytest.ClusterCIDR,
		Client: client, NFT: nft, MinSyncPeriod: time.Millisecond, KeepRules: keep,
		OnSync: func(r proxy.SyncResult) {
			self, children := processCPU()
			b.results <- timedSync{SyncResult: r, cpu: self - self0 + children - children0, nftCPU: children - children0}
			self0, children0 = self, children
		},
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	go func() { b.done <- p.Run(runCtx) }()
	b.stop = func() {
		cancel()
		if err := <-b.done; err != nil {
			log.Printf("proxy: %v", err)
		}
	}
	return b, nil
}

// next waits for the next sync that changed a Service (or rebuilt the table).
func (b *benchProxy) next(what string) (timedSync, error) {
	for {
		select {
		case r := <-b.results:
			if r.Err != nil {
				return r, fmt.Errorf("%s: %w", what, r.Err)
			}
			if !r.Full && r.Services == 0 {
				continue // only deleted stale chains
			}
			return r, nil
		case err := <-b.done:
			return timedSync{}, fmt.Errorf("%s: proxy stopped: %v", what, err)
		case <-time.After(5 * time.Minute):
			return timedSync{}, errors.New(what + ": no sync in 5 minutes")
		}
	}
}

// benchService is Service i of namespace bench, with a slice of eps endpoints (from
// addresses that leave room for base of them).
func benchService(i, base, eps int) (*corev1.Service, *discoveryv1.EndpointSlice) {
	ip := fmt.Sprintf("10.43.%d.%d", i/250, i%250+1)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("svc-%05d", i)},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	var addrs []string
	for e := range eps {
		if base <= 2 {
			addrs = append(addrs, fmt.Sprintf("10.42.%d.%d", 100+(i/120)%150, 2*(i%120)+2+e))
			continue
		}
		// More endpoints than the scheme above has room for: addresses outside the
		// lab's networks (nothing is sent to them).
		k := i*(base+1) + e
		addrs = append(addrs, fmt.Sprintf("10.%d.%d.%d", 60+k/(250*256)%100, k/250%256, k%250+2))
	}
	return svc, endpointSlice(svc, 8080, addrs...)
}

func endpointSlice(svc *corev1.Service, port int32, addrs ...string) *discoveryv1.EndpointSlice {
	name, proto, node, ready := "http", corev1.ProtocolTCP, "node-a", true
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace, Name: svc.Name + "-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "bench"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	for _, a := range addrs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{a}, NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		})
	}
	return s
}

// webIP is the ClusterIP of the latency Service (outside benchService's range).
const webIP = "10.43.250.1"

func labService(lab *proxytest.Lab) (*corev1.Service, *discoveryv1.EndpointSlice) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: webIP, ClusterIPs: []string{webIP},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	return svc, endpointSlice(svc, 8080, lab.Pods[0].IP)
}

// measureLatency times requests from pod-1 to pod-0, alternating the pod IP and the
// ClusterIP, on a new connection each and over one kept-alive connection.
func measureLatency(lab *proxytest.Lab, requests int) ([]latencyFigures, error) {
	server, client := lab.Pods[0], lab.Pods[1]
	if err := lab.Serve(&server.NetNS, 8080, "pod-0"); err != nil {
		return nil, err
	}
	direct := net.JoinHostPort(server.IP, "8080")
	service := net.JoinHostPort(webIP, "80")
	// The rules for web were written before the first sync reported; check anyway.
	if name, _, err := client.Get(service, 5*time.Second); err != nil || name != "pod-0" {
		return nil, fmt.Errorf("GET %s: %q, %v", service, name, err)
	}
	var out []latencyFigures
	for _, keepAlive := range []bool{false, true} {
		var d, s []time.Duration
		err := netns.Do(client.Path, func() error {
			var err error
			d, s, err = alternate(direct, service, requests, keepAlive)
			return err
		})
		if err != nil {
			return nil, err
		}
		mode := "new connection each"
		if keepAlive {
			mode = "kept-alive connection"
		}
		f := latencyFigures{
			Mode:        mode,
			DirectP50Us: us(pct(d, 50)), DirectP99Us: us(pct(d, 99)), DirectMeanUs: us(mean(d)),
			ServiceP50Us: us(pct(s, 50)), ServiceP99Us: us(pct(s, 99)), ServiceMeanUs: us(mean(s)),
		}
		f.RatioP50, f.RatioMean = f.ServiceP50Us/f.DirectP50Us, f.ServiceMeanUs/f.DirectMeanUs
		out = append(out, f)
	}
	return out, nil
}

// alternate runs on the client's thread (inside its namespace): requests to a and b in
// turn, after a warm-up, and returns the sorted latencies of each.
func alternate(a, b string, n int, keepAlive bool) ([]time.Duration, []time.Duration, error) {
	type target struct {
		addr string
		conn net.Conn
		r    *bufio.Reader
		took []time.Duration
	}
	targets := []*target{{addr: a}, {addr: b}}
	defer func() {
		for _, t := range targets {
			if t.conn != nil {
				t.conn.Close()
			}
		}
	}()
	one := func(t *target) (time.Duration, error) {
		start := time.Now()
		if t.conn == nil {
			conn, err := net.DialTimeout("tcp", t.addr, 5*time.Second)
			if err != nil {
				return 0, err
			}
			t.conn, t.r = conn, bufio.NewReader(conn)
		}
		_ = t.conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := proxytest.RoundTrip(t.r, t.conn, keepAlive); err != nil {
			return 0, err
		}
		took := time.Since(start)
		if !keepAlive {
			t.conn.Close()
			t.conn = nil
		}
		return took, nil
	}
	warmup := min(n/10, 200)
	for i := range n + warmup {
		for _, t := range targets {
			took, err := one(t)
			if err != nil {
				return nil, nil, fmt.Errorf("request to %s: %w", t.addr, err)
			}
			if i >= warmup {
				t.took = append(t.took, took)
			}
		}
	}
	for _, t := range targets {
		slices.Sort(t.took)
	}
	return targets[0].took, targets[1].took, nil
}

// processCPU is the user+sys time of the process and of its finished child processes
// (the nft runs).
func processCPU() (self, children time.Duration) {
	var ru, rc syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(rc.Utime.Nano() + rc.Stime.Nano())
}

// nullTable accepts every transaction and keeps nothing: what is left to time is the
// proxy's own work.
type nullTable struct{ knftables.Interface }

func (nullTable) Run(context.Context, *knftables.Transaction) error { return nil }

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
