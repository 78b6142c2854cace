#!/usr/bin/env bash
# run.sh [MODEL] [PROMPT] — what `make run [MODEL=...] [PROMPT=...]` does: build the CLI, then
# start `kaiyuan chat` with MODEL (a GGUF path or a model REF such as qwen2.5:0.5b, the default;
# a REF not yet in the store is pulled first), or with PROMPT stream one generation with
# `kaiyuan run`. Extra options for chat/run go in RUN_ARGS.
# With KY_KAIYUAN_BIN set, that binary is run and nothing is built (tests/cli/test_run.c).
# Exit status: 2 when MODEL names a missing file, 1 when the model cannot be pulled (offline: the
# message says how to run a local file), else that of kaiyuan.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
prompt=${2:-}
[ -n "$model" ] || model=qwen2.5:0.5b
bin=${KY_KAIYUAN_BIN:-}
if [ -z "$bin" ]; then
    make -s -j"$(nproc 2>/dev/null || echo 2)" cli
    bin=build/kaiyuan
fi
if [ ! -f "$model" ]; then
    case "$model" in
    /* | ./* | ../* | *.gguf | *.GGUF)
        echo "make run: model file '$model' not found" >&2
        exit 2
        ;;
    esac
    # A REF: pull it unless it is in the store already (pull is then a local no-op).
    if ! "$bin" pull "$model"; then
        cat >&2 <<MSG

make run: cannot get the model '$model' (see above). Without a network, run a local GGUF file:
  make run MODEL=path/to/file.gguf
The tiny model in the test data works offline (random weights, real Qwen3 tokenizer and chat
template): make run MODEL=../shared/models/chat-qwen3-q8_0.gguf
MSG
        exit 1
    fi
fi
if [ -n "$prompt" ]; then
    # shellcheck disable=SC2086
    exec "$bin" run -m "$model" -p "$prompt" ${RUN_ARGS:-}
fi
if "$bin" --help 2>/dev/null | grep -q '^  chat '; then
    # shellcheck disable=SC2086
    exec "$bin" chat -m "$model" ${RUN_ARGS:-}
fi
# shellcheck disable=SC2086
exec "$bin" run -m "$model" -p "Once upon a time" ${RUN_ARGS:-}
