// Package proc reads what the benchmarks report about a process from /proc: its CPU time
// and its memory.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, 100 on Linux everywhere Go runs.
const clockTicks = 100

// CPUTime is the user+system CPU time process pid has used.
func CPUTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces) start after the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+2:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// Memory is a process's resident set, in KiB: now (VmRSS), its peak (VmHWM), and the
// anonymous and file-backed parts of it.
type Memory struct {
	RSS, Peak, Anon, File int64
}

// ReadMemory reads /proc/<pid>/status.
func ReadMemory(pid int) (Memory, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(raw), "\n") {
		key, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var field *int64
		switch key {
		case "VmRSS":
			field = &m.RSS
		case "VmHWM":
			field = &m.Peak
		case "RssAnon":
			field = &m.Anon
		case "RssFile":
			field = &m.File
		default:
			continue
		}
		if *field, err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err != nil {
			return Memory{}, fmt.Errorf("parse /proc/%d/status %s: %w", pid, key, err)
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("no VmRSS for process %d", pid)
	}
	return m, nil
}
