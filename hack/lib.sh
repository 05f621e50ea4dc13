# Shared by the hack/ scripts: Go on PATH, Debian packages installed once.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# Debian packages berth's tests and agent use (etcd-server: external-etcd tests).
BERTH_PACKAGES=(ca-certificates make git etcd-server)
# Node agent and e2e tests: containerd 1.6 (CRI built in; ships ctr), runc, the CNI plugins
# (/usr/lib/cni), busybox-static (test images), nftables/iptables and iproute2 (netns, CNI).
BERTH_PACKAGES+=(containerd runc containernetworking-plugins busybox-static nftables iptables iproute2)

install_packages() {
  local missing=()
  for p in "${BERTH_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "missing packages: ${missing[*]} (run as root to install them)" >&2
      return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! command -v go >/dev/null; then
    echo "Go is missing: install Go 1.26 under /usr/local/go" >&2
    return 1
  fi
}

build() {
  make -C "$ROOT" build
}
