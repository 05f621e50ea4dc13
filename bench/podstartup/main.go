// Command podstartup measures how fast the node agent starts the 2-container pod
// (app:0.3.2 + a busybox sidecar, examples/02-pod-sidecar.yaml's shape with the in-repo
// images) on a warm node, beside the raw CRI calls for the same pod on the same
// containerd in the same run:
//
//   - 1 at a time: -runs sequential creates, each measured from the create call to
//     Running and Ready as a watch of the API sees it, then deleted (and gone) before
//     the next; interleaved with as many raw CRI pods (RunPodSandbox, then
//     CreateContainer+StartContainer of each container), so load from elsewhere hits
//     both alike;
//   - -burst at once: as many raw CRI pods started together (then removed), then as many
//     pods created together through the API, each measured from its own create call;
//   - the agent's RSS (VmRSS of its process, with its anon and file parts, and its PSS;
//     containerd and shims are processes of their own) with the burst's pods running
//     and with none after the 1-at-a-time runs, and its CPU over an -idle window with
//     the burst's pods.
//
// The node is what the e2e framework makes (internal/agent/agenttest): a network
// namespace, `berth server` in this process without an agent, `berth agent` as its own
// process in the namespace (it starts and configures containerd there), the test images
// imported; a first pod through each arm warms it. Everything is undone at the end, also
// on failure or SIGINT. Needs root; otherwise it says so and exits.
//
// The load average before and after is printed with the figures: the machine's other
// work slows containerd, and with it both arms. With -agent-log-level debug -agent-log
// FILE, the agent's log says where each start's time went (sandbox, containers, status).
//
//	sudo go run ./bench/podstartup [-runs 20] [-burst 30] [-idle 30s] [-berth bin/berth]
//
// Where a phase's CPU goes, by process (runc, runc:[2:INIT], containerd-shim,
// containerd, the CNI plugins, berth): the progress lines carry CLOCK_MONOTONIC, so
//
//	perf record -a -k mono -e cpu-clock -c 1000000 -o perf.data -- go run ./bench/podstartup ...
//	perf report -i perf.data --time START,END --sort comm --stdio
//
// with START,END from two progress lines counts each process's CPU in milliseconds (one
// sample per millisecond of CPU).
//
// What the agent's memory holds with the burst's pods: -profile DIR saves its /proc
// smaps and status at the moment its RSS is taken; with -profile-rate 1 it also runs
// with its profiling endpoint and every allocation sampled, and saves heap.pb.gz
// (`go tool pprof -sample_index=inuse_space BERTH DIR/heap.pb.gz`), heap.txt (MemStats)
// and goroutine.txt — its RSS figures are then inflated by the sampling's own records;
// -profile-rate 0 gives the MemStats of an unsampled agent.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/berth/berth/bench/report"
	"github.com/berth/berth/internal/agent/agenttest"
)

type options struct {
	berth    string
	runs     int
	burst    int
	idle     time.Duration
	logLevel string
	jsonPath string
	agentLog string
	profile  string
	profRate int
}

func main() {
	var o options
	flag.StringVar(&o.berth, "berth", "", "berth binary the agent runs from (default: build ./cmd/berth into a temp dir)")
	flag.IntVar(&o.runs, "runs", 20, "pods started one at a time through each arm")
	flag.IntVar(&o.burst, "burst", 30, "pods started at once through each arm")
	flag.DurationVar(&o.idle, "idle", 30*time.Second, "window over which the agent's idle CPU is measured with the burst's pods running")
	flag.StringVar(&o.logLevel, "agent-log-level", "info", "the agent's --log-level (its log is shown when it fails)")
	flag.StringVar(&o.jsonPath, "json", "", "also write the figures as JSON to this file")
	flag.StringVar(&o.agentLog, "agent-log", "", "copy the agent's log to this file at the end (with -agent-log-level debug: what each sync did)")
	flag.StringVar(&o.profile, "profile", "", "save the agent's /proc smaps and status with the burst's pods into this directory (with -profile-rate, its heap and goroutine profiles and MemStats too)")
	flag.IntVar(&o.profRate, "profile-rate", -1, "with -profile: serve the agent's profiling endpoint (BERTH_PPROF_ADDR) with GODEBUG=memprofilerate=N (1: every allocation, exact in-use figures, but the memory figures then include the sampling's own; 0: none, MemStats only); -1: the agent as it runs normally")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "podstartup: skipped: needs root (network namespaces, containerd, cgroups); run `sudo go run ./bench/podstartup` or `sudo make bench-podstartup`")
		return
	}
	if missing := agenttest.Missing(); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "podstartup: skipped: missing %s; %s\n", strings.Join(missing, ", "), agenttest.InstallHint)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "podstartup: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	if o.berth == "" {
		dir, err := os.MkdirTemp("", "berth-bench-podstartup-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.berth = filepath.Join(dir, "berth")
		fmt.Fprintln(os.Stderr, "building ./cmd/berth ...")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.berth, "./cmd/berth")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as `make build` builds it
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build berth: %w", err)
		}
	}
	loadBefore := loadAverage()
	fmt.Fprintf(os.Stderr, "load average: %s\n", loadBefore)
	l, err := startLab(ctx, labOptions{berth: o.berth, logLevel: o.logLevel, progress: os.Stderr, pprof: o.profile != "" && o.profRate >= 0, memProfileRate: o.profRate})
	if err != nil {
		return err
	}
	defer func() {
		if o.agentLog != "" {
			if raw, rerr := os.ReadFile(filepath.Join(l.dataDir, "agent.log")); rerr == nil {
				err = errors.Join(err, os.WriteFile(o.agentLog, raw, 0o644))
			}
		}
		if cerr := l.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()
	res, err := measure(ctx, l, o)
	if err != nil {
		return fmt.Errorf("%w\nagent log (last lines):\n%s", err, tail(filepath.Join(l.dataDir, "agent.log"), 30))
	}
	res.loadBefore, res.loadAfter = loadBefore, loadAverage()
	res.print(os.Stdout)
	if o.jsonPath != "" {
		env := map[string]string{"go": runtime.Version(), "cpus": fmt.Sprint(runtime.NumCPU()),
			"load_before": res.loadBefore, "load_after": res.loadAfter}
		if err := report.WriteJSON(o.jsonPath, env, res.figures()); err != nil {
			return err
		}
	}
	return nil
}

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
