// Package proxytest builds throwaway networks in network namespaces for the proxy's
// end-to-end tests and benchmarks (root only): a node with a pod bridge, pods on it
// serving HTTP from goroutines of the calling process, and a host outside the node on
// an uplink. Close removes every namespace, and with them every link and nft table.
package proxytest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/netns"
)

// Options shape a Lab; zero values take the defaults noted.
type Options struct {
	// Pods is how many pods the node gets: pod-0 … (default 2).
	Pods int
	// Prefix starts every namespace name (default "berth-proxy").
	Prefix string
}

// The lab's addresses: a /24 of the default pod CIDR, the default service CIDR routed to
// the node from outside, and an uplink network between the node and the outside host.
const (
	PodGateway  = "10.42.0.1"
	PodPrefix   = "10.42.0." // pod i has PodPrefix + (10+i)
	ClusterCIDR = "10.42.0.0/16"
	ServiceCIDR = "10.43.0.0/16"
	NodeIP      = "192.168.77.1"
	OutsideIP   = "192.168.77.2"
)

// NetNS is one network namespace of the lab.
type NetNS struct {
	Name string
	Path string
	IP   string // its main address
}

// Do runs fn inside the namespace.
func (ns *NetNS) Do(fn func() error) error { return netns.Do(ns.Path, fn) }

// Pod is a pod of the lab: its own namespace with eth0 on the node's bridge.
type Pod struct {
	NetNS
	Index int
}

// Lab is a node, its pods and an outside host.
type Lab struct {
	Node    *NetNS
	Outside *NetNS
	Pods    []*Pod

	mu      sync.Mutex
	servers []*http.Server
	names   []string
}

// Require says why a lab cannot be built here, or "" when it can.
func Require() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, nftables)"
	}
	for _, bin := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			return "needs " + bin + " (iproute2, nftables)"
		}
	}
	return ""
}

// New builds a lab; call Close when done, also when New fails half-way (it cleans up
// what it made).
func New(opts Options) (lab *Lab, err error) {
	if opts.Pods == 0 {
		opts.Pods = 2
	}
	if opts.Prefix == "" {
		opts.Prefix = "berth-proxy"
	}
	id := make([]byte, 3)
	_, _ = rand.Read(id)
	prefix := opts.Prefix + "-" + hex.EncodeToString(id) + "-"
	lab = &Lab{}
	defer func() {
		if err != nil {
			err = errors.Join(err, lab.Close())
			lab = nil
		}
	}()
	add := func(name, ip string) (*NetNS, error) {
		ns := &NetNS{Name: prefix + name, Path: netns.Path(prefix + name), IP: ip}
		if err := ipCmd("netns", "add", ns.Name); err != nil {
			return nil, err
		}
		lab.names = append(lab.names, ns.Name)
		return ns, ipCmd("-n", ns.Name, "link", "set", "lo", "up")
	}
	if lab.Node, err = add("node", NodeIP); err != nil {
		return lab, err
	}
	if lab.Outside, err = add("outside", OutsideIP); err != nil {
		return lab, err
	}
	node, out := lab.Node.Name, lab.Outside.Name
	// The node routes between pods and the uplink, and passes bridged pod-to-pod
	// traffic through netfilter (br_netfilter), which service DNAT needs when client
	// and endpoint share the bridge.
	if err := lab.Node.Do(func() error {
		for _, sysctl := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/bridge/bridge-nf-call-iptables"} {
			if err := os.WriteFile(sysctl, []byte("1"), 0o644); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return lab, err
	}
	steps := [][]string{
		{"-n", node, "link", "add", "berth0", "type", "bridge"},
		{"-n", node, "addr", "add", PodGateway + "/24", "dev", "berth0"},
		{"-n", node, "link", "set", "berth0", "up"},
		{"-n", node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", out},
		{"-n", node, "addr", "add", NodeIP + "/24", "dev", "eth0"},
		{"-n", node, "link", "set", "eth0", "up"},
		{"-n", out, "addr", "add", OutsideIP + "/24", "dev", "eth0"},
		{"-n", out, "link", "set", "eth0", "up"},
		// The node's default route is the uplink (so its own processes can route to
		// service IPs); the outside host routes the cluster's networks to the node.
		{"-n", node, "route", "add", "default", "via", OutsideIP},
		{"-n", out, "route", "add", ServiceCIDR, "via", NodeIP},
		{"-n", out, "route", "add", ClusterCIDR, "via", NodeIP},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return lab, err
		}
	}
	for i := range opts.Pods {
		ip := fmt.Sprintf("%s%d", PodPrefix, 10+i)
		ns, err := add(fmt.Sprintf("pod%d", i), ip)
		if err != nil {
			return lab, err
		}
		lab.Pods = append(lab.Pods, &Pod{NetNS: *ns, Index: i})
		port := fmt.Sprintf("vpod%d", i)
		for _, s := range [][]string{
			{"-n", node, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.Name},
			{"-n", node, "link", "set", port, "master", "berth0"},
			// Hairpin: a pod's packets DNATed back to itself leave through its port.
			{"-n", node, "link", "set", port, "type", "bridge_slave", "hairpin", "on"},
			{"-n", node, "link", "set", port, "up"},
			{"-n", ns.Name, "addr", "add", ip + "/24", "dev", "eth0"},
			{"-n", ns.Name, "link", "set", "eth0", "up"},
			{"-n", ns.Name, "route", "add", "default", "via", PodGateway},
		} {
			if err := ipCmd(s...); err != nil {
				return lab, err
			}
		}
	}
	return lab, nil
}

// Close stops the servers and deletes every namespace (links and nft tables go with
// them).
func (l *Lab) Close() error {
	l.mu.Lock()
	servers := l.servers
	l.servers = nil
	l.mu.Unlock()
	var errs []error
	for _, s := range servers {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(l.names) - 1; i >= 0; i-- {
		if err := ipCmd("netns", "delete", l.names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.names = nil
	return errors.Join(errs...)
}

// Names lists the lab's namespaces (for leak checks).
func (l *Lab) Names() []string { return append([]string(nil), l.names...) }

// Serve answers HTTP on port inside ns with "<name> <client address>\n"; Close stops
// it.
func (l *Lab) Serve(ns *NetNS, port int, name string) error {
	lis, err := netns.Value(ns.Path, func() (net.Listener, error) {
		return net.Listen("tcp", fmt.Sprintf(":%d", port))
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintf(w, "%s %s\n", name, host)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	l.mu.Lock()
	l.servers = append(l.servers, srv)
	l.mu.Unlock()
	go func() { _ = srv.Serve(lis) }() // ends when Close closes srv
	return nil
}

// Get makes one HTTP GET on a new connection from inside ns and returns the answer's
// name and the client address the server saw.
func (ns *NetNS) Get(addr string, timeout time.Duration) (name, client string, err error) {
	body, err := netns.Value(ns.Path, func() (string, error) {
		conn, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(timeout))
		return RoundTrip(bufio.NewReader(conn), conn, false)
	})
	if err != nil {
		return "", "", err
	}
	name, client, _ = strings.Cut(strings.TrimSpace(body), " ")
	return name, client, nil
}

// RoundTrip writes a minimal GET on conn and reads the answer's body; keepAlive leaves
// the connection open for the next one.
func RoundTrip(r *bufio.Reader, w io.Writer, keepAlive bool) (string, error) {
	req := "GET / HTTP/1.1\r\nHost: lab\r\n"
	if !keepAlive {
		req += "Connection: close\r\n"
	}
	if _, err := io.WriteString(w, req+"\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}
	return string(body), nil
}

func ipCmd(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
