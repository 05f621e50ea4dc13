package apiserver_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/berth/berth/internal/apiserver"
	"github.com/berth/berth/internal/registry"
)

// TestHealthEndpoints: /livez, /readyz and /healthz answer like kube-apiserver's —
// "ok", a list of checks with ?verbose or on failure (reasons withheld: the endpoints
// need no credentials), one check by path, ?exclude.
func TestHealthEndpoints(t *testing.T) {
	var storageDown atomic.Bool
	api, err := apiserver.New(apiserver.Config{
		Codecs: registry.NewCodecs(registry.NewScheme()),
		Log:    slog.New(slog.DiscardHandler),
		Ready: func() error {
			if storageDown.Load() {
				return errors.New("etcdserver: request timed out (secret detail)")
			}
			return nil
		},
		Authenticate: func(*http.Request) (apiserver.User, bool) { return apiserver.User{}, false },
	})
	if err != nil {
		t.Fatal(err)
	}
	h := api.Handler()
	cases := []struct {
		name, path string
		down       bool
		code       int
		body       string
	}{
		{"readyz", "/readyz", false, 200, "ok"},
		{"livez", "/livez", false, 200, "ok"},
		{"healthz", "/healthz", false, 200, "ok"},
		{"readyz verbose", "/readyz?verbose", false, 200, "[+]ping ok\n[+]etcd ok\nreadyz check passed\n"},
		{"livez verbose", "/livez?verbose=1", false, 200, "[+]ping ok\nlivez check passed\n"},
		{"one check", "/readyz/etcd", false, 200, "ok"},
		{"ping", "/livez/ping", false, 200, "ok"},
		{"unknown check", "/readyz/nope", false, 404, "404 page not found\n"},
		{"readyz down", "/readyz", true, 503, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n"},
		{"readyz down verbose", "/readyz?verbose", true, 503, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n"},
		{"excluded", "/readyz?exclude=etcd&verbose", true, 200, "[+]ping ok\n[+]etcd excluded: ok\nreadyz check passed\n"},
		{"one check down", "/readyz/etcd", true, 503, "internal server error: reason withheld\n"},
		{"livez without storage", "/livez", true, 200, "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storageDown.Store(tc.down)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.code || rec.Body.String() != tc.body {
				t.Fatalf("GET %s: %d %q, want %d %q", tc.path, rec.Code, rec.Body.String(), tc.code, tc.body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}
