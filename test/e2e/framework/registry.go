package framework

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Registry is an in-process OCI registry (go-containerregistry's) listening on loopback
// inside a node's network namespace, optionally behind basic auth, that the node's
// containerd pulls from over plain HTTP.
type Registry struct {
	Host               string // 127.0.0.1:<port>
	Username, Password string
	node               *Node
}

// StartRegistry serves a registry for n and writes containerd's hosts.toml so it is
// reached over HTTP. With a username, every request needs basic auth.
func StartRegistry(t testing.TB, n *Node, username, password string) *Registry {
	t.Helper()
	lis, err := n.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Registry{Host: lis.Addr().String(), Username: username, Password: password, node: n}
	var handler http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if username != "" {
		handler = basicAuth(handler, username, password)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	hostDir := filepath.Join(n.containerdPaths().CertsDir, r.Host)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := fmt.Sprintf("server = \"http://%[1]s\"\n\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", r.Host)
	if err := os.WriteFile(filepath.Join(hostDir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func basicAuth(next http.Handler, username, password string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(username)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth-e2e"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// Push uploads img as <Host>/<repo>:<tag> (monolithic blob uploads, then the manifest)
// and returns the full reference.
func (r *Registry) Push(t testing.TB, repo, tag string, img v1.Image) string {
	t.Helper()
	client := r.node.HTTPClient(30 * time.Second)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		digest, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.putBlob(client, repo, digest, data); err != nil {
			t.Fatal(err)
		}
	}
	configName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.putBlob(client, repo, configName, config); err != nil {
		t.Fatal(err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mediaType, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.Host, repo, tag), bytes.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", string(mediaType))
	if err := r.do(client, req, http.StatusCreated); err != nil {
		t.Fatalf("push manifest: %v", err)
	}
	return fmt.Sprintf("%s/%s:%s", r.Host, repo, tag)
}

func (r *Registry) putBlob(client *http.Client, repo string, digest v1.Hash, data []byte) error {
	start, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", r.Host, repo), nil)
	if err != nil {
		return err
	}
	resp, err := r.send(client, start, http.StatusAccepted)
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	location := resp.Header.Get("Location")
	if location == "" {
		return errors.New("upload has no Location")
	}
	if strings.HasPrefix(location, "/") {
		location = "http://" + r.Host + location
	}
	sep := "?"
	if strings.Contains(location, "?") {
		sep = "&"
	}
	put, err := http.NewRequest(http.MethodPut, location+sep+"digest="+digest.String(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	put.Header.Set("Content-Type", "application/octet-stream")
	return r.do(client, put, http.StatusCreated)
}

func (r *Registry) do(client *http.Client, req *http.Request, want int) error {
	_, err := r.send(client, req, want)
	return err
}

func (r *Registry) send(client *http.Client, req *http.Request, want int) (*http.Response, error) {
	if r.Username != "" {
		req.SetBasicAuth(r.Username, r.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL, resp.Status, body)
	}
	return resp, nil
}
