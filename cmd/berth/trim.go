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
