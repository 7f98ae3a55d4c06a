#!/usr/bin/env bash
# Build the portal's Debian 12 (bookworm) LXD image with debootstrap and cache it.
#
# Usage: scripts/build-template-image.sh [--force]
#
# Writes a split LXD image (metadata tarball + squashfs root file system) to
# $PORTAL_IMAGE_CACHE (default /var/cache/lab-portal) and prints the two paths.
# An existing cached image is reused unless --force is given. Packages come from
# the Debian mirror configured for apt on this machine, or $DEBIAN_MIRROR.
#
# The image is what the `template` container is created from: systemd, udev,
# netplan with systemd-networkd and systemd-resolved, openssh-server allowing
# password logins, sudo, and a login user `tmp` (UID 1000, group sudo, password
# locked) that the portal renames for each member. SSH host keys and the machine
# id are left out, so every copy creates its own at first boot.
set -euo pipefail

IMAGE_VERSION=2
CACHE_DIR=${PORTAL_IMAGE_CACHE:-/var/cache/lab-portal}
NAME="portal-debian-12-v${IMAGE_VERSION}"
META="$CACHE_DIR/$NAME.meta.tar.xz"
ROOTFS="$CACHE_DIR/$NAME.rootfs.squashfs"
PACKAGES=systemd-sysv,udev,dbus,netplan.io,systemd-resolved,openssh-server,sudo,iproute2,iputils-ping,ca-certificates,less

log() { printf '[build-template-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=false
case "${1:-}" in
    --force) force=true ;;
    "") ;;
    *) die "unknown option $1 (expected --force or nothing)" ;;
esac

[[ $EUID -eq 0 ]] || die "run as root: debootstrap and chroot need it"

if [[ $force == false && -s $META && -s $ROOTFS ]]; then
    log "using cached image $ROOTFS"
    printf '%s\n%s\n' "$META" "$ROOTFS"
    exit 0
fi

# Print the first archive URI that apt uses for the bookworm suite, read from
# deb822 .sources files or one-line sources.list entries.
find_mirror() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f $file ]] || continue
        awk '
            /^[[:space:]]*$/ { if (uri != "" && suite) { print uri; exit } uri = ""; suite = 0; next }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
            END { if (uri != "" && suite) print uri }
        ' "$file" | head -n1
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $file ]] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i + 1) == "bookworm") print $i; break } }' "$file"
    done
}

mirror=${DEBIAN_MIRROR:-$(find_mirror | head -n1)}
[[ -n $mirror ]] || die "no bookworm mirror found in apt's sources; set DEBIAN_MIRROR"

mkdir -p "$CACHE_DIR"
work=$(mktemp -d "$CACHE_DIR/build.XXXXXX")
cleanup() {
    # A failed debootstrap can leave proc or sys mounted inside the tree.
    umount -R "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev/pts" 2>/dev/null || true
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

started=$SECONDS
log "debootstrap bookworm from $mirror (minbase + $PACKAGES)"
debootstrap --variant=minbase --components=main --include="$PACKAGES" \
    bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
log "debootstrap finished in $((SECONDS - started)) s"

root=$work/rootfs
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

log "configuring the root file system"
printf 'deb %s bookworm main\n' "$mirror" >"$root/etc/apt/sources.list"

# Login user that each member's container renames.
in_root useradd --uid 1000 --user-group --create-home --shell /bin/bash --groups sudo tmp
in_root passwd --lock tmp >/dev/null

mkdir -p "$root/etc/ssh/sshd_config.d"
cat >"$root/etc/ssh/sshd_config.d/50-portal.conf" <<'EOF'
# Members log in with the password they chose in the portal or with their key.
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
EOF
rm -f "$root"/etc/ssh/ssh_host_*

# Debian creates host keys only when openssh-server is installed, so a copied
# container would share the template's keys. This unit creates them at boot.
cat >"$root/etc/systemd/system/ssh-host-keys.service" <<'EOF'
[Unit]
Description=Create missing SSH host keys
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF

# netplan renders eth0 for systemd-networkd. Without an address in another
# file this only brings the link up: no DHCP, no router advertisements.
mkdir -p "$root/etc/netplan"
cat >"$root/etc/netplan/10-portal-eth0.yaml" <<'EOF'
network:
  version: 2
  renderer: networkd
  ethernets:
    eth0:
      dhcp4: false
      dhcp6: false
      accept-ra: false
EOF
chmod 600 "$root/etc/netplan/10-portal-eth0.yaml"

in_root systemctl enable systemd-networkd.service systemd-resolved.service ssh.service ssh-host-keys.service >/dev/null 2>&1
ln -sf /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
# binfmt_misc cannot be mounted in an unprivileged container, so the unit would
# fail and leave every container "degraded".
ln -sf /dev/null "$root/etc/systemd/system/systemd-binfmt.service"

# An empty machine id makes systemd create a new one at the first boot of each copy.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$root/var/lib/dbus/machine-id"

in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/locale/* "$root"/var/cache/debconf/*-old

log "writing LXD metadata"
mkdir -p "$work/meta/templates"
cat >"$work/meta/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $(date +%s)
properties:
  description: Debian 12 (bookworm) for the lab GPU portal, image version ${IMAGE_VERSION}
  os: debian
  release: bookworm
  variant: portal
  portal_image_version: "${IMAGE_VERSION}"
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
  /etc/hosts:
    when: [create, copy]
    template: hosts.tpl
EOF
printf '{{ container.name }}\n' >"$work/meta/templates/hostname.tpl"
printf '127.0.0.1 localhost\n127.0.1.1 {{ container.name }}\n::1 localhost ip6-localhost ip6-loopback\n' \
    >"$work/meta/templates/hosts.tpl"

log "packing the image"
tar -C "$work/meta" -cJf "$work/meta.tar.xz" metadata.yaml templates
# squashfs cannot store the POSIX ACLs of the journal directory. mksquashfs
# 4.5 drops them with a warning per file, which is filtered out here.
mksquashfs "$root" "$work/rootfs.squashfs" -noappend -comp xz -quiet \
    2> >(grep -v 'Unrecognised xattr prefix system.posix_acl' >&2) >/dev/null
mv "$work/meta.tar.xz" "$META"
mv "$work/rootfs.squashfs" "$ROOTFS"
log "image built in $((SECONDS - started)) s: $(du -h "$ROOTFS" | cut -f1) root file system"
printf '%s\n%s\n' "$META" "$ROOTFS"
