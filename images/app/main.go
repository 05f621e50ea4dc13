// Command app is berth's test application: a tiny static HTTP server that answers every
// request with its version and the hostname it runs on, so tests and the examples/ story
// (app:0.3.2 → app:0.3.3 canary) can tell which pod and which version served them.
//
// It listens on :8080 unless -listen or $LISTEN says otherwise (e.g. ":80").
// GET /healthz answers "ok"; GET /version answers the version alone; GET /client
// answers the client's address as the app sees it (to show there is no NAT between pods).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set by the image build (-ldflags -X main.version=0.3.2).
var version = "dev"

func main() {
	listen := flag.String("listen", envOr("LISTEN", ":8080"), "address to listen on")
	flag.Parse()
	hostname, _ := os.Hostname()

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, version) })
	mux.HandleFunc("/client", func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		fmt.Fprintln(w, host)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s on %s\n", version, hostname)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	log.Printf("app %s listening on %s", version, *listen)
	select {
	case err := <-errs:
		log.Fatal(err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	log.Printf("app %s stopped", version)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
