package pods

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Cgroups creates and removes the pods' cgroups (cgroupfs driver: runc creates each
// container's cgroup below the pod's). A pod's cgroup is <Root>/pod<uid> in every
// mounted hierarchy — each cgroup v1 controller, name=systemd, and the unified one on
// hybrid machines — so that removing a pod leaves nothing behind in any of them.
type Cgroups struct {
	// Root is the cgroup (a path from each hierarchy's root) all pods go below, e.g. /berth.
	Root string
	// Hierarchies are the mount points of the cgroup hierarchies (default: from
	// /proc/self/mountinfo).
	Hierarchies []string
}

// NewCgroups finds the machine's cgroup hierarchies.
func NewCgroups(root string) (*Cgroups, error) {
	if !strings.HasPrefix(root, "/") {
		return nil, fmt.Errorf("cgroup root %q is not absolute", root)
	}
	mounts, err := cgroupMounts("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return &Cgroups{Root: path.Clean(root), Hierarchies: mounts}, nil
}

// cgroupMounts lists mount points of cgroup and cgroup2 filesystems.
func cgroupMounts(mountinfo string) ([]string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 35 0:31 / /sys/fs/cgroup/cpu rw,relatime shared:15 - cgroup cgroup rw,cpu"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, fsType := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(fsType) == 0 || (fsType[0] != "cgroup" && fsType[0] != "cgroup2") {
			continue
		}
		out = append(out, fields[4])
	}
	sort.Strings(out)
	return out, sc.Err()
}

// PodParent is the cgroup parent of the pod's sandbox and containers.
func (c *Cgroups) PodParent(uid string) string { return path.Join(c.Root, "pod"+uid) }

// Ensure creates the pod's cgroup in every hierarchy with the pod's limits (asked for
// and written only when the cgroup is made: they derive from the immutable container
// resources, and every sync of a running pod calls Ensure). cpuset cgroups start with no
// CPUs and memory nodes in v1, so those are copied down from the parent.
func (c *Cgroups) Ensure(uid string, limitsOf func() PodLimits) error {
	rel := c.PodParent(uid)
	var limits *PodLimits
	for _, h := range c.Hierarchies {
		dir := filepath.Join(h, rel)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if limits == nil {
			l := limitsOf()
			limits = &l
		}
		if err := limits.apply(h, dir); err != nil {
			return err
		}
		if filepath.Base(h) == "cpuset" || strings.Contains(filepath.Base(h), "cpuset") {
			if err := fillCpuset(h, rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// fillCpuset copies cpuset.cpus and cpuset.mems into each empty level from root to rel.
func fillCpuset(hierarchy, rel string) error {
	dir := hierarchy
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		parent := dir
		dir = filepath.Join(dir, part)
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			cur, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil || strings.TrimSpace(string(cur)) != "" {
				continue
			}
			val, err := os.ReadFile(filepath.Join(parent, file))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, file), val, 0o644); err != nil {
				return fmt.Errorf("cpuset %s: %w", dir, err)
			}
		}
	}
	return nil
}

// Remove removes the pod's cgroup (and any leftover child) in every hierarchy. It fails
// while a process still lives in one; the caller retries.
func (c *Cgroups) Remove(uid string) error {
	var errs []error
	for _, h := range c.Hierarchies {
		if err := removeTree(filepath.Join(h, c.PodParent(uid))); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveRoot removes the (empty) root cgroup on a clean stop; busy ones are left.
func (c *Cgroups) RemoveRoot() {
	for _, h := range c.Hierarchies {
		_ = os.Remove(filepath.Join(h, c.Root))
	}
}

// removeTree removes a cgroup directory and its children, deepest first (cgroupfs
// directories are removed with rmdir, never by deleting their files).
func removeTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}
