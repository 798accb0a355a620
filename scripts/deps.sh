# Sourced by test.sh and demo.sh: the Debian packages podflow's tests and
# demo use. `ensure_packages MESSAGE` installs the missing ones as root;
# otherwise it prints "missing packages (…): MESSAGE" and returns 1.

missing_packages() {
    local need=()
    command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
    command -v ovs-ofctl >/dev/null || need+=(openvswitch-common)
    command -v ip >/dev/null || need+=(iproute2)
    command -v arping >/dev/null || need+=(iputils-arping)
    command -v ping >/dev/null || need+=(iputils-ping)
    [ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
    command -v ethtool >/dev/null || need+=(ethtool)
    command -v nft >/dev/null || need+=(nftables)
    [ -f /usr/src/openvswitch/openvswitch.tar.gz ] || need+=(openvswitch-source)
    echo "${need[*]}"
}

install_packages() {
    echo "installing: $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_packages() {
    local need
    read -r -a need <<< "$(missing_packages)"
    [ ${#need[@]} -gt 0 ] || return 0
    if [ "$(id -u)" = 0 ]; then
        install_packages "${need[@]}"
    else
        echo "missing packages (${need[*]}): $1" >&2
        return 1
    fi
}

# Only scripts/images.sh calls this (building container images without a
# registry), so the test and demo paths never install debootstrap.
ensure_image_packages() {
    command -v debootstrap >/dev/null && return 0
    if [ "$(id -u)" = 0 ]; then
        install_packages debootstrap
    else
        echo "missing packages (debootstrap): $1" >&2
        return 1
    fi
}
