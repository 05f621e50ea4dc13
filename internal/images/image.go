package images

import (
	"fmt"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Config is the runtime configuration of an image.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	// ExposedPorts like "8080/tcp".
	ExposedPorts []string
	Labels       map[string]string
	// StopSignal like "SIGTERM"; empty leaves the runtime's default.
	StopSignal string
}

// Build stacks layers (lowest first) into a linux image for this machine's architecture
// with OCI media types and cfg as its configuration.
func Build(cfg Config, layers ...v1.Layer) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	file, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	file = file.DeepCopy()
	file.OS, file.Architecture = "linux", runtime.GOARCH
	file.Created = v1.Time{Time: epoch}
	file.Config.Entrypoint = cfg.Entrypoint
	file.Config.Cmd = cfg.Cmd
	file.Config.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, cfg.Env...)
	file.Config.WorkingDir = cfg.WorkingDir
	file.Config.User = cfg.User
	file.Config.Labels = cfg.Labels
	file.Config.StopSignal = cfg.StopSignal
	if len(cfg.ExposedPorts) > 0 {
		file.Config.ExposedPorts = make(map[string]struct{}, len(cfg.ExposedPorts))
		for _, p := range cfg.ExposedPorts {
			file.Config.ExposedPorts[p] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, file)
}

// NormalizeRef expands a short image reference the way containerd's CRI does:
// "app:0.3.2" → "docker.io/library/app:0.3.2", "berth/pause:1" → "docker.io/berth/pause:1";
// a reference without tag or digest gets ":latest".
func NormalizeRef(ref string) string {
	name, rest := ref, ""
	if i := strings.Index(ref, "@"); i >= 0 {
		name, rest = ref[:i], ref[i:]
	}
	if rest == "" {
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name, rest = name[:i], name[i:]
		} else {
			rest = ":latest"
		}
	}
	first, _, hasSlash := strings.Cut(name, "/")
	switch {
	case !hasSlash:
		name = "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	return name + rest
}
