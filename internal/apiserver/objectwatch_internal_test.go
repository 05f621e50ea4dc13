package apiserver

import (
	"context"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/watch"
)

// TestObjectSinkOnlyInProcess: a request that names a registered sink gets it only when
// it came through InProcessTransport, and only once.
func TestObjectSinkOnlyInProcess(t *testing.T) {
	objectSinks.Store("7", &objectSink{ch: make(chan watch.Event)})
	defer objectSinks.Delete("7")
	req := httptest.NewRequest("GET", "/api/v1/pods?watch=true", nil)
	req.Header.Set(objectWatchHeader, "7")
	if takeObjectSink(req) != nil {
		t.Fatal("a request from the network took a sink")
	}
	inProcess := req.WithContext(context.WithValue(req.Context(), inProcessUserKey, User{Name: "test"}))
	if takeObjectSink(inProcess) == nil {
		t.Fatal("the in-process request did not get its sink")
	}
	if takeObjectSink(inProcess) != nil {
		t.Fatal("a sink was taken twice")
	}
}
