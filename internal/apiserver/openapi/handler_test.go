package openapi

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	openapiv3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/spec3"
)

type response struct {
	status int
	header http.Header
	body   []byte
}

// fetch does one request without redirects or transparent decompression,
// so the test sees what the handler wrote.
func fetch(t *testing.T, method, url string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func TestHTTP(t *testing.T) {
	s, _ := newTestSpec(t)
	srv, _, _ := serve(t, s)

	index := fetch(t, "GET", srv.URL+"/openapi/v3", nil)
	if index.status != 200 || index.header.Get("Content-Type") != "application/json" {
		t.Fatalf("index: %d %v", index.status, index.header)
	}
	var disco struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(index.body, &disco); err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/discovery.k8s.io/v1", "apis/coordination.k8s.io/v1", "apis/events.k8s.io/v1", "apis/autoscaling/v1", "apis/policy/v1"} {
		if !strings.HasPrefix(disco.Paths[gv].ServerRelativeURL, "/openapi/v3/"+gv+"?hash=") {
			t.Errorf("index entry for %s: %q", gv, disco.Paths[gv].ServerRelativeURL)
		}
	}
	appsURL := srv.URL + disco.Paths["apis/apps/v1"].ServerRelativeURL
	hash := appsURL[strings.Index(appsURL, "hash=")+len("hash="):]

	t.Run("hashed URL is immutable", func(t *testing.T) {
		r := fetch(t, "GET", appsURL, nil)
		if r.status != 200 || r.header.Get("Cache-Control") != "public, immutable" || r.header.Get("Expires") == "" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		if r.header.Get("Etag") != strconv.Quote(hash) {
			t.Fatalf("Etag %q, want the index hash %q", r.header.Get("Etag"), hash)
		}
		var doc spec3.OpenAPI
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"] == nil {
			t.Fatal("no scale path")
		}
	})
	t.Run("stale hash redirects", func(t *testing.T) {
		r := fetch(t, "GET", srv.URL+"/openapi/v3/apis/apps/v1?hash=0123", nil)
		if r.status != http.StatusMovedPermanently || r.header.Get("Location") != disco.Paths["apis/apps/v1"].ServerRelativeURL {
			t.Fatalf("%d Location=%q", r.status, r.header.Get("Location"))
		}
	})
	t.Run("unhashed URL revalidates", func(t *testing.T) {
		r := fetch(t, "GET", srv.URL+"/openapi/v3/apis/apps/v1", nil)
		if r.status != 200 || r.header.Get("Cache-Control") != "no-cache, private" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		again := fetch(t, "GET", srv.URL+"/openapi/v3/apis/apps/v1", map[string]string{"If-None-Match": r.header.Get("Etag")})
		if again.status != http.StatusNotModified || len(again.body) != 0 {
			t.Fatalf("If-None-Match: %d, %d bytes", again.status, len(again.body))
		}
	})
	t.Run("gzip", func(t *testing.T) {
		plain := fetch(t, "GET", appsURL, nil)
		r := fetch(t, "GET", appsURL, map[string]string{"Accept-Encoding": "gzip"})
		if r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("not gzipped: %v", r.header)
		}
		zr, err := gzip.NewReader(strings.NewReader(string(r.body)))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if string(unzipped) != string(plain.body) {
			t.Fatal("gzipped body differs")
		}
		t.Logf("apps/v1: %d KiB, %d KiB gzipped", len(plain.body)>>10, len(r.body)>>10)
	})
	t.Run("v3 protobuf", func(t *testing.T) {
		r := fetch(t, "GET", appsURL, map[string]string{"Accept": "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"})
		if r.status != 200 || r.header.Get("Content-Type") != mimeV3Proto {
			t.Fatalf("%d %v", r.status, r.header)
		}
		var doc openapiv3.Document
		if err := proto.Unmarshal(r.body, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.GetComponents().GetSchemas().GetAdditionalProperties()) == 0 {
			t.Fatal("protobuf document has no schemas")
		}
	})
	t.Run("v2 protobuf and JSON", func(t *testing.T) {
		r := fetch(t, "GET", srv.URL+"/openapi/v2", map[string]string{"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
		if r.status != 200 || r.header.Get("Content-Type") != mimeV2Proto {
			t.Fatalf("%d %v", r.status, r.header)
		}
		var doc openapiv2.Document
		if err := proto.Unmarshal(r.body, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.GetDefinitions().GetAdditionalProperties()) == 0 {
			t.Fatal("no definitions")
		}
		j := fetch(t, "GET", srv.URL+"/openapi/v2", map[string]string{"Accept": "application/json"})
		if j.status != 200 || !strings.Contains(string(j.body), `"swagger":"2.0"`) {
			t.Fatalf("%d %.200s", j.status, j.body)
		}
	})
	for name, c := range map[string]struct {
		method, path, accept string
		status               int
	}{
		"unknown group version": {"GET", "/openapi/v3/apis/batch/v1", "", http.StatusNotFound},
		"unknown path":          {"GET", "/openapi/v4", "", http.StatusNotFound},
		"not acceptable":        {"GET", "/openapi/v3/api/v1", "text/html", http.StatusNotAcceptable},
		"index has no protobuf": {"GET", "/openapi/v3", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf", http.StatusNotAcceptable},
		"POST":                  {"POST", "/openapi/v3", "", http.StatusMethodNotAllowed},
		"HEAD":                  {"HEAD", "/openapi/v3/api/v1", "", http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			r := fetch(t, c.method, srv.URL+c.path, map[string]string{"Accept": c.accept})
			if r.status != c.status {
				t.Fatalf("status %d, want %d", r.status, c.status)
			}
		})
	}
}

func TestDocumentsAreStable(t *testing.T) {
	first, _ := newTestSpec(t)
	second, _ := newTestSpec(t)
	a, err := first.get()
	if err != nil {
		t.Fatal(err)
	}
	b, err := second.get()
	if err != nil {
		t.Fatal(err)
	}
	for gv, doc := range a.v3 {
		if doc.etag() != b.v3[gv].etag() {
			t.Errorf("%s: etag differs between two generations", gv)
		}
	}
	if a.v2.etag() != b.v2.etag() {
		t.Error("v2 etag differs between two generations")
	}
}

// The first requests race to generate; all must get the same documents.
func TestConcurrentFirstRequests(t *testing.T) {
	s, _ := newTestSpec(t)
	paths := []string{"/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1", "/openapi/v2"}
	etags := make([]string, 4*len(paths))
	var wg sync.WaitGroup
	for i := range etags {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", paths[i%len(paths)], nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s: %d", paths[i%len(paths)], rec.Code)
			}
			etags[i] = rec.Header().Get("Etag")
		})
	}
	wg.Wait()
	for i := len(paths); i < len(etags); i++ {
		if etags[i] != etags[i%len(paths)] {
			t.Errorf("%s: etags differ between concurrent requests", paths[i%len(paths)])
		}
	}
}
