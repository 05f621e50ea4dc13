package plugins

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berth/berth/internal/scheduler/framework"
	st "github.com/berth/berth/internal/scheduler/schedulertest"
)

// filterCase is one table row for a filter plugin: the pod, the cluster, and per node
// the reasons expected ("" = passes).
type filterCase struct {
	name  string
	pod   *corev1.Pod
	nodes []*corev1.Node
	pods  []*corev1.Pod
	want  map[string]string
}

func runFilterCases(t *testing.T, pl framework.FilterPlugin, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := framework.SnapshotOf(tc.nodes, tc.pods)
			pi := framework.NewPodInfo(tc.pod)
			if pi.ParseErr != nil {
				t.Fatalf("pod does not parse: %v", pi.ParseErr)
			}
			state, skip, status := pl.PreFilter(snap, pi)
			if status != nil {
				t.Fatalf("PreFilter rejected: %v", status.Reasons)
			}
			for _, n := range tc.nodes {
				got := ""
				if !skip {
					if s := pl.Filter(state, pi, snap.Get(n.Name)); s != nil {
						got = joinReasons(s.Reasons)
					}
				}
				if want := tc.want[n.Name]; got != want {
					t.Errorf("node %s: got %q, want %q", n.Name, got, want)
				}
			}
		})
	}
}

func joinReasons(r []string) string {
	out := ""
	for i, s := range r {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

// scoreCase is one table row for a score plugin: normalized scores per node.
type scoreCase struct {
	name     string
	pod      *corev1.Pod
	nodes    []*corev1.Node
	pods     []*corev1.Pod
	selector labels.Selector // DefaultSpreadSelector
	want     map[string]int64
}

func runScoreCases(t *testing.T, pl framework.ScorePlugin, cases []scoreCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := framework.SnapshotOf(tc.nodes, tc.pods)
			pi := framework.NewPodInfo(tc.pod)
			pi.DefaultSpreadSelector = tc.selector
			var feasible []*framework.NodeInfo
			for _, n := range tc.nodes {
				feasible = append(feasible, snap.Get(n.Name))
			}
			scores := make([]int64, len(feasible))
			state, skip := pl.PreScore(snap, pi, feasible)
			if !skip {
				for i, ni := range feasible {
					scores[i] = pl.Score(state, pi, ni)
				}
				pl.Normalize(state, pi, scores)
			}
			for i, ni := range feasible {
				if want := tc.want[ni.Name()]; scores[i] != want {
					t.Errorf("node %s: score %d, want %d (all: %v)", ni.Name(), scores[i], want, scores)
				}
			}
		})
	}
}

func node(name string) *st.NodeBuilder { return st.Node(name, "4", "8Gi", 110) }

func pod(name string) *st.PodBuilder { return st.Pod("default", name) }
