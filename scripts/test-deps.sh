#!/usr/bin/env bash
# Installs what the tests need beyond Go: the npm socket.io clients (always, with npm ci),
# and from Debian's packages Chromium (browser tests) and python3-socketio (Python client
# test), when missing. Installing Debian packages needs root; otherwise it says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f e2e/node/node_modules/.package-lock.json ] || [ e2e/node/package-lock.json -nt e2e/node/node_modules/.package-lock.json ]; then
  npm ci --prefix e2e/node --no-audit --no-fund
fi

need=()
command -v chromium >/dev/null || need+=(chromium)
/usr/bin/python3 -c 'import socketio, websocket, requests' 2>/dev/null || need+=(python3-socketio python3-websocket python3-requests)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "The tests need these Debian packages: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
