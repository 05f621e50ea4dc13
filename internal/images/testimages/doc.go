// Package testimages holds the recipes of the images berth's tests and examples use, built
// offline from this repository and Debian's packages (no registry, no container engine):
//
//   - app:0.3.2, app:0.3.3 — images/app (a static Go HTTP server answering with its version
//     and hostname on :8080) on top of the busybox layer, so `kubectl exec` has a shell and wget;
//   - busybox:1.35 (also :latest) — Debian's busybox-static with its applet symlinks;
//   - nginx:1.20.1 — Debian's real nginx and the shared libraries it links, with a minimal
//     config serving a page on :80 and /app/ proxied to the app on localhost:8080. The tag is
//     the one examples/ uses; the image's labels say which Debian nginx it really is;
//   - kubeclient:0.1 — images/kubeclient, a static client-go program that loads
//     rest.InClusterConfig and prints, one JSON line per step, the server's version, who it
//     is (SelfSubjectReview) and whether it may list pods: the in-cluster client check.
//
// Building app and kubeclient needs the Go toolchain and the repository; nginx needs apt-get and dpkg-deb
// (packages are downloaded once into a cache dir). `make images` drives it (images/build).
// It must not be linked into the berth binary.
package testimages
