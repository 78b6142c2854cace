#!/usr/bin/env bash
# run.sh MODEL [PROMPT] — what `make run MODEL=... PROMPT=...` does: build the CLI, then stream a
# generation with `kaiyuan run`. Extra options for `kaiyuan run` can be passed in RUN_ARGS.
# With KY_KAIYUAN_BIN set, that binary is run and nothing is built (tests/cli/test_run.c).
# Exit status: 2 without a model or when the file is missing, else that of `kaiyuan run`.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
prompt=${2:-}
if [ -z "$model" ]; then
    cat >&2 <<'MSG'
make run needs a GGUF model file: make run MODEL=path/to/model.gguf [PROMPT="..."]

Get one, for example, from the official Qwen repositories on Hugging Face:
  https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF   (qwen2.5-0.5b-instruct-q4_k_m.gguf, ~400 MB)
  https://huggingface.co/Qwen/Qwen3-0.6B-GGUF              (Qwen3-0.6B-Q8_0.gguf)
  https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF
e.g.  curl -L -o qwen2.5-0.5b.gguf \
        https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf
A tiny model ships with the test data: make run MODEL=../shared/models/stories260K.gguf
MSG
    exit 2
fi
if [ ! -f "$model" ]; then
    echo "make run: model file '$model' not found" >&2
    exit 2
fi
bin=${KY_KAIYUAN_BIN:-}
if [ -z "$bin" ]; then
    make -s -j"$(nproc 2>/dev/null || echo 2)" cli
    bin=build/kaiyuan
fi
[ -n "$prompt" ] || prompt="Once upon a time"
# shellcheck disable=SC2086
exec "$bin" run -m "$model" -p "$prompt" ${RUN_ARGS:-}
