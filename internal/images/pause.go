package images

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The pause binary is built from images/pause, static and reproducible (same Go version →
// same bytes; pause_test.go checks the embedded copy is current). Regenerate with
// `go generate ./internal/images`.
//
//go:generate sh -c "CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' -o /dev/stdout ../../images/pause | gzip -9n > assets/pause.gz"
//go:embed assets/pause.gz
var pauseGz []byte

// buildPause makes the image from the embedded binary. Callers keep what they need of it
// only as long as they need it: the image holds the binary and its layer (≈3 MB), which a
// node agent would otherwise carry for its whole life to import it once.
func buildPause() (ref string, img v1.Image, err error) {
	zr, err := gzip.NewReader(bytes.NewReader(pauseGz))
	if err != nil {
		return "", nil, fmt.Errorf("pause binary: %w", err)
	}
	bin, err := io.ReadAll(zr)
	if err != nil {
		return "", nil, fmt.Errorf("pause binary: %w", err)
	}
	sum := sha256.Sum256(bin)
	layer, err := UncompressedLayer([]File{Regular("/pause", 0o755, bin)})
	if err != nil {
		return "", nil, fmt.Errorf("pause layer: %w", err)
	}
	img, err = Build(Config{
		Entrypoint: []string{"/pause"},
		StopSignal: "SIGTERM",
		Labels:     map[string]string{"io.berth.image": "pause", "io.cri-containerd.pause": "true"},
	}, layer)
	if err != nil {
		return "", nil, fmt.Errorf("pause image: %w", err)
	}
	// The tag follows the binary, so a berth upgrade that changes pause imports a new image
	// instead of reusing a stale one under the same name.
	return "localhost/berth/pause:" + hex.EncodeToString(sum[:6]), img, nil
}

// pauseName is the reference and image ID, computed once; the image itself is not kept.
var pauseName = sync.OnceValues(func() ([2]string, error) {
	ref, img, err := buildPause()
	if err != nil {
		return [2]string{}, err
	}
	id, err := ID(img)
	if err != nil {
		return [2]string{}, fmt.Errorf("pause image: %w", err)
	}
	return [2]string{ref, id}, nil
})

// Pause returns berth's sandbox image and the reference it is imported under
// (localhost/berth/pause:<hash of the binary>). Each call builds the image afresh.
func Pause() (ref string, img v1.Image, err error) {
	return buildPause()
}

// PauseName returns the reference and image ID of Pause's image without keeping the image.
func PauseName() (ref, id string, err error) {
	n, err := pauseName()
	return n[0], n[1], err
}
