package main

import (
	"io"
	"strings"
	"testing"

	"github.com/berth/berth/internal/agent/node"
)

func TestParseEvictionHard(t *testing.T) {
	cases := []struct {
		in      string
		want    node.Thresholds
		wantErr bool
	}{
		{"nodefs.available<10%,imagefs.available<15%", node.DefaultThresholds, false},
		{"imagefs.available<0%", node.Thresholds{NodeFSAvailablePct: 10, ImageFSAvailablePct: 0}, false},
		{" nodefs.available<0% , imagefs.available<0% ", node.Thresholds{}, false},
		{"memory.available<100Mi", node.Thresholds{}, true},
		{"nodefs.available<10", node.Thresholds{}, true},
		{"nodefs.available<101%", node.Thresholds{}, true},
		{"nodefs.available=10%", node.Thresholds{}, true},
	}
	for _, tc := range cases {
		got, err := parseEvictionHard(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: %+v, want an error", tc.in, *got)
			}
			continue
		}
		if err != nil || *got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// `berth agent -h` lists the real node's flags and says where the simulated nodes' are.
func TestAgentHelpNamesBothModes(t *testing.T) {
	var out strings.Builder
	if code := run([]string{"agent", "-h"}, io.Discard, &out); code != 0 {
		t.Fatalf("berth agent -h exited %d:\n%s", code, out.String())
	}
	for _, want := range []string{"-token-file", "-pod-network", "--simulated-nodes 1 -h"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("berth agent -h lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"agent", "--simulated-nodes", "1", "-h"}, io.Discard, &out); code != 0 || !strings.Contains(out.String(), "-deletion-delay") {
		t.Errorf("berth agent --simulated-nodes 1 -h (exit %d) lacks the simulated nodes' flags:\n%s", code, out.String())
	}
}
