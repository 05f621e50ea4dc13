package proxy

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/netns"
)

// cluster is a set of Services and EndpointSlices, the proxy's whole input.
type cluster struct {
	services map[string]*corev1.Service
	slices   map[string][]*discoveryv1.EndpointSlice // by service key
}

func newCluster() *cluster {
	return &cluster{services: map[string]*corev1.Service{}, slices: map[string][]*discoveryv1.EndpointSlice{}}
}

func (c *cluster) add(svc *corev1.Service, eps ...*discoveryv1.EndpointSlice) {
	key := svc.Namespace + "/" + svc.Name
	c.services[key] = svc
	c.slices[key] = eps
}

func (c *cluster) list() []*corev1.Service {
	var out []*corev1.Service
	for _, s := range c.services {
		out = append(out, s)
	}
	return out
}

func (c *cluster) desired(p ruleParams) func(string) *serviceRules {
	return func(key string) *serviceRules { return desiredRules(c.services[key], c.slices[key], p) }
}

var testParams = ruleParams{nodeName: "node-a", clusterCIDR: "10.42.0.0/16"}

var testNodeIPs = []string{"192.168.77.1"}

// testConfig is the table of the tests.
var testConfig = tableConfig{nodeIPs: testNodeIPs, clusterCIDR: testParams.clusterCIDR}

// newFake is a fake of the proxy's tables (an Interface with no default table).
func newFake() *knftables.Fake { return knftables.NewFake("", "") }

// fullDump writes c from scratch into fake tables and dumps them.
func fullDump(t *testing.T, c *cluster, p ruleParams) string {
	t.Helper()
	nft := newFake()
	for _, tx := range newTableState(testConfig).planFull(nft.NewTransaction, nil, c.list(), c.desired(p)).txs {
		if err := nft.Run(context.Background(), tx); err != nil {
			t.Fatalf("full sync: %v\n%s", err, tx)
		}
	}
	return nft.Dump()
}

var (
	hashRE  = regexp.MustCompile(`-[A-Z2-7]{8}-`)
	tableRE = regexp.MustCompile(` ip ` + TableName + ` `)
)

// serviceLines is the part of a dump that the services add (hashes in names elided),
// in dump order: chains, sets, rules, elements.
func serviceLines(t *testing.T, c *cluster, p ruleParams) []string {
	t.Helper()
	base := map[string]bool{}
	for _, l := range strings.Split(fullDump(t, newCluster(), p), "\n") {
		base[l] = true
	}
	var out []string
	for _, l := range strings.Split(fullDump(t, c, p), "\n") {
		if !base[l] {
			l = tableRE.ReplaceAllString(strings.TrimPrefix(l, "add "), " ")
			out = append(out, hashRE.ReplaceAllString(l, "-"))
		}
	}
	// Sort by kind then object, keeping the order of rules within a chain.
	kind := map[string]int{"chain": 0, "set": 1, "map": 2, "rule": 3, "element": 4}
	slices.SortStableFunc(out, func(a, b string) int {
		fa, fb := strings.Fields(a), strings.Fields(b)
		if c := kind[fa[0]] - kind[fb[0]]; c != 0 {
			return c
		}
		return strings.Compare(fa[1], fb[1])
	})
	return out
}

func service(name string, opts ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.43.0.10", ClusterIPs: []string{"10.43.0.10"},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

func clusterIP(ip string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip} }
}

func nodePort(port int32) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = port
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
}

func externalLocal(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

func internalLocal(s *corev1.Service) {
	local := corev1.ServiceInternalTrafficPolicyLocal
	s.Spec.InternalTrafficPolicy = &local
}

func affinity(seconds int32) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &seconds}}
	}
}

// ep is one endpoint for slice: ready unless a condition says otherwise.
type ep struct {
	ip, node                     string
	notReady, terminating, unset bool
	notServing                   bool
}

func slice(svc *corev1.Service, name string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	portName, proto := svc.Spec.Ports[0].Name, svc.Spec.Ports[0].Protocol
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "test"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Protocol: &proto, Port: &port}},
	}
	for _, e := range eps {
		endpoint := discoveryv1.Endpoint{Addresses: []string{e.ip}}
		if e.node != "" {
			endpoint.NodeName = &e.node
		}
		if !e.unset {
			ready, serving, terminating := !e.notReady && !e.terminating, !e.notServing, e.terminating
			endpoint.Conditions = discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating}
		}
		s.Endpoints = append(s.Endpoints, endpoint)
	}
	return s
}

// recordingNFT is a fake table that keeps every transaction it ran and can be told to
// fail.
type recordingNFT struct {
	*knftables.Fake
	txs      chan string
	failNext chan struct{}
	// failRuns are the calls of Run (counted from 1) that fail; set before the proxy
	// starts.
	failRuns map[int]bool
	runs     int
}

func newRecordingNFT() *recordingNFT {
	return &recordingNFT{Fake: newFake(), txs: make(chan string, 100), failNext: make(chan struct{}, 1)}
}

// Tables makes recordingNFT a TableLister.
func (r *recordingNFT) Tables(context.Context) ([]string, error) {
	r.Fake.RLock()
	defer r.Fake.RUnlock()
	return slices.Sorted(maps.Keys(r.Fake.Tables[knftables.IPv4Family])), nil
}

func (r *recordingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	r.runs++
	if r.failRuns[r.runs] {
		return knftables.PtrTo(testError(fmt.Sprintf("injected failure of run %d", r.runs)))
	}
	select {
	case <-r.failNext:
		return knftables.PtrTo(testError("injected failure"))
	default:
	}
	err := r.Fake.Run(ctx, tx)
	if err == nil {
		r.txs <- tx.String()
	}
	return err
}

type testError string

func (e *testError) Error() string { return string(*e) }

// chainsIn lists the chain names a transaction mentions (add/flush/delete chain and rules).
func chainsIn(tx string) []string {
	var out []string
	for _, l := range strings.Split(tx, "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && (f[1] == "chain" || f[1] == "rule") {
			out = append(out, f[4])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// kernelTables are the proxy's tables in a network namespace of a test's own.
type kernelTables struct {
	knftables.Interface
	path string
}

// table lists table (chains, sets, maps and elements) through nft.
func (k *kernelTables) table(t *testing.T, table string) knftables.Interface {
	t.Helper()
	nft, err := netns.NFTables(k.path, knftables.IPv4Family, table)
	if err != nil {
		t.Fatal(err)
	}
	return nft
}

// realTable is the proxy's tables in a network namespace of the test's own, or a skip
// unless the test runs as root with nft and ip (and not in -short mode).
func realTable(t *testing.T) *kernelTables {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the kernel's nftables: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and nftables")
	}
	for _, bin := range []string{"nft", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s", bin)
		}
	}
	name := fmt.Sprintf("berth-proxy-unit-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete: %v: %s", err, out)
		}
	})
	nft, err := NewNFTables("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := nft.(io.Closer); ok {
		t.Cleanup(func() { c.Close() }) // before the namespace is deleted (cleanups run last first)
	}
	return &kernelTables{Interface: nft, path: "/run/netns/" + name}
}
