#!/usr/bin/env bash
# Installs PostgreSQL 15 and the Apache-licensed TimescaleDB extension on a Debian bookworm machine.
#
# Why build from source: bookworm ships no TimescaleDB package, and the only packaged build we may
# use here is Debian's own (trixie) source package. We fetch that source through a private apt
# configuration (own sources list, lists and cache) so the system's apt state is left untouched,
# then build the Apache edition against postgresql-server-dev-15.
#
# Idempotent: exits at once when the extension is already installed for the server's pg_config.
# Must run as root (it installs Debian packages and writes into PostgreSQL's lib directory).
set -euo pipefail

PG_MAJOR=15
WORK_DIR="${COSTPIPE_BUILD_DIR:-/var/cache/costpipe/timescaledb}"

log() { printf '[install-timescaledb] %s\n' "$*" >&2; }

pg_config_bin="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"

already_installed() {
    [[ -x "$pg_config_bin" ]] || return 1
    local sharedir pkglibdir
    sharedir=$("$pg_config_bin" --sharedir)
    pkglibdir=$("$pg_config_bin" --pkglibdir)
    [[ -f "$sharedir/extension/timescaledb.control" ]] && compgen -G "$pkglibdir/timescaledb*.so" >/dev/null
}

if already_installed; then
    log "TimescaleDB already installed for PostgreSQL ${PG_MAJOR}"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    log "must run as root to install packages"
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# The archive the system already uses for bookworm: read it from apt's own configuration rather
# than naming a mirror here.
archive_uri() {
    local uri
    uri=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null \
        | grep -v -- '-security' | grep -i debian | head -n1 || true)
    if [[ -z "$uri" ]]; then
        uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
            | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
    fi
    if [[ -z "$uri" ]]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null \
            | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
    fi
    printf '%s' "${uri%/}"
}

log "installing build dependencies (apt-get update first)"
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    "postgresql-${PG_MAJOR}" "postgresql-server-dev-${PG_MAJOR}" \
    libkrb5-dev libssl-dev cmake gcc make dpkg-dev >/dev/null

uri=$(archive_uri)
if [[ -z "$uri" ]]; then
    log "could not find the Debian archive apt uses"
    exit 1
fi

apt_dir="$WORK_DIR/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$WORK_DIR/src"
printf 'deb-src [trusted=yes] %s trixie main\n' "$uri" > "$apt_dir/sources.list"
apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Sandbox::User=root"
)

log "fetching Debian's timescaledb source package"
apt-get "${apt_opts[@]}" update -qq
cd "$WORK_DIR/src"
src_dir=$(find . -maxdepth 1 -type d -name 'timescaledb-*' | head -n1)
if [[ -z "$src_dir" ]]; then
    apt-get "${apt_opts[@]}" source --download-only timescaledb >/dev/null
    dpkg-source --no-check -x timescaledb_*.dsc >/dev/null
    src_dir=$(find . -maxdepth 1 -type d -name 'timescaledb-*' | head -n1)
fi
cd "$src_dir"

log "building the Apache edition in $(pwd)"
rm -rf build
./bootstrap -DAPACHE_ONLY=1 -DPG_CONFIG="$pg_config_bin" -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
    -DUSE_TELEMETRY=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
make -C build -j"$(nproc)" >/dev/null
make -C build install >/dev/null

if already_installed; then
    log "TimescaleDB installed"
else
    log "build finished but the extension files are missing"
    exit 1
fi
