#!/usr/bin/env bash
# Builds podflow's two images from the repository's own Dockerfiles on a
# machine that can reach Debian's packages but no container registry:
#   1. a Debian 12 base image made with debootstrap and `docker import`,
#      tagged by a hash of what went into it and skipped when that tag exists
#      (an imported image has no layer cache: re-importing would give a new
#      image id and rebuild everything on top of it);
#   2. deploy/docker/ovs/Dockerfile on that base;
#   3. deploy/docker/podflow/Dockerfile, target `prebuilt`, on that base with
#      the host's target/release/{podflow,podflow-cni} (no rust stage, so
#      nothing is pulled).
# The tags are the ones docker-compose.yml names, so `docker-compose up`
# (or `docker compose up`) without --build uses them.
#
#   scripts/images.sh            build what is missing or changed
#   scripts/images.sh --print    print the base image tag (nothing built)
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
MIRROR=${PODFLOW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${PODFLOW_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
OVS_IMAGE=podflow/ovs:debian12
PODFLOW_IMAGE=podflow/podflow:dev

# Everything the rootfs depends on: the suite, the mirrors and this
# function's own text (a change to how it is made changes the tag).
make_rootfs() {
    local dir=$1
    debootstrap --variant=minbase "$SUITE" "$dir" "$MIRROR" >"$dir.log" 2>&1 \
        || { tail -n 20 "$dir.log" >&2; return 1; }
    # The sources debian:12-slim has, so `apt-get install` in the
    # Dockerfiles sees the same packages.
    rm -f "$dir/etc/apt/sources.list"
    cat >"$dir/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb "$dir"/tmp/*
}

base_tag() {
    local h
    h=$(printf '%s\n%s\n%s\n%s\n' "$SUITE" "$MIRROR" "$SECURITY_MIRROR" "$(declare -f make_rootfs)" | sha256sum | cut -c1-12)
    echo "podflow/debian-base:12-$h"
}

BASE=$(base_tag)
if [ "${1:-}" = --print ]; then
    echo "$BASE"
    exit 0
fi

command -v docker >/dev/null || { echo "images.sh: no docker client" >&2; exit 1; }
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    . scripts/deps.sh
    ensure_image_packages "cannot make the base image"
    work=$(mktemp -d /var/tmp/podflow-rootfs.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    echo "debootstrap $SUITE (minbase) for $BASE"
    make_rootfs "$work/rootfs"
    tar -C "$work/rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$BASE" >/dev/null
    rm -rf "$work"
    trap - EXIT
fi

for bin in podflow podflow-cni; do
    [ -x "target/release/$bin" ] || { echo "images.sh: target/release/$bin missing: run cargo build --release first" >&2; exit 1; }
done

# --network host: the Dockerfiles' apt-get reaches Debian's mirror the way
# the host does, without depending on the engine's bridge NAT.
build() {
    local log
    log=$(mktemp)
    docker build --network host --build-arg "BASE_IMAGE=$BASE" "$@" >"$log" 2>&1 \
        || { cat "$log" >&2; rm -f "$log"; return 1; }
    rm -f "$log"
}
build -t "$OVS_IMAGE" deploy/docker/ovs
build --target prebuilt -t "$PODFLOW_IMAGE" -f deploy/docker/podflow/Dockerfile .
echo "images: $BASE $OVS_IMAGE $PODFLOW_IMAGE"
