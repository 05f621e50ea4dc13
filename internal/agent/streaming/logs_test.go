package streaming

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/syncbuf"
)

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// criLine formats one CRI log line logged i seconds after t0.
func criLine(i int, stream, tag, content string) string {
	return fmt.Sprintf("%s %s %s %s\n", t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), stream, tag, content)
}

func TestParseCRILine(t *testing.T) {
	for _, tc := range []struct {
		name, in    string
		wantErr     string
		wantStream  string
		wantPartial bool
		wantContent string
	}{
		{name: "full stdout", in: "2016-10-06T00:17:09.669794202Z stdout F log content 1\n", wantStream: "stdout", wantContent: "log content 1\n"},
		{name: "partial stderr drops its newline", in: "2016-10-06T00:17:09.669794203Z stderr P log content 2\n", wantStream: "stderr", wantPartial: true, wantContent: "log content 2"},
		{name: "tag with extensions", in: "2016-10-06T00:17:09.669794203Z stdout P:x:y part\n", wantStream: "stdout", wantPartial: true, wantContent: "part"},
		{name: "empty content", in: "2016-10-06T00:17:09Z stdout F \n", wantStream: "stdout", wantContent: "\n"},
		{name: "spaces in content kept", in: "2016-10-06T00:17:09Z stdout F  a  b \n", wantStream: "stdout", wantContent: " a  b \n"},
		{name: "no timestamp", in: "garbage\n", wantErr: "timestamp is not found"},
		{name: "bad timestamp", in: "yesterday stdout F x\n", wantErr: "unexpected timestamp format"},
		{name: "bad stream", in: "2016-10-06T00:17:09Z stdin F x\n", wantErr: `unexpected stream type "stdin"`},
		{name: "no tag", in: "2016-10-06T00:17:09Z stdout\n", wantErr: "stream type is not found"},
		{name: "no content", in: "2016-10-06T00:17:09Z stdout F\n", wantErr: "log tag is not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := parseCRILine([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.stream != tc.wantStream || l.partial != tc.wantPartial || string(l.content) != tc.wantContent {
				t.Fatalf("got stream=%q partial=%v content=%q", l.stream, l.partial, l.content)
			}
		})
	}
}

func writeLog(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadLogs(t *testing.T) {
	file := []string{
		criLine(0, "stdout", "F", "one"),
		criLine(1, "stderr", "F", "two"),
		criLine(2, "stdout", "P", "thr"),
		criLine(3, "stdout", "F", "ee"),
		"not a cri line\n",
		criLine(4, "stdout", "F", "four"),
	}
	ts := func(i int) string { return t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano) }
	for _, tc := range []struct {
		name  string
		lines []string
		opts  LogOptions
		want  string
	}{
		{name: "everything, partial lines joined, bad line skipped", lines: file, want: "one\ntwo\nthree\nfour\n"},
		{name: "timestamps once per line", lines: file, opts: LogOptions{Timestamps: true},
			want: ts(0) + " one\n" + ts(1) + " two\n" + ts(2) + " three\n" + ts(4) + " four\n"},
		{name: "tail 2 counts file lines", lines: file, opts: LogOptions{TailLines: ptr[int64](2)}, want: "four\n"},
		{name: "tail 3", lines: file, opts: LogOptions{TailLines: ptr[int64](3)}, want: "ee\nfour\n"},
		{name: "tail more than there is", lines: file, opts: LogOptions{TailLines: ptr[int64](100)}, want: "one\ntwo\nthree\nfour\n"},
		{name: "tail 0", lines: file, opts: LogOptions{TailLines: ptr[int64](0)}, want: ""},
		{name: "tail with unterminated last line", lines: []string{criLine(0, "stdout", "F", "a"), criLine(1, "stdout", "F", "b"), strings.TrimSuffix(criLine(2, "stdout", "F", "c"), "\n")},
			opts: LogOptions{TailLines: ptr[int64](1)}, want: ""},
		{name: "since skips older lines", lines: file, opts: LogOptions{Since: t0.Add(1500 * time.Millisecond)}, want: "three\nfour\n"},
		{name: "since skips the rest of an older partial line", lines: file, opts: LogOptions{Since: t0.Add(2500 * time.Millisecond)}, want: "four\n"},
		{name: "since equal is kept", lines: file, opts: LogOptions{Since: t0.Add(time.Second)}, want: "two\nthree\nfour\n"},
		{name: "limit bytes cuts mid-line", lines: file, opts: LogOptions{LimitBytes: ptr[int64](6)}, want: "one\ntw"},
		{name: "limit bytes with timestamps counts the prefix", lines: file, opts: LogOptions{LimitBytes: ptr[int64](int64(len(ts(0)) + 3)), Timestamps: true}, want: ts(0) + " on"},
		{name: "tail and since together", lines: file, opts: LogOptions{TailLines: ptr[int64](3), Since: t0.Add(3 * time.Second)}, want: "ee\nfour\n"},
		{name: "tail starting inside an older partial line", lines: file, opts: LogOptions{TailLines: ptr[int64](4), Since: t0.Add(3 * time.Second)}, want: "four\n"},
		{name: "empty file", lines: nil, want: ""},
		{name: "long line over the buffer", lines: []string{criLine(0, "stdout", "F", strings.Repeat("x", 200<<10))}, want: strings.Repeat("x", 200<<10) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeLog(t, tc.lines...)
			var out bytes.Buffer
			if err := ReadLogs(context.Background(), path, tc.opts, &out, Follower{}); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("got %q\nwant %q", out.String(), tc.want)
			}
		})
	}
}

func TestReadLogsMissingFile(t *testing.T) {
	err := ReadLogs(context.Background(), filepath.Join(t.TempDir(), "none.log"), LogOptions{}, &bytes.Buffer{}, Follower{})
	if !os.IsNotExist(err) {
		t.Fatalf("err = %v, want not exist", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func appendTo(t *testing.T, path string, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestReadLogsFollow(t *testing.T) {
	path := writeLog(t, criLine(0, "stdout", "F", "first"))
	var running sync.Mutex
	isRunning := true
	fw := Follower{Interval: time.Millisecond, StateEvery: 1, Running: func(context.Context) bool {
		running.Lock()
		defer running.Unlock()
		return isRunning
	}}
	out := &syncbuf.Buffer{} // written by ReadLogs while the test polls it
	done := make(chan error, 1)
	go func() { done <- ReadLogs(context.Background(), path, LogOptions{Follow: true}, out, fw) }()
	waitFor(t, "first line", func() bool { return out.String() == "first\n" })

	// A line written in two writes is printed once it is whole.
	line := criLine(1, "stdout", "F", "second")
	appendTo(t, path, line[:10])
	appendTo(t, path, line[10:])
	waitFor(t, "second line", func() bool { return out.String() == "first\nsecond\n" })

	// Rotation: the old file is renamed with a line the reader has not seen yet, and
	// the runtime reopens a new file at the same path.
	appendTo(t, path, criLine(2, "stdout", "F", "last in old file"))
	if err := os.Rename(path, path+".20261101-100002"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, criLine(3, "stdout", "F", "first in new file"))
	waitFor(t, "lines across rotation", func() bool {
		return out.String() == "first\nsecond\nlast in old file\nfirst in new file\n"
	})

	// The container stops after a last line: it is printed, then the read ends.
	appendTo(t, path, criLine(4, "stderr", "F", "bye"))
	running.Lock()
	isRunning = false
	running.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after the container stopped")
	}
	if got, want := out.String(), "first\nsecond\nlast in old file\nfirst in new file\nbye\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestReadLogsFollowEndsWithContext(t *testing.T) {
	path := writeLog(t, criLine(0, "stdout", "F", "x"))
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{} // written by ReadLogs while the test polls it
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(ctx, path, LogOptions{Follow: true, TailLines: ptr[int64](0)}, out, Follower{Interval: time.Millisecond})
	}()
	// The reader may open the file after a line is appended (and so skip it with tail
	// 0): append until one shows.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for out.String() == "" {
		if time.Now().After(deadline) {
			t.Fatal("no line after tail 0")
		}
		appendTo(t, path, criLine(1, "stdout", "F", "y"))
		<-tick.C
	}
	if got := strings.ReplaceAll(out.String(), "y\n", ""); got != "" {
		t.Fatalf("unexpected output %q", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestReadLogsFollowLimitBytes(t *testing.T) {
	path := writeLog(t, criLine(0, "stdout", "F", "abc"))
	out := &syncbuf.Buffer{} // written by ReadLogs while the test polls it
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(context.Background(), path, LogOptions{Follow: true, LimitBytes: ptr[int64](6)}, out, Follower{Interval: time.Millisecond})
	}()
	appendTo(t, path, criLine(1, "stdout", "F", "defgh"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "abc\nde" {
		t.Fatalf("got %q", got)
	}
}
