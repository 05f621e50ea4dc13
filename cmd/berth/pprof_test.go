package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestServePprofRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", "10.1.2.3:6060", ":6060", "example.com:6060", "nonsense"} {
		t.Setenv(pprofEnv, addr)
		l, err := servePprof(io.Discard)
		if l != nil {
			l.Close()
		}
		if err == nil || !strings.Contains(err.Error(), pprofEnv) {
			t.Errorf("%s=%s: err = %v, want an error naming the variable", pprofEnv, addr, err)
		}
	}
}

func TestServePprofServesProfiles(t *testing.T) {
	t.Setenv(pprofEnv, "")
	if l, err := servePprof(io.Discard); l != nil || err != nil {
		t.Fatalf("unset: %v %v", l, err)
	}
	t.Setenv(pprofEnv, "127.0.0.1:0")
	var out bytes.Buffer
	l, err := servePprof(&out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	// It prints where it listens: "berth: profiling endpoint on http://127.0.0.1:N/debug/pprof/".
	url := strings.TrimSpace(out.String()[strings.Index(out.String(), "http://"):])
	resp, err := http.Get(url + "goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("goroutine profile")) {
		t.Fatalf("GET goroutine profile: %d %.200s", resp.StatusCode, body)
	}
}
