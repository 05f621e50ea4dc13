package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages drops the executable's clean, file-backed pages from the resident
// set once start-up is over: package initialisation and the runtime's start-up checks
// touch most of a large binary once and never again. Pages still in use fault straight
// back in from the page cache, so this changes what RSS shows, not what runs.
//
// It also collects the start-up garbage (decoded OpenAPI models, initial lists, etcd
// recovery) and hands the freed heap back to the kernel: the runtime would return it
// only gradually, minutes later.
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

func releaseStartupPages() {
	defer debug.FreeOSMemory()
	self, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Only read-only mappings of our own file: text and rodata, never data.
		if len(fields) < 6 || fields[5] != self || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
