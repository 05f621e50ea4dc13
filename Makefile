# berth — build, test, bench. `make build` puts bin/berth and bin/kubectl side by side.
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)
K8S_VERSION := v1.37.2
BERTH_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.1.0-dev)
LDFLAGS_BERTH := -s -w -X main.berthVersion=$(BERTH_VERSION) -X main.kubernetesVersion=$(K8S_VERSION)
LDFLAGS_KUBECTL := -s -w \
	-X k8s.io/client-go/pkg/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37
TEST_TIMEOUT ?= 30m

.PHONY: build test test-race unit bench bench-podstartup fuzz fmt vet clean images

# The binaries are static (CGO_ENABLED=0): only net's and os/user's lookups would use
# libc, and Go's own do the same from /etc. A dynamic berth maps libc and the loader
# into every process (≈1.5 MB of the node agent's resident set) for nothing.
build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS_BERTH)' -o bin/berth ./cmd/berth
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS_KUBECTL)' -o bin/kubectl ./cmd/kubectl

# Every test: unit tests with the race detector; integration tests (real server, etcd,
# bin/kubectl) and e2e tests (root: containerd, CNI, nftables in network namespaces)
# without it, to keep CI on two cores well under its limit; then short fuzz runs.
test: build vet
	BERTH_BIN_DIR=$(CURDIR)/bin $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./internal/... ./cmd/...
	BERTH_BIN_DIR=$(CURDIR)/bin $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./test/...
	$(MAKE) fuzz FUZZTIME=5s

# The integration tests with the race detector too (slower).
test-race: build vet
	BERTH_BIN_DIR=$(CURDIR)/bin $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

unit:
	$(GO) test -short -count=1 ./internal/...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal test bench 2>/dev/null)" || (gofmt -l cmd internal test bench; echo 'gofmt needed'; exit 1)

bench: build
	$(GO) run ./bench -bin $(CURDIR)/bin -json $(CURDIR)/bench-results.json

# Issue 5's pod-startup figures on a real node (root: network namespace, containerd, CNI):
# the 2-container pod 1 and 30 at a time through the agent beside raw CRI, the agent's RSS
# and idle CPU. Not part of `make test`.
bench-podstartup: build
	$(GO) run ./bench/podstartup -berth $(CURDIR)/bin/berth

# Every Fuzz target under internal/ for FUZZTIME each; a failing input fails the target
# (and is saved under the package's testdata/fuzz for a regression test).
FUZZTIME ?= 10s
fuzz:
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' internal); do \
		pkg=./$$(dirname $$file); \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Test images (app:0.3.2, app:0.3.3, busybox:1.35, nginx:1.20.1, kubeclient:0.1) as OCI archives for
# `berth image import`, built offline from images/ and Debian packages; prints one path a line.
IMAGES_DIR ?= _output/images
images:
	@$(GO) run ./images/build -out $(IMAGES_DIR)

clean:
	rm -rf bin
