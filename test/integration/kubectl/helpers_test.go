package kubectl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/syncbuf"
	"github.com/berth/berth/test/integration/framework"
)

// env runs the real kubectl against the shared cluster, in a namespace of its own.
type env struct {
	c  *framework.Cluster
	ns string
}

// newEnv creates namespace ns with kubectl and returns an env working in it.
func newEnv(t *testing.T, c *framework.Cluster, ns string) *env {
	t.Helper()
	e := &env{c: c, ns: ns}
	wantOut(t, e.kubectl(t, "", nil, "create", "namespace", ns), "namespace/"+ns+" created\n")
	// As in Kubernetes, every namespace soon holds the default ServiceAccount and the
	// kube-root-ca.crt ConfigMap; wait for them so outputs that list everything are stable.
	framework.Eventually(t, 30*time.Second, "namespace defaults in "+ns, func() bool {
		_, errSA := c.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		_, errCM := c.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), "kube-root-ca.crt", metav1.GetOptions{})
		return errSA == nil && errCM == nil
	})
	return e
}

// kubectl runs kubectl with stdin and extra environment variables; the namespace flag
// comes first so that every command (and -A) can override it.
func (e *env) kubectl(t *testing.T, stdin string, extraEnv []string, args ...string) framework.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, framework.KubectlPath(t), e.args(args)...)
	cmd.Env = append(e.environ(), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return framework.Result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

func (e *env) args(args []string) []string {
	out := []string{"--kubeconfig", e.c.Kubeconfig}
	if e.ns != "" {
		out = append(out, "--namespace", e.ns)
	}
	return append(out, args...)
}

// environ is the framework's kubectl environment: a discovery cache and HOME in the
// cluster's data dir, so that runs share what the first one fetched.
func (e *env) environ() []string {
	return append(os.Environ(), "KUBECACHEDIR="+filepath.Join(e.c.DataDir, "kubecache"), "HOME="+e.c.DataDir)
}

// run runs kubectl in the env's namespace.
func (e *env) run(t *testing.T, args ...string) framework.Result {
	t.Helper()
	return e.kubectl(t, "", nil, args...)
}

// stdin runs kubectl with input on stdin (manifests for -f -).
func (e *env) stdin(t *testing.T, input string, args ...string) framework.Result {
	t.Helper()
	return e.kubectl(t, input, nil, args...)
}

// must runs kubectl and fails the test unless it exits 0; it returns stdout.
func (e *env) must(t *testing.T, args ...string) string {
	t.Helper()
	return mustSucceed(t, args, e.run(t, args...))
}

// mustStdin is must with input on stdin.
func (e *env) mustStdin(t *testing.T, input string, args ...string) string {
	t.Helper()
	return mustSucceed(t, args, e.stdin(t, input, args...))
}

func mustSucceed(t *testing.T, args []string, r framework.Result) string {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// exitCode is kubectl's exit status (0 on success, -1 when it did not run).
func exitCode(r framework.Result) int {
	if r.Err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if errors.As(r.Err, &exitErr) {
		return exitErr.ExitCode()
	}
	return -1
}

// wantOut checks that kubectl succeeded and printed exactly want on stdout.
func wantOut(t *testing.T, r framework.Result, want string) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("kubectl failed: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
	}
	if r.Stdout != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s\nstderr:\n%s", r.Stdout, want, r.Stderr)
	}
}

// wantErr checks that kubectl exited with status 1 and printed exactly want on stderr.
func wantErr(t *testing.T, r framework.Result, want string) {
	t.Helper()
	if code := exitCode(r); code != 1 {
		t.Fatalf("exit code %d, want 1 (err %v)\nstdout:\n%s\nstderr:\n%s", code, r.Err, r.Stdout, r.Stderr)
	}
	if r.Stderr != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", r.Stderr, want)
	}
}

// lines splits output into its lines, without the final newline.
func lines(out string) []string {
	out = strings.TrimSuffix(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

var columnGap = regexp.MustCompile(`\s{2,}|\t`)

// cells splits one line of kubectl's table output into its cells (columns are separated
// by two spaces or more; headers such as "NOMINATED NODE" hold one space).
func cells(line string) []string {
	return columnGap.Split(strings.TrimSpace(line), -1)
}

// table parses kubectl's table output into a header and rows of cells. kubectl aligns
// every column, so a cell starts where its header does (cells may be empty).
func table(t *testing.T, out string) (header []string, rows [][]string) {
	t.Helper()
	ls := lines(out)
	if len(ls) == 0 {
		t.Fatalf("no table in output %q", out)
	}
	header = cells(ls[0])
	starts := make([]int, len(header))
	from := 0
	for i, h := range header {
		starts[i] = from + strings.Index(ls[0][from:], h)
		from = starts[i] + len(h)
	}
	for _, l := range ls[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		row := make([]string, len(header))
		for i, start := range starts {
			end := len(l)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(l))
			}
			if start < len(l) {
				row[i] = strings.TrimSpace(l[start:end])
			}
		}
		rows = append(rows, row)
	}
	return header, rows
}

// wantHeader checks the column headers of a table.
func wantHeader(t *testing.T, out string, want ...string) {
	t.Helper()
	header, _ := table(t, out)
	if strings.Join(header, "|") != strings.Join(want, "|") {
		t.Fatalf("header %q, want %q\noutput:\n%s", header, want, out)
	}
}

// column returns the cells of one column, by header name.
func column(t *testing.T, out, name string) []string {
	t.Helper()
	header, rows := table(t, out)
	idx := -1
	for i, h := range header {
		if h == name {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatalf("no column %q in %q", name, header)
	}
	var col []string
	for _, r := range rows {
		col = append(col, r[idx])
	}
	return col
}

// wantColumn checks the cells of one column, in order.
func wantColumn(t *testing.T, out, name string, want ...string) {
	t.Helper()
	if got := column(t, out, name); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("column %s = %q, want %q\noutput:\n%s", name, got, want, out)
	}
}

// background is a kubectl that keeps running (get -w), read line by line.
type background struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	// stderrDone is closed once stderr is read to its end (startWatch only).
	stderrDone chan struct{}
}

// start runs kubectl in the background; t.Cleanup kills it by its PID and waits for it.
func (e *env) start(t *testing.T, args ...string) *background {
	t.Helper()
	b, _ := e.startLogged(t, nil, args...)
	return b
}

// startWatch runs kubectl get -w in the background like start, and returns once kubectl
// has logged (-v=6) the answer to its watch request: every change from then on is printed.
// Before that a change may fall into kubectl's initial list instead, which --watch-only
// does not print.
func (e *env) startWatch(t *testing.T, args ...string) *background {
	t.Helper()
	watching := make(chan struct{})
	var once sync.Once
	b, stderr := e.startLogged(t, func(line string) {
		if strings.Contains(line, "watch=true") && strings.Contains(line, `status="200 OK"`) {
			once.Do(func() { close(watching) })
		}
	}, append([]string{"-v=6"}, args...)...)
	select {
	case <-watching:
	case <-b.stderrDone:
		t.Fatalf("kubectl %s ended before its watch was answered:\n%s", strings.Join(args, " "), stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl %s: no watch answered within 30s:\n%s", strings.Join(args, " "), stderr.String())
	}
	return b
}

// startLogged starts kubectl; with onStderr, each stderr line is also passed to it as it
// comes. It returns the process and its stderr so far.
func (e *env) startLogged(t *testing.T, onStderr func(line string), args ...string) (*background, *syncbuf.Buffer) {
	t.Helper()
	cmd := exec.Command(framework.KubectlPath(t), e.args(args)...)
	cmd.Env = e.environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	var stderrPipe io.Reader
	if onStderr == nil {
		cmd.Stderr = stderr
	} else if stderrPipe, err = cmd.StderrPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &background{cmd: cmd, lines: make(chan string, 100), done: make(chan struct{})}
	go b.read(stdout)
	if stderrPipe != nil {
		b.stderrDone = make(chan struct{})
		go func() {
			defer close(b.stderrDone)
			sc := bufio.NewScanner(stderrPipe)
			for sc.Scan() {
				_, _ = stderr.Write(append(sc.Bytes(), '\n'))
				onStderr(sc.Text())
			}
		}()
	}
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("kubectl %s stderr:\n%s", strings.Join(args, " "), stderr.String())
		}
	})
	return b, stderr
}

// read forwards stdout lines until the process closes it (the reader owns lines).
func (b *background) read(r io.Reader) {
	defer close(b.done)
	defer close(b.lines)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		b.lines <- sc.Text()
	}
}

// stop kills the process by its PID and waits until its output is drained.
func (b *background) stop() {
	_ = b.cmd.Process.Kill()
	for range b.lines {
	}
	<-b.done
	if b.stderrDone != nil {
		<-b.stderrDone
	}
	_ = b.cmd.Wait()
}

// next returns the next line that matches, failing the test after timeout. Lines that do
// not match are returned in skipped (controllers may add updates of their own).
func (b *background) next(t *testing.T, timeout time.Duration, match func(line string) bool) (line string, skipped []string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				t.Fatalf("kubectl ended before a matching line; lines seen: %q", skipped)
			}
			if match(l) {
				return l, skipped
			}
			skipped = append(skipped, l)
		case <-deadline.C:
			t.Fatalf("no matching line within %s; lines seen: %q", timeout, skipped)
		}
	}
}

// rowFor matches a table line whose cells start with the given ones.
func rowFor(prefix ...string) func(string) bool {
	return func(line string) bool {
		c := cells(line)
		if len(c) < len(prefix) {
			return false
		}
		for i, p := range prefix {
			if c[i] != p {
				return false
			}
		}
		return true
	}
}
