package streaming

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/berth/berth/internal/agent/streaming"
	"github.com/berth/berth/internal/pki"
	"github.com/berth/berth/test/integration/framework"
)

// fakeNode is a node's streaming endpoint that requires the API server's certificate and
// records what it was asked.
type fakeNode struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []*url.URL
	user []string
}

func startFakeNode(t *testing.T, caFile string) *fakeNode {
	t.Helper()
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	n := &fakeNode{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("container") {
		case "bad":
			http.Error(w, `container "bad" in pod "web" is broken on the node`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Query().Get("follow") == "true" {
			rc := http.NewResponseController(w)
			for i := range 3 {
				fmt.Fprintf(w, "follow %d\n", i)
				_ = rc.Flush()
			}
			return
		}
		fmt.Fprint(w, "hello\nworld\n")
	})
	n.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		n.seen = append(n.seen, r.URL)
		n.user = append(n.user, r.TLS.PeerCertificates[0].Subject.CommonName)
		n.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	// The node serves a certificate from the cluster CA, as agents get theirs.
	caKeyPEM, err := os.ReadFile(filepath.Join(filepath.Dir(caFile), "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := tls.X509KeyPair(caPEM, caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, keyPEM, err := pki.NewCSR("n1")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := pki.SignServingCSR(ca.Leaf, ca.PrivateKey.(crypto.Signer), csrPEM, "system:node:n1", []net.IP{net.IPv4(127, 0, 0, 1)}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	serving, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	n.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, Certificates: []tls.Certificate{serving}}
	n.srv.StartTLS()
	t.Cleanup(n.srv.Close)
	return n
}

func (n *fakeNode) last(t *testing.T) (*url.URL, string) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.seen) == 0 {
		t.Fatal("the node was not called")
	}
	return n.seen[len(n.seen)-1], n.user[len(n.user)-1]
}

// setUp makes a node pointing at the fake endpoint and a pod bound to it, running.
func setUp(t *testing.T, c *framework.Cluster, node *fakeNode) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	host, port, _ := net.SplitHostPort(node.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	updateNodeStatus(t, c, "n1", func(n *corev1.Node) {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: host}}
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(p)
	})
	pod, err := c.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{
			{Name: "app", Image: "app:0.3.2"}, {Name: "bad", Image: "app:0.3.2"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{
		{Name: "app", ContainerID: "containerd://app2", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://app1", ExitCode: 1}}, RestartCount: 1},
		{Name: "bad", ContainerID: "containerd://bad1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
	}
	pod, err = c.Client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// updateNodeStatus changes the node's status with change, again on a fresh copy when
// another writer (the node controllers: pod CIDR, taints) got in between.
func updateNodeStatus(t *testing.T, c *framework.Cluster, name string, change func(*corev1.Node)) {
	t.Helper()
	nodes := c.Client.CoreV1().Nodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(n)
		_, err = nodes.UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("status of node %s: %v", name, err)
	}
}

func TestPodLogThroughNode(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	node := startFakeNode(t, pki.Files{Dir: c.DataDir}.CACert())
	pod := setUp(t, c, node)

	if out := c.MustKubectl(t, "logs", "web", "-c", "app"); out != "hello\nworld\n" {
		t.Errorf("kubectl logs = %q", out)
	}
	got, user := node.last(t)
	if user != streaming.APIServerUser {
		t.Errorf("the API server called the node as %q", user)
	}
	want := url.Values{"containerID": {"containerd://app2"}, "podUID": {string(pod.UID)}}
	if got.Path != "/containerLogs/default/web/app" || got.Query().Encode() != want.Encode() {
		t.Errorf("node asked for %s", got)
	}

	// Options travel as the kubelet's query parameters; --previous names the last instance.
	c.MustKubectl(t, "logs", "web", "-c", "app", "--previous", "--tail=5", "--timestamps", "--limit-bytes=100", "--since=1h")
	got, _ = node.last(t)
	q := got.Query()
	for k, v := range map[string]string{"containerID": "containerd://app1", "previous": "true", "tailLines": "5", "timestamps": "true", "limitBytes": "100", "sinceSeconds": "3600"} {
		if q.Get(k) != v {
			t.Errorf("node query %s = %q, want %q (%s)", k, q.Get(k), v, got.RawQuery)
		}
	}
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.MustKubectl(t, "logs", "web", "-c", "app", "--since-time="+since.Format(time.RFC3339))
	if got, _ = node.last(t); got.Query().Get("sinceTime") != "2026-01-02T03:04:05Z" {
		t.Errorf("sinceTime sent as %q", got.Query().Get("sinceTime"))
	}

	if out := c.MustKubectl(t, "logs", "-f", "web", "-c", "app"); out != "follow 0\nfollow 1\nfollow 2\n" {
		t.Errorf("kubectl logs -f = %q", out)
	}

	// The node's refusal reaches kubectl as the kubelet's would.
	r := c.Kubectl(t, "logs", "web", "-c", "bad")
	if r.Err == nil || !strings.Contains(r.Stderr, `Error from server (BadRequest): container "bad" in pod "web" is broken on the node`) {
		t.Errorf("node error: %v %q", r.Err, r.Stderr)
	}
}

func TestPodStreamsAreForAdminsOnly(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	node := startFakeNode(t, pki.Files{Dir: c.DataDir}.CACert())
	setUp(t, c, node)
	b, err := pki.Ensure(pki.Files{Dir: c.DataDir}, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := pki.IssueClientCert(b.CA, b.CAKey, "system:node:n1", []string{"system:nodes"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.CertData, cfg.KeyData, cfg.CertFile, cfg.KeyFile = certPEM, keyPEM, "", ""
	nodeClient := kubernetes.NewForConfigOrDie(cfg)
	_, err = nodeClient.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{Container: "app"}).Stream(context.Background())
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "system:node:n1" cannot get resource "pods/log" in API group "" in the namespace "default"`) {
		t.Errorf("node credential reading pod logs: %v", err)
	}
	for _, sub := range []string{"exec", "attach", "portforward"} {
		res := nodeClient.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name("web").SubResource(sub).Do(context.Background())
		if err := res.Error(); !apierrors.IsForbidden(err) {
			t.Errorf("node credential on pods/%s: %v", sub, err)
		}
	}
	// Without a node address (simulated nodes), 503.
	updateNodeStatus(t, c, "n1", func(n *corev1.Node) { n.Status.DaemonEndpoints.KubeletEndpoint.Port = 0 })
	_, err = c.Client.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{Container: "app"}).Stream(context.Background())
	if !apierrors.IsServiceUnavailable(err) {
		t.Errorf("logs of a pod on a node without an endpoint: %v", err)
	}
}
