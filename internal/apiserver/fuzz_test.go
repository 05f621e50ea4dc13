package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/apiserver"
	"github.com/berth/berth/internal/apiserver/openapi"
	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/storage/memory"
)

// The fuzz targets drive the full handler chain (filters, routing, negotiation, decoding,
// defaulting, validation, storage) of an API server on the memory backend; any 5xx but
// resourceVersionTooLarge's, or a panic, is a failure. `make fuzz` runs each for a short while.

// fuzzContentTypes are the Content-Types a fuzzed body is sent with.
var fuzzContentTypes = []string{
	"application/json",
	"application/yaml",
	"application/vnd.kubernetes.protobuf",
	"application/json;charset=utf-8",
	"application/merge-patch+json",
	"",
	"text/plain",
}

// fuzzCollections are the collections a fuzzed body is posted to.
var fuzzCollections = []string{
	"/api/v1/namespaces/default/configmaps",
	"/api/v1/namespaces/default/pods",
	"/apis/apps/v1/namespaces/default/deployments",
	"/api/v1/namespaces",
	"/apis/coordination.k8s.io/v1/namespaces/default/leases",
}

// fuzzParams are write query strings sent with a fuzzed body.
var fuzzParams = []string{"", "fieldValidation=Strict", "fieldValidation=Ignore", "dryRun=All"}

var (
	fuzzOnce    sync.Once
	fuzzHandler http.Handler
	fuzzErr     error
)

// newFuzzHandler builds one API server per process: building the type converter for
// managed fields is too slow to repeat per input.
func newFuzzHandler(tb testing.TB) http.Handler {
	tb.Helper()
	fuzzOnce.Do(func() {
		var api *apiserver.Server
		if api, fuzzErr = newTestAPI(nil); fuzzErr == nil {
			fuzzHandler = api.Handler()
		}
	})
	if fuzzErr != nil {
		tb.Fatalf("build API server: %v", fuzzErr)
	}
	return fuzzHandler
}

// newTestAPI builds an API server over the memory backend with every built-in resource.
// authenticate nil lets every request in as an admin.
func newTestAPI(authenticate func(*http.Request) (apiserver.User, bool)) (*apiserver.Server, error) {
	log := slog.New(slog.DiscardHandler)
	scheme := registry.NewScheme()
	store := memory.New(memory.Options{})
	resources := registry.Builtin()
	var stores []*registry.Store
	var namespaces *registry.Store
	var described []openapi.Resource
	for _, res := range resources {
		st := registry.NewStore(res, store, scheme, log)
		if res.Name == "namespaces" && res.GroupVersion.Group == "" {
			namespaces = st
		}
		stores = append(stores, st)
		described = append(described, openapi.Resource{
			Group: res.GroupVersion.Group, Version: res.GroupVersion.Version, Resource: res.Name,
			Kind: res.Kind, Namespaced: res.Namespaced, Verbs: []string{"create", "get", "list", "patch", "update"},
		})
	}
	for _, st := range stores {
		st.NamespaceCheck = registry.NamespaceLifecycle(namespaces)
	}
	if err := registry.EnsureSystemNamespaces(context.Background(), namespaces); err != nil {
		return nil, err
	}
	spec, err := openapi.New(described, scheme.AllKnownTypes())
	if err != nil {
		return nil, err
	}
	return apiserver.New(apiserver.Config{
		Codecs: registry.NewCodecs(scheme), Stores: stores, OpenAPI: spec,
		TypeConverter: spec.TypeConverter, Authenticate: authenticate, Log: log,
	})
}

// serve runs one request through the handler and fails on a server error.
func serve(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 && !resourceVersionTooLarge(rec) {
		t.Fatalf("%s %s (Content-Type %q): %d %s", req.Method, req.URL, req.Header.Get("Content-Type"), rec.Code, rec.Body.String())
	}
	return rec
}

// resourceVersionTooLarge tells the one 5xx Kubernetes gives for a client's input: a
// list at a resourceVersion the store has not reached is a 504 Timeout with the cause
// ResourceVersionTooLarge (client-go retries it).
func resourceVersionTooLarge(rec *httptest.ResponseRecorder) bool {
	var st metav1.Status
	if rec.Code != http.StatusGatewayTimeout || json.Unmarshal(rec.Body.Bytes(), &st) != nil ||
		st.Reason != metav1.StatusReasonTimeout || st.Details == nil {
		return false
	}
	for _, c := range st.Details.Causes {
		if c.Type == metav1.CauseTypeResourceVersionTooLarge {
			return true
		}
	}
	return false
}

// FuzzCreateBody posts arbitrary bytes, as any content type, to the create handler of
// several resources. Nothing may give a 5xx.
func FuzzCreateBody(f *testing.F) {
	seeds := [][]byte{
		[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`),
		[]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"p-"},"spec":{"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"1e3"}}}]}}`),
		[]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`),
		[]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  labels: {a: b}\n"),
		[]byte("k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x00\x1a\x00\"\x00"),
		[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"},"x":1}`),
		[]byte(`{"metadata":{"name":"` + string(bytes.Repeat([]byte("A"), 300)) + `"}}`),
		[]byte(`null`),
		[]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n1"},"spec":{"finalizers":["x/y"]}}`),
		[]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{"leaseDurationSeconds":-1,"renewTime":"2020-01-01T00:00:00.000000Z"}}`),
	}
	for i, body := range seeds {
		f.Add(body, uint8(i), uint8(i), uint8(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType, collection, params uint8) {
		h := newFuzzHandler(t)
		u := fuzzCollections[int(collection)%len(fuzzCollections)]
		if q := fuzzParams[int(params)%len(fuzzParams)]; q != "" {
			u += "?" + q
		}
		req := httptest.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if ct := fuzzContentTypes[int(contentType)%len(fuzzContentTypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		serve(t, h, req)
	})
}

// FuzzListOptions lists with arbitrary label and field selectors, continue tokens,
// resourceVersions and limits. Nothing may give a 5xx.
func FuzzListOptions(f *testing.F) {
	f.Add("app=foo,tier!=db", "metadata.name=x", "", "", "0", "")
	f.Add("a in (b,c),!d", "spec.nodeName=n1,status.phase!=Running", "", "0", "10", "")
	f.Add("a=(b", "spec.nodeName==", "", "", "", "")
	f.Add("x notin (y)", "metadata.namespace=default", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NSwic3RhcnQiOiJhIn0", "", "1", "")
	f.Add("", "involvedObject.name=x", "", "1", "", "Exact")
	f.Add("!", "a=b=c", "not-base64!", "-1", "-1", "NotOlderThan")
	f.Add("k8s.io/a=b", "metadata.name", "e30", "99999999999999999999", "1", "Bogus")
	f.Fuzz(func(t *testing.T, labelSelector, fieldSelector, continueToken, resourceVersion, limit, match string) {
		h := newFuzzHandler(t)
		for _, collection := range []string{
			"/api/v1/namespaces/default/pods",
			"/api/v1/events",
			"/api/v1/namespaces/default/configmaps",
			"/apis/apps/v1/deployments",
		} {
			q := url.Values{}
			for k, v := range map[string]string{
				"labelSelector": labelSelector, "fieldSelector": fieldSelector, "continue": continueToken,
				"resourceVersion": resourceVersion, "limit": limit, "resourceVersionMatch": match,
			} {
				if v != "" {
					q.Set(k, v)
				}
			}
			req := httptest.NewRequest(http.MethodGet, collection+"?"+q.Encode(), nil)
			req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
			serve(t, h, req)
		}
	})
}
