package registry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/storage"
	"github.com/berth/berth/internal/storage/memory"
)

// newServiceStore returns a services Store with an allocator over a small range.
func newServiceStore(t *testing.T, cidr string, portBase, portCount int) (*Store, *ServiceAllocator, storage.Interface) {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	alloc, err := NewServiceAllocator(st, cidr, portBase, portCount)
	if err != nil {
		t.Fatal(err)
	}
	var res *Resource
	for _, r := range Builtin() {
		if r.Name == "services" && r.GroupVersion.Group == "" {
			res = r
		}
	}
	res.Allocator = alloc
	return NewStore(res, st, NewScheme(), slog.New(slog.DiscardHandler)), alloc, st
}

func service(name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
}

func TestServiceAllocationUniqueUnderConcurrentCreates(t *testing.T) {
	store, _, _ := newServiceStore(t, "10.43.0.0/24", 30000, 150)
	ctx := context.Background()
	const n = 100
	var wg sync.WaitGroup
	results := make([]*corev1.Service, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj, err := store.Create(ctx, "default", service(fmt.Sprintf("s%d", i), corev1.ServiceTypeNodePort), CreateOptions{})
			errs[i] = err
			if err == nil {
				results[i] = obj.(*corev1.Service)
			}
		}()
	}
	wg.Wait()
	ips, ports := map[string]string{}, map[int32]string{}
	for i, svc := range results {
		if errs[i] != nil {
			t.Fatalf("create s%d: %v", i, errs[i])
		}
		if prev, dup := ips[svc.Spec.ClusterIP]; dup {
			t.Fatalf("IP %s given to %s and %s", svc.Spec.ClusterIP, prev, svc.Name)
		}
		ips[svc.Spec.ClusterIP] = svc.Name
		np := svc.Spec.Ports[0].NodePort
		if prev, dup := ports[np]; dup {
			t.Fatalf("node port %d given to %s and %s", np, prev, svc.Name)
		}
		ports[np] = svc.Name
		if np < 30000 || np >= 30150 {
			t.Fatalf("node port %d outside the range", np)
		}
	}
}

func TestServiceAllocationRequestedAndReleased(t *testing.T) {
	store, _, st := newServiceStore(t, "10.43.0.0/24", 30000, 100)
	ctx := context.Background()
	keys := func() int {
		n := 0
		for _, p := range []string{serviceIPPrefix, serviceNodePortPrefix} {
			res, err := st.List(ctx, p, storage.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n += len(res.Items)
		}
		return n
	}
	fixed := service("fixed", corev1.ServiceTypeNodePort)
	fixed.Spec.ClusterIP = "10.43.0.7"
	fixed.Spec.Ports[0].NodePort = 30007
	obj, err := store.Create(ctx, "default", fixed, CreateOptions{})
	if err != nil {
		t.Fatalf("create with requested IP and port: %v", err)
	}
	if got := obj.(*corev1.Service); got.Spec.ClusterIP != "10.43.0.7" || got.Spec.Ports[0].NodePort != 30007 {
		t.Fatalf("requested values not honoured: %s %d", got.Spec.ClusterIP, got.Spec.Ports[0].NodePort)
	}
	clash := service("clash", corev1.ServiceTypeNodePort)
	clash.Spec.ClusterIP = "10.43.0.7"
	if _, err := store.Create(ctx, "default", clash, CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("second service on the same IP: want 422, got %v", err)
	}
	outside := service("outside", corev1.ServiceTypeClusterIP)
	outside.Spec.ClusterIP = "10.99.0.1"
	if _, err := store.Create(ctx, "default", outside, CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("IP outside the range: want 422, got %v", err)
	}
	if n := keys(); n != 2 {
		t.Fatalf("failed creates leaked reservations: %d keys, want 2", n)
	}
	// NodePort → ClusterIP releases the node port; the IP stays.
	_, err = store.Update(ctx, "default", "fixed", func(cur runtime.Object) (runtime.Object, error) {
		svc := cur.(*corev1.Service)
		svc.Spec.Type = corev1.ServiceTypeClusterIP
		svc.Spec.Ports[0].NodePort = 0
		return svc, nil
	}, UpdateOptions{})
	if err != nil {
		t.Fatalf("type change: %v", err)
	}
	if n := keys(); n != 1 {
		t.Fatalf("after type change: %d keys, want 1", n)
	}
	if _, err := store.Delete(ctx, "default", "fixed", nil, false); err != nil {
		t.Fatal(err)
	}
	if n := keys(); n != 0 {
		t.Fatalf("after delete: %d keys, want 0", n)
	}
	// The IP is free again.
	again := service("again", corev1.ServiceTypeClusterIP)
	again.Spec.ClusterIP = "10.43.0.7"
	if _, err := store.Create(ctx, "default", again, CreateOptions{}); err != nil {
		t.Fatalf("reuse released IP: %v", err)
	}
}

func TestServiceAllocationRepairReleasesOrphans(t *testing.T) {
	store, alloc, st := newServiceStore(t, "10.43.0.0/24", 30000, 100)
	ctx := context.Background()
	if _, err := store.Create(ctx, "default", service("kept", corev1.ServiceTypeClusterIP), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, serviceIPPrefix+"10.43.0.99", []byte("default/crashed")); err != nil {
		t.Fatal(err)
	}
	if err := alloc.Repair(ctx, store); err != nil {
		t.Fatal(err)
	}
	res, err := st.List(ctx, serviceIPPrefix, storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 || res.Items[0].Key == serviceIPPrefix+"10.43.0.99" {
		t.Fatalf("repair kept %v", res.Items)
	}
}

func TestKubernetesServiceIP(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.43.0.0/16":   "10.43.0.1",
		"10.96.0.0/12":   "10.96.0.1",
		"10.43.5.7/16":   "10.43.0.1", // host bits are dropped, as the allocator drops them
		"192.168.7.8/29": "192.168.7.9",
		"nope":           "",
		"fd00::/108":     "",
		"10.0.0.0/30":    "",
	} {
		ip, err := KubernetesServiceIP(cidr)
		if want == "" {
			if err == nil {
				t.Errorf("%s: %s, want an error", cidr, ip)
			}
			continue
		}
		if err != nil || ip.String() != want {
			t.Errorf("%s: %v %v, want %s", cidr, ip, err, want)
		}
	}
}
