# Shell functions shared by scripts/test and scripts/run. Source this file rather
# than running it, after setting REPO_ROOT and `set -euo pipefail`.

log() { printf '[%s] %s\n' "${SCRIPT_NAME:-portal}" "$*"; }
die() { printf '[%s] error: %s\n' "${SCRIPT_NAME:-portal}" "$*" >&2; exit 1; }

VENV=$REPO_ROOT/.venv
PYTHON_BIN=${PYTHON:-python3}

# Install Debian packages that are missing, running apt-get update once first.
# Arguments: package names.
ensure_debian_packages() {
    local missing=() package
    for package in "$@"; do
        if [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null) != installed ]]; then
            missing+=("$package")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $EUID -eq 0 ]] || die "missing Debian packages ${missing[*]}; install them as root"
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Start PostgreSQL and Redis on 127.0.0.1 unless they already accept connections.
ensure_services() {
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n1)
        [[ -n $version ]] || die "no PostgreSQL cluster under /etc/postgresql"
        log "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        local attempt
        for attempt in $(seq 30); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 1
        done
        pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not start; see /var/log/postgresql/"
    fi

    if [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) != PONG ]]; then
        log "starting Redis"
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log
        local attempt
        for attempt in $(seq 30); do
            [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]] && break
            sleep 0.2
        done
        [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]] ||
            die "Redis did not start; see /var/log/redis/ci.log"
    fi
}

# Create .venv and install requirements.txt when the venv is missing or the
# file changed since the last install (a SHA-256 stamp inside the venv).
ensure_venv() {
    local stamp=$VENV/.requirements.sha256 wanted
    wanted=$(sha256sum "$REPO_ROOT/requirements.txt" | cut -d' ' -f1)
    if [[ ! -x $VENV/bin/python ]]; then
        # Debian's python3 needs python3-venv for ensurepip; other builds bring it.
        if ! "$PYTHON_BIN" -c 'import ensurepip' 2>/dev/null; then
            ensure_debian_packages python3-venv
        fi
        log "creating $VENV with $($PYTHON_BIN --version)"
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    if [[ ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
        log "installing requirements.txt into $VENV"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REPO_ROOT/requirements.txt"
        printf '%s\n' "$wanted" >"$stamp"
    fi
}

# Compile locale/*/LC_MESSAGES/*.po when a .mo file is missing or older.
ensure_messages() {
    local po needed=false
    while IFS= read -r -d '' po; do
        if [[ ! -f ${po%.po}.mo || $po -nt ${po%.po}.mo ]]; then
            needed=true
        fi
    done < <(find "$REPO_ROOT/locale" -name '*.po' -print0 2>/dev/null)
    if [[ $needed == true ]]; then
        log "compiling message catalogs"
        (cd "$REPO_ROOT" && "$VENV/bin/python" manage.py compilemessages --ignore=.venv -v 0)
    fi
}

# Create the database named in $DATABASE_URL (or in .env, or the settings'
# default) if it does not exist yet.
ensure_database() {
    REPO_ROOT=$REPO_ROOT "$VENV/bin/python" - <<'PYTHON'
import os
from pathlib import Path

import environ
import psycopg
from psycopg import sql

environ.Env.read_env(Path(os.environ["REPO_ROOT"]) / ".env", overwrite=False)
url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal")
settings = environ.Env.db_url_config(url)
name = settings["NAME"]
connection = psycopg.connect(
    host=settings.get("HOST") or None,
    port=settings.get("PORT") or None,
    user=settings.get("USER") or None,
    password=settings.get("PASSWORD") or None,
    dbname="postgres",
    autocommit=True,
)
with connection:
    if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"created database {name}")
PYTHON
}
