package images

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations containerd's importer reads to name an image in an OCI archive: the full
// name wins; the OCI ref name (the tag) is what other tools show.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// WriteOCIArchive writes img as a tar of an OCI image layout whose index names it refs
// (normalized: "app:0.3.2" is stored as "docker.io/library/app:0.3.2"). The stream is
// deterministic for a given image and refs.
func WriteOCIArchive(w io.Writer, img v1.Image, refs ...string) error {
	if len(refs) == 0 {
		return fmt.Errorf("oci archive: no image reference")
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("oci archive: manifest: %w", err)
	}
	manifestDigest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("oci archive: manifest digest: %w", err)
	}
	mediaType, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("oci archive: media type: %w", err)
	}
	configName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("oci archive: config digest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("oci archive: config: %w", err)
	}
	configFile, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("oci archive: config: %w", err)
	}

	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, ref := range refs {
		full := NormalizeRef(ref)
		index.Manifests = append(index.Manifests, v1.Descriptor{
			MediaType: mediaType,
			Size:      int64(len(manifest)),
			Digest:    manifestDigest,
			Platform:  &v1.Platform{OS: configFile.OS, Architecture: configFile.Architecture},
			Annotations: map[string]string{
				annotationContainerdName: full,
				annotationRefName:        tagOf(full),
			},
		})
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	written := map[v1.Hash]bool{}
	writeFile := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	writeBlob := func(h v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
		if written[h] {
			return nil
		}
		written[h] = true
		rc, err := open()
		if err != nil {
			return err
		}
		defer rc.Close()
		hdr := &tar.Header{Name: "blobs/" + h.Algorithm + "/" + h.Hex, Mode: 0o644, Size: size, ModTime: epoch, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, rc)
		if err == nil && n != size {
			err = fmt.Errorf("blob %s: %d bytes, want %d", h, n, size)
		}
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
			return fmt.Errorf("oci archive: %w", err)
		}
	}
	if err := writeFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return fmt.Errorf("oci archive: %w", err)
	}
	if err := writeFile("index.json", indexJSON); err != nil {
		return fmt.Errorf("oci archive: %w", err)
	}
	if err := writeBlob(manifestDigest, int64(len(manifest)), bytesOpener(manifest)); err != nil {
		return fmt.Errorf("oci archive: manifest blob: %w", err)
	}
	if err := writeBlob(configName, int64(len(config)), bytesOpener(config)); err != nil {
		return fmt.Errorf("oci archive: config blob: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("oci archive: layers: %w", err)
	}
	for _, layer := range layers {
		digest, err := layer.Digest()
		if err != nil {
			return fmt.Errorf("oci archive: layer digest: %w", err)
		}
		size, err := layer.Size()
		if err != nil {
			return fmt.Errorf("oci archive: layer size: %w", err)
		}
		if err := writeBlob(digest, size, layer.Compressed); err != nil {
			return fmt.Errorf("oci archive: layer %s: %w", digest, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("oci archive: %w", err)
	}
	return nil
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// tagOf returns the tag of a normalized reference ("" for a digest reference).
func tagOf(ref string) string {
	if strings.Contains(ref, "@") {
		return ""
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ""
}

// ID is the image ID containerd and the CRI report for img: its config digest.
func ID(img v1.Image) (string, error) {
	h, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}
