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

var pause = sync.OnceValues(func() (pauseImage, error) {
	zr, err := gzip.NewReader(bytes.NewReader(pauseGz))
	if err != nil {
		return pauseImage{}, fmt.Errorf("pause binary: %w", err)
	}
	bin, err := io.ReadAll(zr)
	if err != nil {
		return pauseImage{}, fmt.Errorf("pause binary: %w", err)
	}
	sum := sha256.Sum256(bin)
	layer, err := UncompressedLayer([]File{Regular("/pause", 0o755, bin)})
	if err != nil {
		return pauseImage{}, fmt.Errorf("pause layer: %w", err)
	}
	img, err := Build(Config{
		Entrypoint: []string{"/pause"},
		StopSignal: "SIGTERM",
		Labels:     map[string]string{"io.berth.image": "pause", "io.cri-containerd.pause": "true"},
	}, layer)
	if err != nil {
		return pauseImage{}, fmt.Errorf("pause image: %w", err)
	}
	// The tag follows the binary, so a berth upgrade that changes pause imports a new image
	// instead of reusing a stale one under the same name.
	ref := "localhost/berth/pause:" + hex.EncodeToString(sum[:6])
	return pauseImage{ref: ref, img: img, binary: bin}, nil
})

type pauseImage struct {
	ref    string
	img    v1.Image
	binary []byte
}

// Pause returns berth's sandbox image and the reference it is imported under
// (localhost/berth/pause:<hash of the binary>).
func Pause() (ref string, img v1.Image, err error) {
	p, err := pause()
	return p.ref, p.img, err
}
