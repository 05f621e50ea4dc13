package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestAgentGC(t *testing.T) {
	rate := runtime.MemProfileRate
	t.Cleanup(func() {
		runtime.MemProfileRate = rate
		debug.SetGCPercent(100)
	})
	for _, tc := range []struct {
		name, gogc, pprof, godebug string
		wantPercent                int
		wantProfile                bool
	}{
		{name: "defaults: GOGC 50, no heap profile", wantPercent: agentGCPercent},
		{name: "the profiling endpoint keeps the heap profile", pprof: "127.0.0.1:6060", wantPercent: agentGCPercent, wantProfile: true},
		{name: "GODEBUG memprofilerate wins", godebug: "madvdontneed=1,memprofilerate=1", wantPercent: agentGCPercent, wantProfile: true},
		{name: "GOGC wins", gogc: "100", wantPercent: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			t.Setenv(pprofEnv, tc.pprof)
			t.Setenv("GODEBUG", tc.godebug)
			runtime.MemProfileRate = 512 * 1024
			debug.SetGCPercent(100)
			agentGC()
			if got := debug.SetGCPercent(100); got != tc.wantPercent {
				t.Errorf("GC percent %d, want %d", got, tc.wantPercent)
			}
			if got := runtime.MemProfileRate != 0; got != tc.wantProfile {
				t.Errorf("heap profile sampled: %v (rate %d), want %v", got, runtime.MemProfileRate, tc.wantProfile)
			}
		})
	}
}
