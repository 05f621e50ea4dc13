package dns_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	berthdns "github.com/berth/berth/internal/dns"
	"github.com/berth/berth/test/integration/framework"
)

// upstream answers every A question with 192.0.2.1, standing in for the node's resolver.
func upstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		rr, _ := dns.NewRR(r.Question[0].Name + " 60 IN A 192.0.2.1")
		m.Answer = append(m.Answer, rr)
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestClusterDNSFromTheAPI(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	svc, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": "db"}, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready, port, name := true, int32(5432), "pg"
	if _, err := c.Client.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.7"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	factory := informers.NewSharedInformerFactory(c.Client, 0)
	src, err := berthdns.NewInformerSource(factory)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	t.Cleanup(factory.Shutdown)
	framework.Eventually(t, 10*time.Second, "informers synced", src.HasSynced)

	srv, err := berthdns.NewServer(src, berthdns.Config{Listen: "127.0.0.1:0", Upstreams: []string{upstream(t)}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	query := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, srv.Addr)
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		return resp
	}
	firstA := func(resp *dns.Msg) string {
		for _, rr := range resp.Answer {
			if a, ok := rr.(*dns.A); ok {
				return a.A.String()
			}
		}
		return ""
	}

	if got := firstA(query("web.default.svc.cluster.local.", dns.TypeA)); got != svc.Spec.ClusterIP {
		t.Errorf("web A = %q, want the cluster IP %s", got, svc.Spec.ClusterIP)
	}
	if got := firstA(query("db.default.svc.cluster.local.", dns.TypeA)); got != "10.42.0.7" {
		t.Errorf("headless db A = %q, want 10.42.0.7", got)
	}
	if resp := query("_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV); len(resp.Answer) != 1 {
		t.Errorf("SRV answers = %v", resp.Answer)
	}
	if resp := query("nope.default.svc.cluster.local.", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Errorf("missing service rcode = %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}
	if got := firstA(query("example.org.", dns.TypeA)); got != "192.0.2.1" {
		t.Errorf("forwarded answer = %q, want 192.0.2.1 from the upstream", got)
	}
	if got := firstA(query("kubernetes.default.svc.cluster.local.", dns.TypeA)); got != "10.43.0.1" {
		t.Errorf("kubernetes service A = %q, want 10.43.0.1", got)
	}

	// A new service appears in DNS once the informer sees it.
	created, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "late"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 10*time.Second, "late service resolvable", func() bool {
		return firstA(query("late.default.svc.cluster.local.", dns.TypeA)) == created.Spec.ClusterIP
	})
}
