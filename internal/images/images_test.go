package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestNormalizeRef(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"app:0.3.2", "docker.io/library/app:0.3.2"},
		{"busybox", "docker.io/library/busybox:latest"},
		{"berth/pause:1", "docker.io/berth/pause:1"},
		{"localhost/berth/pause:1", "localhost/berth/pause:1"},
		{"127.0.0.1:5000/app:1", "127.0.0.1:5000/app:1"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"},
		{"registry.example/x/y@sha256:abc", "registry.example/x/y@sha256:abc"},
		{"docker.io/library/nginx:1.20.1", "docker.io/library/nginx:1.20.1"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := NormalizeRef(tc.in); got != tc.want {
				t.Errorf("NormalizeRef(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLayerTarIsDeterministicAndAddsParents(t *testing.T) {
	files := []File{
		Regular("/usr/bin/tool", 0o755, []byte("#!/bin/sh\n")),
		Symlink("/bin/sh", "/bin/busybox"),
		Dir("/tmp", fs.ModeSticky|0o777),
	}
	a, err := LayerTar(files)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LayerTar([]File{files[2], files[1], files[0]})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("same files in another order gave another tar")
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(a))
	var order []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = hdr
		order = append(order, hdr.Name)
	}
	want := []string{"bin/", "bin/sh", "tmp/", "usr/", "usr/bin/", "usr/bin/tool"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("entries %v, want %v", order, want)
	}
	if h := got["tmp/"]; h.Mode != 0o1777 {
		t.Errorf("/tmp mode %o, want 1777", h.Mode)
	}
	if h := got["usr/bin/tool"]; h.Mode != 0o755 || h.Size != 10 || !h.ModTime.Equal(epoch) {
		t.Errorf("tool header %+v", h)
	}
	if h := got["bin/sh"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
		t.Errorf("sh header %+v", h)
	}
}

func TestWriteOCIArchiveIsALayoutContainerdCanName(t *testing.T) {
	layer, err := Layer([]File{Regular("/hello", 0o644, []byte("hi"))})
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(Config{Entrypoint: []string{"/hello"}, Labels: map[string]string{"a": "b"}}, layer)
	if err != nil {
		t.Fatal(err)
	}
	var first, second bytes.Buffer
	if err := WriteOCIArchive(&first, img, "app:1", "app:latest"); err != nil {
		t.Fatal(err)
	}
	if err := WriteOCIArchive(&second, img, "app:1", "app:latest"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("two writes of one image differ")
	}

	// Unpack and read it back as an OCI layout.
	dir := t.TempDir()
	tr := tar.NewReader(&first)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, _ := io.ReadAll(tr)
		if strings.HasPrefix(hdr.Name, "blobs/sha256/") {
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != filepath.Base(hdr.Name) {
				t.Errorf("blob %s has digest %x", hdr.Name, sum)
			}
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest.Manifests) != 2 {
		t.Fatalf("%d index entries, want 2", len(manifest.Manifests))
	}
	for i, want := range []string{"docker.io/library/app:1", "docker.io/library/app:latest"} {
		desc := manifest.Manifests[i]
		if desc.Annotations[annotationContainerdName] != want || desc.Annotations[annotationRefName] != tagOf(want) {
			t.Errorf("entry %d annotations %v, want name %s", i, desc.Annotations, want)
		}
		if desc.Platform == nil || desc.Platform.OS != "linux" {
			t.Errorf("entry %d platform %v", i, desc.Platform)
		}
	}
	back, err := idx.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := ID(img)
	gotID, _ := ID(back)
	if gotID != wantID {
		t.Errorf("read back id %s, want %s", gotID, wantID)
	}
	cfg, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.Entrypoint[0] != "/hello" || cfg.Config.Labels["a"] != "b" || !cfg.Created.Time.Equal(epoch) {
		t.Errorf("config %+v", cfg.Config)
	}
	mt, _ := back.MediaType()
	if mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %s", mt)
	}
}

func TestPauseImage(t *testing.T) {
	ref, img, err := Pause()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, "localhost/berth/pause:") {
		t.Errorf("ref %s", ref)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/pause" {
		t.Errorf("entrypoint %v", cfg.Config.Entrypoint)
	}
	ref2, img2, _ := Pause()
	id1, _ := ID(img)
	id2, _ := ID(img2)
	if ref2 != ref || id1 != id2 {
		t.Error("Pause is not stable")
	}
}

// The embedded pause binary must be what images/pause builds to; otherwise run
// `go generate ./internal/images`.
func TestEmbeddedPauseIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images/pause")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain")
	}
	out := filepath.Join(t.TempDir(), "pause")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, "../../images/pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build pause: %v\n%s", err, msg)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(pauseGz))
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, embedded) {
		t.Errorf("assets/pause.gz is stale (%d bytes embedded, %d built): run `go generate ./internal/images`", len(embedded), len(built))
	}
}

func TestOCIIndexIsPlainJSON(t *testing.T) {
	// Other tools (skopeo, docker load) parse index.json as plain OCI JSON.
	var buf bytes.Buffer
	_, img, err := Pause()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteOCIArchive(&buf, img, "localhost/x:1"); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatal("no index.json")
		}
		if hdr.Name == "index.json" {
			var idx map[string]any
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				t.Fatal(err)
			}
			if idx["schemaVersion"] != float64(2) {
				t.Errorf("index %v", idx)
			}
			return
		}
	}
}

// PauseName must name exactly the image Pause builds: the agent checks containerd for
// that reference and ID and imports Pause's image under them.
func TestPauseNameMatchesImage(t *testing.T) {
	ref, img, err := Pause()
	if err != nil {
		t.Fatal(err)
	}
	id, err := ID(img)
	if err != nil {
		t.Fatal(err)
	}
	nref, nid, err := PauseName()
	if err != nil {
		t.Fatal(err)
	}
	if nref != ref || nid != id {
		t.Fatalf("PauseName() = %s %s; Pause() builds %s %s", nref, nid, ref, id)
	}
}
