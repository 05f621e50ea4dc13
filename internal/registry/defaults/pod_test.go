package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// defaultedContainer is a container named name running image with every
// container-level default filled in.
func defaultedContainer(name, image string, pull corev1.PullPolicy) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          pull,
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// defaultedPodSpec returns spec with the PodSpec-level defaults filled in.
func defaultedPodSpec(spec corev1.PodSpec) corev1.PodSpec {
	spec.DNSPolicy = corev1.DNSClusterFirst
	spec.RestartPolicy = corev1.RestartPolicyAlways
	spec.SecurityContext = &corev1.PodSecurityContext{}
	spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	spec.SchedulerName = "default-scheduler"
	return spec
}

func TestPodMinimal(t *testing.T) {
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "nginx"},
			{Name: "sidecar", Image: "example.com/proxy:1.2"},
		}},
	}
	want := &corev1.Pod{
		ObjectMeta: in.ObjectMeta,
		Spec: defaultedPodSpec(corev1.PodSpec{
			Containers: []corev1.Container{
				defaultedContainer("app", "nginx", corev1.PullAlways),
				defaultedContainer("sidecar", "example.com/proxy:1.2", corev1.PullIfNotPresent),
			},
			EnableServiceLinks: ptr.To(true),
		}),
	}
	checkDefaults(t, in, want)
}

func TestPodExplicitValuesKept(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "explicit", Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			DNSPolicy:                     corev1.DNSDefault,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			SchedulerName:                 "other",
			SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)},
			EnableServiceLinks:            ptr.To(false),
			ServiceAccountName:            "robot",
			DeprecatedServiceAccount:      "robot",
			Containers: []corev1.Container{{
				Name:                     "app",
				Image:                    "nginx:latest",
				ImagePullPolicy:          corev1.PullNever,
				TerminationMessagePath:   "/tmp/msg",
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				Ports:                    []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
				Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"},
				}}},
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				},
				LivenessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTPS,
					}},
					TimeoutSeconds: 5, PeriodSeconds: 7, SuccessThreshold: 1, FailureThreshold: 9,
				},
			}},
			Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: ptr.To[int32](0o600)},
			}}},
		},
	}
	checkUnchanged(t, pod)
}

func TestPullPolicy(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"docker.io/library/nginx", corev1.PullAlways},
		{"localhost:5000/app", corev1.PullAlways},
		{"localhost:5000/app:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"localhost:5000/app:v1", corev1.PullIfNotPresent},
		{"nginx@" + digest, corev1.PullIfNotPresent},
		{"nginx:1.27@" + digest, corev1.PullIfNotPresent},
		{"nginx:latest@" + digest, corev1.PullAlways},
		// Unparseable references are validation's problem; upstream picks
		// IfNotPresent for them.
		{"", corev1.PullIfNotPresent},
		{"Nginx", corev1.PullIfNotPresent},
		{"REGISTRY/app", corev1.PullAlways}, // an upper-case first component is a registry host
		{"nginx@sha256:short", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if got := PullPolicy(tt.image); got != tt.want {
				t.Errorf("PullPolicy(%q) = %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}

func TestPodContainers(t *testing.T) {
	probeIn := func() *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
	}
	probeWant := func() *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP,
			}},
			TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	full := func(c corev1.Container) corev1.Container {
		want := defaultedContainer(c.Name, c.Image, corev1.PullIfNotPresent)
		want.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		want.Env = []corev1.EnvVar{
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}},
			{Name: "FILE", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{Key: "k", Optional: ptr.To(false)}}},
		}
		want.LivenessProbe = probeWant()
		want.ReadinessProbe = &corev1.Probe{
			ProbeHandler:   corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000, Service: ptr.To("")}},
			TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
		}
		want.StartupProbe = probeWant()
		want.Lifecycle = &corev1.Lifecycle{
			PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}},
			PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
		}
		return want
	}
	bare := func(name string) corev1.Container {
		return corev1.Container{
			Name:  name,
			Image: "busybox:1.36",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			Env: []corev1.EnvVar{
				{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				{Name: "FILE", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{Key: "k"}}},
			},
			LivenessProbe:  probeIn(),
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}},
			StartupProbe:   probeIn(),
			Lifecycle: &corev1.Lifecycle{
				PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}},
				PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
			},
		}
	}
	in := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers:      []corev1.Container{bare("init")},
		Containers:          []corev1.Container{bare("app")},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(bare("debug"))}},
	}}
	want := &corev1.Pod{Spec: defaultedPodSpec(corev1.PodSpec{
		InitContainers:      []corev1.Container{full(bare("init"))},
		Containers:          []corev1.Container{full(bare("app"))},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(full(bare("debug")))}},
		EnableServiceLinks:  ptr.To(true),
	})}
	checkDefaults(t, in, want)
}

func TestPodResources(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name string
		in   corev1.PodSpec
		want corev1.PodSpec
	}{{
		name: "requests copied from limits for regular and init containers only",
		in: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "i", Image: "x:1", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{"memory": q("64Mi")},
			}}},
			Containers: []corev1.Container{{Name: "c", Image: "x:1", Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"cpu": q("500m"), "memory": q("128Mi")},
				Requests: corev1.ResourceList{"cpu": q("100m")},
			}}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "e", Image: "x:1", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("1")}},
			}}},
		},
		want: corev1.PodSpec{
			InitContainers: []corev1.Container{withResources(defaultedContainer("i", "x:1", corev1.PullIfNotPresent),
				corev1.ResourceList{"memory": q("64Mi")}, corev1.ResourceList{"memory": q("64Mi")})},
			Containers: []corev1.Container{withResources(defaultedContainer("c", "x:1", corev1.PullIfNotPresent),
				corev1.ResourceList{"cpu": q("500m"), "memory": q("128Mi")}, corev1.ResourceList{"cpu": q("100m"), "memory": q("128Mi")})},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(
				withResources(defaultedContainer("e", "x:1", corev1.PullIfNotPresent), corev1.ResourceList{"cpu": q("1")}, nil))}},
		},
	}, {
		name: "quantities rounded up to milli scale",
		in: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "x:1", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"cpu": q("0.0001")},
			}}},
			Overhead: corev1.ResourceList{"cpu": q("1.0001")},
		},
		want: corev1.PodSpec{
			Containers: []corev1.Container{withResources(defaultedContainer("c", "x:1", corev1.PullIfNotPresent),
				nil, corev1.ResourceList{"cpu": q("1m")})},
			Overhead: corev1.ResourceList{"cpu": q("1001m")},
		},
	}, {
		name: "pod-level requests from container requests, then pod limits",
		in: corev1.PodSpec{
			Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("2"), "memory": q("1Gi")}},
			Containers: []corev1.Container{
				{Name: "a", Image: "x:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("300m")}}},
				{Name: "b", Image: "x:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("200m")}}},
			},
		},
		want: corev1.PodSpec{
			Resources: &corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"cpu": q("2"), "memory": q("1Gi")},
				Requests: corev1.ResourceList{"cpu": q("500m"), "memory": q("1Gi")},
			},
			Containers: []corev1.Container{
				withResources(defaultedContainer("a", "x:1", corev1.PullIfNotPresent), nil, corev1.ResourceList{"cpu": q("300m")}),
				withResources(defaultedContainer("b", "x:1", corev1.PullIfNotPresent), nil, corev1.ResourceList{"cpu": q("200m")}),
			},
		},
	}, {
		name: "pod-level hugepage limits from container limits",
		in: corev1.PodSpec{
			Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{"memory": q("1Gi")}},
			Containers: []corev1.Container{{Name: "a", Image: "x:1", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{"hugepages-2Mi": q("4Mi")},
			}}},
		},
		want: corev1.PodSpec{
			Resources: &corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"hugepages-2Mi": q("4Mi")},
				Requests: corev1.ResourceList{"memory": q("1Gi"), "hugepages-2Mi": q("4Mi")},
			},
			Containers: []corev1.Container{withResources(defaultedContainer("a", "x:1", corev1.PullIfNotPresent),
				corev1.ResourceList{"hugepages-2Mi": q("4Mi")}, corev1.ResourceList{"hugepages-2Mi": q("4Mi")})},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := defaultedPodSpec(tt.want)
			want.EnableServiceLinks = ptr.To(true)
			checkDefaults(t, &corev1.Pod{Spec: tt.in}, &corev1.Pod{Spec: want})
		})
	}
}

func withResources(c corev1.Container, limits, requests corev1.ResourceList) corev1.Container {
	c.Resources = corev1.ResourceRequirements{Limits: limits, Requests: requests}
	return c
}

func TestPodHostNetworkPorts(t *testing.T) {
	in := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork: true,
		Containers: []corev1.Container{{Name: "c", Image: "x:1", Ports: []corev1.ContainerPort{
			{ContainerPort: 80},
			{ContainerPort: 443, HostPort: 8443},
		}}},
	}}
	c := defaultedContainer("c", "x:1", corev1.PullIfNotPresent)
	c.Ports = []corev1.ContainerPort{
		{ContainerPort: 80, HostPort: 80, Protocol: corev1.ProtocolTCP},
		{ContainerPort: 443, HostPort: 8443, Protocol: corev1.ProtocolTCP},
	}
	want := &corev1.Pod{Spec: defaultedPodSpec(corev1.PodSpec{
		HostNetwork:        true,
		Containers:         []corev1.Container{c},
		EnableServiceLinks: ptr.To(true),
	})}
	checkDefaults(t, in, want)
}

func TestPodVolumes(t *testing.T) {
	mode := func(m int32) *int32 { return ptr.To(m) }
	in := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "none"},
		{Name: "empty", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}},
		{Name: "down", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
			}}},
		}}}},
		{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "tools:1.0"}}},
		{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{},
		}}},
	}}}
	want := &corev1.Pod{Spec: defaultedPodSpec(corev1.PodSpec{
		EnableServiceLinks: ptr.To(true),
		Volumes: []corev1.Volume{
			{Name: "none", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "empty", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: mode(0o644)}}},
			{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: mode(420)}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data", Type: ptr.To(corev1.HostPathUnset)}}},
			{Name: "down", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				DefaultMode: mode(0o644),
				Items:       []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			}}},
			{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: mode(0o644),
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3600)}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
						{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}},
					}}},
				},
			}}},
			{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "tools:1.0", PullPolicy: corev1.PullIfNotPresent}}},
			{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
				VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
					Spec: corev1.PersistentVolumeClaimSpec{VolumeMode: ptr.To(corev1.PersistentVolumeFilesystem)},
				},
			}}},
		},
	})}
	checkDefaults(t, in, want)
}

func TestPodRoundTripFields(t *testing.T) {
	tests := []struct {
		name     string
		spec     corev1.PodSpec
		status   corev1.PodStatus
		wantSA   string
		wantDSA  string
		wantStat corev1.PodStatus
	}{{
		name:    "deprecated serviceAccount fills serviceAccountName",
		spec:    corev1.PodSpec{DeprecatedServiceAccount: "old"},
		wantSA:  "old",
		wantDSA: "old",
	}, {
		name:    "serviceAccountName wins and is mirrored",
		spec:    corev1.PodSpec{ServiceAccountName: "new", DeprecatedServiceAccount: "old"},
		wantSA:  "new",
		wantDSA: "new",
	}, {
		name:     "podIP fills podIPs and hostIP fills hostIPs",
		status:   corev1.PodStatus{PodIP: "10.42.0.5", HostIP: "192.0.2.1"},
		wantStat: corev1.PodStatus{PodIP: "10.42.0.5", PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}}, HostIP: "192.0.2.1", HostIPs: []corev1.HostIP{{IP: "192.0.2.1"}}},
	}, {
		name:     "podIPs fills podIP",
		status:   corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}, {IP: "fd00::5"}}},
		wantStat: corev1.PodStatus{PodIP: "10.42.0.5", PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}, {IP: "fd00::5"}}},
	}, {
		name:     "podIP is authoritative when they disagree",
		status:   corev1.PodStatus{PodIP: "10.42.0.9", PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}, {IP: "fd00::5"}}},
		wantStat: corev1.PodStatus{PodIP: "10.42.0.9", PodIPs: []corev1.PodIP{{IP: "10.42.0.9"}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &corev1.Pod{Spec: tt.spec, Status: tt.status}
			want := &corev1.Pod{Spec: defaultedPodSpec(tt.spec), Status: tt.wantStat}
			want.Spec.EnableServiceLinks = ptr.To(true)
			want.Spec.ServiceAccountName = tt.wantSA
			want.Spec.DeprecatedServiceAccount = tt.wantDSA
			checkDefaults(t, in, want)
		})
	}
}

func TestPodTemplateGetsOnlyPodSpecDefaults(t *testing.T) {
	container := corev1.Container{Name: "c", Image: "x", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{"cpu": resource.MustParse("1")},
	}}
	in := &corev1.PodTemplate{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		HostNetwork: true,
		Containers:  []corev1.Container{container},
	}}}
	c := withResources(defaultedContainer("c", "x", corev1.PullAlways), container.Resources.Limits, nil)
	// No requests from limits, no enableServiceLinks, no host ports: those
	// are Pod-only upstream.
	want := &corev1.PodTemplate{Template: corev1.PodTemplateSpec{Spec: defaultedPodSpec(corev1.PodSpec{
		HostNetwork: true,
		Containers:  []corev1.Container{c},
	})}}
	checkDefaults(t, in, want)
}
