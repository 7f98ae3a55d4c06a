#!/bin/bash
# Provision one container with the lxc CLI alone: the steps the portal's
# worker takes, in the same order, against the same template and with the
# same init script. provision_benchmark.py times this beside the portal.
#
# Usage: provision_direct.sh PROJECT NAME USERNAME ADDRESS PREFIX GATEWAY DNS HASH_FILE KEYS_FILE
#   DNS is a comma-separated list. HASH_FILE contains a crypt(3) hash and
#   KEYS_FILE the public keys, and either may be empty.
set -euo pipefail

if [[ $# -ne 9 ]]; then
    sed -n '2,9p' "$0" >&2
    exit 2
fi
project=$1 name=$2 username=$3 address=$4 prefix=$5 gateway=$6 dns=$7 hash_file=$8 keys_file=$9

SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/hostops/scripts/init-container.sh
INIT_DIR=/root/.portal-init
# Seconds between two checks while waiting, the same as the portal's worker.
POLL=0.2

lxc_in() {
    lxc --project "$project" "$@"
}

# copy, configure, start
lxc_in copy template/gpu "$name" -c user.portal.benchmark=direct
lxc_in config set "$name" limits.cpu=2 limits.memory=1GiB
lxc_in start "$name"

# push_script
values=$(mktemp)
trap 'rm -f "$values"' EXIT
printf 'OLD_USER=tmp\nNEW_USER=%s\nHOST_NAME=%s\nADDRESS=%s\nPREFIX=%s\nGATEWAY=%s\nDNS=%s\n' \
    "$username" "$name" "$address" "$prefix" "$gateway" "$dns" >"$values"
lxc_in exec "$name" -- install -d -m 0700 "$INIT_DIR"
lxc_in file push --mode 0700 "$SCRIPT" "$name$INIT_DIR/init-container.sh" >/dev/null
lxc_in file push --mode 0600 "$values" "$name$INIT_DIR/values" >/dev/null
lxc_in file push --mode 0600 "$hash_file" "$name$INIT_DIR/password-hash" >/dev/null
lxc_in file push --mode 0600 "$keys_file" "$name$INIT_DIR/authorized_keys" >/dev/null

# run_script, restart
lxc_in exec "$name" -- /bin/bash "$INIT_DIR/init-container.sh" "$INIT_DIR" >/dev/null
lxc_in restart "$name"

# wait_running: systemd inside has finished booting.
until state=$(lxc_in exec "$name" -- systemctl is-system-running --wait 2>/dev/null) ||
    [[ $state == degraded ]]; do
    sleep "$POLL"
done

# verify: the address on eth0, the user, and SSH from outside.
until [[ $(lxc_in exec "$name" -- ip -4 -o addr show dev eth0 | awk '{print $4}') == "$address/$prefix" ]]; do
    sleep "$POLL"
done
lxc_in exec "$name" -- getent passwd "$username" >/dev/null
if lxc_in exec "$name" -- getent passwd tmp >/dev/null; then
    echo "user tmp still exists in $name" >&2
    exit 1
fi
until timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/22"' "$address" 2>/dev/null; do
    sleep "$POLL"
done
