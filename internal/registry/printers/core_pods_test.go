package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var podsGR = schema.GroupResource{Resource: "pods"}

func TestPodColumns(t *testing.T) {
	assertColumns(t, podsGR, []col{
		{"Name", "string", 0}, {"Ready", "string", 0}, {"Status", "string", 0}, {"Restarts", "string", 0}, {"Age", "string", 0},
		{"IP", "string", 1}, {"Node", "string", 1}, {"Nominated Node", "string", 1}, {"Readiness Gates", "string", 1},
	})
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(reason string, exitCode, signal int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode, Signal: signal}}
}

// lastTerminated is a LastTerminationState that finished d ago.
func lastTerminated(d time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(d)}}
}

// pod has containers app (and app2..) and init containers init (and init2..).
func pod(containers, inits int) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: objectMeta("web", 5*time.Minute), Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	names := []string{"", "2", "3"}
	for i := 0; i < containers; i++ {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app" + names[i], Image: "busybox"})
	}
	for i := 0; i < inits; i++ {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "init" + names[i], Image: "busybox"})
	}
	return p
}

func status(name string, state corev1.ContainerState, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: state, Ready: ready, RestartCount: restarts}
}

func TestPodRows(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	withSidecar := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.InitContainers[0].RestartPolicy = &always
		return p
	}
	tests := []struct {
		name       string
		pod        func() *corev1.Pod
		ready      string
		status     string
		restarts   string
		conditions []metav1.TableRowCondition
	}{
		{
			name: "pending without status",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.Phase = corev1.PodPending
				return p
			},
			ready: "0/1", status: "Pending", restarts: "0",
		},
		{
			name: "running and ready",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", running(), true, 0)}
				return p
			},
			ready: "1/1", status: "Running", restarts: "0",
		},
		{
			name: "running, not ready",
			pod: func() *corev1.Pod {
				p := pod(2, 0)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", running(), true, 0), status("app2", running(), false, 0)}
				return p
			},
			ready: "1/2", status: "Running", restarts: "0",
		},
		{
			name: "first container's waiting reason wins",
			pod: func() *corev1.Pod {
				p := pod(2, 0)
				p.Status.Phase = corev1.PodPending
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					status("app", waiting("ImagePullBackOff"), false, 0),
					status("app2", waiting("ContainerCreating"), false, 0),
				}
				return p
			},
			ready: "0/2", status: "ImagePullBackOff", restarts: "0",
		},
		{
			name: "crash loop with restarts and when",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				s := status("app", waiting("CrashLoopBackOff"), false, 5)
				s.LastTerminationState = lastTerminated(5 * time.Minute)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{s}
				return p
			},
			ready: "0/1", status: "CrashLoopBackOff", restarts: "5 (5m ago)",
		},
		{
			name: "restarts without a last termination have no suffix",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", running(), true, 2)}
				return p
			},
			ready: "1/1", status: "Running", restarts: "2",
		},
		{
			name: "restarts summed, latest termination shown",
			pod: func() *corev1.Pod {
				p := pod(2, 0)
				a := status("app", running(), true, 1)
				a.LastTerminationState = lastTerminated(3 * time.Hour)
				b := status("app2", running(), true, 2)
				b.LastTerminationState = lastTerminated(90 * time.Second)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{a, b}
				return p
			},
			ready: "2/2", status: "Running", restarts: "3 (90s ago)",
		},
		{
			name: "completed",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.Phase = corev1.PodSucceeded
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", terminated("Completed", 0, 0), false, 0)}
				return p
			},
			ready: "0/1", status: "Completed", restarts: "0", conditions: podSuccessConditions,
		},
		{
			name: "failed with error",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.Phase = corev1.PodFailed
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", terminated("Error", 1, 0), false, 0)}
				return p
			},
			ready: "0/1", status: "Error", restarts: "0", conditions: podFailedConditions,
		},
		{
			name: "terminated without reason shows the signal",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", terminated("", 137, 9), false, 0)}
				return p
			},
			ready: "0/1", status: "Signal:9", restarts: "0",
		},
		{
			name: "terminated without reason or signal shows the exit code",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", terminated("", 3, 0), false, 0)}
				return p
			},
			ready: "0/1", status: "ExitCode:3", restarts: "0",
		},
		{
			name: "evicted: the status reason replaces the phase",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.Phase = corev1.PodFailed
				p.Status.Reason = "Evicted"
				return p
			},
			ready: "0/1", status: "Evicted", restarts: "0", conditions: podFailedConditions,
		},
		{
			name: "a completed container beside a running one: Running when the pod is ready",
			pod: func() *corev1.Pod {
				p := pod(2, 0)
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					status("app", terminated("Completed", 0, 0), false, 0),
					status("app2", running(), true, 0),
				}
				return p
			},
			ready: "1/2", status: "Running", restarts: "0",
		},
		{
			name: "a completed container beside a running one: NotReady otherwise",
			pod: func() *corev1.Pod {
				p := pod(2, 0)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					status("app", terminated("Completed", 0, 0), false, 0),
					status("app2", running(), true, 0),
				}
				return p
			},
			ready: "1/2", status: "NotReady", restarts: "0",
		},
		{
			name: "terminating",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.DeletionTimestamp = ptr(ago(time.Second))
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", running(), true, 0)}
				return p
			},
			ready: "1/1", status: "Terminating", restarts: "0",
		},
		{
			name: "a deleted pod that already succeeded stays Completed",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.DeletionTimestamp = ptr(ago(time.Second))
				p.Status.Phase = corev1.PodSucceeded
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", terminated("Completed", 0, 0), false, 0)}
				return p
			},
			ready: "0/1", status: "Completed", restarts: "0", conditions: podSuccessConditions,
		},
		{
			name: "deleted on a lost node",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.DeletionTimestamp = ptr(ago(time.Second))
				p.Status.Reason = nodeUnreachablePodReason
				return p
			},
			ready: "0/1", status: "Unknown", restarts: "0",
		},
		{
			name: "scheduling gated",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.Phase = corev1.PodPending
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}
				return p
			},
			ready: "0/1", status: "SchedulingGated", restarts: "0",
		},
		{
			name: "init container running",
			pod: func() *corev1.Pod {
				p := pod(1, 1)
				p.Status.Phase = corev1.PodPending
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{status("init", running(), false, 0)}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", waiting("PodInitializing"), false, 0)}
				return p
			},
			ready: "0/1", status: "Init:0/1", restarts: "0",
		},
		{
			name: "second init container waiting for PodInitializing",
			pod: func() *corev1.Pod {
				p := pod(1, 2)
				p.Status.Phase = corev1.PodPending
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{
					status("init", terminated("Completed", 0, 0), false, 0),
					status("init2", waiting("PodInitializing"), false, 0),
				}
				return p
			},
			ready: "0/1", status: "Init:1/2", restarts: "0",
		},
		{
			name: "init container crash looping counts init restarts",
			pod: func() *corev1.Pod {
				p := pod(1, 1)
				p.Status.Phase = corev1.PodPending
				s := status("init", waiting("CrashLoopBackOff"), false, 3)
				s.LastTerminationState = lastTerminated(2 * time.Minute)
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{s}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", waiting("PodInitializing"), false, 0)}
				return p
			},
			ready: "0/1", status: "Init:CrashLoopBackOff", restarts: "3 (2m ago)",
		},
		{
			name: "init container failed",
			pod: func() *corev1.Pod {
				p := pod(1, 1)
				p.Status.Phase = corev1.PodFailed
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{status("init", terminated("Error", 1, 0), false, 0)}
				return p
			},
			ready: "0/1", status: "Init:Error", restarts: "0", conditions: podFailedConditions,
		},
		{
			name: "init container killed by a signal",
			pod: func() *corev1.Pod {
				p := pod(1, 1)
				p.Status.Phase = corev1.PodPending
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{status("init", terminated("", 137, 9), false, 0)}
				return p
			},
			ready: "0/1", status: "Init:Signal:9", restarts: "0",
		},
		{
			name: "init container exited non-zero without reason",
			pod: func() *corev1.Pod {
				p := pod(1, 1)
				p.Status.Phase = corev1.PodPending
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{status("init", terminated("", 2, 0), false, 0)}
				return p
			},
			ready: "0/1", status: "Init:ExitCode:2", restarts: "0",
		},
		{
			name: "after init, only app restarts count",
			pod: func() *corev1.Pod {
				p := pod(1, 1)
				i := status("init", terminated("Completed", 0, 0), false, 4)
				i.LastTerminationState = lastTerminated(time.Hour)
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{i}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", running(), true, 0)}
				return p
			},
			ready: "1/1", status: "Running", restarts: "0",
		},
		{
			name: "sidecar not started yet holds init",
			pod: func() *corev1.Pod {
				p := withSidecar(pod(1, 1))
				p.Status.Phase = corev1.PodPending
				s := status("init", running(), false, 0)
				s.Started = ptr(false)
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{s}
				return p
			},
			ready: "0/2", status: "Init:0/1", restarts: "0",
		},
		{
			name: "started sidecar counts in ready and restarts",
			pod: func() *corev1.Pod {
				p := withSidecar(pod(1, 1))
				s := status("init", running(), true, 2)
				s.Started = ptr(true)
				s.LastTerminationState = lastTerminated(10 * time.Minute)
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{s}
				a := status("app", running(), true, 1)
				a.LastTerminationState = lastTerminated(3 * time.Minute)
				p.Status.ContainerStatuses = []corev1.ContainerStatus{a}
				return p
			},
			ready: "2/2", status: "Running", restarts: "3 (3m ago)",
		},
		{
			name: "started sidecar, regular init container still running",
			pod: func() *corev1.Pod {
				p := withSidecar(pod(1, 2))
				p.Status.Phase = corev1.PodPending
				s := status("init", running(), true, 0)
				s.Started = ptr(true)
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{s, status("init2", running(), false, 0)}
				return p
			},
			ready: "1/2", status: "Init:1/2", restarts: "0",
		},
		{
			// The sidecar's reason survives: running app containers set no reason.
			name: "initialized pod with a crash looping sidecar",
			pod: func() *corev1.Pod {
				p := withSidecar(pod(1, 1))
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}
				s := status("init", waiting("CrashLoopBackOff"), false, 7)
				s.Started = ptr(false)
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{s}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", running(), true, 0)}
				return p
			},
			ready: "1/2", status: "Init:CrashLoopBackOff", restarts: "7",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := printRow(t, podsGR, tc.pod())
			assertCells(t, row.Cells[:5], []interface{}{"web", tc.ready, tc.status, tc.restarts, "5m"})
			if len(row.Conditions) != len(tc.conditions) || (len(tc.conditions) > 0 && row.Conditions[0] != tc.conditions[0]) {
				t.Errorf("conditions = %v, want %v", row.Conditions, tc.conditions)
			}
		})
	}
}

func TestPodWideCells(t *testing.T) {
	tests := []struct {
		name string
		pod  func() *corev1.Pod
		want []interface{}
	}{
		{
			name: "unscheduled",
			pod:  func() *corev1.Pod { return pod(1, 0) },
			want: []interface{}{"<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "scheduled with IPs and readiness gates",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Spec.NodeName = "node-1"
				p.Status.NominatedNodeName = "node-2"
				p.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}}
				p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
				p.Status.Conditions = []corev1.PodCondition{
					{Type: "example.com/lb", Status: corev1.ConditionTrue},
					{Type: "example.com/dns", Status: corev1.ConditionFalse},
				}
				return p
			},
			want: []interface{}{"10.42.0.7", "node-1", "node-2", "1/2"},
		},
		{
			name: "status.podIP wins over podIPs",
			pod: func() *corev1.Pod {
				p := pod(1, 0)
				p.Status.PodIP = "10.42.0.8"
				p.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.9"}}
				return p
			},
			want: []interface{}{"10.42.0.8", "<none>", "<none>", "<none>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertCells(t, printRow(t, podsGR, tc.pod()).Cells[5:], tc.want)
		})
	}
}
