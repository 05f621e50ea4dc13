package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	osexec "os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/images/testimages"
	"github.com/berth/berth/test/e2e/framework"
)

// kubeClientStep is one line the kubeclient image prints (images/kubeclient).
type kubeClientStep struct {
	Step       string              `json:"step"`
	Host       string              `json:"host"`
	Namespace  string              `json:"namespace"`
	GitVersion string              `json:"gitVersion"`
	Username   string              `json:"username"`
	UID        string              `json:"uid"`
	Groups     []string            `json:"groups"`
	Extra      map[string][]string `json:"extra"`
	Pods       *int                `json:"pods"`
	Error      string              `json:"error"`
	Code       int32               `json:"code"`
}

// TestInClusterClient: an unmodified client-go program in a pod (kubeclient:0.1) loads
// rest.InClusterConfig — the KUBERNETES_SERVICE_HOST/PORT the agent injects and the
// kube-api-access volume's token and CA — and talks to https://10.43.0.1:443 through the
// service proxy: it gets the server's version, is told by SelfSubjectReview that it is the
// pod's service account, and is forbidden to list pods by the built-in policy. Without
// the token (automountServiceAccountToken: false) its config step fails.
func TestInClusterClient(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{testimages.KubeClientRef}, InClusterAPI: true})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	framework.Eventually(t, time.Minute, "the default ServiceAccount", func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
	// The pods run once: wait until the node's service proxy leads the kubernetes Service
	// to the advertised address (the node's namespace has no route to the service CIDR, so
	// a connection from the node itself cannot show it).
	_, port, err := net.SplitHostPort(strings.TrimPrefix(c.Server.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	endpoint := framework.InClusterAPIAddress + " . " + port
	framework.Eventually(t, 30*time.Second, "the kubernetes Service in the node's proxy", func() (bool, error) {
		out, err := osexec.Command("ip", "netns", "exec", c.Node.Name, "nft", "list", "ruleset", "ip").Output()
		if err != nil {
			return false, err
		}
		if !strings.Contains(string(out), ": "+endpoint) && !strings.Contains(string(out), "dnat to "+framework.InClusterAPIAddress+":"+port) {
			return false, fmt.Errorf("no DNAT to %s:%s", framework.InClusterAPIAddress, port)
		}
		return true, nil
	})
	serverVersion, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("service account", func(t *testing.T) {
		pod, steps := runKubeClient(t, ctx, c, "kubeclient", nil)
		if pod.Status.Phase != corev1.PodSucceeded {
			t.Errorf("phase %s (%s); want Succeeded", pod.Status.Phase, summarize(pod))
		}
		if s := steps["config"]; s.Error != "" || s.Host != "https://10.43.0.1:443" || s.Namespace != "default" {
			t.Errorf("config: %+v", s)
		}
		if s := steps["version"]; s.Error != "" || s.GitVersion != serverVersion.GitVersion {
			t.Errorf("version: %+v; want gitVersion %q", s, serverVersion.GitVersion)
		}
		s := steps["whoami"]
		if s.Error != "" || s.Username != "system:serviceaccount:default:default" {
			t.Errorf("whoami: %+v", s)
		}
		for _, g := range []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"} {
			if !slices.Contains(s.Groups, g) {
				t.Errorf("whoami: groups %q lack %s", s.Groups, g)
			}
		}
		for key, want := range map[string]string{
			"authentication.kubernetes.io/pod-name":  pod.Name,
			"authentication.kubernetes.io/pod-uid":   string(pod.UID),
			"authentication.kubernetes.io/node-name": c.Node.Name,
		} {
			if got := s.Extra[key]; !slices.Equal(got, []string{want}) {
				t.Errorf("whoami: extra %s = %q; want %q", key, got, want)
			}
		}
		s = steps["list-pods"]
		const forbidden = `pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods"`
		if !strings.Contains(s.Error, forbidden) || s.Code != 403 {
			t.Errorf("list-pods: %+v; want a 403 %q", s, forbidden)
		}
	})

	t.Run("automount off", func(t *testing.T) {
		pod, steps := runKubeClient(t, ctx, c, "kubeclient-no-token", func(p *corev1.Pod) {
			p.Spec.AutomountServiceAccountToken = ptr.To(false)
		})
		if pod.Status.Phase != corev1.PodFailed {
			t.Errorf("phase %s (%s); want Failed", pod.Status.Phase, summarize(pod))
		}
		if term := containerStatus(pod, "main").State.Terminated; term == nil || term.ExitCode != 1 {
			t.Errorf("main terminated %+v; want exit code 1", term)
		}
		// rest.InClusterConfig returns os.ReadFile's error for the token file.
		const want = "open /var/run/secrets/kubernetes.io/serviceaccount/token: no such file or directory"
		if s := steps["config"]; s.Error != want {
			t.Errorf("config: %+v; want the error %q", s, want)
		}
		if len(steps) != 1 {
			t.Errorf("steps after a failed config: %+v", steps)
		}
	})
}

// runKubeClient runs kubeclient:0.1 in a pod of namespace default (mutated by mutate),
// waits until it has finished and returns it with its output by step, read through the
// API's log endpoint.
func runKubeClient(t *testing.T, ctx context.Context, c *framework.Cluster, name string, mutate func(*corev1.Pod)) (*corev1.Pod, map[string]kubeClientStep) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers:                    []corev1.Container{{Name: "main", Image: testimages.KubeClientRef}},
		},
	}
	if mutate != nil {
		mutate(p)
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitPod(t, c, "default", name, time.Minute, "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	logs := logsOf(t, c, name, "main")
	t.Logf("pod %s %s; its log:\n%s", name, pod.Status.Phase, logs)
	steps := map[string]kubeClientStep{}
	lines := bufio.NewScanner(strings.NewReader(logs))
	for lines.Scan() {
		line := lines.Text()
		if !strings.HasPrefix(line, "{") {
			continue // stderr (client-go's klog) shares the log
		}
		var s kubeClientStep
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Errorf("log line %q: %v", line, err)
			continue
		}
		if _, dup := steps[s.Step]; dup {
			t.Errorf("step %s printed twice", s.Step)
		}
		steps[s.Step] = s
	}
	if len(steps) == 0 {
		t.Fatalf("no steps in the log of %s:\n%s", name, logs)
	}
	return pod, steps
}
