package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one entry of a layer.
type File struct {
	// Path inside the image, absolute ("/bin/sh").
	Path string
	// Mode holds the permission bits plus fs.ModeDir or fs.ModeSymlink; zero means 0644
	// for files, 0755 for directories.
	Mode fs.FileMode
	// Data is a regular file's content.
	Data []byte
	// Link is a symlink's target.
	Link string
}

// Dir is a directory entry.
func Dir(p string, perm fs.FileMode) File { return File{Path: p, Mode: fs.ModeDir | perm} }

// Symlink is a symbolic link entry.
func Symlink(p, target string) File {
	return File{Path: p, Mode: fs.ModeSymlink | 0o777, Link: target}
}

// Regular is a regular file entry.
func Regular(p string, perm fs.FileMode, data []byte) File {
	return File{Path: p, Mode: perm, Data: data}
}

// epoch is the modification time of every entry: layers do not depend on when they were built.
var epoch = time.Unix(0, 0).UTC()

// LayerTar writes files as an uncompressed layer tar, sorted by path, with the parent
// directories that the list does not name added as 0755. Later entries for the same path win.
func LayerTar(files []File) ([]byte, error) {
	byPath := make(map[string]File, len(files))
	for _, f := range files {
		clean := path.Clean("/" + f.Path)
		if clean == "/" {
			continue
		}
		f.Path = clean
		byPath[clean] = f
		for dir := path.Dir(clean); dir != "/"; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = Dir(dir, 0o755)
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := byPath[p]
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), ModTime: epoch, Format: tar.FormatPAX}
		perm := int64(f.Mode.Perm())
		switch {
		case f.Mode&fs.ModeDir != 0:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
			hdr.Mode = orDefault(perm, 0o755)
		case f.Mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.Link, 0o777
		case f.Mode.Type() == 0:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
			hdr.Mode = orDefault(perm, 0o644)
		default:
			return nil, fmt.Errorf("layer entry %s: unsupported file type %v", p, f.Mode.Type())
		}
		if f.Mode&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		if f.Mode&fs.ModeSetgid != 0 {
			hdr.Mode |= 0o2000
		}
		if f.Mode&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", p, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, fmt.Errorf("layer entry %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func orDefault(perm, def int64) int64 {
	if perm == 0 {
		return def
	}
	return perm
}

// Layer packs files into a gzip-compressed OCI layer.
func Layer(files []File) (v1.Layer, error) {
	raw, err := LayerTar(files)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// UncompressedLayer packs files into an uncompressed OCI layer: nothing to compress when
// digesting or writing it, nothing to decompress when unpacking. For small local-only
// layers (the pause image) that is faster than gzip end to end.
func UncompressedLayer(files []File) (v1.Layer, error) {
	raw, err := LayerTar(files)
	if err != nil {
		return nil, err
	}
	return static.NewLayer(raw, types.OCIUncompressedLayer), nil
}
