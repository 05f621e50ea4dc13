package testimages

import (
	"context"
	"fmt"

	"github.com/berth/berth/internal/images"
)

// App builds app:<version>: the busybox layer plus /app.
func (b *Builder) App(ctx context.Context, version string) (Built, error) {
	bin, err := b.buildGo(ctx, "./images/app", "-X main.version="+version)
	if err != nil {
		return Built{}, err
	}
	base, err := b.busyboxFiles()
	if err != nil {
		return Built{}, err
	}
	baseLayer, err := images.Layer(base)
	if err != nil {
		return Built{}, err
	}
	appLayer, err := images.Layer([]images.File{images.Regular("/app", 0o755, bin)})
	if err != nil {
		return Built{}, err
	}
	img, err := images.Build(images.Config{
		Entrypoint:   []string{"/app"},
		ExposedPorts: []string{"8080/tcp"},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "app",
			"org.opencontainers.image.version": version,
			"org.opencontainers.image.source":  "berth images/app",
		},
	}, baseLayer, appLayer)
	if err != nil {
		return Built{}, fmt.Errorf("app:%s: %w", version, err)
	}
	return Built{Ref: "app:" + version, Image: img}, nil
}
