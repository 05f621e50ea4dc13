package containerd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/netns"
)

// process is one containerd, started by us or adopted from an earlier agent.
type process struct {
	pid     int
	cmd     *exec.Cmd // nil when adopted (not our child: no exit status)
	started time.Time
	pidfd   int
	// Set once the CRI has answered.
	readyAfter time.Duration
	version    string
	// exited is closed once the process is gone; exitState then describes how it ended.
	exited    chan struct{}
	exitState string
	// stopWatch ends the watcher without waiting for the exit (leaving containerd running).
	stopWatch  func()
	watchDone  chan struct{}
	logFile    *os.File
	cancelOnce sync.Once
}

// spawn starts containerd with the given config, in netns when set (a path such as
// /run/netns/<name>; the child is forked from a thread that entered it).
func spawn(binary, config, logPath, netns string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("containerd log: %w", err)
	}
	cmd := exec.Command(binary, "--config", config)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a terminal's ^C reaches the agent, which decides whether
	// containerd (and so every pod) stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = withPath(os.Environ())
	if err := startIn(netns, cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	p, err := watchProcess(cmd.Process.Pid, cmd, logFile)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		return nil, err
	}
	return p, nil
}

// withPath makes sure containerd finds runc, its shims and the CNI helpers (iptables)
// whatever PATH the agent was started with.
func withPath(env []string) []string {
	const std = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + v + ":" + std
			return env
		}
	}
	return append(env, "PATH="+std)
}

// startIn starts cmd from an OS thread that entered the network namespace at path. The
// thread is never unlocked, so the runtime discards it when the goroutine ends and no other
// goroutine ever runs in that namespace.
func startIn(path string, cmd *exec.Cmd) error { return netns.Do(path, cmd.Start) }

// adopt watches a containerd that an earlier agent started: pid must be alive and run
// binary with config.
func adopt(pid int, binary, config string) (*process, error) {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
	if len(args) < 3 || args[0] != binary || args[len(args)-1] != config {
		return nil, fmt.Errorf("process %d is not our containerd (%q)", pid, args)
	}
	return watchProcess(pid, nil, nil)
}

// watchProcess starts the goroutine that notices the process's exit through a pidfd, and
// that Stop can end early through a pipe.
func watchProcess(pid int, cmd *exec.Cmd, logFile *os.File) (*process, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	cancelR, cancelW, err := os.Pipe()
	if err != nil {
		unix.Close(pidfd)
		return nil, err
	}
	p := &process{pid: pid, cmd: cmd, started: time.Now(), pidfd: pidfd, logFile: logFile,
		exited: make(chan struct{}), watchDone: make(chan struct{})}
	p.stopWatch = func() { p.cancelOnce.Do(func() { cancelW.Close() }) }
	go func() {
		defer close(p.watchDone)
		defer cancelR.Close()
		defer p.stopWatch()
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}, {Fd: int32(cancelR.Fd()), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || fds[1].Revents != 0 {
				unix.Close(pidfd)
				return // watching stopped; the process runs on
			}
			if fds[0].Revents != 0 {
				break
			}
		}
		unix.Close(pidfd)
		p.exitState = "exited"
		if cmd != nil {
			err := cmd.Wait()
			p.exitState = cmd.ProcessState.String()
			if err != nil && cmd.ProcessState == nil {
				p.exitState = err.Error()
			}
		}
		if p.logFile != nil {
			p.logFile.Close()
		}
		close(p.exited)
	}()
	return p, nil
}

// alive reports whether the process has not exited yet.
func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the process (and, for SIGKILL, its whole process group: CNI plugins
// or ctr that containerd was running die with it; shims have their own group).
func (p *process) signal(sig syscall.Signal) error {
	if !p.alive() {
		return nil
	}
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-p.pid, sig)
	}
	if err := syscall.Kill(p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// release stops watching and leaves the process running.
func (p *process) release() {
	p.stopWatch()
	<-p.watchDone
	if p.alive() && p.logFile != nil {
		p.logFile.Close()
	}
	if p.cmd != nil && p.alive() {
		_ = p.cmd.Process.Release()
	}
}
