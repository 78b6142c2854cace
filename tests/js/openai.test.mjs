// openai.test.mjs — the official OpenAI client (npm `openai`, pinned in package.json) against
// `kaiyuan serve`. Run by tests/server/test_server_js.c, which starts two servers and passes:
//   KY_URL        main server (--api-key, --alias kai, --max-body 65536)
//   KY_KEY        its API key
//   KY_BUSY_URL   a server with --parallel 1 --queue 0 (no key) for 429
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const url = process.env.KY_URL;
const key = process.env.KY_KEY;
const busyUrl = process.env.KY_BUSY_URL;
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0, timeout: 120000 });
const MODEL = 'kai';
const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name three colours.' },
];

test('chat completion (non-streaming): shape and usage', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 6, temperature: 0 });
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, MODEL);
  assert.equal(typeof r.created, 'number');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
  assert.ok(r.usage.prompt_tokens > 10);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 6);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');
});

test('chat completion (streaming): chunks, include_usage, same text', async () => {
  const body = { model: MODEL, messages, max_tokens: 6, temperature: 0 };
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let text = '', ids = new Set(), finish = null, usage = null, first = true;
  for await (const chunk of stream) {
    ids.add(chunk.id);
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length === 0) { usage = chunk.usage; continue; }
    assert.equal(chunk.usage, null);
    const c = chunk.choices[0];
    if (first) { assert.deepEqual(c.delta, { role: 'assistant', content: '' }); first = false; }
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) { finish = c.finish_reason; assert.deepEqual(c.delta, {}); }
  }
  assert.equal(ids.size, 1);
  assert.equal(finish, 'length');
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(usage.completion_tokens, 6);
  assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);
});

test('completions (non-streaming and streaming)', async () => {
  const body = { model: MODEL, prompt: 'Once upon a time', max_tokens: 5, temperature: 0 };
  const r = await client.completions.create(body);
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 5);
  const s = await client.completions.create({ ...body, stream: true });
  let text = '', finish = null;
  for await (const chunk of s) {
    const c = chunk.choices[0];
    text += c.text;
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(text, r.choices[0].text);
  assert.equal(finish, 'length');
});

test('stop string ends the text before it', async () => {
  const body = { model: MODEL, prompt: 'A list of things:', max_tokens: 16, temperature: 0, logprobs: 0 };
  const r = await client.completions.create(body);
  const toks = r.choices[0].logprobs.tokens;
  assert.equal(toks.length, 16);
  const full = r.choices[0].text;
  const stop = toks[6] + toks[7];
  const at = full.indexOf(stop);
  assert.ok(at >= 0);
  const s = await client.completions.create({ ...body, logprobs: undefined, stop: [stop] });
  assert.equal(s.choices[0].text, full.slice(0, at));
  assert.equal(s.choices[0].finish_reason, 'stop');
  // streamed through the chat endpoint too
  const c = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0 });
  const ctext = c.choices[0].message.content;
  const cstop = [...ctext].slice(3, 5).join('');
  const cat = ctext.indexOf(cstop);
  const cs = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, temperature: 0, stop: cstop, stream: true });
  let got = '', fin = null;
  for await (const chunk of cs) {
    if (chunk.choices[0]?.delta?.content) got += chunk.choices[0].delta.content;
    if (chunk.choices[0]?.finish_reason) fin = chunk.choices[0].finish_reason;
  }
  assert.equal(got, ctext.slice(0, cat));
  assert.equal(fin, 'stop');
});

test('n: 2 gives two choices, each its own sequence', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 1, seed: 11, n: 2 });
  assert.equal(r.choices.length, 2);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  assert.equal(r.usage.completion_tokens, 16);
  const one = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 1, seed: 11 });
  assert.equal(one.choices[0].message.content, r.choices[0].message.content);
});

test('logprobs in OpenAI shapes', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 4);
  for (const e of content) {
    assert.equal(typeof e.token, 'string');
    assert.ok(e.logprob <= 0);
    assert.ok(Array.isArray(e.bytes));
    assert.equal(e.top_logprobs.length, 3);
    assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[2].logprob);
    // greedy: the chosen token is the most likely one
    assert.equal(e.top_logprobs[0].token, e.token);
  }
  const c = await client.completions.create({ model: MODEL, prompt: 'Hello', max_tokens: 3, temperature: 0, logprobs: 2 });
  const lp = c.choices[0].logprobs;
  assert.equal(lp.tokens.length, 3);
  assert.equal(lp.token_logprobs.length, 3);
  assert.equal(Object.keys(lp.top_logprobs[0]).length, 2);
  assert.deepEqual(lp.text_offset.slice(0, 1), [0]);
});

test('error classes', async () => {
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages, max_tokens: -1 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.status, 400);
    assert.equal(e.param, 'max_tokens');
    assert.equal(e.type, 'invalid_request_error');
    return true;
  });
  const wrong = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), OpenAI.AuthenticationError);
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 1 }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, 'model_not_found');
    return true;
  });
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x'.repeat(70000), max_tokens: 1 }), (e) => {
    assert.ok(e instanceof OpenAI.APIError);
    assert.equal(e.status, 413);
    return true;
  });
  // 429: the busy server has one sequence and no queue.
  const busy = new OpenAI({ baseURL: `${busyUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
  const ac = new AbortController();
  const long = await busy.completions.create({ prompt: 'long', max_tokens: 100000, stream: true }, { signal: ac.signal });
  const it = long[Symbol.asyncIterator]();
  await it.next();
  await assert.rejects(busy.completions.create({ prompt: 'x', max_tokens: 1 }), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError);
    assert.equal(e.headers.get('retry-after'), '1');
    return true;
  });
  ac.abort();
  await it.return?.();
  // the slot comes back
  for (let i = 0; ; i++) {
    try {
      const r = await busy.completions.create({ prompt: 'x', max_tokens: 1 });
      assert.equal(r.choices.length, 1);
      break;
    } catch (e) {
      if (!(e instanceof OpenAI.RateLimitError) || i > 100) throw e;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
});

test('stream helper: chat.completions.stream().finalChatCompletion()', async () => {
  const body = { model: MODEL, messages, max_tokens: 6, temperature: 0 };
  const whole = await client.chat.completions.create(body);
  let deltas = '';
  const stream = client.chat.completions.stream({ ...body, stream_options: { include_usage: true } });
  stream.on('content', (d) => { deltas += d; });
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices[0].message.content, whole.choices[0].message.content);
  assert.equal(deltas, whole.choices[0].message.content);
  assert.equal(final.choices[0].finish_reason, 'length');
  assert.equal(final.usage.completion_tokens, 6);
});

test('models list', async () => {
  const page = await client.models.list();
  assert.deepEqual(page.data.map((m) => m.id), [MODEL]);
});
