package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/test/e2e/framework"
)

// TestServiceAccountToken: a pod gets the kube-api-access volume (ServiceAccount
// admission) and the agent fills it on tmpfs with a token from the TokenRequest API
// bound to the pod, the cluster CA and the namespace — what client-go's
// rest.InClusterConfig reads. The token authenticates as the pod's service account.
func TestServiceAccountToken(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"busybox:1.35"}, InClusterAPI: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	framework.Eventually(t, time.Minute, "the default ServiceAccount", func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount"

	p := busyboxPod("in-cluster", "sleep 3600")
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitPod(t, c, "default", "in-cluster", time.Minute, "Running", runningAndReady)
	if ns := exec(t, c, pod, "main", "cat", dir+"/namespace"); ns != "default" {
		t.Errorf("namespace file %q", ns)
	}
	if ca := exec(t, c, pod, "main", "cat", dir+"/ca.crt"); ca != string(c.Server.Loopback.CAData) {
		t.Errorf("ca.crt is not the cluster CA:\n%s", ca)
	}
	if mounts := exec(t, c, pod, "main", "grep", dir, "/proc/mounts"); !strings.HasPrefix(mounts, "tmpfs ") || !strings.Contains(mounts, " ro,") {
		t.Errorf("the token volume is not a read-only tmpfs: %q", mounts)
	}
	token := exec(t, c, pod, "main", "cat", dir+"/token")
	cfg := &rest.Config{Host: c.Server.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.Server.Loopback.CAData}}
	review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the pod's token: %v", err)
	}
	u := review.Status.UserInfo
	if u.Username != "system:serviceaccount:default:default" || strings.Join(u.Extra["authentication.kubernetes.io/pod-name"], "") != "in-cluster" ||
		strings.Join(u.Extra["authentication.kubernetes.io/node-name"], "") != c.Node.Name {
		t.Errorf("the token speaks for %+v", u)
	}

	// The API is reachable where the container's environment says (the kubernetes
	// Service, through the service proxy to the advertised address).
	env := exec(t, c, pod, "main", "sh", "-c", "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT")
	if env != "10.43.0.1:443\n" {
		t.Errorf("KUBERNETES_SERVICE_HOST:PORT = %q", env)
	}
	framework.Eventually(t, 30*time.Second, "a TCP connection to 10.43.0.1:443 from the pod", func() (bool, error) {
		res, err := c.Node.CRI.ExecSync(ctx, containerID(t, pod, "main"), []string{"sh", "-c", "nc -w 2 10.43.0.1 443 </dev/null"}, 10*time.Second)
		return err == nil && res.ExitCode == 0, err
	})

	t.Run("automount off", func(t *testing.T) {
		p := busyboxPod("no-token", "sleep 3600")
		p.Spec.AutomountServiceAccountToken = ptr.To(false)
		if _, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := waitPod(t, c, "default", "no-token", time.Minute, "Running", runningAndReady)
		if out := exec(t, c, pod, "main", "sh", "-c", "ls "+dir+" 2>&1 || true"); !strings.Contains(out, "No such file") {
			t.Errorf("ls %s: %q", dir, out)
		}
		for _, v := range pod.Spec.Volumes {
			if strings.HasPrefix(v.Name, "kube-api-access-") {
				t.Errorf("volume %s added with automount off", v.Name)
			}
		}
	})
}
