#!/usr/bin/env node
// serve.mjs — continuous-batching benchmark of `kaiyuan serve` against llama.cpp (not a test).
//
//   node bench/serve.mjs --model bench/cache/qwen2.5-0.5b-q4_k_m.gguf [--streams 1,2,4,8]
//        [-n 64] [-t 2] [-r 3] [--bin build/kaiyuan] [--no-peer] [--spec ngram|none]
//
// Starts `kaiyuan serve --parallel 8` on a free port, then for each stream count C runs C
// concurrent streaming /v1/completions requests (greedy, a 16-token id prompt each, n tokens,
// end-of-generation tokens banned with logit_bias) and reports the aggregate generated tok/s
// (all generated tokens / wall time; the median of -r runs, each with fresh prompts). Then time to first token of a new 512-token request while
// 7 streams run, and alone. With the peer (bench/peer, node-llama-cpp) installed, the same
// stream counts go through `peer.mjs parallel` (C sequences in one llama.cpp context; it feeds
// tokens without sampling or HTTP, so it is an upper bound for a llama.cpp server).
// Output: JSON lines on stdout; the last line is the summary with the ratios.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, def) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : def; };
const model = opt('--model');
if (!model || !fs.existsSync(model)) {
  console.error('usage: node bench/serve.mjs --model FILE [--streams 1,2,4,8] [-n 64] [-t 2] [--bin build/kaiyuan] [--no-peer]');
  process.exit(1);
}
const streams = opt('--streams', '1,2,4,8').split(',').map(Number);
const nGen = Number(opt('-n', '64'));
const threads = Number(opt('-t', '2'));
const reps = Number(opt('-r', '3'));
const spec = opt('--spec', 'none'); // speculation off by default: random-weight models loop, which drafts predict
const median = (a) => { const b = [...a].sort((x, y) => x - y); return b[Math.floor(b.length / 2)]; };
const bin = opt('--bin', path.join(here, '..', 'build', 'kaiyuan'));
const usePeer = !argv.includes('--no-peer') && fs.existsSync(path.join(here, 'peer', 'node_modules'));
const cpu = (() => { try { return execFileSync('lscpu', { encoding: 'utf8' }).match(/Model name:\s*(.+)/)?.[1]?.trim(); } catch { return os.cpus()[0]?.model; } })();

function startServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, ['serve', '-m', model, '--port', '0', '--parallel', '8', '-c', '1024', '-t', String(threads),
      '--prefill-chunk', '512', '--cache-slots', '0', '--spec', spec], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr.on('data', (d) => {
      log += d;
      const m = log.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m && /ready/.test(log)) resolve({ proc: p, url: m[1], log });
    });
    p.on('exit', (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
}

// Streams one completion; returns {tokens, ttft, seconds}.
async function stream(url, prompt, maxTokens, bias) {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true }, logit_bias: bias }),
  });
  if (r.status !== 200) throw new Error(`status ${r.status}: ${await r.text()}`);
  let ttft = null, usage = null, buf = '';
  const dec = new TextDecoder();
  for await (const part of r.body) {
    if (ttft === null) ttft = (performance.now() - t0) / 1000;
    buf += dec.decode(part, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(6, k); buf = buf.slice(k + 2);
      if (ev !== '[DONE]') { const j = JSON.parse(ev); if (j.usage) usage = j.usage; }
    }
  }
  return { tokens: usage?.completion_tokens ?? 0, ttft, seconds: (performance.now() - t0) / 1000 };
}

const ids = (n, seed) => Array.from({ length: n }, (_, i) => 1000 + ((seed * 7919 + i * 104729) % 50000));

const out = (o) => console.log(JSON.stringify(o));
const server = await startServer();
const { url } = server;
// End-of-generation ids of the vocabulary: banned so that every stream generates n tokens.
const bias = {};
for (const t of ['<|endoftext|>', '<|im_end|>', '</s>', '<|eot_id|>']) {
  const r = await (await fetch(`${url}/tokenize`, { method: 'POST', body: JSON.stringify({ content: t }) })).json();
  if (r.tokens?.length === 1) bias[r.tokens[0]] = -100;
}
await stream(url, ids(16, 99), 8, bias); // warm-up

const results = { kaiyuan: {}, peer: {} };
for (const c of streams) {
  const rates = [], ttfts = [];
  let tokens = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: c }, (_, i) => stream(url, ids(16, 1 + i + c * 10 + r * 100), nGen, bias)));
    const secs = (performance.now() - t0) / 1000;
    tokens = rs.reduce((a, x) => a + x.tokens, 0);
    rates.push(tokens / secs);
    ttfts.push(rs.reduce((a, x) => a + x.ttft, 0) / c);
  }
  results.kaiyuan[c] = median(rates);
  out({ engine: 'kaiyuan', streams: c, tokens_per_run: tokens, tok_s: Number(median(rates).toFixed(2)),
    tok_s_runs: rates.map((x) => Number(x.toFixed(2))), ttft_avg_s: Number(median(ttfts).toFixed(3)) });
}

// TTFT of a new 512-token request alone and while 7 streams decode.
const alone = await stream(url, ids(512, 4242), 1, bias);
const bg = Array.from({ length: 7 }, (_, i) => stream(url, ids(16, 500 + i), Math.max(nGen, 96), bias));
await new Promise((r) => setTimeout(r, 1500));
const loaded = await stream(url, ids(512, 4343), 1, bias);
await Promise.all(bg);
out({ engine: 'kaiyuan', ttft_512_alone_s: Number(alone.ttft.toFixed(3)), ttft_512_under_7_streams_s: Number(loaded.ttft.toFixed(3)) });
server.proc.kill('SIGTERM');

if (usePeer) {
  for (const c of streams) {
    const rates = [];
    let release = null;
    for (let r = 0; r < reps; r++) {
      const j = JSON.parse(execFileSync('node', [path.join(here, 'peer', 'peer.mjs'), 'parallel', '--model', model, '--seqs', String(c),
        '-n', String(nGen), '-t', String(threads), '--seed', String(1234 + r)], { encoding: 'utf8', maxBuffer: 1 << 24 }));
      rates.push(j.tok_s);
      release = j.llama_cpp;
    }
    results.peer[c] = median(rates);
    out({ engine: 'llama.cpp', streams: c, tok_s: Number(median(rates).toFixed(2)), tok_s_runs: rates.map((x) => Number(x.toFixed(2))), llama_cpp: release });
  }
}
const k1 = results.kaiyuan[1], kmax = results.kaiyuan[Math.max(...streams)];
out({
  summary: true, model: path.basename(model), cpu, threads, n: nGen, reps, spec, loadavg_1m: os.loadavg()[0],
  kaiyuan_scaling: k1 ? Number((kmax / k1).toFixed(2)) : null,
  peer_scaling: results.peer[1] ? Number((results.peer[Math.max(...streams)] / results.peer[1]).toFixed(2)) : null,
  kaiyuan_over_peer: Object.fromEntries(streams.filter((c) => results.peer[c]).map((c) => [c, Number((results.kaiyuan[c] / results.peer[c]).toFixed(2))])),
});
