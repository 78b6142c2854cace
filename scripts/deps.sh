#!/usr/bin/env bash
# deps.sh — make sure the Debian packages the build and tests need are installed.
# As root it installs what is missing with apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
PKGS=(make gcc clang clang-format libclang-rt-14-dev pkg-config libpcre2-dev libutf8proc-dev libjansson-dev
      libmicrohttpd-dev)
missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# The server's JavaScript tests (tests/js) use the official openai client, pinned by the lock
# file; npm ci runs again only when the lock file changes (stamp in node_modules).
js_deps() {
    local dir tests_js stamp
    dir=$(cd "$(dirname "$0")/.." && pwd); tests_js="$dir/tests/js"; stamp="$tests_js/node_modules/.ky-stamp"
    [ -f "$stamp" ] && [ "$stamp" -nt "$tests_js/package-lock.json" ] && return 0
    command -v npm >/dev/null || { echo "deps: npm missing (node >= 20 needed for tests/js)" >&2; return 1; }
    echo "deps: npm ci in tests/js" >&2
    (cd "$tests_js" && npm ci --no-audit --no-fund --loglevel=error >&2) && touch "$stamp"
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
