package apisemantics

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/test/integration/framework"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// badRequest is one hand-made request and the codes Kubernetes answers it with (where
// Kubernetes says 422 for invalid options and 400 would also be a proper answer, both
// are listed).
type badRequest struct {
	name        string
	method      string
	path        string // relative to the test namespace's configmaps unless it starts with "/"
	contentType string
	body        []byte
	header      map[string]string
	want        []int
	// check inspects the response further.
	check func(t *testing.T, r response)
}

func cmJSON(name string, extra string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q}%s}`, name, extra))
}

// testBadInput sends malformed and invalid requests; each must get a 4xx Status (never a
// 5xx) and the server must stay ready.
func testBadInput(t *testing.T, c *framework.Cluster) {
	ns := newNamespace(t, c.Client)
	rc := newRawClient(t, c.Config)
	base := "/api/v1/namespaces/" + ns + "/configmaps"
	if r := rc.do(t, http.MethodPost, base, mediaJSON, cmJSON("existing", `,"data":{"a":"b"}`)); r.code != http.StatusCreated {
		t.Fatalf("create fixture: %d %s", r.code, r.body)
	}
	huge := append(append([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":"`),
		bytes.Repeat([]byte("x"), 3<<20+1024)...), `"}}`...)
	badContinue := base64.RawURLEncoding.EncodeToString([]byte(`{"v":"meta.k8s.io/v1","rv":5,"start":"../../secrets/"}`))

	cases := []badRequest{
		// Bodies that do not decode.
		{name: "malformed JSON", method: "POST", contentType: mediaJSON, body: []byte(`{"apiVersion":"v1","kind":`), want: []int{400}},
		{name: "JSON array", method: "POST", contentType: mediaJSON, body: []byte(`[1,2]`), want: []int{400}},
		{name: "JSON null", method: "POST", contentType: mediaJSON, body: []byte(`null`), want: []int{400, 422}},
		{name: "empty body", method: "POST", contentType: mediaJSON, body: []byte{}, want: []int{400}},
		{name: "malformed YAML", method: "POST", contentType: mediaYAML, body: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: [name: x\n"), want: []int{400}},
		{name: "malformed protobuf", method: "POST", contentType: mediaProtobuf, body: []byte("\x00\x01garbage"), want: []int{400}},
		{name: "protobuf magic then garbage", method: "POST", contentType: mediaProtobuf, body: []byte("k8s\x00\x0a\xff\xff\xff\xff\x0f"), want: []int{400}},
		{name: "wrong apiVersion", method: "POST", contentType: mediaJSON, body: []byte(`{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}`), want: []int{400}},
		{name: "wrong kind", method: "POST", contentType: mediaJSON, body: []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`), want: []int{400}},
		{name: "kind of another group", method: "POST", contentType: mediaJSON, body: []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}`), want: []int{400}},
		{name: "unknown kind", method: "POST", contentType: mediaJSON, body: []byte(`{"apiVersion":"v1","kind":"Nonsense","metadata":{"name":"x"}}`), want: []int{400}},
		{name: "body over 3 MiB", method: "POST", contentType: mediaJSON, body: huge, want: []int{413}},
		{name: "namespace mismatch", method: "POST", contentType: mediaJSON, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}}`), want: []int{400}},

		// Invalid names.
		{name: "uppercase name", method: "POST", contentType: mediaJSON, body: cmJSON("Foo", ""), want: []int{422}},
		{name: "name too long", method: "POST", contentType: mediaJSON, body: cmJSON(strings.Repeat("a", 254), ""), want: []int{422}},
		{name: "name ..", method: "POST", contentType: mediaJSON, body: cmJSON("..", ""), want: []int{422}},
		{name: "name .", method: "POST", contentType: mediaJSON, body: cmJSON(".", ""), want: []int{422}},
		{name: "name with slash", method: "POST", contentType: mediaJSON, body: cmJSON("a/b", ""), want: []int{422}},
		{name: "name %2F", method: "POST", contentType: mediaJSON, body: cmJSON("%2F", ""), want: []int{422}},
		{name: "no name", method: "POST", contentType: mediaJSON, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`), want: []int{422}},
		{name: "bad label", method: "POST", contentType: mediaJSON, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a b":"c"}}}`), want: []int{422}},
		{name: "get name with encoded slash", method: "GET", path: "/existing%2F..%2F..%2Fsecrets", want: []int{404}},
		{name: "get name ..", method: "GET", path: "/%2E%2E", want: []int{404}},
		{name: "put name with encoded slash", method: "PUT", path: "/a%2Fb", contentType: mediaJSON, body: cmJSON("a/b", ""), want: []int{400, 404}},
		{name: "namespace with encoded slash", method: "GET", path: "/api/v1/namespaces/a%2Fb/configmaps", want: []int{404}},
		// Subresources that take one verb: another method is not allowed, not "not found".
		{name: "GET of a token subresource", method: "GET", path: "/api/v1/namespaces/" + ns + "/serviceaccounts/default/token", want: []int{405}},
		{name: "GET of pods/binding", method: "GET", path: "/api/v1/namespaces/" + ns + "/pods/p/binding", want: []int{405}},
		{name: "DELETE of pods/eviction", method: "DELETE", path: "/api/v1/namespaces/" + ns + "/pods/p/eviction", want: []int{405}},
		{name: "GET of namespaces/finalize", method: "GET", path: "/api/v1/namespaces/" + ns + "/finalize", want: []int{405}},

		// Field validation.
		{name: "unknown field Strict", method: "POST", path: "?fieldValidation=Strict", contentType: mediaJSON, body: cmJSON("strict", `,"bogus":1`), want: []int{400},
			check: bodyContains("unknown field")},
		{name: "duplicate field Strict", method: "POST", path: "?fieldValidation=Strict", contentType: mediaJSON, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup"}}`), want: []int{400}},
		{name: "unknown field Warn", method: "POST", path: "?fieldValidation=Warn", contentType: mediaJSON, body: cmJSON("warned", `,"bogus":1`), want: []int{201},
			check: warningContains("unknown field")},
		// A patch that changes nothing is worked out again from storage: still one warning.
		{name: "unknown field in a no-op merge patch Warn", method: "PATCH", path: "/existing?fieldValidation=Warn", contentType: "application/merge-patch+json", body: []byte(`{"bogus":1}`), want: []int{200},
			check: warningsExactly(`299 - "unknown field \"bogus\""`)},
		{name: "unknown field Ignore", method: "POST", path: "?fieldValidation=Ignore", contentType: mediaJSON, body: cmJSON("ignored", `,"bogus":1`), want: []int{201},
			check: func(t *testing.T, r response) {
				if w := r.header.Values("Warning"); len(w) > 0 {
					t.Errorf("Ignore gave warnings %q", w)
				}
			}},

		// Query parameters.
		{name: "bad label selector", method: "GET", path: "?labelSelector=a%20in%20(b", want: []int{400}},
		{name: "bad label selector value", method: "GET", path: "?labelSelector=a%3D%25%25", want: []int{400}},
		{name: "unsupported field selector", method: "GET", path: "?fieldSelector=spec.nope%3Dx", want: []int{400}},
		{name: "malformed field selector", method: "GET", path: "?fieldSelector=%3D%3Dx", want: []int{400}},
		{name: "bad continue token", method: "GET", path: "?limit=1&continue=garbage", want: []int{400}},
		{name: "continue token with traversal", method: "GET", path: "?limit=1&continue=" + badContinue, want: []int{400}},
		{name: "continue with resourceVersion", method: "GET", path: "?limit=1&resourceVersion=5&continue=" + base64.RawURLEncoding.EncodeToString([]byte(`{"v":"meta.k8s.io/v1","rv":5,"start":"a"}`)), want: []int{400}},
		{name: "bad resourceVersion list", method: "GET", path: "?resourceVersion=abc", want: []int{400}},
		{name: "negative resourceVersion", method: "GET", path: "?resourceVersion=-5", want: []int{400}},
		{name: "bad resourceVersion watch", method: "GET", path: "?watch=true&resourceVersion=abc", want: []int{400}},
		// ListOptions that parse but do not make sense: 422, as kube-apiserver's ValidateListOptions.
		{name: "bad resourceVersionMatch", method: "GET", path: "?resourceVersion=1&resourceVersionMatch=Bogus", want: []int{422}},
		{name: "resourceVersionMatch without resourceVersion", method: "GET", path: "?resourceVersionMatch=Exact", want: []int{422}},
		{name: "resourceVersionMatch Exact at 0", method: "GET", path: "?resourceVersion=0&resourceVersionMatch=Exact", want: []int{422}},
		{name: "resourceVersionMatch on a plain watch", method: "GET", path: "?watch=true&resourceVersion=1&resourceVersionMatch=NotOlderThan", want: []int{422}},
		{name: "sendInitialEvents on a list", method: "GET", path: "?sendInitialEvents=true", want: []int{422}},
		{name: "bad limit", method: "GET", path: "?limit=abc", want: []int{400}},
		{name: "bad timeoutSeconds", method: "GET", path: "?watch=true&timeoutSeconds=abc", want: []int{400}},
		{name: "bad dryRun", method: "POST", path: "?dryRun=Bogus", contentType: mediaJSON, body: cmJSON("dry", ""), want: []int{400, 422}},
		{name: "bad fieldValidation", method: "POST", path: "?fieldValidation=Bogus", contentType: mediaJSON, body: cmJSON("fv", ""), want: []int{400, 422}},
		{name: "bad propagationPolicy", method: "DELETE", path: "/victim?propagationPolicy=Bogus", want: []int{400, 422}},
		{name: "bad gracePeriodSeconds", method: "DELETE", path: "/victim?gracePeriodSeconds=abc", want: []int{400}},
		{name: "malformed DeleteOptions body", method: "DELETE", path: "/victim", contentType: mediaJSON, body: []byte(`{"kind":`), want: []int{400}},

		// Media types.
		{name: "unsupported media type", method: "POST", contentType: "text/plain", body: cmJSON("x", ""), want: []int{415}},
		{name: "unparsable content type", method: "POST", contentType: "application/json;;;=", body: cmJSON("x", ""), want: []int{415}},
		{name: "not acceptable", method: "GET", path: "/existing", header: map[string]string{"Accept": "text/html"}, want: []int{406}},
		{name: "unsupported patch type", method: "PATCH", path: "/existing", contentType: mediaJSON, body: []byte(`{}`), want: []int{415}},
		{name: "patch type text/plain", method: "PATCH", path: "/existing", contentType: "text/plain", body: []byte(`{}`), want: []int{415}},
		{name: "malformed merge patch", method: "PATCH", path: "/existing", contentType: "application/merge-patch+json", body: []byte(`{"data":`), want: []int{400}},
		{name: "malformed JSON patch", method: "PATCH", path: "/existing", contentType: "application/json-patch+json", body: []byte(`[{"op":`), want: []int{400}},
		{name: "JSON patch on missing path", method: "PATCH", path: "/existing", contentType: "application/json-patch+json", body: []byte(`[{"op":"replace","path":"/nope/x","value":1}]`), want: []int{422}},
		{name: "malformed strategic merge patch", method: "PATCH", path: "/existing", contentType: "application/strategic-merge-patch+json", body: []byte(`[`), want: []int{400}},
		{name: "strategic merge patch with wrong types", method: "PATCH", path: "/existing", contentType: "application/strategic-merge-patch+json", body: []byte(`{"data":5}`), want: []int{400, 422}},
		{name: "apply without fieldManager", method: "PATCH", path: "/existing", contentType: "application/apply-patch+yaml", body: []byte("apiVersion: v1\nkind: ConfigMap\n"), want: []int{400}},
		{name: "malformed apply", method: "PATCH", path: "/existing?fieldManager=t", contentType: "application/apply-patch+yaml", body: []byte("apiVersion: [v1\n"), want: []int{400}},
		{name: "apply of another kind", method: "PATCH", path: "/existing?fieldManager=t", contentType: "application/apply-patch+yaml", body: []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: existing\n"), want: []int{400}},
		// Fields outside the schema fail the field manager's typed conversion: Kubernetes'
		// text, as a 400 (kube-apiserver says 500, kubernetes/kubernetes#139253).
		{name: "apply with unknown field", method: "PATCH", path: "/existing?fieldManager=t", contentType: "application/apply-patch+yaml", body: []byte("apiVersion: v1\nkind: ConfigMap\nbogus: 1\n"), want: []int{400},
			check: bodyContains(`failed to create typed patch object (` + ns + `/existing; /v1, Kind=ConfigMap): .bogus: field not declared in schema`)},
		{name: "apply with unknown field Strict", method: "PATCH", path: "/existing?fieldManager=t&fieldValidation=Strict", contentType: "application/apply-patch+yaml", body: []byte("apiVersion: v1\nkind: ConfigMap\ndata:\n  bogus: {a: 1}\n"), want: []int{400},
			check: bodyContains(`failed to create typed patch object (` + ns + `/existing; /v1, Kind=ConfigMap): .data.bogus: expected string, got `)},
		{name: "patch making the object invalid", method: "PATCH", path: "/existing", contentType: "application/merge-patch+json", body: []byte(`{"metadata":{"labels":{"a b":"c"}}}`), want: []int{422}},

		// Writes against the current state.
		{name: "PUT with stale resourceVersion", method: "PUT", path: "/existing", contentType: mediaJSON, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"existing","resourceVersion":"1"},"data":{"a":"c"}}`), want: []int{409}},
		{name: "PUT with mismatched name", method: "PUT", path: "/existing", contentType: mediaJSON, body: cmJSON("other", ""), want: []int{400}},
		{name: "PUT of a missing object", method: "PUT", path: "/missing", contentType: mediaJSON, body: cmJSON("missing", ""), want: []int{404}},
		{name: "create existing", method: "POST", contentType: mediaJSON, body: cmJSON("existing", ""), want: []int{409}},
		{name: "delete with stale precondition", method: "DELETE", path: "/victim", contentType: mediaJSON, body: []byte(`{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":"1"}}`), want: []int{409}},
		{name: "delete with wrong uid precondition", method: "DELETE", path: "/victim", contentType: mediaJSON, body: []byte(`{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"nope"}}`), want: []int{409}},

		// Routing.
		{name: "unknown resource", method: "GET", path: "/api/v1/namespaces/" + ns + "/nonsense", want: []int{404}},
		{name: "unknown group", method: "GET", path: "/apis/nonsense.example/v1/things", want: []int{404}},
		{name: "unknown version", method: "GET", path: "/api/v9/configmaps", want: []int{404}},
		{name: "create on a named path", method: "POST", path: "/existing", contentType: mediaJSON, body: cmJSON("existing", ""), want: []int{405}},
		{name: "missing namespace", method: "POST", path: "/api/v1/namespaces/does-not-exist/configmaps", contentType: mediaJSON, body: cmJSON("x", ""), want: []int{404}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if strings.HasPrefix(path, "/victim") {
				// Deletes get an object of their own, so that one wrongly accepted
				// delete does not change what the next case sees.
				name := uniqueName("victim")
				if r := rc.do(t, http.MethodPost, base, mediaJSON, cmJSON(name, "")); r.code != http.StatusCreated {
					t.Fatalf("create %s: %d %s", name, r.code, r.body)
				}
				path = "/" + name + strings.TrimPrefix(path, "/victim")
			}
			if !strings.HasPrefix(path, "/api") {
				path = base + path
			}
			r := rc.doHeaders(t, tc.method, path, tc.contentType, tc.body, tc.header)
			if r.code >= 500 {
				t.Fatalf("%s %s: server error %d: %.500s", tc.method, path, r.code, r.body)
			}
			if !containsCode(tc.want, r.code) {
				t.Errorf("%s %s: HTTP %d, want %v: %.300s", tc.method, path, r.code, tc.want, r.body)
			}
			if r.code >= 400 {
				st := r.status(t)
				if st.Status != metav1.StatusFailure || st.Message == "" {
					t.Errorf("Status %+v lacks status Failure or a message", st)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
	requireReady(t, rc)
	testAuthentication(t, c.Config, rc)
}

func containsCode(codes []int, code int) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

func bodyContains(s string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		if !bytes.Contains(r.body, []byte(s)) {
			t.Errorf("body does not mention %q: %.300s", s, r.body)
		}
	}
}

// warningsExactly checks the Warning headers, each once, as kube-apiserver sends them.
func warningsExactly(want ...string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		if got := r.header.Values("Warning"); !slices.Equal(got, want) {
			t.Errorf("Warning headers %q, want %q", got, want)
		}
	}
}

func warningContains(s string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		for _, w := range r.header.Values("Warning") {
			if strings.Contains(w, s) {
				return
			}
		}
		t.Errorf("no Warning header mentioning %q (got %q)", s, r.header.Values("Warning"))
	}
}

// testAuthentication: without credentials the API is 401 but liveness and readiness
// answer.
func testAuthentication(t *testing.T, cfg *rest.Config, authed *rawClient) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.CAData) {
		t.Fatal("no CA in the client config")
	}
	anon := &rawClient{base: authed.base, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}}
	t.Cleanup(anon.http.CloseIdleConnections)
	for _, tc := range []struct {
		path   string
		bearer string
		want   int
	}{
		{"/api/v1/namespaces", "", 401},
		{"/api/v1/namespaces/default/configmaps", "", 401},
		{"/apis", "", 401},
		{"/version", "", 401},
		{"/api/v1/namespaces", "not-the-token", 401},
		{"/livez", "", 200},
		{"/readyz", "", 200},
	} {
		t.Run("unauthenticated "+tc.path, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.bearer != "" {
				hdr["Authorization"] = "Bearer " + tc.bearer
			}
			r := anon.doHeaders(t, http.MethodGet, tc.path, "", nil, hdr)
			if r.code != tc.want {
				t.Fatalf("GET %s without credentials: %d, want %d: %.200s", tc.path, r.code, tc.want, r.body)
			}
			if r.code == 401 {
				r.status(t)
			}
		})
	}
}

// TestOverloadGets429: with every in-flight slot held, further requests get 429 with
// Retry-After, and the server serves again once the slots free up.
func TestOverloadGets429(t *testing.T) {
	const slots = 2
	_, client, cfg := startServer(t, server.Config{MaxInFlight: slots})
	ns := newNamespace(t, client)
	rc := newRawClient(t, cfg)
	path := "/api/v1/namespaces/" + ns + "/configmaps"

	// Each held request is a create whose body never ends: the handler holds its slot
	// while it waits for the body. One that comes back before the release never got a
	// slot — the server's own requests (its controllers') held them when it arrived, and
	// it was refused — and is replaced.
	var held sync.WaitGroup
	var mu sync.Mutex
	var writers []*io.PipeWriter
	returned := make(chan struct{}, 64)
	hold := func(i int) {
		pr, pw := io.Pipe()
		mu.Lock()
		writers = append(writers, pw)
		mu.Unlock()
		req, err := http.NewRequest(http.MethodPost, rc.base+path, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mediaJSON)
		held.Add(1)
		go func() {
			defer held.Done()
			defer func() { returned <- struct{}{} }()
			resp, err := rc.http.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
		if _, err := pw.Write(cmJSON(fmt.Sprintf("held-%d", i), "")[:10]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range slots {
		hold(i)
	}
	released := false
	release := func() {
		mu.Lock()
		released = true
		for _, pw := range writers {
			_ = pw.CloseWithError(io.ErrUnexpectedEOF)
		}
		mu.Unlock()
		held.Wait()
	}
	t.Cleanup(release)

	var got response
	next := slots
	framework.Eventually(t, 30*time.Second, "a request to be refused with 429", func() bool {
		for {
			select {
			case <-returned:
				mu.Lock()
				done := released
				mu.Unlock()
				if !done {
					hold(next)
					next++
				}
				continue
			default:
			}
			break
		}
		got = rc.do(t, http.MethodGet, path, "", nil)
		return got.code == http.StatusTooManyRequests
	})
	st := got.status(t)
	if st.Reason != metav1.StatusReasonTooManyRequests {
		t.Errorf("429 reason %q", st.Reason)
	}
	if got.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Health endpoints stay outside the limit.
	if r := rc.do(t, http.MethodGet, "/readyz", "", nil); r.code != http.StatusOK {
		t.Errorf("/readyz under overload: %d", r.code)
	}
	release()
	framework.Eventually(t, 30*time.Second, "the server to serve again", func() bool {
		return rc.do(t, http.MethodGet, path, "", nil).code == http.StatusOK
	})
	_, err := client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Errorf("list after overload: %v", err)
	}
}
