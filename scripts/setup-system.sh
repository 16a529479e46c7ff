#!/usr/bin/env bash
# Installs the system packages SafeGround needs when they are missing:
#   PostgreSQL + PostGIS (for the embedded database; skipped when SAFEGROUND_DATABASE_URL is set),
#   GDAL's command-line tools, Chromium (browser tests), Node.js + npm (front-end assets).
# As root it uses apt-get; as a normal user sudo -n (no prompt) when allowed; otherwise it
# says what to install and stops.
set -euo pipefail

want=()
pg_major=""
for dir in /usr/lib/postgresql/*/bin; do
  [ -x "$dir/initdb" ] && pg_major=$(basename "$(dirname "$dir")")
done
if [ -z "${SAFEGROUND_DATABASE_URL:-}" ]; then
  if [ -z "$pg_major" ]; then
    want+=(postgresql postgis)
  elif ! ls /usr/share/postgresql/"$pg_major"/extension/postgis.control >/dev/null 2>&1; then
    want+=("postgresql-$pg_major-postgis-3")
  fi
fi
if [ "${1:-}" = "--test" ]; then
  command -v ogrinfo >/dev/null || want+=(gdal-bin)
  command -v chromium >/dev/null || want+=(chromium)
  command -v curl >/dev/null || want+=(curl)
  command -v jq >/dev/null || want+=(jq)
fi
command -v npm >/dev/null || want+=(nodejs npm)

[ ${#want[@]} -eq 0 ] && exit 0

echo "setup: installing system packages: ${want[*]}"
if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  apt=(sudo -n apt-get)
else
  echo "setup: please install these Debian packages (as root): apt-get install ${want[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${want[@]}"
