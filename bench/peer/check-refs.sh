#!/usr/bin/env bash
# check-refs.sh — validates the llama.cpp peer driver (peer.mjs) against the llama.cpp reference
# outputs in ../shared/models/*.ref.json: logits of every prompt position (max |Δlogit|) and the
# greedy continuation; then `tokenize` against llama.cpp's tokenizer test vectors and the
# llama.cpp columns of tokenizer/qwen3/cases.jsonl. Not part of `make test` (needs npm).
#   bench/peer/check-refs.sh [REF.json ...]        default: every *.ref.json (+ tokenizer checks)
# Env: KY_SHARED (default ../shared beside the repository), PEER_CHECK_TOKENIZER=1 (tokenizer
# checks also when files are named), PEER_TOL (max |Δlogit| allowed,
# default 1e-3). Prints one line per file and exits 1 when a file exceeds the tolerance or its
# greedy continuation differs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${KY_SHARED:-$repo/../shared}
tol=${PEER_TOL:-1e-3}
"$here/setup.sh"
check_tok=${PEER_CHECK_TOKENIZER:-0}
if [ $# -eq 0 ]; then set -- "$shared"/models/*.ref.json; check_tok=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
printf '%-28s %7s %6s %12s %8s %s\n' file n_vocab n_pos max_dlogit top1 greedy
for ref in "$@"; do
    model=${ref%.ref.json}.gguf
    name=$(basename "$ref" .ref.json)
    if [ ! -f "$model" ]; then echo "$name: no model $model" >&2; status=1; continue; fi
    read -r ids n_vocab n_greedy < <(node -e '
        const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        console.log(r.prompt_ids.join(","), r.n_vocab, r.greedy.length);' "$ref")
    top=()
    if [ "$n_vocab" -gt 4096 ]; then top=(--top 256); fi
    node "$here/peer.mjs" logits --model "$model" --ids "$ids" --threads 2 "${top[@]}" >"$tmp/logits.json"
    node "$here/peer.mjs" greedy --model "$model" --ids "$ids" -n "$n_greedy" --threads 2 >"$tmp/greedy.json"
    if ! node -e '
        const fs = require("fs");
        const [refPath, logitsPath, greedyPath, name, tol] = process.argv.slice(1);
        const ref = JSON.parse(fs.readFileSync(refPath, "utf8"));
        const ours = JSON.parse(fs.readFileSync(logitsPath, "utf8"));
        const greedy = JSON.parse(fs.readFileSync(greedyPath, "utf8")).ids;
        let maxd = 0, missing = 0, top1 = 0;
        ref.logits.forEach((row, pos) => {
            const mine = ours.logits[pos];
            let refTop, myTop;
            if (Array.isArray(row[0])) { // top-64 [id, logit] pairs: compare on those ids
                const m = new Map(mine.map(([id, v]) => [id, v]));
                for (const [id, v] of row) {
                    if (!m.has(id)) { missing++; continue; }
                    maxd = Math.max(maxd, Math.abs(m.get(id) - v));
                }
                refTop = row[0][0]; myTop = mine[0][0];
            } else {
                row.forEach((v, id) => { maxd = Math.max(maxd, Math.abs(mine[id] - v)); });
                refTop = row.indexOf(Math.max(...row)); myTop = mine.indexOf(Math.max(...mine));
            }
            if (refTop === myTop) top1++;
        });
        let same = 0;
        while (same < ref.greedy.length && greedy[same] === ref.greedy[same]) same++;
        const ok = maxd <= Number(tol) && missing === 0 && same === ref.greedy.length;
        console.log(`${name.padEnd(28)} ${String(ref.n_vocab).padStart(7)} ${String(ref.logits.length).padStart(6)} ` +
            `${maxd.toExponential(3).padStart(12)} ${(top1 + "/" + ref.logits.length).padStart(8)} ` +
            `${same}/${ref.greedy.length}${missing ? ` (${missing} ref ids outside our top 256)` : ""}${ok ? "" : "  MISMATCH"}`);
        process.exit(ok ? 0 : 1);' "$ref" "$tmp/logits.json" "$tmp/greedy.json" "$name" "$tol"; then
        status=1
    fi
done

[ "$check_tok" -eq 1 ] || exit $status
sep='\n__ggml_vocab_test__\n'
tok_compare() { # tok_compare NAME OURS.json EXPECTED.json
    node -e '
        const fs = require("fs");
        const [name, oursPath, expPath] = process.argv.slice(1);
        const ours = JSON.parse(fs.readFileSync(oursPath, "utf8"));
        const exp = JSON.parse(fs.readFileSync(expPath, "utf8"));
        let ok = 0;
        exp.forEach((e, i) => { if (JSON.stringify(e) === JSON.stringify(ours[i])) ok++; });
        const good = ok === exp.length && ours.length === exp.length;
        console.log(`tokenize ${name.padEnd(40)} ${ok}/${exp.length}${good ? "" : "  MISMATCH"}`);
        process.exit(good ? 0 : 1);' "$1" "$2" "$3"
}
lc="$shared/tokenizer/llamacpp"
for pair in llama-spm:llama-spm gpt-2:gpt-2 deepseek-llm:deepseek-llm deepseek-coder:deepseek-coder \
    qwen2:../qwen3/qwen3-vocab-only; do
    vec=${pair%%:*} vocab=${pair#*:}
    case "$vocab" in ../*) model="$lc/$vocab.gguf" ;; *) model="$lc/ggml-vocab-$vocab.gguf" ;; esac
    [ -f "$model" ] && [ -f "$lc/ggml-vocab-$vec.gguf.inp" ] || continue
    node "$here/peer.mjs" tokenize --model "$model" --file "$lc/ggml-vocab-$vec.gguf.inp" \
        --split "$sep" >"$tmp/tok.json"
    node -e '
        const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
        if (lines[lines.length - 1] === "") lines.pop();
        console.log(JSON.stringify(lines.map((l) => l.trim() === "" ? [] : l.trim().split(/\s+/).map(Number))));
        ' "$lc/ggml-vocab-$vec.gguf.out" >"$tmp/exp.json"
    tok_compare "ggml-vocab-$vec ($(basename "$model"))" "$tmp/tok.json" "$tmp/exp.json" || status=1
done
cases="$shared/tokenizer/qwen3/cases.jsonl"
qwen="$shared/tokenizer/qwen3/qwen3-vocab-only.gguf"
if [ -f "$cases" ] && [ -f "$qwen" ]; then
    for mode in plain special; do
        node -e '
            const fs = require("fs");
            const rows = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
            fs.writeFileSync(process.argv[2], rows.map((r) => r.text).join("\n__ggml_vocab_test__\n"));
            fs.writeFileSync(process.argv[3], JSON.stringify(rows.map((r) => r["ids_llamacpp_" + process.argv[4]])));
            ' "$cases" "$tmp/cases.txt" "$tmp/exp.json" "$mode"
        flag=(); [ "$mode" = special ] && flag=(--special)
        node "$here/peer.mjs" tokenize --model "$qwen" --file "$tmp/cases.txt" --split "$sep" \
            "${flag[@]}" >"$tmp/tok.json"
        tok_compare "qwen3/cases.jsonl ids_llamacpp_$mode" "$tmp/tok.json" "$tmp/exp.json" || status=1
    done
fi
exit $status
