package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// freeLoopbackAddr is a loopback address with a port free a moment ago, for the agent's
// profiling endpoint.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// saveProfiles writes, into dir, the agent's /proc smaps and status, the list of its
// resident pages of the executable (resident, see writeResidentPages) and, when its
// profiling endpoint is on (addr), what that says of its memory: heap.pb.gz for `go tool
// pprof -sample_index=inuse_space`, heap.txt with the runtime's MemStats at its end,
// goroutine.txt. The smaps and status come first: fetching the profiles collects garbage.
func saveProfiles(ctx context.Context, addr string, pid int, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"smaps", "status"} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			return err
		}
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "resident"))
	if err != nil {
		return err
	}
	if err := writeResidentPages(pid, strings.TrimSuffix(exe, " (deleted)"), f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if addr == "" {
		return nil
	}
	for file, path := range map[string]string{
		"heap.pb.gz":    "/debug/pprof/heap?gc=1",
		"heap.txt":      "/debug/pprof/heap?debug=1",
		"goroutine.txt": "/debug/pprof/goroutine?debug=1",
	} {
		if err := fetch(ctx, "http://"+addr+path, filepath.Join(dir, file)); err != nil {
			return err
		}
	}
	return nil
}

func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
