// app.js — the chat page of `kaiyuan serve`: conversations kept in localStorage, answers streamed
// from /v1/chat/completions (the same OpenAI endpoint every client uses), Markdown rendered through
// DOMPurify so nothing from the model or the user ever executes, reasoning shown apart.
import { marked } from 'marked';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import python from 'highlight.js/lib/languages/python';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import xml from 'highlight.js/lib/languages/xml';

for (const [n, l] of Object.entries({ python, javascript, json, bash, c, xml })) hljs.registerLanguage(n, l);

const $ = (id) => document.getElementById(id);
const KEY_CONV = 'kaiyuan.conversations', KEY_SET = 'kaiyuan.settings', KEY_CUR = 'kaiyuan.current';
const defaults = { system: '', temperature: 0.7, top_p: 0.9, max_tokens: 1024, thinking: true, apiKey: '', theme: '' };

let settings = { ...defaults, ...load(KEY_SET, {}) };
let conversations = load(KEY_CONV, []);
let currentId = localStorage.getItem(KEY_CUR);
let controller = null; // the running request

function load(key, dflt) {
  try { const v = JSON.parse(localStorage.getItem(key)); return v ?? dflt; } catch { return dflt; }
}
function save() {
  localStorage.setItem(KEY_CONV, JSON.stringify(conversations));
  if (currentId) localStorage.setItem(KEY_CUR, currentId);
}
function current() { return conversations.find((c) => c.id === currentId); }
function newId() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 8); }

// ---- theme ----------------------------------------------------------------------------------
function applyTheme() {
  const dark = settings.theme ? settings.theme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

// ---- rendering ------------------------------------------------------------------------------
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') { node.setAttribute('target', '_blank'); node.setAttribute('rel', 'noopener noreferrer'); }
});
const purifyOptions = { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'form', 'input', 'button', 'img'], FORBID_ATTR: ['style'] };

function renderMarkdown(el, text) {
  el.innerHTML = DOMPurify.sanitize(marked.parse(text, { gfm: true, breaks: true }), purifyOptions);
  for (const block of el.querySelectorAll('pre code')) {
    hljs.highlightElement(block);
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'copy-code'; b.textContent = 'Copy';
    b.addEventListener('click', () => copy(block.textContent, b));
    block.parentElement.appendChild(b);
  }
}

async function copy(text, button) {
  try { await navigator.clipboard.writeText(text); } catch {
    const t = document.createElement('textarea'); t.value = text; document.body.appendChild(t); t.select();
    document.execCommand('copy'); t.remove();
  }
  if (button) { const old = button.textContent; button.textContent = 'Copied'; setTimeout(() => (button.textContent = old), 1200); }
}

// Splits "<think>...</think>answer" (when the server sends reasoning inside content).
function splitThink(text) {
  const open = text.indexOf('<think>');
  if (open < 0) return { reasoning: '', content: text };
  const close = text.indexOf('</think>', open);
  if (close < 0) return { reasoning: text.slice(open + 7), content: text.slice(0, open), open: true };
  return { reasoning: text.slice(open + 7, close), content: text.slice(0, open) + text.slice(close + 8) };
}

function messageView(msg, index) {
  const div = document.createElement('div');
  div.className = 'msg ' + msg.role;
  const role = document.createElement('div');
  role.className = 'role';
  role.textContent = msg.role === 'user' ? 'You' : 'Assistant';
  const actions = document.createElement('span');
  actions.className = 'actions';
  const add = (label, fn) => { const b = document.createElement('button'); b.type = 'button'; b.textContent = label; b.addEventListener('click', fn); actions.appendChild(b); };
  add('Copy', (e) => copy(msg.content, e.target));
  if (msg.role === 'user') add('Edit', () => editFrom(index));
  else if (index === current().messages.length - 1) add('Regenerate', () => regenerate());
  role.appendChild(actions);
  div.appendChild(role);
  const { reasoning, content } = msg.reasoning != null ? { reasoning: msg.reasoning, content: msg.content } : splitThink(msg.content || '');
  if (reasoning && reasoning.trim()) {
    const d = document.createElement('details');
    d.className = 'reasoning';
    d.open = !!msg.streaming;
    const s = document.createElement('summary'); s.textContent = 'Reasoning';
    const r = document.createElement('div'); r.className = 'body plain'; r.textContent = reasoning.trim();
    d.append(s, r); div.appendChild(d);
  }
  const body = document.createElement('div');
  body.className = 'body';
  if (msg.role === 'user') { body.classList.add('plain'); body.textContent = msg.content; } else renderMarkdown(body, content || '');
  div.appendChild(body);
  if (msg.tool_calls && msg.tool_calls.length) {
    const t = document.createElement('div'); t.className = 'tools';
    t.textContent = msg.tool_calls.map((tc) => `→ ${tc.function?.name}(${tc.function?.arguments ?? ''})`).join('\n');
    div.appendChild(t);
  }
  if (msg.error) { const e = document.createElement('div'); e.className = 'error'; e.textContent = msg.error; div.appendChild(e); }
  if (msg.stopped) { const e = document.createElement('div'); e.className = 'muted'; e.textContent = '[stopped]'; div.appendChild(e); }
  return div;
}

function renderMessages() {
  const box = $('messages');
  box.replaceChildren();
  const conv = current();
  $('title').textContent = conv ? conv.title : 'kaiyuan';
  if (!conv) return;
  conv.messages.forEach((m, i) => box.appendChild(messageView(m, i)));
  box.scrollTop = box.scrollHeight;
}

function renderList() {
  const list = $('conv-list');
  list.replaceChildren();
  for (const conv of conversations) {
    const li = document.createElement('li');
    li.dataset.id = conv.id;
    if (conv.id === currentId) li.className = 'active';
    const open = document.createElement('button');
    open.type = 'button'; open.className = 'conv-title'; open.textContent = conv.title;
    open.addEventListener('click', () => { currentId = conv.id; save(); renderAll(); $('sidebar').classList.remove('open'); });
    const rename = document.createElement('button');
    rename.type = 'button'; rename.className = 'small rename'; rename.textContent = 'Rename'; rename.setAttribute('aria-label', 'Rename ' + conv.title);
    rename.addEventListener('click', () => {
      const t = prompt('New name', conv.title);
      if (t && t.trim()) { conv.title = t.trim(); save(); renderAll(); }
    });
    const del = document.createElement('button');
    del.type = 'button'; del.className = 'small delete'; del.textContent = '✕'; del.setAttribute('aria-label', 'Delete ' + conv.title);
    del.addEventListener('click', () => {
      conversations = conversations.filter((c) => c.id !== conv.id);
      if (currentId === conv.id) currentId = conversations[0]?.id ?? null;
      if (!currentId) localStorage.removeItem(KEY_CUR);
      save(); renderAll();
    });
    li.append(open, rename, del);
    list.appendChild(li);
  }
}
function renderAll() { renderList(); renderMessages(); }

function banner(text) {
  const b = $('banner');
  b.textContent = text || '';
  b.hidden = !text;
}

// ---- talking to the server -----------------------------------------------------------------
function headers() {
  const h = { 'Content-Type': 'application/json' };
  if (settings.apiKey) h.Authorization = 'Bearer ' + settings.apiKey;
  return h;
}

async function errorText(resp) {
  try { const j = await resp.json(); return `${resp.status}: ${j.error?.message ?? JSON.stringify(j)}`; } catch { return `HTTP ${resp.status}`; }
}

async function loadModel() {
  try {
    const r = await fetch('/v1/models', { headers: headers() });
    if (!r.ok) { $('model').textContent = ''; if (r.status === 401) banner('The server needs an API key: ' + (await errorText(r))); return; }
    const j = await r.json();
    $('model').textContent = j.data?.[0]?.id ?? '';
    banner('');
  } catch (e) { banner('Cannot reach the server (' + location.origin + '): ' + e.message); }
}

function requestMessages(conv) {
  const out = [];
  if (settings.system.trim()) out.push({ role: 'system', content: settings.system });
  for (const m of conv.messages) {
    if (m.role === 'assistant' && (m.error || m.streaming)) continue;
    out.push({ role: m.role, content: m.content || '' });
  }
  return out;
}

async function complete(conv) {
  const msg = { role: 'assistant', content: '', reasoning: null, streaming: true };
  conv.messages.push(msg);
  renderMessages();
  setBusy(true);
  controller = new AbortController();
  const t0 = performance.now();
  let tFirst = 0, usage = null;
  try {
    const body = {
      model: $('model').textContent || 'default', messages: requestMessages(conv),
      stream: true, stream_options: { include_usage: true },
      temperature: Number(settings.temperature), top_p: Number(settings.top_p), max_tokens: Number(settings.max_tokens),
      chat_template_kwargs: { enable_thinking: !!settings.thinking },
    };
    const resp = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(body), signal: controller.signal });
    if (!resp.ok) { msg.error = await errorText(resp); banner(msg.error); return; }
    banner('');
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, cut); buf = buf.slice(cut + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data: ')) continue;
          const data = line.slice(6);
          if (data === '[DONE]') continue;
          const j = JSON.parse(data);
          if (j.error) { msg.error = j.error.message; continue; }
          if (j.usage) usage = j.usage;
          const d = j.choices?.[0]?.delta;
          if (!d) continue;
          if (!tFirst && (d.content || d.reasoning_content)) tFirst = performance.now();
          if (d.reasoning_content) msg.reasoning = (msg.reasoning ?? '') + d.reasoning_content;
          if (d.content) msg.content += d.content;
          if (d.tool_calls) {
            msg.tool_calls = msg.tool_calls || [];
            for (const tc of d.tool_calls) {
              const slot = (msg.tool_calls[tc.index] ||= { id: tc.id, type: 'function', function: { name: '', arguments: '' } });
              if (tc.function?.name) slot.function.name = tc.function.name;
              if (tc.function?.arguments) slot.function.arguments += tc.function.arguments;
            }
          }
        }
        renderMessages();
      }
    }
  } catch (e) {
    if (e.name === 'AbortError') msg.stopped = true;
    else { msg.error = 'Cannot reach the server: ' + e.message; banner(msg.error); }
  } finally {
    msg.streaming = false;
    if (msg.reasoning === null) delete msg.reasoning;
    const t1 = performance.now();
    if (usage) {
      const gen = usage.completion_tokens, secs = tFirst ? (t1 - tFirst) / 1000 : 0;
      msg.stats = `${usage.prompt_tokens} prompt + ${gen} generated` + (secs > 0 ? ` · ${(gen / secs).toFixed(1)} tok/s` : '') + ` · ${((t1 - t0) / 1000).toFixed(2)} s`;
      $('stats').textContent = msg.stats;
    }
    controller = null;
    setBusy(false);
    save();
    renderMessages();
  }
}

function setBusy(busy) {
  $('send').hidden = busy;
  $('stop').hidden = !busy;
}

function send(text) {
  let conv = current();
  if (!conv) {
    conv = { id: newId(), title: text.slice(0, 40) || 'New chat', messages: [], created: Date.now() };
    conversations.unshift(conv);
    currentId = conv.id;
  } else if (!conv.messages.length) {
    conv.title = text.slice(0, 40) || conv.title;
  }
  conv.messages.push({ role: 'user', content: text });
  save();
  renderList();
  complete(conv);
}

function regenerate() {
  const conv = current();
  if (!conv || controller) return;
  if (conv.messages.at(-1)?.role === 'assistant') conv.messages.pop();
  complete(conv);
}

function editFrom(index) {
  const conv = current();
  if (!conv || controller) return;
  $('input').value = conv.messages[index].content;
  conv.messages.splice(index);
  save();
  renderMessages();
  $('input').focus();
}

// ---- wiring ---------------------------------------------------------------------------------
$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('input').value.trim();
  if (!text || controller) return;
  $('input').value = '';
  send(text);
});
$('input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('composer').requestSubmit(); }
});
$('stop').addEventListener('click', () => controller?.abort());
$('new-chat').addEventListener('click', () => {
  const conv = { id: newId(), title: 'New chat', messages: [], created: Date.now() };
  conversations.unshift(conv);
  currentId = conv.id;
  save(); renderAll(); $('input').focus();
});
$('theme').addEventListener('click', () => {
  settings.theme = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem(KEY_SET, JSON.stringify(settings));
  applyTheme();
});
$('open-side').addEventListener('click', () => $('sidebar').classList.add('open'));
$('close-side').addEventListener('click', () => $('sidebar').classList.remove('open'));
$('open-settings').addEventListener('click', () => {
  $('s-system').value = settings.system; $('s-temp').value = settings.temperature; $('s-topp').value = settings.top_p;
  $('s-max').value = settings.max_tokens; $('s-think').checked = settings.thinking; $('s-key').value = settings.apiKey;
  $('settings').showModal();
});
$('settings').addEventListener('close', () => {
  if ($('settings').returnValue !== 'save') return;
  settings = { ...settings, system: $('s-system').value, temperature: $('s-temp').value, top_p: $('s-topp').value,
    max_tokens: $('s-max').value, thinking: $('s-think').checked, apiKey: $('s-key').value };
  localStorage.setItem(KEY_SET, JSON.stringify(settings));
  loadModel();
});
$('export').addEventListener('click', () => {
  const blob = new Blob([JSON.stringify({ kaiyuan: 1, conversations }, null, 2)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob); a.download = 'kaiyuan-conversations.json'; a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});
$('import-file').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  try {
    const j = JSON.parse(await file.text());
    const list = Array.isArray(j) ? j : j.conversations;
    if (!Array.isArray(list)) throw new Error('no conversations in the file');
    for (const c of list) {
      if (typeof c.title !== 'string' || !Array.isArray(c.messages)) continue;
      const msgs = c.messages.filter((m) => (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string')
        .map((m) => ({ role: m.role, content: m.content }));
      conversations.push({ id: newId(), title: c.title.slice(0, 200), messages: msgs, created: Date.now() });
    }
    save(); renderAll(); banner('');
  } catch (err) { banner('Import failed: ' + err.message); }
  e.target.value = '';
});

applyTheme();
if (!current()) currentId = conversations[0]?.id ?? null;
renderAll();
loadModel();
