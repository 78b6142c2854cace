// cluster.mjs — 3 `kaiyuan serve` replicas behind HAProxy (scripts/cluster.sh, the shipped
// deploy/haproxy template), loopback only (run by tests/server/test_cluster.c):
//   1. cache-aware routing: 4 long system prompts x 10 requests; the summed cached_tokens under
//      hash routing must be >= 2x the sum under roundrobin for the same requests. Replicas keep
//      3 sequences each (--parallel 2 --cache-slots 1): 4 prefixes do not fit one replica, they
//      fit the cluster — the regime where routing decides the hit rate.
//   2. X-Session-Id pins a conversation whatever its body.
//   3. SIGKILL a replica under 30 requests: only requests in flight at the kill may fail, every
//      later one succeeds, HAProxy marks it DOWN within 3 s, and after a restart it serves again.
//   4. SIGTERM a replica under 30 requests: no request fails and it exits 0 (drain).
// Prints one "ok - name" / "not ok - name" line per check. Environment: KY_KAIYUAN_BIN, KY_MODEL.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const BIN = process.env.KY_KAIYUAN_BIN || 'build/kaiyuan';
const MODEL = process.env.KY_MODEL || '../shared/models/chat-qwen3-q8_0.gguf';
const N = 3;
let failed = 0;

function check(name, cond, detail = '') {
  console.log(`${cond ? 'ok' : 'not ok'} - ${name}${detail ? ` (${detail})` : ''}`);
  if (!cond) failed++;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function sh(args) {
  const r = spawnSync('scripts/cluster.sh', args, { encoding: 'utf8', timeout: 300000 });
  if (r.status !== 0) throw new Error(`cluster.sh ${args[0]} failed (${r.status}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

class Cluster {
  constructor(balance) { this.balance = balance; }
  async up() {
    this.state = fs.mkdtempSync(path.join(os.tmpdir(), 'ky-cluster-'));
    this.port = await freePort();
    this.stats = await freePort();
    sh(['up', '-m', MODEL, '-n', String(N), '-p', String(this.port), '--stats-port', String(this.stats),
      '--threads', '1', '--parallel', '2', '--queue', '16', '--balance', this.balance, '--bin', BIN,
      '--state', this.state, '--', '--cache-slots', '1', '-c', '2048', '--no-webui']);
  }
  read(name) { return fs.readFileSync(path.join(this.state, name), 'utf8').trim(); }
  pid(i) { return Number(this.read(`replica-${i}.pid`)); }
  rc(i) { try { return Number(this.read(`replica-${i}.rc`)); } catch { return null; } }
  async status() { // { r1: 'UP', ... } from HAProxy's stats CSV
    const text = await (await fetch(`http://127.0.0.1:${this.stats}/;csv`)).text();
    const out = {};
    for (const line of text.split('\n')) {
      const f = line.split(',');
      if (f[0] === 'replicas' && /^r\d+$/.test(f[1])) out[f[1]] = f[17];
    }
    return out;
  }
  async waitStatus(name, want, timeoutMs) {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if ((await this.status())[name]?.startsWith(want)) return Date.now() - t0;
      await sleep(50);
    }
    return -1;
  }
  down() { if (this.state) sh(['down', '--state', this.state]); }
}

// 4 long system prompts (~600 tokens each) that differ from their first word.
const TOPICS = ['Billing', 'Shipping', 'Returns', 'Warranty'];
const SYSTEM = TOPICS.map((t, k) => `${t} desk. You are the ${t.toLowerCase()} assistant of shop number ${k}. ` +
  Array.from({ length: 40 }, (_, j) => `Rule ${j} of the ${t.toLowerCase()} policy: answer politely and cite clause ${k * 100 + j}.`).join(' '));

async function chat(port, system, user, { maxTokens = 4, headers = {}, stream = false } = {}) {
  const body = { model: 'kaiyuan', messages: [{ role: 'system', content: system }, { role: 'user', content: user }], max_tokens: maxTokens, temperature: 0 };
  if (stream) body.stream = true;
  try {
    const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
    });
    const served = r.headers.get('x-served-by');
    const text = await r.text();
    if (r.status !== 200) return { ok: false, status: r.status, served };
    if (stream) return { ok: text.includes('data: [DONE]'), status: 200, served };
    const j = JSON.parse(text);
    return { ok: true, status: 200, served, cached: j.usage?.prompt_tokens_details?.cached_tokens ?? 0, prompt: j.usage.prompt_tokens };
  } catch (e) {
    return { ok: false, status: 0, error: String(e) };
  }
}

// Runs jobs (async functions) with `conc` at a time; returns their results in order.
async function pool(jobs, conc) {
  const out = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < jobs.length) { const i = next++; out[i] = await jobs[i](); }
  }));
  return out;
}

async function cacheRun(c) {
  const jobs = Array.from({ length: 40 }, (_, i) => () => chat(c.port, SYSTEM[i % 4], `Question ${i}`));
  const res = await pool(jobs, 2);
  const bad = res.filter((r) => !r.ok);
  const byPrompt = TOPICS.map((_, k) => res.filter((_, i) => i % 4 === k).map((r) => r.served));
  return { cached: res.reduce((a, r) => a + (r.cached || 0), 0), prompt: res.reduce((a, r) => a + (r.prompt || 0), 0), bad: bad.length, byPrompt };
}

async function killScenario(c) {
  // 30 requests, 6 at a time, half streamed; SIGKILL the busiest replica after 8 answers.
  const started = [], finished = [];
  let killAt = null, victim = null;
  const servedCount = {};
  const jobs = Array.from({ length: 30 }, (_, i) => async () => {
    started[i] = Date.now();
    const r = await chat(c.port, SYSTEM[i % 4], `Kill test ${i}`, { maxTokens: 24, stream: i % 2 === 1 });
    finished[i] = Date.now();
    if (r.served) servedCount[r.served] = (servedCount[r.served] || 0) + 1;
    if (!killAt && finished.filter(Boolean).length >= 8) {
      victim = Object.entries(servedCount).sort((a, b) => b[1] - a[1])[0][0];
      killAt = Date.now();
      process.kill(c.pid(Number(victim.slice(1))), 'SIGKILL');
      c.downMs = c.waitStatus(victim, 'DOWN', 5000);
    }
    return r;
  });
  const res = await pool(jobs, 6);
  const downMs = await c.downMs;
  const failedIdx = res.map((r, i) => (r.ok ? -1 : i)).filter((i) => i >= 0);
  const inflightAtKill = res.map((_, i) => i).filter((i) => started[i] <= killAt && finished[i] >= killAt);
  const later = res.map((_, i) => i).filter((i) => started[i] > killAt);
  check('SIGKILL: only requests in flight at the kill fail', failedIdx.every((i) => inflightAtKill.includes(i)),
    `failed ${JSON.stringify(failedIdx)}, in flight ${JSON.stringify(inflightAtKill)}`);
  check('SIGKILL: every request started after the kill succeeds', later.length > 0 && later.every((i) => res[i].ok),
    `${later.filter((i) => res[i].ok).length}/${later.length}`);
  check('SIGKILL: HAProxy marks the replica DOWN within 3 s', downMs >= 0 && downMs <= 3000, `${victim} down after ${downMs} ms`);
  // Restart it on the same ports; HAProxy brings it back (rise 2) and hash keys land on it again.
  const i = Number(victim.slice(1));
  sh(['restart', String(i), '--state', c.state]);
  const upMs = await c.waitStatus(victim, 'UP', 15000);
  check('restart: HAProxy marks the replica UP again', upMs >= 0, `after ${upMs} ms`);
  let servedBack = 0;
  for (let k = 0; k < 40 && !servedBack; k++) {
    const r = await chat(c.port, 'short', 'hello', { headers: { 'X-Session-Id': `conv-${k}` } });
    if (r.ok && r.served === victim) servedBack++;
  }
  check('restart: the replica serves requests again', servedBack > 0);
}

async function termScenario(c) {
  let termAt = null, victim = null;
  const servedCount = {};
  let done = 0;
  const jobs = Array.from({ length: 30 }, (_, i) => async () => {
    const r = await chat(c.port, SYSTEM[i % 4], `Drain test ${i}`, { maxTokens: 24, stream: i % 2 === 0 });
    done++;
    if (r.served) servedCount[r.served] = (servedCount[r.served] || 0) + 1;
    if (!termAt && done >= 6) {
      victim = Object.entries(servedCount).sort((a, b) => b[1] - a[1])[0][0];
      termAt = Date.now();
      process.kill(c.pid(Number(victim.slice(1))), 'SIGTERM');
    }
    return r;
  });
  const res = await pool(jobs, 6);
  const bad = res.map((r, i) => (r.ok ? null : { i, ...r })).filter(Boolean);
  check('SIGTERM: no request fails while a replica drains', bad.length === 0, JSON.stringify(bad));
  const i = Number(victim.slice(1));
  let rc = null;
  for (let k = 0; k < 600 && rc === null; k++) { rc = c.rc(i); await sleep(100); }
  check('SIGTERM: the drained replica exits 0', rc === 0, `${victim} exit ${rc}`);
  sh(['restart', String(i), '--state', c.state]);
}

const t0 = Date.now();
let rr = null, hash = null;
try {
  rr = new Cluster('roundrobin');
  await rr.up();
  const a = await cacheRun(rr);
  rr.down();
  hash = new Cluster('hash');
  await hash.up();
  const b = await cacheRun(hash);
  console.log(JSON.stringify({ roundrobin_cached: a.cached, hash_cached: b.cached, prompt_tokens: b.prompt, hash_servers: b.byPrompt }));
  check('cache: every request succeeds', a.bad === 0 && b.bad === 0, `failed rr ${a.bad}, hash ${b.bad}`);
  check('cache: hash routing caches >= 2x the tokens of roundrobin', b.cached >= 2 * a.cached && b.cached > 0,
    `hash ${b.cached}, roundrobin ${a.cached} of ${b.prompt} prompt tokens`);
  const pinned = b.byPrompt.filter((s) => Math.max(...[1, 2, 3].map((i) => s.filter((x) => x === `r${i}`).length)) >= 8).length;
  check('cache: each prompt mostly stays on one replica', pinned >= 3, JSON.stringify(b.byPrompt));

  const sid = [];
  for (let k = 0; k < 6; k++) sid.push((await chat(hash.port, SYSTEM[k % 4] + k, `Turn ${k}`, { headers: { 'X-Session-Id': 'customer-42' } })).served);
  check('X-Session-Id pins a conversation to one replica', sid.every((s) => s && s === sid[0]), JSON.stringify(sid));

  await killScenario(hash);
  await termScenario(hash);
  hash.down();
  const rcs = [1, 2, 3].map((i) => hash.rc(i));
  check('down: every replica exits 0 (leak check under ASan)', rcs.every((x) => x === 0), JSON.stringify(rcs));
} catch (e) {
  check('cluster test ran', false, String(e.stack || e));
  try { rr?.down(); } catch { /* best effort */ }
  try { hash?.down(); } catch { /* best effort */ }
}
// Keep the state directories (replica logs, haproxy.cfg) only when something failed.
for (const c of [rr, hash]) {
  if (!c?.state) continue;
  if (failed) console.log(`# state and logs kept in ${c.state}`);
  else fs.rmSync(c.state, { recursive: true, force: true });
}
console.log(`cluster test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
