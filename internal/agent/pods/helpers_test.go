package pods

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func equalStatus(a, b corev1.PodStatus) bool { return apiequality.Semantic.DeepEqual(a, b) }

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "B": "y"}
	for in, want := range map[string]string{
		"plain":          "plain",
		"$(A)":           "x",
		"$(A)-$(B)":      "x-y",
		"$$(A)":          "$(A)",
		"$(C)":           "$(C)",
		"$(A":            "$(A",
		"cost $5":        "cost $5",
		"$()":            "$()",
		"a$$b":           "a$b",
		"$(A)$(A)$$$(B)": "xx$y",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShouldRestart(t *testing.T) {
	cases := []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{corev1.RestartPolicyAlways, 0, true}, {corev1.RestartPolicyAlways, 1, true},
		{corev1.RestartPolicyOnFailure, 0, false}, {corev1.RestartPolicyOnFailure, 1, true},
		{corev1.RestartPolicyNever, 0, false}, {corev1.RestartPolicyNever, 1, false},
	}
	for _, tc := range cases {
		if got := shouldRestart(tc.policy, tc.code); got != tc.want {
			t.Errorf("shouldRestart(%s, %d) = %v", tc.policy, tc.code, got)
		}
	}
}

func TestResources(t *testing.T) {
	l := &Loop{cfg: Config{Allocatable: func() corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1000Mi")}
	}}}
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("100Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("200Mi")},
	}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{*c}}}
	r := l.resources(pod, c)
	if r.CpuShares != 256 || r.CpuQuota != 50000 || r.CpuPeriod != 100000 || r.MemoryLimitInBytes != 200<<20 || r.OomScoreAdj != 900 {
		t.Errorf("burstable: %+v", r)
	}
	best := &corev1.Container{}
	r = l.resources(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{*best}}}, best)
	if r.CpuShares != 2 || r.CpuQuota != 0 || r.MemoryLimitInBytes != 0 || r.OomScoreAdj != 1000 {
		t.Errorf("best effort: %+v", r)
	}
	g := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}
	r = l.resources(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{*g}}}, g)
	if r.CpuShares != 1024 || r.CpuQuota != 100000 || r.OomScoreAdj != -997 {
		t.Errorf("guaranteed: %+v", r)
	}
}

func TestPodDNS(t *testing.T) {
	dns := DNS{HostResolvConf: writeFile(t, "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n")}.withDefaults()
	pod := func(policy corev1.DNSPolicy, hostNet bool, cfg *corev1.PodDNSConfig) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}, Spec: corev1.PodSpec{DNSPolicy: policy, HostNetwork: hostNet, DNSConfig: cfg}}
	}
	cases := []struct {
		name     string
		pod      *corev1.Pod
		servers  []string
		searches []string
		options  []string
	}{
		{"cluster first", pod(corev1.DNSClusterFirst, false, nil), []string{"10.43.0.10"},
			[]string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"}, []string{"ndots:5"}},
		{"cluster first on host network is default", pod(corev1.DNSClusterFirst, true, nil), []string{"192.0.2.53"}, []string{"corp.example"}, []string{"edns0"}},
		{"default", pod(corev1.DNSDefault, false, nil), []string{"192.0.2.53"}, []string{"corp.example"}, []string{"edns0"}},
		{"none with config", pod(corev1.DNSNone, false, &corev1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}},
		}), []string{"1.1.1.1"}, []string{"a.example"}, []string{"ndots:2"}},
		{"cluster first with option override", pod(corev1.DNSClusterFirst, false, &corev1.PodDNSConfig{
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}},
		}), []string{"10.43.0.10"}, []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"}, []string{"ndots:1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dns.podDNS(tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Servers, tc.servers) || !reflect.DeepEqual(got.Searches, tc.searches) || !reflect.DeepEqual(got.Options, tc.options) {
				t.Errorf("got %v %v %v", got.Servers, got.Searches, got.Options)
			}
		})
	}
}

func TestAuthsFor(t *testing.T) {
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		"https://index.docker.io/v1/": map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("hub:pw"))},
		"localhost:5000":              map[string]string{"username": "u", "password": "p"},
	}})
	secret := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: cfg}}
	if got := authsFor(secret, "docker.io"); len(got) != 1 || got[0].Username != "hub" || got[0].Password != "pw" {
		t.Errorf("docker.io: %v", got)
	}
	if got := authsFor(secret, "localhost:5000"); len(got) != 1 || got[0].Username != "u" {
		t.Errorf("localhost:5000: %v", got)
	}
	if got := authsFor(secret, "quay.io"); len(got) != 0 {
		t.Errorf("quay.io: %v", got)
	}
}

func TestRunAsNonRoot(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}}}
	c := &corev1.Container{Name: "c"}
	cases := []struct {
		name    string
		user    *int64
		image   pulledImage
		wantErr bool
	}{
		{"image root", nil, pulledImage{uid: ptr.To(int64(0))}, true},
		{"image user", nil, pulledImage{uid: ptr.To(int64(1000))}, false},
		{"image named user", nil, pulledImage{username: "www"}, true},
		{"image unknown user", nil, pulledImage{}, true},
		{"spec root", ptr.To(int64(0)), pulledImage{uid: ptr.To(int64(1000))}, true},
		{"spec user", ptr.To(int64(5)), pulledImage{uid: ptr.To(int64(0))}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.SecurityContext = &corev1.SecurityContext{RunAsUser: tc.user}
			sc, err := containerSecurity(pod, c, tc.image)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && sc.Seccomp.ProfileType.String() != "RuntimeDefault" {
				t.Errorf("seccomp %v", sc.Seccomp)
			}
		})
	}
}

func TestResourceFieldRef(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}
	node := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	for _, tc := range []struct {
		res, divisor, want string
	}{
		{"limits.memory", "1Mi", "64"}, {"limits.memory", "", "67108864"}, {"limits.cpu", "", "4"},
		{"limits.cpu", "1m", "4000"}, {"requests.cpu", "", "1"}, {"requests.cpu", "1m", "250"}, {"requests.memory", "", "0"},
	} {
		sel := &corev1.ResourceFieldSelector{Resource: tc.res}
		if tc.divisor != "" {
			sel.Divisor = resource.MustParse(tc.divisor)
		}
		got, err := resourceFieldRef(c, sel, node)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s = %q, %v; want %s", tc.res, tc.divisor, got, err, tc.want)
		}
	}
}

func TestContainerHash(t *testing.T) {
	base := corev1.Container{Name: "app", Image: "app:0.3.2", Command: []string{"/app"}}
	same := base
	same.Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
	same.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	if containerHash(&base) != containerHash(&same) {
		t.Errorf("fields other than the name and image changed the hash")
	}
	newImage := base
	newImage.Image = "app:0.3.3"
	renamed := base
	renamed.Name = "app2"
	// "ab"+"c" and "a"+"bc" must not collide through plain concatenation.
	split1 := corev1.Container{Name: "ab", Image: "c"}
	split2 := corev1.Container{Name: "a", Image: "bc"}
	for _, tc := range []struct {
		name string
		a, b *corev1.Container
	}{{"image", &base, &newImage}, {"name", &base, &renamed}, {"boundary", &split1, &split2}} {
		if containerHash(tc.a) == containerHash(tc.b) {
			t.Errorf("%s: different containers, same hash %s", tc.name, containerHash(tc.a))
		}
	}

	for _, tc := range []struct {
		name   string
		stored string
		spec   *corev1.Container
		want   bool
	}{
		{"same spec", containerHash(&base), &base, false},
		{"other env, same image", containerHash(&base), &same, false},
		{"new image", containerHash(&base), &newImage, true},
		{"started by an older agent, unchanged", legacyContainerHash(&base), &base, false},
		{"started by an older agent, image since changed", legacyContainerHash(&base), &newImage, true},
		{"no hash stored", "", &base, true},
	} {
		if got := specChanged(tc.spec, tc.stored); got != tc.want {
			t.Errorf("%s: specChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}
