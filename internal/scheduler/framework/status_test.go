package framework

import "testing"

func TestFitErrorMessage(t *testing.T) {
	cases := []struct {
		name string
		err  FitError
		want string
	}{
		{"one reason", FitError{NumAllNodes: 3, Reasons: map[string]int{"Insufficient cpu": 3}},
			"0/3 nodes are available: 3 Insufficient cpu."},
		{"sorted by the full text, count first", FitError{NumAllNodes: 5, Reasons: map[string]int{
			"node(s) didn't match Pod's node affinity/selector": 2, "Insufficient cpu": 1, "node(s) were unschedulable": 2}},
			"0/5 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector, 2 node(s) were unschedulable."},
		{"a node with two reasons counts in both", FitError{NumAllNodes: 1, Reasons: map[string]int{"Insufficient cpu": 1, "Insufficient memory": 1}},
			"0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."},
		{"pre-filter rejection", FitError{NumAllNodes: 2, PreFilterMsg: "bad selector"},
			"0/2 nodes are available: bad selector."},
		{"with the preemption verdict", FitError{NumAllNodes: 3, Reasons: map[string]int{"node(s) were unschedulable": 1, "Too many pods": 2},
			PostFilterMsg: PreemptionMessage(&FitError{NumAllNodes: 3, Reasons: map[string]int{ReasonPreemptionNotHelpful: 1, ReasonNoVictims: 2}})},
			"0/3 nodes are available: 1 node(s) were unschedulable, 2 Too many pods. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."},
		{"not eligible", FitError{NumAllNodes: 1, Reasons: map[string]int{"Insufficient cpu": 1}, PostFilterMsg: NotEligibleMessage("preemptionPolicy=Never")},
			"0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	cases := []struct {
		nodes      int
		percentage int32
		want       int
	}{
		{10, 0, 10},
		{99, 0, 99},
		{100, 0, 100},
		{1000, 0, 420},  // 50 - 1000/125 = 42%
		{5000, 0, 500},  // 10%
		{10000, 0, 500}, // floor of 5%
		{200, 10, 100},  // at least 100
		{1000, 100, 1000},
	}
	for _, tc := range cases {
		if got := numFeasibleNodesToFind(tc.nodes, tc.percentage); got != tc.want {
			t.Errorf("numFeasibleNodesToFind(%d, %d) = %d, want %d", tc.nodes, tc.percentage, got, tc.want)
		}
	}
}
