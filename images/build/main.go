// Command build writes berth's test images as OCI archives (app:0.3.2, app:0.3.3,
// busybox:1.35, nginx:1.20.1, kubeclient:0.1) into a directory and prints one archive path
// per line — what `make images` runs. `berth image import` takes each archive.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/berth/berth/internal/images/testimages"
)

func main() {
	out := flag.String("out", "_output/images", "directory the archives are written to")
	cache := flag.String("cache", "", "directory for downloaded Debian packages (default: the user cache dir)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *out, *cache); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, cache string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	b := &testimages.Builder{CacheDir: cache}
	all, err := b.All(ctx)
	if err != nil {
		return err
	}
	for _, built := range all {
		path, err := testimages.WriteArchive(out, built)
		if err != nil {
			return err
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		fmt.Println(path)
	}
	return nil
}
