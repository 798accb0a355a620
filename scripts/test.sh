#!/usr/bin/env bash
# The podflow test command: installs what the tests need from Debian's
# packages when missing (as root), then runs every test of the workspace.
# Integration tests start private Open vSwitch instances inside network
# namespaces they create; they never touch the machine's own interfaces.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/deps.sh
ensure_packages "integration tests will be skipped; run as root to install them" || true
# Debian starts the system Open vSwitch on install where it can; podflow's
# tests never use it, they start their own.

cargo test --workspace --release -- --test-threads="${PODFLOW_TEST_THREADS:-4}"
