package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	berthdns "github.com/berth/berth/internal/dns"
)

// runServer is the subprocess: it serves DNS on loopback over the generated cluster, says
// "ready <addr>", and answers each "stats" line on in with "stats <mallocs> <cpu ns>"
// until in ends.
func runServer(o options, in io.Reader, out io.Writer) error {
	// Pin twice: a thread the runtime starts while the first pass runs is caught by the second.
	for range 2 {
		if err := pinProcess([]int{o.serverCPU}); err != nil {
			return fmt.Errorf("pin server: %w", err)
		}
	}
	c := newCluster(o)
	src := berthdns.NewMemorySource(c.services, c.slices)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	// One server as configured, one without the answer cache (every answer made
	// afresh, as after each change of a Service or EndpointSlice). Forwarded names are
	// not measured; the upstream is a closed port.
	var addrs []string
	for _, cacheSize := range []int{0, -1} {
		srv, err := berthdns.NewServer(src, berthdns.Config{Listen: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:9"}, CacheSize: cacheSize})
		if err != nil {
			return err
		}
		wg.Go(func() { _ = srv.Serve(ctx) })
		addrs = append(addrs, srv.Addr)
	}
	c = nil
	runtime.GC()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(out, "ready %s\n", strings.Join(addrs, " "))
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		if lines.Text() != "stats" {
			return fmt.Errorf("unknown command %q", lines.Text())
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			return err
		}
		cpu := ru.Utime.Nano() + ru.Stime.Nano()
		fmt.Fprintf(out, "stats %d %d\n", ms.Mallocs, cpu)
	}
	return lines.Err()
}
