// Command bench runs berth's benchmark scenarios against the built binaries, prints a
// table of the figures with their goals, and writes them as JSON:
//
//	go run ./bench -bin ./bin [-json bench-results.json] [-only apiserver] [-quick]
//
// It measures; it never fails on a missed goal (the table says MET yes/NO).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/berth/berth/bench/apiserver"
	"github.com/berth/berth/bench/report"
)

// scenario is one benchmark; Run returns its figures.
type scenario struct {
	name string
	run  func(ctx context.Context, cfg config) ([]report.Figure, error)
}

type config struct {
	binDir string
	quick  bool
	idle   time.Duration
	runs   int
}

var scenarios = []scenario{
	{name: "apiserver", run: func(ctx context.Context, cfg config) ([]report.Figure, error) {
		return apiserver.Run(ctx, apiserver.Options{
			Bin: filepath.Join(cfg.binDir, "berth"), StartRuns: cfg.runs, IdleWait: cfg.idle,
			Quick: cfg.quick, Progress: os.Stderr,
		})
	}},
}

func main() {
	os.Exit(run())
}

func run() int {
	var cfg config
	var only, jsonPath string
	flag.StringVar(&cfg.binDir, "bin", "bin", "directory with the berth binary (make build)")
	flag.StringVar(&jsonPath, "json", "bench-results.json", "file to write the figures to as JSON (empty: none)")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run (default: all)")
	flag.BoolVar(&cfg.quick, "quick", false, "smaller load and a 5 s idle window: a smoke run, not figures to quote")
	flag.DurationVar(&cfg.idle, "idle", 30*time.Second, "how long the server idles before idle RSS/CPU are read")
	flag.IntVar(&cfg.runs, "runs", 5, "timed starts (and restarts) for start-to-ready")
	flag.Parse()
	if cfg.quick && cfg.idle == 30*time.Second {
		cfg.idle = 5 * time.Second
	}
	if _, err := os.Stat(filepath.Join(cfg.binDir, "berth")); err != nil {
		fmt.Fprintf(os.Stderr, "bench: no berth binary in %s (run make build): %v\n", cfg.binDir, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var figures []report.Figure
	failed := false
	for _, sc := range scenarios {
		if only != "" && !contains(strings.Split(only, ","), sc.name) {
			continue
		}
		got, err := sc.run(ctx, cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", sc.name, err)
			failed = true
			continue
		}
		figures = append(figures, got...)
	}
	fmt.Println()
	if err := report.PrintTable(os.Stdout, figures); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	if jsonPath != "" {
		env := map[string]string{"go": runtime.Version(), "cpus": fmt.Sprint(runtime.NumCPU()), "quick": fmt.Sprint(cfg.quick)}
		if err := report.WriteJSON(jsonPath, env, figures); err != nil {
			fmt.Fprintf(os.Stderr, "bench: write %s: %v\n", jsonPath, err)
			return 1
		}
		fmt.Printf("\nfigures written to %s\n", jsonPath)
	}
	if failed {
		return 1
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}
