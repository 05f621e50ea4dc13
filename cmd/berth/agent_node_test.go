package main

import (
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
