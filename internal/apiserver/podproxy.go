package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"

	"github.com/berth/berth/internal/registry"
)

// Pod subresources answered by the pod's node.
var podStreamSubresources = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true}

// isPodStream says whether the request is for pods/{log,exec,attach,portforward}.
func isPodStream(st *registry.Store, info requestInfo) bool {
	return info.Group == "" && info.Resource == "pods" && podStreamSubresources[info.Subresource] && hasSub(st, info.Subresource)
}

// servePodStream answers pods/log by streaming the node's answer, and pods/exec,
// attach and portforward by proxying the upgraded connection (SPDY or WebSocket) to
// the node, which speaks both.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	sub := info.Subresource
	if (sub == "log" && r.Method != http.MethodGet) || (sub != "log" && r.Method != http.MethodGet && r.Method != http.MethodPost) {
		s.writeError(w, r, methodNotAllowed(r.Method, info))
		return
	}
	if s.cfg.NodeTransport == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable("this server does not connect to nodes"))
		return
	}
	obj, err := st.Get(r.Context(), info.Namespace, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	if sub == "log" {
		s.servePodLog(w, r, pod)
		return
	}
	q := r.URL.Query()
	params := url.Values{}
	params.Set("podUID", string(pod.UID))
	path := fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	if sub == "portforward" {
		for _, p := range q["ports"] {
			params.Add("port", p)
		}
	} else {
		container, err := podContainer(pod, q.Get("container"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for param, kubelet := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
			if on, _ := strconv.ParseBool(q.Get(param)); on {
				params.Set(kubelet, "1")
			}
		}
		if sub == "exec" {
			for _, c := range q["command"] {
				params.Add("command", c)
			}
		}
		path = fmt.Sprintf("/%s/%s/%s/%s", sub, pod.Namespace, pod.Name, container)
	}
	if pod.Spec.NodeName == "" {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	loc, err := s.nodeLocation(r.Context(), pod.Spec.NodeName, path, params)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The caller's own credentials stay here; the node knows the API server by its
	// client certificate.
	r.Header.Del("Authorization")
	for k := range r.Header {
		if len(k) > 12 && k[:12] == "Impersonate-" {
			r.Header.Del(k)
		}
	}
	// Upgrade requests carry no body. Without this, the request is forwarded with a
	// chunked empty body whose last chunk the runtime's SPDY server would read as frames.
	r.Body, r.ContentLength, r.TransferEncoding = http.NoBody, 0, nil
	h := proxy.NewUpgradeAwareHandler(loc, s.cfg.NodeTransport, false, true, proxyResponder{s})
	h.UseLocationHost = true
	h.RejectForwardingRedirects = true
	h.ServeHTTP(w, r)
}

type proxyResponder struct{ s *Server }

func (p proxyResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	p.s.writeError(w, r, nodeError(err))
}

// podContainer checks (or picks, for a one-container pod) the container a request is
// about, with kube-apiserver's texts.
func podContainer(pod *corev1.Pod, container string) (string, error) {
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		}
		var names []string
		for _, c := range pod.Spec.InitContainers {
			names = append(names, c.Name)
		}
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		for _, c := range pod.Spec.EphemeralContainers {
			names = append(names, c.Name)
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names))
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == container {
				return container, nil
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == container {
			return container, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
}

// nodeLocation is the URL of path on the node's streaming endpoint: its InternalIP (else
// ExternalIP, else Hostname) and status.daemonEndpoints.kubeletEndpoint.Port.
func (s *Server) nodeLocation(ctx context.Context, nodeName, path string, query url.Values) (*url.URL, error) {
	nodes := s.stores[corev1.SchemeGroupVersion.WithResource("nodes")]
	if nodes == nil {
		return nil, apierrors.NewServiceUnavailable("no node storage")
	}
	obj, err := nodes.Get(ctx, "", nodeName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, nodeName)
		}
		return nil, err
	}
	node := obj.(*corev1.Node)
	host := ""
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" && host == "" {
				host = a.Address
			}
		}
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if host == "" || port <= 0 {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q has no address and port to connect to", nodeName))
	}
	return &url.URL{
		Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(int(port))), Path: path, RawQuery: query.Encode(),
	}, nil
}

// nodeClient is an HTTP client to nodes (logs).
func (s *Server) nodeClient() *http.Client {
	return &http.Client{Transport: s.cfg.NodeTransport}
}
