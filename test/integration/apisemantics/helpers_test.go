package apisemantics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/test/integration/framework"
)

// suiteCase is a check that holds against any storage backend; the suite runs on embedded
// etcd (TestSuiteEmbeddedEtcd) and on a separate etcd process (TestSuiteExternalEtcd).
type suiteCase struct {
	name string
	run  func(t *testing.T, c *framework.Cluster)
	// representative cases also run on external etcd.
	representative bool
}

// suite lists the checks at full size; short mode and external etcd run smaller ones
// (the figures below), which keeps `go test -race ./...` within its time on two cores.
func suite() []suiteCase {
	informerOps := 10000
	if testing.Short() {
		informerOps = 1000
	}
	return []suiteCase{
		{name: "InformerWatchList", run: func(t *testing.T, c *framework.Cluster) { testInformerWatchList(t, c, informerOps) }},
		{name: "InformerListWatch", run: func(t *testing.T, c *framework.Cluster) { testInformerListWatch(t, c, 2000) }},
		{name: "NoLostUpdateRetryOnConflict", run: testNoLostUpdateUpdate, representative: true},
		{name: "NoLostUpdateStrategicMergePatch", run: testNoLostUpdatePatch},
		{name: "WatchFromResourceVersion", run: testWatchFromResourceVersion, representative: true},
		{name: "WatchGoneAfterCompaction", run: testWatchGoneAfterCompaction, representative: true},
		{name: "WatchSelectorTransitions", run: testWatchSelectorTransitions, representative: true},
		{name: "ListPagingConsistentSnapshot", run: testListPaging, representative: true},
		{name: "ResourceVersionMatch", run: testResourceVersionMatch, representative: true},
		{name: "BadInput", run: testBadInput, representative: true},
	}
}

func TestSuiteEmbeddedEtcd(t *testing.T) {
	for _, sc := range suite() {
		t.Run(sc.name, func(t *testing.T) {
			sc.run(t, framework.StartCluster(t, framework.Options{APIOnly: true}))
		})
	}
}

// newNamespace creates a namespace of its own for one check, so that checks sharing an
// etcd (external etcd runs) do not see each other's objects.
func newNamespace(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "sem-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// startServer runs a server with settings the framework does not expose (bookmark
// interval, compaction, in-flight limit) and returns an admin client.
func startServer(t *testing.T, cfg server.Config) (*server.Server, kubernetes.Interface, *rest.Config) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen, cfg.DisableAgent, cfg.DisableControllers = "127.0.0.1:0", true, true
	// No controller creates "default" ServiceAccounts: pods are admitted without one.
	cfg.DisableServiceAccountAdmission = true
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
		if os.Getenv("BERTH_TEST_LOG") != "" {
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
	}
	srv, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Logf("stop server: %v", err)
		}
	})
	rc := rest.CopyConfig(srv.Loopback)
	rc.UserAgent = "apisemantics-test"
	return srv, kubernetes.NewForConfigOrDie(rc), rc
}

// rawClient sends hand-made requests (bad bodies, odd headers) with admin credentials.
type rawClient struct {
	base string
	http *http.Client
}

func newRawClient(t *testing.T, cfg *rest.Config) *rawClient {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatalf("http client: %v", err)
	}
	return &rawClient{base: strings.TrimRight(cfg.Host, "/"), http: hc}
}

// response is what one raw request got back.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (rc *rawClient) do(t *testing.T, method, path, contentType string, body []byte) response {
	t.Helper()
	return rc.doHeaders(t, method, path, contentType, body, nil)
}

func (rc *rawClient) doHeaders(t *testing.T, method, path, contentType string, body []byte, header map[string]string) response {
	t.Helper()
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rc.base+path, reader)
	if err != nil {
		t.Fatalf("request %s %s: %v", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := rc.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: data}
}

// status decodes a metav1.Status body, failing when the body is not one.
func (r response) status(t *testing.T) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("HTTP %d body is not a Status (%v): %.300s", r.code, err, r.body)
	}
	if int(st.Code) != r.code {
		t.Errorf("Status.code %d differs from HTTP code %d: %s", st.Code, r.code, st.Message)
	}
	return st
}

// requireReady fails unless /readyz answers ok.
func requireReady(t *testing.T, rc *rawClient) {
	t.Helper()
	r := rc.do(t, http.MethodGet, "/readyz", "", nil)
	if r.code != http.StatusOK || string(r.body) != "ok" {
		t.Fatalf("/readyz = %d %q after bad input", r.code, r.body)
	}
}

// counter names objects uniquely within a test binary run.
var counter atomic.Int64

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, counter.Add(1))
}
