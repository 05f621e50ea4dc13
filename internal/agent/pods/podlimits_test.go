package pods

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func resources(kv ...string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for i := 0; i+2 < len(kv)+1; i += 3 {
		list := r.Requests
		if kv[i] == "limit" {
			list = r.Limits
		}
		list[corev1.ResourceName(kv[i+1])] = resource.MustParse(kv[i+2])
	}
	return r
}

func TestPodLimits(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want PodLimits
	}{
		{"best effort", corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, PodLimits{CPUShares: 2}},
		{"limits on every container are summed", corev1.PodSpec{Containers: []corev1.Container{
			{Name: "a", Resources: resources("request", "cpu", "250m", "limit", "cpu", "500m", "limit", "memory", "64Mi")},
			{Name: "b", Resources: resources("request", "cpu", "250m", "limit", "cpu", "1", "limit", "memory", "32Mi")},
		}}, PodLimits{MemoryBytes: 96 << 20, CPUMilli: 1500, CPUShares: 512}},
		// (Not defaulted here: the API would have set the requests to the limits.)
		{"one container without a memory limit: no pod memory limit", corev1.PodSpec{Containers: []corev1.Container{
			{Name: "a", Resources: resources("limit", "cpu", "500m", "limit", "memory", "64Mi")},
			{Name: "b", Resources: resources("limit", "cpu", "500m")},
		}}, PodLimits{CPUMilli: 1000, CPUShares: 2}},
		{"an init container's larger limit wins; sidecars add up", corev1.PodSpec{
			InitContainers: []corev1.Container{
				{Name: "sidecar", RestartPolicy: &always, Resources: resources("limit", "memory", "16Mi")},
				{Name: "init", Resources: resources("limit", "memory", "256Mi")},
			},
			Containers: []corev1.Container{{Name: "a", Resources: resources("limit", "memory", "64Mi")}},
		}, PodLimits{MemoryBytes: 272 << 20, CPUShares: 2}},
		{"pod-level resources", corev1.PodSpec{
			Resources:  &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
			Containers: []corev1.Container{{Name: "a"}},
		}, PodLimits{MemoryBytes: 128 << 20, CPUShares: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podLimits(&corev1.Pod{Spec: tc.spec}); got != tc.want {
				t.Errorf("podLimits = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPodLimitsApply(t *testing.T) {
	root := t.TempDir()
	var hs []string
	for _, name := range []string{"memory", "cpu,cpuacct", "pids"} {
		h := filepath.Join(root, name)
		if err := os.MkdirAll(h, 0o755); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	cg := &Cgroups{Root: "/berth", Hierarchies: hs}
	if err := cg.Ensure("u1", func() PodLimits { return PodLimits{MemoryBytes: 64 << 20, CPUMilli: 1500, CPUShares: 512} }); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory/berth/podu1/memory.limit_in_bytes":  "67108864",
		"cpu,cpuacct/berth/podu1/cpu.shares":        "512",
		"cpu,cpuacct/berth/podu1/cpu.cfs_quota_us":  "150000",
		"cpu,cpuacct/berth/podu1/cpu.cfs_period_us": "100000",
	} {
		if raw, err := os.ReadFile(filepath.Join(root, file)); err != nil || string(raw) != want {
			t.Errorf("%s = %q (%v), want %q", file, raw, err, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "pids/berth/podu1")); len(entries) != 0 {
		t.Errorf("pids hierarchy got files: %v", entries)
	}
}
