package containerd

import (
	"context"
	"errors"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The test binary doubles as a fake containerd: started with BERTH_FAKE_CONTAINERD set, it
// reads the socket address from the config it is given and serves CRI Version there.
// BERTH_FAKE_CONTAINERD=ignore-term makes it ignore SIGTERM; =exit makes it die at once.
func TestMain(m *testing.M) {
	if mode := os.Getenv("BERTH_FAKE_CONTAINERD"); mode != "" {
		os.Exit(fakeContainerd(mode))
	}
	os.Exit(m.Run())
}

type fakeCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
}

func (fakeCRI) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "containerd", RuntimeVersion: "fake"}, nil
}

func fakeContainerd(mode string) int {
	if mode == "exit" {
		return 3
	}
	config, err := os.ReadFile(os.Args[len(os.Args)-1])
	if err != nil {
		return 1
	}
	m := regexp.MustCompile(`(?m)^\[grpc\]\n  address = "([^"]+)"`).FindSubmatch(config)
	if m == nil {
		return 1
	}
	_ = os.Remove(string(m[1]))
	lis, err := net.Listen("unix", string(m[1]))
	if err != nil {
		return 1
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, fakeCRI{})
	sigs := make(chan os.Signal, 1)
	if mode == "ignore-term" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	go func() {
		<-sigs
		srv.Stop()
	}()
	_ = srv.Serve(lis)
	return 0
}

func newFake(t *testing.T, mode string, opts Options) *Containerd {
	t.Helper()
	t.Setenv("BERTH_FAKE_CONTAINERD", mode)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	opts.Containerd = self
	opts.SandboxImage = "localhost/test/pause:1" // no preload: the fake has no image service
	opts.ReadyTimeout = 10 * time.Second
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 5 * time.Second
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t *testing.T, c *Containerd) StartResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pid := c.PID(); pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = c.Stop(context.Background())
	})
	return res
}

func alive(pid int) bool {
	// A zombie child still answers kill 0; ask /proc for its state.
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestStartWaitsForCRIAndStopTerminates(t *testing.T) {
	c := newFake(t, "serve", Options{})
	res := start(t, c)
	if res.PID == 0 || res.Version != "fake" || res.Adopted || res.Ready <= 0 {
		t.Errorf("Start = %+v", res)
	}
	if pidFile, _ := os.ReadFile(c.Paths().PIDFile); strings.TrimSpace(string(pidFile)) != strconv.Itoa(res.PID) {
		t.Errorf("pid file %q, want %d", pidFile, res.PID)
	}
	config, _ := os.ReadFile(c.Paths().Config)
	if !strings.Contains(string(config), `sandbox_image = "localhost/test/pause:1"`) {
		t.Errorf("config lacks the sandbox image:\n%s", config)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(res.PID) {
		t.Error("containerd still running after Stop")
	}
	if _, err := os.Stat(c.Paths().PIDFile); !errors.Is(err, os.ErrNotExist) {
		t.Error("pid file left after Stop")
	}
}

func TestRestartsAfterCrash(t *testing.T) {
	c := newFake(t, "serve", Options{})
	res := start(t, c)
	for i := 1; i <= 2; i++ {
		before := c.PID()
		if err := c.Kill(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "restart", func() bool { return c.Restarts() == i && c.PID() != 0 && c.PID() != before })
	}
	if c.PID() == res.PID {
		t.Error("same pid after restarts")
	}
}

func TestStopKillsWhenTermIsIgnored(t *testing.T) {
	c := newFake(t, "ignore-term", Options{StopTimeout: 100 * time.Millisecond})
	res := start(t, c)
	started := time.Now()
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(res.PID) {
		t.Error("still running after Stop")
	}
	if took := time.Since(started); took < 100*time.Millisecond {
		t.Errorf("Stop took %v: it did not wait for SIGTERM first", took)
	}
}

func TestLeaveRunningThenAdopt(t *testing.T) {
	dir := t.TempDir()
	first := newFake(t, "serve", Options{DataDir: dir, LeaveRunning: true})
	res := start(t, first)
	if err := first.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !alive(res.PID) {
		t.Fatal("LeaveRunning stopped containerd")
	}
	second := newFake(t, "serve", Options{DataDir: dir})
	adopted := start(t, second)
	if !adopted.Adopted || adopted.PID != res.PID {
		t.Fatalf("second Start = %+v, want adoption of %d", adopted, res.PID)
	}
	// An adopted containerd is supervised too: it is restarted when it dies, and stopped.
	if err := second.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restart of adopted containerd", func() bool { return second.Restarts() == 1 && second.PID() != 0 })
	pid := second.PID()
	if err := second.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stop", func() bool { return !alive(pid) })
}

func TestStartFailsWhenContainerdExits(t *testing.T) {
	c := newFake(t, "exit", Options{})
	_, err := c.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exited while starting") {
		t.Fatalf("Start = %v, want an early-exit error", err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSocketPathLimit(t *testing.T) {
	_, err := New(Options{DataDir: "/" + strings.Repeat("d", 100), SandboxImage: "x"})
	if err == nil {
		t.Fatal("accepted a data dir whose socket path cannot be bound")
	}
}
