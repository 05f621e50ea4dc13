package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/berth/berth/internal/proxy"
	"github.com/berth/berth/internal/proxy/proxytest"
	"github.com/berth/berth/test/e2e/framework"
)

// proxyNode is the node of the proxy tests' lab: the lab's node namespace runs the
// proxy ("node-a"); pods on it are backends or clients.
const proxyNode = "node-a"

// newProxyLab builds a lab (or skips) and checks after the test that its namespaces are
// gone.
func newProxyLab(t *testing.T, pods int) *proxytest.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	if why := proxytest.Require(); why != "" {
		t.Skip("e2e: " + why)
	}
	lab, err := proxytest.New(proxytest.Options{Pods: pods, Prefix: "berth-e2e-proxy"})
	if err != nil {
		t.Fatal(err)
	}
	names := lab.Names()
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
		for _, n := range names {
			if _, err := os.Stat("/run/netns/" + n); err == nil {
				t.Errorf("network namespace %s left behind", n)
			}
		}
	})
	return lab
}

// runningProxy is a proxy running in the lab's node namespace.
type runningProxy struct {
	proxy  *proxy.Proxy
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	syncs  []proxy.SyncResult
}

func startLabProxy(t *testing.T, lab *proxytest.Lab, client kubernetes.Interface) *runningProxy {
	t.Helper()
	nft, err := proxy.NewNFTables(lab.Node.Path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("BERTH_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rp := &runningProxy{done: make(chan error, 1)}
	rp.proxy, err = proxy.New(proxy.Config{
		NodeName: proxyNode, NodeIPs: []string{proxytest.NodeIP}, ClusterCIDR: proxytest.ClusterCIDR,
		Client: client, NFT: nft, Log: log,
		OnSync: func(res proxy.SyncResult) {
			rp.mu.Lock()
			rp.syncs = append(rp.syncs, res)
			rp.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp.cancel = cancel
	go func() { rp.done <- rp.proxy.Run(ctx) }()
	t.Cleanup(func() { rp.stop(t) })
	select {
	case <-rp.proxy.Ready():
	case err := <-rp.done:
		t.Fatalf("proxy stopped before its first sync: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("proxy not ready after 30 s")
	}
	return rp
}

func (rp *runningProxy) stop(t *testing.T) {
	t.Helper()
	if rp.cancel == nil {
		return
	}
	rp.cancel()
	rp.cancel = nil
	select {
	case err := <-rp.done:
		if err != nil {
			t.Errorf("proxy Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("proxy did not stop in 30 s")
	}
}

func (rp *runningProxy) results() []proxy.SyncResult {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]proxy.SyncResult(nil), rp.syncs...)
}

// proxyTables lists the proxy's tables (its main table and shards) in the node's
// namespace.
func proxyTables(t *testing.T, lab *proxytest.Lab) []string {
	t.Helper()
	nft, err := proxy.NewNFTables(lab.Node.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer nft.(io.Closer).Close()
	names, err := nft.(proxy.TableLister).Tables(context.Background())
	if err != nil {
		t.Fatalf("list the node's tables: %v", err)
	}
	var out []string
	for _, name := range names {
		if proxy.IsProxyTable(name) {
			out = append(out, name)
		}
	}
	return out
}

type labService struct {
	*corev1.Service
	client kubernetes.Interface
}

// createService creates a selector-less Service (so no controller writes its slices)
// with one TCP port "http" 80 → 8080.
func createService(t *testing.T, client kubernetes.Interface, name string, mutate ...func(*corev1.Service)) *labService {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, m := range mutate {
		m(svc)
	}
	created, err := client.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	return &labService{Service: created, client: client}
}

func (s *labService) clusterAddr() string {
	return fmt.Sprintf("%s:%d", s.Spec.ClusterIP, s.Spec.Ports[0].Port)
}

func (s *labService) nodePortAddr() string {
	return fmt.Sprintf("%s:%d", proxytest.NodeIP, s.Spec.Ports[0].NodePort)
}

// backend is one endpoint of a lab Service.
type backend struct {
	pod                   *proxytest.Pod
	node                  string // default proxyNode
	notReady, terminating bool
}

// setEndpoints writes the Service's one EndpointSlice (created on first use).
func (s *labService) setEndpoints(t *testing.T, backends ...backend) {
	t.Helper()
	name, proto, port := "http", corev1.ProtocolTCP, int32(8080)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.Namespace, Name: s.Name + "-e2e",
			Labels: map[string]string{discoveryv1.LabelServiceName: s.Name, discoveryv1.LabelManagedBy: "e2e.berth.dev"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	for _, b := range backends {
		node := b.node
		if node == "" {
			node = proxyNode
		}
		ready, serving, terminating := !b.notReady && !b.terminating, true, b.terminating
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{b.pod.IP}, NodeName: &node,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		})
	}
	ctx := context.Background()
	slices := s.client.DiscoveryV1().EndpointSlices(s.Namespace)
	if _, err := slices.Create(ctx, slice, metav1.CreateOptions{}); err == nil {
		return
	}
	current, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slice.ResourceVersion = current.ResourceVersion
	if _, err := slices.Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// answers makes n requests from ns to addr on new connections and counts the answers
// by backend name; every client address the backends saw is returned too.
func answers(t *testing.T, ns *proxytest.NetNS, addr string, n int) (map[string]int, map[string]bool) {
	t.Helper()
	names, clients := map[string]int{}, map[string]bool{}
	for range n {
		name, client, err := ns.Get(addr, 5*time.Second)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", addr, ns.Name, err)
		}
		names[name]++
		clients[client] = true
	}
	return names, clients
}

// eventuallyOnly waits until every one of 20 requests in a row reaches only the
// backends named.
func eventuallyOnly(t *testing.T, ns *proxytest.NetNS, addr string, want ...string) {
	t.Helper()
	framework.Eventually(t, 10*time.Second, fmt.Sprintf("%s from %s answered only by %v", addr, ns.Name, want), func() (bool, error) {
		for range 20 {
			name, _, err := ns.Get(addr, 300*time.Millisecond)
			if err != nil {
				return false, err
			}
			found := false
			for _, w := range want {
				found = found || name == w
			}
			if !found {
				return false, fmt.Errorf("answered by %s", name)
			}
		}
		return true, nil
	})
}

// dialError is the error of one connection attempt from ns, and how long it took.
func dialError(ns *proxytest.NetNS, addr string, timeout time.Duration) (error, time.Duration) {
	start := time.Now()
	_, _, err := ns.Get(addr, timeout)
	return err, time.Since(start)
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
