package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// pssKB is a process's proportional set size in KiB (Pss in /proc/<pid>/smaps_rollup):
// its resident pages, each shared one divided by the number of processes mapping it.
// RSS counts the berth binary's page-cache pages in full in every berth process that
// maps them (the API server's and the agent's, when they run the same file).
func pssKB(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no Pss in /proc/%d/smaps_rollup", pid)
}
