package streaming

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	gwebsocket "github.com/gorilla/websocket"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	portforwardconsts "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// servePortForward forwards to the pod's sandbox: SPDY and the old WebSocket channel
// protocol pass through to the runtime; SPDY tunneled in WebSocket
// ("SPDY/3.1+portforward.k8s.io", kubectl ≥ 1.30) is unwrapped first.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	pod := refFrom(r)
	id, err := s.podSandbox(r.Context(), pod)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc, err := s.cfg.Runtime.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: id})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	upstream, err := url.Parse(loc)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("runtime streaming URL %q: %w", loc, err))
		return
	}
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		s.tunnelPortForward(w, r, upstream)
		return
	}
	// The old WebSocket protocol names its ports in the query.
	upstream.RawQuery = r.URL.RawQuery
	s.passThrough(w, r, upstream)
}

// tunnelPortForward accepts the caller's WebSocket, opens a SPDY port-forward session
// on the runtime's server and copies SPDY frames between the two.
func (s *Server) tunnelPortForward(w http.ResponseWriter, r *http.Request, upstream *url.URL) {
	conn, err := s.cfg.Dial(r.Context(), "tcp", upstream.Host)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("dial the container runtime: %w", err))
		return
	}
	defer conn.Close()
	req, _ := http.NewRequest(http.MethodPost, upstream.String(), nil)
	req.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	req.Header.Set(httpstream.HeaderUpgrade, "SPDY/3.1")
	req.Header.Set(httpstream.HeaderProtocolVersion, portforwardconsts.PortForwardV1Name)
	if err := req.Write(conn); err != nil {
		s.writeError(w, r, fmt.Errorf("port-forward upgrade request: %w", err))
		return
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("port-forward upgrade response: %w", err))
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		s.writeError(w, r, fmt.Errorf("container runtime refused port-forward: %s: %s", resp.Status, strings.TrimSpace(string(body))))
		return
	}
	upgrader := gwebsocket.Upgrader{
		Subprotocols: []string{portforwardconsts.WebsocketsSPDYTunnelingPortForwardV1},
		CheckOrigin:  func(*http.Request) bool { return true },
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the caller
	}
	tunnel := portforward.NewTunnelingConnection("server", ws)
	defer tunnel.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(tunnel, br) // runtime → caller (with what the reader buffered)
		_ = tunnel.Close()
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(conn, tunnel) // caller → runtime
		_ = conn.Close()
	}()
	wg.Wait()
}
