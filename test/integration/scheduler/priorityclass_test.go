package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/test/integration/framework"
)

// podManifest is a pod of one container naming a PriorityClass ("" for none) and, when
// extra is given, more spec lines (two-space indented under spec).
func podManifest(name, class, extra string) string {
	m := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  containers:\n  - name: c\n    image: busybox\n"
	if class != "" {
		m += "  priorityClassName: " + class + "\n"
	}
	return m + extra
}

// wantKubectlErr checks that kubectl failed with want in its stderr.
func wantKubectlErr(t *testing.T, r framework.Result, want string) {
	t.Helper()
	if r.Err == nil || !strings.Contains(r.Stderr, want) {
		t.Fatalf("kubectl: err %v, stderr %q; want it to fail with %q", r.Err, r.Stderr, want)
	}
}

// tableRows returns kubectl get's rows (the header too), each keyed by its first cell.
func tableRows(out string) map[string][]string {
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		cells := strings.Fields(line)
		if len(cells) > 0 {
			rows[cells[0]] = cells
		}
	}
	return rows
}

// TestPriorityClasses: the scheduling.k8s.io/v1 PriorityClass API and the Priority
// admission, as a user meets them through the real kubectl.
func TestPriorityClasses(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	const policyCol = "PreemptLowerPriority"

	t.Run("system classes exist and are listed with Kubernetes' columns", func(t *testing.T) {
		out := c.MustKubectl(t, "get", "pc")
		rows := tableRows(out)
		if h := strings.Join(rows["NAME"], " "); h != "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY" {
			t.Fatalf("header %q:\n%s", h, out)
		}
		for name, value := range map[string]string{"system-cluster-critical": "2000000000", "system-node-critical": "2000001000"} {
			if r := rows[name]; len(r) != 5 || r[1] != value || r[2] != "false" || r[4] != policyCol {
				t.Errorf("row %q, want %s %s false <age> %s", r, name, value, policyCol)
			}
		}
		out = c.MustKubectl(t, "api-resources", "--api-group=scheduling.k8s.io", "--no-headers")
		if got := strings.Fields(out); strings.Join(got, " ") != "priorityclasses pc scheduling.k8s.io/v1 false PriorityClass" {
			t.Errorf("api-resources: %q", out)
		}
	})

	t.Run("create, get and use a class", func(t *testing.T) {
		if out := c.MustKubectl(t, "create", "priorityclass", "high", "--value=1000", "--description=for tests"); out != "priorityclass.scheduling.k8s.io/high created\n" {
			t.Fatalf("create: %q", out)
		}
		r := tableRows(c.MustKubectl(t, "get", "priorityclass", "high"))["high"]
		if len(r) != 5 || r[1] != "1000" || r[2] != "false" || r[4] != policyCol {
			t.Fatalf("get pc high: %q", r)
		}
		mustCreate(t, c, podManifest("hi", "high", ""))
		if got := podPriority(t, c, "hi"); got != "high 1000 PreemptLowerPriority" {
			t.Fatalf("pod of class high: %s", got)
		}
		mustCreate(t, c, podManifest("dns", "system-cluster-critical", ""))
		if got := podPriority(t, c, "dns"); got != "system-cluster-critical 2000000000 PreemptLowerPriority" {
			t.Fatalf("pod of class system-cluster-critical: %s", got)
		}
		mustCreate(t, c, podManifest("plain", "", ""))
		if got := podPriority(t, c, "plain"); got != " 0 PreemptLowerPriority" {
			t.Fatalf("pod of no class: %q", got)
		}
		// Client-side apply needs the class's OpenAPI schema, and validates against it.
		manifest := "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: batch\nvalue: 10\ndescription: %s\n"
		for i, want := range []string{"created", "configured"} {
			desc := []string{"first", "second"}[i]
			out, err := applyStdin(t, c, strings.Replace(manifest, "%s", desc, 1))
			if err != nil || out != "priorityclass.scheduling.k8s.io/batch "+want+"\n" {
				t.Fatalf("apply #%d: %q %v", i+1, out, err)
			}
		}
		wantKubectlErr(t, c.KubectlStdin(t, strings.Replace(manifest, "%s", "x\nvalu: 3", 1), "apply", "-f", "-"),
			`unknown field "valu"`)
		// kubectl explain reads the served OpenAPI schema.
		if out := c.MustKubectl(t, "explain", "priorityclass.value"); !strings.Contains(out, "FIELD: value <integer>") {
			t.Errorf("explain priorityclass.value:\n%s", out)
		}
	})

	t.Run("protobuf", func(t *testing.T) {
		cfg := rest.CopyConfig(c.Config)
		cfg.ContentType = runtime.ContentTypeProtobuf
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf
		client := kubernetes.NewForConfigOrDie(cfg)
		never := corev1.PreemptNever
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "proto"}, Value: -3, PreemptionPolicy: &never, Description: "over protobuf"}
		if _, err := client.SchedulingV1().PriorityClasses().Create(context.Background(), pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := client.SchedulingV1().PriorityClasses().Get(context.Background(), "proto", metav1.GetOptions{})
		if err != nil || got.Value != -3 || *got.PreemptionPolicy != corev1.PreemptNever || got.Description != "over protobuf" {
			t.Fatalf("get over protobuf: %+v %v", got, err)
		}
	})

	t.Run("Kubernetes' refusals", func(t *testing.T) {
		wantKubectlErr(t, c.KubectlStdin(t, podManifest("x", "nope", ""), "create", "-f", "-"),
			`Error from server (Forbidden): error when creating "STDIN": pods "x" is forbidden: no PriorityClass with name nope was found`)
		wantKubectlErr(t, c.KubectlStdin(t, podManifest("fixed", "", "  priority: 5\n"), "create", "-f", "-"),
			`pods "fixed" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`)
		wantKubectlErr(t, c.KubectlStdin(t, podManifest("other", "high", "  priority: 7\n"), "create", "-f", "-"),
			`pods "other" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`)
		wantKubectlErr(t, c.Kubectl(t, "delete", "pc", "system-node-critical"),
			`Error from server (Forbidden): priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class and cannot be deleted`)
		wantKubectlErr(t, c.Kubectl(t, "create", "priorityclass", "system-mine", "--value=1"),
			`error: failed to create priorityclass: PriorityClass.scheduling.k8s.io "system-mine" is invalid: metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class`)
		wantKubectlErr(t, c.Kubectl(t, "create", "priorityclass", "huge", "--value=1000000001"),
			`error: failed to create priorityclass: PriorityClass.scheduling.k8s.io "huge" is invalid: value: Forbidden: maximum allowed value of a user defined priority is 1000000000`)
		wantKubectlErr(t, c.Kubectl(t, "patch", "pc", "high", "-p", `{"value":5}`),
			`The PriorityClass "high" is invalid: value: Forbidden: may not be changed in an update.`)
		if out := c.MustKubectl(t, "get", "pc", "-o", "name"); !strings.Contains(out, "priorityclass.scheduling.k8s.io/system-node-critical\n") {
			t.Errorf("system-node-critical gone after a refused delete:\n%s", out)
		}
	})

	t.Run("the global default", func(t *testing.T) {
		c.MustKubectl(t, "create", "priorityclass", "standard", "--value=100", "--global-default", "--preemption-policy=Never")
		if r := tableRows(c.MustKubectl(t, "get", "pc", "standard"))["standard"]; len(r) != 5 || r[1] != "100" || r[2] != "true" || r[4] != "Never" {
			t.Fatalf("get pc standard: %q", r)
		}
		// The admission follows the classes through a watch, as Kubernetes' plugin does
		// through an informer: wait until it has seen the new default.
		framework.Eventually(t, waitFor, "pods to get the global default", func() bool {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
			got, err := c.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Fatal(err)
			}
			return got.Spec.PriorityClassName == "standard"
		})
		mustCreate(t, c, podManifest("defaulted", "", ""))
		if got := podPriority(t, c, "defaulted"); got != "standard 100 Never" {
			t.Fatalf("pod of no class under a global default: %s", got)
		}
		wantKubectlErr(t, c.Kubectl(t, "create", "priorityclass", "second", "--value=5", "--global-default"),
			`error: failed to create priorityclass: priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass standard is already marked as default. Only one default can exist`)
		// Once the default is gone, pods get priority 0 again.
		c.MustKubectl(t, "delete", "pc", "standard")
		framework.Eventually(t, waitFor, "pods to lose the deleted default", func() bool {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
			got, err := c.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Fatal(err)
			}
			return got.Spec.PriorityClassName == "" && *got.Spec.Priority == 0
		})
	})
}

func applyStdin(t *testing.T, c *framework.Cluster, manifest string) (string, error) {
	t.Helper()
	r := c.KubectlStdin(t, manifest, "apply", "-f", "-")
	if r.Err != nil {
		return r.Stdout, fmt.Errorf("%w: %s", r.Err, r.Stderr)
	}
	return r.Stdout, nil
}

func mustCreate(t *testing.T, c *framework.Cluster, manifest string) {
	t.Helper()
	if r := c.KubectlStdin(t, manifest, "create", "-f", "-"); r.Err != nil {
		t.Fatalf("kubectl create: %v\n%s", r.Err, r.Stderr)
	}
}

// podPriority returns "<priorityClassName> <priority> <preemptionPolicy>" of a pod.
func podPriority(t *testing.T, c *framework.Cluster, name string) string {
	t.Helper()
	return c.MustKubectl(t, "get", "pod", name, "-o", "jsonpath={.spec.priorityClassName} {.spec.priority} {.spec.preemptionPolicy}")
}
