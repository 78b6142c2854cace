// load.mjs — bounded loopback load test of `kaiyuan serve` (run by test_server_js.c).
// 32 concurrent clients x 10 requests: chat and completions, streaming and not, some streams
// aborted after their first chunk, some garbage bodies. Every well-formed request must complete
// (or, for aborts, be cut by us); every garbage request must get a 400 with an OpenAI error.
// Then /metrics must agree with what the clients counted. Prints one JSON line; exits 1 on a
// mismatch. Environment: KY_URL (server without a key), KY_CLIENTS, KY_REQUESTS.
import OpenAI from 'openai';

const url = process.env.KY_URL;
const N_CLIENTS = Number(process.env.KY_CLIENTS || 32);
const N_REQ = Number(process.env.KY_REQUESTS || 10);
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 300000 });
const ABORT_PROMPT = [1, 2, 3, 4, 5, 6, 7, 8]; // token ids: the prompt count is known exactly

async function metrics() {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return m;
}

const count = { ok: 0, aborted: 0, garbage: 0, errors: [], prompt: 0, completion: 0, abortedPrompt: 0, abortMaxTokens: 0 };

async function one(c, i) {
  const kind = (c * 7 + i * 3) % 6;
  const max_tokens = 4 + ((c + i) % 5);
  if (kind === 0) { // garbage
    const bodies = ['{"prompt": ', 'null', '{"messages": 5}', '\xff\xfe', '{"prompt":"x","max_tokens":-3}'];
    const r = await fetch(`${url}/v1/${i % 2 ? 'chat/' : ''}completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[(c + i) % bodies.length],
    });
    const j = await r.json();
    if (r.status !== 400 || !j.error || typeof j.error.message !== 'string') throw new Error(`garbage got ${r.status}`);
    count.garbage++;
  } else if (kind === 1) { // stream aborted after the first chunk
    const ac = new AbortController();
    const s = await client.completions.create({ prompt: ABORT_PROMPT, max_tokens: 200, stream: true, temperature: 1, seed: c }, { signal: ac.signal });
    for await (const chunk of s) { void chunk; break; } // leaving the loop aborts the request
    ac.abort();
    count.aborted++;
    count.abortedPrompt += ABORT_PROMPT.length;
    count.abortMaxTokens += 200;
  } else if (kind === 2 || kind === 3) { // chat, streamed or not
    const body = { messages: [{ role: 'user', content: `Client ${c} request ${i}` }], max_tokens, temperature: 0.7, seed: i };
    if (kind === 2) {
      const s = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
      let usage = null, finish = null;
      for await (const chunk of s) {
        if (chunk.usage) usage = chunk.usage;
        if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      }
      if (!usage || !finish) throw new Error('stream without usage or finish');
      count.prompt += usage.prompt_tokens; count.completion += usage.completion_tokens;
    } else {
      const r = await client.chat.completions.create(body);
      count.prompt += r.usage.prompt_tokens; count.completion += r.usage.completion_tokens;
    }
    count.ok++;
  } else { // completions, streamed or not
    const body = { prompt: `Story ${c}.${i}:`, max_tokens, temperature: 0 };
    if (kind === 4) {
      const s = await client.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
      let usage = null;
      for await (const chunk of s) if (chunk.usage) usage = chunk.usage;
      if (!usage) throw new Error('stream without usage');
      count.prompt += usage.prompt_tokens; count.completion += usage.completion_tokens;
    } else {
      const r = await client.completions.create(body);
      count.prompt += r.usage.prompt_tokens; count.completion += r.usage.completion_tokens;
    }
    count.ok++;
  }
}

const before = await metrics();
const t0 = performance.now();
await Promise.all(Array.from({ length: N_CLIENTS }, async (_, c) => {
  for (let i = 0; i < N_REQ; i++) {
    try { await one(c, i); } catch (e) { count.errors.push(`client ${c} request ${i}: ${e.message}`); }
  }
}));
const seconds = (performance.now() - t0) / 1000;

// Hang-ups are noticed within a tick; wait until the server is idle.
let after;
for (let k = 0; k < 200; k++) {
  after = await metrics();
  const d = after['kaiyuan:client_disconnects_total'] - before['kaiyuan:client_disconnects_total'];
  if (d >= count.aborted && after['kaiyuan:requests_running'] === 0 && after['kaiyuan:requests_waiting'] === 0) break;
  await new Promise((r) => setTimeout(r, 50));
}
const delta = (k) => (after[k] ?? 0) - (before[k] ?? 0);
const checks = {
  // aborted streams had their 200 headers before the client left
  'requests 200': [delta('kaiyuan:requests_total{status="200"}'), count.ok + count.aborted],
  'requests 400': [delta('kaiyuan:requests_total{status="400"}'), count.garbage],
  'requests 499': [delta('kaiyuan:requests_total{status="499"}'), 0],
  'disconnects': [delta('kaiyuan:client_disconnects_total'), count.aborted],
  'prompt tokens': [delta('kaiyuan:prompt_tokens_total'), count.prompt + count.abortedPrompt],
  'running': [after['kaiyuan:requests_running'], 0],
  'waiting': [after['kaiyuan:requests_waiting'], 0],
};
const gen = delta('kaiyuan:generation_tokens_total');
const genOk = gen >= count.completion + count.aborted && gen <= count.completion + count.abortMaxTokens;
const bad = Object.entries(checks).filter(([, [got, want]]) => got !== want);
console.log(JSON.stringify({ seconds: Number(seconds.toFixed(2)), ...count, errors: count.errors.length, generation_tokens: gen, checks }));
for (const e of count.errors.slice(0, 10)) console.error(e);
for (const [name, [got, want]] of bad) console.error(`metric mismatch: ${name}: server ${got}, clients ${want}`);
if (!genOk) console.error(`generation tokens ${gen} outside [${count.completion + count.aborted}, ${count.completion + count.abortMaxTokens}]`);
process.exit(count.errors.length || bad.length || !genOk ? 1 : 0);
