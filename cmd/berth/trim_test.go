package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestAgentGC(t *testing.T) {
	t.Cleanup(func() { debug.SetGCPercent(100) })
	for _, tc := range []struct {
		gogc        string
		wantPercent int
	}{{"", agentGCPercent}, {"100", 100}, {"off", 100}} {
		t.Setenv("GOGC", tc.gogc)
		debug.SetGCPercent(100)
		agentGC()
		if got := debug.SetGCPercent(100); got != tc.wantPercent {
			t.Errorf("GOGC=%q: GC percent %d, want %d", tc.gogc, got, tc.wantPercent)
		}
	}
}

func TestAgentProcs(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	for n, want := range map[int]int{1: 1, 2: 1, 4: 1, 7: 1, 8: 2, 32: 8} {
		if got := agentProcsFor(n); got != want {
			t.Errorf("agentProcsFor(%d) = %d, want %d", n, got, want)
		}
	}
	t.Setenv("GOMAXPROCS", "")
	runtime.GOMAXPROCS(8)
	agentProcs()
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Errorf("GOMAXPROCS unset, 8 CPUs: agent runs with %d, want 2", got)
	}
	t.Setenv("GOMAXPROCS", "8")
	runtime.GOMAXPROCS(8)
	agentProcs()
	if got := runtime.GOMAXPROCS(0); got != 8 {
		t.Errorf("GOMAXPROCS=8: agent runs with %d, want the 8 it was told", got)
	}
}

func TestHeapProfileOff(t *testing.T) {
	rate := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = rate })
	for _, tc := range []struct {
		name, pprof, godebug string
		wantProfile          bool
	}{
		{name: "by default no heap profile"},
		{name: "the profiling endpoint keeps it", pprof: "127.0.0.1:6060", wantProfile: true},
		{name: "GODEBUG memprofilerate wins", godebug: "madvdontneed=1,memprofilerate=1", wantProfile: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(pprofEnv, tc.pprof)
			t.Setenv("GODEBUG", tc.godebug)
			runtime.MemProfileRate = 512 * 1024
			heapProfileOff()
			if got := runtime.MemProfileRate != 0; got != tc.wantProfile {
				t.Errorf("heap profile sampled: %v (rate %d), want %v", got, runtime.MemProfileRate, tc.wantProfile)
			}
		})
	}
}
