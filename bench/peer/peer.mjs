#!/usr/bin/env node
// peer.mjs — drives llama.cpp through node-llama-cpp 3.22.1 (prebuilt CPU binaries) as kaiyuan's
// reference and rival. Every subcommand prints one JSON value on stdout; errors go to stderr with
// exit code 1. Install first with bench/peer/setup.sh. See README.md for each command's output.
//
//   logits          --model F --ids 1,2,3 [--top K] [--threads N]
//   tokenize        --model F (--text S | --file P) [--special] [--split SEP]
//   tokenize-bench  --model F --file P [--reps R]
//   greedy          --model F --ids 1,2,3 -n N [--threads N]
//   bench           --model F [-p 512] [-n 128] [-t THREADS] [-r REPS] [--seed S]
//   parallel        --model F [--seqs 8] [-p 16] [-n 64] [-t THREADS] [--seed S]
//   info            --model F
import fs from "node:fs";
import os from "node:os";
import process from "node:process";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const USAGE = `usage: peer.mjs COMMAND --model FILE [options]
  logits          --ids 1,2,3 [--top K] [--threads N]    logits of every position (one batch)
  tokenize        (--text S | --file P) [--special] [--split SEP]   token ids (no BOS added)
  tokenize-bench  --file P [--reps R]                    tokenizer throughput
  greedy          --ids 1,2,3 -n N [--threads N]         greedy continuation
  bench           [-p 512] [-n 128] [-t T] [-r R] [--seed S]   llama-bench style pp / tg tok/s
  parallel        [--seqs 8] [-p 16] [-n 64] [-t T] [--seed S]  N sequences decoded in one context
  info                                                   model and llama.cpp build facts`;

function fail(msg) {
    process.stderr.write(`peer.mjs: ${msg}\n`);
    process.exit(1);
}

// Parses "--key value" / "-k value" pairs and "--flag" booleans.
function parseArgs(argv) {
    const flags = new Set(["--special"]);
    const alias = { "-p": "p", "-n": "n", "-t": "threads", "-r": "reps" };
    const out = { _: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (flags.has(a)) out[a.slice(2)] = true;
        else if (alias[a] || a.startsWith("--")) {
            if (i + 1 >= argv.length) fail(`${a} needs a value`);
            out[alias[a] ?? a.slice(2)] = argv[++i];
        } else out._.push(a);
    }
    return out;
}

function intArg(args, key, def, min = 0) {
    if (args[key] === undefined) return def;
    const v = Number(args[key]);
    if (!Number.isInteger(v) || v < min) fail(`--${key} must be an integer >= ${min}, got '${args[key]}'`);
    return v;
}

function idsArg(args) {
    if (!args.ids) fail("--ids is required (comma-separated token ids)");
    const ids = args.ids.split(",").map((s) => Number(s.trim()));
    if (ids.length === 0 || ids.some((v) => !Number.isInteger(v) || v < 0))
        fail(`--ids: not a list of token ids: '${args.ids}'`);
    return ids;
}

// With vocabOnly, node-llama-cpp still probes a full (no-alloc) load of the file to estimate memory;
// on a vocab-only GGUF that probe logs "missing tensor" errors although the real load succeeds.
let quietVocabProbe = false;
function logger(level, message) {
    if (quietVocabProbe && /missing tensor|failed to load model/.test(message)) return;
    process.stderr.write(`[llama.cpp] ${message.endsWith("\n") ? message : message + "\n"}`);
}

let llamaPromise = null;
function llama() {
    llamaPromise ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, logger, progressLogs: false });
    return llamaPromise;
}

async function loadModel(path, { vocabOnly = false } = {}) {
    if (!path) fail("--model is required");
    if (!fs.existsSync(path)) fail(`${path}: no such file`);
    const l = await llama();
    quietVocabProbe = vocabOnly;
    return l.loadModel({ modelPath: path, gpuLayers: 0, vocabOnly, useMmap: true });
}

// One sequence, F32 K and V cache, flash attention off, a batch (and ubatch) that holds nCtx tokens.
async function makeContext(model, { nCtx, nBatch, threads }) {
    return model.createContext({
        contextSize: nCtx,
        batchSize: nBatch,
        sequences: 1,
        threads,
        flashAttention: false,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32",
        ignoreMemorySafetyChecks: true,
        failedCreationRemedy: false,
    });
}

// node-llama-cpp 3.22.1 has no vocabulary-size getter: count tokenizer.ggml.tokens.
function vocabSize(model) {
    const n = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    if (!Number.isInteger(n) || n <= 0) fail("cannot read the vocabulary size (tokenizer.ggml.tokens)");
    return n;
}

function checkIds(model, ids) {
    const nVocab = vocabSize(model);
    for (const t of ids) if (t >= nVocab) fail(`token id ${t} outside the vocabulary (${nVocab})`);
    return nVocab;
}

// Raw logits of a position as a Float32Array indexed by token id (from the addon's id/logit pairs).
function logitRow(map, nVocab) {
    const row = new Float32Array(nVocab).fill(Number.NEGATIVE_INFINITY);
    for (const [id, v] of map) row[id] = v;
    return row;
}

function topK(row, k) {
    const idx = Array.from(row.keys());
    idx.sort((a, b) => row[b] - row[a] || a - b);
    return idx.slice(0, k).map((i) => [i, row[i]]);
}

// ---------------------------------------------------------------------------------------------

async function cmdLogits(args) {
    const ids = idsArg(args);
    const top = intArg(args, "top", 0);
    const threads = intArg(args, "threads", 2, 1);
    const model = await loadModel(args.model);
    const nVocab = vocabSize(model);
    checkIds(model, ids);
    const ctx = await makeContext(model, { nCtx: ids.length + 1, nBatch: ids.length, threads });
    const seq = ctx.getSequence();
    // temperature 0 (the default) makes the addon's sampler chain greedy only, which leaves the
    // candidates untouched: `logits: true` returns llama_get_logits_ith() for the whole vocabulary.
    const input = ids.map((t) => [t, { generateNext: { logits: true } }]);
    const res = await seq.controlledEvaluate(input);
    const rows = [];
    for (let i = 0; i < ids.length; i++) {
        const map = res[i]?.next?.logits;
        if (!map) fail(`no logits returned for position ${i}`);
        const row = logitRow(map, nVocab);
        rows.push(top > 0 ? topK(row, top) : Array.from(row));
    }
    await ctx.dispose();
    return { n_vocab: nVocab, n_tokens: ids.length, top: top > 0 ? top : null, kv_type: "f32", threads, logits: rows };
}

async function cmdGreedy(args) {
    const ids = idsArg(args);
    const n = intArg(args, "n", 32, 1);
    const threads = intArg(args, "threads", 2, 1);
    const model = await loadModel(args.model);
    checkIds(model, ids);
    const ctx = await makeContext(model, { nCtx: ids.length + n + 1, nBatch: Math.max(ids.length, 1), threads });
    const seq = ctx.getSequence();
    // Greedy = the addon's greedy sampler (temperature 0): argmax, first (lowest) id on ties.
    const input = ids.map((t, i) => (i === ids.length - 1 ? [t, { generateNext: { token: true } }] : t));
    let res = await seq.controlledEvaluate(input);
    const out = [];
    let next = res[ids.length - 1]?.next?.token;
    while (true) {
        if (next == null) fail(`no token generated after ${out.length} steps`);
        out.push(next);
        if (out.length === n) break;
        res = await seq.controlledEvaluate([[next, { generateNext: { token: true } }]]);
        next = res[0]?.next?.token;
    }
    await ctx.dispose();
    return { ids: out };
}

function readText(args) {
    if (args.text !== undefined) return args.text;
    if (args.file !== undefined) return fs.readFileSync(args.file, "utf8");
    fail("--text or --file is required");
}

// --split SEP (\n escapes allowed) tokenizes each piece of the text separately (llama.cpp's
// tokenizer test files: SEP = "\n__ggml_vocab_test__\n"; a trailing empty piece is dropped).
async function cmdTokenize(args) {
    const text = readText(args);
    const model = await loadModel(args.model, { vocabOnly: true });
    const tok = (t) => Array.from(model.tokenize(t, !!args.special));
    if (args.split === undefined) return tok(text);
    const sep = args.split.replace(/\\n/g, "\n");
    if (!sep) fail("--split needs a non-empty separator");
    const pieces = text.split(sep);
    if (pieces.length > 1 && pieces[pieces.length - 1] === "") pieces.pop();
    return pieces.map(tok);
}

async function cmdTokenizeBench(args) {
    if (!args.file) fail("--file is required");
    const reps = intArg(args, "reps", 5, 1);
    const text = fs.readFileSync(args.file, "utf8");
    const bytes = Buffer.byteLength(text, "utf8");
    const model = await loadModel(args.model, { vocabOnly: true });
    // Times the addon call alone (common_tokenize, no BOS, no special parsing) plus its N-API
    // string conversion; model.tokenize() adds only an Array.from() on top.
    const addon = model._model;
    let nTokens = addon.tokenize(text, false).length; // warm-up
    const secs = [];
    for (let r = 0; r < reps; r++) {
        const t0 = process.hrtime.bigint();
        const toks = addon.tokenize(text, false);
        const t1 = process.hrtime.bigint();
        nTokens = toks.length;
        secs.push(Number(t1 - t0) / 1e9);
    }
    const min = Math.min(...secs);
    return { bytes, n_tokens: nTokens, reps, seconds_min: min, seconds_median: median(secs), mb_per_s: bytes / 1e6 / min };
}

function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Deterministic token ids (splitmix32-like), as llama-bench feeds random tokens.
function randomIds(n, nVocab, seed, bos) {
    let x = seed >>> 0;
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        z = (z ^ (z >>> 16)) >>> 0;
        out[i] = z % nVocab;
    }
    if (bos != null && n > 0) out[0] = bos;
    return out;
}

// Like llama-bench: pp = one batch of p tokens into an empty cache, logits of the last only;
// tg = n single-token decodes into an empty cache. One warm-up each, then reps timed runs.
// Uses the addon context directly (initBatch/addToBatch/decodeBatch = llama_batch + llama_decode)
// so that JS batching logic stays out of the timings; no sampling.
async function cmdBench(args) {
    const p = intArg(args, "p", 512, 0);
    const n = intArg(args, "n", 128, 0);
    const threads = intArg(args, "threads", 2, 1);
    const reps = intArg(args, "reps", 5, 1);
    const seed = intArg(args, "seed", 1234, 0);
    if (p === 0 && n === 0) fail("-p and -n are both 0");
    const model = await loadModel(args.model);
    const nVocab = vocabSize(model);
    const ctx = await makeContext(model, { nCtx: p + n + 1, nBatch: Math.max(p, 1), threads });
    const addon = ctx._ctx;
    const clear = () => addon.removeTokenCellsFromSequence(0, 0, -1);
    const bos = model.tokens.bos ?? null;
    const decode = async (tokens, pos) => {
        addon.initBatch(tokens.length);
        addon.addToBatch(0, pos, tokens, Uint32Array.of(tokens.length - 1));
        await addon.decodeBatch();
    };
    const runPP = async (r) => {
        clear();
        const toks = randomIds(p, nVocab, seed + r, bos);
        const t0 = process.hrtime.bigint();
        await decode(toks, 0);
        return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    const runTG = async (r, count) => {
        clear();
        const toks = randomIds(count, nVocab, seed + 7919 + r, bos);
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < count; i++) await decode(toks.subarray(i, i + 1), i);
        return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    const res = {
        model: args.model,
        llama_cpp: (await llama()).llamaCppRelease?.release ?? null,
        threads: addon.getThreads(),
        p, n, reps, n_ctx: addon.getContextSize(), kv_type: "f32",
        // ggml's worker threads spin at barriers: on a busy machine (load above the core count)
        // multi-threaded timings collapse. Judge the numbers with this.
        loadavg_1m: os.loadavg()[0], n_cpus: os.availableParallelism?.() ?? os.cpus().length,
    };
    if (p > 0) {
        await runPP(-1);
        const rates = [];
        for (let r = 0; r < reps; r++) rates.push(p / (await runPP(r)));
        Object.assign(res, { pp_tok_s: median(rates), pp_tok_s_min: Math.min(...rates), pp_tok_s_max: Math.max(...rates), pp_runs: rates });
    }
    if (n > 0) {
        await runTG(-1, 1);
        const rates = [];
        for (let r = 0; r < reps; r++) rates.push(n / (await runTG(r, n)));
        Object.assign(res, { tg_tok_s: median(rates), tg_tok_s_min: Math.min(...rates), tg_tok_s_max: Math.max(...rates), tg_runs: rates });
    }
    await ctx.dispose();
    return res;
}

// Aggregate decode rate of N sequences in ONE context (what a llama.cpp server does with
// --parallel N): one batch prefills every sequence's p-token prompt, then n steps each decode one
// token of every sequence in one llama_decode (logits of each). F16 KV cache (llama.cpp's
// default), no sampling: the fed tokens are seeded random ids.
async function cmdParallel(args) {
    const seqs = intArg(args, "seqs", 8, 1);
    const p = intArg(args, "p", 16, 1);
    const n = intArg(args, "n", 64, 1);
    const threads = intArg(args, "threads", 2, 1);
    const seed = intArg(args, "seed", 1234, 0);
    const model = await loadModel(args.model);
    const nVocab = vocabSize(model);
    const ctx = await model.createContext({
        contextSize: seqs * (p + n + 8),
        batchSize: Math.max(p * seqs, seqs),
        sequences: seqs,
        threads,
        flashAttention: false,
        ignoreMemorySafetyChecks: true,
        failedCreationRemedy: false,
    });
    const addon = ctx._ctx;
    const bos = model.tokens.bos ?? null;
    addon.initBatch(p * seqs);
    for (let s = 0; s < seqs; s++) addon.addToBatch(s, 0, randomIds(p, nVocab, seed + s, bos), Uint32Array.of(p - 1));
    const t0 = process.hrtime.bigint();
    await addon.decodeBatch();
    const prefill = Number(process.hrtime.bigint() - t0) / 1e9;
    const feed = randomIds(n * seqs, nVocab, seed + 7919, null);
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
        addon.initBatch(seqs);
        for (let s = 0; s < seqs; s++) addon.addToBatch(s, p + i, feed.subarray(i * seqs + s, i * seqs + s + 1), Uint32Array.of(0));
        await addon.decodeBatch();
    }
    const secs = Number(process.hrtime.bigint() - t1) / 1e9;
    const res = {
        model: args.model, llama_cpp: (await llama()).llamaCppRelease?.release ?? null,
        threads: addon.getThreads(), seqs, p, n, prefill_s: prefill, decode_s: secs,
        tok_s: (seqs * n) / secs, loadavg_1m: os.loadavg()[0],
    };
    await ctx.dispose();
    return res;
}

async function cmdInfo(args) {
    const model = await loadModel(args.model);
    const l = await llama();
    return {
        llama_cpp: l.llamaCppRelease ?? null,
        build_type: l.buildType,
        gpu: l.gpu,
        n_vocab: vocabSize(model),
        train_context: model.trainContextSize,
        bos: model.tokens.bos ?? null,
        eos: model.tokens.eos ?? null,
        size_bytes: model.size,
    };
}

const commands = {
    logits: cmdLogits,
    greedy: cmdGreedy,
    tokenize: cmdTokenize,
    "tokenize-bench": cmdTokenizeBench,
    bench: cmdBench,
    parallel: cmdParallel,
    info: cmdInfo,
};

const args = parseArgs(process.argv.slice(2));
const cmd = args._[0];
if (!cmd || cmd === "help" || cmd === "--help" || !commands[cmd]) {
    process.stderr.write(USAGE + "\n");
    process.exit(cmd && cmd !== "help" && cmd !== "--help" ? 1 : 0);
}
try {
    const out = await commands[cmd](args);
    // Exit only once the output is flushed: a pipe takes 64 KiB at a time, and exiting right after
    // write() would cut the rest (the llama.cpp threads keep the process alive otherwise).
    process.stdout.write(JSON.stringify(out) + "\n", (err) => process.exit(err ? 1 : 0));
} catch (err) {
    fail(`${cmd}: ${err?.message ?? err}`);
}
