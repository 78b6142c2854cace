#!/usr/bin/env bash
# setup.sh — installs the llama.cpp peer (node-llama-cpp, pinned in package.json and
# package-lock.json) into bench/peer/node_modules when it is missing or stale. Idempotent and
# silent when already installed. Needs Node.js >= 20 and npm (the development machines have them).
# Prebuilt CPU binaries ship inside the npm packages; the package's postinstall (which may try to
# build llama.cpp from source) is skipped, and peer.mjs loads with build: "never".
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.kaiyuan-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp" && [ -d node_modules/node-llama-cpp ]; then
    exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "bench/peer/setup.sh: node and npm are required (Node.js >= 20)" >&2
    exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    echo "bench/peer/setup.sh: Node.js >= 20 required, found $(node --version)" >&2
    exit 1
fi
echo "bench/peer/setup.sh: installing node-llama-cpp..." >&2
log=$(mktemp)
# npm ci rejects this lock (it lacks the mac/win binary packages, which npm does not record
# here), so npm install, which follows the lock and leaves it unchanged.
if ! npm install --no-audit --no-fund --ignore-scripts --loglevel=error >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
cp package-lock.json "$stamp"
