package containerd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/images"
)

// Namespace is the containerd namespace the CRI plugin (and so every pod) uses.
const Namespace = "k8s.io"

// PauseImage is berth's built-in pause image as a preload.
func PauseImage() (Image, error) {
	ref, id, err := images.PauseName()
	if err != nil {
		return Image{}, err
	}
	// The image is built when it is written: it is imported once per containerd start, and
	// holding it in between would cost the agent ≈3 MB of heap for good.
	return Image{Ref: ref, ID: id, WriteArchive: func(w io.Writer) error {
		ref, img, err := images.Pause()
		if err != nil {
			return err
		}
		return images.WriteOCIArchive(w, img, ref)
	}}, nil
}

// ImportResult names the images an archive held.
type ImportResult struct {
	Images []string
}

// Import loads an OCI or docker archive read from archive into the containerd listening
// on socket (namespace k8s.io, unpacked for the overlayfs snapshotter), through ctr.
func Import(ctx context.Context, ctr, socket string, archive io.Reader) (ImportResult, error) {
	if ctr == "" {
		ctr = DefaultCtr
	}
	cmd := exec.CommandContext(ctx, ctr, "--address", socket, "--namespace", Namespace,
		"images", "import", "--snapshotter", "overlayfs", "-")
	cmd.Stdin = archive
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return ImportResult{}, fmt.Errorf("ctr images import: %w: %s", err, msg)
	}
	// ctr prints "unpacking <name> (<digest>)...done" per image.
	var res ImportResult
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "unpacking "); ok {
			if name, _, ok := strings.Cut(rest, " "); ok {
				res.Images = append(res.Images, name)
			}
		}
	}
	if len(res.Images) == 0 {
		return res, errors.New("ctr images import: the archive named no image (an OCI archive needs an io.containerd.image.name or org.opencontainers.image.ref.name annotation)")
	}
	return res, nil
}

// preload imports each Preload image the runtime lacks (or has under another ID) and
// waits until the CRI sees it. It returns the refs it imported.
func (c *Containerd) preload(ctx context.Context) ([]string, error) {
	if len(c.opts.Preload) == 0 {
		return nil, nil
	}
	client, err := cri.New(c.paths.Socket, cri.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	var imported []string
	for _, img := range c.opts.Preload {
		if st, err := client.ImageStatus(ctx, img.Ref); err != nil {
			return imported, err
		} else if st != nil && st.Id == img.ID {
			continue
		}
		if err := importImage(ctx, c.opts.Ctr, c.paths.Socket, img); err != nil {
			return imported, err
		}
		if err := waitImage(ctx, client, img); err != nil {
			return imported, err
		}
		imported = append(imported, img.Ref)
		c.log.Info("imported image", "image", img.Ref, "id", img.ID)
	}
	return imported, nil
}

// importImage streams img's archive into ctr; the writer runs in a goroutine this
// function waits for.
func importImage(ctx context.Context, ctr, socket string, img Image) error {
	pr, pw := io.Pipe()
	writeErr := make(chan error, 1)
	go func() {
		err := img.WriteArchive(pw)
		pw.CloseWithError(err)
		writeErr <- err
	}()
	_, err := Import(ctx, ctr, socket, pr)
	pr.CloseWithError(errors.New("import ended"))
	if werr := <-writeErr; werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", img.Ref, err)
	}
	return nil
}

// waitImage waits until the CRI lists img with its ID: containerd's CRI learns of images
// imported through the images service from events, a moment after the import returns.
func waitImage(ctx context.Context, client *cri.Client, img Image) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := client.ImageStatus(ctx, img.Ref)
		if err == nil && st != nil && st.Id == img.ID {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("image %s imported but the CRI does not show it (id %s, last error %v)", img.Ref, img.ID, err)
		case <-tick.C:
		}
	}
}
