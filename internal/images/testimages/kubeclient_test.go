package testimages

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestKubeClient builds kubeclient:0.1 and checks what a pod relies on: the entrypoint is
// a static executable in the image, and outside a cluster it reports the config step's
// error as JSON and exits 1.
func TestKubeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a client-go binary")
	}
	start := time.Now()
	built, err := (&Builder{}).KubeClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %v", time.Since(start).Round(time.Millisecond))
	if built.Ref != KubeClientRef {
		t.Errorf("ref %q", built.Ref)
	}
	cfg, err := built.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/kubeclient"}) {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	layers, err := built.Image.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	size, _ := layers[0].Size()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bin := fileInTar(t, rc, "kubeclient")
	t.Logf("binary %.1f MB, layer %.1f MB compressed", float64(len(bin))/1e6, float64(size)/1e6)

	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("/kubeclient is not an ELF executable: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/kubeclient is dynamically linked")
		}
	}

	path := filepath.Join(t.TempDir(), "kubeclient")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), path)
	cmd.Env = []string{} // no KUBERNETES_SERVICE_HOST: not in a cluster
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("outside a cluster: %v (want exit 1); stdout %q", err, out)
	}
	var line struct{ Step, Error string }
	if err := json.Unmarshal(out, &line); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if line.Step != "config" || line.Error != "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined" {
		t.Errorf("stdout %q", out)
	}
}

// fileInTar returns the contents of the regular file name in the tar stream r.
func fileInTar(t *testing.T, r io.Reader, name string) []byte {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the layer: %v", name, err)
		}
		if filepath.Clean(hdr.Name) == name || filepath.Clean(hdr.Name) == "/"+name {
			if hdr.Typeflag != tar.TypeReg || hdr.Mode&0o111 == 0 {
				t.Fatalf("%s: type %c mode %o", name, hdr.Typeflag, hdr.Mode)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}
