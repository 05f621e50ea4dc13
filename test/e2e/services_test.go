package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	osexec "os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/berth/berth/test/e2e/framework"
)

// Services on a cluster of two nodes, each in its own network namespace on a shared
// link: names from cluster DNS, virtual IPs through the agents' proxies, pods reaching
// pods on the other node without NAT, NodePorts from outside, canary and blue/green
// behind one selector, scaling under traffic.
func TestServicesAcrossNodes(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Nodes: 2, Images: []string{"app:0.3.2", "app:0.3.3", "busybox:1.35"}})
	ctx := t.Context()
	node0, node1 := c.Nodes[0], c.Nodes[1]

	// A client pod on each node.
	clients := map[string]*corev1.Pod{}
	for i, n := range c.Nodes {
		p := busyboxPod(fmt.Sprintf("client-%d", i), "sleep 3600")
		p.Spec.NodeName = n.Name
		if _, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		clients[n.Name] = waitPod(t, c, "default", p.Name, 2*time.Minute, "client running", runningAndReady)
	}
	client0 := clients[node0.Name]

	foo := deployApp(t, c, "foo", "0.3.2", 4, map[string]string{"app": "foo"})
	svc := createAppService(t, c, "foo", map[string]string{"app": "foo"}, corev1.ServiceTypeNodePort)
	waitEndpoints(t, c, "foo", 4)
	for _, n := range c.Nodes {
		waitProxied(t, n, foo)
	}
	if nodes := podNodes(foo); len(nodes) != 2 {
		t.Fatalf("foo's 4 pods run on %v; want both nodes", nodes)
	}

	t.Run("a pod reaches the service by its short and full names", func(t *testing.T) {
		for _, client := range clients {
			for _, url := range []string{"http://foo", "http://foo.default.svc.cluster.local", "http://foo.default"} {
				out := podWget(t, c, client, url)
				if !strings.HasPrefix(out, "app 0.3.2 on foo-") {
					t.Errorf("wget %s from a pod on %s: %q", url, client.Spec.NodeName, out)
				}
			}
		}
	})

	t.Run("pod to pod across nodes keeps the client's address", func(t *testing.T) {
		for _, p := range foo {
			if p.Spec.NodeName == client0.Spec.NodeName {
				continue
			}
			got := strings.TrimSpace(podWget(t, c, client0, "http://"+p.Status.PodIP+":8080/client"))
			if got != client0.Status.PodIP {
				t.Errorf("pod %s on %s saw the client as %q; want its pod IP %s", p.Name, p.Spec.NodeName, got, client0.Status.PodIP)
			}
		}
	})

	t.Run("logs of a pod on the other node come through its verified streaming endpoint", func(t *testing.T) {
		for _, p := range foo {
			if p.Spec.NodeName == node1.Name {
				if out := logsOf(t, c, p.Name, "app"); !strings.Contains(out, "app 0.3.2 listening") {
					t.Errorf("logs of %s on %s: %q", p.Name, node1.Name, out)
				}
				return
			}
		}
		t.Fatal("no foo pod on the second node")
	})

	t.Run("traffic leaving the cluster network is masqueraded to the node's address", func(t *testing.T) {
		ln, err := c.Link.NetNS.Listen(net.JoinHostPort(c.Link.Gateway, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintln(w, host)
		}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
		got := strings.TrimSpace(podWget(t, c, client0, "http://"+ln.Addr().String()+"/"))
		if got != node0.IP {
			t.Errorf("a host outside the cluster saw the pod as %q; want its node's address %s", got, node0.IP)
		}
	})

	t.Run("every endpoint answers through the ClusterIP from each node", func(t *testing.T) {
		want := podNames(foo)
		for _, n := range c.Nodes {
			got := answeredBy(t, n, "http://"+svc.Spec.ClusterIP+"/", 200)
			if keys := sortedKeys(got); !slices.Equal(keys, want) {
				t.Errorf("from %s, 200 requests answered by %v; want all of %v", n.Name, got, want)
			}
		}
	})

	t.Run("NodePort from outside the nodes", func(t *testing.T) {
		port := svc.Spec.Ports[0].NodePort
		for _, n := range c.Nodes {
			body, err := c.Link.NetNS.HTTPGet(fmt.Sprintf("http://%s:%d/", n.IP, port), 5*time.Second)
			if err != nil || !strings.HasPrefix(body, "app 0.3.2 on foo-") {
				t.Errorf("NodePort %s:%d from outside: %q, %v", n.IP, port, body, err)
			}
		}
	})

	t.Run("headless service: A and SRV records list the pods", func(t *testing.T) {
		createAppService(t, c, "foo-headless", map[string]string{"app": "foo"}, "", func(s *corev1.Service) {
			s.Spec.ClusterIP = corev1.ClusterIPNone
		})
		waitEndpoints(t, c, "foo-headless", 4)
		var ips []string
		for _, p := range foo {
			ips = append(ips, p.Status.PodIP)
		}
		sort.Strings(ips)
		framework.Eventually(t, 10*time.Second, "headless A records", func() (bool, error) {
			got, err := lookup(node1, "foo-headless.default.svc.cluster.local.", dns.TypeA)
			return slices.Equal(got, ips), fmt.Errorf("A: %v (want %v), %v", got, ips, err)
		})
		srv, err := lookup(node1, "_http._tcp.foo-headless.default.svc.cluster.local.", dns.TypeSRV)
		if err != nil || len(srv) != len(ips) {
			t.Errorf("SRV: %v, %v; want %d records", srv, err, len(ips))
		}
		for _, r := range srv {
			if !strings.Contains(r, " 8080 ") || !strings.HasSuffix(r, ".foo-headless.default.svc.cluster.local.") {
				t.Errorf("SRV record %q: want port 8080 and a target under the service", r)
			}
		}
	})

	t.Run("canary: 9 stable and 1 canary split 1000 requests", func(t *testing.T) {
		labels := map[string]string{"app": "web"}
		stable := deployApp(t, c, "web-stable", "0.3.2", 9, map[string]string{"app": "web", "track": "stable"})
		canary := deployApp(t, c, "web-canary", "0.3.3", 1, map[string]string{"app": "web", "track": "canary"})
		web := createAppService(t, c, "foo-web", labels, "")
		waitEndpoints(t, c, "foo-web", 10)
		waitProxied(t, node0, append(stable, canary...))
		got := answeredBy(t, node0, "http://"+web.Spec.ClusterIP+"/version", 1000)
		share := got["0.3.3"]
		framework.Figure(t, "canary share of 1000 requests", fmt.Sprintf("%.1f%%", float64(share)/10))
		if share < 60 || share > 140 || got["0.3.2"]+share != 1000 {
			t.Errorf("1000 requests split %v; want the canary at 10%% ± 4", got)
		}
	})

	t.Run("blue/green: switching the selector moves all traffic, none fails", func(t *testing.T) {
		blue := deployApp(t, c, "bg-blue", "0.3.2", 2, map[string]string{"app": "bg", "color": "blue"})
		deployApp(t, c, "bg-green", "0.3.3", 2, map[string]string{"app": "bg", "color": "green"})
		bg := createAppService(t, c, "bg", map[string]string{"app": "bg", "color": "blue"}, "")
		waitEndpoints(t, c, "bg", 2)
		waitProxied(t, node0, blue)
		url := "http://" + bg.Spec.ClusterIP + "/version"
		load := startLoad(node0, url)
		load.waitFor(t, 50)
		patch := `{"spec":{"selector":{"app":"bg","color":"green"}}}`
		if _, err := c.Client.CoreV1().Services("default").Patch(ctx, "bg", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 20*time.Second, "all traffic on green", func() (bool, error) {
			got := answeredBy(t, node0, url, 50)
			return got["0.3.3"] == 50, fmt.Errorf("answers %v", got)
		})
		res := load.stop()
		framework.Figure(t, "blue/green requests during the switch", len(res.answers))
		if len(res.failures) > 0 {
			t.Errorf("%d of %d requests failed during the switch, first: %v", len(res.failures), len(res.answers)+len(res.failures), res.failures[0])
		}
	})

	t.Run("scaling 10 → 3 → 10 under traffic", func(t *testing.T) {
		pods := deployApp(t, c, "scale", "0.3.2", 10, map[string]string{"app": "scale"}, func(d *appsv1.Deployment) {
			// As Kubernetes users do: keep serving while the endpoint's removal reaches
			// every node's proxy.
			d.Spec.Template.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{
				PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "2"}}},
			}
		})
		sc := createAppService(t, c, "scale", map[string]string{"app": "scale"}, "")
		waitEndpoints(t, c, "scale", 10)
		waitProxied(t, node0, pods)
		url := "http://" + sc.Spec.ClusterIP + "/"
		load := startLoad(node0, url)
		load.waitFor(t, 20)
		scaleTo(t, c, "scale", 3)
		survivors := waitEndpoints(t, c, "scale", 3)
		// Once the node's proxy has the 3 endpoints, only they answer.
		framework.Eventually(t, 10*time.Second, "only the 3 remaining pods answer", func() (bool, error) {
			got := sortedKeys(answeredBy(t, node0, url, 60))
			return slices.Equal(got, survivors), fmt.Errorf("answered by %v, want %v", got, survivors)
		})
		scaleTo(t, c, "scale", 10)
		waitEndpoints(t, c, "scale", 10)
		res := load.stop()
		framework.Figure(t, "requests while scaling", len(res.answers))
		if len(res.failures) > 0 {
			t.Errorf("%d of %d requests failed while scaling, first: %v", len(res.failures), len(res.answers)+len(res.failures), res.failures[0])
		}
	})

	t.Run("an agent that stops cleanly removes its rules, routes and DNS address", func(t *testing.T) {
		inNode1 := func(args ...string) string {
			out, err := osexec.Command("ip", append([]string{"netns", "exec", node1.Name}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v: %s", args, err, out)
			}
			return string(out)
		}
		if out := inNode1("ip", "route", "show", "proto", "98"); !strings.Contains(out, node0.PodCIDR) {
			t.Errorf("before stopping: routes %q lack node0's pod CIDR %s", out, node0.PodCIDR)
		}
		c.StopWorkers(t)
		if out := inNode1("nft", "list", "tables"); strings.Contains(out, "berth") {
			t.Errorf("tables left: %s", out)
		}
		if out := inNode1("ip", "route", "show", "proto", "98"); strings.TrimSpace(out) != "" {
			t.Errorf("routes left: %s", out)
		}
		if out := inNode1("ip", "addr", "show", "lo"); strings.Contains(out, "10.43.0.10") {
			t.Errorf("DNS address left on lo: %s", out)
		}
	})
}

// waitProxied waits until the node's service proxy sends traffic to every one of the
// pods (port 8080): its table maps a service to each (an element "… : IP . 8080" of a
// class map; "dnat to IP:8080" in the chains of a Service with session affinity).
func waitProxied(t *testing.T, n *framework.Node, pods []*corev1.Pod) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, fmt.Sprintf("%s's proxy has the %d endpoints", n.Name, len(pods)), func() (bool, error) {
		out, err := osexec.Command("ip", "netns", "exec", n.Name, "nft", "list", "ruleset", "ip").Output()
		if err != nil {
			return false, err
		}
		for _, p := range pods {
			if !strings.Contains(string(out), ": "+p.Status.PodIP+" . 8080") && !strings.Contains(string(out), "dnat to "+p.Status.PodIP+":8080") {
				return false, fmt.Errorf("no DNAT to %s (%s)", p.Status.PodIP, p.Name)
			}
		}
		return true, nil
	})
}

// deployApp creates a Deployment of app:<version> with the labels and waits for its
// pods to run; it returns them.
func deployApp(t *testing.T, c *framework.Cluster, name, version string, replicas int32, labels map[string]string, mutate ...func(*appsv1.Deployment)) []*corev1.Pod {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptrTo[int64](5),
					Containers: []corev1.Container{{
						Name: "app", Image: "app:" + version, ImagePullPolicy: corev1.PullNever,
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
					}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
					}},
				},
			},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	if _, err := c.Client.AppsV1().Deployments("default").Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return waitAppPods(t, c, labels, int(replicas))
}

// waitAppPods waits until exactly n pods with the labels run and are ready.
func waitAppPods(t *testing.T, c *framework.Cluster, labels map[string]string, n int) []*corev1.Pod {
	t.Helper()
	var pods []*corev1.Pod
	sel := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels})
	framework.Eventually(t, 3*time.Minute, fmt.Sprintf("%d pods %s ready", n, sel), func() (bool, error) {
		list, err := c.Client.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		pods = pods[:0]
		for i := range list.Items {
			p := &list.Items[i]
			if p.DeletionTimestamp == nil && runningAndReady(p) {
				pods = append(pods, p)
			}
		}
		return len(pods) == n && len(list.Items) == n, fmt.Errorf("%d of %d ready", len(pods), len(list.Items))
	})
	return pods
}

func createAppService(t *testing.T, c *framework.Cluster, name string, selector map[string]string, typ corev1.ServiceType, mutate ...func(*corev1.Service)) *corev1.Service {
	t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type: typ, Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	created, err := c.Client.CoreV1().Services("default").Create(t.Context(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// waitEndpoints waits until the service's slices list exactly n ready endpoints and
// returns the pods' names.
func waitEndpoints(t *testing.T, c *framework.Cluster, service string, n int) []string {
	t.Helper()
	var names []string
	framework.Eventually(t, time.Minute, fmt.Sprintf("%d ready endpoints of %s", n, service), func() (bool, error) {
		list, err := c.Client.DiscoveryV1().EndpointSlices("default").List(t.Context(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
		if err != nil {
			return false, err
		}
		names = names[:0]
		total := 0
		for _, s := range list.Items {
			for _, ep := range s.Endpoints {
				total++
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready && ep.TargetRef != nil {
					names = append(names, ep.TargetRef.Name)
				}
			}
		}
		sort.Strings(names)
		return len(names) == n && total == n, fmt.Errorf("%d ready of %d", len(names), total)
	})
	return names
}

func scaleTo(t *testing.T, c *framework.Cluster, name string, replicas int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := c.Client.AppsV1().Deployments("default").Patch(t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// podWget runs busybox wget (whose -T crashes busybox 1.35 here) in the pod's first container and returns the body.
func podWget(t *testing.T, c *framework.Cluster, pod *corev1.Pod, url string) string {
	t.Helper()
	n := c.NodeNamed(pod.Spec.NodeName)
	res, err := n.CRI.ExecSync(t.Context(), containerID(t, pod, pod.Spec.Containers[0].Name), []string{"wget", "-qO-", url}, 15*time.Second)
	if err != nil {
		t.Fatalf("wget %s in %s: %v", url, pod.Name, err)
	}
	if res.ExitCode != 0 {
		t.Errorf("wget %s in %s: exit %d: %s", url, pod.Name, res.ExitCode, res.Stderr)
	}
	return string(res.Stdout)
}

// answeredBy sends n requests from the node and counts the answers: the pod name of
// an "app <v> on <pod>" answer, else the body.
func answeredBy(t *testing.T, n *framework.Node, url string, count int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range count {
		body, err := n.HTTPGet(url, 5*time.Second)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", url, n.Name, err)
		}
		got[answerer(body)]++
	}
	return got
}

func answerer(body string) string {
	body = strings.TrimSpace(body)
	if _, pod, ok := strings.Cut(body, " on "); ok {
		return pod
	}
	return body
}

func podNames(pods []*corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

func podNodes(pods []*corev1.Pod) map[string]int {
	nodes := map[string]int{}
	for _, p := range pods {
		nodes[p.Spec.NodeName]++
	}
	return nodes
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lookup asks the cluster DNS on the node (10.43.0.10, inside its namespace) and
// returns the answers' data, sorted: addresses for A, "prio weight port target" for SRV.
func lookup(n *framework.Node, name string, qtype uint16) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	var in *dns.Msg
	err := n.Do(func() error {
		conn, err := net.DialTimeout("udp", "10.43.0.10:53", 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		in, _, err = (&dns.Client{Timeout: 2 * time.Second}).ExchangeWithConn(m, &dns.Conn{Conn: conn})
		return err
	})
	if err != nil {
		return nil, err
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s: %s", name, dns.RcodeToString[in.Rcode])
	}
	var out []string
	for _, rr := range in.Answer {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.SRV:
			out = append(out, fmt.Sprintf("%d %d %d %s", r.Priority, r.Weight, r.Port, r.Target))
		}
	}
	sort.Strings(out)
	return out, nil
}

// load sends requests from a node one after another until stopped.
type load struct {
	mu       sync.Mutex
	answers  []string
	failures []error
	cancel   context.CancelFunc
	done     chan struct{}
}

type loadResult struct {
	answers  []string
	failures []error
}

func startLoad(n *framework.Node, url string) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			body, err := n.HTTPGet(url, 5*time.Second)
			l.mu.Lock()
			if err != nil {
				l.failures = append(l.failures, err)
			} else {
				l.answers = append(l.answers, answerer(body))
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// waitFor waits until n requests have been answered.
func (l *load) waitFor(t *testing.T, n int) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, fmt.Sprintf("%d answers", n), func() (bool, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.answers) >= n, fmt.Errorf("%d answers, %d failures", len(l.answers), len(l.failures))
	})
}

func (l *load) stop() loadResult {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return loadResult{answers: l.answers, failures: l.failures}
}
