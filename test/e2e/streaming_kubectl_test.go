package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/berth/berth/test/e2e/framework"
)

// streamerPod has an app serving :8080 (with busybox), a container logging to stdout and
// stderr, one that fails once and then runs (so it has a previous instance), and one
// reading its stdin (attach).
func streamerPod() *corev1.Pod {
	data := []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "streamer", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptrTo[int64](1),
			Volumes:                       []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{
				{Name: "app", Image: "app:0.3.2"},
				{Name: "logger", Image: "busybox:1.35", Command: []string{"sh", "-c", "i=0; while true; do echo line $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done"}},
				{Name: "crasher", Image: "busybox:1.35", VolumeMounts: data, Command: []string{"sh", "-c",
					"if [ -f /data/ran ]; then echo second run; exec sleep 100000; fi; touch /data/ran; echo first run; exit 1"}},
				{Name: "echoer", Image: "busybox:1.35", Stdin: true, Command: []string{"sh", "-c", "while read l; do echo got $l; done"}},
			},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

// Everything `kubectl logs/exec/attach/port-forward/cp` does, through the API server and
// the node's streaming endpoint to containerd, with real kubectl over WebSocket and SPDY.
func TestStreamingKubectl(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"app:0.3.2", "busybox:1.35"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, streamerPod(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "streamer", 2*time.Minute, "running with the crasher restarted once", func(p *corev1.Pod) bool {
		if p.Status.Phase != corev1.PodRunning {
			return false
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running == nil || (cs.Name == "crasher" && cs.RestartCount < 1) {
				return false
			}
		}
		return true
	})
	node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Status.DaemonEndpoints.KubeletEndpoint.Port == 0 {
		t.Fatalf("node reports no kubelet endpoint: %+v", node.Status.DaemonEndpoints)
	}

	t.Run("logs", func(t *testing.T) { testLogs(t, c) })
	t.Run("logs errors", func(t *testing.T) { testLogErrors(t, c) })
	for _, proto := range kubectlProtocols {
		t.Run("exec/"+proto.name, func(t *testing.T) { testExec(t, c, proto.env) })
		t.Run("exec tty/"+proto.name, func(t *testing.T) { testExecTTY(t, c, proto.env) })
		t.Run("attach/"+proto.name, func(t *testing.T) { testAttach(t, c, proto.env) })
		t.Run("port-forward/"+proto.name, func(t *testing.T) { testPortForward(t, c, proto.env) })
		t.Run("cp/"+proto.name, func(t *testing.T) { testCp(t, c, proto.env) })
	}
	t.Run("exec websocket v4", func(t *testing.T) { testExecV4(t, c) })
	t.Run("node endpoint refuses other callers", func(t *testing.T) { testNodeAuth(t, c, node) })
}

func testLogs(t *testing.T, c *framework.Cluster) {
	lineRE := regexp.MustCompile(`^(line|err) \d+$`)
	out := mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "logger", "--tail=3")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("--tail=3 printed %d lines: %q", len(lines), out)
	}
	for _, l := range lines {
		if !lineRE.MatchString(l) {
			t.Errorf("--tail=3 line %q", l)
		}
	}
	out = mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "logger", "--tail=1", "--timestamps")
	ts, rest, _ := strings.Cut(strings.TrimSuffix(out, "\n"), " ")
	if when, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(when) > time.Minute || !lineRE.MatchString(rest) {
		t.Errorf("--timestamps printed %q (%v)", out, err)
	}
	// stdout and stderr reach the log through two pipes: either line may come first.
	if out := mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "logger", "--limit-bytes=4"); out != "line" && out != "err " {
		t.Errorf("--limit-bytes=4 printed %q", out)
	}
	// --since=2s can leave lines out only once the log is older than that: wait until its
	// first line is 4 s old, then compare with a full read taken afterwards.
	first := time.Now()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		stamped := mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "logger", "--timestamps", "--limit-bytes=64")
		ts, _, _ := strings.Cut(stamped, " ")
		if when, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			first = when
		}
		if time.Since(first) > 4*time.Second || time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	recent := mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "logger", "--since=2s")
	all := mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "logger")
	if recent == "" || len(recent) >= len(all) || !(strings.HasPrefix(all, "line 0\nerr 0\n") || strings.HasPrefix(all, "err 0\nline 0\n")) {
		t.Errorf("--since=2s printed %d bytes of %d (first line at %s)", len(recent), len(all), first.Format(time.RFC3339Nano))
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out := mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "logger", "--since-time="+future); out != "" {
		t.Errorf("--since-time in the future printed %q", out)
	}
	if out := mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "crasher"); out != "second run\n" {
		t.Errorf("crasher logs = %q, want the second run's", out)
	}
	if out := mustKubectl(t, c, nil, "", "logs", "streamer", "-c", "crasher", "--previous"); out != "first run\n" {
		t.Errorf("crasher --previous = %q, want the first run's", out)
	}
	// A pod of several containers: kubectl picks the first and says so.
	r := kubectlRun(t, c, nil, "", "logs", "streamer", "--tail=1")
	if r.err != nil || !strings.Contains(r.stderr, `Defaulted container "app" out of: app, logger, crasher, echoer`) {
		t.Errorf("logs without -c: %v %q %q", r.err, r.stdout, r.stderr)
	}

	// -f streams new lines as they are written, from --tail=0 on.
	start := time.Now()
	f := startKubectl(t, c, nil, "logs", "-f", "streamer", "-c", "logger", "--tail=0")
	f.waitOutput(t, "followed lines", regexp.MustCompile(`(?s)(line \d+\n.*){5}`))
	framework.Figure(t, "streaming_logs_follow_5_lines_ms", time.Since(start).Milliseconds())
	f.stop()
	// -f of a container that ends: kubectl ends too.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "short", Namespace: "default"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", "sleep 3; for i in 1 2 3; do echo done $i; done"},
		}}},
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "short", time.Minute, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if out := mustKubectl(t, c, nil, "", "logs", "-f", "short"); out != "done 1\ndone 2\ndone 3\n" {
		t.Errorf("logs -f of a container that exits printed %q", out)
	}
}

func testLogErrors(t *testing.T, c *framework.Cluster) {
	ctx := context.Background()
	never := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "never", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "missing:1", ImagePullPolicy: corev1.PullNever}}},
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, never, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "never", time.Minute, "ErrImageNeverPull", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImageNeverPull"
	})
	for _, tc := range []struct {
		name, pod string
		opts      corev1.PodLogOptions
		raw       string // a raw query instead of opts
		code      int32
		msg       string
	}{
		{name: "no container in a pod of several", pod: "streamer", code: 400,
			msg: "a container name must be specified for pod streamer, choose one of: [app logger crasher echoer]"},
		{name: "unknown container", pod: "streamer", opts: corev1.PodLogOptions{Container: "nope"}, code: 400, msg: "container nope is not valid for pod streamer"},
		{name: "no previous instance", pod: "streamer", opts: corev1.PodLogOptions{Container: "logger", Previous: true}, code: 400,
			msg: `previous terminated container "logger" in pod "streamer" not found`},
		{name: "waiting container", pod: "never", code: 400, msg: `container "c" in pod "never" is waiting to start: ErrImageNeverPull`},
		{name: "negative tail", pod: "streamer", opts: corev1.PodLogOptions{Container: "app", TailLines: ptrTo[int64](-1)}, code: 422,
			msg: `PodLogOptions "streamer" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`},
		{name: "zero limit", pod: "streamer", opts: corev1.PodLogOptions{Container: "app", LimitBytes: ptrTo[int64](0)}, code: 422,
			msg: `PodLogOptions "streamer" is invalid: limitBytes: Invalid value: 0: must be greater than 0`},
		{name: "tail not a number", pod: "streamer", raw: "container=app&tailLines=abc", code: 400, msg: `tailLines: invalid value "abc"`},
		{name: "missing pod", pod: "ghost", code: 404, msg: `pods "ghost" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := c.Client.CoreV1().Pods("default").GetLogs(tc.pod, &tc.opts)
			if tc.raw != "" {
				req = c.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/default/pods/" + tc.pod + "/log")
				for _, kv := range strings.Split(tc.raw, "&") {
					k, v, _ := strings.Cut(kv, "=")
					req = req.Param(k, v)
				}
			}
			// Stream decodes the Status as kubectl logs does (DoRaw keeps only text bodies).
			body, err := req.Stream(ctx)
			if err == nil {
				body.Close()
			}
			var status apierrors.APIStatus
			if !errors.As(err, &status) {
				t.Fatalf("err = %v, want a Status", err)
			}
			if got := status.Status(); got.Code != tc.code || !strings.Contains(got.Message, tc.msg) {
				t.Fatalf("got %d %q, want %d %q", got.Code, got.Message, tc.code, tc.msg)
			}
		})
	}
}

func testExec(t *testing.T, c *framework.Cluster, env []string) {
	if out := mustKubectl(t, c, env, "", "exec", "streamer", "-c", "app", "--", "echo", "hi"); out != "hi\n" {
		t.Errorf("exec echo hi = %q", out)
	}
	// stdin reaches the command, and its end ends the command (v5 and SPDY close stdin).
	if out := mustKubectl(t, c, env, "hello\nworld\n", "exec", "-i", "streamer", "-c", "app", "--", "cat"); out != "hello\nworld\n" {
		t.Errorf("exec -i cat = %q", out)
	}
	r := kubectlRun(t, c, env, "", "exec", "streamer", "-c", "app", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	var exitErr *osexec.ExitError
	if !errors.As(r.err, &exitErr) || exitErr.ExitCode() != 3 || r.stdout != "out\n" || !strings.Contains(r.stderr, "err\n") {
		t.Errorf("exec exit 3: %v stdout %q stderr %q", r.err, r.stdout, r.stderr)
	}
	// The container name is required in a pod of several... kubectl picks the first.
	if out := mustKubectl(t, c, env, "", "exec", "streamer", "--", "hostname"); out != "streamer\n" {
		t.Errorf("exec hostname = %q", out)
	}
	r = kubectlRun(t, c, env, "", "exec", "streamer", "-c", "nope", "--", "true")
	if r.err == nil || !strings.Contains(r.stderr, "container nope is not valid for pod streamer") {
		t.Errorf("exec in an unknown container: %v %q", r.err, r.stderr)
	}
}

// exec -it: a real terminal on kubectl's side, a TTY in the container, and resizes.
func testExecTTY(t *testing.T, c *framework.Cluster, env []string) {
	ptm, pts := openPTY(t, 40, 100)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := kubectlCmd(ctx, t, c, env, "exec", "-it", "streamer", "-c", "app", "--", "sh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	screen := readPTY(ptm)
	send := func(s string) {
		if _, err := ptm.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what, want string, resend string) {
		t.Helper()
		framework.Eventually(t, 20*time.Second, what, func() (bool, error) {
			if strings.Contains(screen.String(), want) {
				return true, nil
			}
			if resend != "" {
				send(resend)
			}
			return false, fmt.Errorf("screen: %q", screen.String())
		})
	}
	send("tty; stty size\n")
	expect("a TTY of 40x100 in the container", "40 100", "")
	if !regexp.MustCompile(`/dev/pts/\d+`).MatchString(screen.String()) {
		t.Errorf("tty in the container: %q", screen.String())
	}
	setPTYSize(t, ptm, 50, 132)
	_ = cmd.Process.Signal(syscall.SIGWINCH)
	// The resize travels asynchronously: ask again until the new size shows.
	expect("the container's TTY resized to 50x132", "50 132", "stty size\n")
	send("exit 7\n")
	select {
	case err := <-done:
		var exitErr *osexec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 7 {
			t.Errorf("kubectl exec -it exited with %v, want exit status 7; screen %q", err, screen.String())
		}
	case <-ctx.Done():
		t.Fatalf("kubectl exec -it did not end: %q", screen.String())
	}
}

func testAttach(t *testing.T, c *framework.Cluster, env []string) {
	a := startKubectl(t, c, env, "attach", "-i", "streamer", "-c", "echoer")
	// kubectl says how to detach; the container echoes what comes in.
	deadline := time.Now().Add(30 * time.Second)
	resend := time.NewTicker(200 * time.Millisecond) // resend until the attach is up
	defer resend.Stop()
	for !strings.Contains(a.output(), "got ping") {
		if time.Now().After(deadline) {
			t.Fatalf("attach -i: no echo: %q", a.output())
		}
		if _, err := a.stdin.Write([]byte("ping\n")); err != nil {
			t.Fatalf("attach stdin: %v (%q)", err, a.output())
		}
		<-resend.C
	}
	a.stop()
	// Attach without stdin shows the container's output.
	o := startKubectl(t, c, env, "attach", "streamer", "-c", "logger")
	o.waitOutput(t, "attached output", regexp.MustCompile(`line \d+\n`))
}

func testPortForward(t *testing.T, c *framework.Cluster, env []string) {
	pf := startKubectl(t, c, env, "port-forward", "pod/streamer", ":8080")
	m := pf.waitOutput(t, "port-forward listening", regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`))
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 3 {
		resp, err := client.Get("http://127.0.0.1:" + m[1] + "/")
		if err != nil {
			t.Fatalf("request %d through port-forward: %v (kubectl: %q)", i, err, pf.output())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "app 0.3.2 on streamer") {
			t.Fatalf("request %d through port-forward: %d %q", i, resp.StatusCode, body)
		}
	}
}

func testCp(t *testing.T, c *framework.Cluster, env []string) {
	dir := t.TempDir()
	content := make([]byte, 256<<10)
	_, _ = rand.Read(content)
	in := filepath.Join(dir, "in.bin")
	if err := os.WriteFile(in, content, 0o644); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, c, env, "", "cp", in, "default/streamer:/tmp/in.bin", "-c", "app")
	out := filepath.Join(dir, "out.bin")
	mustKubectl(t, c, env, "", "cp", "default/streamer:/tmp/in.bin", out, "-c", "app")
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("copied out %d bytes, not the %d copied in", len(got), len(content))
	}
}

// Older clients: WebSocket v4.channel.k8s.io (no stdin close) with client-go.
func testExecV4(t *testing.T, c *framework.Cluster) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	run := func(cmd ...string) (string, error) {
		req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("streamer").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "app", Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		ex, err := remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", req.URL().String(), "v4.channel.k8s.io")
		if err != nil {
			return "", err
		}
		var stdout bytes.Buffer
		err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &stdout, Stderr: io.Discard})
		return stdout.String(), err
	}
	if out, err := run("echo", "hi"); err != nil || out != "hi\n" {
		t.Errorf("v4 exec echo hi = %q, %v", out, err)
	}
	_, err = run("sh", "-c", "exit 5")
	var exitErr utilexec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 5 {
		t.Errorf("v4 exec exit 5: %v", err)
	}
}

// The node serves only the API server: another certificate of the cluster CA (the
// admin's) is refused, and no certificate fails the handshake.
func testNodeAuth(t *testing.T, c *framework.Cluster, node *corev1.Node) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/containerLogs/default/streamer/app", node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	admin := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}}
	resp, err := admin.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Forbidden (user=berth-admin") {
		t.Errorf("admin certificate at the node: %d %q", resp.StatusCode, body)
	}
	anonymous := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := anonymous.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("no certificate at the node: %d, want a failed handshake", resp.StatusCode)
	}
}
