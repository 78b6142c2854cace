#!/usr/bin/env node
// cluster.mjs — replicas behind HAProxy on loopback (not a test).
//
//   node bench/cluster.mjs --model FILE [--replicas 1,2,3] [-n 32] [--clients 6] [--requests 24]
//        [-t 1] [--bin build/kaiyuan] [--pings 200]
//
// For each replica count R: scripts/cluster.sh up -n R (each replica -t T, --parallel 4), then
// `--clients` concurrent clients send `--requests` non-streaming chat requests in all (distinct
// short prompts, greedy, at most n tokens; a model may stop early, so tokens are counted from
// usage) and the aggregate generated tok/s is all completion tokens / wall time. Then HAProxy's added latency with one
// replica: --pings sequential POST /tokenize (no decoding: the HTTP round trip) and 1-token
// chat requests, alternating direct to the replica and through HAProxy, all on keep-alive
// connections; medians and p90s of each, and their difference. (POST, not GET /health: until
// e59c877 the server closed the connection after every GET, which timed a TCP handshake.)
// Output: JSON lines; the last one is the summary.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, def) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : def; };
const model = opt('--model');
if (!model || !fs.existsSync(model)) {
  console.error('usage: node bench/cluster.mjs --model FILE [--replicas 1,2,3] [-n 32] [--clients 6] [--requests 24] [-t 1] [--bin build/kaiyuan] [--pings 200]');
  process.exit(1);
}
const replicas = opt('--replicas', '1,2,3').split(',').map(Number);
const nGen = Number(opt('-n', '32'));
const clients = Number(opt('--clients', '6'));
const requests = Number(opt('--requests', '24'));
const threads = opt('-t', '1');
const bin = path.resolve(opt('--bin', path.join(root, 'build/kaiyuan')));
const pings = Number(opt('--pings', '200'));

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
function cluster(args) {
  const r = spawnSync(path.join(root, 'scripts/cluster.sh'), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cluster.sh ${args[0]}: ${r.stdout}${r.stderr}`);
}
async function chat(port, content, maxTokens) {
  const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: maxTokens, temperature: 0 }),
  });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`status ${r.status}: ${JSON.stringify(j)}`);
  return j.usage.completion_tokens;
}
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

const results = [];
let latency = null;
for (const R of replicas) {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'ky-bench-cluster-'));
  const port = await freePort(), stats = await freePort();
  cluster(['up', '-m', model, '-n', String(R), '-p', String(port), '--stats-port', String(stats), '-t', threads,
    '--parallel', '4', '--bin', bin, '--state', state, '--', '--no-webui', '-c', '1024']);
  try {
    await chat(port, 'warm up', 2);
    let next = 0, tokens = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: clients }, async () => {
      while (next < requests) { const i = next++; const k = await chat(port, `Tell story number ${i} about a cat.`, nGen); tokens += k; }
    }));
    const wall = ms(t0) / 1000;
    const row = { replicas: R, threads_each: Number(threads), clients, requests, completion_tokens: tokens, seconds: +wall.toFixed(2), tok_s: +(tokens / wall).toFixed(1) };
    console.log(JSON.stringify(row));
    results.push(row);
    if (R === 1) {
      const direct = Number(fs.readFileSync(path.join(state, 'replica-1.port'), 'utf8'));
      const lat = { tokenize_direct: [], tokenize_proxy: [], chat_direct: [], chat_proxy: [] };
      for (let k = 0; k < pings; k++) {
        for (const [name, p] of [['direct', direct], ['proxy', port]]) {
          let t = process.hrtime.bigint();
          await (await fetch(`http://127.0.0.1:${p}/tokenize`, { method: 'POST', body: '{"content":"ping"}' })).text();
          lat[`tokenize_${name}`].push(ms(t));
          t = process.hrtime.bigint();
          await chat(p, 'ping', 1);
          lat[`chat_${name}`].push(ms(t));
        }
      }
      latency = {};
      for (const [k, v] of Object.entries(lat)) latency[k] = { p50_ms: +pct(v, 0.5).toFixed(3), p90_ms: +pct(v, 0.9).toFixed(3) };
      latency.added_p50_ms = { tokenize: +(latency.tokenize_proxy.p50_ms - latency.tokenize_direct.p50_ms).toFixed(3), chat: +(latency.chat_proxy.p50_ms - latency.chat_direct.p50_ms).toFixed(3) };
      console.log(JSON.stringify({ latency }));
    }
  } finally {
    cluster(['down', '--state', state]);
    fs.rmSync(state, { recursive: true, force: true });
  }
}
console.log(JSON.stringify({ summary: { model: path.basename(model), cpus: os.cpus().length, cpu: os.cpus()[0]?.model, n_gen: nGen, results, latency } }));
