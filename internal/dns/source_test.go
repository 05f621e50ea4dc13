package dns

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestInformerSource(t *testing.T) {
	mem := testSource()
	var objs []runtime.Object
	for _, svc := range mem.services {
		objs = append(objs, svc)
	}
	for _, sl := range mem.slices {
		objs = append(objs, sl)
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	src, err := NewInformerSource(factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	eventually(t, "informers synced", src.HasSynced)

	// The informer source answers as the in-memory one does.
	r := NewResolver(src, "cluster.local")
	for _, tc := range resolveCases {
		t.Run(tc.name, func(t *testing.T) {
			ans := r.Resolve(dns.Question{Name: tc.qname, Qtype: tc.qtype, Qclass: dns.ClassINET})
			checkAnswer(t, tc, ans.Handled, ans.Rcode, ans.Answer, ans.Ns, ans.Extra)
		})
	}

	// Every change moves the version, after the store holds it.
	before := src.Version()
	svc := clusterIPService("default", "late", []string{"10.43.0.77"}, httpPort)
	svc.ResourceVersion = "1"
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "version after a create", func() bool { return src.Version() != before })
	if _, ok := src.Service("default", "late"); !ok {
		t.Errorf("version moved before the store has the service")
	}
	before = src.Version()
	if err := client.CoreV1().Services("default").Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "version after a delete", func() bool { return src.Version() != before })
	if _, ok := src.Service("default", "late"); ok {
		t.Errorf("version moved before the store dropped the service")
	}
	if !src.NamespaceHasServices("other") || src.NamespaceHasServices("nons") {
		t.Errorf("namespaces with services wrong")
	}
}
