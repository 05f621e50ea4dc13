package agenttest

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/images"
	"github.com/berth/berth/internal/images/testimages"
)

// Import streams a test image into the containerd listening on socket as an OCI archive
// and waits until the CRI shows it; it returns the names it got.
func Import(ctx context.Context, socket string, runtime *cri.Client, built testimages.Built) ([]string, error) {
	return ImportArchive(ctx, socket, runtime, built, func(w io.Writer) error { return images.WriteOCIArchive(w, built.Image, built.Ref) })
}

// ImportArchive imports the archive write produces (any format ctr takes) and waits up to
// 10 s until the CRI shows built (it learns of imported images from events).
func ImportArchive(ctx context.Context, socket string, runtime *cri.Client, built testimages.Built, write func(io.Writer) error) ([]string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	res, err := containerd.Import(ctx, "", socket, pr)
	pr.Close()
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", built.Ref, err)
	}
	id, err := images.ID(built.Image)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := runtime.ImageStatus(ctx, built.Ref)
		if err == nil && st != nil && st.Id == id {
			return res.Images, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("CRI does not show %s (%s) 10 s after the import (last error: %v)", built.Ref, id, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
