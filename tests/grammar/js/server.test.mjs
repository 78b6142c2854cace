// server.test.mjs — constrained output and tool calls of `kaiyuan serve` through the official
// OpenAI client (tests/js's pinned `openai`), validated with ajv (pinned here). Run by
// tests/server/test_server_grammar.c with KY_URL set. The random-weight chat model never writes
// valid JSON by itself, so every pass below is the grammar's doing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from '../../js/node_modules/openai/index.mjs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const client = new OpenAI({ baseURL: `${process.env.KY_URL}/v1`, apiKey: 'none', maxRetries: 0, timeout: 300000 });
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const base = {
  model: 'm', max_tokens: 400, temperature: 1,
  messages: [{ role: 'user', content: 'Answer in JSON.' }],
  chat_template_kwargs: { enable_thinking: false },
};
const SCHEMAS = [
  { type: 'object', properties: { name: { type: 'string', maxLength: 6 }, age: { type: 'integer', minimum: 0, maximum: 120 } }, required: ['name', 'age'] },
  { type: 'array', items: { enum: ['a', 'b', 3] }, minItems: 1, maxItems: 3 },
  { type: 'object', properties: { v: { anyOf: [{ type: 'null' }, { type: 'number', minimum: -1, maximum: 1 }] }, d: { type: 'string', format: 'date' } }, required: ['v', 'd'] },
  { $defs: { p: { type: 'object', properties: { x: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['x'] } }, type: 'object', properties: { a: { $ref: '#/$defs/p' }, b: { type: 'array', maxItems: 2, items: { $ref: '#/$defs/p' } } }, required: ['a', 'b'] },
  { type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$' }, ok: { type: 'boolean' } }, required: ['code', 'ok'] },
];
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 8 }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city'] } } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET'] } }, required: ['zone'] } } },
];
const params = Object.fromEntries(TOOLS.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));

function checkCalls(msg, names) {
  assert.ok(Array.isArray(msg.tool_calls) && msg.tool_calls.length >= 1, JSON.stringify(msg));
  for (const c of msg.tool_calls) {
    assert.equal(c.type, 'function');
    assert.match(c.id, /^call_/);
    assert.ok(names.includes(c.function.name), c.function.name);
    const args = JSON.parse(c.function.arguments);
    assert.ok(params[c.function.name](args), `${c.function.arguments}: ${ajv.errorsText(params[c.function.name].errors)}`);
  }
}

test('response_format json_schema: 10 seeded requests validate', async () => {
  for (let i = 0; i < 10; i++) {
    const schema = SCHEMAS[i % SCHEMAS.length];
    const r = await client.chat.completions.create({ ...base, seed: 100 + i, response_format: { type: 'json_schema', json_schema: { name: 's', schema, strict: true } } });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'stop', c.message.content);
    const v = JSON.parse(c.message.content);
    const validate = ajv.compile(schema);
    assert.ok(validate(v), `${c.message.content}: ${ajv.errorsText(validate.errors)}`);
  }
});

test('response_format: an unsupported keyword is a 400 naming it', async () => {
  await assert.rejects(
    client.chat.completions.create({ ...base, response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object', properties: { a: { not: {} } } } } } }),
    (e) => e.status === 400 && /unsupported JSON Schema keyword 'not' at \/properties\/a/.test(e.message));
});

test('response_format json_object starts an object (and parses when it ends)', async () => {
  const r = await client.chat.completions.create({ ...base, seed: 7, max_tokens: 60, response_format: { type: 'json_object' } });
  const c = r.choices[0];
  assert.ok(c.message.content.startsWith('{'), c.message.content);
  if (c.finish_reason === 'stop') assert.equal(typeof JSON.parse(c.message.content), 'object');
});

test('tool_choice required: valid tool_calls, finish_reason tool_calls', async () => {
  for (let seed = 1; seed <= 4; seed++) {
    const r = await client.chat.completions.create({ ...base, seed, tools: TOOLS, tool_choice: 'required' });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, null);
    checkCalls(c.message, ['get_weather', 'get_time']);
  }
});

test('tool_choice naming a function calls only it', async () => {
  const r = await client.chat.completions.create({ ...base, seed: 3, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_time' } } });
  checkCalls(r.choices[0].message, ['get_time']);
});

test('streamed tool calls accumulate (client stream helper) to the non-streamed response', async () => {
  const body = { ...base, seed: 11, tools: TOOLS, tool_choice: 'required' };
  const whole = await client.chat.completions.create(body);
  const stream = client.chat.completions.stream(body);
  const final = await stream.finalChatCompletion();
  const a = whole.choices[0].message.tool_calls.map((c) => [c.function.name, c.function.arguments]);
  const b = final.choices[0].message.tool_calls.map((c) => [c.function.name, c.function.arguments]);
  assert.deepEqual(b, a);
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
});

test('parallel_tool_calls: several calls happen; false gives exactly one', async () => {
  let most = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const r = await client.chat.completions.create({ ...base, seed, tools: TOOLS, tool_choice: 'required' });
    most = Math.max(most, r.choices[0].message.tool_calls.length);
    const one = await client.chat.completions.create({ ...base, seed, tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false });
    assert.equal(one.choices[0].message.tool_calls.length, 1);
  }
  assert.ok(most >= 2, `at most ${most} call(s) in 8 seeds`);
});

test('bad tool_choice values are 400s', async () => {
  await assert.rejects(client.chat.completions.create({ ...base, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } }), (e) => e.status === 400);
  await assert.rejects(client.chat.completions.create({ ...base, tool_choice: 'required' }), (e) => e.status === 400);
  await assert.rejects(client.chat.completions.create({ ...base, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { if: {} } } } } }], tool_choice: 'required' }), (e) => e.status === 400 && /'if'/.test(e.message));
});
