package namespace

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	pods       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	configmaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	replicas   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
)

func TestFailedConditions(t *testing.T) {
	tests := []struct {
		name   string
		result contentResult
		want   map[corev1.NamespaceConditionType]string // type → reason: message
	}{
		{name: "all deleted", result: contentResult{}, want: map[corev1.NamespaceConditionType]string{}},
		{
			name: "objects and finalizers remain, sorted for stable messages",
			result: contentResult{
				remaining:  map[schema.GroupVersionResource]int{pods: 2, replicas: 1, configmaps: 0},
				finalizers: map[string]int{"example.com/b": 1, "example.com/a": 2},
			},
			want: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceContentRemaining:    "SomeResourcesRemain: Some resources are remaining: pods. has 2 resource instances, replicasets.apps has 1 resource instances",
				corev1.NamespaceFinalizersRemaining: "SomeFinalizerRemain: Some finalizers are remaining: example.com/a in 2 resource instances, example.com/b in 1 resource instances",
			},
		},
		{
			name: "discovery and deletion failures",
			result: contentResult{
				discoveryErr: errors.New("apps/v1: timeout"),
				deleteErrs:   []error{errors.New("pods: boom"), errors.New("configmaps: bang")},
			},
			want: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceDeletionDiscoveryFailure: "DiscoveryFailed: apps/v1: timeout",
				corev1.NamespaceDeletionContentFailure:   "ContentDeletionFailed: Failed to delete all resource types, 2 remaining: configmaps: bang, pods: boom",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.result.failedConditions()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d conditions %v, want %d", len(got), got, len(tt.want))
			}
			for typ, want := range tt.want {
				c, ok := got[typ]
				if !ok || c.Status != corev1.ConditionTrue || c.Reason+": "+c.Message != want {
					t.Errorf("%s = %+v, want True %q", typ, c, want)
				}
			}
		})
	}
}

func TestApplyConditions(t *testing.T) {
	t0 := metav1.NewTime(time.Unix(100, 0))
	t1 := metav1.NewTime(time.Unix(200, 0))
	remaining := contentResult{remaining: map[schema.GroupVersionResource]int{pods: 1}}.failedConditions()

	t.Run("a quick, clean deletion writes nothing", func(t *testing.T) {
		var status corev1.NamespaceStatus
		if applyConditions(&status, nil, t0) || len(status.Conditions) != 0 {
			t.Fatalf("changed: %+v", status.Conditions)
		}
	})

	var status corev1.NamespaceStatus
	t.Run("a problem sets all owned conditions", func(t *testing.T) {
		if !applyConditions(&status, remaining, t0) {
			t.Fatal("no change reported")
		}
		if len(status.Conditions) != len(conditionTypes) {
			t.Fatalf("conditions = %+v", status.Conditions)
		}
		if c := findCondition(&status, corev1.NamespaceContentRemaining); c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Equal(&t0) {
			t.Errorf("ContentRemaining = %+v", c)
		}
		if c := findCondition(&status, corev1.NamespaceDeletionContentFailure); c.Status != corev1.ConditionFalse || c.Reason != "ContentDeleted" {
			t.Errorf("DeletionContentFailure = %+v", c)
		}
	})
	t.Run("the same state again is no change", func(t *testing.T) {
		if applyConditions(&status, remaining, t1) {
			t.Fatal("change reported")
		}
	})
	t.Run("resolved: back to the ok state with a new transition time", func(t *testing.T) {
		if !applyConditions(&status, nil, t1) {
			t.Fatal("no change reported")
		}
		c := findCondition(&status, corev1.NamespaceContentRemaining)
		if c.Status != corev1.ConditionFalse || c.Reason != "ContentRemoved" || !c.LastTransitionTime.Equal(&t1) {
			t.Errorf("ContentRemaining = %+v", c)
		}
		if c := findCondition(&status, corev1.NamespaceDeletionDiscoveryFailure); !c.LastTransitionTime.Equal(&t0) {
			t.Errorf("an unchanged condition got a new transition time: %+v", c)
		}
	})
	t.Run("conditions of others are kept", func(t *testing.T) {
		status := corev1.NamespaceStatus{Conditions: []corev1.NamespaceCondition{{Type: "example.com/Other", Status: corev1.ConditionTrue}}}
		applyConditions(&status, remaining, t0)
		if findCondition(&status, "example.com/Other") == nil || len(status.Conditions) != len(conditionTypes)+1 {
			t.Errorf("conditions = %+v", status.Conditions)
		}
	})
}
