package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "nginx:1.27",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
			}},
			RestartPolicy: corev1.RestartPolicyAlways,
			DNSPolicy:     corev1.DNSClusterFirst,
		},
	}
}

func TestValidatePod(t *testing.T) {
	c0 := "spec.containers[0]"
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []want
	}{
		{"valid", func(*corev1.Pod) {}, none()},
		{"valid full", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a", Path: "a.conf"}}}}},
			}
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
				Name: "sidecar", Image: "nginx",
				Env: []corev1.EnvVar{
					{Name: "MODE", Value: "x"},
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}},
					{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
				},
				EnvFrom:      []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/cfg", SubPath: "a.conf"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{"cpu": resource.MustParse("100m"), "memory": resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("128Mi"), "example.com/gpu": resource.MustParse("1")},
				},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}, PeriodSeconds: 10, SuccessThreshold: 1},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}, SuccessThreshold: 3},
				Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
				SecurityContext: &corev1.SecurityContext{RunAsUser: ptr(int64(1000)), AllowPrivilegeEscalation: ptr(false),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			})
			p.Spec.TerminationGracePeriodSeconds = ptr(int64(30))
			p.Spec.ActiveDeadlineSeconds = ptr(int64(600))
			p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web"
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "web", Effect: corev1.TaintEffectNoSchedule},
				{Operator: corev1.TolerationOpExists}}
			p.Spec.Affinity = &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}},
				PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 50,
					PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}},
			}
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000)), FSGroup: ptr(int64(2000)),
				Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}}}
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.43.0.10"}, Searches: []string{"svc.cluster.local", "."},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr("2")}}}
		}, none()},
		{"name not a subdomain", func(p *corev1.Pod) { p.Name = "Foo_bar" }, errs(inv("metadata.name", "a lowercase RFC 1123 subdomain must consist of"))},
		{"name with slash", func(p *corev1.Pod) { p.Name = "a/b" }, errs(inv("metadata.name", ""))},
		{"name dot dot", func(p *corev1.Pod) { p.Name = ".." }, errs(inv("metadata.name", ""))},
		{"no namespace", func(p *corev1.Pod) { p.Namespace = "" }, errs(req("metadata.namespace"))},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, errs(req("spec.containers"))},
		{"container name missing", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, errs(req(c0 + ".name"))},
		{"container name not a label", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App" }, errs(inv(c0+".name", "RFC 1123 label"))},
		{"duplicate container names", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app", Image: "x"})
		}, errs(dup("spec.containers[1].name"))},
		{"init container name clashes", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "app", Image: "x"}}
		}, errs(dup("spec.initContainers[0].name"))},
		{"image missing", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, errs(req(c0 + ".image"))},
		{"image whitespace", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "  " }, errs(inv(c0+".image", "must not have leading or trailing whitespace"))},
		{"container port zero", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, errs(req(c0 + ".ports[0].containerPort"))},
		{"container port too big", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 }, errs(inv(c0+".ports[0].containerPort", "must be between 1 and 65535, inclusive"))},
		{"host port too big", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = 70000 }, errs(inv(c0+".ports[0].hostPort", ""))},
		{"port protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" }, errs(unsup(c0 + ".ports[0].protocol"))},
		{"port name not IANA", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "HTTP_1" }, errs(inv(c0+".ports[0].name", ""), inv(c0+".ports[0].name", ""))},
		{"duplicate port name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
		}, errs(dup(c0 + ".ports[1].name"))},
		{"host port conflict", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "x", Ports: []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080}}})
		}, errs(dup("spec.containers[1].ports[0].hostPort"))},
		{"hostNetwork port mismatch", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 81
		}, errs(inv(c0+".ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true"))},
		{"env name missing", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} }, errs(req(c0 + ".env[0].name"))},
		{"env name with =", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} }, errs(inv(c0+".env[0].name", ""))},
		{"env value and valueFrom", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
		}, errs(inv(c0+".env[0].valueFrom", "may not be specified when `value` is not empty"))},
		{"env valueFrom empty", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{}}}
		}, errs(inv(c0+".env[0].valueFrom", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))},
		{"env valueFrom two sources", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef:     &corev1.ObjectFieldSelector{FieldPath: "metadata.name"},
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}, errs(inv(c0+".env[0].valueFrom", "may not have more than one field specified at a time"))},
		{"env fieldRef unsupported", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.restartPolicy"}}}}
		}, errs(unsup(c0 + ".env[0].valueFrom.fieldRef.fieldPath"))},
		{"env fieldRef unknown", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nope"}}}}
		}, errs(inv(c0+".env[0].valueFrom.fieldRef.fieldPath", "field label not supported"))},
		{"env resourceFieldRef unsupported", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.gpu"}}}}
		}, errs(unsup(c0 + ".env[0].valueFrom.resourceFieldRef.resource"))},
		{"env secretKeyRef without key", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}}
		}, errs(req(c0 + ".env[0].valueFrom.secretKeyRef.key"))},
		{"envFrom without source", func(p *corev1.Pod) { p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "X"}} },
			errs(inv(c0+".envFrom[0]", "must specify one of: `configMapRef` or `secretRef`"))},
		{"volume mount unknown volume", func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "missing", MountPath: "/x"}}
		}, errs(notFound(c0 + ".volumeMounts[0].name"))},
		{"volume mount path missing and duplicate", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v"}, {Name: "v", MountPath: "/a"}, {Name: "v", MountPath: "/a"}}
		}, errs(req(c0+".volumeMounts[0].mountPath"), inv(c0+".volumeMounts[2].mountPath", "must be unique"))},
		{"subPath escapes", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/a", SubPath: "../etc"}}
		}, errs(inv(c0+".volumeMounts[0].subPath", "must not contain '..'"))},
		{"bidirectional needs privileged", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			mode := corev1.MountPropagationBidirectional
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/a", MountPropagation: &mode}}
		}, errs(forb(c0+".volumeMounts[0].mountPropagation", ""))},
		{"duplicate volume names", func(p *corev1.Pod) {
			v := corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
			p.Spec.Volumes = []corev1.Volume{v, v}
		}, errs(dup("spec.volumes[1].name"))},
		{"volume without source", func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{{Name: "v"}} },
			errs(reqd("spec.volumes[0]", "must specify a volume type"))},
		{"volume with two sources", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}}}
		}, errs(forb("spec.volumes[0].emptyDir", "may not specify more than 1 volume type"))},
		{"volume name invalid", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "V_1", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, errs(inv("spec.volumes[0].name", ""))},
		{"hostPath with backsteps", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/../etc"}}}}
		}, errs(inv("spec.volumes[0].hostPath.path", "must not contain '..'"))},
		{"secret volume without name, bad mode", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: ptr(int32(01000))}}}}
		}, errs(req("spec.volumes[0].secret.secretName"), inv("spec.volumes[0].secret.defaultMode", fileModeErrorMsg))},
		{"configMap item path absolute", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Items: []corev1.KeyToPath{{Key: "k", Path: "/abs"}}}}}}
		}, errs(inv("spec.volumes[0].configMap.items[0].path", "must be a relative path"))},
		{"probe without handler", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe = &corev1.Probe{} },
			errs(reqd(c0+".livenessProbe", "must specify a handler type"))},
		{"probe with two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec: &corev1.ExecAction{Command: []string{"true"}}, TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
		}, errs(forb(c0+".readinessProbe.tcpSocket", "may not specify more than 1 handler type"))},
		{"probe negative period", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: -1}
		}, errs(inv(c0+".readinessProbe.periodSeconds", "must be greater than or equal to 0"))},
		{"liveness successThreshold", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 2}
		}, errs(inv(c0+".livenessProbe.successThreshold", "must be 1"))},
		{"startup successThreshold", func(p *corev1.Pod) {
			p.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}, SuccessThreshold: 3}
		}, errs(inv(c0+".startupProbe.successThreshold", "must be 1"))},
		{"exec probe without command", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{}}}
		}, errs(req(c0 + ".livenessProbe.exec.command"))},
		{"lifecycle handler missing", func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{}}
		}, errs(req(c0 + ".lifecycle.postStart"))},
		{"sleep longer than grace period", func(p *corev1.Pod) {
			p.Spec.TerminationGracePeriodSeconds = ptr(int64(10))
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 20}}}
		}, errs(inv(c0+".lifecycle.preStop.sleep", "less than terminationGracePeriodSeconds (10)"))},
		{"init container probe forbidden", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "x", LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, errs(forb("spec.initContainers[0].livenessProbe", "may not be set for init containers without restartPolicy=Always"))},
		{"sidecar init container may have probes", func(p *corev1.Pod) {
			always := corev1.ContainerRestartPolicyAlways
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "x", RestartPolicy: &always,
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, none()},
		{"restartPolicy on regular container", func(p *corev1.Pod) {
			always := corev1.ContainerRestartPolicyAlways
			p.Spec.Containers[0].RestartPolicy = &always
		}, errs(forb(c0+".restartPolicy", "may not be set for non-init containers"))},
		{"negative request", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"cpu": resource.MustParse("-1")}
		}, errs(inv(c0+".resources.requests[cpu]", "must be greater than or equal to 0"))},
		{"request above limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"memory": resource.MustParse("2Gi")}, Limits: corev1.ResourceList{"memory": resource.MustParse("1Gi")}}
		}, errs(inv(c0+".resources.requests", "must be less than or equal to memory limit of 1Gi"))},
		{"unknown resource name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"pods": resource.MustParse("1")}
		}, errs(inv(c0+".resources.limits[pods]", "must be a standard resource for containers"))},
		{"extended resource request without limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}
		}, errs(reqd(c0+".resources.limits", "Limit must be set for non overcommitable resources"))},
		{"extended resource fractional", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"example.com/gpu": resource.MustParse("500m")}
		}, errs(inv(c0+".resources.limits[example.com/gpu]", "must be an integer"))},
		{"bad restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, errs(unsup("spec.restartPolicy"))},
		{"bad dnsPolicy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, errs(unsup("spec.dnsPolicy"))},
		{"bad imagePullPolicy", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Maybe" }, errs(unsup(c0 + ".imagePullPolicy"))},
		{"bad terminationMessagePolicy", func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "X" }, errs(unsup(c0 + ".terminationMessagePolicy"))},
		{"negative grace period", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-1)) },
			errs(inv("spec.terminationGracePeriodSeconds", "must be greater than or equal to 0"))},
		{"zero activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) },
			errs(inv("spec.activeDeadlineSeconds", "must be between 1 and 2147483647, inclusive"))},
		{"bad nodeSelector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"a b": "c"} }, errs(inv("spec.nodeSelector", ""))},
		{"bad hostname", func(p *corev1.Pod) { p.Spec.Hostname = "Web.0" }, errs(inv("spec.hostname", ""))},
		{"bad subdomain", func(p *corev1.Pod) { p.Spec.Subdomain = "a.b" }, errs(inv("spec.subdomain", ""))},
		{"bad serviceAccountName", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "A" }, errs(inv("spec.serviceAccountName", ""))},
		{"bad nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "node/1" }, errs(inv("spec.nodeName", ""))},
		{"nodeName with scheduling gates", func(p *corev1.Pod) {
			p.Spec.NodeName = "n1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, errs(forb("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))},
		{"ephemeral containers on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, errs(forb("spec.ephemeralContainers", "cannot be set on create"))},
		{"toleration Exists with value", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, errs(inv("spec.tolerations[0].operator", "value must be empty when `operator` is 'Exists'"))},
		{"toleration bad operator and effect", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Like", Effect: "Sometimes"}}
		}, errs(unsup("spec.tolerations[0].operator"), unsup("spec.tolerations[0].effect"))},
		{"toleration empty key needs Exists", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual}}
		}, errs(inv("spec.tolerations[0].operator", "operator must be Exists when `key` is empty"))},
		{"tolerationSeconds needs NoExecute", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr(int64(5))}}
		}, errs(inv("spec.tolerations[0].effect", "effect must be 'NoExecute' when `tolerationSeconds` is set"))},
		{"node affinity bad operator and empty terms", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: "Near", Values: []string{"a"}}}}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 0}},
			}}
		}, errs(
			inv("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator", "not a valid selector operator"),
			inv("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "must be in the range 1-100"))},
		{"node affinity In without values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, errs(req("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"))},
		{"pod affinity without topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
		}, errs(reqd("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "can not be empty"),
			// Kubernetes also reports the empty name as an invalid label key.
			inv("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "name part must be non-empty"),
			inv("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", ""))},
		{"pod affinity bad selector", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: "zone", LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Is"}}}}}}}
		}, errs(inv("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator", ""))},
		{"topology spread", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, WhenUnsatisfiable: "Whatever"}}
		}, errs(inv("spec.topologySpreadConstraints[0].maxSkew", "must be greater than zero"),
			req("spec.topologySpreadConstraints[0].topologyKey"),
			unsup("spec.topologySpreadConstraints[0].whenUnsatisfiable"))},
		{"topology spread duplicate", func(p *corev1.Pod) {
			c := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway}
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{c, c}
		}, errs(dup("spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}"))},
		{"negative runAsUser", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(-1))}
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsGroup: ptr(int64(-2))}
		}, errs(inv(c0+".securityContext.runAsUser", ""), inv("spec.securityContext.runAsGroup", ""))},
		{"privileged without escalation", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false)}
		}, errs(inv(c0+".securityContext", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))},
		{"seccomp localhost without profile", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}
		}, errs(req("spec.securityContext.seccompProfile.localhostProfile"))},
		{"net sysctl with hostNetwork", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = nil
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}}
		}, errs(inv("spec.securityContext.sysctls[0].name", "may not be specified when 'hostNetwork' is true"))},
		{"shareProcessNamespace with hostPID", func(p *corev1.Pod) {
			p.Spec.HostPID = true
			p.Spec.ShareProcessNamespace = ptr(true)
		}, errs(inv("spec.shareProcessNamespace", "ShareProcessNamespace and HostPID cannot both be enabled"))},
		{"dnsNone without config", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, errs(reqd("spec.dnsConfig", "must provide `dnsConfig`"))},
		{"too many nameservers", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "1.0.0.1"}}
		}, errs(inv("spec.dnsConfig.nameservers", "must not have more than 3 nameservers"))},
		{"bad nameserver and search", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"dns"}, Searches: []string{"Bad Domain"}}
		}, errs(inv("spec.dnsConfig.nameservers[0]", ""), inv("spec.dnsConfig.searches[0]", ""))},
		{"bad priorityClassName", func(p *corev1.Pod) { p.Spec.PriorityClassName = "High" }, errs(inv("spec.priorityClassName", ""))},
		{"bad preemptionPolicy", func(p *corev1.Pod) { p.Spec.PreemptionPolicy = ptr(corev1.PreemptionPolicy("Always")) }, errs(unsup("spec.preemptionPolicy"))},
		{"mirror pod needs nodeName", func(p *corev1.Pod) { p.Annotations = map[string]string{MirrorPodAnnotationKey: "x"} },
			errs(inv("metadata.annotations[kubernetes.io/config.mirror]", "must set spec.nodeName"))},
		{"projected token without service account", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
		}, errs(forb("spec.volumes[0].projected.sources[0].serviceAccountToken", "must not be specified when serviceAccountName is not set"))},
		{"bad os", func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: "plan9"} }, errs(unsup("spec.os"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := validPod()
			tc.mutate(pod)
			expectErrors(t, ValidatePod(pod), tc.want)
		})
	}
}

func TestValidatePodMessages(t *testing.T) {
	pod := validPod()
	pod.Name = "Foo_bar"
	pod.Spec.Containers[0].Image = ""
	got := ValidatePod(pod)
	expectMessage(t, got, `metadata.name: Invalid value: "Foo_bar": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`)
	expectMessage(t, got, "spec.containers[0].image: Required value")
}

func TestValidatePodUpdate(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "1"
	old.Spec.ActiveDeadlineSeconds = ptr(int64(100))
	old.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(10))}}
	old.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []want
	}{
		{"unchanged", func(*corev1.Pod) {}, none()},
		{"image change", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, none()},
		{"shorter deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(50)) }, none()},
		{"longer deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(200)) },
			errs(inv("spec.activeDeadlineSeconds", "must be less than or equal to previous value"))},
		{"deadline removed", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			errs(inv("spec.activeDeadlineSeconds", "must not update from a positive integer to nil value"))},
		{"toleration added", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "new", Operator: corev1.TolerationOpExists})
		}, none()},
		{"tolerationSeconds changed", func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(20)) }, none()},
		{"toleration removed", func(p *corev1.Pod) { p.Spec.Tolerations = nil },
			errs(forb("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"))},
		{"gate removed", func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }, none()},
		{"gate added", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: "example.com/other"})
		}, errs(forb("spec.schedulingGates[1].name", "only deletion is allowed"))},
		{"container added", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "x"})
		}, errs(forb("spec.containers", "pod updates may not add or remove containers"))},
		{"other spec field", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever },
			errs(forb("spec", "pod updates may not change fields other than `spec.containers[*].image`"))},
		{"empty image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, errs(req("spec.containers[0].image"))},
		{"name changed", func(p *corev1.Pod) { p.Name = "other" }, errs(inv("metadata.name", "field is immutable"))},
		{"no resourceVersion", func(p *corev1.Pod) { p.ResourceVersion = "" }, errs(inv("metadata.resourceVersion", "must be specified for an update"))},
		{"mirror annotation added", func(p *corev1.Pod) {
			p.Annotations = map[string]string{MirrorPodAnnotationKey: "x"}
			p.Spec.NodeName = "n1"
		}, errs(forb("metadata.annotations[kubernetes.io/config.mirror]", "may not add mirror pod annotation"),
			forb("spec", "spec.nodeName"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := old.DeepCopy()
			tc.mutate(pod)
			expectErrors(t, ValidatePodUpdate(pod, old), tc.want)
		})
	}
}

func TestValidatePodUpdateMessage(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "1"
	pod := old.DeepCopy()
	pod.Spec.DNSPolicy = corev1.DNSDefault
	got := ValidatePodUpdate(pod, old)
	if len(got) != 1 || !strings.HasPrefix(got[0].Error(), "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n") {
		t.Fatalf("unexpected errors: %v", got)
	}
	if !strings.Contains(got[0].Detail, "spec.dnsPolicy") {
		t.Errorf("diff does not name the changed field: %q", got[0].Detail)
	}
}

func TestValidatePodStatusUpdate(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "1"
	old.Spec.RestartPolicy = corev1.RestartPolicyNever
	old.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
	old.Status.QOSClass = corev1.PodQOSBestEffort
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []want
	}{
		{"valid", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.5"}, {IP: "fd00::5"}}
			p.Status.HostIP = "192.168.1.2"
			p.Status.HostIPs = []corev1.HostIP{{IP: "192.168.1.2"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady}, {Type: "example.com/ready"}}
		}, none()},
		{"node name changed", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }, errs(forb("status.nodeName", "may not be changed directly"))},
		{"terminated container restarted", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}, errs(forb("status.containerStatuses[0].state", "may not be transitioned to non-terminated state"))},
		{"qos changed", func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSGuaranteed }, errs(inv("status.qosClass", "field is immutable"))},
		{"two IPv4 pod IPs", func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}} },
			errs(inv("status.podIPs", "may specify no more than one IP for each IP family"))},
		{"bad pod IP", func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0"}} }, errs(inv("status.podIPs[0]", ""))},
		{"hostIP mismatch", func(p *corev1.Pod) {
			p.Status.HostIP = "192.168.1.2"
			p.Status.HostIPs = []corev1.HostIP{{IP: "192.168.1.3"}}
		}, errs(inv("status.hostIPs[0].ip", "must be equal to `hostIP`"))},
		{"bad condition type", func(p *corev1.Pod) { p.Status.Conditions = []corev1.PodCondition{{Type: "bad type"}} },
			errs(inv("status.conditions[0].type", ""))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := old.DeepCopy()
			tc.mutate(pod)
			expectErrors(t, ValidatePodStatusUpdate(pod, old), tc.want)
		})
	}
}

func TestValidateBinding(t *testing.T) {
	cases := []struct {
		name    string
		binding corev1.Binding
		want    []want
	}{
		{"valid", corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, none()},
		{"empty kind", corev1.Binding{Target: corev1.ObjectReference{Name: "n1"}}, none()},
		{"wrong kind", corev1.Binding{Target: corev1.ObjectReference{Kind: "Pod", Name: "n1"}}, errs(unsup("target.kind"))},
		{"no target name", corev1.Binding{Target: corev1.ObjectReference{Kind: "Node"}}, errs(req("target.name"))},
		{"traversal name", corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: ".."}, Target: corev1.ObjectReference{Name: "n1"}}, errs(inv("metadata.name", "may not be '..'"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, ValidateBinding(&tc.binding), tc.want)
		})
	}
}

// A quantity such as 1e1000000000 parses instantly but takes practically
// forever to compare or print; validation must reject it without doing so.
// (A tiny one such as 1e-1000000000 already hangs resource.ParseQuantity,
// during decoding: that must be stopped before validation is reached.)
func TestValidatePodHugeQuantity(t *testing.T) {
	pod := validPod()
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"memory": resource.MustParse("1e1000000000")}
	pod.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"memory": resource.MustParse("1Gi")}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", AllocatedResources: corev1.ResourceList{"cpu": resource.MustParse("1e100")}}}
	expectErrors(t, ValidatePod(pod), errs(
		inv("spec.containers[0].resources.limits[memory]", "must be a valid resource quantity"),
		inv("status.containerStatuses[0].allocatedResources[cpu]", "")))
	node := validNode()
	node.Status.Capacity["memory"] = resource.MustParse("1e1000000000")
	expectErrors(t, ValidateNode(node), errs(inv("status.capacity[memory]", "")))
}

func BenchmarkValidateQuantitiesInRange(b *testing.B) {
	pod := validPod()
	pod.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"cpu": resource.MustParse("10m"), "memory": resource.MustParse("16Mi")}
	for b.Loop() {
		if errs := validateQuantitiesInRange(pod); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
