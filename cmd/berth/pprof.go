package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// pprofEnv names the variable that turns on the profiling endpoint of `berth server` and
// `berth agent`: BERTH_PPROF_ADDR=127.0.0.1:6060 serves /debug/pprof/ there, for
// `go tool pprof http://127.0.0.1:6060/debug/pprof/heap`. It is for developers, so it is
// an environment variable rather than a flag, and it refuses anything but a loopback
// address: the endpoint has no authentication.
const pprofEnv = "BERTH_PPROF_ADDR"

// servePprof starts the endpoint when pprofEnv asks for it and returns its listener (nil
// when it is off); the commands leave it open for the life of the process.
func servePprof(stderr io.Writer) (net.Listener, error) {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %v", pprofEnv, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s=%q: only a loopback address is allowed (the endpoint has no authentication)", pprofEnv, addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", pprofEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	fmt.Fprintf(stderr, "berth: profiling endpoint on http://%s/debug/pprof/\n", l.Addr())
	go func() { _ = http.Serve(l, mux) }()
	return l, nil
}
