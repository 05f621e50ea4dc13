package apiserver

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/registry"
)

// panickingHandler is a name to find in the logged stack.
func panickingHandler(v any) http.Handler {
	return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(v) })
}

// TestFiltersRecoverHandlerPanics: requests run on the server's workers, yet a handler's
// panic still ends that request only — a 500 Status, the panic and the stack where it
// happened in the log — and http.ErrAbortHandler still goes up to net/http.
func TestFiltersRecoverHandlerPanics(t *testing.T) {
	var logged bytes.Buffer
	s, err := New(Config{Codecs: registry.NewCodecs(registry.NewScheme()), Log: slog.New(slog.NewJSONHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the worker that recovered one panic serves the next request
		logged.Reset()
		rec := httptest.NewRecorder()
		s.withFilters(panickingHandler("boom")).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil))
		var status metav1.Status
		if err := json.Unmarshal(rec.Body.Bytes(), &status); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		if rec.Code != http.StatusInternalServerError || status.Code != http.StatusInternalServerError || !strings.Contains(status.Message, "panic: boom") {
			t.Errorf("answer %d %+v, want a 500 Status naming the panic", rec.Code, status)
		}
		if !strings.Contains(logged.String(), `"panic":"boom"`) || !strings.Contains(logged.String(), "panickingHandler") {
			t.Errorf("log %s: want the panic and the handler's stack", logged.String())
		}
	}

	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler passed on", v)
		}
	}()
	s.withFilters(panickingHandler(http.ErrAbortHandler)).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil))
	t.Error("ServeHTTP returned after http.ErrAbortHandler")
}
