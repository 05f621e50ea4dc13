package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PullImage pulls image (with auth, nil for anonymous) and returns the image reference the
// runtime stored it under (its ID or digest reference). sandboxConfig may be nil.
func (c *Client) PullImage(ctx context.Context, image string, auth *runtimeapi.AuthConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	ctx, cancel := c.call(ctx, c.opts.PullTimeout)
	defer cancel()
	resp, err := c.images.PullImage(ctx, &runtimeapi.PullImageRequest{
		Image: &runtimeapi.ImageSpec{Image: image}, Auth: auth, SandboxConfig: sandboxConfig,
	})
	if err != nil {
		return "", wrap(err, "PullImage", image)
	}
	return resp.ImageRef, nil
}

// ImageStatus returns the image image names (short names are normalized by the runtime),
// or nil and no error when the runtime does not have it.
func (c *Client) ImageStatus(ctx context.Context, image string) (*runtimeapi.Image, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}})
	if err != nil {
		return nil, wrap(err, "ImageStatus", image)
	}
	return resp.Image, nil
}

// ListImages lists the runtime's images matching filter (nil: all).
func (c *Client) ListImages(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.images.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: filter})
	if err != nil {
		return nil, wrap(err, "ListImages", "")
	}
	return resp.Images, nil
}

// RemoveImage removes an image by name or ID. Removing a missing image succeeds.
func (c *Client) RemoveImage(ctx context.Context, image string) error {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: image}})
	return wrap(err, "RemoveImage", image)
}

// ImageFsInfo reports the usage of the filesystems images are stored on.
func (c *Client) ImageFsInfo(ctx context.Context) (*runtimeapi.ImageFsInfoResponse, error) {
	ctx, cancel := c.call(ctx, c.opts.Timeout)
	defer cancel()
	resp, err := c.images.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	return resp, wrap(err, "ImageFsInfo", "")
}
