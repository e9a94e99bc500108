# Shared by the bundle's scripts (sourced, never run). POSIX sh and Debian 12's base system only: no python3.
# Every step prints one line; every failure is one line on stderr and a non-zero exit.
set -eu
umask 022
BUNDLE=$(cd "$(dirname "$0")" && pwd)
SCRIPT=$(basename "$0")
VERSION=$(cat "$BUNDLE/VERSION")
PREFIX=/opt/geolabel
ETC=/etc/geolabel
ENV_FILE=$ETC/geolabel.env
RELEASE_KEY=$ETC/release.pub
SERVICE_USER=geolabel
UNIT=geolabel.service
UNIT_FILE=/etc/systemd/system/$UNIT
DEFAULT_DATA_DIR=/var/lib/geolabel
LOG=/var/log/geolabel-install.log
# The packages GeoLabel needs from Debian (their closure is in debs/).
PACKAGES="postgresql-15 postgresql-15-postgis-3 python3-venv proj-data"
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
# No proxy, no pip or apt configuration of the host's user counts.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY PIP_INDEX_URL PIP_EXTRA_INDEX_URL \
    PIP_FIND_LINKS PIP_CONFIG_FILE PYTHONPATH PYTHONHOME VIRTUAL_ENV 2>/dev/null || true

step() { echo "$SCRIPT: $*"; }
fail() { echo "$SCRIPT: FAILED: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || fail "run as root"; }

check_host() {
    [ -r /etc/os-release ] || fail "no /etc/os-release: this is not Debian 12"
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ "$codename" = bookworm ] || fail "this bundle is for Debian 12 (bookworm), this host is '${codename:-unknown}'"
    arch=$(dpkg --print-architecture)
    [ "$arch" = amd64 ] || fail "this bundle is for amd64, this host is $arch"
}

# --prefix DIR (or --prefix=DIR) among the arguments; the others are left in REST, in order.
parse_prefix() {
    REST=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --prefix) [ $# -ge 2 ] || fail "--prefix needs a folder"; PREFIX=$2; shift 2 ;;
            --prefix=*) PREFIX=${1#--prefix=}; shift ;;
            *) REST="$REST $1"; shift ;;
        esac
    done
    case "$PREFIX" in /*) ;; *) fail "--prefix must be an absolute path" ;; esac
}

# A value of the configuration file (KEY=value lines), or the default given.
config_value() {
    value=""
    [ -f "$ENV_FILE" ] && value=$(sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1)
    echo "${value:-$2}"
}

data_dir() { config_value GEO_LABEL_DATA_DIR "$DEFAULT_DATA_DIR"; }

installed_version() {
    if [ -L "$PREFIX/current" ]; then basename "$(readlink "$PREFIX/current")"; fi
}

# Is systemd this host's init (sd_booted)? Not in a chroot or a container without it.
systemd_booted() { [ -d /run/systemd/system ]; }

service_active() { systemd_booted && systemctl is-active --quiet "$UNIT"; }

stop_service() {
    if service_active; then
        systemctl stop "$UNIT" || fail "systemctl stop $UNIT failed"
        step "service stopped"
    fi
}

# The key the manifest must verify with: --key, the installed one, or the one `verify` recorded for this
# very manifest (as root, verify keeps the key it checked with under /run/geolabel-bundle).
verify_bundle() {
    key=${1:-}
    manifest_sum=$(sha256sum "$BUNDLE/MANIFEST.sha256" | cut -c 1-64)
    if [ -z "$key" ] && [ -f "$RELEASE_KEY" ]; then key=$RELEASE_KEY; fi
    if [ -z "$key" ] && [ -f "/run/geolabel-bundle/$manifest_sum.pub" ]; then
        key="/run/geolabel-bundle/$manifest_sum.pub"
    fi
    [ -n "$key" ] || fail "the bundle is not verified: run ./verify --key FILE first (or give --key FILE)"
    "$BUNDLE/verify" --key "$key" >/dev/null || fail "the bundle does not verify; nothing was installed"
    VERIFIED_KEY=$key
    step "bundle $VERSION verified (signature and $(wc -l <"$BUNDLE/MANIFEST.sha256" | tr -d ' ') files)"
}

# apt with the bundle's debs/ as its only source: nothing of the host's sources, lists or caches is used.
bundle_apt() {
    scratch=$1; shift
    apt-get -q -y \
        -o Dir::Etc::SourceList="$scratch/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$scratch/lists" -o Dir::Cache="$scratch/cache" \
        -o Acquire::Languages=none -o APT::Sandbox::User=root \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

install_debs() {
    scratch=$(mktemp -d)
    mkdir -p "$scratch/lists/partial" "$scratch/cache/archives/partial"
    echo "deb [trusted=yes] file:$BUNDLE/debs ./" >"$scratch/sources.list"
    # GeoLabel runs its own cluster: no default 'main' cluster listening on 5432 when PostgreSQL arrives.
    if ! dpkg-query -W -f '${Status}' postgresql-common 2>/dev/null | grep -q 'ok installed'; then
        mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/geolabel.conf
    fi
    bundle_apt "$scratch" update >>"$LOG" 2>&1 || { rm -rf "$scratch"; fail "apt could not read debs/ (see $LOG)"; }
    if ! bundle_apt "$scratch" install --no-install-recommends $PACKAGES >"$scratch/out" 2>&1; then
        cat "$scratch/out" >>"$LOG"
        reason=$(grep -E '^(E:|dpkg: error)' "$scratch/out" | head -n 1)
        rm -rf "$scratch"
        fail "apt-get install failed: ${reason:-see $LOG}"
    fi
    cat "$scratch/out" >>"$LOG"
    summary=$(grep -E '^[0-9]+ upgraded, [0-9]+ newly installed' "$scratch/out" || echo "nothing to do")
    rm -rf "$scratch"
    step "Debian packages: $summary"
}

ensure_user() {
    if getent passwd "$SERVICE_USER" >/dev/null; then
        step "service account $SERVICE_USER: present"
        return
    fi
    useradd --system --user-group --home-dir "$(data_dir)" --no-create-home --shell /usr/sbin/nologin \
        --comment "GeoLabel service" "$SERVICE_USER" || fail "useradd $SERVICE_USER failed"
    step "service account $SERVICE_USER: created"
}

# PREFIX/releases/VERSION/venv from the wheelhouse alone; a release is complete once .complete holds the
# bundle's manifest checksum, so an interrupted install is redone and a finished one is left alone.
install_release() {
    release=$PREFIX/releases/$VERSION
    manifest_sum=$(sha256sum "$BUNDLE/MANIFEST.sha256" | cut -c 1-64)
    if [ -f "$release/.complete" ] && [ "$(cat "$release/.complete")" = "$manifest_sum" ]; then
        step "release $VERSION: present in $release"
        return
    fi
    rm -rf "$release"
    mkdir -p "$release"
    python3 -m venv "$release/venv" >>"$LOG" 2>&1 || fail "python3 -m venv failed (see $LOG)"
    PIP_CONFIG_FILE=/dev/null "$release/venv/bin/python" -m pip install --no-index --isolated \
        --disable-pip-version-check --require-hashes --no-deps --only-binary=:all: \
        --find-links "$BUNDLE/wheels" -r "$BUNDLE/requirements-bundle.lock" >>"$LOG" 2>&1 \
        || fail "pip could not install the wheelhouse (see $LOG)"
    cp "$BUNDLE/VERSION" "$release/VERSION"
    echo "$manifest_sum" >"$release/.complete"
    step "release $VERSION: installed in $release ($(ls "$BUNDLE/wheels" | wc -l | tr -d ' ') wheels)"
}

# Write $2 from stdin when its content differs; says whether it changed.
put_file() {
    mode=$1; target=$2
    new=$(mktemp)
    cat >"$new"
    if [ -f "$target" ] && cmp -s "$new" "$target"; then
        rm -f "$new"; return 1
    fi
    mkdir -p "$(dirname "$target")"
    chmod "$mode" "$new"
    mv "$new" "$target"
    return 0
}

render() { sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@DATA_DIR@|$(data_dir)|g" "$BUNDLE/share/$1"; }

switch_release() {
    target=releases/$1
    if [ "$(readlink "$PREFIX/current" 2>/dev/null || true)" = "$target" ]; then
        step "current release: $1 (unchanged)"
        return
    fi
    ln -sfn "$target" "$PREFIX/current.new" && mv -T "$PREFIX/current.new" "$PREFIX/current" \
        || fail "cannot point $PREFIX/current at $target"
    step "current release: $1"
}

install_command() {
    if render geo-label.in | put_file 0755 "$PREFIX/bin/geo-label"; then
        step "command $PREFIX/bin/geo-label: written"
    else
        step "command $PREFIX/bin/geo-label: unchanged"
    fi
}

install_config() {
    install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC"
    if [ -f "$ENV_FILE" ]; then
        step "configuration $ENV_FILE: kept as it is"
    else
        render geolabel.env.in | put_file 0640 "$ENV_FILE" || true
        chgrp "$SERVICE_USER" "$ENV_FILE"
        step "configuration $ENV_FILE: written from the template"
    fi
    if [ ! -f "$RELEASE_KEY" ]; then
        install -m 0644 "$VERIFIED_KEY" "$RELEASE_KEY"
        step "release key: kept in $RELEASE_KEY (later bundles verify with it)"
    fi
    dir=$(data_dir)
    if [ ! -d "$dir" ]; then
        install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$dir"
        step "data directory $dir: created"
    else
        step "data directory $dir: present"
    fi
}

install_unit() {
    UNIT_CHANGED=no
    if render geolabel.service.in | put_file 0644 "$UNIT_FILE"; then
        UNIT_CHANGED=yes
        if systemd_booted; then systemctl daemon-reload; fi
        step "systemd unit $UNIT_FILE: written"
    else
        step "systemd unit $UNIT_FILE: unchanged"
    fi
    if [ "$(systemctl is-enabled "$UNIT" 2>/dev/null || true)" != enabled ]; then
        systemctl enable "$UNIT" >>"$LOG" 2>&1 || fail "systemctl enable $UNIT failed (see $LOG)"
        step "service $UNIT: enabled"
    fi
}

as_service() { runuser -u "$SERVICE_USER" -- "$@"; }

need_installed() {
    [ -x "$PREFIX/bin/geo-label" ] && [ -n "$(installed_version)" ] || fail "GeoLabel is not installed in $PREFIX"
}

# A folder for backups in the data directory, the service account's (geo-label writes there as it).
backup_spool() {
    spool=$(data_dir)/backups
    install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$spool"
    echo "$spool"
}

# geo-label backup into the spool, then moved to $1 (root's, 0600).
take_backup() {
    out=$1
    spool=$(backup_spool)
    name=backup-$(date -u +%Y%m%dT%H%M%SZ)-$$.tar
    result=$("$PREFIX/bin/geo-label" backup "$spool/$name" 2>&1) || fail "backup: $(echo "$result" | tail -n 1)"
    mkdir -p "$(dirname "$out")"
    mv "$spool/$name" "$out" && chown root:root "$out" && chmod 0600 "$out" || fail "cannot move the backup to $out"
    BACKUP_SUMMARY=$result
}

# geo-label restore of the backup $1 (copied where the service account can read it).
put_back() {
    spool=$(backup_spool)
    copy=$spool/restore-$$.tar
    install -m 0600 -o "$SERVICE_USER" -g "$SERVICE_USER" "$1" "$copy" || fail "cannot read $1"
    result=$("$PREFIX/bin/geo-label" restore "$copy" 2>&1) || { rm -f "$copy"; fail "restore: $(echo "$result" | tail -n 1)"; }
    rm -f "$copy"
    RESTORE_SUMMARY=$result
}

start_if_enabled() {
    if systemd_booted && [ "$(systemctl is-enabled "$UNIT" 2>/dev/null || true)" = enabled ]; then
        systemctl start "$UNIT" || fail "systemctl start $UNIT failed (journalctl -u $UNIT)"
        step "service started"
    fi
}
