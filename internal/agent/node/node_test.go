package node

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseMeminfo(t *testing.T) {
	mem, err := parseMeminfo([]byte("MemTotal:       16384000 kB\nMemFree:  1 kB\nMemAvailable:    8192000 kB\n"))
	if err != nil || mem.Total != 16384000*1024 || mem.Available != 8192000*1024 {
		t.Errorf("got %+v, %v", mem, err)
	}
	if _, err := parseMeminfo([]byte("MemTotal: 1 kB\n")); err == nil {
		t.Error("missing MemAvailable accepted")
	}
}

func TestMachineReadsProc(t *testing.T) {
	proc := t.TempDir()
	write := func(name, content string) {
		path := filepath.Join(proc, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sys/kernel/pid_max", "32768\n")
	write("loadavg", "0.10 0.20 0.30 2/512 12345\n")
	write("meminfo", "MemTotal: 1000 kB\nMemAvailable: 500 kB\n")
	m := Machine{ProcDir: proc}
	pids, err := m.PIDs()
	if err != nil || pids.Max != 32768 || pids.Used != 512 {
		t.Errorf("PIDs %+v, %v", pids, err)
	}
	if _, err := m.Memory(); err != nil {
		t.Error(err)
	}
	if fs, err := m.Filesystem(proc); err != nil || fs.Capacity == 0 {
		t.Errorf("Filesystem %+v, %v", fs, err)
	}
}

func TestPressure(t *testing.T) {
	healthy := Readings{
		Memory: Memory{Total: 8 << 30, Available: 4 << 30},
		NodeFS: Filesystem{Capacity: 100, Available: 50, Inodes: 100, InodesFree: 50},
		PIDs:   PIDs{Max: 1000, Used: 100},
	}
	cases := []struct {
		name       string
		change     func(*Readings)
		thresholds *Thresholds
		want       Pressure
	}{
		{"healthy", func(*Readings) {}, nil, Pressure{}},
		{"memory below 100Mi", func(r *Readings) { r.Memory.Available = 50 << 20 }, nil, Pressure{Memory: true}},
		{"disk below 10%", func(r *Readings) { r.NodeFS.Available = 9 }, nil, Pressure{Disk: true}},
		{"inodes below 5%", func(r *Readings) { r.NodeFS.InodesFree = 4 }, nil, Pressure{Disk: true}},
		{"image fs below 15%", func(r *Readings) { r.ImageFS = Filesystem{Capacity: 100, Available: 14} }, nil, Pressure{Disk: true}},
		{"pids nearly exhausted", func(r *Readings) { r.PIDs.Used = 950 }, nil, Pressure{PID: true}},
		{"disk checks off", func(r *Readings) {
			r.NodeFS.Available, r.ImageFS = 1, Filesystem{Capacity: 100, Available: 1}
		}, &Thresholds{}, Pressure{}},
		{"stricter image fs", func(r *Readings) { r.ImageFS = Filesystem{Capacity: 100, Available: 20} }, &Thresholds{ImageFSAvailablePct: 25}, Pressure{Disk: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy
			tc.change(&r)
			th := DefaultThresholds
			if tc.thresholds != nil {
				th = *tc.thresholds
			}
			if got := PressureOf(r, th); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBuildStatusKeepsTransitionTimes(t *testing.T) {
	t1 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t2 := metav1.NewTime(t1.Add(time.Minute))
	in := statusInput{
		readings: Readings{CPUs: 2, Memory: Memory{Total: 4 << 30, Available: 2 << 30}, NodeFS: Filesystem{Capacity: 10 << 30, Available: 5 << 30}},
		maxPods:  110, kubeletVersion: "v1.37.2", runtimeVersion: "containerd://1.6.20", now: t1,
	}
	first := buildStatus(in)
	if cond(first, corev1.NodeReady).Status != corev1.ConditionTrue {
		t.Fatalf("not Ready: %+v", first.Conditions)
	}
	if q := first.Allocatable[corev1.ResourceMemory]; q.Value() != 4<<30-100<<20 {
		t.Errorf("allocatable memory %v", q.Value())
	}
	in.current, in.now = first, t2
	second := buildStatus(in)
	if c := cond(second, corev1.NodeReady); !c.LastTransitionTime.Equal(&t1) || !c.LastHeartbeatTime.Equal(&t2) {
		t.Errorf("Ready times %+v", c)
	}
	if !sameStatus(first, second) {
		t.Error("a heartbeat alone counts as a change")
	}
	in.current, in.readings.RuntimeErr = second, errors.New("runtime down")
	third := buildStatus(in)
	if c := cond(third, corev1.NodeReady); c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(&t2) || c.Reason != "KubeletNotReady" {
		t.Errorf("NotReady %+v", c)
	}
	if sameStatus(second, third) {
		t.Error("Ready → NotReady not seen as a change")
	}
}

func cond(s corev1.NodeStatus, t corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.NodeCondition{}
}
