package main

import (
	"os"
	"runtime/debug"
)

// agentGCPercent is the node agent's GOGC unless the environment sets one. The agent's
// live heap is small (≈7 MB with 30 pods) and its idle allocation steady (the runtime
// relist every second), so with Go's default of 100 its heap doubled before each
// collection; at 50 it grows by half, for one more collection every half minute or so
// (a few milliseconds of CPU each). The API server keeps the default: it allocates far
// more per second and its CPU is what bounds throughput.
const agentGCPercent = 50

// agentGC applies agentGCPercent.
func agentGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(agentGCPercent)
	}
}
