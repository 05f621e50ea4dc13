package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/agent/cri"
)

// runImage serves `berth image import FILE.tar...` and `berth image ls` against the node's
// containerd (<data-dir>/containerd/containerd.sock unless --address says otherwise).
func runImage(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, imageUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("berth image "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", envOr("BERTH_DATA_DIR", defaultDataDir), "the node's data dir")
	address := fs.String("address", "", "containerd socket (default <data-dir>/containerd/containerd.sock)")
	quiet := false
	if sub == "ls" || sub == "list" {
		fs.BoolVar(&quiet, "q", false, "print image IDs only")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	socket := *address
	if socket == "" {
		socket = containerd.PathsFor(*dataDir, "", "").Socket
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch sub {
	case "import", "load":
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "berth image import: name one or more archives (OCI or docker save), or - for stdin")
			return 2
		}
		err = importImages(ctx, socket, fs.Args(), stdout)
	case "ls", "list":
		err = listImages(ctx, socket, quiet, stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, imageUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "berth image: unknown command %q\n%s", sub, imageUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth image %s: %v\n", sub, err)
		return 1
	}
	return 0
}

const imageUsage = `Usage:
  berth image import [--data-dir D | --address SOCK] FILE.tar...   load OCI or docker archives into the node's containerd
  berth image ls [--data-dir D | --address SOCK] [-q]              list the node's images (as the CRI sees them)
`

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func importImages(ctx context.Context, socket string, files []string, stdout io.Writer) error {
	for _, file := range files {
		var r io.Reader = os.Stdin
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		res, err := containerd.Import(ctx, "", socket, r)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for _, name := range res.Images {
			fmt.Fprintf(stdout, "imported %s\n", name)
		}
	}
	return nil
}

func listImages(ctx context.Context, socket string, quiet bool, stdout io.Writer) error {
	client, err := cri.New(socket, cri.Options{Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer client.Close()
	list, err := client.ListImages(ctx, nil)
	if err != nil {
		if cri.IsUnavailable(err) {
			return fmt.Errorf("containerd is not running at %s (is the agent up? --data-dir/--address): %w", socket, err)
		}
		return err
	}
	return printImages(stdout, list, quiet)
}

// printImages prints crictl's table: REPOSITORY TAG IMAGE ID SIZE, one row per tag.
func printImages(w io.Writer, list []*runtimeapi.Image, quiet bool) error {
	type row struct{ repo, tag, id, size string }
	var rows []row
	for _, img := range list {
		id := shortID(img.Id)
		if quiet {
			rows = append(rows, row{id: id})
			continue
		}
		size := humanSize(img.Size)
		for _, rt := range img.RepoTags {
			repo, tag := splitTag(rt)
			rows = append(rows, row{repo, tag, id, size})
		}
		if len(img.RepoTags) == 0 {
			repo := "<none>"
			if len(img.RepoDigests) > 0 {
				repo, _, _ = strings.Cut(img.RepoDigests[0], "@")
			}
			rows = append(rows, row{repo, "<none>", id, size})
		}
	}
	if quiet {
		for _, r := range rows {
			fmt.Fprintln(w, r.id)
		}
		return nil
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].repo != rows[j].repo {
			return rows[i].repo < rows[j].repo
		}
		return rows[i].tag < rows[j].tag
	})
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tSIZE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.repo, r.tag, r.id, r.size)
	}
	return tw.Flush()
}

func splitTag(ref string) (repo, tag string) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "<none>"
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 13 {
		id = id[:13]
	}
	return id
}

// humanSize prints bytes in decimal units with three significant digits, as crictl does.
func humanSize(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v := float64(n)
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.3g", v), ".0"), ".") + units[i]
}
