package testimages

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/berth/berth/internal/images"
)

// KubeClientRef names the image KubeClient builds.
const KubeClientRef = "kubeclient:0.1"

// KubeClient builds kubeclient:0.1: images/kubeclient (a static client-go program that
// uses rest.InClusterConfig) alone on an otherwise empty root, since it needs no shell,
// no users and no name resolution (the in-cluster config names the API by IP).
func (b *Builder) KubeClient(ctx context.Context) (Built, error) {
	bin, err := b.buildGo(ctx, "./images/kubeclient", "")
	if err != nil {
		return Built{}, err
	}
	layer, err := images.Layer([]images.File{
		images.Regular("/kubeclient", 0o755, bin),
		images.Dir("/tmp", fs.ModeSticky|0o777),
	})
	if err != nil {
		return Built{}, err
	}
	img, err := images.Build(images.Config{
		Entrypoint: []string{"/kubeclient"},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "kubeclient",
			"org.opencontainers.image.version": "0.1",
			"org.opencontainers.image.source":  "berth images/kubeclient",
		},
	}, layer)
	if err != nil {
		return Built{}, fmt.Errorf("%s: %w", KubeClientRef, err)
	}
	return Built{Ref: KubeClientRef, Image: img}, nil
}
