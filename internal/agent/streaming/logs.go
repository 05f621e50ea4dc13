package streaming

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// LogOptions select what ReadLogs writes, as PodLogOptions do.
type LogOptions struct {
	// TailLines, when set, starts at the last N lines of the file (0: none).
	TailLines *int64
	// Since skips lines logged before it (zero: no bound).
	Since time.Time
	// Timestamps prefixes every line with its RFC3339Nano time.
	Timestamps bool
	// LimitBytes, when set, ends the output after that many bytes.
	LimitBytes *int64
	// Follow waits for more lines until the container stops or ctx ends.
	Follow bool
}

// Follower says how a followed log grows: Wait returns after Interval or when ctx ends,
// Running whether the container may still write.
type Follower struct {
	// Running reports whether the container still runs (nil: until ctx ends).
	Running func(ctx context.Context) bool
	// Interval is the polling period (default 250 ms); the container state is checked
	// every StateEvery polls without new data (default 4).
	Interval   time.Duration
	StateEvery int
}

// logLine is one parsed CRI log line.
type logLine struct {
	time    time.Time
	stream  string
	partial bool
	content []byte // with its newline for full lines
}

// parseCRILine parses "<RFC3339Nano> <stdout|stderr> <F|P[:...]> <content>\n" as the
// kubelet does; the newline of a partial (P) line is not part of its content.
func parseCRILine(raw []byte) (logLine, error) {
	var l logLine
	i := bytes.IndexByte(raw, ' ')
	if i < 0 {
		return l, errors.New("timestamp is not found")
	}
	t, err := time.Parse(time.RFC3339Nano, string(raw[:i]))
	if err != nil {
		return l, fmt.Errorf("unexpected timestamp format %q: %w", raw[:i], err)
	}
	l.time = t
	raw = raw[i+1:]
	if i = bytes.IndexByte(raw, ' '); i < 0 {
		return l, errors.New("stream type is not found")
	}
	l.stream = string(raw[:i])
	if l.stream != "stdout" && l.stream != "stderr" {
		return l, fmt.Errorf("unexpected stream type %q", l.stream)
	}
	raw = raw[i+1:]
	if i = bytes.IndexByte(raw, ' '); i < 0 {
		return l, errors.New("log tag is not found")
	}
	tag := raw[:i]
	if j := bytes.IndexByte(tag, ':'); j >= 0 {
		tag = tag[:j] // tags are forward compatible: "P:more"
	}
	l.partial = string(tag) == "P"
	l.content = raw[i+1:]
	if l.partial && len(l.content) > 0 && l.content[len(l.content)-1] == '\n' {
		l.content = l.content[:len(l.content)-1]
	}
	return l, nil
}

// errLimitReached ends a read once LimitBytes were written.
var errLimitReached = errors.New("limit reached")

// logWriter applies timestamps, since and the byte limit to parsed lines.
type logWriter struct {
	out        io.Writer
	opts       LogOptions
	remaining  int64 // bytes left under LimitBytes; <0: unlimited
	midLine    bool  // the last written line was partial: no timestamp before the rest
	skipRestOf bool  // the line being continued was before Since
}

func newLogWriter(out io.Writer, opts LogOptions) *logWriter {
	w := &logWriter{out: out, opts: opts, remaining: -1}
	if opts.LimitBytes != nil {
		w.remaining = *opts.LimitBytes
	}
	return w
}

func (w *logWriter) write(l logLine) error {
	if w.midLine {
		if w.skipRestOf {
			w.midLine = l.partial
			return nil
		}
	} else if !w.opts.Since.IsZero() && l.time.Before(w.opts.Since) {
		w.midLine, w.skipRestOf = l.partial, true
		return nil
	}
	var buf []byte
	if w.opts.Timestamps && !w.midLine {
		buf = append(l.time.AppendFormat(buf, time.RFC3339Nano), ' ')
	}
	buf = append(buf, l.content...)
	w.midLine, w.skipRestOf = l.partial, false
	if w.remaining >= 0 {
		if int64(len(buf)) >= w.remaining {
			buf = buf[:w.remaining]
			w.remaining = 0
			if _, err := w.out.Write(buf); err != nil {
				return err
			}
			return errLimitReached
		}
		w.remaining -= int64(len(buf))
	}
	_, err := w.out.Write(buf)
	return err
}

// tailOffset is where the last n lines of f (size bytes) start. An unterminated last
// line (a write in progress) counts as a line.
func tailOffset(f io.ReaderAt, size, n int64) (int64, error) {
	if n <= 0 {
		return size, nil
	}
	const block = 32 << 10
	buf := make([]byte, block)
	want := n + 1 // the newline ending the last line, then n more before the first
	pos := size
	first := true
	for pos > 0 {
		start := max(pos-block, 0)
		chunk := buf[:pos-start]
		if _, err := f.ReadAt(chunk, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if first {
			if chunk[len(chunk)-1] != '\n' {
				want = n
			}
			first = false
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' {
				continue
			}
			if want--; want == 0 {
				return start + int64(i) + 1, nil
			}
		}
		pos = start
	}
	return 0, nil
}

// ReadLogs writes the container log at path to out as opts say. With opts.Follow it
// keeps reading as the file grows — also across rotation (the runtime reopening a new
// file at path) — until the container stops running or ctx ends. A missing file is
// an error wrapping os.ErrNotExist.
func ReadLogs(ctx context.Context, path string, opts LogOptions, out io.Writer, fw Follower) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	if opts.TailLines != nil {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		off, err := tailOffset(f, st.Size(), *opts.TailLines)
		if err != nil {
			return err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
	}
	w := newLogWriter(out, opts)
	r := &lineReader{r: bufio.NewReaderSize(f, 64<<10)}
	err = r.drain(w)
	if !opts.Follow || err != nil {
		return ignoreLimit(err)
	}
	if fw.Interval <= 0 {
		fw.Interval = 250 * time.Millisecond
	}
	if fw.StateEvery <= 0 {
		fw.StateEvery = 4
	}
	ticker := time.NewTicker(fw.Interval)
	defer ticker.Stop()
	idle := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		n, err := r.drainCount(w)
		if err != nil {
			return ignoreLimit(err)
		}
		if n > 0 {
			idle = 0
			continue
		}
		// No new data: the file may have been rotated (a new file at path).
		if next, ok := reopened(f, path); ok {
			// Lines written to the old file after our last read are still in it.
			if err := r.drain(w); err != nil {
				return ignoreLimit(err)
			}
			f.Close()
			f = next
			r = &lineReader{r: bufio.NewReaderSize(f, 64<<10)}
			idle = 0
			continue
		}
		if idle++; idle%fw.StateEvery == 0 && fw.Running != nil && !fw.Running(ctx) {
			// Stopped: whatever it wrote before stopping is in the file now.
			return ignoreLimit(r.drain(w))
		}
	}
}

func ignoreLimit(err error) error {
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// reopened returns the file now at path when it is not f (rotation).
func reopened(f *os.File, path string) (*os.File, bool) {
	cur, err := f.Stat()
	if err != nil {
		return nil, false
	}
	st, err := os.Stat(path)
	if err != nil || os.SameFile(cur, st) {
		return nil, false
	}
	next, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	return next, true
}

// lineReader reads whole lines, keeping an unterminated tail (a write in progress)
// until the rest arrives.
type lineReader struct {
	r       *bufio.Reader
	pending []byte
}

func (lr *lineReader) drain(w *logWriter) error {
	_, err := lr.drainCount(w)
	return err
}

// drainCount writes every complete line available now and says how many bytes it read.
func (lr *lineReader) drainCount(w *logWriter) (int, error) {
	n := 0
	for {
		chunk, err := lr.r.ReadSlice('\n')
		n += len(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.pending = append(lr.pending, chunk...)
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return n, err
			}
			lr.pending = append(lr.pending, chunk...)
			return n, nil
		}
		line := chunk
		if len(lr.pending) > 0 {
			line = append(lr.pending, chunk...)
			lr.pending = lr.pending[:0]
		}
		l, perr := parseCRILine(line)
		if perr != nil {
			continue // as the kubelet: a malformed line is skipped
		}
		if err := w.write(l); err != nil {
			return n, err
		}
	}
}
