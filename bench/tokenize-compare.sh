#!/usr/bin/env bash
# tokenize-compare.sh [MODEL] — tokenizer throughput, kaiyuan vs llama.cpp, on the same text and
# machine. Builds a >= 1 MiB mixed English / Chinese / code text (deterministic: interleaves the
# repository's C sources, ../shared's docs, and the shared tokenizer test strings, with every
# CJK-bearing test string repeated in each round), then runs
#   build/kaiyuan tokenize -m MODEL --file TEXT --bench          (KY_KAIYUAN_BIN overrides)
#   node bench/peer/peer.mjs tokenize-bench --model MODEL --file TEXT   (PEER overrides)
# and prints one JSON object: both results, MB/s side by side and the ratio.
# Defaults: MODEL = ../shared/tokenizer/qwen3/qwen3-vocab-only.gguf, REPS=5,
# TEXT=build/bench/tokenize-mixed.txt. Nothing is committed: the text is regenerated each run.
# With the default PEER, bench/peer/setup.sh installs the peer first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${KY_SHARED:-../shared}
model=${1:-$shared/tokenizer/qwen3/qwen3-vocab-only.gguf}
ky=${KY_KAIYUAN_BIN:-build/kaiyuan}
peer=${PEER:-bench/peer/peer.mjs}
reps=${REPS:-5}
text=${TEXT:-build/bench/tokenize-mixed.txt}
mkdir -p "$(dirname "$text")"
[ -z "${PEER:-}" ] && bench/peer/setup.sh
[ -x "$ky" ] || { echo "tokenize-compare: $ky not found (run make)" >&2; exit 1; }

node - "$text" "$shared" <<'JS'
const fs = require("fs"), path = require("path");
const [out, shared] = process.argv.slice(2);
const walk = (d, re) => fs.readdirSync(d, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((e) => e.isDirectory() ? walk(path.join(d, e.name), re)
                                    : re.test(e.name) ? [path.join(d, e.name)] : []);
const read = (f) => fs.readFileSync(f, "utf8");
const code = walk("src", /\.[ch]$/).map(read);
const prose = [path.join(shared, "README.md"), ...walk(path.join(shared, "docs"), /\.md$/)]
    .filter((f) => fs.existsSync(f)).map(read).join("\n");
const strings = [];
for (const f of ["tokenizer/qwen3/cases.jsonl", "tokenizer/tok512/cases.jsonl"])
    for (const l of read(path.join(shared, f)).split("\n")) if (l.trim()) strings.push(JSON.parse(l).text);
for (const f of walk(path.join(shared, "tokenizer/llamacpp"), /\.inp$/))
    strings.push(...read(f).split("\n__ggml_vocab_test__\n"));
const cjkRe = /[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]/;
const cjk = strings.filter((s) => cjkRe.test(s)).join("\n");
const misc = strings.join("\n");
const parts = [];
let bytes = 0, i = 0;
const add = (s) => { parts.push(s, "\n"); bytes += Buffer.byteLength(s) + 1; };
while (bytes < 1 << 20) {
    add(code[i % code.length]);
    const at = (i * 3000) % Math.max(1, prose.length - 3000);
    add(prose.slice(at, at + 3000));
    add(cjk);
    add(cjk);
    if (i % 4 == 0) add(misc);
    i++;
}
const all = parts.join("");
fs.writeFileSync(out, all);
const nCjk = [...all].filter((c) => cjkRe.test(c)).length;
process.stderr.write(`tokenize-compare: ${out}: ${Buffer.byteLength(all)} bytes, ${nCjk} CJK characters (${(100 * 3 * nCjk / Buffer.byteLength(all)).toFixed(1)}% of the bytes)\n`);
JS

ours=$("$ky" tokenize -m "$model" --file "$text" --bench --reps "$reps")
theirs=$(node "$peer" tokenize-bench --model "$model" --file "$text" --reps "$reps")
node - "$model" "$text" "$ours" "$theirs" <<'JS'
const [model, file, ours, theirs] = process.argv.slice(2);
const a = JSON.parse(ours), b = JSON.parse(theirs);
console.log(JSON.stringify({
    model, file, bytes: a.bytes,
    kaiyuan: a, llama_cpp: b,
    kaiyuan_mb_per_s: a.mb_per_s, llama_cpp_mb_per_s: b.mb_per_s,
    ratio: +(a.mb_per_s / b.mb_per_s).toFixed(2),
}, null, 1));
JS
