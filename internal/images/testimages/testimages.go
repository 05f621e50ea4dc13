package testimages

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth/berth/internal/images"
)

// Built is an image and the reference it is tagged with.
type Built struct {
	Ref   string // short reference as manifests name it, e.g. "app:0.3.2"
	Image v1.Image
}

// Builder builds the test images.
type Builder struct {
	// RepoRoot is the berth module root (sources of images/app); empty: found with `go env GOMOD`.
	RepoRoot string
	// CacheDir keeps downloaded Debian packages between builds.
	CacheDir string
	// Busybox is the static busybox binary (default /bin/busybox from busybox-static).
	Busybox string
}

// App versions the examples use.
var AppVersions = []string{"0.3.2", "0.3.3"}

// Names of the images All builds.
const (
	NginxRef   = "nginx:1.20.1"
	BusyboxRef = "busybox:1.35"
)

// All builds every test image: app (each of AppVersions), busybox, nginx, kubeclient.
func (b *Builder) All(ctx context.Context) ([]Built, error) {
	var all []Built
	for _, v := range AppVersions {
		app, err := b.App(ctx, v)
		if err != nil {
			return nil, err
		}
		all = append(all, app)
	}
	bb, err := b.BusyboxImage()
	if err != nil {
		return nil, err
	}
	all = append(all, bb)
	nginx, err := b.Nginx(ctx)
	if err != nil {
		return nil, err
	}
	all = append(all, nginx)
	kubeClient, err := b.KubeClient(ctx)
	if err != nil {
		return nil, err
	}
	return append(all, kubeClient), nil
}

// WriteArchive writes built as an OCI archive into dir, named after its reference
// (app_0.3.2.tar), and returns the path. The busybox image is also tagged busybox:latest.
func WriteArchive(dir string, built Built) (string, error) {
	name := strings.NewReplacer("/", "_", ":", "_").Replace(built.Ref) + ".tar"
	path := filepath.Join(dir, name)
	refs := []string{built.Ref}
	if built.Ref == BusyboxRef {
		refs = append(refs, "busybox:latest")
	}
	tmp, err := os.CreateTemp(dir, ".image-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := images.WriteOCIArchive(tmp, built.Image, refs...); err != nil {
		tmp.Close()
		return "", fmt.Errorf("%s: %w", built.Ref, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

func (b *Builder) repoRoot(ctx context.Context) (string, error) {
	if b.RepoRoot != "" {
		return b.RepoRoot, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the berth module: set Builder.RepoRoot")
	}
	return filepath.Dir(mod), nil
}

func (b *Builder) cacheDir() (string, error) {
	dir := b.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "berth-images")
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// buildGo compiles a static binary of the main package pkg (relative to the repo root).
func (b *Builder) buildGo(ctx context.Context, pkg string, ldflags string) ([]byte, error) {
	root, err := b.repoRoot(ctx)
	if err != nil {
		return nil, err
	}
	out, err := os.CreateTemp("", "berth-image-bin-*")
	if err != nil {
		return nil, err
	}
	out.Close()
	defer os.Remove(out.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= "+ldflags, "-o", out.Name(), pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return os.ReadFile(out.Name())
}
