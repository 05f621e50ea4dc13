package node

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine is what the node reads of the machine it runs on. Paths are settable so tests
// can feed their own /proc files.
type Machine struct {
	ProcDir string // default /proc
	EtcDir  string // default /etc
	SysDir  string // default /sys
}

func (m Machine) proc(name string) string { return orDefault(m.ProcDir, "/proc") + "/" + name }
func (m Machine) etc(name string) string  { return orDefault(m.EtcDir, "/etc") + "/" + name }
func (m Machine) sys(name string) string  { return orDefault(m.SysDir, "/sys") + "/" + name }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Memory is /proc/meminfo's view, in bytes.
type Memory struct{ Total, Available uint64 }

// Memory reads MemTotal and MemAvailable.
func (m Machine) Memory() (Memory, error) {
	raw, err := os.ReadFile(m.proc("meminfo"))
	if err != nil {
		return Memory{}, err
	}
	return parseMeminfo(raw)
}

func parseMeminfo(raw []byte) (Memory, error) {
	var mem Memory
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) == 3 && fields[2] == "kB" {
			v *= 1024
		}
		switch fields[0] {
		case "MemTotal:":
			mem.Total, seen = v, seen+1
		case "MemAvailable:":
			mem.Available, seen = v, seen+1
		}
	}
	if seen != 2 {
		return mem, fmt.Errorf("meminfo: MemTotal or MemAvailable missing")
	}
	return mem, nil
}

// Filesystem is statfs of the filesystem holding a path, in bytes and inodes.
type Filesystem struct{ Capacity, Available, Inodes, InodesFree uint64 }

// Filesystem stats the filesystem path lives on.
func (Machine) Filesystem(path string) (Filesystem, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Filesystem{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return Filesystem{Capacity: st.Blocks * bs, Available: st.Bavail * bs, Inodes: st.Files, InodesFree: st.Ffree}, nil
}

// PIDs counts the processes (and threads, which take pids too) against the limit.
type PIDs struct{ Max, Used uint64 }

// PIDs reads kernel/pid_max and the running thread count (from /proc/loadavg's fourth
// field, "running/total").
func (m Machine) PIDs() (PIDs, error) {
	raw, err := os.ReadFile(m.proc("sys/kernel/pid_max"))
	if err != nil {
		return PIDs{}, err
	}
	maxPIDs, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return PIDs{}, fmt.Errorf("pid_max: %w", err)
	}
	raw, err = os.ReadFile(m.proc("loadavg"))
	if err != nil {
		return PIDs{}, err
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 4 {
		return PIDs{}, fmt.Errorf("loadavg: %q", raw)
	}
	_, total, ok := strings.Cut(fields[3], "/")
	if !ok {
		return PIDs{}, fmt.Errorf("loadavg: %q", raw)
	}
	used, err := strconv.ParseUint(total, 10, 64)
	if err != nil {
		return PIDs{}, fmt.Errorf("loadavg: %w", err)
	}
	return PIDs{Max: maxPIDs, Used: used}, nil
}

// Info is the machine part of nodeInfo.
type Info struct {
	KernelVersion, OSImage, MachineID, SystemUUID, BootID string
}

// Info reads the kernel release, the OS's PRETTY_NAME and the machine/boot ids; any that
// cannot be read stay empty.
func (m Machine) Info() Info {
	var info Info
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		info.KernelVersion = unix.ByteSliceToString(uts.Release[:])
	}
	info.OSImage = "Linux"
	if raw, err := os.ReadFile(m.etc("os-release")); err == nil {
		if v := osReleaseValue(raw, "PRETTY_NAME"); v != "" {
			info.OSImage = v
		}
	}
	info.MachineID = readTrim(m.etc("machine-id"))
	info.SystemUUID = readTrim(m.sys("class/dmi/id/product_uuid"))
	info.BootID = readTrim(m.proc("sys/kernel/random/boot_id"))
	return info
}

func osReleaseValue(raw []byte, key string) string {
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return ""
}

func readTrim(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}
