package nodeipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func TestCIDRSetSubnets(t *testing.T) {
	tests := []struct {
		cluster string
		mask    int
		index   int
		want    string
	}{
		{"10.42.0.0/16", 24, 0, "10.42.0.0/24"},
		{"10.42.0.0/16", 24, 255, "10.42.255.0/24"},
		{"10.42.0.0/16", 26, 5, "10.42.1.64/26"},
		{"10.42.7.9/16", 24, 1, "10.42.1.0/24"}, // host bits in the cluster CIDR are ignored
		{"fd00:10:42::/48", 64, 3, "fd00:10:42:3::/64"},
		{"fd00::/56", 64, 255, "fd00:0:0:ff::/64"},
		{"fd00::/100", 112, 1, "fd00::1:0/112"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d#%d", tt.cluster, tt.mask, tt.index), func(t *testing.T) {
			s, err := newCIDRSet(netip.MustParsePrefix(tt.cluster), tt.mask)
			if err != nil {
				t.Fatal(err)
			}
			got := s.subnetAt(tt.index)
			if got.String() != tt.want {
				t.Fatalf("subnetAt(%d) = %s, want %s", tt.index, got, tt.want)
			}
			idx, err := s.indexOf(got)
			if err != nil || idx != tt.index {
				t.Fatalf("indexOf(%s) = %d, %v; want %d", got, idx, err, tt.index)
			}
		})
	}
}

func TestCIDRSetRejects(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		mask    int
	}{
		{"mask smaller than cluster", "10.42.0.0/16", 8},
		{"mask beyond address", "10.42.0.0/16", 33},
		{"too many subnets", "10.0.0.0/8", 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newCIDRSet(netip.MustParsePrefix(tt.cluster), tt.mask); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	s, _ := newCIDRSet(netip.MustParsePrefix("10.42.0.0/16"), 24)
	for _, bad := range []string{"10.43.0.0/24", "10.42.0.0/25", "10.42.0.128/24", "fd00::/64"} {
		if err := s.occupy(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("occupy(%s): want an error", bad)
		}
	}
}

func TestAllocatorNoDuplicatesUntilFull(t *testing.T) {
	a, err := NewAllocator("10.42.0.0/22", 24) // four subnets
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Prefix]string{}
	for i := range 4 {
		node := fmt.Sprintf("n%d", i)
		got, err := a.Allocate(node)
		if err != nil {
			t.Fatalf("allocate %s: %v", node, err)
		}
		if other, dup := seen[got[0]]; dup {
			t.Fatalf("%s handed to %s and %s", got[0], other, node)
		}
		seen[got[0]] = node
		again, _ := a.Allocate(node)
		if again[0] != got[0] {
			t.Fatalf("allocate is not idempotent: %s then %s", got[0], again[0])
		}
	}
	if _, err := a.Allocate("n4"); !errors.Is(err, ErrFull) {
		t.Fatalf("fifth allocation: err = %v, want ErrFull", err)
	}
	a.Release("n1")
	got, err := a.Allocate("n4")
	if err != nil || got[0] != netip.MustParsePrefix("10.42.1.0/24") {
		t.Fatalf("after release: %v, %v; want 10.42.1.0/24", got, err)
	}
	if in := a.InUse(); in[0] != 4 {
		t.Fatalf("in use = %v, want 4", in)
	}
}

func TestAllocatorRebuildSkipsOccupied(t *testing.T) {
	a, _ := NewAllocator("10.42.0.0/16", 24)
	if res, err := a.Occupy("old-0", []string{"10.42.0.0/24"}); err != nil || res.Conflict != "" {
		t.Fatalf("occupy: %+v %v", res, err)
	}
	if res, _ := a.Occupy("old-1", []string{"10.42.0.0/24"}); res.Conflict != "old-0" {
		t.Fatalf("conflict = %q, want old-0", res.Conflict)
	}
	if _, err := a.Occupy("manual", []string{"192.168.0.0/24"}); err != nil {
		t.Fatalf("CIDR outside the cluster CIDR must be ignored: %v", err)
	}
	got, _ := a.Allocate("new")
	if got[0].String() != "10.42.1.0/24" {
		t.Fatalf("new node got %s, want 10.42.1.0/24", got[0])
	}
}

func TestAllocatorDualStack(t *testing.T) {
	a, err := NewAllocator("10.42.0.0/16, fd00:42::/56", 24)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Allocate("n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].String() != "10.42.0.0/24" || got[1].String() != "fd00:42::/64" {
		t.Fatalf("got %v", got)
	}
	if _, err := NewAllocator("10.42.0.0/16,10.43.0.0/16", 24); err == nil {
		t.Fatal("two IPv4 cluster CIDRs: want an error")
	}
}

// TestControllerAssignsAndReleases runs the controller against a fake clientset: existing
// CIDRs survive a restart, new nodes get distinct ones, a deleted node's CIDR comes back.
func TestControllerAssignsAndReleases(t *testing.T) {
	existing := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NodeSpec{PodCIDR: "10.42.0.0/24", PodCIDRs: []string{"10.42.0.0/24"}}}
	client := fake.NewClientset(existing, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}})
	factory := informers.NewSharedInformerFactory(client, 0)
	alloc, _ := NewAllocator("10.42.0.0/22", 24)
	c := NewController(client.CoreV1().Nodes(), factory.Core().V1().Nodes(), alloc, record.NewFakeRecorder(100), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})

	cidrOf := func(name string) string {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return n.Spec.PodCIDR
	}
	waitFor(t, "node b gets 10.42.1.0/24", func() bool { return cidrOf("b") == "10.42.1.0/24" })
	if got := cidrOf("a"); got != "10.42.0.0/24" {
		t.Fatalf("node a changed to %s", got)
	}
	if err := client.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's CIDR released", func() bool { return alloc.InUse()[0] == 1 })
	for _, name := range []string{"c", "d", "e"} {
		if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "c, d, e get the remaining CIDRs", func() bool { return cidrOf("c") != "" && cidrOf("d") != "" && cidrOf("e") != "" })
	seen := map[string]bool{cidrOf("b"): true}
	for _, name := range []string{"c", "d", "e"} {
		if seen[cidrOf(name)] {
			t.Fatalf("duplicate CIDR %s", cidrOf(name))
		}
		seen[cidrOf(name)] = true
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		<-tick.C
	}
}
