package pods

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

var (
	master  = svc("default", "kubernetes", "10.43.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP})
	cluster = []*corev1.Service{
		master,
		svc("shop", "redis-primary", "10.43.0.20", corev1.ServicePort{Port: 6379}),
		svc("shop", "dns", "10.43.0.30", corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}, corev1.ServicePort{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP}),
		svc("shop", "headless", corev1.ClusterIPNone, corev1.ServicePort{Port: 80}),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "external"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		svc("other", "web", "10.43.0.40", corev1.ServicePort{Port: 80}),
	}
)

// TestServiceEnv: the kubelet's service variables, name for name.
func TestServiceEnv(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"}}
	got := serviceEnv(pod, cluster)
	want := map[string]string{
		"KUBERNETES_SERVICE_HOST":       "10.43.0.1",
		"KUBERNETES_SERVICE_PORT":       "443",
		"KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT":               "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP":       "tcp://10.43.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO": "tcp",
		"KUBERNETES_PORT_443_TCP_PORT":  "443",
		"KUBERNETES_PORT_443_TCP_ADDR":  "10.43.0.1",

		"REDIS_PRIMARY_SERVICE_HOST":        "10.43.0.20",
		"REDIS_PRIMARY_SERVICE_PORT":        "6379",
		"REDIS_PRIMARY_PORT":                "tcp://10.43.0.20:6379",
		"REDIS_PRIMARY_PORT_6379_TCP":       "tcp://10.43.0.20:6379",
		"REDIS_PRIMARY_PORT_6379_TCP_PROTO": "tcp",
		"REDIS_PRIMARY_PORT_6379_TCP_PORT":  "6379",
		"REDIS_PRIMARY_PORT_6379_TCP_ADDR":  "10.43.0.20",

		"DNS_SERVICE_HOST":         "10.43.0.30",
		"DNS_SERVICE_PORT":         "53",
		"DNS_SERVICE_PORT_DNS_UDP": "53",
		"DNS_SERVICE_PORT_METRICS": "9153",
		"DNS_PORT":                 "udp://10.43.0.30:53",
		"DNS_PORT_53_UDP":          "udp://10.43.0.30:53",
		"DNS_PORT_53_UDP_PROTO":    "udp",
		"DNS_PORT_53_UDP_PORT":     "53",
		"DNS_PORT_53_UDP_ADDR":     "10.43.0.30",
		"DNS_PORT_9153_TCP":        "tcp://10.43.0.30:9153",
		"DNS_PORT_9153_TCP_PROTO":  "tcp",
		"DNS_PORT_9153_TCP_PORT":   "9153",
		"DNS_PORT_9153_TCP_ADDR":   "10.43.0.30",
	}
	if !maps.Equal(got, want) {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if got[k] != want[k] {
				t.Errorf("%s = %q, want %q", k, got[k], want[k])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(got)) {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected %s=%s", k, got[k])
			}
		}
	}

	// enableServiceLinks: false keeps only the API server's.
	pod.Spec.EnableServiceLinks = ptr.To(false)
	for k := range serviceEnv(pod, cluster) {
		if !strings.HasPrefix(k, "KUBERNETES_") {
			t.Errorf("links off: %s", k)
		}
	}
	// A Service of the pod's namespace hides the master one of the same name.
	own := svc("shop", "kubernetes", "10.43.0.99", corev1.ServicePort{Port: 8443})
	pod.Spec.EnableServiceLinks = nil
	if got := serviceEnv(pod, []*corev1.Service{master, own})["KUBERNETES_SERVICE_HOST"]; got != "10.43.0.99" {
		t.Errorf("own kubernetes Service: host %s", got)
	}
	// The default namespace's pods see it once.
	pod.Namespace = "default"
	if got := serviceEnv(pod, cluster)["KUBERNETES_SERVICE_HOST"]; got != "10.43.0.1" {
		t.Errorf("default namespace: host %s", got)
	}
}

// TestEnvWithServices: the container's own variables come first and win; $(VAR) may name
// a service variable; an unread service list fails the start.
func TestEnvWithServices(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"}}
	c := &corev1.Container{Name: "app", Env: []corev1.EnvVar{
		{Name: "REDIS_URL", Value: "redis://$(REDIS_PRIMARY_SERVICE_HOST):$(REDIS_PRIMARY_SERVICE_PORT)"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"},
	}}
	e := APIEnv{Client: fake.NewClientset(), Services: func() ([]*corev1.Service, error) { return cluster, nil }}
	kvs, err := e.Env(context.Background(), pod, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	got := map[string]string{}
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
		got[kv.Key] = string(kv.Value)
	}
	if keys[0] != "REDIS_URL" || keys[1] != "KUBERNETES_SERVICE_PORT" || !slices.IsSorted(keys[2:]) {
		t.Errorf("order %v: the container's own first, then the services' sorted", keys)
	}
	if got["REDIS_URL"] != "redis://10.43.0.20:6379" || got["KUBERNETES_SERVICE_PORT"] != "6443" || got["KUBERNETES_SERVICE_HOST"] != "10.43.0.1" {
		t.Errorf("env %v", got)
	}
	if n := len(slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k != "KUBERNETES_SERVICE_PORT" })); n != 1 {
		t.Errorf("KUBERNETES_SERVICE_PORT twice: %v", keys)
	}

	e.Services = func() ([]*corev1.Service, error) { return nil, errors.New("services have not been read yet") }
	if _, err := e.Env(context.Background(), pod, c, nil); err == nil || !strings.Contains(err.Error(), "service environment") {
		t.Errorf("unread services: %v", err)
	}
}
