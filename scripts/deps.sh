# Sourced by test.sh and demo.sh: the Debian packages podflow's
# tests and demo use. `missing_packages` prints the ones not
# installed yet; `install_packages PKG…` installs them (root only).

missing_packages() {
    local need=()
    command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
    command -v ovs-ofctl >/dev/null || need+=(openvswitch-common)
    command -v ip >/dev/null || need+=(iproute2)
    command -v arping >/dev/null || need+=(iputils-arping)
    command -v ping >/dev/null || need+=(iputils-ping)
    [ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
    command -v ethtool >/dev/null || need+=(ethtool)
    echo "${need[*]}"
}

install_packages() {
    echo "installing: $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
