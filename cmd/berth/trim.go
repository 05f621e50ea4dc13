package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// agentGCPercent is the node agent's GOGC unless the environment sets one. The agent's
// live heap is small (≈5 MB in use with 30 pods, half of it package inits) and its idle
// allocation steady (the runtime relist every second), so with Go's default of 100 its
// heap doubled before each collection. On a node memory belongs to the pods: at 30 the
// heap grows by under a third, anon RSS with 30 pods 13.5 → 12 MB, for collections that
// cost no measurable idle CPU (0.2–0.3 % either way) nor pod start latency. The API
// server keeps the default: it allocates far more per second and its CPU is what bounds
// throughput.
const agentGCPercent = 30

// agentGC applies agentGCPercent unless GOGC is set.
func agentGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(agentGCPercent)
	}
}

// agentProcs gives the node agent a quarter of the CPUs the process may use (at least
// one) unless GOMAXPROCS is set. Its own work is small beside what it drives — ≈25 ms of
// CPU per pod started and stopped, against ≈0.3 CPU-s of containerd, shims, runc and CNI
// plugins — and is mostly waiting on them and on the API server. With a P per core, its
// bursts of wake-ups kept idle Ps spinning to find work and its collections ran a mark
// worker per P. go run ./bench/podstartup, alternating, on 2 cores (one P instead of
// two): RSS with 30 pods 38.6 / 38.5 / 39.8 MB against 39.2 / 40.6 / 39.6 (per-P caches
// and the runtime's scheduling code), CPU per pod 21–23 ms against 25.5–27.5, 30 pods at
// once p99 4.8–5.0 s against 5.1 s. On a 32-core node it still has 8.
func agentProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(agentProcsFor(runtime.GOMAXPROCS(0)))
	}
}

// agentProcsFor is the agent's share of n CPUs.
func agentProcsFor(n int) int { return max(1, n/4) }

// heapProfileOff stops the heap profile's sampling in the server and the agent when
// nothing can read it.
//
// The runtime records the stack of one allocation per 512 KB allocated, for a heap
// profile that only the developers' endpoint (BERTH_PPROF_ADDR, pprof.go) serves. Each
// record walks the allocating stack through the binary's tables (pclntab), pulling their
// pages back into the resident set after the start-up release, and keeps a bucket per
// distinct stack in a hash table of its own (BuckHashSys ≈ 1.5 MB); a busy server
// allocates hundreds of MB a second. With the endpoint off nobody reads the profile, so
// it is not sampled; GODEBUG=memprofilerate=N still wins.
func heapProfileOff() {
	if os.Getenv(pprofEnv) == "" && !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		runtime.MemProfileRate = 0
	}
}
