// Package imagegc frees image storage when the node's image filesystem fills up, as the
// kubelet's image garbage collector does: when more than HighThresholdPercent of the
// filesystem is used, images that no container uses (running or exited) are removed,
// least recently used first, until usage would be below LowThresholdPercent. Images
// first seen or last used less than MinAge ago are kept, and so are pinned ones (the
// sandbox image, images the runtime marks pinned).
//
// "Last used" is what this process saw: each pass records the images containers use,
// so after an agent restart every image starts as just used (the kubelet does the same).
package imagegc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Runtime is the part of the CRI the collector uses.
type Runtime interface {
	ListImages(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error)
	RemoveImage(ctx context.Context, image string) error
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
}

// Usage reports the image filesystem's used and total bytes.
type Usage func() (used, capacity uint64, err error)

// Config tunes a Collector; zero values take the kubelet's defaults.
type Config struct {
	Runtime Runtime
	Usage   Usage
	// HighThresholdPercent (default 85) starts a collection; LowThresholdPercent
	// (default 80) is where it stops.
	HighThresholdPercent, LowThresholdPercent int
	// MinAge keeps images younger than this (default 2 min).
	MinAge time.Duration
	// Period is the time between passes (default 5 min).
	Period time.Duration
	// Pinned names images never removed (by reference or ID).
	Pinned []string
	// OnFailure, if set, is told when a pass could not free enough (for an event).
	OnFailure func(error)
	Now       func() time.Time
	Log       *slog.Logger
}

// Collector keeps track of image use and removes unused images under disk pressure.
type Collector struct {
	cfg Config
	log *slog.Logger
	// lastUsed is when an image (by ID) was last seen in use, or first seen at all.
	lastUsed map[string]time.Time
}

// New checks cfg.
func New(cfg Config) (*Collector, error) {
	if cfg.Runtime == nil || cfg.Usage == nil {
		return nil, errors.New("imagegc: Runtime and Usage are required")
	}
	if cfg.HighThresholdPercent == 0 {
		cfg.HighThresholdPercent = 85
	}
	if cfg.LowThresholdPercent == 0 {
		cfg.LowThresholdPercent = 80
	}
	if cfg.HighThresholdPercent < 0 || cfg.HighThresholdPercent > 100 || cfg.LowThresholdPercent < 0 ||
		cfg.LowThresholdPercent > cfg.HighThresholdPercent {
		return nil, fmt.Errorf("imagegc: thresholds high %d%%, low %d%%: want 0 ≤ low ≤ high ≤ 100",
			cfg.HighThresholdPercent, cfg.LowThresholdPercent)
	}
	if cfg.MinAge == 0 {
		cfg.MinAge = 2 * time.Minute
	}
	if cfg.Period <= 0 {
		cfg.Period = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Collector{cfg: cfg, log: cfg.Log.With("component", "imagegc"), lastUsed: map[string]time.Time{}}, nil
}

// Run makes a pass every Period until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Period)
	defer t.Stop()
	for {
		if _, err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("image garbage collection failed", "err", err)
			if c.cfg.OnFailure != nil {
				c.cfg.OnFailure(err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Result is what one pass did.
type Result struct {
	// Removed are the removed images' IDs, Freed their bytes.
	Removed []string
	Freed   uint64
}

// Collect records which images are in use and, above the high threshold, removes unused
// ones until the low threshold is reached. Not freeing enough is an error.
func (c *Collector) Collect(ctx context.Context) (Result, error) {
	var res Result
	now := c.cfg.Now()
	images, err := c.cfg.Runtime.ListImages(ctx, nil)
	if err != nil {
		return res, err
	}
	containers, err := c.cfg.Runtime.ListContainers(ctx, nil)
	if err != nil {
		return res, err
	}
	inUse := c.record(images, containers, now)
	used, capacity, err := c.cfg.Usage()
	if err != nil {
		return res, err
	}
	if capacity == 0 || used*100 < uint64(c.cfg.HighThresholdPercent)*capacity {
		return res, nil
	}
	goal := used - min(used, uint64(c.cfg.LowThresholdPercent)*capacity/100)
	candidates := c.candidates(images, inUse, now)
	c.log.Info("image filesystem above the high threshold; removing unused images",
		"usedBytes", used, "capacityBytes", capacity, "highPercent", c.cfg.HighThresholdPercent,
		"toFreeBytes", goal, "candidates", len(candidates))
	var errs []error
	for _, img := range candidates {
		if res.Freed >= goal {
			break
		}
		if err := c.cfg.Runtime.RemoveImage(ctx, img.Id); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(c.lastUsed, img.Id)
		res.Removed = append(res.Removed, img.Id)
		res.Freed += img.Size
		c.log.Info("image removed", "image", img.Id, "tags", img.RepoTags, "bytes", img.Size)
	}
	if res.Freed < goal {
		errs = append(errs, fmt.Errorf("imagegc: freed %d of the %d bytes wanted (%d images removed)", res.Freed, goal, len(res.Removed)))
	}
	return res, errors.Join(errs...)
}

// record notes the time for images in use now and for images never seen before, forgets
// images that are gone, and returns the IDs in use.
func (c *Collector) record(images []*runtimeapi.Image, containers []*runtimeapi.Container, now time.Time) map[string]bool {
	byRef := map[string]string{}
	present := map[string]bool{}
	for _, img := range images {
		present[img.Id] = true
		byRef[img.Id] = img.Id
		for _, ref := range append(append([]string(nil), img.RepoTags...), img.RepoDigests...) {
			byRef[ref] = img.Id
		}
		if _, ok := c.lastUsed[img.Id]; !ok {
			c.lastUsed[img.Id] = now
		}
	}
	inUse := map[string]bool{}
	for _, ctr := range containers {
		for _, ref := range []string{ctr.ImageRef, ctr.GetImage().GetImage()} {
			if id, ok := byRef[ref]; ok {
				inUse[id] = true
				c.lastUsed[id] = now
			}
		}
	}
	for id := range c.lastUsed {
		if !present[id] {
			delete(c.lastUsed, id)
		}
	}
	return inUse
}

// candidates are the removable images, least recently used first.
func (c *Collector) candidates(images []*runtimeapi.Image, inUse map[string]bool, now time.Time) []*runtimeapi.Image {
	var out []*runtimeapi.Image
	for _, img := range images {
		if inUse[img.Id] || img.Pinned || c.pinned(img) || now.Sub(c.lastUsed[img.Id]) < c.cfg.MinAge {
			continue
		}
		out = append(out, img)
	}
	slices.SortStableFunc(out, func(a, b *runtimeapi.Image) int {
		return c.lastUsed[a.Id].Compare(c.lastUsed[b.Id])
	})
	return out
}

func (c *Collector) pinned(img *runtimeapi.Image) bool {
	for _, p := range c.cfg.Pinned {
		if p == img.Id || slices.Contains(img.RepoTags, p) || slices.Contains(img.RepoDigests, p) {
			return true
		}
	}
	return false
}
