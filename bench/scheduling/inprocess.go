package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/server"
)

// startInProcess runs the server inside the bench process, so one CPU profile covers
// the API server, storage and the control loops (and the bench's own clients).
func startInProcess(ctx context.Context, _ string, dataDir string) (*serverHandle, *rest.Config, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	logFile, err := os.Create(dataDir + ".log")
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.Start(ctx, server.Config{
		DataDir: dataDir, Listen: "127.0.0.1:0", DisableAgent: true,
		Controllers: controller.Options{ClusterCIDR: benchClusterCIDR},
		Log:         slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		logFile.Close()
		return nil, nil, fmt.Errorf("start server in process: %w", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "admin.kubeconfig"))
	if err != nil {
		_ = srv.Stop()
		logFile.Close()
		return nil, nil, err
	}
	cfg.QPS, cfg.Burst = 10000, 20000
	return &serverHandle{pid: os.Getpid(), stop: func() {
		_ = srv.Stop()
		logFile.Close()
	}, memStats: func() (memStats, bool) {
		// The process's counters: the bench's own allocations are in them.
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return memStats{m.TotalAlloc, m.Mallocs, uint64(m.NumGC)}, true
	}}, cfg, nil
}

// profileCPU starts a CPU profile written to path; the returned func ends it.
func profileCPU(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// writeAllocs writes the allocation profile (everything allocated since start).
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("allocs").WriteTo(f, 0)
}
