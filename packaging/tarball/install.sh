#!/bin/sh
# Installs Skyhaul from the release tarball on a host without dpkg (or where the .deb is not
# wanted): the single executable, the systemd units, the account and its directories, and the
# configuration template when there is no configuration yet. Run it again to upgrade: it is
# idempotent, replaces the binary and the units, and never touches an existing configuration,
# buffer or account. It does not start the daemon.
#
#   sudo ./install.sh [--prefix DIR] [--root DIR] [--dry-run]
#
#   --prefix DIR   where the binary and docs go (default /usr/local: DIR/bin/skyhaul); the units'
#                  ExecStart= is rewritten to match
#   --root DIR     install into another root file system (an image being prepared; the tests):
#                  nothing is asked of the running systemd
#   --dry-run      print what would be done, change nothing
set -eu

PREFIX=/usr/local
ROOT=
DRY_RUN=0
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
	--prefix=*) PREFIX=${1#--prefix=}; shift ;;
	--root) ROOT=${2:?--root needs a directory}; shift 2 ;;
	--root=*) ROOT=${1#--root=}; shift ;;
	--dry-run) DRY_RUN=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done

case "$PREFIX" in
/*) ;;
*) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;;
esac
PREFIX=${PREFIX%/}
ROOT=${ROOT%/}
if [ -n "$ROOT" ] && [ ! -d "$ROOT" ]; then
	echo "install.sh: --root $ROOT is not a directory" >&2
	exit 2
fi
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ] && [ -z "$ROOT" ]; then
	echo "install.sh: run as root (or with --dry-run)" >&2
	exit 1
fi
for file in bin/skyhaul systemd/skyhaul.service systemd/skyhaul-pulsar.service sysusers.d/skyhaul.conf tmpfiles.d/skyhaul.conf sysctl.d/60-skyhaul.conf config/skyhaul.yaml config/skyhaul-pulsar.conf; do
	if [ ! -f "$HERE/$file" ]; then
		echo "install.sh: $HERE/$file is missing: run install.sh from the unpacked tarball" >&2
		exit 1
	fi
done

BIN="$PREFIX/bin/skyhaul"
DOC="$PREFIX/share/doc/skyhaul"
CONFIG=/etc/skyhaul/skyhaul.yaml

# Every change goes through run: printed, and done unless --dry-run.
run() {
	echo "+ $*"
	if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

# A unit with the binary's path (and the docs') under PREFIX.
install_unit() {
	name=$1
	target="$ROOT/etc/systemd/system/$name"
	echo "+ install unit $target"
	if [ "$DRY_RUN" = 0 ]; then
		tmp="$target.tmp.$$"
		sed -e "s#/usr/bin/skyhaul#$BIN#g" -e "s#/usr/share/doc/skyhaul#$DOC#g" "$HERE/systemd/$name" >"$tmp"
		chmod 0644 "$tmp"
		mv -f "$tmp" "$target"
	fi
}

account_exists() {
	if [ -n "$ROOT" ]; then
		grep -q '^skyhaul:' "$ROOT/etc/passwd" 2>/dev/null
	else
		getent passwd skyhaul >/dev/null 2>&1
	fi
}

group_exists() {
	if [ -n "$ROOT" ]; then
		grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null
	else
		getent group "$1" >/dev/null 2>&1
	fi
}

group_id() {
	if [ -n "$ROOT" ]; then
		awk -F: -v g="$1" '$1 == g { print $3 }' "$ROOT/etc/group"
	else
		getent group "$1" | cut -d: -f3
	fi
}

# 1. Files. `install` writes a new file and renames it: replacing a running binary is safe.
run install -d -m 0755 "$ROOT$PREFIX/bin" "$ROOT$DOC" "$ROOT/etc/systemd/system" "$ROOT/etc/sysusers.d" "$ROOT/etc/tmpfiles.d" "$ROOT/etc/sysctl.d" "$ROOT/etc/skyhaul"
run install -m 0755 "$HERE/bin/skyhaul" "$ROOT$BIN"
install_unit skyhaul.service
install_unit skyhaul-pulsar.service
run install -m 0644 "$HERE/sysusers.d/skyhaul.conf" "$ROOT/etc/sysusers.d/skyhaul.conf"
run install -m 0644 "$HERE/tmpfiles.d/skyhaul.conf" "$ROOT/etc/tmpfiles.d/skyhaul.conf"
run install -m 0644 "$HERE/sysctl.d/60-skyhaul.conf" "$ROOT/etc/sysctl.d/60-skyhaul.conf"
if [ -f "$HERE/config/skyhaul.example.yaml" ]; then
	run install -m 0644 "$HERE/config/skyhaul.example.yaml" "$ROOT$DOC/skyhaul.example.yaml"
fi
if [ -f "$HERE/README.md" ]; then
	run install -m 0644 "$HERE/README.md" "$ROOT$DOC/README.md"
fi

# 2. The account (in group dialout for the serial ports) and its directories.
if command -v systemd-sysusers >/dev/null 2>&1; then
	run systemd-sysusers ${ROOT:+--root="$ROOT"} skyhaul.conf
elif ! account_exists; then
	nologin=/usr/sbin/nologin
	[ -x "$ROOT$nologin" ] || nologin=/sbin/nologin
	run useradd ${ROOT:+--prefix "$ROOT"} --system --user-group --home-dir /var/lib/skyhaul --no-create-home \
		--shell "$nologin" --comment "Skyhaul telemetry daemon" skyhaul
	if group_exists dialout; then
		run usermod ${ROOT:+--prefix "$ROOT"} -a -G dialout skyhaul
	else
		echo "install.sh: no group dialout here: give skyhaul access to the serial ports another way" >&2
	fi
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	run systemd-tmpfiles --create ${ROOT:+--root="$ROOT"} skyhaul.conf
else
	run install -d -m 0750 "$ROOT/var/lib/skyhaul"
	run install -d -m 0700 "$ROOT/var/cache/skyhaul"
	if [ "$DRY_RUN" = 0 ]; then
		run chown "$(awk -F: '$1 == "skyhaul" { print $3 ":" $4 }' "$ROOT/etc/passwd")" "$ROOT/var/lib/skyhaul" "$ROOT/var/cache/skyhaul"
	fi
fi

# 3. The configuration: the template, only when there is none. 0640 root:skyhaul (tokens).
if [ -e "$ROOT$CONFIG" ]; then
	echo "= keeping $ROOT$CONFIG"
else
	run install -m 0640 "$HERE/config/skyhaul.yaml" "$ROOT$CONFIG"
	if [ "$DRY_RUN" = 0 ]; then
		run chown "0:$(group_id skyhaul)" "$ROOT$CONFIG"
	else
		echo "+ chown root:skyhaul $ROOT$CONFIG"
	fi
fi

# The site Pulsar's configuration (skyhaul-pulsar.service reads it): only when there is none.
PULSAR_CONFIG=/etc/skyhaul-pulsar/standalone.conf
if [ -e "$ROOT$PULSAR_CONFIG" ]; then
	echo "= keeping $ROOT$PULSAR_CONFIG"
else
	run install -d -m 0755 "$ROOT/etc/skyhaul-pulsar"
	run install -m 0644 "$HERE/config/skyhaul-pulsar.conf" "$ROOT$PULSAR_CONFIG"
fi

# 4. Room for UDP bursts now, not only from the next boot (never lowering a larger value).
if [ -z "$ROOT" ] && [ "$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 0)" -lt 16777216 ]; then
	run sysctl -q -p /etc/sysctl.d/60-skyhaul.conf ||
		echo "install.sh: could not raise net.core.rmem_max; UDP receive buffers stay smaller" >&2
fi

# 5. Tell the running systemd (not for --root).
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
	run systemctl daemon-reload
	if systemctl is-active --quiet skyhaul.service 2>/dev/null; then
		echo "skyhaul is running the previous binary: systemctl restart skyhaul"
	fi
fi

cat <<EOF
Installed $BIN.
Next: set site.id (and forward.url, inputs) in $CONFIG, then
  $BIN check-config $CONFIG && systemctl enable --now skyhaul
EOF
