#!/usr/bin/env bash
# deps.sh — make sure the Debian packages the build and tests need are installed.
# As root it installs what is missing with apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
PKGS=(make gcc clang clang-format libclang-rt-14-dev pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libedit-dev nodejs)
missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "deps: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        echo "deps: missing packages: ${missing[*]}" >&2
        echo "deps: run: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
# npm packages of the grammar tests (ajv validates constrained generations): installed from the
# lockfile once, again whenever the lockfile changes (stamp file in node_modules).
js="$(dirname "$0")/../tests/grammar/js"
if [ -f "$js/package-lock.json" ]; then
    stamp="$js/node_modules/.kaiyuan-lock"
    if [ ! -f "$stamp" ] || ! cmp -s "$js/package-lock.json" "$stamp"; then
        echo "deps: npm ci in tests/grammar/js" >&2
        (cd "$js" && npm ci --no-audit --no-fund --silent) >&2
        cp "$js/package-lock.json" "$stamp"
    fi
fi
