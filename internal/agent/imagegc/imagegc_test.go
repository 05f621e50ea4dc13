package imagegc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type fakeRuntime struct {
	images     []*runtimeapi.Image
	containers []*runtimeapi.Container
	removed    []string
	failRemove string
}

func (f *fakeRuntime) ListImages(context.Context, *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	return f.images, nil
}

func (f *fakeRuntime) ListContainers(context.Context, *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	return f.containers, nil
}

func (f *fakeRuntime) RemoveImage(_ context.Context, id string) error {
	if id == f.failRemove {
		return errors.New("image is busy")
	}
	f.removed = append(f.removed, id)
	f.images = slices.DeleteFunc(f.images, func(img *runtimeapi.Image) bool { return img.Id == id })
	return nil
}

func image(id string, size uint64, tags ...string) *runtimeapi.Image {
	return &runtimeapi.Image{Id: id, Size: size, RepoTags: tags}
}

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newCollector(t *testing.T, rt *fakeRuntime, used *uint64, clk *clock, mutate ...func(*Config)) *Collector {
	t.Helper()
	cfg := Config{
		Runtime: rt, Usage: func() (uint64, uint64, error) { return *used, 1000, nil },
		HighThresholdPercent: 85, LowThresholdPercent: 80, MinAge: time.Minute,
		Pinned: []string{"localhost/berth/pause:1"}, Now: clk.now,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCollectRemovesLeastRecentlyUsedUnusedImages(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	rt := &fakeRuntime{images: []*runtimeapi.Image{
		image("sha256:pause", 10, "localhost/berth/pause:1"),
		image("sha256:app2", 40, "app:0.3.2"),
		image("sha256:app3", 40, "app:0.3.3"),
		image("sha256:busybox", 40, "busybox:1.35"),
		image("sha256:old", 40, "old:1"),
	}}
	used := uint64(500)
	c := newCollector(t, rt, &used, clk)
	// First pass below the threshold: only records.
	if res, err := c.Collect(t.Context()); err != nil || len(res.Removed) != 0 {
		t.Fatalf("below threshold: %+v, %v", res, err)
	}
	// app:0.3.2 runs (by ID), busybox ran (exited container, by tag), later.
	clk.t = clk.t.Add(30 * time.Second)
	rt.containers = []*runtimeapi.Container{
		{ImageRef: "sha256:app2", Image: &runtimeapi.ImageSpec{Image: "app:0.3.2"}, State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}
	if _, err := c.Collect(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(10 * time.Second)
	rt.containers = append(rt.containers, &runtimeapi.Container{Image: &runtimeapi.ImageSpec{Image: "busybox:1.35"}, State: runtimeapi.ContainerState_CONTAINER_EXITED})
	if _, err := c.Collect(t.Context()); err != nil {
		t.Fatal(err)
	}
	rt.containers = rt.containers[:1] // the exited one is removed
	clk.t = clk.t.Add(2 * time.Minute)
	// 900 of 1000 used: free 100 to get to 80 %: app:0.3.3 and old (first seen at the
	// start, never used) go first, then busybox (used later).
	used = 900
	res, err := c.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sha256:app3", "sha256:old", "sha256:busybox"}; !slices.Equal(res.Removed, want) || res.Freed != 120 {
		t.Errorf("removed %v (%d bytes); want %v (120 bytes)", res.Removed, res.Freed, want)
	}
	for _, keep := range []string{"sha256:pause", "sha256:app2"} {
		if slices.Contains(rt.removed, keep) {
			t.Errorf("%s removed (pinned or in use)", keep)
		}
	}
}

func TestCollectKeepsYoungImagesAndReportsShortfall(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	rt := &fakeRuntime{images: []*runtimeapi.Image{image("sha256:new", 40, "new:1"), image("sha256:busy", 40, "busy:1")}, failRemove: "sha256:busy"}
	used := uint64(950)
	c := newCollector(t, rt, &used, clk)
	res, err := c.Collect(t.Context())
	if err == nil || len(res.Removed) != 0 {
		t.Fatalf("young images: removed %v, err %v; want nothing removed and an error", res.Removed, err)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	res, err = c.Collect(t.Context())
	if !slices.Equal(res.Removed, []string{"sha256:new"}) {
		t.Errorf("removed %v; want the removable image", res.Removed)
	}
	if err == nil || !strings.Contains(err.Error(), "image is busy") || !strings.Contains(err.Error(), "freed 40 of the 150 bytes") {
		t.Errorf("error %v; want the remove failure and the shortfall", err)
	}
}

func TestNewChecksThresholds(t *testing.T) {
	rt := &fakeRuntime{}
	usage := func() (uint64, uint64, error) { return 0, 0, nil }
	for _, tc := range []struct{ high, low int }{{50, 60}, {101, 80}, {85, -1}} {
		if _, err := New(Config{Runtime: rt, Usage: usage, HighThresholdPercent: tc.high, LowThresholdPercent: tc.low}); err == nil {
			t.Errorf("high %d low %d accepted", tc.high, tc.low)
		}
	}
	if _, err := New(Config{Usage: usage}); err == nil {
		t.Error("no runtime accepted")
	}
}
