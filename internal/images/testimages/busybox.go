package testimages

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"github.com/berth/berth/internal/images"
)

// BusyboxImage builds busybox:1.35 from the static busybox of Debian's busybox-static.
func (b *Builder) BusyboxImage() (Built, error) {
	files, err := b.busyboxFiles()
	if err != nil {
		return Built{}, err
	}
	layer, err := images.Layer(files)
	if err != nil {
		return Built{}, err
	}
	img, err := images.Build(images.Config{
		Cmd: []string{"sh"},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "busybox",
			"org.opencontainers.image.version": "1.35",
			"org.opencontainers.image.source":  "Debian busybox-static",
		},
	}, layer)
	if err != nil {
		return Built{}, fmt.Errorf("busybox: %w", err)
	}
	return Built{Ref: BusyboxRef, Image: img}, nil
}

// busyboxFiles is a minimal root filesystem: busybox, a symlink per applet (as
// `busybox --install -s` makes them), users, and the directories programs expect.
func (b *Builder) busyboxFiles() ([]images.File, error) {
	bin := b.Busybox
	if bin == "" {
		bin = "/bin/busybox"
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("busybox (install busybox-static): %w", err)
	}
	list, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	files := []images.File{
		images.Regular("/bin/busybox", 0o755, data),
		images.Dir("/tmp", fs.ModeSticky|0o777),
		images.Dir("/root", 0o700),
		images.Dir("/var/tmp", fs.ModeSticky|0o777),
		images.Dir("/proc", 0o555),
		images.Dir("/sys", 0o555),
		images.Dir("/dev", 0o755),
		images.Dir("/home", 0o755),
		images.Regular("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")),
		images.Regular("/etc/group", 0o644, []byte("root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n")),
		images.Regular("/etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nhosts: files dns\n")),
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "bin/busybox" {
			continue
		}
		files = append(files, images.Symlink("/"+applet, "/bin/busybox"))
	}
	return files, nil
}
