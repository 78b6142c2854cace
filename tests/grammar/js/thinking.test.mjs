// thinking.test.mjs — reasoning with constrained answers, streamed tool-call arguments, number
// bounds and oneOf of `kaiyuan serve` through the official OpenAI client, validated with ajv.
// Run by tests/server/test_server_grammar.c with KY_URL set, on the random-weight Qwen3 chat model
// (its template thinks by default): the model never closes <think> or writes JSON by itself, so
// every bound and every valid answer below is the engine's doing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from '../../js/node_modules/openai/index.mjs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const client = new OpenAI({ baseURL: `${process.env.KY_URL}/v1`, apiKey: 'none', maxRetries: 0, timeout: 300000 });
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const think = { model: 'm', temperature: 1, max_tokens: 300, messages: [{ role: 'user', content: 'Think, then answer.' }] };
const noThink = { ...think, chat_template_kwargs: { enable_thinking: false } };
const SCHEMA = { type: 'object', properties: { answer: { type: 'string', maxLength: 12 }, score: { type: 'number', minimum: 0.25, exclusiveMaximum: 0.75 } }, required: ['answer', 'score'] };
const TOOLS = [
  { type: 'function', function: { name: 'say', parameters: { type: 'object', properties: { text: { type: 'string', minLength: 30, maxLength: 40 }, loud: { type: 'boolean' } }, required: ['text', 'loud'] } } },
  { type: 'function', function: { name: 'rate', parameters: { type: 'object', properties: { stars: { type: 'number', exclusiveMinimum: 0.5, maximum: 4.5 } }, required: ['stars'] } } },
];
const params = Object.fromEntries(TOOLS.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const rf = (schema) => ({ type: 'json_schema', json_schema: { name: 's', schema, strict: true } });
const reasoningTokens = (r) => r.usage.completion_tokens_details.reasoning_tokens;

function checkCalls(msg, names) {
  assert.ok(Array.isArray(msg.tool_calls) && msg.tool_calls.length >= 1, JSON.stringify(msg));
  assert.equal(msg.content, null);
  for (const c of msg.tool_calls) {
    assert.ok(names.includes(c.function.name), c.function.name);
    const v = params[c.function.name];
    assert.ok(v(JSON.parse(c.function.arguments)), `${c.function.arguments}: ${ajv.errorsText(v.errors)}`);
  }
}

test('without a bound the random model keeps thinking (control for the bound tests)', async () => {
  const r = await client.chat.completions.create({ ...think, seed: 1, max_tokens: 40, response_format: rf(SCHEMA) });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.ok(reasoningTokens(r) > 16, `reasoning_tokens ${reasoningTokens(r)}`);
  assert.ok(r.choices[0].message.reasoning_content.length > 0);
});

test('max_reasoning_tokens bounds <think>, then the json_schema answer validates', async () => {
  const validate = ajv.compile(SCHEMA);
  for (const [seed, bound] of [[1, 0], [2, 3], [3, 8], [4, 16], [5, 16], [6, 25]]) {
    const r = await client.chat.completions.create({ ...think, seed, max_reasoning_tokens: bound, response_format: rf(SCHEMA) });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'stop', JSON.stringify(c));
    assert.ok(reasoningTokens(r) <= bound, `seed ${seed}: ${reasoningTokens(r)} reasoning tokens > ${bound}`);
    if (bound >= 8) assert.ok(reasoningTokens(r) > 0 && c.message.reasoning_content.length > 0);
    if (bound === 0) assert.ok(!c.message.reasoning_content, c.message.reasoning_content);
    assert.ok(!/<\/?think>/.test(c.message.content), c.message.content);
    const v = JSON.parse(c.message.content);
    assert.ok(validate(v), `${c.message.content}: ${ajv.errorsText(validate.errors)}`);
  }
});

test('max_reasoning_tokens with a streamed json_schema answer: reasoning deltas, then content that validates', async () => {
  const validate = ajv.compile(SCHEMA);
  const body = { ...think, seed: 9, max_reasoning_tokens: 10, response_format: rf(SCHEMA), stream: true, stream_options: { include_usage: true } };
  let reasoning = '', content = '', usage = null, contentStarted = false, lateReasoning = false;
  for await (const ch of await client.chat.completions.create(body)) {
    if (ch.usage) usage = ch.usage;
    const d = ch.choices[0]?.delta;
    if (!d) continue;
    if (d.reasoning_content) { reasoning += d.reasoning_content; if (contentStarted) lateReasoning = true; }
    if (d.content) { content += d.content; contentStarted = true; }
  }
  assert.ok(!lateReasoning, 'reasoning after content');
  assert.ok(usage.completion_tokens_details.reasoning_tokens <= 10);
  assert.ok(validate(JSON.parse(content)), content);
  const whole = await client.chat.completions.create({ ...body, stream: false });
  assert.equal(content, whole.choices[0].message.content);
  assert.equal(reasoning, whole.choices[0].message.reasoning_content);
});

test('thinking + tool_choice required / named: reasoning in reasoning_content, bounded, calls validate', async () => {
  for (let seed = 1; seed <= 4; seed++) {
    const tool_choice = seed % 2 ? 'required' : { type: 'function', function: { name: 'rate' } };
    const r = await client.chat.completions.create({ ...think, seed, tools: TOOLS, tool_choice, max_reasoning_tokens: 12, parallel_tool_calls: seed > 2 });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
    assert.ok(reasoningTokens(r) <= 12 && c.message.reasoning_content.length > 0, JSON.stringify(r.usage));
    assert.ok(!/<\/?t(hink|ool_call)>/.test(c.message.reasoning_content), c.message.reasoning_content);
    checkCalls(c.message, seed % 2 ? ['say', 'rate'] : ['rate']);
  }
});

test('thinking + forced tool + json_schema: the turn is the tool call (validates), reasoning apart', async () => {
  for (let seed = 1; seed <= 3; seed++) {
    const r = await client.chat.completions.create({ ...think, seed, tools: TOOLS, tool_choice: 'required', max_reasoning_tokens: 8, response_format: rf(SCHEMA), parallel_tool_calls: false });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.ok(reasoningTokens(r) <= 8);
    assert.ok(c.message.reasoning_content.length > 0);
    checkCalls(c.message, ['say', 'rate']);
  }
});

test('streamed tool-call arguments arrive in many deltas and accumulate to the non-streamed call', async () => {
  for (const extra of [noThink, { ...think, max_reasoning_tokens: 6 }]) {
    const body = { ...extra, seed: 21, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'say' } }, parallel_tool_calls: false };
    const whole = await client.chat.completions.create(body);
    const calls = [];
    let argDeltas = 0;
    for await (const ch of await client.chat.completions.create({ ...body, stream: true })) {
      for (const tc of ch.choices[0]?.delta?.tool_calls ?? []) {
        if (tc.id) { // first delta of a call: index, id, type, name, arguments ""
          assert.equal(tc.type, 'function');
          assert.equal(tc.function.arguments, '');
          assert.equal(tc.index, calls.length);
          calls.push({ id: tc.id, name: tc.function.name, arguments: '' });
        } else {
          assert.deepEqual(Object.keys(tc).sort(), ['function', 'index']);
          assert.deepEqual(Object.keys(tc.function), ['arguments']);
          calls[tc.index].arguments += tc.function.arguments;
          argDeltas++;
        }
      }
    }
    assert.ok(argDeltas > 5, `${argDeltas} argument deltas`);
    const want = whole.choices[0].message.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
    assert.deepEqual(calls.map((c) => ({ ...c, id: c.id.replace(/^call_[0-9a-f]+_/, '') })), want.map((c) => ({ ...c, id: c.id.replace(/^call_[0-9a-f]+_/, '') })));
    checkCalls(whole.choices[0].message, ['say']);
  }
});

test('number bounds with fractions: 24 seeded temperature-1 samples validate (ajv)', async () => {
  const schema = { type: 'object', properties: {
    p: { type: 'number', exclusiveMinimum: 0.25, maximum: 0.75 },
    t: { type: 'number', minimum: -1.5, exclusiveMaximum: -1.25 },
    r: { type: 'number', minimum: 0.001, maximum: 0.0015 },
    k: { type: 'integer', minimum: 0.5, maximum: 2.5 },
    w: { type: 'array', items: { type: 'number', exclusiveMinimum: -0.1, exclusiveMaximum: 0.1 }, minItems: 2, maxItems: 3 },
  }, required: ['p', 't', 'r', 'k', 'w'] };
  const validate = ajv.compile(schema);
  const seen = new Set();
  for (let seed = 1; seed <= 24; seed++) {
    const r = await client.chat.completions.create({ ...noThink, seed, max_tokens: 400, response_format: rf(schema) });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'stop', c.message.content);
    const v = JSON.parse(c.message.content);
    assert.ok(validate(v), `${c.message.content}: ${ajv.errorsText(validate.errors)}`);
    seen.add(v.p);
  }
  assert.ok(seen.size > 12, `only ${seen.size} distinct values of p`);
});

test('oneOf with disjoint branches: every sample matches exactly one branch (ajv)', async () => {
  const schema = { type: 'object', properties: { pet: { oneOf: [
    { type: 'object', properties: { kind: { const: 'cat' }, lives: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['kind', 'lives'] },
    { type: 'object', properties: { kind: { enum: ['dog', 'fox'] }, name: { type: 'string', maxLength: 8 } }, required: ['kind'] },
    { type: 'string', maxLength: 6 },
    { type: 'null' },
  ] } }, required: ['pet'] };
  const validate = ajv.compile(schema);
  for (let seed = 1; seed <= 10; seed++) {
    const r = await client.chat.completions.create({ ...noThink, seed, response_format: rf(schema) });
    const v = JSON.parse(r.choices[0].message.content);
    assert.ok(validate(v), `${r.choices[0].message.content}: ${ajv.errorsText(validate.errors)}`);
  }
});

test('oneOf whose branches may overlap is a 400 naming oneOf', async () => {
  const schema = { type: 'object', properties: { v: { oneOf: [{ type: 'number' }, { type: 'integer', minimum: 0 }] } }, required: ['v'] };
  await assert.rejects(client.chat.completions.create({ ...noThink, response_format: rf(schema) }),
    (e) => e.status === 400 && /'oneOf' at \/properties\/v/.test(e.message));
});

test('max_reasoning_tokens must be a non-negative integer', async () => {
  await assert.rejects(client.chat.completions.create({ ...think, max_reasoning_tokens: -1 }), (e) => e.status === 400 && /max_reasoning_tokens/.test(e.message));
  await assert.rejects(client.chat.completions.create({ ...think, max_reasoning_tokens: 'x' }), (e) => e.status === 400);
});

test('a new big schema compiles off the engine thread: a concurrent stream keeps decoding', async () => {
  const nonce = `n${process.pid}`; // a schema no earlier request compiled
  const n = Number(process.env.KY_BIG_SCHEMA_PROPS ?? 10);
  const props = Object.fromEntries(Array.from({ length: n }, (_, i) => [`${nonce}_${i}`, { type: 'string', minLength: 5, maxLength: 30 + i }]));
  const big = { type: 'object', properties: props, required: Object.keys(props) };
  const times = [];
  const streamA = (async () => {
    for await (const ch of await client.chat.completions.create({ ...noThink, seed: 3, max_tokens: 1800, stream: true })) {
      if (ch.choices[0]?.delta?.content) times.push(performance.now());
    }
  })();
  while (times.length < 10) await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  let t1 = 0;
  for await (const ch of await client.chat.completions.create({ ...noThink, seed: 4, max_tokens: 8, stream: true, response_format: rf(big) })) {
    if (!t1 && ch.choices[0]?.delta?.content) t1 = performance.now();
  }
  await streamA;
  const before = times.filter((t) => t < t0);
  const during = times.filter((t) => t >= t0 && t <= t1);
  const gaps = (l) => l.slice(1).map((t, i) => t - l[i]);
  const med = (l) => { const s = [...l].sort((a, b) => a - b); return s.length ? s[s.length >> 1] : 0; };
  // gaps from the stream's last token before the window to its first one after it
  const i0 = Math.max(0, before.length - 1), i1 = times.findIndex((t) => t > t1);
  const duringGaps = gaps(times.slice(i0, i1 < 0 ? times.length : i1 + 1));
  console.log(`compile window (request sent -> first constrained token) ${(t1 - t0).toFixed(0)} ms; ` +
    `concurrent stream: ${during.length} tokens in the window, median gap before ${med(gaps(before)).toFixed(1)} ms, ` +
    `median gap in the window ${med(duringGaps).toFixed(1)} ms, max gap in the window ${Math.max(0, ...duringGaps).toFixed(0)} ms`);
  assert.ok(t1 > t0);
  // an engine thread busy compiling gives the stream no token in the middle of the window
  // (main before the compile thread: 0 there, a 5.5 s gap); the stream may end early: only the
  // part of the window it was still running counts
  const w = t1 - t0, a = t0 + w / 4, b = Math.min(t0 + (3 * w) / 4, times[times.length - 1]);
  const mid = times.filter((t) => t >= a && t <= b).length;
  console.log(`concurrent stream tokens in the middle half of the window (while it ran): ${mid} in ${Math.max(0, b - a).toFixed(0)} ms`);
  if (b - a > 200) assert.ok(mid >= 5, `${mid} tokens in ${(b - a).toFixed(0)} ms in the middle of a ${w.toFixed(0)} ms window`);
});
