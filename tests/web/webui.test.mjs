// webui.test.mjs — the chat page in a real browser: Debian's chromium driven by playwright-core
// against `kaiyuan serve` (started here with an API key) on loopback. Run by
// tests/server/test_webui.c with KY_KAIYUAN_BIN, KY_MODEL and KY_SHOT_DIR in the environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.KY_KAIYUAN_BIN || 'build/kaiyuan';
const MODEL = process.env.KY_MODEL || '../shared/models/chat-qwen3-q8_0.gguf';
const SHOTS = process.env.KY_SHOT_DIR || 'build';
const KEY = 'page-test-key';
const slow = process.env.KY_TEST_SAN ? 5 : 1;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function waitHealthy(base, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { const r = await fetch(base + '/health'); if (r.ok) return; } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become healthy');
}

async function metric(base, name) {
  const r = await fetch(base + '/metrics', { headers: { Authorization: 'Bearer ' + KEY } });
  const text = await r.text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

test('chat page end to end', { timeout: 300000 * slow }, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(BIN, ['serve', '-m', MODEL, '--host', '127.0.0.1', '--port', String(port), '--api-key', KEY, '--parallel', '2', '-c', '2048'], { stdio: ['ignore', 'inherit', 'inherit'] });
  let serverExited = false;
  server.on('exit', () => { serverExited = true; });
  const profile = mkdtempSync(join(tmpdir(), 'kaiyuan-chromium-'));
  let browser;
  try {
    await waitHealthy(base, 60000 * slow);
    // the page itself needs no key, with the right headers
    const raw = await fetch(base + '/', { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(raw.status, 200);
    assert.match(raw.headers.get('content-type'), /^text\/html/);
    assert.match(raw.headers.get('content-security-policy'), /script-src 'sha256-/);
    const plain = await fetch(base + '/', { headers: { 'Accept-Encoding': 'identity' } });
    assert.equal(plain.status, 200);
    assert.match(await plain.text(), /<title>kaiyuan<\/title>/);
    assert.equal((await fetch(base + '/v1/models')).status, 401);

    // a fresh --user-data-dir: playwright passes the profile directory itself
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1100, height: 760 },
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', async (d) => { await d.accept('Renamed chat'); });
    const t0 = Date.now();
    await page.goto(base + '/');
    const fcp = await page.evaluate(() => performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint')?.startTime ?? -1);
    console.log(`# first contentful paint ${fcp.toFixed(1)} ms after navigation start (page loaded in ${Date.now() - t0} ms)`);

    // without the key: the error is shown
    await page.locator('#banner').filter({ hasText: '401' }).waitFor({ timeout: 10000 * slow });
    // a wrong key shows the server's error
    const setKey = async (key, maxTokens) => {
      await page.click('#open-settings');
      await page.fill('#s-key', key);
      if (maxTokens) await page.fill('#s-max', String(maxTokens));
      await page.fill('#s-temp', '1');
      await page.click('#s-save');
    };
    await setKey('wrong-key', 4000);
    await page.locator('#banner').filter({ hasText: '401' }).waitFor({ timeout: 10000 * slow });
    await setKey(KEY, 4000);
    await page.waitForFunction(() => document.getElementById('banner').hidden, null, { timeout: 10000 * slow });
    assert.notEqual(await page.textContent('#model'), '');

    // send a message: the answer streams in
    await page.fill('#input', 'Hello, who are you?');
    await page.keyboard.press('Enter');
    await page.locator('.msg.user').first().waitFor();
    assert.equal(await page.locator('.msg.user .body').first().textContent(), 'Hello, who are you?');
    await page.locator('#stop').waitFor({ state: 'visible', timeout: 10000 * slow });
    const lengths = [];
    for (let i = 0; i < 6; i++) {
      lengths.push((await page.locator('.msg.assistant').last().textContent()).length);
      await page.waitForTimeout(150 * slow);
    }
    assert.ok(lengths.at(-1) > lengths[0], `answer grows while streaming: ${lengths}`);
    // Stop frees the server's slot
    await page.click('#stop');
    await page.locator('.msg.assistant').last().filter({ hasText: '[stopped]' }).waitFor({ timeout: 10000 * slow });
    let running = NaN;
    for (let i = 0; i < 50; i++) {
      running = await metric(base, 'kaiyuan:requests_running');
      if (running === 0) break;
      await new Promise((r) => setTimeout(r, 100 * slow));
    }
    assert.equal(running, 0, 'requests_running back to 0 after Stop');

    // a short complete answer, then screenshots in both themes
    await setKey(KEY, 24);
    await page.fill('#input', 'Write a short list.');
    await page.keyboard.press('Enter');
    await page.locator('#send').waitFor({ state: 'visible', timeout: 60000 * slow });
    await page.locator('#stats').filter({ hasText: 'generated' }).waitFor({ timeout: 10000 * slow });
    await page.evaluate(() => { document.documentElement.dataset.theme = 'light'; });
    await page.screenshot({ path: join(SHOTS, 'webui-light.png') });
    await page.click('#theme');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await page.screenshot({ path: join(SHOTS, 'webui-dark.png') });
    await page.setViewportSize({ width: 390, height: 760 });
    await page.waitForTimeout(400); /* the side list slides out of view */
    await page.screenshot({ path: join(SHOTS, 'webui-phone.png') });
    await page.setViewportSize({ width: 1100, height: 760 });

    // reload: the conversation is still in the list; rename it, then delete it
    await page.reload();
    await page.locator('#conv-list li').first().waitFor();
    assert.equal(await page.locator('#conv-list li').count(), 1);
    assert.match(await page.locator('#conv-list .conv-title').first().textContent(), /Hello, who are you/);
    assert.equal(await page.locator('.msg').count(), 4);
    await page.click('#conv-list .rename');
    await page.locator('#conv-list .conv-title').filter({ hasText: 'Renamed chat' }).waitFor();
    await page.click('#conv-list .delete');
    assert.equal(await page.locator('#conv-list li').count(), 0);

    // hostile Markdown and HTML (from an imported conversation, as a model could write it) stay inert
    const evil = { conversations: [{ title: 'evil', messages: [
      { role: 'user', content: '<img src=x onerror="window.__pwned=1">' },
      { role: 'assistant', content: 'see [click](javascript:window.__pwned=2) and <img src=x onerror="window.__pwned=3"> <script>window.__pwned=4</script>\n\n```python\nprint("hi")\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |' },
    ] }] };
    const file = join(tmpdir(), `kaiyuan-evil-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(evil));
    await page.setInputFiles('#import-file', file);
    await page.click('#conv-list .conv-title');
    await page.locator('.msg.assistant table').waitFor();
    assert.equal(await page.locator('.msg img').count(), 0);
    assert.equal(await page.locator('.msg script').count(), 0);
    const hrefs = await page.locator('.msg a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.ok(hrefs.every((h) => !h || !/^\s*javascript:/i.test(h)), `hrefs ${hrefs}`);
    await page.locator('.msg a').first().click().catch(() => {});
    await page.waitForTimeout(200);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.locator('.msg.user .body').first().textContent(), '<img src=x onerror="window.__pwned=1">');
    assert.ok(await page.locator('.msg.assistant pre code.hljs').count() >= 1, 'code is highlighted');

    // a stopped server is reported
    server.kill('SIGTERM');
    for (let i = 0; i < 100 && !serverExited; i++) await new Promise((r) => setTimeout(r, 100));
    await page.fill('#input', 'are you there?');
    await page.keyboard.press('Enter');
    await page.locator('#banner').filter({ hasText: 'Cannot reach the server' }).waitFor({ timeout: 10000 * slow });
    assert.deepEqual(errors, []);
  } finally {
    if (browser) await browser.close();
    if (!serverExited) server.kill('SIGKILL');
    rmSync(profile, { recursive: true, force: true });
  }
});
