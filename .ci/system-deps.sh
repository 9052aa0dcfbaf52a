#!/bin/sh
# Installs the Debian packages listed in .ci/apt-packages.txt that are missing.
# Needs root (or sudo) and apt; elsewhere it names what is missing and carries on.
set -eu
list="$(dirname "$0")/apt-packages.txt"
[ -f "$list" ] || exit 0
missing=""
for pkg in $(grep -v '^\s*#' "$list"); do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
[ -n "$missing" ] || exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: system packages not installed (no apt-get):$missing" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "note: run as root to install:$missing" >&2
    exit 0
fi
echo "installing system packages:$missing" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
