package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File is one file of a projected payload: its content and mode.
type File struct {
	Data []byte
	Mode os.FileMode
}

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// WriteResult says what WriteAtomic did.
type WriteResult struct {
	// Changed: the payload differed from what the directory showed and was swapped in.
	Changed bool
}

// WriteAtomic makes dir show exactly payload (relative paths), as the kubelet's
// AtomicWriter does: the files go into a fresh "..<random>" directory, the "..data"
// symlink is swapped to it by rename (atomic for readers), each top-level name is a
// symlink through "..data", then the old directory and stale names go. Nothing is
// written when dir already shows payload.
func WriteAtomic(dir string, payload map[string]File) (WriteResult, error) {
	for p := range payload {
		if err := validPath(p); err != nil {
			return WriteResult{}, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return WriteResult{}, err
	}
	oldTarget, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if oldTarget != "" && sameContent(filepath.Join(dir, oldTarget), payload) {
		return WriteResult{}, nil
	}
	tsDir, err := os.MkdirTemp(dir, "..ts_")
	if err != nil {
		return WriteResult{}, err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return WriteResult{}, err
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return WriteResult{}, err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return WriteResult{}, err
		}
		// WriteFile's mode is filtered by the umask.
		if err := os.Chmod(full, f.Mode); err != nil {
			return WriteResult{}, err
		}
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return WriteResult{}, err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		return WriteResult{}, err
	}
	top := map[string]bool{}
	for p := range payload {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		want := filepath.Join(dataDirName, name)
		if got, err := os.Readlink(link); err == nil && got == want {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(want, link); err != nil {
			return WriteResult{}, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return WriteResult{}, err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == dataDirName || name == filepath.Base(tsDir) || top[name]:
		case strings.HasPrefix(name, ".."), e.Type()&os.ModeSymlink != 0:
			// An old timestamped directory, or a name the payload no longer has.
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return WriteResult{}, err
			}
		}
	}
	return WriteResult{Changed: true}, nil
}

// validPath refuses absolute paths, ".." elements and names starting with "..".
func validPath(p string) error {
	if p == "" || filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." || el == "" || strings.HasPrefix(el, "..") {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
	}
	return nil
}

// sameContent reports whether tsDir holds exactly payload (contents and modes).
func sameContent(tsDir string, payload map[string]File) bool {
	var found []string
	err := filepath.WalkDir(tsDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(tsDir, path)
		f, ok := payload[rel]
		if !ok {
			return errors.New("extra file")
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != f.Mode.Perm() {
			return errors.New("mode differs")
		}
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(data, f.Data) {
			return errors.New("content differs")
		}
		found = append(found, rel)
		return nil
	})
	if err != nil || len(found) != len(payload) {
		return false
	}
	return true
}
