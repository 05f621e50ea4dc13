package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/berth/berth/internal/proxy/proxytest"
	"github.com/berth/berth/test/e2e/framework"
	apiframework "github.com/berth/berth/test/integration/framework"
)

// The service proxy on real nftables: a node namespace with a pod bridge, pods serving
// HTTP, a host outside the node; Services and EndpointSlices in a real API server; the
// proxy in the node's namespace. Every request is a real TCP connection through the
// kernel's rules.
func TestProxyServices(t *testing.T) {
	lab := newProxyLab(t, 3)
	backend0, backend1, client := lab.Pods[0], lab.Pods[1], lab.Pods[2]
	for _, p := range []*proxytest.Pod{backend0, backend1} {
		if err := lab.Serve(&p.NetNS, 8080, fmt.Sprintf("pod-%d", p.Index)); err != nil {
			t.Fatal(err)
		}
	}
	api := apiframework.StartCluster(t, apiframework.Options{})
	rp := startLabProxy(t, lab, api.Client)

	web := createService(t, api.Client, "web")
	web.setEndpoints(t, backend{pod: backend0}, backend{pod: backend1})

	t.Run("ClusterIP balances over both endpoints", func(t *testing.T) {
		eventuallyOnly(t, &client.NetNS, web.clusterAddr(), "pod-0", "pod-1")
		got, clients := answers(t, &client.NetNS, web.clusterAddr(), 200)
		if got["pod-0"] < 60 || got["pod-1"] < 60 {
			t.Errorf("200 requests split %v; want both well used", got)
		}
		// Pod to pod through a ClusterIP keeps the client's address.
		if !clients[client.IP] || len(clients) != 1 {
			t.Errorf("backends saw clients %v, want only %s", clients, client.IP)
		}
	})

	t.Run("from the node itself", func(t *testing.T) {
		got, _ := answers(t, lab.Node, web.clusterAddr(), 20)
		if got["pod-0"]+got["pod-1"] != 20 {
			t.Errorf("answers %v", got)
		}
	})

	t.Run("ClusterIP from outside the cluster CIDR is masqueraded", func(t *testing.T) {
		_, clients := answers(t, lab.Outside, web.clusterAddr(), 10)
		if !clients[proxytest.PodGateway] || len(clients) != 1 {
			t.Errorf("backends saw clients %v, want only the node's %s", clients, proxytest.PodGateway)
		}
	})

	t.Run("sessionAffinity ClientIP sticks to one endpoint", func(t *testing.T) {
		sticky := createService(t, api.Client, "sticky", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		})
		sticky.setEndpoints(t, backend{pod: backend0}, backend{pod: backend1})
		eventuallyOnly(t, &client.NetNS, sticky.clusterAddr(), "pod-0", "pod-1")
		got, _ := answers(t, &client.NetNS, sticky.clusterAddr(), 50)
		if len(got) != 1 {
			t.Errorf("50 requests from one client went to %v; want one backend", got)
		}
	})

	t.Run("no endpoints: refused at once", func(t *testing.T) {
		empty := createService(t, api.Client, "empty")
		framework.Eventually(t, 10*time.Second, "connection refused", func() (bool, error) {
			err, _ := dialError(&client.NetNS, empty.clusterAddr(), 500*time.Millisecond)
			return isRefused(err), err
		})
		for _, ns := range []*proxytest.NetNS{&client.NetNS, lab.Node} {
			err, took := dialError(ns, empty.clusterAddr(), 5*time.Second)
			if !isRefused(err) || took > time.Second {
				t.Errorf("from %s: %v after %v; want connection refused at once", ns.Name, err, took)
			}
		}
	})

	t.Run("NodePort from outside the node", func(t *testing.T) {
		np := createService(t, api.Client, "np", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })
		np.setEndpoints(t, backend{pod: backend0}, backend{pod: backend1})
		eventuallyOnly(t, lab.Outside, np.nodePortAddr(), "pod-0", "pod-1")
		got, clients := answers(t, lab.Outside, np.nodePortAddr(), 100)
		if got["pod-0"] < 20 || got["pod-1"] < 20 {
			t.Errorf("100 requests split %v", got)
		}
		// Cluster policy: masqueraded, the endpoint could be on another node.
		if !clients[proxytest.PodGateway] || len(clients) != 1 {
			t.Errorf("backends saw clients %v, want only %s", clients, proxytest.PodGateway)
		}
		// A NodePort with no endpoints is refused too.
		np.setEndpoints(t)
		framework.Eventually(t, 10*time.Second, "NodePort refused", func() (bool, error) {
			err, _ := dialError(lab.Outside, np.nodePortAddr(), 500*time.Millisecond)
			return isRefused(err), err
		})
	})

	t.Run("externalTrafficPolicy Local keeps the client address and uses local endpoints", func(t *testing.T) {
		local := createService(t, api.Client, "np-local", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		})
		local.setEndpoints(t, backend{pod: backend0}, backend{pod: backend1, node: "node-b"})
		eventuallyOnly(t, lab.Outside, local.nodePortAddr(), "pod-0")
		_, clients := answers(t, lab.Outside, local.nodePortAddr(), 20)
		if !clients[proxytest.OutsideIP] || len(clients) != 1 {
			t.Errorf("backends saw clients %v, want the outside host %s", clients, proxytest.OutsideIP)
		}
		// No local endpoint: external traffic is dropped (a timeout, not a refusal).
		local.setEndpoints(t, backend{pod: backend1, node: "node-b"})
		framework.Eventually(t, 10*time.Second, "NodePort with no local endpoint dropped", func() (bool, error) {
			err, _ := dialError(lab.Outside, local.nodePortAddr(), 300*time.Millisecond)
			return err != nil && !isRefused(err), err
		})
		// Pods are not external clients: they still reach the remote endpoint.
		eventuallyOnly(t, &client.NetNS, local.clusterAddr(), "pod-1")
	})

	t.Run("internalTrafficPolicy Local uses only this node's endpoints", func(t *testing.T) {
		svc := createService(t, api.Client, "internal-local", func(s *corev1.Service) {
			local := corev1.ServiceInternalTrafficPolicyLocal
			s.Spec.InternalTrafficPolicy = &local
		})
		svc.setEndpoints(t, backend{pod: backend0, node: "node-b"}, backend{pod: backend1})
		eventuallyOnly(t, &client.NetNS, svc.clusterAddr(), "pod-1")
	})

	t.Run("hairpin: a pod reaches itself through its Service", func(t *testing.T) {
		self := createService(t, api.Client, "self")
		self.setEndpoints(t, backend{pod: backend0})
		eventuallyOnly(t, &backend0.NetNS, self.clusterAddr(), "pod-0")
		_, clients := answers(t, &backend0.NetNS, self.clusterAddr(), 5)
		if !clients[proxytest.PodGateway] || len(clients) != 1 {
			t.Errorf("hairpin traffic came from %v, want masqueraded to %s", clients, proxytest.PodGateway)
		}
	})

	t.Run("terminating endpoints only when none is ready", func(t *testing.T) {
		svc := createService(t, api.Client, "draining")
		svc.setEndpoints(t, backend{pod: backend0, terminating: true}, backend{pod: backend1})
		eventuallyOnly(t, &client.NetNS, svc.clusterAddr(), "pod-1")
		svc.setEndpoints(t, backend{pod: backend0, terminating: true}, backend{pod: backend1, notReady: true})
		eventuallyOnly(t, &client.NetNS, svc.clusterAddr(), "pod-0")
	})

	t.Run("a removed endpoint gets no more traffic", func(t *testing.T) {
		before := len(rp.results())
		changed := time.Now()
		web.setEndpoints(t, backend{pod: backend1})
		eventuallyOnly(t, &client.NetNS, web.clusterAddr(), "pod-1")
		framework.Figure(t, "proxy_endpoint_change_to_rules_ms", time.Since(changed).Milliseconds())
		for _, res := range rp.results()[before:] {
			if res.Full || res.Err != nil {
				t.Errorf("sync after one endpoint change: %+v", res)
			}
		}
		got, _ := answers(t, &client.NetNS, web.clusterAddr(), 50)
		if got["pod-1"] != 50 {
			t.Errorf("answers %v, want only pod-1", got)
		}
	})

	t.Run("stop removes the rules; a restart rebuilds them", func(t *testing.T) {
		rp.stop(t)
		if left := proxyTables(t, lab); len(left) > 0 {
			t.Fatalf("the proxy's tables %q are still there after it stopped", left)
		}
		if err, _ := dialError(&client.NetNS, web.clusterAddr(), 300*time.Millisecond); err == nil {
			t.Fatal("the ClusterIP still answers without the proxy")
		}
		rp = startLabProxy(t, lab, api.Client)
		eventuallyOnly(t, &client.NetNS, web.clusterAddr(), "pod-1")
		first := rp.results()[0]
		if !first.Full || first.Err != nil {
			t.Errorf("first sync after restart: %+v", first)
		}
		framework.Figure(t, "proxy_restart_full_sync_ms", first.Duration.Milliseconds())
	})
}
