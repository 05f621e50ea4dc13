package apiserver

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berth/berth/bench/report"
)

// Options tune the scenario.
type Options struct {
	// Bin is the berth binary.
	Bin string
	// StartRuns is how many fresh starts (and as many restarts) are timed (default 5).
	StartRuns int
	// IdleWait is how long the server idles before its RSS and CPU are read (default 30 s).
	IdleWait time.Duration
	// Quick shrinks the load phases for a smoke run.
	Quick bool
	// Progress receives a line per step.
	Progress io.Writer
}

// Run measures start-to-ready, idle RSS and CPU, API latency at 1 and 50 clients and
// watch fan-out of the berth binary.
func Run(ctx context.Context, opts Options) ([]report.Figure, error) {
	if opts.StartRuns <= 0 {
		opts.StartRuns = 5
	}
	if opts.IdleWait <= 0 {
		opts.IdleWait = 30 * time.Second
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(opts.Progress, "apiserver: "+format+"\n", args...) }
	var figures []report.Figure

	say("timing %d fresh starts and %d restarts", opts.StartRuns, opts.StartRuns)
	fresh, restart, err := timeStarts(ctx, opts.Bin, opts.StartRuns)
	if err != nil {
		return nil, err
	}
	fs, rs := report.Summarize(fresh), report.Summarize(restart)
	f := report.Below("start→ready, fresh data dir (median)", report.Millis(fs.Median), 1000, "ms")
	f.Note = fmt.Sprintf("min %s max %s, %d runs", fs.Min.Round(time.Millisecond), fs.Max.Round(time.Millisecond), len(fresh))
	figures = append(figures, f)
	f = report.Below("start→ready, restart (median)", report.Millis(rs.Median), 1000, "ms")
	f.Note = fmt.Sprintf("min %s max %s, %d runs", rs.Min.Round(time.Millisecond), rs.Max.Round(time.Millisecond), len(restart))
	figures = append(figures, f)

	dir, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := startServer(ctx, opts.Bin, dir)
	if err != nil {
		return nil, err
	}
	defer srv.kill()

	say("idling %s", opts.IdleWait)
	cpuBefore, err := srv.cpuTime()
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(opts.IdleWait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cpuAfter, err := srv.cpuTime()
	if err != nil {
		return nil, err
	}
	rss, err := srv.rssBytes()
	if err != nil {
		return nil, err
	}
	figures = append(figures,
		report.Below(fmt.Sprintf("idle RSS after %s", opts.IdleWait), float64(rss)/(1<<20), 60, "MiB"),
		report.Below(fmt.Sprintf("idle CPU over %s", opts.IdleWait), 100*float64(cpuAfter-cpuBefore)/float64(opts.IdleWait), 0.5, "% core"),
	)

	client, err := clientFor(srv)
	if err != nil {
		return nil, err
	}
	for _, clients := range []int{1, 50} {
		n := map[int]int{1: 500, 50: 3000}[clients]
		if opts.Quick {
			n /= 5
		}
		say("load: %d calls per verb at %d concurrent clients", n, clients)
		phases, err := runPhases(ctx, client, clients, n, 100)
		if err != nil {
			return nil, err
		}
		for _, p := range phases {
			figures = append(figures, latencyFigures(p)...)
		}
	}

	n := 1000
	if opts.Quick {
		n = 200
	}
	say("authentication: GET /version with a client certificate and a service-account token, %d calls each", n)
	authn, err := authnFigures(ctx, srv, client, n)
	if err != nil {
		return nil, err
	}
	figures = append(figures, authn...)

	watchers, events := 100, 100
	if opts.Quick {
		events = 20
	}
	say("fan-out: 1 writer, %d watchers, %d events", watchers, events)
	fan, err := runFanout(ctx, client, watchers, events)
	if err != nil {
		return nil, err
	}
	figures = append(figures,
		report.Plain(fmt.Sprintf("watch fan-out p50 (1 writer, %d watchers)", watchers), report.Millis(report.Percentile(fan, 50)), "ms"),
		report.Plain(fmt.Sprintf("watch fan-out p99 (1 writer, %d watchers)", watchers), report.Millis(report.Percentile(fan, 99)), "ms"),
	)
	if rss, err := srv.rssBytes(); err == nil {
		figures = append(figures, report.Plain("RSS after load", float64(rss)/(1<<20), "MiB"))
	}
	if err := srv.stop(); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	for i := range figures {
		figures[i].Scenario = "apiserver"
	}
	return figures, nil
}

// timeStarts times fresh starts (each on a new data dir) and restarts (on one dir).
func timeStarts(ctx context.Context, bin string, runs int) (fresh, restart []time.Duration, err error) {
	keep, err := os.MkdirTemp("", "berth-bench-restart-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(keep)
	for i := range runs {
		dir, err := os.MkdirTemp("", "berth-bench-fresh-")
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			dir = keep
		}
		s, err := startServer(ctx, bin, dir)
		if err != nil {
			return nil, nil, err
		}
		fresh = append(fresh, s.ReadyAfter)
		err = s.stop()
		if dir != keep {
			os.RemoveAll(dir)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("stop after fresh start: %w", err)
		}
	}
	for range runs {
		s, err := startServer(ctx, bin, keep)
		if err != nil {
			return nil, nil, err
		}
		restart = append(restart, s.ReadyAfter)
		if err := s.stop(); err != nil {
			return nil, nil, fmt.Errorf("stop after restart: %w", err)
		}
	}
	return fresh, restart, nil
}

func clientFor(s *server) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling: measure the server
	cfg.UserAgent = "berth-bench"
	return kubernetes.NewForConfig(cfg)
}

func latencyFigures(p phaseResult) []report.Figure {
	label := fmt.Sprintf("%s @%d client", p.verb, p.clients)
	if p.clients > 1 {
		label += "s"
	}
	p50 := report.Plain(label+" p50", report.Millis(report.Percentile(p.latency, 50)), "ms")
	var p99 report.Figure
	mutating := p.verb == "create" || p.verb == "update"
	if mutating && p.clients == 50 {
		p99 = report.Below(label+" p99", report.Millis(report.Percentile(p.latency, 99)), 100, "ms")
	} else {
		p99 = report.Plain(label+" p99", report.Millis(report.Percentile(p.latency, 99)), "ms")
	}
	p99.Note = fmt.Sprintf("%d calls, %.0f/s", len(p.latency), float64(len(p.latency))/p.elapsed.Seconds())
	return []report.Figure{p50, p99}
}
