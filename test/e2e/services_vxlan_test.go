package e2e

import (
	"fmt"
	"net/netip"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/agent/podnet"
	"github.com/berth/berth/test/e2e/framework"
)

// Two nodes on subnets of their own, joined by a router (no shared L2 segment): the
// agents (--pod-network auto) reach each other's pods through their VXLAN devices. Pods
// talk across nodes by pod IP without NAT, Services and NodePorts reach pods on the
// other node, large transfers pass the tunnel's smaller MTU, and a stopped cluster
// leaves no device, route or namespace behind.
func TestServicesOverVXLAN(t *testing.T) {
	framework.RequireVXLAN(t)
	var nodeNetNS []string
	// Registered before the cluster's cleanup, so it runs after it.
	t.Cleanup(func() { assertNetworkGone(t, nodeNetNS) })
	c := framework.StartCluster(t, framework.ClusterOptions{Nodes: 2, Routed: true, Images: []string{"app:0.3.2", "busybox:1.35"}})
	node0, node1 := c.Nodes[0], c.Nodes[1]
	nodeNetNS = []string{node0.Name, node1.Name, c.Link.NetNS.Name}
	if sameSubnet(t, node0.IP, node1.IP) {
		t.Fatalf("nodes %s and %s share a /24; the test needs them apart", node0.IP, node1.IP)
	}

	for _, n := range c.Nodes {
		waitTunnelRoutes(t, c, n)
	}
	clients, servers := startPodPairs(t, c)
	foo := createAppService(t, c, "vx-server-0", map[string]string{"vx-server": node0.Name}, corev1.ServiceTypeNodePort)
	waitEndpoints(t, c, "vx-server-0", 1)
	waitProxied(t, node1, []*corev1.Pod{servers[node0.Name]})

	t.Run("the other node's pods are routed through the VXLAN device", func(t *testing.T) { checkTunnel(t, c) })

	t.Run("pod to pod across nodes keeps the client's address", func(t *testing.T) {
		for i, n := range c.Nodes {
			client, server := clients[n.Name], servers[c.Nodes[1-i].Name]
			got := strings.TrimSpace(podWget(t, c, client, "http://"+server.Status.PodIP+":8080/client"))
			if got != client.Status.PodIP {
				t.Errorf("%s on %s saw the client as %q; want its pod IP %s", server.Name, server.Spec.NodeName, got, client.Status.PodIP)
			}
		}
	})

	t.Run("a pod reaches a Service whose pod is on the other node", func(t *testing.T) {
		client := clients[node1.Name]
		for _, url := range []string{"http://vx-server-0/", "http://" + foo.Spec.ClusterIP + "/"} {
			if out := podWget(t, c, client, url); !strings.HasPrefix(out, "app 0.3.2 on vx-server-0") {
				t.Errorf("wget %s from %s: %q", url, node1.Name, out)
			}
		}
		if got := strings.TrimSpace(podWget(t, c, client, "http://vx-server-0/client")); got != client.Status.PodIP {
			t.Errorf("through the Service the server saw the client as %q; want its pod IP %s", got, client.Status.PodIP)
		}
	})

	t.Run("NodePort of the other node from outside", func(t *testing.T) {
		url := fmt.Sprintf("http://%s:%d/", node1.IP, foo.Spec.Ports[0].NodePort)
		body, err := c.Link.NetNS.HTTPGet(url, 5*time.Second)
		if err != nil || !strings.HasPrefix(body, "app 0.3.2 on vx-server-0") {
			t.Errorf("GET %s from outside: %q, %v", url, body, err)
		}
	})

	t.Run("large transfers pass the tunnel's MTU", func(t *testing.T) {
		// Pods keep the link's MTU in auto mode; TCP through the tunnel is clamped.
		if mtu := strings.TrimSpace(podExec(t, c, clients[node0.Name], "cat", "/sys/class/net/eth0/mtu")); mtu != "1500" {
			t.Errorf("pod MTU in auto mode: %s, want the link's 1500", mtu)
		}
		checkLargeTransfers(t, c, clients, c.Nodes)
	})

	t.Run("an agent that stops cleanly removes its tunnel and routes", func(t *testing.T) {
		c.StopWorkers(t)
		c.Stop(t)
		for _, n := range c.Nodes {
			if out := inNetNS(t, n.Name, "ip", "link", "show", "type", "vxlan"); strings.TrimSpace(out) != "" {
				t.Errorf("%s: VXLAN device left: %s", n.Name, out)
			}
			if out := inNetNS(t, n.Name, "ip", "route", "show", "proto", "98"); strings.TrimSpace(out) != "" {
				t.Errorf("%s: routes left: %s", n.Name, out)
			}
		}
	})
}

// --pod-network vxlan on nodes that share a link: every pod of another node through the
// tunnel, and pods get the tunnel's MTU.
func TestPodNetworkVXLANMode(t *testing.T) {
	framework.RequireVXLAN(t)
	c := framework.StartCluster(t, framework.ClusterOptions{
		Nodes: 2, Images: []string{"app:0.3.2", "busybox:1.35"},
		Agent: func(o *agent.Options) { o.PodNetwork = podnet.ModeVXLAN },
	})
	for _, n := range c.Nodes {
		waitTunnelRoutes(t, c, n)
	}
	checkTunnel(t, c)
	clients, servers := startPodPairs(t, c)
	for i, n := range c.Nodes {
		if mtu := strings.TrimSpace(podExec(t, c, clients[n.Name], "cat", "/sys/class/net/eth0/mtu")); mtu != "1450" {
			t.Errorf("pod MTU on %s in vxlan mode: %s, want 1450 (the link's 1500 less VXLAN's 50)", n.Name, mtu)
		}
		client, server := clients[n.Name], servers[c.Nodes[1-i].Name]
		got := strings.TrimSpace(podWget(t, c, client, "http://"+server.Status.PodIP+":8080/client"))
		if got != client.Status.PodIP {
			t.Errorf("%s saw the client as %q; want its pod IP %s", server.Name, got, client.Status.PodIP)
		}
	}
	checkLargeTransfers(t, c, clients, c.Nodes)
}

// checkTunnel checks that each of the two nodes has its VXLAN device and reaches the
// other's pods through it.
func checkTunnel(t *testing.T, c *framework.Cluster) {
	t.Helper()
	for i, n := range c.Nodes {
		peer := c.Nodes[1-i]
		route := inNetNS(t, n.Name, "ip", "route", "show", peer.PodCIDR, "proto", "98")
		vtep := netip.MustParsePrefix(peer.PodCIDR).Addr().String()
		if want := "via " + vtep + " dev " + podnet.VXLANDevice; !strings.Contains(route, want) {
			t.Errorf("%s: route to %s's pods %q; want %q", n.Name, peer.Name, route, want)
		}
		dev := inNetNS(t, n.Name, "ip", "-d", "link", "show", podnet.VXLANDevice)
		for _, want := range []string{"vxlan id 1", "local " + n.IP, "dstport 8472", "nolearning", "mtu 1450"} {
			if !strings.Contains(dev, want) {
				t.Errorf("%s: %s lacks %q:\n%s", n.Name, podnet.VXLANDevice, want, dev)
			}
		}
		fdb := inNetNS(t, n.Name, "bridge", "fdb", "show", "dev", podnet.VXLANDevice)
		if !strings.Contains(fdb, "dst "+peer.IP) {
			t.Errorf("%s: no forwarding entry to %s:\n%s", n.Name, peer.IP, fdb)
		}
	}
}

// startPodPairs runs, on every node, a busybox client that also serves a 4 MiB file
// over HTTP on port 8081, and an app pod vx-server-<i> labelled vx-server=<node>.
func startPodPairs(t *testing.T, c *framework.Cluster) (clients, servers map[string]*corev1.Pod) {
	t.Helper()
	clients, servers = map[string]*corev1.Pod{}, map[string]*corev1.Pod{}
	for i, n := range c.Nodes {
		p := busyboxPod(fmt.Sprintf("vx-client-%d", i),
			"mkdir -p /www && dd if=/dev/zero of=/www/big bs=1024 count=4096 2>/dev/null && exec httpd -f -p 8081 -h /www")
		p.Spec.NodeName = n.Name
		if _, err := c.Client.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vx-server-%d", i), Labels: map[string]string{"vx-server": n.Name}},
			Spec: corev1.PodSpec{
				NodeName: n.Name, TerminationGracePeriodSeconds: ptrTo[int64](1),
				Containers: []corev1.Container{{
					Name: "app", Image: "app:0.3.2", ImagePullPolicy: corev1.PullNever,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}},
			},
		}
		if _, err := c.Client.CoreV1().Pods("default").Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range c.Nodes {
		clients[n.Name] = waitPod(t, c, "default", fmt.Sprintf("vx-client-%d", i), 2*time.Minute, "client running", runningAndReady)
		servers[n.Name] = waitPod(t, c, "default", fmt.Sprintf("vx-server-%d", i), 2*time.Minute, "server running", runningAndReady)
	}
	return clients, servers
}

// checkLargeTransfers fetches the 4 MiB file of each node's client pod from the other
// node's client pod: full-size TCP segments cross the tunnel.
func checkLargeTransfers(t *testing.T, c *framework.Cluster, clients map[string]*corev1.Pod, nodes []*framework.Node) {
	t.Helper()
	for i, n := range nodes {
		from, to := clients[n.Name], clients[nodes[1-i].Name]
		url := "http://" + to.Status.PodIP + ":8081/big"
		started := time.Now()
		out := podExec(t, c, from, "sh", "-c", "wget -qO- "+url+" | wc -c")
		if got, _ := strconv.Atoi(strings.TrimSpace(out)); got != 4<<20 {
			t.Errorf("%s fetched %s from %s: %q bytes, want %d", from.Name, url, to.Spec.NodeName, strings.TrimSpace(out), 4<<20)
		}
		framework.Figure(t, "4 MiB pod to pod across nodes ("+n.Name+")", time.Since(started).Round(time.Millisecond))
	}
}

// waitTunnelRoutes waits until the node routes every other node's pod CIDR.
func waitTunnelRoutes(t *testing.T, c *framework.Cluster, n *framework.Node) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, n.Name+" routes the other nodes' pods", func() (bool, error) {
		out := inNetNS(t, n.Name, "ip", "route", "show", "proto", "98")
		for _, peer := range c.Nodes {
			if peer != n && !strings.Contains(out, peer.PodCIDR) {
				return false, fmt.Errorf("no route to %s's %s in %q", peer.Name, peer.PodCIDR, out)
			}
		}
		return true, nil
	})
}

// podExec runs a command in the pod's first container and returns its output.
func podExec(t *testing.T, c *framework.Cluster, pod *corev1.Pod, cmd ...string) string {
	t.Helper()
	res, err := c.NodeNamed(pod.Spec.NodeName).CRI.ExecSync(t.Context(), containerID(t, pod, pod.Spec.Containers[0].Name), cmd, 30*time.Second)
	if err != nil {
		t.Fatalf("%v in %s: %v", cmd, pod.Name, err)
	}
	if res.ExitCode != 0 {
		t.Errorf("%v in %s: exit %d: %s", cmd, pod.Name, res.ExitCode, res.Stderr)
	}
	return string(res.Stdout)
}

func inNetNS(t *testing.T, netNS string, args ...string) string {
	t.Helper()
	out, err := osexec.Command("ip", append([]string{"netns", "exec", netNS}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v in %s: %v: %s", args, netNS, err, out)
	}
	return string(out)
}

func sameSubnet(t *testing.T, a, b string) bool {
	t.Helper()
	pa, err := netip.ParseAddr(a)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pa.Prefix(24)
	return p.Contains(netip.MustParseAddr(b))
}

// assertNetworkGone checks that the namespaces are gone and the host has no VXLAN
// device and no podnet route.
func assertNetworkGone(t *testing.T, netNSs []string) {
	for _, name := range netNSs {
		if _, err := os.Stat("/run/netns/" + name); err == nil {
			t.Errorf("network namespace %s left", name)
		}
	}
	if out, _ := osexec.Command("ip", "link", "show", podnet.VXLANDevice).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("host has a %s: %s", podnet.VXLANDevice, out)
	}
	if out, _ := osexec.Command("ip", "route", "show", "proto", "98").CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("host has podnet routes: %s", out)
	}
}
