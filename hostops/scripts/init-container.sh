#!/bin/bash
# Turn a fresh copy of the template into a member's container: rename the
# template's login user (with its group and home), set the password hash and
# SSH keys, set the hostname and write a static netplan configuration.
#
# The portal's worker pushes this script and its inputs into DIR (first
# argument, default /run/portal-init, a tmpfs that the restart clears) and
# runs it as root:
#   DIR/values           KEY=VALUE lines: OLD_USER, NEW_USER, HOST_NAME,
#                        ADDRESS, PREFIX, GATEWAY, DNS (comma-separated)
#   DIR/password-hash    a crypt(3) hash ($6$ or $y$), or empty to lock
#                        password login
#   DIR/authorized_keys  the member's public keys, installed verbatim
#
# Values are read as data and checked against strict patterns before use.
# Nothing here evaluates them, so shell syntax in a value or in an SSH key
# comment stays inert text. The inputs are deleted when the script exits,
# whether it succeeded or not. Running the script twice gives the same
# result: a user that is already renamed is left as it is.
set -euo pipefail
umask 077

DIR=${1:-/run/portal-init}
NETPLAN_FILE=/etc/netplan/50-portal.yaml

cleanup() {
    rm -f -- "$DIR/values" "$DIR/password-hash" "$DIR/authorized_keys"
}
trap cleanup EXIT

fail() {
    printf 'init-container: %s\n' "$*" >&2
    exit 1
}

say() {
    printf 'init-container: %s\n' "$*"
}

[[ $(id -u) -eq 0 ]] || fail "must run as root"
[[ -f $DIR/values ]] || fail "$DIR/values is missing"

# --- Read and check the values ----------------------------------------------

USERNAME_RE='^[a-z_][a-z0-9_-]{0,31}$'
HOST_NAME_RE='^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$'
IPV4_RE='^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$'
HASH_RE='^\$(6|y)\$[^:[:space:]]+$'
SSH_KEY_RE='^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+={0,3}( [^[:cntrl:]]*)?$'

OLD_USER='' NEW_USER='' HOST_NAME='' ADDRESS='' PREFIX='' GATEWAY='' DNS=''
while IFS= read -r line || [[ -n $line ]]; do
    [[ -z $line ]] && continue
    key=${line%%=*}
    value=${line#*=}
    case $key in
        OLD_USER) OLD_USER=$value ;;
        NEW_USER) NEW_USER=$value ;;
        HOST_NAME) HOST_NAME=$value ;;
        ADDRESS) ADDRESS=$value ;;
        PREFIX) PREFIX=$value ;;
        GATEWAY) GATEWAY=$value ;;
        DNS) DNS=$value ;;
        *) fail "unknown key in values file" ;;
    esac
done <"$DIR/values"

[[ $OLD_USER =~ $USERNAME_RE ]] || fail "OLD_USER is not a valid username"
[[ $NEW_USER =~ $USERNAME_RE ]] || fail "NEW_USER is not a valid username"
[[ $HOST_NAME =~ $HOST_NAME_RE ]] || fail "HOST_NAME is not a valid host name"
[[ $ADDRESS =~ $IPV4_RE ]] || fail "ADDRESS is not an IPv4 address"
[[ $GATEWAY =~ $IPV4_RE ]] || fail "GATEWAY is not an IPv4 address"
# 10# reads "08" as decimal instead of as an invalid octal number.
[[ $PREFIX =~ ^[0-9]{1,2}$ ]] && ((10#$PREFIX >= 8 && 10#$PREFIX <= 30)) || fail "PREFIX must be between 8 and 30"

IFS=, read -r -a DNS_SERVERS <<<"$DNS"
((${#DNS_SERVERS[@]} >= 1 && ${#DNS_SERVERS[@]} <= 4)) || fail "DNS must list 1 to 4 addresses"
for server in "${DNS_SERVERS[@]}"; do
    [[ $server =~ $IPV4_RE ]] || fail "DNS contains an entry that is not an IPv4 address"
done

PASSWORD_HASH=''
if [[ -s $DIR/password-hash ]]; then
    PASSWORD_HASH=$(<"$DIR/password-hash")
    [[ $PASSWORD_HASH =~ $HASH_RE ]] || fail "password-hash is not a SHA-512 or yescrypt crypt hash"
fi

if [[ -f $DIR/authorized_keys ]]; then
    while IFS= read -r key || [[ -n $key ]]; do
        [[ -z $key || $key =~ $SSH_KEY_RE ]] || fail "authorized_keys contains a line that is not a public key"
    done <"$DIR/authorized_keys"
fi

# --- User, group and home ---------------------------------------------------

user_exists() {
    getent passwd "$1" >/dev/null
}

if [[ $OLD_USER == "$NEW_USER" ]]; then
    user_exists "$NEW_USER" || fail "user $NEW_USER does not exist"
    say "keeping user $NEW_USER"
elif user_exists "$NEW_USER"; then
    # A second run after a successful rename: the old name must be gone,
    # otherwise NEW_USER is some other account of the template.
    user_exists "$OLD_USER" && fail "both $OLD_USER and $NEW_USER exist; $NEW_USER is another account"
    say "user $OLD_USER was already renamed to $NEW_USER"
else
    user_exists "$OLD_USER" || fail "the template user $OLD_USER does not exist"
    usermod -l "$NEW_USER" -d "/home/$NEW_USER" -m "$OLD_USER"
    say "renamed user $OLD_USER to $NEW_USER"
fi

# The group rename is separate, so a run interrupted between the two
# commands finishes the job the second time.
if [[ $OLD_USER != "$NEW_USER" ]] && getent group "$OLD_USER" >/dev/null; then
    getent group "$NEW_USER" >/dev/null && fail "both groups $OLD_USER and $NEW_USER exist"
    groupmod -n "$NEW_USER" "$OLD_USER"
    say "renamed group $OLD_USER to $NEW_USER"
fi

HOME_DIR=/home/$NEW_USER
current_home=$(getent passwd "$NEW_USER" | cut -d: -f6)
if [[ $current_home != "$HOME_DIR" ]]; then
    usermod -d "$HOME_DIR" -m "$NEW_USER"
    say "moved home of $NEW_USER to $HOME_DIR"
fi
[[ -d $HOME_DIR ]] || fail "home directory $HOME_DIR is missing"
GROUP=$(id -gn "$NEW_USER")

# --- Password and SSH keys ----------------------------------------------------

# printf is a shell builtin, so the hash never appears in a process's
# arguments; chpasswd -e reads it from standard input.
if [[ -n $PASSWORD_HASH ]]; then
    printf '%s:%s\n' "$NEW_USER" "$PASSWORD_HASH" | chpasswd -e
    say "set the password of $NEW_USER"
else
    # Without this the template user's own password would keep working.
    usermod -p '!' "$NEW_USER"
    say "locked password login for $NEW_USER (no password requested)"
fi

# The file is replaced, not appended to: keys that came with the template
# must not open the member's container.
install -d -m 0700 -o "$NEW_USER" -g "$GROUP" "$HOME_DIR/.ssh"
if [[ -f $DIR/authorized_keys ]]; then
    install -m 0600 -o "$NEW_USER" -g "$GROUP" "$DIR/authorized_keys" "$HOME_DIR/.ssh/authorized_keys"
else
    install -m 0600 -o "$NEW_USER" -g "$GROUP" /dev/null "$HOME_DIR/.ssh/authorized_keys"
fi
say "installed $(grep -c . "$HOME_DIR/.ssh/authorized_keys" || true) SSH keys for $NEW_USER"

# --- Hostname -----------------------------------------------------------------

printf '%s\n' "$HOST_NAME" >/etc/hostname
chmod 0644 /etc/hostname
{
    grep -v '^127\.0\.1\.1[[:space:]]' /etc/hosts || true
    printf '127.0.1.1\t%s\n' "$HOST_NAME"
} >/etc/hosts.portal-new
chmod 0644 /etc/hosts.portal-new
mv -f /etc/hosts.portal-new /etc/hosts
say "set hostname to $HOST_NAME"

# --- Network ------------------------------------------------------------------

# Another file that configures eth0 (DHCP from the template, for example)
# would be merged with ours by netplan, so it is set aside. A container has
# only eth0, so setting the whole file aside loses nothing.
shopt -s nullglob
for file in /etc/netplan/*.yaml /etc/netplan/*.yml; do
    [[ $file == "$NETPLAN_FILE" ]] && continue
    if grep -q 'eth0' "$file"; then
        mv -f -- "$file" "$file.portal-disabled"
        say "set aside $file because it configures eth0"
    fi
done
shopt -u nullglob

# cloud-init would write its own eth0 configuration at the next boot.
if [[ -d /etc/cloud/cloud.cfg.d ]]; then
    printf 'network: {config: disabled}\n' >/etc/cloud/cloud.cfg.d/99-portal-disable-network.cfg
fi

dns_list=$(printf '%s, ' "${DNS_SERVERS[@]}")
dns_list=${dns_list%, }
cat >"$NETPLAN_FILE.new" <<EOF
# Written by the lab portal. The address is reserved for this container.
network:
  version: 2
  ethernets:
    eth0:
      dhcp4: false
      dhcp6: false
      accept-ra: false
      addresses: [$ADDRESS/$PREFIX]
      routes:
        - to: default
          via: $GATEWAY
      nameservers:
        addresses: [$dns_list]
EOF
chmod 0600 "$NETPLAN_FILE.new"
mv -f "$NETPLAN_FILE.new" "$NETPLAN_FILE"

# Without systemd-resolved nothing passes netplan's nameservers on, so
# /etc/resolv.conf gets them directly; a symlink belongs to resolved.
if [[ ! -L /etc/resolv.conf ]]; then
    printf 'nameserver %s\n' "${DNS_SERVERS[@]}" >/etc/resolv.conf
    chmod 0644 /etc/resolv.conf
fi

# `generate` checks the file and writes the networkd configuration. The
# restart that follows brings eth0 up with it, so `netplan apply` would
# only reconfigure the interface once more.
netplan generate
say "wrote $NETPLAN_FILE for $ADDRESS/$PREFIX via $GATEWAY"
