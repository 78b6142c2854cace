/* cmd_bench.c — `kaiyuan bench`: prompt-processing and token-generation speed like llama-bench
 * (layer: cli; uses kaiyuan.h only).
 *
 * pp: p random tokens in one batch (n_batch = p, logits of the last only) into an empty cache.
 * tg: n single-token decodes from an empty cache, logits each time. One warm-up run of each, then
 * -r timed runs; median, min and max tok/s. The implied tg bandwidth is the weight bytes one
 * token reads (every layer tensor, MoE experts scaled by used/total, the output matrix; one row of
 * an untied token_embd) times the median tok/s. The same numbers and names as bench/peer/peer.mjs
 * bench, so bench/compare can put both side by side.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kaiyuan bench -m MODEL [options]\n"
               "  -p N             prompt tokens per pp run (default 512; 0 = skip pp)\n"
               "  -n N             generated tokens per tg run (default 128; 0 = skip tg)\n"
               "  -t THREADS       threads (default: physical cores)\n"
               "  -r REPS          timed runs of each test after one warm-up (default 5)\n"
               "  --kv-type f16|f32  KV cache type (default f16; bench/compare uses f32 like "
               "the peer)\n"
               "  --seed S         seed of the random token ids (default 1234)\n"
               "  --json           print one JSON object instead of the table\n"
               "  --quiet          no model summary on stderr\n");
}

typedef struct stats {
    double median, min, max, mean, sd;
} stats;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static stats summarize(const double *v, int n) {
    stats s = {0, 0, 0, 0, 0};
    if (n <= 0) return s;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return s;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    s.median = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    s.min = c[0];
    s.max = c[n - 1];
    for (int i = 0; i < n; i++) s.mean += c[i];
    s.mean /= n;
    for (int i = 0; i < n; i++) s.sd += (c[i] - s.mean) * (c[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    free(c);
    return s;
}

/* splitmix64-based token ids in [0, n_vocab). */
static ky_token random_token(uint64_t *x, int32_t n_vocab) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (ky_token)(z % (uint64_t)n_vocab);
}

/* Weight bytes one generated token reads (see the file comment). */
static bool tg_bytes_per_token(const char *path, const ky_model_info *mi, uint64_t *out) {
    ky_gguf *g;
    if (ky_gguf_open(path, &g, NULL) != KY_OK) return false;
    bool has_output = ky_gguf_find_tensor(g, "output.weight") >= 0;
    double total = 0;
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
        ky_gguf_tensor_info t;
        if (ky_gguf_tensor(g, i, &t) != KY_OK) continue;
        double b = (double)t.n_bytes;
        if (t.name_len == 17 && !memcmp(t.name, "token_embd.weight", 17)) {
            if (has_output && t.ne[1] > 0) b /= (double)t.ne[1]; /* one row per token */
        } else if (t.n_dims == 3 && mi->n_expert > 0 && t.ne[2] == mi->n_expert) {
            b = b * mi->n_expert_used / mi->n_expert; /* only the routed experts */
        }
        total += b;
    }
    ky_gguf_close(g);
    *out = (uint64_t)total;
    return true;
}

/* Resident set size now (Linux /proc), or 0 when unknown. */
static uint64_t current_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, res = 0;
    int n = fscanf(f, "%llu %llu", &size, &res);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (uint64_t)res * (uint64_t)page : 0;
}

static uint64_t peak_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* KiB on Linux */
}

typedef struct bench_opts {
    const char *model;
    long long p, n, threads, reps, seed;
    uint32_t kv_type;
    bool json, quiet;
} bench_opts;

static int parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->p = 512;
    o->n = 128;
    o->reps = 5;
    o->seed = 1234;
    o->kv_type = KY_TYPE_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = true;
        } else if (i + 1 >= argc) {
            fprintf(stderr, "kaiyuan bench: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            o->model = argv[++i];
        } else if (!strcmp(a, "-p")) {
            if (!cli_parse_int("bench", a, argv[++i], 0, 1 << 20, &o->p)) return 2;
        } else if (!strcmp(a, "-n")) {
            if (!cli_parse_int("bench", a, argv[++i], 0, 1 << 20, &o->n)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int("bench", a, argv[++i], 1, 256, &o->threads)) return 2;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) {
            if (!cli_parse_int("bench", a, argv[++i], 1, 1000, &o->reps)) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_int("bench", a, argv[++i], 0, INT64_MAX, &o->seed)) return 2;
        } else if (!strcmp(a, "--kv-type")) {
            if (!cli_parse_kv_type("bench", argv[++i], &o->kv_type)) return 2;
        } else {
            fprintf(stderr, "kaiyuan bench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o->model) {
        fprintf(stderr, "kaiyuan bench: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    if (o->p == 0 && o->n == 0) {
        fprintf(stderr, "kaiyuan bench: -p and -n are both 0: nothing to measure\n");
        return 2;
    }
    return 0;
}

typedef struct runner {
    ky_context *ctx;
    ky_batch batch;
    int32_t n_vocab;
    ky_token bos; /* KY_TOKEN_NULL when none is prepended */
} runner;

/* One pp run of p tokens; returns seconds or -1 (message printed). */
static double run_pp(runner *r, int32_t p, uint64_t seed) {
    ky_kv_seq_keep(r->ctx, 0, 0);
    ky_batch_clear(&r->batch);
    for (int32_t i = 0; i < p; i++) {
        ky_token t = random_token(&seed, r->n_vocab);
        if (i == 0 && r->bos != KY_TOKEN_NULL) t = r->bos;
        ky_batch_add(&r->batch, t, i, 0, i == p - 1);
    }
    double t0 = ky_time_now();
    if (ky_decode(r->ctx, &r->batch) != KY_OK) {
        fprintf(stderr, "kaiyuan bench: %s\n", ky_context_last_error(r->ctx));
        return -1;
    }
    return ky_time_now() - t0;
}

/* One tg run of n single-token decodes from an empty cache; returns seconds or -1. */
static double run_tg(runner *r, int32_t n, uint64_t seed) {
    ky_kv_seq_keep(r->ctx, 0, 0);
    double t0 = ky_time_now();
    for (int32_t i = 0; i < n; i++) {
        ky_token t = random_token(&seed, r->n_vocab);
        if (i == 0 && r->bos != KY_TOKEN_NULL) t = r->bos;
        ky_batch_clear(&r->batch);
        ky_batch_add(&r->batch, t, i, 0, true);
        if (ky_decode(r->ctx, &r->batch) != KY_OK) {
            fprintf(stderr, "kaiyuan bench: %s\n", ky_context_last_error(r->ctx));
            return -1;
        }
    }
    return ky_time_now() - t0;
}

static void json_runs(ky_strbuf *sb, const char *prefix, const double *v, int n) {
    stats s = summarize(v, n);
    ky_strbuf_printf(sb,
                     ", \"%s_tok_s\": %.4f, \"%s_tok_s_min\": %.4f, \"%s_tok_s_max\": %.4f, "
                     "\"%s_tok_s_mean\": %.4f, \"%s_tok_s_sd\": %.4f, \"%s_runs\": [",
                     prefix, s.median, prefix, s.min, prefix, s.max, prefix, s.mean, prefix, s.sd,
                     prefix);
    for (int i = 0; i < n; i++) ky_strbuf_printf(sb, "%s%.4f", i ? ", " : "", v[i]);
    ky_strbuf_puts(sb, "]");
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) return prc < 0 ? 0 : prc;
    int rc = 1;
    ky_model *model = NULL;
    runner r;
    memset(&r, 0, sizeof r);
    int reps = (int)o.reps;
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    if (!pp || !tg) {
        fprintf(stderr, "kaiyuan bench: out of memory\n");
        goto done;
    }
    double t_load = ky_time_now();
    if (!cli_load_model("bench", o.model, false, o.quiet, &model)) goto done;
    t_load = ky_time_now() - t_load;
    ky_model_info mi;
    ky_model_get_info(model, &mi);
    int64_t need = o.p + o.n + 1;
    if (need > mi.n_ctx_train) {
        fprintf(stderr, "kaiyuan bench: -p + -n + 1 = %" PRId64 " exceeds the model's context %d\n",
                need, mi.n_ctx_train);
        goto done;
    }
    uint64_t tg_bytes = 0;
    if (!tg_bytes_per_token(o.model, &mi, &tg_bytes)) tg_bytes = mi.weight_bytes;
    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = (int32_t)need;
    cp.n_batch = o.p > 0 ? (int32_t)o.p : 1;
    cp.n_threads = (int32_t)o.threads;
    cp.kv_type = o.kv_type;
    if (!cli_create_context("bench", model, &cp, o.quiet, &r.ctx)) goto done;
    if (ky_batch_init(&r.batch, cp.n_batch) != KY_OK) {
        fprintf(stderr, "kaiyuan bench: out of memory\n");
        goto done;
    }
    r.n_vocab = mi.n_vocab;
    r.bos = ky_vocab_add_bos(model) ? ky_vocab_bos(model) : KY_TOKEN_NULL;
    uint64_t seed = (uint64_t)o.seed;
    if (o.p > 0) {
        if (run_pp(&r, (int32_t)o.p, seed - 1) < 0) goto done; /* warm-up */
        for (int i = 0; i < reps; i++) {
            double dt = run_pp(&r, (int32_t)o.p, seed + (uint64_t)i);
            if (dt < 0) goto done;
            pp[i] = (double)o.p / dt;
        }
    }
    uint64_t rss_tg = 0;
    if (o.n > 0) {
        if (run_tg(&r, 1, seed + 7918) < 0) goto done; /* warm-up, like llama-bench */
        for (int i = 0; i < reps; i++) {
            double dt = run_tg(&r, (int32_t)o.n, seed + 7919 + (uint64_t)i);
            if (dt < 0) goto done;
            tg[i] = (double)o.n / dt;
        }
        rss_tg = current_rss();
    }
    stats sp = summarize(pp, o.p > 0 ? reps : 0), st = summarize(tg, o.n > 0 ? reps : 0);
    int threads = ky_context_n_threads(r.ctx);
    uint64_t rss = peak_rss(), kv = ky_context_kv_bytes(r.ctx);
    double gbs = (double)tg_bytes * st.median / 1e9;
    if (o.json) {
        ky_strbuf_puts(&sb, "{\"model\": ");
        ky_strbuf_json_string(&sb, o.model, strlen(o.model));
        ky_strbuf_printf(&sb,
                         ", \"engine\": \"kaiyuan\", \"arch\": \"%s\", \"file_type\": \"%s\", "
                         "\"n_params\": %" PRIu64 ", \"model_bytes\": %" PRIu64
                         ", \"weight_bytes\": %" PRIu64 ", \"tg_bytes_per_token\": %" PRIu64
                         ", \"threads\": %d, \"kernels\": \"%s\", \"kv_type\": \"%s\", "
                         "\"n_ctx\": %d, \"p\": %lld, \"n\": %lld, \"reps\": %d, \"load_s\": %.3f",
                         mi.arch, mi.file_type, mi.n_params, mi.file_bytes, mi.weight_bytes,
                         tg_bytes, threads, ky_kernels_name(),
                         o.kv_type == KY_TYPE_F32 ? "f32" : "f16", ky_context_n_ctx(r.ctx), o.p,
                         o.n, reps, t_load);
        if (o.p > 0) json_runs(&sb, "pp", pp, reps);
        if (o.n > 0) {
            json_runs(&sb, "tg", tg, reps);
            ky_strbuf_printf(&sb, ", \"tg_gb_s\": %.4f, \"rss_after_tg_bytes\": %" PRIu64, gbs,
                             rss_tg);
        }
        ky_strbuf_printf(&sb, ", \"rss_peak_bytes\": %" PRIu64 ", \"kv_bytes\": %" PRIu64 "}\n",
                         rss, kv);
    } else {
        char hs[32], hr[32], hk[32], hb[32], name[64];
        snprintf(name, sizeof name, "%s %s", mi.arch, mi.file_type);
        ky_strbuf_printf(&sb, "| %-20s | %10s | %9s | %-12s | %7s | %6s | %12s | %10s | %10s |\n",
                         "model", "size", "params", "kernels", "threads", "test", "t/s (median)",
                         "min", "max");
        ky_strbuf_printf(&sb, "|%.22s|%.12s|%.11s|%.14s|%.9s|%.8s|%.14s|%.12s|%.12s|\n",
                         "----------------------", "-----------:", "----------:", "--------------",
                         "--------:", "-------:", "-------------:", "-----------:", "-----------:");
        for (int k = 0; k < 2; k++) {
            const stats *s = k ? &st : &sp;
            long long count = k ? o.n : o.p;
            if (count == 0) continue;
            char test[32];
            snprintf(test, sizeof test, "%s%lld", k ? "tg" : "pp", count);
            ky_strbuf_printf(&sb,
                             "| %-20s | %10s | %7.2f M | %-12s | %7d | %6s | %12.2f | %10.2f | "
                             "%10.2f |\n",
                             name, cli_human_bytes(mi.file_bytes, hs), (double)mi.n_params / 1e6,
                             ky_kernels_name(), threads, test, s->median, s->min, s->max);
        }
        if (o.n > 0)
            ky_strbuf_printf(&sb,
                             "tg reads %s of weights per token: %.2f GB/s at the median rate\n",
                             cli_human_bytes(tg_bytes, hb), gbs);
        ky_strbuf_printf(&sb, "peak RSS %s (file %s, KV cache %s, %s KV)\n",
                         cli_human_bytes(rss, hr), cli_human_bytes(mi.file_bytes, hs),
                         cli_human_bytes(kv, hk), o.kv_type == KY_TYPE_F32 ? "f32" : "f16");
    }
    if (sb.failed) {
        fprintf(stderr, "kaiyuan bench: out of memory formatting the output\n");
        goto done;
    }
    fwrite(sb.data, 1, sb.len, stdout);
    rc = 0;
done:
    ky_strbuf_free(&sb);
    ky_batch_free(&r.batch);
    ky_context_free(r.ctx);
    ky_model_free(model);
    free(pp);
    free(tg);
    return rc;
}
