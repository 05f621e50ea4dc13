#!/usr/bin/env bash
# Sets everything up and runs a single-node berth cluster in the foreground.
source "$(dirname "$0")/lib.sh"
install_packages
build
exec "$ROOT/bin/berth" server "$@"
