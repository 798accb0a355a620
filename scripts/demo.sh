#!/usr/bin/env bash
# The podflow demo command: installs what the demo needs from Debian's
# packages when missing (as root), builds podflow and runs `podflow demo`.
# The demo starts a private Open vSwitch inside network namespaces it
# creates, and removes everything it made when it ends (also on Ctrl-C).
# Extra arguments go to `podflow demo` (e.g. --keep, --svg FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/deps.sh
ensure_packages "run this script as root (sudo ./scripts/demo.sh) to install them" || exit 1
if [ "$(id -u)" != 0 ]; then
    echo "the demo creates network namespaces: run it as root (sudo ./scripts/demo.sh)" >&2
    exit 1
fi
# Debian starts the system Open vSwitch on install where it can; the demo
# never uses it, it starts its own.

cargo build --release --bins --quiet
exec ./target/release/podflow demo "$@"
