#!/usr/bin/env bash
# deps.sh — make sure the Debian packages the build and tests need are installed.
# As root it installs what is missing with apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
PKGS=(make gcc clang clang-format libclang-rt-14-dev pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libedit-dev
      libcurl4-openssl-dev libmicrohttpd-dev chromium nodejs haproxy curl
      openmpi-bin libopenmpi-dev)
missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# npm packages, pinned by their lock files: tests/js (the official openai client), tests/grammar/js
# (ajv, the JSON Schema validator of the constrained-generation tests), tests/web
# (playwright-core for the browser tests) and web/ (the chat page's build, checked against the
# committed bundle). npm ci runs again only when a lock file changes (stamp in node_modules).
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then missing+=(nodejs npm); else
        echo "deps: npm missing: sudo apt-get install -y nodejs npm" >&2; exit 1; fi
fi
js_deps() {
    local root d stamp
    root=$(cd "$(dirname "$0")/.." && pwd)
    for d in tests/js tests/web web tests/grammar/js; do
        stamp="$root/$d/node_modules/.ky-stamp"
        [ -f "$stamp" ] && [ "$stamp" -nt "$root/$d/package-lock.json" ] && continue
        echo "deps: npm ci in $d" >&2
        (cd "$root/$d" && npm ci --no-audit --no-fund --loglevel=error >&2) && touch "$stamp"
    done
}
if [ ${#missing[@]} -eq 0 ]; then js_deps; exit; fi
if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    js_deps
else
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
