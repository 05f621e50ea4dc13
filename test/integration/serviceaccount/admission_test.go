package serviceaccount_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

const tokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// tokenVolume returns the pod's kube-api-access volume name and whether every init and
// regular container mounts it read-only at the token path.
func tokenVolume(pod *corev1.Pod) (string, bool) {
	name := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") && v.Projected != nil {
			name = v.Name
		}
	}
	if name == "" {
		return "", false
	}
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || (m.Name == name && m.MountPath == tokenMountPath && m.ReadOnly)
		}
		if !mounted {
			return name, false
		}
	}
	return name, true
}

func TestServiceAccountAdmission(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := context.Background()

	t.Run("a pod created right after its namespace runs as default", func(t *testing.T) {
		// The controller creates "default" a moment after the namespace; the admission
		// waits for it instead of refusing the pod.
		c.MustKubectl(t, "create", "ns", "fresh")
		c.MustKubectl(t, "run", "p", "--image=x", "-n", "fresh")
		out := c.MustKubectl(t, "get", "pod", "p", "-n", "fresh", "-o", "yaml")
		for _, want := range []string{
			"serviceAccountName: default", "name: kube-api-access-", "mountPath: " + tokenMountPath,
			"expirationSeconds: 3607", "name: kube-root-ca.crt", "fieldPath: metadata.namespace",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl get pod -o yaml lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("a missing account is refused", func(t *testing.T) {
		r := c.Kubectl(t, "run", "q", "--image=x", `--overrides={"spec":{"serviceAccountName":"nope"}}`)
		const want = `Error from server (Forbidden): pods "q" is forbidden: error looking up service account default/nope: serviceaccount "nope" not found`
		if r.Err == nil || strings.TrimSpace(r.Stderr) != want {
			t.Fatalf("kubectl run: err %v stderr %q\nwant %q", r.Err, r.Stderr, want)
		}
	})

	t.Run("a Deployment's pods all get the volume", func(t *testing.T) {
		c.MustKubectl(t, "create", "deployment", "web", "--image=x", "--replicas=3", "-n", "fresh")
		var pods *corev1.PodList
		framework.Eventually(t, 30*time.Second, "3 pods of web", func() bool {
			var err error
			pods, err = c.Client.CoreV1().Pods("fresh").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			return err == nil && len(pods.Items) == 3
		})
		for _, pod := range pods.Items {
			if name, ok := tokenVolume(&pod); !ok {
				t.Errorf("pod %s: token volume %q not mounted in every container: %+v", pod.Name, name, pod.Spec)
			}
		}
	})

	t.Run("server-side apply again keeps the volume", func(t *testing.T) {
		manifest := func(tier string) string {
			return `apiVersion: v1
kind: Pod
metadata:
  name: applied
  namespace: fresh
  labels: {tier: ` + tier + `}
spec:
  containers:
  - name: app
    image: x
`
		}
		apply := func(tier string) *corev1.Pod {
			t.Helper()
			r := c.KubectlStdin(t, manifest(tier), "apply", "--server-side", "-f", "-")
			if r.Err != nil {
				t.Fatalf("kubectl apply --server-side: %v\n%s", r.Err, r.Stderr)
			}
			pod, err := c.Client.CoreV1().Pods("fresh").Get(ctx, "applied", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return pod
		}
		first, ok := tokenVolume(apply("a"))
		if !ok {
			t.Fatalf("applied pod has no mounted token volume (%q)", first)
		}
		for _, tier := range []string{"a", "b"} { // unchanged, then a real change
			pod := apply(tier)
			if again, ok := tokenVolume(pod); !ok || again != first {
				t.Fatalf("after applying tier=%s: token volume %q (mounted: %v), was %q", tier, again, ok, first)
			}
			if pod.Labels["tier"] != tier {
				t.Fatalf("labels %v after applying tier=%s", pod.Labels, tier)
			}
		}
	})
}
