package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReadOnlyExecMappings(t *testing.T) {
	const exe = "/usr/local/bin/berth"
	for _, tc := range []struct {
		name string
		maps string
		want []execMapping
	}{
		{
			name: "text and rodata of the binary, not its data, heap or other files",
			maps: `00400000-0258c000 r-xp 00000000 fe:00 10002756                           /usr/local/bin/berth
0258c000-04e14000 r--p 0218c000 fe:00 10002756                           /usr/local/bin/berth
04e14000-04f90000 rw-p 04a14000 fe:00 10002756                           /usr/local/bin/berth
04f90000-06fe1000 rw-p 00000000 00:00 0
0d3e1000-0d402000 rw-p 00000000 00:00 0                                  [heap]
7f3c5a000000-7f3c5a021000 r-xp 00000000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
7ffd0a1f3000-7ffd0a214000 rw-p 00000000 00:00 0                          [stack]
7ffd0a3c6000-7ffd0a3c8000 r-xp 00000000 00:00 0                          [vdso]
`,
			want: []execMapping{{0x400000, 0x258c000, "r-xp"}, {0x258c000, 0x4e14000, "r--p"}},
		},
		{
			name: "replaced binary (deleted) still ours",
			maps: "00400000-0258c000 r-xp 00000000 fe:00 10002756 /usr/local/bin/berth (deleted)\n",
			want: []execMapping{{0x400000, 0x258c000, "r-xp"}},
		},
		{
			name: "shared or writable mappings of the binary are left alone",
			maps: `00400000-00500000 r-xs 00000000 fe:00 1 /usr/local/bin/berth
00500000-00600000 rwxp 00000000 fe:00 1 /usr/local/bin/berth
00600000-00700000 ---p 00000000 fe:00 1 /usr/local/bin/berth
`,
		},
		{
			name: "another file whose name starts like ours",
			maps: "00400000-00500000 r-xp 00000000 fe:00 2 /usr/local/bin/berth-old\n",
		},
		{
			name: "a path with spaces",
			maps: "00400000-00500000 r--p 00000000 fe:00 2 /opt/my tools/berth\n",
		},
		{
			name: "malformed lines are skipped",
			maps: `zzzz-00500000 r-xp 00000000 fe:00 2 /usr/local/bin/berth
00500000 r-xp 00000000 fe:00 2 /usr/local/bin/berth
00600000-00500000 r-xp 00000000 fe:00 2 /usr/local/bin/berth
00400000-00500000 r-xp

00700000-00800000 r--p 00000000 fe:00 2 /usr/local/bin/berth
`,
			want: []execMapping{{0x700000, 0x800000, "r--p"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readOnlyExecMappings(strings.NewReader(tc.maps), exe)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	got, err := readOnlyExecMappings(strings.NewReader("00400000-00500000 r--p 00000000 fe:00 2 /opt/my tools/berth\n"), "/opt/my tools/berth")
	if err != nil || len(got) != 1 {
		t.Errorf("path with spaces as exe: %+v, %v", got, err)
	}
}

// TestReleaseStartupPages drops this test binary's start-up pages (its package inits
// touched much of it, as berth's do) and checks the process goes on normally: code,
// reflection over read-only type data, allocation and collections all fault back what
// they need.
func TestReleaseStartupPages(t *testing.T) {
	before, err := readResident()
	if err != nil {
		t.Fatal(err)
	}
	res, err := releaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	if res.mappings < 2 {
		t.Errorf("released %d mappings, want text and rodata at least", res.mappings)
	}
	t.Logf("RssFile %d → %d KiB, RssAnon %d → %d KiB", res.before.file, res.after.file, res.before.anon, res.after.anon)
	// The inits of everything cmd/berth links leave tens of MB of the binary resident;
	// what is left after the call is what the few instructions since touched.
	if before.file < 8<<10 || res.after.file > res.before.file/2 {
		t.Errorf("RssFile %d → %d KiB: want it at least halved", res.before.file, res.after.file)
	}

	// The program still runs: a command through run, JSON (reflection over rodata),
	// allocation and a collection of it.
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "berth ") {
		t.Errorf("run version = %d, %q", code, out.String())
	}
	if code := run([]string{"server", "--log-level", "loud"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("run server with a bad flag = %d, want 2", code)
	}
	type item struct {
		Name  string
		Ports []int
	}
	var kept [][]byte
	for i := range 2000 {
		raw, err := json.Marshal(item{Name: strings.Repeat("x", i%64), Ports: []int{i, i + 1}})
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, raw)
	}
	runtime.GC()
	var back item
	if err := json.Unmarshal(kept[1999], &back); err != nil || back.Ports[1] != 2000 {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if base, count, err := parsePortRange("30000-32767"); err != nil || base != 30000 || count != 2768 {
		t.Errorf("parsePortRange = %d, %d, %v", base, count, err)
	}
	after, err := readResident()
	if err != nil {
		t.Fatal(err)
	}
	if after.file <= res.after.file {
		t.Errorf("RssFile %d KiB after running code, want more than the %d right after the release (pages fault back)", after.file, res.after.file)
	}
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Fatal(err)
	}
}

func TestReleaseAfterStartup(t *testing.T) {
	closed := func() <-chan struct{} {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	none := func() <-chan struct{} { return nil }
	never := func() <-chan struct{} { return make(chan struct{}) }
	for _, tc := range []struct {
		name     string
		ready    []func() <-chan struct{}
		cancel   bool
		released bool
	}{
		{name: "all ready", ready: []func() <-chan struct{}{closed, closed}, released: true},
		{name: "a nil channel counts as ready", ready: []func() <-chan struct{}{closed, none}, released: true},
		{name: "nothing to wait for", released: true},
		{name: "never ready: stops with ctx, no release", ready: []func() <-chan struct{}{closed, never}, cancel: true},
		{name: "cancelled during the settle: no release", ready: []func() <-chan struct{}{closed}, cancel: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			settle := time.Duration(0)
			if tc.cancel {
				settle = time.Hour
				// The wait is cancelled once it is under way; either way it must not release.
				go cancel()
			}
			calls := 0
			got := releaseAfterStartup(ctx, settle, func() { calls++ }, tc.ready...)
			if got != tc.released || calls != map[bool]int{true: 1, false: 0}[tc.released] {
				t.Errorf("released = %v after %d calls, want %v", got, calls, tc.released)
			}
		})
	}
	// Each readiness is asked for only once the one before it closed (the agent's proxy
	// channel exists only after the agent is ready).
	first := make(chan struct{})
	done := make(chan bool)
	go func() {
		done <- releaseAfterStartup(t.Context(), 0, func() {}, func() <-chan struct{} { return first },
			func() <-chan struct{} {
				select {
				case <-first:
				default:
					t.Error("second readiness asked for before the first closed")
				}
				return nil
			})
	}()
	close(first)
	if !<-done {
		t.Error("not released after both")
	}
}
