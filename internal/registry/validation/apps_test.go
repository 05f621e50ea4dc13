package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers:    []corev1.Container{{Name: "app", Image: "nginx"}},
			RestartPolicy: corev1.RestartPolicyAlways,
		},
	}
}

func validDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("25%")), MaxUnavailable: ptr(intstr.FromInt32(1))}},
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
	}
}

func TestValidateDeployment(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []want
	}{
		{"valid", func(*appsv1.Deployment) {}, none()},
		{"valid not defaulted", func(d *appsv1.Deployment) {
			d.Spec.Replicas, d.Spec.Strategy, d.Spec.RevisionHistoryLimit, d.Spec.ProgressDeadlineSeconds = nil, appsv1.DeploymentStrategy{}, nil, nil
			d.Spec.Template.Spec.RestartPolicy = ""
		}, none()},
		{"valid recreate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}, none()},
		{"bad name", func(d *appsv1.Deployment) { d.Name = "Web" }, errs(inv("metadata.name", ""))},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) }, errs(inv("spec.replicas", "must be greater than or equal to 0"))},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, errs(req("spec.selector"))},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			errs(inv("spec.selector", "empty selector is invalid for deployment"))},
		{"selector does not match", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "api"} },
			errs(inv("spec.template.metadata.labels", "`selector` does not match template `labels`"))},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			errs(unsup("spec.template.spec.restartPolicy"))},
		{"activeDeadlineSeconds", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(10)) },
			errs(forb("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"))},
		{"template container invalid", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			errs(req("spec.template.spec.containers[0].image"))},
		{"template image whitespace allowed", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = " " }, none()},
		{"ephemeral containers in template", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d", Image: "x"}}}
		}, errs(forb("spec.template.spec.ephemeralContainers", "ephemeral containers not allowed in pod template"))},
		{"both zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("0%")), MaxUnavailable: ptr(intstr.FromInt32(0))}
		}, errs(inv("spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"))},
		{"maxUnavailable above 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("110%"))
		}, errs(inv("spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"))},
		{"maxSurge not a percent", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("20Percent"))
		}, errs(inv("spec.strategy.rollingUpdate.maxSurge", "a valid percent string must be"))},
		{"negative maxSurge", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(-1)) },
			errs(inv("spec.strategy.rollingUpdate.maxSurge", "must be greater than or equal to 0"))},
		{"recreate with rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			errs(forb("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))},
		{"bad strategy", func(d *appsv1.Deployment) { d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"} },
			errs(unsup("spec.strategy.type"))},
		{"negative revisionHistoryLimit", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr(int32(-1)) },
			errs(inv("spec.revisionHistoryLimit", ""))},
		{"progress deadline not above minReady", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, errs(inv("spec.progressDeadlineSeconds", "must be greater than minReadySeconds"))},
		{"negative minReadySeconds", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 }, errs(inv("spec.minReadySeconds", ""))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := validDeployment()
			tc.mutate(d)
			expectErrors(t, ValidateDeployment(d), tc.want)
		})
	}
}

func TestValidateDeploymentMessage(t *testing.T) {
	d := validDeployment()
	d.Spec.Template.Labels = map[string]string{"app": "api"}
	// apimachinery 0.37 renders map values as JSON, as kubectl shows them.
	expectMessage(t, ValidateDeployment(d),
		"spec.template.metadata.labels: Invalid value: {\"app\":\"api\"}: `selector` does not match template `labels`")
}

func TestValidateDeploymentUpdate(t *testing.T) {
	old := validDeployment()
	old.ResourceVersion = "1"
	d := old.DeepCopy()
	d.Spec.Replicas = ptr(int32(5))
	d.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	expectErrors(t, ValidateDeploymentUpdate(d, old), none())

	d = old.DeepCopy()
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "fe"}}
	d.Spec.Template.Labels["tier"] = "fe"
	expectErrors(t, ValidateDeploymentUpdate(d, old), errs(inv("spec.selector", "field is immutable")))
}

func TestValidateDeploymentStatusUpdate(t *testing.T) {
	old := validDeployment()
	old.ResourceVersion = "1"
	old.Status.CollisionCount = ptr(int32(2))
	cases := []struct {
		name   string
		status appsv1.DeploymentStatus
		want   []want
	}{
		{"valid", appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 2, CollisionCount: ptr(int32(2))}, none()},
		{"ready above replicas", appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2, CollisionCount: ptr(int32(2))},
			errs(inv("status.readyReplicas", "cannot be greater than status.replicas"))},
		{"negative", appsv1.DeploymentStatus{Replicas: -1, CollisionCount: ptr(int32(2))},
			// The zero counts are then above replicas, as in Kubernetes.
			errs(inv("status.replicas", "must be greater than or equal to 0"), inv("status.updatedReplicas", ""),
				inv("status.readyReplicas", ""), inv("status.availableReplicas", ""))},
		{"collisionCount decremented", appsv1.DeploymentStatus{CollisionCount: ptr(int32(1))},
			errs(inv("status.collisionCount", "cannot be decremented"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := old.DeepCopy()
			d.Status = tc.status
			expectErrors(t, ValidateDeploymentStatusUpdate(d, old), tc.want)
		})
	}
}

func validReplicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
		},
	}
}

func TestValidateReplicaSet(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		want   []want
	}{
		{"valid", func(*appsv1.ReplicaSet) {}, none()},
		{"negative replicas", func(r *appsv1.ReplicaSet) { r.Spec.Replicas = ptr(int32(-2)) }, errs(inv("spec.replicas", ""))},
		{"no selector", func(r *appsv1.ReplicaSet) { r.Spec.Selector = nil }, errs(req("spec.selector"))},
		{"selector mismatch", func(r *appsv1.ReplicaSet) {
			r.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}}
		}, errs(inv("spec.template.metadata.labels", "`selector` does not match template `labels`"))},
		{"restartPolicy OnFailure", func(r *appsv1.ReplicaSet) { r.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			errs(unsup("spec.template.spec.restartPolicy"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validReplicaSet()
			tc.mutate(r)
			expectErrors(t, ValidateReplicaSet(r), tc.want)
		})
	}
	t.Run("selector immutable", func(t *testing.T) {
		old := validReplicaSet()
		old.ResourceVersion = "1"
		r := old.DeepCopy()
		r.Spec.Selector.MatchLabels = map[string]string{"app": "web", "x": "y"}
		r.Spec.Template.Labels["x"] = "y"
		expectErrors(t, ValidateReplicaSetUpdate(r, old), errs(inv("spec.selector", "field is immutable")))
	})
	t.Run("status", func(t *testing.T) {
		old := validReplicaSet()
		old.ResourceVersion = "1"
		r := old.DeepCopy()
		r.Status = appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 3}
		expectErrors(t, ValidateReplicaSetStatusUpdate(r, old), errs(
			inv("status.availableReplicas", "cannot be greater than status.replicas"),
			inv("status.availableReplicas", "cannot be greater than readyReplicas")))
	})
}

func TestValidateReplicationController(t *testing.T) {
	valid := func() *corev1.ReplicationController {
		tmpl := validTemplate()
		return &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec:       corev1.ReplicationControllerSpec{Replicas: ptr(int32(1)), Selector: map[string]string{"app": "web"}, Template: &tmpl},
		}
	}
	cases := []struct {
		name   string
		mutate func(*corev1.ReplicationController)
		want   []want
	}{
		{"valid", func(*corev1.ReplicationController) {}, none()},
		{"no selector", func(r *corev1.ReplicationController) { r.Spec.Selector = nil }, errs(req("spec.selector"))},
		{"no template", func(r *corev1.ReplicationController) { r.Spec.Template = nil }, errs(req("spec.template"))},
		{"negative replicas", func(r *corev1.ReplicationController) { r.Spec.Replicas = ptr(int32(-1)) }, errs(inv("spec.replicas", ""))},
		{"selector mismatch", func(r *corev1.ReplicationController) { r.Spec.Selector = map[string]string{"app": "api"} },
			errs(inv("spec.template.metadata.labels", "`selector` does not match template `labels`"))},
		{"activeDeadlineSeconds", func(r *corev1.ReplicationController) { r.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(1)) },
			errs(forb("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicationController is not Supported"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			tc.mutate(r)
			expectErrors(t, ValidateReplicationController(r), tc.want)
		})
	}
	t.Run("update and status", func(t *testing.T) {
		old := valid()
		old.ResourceVersion = "1"
		r := old.DeepCopy()
		r.Spec.Replicas = ptr(int32(4))
		expectErrors(t, ValidateReplicationControllerUpdate(r, old), none())
		r.Status = corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 2}
		expectErrors(t, ValidateReplicationControllerStatusUpdate(r, old), errs(inv("status.readyReplicas", "cannot be greater than status.replicas")))
	})
}

func TestValidateScale(t *testing.T) {
	cases := []struct {
		name  string
		scale autoscalingv1.Scale
		want  []want
	}{
		{"valid", autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "d"}, Spec: autoscalingv1.ScaleSpec{Replicas: 0}}, none()},
		{"negative", autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "d"}, Spec: autoscalingv1.ScaleSpec{Replicas: -1}},
			errs(inv("spec.replicas", "must be greater than or equal to 0"))},
		{"no name", autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: "d"}}, errs(req("metadata.name"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, ValidateScale(&tc.scale), tc.want)
		})
	}
}
