#!/usr/bin/env bash
# Install the named Debian packages that are not installed yet (as root; a no-op when all are present).
# Usage: scripts/ensure-debian-packages.sh PKG [PKG ...]
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "geo-label: missing Debian packages: ${missing[*]} (run as root, or install them first)" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
