#!/usr/bin/env bash
# The podflow demo command: installs what the demo needs from Debian's
# packages when missing (as root), builds podflow and runs `podflow demo`.
# The demo starts a private Open vSwitch inside network namespaces it
# creates, and removes everything it made when it ends (also on Ctrl-C).
# Extra arguments go to `podflow demo` (e.g. --keep, --svg FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
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
        echo "missing packages (${need[*]}): run this script as root (sudo ./scripts/demo.sh) to install them" >&2
        exit 1
    fi
fi
if [ "$(id -u)" != 0 ]; then
    echo "the demo creates network namespaces: run it as root (sudo ./scripts/demo.sh)" >&2
    exit 1
fi
# Debian starts the system Open vSwitch on install where it can; the demo
# never uses it, it starts its own.

cargo build --release --bins --quiet
exec ./target/release/podflow demo "$@"
