package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/berth/berth/internal/agent/agenttest"
	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/images/testimages"
	"github.com/berth/berth/internal/server"
)

// lab is one node as the e2e framework makes it: a network namespace, `berth server`
// in this process (no agent of its own) and `berth agent` as a process of its own in
// the namespace, starting its containerd there; images imported; a CRI client to that
// containerd for the raw arm.
type lab struct {
	name, netns, dataDir, cgroupRoot string
	hostForward                      string

	server *server.Server
	client kubernetes.Interface
	agent  *exec.Cmd
	// agentDone gets the agent's exit (cmd.Wait's error).
	agentDone chan error
	runtime   *cri.Client
	log       io.Writer
	// pprofAddr is the agent's profiling endpoint (labOptions.profile), else "".
	pprofAddr string
}

type labOptions struct {
	berth    string // the berth binary the agent runs from
	logLevel string // the agent's --log-level
	progress io.Writer
	// pprof serves the agent's profiling endpoint (pprofAddr), with
	// GODEBUG=memprofilerate=memProfileRate.
	pprof          bool
	memProfileRate int
}

// startLab makes the node; on error what was made is already undone.
func startLab(ctx context.Context, opts labOptions) (_ *lab, err error) {
	klog.SetSlogLogger(slog.New(slog.DiscardHandler))
	id := randomID()
	// Short paths: containerd's socket path must fit in a sockaddr_un.
	dataDir, err := os.MkdirTemp("", "bp-")
	if err != nil {
		return nil, err
	}
	l := &lab{name: "berth-bench-" + id, dataDir: dataDir, cgroupRoot: "/berth-bench-" + id, log: opts.progress}
	l.netns = "/run/netns/" + l.name
	if l.hostForward, err = agenttest.IPForward(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	for _, args := range [][]string{{"netns", "add", l.name}, {"-n", l.name, "link", "set", "lo", "up"}} {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if l.server, err = server.Start(startCtx, server.Config{
		DataDir: dataDir, Listen: "127.0.0.1:0", DisableAgent: true, Log: slog.New(slog.DiscardHandler),
	}); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "admin.kubeconfig"))
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	if l.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if err := l.startAgent(startCtx, opts); err != nil {
		return nil, err
	}
	if l.runtime, err = cri.New(containerd.PathsFor(dataDir, "", "").Socket, cri.Options{}); err != nil {
		return nil, err
	}
	b := &testimages.Builder{}
	app, err := b.App(ctx, "0.3.2")
	if err != nil {
		return nil, fmt.Errorf("build app image: %w", err)
	}
	busybox, err := b.BusyboxImage()
	if err != nil {
		return nil, fmt.Errorf("build busybox image: %w", err)
	}
	for _, img := range []testimages.Built{app, busybox} {
		if _, err := agenttest.Import(startCtx, containerd.PathsFor(dataDir, "", "").Socket, l.runtime, img); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// startAgent runs `berth agent` for the node and waits until the Node is Ready.
func (l *lab) startAgent(ctx context.Context, opts labOptions) error {
	logFile, err := os.OpenFile(filepath.Join(l.dataDir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	berth, err := installCopy(opts.berth, l.dataDir)
	if err != nil {
		return err
	}
	cmd := exec.Command(berth, "agent", "--server", l.server.URL, "--token-file", filepath.Join(l.dataDir, "node-token"),
		"--data-dir", l.dataDir, "--node-name", l.name, "--netns", l.netns, "--cgroup-root", l.cgroupRoot,
		"--log-level", opts.logLevel, "--streaming-port", "-1",
		// The node shares the host's disk: a host with less than 15 % free would taint
		// it (DiskPressure) and leave every pod Pending, as in the e2e tests.
		"--eviction-hard", "nodefs.available<0%,imagefs.available<0%")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if opts.pprof {
		if l.pprofAddr, err = freeLoopbackAddr(); err != nil {
			return err
		}
		cmd.Env = append(os.Environ(), "BERTH_PPROF_ADDR="+l.pprofAddr, fmt.Sprintf("GODEBUG=memprofilerate=%d", opts.memProfileRate))
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	l.agent = cmd
	l.agentDone = make(chan error, 1)
	go func() { l.agentDone <- cmd.Wait() }()
	return poll(ctx, 10*time.Millisecond, func() (bool, error) {
		select {
		case err := <-l.agentDone:
			l.agentDone <- err
			return false, fmt.Errorf("agent exited (%v):\n%s", err, tail(filepath.Join(l.dataDir, "agent.log"), 20))
		default:
		}
		node, err := l.client.CoreV1().Nodes().Get(ctx, l.name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue && node.Spec.PodCIDR != "", nil
			}
		}
		return false, nil
	})
}

// agentPID is the agent process's ID.
func (l *lab) agentPID() int { return l.agent.Process.Pid }

// stopAgent stops the agent with SIGTERM (it stops its containerd), SIGKILL after a minute.
func (l *lab) stopAgent() error {
	if l.agent == nil {
		return nil
	}
	cmd := l.agent
	l.agent = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-l.agentDone:
		if err != nil {
			return fmt.Errorf("agent exited: %v\n%s", err, tail(filepath.Join(l.dataDir, "agent.log"), 20))
		}
		return nil
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-l.agentDone
		return errors.New("agent did not stop within a minute of SIGTERM")
	}
}

// close undoes everything, in dependency order, going on past failures: the agent and
// the server stop, sandboxes go through a containerd of our own (CNI DEL), then
// leftover processes (by PID, found by the data dir and cgroups), mounts, cgroups, the
// namespace, the data dir; the host's ip_forward is restored.
func (l *lab) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	if l.runtime != nil {
		l.runtime.Close()
	}
	errs = append(errs, l.stopAgent())
	if l.server != nil {
		errs = append(errs, l.server.Stop())
	}
	if _, err := os.Stat(filepath.Join(l.dataDir, "containerd")); err == nil {
		errs = append(errs, agenttest.RemoveAgentSandboxes(ctx, l.dataDir, l.netns))
	}
	errs = append(errs, agenttest.KillPIDFile(containerd.PathsFor(l.dataDir, "", "").PIDFile))
	pids, err := agenttest.KillLeftovers(l.dataDir, l.cgroupRoot)
	if len(pids) > 0 {
		fmt.Fprintf(l.log, "cleanup: killed leftover processes %v\n", pids)
	}
	errs = append(errs, err, agenttest.UnmountUnder(l.dataDir), agenttest.RemoveCgroups(l.cgroupRoot))
	if _, err := os.Stat(l.netns); err == nil {
		if out, err := exec.Command("ip", "netns", "delete", l.name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns delete %s: %v: %s", l.name, err, out))
		}
	}
	agenttest.RemoveCNIResults(l.name)
	errs = append(errs, os.RemoveAll(l.dataDir))
	if now, err := agenttest.IPForward(); err == nil && now != l.hostForward {
		errs = append(errs, agenttest.SetIPForward(l.hostForward))
	}
	return errors.Join(errs...)
}

// poll calls cond every interval until it is true, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(path string, lines int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// installCopy copies the berth binary into dir, as installing it would, and returns the
// copy's path. The agent's file-backed RSS depends on how the binary's pages sit in the
// page cache: Linux (6.18 here) maps a whole large folio at a fault, and a binary the
// linker just wrote can hold 1–2 MB folios where a copied one holds 64 KB ones — a
// fresh build measured several MB more than the same code copied. A copy makes the
// figure the installed binary's, whoever built it how.
func installCopy(berth, dir string) (string, error) {
	src, err := os.Open(berth)
	if err != nil {
		return "", err
	}
	defer src.Close()
	path := filepath.Join(dir, "berth")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", err
	}
	return path, dst.Close()
}
