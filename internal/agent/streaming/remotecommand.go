package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/proxy"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/exec"
)

// streamOpts are the streams an exec or attach asked for.
type streamOpts struct {
	stdin, stdout, stderr, tty bool
}

func streamQuery(q url.Values) (streamOpts, error) {
	o := streamOpts{
		stdin: boolParam(q.Get("input")), stdout: boolParam(q.Get("output")),
		stderr: boolParam(q.Get("error")), tty: boolParam(q.Get("tty")),
	}
	if o.tty && o.stderr {
		// As the kubelet: a TTY merges stderr into stdout.
		o.stderr = false
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, badRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	pod, container := refFrom(r), r.PathValue("container")
	opts, err := streamQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		s.writeError(w, r, badRequest("you must specify at least one command for the container"))
		return
	}
	id, err := s.runningContainer(r.Context(), pod, container)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc, err := s.cfg.Runtime.Exec(r.Context(), &runtimeapi.ExecRequest{
		ContainerId: id, Cmd: cmd, Tty: opts.tty, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.proxyRemoteCommand(w, r, loc, opts)
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	pod, container := refFrom(r), r.PathValue("container")
	opts, err := streamQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := s.runningContainer(r.Context(), pod, container)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc, err := s.cfg.Runtime.Attach(r.Context(), &runtimeapi.AttachRequest{
		ContainerId: id, Tty: opts.tty, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.proxyRemoteCommand(w, r, loc, opts)
}

// proxyRemoteCommand connects the caller to the runtime's session at loc: SPDY passes
// through; WebSocket is translated to SPDY (the runtime's server knows no
// v5.channel.k8s.io).
func (s *Server) proxyRemoteCommand(w http.ResponseWriter, r *http.Request, loc string, opts streamOpts) {
	upstream, err := url.Parse(loc)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("runtime streaming URL %q: %w", loc, err))
		return
	}
	if wsstream.IsWebSocketRequest(r) {
		s.translateWebSocket(w, r, upstream, opts)
		return
	}
	s.passThrough(w, r, upstream)
}

// passThrough proxies an upgrade request as it is to the runtime's streaming server.
func (s *Server) passThrough(w http.ResponseWriter, r *http.Request, upstream *url.URL) {
	// Upgrade requests carry no body; forwarding one (even an empty chunked one) would put
	// its bytes in front of the SPDY frames the runtime reads after the upgrade.
	r.Body, r.ContentLength, r.TransferEncoding = http.NoBody, 0, nil
	transport := &http.Transport{DialContext: s.cfg.Dial}
	h := proxy.NewUpgradeAwareHandler(upstream, transport, false, true, errorResponder{s})
	h.UseLocationHost = true
	h.ServeHTTP(w, r)
}

type errorResponder struct{ s *Server }

func (e errorResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	e.s.writeError(w, r, fmt.Errorf("proxy to the container runtime: %w", err))
}

// WebSocket channels of the remote command protocols (channel.k8s.io ... v5).
const (
	stdinChannel = iota
	stdoutChannel
	stderrChannel
	errorChannel
	resizeChannel
)

// remoteCommandProtocols are the WebSocket subprotocols served, newest first.
var remoteCommandProtocols = []string{
	remotecommandconsts.StreamProtocolV5Name, // v5.channel.k8s.io: adds closing stdin
	"v4.channel.k8s.io", "v4.base64.channel.k8s.io",
	wsstream.ChannelWebSocketProtocol, wsstream.Base64ChannelWebSocketProtocol, "",
}

// statusProtocols send a JSON Status on the error channel; older ones plain text.
func sendsStatus(protocol string) bool {
	switch protocol {
	case remotecommandconsts.StreamProtocolV5Name, "v4.channel.k8s.io", "v4.base64.channel.k8s.io":
		return true
	}
	return false
}

func channelTypes(o streamOpts) []wsstream.ChannelType {
	ch := make([]wsstream.ChannelType, 5)
	ch[stdinChannel], ch[stdoutChannel], ch[stderrChannel] = wsstream.IgnoreChannel, wsstream.IgnoreChannel, wsstream.IgnoreChannel
	if o.stdin {
		ch[stdinChannel] = wsstream.ReadChannel
	}
	if o.stdout {
		ch[stdoutChannel] = wsstream.WriteChannel
	}
	if o.stderr {
		ch[stderrChannel] = wsstream.WriteChannel
	}
	ch[errorChannel] = wsstream.WriteChannel
	ch[resizeChannel] = wsstream.ReadChannel
	return ch
}

// translateWebSocket serves the caller's WebSocket session and runs it against the
// runtime over SPDY, as kube-apiserver's stream translator does.
func (s *Server) translateWebSocket(w http.ResponseWriter, r *http.Request, upstream *url.URL, opts streamOpts) {
	channels := channelTypes(opts)
	protocols := map[string]wsstream.ChannelProtocolConfig{}
	for _, p := range remoteCommandProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: p != wsstream.Base64ChannelWebSocketProtocol && p != "v4.base64.channel.k8s.io", Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	protocol, streams, err := conn.Open(w, r)
	if err != nil {
		s.log.Debug("websocket handshake", "err", err)
		return
	}
	defer conn.Close()
	// Tell the client the session is established: an empty message on the lowest
	// writable channel, as the kubelet does.
	switch {
	case opts.stdout:
		_, _ = streams[stdoutChannel].Write(nil)
	case opts.stderr:
		_, _ = streams[stderrChannel].Write(nil)
	default:
		_, _ = streams[errorChannel].Write(nil)
	}
	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{
		UpgradeTransport: &http.Transport{DialContext: s.cfg.Dial},
		PingPeriod:       5 * time.Second,
	})
	if err != nil {
		writeStatus(protocol, streams[errorChannel], apierrors.NewInternalError(err))
		return
	}
	executor, err := remotecommand.NewSPDYExecutorForTransports(rt, rt, http.MethodPost, upstream)
	if err != nil {
		writeStatus(protocol, streams[errorChannel], apierrors.NewInternalError(err))
		return
	}
	so := remotecommand.StreamOptions{Tty: opts.tty}
	if opts.stdin {
		so.Stdin = streams[stdinChannel]
	}
	if opts.stdout {
		so.Stdout = streams[stdoutChannel]
	}
	if opts.stderr {
		so.Stderr = streams[stderrChannel]
	}
	if opts.tty {
		so.TerminalSizeQueue = &resizeQueue{dec: json.NewDecoder(streams[resizeChannel])}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	err = executor.StreamWithContext(ctx, so)
	writeStatus(protocol, streams[errorChannel], statusOf(err))
}

// statusOf maps how the session ended to the Status the client reads.
func statusOf(err error) *apierrors.StatusError {
	if err == nil {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusSuccess}}
	}
	var statusErr *apierrors.StatusError
	if errors.As(err, &statusErr) {
		return statusErr
	}
	var exitErr exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure,
			Reason: remotecommandconsts.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type: remotecommandconsts.ExitCodeCauseType, Message: fmt.Sprintf("%d", exitErr.ExitStatus()),
			}}},
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exitErr),
		}}
	}
	return apierrors.NewInternalError(err)
}

// writeStatus ends the session on the error channel: a JSON Status (v4, v5) or, for
// older protocols, the error text (nothing on success).
func writeStatus(protocol string, w io.Writer, st *apierrors.StatusError) {
	if sendsStatus(protocol) {
		status := st.Status()
		status.Kind, status.APIVersion = "Status", "v1"
		raw, _ := json.Marshal(status)
		_, _ = w.Write(raw)
		return
	}
	if st.Status().Status != metav1.StatusSuccess {
		_, _ = w.Write([]byte(st.Error()))
	}
}

// resizeQueue reads the client's terminal sizes from the resize channel.
type resizeQueue struct{ dec *json.Decoder }

func (q *resizeQueue) Next() *remotecommand.TerminalSize {
	var size remotecommand.TerminalSize
	if err := q.dec.Decode(&size); err != nil {
		return nil
	}
	return &size
}
