package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The binary's start-up pages. Package initialisation (≈450 inits in berth) and the
// start-up itself touch code and read-only data scattered over the whole executable, and
// the kernel maps every such fault's 64 KB neighbourhood from the page cache (fault-
// around): a berth process that has only run its inits already has ≈40 MB of the binary
// resident. Once start-up is over, most of that is never used again. Dropping our
// private, read-only mappings of the executable (MADV_DONTNEED) takes those pages out of
// this process's resident set only: they stay in the page cache, shared with any other
// berth process, and whatever the running process still uses faults straight back in.
//
// It is done once, after start-up — not periodically: the aim is to let go of what only
// start-up touched, not to keep a figure low by throwing out pages the process uses.

// execMapping is one read-only, private mapping of the executable in /proc/self/maps.
type execMapping struct {
	start, end uintptr
	perms      string
}

// readOnlyExecMappings returns the mappings of exe in a /proc/<pid>/maps listing that are
// private, readable and not writable: text and rodata, never data or bss.
func readOnlyExecMappings(maps io.Reader, exe string) ([]execMapping, error) {
	var out []execMapping
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// address perms offset dev inode [path] — the path may hold spaces and, when the
		// file was replaced since, ends in " (deleted)" (os.Executable strips that too).
		fields := strings.SplitN(strings.TrimSpace(sc.Text()), " ", 6)
		if len(fields) < 6 {
			continue
		}
		path := strings.TrimSuffix(strings.TrimSpace(fields[5]), " (deleted)")
		perms := fields[1]
		if path != exe || len(perms) != 4 || perms[0] != 'r' || perms[1] == 'w' || perms[3] != 'p' {
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
		out = append(out, execMapping{start: uintptr(start), end: uintptr(end), perms: perms})
	}
	return out, sc.Err()
}

// residentKB is what /proc/self/status says of the resident set, in KiB.
type residentKB struct{ anon, file int64 }

func readResident() (residentKB, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return residentKB{}, err
	}
	var r residentKB
	for _, line := range strings.Split(string(raw), "\n") {
		key, v, ok := strings.Cut(line, ":")
		if !ok || (key != "RssAnon" && key != "RssFile") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return residentKB{}, fmt.Errorf("/proc/self/status %s: %w", key, err)
		}
		if key == "RssAnon" {
			r.anon = n
		} else {
			r.file = n
		}
	}
	return r, nil
}

// releaseResult says what releaseStartupPages did.
type releaseResult struct {
	mappings      int
	before, after residentKB
}

// releaseStartupPages collects start-up's garbage and hands the freed heap back to the
// kernel (the runtime would return it only gradually, minutes later), then drops the
// executable's read-only pages from the resident set. The collection comes first: it
// reads the binary's tables (stack maps, types), which would otherwise fault straight
// back in.
func releaseStartupPages() (releaseResult, error) {
	var res releaseResult
	var err error
	if res.before, err = readResident(); err != nil {
		return res, err
	}
	debug.FreeOSMemory()
	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return res, err
	}
	mappings, err := readOnlyExecMappings(f, exe)
	f.Close()
	if err != nil {
		return res, err
	}
	for _, m := range mappings {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			return res, fmt.Errorf("madvise %x-%x %s: %w", m.start, m.end, m.perms, errno)
		}
		res.mappings++
	}
	res.after, err = readResident()
	return res, err
}

// releaseAfterStartup waits until each of ready has closed (in order: each is asked for
// its channel only once the one before closed; a nil channel counts as closed), then for
// settle more, and calls release — once. It returns false, without releasing, when ctx
// ends first.
func releaseAfterStartup(ctx context.Context, settle time.Duration, release func(), ready ...func() <-chan struct{}) bool {
	for _, r := range ready {
		ch := r()
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	t := time.NewTimer(settle)
	defer t.Stop()
	select {
	case <-t.C:
		release()
		return true
	case <-ctx.Done():
		return false
	}
}

// logRelease runs releaseStartupPages and logs, at debug level, what it freed.
func logRelease(log *slog.Logger) {
	res, err := releaseStartupPages()
	if err != nil {
		log.Debug("start-up pages not released", "err", err)
		return
	}
	log.Debug("released start-up pages", "mappings", res.mappings,
		"rssFileKBBefore", res.before.file, "rssFileKBAfter", res.after.file,
		"rssAnonKBBefore", res.before.anon, "rssAnonKBAfter", res.after.anon)
}
