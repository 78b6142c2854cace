// compare.mjs — kaiyuan vs llama.cpp (node-llama-cpp 3.22.1, bench/peer) on the same synthetic
// models, same threads, same -p/-n, in the same run, alternating engines. A benchmark, not a test:
// never part of `make test`. Run through bench/compare (see --help).
//
// For each model (synthesized once into the cache with `kaiyuan synth`), each round runs
// `kaiyuan bench --json` and `peer.mjs bench` (order swapped every round, so neither engine always
// runs on a warmer machine), each with -r reps after one warm-up. Reported tok/s are medians over
// every timed run of all rounds. tg GB/s = weight bytes one token reads (from kaiyuan bench) ×
// tok/s; its fraction is relative to this machine's read bandwidth measured by build/bench/membw
// with the same thread count. Both engines use an F32 KV cache (the peer's fixed setting).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

const USAGE = `usage: bench/compare [options]
  --models LIST    comma-separated PRESET:TYPE (default: the issue #5 targets
                   qwen2.5-0.5b:q4_k_m,qwen2.5-0.5b:q8_0,qwen2.5-1.5b:q4_k_m,qwen3-4b:q4_k_m)
  -t, --threads T  threads for both engines and membw (default 2)
  -p N, -n N       prompt / generated tokens (default 512 / 128)
  -r, --reps R     timed runs per engine invocation (default 3)
  --rounds K       alternations kaiyuan/llama.cpp per model (default 2)
  --quick          qwen2.5-0.5b q8_0 + q4_k_m, -p 128 -n 32 -r 2, 1 round
  --cache DIR      synthesized models (default bench/cache; created, kept between runs)
  --out FILE       raw results as JSON (default DIR/compare-YYYYmmdd-HHMMSS.json)
  --no-peer        kaiyuan only
  --seed S         synth seed (default 42)
  --stat median|best  statistic over all timed runs shown in the table (default median; "best"
                   resists other jobs slowing some runs on a shared machine; JSON has both)`;

function fail(msg) {
    process.stderr.write(`bench/compare: ${msg}\n`);
    process.exit(1);
}

function parseArgs(argv) {
    const o = {
        models: "qwen2.5-0.5b:q4_k_m,qwen2.5-0.5b:q8_0,qwen2.5-1.5b:q4_k_m,qwen3-4b:q4_k_m",
        threads: 2, p: 512, n: 128, reps: 3, rounds: 2, cache: "bench/cache", out: null,
        peer: true, seed: 42, stat: "median",
    };
    const num = (a, v, min) => {
        const x = Number(v);
        if (!Number.isInteger(x) || x < min) fail(`${a}: '${v}' must be an integer >= ${min}`);
        return x;
    };
    let quick = false;
    const seen = new Set();
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => {
            if (i + 1 >= argv.length) fail(`${a} needs a value`);
            seen.add(a);
            return argv[++i];
        };
        if (a === "-h" || a === "--help") {
            process.stdout.write(USAGE + "\n");
            process.exit(0);
        } else if (a === "--quick") quick = true;
        else if (a === "--no-peer") o.peer = false;
        else if (a === "--models") o.models = v();
        else if (a === "-t" || a === "--threads") o.threads = num(a, v(), 1);
        else if (a === "-p") o.p = num(a, v(), 1);
        else if (a === "-n") o.n = num(a, v(), 1);
        else if (a === "-r" || a === "--reps") o.reps = num(a, v(), 1);
        else if (a === "--rounds") o.rounds = num(a, v(), 1);
        else if (a === "--cache") o.cache = v();
        else if (a === "--out") o.out = v();
        else if (a === "--seed") o.seed = num(a, v(), 0);
        else if (a === "--stat") {
            o.stat = v();
            if (o.stat !== "median" && o.stat !== "best") fail("--stat: median or best");
        }
        else fail(`unknown option '${a}'\n${USAGE}`);
    }
    if (quick) {
        if (!seen.has("--models")) o.models = "qwen2.5-0.5b:q8_0,qwen2.5-0.5b:q4_k_m";
        if (!seen.has("-p")) o.p = 128;
        if (!seen.has("-n")) o.n = 32;
        if (!seen.has("-r") && !seen.has("--reps")) o.reps = 2;
        if (!seen.has("--rounds")) o.rounds = 1;
    }
    o.models = o.models.split(",").filter(Boolean).map((m) => {
        const [preset, type] = m.split(":");
        if (!preset || !type) fail(`--models: '${m}' is not PRESET:TYPE`);
        return { preset, type };
    });
    return o;
}

// Runs a command; returns {stdout, stderr}. With rss, wraps it in /usr/bin/time for max RSS.
function run(cmd, args, { rss = false, inherit = false } = {}) {
    const useTime = rss && fs.existsSync("/usr/bin/time");
    const [c, a] = useTime ? ["/usr/bin/time", ["-f", "maxrss_kb=%M", cmd, ...args]] : [cmd, args];
    const r = spawnSync(c, a, { encoding: "utf8", maxBuffer: 1 << 28, stdio: inherit ? ["ignore", "inherit", "inherit"] : "pipe" });
    if (r.error) fail(`${cmd}: ${r.error.message}`);
    if (r.status !== 0) fail(`${cmd} ${args.join(" ")} exited ${r.status}\n${r.stderr ?? ""}`);
    let maxrss = null;
    const m = /maxrss_kb=(\d+)/.exec(r.stderr ?? "");
    if (m) maxrss = Number(m[1]) * 1024;
    return { stdout: r.stdout ?? "", stderr: r.stderr ?? "", maxrss };
}

function lastJson(text) {
    const line = text.trim().split("\n").filter((l) => l.startsWith("{")).pop();
    if (!line) fail(`no JSON in output:\n${text}`);
    return JSON.parse(line);
}

const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length === 0 ? null : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Table statistic (o.stat) plus both statistics for the JSON.
const stat = (e) => {
    const best = (xs) => (xs.length ? Math.max(...xs) : null);
    const s = { pp_tok_s_median: median(e.pp), tg_tok_s_median: median(e.tg), pp_tok_s_best: best(e.pp), tg_tok_s_best: best(e.tg) };
    return { pp_tok_s: s[`pp_tok_s_${o.stat}`], tg_tok_s: s[`tg_tok_s_${o.stat}`], ...s };
};

const fmt = (x, d = 1) => (x == null || !Number.isFinite(x) ? "—" : x.toFixed(d));
const mib = (b) => (b == null ? "—" : (b / 1048576).toFixed(0) + " MiB");

function stamp() {
    const d = new Date();
    const z = (v) => String(v).padStart(2, "0");
    return `${d.getFullYear()}${z(d.getMonth() + 1)}${z(d.getDate())}-${z(d.getHours())}${z(d.getMinutes())}${z(d.getSeconds())}`;
}

const o = parseArgs(process.argv.slice(2));
const log = (s) => process.stderr.write(s + "\n");

log("bench/compare: building build/kaiyuan and build/bench/membw");
run("make", ["-s", "-j2", "cli", "membw"], { inherit: true });
if (o.peer) run("bench/peer/setup.sh", [], { inherit: true });
fs.mkdirSync(o.cache, { recursive: true });

const machine = {
    cpu: os.cpus()[0]?.model ?? "?", n_cpus: os.cpus().length, mem_bytes: os.totalmem(),
    loadavg_start: os.loadavg(), kernel: os.release(),
    git: spawnSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim(),
};
if (machine.loadavg_start[0] > Math.max(1, machine.n_cpus - o.threads + 0.5))
    log(`bench/compare: warning: load average ${machine.loadavg_start[0].toFixed(2)} on ${machine.n_cpus} CPUs — ` +
        "timings of spinning thread pools collapse on a busy machine; compare only idle runs");

// Measured before and after the runs; the better of the two is the machine's bandwidth.
const membw = () => lastJson(run("build/bench/membw", ["--threads", String(o.threads), "--mb", "1024", "--reps", "5"]).stdout);
const bw = membw();
log(`bench/compare: memory read bandwidth ${bw.gb_s.toFixed(1)} GB/s best, ${bw.gb_s_median.toFixed(1)} median (${o.threads} threads, 1 GiB)`);

const results = [];
for (const { preset, type } of o.models) {
    const file = path.join(o.cache, `${preset}-${type}.gguf`);
    if (!fs.existsSync(file)) {
        log(`bench/compare: synthesizing ${file}`);
        run("build/kaiyuan", ["synth", "--preset", preset, "--type", type, "--seed", String(o.seed), "-o", file, "--quiet"]);
    }
    const common = ["-p", String(o.p), "-n", String(o.n), "-r", String(o.reps)];
    const ky = { pp: [], tg: [], rss: [], raw: [] };
    const peer = { pp: [], tg: [], rss: [], raw: [] };
    for (let round = 0; round < o.rounds; round++) {
        const order = round % 2 === 0 ? ["kaiyuan", "llama.cpp"] : ["llama.cpp", "kaiyuan"];
        for (const engine of order) {
            if (engine === "llama.cpp" && !o.peer) continue;
            let r, j;
            const load = os.loadavg()[0];
            if (engine === "kaiyuan") {
                r = run("build/kaiyuan", ["bench", "--json", "--quiet", "-m", file, "-t", String(o.threads), "--kv-type", "f32", ...common], { rss: true });
                j = lastJson(r.stdout);
                ky.pp.push(...j.pp_runs);
                ky.tg.push(...j.tg_runs);
                ky.rss.push(r.maxrss ?? j.rss_peak_bytes);
                ky.raw.push({ ...j, loadavg_before: load });
            } else {
                r = run("node", ["bench/peer/peer.mjs", "bench", "--model", file, "-t", String(o.threads), ...common], { rss: true });
                j = lastJson(r.stdout);
                peer.pp.push(...j.pp_runs);
                peer.tg.push(...j.tg_runs);
                peer.rss.push(r.maxrss);
                peer.raw.push({ ...j, loadavg_before: load });
            }
            log(`  ${preset} ${type} round ${round + 1} ${engine.padEnd(9)} pp${o.p} ${fmt(j.pp_tok_s)} tok/s, tg${o.n} ${fmt(j.tg_tok_s, 2)} tok/s` +
                ` (load ${load.toFixed(2)})`);
        }
    }
    const k0 = ky.raw[0];
    const res = {
        preset, type, file, file_bytes: k0.model_bytes, tg_bytes_per_token: k0.tg_bytes_per_token,
        kv_bytes: k0.kv_bytes, kernels: k0.kernels, threads: k0.threads,
        kaiyuan: { ...stat(ky), pp_runs: ky.pp, tg_runs: ky.tg, rss_bytes: Math.max(...ky.rss), rss_peak_self_bytes: Math.max(...ky.raw.map((x) => x.rss_peak_bytes)) },
        llama_cpp: o.peer ? { ...stat(peer), pp_runs: peer.pp, tg_runs: peer.tg, rss_bytes: Math.max(...peer.rss), release: peer.raw[0]?.llama_cpp } : null,
    };
    for (const e of [res.kaiyuan, res.llama_cpp]) if (e) e.tg_gb_s = (res.tg_bytes_per_token * e.tg_tok_s) / 1e9;
    if (res.llama_cpp) {
        res.pp_ratio = res.kaiyuan.pp_tok_s / res.llama_cpp.pp_tok_s;
        res.tg_ratio = res.kaiyuan.tg_tok_s / res.llama_cpp.tg_tok_s;
    }
    results.push(res);
}

const bwEnd = membw();
log(`bench/compare: memory read bandwidth at the end ${bwEnd.gb_s.toFixed(1)} GB/s best`);
bw.gb_s_start = bw.gb_s;
bw.gb_s_end = bwEnd.gb_s;
bw.gb_s = Math.max(bw.gb_s, bwEnd.gb_s);
for (const r of results)
    for (const e of [r.kaiyuan, r.llama_cpp]) if (e) e.tg_bw_fraction = e.tg_gb_s / bw.gb_s;

// ---- the table ----
const P = `pp${o.p}`, N = `tg${o.n}`;
const head = ["model", "type", "size", `${P} kaiyuan`, `${P} llama.cpp`, "ratio", `${N} kaiyuan`, `${N} llama.cpp`, "ratio",
    "tg GB/s ky / l.cpp", "of membw ky / l.cpp", "RSS ky / l.cpp"];
const rows = results.map((r) => [
    r.preset, r.type, mib(r.file_bytes),
    fmt(r.kaiyuan.pp_tok_s), fmt(r.llama_cpp?.pp_tok_s), r.llama_cpp ? fmt(r.pp_ratio, 2) + "×" : "—",
    fmt(r.kaiyuan.tg_tok_s, 2), fmt(r.llama_cpp?.tg_tok_s, 2), r.llama_cpp ? fmt(r.tg_ratio, 2) + "×" : "—",
    `${fmt(r.kaiyuan.tg_gb_s)} / ${fmt(r.llama_cpp?.tg_gb_s)}`,
    `${fmt(100 * r.kaiyuan.tg_bw_fraction, 0)}% / ${r.llama_cpp ? fmt(100 * r.llama_cpp.tg_bw_fraction, 0) + "%" : "—"}`,
    `${mib(r.kaiyuan.rss_bytes)} / ${mib(r.llama_cpp?.rss_bytes)}`,
]);
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => "| " + cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
const out = [];
out.push(`kaiyuan ${machine.git} (kernels ${results[0]?.kernels}) vs llama.cpp ${results[0]?.llama_cpp?.release ?? "(not run)"} — ` +
    `${o.threads} threads, -p ${o.p} -n ${o.n}, ${o.reps} reps × ${o.rounds} rounds (${o.stat} of all runs), F32 KV; ${machine.cpu}, ${machine.n_cpus} CPUs`);
out.push(`memory read bandwidth (build/bench/membw, ${o.threads} threads, best of start/end): ${bw.gb_s.toFixed(1)} GB/s ` +
    `(${bw.gb_s_start.toFixed(1)} / ${bw.gb_s_end.toFixed(1)})`);
out.push("");
out.push(line(head));
out.push("|" + widths.map((w, i) => (i < 2 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|");
for (const r of rows) out.push(line(r));

// ---- the issue #5 targets (informational) ----
const find = (p, t) => results.find((r) => r.preset === p && r.type === t);
const checks = [];
const tgt = (label, value, ok) => checks.push(`${ok == null ? "?" : ok ? "✓" : "✗"} ${label}: ${value}`);
for (const t of ["q4_k_m", "q8_0"]) {
    const r = find("qwen2.5-0.5b", t);
    if (r?.llama_cpp) tgt(`qwen2.5-0.5b ${t} tg ≥ 1.3× llama.cpp`, fmt(r.tg_ratio, 2) + "×", r.tg_ratio >= 1.3);
    if (r?.llama_cpp) tgt(`qwen2.5-0.5b ${t} pp ≥ 1.5× llama.cpp`, fmt(r.pp_ratio, 2) + "×", r.pp_ratio >= 1.5);
}
const q8 = find("qwen2.5-0.5b", "q8_0");
if (q8) tgt("qwen2.5-0.5b q8_0 tg ≥ 70% of memory bandwidth", fmt(100 * q8.kaiyuan.tg_bw_fraction, 0) + "%", q8.kaiyuan.tg_bw_fraction >= 0.7);
for (const p of ["qwen2.5-1.5b", "qwen3-4b"]) {
    const r = find(p, "q4_k_m");
    if (r?.llama_cpp) tgt(`${p} q4_k_m not slower than llama.cpp (pp, tg)`, `${fmt(r.pp_ratio, 2)}×, ${fmt(r.tg_ratio, 2)}×`, r.pp_ratio >= 1 && r.tg_ratio >= 1);
}
for (const r of results) {
    const limit = r.file_bytes + r.kv_bytes + 64 * 1048576;
    tgt(`${r.preset} ${r.type} RSS ≤ file + KV + 64 MiB`, `${mib(r.kaiyuan.rss_bytes)} vs ${mib(limit)}`, r.kaiyuan.rss_bytes <= limit);
}
out.push("");
out.push("targets (issue #5):");
for (const c of checks) out.push("  " + c);
machine.loadavg_end = os.loadavg();
out.push(`load average ${machine.loadavg_start[0].toFixed(2)} at start, ${machine.loadavg_end[0].toFixed(2)} at end`);
process.stdout.write(out.join("\n") + "\n");

const outFile = o.out ?? path.join(o.cache, `compare-${stamp()}.json`);
fs.writeFileSync(outFile, JSON.stringify({ options: { ...o, models: o.models.map((m) => `${m.preset}:${m.type}`) }, machine, membw: bw, results }, null, 1) + "\n");
log(`bench/compare: raw results in ${outFile}`);
