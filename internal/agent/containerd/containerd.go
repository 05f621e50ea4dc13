package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth/berth/internal/agent/cri"
)

// Options configure the node's containerd.
type Options struct {
	// DataDir is the agent's data dir; containerd lives under <DataDir>/containerd.
	DataDir string
	// Binaries; empty means the Debian package's paths.
	Containerd, Ctr, Runc string
	// CNIBinDir (default /usr/lib/cni) and CNIConfDir (default <DataDir>/cni/net.d).
	CNIBinDir, CNIConfDir string
	// SandboxImage is the pause image containerd uses for pod sandboxes. Empty: berth's
	// own pause image, which Start imports (see PauseImage).
	SandboxImage string
	// Preload are images imported whenever containerd is (re)started and lacks them.
	Preload []Image
	// NetNS, when set (e.g. /run/netns/<name>), starts containerd — and so every pod
	// network it sets up — inside that network namespace. Tests use it to isolate nodes.
	NetNS string
	// StreamAddress is where the CRI streaming server listens (default 127.0.0.1, any port).
	StreamAddress string
	// LogLevel of containerd (default "info").
	LogLevel string
	// LeaveRunning makes Stop leave containerd (and the pods) running for the next agent.
	LeaveRunning bool
	// ReadyTimeout bounds each wait for the CRI to answer (default 30 s).
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL (default 10 s).
	StopTimeout time.Duration
	Log         *slog.Logger
}

// Image is an image the node must always have, and how to produce its archive.
type Image struct {
	Ref string // normalized reference, e.g. "localhost/berth/pause:0123abcd"
	ID  string // config digest; a present image with another ID is replaced
	// WriteArchive writes an OCI or docker archive of the image.
	WriteArchive func(w io.Writer) error
}

// StartResult says what Start did.
type StartResult struct {
	PID     int
	Adopted bool          // an already running containerd was taken over
	Ready   time.Duration // from starting the process (or adopting it) to the CRI answering
	Version string        // containerd's version as the CRI reports it
	// Imported lists preloaded images that were missing and got imported, in ImportTime.
	Imported   []string
	ImportTime time.Duration
}

// Containerd supervises one containerd process.
type Containerd struct {
	opts  Options
	paths Paths
	log   *slog.Logger

	// ctx lives from Start to Stop; it bounds restarts and readiness waits.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor goroutine has returned

	mu       sync.Mutex
	proc     *process
	restarts int
}

// Defaults.
const (
	DefaultContainerd = "/usr/bin/containerd"
	DefaultCtr        = "/usr/bin/ctr"
	DefaultRunc       = "/usr/sbin/runc"
	minBackoff        = 200 * time.Millisecond
	maxBackoff        = 30 * time.Second
	// stableAfter is how long containerd must run for a crash to count as a fresh one.
	stableAfter = time.Minute
)

// New checks opts and lays out the paths; it starts nothing.
func New(opts Options) (*Containerd, error) {
	if opts.DataDir == "" {
		return nil, errors.New("containerd: no data dir")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Containerd = orDefault(opts.Containerd, DefaultContainerd)
	opts.Ctr = orDefault(opts.Ctr, DefaultCtr)
	opts.Runc = orDefault(opts.Runc, DefaultRunc)
	opts.StreamAddress = orDefault(opts.StreamAddress, "127.0.0.1")
	opts.LogLevel = orDefault(opts.LogLevel, "info")
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.SandboxImage == "" {
		pause, err := PauseImage()
		if err != nil {
			return nil, err
		}
		opts.SandboxImage = pause.Ref
		opts.Preload = append([]Image{pause}, opts.Preload...)
	}
	paths := PathsFor(opts.DataDir, opts.CNIBinDir, opts.CNIConfDir)
	if len(paths.Socket) > maxSocketPath {
		return nil, fmt.Errorf("containerd: socket path %s is longer than %d bytes; use a shorter data dir", paths.Socket, maxSocketPath)
	}
	return &Containerd{opts: opts, paths: paths, log: opts.Log.With("component", "containerd")}, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Paths are containerd's files and directories.
func (c *Containerd) Paths() Paths { return c.paths }

// SandboxImage is the pause image reference configured in containerd.
func (c *Containerd) SandboxImage() string { return c.opts.SandboxImage }

// PID of the running containerd (0 if none).
func (c *Containerd) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil || !c.proc.alive() {
		return 0
	}
	return c.proc.pid
}

// Restarts counts how often containerd died and was started again.
func (c *Containerd) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// Start writes the config, starts containerd (or adopts the one an earlier agent left
// running with the same config), waits until its CRI answers, imports the preloaded images
// it lacks, and keeps it running until Stop. ctx bounds only the start.
func (c *Containerd) Start(ctx context.Context) (StartResult, error) {
	if c.ctx != nil {
		return StartResult{}, errors.New("containerd: already started")
	}
	for _, dir := range []string{c.paths.Dir, c.paths.CNIConfDir, c.paths.CertsDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return StartResult{}, fmt.Errorf("containerd: %w", err)
		}
	}
	config := []byte(RenderConfig(c.paths, ConfigParams{
		SandboxImage: c.opts.SandboxImage, RuncBinary: c.opts.Runc,
		StreamAddress: c.opts.StreamAddress, StreamPort: "0", LogLevel: c.opts.LogLevel,
	}))
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.done = make(chan struct{})

	var res StartResult
	proc, adopted := c.adoptRunning(ctx, config)
	if adopted {
		res.Adopted = true
	} else {
		if err := os.WriteFile(c.paths.Config, config, 0o600); err != nil {
			return c.failStart(fmt.Errorf("containerd: write config: %w", err))
		}
		var err error
		if proc, err = c.startProcess(ctx); err != nil {
			return c.failStart(err)
		}
	}
	res.PID = proc.pid
	res.Ready = proc.readyAfter
	res.Version = proc.version
	c.mu.Lock()
	c.proc = proc
	c.mu.Unlock()

	importStart := time.Now()
	imported, err := c.preload(ctx)
	if err != nil {
		c.stopProcess(proc)
		return c.failStart(err)
	}
	res.Imported, res.ImportTime = imported, time.Since(importStart)
	go c.supervise(proc)
	return res, nil
}

func (c *Containerd) failStart(err error) (StartResult, error) {
	c.cancel()
	close(c.done)
	return StartResult{}, err
}

// adoptRunning takes over a containerd recorded in the pid file if it runs our binary
// with our config file, the config is unchanged, and its CRI answers. A containerd with
// an outdated config is stopped (its pods keep running: shims outlive containerd).
func (c *Containerd) adoptRunning(ctx context.Context, config []byte) (*process, bool) {
	raw, err := os.ReadFile(c.paths.PIDFile)
	if err != nil {
		return nil, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return nil, false
	}
	proc, err := adopt(pid, c.opts.Containerd, c.paths.Config)
	if err != nil {
		c.log.Debug("not adopting", "pid", pid, "reason", err)
		return nil, false
	}
	if current, err := os.ReadFile(c.paths.Config); err != nil || !bytes.Equal(current, config) {
		c.log.Info("containerd config changed; restarting it", "pid", pid)
		c.stopProcess(proc)
		return nil, false
	}
	start := time.Now()
	if err := c.waitReady(ctx, proc, 5*time.Second); err != nil {
		c.log.Warn("running containerd does not answer; restarting it", "pid", pid, "err", err)
		c.stopProcess(proc)
		return nil, false
	}
	proc.readyAfter = time.Since(start)
	c.log.Info("adopted running containerd", "pid", pid, "version", proc.version)
	return proc, true
}

// startProcess spawns containerd and waits for its CRI; on failure nothing is left running.
func (c *Containerd) startProcess(ctx context.Context) (*process, error) {
	// A socket left by a containerd that died would make the readiness probe connect to
	// nothing; containerd removes and recreates it anyway.
	_ = os.Remove(c.paths.Socket)
	start := time.Now()
	proc, err := spawn(c.opts.Containerd, c.paths.Config, c.paths.Log, c.opts.NetNS)
	if err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	if err := c.waitReady(ctx, proc, c.opts.ReadyTimeout); err != nil {
		c.stopProcess(proc)
		return nil, fmt.Errorf("containerd: %w (log: %s)", err, c.paths.Log)
	}
	proc.readyAfter = time.Since(start)
	if err := os.WriteFile(c.paths.PIDFile, []byte(strconv.Itoa(proc.pid)+"\n"), 0o600); err != nil {
		c.stopProcess(proc)
		return nil, fmt.Errorf("containerd: pid file: %w", err)
	}
	c.log.Info("containerd ready", "pid", proc.pid, "version", proc.version, "after", proc.readyAfter)
	return proc, nil
}

// waitReady polls until the CRI answers Version, the process exits, ctx ends or timeout passes.
func (c *Containerd) waitReady(ctx context.Context, proc *process, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var client *cri.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	lastErr := errors.New("socket not created yet")
	for {
		// Connect only once the socket accepts: a gRPC channel that failed to connect
		// backs off for up to a second before it tries again.
		if client == nil {
			if conn, err := net.Dial("unix", c.paths.Socket); err == nil {
				conn.Close()
				if client, err = cri.New(c.paths.Socket, cri.Options{Timeout: time.Second}); err != nil {
					return err
				}
			}
		}
		if client != nil {
			v, err := client.Version(ctx)
			if err == nil {
				proc.version = v.RuntimeVersion
				return nil
			}
			if ctx.Err() == nil {
				lastErr = err
			}
		}
		select {
		case <-proc.exited:
			return fmt.Errorf("exited while starting (%s)", proc.exitState)
		case <-ctx.Done():
			return fmt.Errorf("CRI not ready after %v: %w", timeout, lastErr)
		case <-tick.C:
		}
	}
}

// stopProcess sends SIGTERM, then SIGKILL after StopTimeout, and waits for the exit.
func (c *Containerd) stopProcess(proc *process) {
	if err := proc.signal(syscall.SIGTERM); err != nil {
		c.log.Warn("signal containerd", "pid", proc.pid, "err", err)
	}
	timer := time.NewTimer(c.opts.StopTimeout)
	defer timer.Stop()
	select {
	case <-proc.exited:
		return
	case <-timer.C:
	}
	c.log.Warn("containerd ignored SIGTERM; killing it", "pid", proc.pid, "after", c.opts.StopTimeout)
	_ = proc.signal(syscall.SIGKILL)
	<-proc.exited
}

// supervise restarts containerd whenever it dies, with exponential backoff (reset once a
// process has run for stableAfter), until Stop.
func (c *Containerd) supervise(proc *process) {
	defer close(c.done)
	backoff := minBackoff
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-proc.exited:
		}
		ran := time.Since(proc.started)
		c.log.Warn("containerd died", "pid", proc.pid, "state", proc.exitState, "ran", ran)
		if ran > stableAfter {
			backoff = minBackoff
		}
		for {
			timer := time.NewTimer(backoff)
			select {
			case <-c.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			backoff = min(backoff*2, maxBackoff)
			next, err := c.startProcess(c.ctx)
			if err != nil {
				if c.ctx.Err() != nil {
					return
				}
				c.log.Error("restart containerd", "err", err, "next try in", backoff)
				continue
			}
			if _, err := c.preload(c.ctx); err != nil {
				c.log.Error("import images after restart", "err", err)
			}
			proc = next
			break
		}
		c.mu.Lock()
		c.proc = proc
		c.restarts++
		c.mu.Unlock()
	}
}

// Stop ends supervision and stops containerd (SIGTERM, SIGKILL after StopTimeout), or
// with LeaveRunning leaves it running for the next agent. Pods' shims are not touched.
func (c *Containerd) Stop(ctx context.Context) error {
	if c.ctx == nil {
		return nil
	}
	c.cancel()
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	proc := c.proc
	c.proc = nil
	c.mu.Unlock()
	if proc == nil {
		return nil
	}
	if c.opts.LeaveRunning {
		proc.release()
		c.log.Info("leaving containerd running", "pid", proc.pid)
		return nil
	}
	c.stopProcess(proc)
	_ = os.Remove(c.paths.PIDFile)
	c.log.Info("containerd stopped", "pid", proc.pid, "state", proc.exitState)
	return nil
}

// Kill kills containerd with SIGKILL as a crash would (tests of the restart path).
func (c *Containerd) Kill() error {
	c.mu.Lock()
	proc := c.proc
	c.mu.Unlock()
	if proc == nil {
		return errors.New("containerd: not running")
	}
	return proc.signal(syscall.SIGKILL)
}
