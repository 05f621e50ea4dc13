// Command dns measures berth's cluster DNS server on one core: it starts the server as a
// subprocess (GOMAXPROCS=1, every thread pinned to one CPU) over an in-memory view of
// -services services and -endpoints endpoints, fires queries at it from concurrent UDP
// clients on loopback (pinned to the other CPUs), and prints, per kind of query, the
// answered queries per second, the server's CPU use, the queries per second one fully
// busy core would answer at that cost, and the server's heap allocations per query.
//
//	go run ./bench/dns [-services 1000] [-endpoints 10000] [-duration 5s]
//
// It prints figures; it asserts nothing. The goal is > 20 000 q/s on one core
// (CoreDNS answers ≈ 17 000).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type options struct {
	services, endpoints int
	headlessEvery       int
	duration, warmup    time.Duration
	clients, window     int
	serverCPU           int
	cpuProfile          string
}

func main() {
	var o options
	serve := flag.Bool("serve", false, "internal: run as the server subprocess")
	flag.IntVar(&o.services, "services", 1000, "services in the cluster")
	flag.IntVar(&o.endpoints, "endpoints", 10000, "endpoints in total, spread evenly over the services")
	flag.IntVar(&o.headlessEvery, "headless-every", 10, "every Nth service is headless")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per kind of query")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each measurement")
	flag.IntVar(&o.clients, "clients", 8, "concurrent UDP clients")
	flag.IntVar(&o.window, "window", 8, "queries each client keeps in flight")
	flag.IntVar(&o.serverCPU, "cpu", -1, "CPU the server is pinned to (default: the last one)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write the server's CPU profile (all kinds) to this file")
	flag.Parse()
	if o.serverCPU < 0 {
		o.serverCPU = runtime.NumCPU() - 1
	}
	if *serve {
		if err := runServer(o, os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, o options) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, "-serve",
		"-services", strconv.Itoa(o.services), "-endpoints", strconv.Itoa(o.endpoints),
		"-headless-every", strconv.Itoa(o.headlessEvery), "-cpu", strconv.Itoa(o.serverCPU), "-cpuprofile", o.cpuProfile)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close() // the server exits at end of input
		_ = cmd.Wait()
	}()
	srv := &serverConn{in: stdin, out: bufio.NewScanner(stdout)}
	line, err := srv.readLine("ready")
	if err != nil {
		return fmt.Errorf("server start: %w", err)
	}
	addrs := strings.Fields(line) // with the answer cache, without
	if len(addrs) != 2 {
		return fmt.Errorf("server said ready %q", line)
	}

	clientCPUs := otherCPUs(o.serverCPU)
	if err := pinProcess(clientCPUs); err != nil {
		return fmt.Errorf("pin clients: %w", err)
	}
	runtime.GOMAXPROCS(len(clientCPUs))

	fmt.Printf("berth cluster DNS, one core: %d services (every %dth headless), %d endpoints; server on CPU %d, %d clients × %d in flight on CPUs %v, %s per kind\n",
		o.services, o.headlessEvery, o.endpoints, o.serverCPU, o.clients, o.window, clientCPUs, o.duration)
	fmt.Printf("load before: %s\n", loadavg())
	fmt.Printf("%-22s %10s %8s %14s %12s %8s\n", "query", "answered/s", "srv CPU", "q/s per core", "allocs/q", "lost")
	c := newCluster(o)
	for i, kind := range append(c.kinds(), c.kinds()...) {
		addr := addrs[0]
		if i >= len(c.kinds()) {
			addr = addrs[1]
			kind.name += ", no cache"
		}
		load := newLoad(addr, kind, o.clients, o.window)
		if _, err := load.run(ctx, o.warmup); err != nil {
			return fmt.Errorf("%s warmup: %w", kind.name, err)
		}
		before, err := srv.stats()
		if err != nil {
			return err
		}
		res, err := load.run(ctx, o.duration)
		if err != nil {
			return fmt.Errorf("%s: %w", kind.name, err)
		}
		after, err := srv.stats()
		if err != nil {
			return err
		}
		cpu := time.Duration(after.cpuNanos - before.cpuNanos)
		qps := float64(res.answered) / res.elapsed.Seconds()
		fmt.Printf("%-22s %10.0f %7.0f%% %14.0f %12.1f %8d\n", kind.name, qps,
			100*cpu.Seconds()/res.elapsed.Seconds(),
			float64(res.answered)/cpu.Seconds(),
			float64(after.mallocs-before.mallocs)/float64(res.answered), res.lost)
		if res.wrong > 0 {
			fmt.Printf("  %d answers were not what the query expects (first: %s)\n", res.wrong, res.firstWrong)
		}
	}
	fmt.Printf("load after: %s\n", loadavg())
	return nil
}

// serverConn talks to the server subprocess over its stdin/stdout.
type serverConn struct {
	in  io.Writer
	out *bufio.Scanner
}

type serverStats struct{ mallocs, cpuNanos uint64 }

func (s *serverConn) readLine(prefix string) (string, error) {
	if !s.out.Scan() {
		if err := s.out.Err(); err != nil {
			return "", err
		}
		return "", io.ErrUnexpectedEOF
	}
	line := s.out.Text()
	rest, ok := strings.CutPrefix(line, prefix+" ")
	if !ok {
		return "", fmt.Errorf("server said %q, want %q", line, prefix)
	}
	return rest, nil
}

func (s *serverConn) stats() (serverStats, error) {
	if _, err := io.WriteString(s.in, "stats\n"); err != nil {
		return serverStats{}, err
	}
	line, err := s.readLine("stats")
	if err != nil {
		return serverStats{}, err
	}
	var st serverStats
	if _, err := fmt.Sscan(line, &st.mallocs, &st.cpuNanos); err != nil {
		return serverStats{}, fmt.Errorf("stats %q: %w", line, err)
	}
	return st, nil
}

// otherCPUs are the CPUs the clients may use: all but the server's, unless there is one.
func otherCPUs(serverCPU int) []int {
	var cpus []int
	for i := 0; i < runtime.NumCPU(); i++ {
		if i != serverCPU {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) == 0 {
		cpus = []int{serverCPU}
	}
	return cpus
}

// pinProcess sets the CPU affinity of every thread of this process; threads started
// later inherit it from the thread that creates them.
func pinProcess(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("thread %d: %w", tid, err)
		}
	}
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
