// synth-check.mjs — do `kaiyuan synth` files load and run in llama.cpp, and agree with kaiyuan?
// A manual check (not part of make test): for each preset × type it synthesizes a file, runs
// llama.cpp (bench/peer, node-llama-cpp 3.22.1) `info` and `logits` on 3 tokens, runs `kaiyuan
// logits` on the same tokens, and prints whether llama.cpp loaded it, the top-1 agreement and the
// largest logit difference over llama.cpp's top 8. Files are deleted afterwards unless --keep.
//
//   node bench/synth-check.mjs [--presets a,b] [--types x,y] [--layers N] [--dir D] [--keep]
// Needs build/kaiyuan (make) and bench/peer/setup.sh.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

process.chdir(path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."));

function list(cmd) {
    const r = spawnSync("build/kaiyuan", ["synth", "--list"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error("build/kaiyuan synth --list failed: run make first");
    return r.stdout.split("\n").filter((l) => l.startsWith(cmd + " ")).map((l) => l.slice(cmd.length + 1));
}

const args = { presets: null, types: null, layers: 0, dir: "bench/cache/check", keep: false };
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === "--keep") args.keep = true;
    else if (["--presets", "--types", "--layers", "--dir"].includes(a) && i + 1 < process.argv.length) args[a.slice(2)] = process.argv[++i];
    else {
        process.stderr.write("usage: node bench/synth-check.mjs [--presets a,b] [--types x,y] [--layers N] [--dir D] [--keep]\n");
        process.exit(2);
    }
}
const presets = args.presets ? args.presets.split(",") : list("preset");
const types = args.types ? args.types.split(",") : list("type");
fs.mkdirSync(args.dir, { recursive: true });

function run(cmd, a) {
    const r = spawnSync(cmd, a, { encoding: "utf8", maxBuffer: 1 << 28 });
    return { ok: r.status === 0, out: r.stdout ?? "", err: (r.stderr ?? "").trim().split("\n").slice(-3).join(" | ") };
}

const ids = "1,300,4000";
const rows = [];
let failures = 0;
for (const preset of presets) {
    for (const type of types) {
        const file = path.join(args.dir, `${preset}-${type}${args.layers ? `-L${args.layers}` : ""}.gguf`);
        const synthArgs = ["synth", "--preset", preset, "--type", type, "-o", file, "--quiet"];
        if (args.layers) synthArgs.push("--layers", String(args.layers));
        const s = run("build/kaiyuan", synthArgs);
        const row = { preset, type, layers: args.layers || "all", bytes: s.ok ? fs.statSync(file).size : 0 };
        if (!s.ok) {
            row.note = "synth failed: " + s.err;
        } else {
            const info = run("node", ["bench/peer/peer.mjs", "info", "--model", file]);
            row.llama_load = info.ok;
            const pl = info.ok ? run("node", ["bench/peer/peer.mjs", "logits", "--model", file, "--ids", ids, "--top", "8", "--threads", "2"]) : null;
            const kl = run("build/kaiyuan", ["logits", "-m", file, "--ids", ids, "--top", "8", "--kv-type", "f32", "-t", "2", "--quiet"]);
            if (!info.ok) row.note = "llama.cpp: " + info.err;
            else if (!pl.ok) row.note = "llama.cpp logits: " + pl.err;
            else if (!kl.ok) row.note = "kaiyuan: " + kl.err;
            else {
                const P = JSON.parse(pl.out).logits, K = JSON.parse(kl.out).logits;
                let agree = 0, maxd = 0, finite = true;
                for (let t = 0; t < P.length; t++) {
                    if (P[t][0][0] === K[t][0][0]) agree++;
                    const km = new Map(K[t].map(([id, v]) => [id, v]));
                    for (const [id, v] of P[t]) {
                        finite &&= Number.isFinite(v);
                        if (km.has(id)) maxd = Math.max(maxd, Math.abs(km.get(id) - v));
                    }
                }
                row.top1 = `${agree}/${P.length}`;
                row.max_diff = maxd;
                row.finite = finite;
            }
        }
        if (!row.llama_load || row.note) failures++;
        rows.push(row);
        process.stdout.write(`${preset.padEnd(14)} ${type.padEnd(7)} layers ${String(row.layers).padEnd(4)} ${(row.bytes / 1e6).toFixed(1).padStart(9)} MB  ` +
            `llama.cpp ${row.llama_load ? "loads" : "FAILS"}  top-1 ${row.top1 ?? "—"}  max|Δ| ${row.max_diff != null ? row.max_diff.toFixed(4) : "—"}` +
            `${row.note ? "  " + row.note : ""}\n`);
        if (!args.keep && fs.existsSync(file)) fs.unlinkSync(file);
    }
}
process.exit(failures ? 1 : 0);
