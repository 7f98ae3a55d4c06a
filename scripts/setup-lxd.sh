#!/usr/bin/env bash
# Prepare LXD on this machine for the portal. Idempotent: each step checks first
# and does nothing when its result is already there, so a rerun takes seconds.
#
# Usage (as root): scripts/setup-lxd.sh [--project NAME] [--recreate-template]
#
# Steps:
#  1. install the Debian packages LXD, the image build and the browser tests need;
#  2. start the LXD daemon in the background if none responds (no systemd here);
#  3. turn off image auto-updates, so LXD never fetches images from the network;
#  4. create storage pool `portal` (btrfs on a sparse loop file) and make it the
#     default profile's root disk;
#  5. create the unmanaged bridge portalbr0 with address 198.18.0.1/24, so LXD
#     runs no DHCP or DNS server of its own;
#  6. build (scripts/build-template-image.sh, cached) and import image
#     `portal-debian-12`;
#  7. create container `template` (eth0 on portalbr0) and its snapshot `gpu` in
#     project default and, with --project, in that project too. A template built
#     from an older image version is recreated in the --project project, and in
#     project default only with --recreate-template, because an administrator
#     may have changed that one by hand (installed a GPU driver, for example).
set -euo pipefail

POOL=portal
POOL_SIZE=${PORTAL_POOL_SIZE:-20GiB}
BRIDGE=portalbr0
BRIDGE_ADDRESS=198.18.0.1/24
IMAGE_ALIAS=portal-debian-12
IMAGE_VERSION=2
TEMPLATE=template
SNAPSHOT=gpu
PACKAGES=(lxd lxd-client btrfs-progs debootstrap squashfs-tools uidmap iproute2 openssh-client xz-utils
    chromium fonts-noto-cjk)

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[setup-lxd] %s\n' "$*"; }
die() { printf '[setup-lxd] error: %s\n' "$*" >&2; exit 1; }

project=""
recreate_default=false
while [[ $# -gt 0 ]]; do
    case "$1" in
        --project)
            [[ $# -ge 2 && -n $2 ]] || die "--project needs a project name"
            project=$2
            shift 2
            ;;
        --project=*) project=${1#--project=}; shift ;;
        --recreate-template) recreate_default=true; shift ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (expected --project NAME or --recreate-template)" ;;
    esac
done
if [[ -n $project && ! $project =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]]; then
    die "invalid project name '$project': use letters, digits, - and _"
fi

[[ $EUID -eq 0 ]] || die "run as root: it installs packages and starts the LXD daemon"
started=$SECONDS

# Several test runs may call this at once; let one finish before the next checks.
exec {lock_fd}>/run/lock/lab-portal-setup-lxd.lock
if ! flock --nonblock "$lock_fd"; then
    log "waiting for another setup-lxd.sh run to finish"
    flock --timeout 900 "$lock_fd" || die "timed out after 15 minutes waiting for another setup-lxd.sh run to finish"
fi

# 1. Packages.
missing=()
for package in "${PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null) != installed ]]; then
        missing+=("$package")
    fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Daemon.
if ! lxc query /1.0 >/dev/null 2>&1; then
    log "starting the LXD daemon (log: /var/log/lxd/lxd.log)"
    mkdir -p /var/log/lxd
    # The dead proxy keeps LXD from reaching any image server. The daemon must
    # not inherit the lock file descriptor, or it would hold the lock forever.
    HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY="" \
        setsid nohup lxd --group root --logfile /var/log/lxd/lxd.log \
        {lock_fd}>&- </dev/null >>/var/log/lxd/stdout.log 2>&1 &
    lxd waitready --timeout=60 || die "the LXD daemon did not start; see /var/log/lxd/lxd.log"
fi

# 3. No automatic image downloads or refreshes.
if [[ $(lxc config get images.auto_update_interval) != 0 ]]; then
    log "disabling image auto-updates"
    lxc config set images.auto_update_interval 0
    lxc config set images.remote_cache_expiry 1
fi

# 4. Storage pool and the default profile's root disk.
if ! lxc storage show "$POOL" >/dev/null 2>&1; then
    log "creating storage pool $POOL (btrfs on a $POOL_SIZE sparse loop file)"
    lxc storage create "$POOL" btrfs size="$POOL_SIZE" >/dev/null
fi
root_pool=$(lxc profile device get default root pool 2>/dev/null || true)
if [[ -z $root_pool ]]; then
    log "adding root disk on pool $POOL to the default profile"
    lxc profile device add default root disk path=/ pool="$POOL" >/dev/null
elif [[ $root_pool != "$POOL" ]]; then
    log "moving the default profile's root disk from pool $root_pool to $POOL"
    lxc profile device set default root pool "$POOL"
fi

# 5. Bridge, not managed by LXD.
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $BRIDGE"
    ip link add "$BRIDGE" type bridge
fi
if ! ip -4 -o addr show dev "$BRIDGE" | grep -qF " ${BRIDGE_ADDRESS} "; then
    log "adding $BRIDGE_ADDRESS to $BRIDGE"
    ip addr replace "$BRIDGE_ADDRESS" dev "$BRIDGE"
fi
if ! ip -o link show "$BRIDGE" | grep -q "[<,]UP[,>]"; then
    ip link set "$BRIDGE" up
fi

# 6. Image.
image_version=$(lxc image get-property "$IMAGE_ALIAS" portal_image_version 2>/dev/null || true)
if [[ $image_version != "$IMAGE_VERSION" ]]; then
    build_started=$SECONDS
    mapfile -t image_files < <("$SCRIPT_DIR/build-template-image.sh")
    [[ ${#image_files[@]} -eq 2 ]] || die "build-template-image.sh did not print the image files"
    old_fingerprint=""
    if lxc image info "$IMAGE_ALIAS" >/dev/null 2>&1; then
        log "replacing image $IMAGE_ALIAS (version ${image_version:-unknown}) with version $IMAGE_VERSION"
        old_fingerprint=$(lxc query "/1.0/images/aliases/$IMAGE_ALIAS" | sed -n 's/.*"target": "\([0-9a-f]*\)".*/\1/p')
        lxc image alias delete "$IMAGE_ALIAS"
    fi
    log "importing image $IMAGE_ALIAS"
    lxc image import "${image_files[0]}" "${image_files[1]}" --alias "$IMAGE_ALIAS" >/dev/null
    lxc image set-property "$IMAGE_ALIAS" portal_image_version "$IMAGE_VERSION"
    if [[ -n $old_fingerprint ]]; then
        # Containers made from the old image keep working without it.
        lxc image delete "$old_fingerprint" >/dev/null 2>&1 || true
    fi
    log "image ready in $((SECONDS - build_started)) s"
fi

# 7. Template container and snapshot, per project.
ensure_project() {
    local name=$1
    [[ $name == default ]] && return 0
    if ! lxc project show "$name" >/dev/null 2>&1; then
        log "creating LXD project $name (sharing the default project's images and profiles)"
        lxc project create "$name" -c features.images=false -c features.profiles=false \
            -c features.storage.volumes=false >/dev/null
    fi
}

ensure_template() {
    local name=$1 recreate=$2
    local version
    if version=$(lxc config get "$TEMPLATE" user.portal_image_version --project "$name" 2>/dev/null); then
        # A template without the label was made by hand and is left alone.
        if [[ -n $version && $version != "$IMAGE_VERSION" ]]; then
            if [[ $recreate == true ]]; then
                log "recreating $TEMPLATE in project $name (image version $version -> $IMAGE_VERSION)"
                lxc delete --force "$TEMPLATE" --project "$name"
            else
                log "warning: $TEMPLATE in project $name comes from image version $version," \
                    "not $IMAGE_VERSION; rerun with --recreate-template to replace it"
            fi
        fi
    fi
    if ! lxc query "/1.0/instances/$TEMPLATE?project=$name" >/dev/null 2>&1; then
        log "creating container $TEMPLATE in project $name"
        # For a bridge that LXD does not manage, --network adds a local eth0
        # device (nictype bridged); copies of the template inherit it.
        lxc init "$IMAGE_ALIAS" "$TEMPLATE" --project "$name" --storage "$POOL" --network "$BRIDGE" >/dev/null
        lxc config set "$TEMPLATE" user.portal_image_version "$IMAGE_VERSION" --project "$name"
    fi
    if ! lxc query "/1.0/instances/$TEMPLATE/snapshots/$SNAPSHOT?project=$name" >/dev/null 2>&1; then
        # The template is never started, so the snapshot contains no SSH host keys
        # and no machine id; each copy creates its own at first boot.
        log "taking snapshot $TEMPLATE/$SNAPSHOT in project $name"
        lxc snapshot "$TEMPLATE" "$SNAPSHOT" --project "$name"
    fi
}

ensure_template default "$recreate_default"
if [[ -n $project && $project != default ]]; then
    ensure_project "$project"
    ensure_template "$project" true
fi

log "LXD is ready (pool $POOL, bridge $BRIDGE, image $IMAGE_ALIAS, $TEMPLATE/$SNAPSHOT${project:+ in default and $project}) in $((SECONDS - started)) s"
