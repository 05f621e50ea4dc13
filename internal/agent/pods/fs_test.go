package pods

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCgroupMounts(t *testing.T) {
	info := writeFile(t, `25 30 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
27 25 0:25 / /sys/fs/cgroup/cpu rw,nosuid shared:9 - cgroup cgroup rw,cpu
28 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
`)
	got, err := cgroupMounts(info)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestCgroupsEnsureAndRemove(t *testing.T) {
	root := t.TempDir()
	cpuset := filepath.Join(root, "cpuset")
	plain := filepath.Join(root, "pids")
	for _, h := range []string{cpuset, plain} {
		if err := os.MkdirAll(h, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(cpuset, "cpuset.cpus"), []byte("0-1\n"), 0o644)
	os.WriteFile(filepath.Join(cpuset, "cpuset.mems"), []byte("0\n"), 0o644)
	cg := &Cgroups{Root: "/berth", Hierarchies: []string{cpuset, plain}}
	// A real cpuset cgroup has empty files when created; emulate that after mkdir.
	for _, dir := range []string{"berth", "berth/podu1"} {
		os.MkdirAll(filepath.Join(cpuset, dir), 0o755)
		os.WriteFile(filepath.Join(cpuset, dir, "cpuset.cpus"), nil, 0o644)
		os.WriteFile(filepath.Join(cpuset, dir, "cpuset.mems"), nil, 0o644)
	}
	if err := fillCpuset(cpuset, cg.PodParent("u1")); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(filepath.Join(cpuset, "berth/podu1/cpuset.cpus")); string(raw) != "0-1\n" {
		t.Errorf("cpuset.cpus = %q", raw)
	}
	// (Regular directories cannot be rmdir'ed with files in them as cgroupfs ones can.)
	cg = &Cgroups{Root: "/berth", Hierarchies: []string{plain}}
	if err := cg.Ensure("u2", func() PodLimits { return PodLimits{} }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(plain, "berth/podu2")); err != nil {
		t.Error(err)
	}
	if err := cg.Remove("u2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(plain, "berth/podu2")); !os.IsNotExist(err) {
		t.Errorf("pod cgroup left: %v", err)
	}
	if err := cg.Remove("never-made"); err != nil {
		t.Errorf("removing a missing cgroup: %v", err)
	}
}
