// build.mjs — bundles the chat page into web/dist/: index.html (one file: HTML with the minified
// script and style inlined), index.html.gz (the same, gzip level 9, deterministic) and csp.txt (the
// Content-Security-Policy header value with the hashes of the inline script and style).
// `node build.mjs --check` rebuilds in memory and fails when the committed files differ.
import { build, transform } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes('--check');

const js = await build({
  entryPoints: [join(here, 'src/app.js')], bundle: true, minify: true, format: 'iife',
  target: 'es2020', write: false, legalComments: 'none', charset: 'utf8',
});
const script = js.outputFiles[0].text.replace(/<\/script/gi, '<\\/script').trim();
const css = (await transform(readFileSync(join(here, 'src/style.css'), 'utf8'), { loader: 'css', minify: true })).code.trim();
const html = readFileSync(join(here, 'src/index.html'), 'utf8')
  .replace('/*STYLE*/', () => css).replace('/*SCRIPT*/', () => script);
const sha = (s) => "'sha256-" + createHash('sha256').update(s, 'utf8').digest('base64') + "'";
const csp = `default-src 'none'; script-src ${sha(script)}; style-src ${sha(css)}; img-src 'self' data:; ` +
  `connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
const gz = gzipSync(Buffer.from(html, 'utf8'), { level: 9 });

const outDir = join(here, 'dist');
const files = { 'index.html.gz': gz, 'index.html': Buffer.from(html, 'utf8'), 'csp.txt': Buffer.from(csp, 'utf8') };
if (check) {
  let bad = false;
  for (const [name, data] of Object.entries(files)) {
    let old = null;
    try { old = readFileSync(join(outDir, name)); } catch {}
    if (!old || !old.equals(data)) { console.error(`web/dist/${name} differs from a fresh build: run 'npm run build' in web/ and commit`); bad = true; }
  }
  if (bad) process.exit(1);
  console.log(`web/dist is up to date (${gz.length} bytes gzip, ${Buffer.byteLength(html)} bytes raw)`);
} else {
  mkdirSync(outDir, { recursive: true });
  for (const [name, data] of Object.entries(files)) writeFileSync(join(outDir, name), data);
  console.log(`web/dist/index.html.gz: ${gz.length} bytes (${Buffer.byteLength(html)} uncompressed)`);
}
