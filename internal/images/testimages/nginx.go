package testimages

import (
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth/berth/internal/images"
)

// nginxPackages are the Debian packages whose files make the nginx image: nginx itself,
// nginx-common for mime.types, and the libraries nginx links (resolved below from its ELF
// dependencies, so a missing one fails the build rather than the container).
var nginxPackages = []string{"nginx", "nginx-common", "libc6", "libcrypt1", "libpcre2-8-0", "libssl3", "zlib1g"}

// libDirs are searched for shared libraries, as the dynamic loader would on Debian amd64.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

const nginxConf = `user www-data;
worker_processes 1;
error_log /dev/stderr notice;
pid /run/nginx.pid;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    keepalive_timeout 65;

    server {
        listen 80 default_server;
        server_name _;
        root /usr/share/nginx/html;
        index index.html;

        location / {
            try_files $uri $uri/ =404;
        }
        # The sidecar story: nginx in front of the app container on localhost.
        location /app/ {
            proxy_pass http://127.0.0.1:8080/;
        }
    }
}
`

const nginxIndex = `<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1><p>Served by nginx in a berth pod.</p></body></html>
`

// Nginx builds nginx:1.20.1 from Debian's packages (downloaded once into the cache dir).
func (b *Builder) Nginx(ctx context.Context) (Built, error) {
	cache, err := b.cacheDir()
	if err != nil {
		return Built{}, err
	}
	debs, err := downloadDebs(ctx, filepath.Join(cache, "debs"), nginxPackages)
	if err != nil {
		return Built{}, err
	}
	staging, err := os.MkdirTemp("", "berth-nginx-")
	if err != nil {
		return Built{}, err
	}
	defer os.RemoveAll(staging)
	for _, deb := range debs {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, staging).CombinedOutput(); err != nil {
			return Built{}, fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, out)
		}
	}
	version, err := exec.CommandContext(ctx, "dpkg-deb", "-f", debs[0], "Version").Output()
	if err != nil {
		return Built{}, fmt.Errorf("nginx package version: %w", err)
	}
	debianVersion := strings.TrimSpace(string(version))

	root := &stagedRoot{dir: staging, files: map[string]images.File{}}
	if err := root.addELF("/usr/sbin/nginx"); err != nil {
		return Built{}, err
	}
	if err := root.add("/etc/nginx/mime.types"); err != nil {
		return Built{}, err
	}
	files := root.list()
	files = append(files,
		images.Regular("/etc/nginx/nginx.conf", 0o644, []byte(nginxConf)),
		images.Regular("/usr/share/nginx/html/index.html", 0o644, []byte(nginxIndex)),
		images.Regular("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")),
		images.Regular("/etc/group", 0o644, []byte("root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n")),
		images.Regular("/etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nhosts: files dns\n")),
		// nginx opens its compiled-in error log before it reads the config.
		images.Symlink("/var/log/nginx/error.log", "/dev/stderr"),
		images.Symlink("/var/log/nginx/access.log", "/dev/stdout"),
		images.Dir("/var/lib/nginx", 0o755),
		images.Dir("/run", 0o755),
		images.Dir("/tmp", fs.ModeSticky|0o777),
	)
	for _, tmp := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		files = append(files, images.Dir("/var/lib/nginx/"+tmp, 0o755))
	}
	layer, err := images.Layer(files)
	if err != nil {
		return Built{}, err
	}
	img, err := images.Build(images.Config{
		Entrypoint:   []string{"/usr/sbin/nginx"},
		Cmd:          []string{"-g", "daemon off;"},
		ExposedPorts: []string{"80/tcp"},
		StopSignal:   "SIGQUIT",
		Labels: map[string]string{
			"org.opencontainers.image.title":   "nginx",
			"org.opencontainers.image.version": debianVersion,
			"org.opencontainers.image.source":  "Debian packages: " + strings.Join(nginxPackages, " "),
			"io.berth.note":                    "tagged " + NginxRef + " because examples/ names it; the binary is Debian's nginx " + debianVersion,
		},
	}, layer)
	if err != nil {
		return Built{}, fmt.Errorf("nginx: %w", err)
	}
	return Built{Ref: NginxRef, Image: img}, nil
}

// downloadDebs fetches each package's .deb with apt-get download into dir, once.
func downloadDebs(ctx context.Context, dir string, packages []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	find := func(pkg string) string {
		matches, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
		if len(matches) == 0 {
			return ""
		}
		sort.Strings(matches)
		return matches[len(matches)-1]
	}
	var missing []string
	for _, p := range packages {
		if find(p) == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		cmd := exec.CommandContext(ctx, "apt-get", append([]string{"download", "-q"}, missing...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("apt-get download %s: %w: %s", strings.Join(missing, " "), err, out)
		}
	}
	debs := make([]string, len(packages))
	for i, p := range packages {
		if debs[i] = find(p); debs[i] == "" {
			return nil, fmt.Errorf("apt-get download %s left no .deb in %s", p, dir)
		}
	}
	return debs, nil
}

// stagedRoot collects files from an extracted package tree, following symlinks inside it.
type stagedRoot struct {
	dir   string
	files map[string]images.File
}

// add copies the file at p (an image path) and, if it is a symlink, what it points to.
func (r *stagedRoot) add(p string) error {
	for range 40 {
		if _, ok := r.files[p]; ok {
			return nil
		}
		host := filepath.Join(r.dir, p)
		st, err := os.Lstat(host)
		if err != nil {
			return fmt.Errorf("nginx image: %s not in the packages: %w", p, err)
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			data, err := os.ReadFile(host)
			if err != nil {
				return err
			}
			r.files[p] = images.Regular(p, st.Mode().Perm(), data)
			return nil
		}
		target, err := os.Readlink(host)
		if err != nil {
			return err
		}
		r.files[p] = images.Symlink(p, target)
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = target
	}
	return fmt.Errorf("nginx image: too many symlinks at %s", p)
}

// addELF adds an executable or library with its interpreter and, recursively, every
// shared library it needs — what ldd would list, resolved inside the package tree.
func (r *stagedRoot) addELF(p string) error {
	if err := r.add(p); err != nil {
		return err
	}
	f, err := elf.Open(filepath.Join(r.dir, p))
	if err != nil {
		return fmt.Errorf("nginx image: %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			raw := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(raw, 0); err != nil {
				return err
			}
			if err := r.add(strings.TrimRight(string(raw), "\x00")); err != nil {
				return err
			}
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("nginx image: %s: %w", p, err)
	}
	for _, lib := range needed {
		found := ""
		for _, dir := range libDirs {
			if _, err := os.Lstat(filepath.Join(r.dir, dir, lib)); err == nil {
				found = path.Join(dir, lib)
				break
			}
		}
		if found == "" {
			return fmt.Errorf("nginx image: %s needs %s, which none of %v provides", p, lib, nginxPackages)
		}
		if _, seen := r.files[found]; seen {
			continue
		}
		if err := r.addELF(found); err != nil {
			return err
		}
	}
	return nil
}

func (r *stagedRoot) list() []images.File {
	out := make([]images.File, 0, len(r.files))
	for _, f := range r.files {
		out = append(out, f)
	}
	return out
}
