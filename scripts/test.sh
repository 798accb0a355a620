#!/usr/bin/env bash
# The podflow test command: installs what the tests need from Debian's
# packages when missing (as root), then runs every test of the workspace.
# Integration tests start private Open vSwitch instances inside network
# namespaces they create; they never touch the machine's own interfaces.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
command -v ovs-ofctl >/dev/null || need+=(openvswitch-common)
command -v ip >/dev/null || need+=(iproute2)
command -v arping >/dev/null || need+=(iputils-arping)
command -v ping >/dev/null || need+=(iputils-ping)
[ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
command -v ethtool >/dev/null || need+=(ethtool)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing: ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "missing packages (${need[*]}): integration tests will be skipped; run as root to install them" >&2
    fi
fi
# Debian starts the system Open vSwitch on install where it can; podflow's
# tests never use it, they start their own.

cargo test --workspace --release -- --test-threads="${PODFLOW_TEST_THREADS:-4}"
