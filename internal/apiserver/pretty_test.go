package apiserver_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPrettyPrint follows kube-apiserver: ?pretty=<bool> decides when given; otherwise
// curl, wget and browsers get indented JSON and other clients compact JSON. Errors are
// indented the same way; watch events never are.
func TestPrettyPrint(t *testing.T) {
	api, err := newTestAPI(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := api.Handler()
	cases := []struct {
		name, path, userAgent, accept string
		pretty                        bool
	}{
		{"client-go", "/api/v1/namespaces", "kubectl/v1.37.2 (linux/amd64) kubernetes/abc", "", false},
		{"curl", "/api/v1/namespaces", "curl/8.5.0", "", true},
		{"wget", "/api/v1/namespaces", "Wget/1.21", "", true},
		{"browser", "/api/v1/namespaces", "Mozilla/5.0 (X11; Linux x86_64)", "", true},
		{"pretty=true", "/api/v1/namespaces?pretty=true", "kubectl/v1.37.2", "", true},
		{"pretty=false wins over curl", "/api/v1/namespaces?pretty=false", "curl/8.5.0", "", false},
		{"Accept pretty=1", "/api/v1/namespaces", "kubectl/v1.37.2", "application/json;pretty=1", true},
		{"an error for curl", "/api/v1/namespaces/default/configmaps/missing", "curl/8.5.0", "", true},
		{"discovery for curl", "/api", "curl/8.5.0", "", true},
		{"YAML has no pretty form", "/api/v1/namespaces?pretty=true", "curl/8.5.0", "application/yaml", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set("User-Agent", tc.userAgent)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			rec := serve(t, h, req)
			body := rec.Body.Bytes()
			indented := bytes.HasPrefix(body, []byte("{\n  \""))
			if indented != tc.pretty {
				t.Fatalf("GET %s as %q: indented %v, want %v: %.120q", tc.path, tc.userAgent, indented, tc.pretty, body)
			}
		})
	}

	// A watch stays one event a line for curl too.
	req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces?watch=true&timeoutSeconds=1", nil)
	req.Header.Set("User-Agent", "curl/8.5.0")
	rec := serve(t, h, req)
	if bytes.Contains(rec.Body.Bytes(), []byte("{\n")) {
		t.Fatalf("watch for curl is indented: %.200q", rec.Body.Bytes())
	}
}
