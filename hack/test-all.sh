#!/usr/bin/env bash
# Sets everything up and runs every test: unit, integration and (as root) e2e.
source "$(dirname "$0")/lib.sh"
install_packages
build
make -C "$ROOT" test
