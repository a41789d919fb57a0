#!/bin/sh
# Install (or update) sensor-gateway as a systemd service on Debian 12 / Raspberry Pi OS (64-bit).
#
#   sudo deploy/install.sh              install or update, then enable and (re)start the service
#   sudo deploy/install.sh --uninstall  stop, disable, remove the unit and /opt/sensor-gateway
#                                       (keeps /etc/sensor-gateway, /var/lib/sensor-gateway, the user)
#
# Idempotent: running it again updates the code in the venv and restarts the service; an existing
# /etc/sensor-gateway/config.toml is never overwritten.
#
# Options:
#   --root DIR        install into DIR instead of / (also: $DESTDIR). Then nothing on the running
#                     system is touched: no systemctl start/daemon-reload, no user on the host
#                     (systemd-sysusers --root and systemctl --root enable act inside DIR).
#   --source DIR      the sensor-gateway source tree (default: this script's ../): its deploy/
#                     files are installed, and it is what pip installs unless --package is given
#   --package SPEC    what pip installs instead, e.g. a prebuilt sensor_gateway-*.whl (offline)
#   --pip-args ARGS   extra arguments for pip install (e.g. "--no-index --find-links /srv/wheels")
#   --python PATH     the Python >= 3.11 that creates the venv (default: python3)
#   --no-start        install and enable, but do not (re)start the service
set -eu

NAME=sensor-gateway
ROOT=${DESTDIR:-}
SOURCE=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
PACKAGE=
PIP_ARGS=
PYTHON=python3
ACTION=install
START=yes

while [ $# -gt 0 ]; do
    case $1 in
        --root) ROOT=$2; shift 2 ;;
        --source) SOURCE=$2; shift 2 ;;
        --package) PACKAGE=$2; shift 2 ;;
        --pip-args) PIP_ARGS=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --no-start) START=no; shift ;;
        --uninstall) ACTION=uninstall; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
ROOT=${ROOT%/}

OPT=$ROOT/opt/$NAME
VENV=$OPT/venv
ETC=$ROOT/etc/$NAME
STATE=$ROOT/var/lib/$NAME
UNIT=$ROOT/etc/systemd/system/$NAME.service
SYSUSERS=$ROOT/usr/lib/sysusers.d/$NAME.conf

say() { echo "install.sh: $*"; }

on_host() { [ -z "$ROOT" ]; }

systemctl_() {
    if on_host; then systemctl "$@"; else systemctl --root="$ROOT" "$@"; fi
}

# uid/gid of the service user inside ROOT (empty when unknown)
ids() {
    uid=$(awk -F: -v n="$NAME" '$1 == n {print $3}' "$ROOT/etc/passwd" 2>/dev/null || true)
    gid=$(awk -F: -v n="$NAME" '$1 == n {print $3}' "$ROOT/etc/group" 2>/dev/null || true)
}

create_user() {
    install -D -m 0644 "$SOURCE/deploy/sysusers.d/$NAME.conf" "$SYSUSERS"
    mkdir -p "$ROOT/etc"
    if command -v systemd-sysusers >/dev/null 2>&1; then
        if on_host; then systemd-sysusers "$SYSUSERS"; else systemd-sysusers --root="$ROOT" "$SYSUSERS"; fi
    elif on_host; then  # no systemd-sysusers: the same with shadow's tools
        getent group dialout >/dev/null || groupadd --system dialout
        getent group bluetooth >/dev/null || groupadd --system bluetooth
        getent passwd "$NAME" >/dev/null || useradd --system --home-dir "/var/lib/$NAME" \
            --no-create-home --shell /usr/sbin/nologin --user-group --groups dialout,bluetooth "$NAME"
    else
        say "systemd-sysusers not found: not creating the user inside $ROOT" >&2
    fi
}

install_code() {
    mkdir -p "$OPT"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the venv in $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    say "installing ${PACKAGE:-$SOURCE} into $VENV"
    # shellcheck disable=SC2086 # PIP_ARGS is a list of words on purpose
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade $PIP_ARGS \
        "${PACKAGE:-$SOURCE}"
    install -m 0644 "$SOURCE/README.md" "$OPT/README.md"
}

install_config() {
    ids
    mkdir -p "$ETC" "$STATE"
    chmod 0750 "$ETC" "$STATE"
    if [ -e "$ETC/config.toml" ]; then
        say "keeping the existing $ETC/config.toml"
    else
        install -m 0640 "$SOURCE/deploy/config.toml" "$ETC/config.toml"
        say "wrote a starter $ETC/config.toml (edit it, then: systemctl reload $NAME)"
    fi
    if [ "$(id -u)" = 0 ] && [ -n "$uid" ] && [ -n "$gid" ]; then
        chown "0:$gid" "$ETC" "$ETC/config.toml"
        chown "$uid:$gid" "$STATE"
    fi
}

install_unit() {
    install -D -m 0644 "$SOURCE/deploy/$NAME.service" "$UNIT"
    if on_host; then systemctl daemon-reload; fi
    systemctl_ enable "$NAME.service"
    if on_host && [ "$START" = yes ]; then
        systemctl restart "$NAME.service"
        say "started; follow it with: journalctl -u $NAME -f"
    fi
}

uninstall() {
    if on_host; then systemctl disable --now "$NAME.service" 2>/dev/null || true
    elif [ -e "$UNIT" ]; then systemctl_ disable "$NAME.service" >/dev/null 2>&1 || true
    fi
    rm -f "$UNIT" "$SYSUSERS"
    rm -rf "$OPT"
    if on_host; then systemctl daemon-reload; fi
    say "removed the service and $OPT; kept $ETC, $STATE and the user $NAME"
    say "(remove them with: rm -r $ETC $STATE && userdel $NAME)"
}

if on_host && [ "$(id -u)" != 0 ]; then
    say "run as root (sudo), or give --root DIR" >&2
    exit 1
fi
if [ "$ACTION" = uninstall ]; then
    uninstall
    exit 0
fi
create_user
install_code
install_config
install_unit
say "done"
