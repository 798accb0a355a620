#!/usr/bin/env bash
# The podflow test command: installs what the tests need from Debian's
# packages when missing (as root), then runs every test of the workspace.
# Integration tests start private Open vSwitch instances inside network
# namespaces they create; they never touch the machine's own interfaces.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/deps.sh
read -r -a need <<< "$(missing_packages)"
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        install_packages "${need[@]}"
    else
        echo "missing packages (${need[*]}): integration tests will be skipped; run as root to install them" >&2
    fi
fi
# Debian starts the system Open vSwitch on install where it can; podflow's
# tests never use it, they start their own.

cargo test --workspace --release -- --test-threads="${PODFLOW_TEST_THREADS:-4}"
