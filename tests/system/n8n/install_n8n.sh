#!/usr/bin/env bash
# Installs the pinned n8n into a cache outside the repository (about 1.6 GB, a few minutes),
# keyed by version, and prints the path of its n8n binary. Does nothing when already installed.
set -euo pipefail

N8N_VERSION="${N8N_VERSION:-1.123.0}"
CACHE_ROOT="${ACTIVITYLOG_CACHE:-$HOME/.cache/activitylog}"
DIR="$CACHE_ROOT/n8n-$N8N_VERSION"
BIN="$DIR/node_modules/.bin/n8n"

# The marker is written last, so an interrupted install is redone rather than trusted.
if [[ -f "$DIR/.installed" && -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$DIR"
# n8n's own xlsx dependency points at a tarball outside the npm registry; 0.18.5 is the last
# release on the registry and is what the override pins.
cat >"$DIR/package.json" <<JSON
{
  "name": "activitylog-n8n-cache",
  "private": true,
  "dependencies": { "n8n": "$N8N_VERSION" },
  "overrides": { "xlsx": "0.18.5" }
}
JSON
# --ignore-scripts: install hooks would try to download prebuilt binaries, which cannot be
# fetched here; the tests use PostgreSQL so no native SQLite module is needed.
(cd "$DIR" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
"$BIN" --version >&2
touch "$DIR/.installed"
echo "$BIN"
