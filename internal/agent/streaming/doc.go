// Package streaming is the node's streaming endpoint, the role of the kubelet's :10250:
// an HTTPS server that the API server (and only the API server, by its client
// certificate) calls for a pod's container logs, exec, attach and port-forward.
//
// Logs are read from the CRI log files the runtime writes ("<RFC3339Nano> stdout|stderr
// F|P <line>"), with tail, since, timestamps, byte limits and follow (polling, safe across
// log rotation). Exec, attach and port-forward ask the runtime (CRI Exec/Attach/
// PortForward) for a URL on its own streaming server, which listens on loopback inside
// the node's network namespace, and proxy to it: SPDY passes through unchanged;
// WebSocket clients (v5.channel.k8s.io and older channel protocols) are translated to
// SPDY here, and port-forward's SPDY-over-WebSocket tunnel is unwrapped. So the API
// server stays a plain upgrade-aware proxy.
//
// The package owns no pod state: it finds containers and sandboxes by the labels the pod
// sync loop gives them, and never changes them.
package streaming
