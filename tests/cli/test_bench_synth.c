/* test_bench_synth.c — synthetic models (ky_synth_*, `kaiyuan synth`) and `kaiyuan bench`.
 *
 * Every preset × type is planned and checked against the real models' shapes and llama.cpp's
 * type rules (hand-derived histograms and per-tensor types, sizes within 1–2% of the published
 * files); scaled variants (1 layer, small vocabulary, fewer experts) of the small presets are
 * written, loaded with ky_model_load and run; the CLI commands are run as processes.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/types.h"
#include "test.h"

/* The real models (config.json / official GGUF files), written out independently of synth.c. */
static const struct expect {
    const char *name, *arch;
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_expert, n_used, n_ff_exp;
    bool tied;
    float rope_base;
} k_expect[] = {
    {"qwen2.5-0.5b", "qwen2", 24, 896, 14, 2, 64, 4864, 151936, 0, 0, 0, true, 1e6f},
    {"qwen2.5-1.5b", "qwen2", 28, 1536, 12, 2, 128, 8960, 151936, 0, 0, 0, true, 1e6f},
    {"qwen2.5-7b", "qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 0, 0, 0, false, 1e6f},
    {"qwen3-0.6b", "qwen3", 28, 1024, 16, 8, 128, 3072, 151936, 0, 0, 0, true, 1e6f},
    {"qwen3-4b", "qwen3", 36, 2560, 32, 8, 128, 9728, 151936, 0, 0, 0, true, 1e6f},
    {"qwen3-8b", "qwen3", 36, 4096, 32, 8, 128, 12288, 151936, 0, 0, 0, false, 1e6f},
    {"qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 6144, 151936, 128, 8, 768, false, 1e6f},
    {"llama-3.2-1b", "llama", 16, 2048, 32, 8, 64, 8192, 128256, 0, 0, 0, true, 500000.0f},
};
#define N_EXPECT (int)(sizeof k_expect / sizeof k_expect[0])

static const struct expect *find_expect(const char *name) {
    for (int i = 0; i < N_EXPECT; i++)
        if (!strcmp(k_expect[i].name, name)) return &k_expect[i];
    return NULL;
}

static ky_synth *plan(const char *preset, const char *type, int n_layer, int n_vocab,
                      int n_expert) {
    ky_synth_params p = ky_synth_default_params();
    p.preset = preset;
    p.type = type;
    p.n_layer = n_layer;
    p.n_vocab = n_vocab;
    p.n_expert = n_expert;
    ky_synth *s = NULL;
    ky_error err;
    if (ky_synth_plan(&p, &s, &err) != KY_OK) fprintf(stderr, "plan: %s\n", err.message);
    return s;
}

static const ky_synth_tensor *tensor(const ky_synth *s, const char *name) {
    ky_synth_info in;
    ky_synth_get_info(s, &in);
    for (int64_t i = 0; i < in.n_tensors; i++)
        if (!strcmp(ky_synth_tensor_at(s, i)->name, name)) return ky_synth_tensor_at(s, i);
    return NULL;
}

/* Checks that tensor `name` exists with type `type` (a ky_type_name). */
#define CHECK_TYPE(s, name, tname)                                                    \
    do {                                                                              \
        const ky_synth_tensor *t_ = tensor(s, name);                                  \
        CHECKF(t_ && !strcmp(ky_type_name(t_->type), tname), "%s: %s, want %s", name, \
               t_ ? ky_type_name(t_->type) : "(absent)", tname);                      \
    } while (0)

static void test_every_preset_and_type_plans(void) {
    int n_presets = 0, n_types = 0;
    while (ky_synth_preset(n_presets)) n_presets++;
    while (ky_synth_type(n_types)) n_types++;
    CHECK(n_types == 6);
    for (int e = 0; e < N_EXPECT; e++) {
        bool listed = false;
        for (int i = 0; i < n_presets; i++) listed |= !strcmp(ky_synth_preset(i), k_expect[e].name);
        CHECKF(listed, "preset %s missing", k_expect[e].name);
    }
    for (int i = 0; i < n_presets; i++) {
        for (int j = 0; j < n_types; j++) {
            ky_synth *s = plan(ky_synth_preset(i), ky_synth_type(j), 0, 0, 0);
            REQUIRE(s != NULL);
            ky_synth_info in;
            ky_synth_get_info(s, &in);
            const struct expect *x = find_expect(ky_synth_preset(i));
            if (x) {
                CHECK(!strcmp(in.arch, x->arch));
                CHECK(in.n_layer == x->n_layer && in.n_embd == x->n_embd);
                CHECK(in.n_head == x->n_head && in.n_head_kv == x->n_head_kv);
                CHECK(in.head_dim == x->head_dim && in.n_ff == x->n_ff);
                CHECK(in.n_vocab == x->n_vocab && in.tied_output == x->tied);
                CHECK(in.n_expert == x->n_expert && in.n_expert_used == x->n_used);
                CHECK(in.n_ff_exp == x->n_ff_exp && in.rope_freq_base == x->rope_base);
                int per_layer = x->n_expert                 ? 12
                                : !strcmp(x->arch, "qwen2") ? 12
                                : !strcmp(x->arch, "qwen3") ? 11
                                                            : 9;
                int64_t want = 2 + (x->tied ? 0 : 1) + (!strcmp(x->arch, "llama") ? 1 : 0) +
                               (int64_t)per_layer * x->n_layer;
                CHECKF(in.n_tensors == want, "%s: %lld tensors, want %lld", x->name,
                       (long long)in.n_tensors, (long long)want);
            }
            uint64_t bytes = 0, params = 0;
            for (int64_t k = 0; k < in.n_tensors; k++) {
                const ky_synth_tensor *t = ky_synth_tensor_at(s, k);
                uint64_t row, rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
                CHECKF(ky_type_row_bytes(t->type, t->ne[0], &row) && row * rows == t->n_bytes,
                       "%s: bad size", t->name);
                bytes += t->n_bytes;
                params += (uint64_t)t->ne[0] * rows;
                if (t->n_dims == 1) CHECKF(t->type == KY_TYPE_F32, "%s not f32", t->name);
            }
            CHECK(ky_synth_tensor_at(s, in.n_tensors) == NULL && ky_synth_tensor_at(s, -1) == NULL);
            CHECK(bytes == in.tensor_bytes && params == in.n_params);
            CHECK(in.file_bytes > in.tensor_bytes && in.file_bytes < in.tensor_bytes + (8u << 20));
            ky_synth_free(s);
        }
    }
}

/* llama.cpp's use_more_bits for 24 layers: 0-2, 21-23 and 5, 8, 11, 14, 17, 20. */
static bool more_bits_24(int il) {
    static const int k[] = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (k[i] == il) return true;
    return false;
}

static void test_qwen25_05b_q4_k_m_mixture(void) {
    /* n_embd 896 is not a multiple of 256: Q4_K falls back to Q5_0, Q6_K to Q8_0; only ffn_down
     * (rows of 4864 = 19 × 256) keeps K-quants. */
    ky_synth *s = plan("qwen2.5-0.5b", "q4_k_m", 0, 0, 0);
    REQUIRE(s != NULL);
    ky_synth_info in;
    ky_synth_get_info(s, &in);
    int64_t count[KY_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < in.n_tensors; i++) count[ky_synth_tensor_at(s, i)->type]++;
    CHECK(count[KY_TYPE_F32] == 121); /* 24 × (2 norms + 3 biases) + output_norm */
    CHECK(count[KY_TYPE_Q5_0] == 132);
    CHECK(count[KY_TYPE_Q8_0] == 13);
    CHECK(count[KY_TYPE_Q4_K] == 12);
    CHECK(count[KY_TYPE_Q6_K] == 12);
    CHECK(in.file_type == 15);
    CHECK_TYPE(s, "token_embd.weight", "q8_0");
    CHECK(tensor(s, "output.weight") == NULL);
    for (int il = 0; il < 24; il++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", il);
        CHECK_TYPE(s, name, more_bits_24(il) ? "q8_0" : "q5_0");
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", il);
        CHECK_TYPE(s, name, more_bits_24(il) ? "q6_K" : "q4_K");
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", il);
        CHECK_TYPE(s, name, "q5_0");
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", il);
        CHECK_TYPE(s, name, "q5_0");
        snprintf(name, sizeof name, "blk.%d.attn_k.bias", il);
        CHECK_TYPE(s, name, "f32");
    }
    /* The official qwen2.5-0.5b-instruct-q4_k_m.gguf is 398 MB (its tokenizer metadata is a few
     * MB larger than our synthetic one). */
    CHECKF(fabs((double)in.file_bytes - 398e6) < 0.02 * 398e6, "%llu bytes",
           (unsigned long long)in.file_bytes);
    ky_synth_free(s);
}

static void test_other_mixtures(void) {
    ky_synth *s = plan("qwen2.5-7b", "q4_k_m", 0, 0, 0);
    REQUIRE(s != NULL);
    ky_synth_info in;
    ky_synth_get_info(s, &in);
    CHECK_TYPE(s, "token_embd.weight", "q4_K"); /* untied: the base type */
    CHECK_TYPE(s, "output.weight", "q6_K");
    CHECK_TYPE(s, "blk.3.attn_v.weight", "q4_K");
    CHECK_TYPE(s, "blk.27.attn_v.weight", "q6_K");
    CHECKF(fabs((double)in.file_bytes - 4.68e9) < 0.01 * 4.68e9, "7B: %llu bytes",
           (unsigned long long)in.file_bytes);
    ky_synth_free(s);

    s = plan("qwen3-30b-a3b", "q4_k_m", 0, 0, 0);
    REQUIRE(s != NULL);
    ky_synth_get_info(s, &in);
    CHECK_TYPE(s, "blk.0.ffn_gate_inp.weight", "f32"); /* the router is never quantized */
    CHECK_TYPE(s, "blk.0.ffn_down_exps.weight", "q6_K");
    CHECK_TYPE(s, "blk.6.ffn_down_exps.weight", "q4_K"); /* 48 layers: 6 = n/8, (6-6)%3 != 2 */
    CHECK_TYPE(s, "blk.8.ffn_down_exps.weight", "q6_K");
    CHECK_TYPE(s, "blk.8.ffn_up_exps.weight", "q4_K");
    const ky_synth_tensor *t = tensor(s, "blk.0.ffn_down_exps.weight");
    CHECK(t && t->n_dims == 3 && t->ne[0] == 768 && t->ne[1] == 2048 && t->ne[2] == 128);
    CHECKF(fabs((double)in.file_bytes - 18.6e9) < 0.01 * 18.6e9, "30B: %llu bytes",
           (unsigned long long)in.file_bytes);
    ky_synth_free(s);

    s = plan("qwen2.5-0.5b", "q4_0", 0, 0, 0); /* tied output: Q6_K → Q8_0 (896) */
    REQUIRE(s != NULL);
    CHECK_TYPE(s, "token_embd.weight", "q8_0");
    CHECK_TYPE(s, "blk.0.attn_v.weight", "q4_0");
    ky_synth_free(s);
    s = plan("qwen2.5-1.5b", "q4_0", 0, 0, 0); /* 1536 = 6 × 256: Q6_K stays */
    REQUIRE(s != NULL);
    CHECK_TYPE(s, "token_embd.weight", "q6_K");
    ky_synth_free(s);
    s = plan("qwen3-8b", "q8_0", 0, 0, 0);
    REQUIRE(s != NULL);
    CHECK_TYPE(s, "token_embd.weight", "q8_0");
    CHECK_TYPE(s, "output.weight", "q8_0");
    CHECK_TYPE(s, "blk.0.attn_q_norm.weight", "f32");
    ky_synth_free(s);
    s = plan("qwen2.5-0.5b", "q5_k_m", 0, 0, 0);
    REQUIRE(s != NULL);
    CHECK_TYPE(s, "blk.3.attn_q.weight", "q5_1");
    CHECK_TYPE(s, "blk.3.ffn_down.weight", "q5_K");
    CHECK_TYPE(s, "blk.0.ffn_down.weight", "q6_K");
    CHECK_TYPE(s, "blk.0.attn_v.weight", "q8_0");
    ky_synth_free(s);
    s = plan("qwen2.5-0.5b", "q6_k", 0, 0, 0);
    REQUIRE(s != NULL);
    CHECK_TYPE(s, "blk.3.ffn_down.weight", "q6_K");
    CHECK_TYPE(s, "blk.3.ffn_gate.weight", "q8_0");
    ky_synth_free(s);
    s = plan("qwen3-30b-a3b", "f16", 2, 0, 0);
    REQUIRE(s != NULL);
    CHECK_TYPE(s, "blk.1.ffn_gate_inp.weight", "f32");
    CHECK_TYPE(s, "blk.1.ffn_up_exps.weight", "f16");
    CHECK_TYPE(s, "token_embd.weight", "f16");
    ky_synth_free(s);
    s = plan("llama-3.2-1b", "q4_k_m", 0, 0, 0);
    REQUIRE(s != NULL);
    CHECK_TYPE(s, "token_embd.weight", "q6_K"); /* tied, 2048 = 8 × 256 */
    CHECK_TYPE(s, "rope_freqs.weight", "f32");
    ky_synth_free(s);
}

static void test_bad_params(void) {
    ky_synth_params p = ky_synth_default_params();
    ky_synth *s = (ky_synth *)&p; /* must stay untouched on failure */
    ky_error err;
    p.preset = "qwen9-1t";
    CHECK(ky_synth_plan(&p, &s, &err) == KY_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "qwen9-1t") && strstr(err.message, "qwen2.5-0.5b"));
    CHECK(s == (ky_synth *)&p);
    p = ky_synth_default_params();
    p.type = "q3_k_xl";
    CHECK(ky_synth_plan(&p, &s, &err) == KY_ERR_INVALID_ARG);
    CHECK(strstr(err.message, "q3_k_xl") && strstr(err.message, "q4_k_m"));
    p = ky_synth_default_params();
    p.type = NULL;
    CHECK(ky_synth_plan(&p, &s, &err) == KY_ERR_INVALID_ARG);
    p = ky_synth_default_params();
    p.n_layer = 25;
    CHECK(ky_synth_plan(&p, &s, &err) == KY_ERR_INVALID_ARG && strstr(err.message, "24"));
    p = ky_synth_default_params();
    p.n_vocab = 100;
    CHECK(ky_synth_plan(&p, &s, &err) == KY_ERR_INVALID_ARG && strstr(err.message, "100"));
    p = ky_synth_default_params();
    p.n_expert = 4;
    CHECK(ky_synth_plan(&p, &s, &err) == KY_ERR_INVALID_ARG && strstr(err.message, "experts"));
    p.preset = "qwen3-30b-a3b";
    p.n_expert = 7; /* fewer than the 8 used */
    CHECK(ky_synth_plan(&p, &s, &err) == KY_ERR_INVALID_ARG && strstr(err.message, "7"));
    CHECK(ky_synth_plan(NULL, &s, &err) == KY_ERR_INVALID_ARG);
    CHECK(s == (ky_synth *)&p);
    ky_synth *ok = plan("qwen3-0.6b", "q8_0", 1, 300, 0);
    REQUIRE(ok != NULL);
    CHECK(ky_synth_write(ok, "/nonexistent-dir/x.gguf", &err) == KY_ERR_IO);
    CHECK(strstr(err.message, "/nonexistent-dir/x.gguf") != NULL);
    ky_synth_free(ok);
}

/* Writes a scaled variant, loads it, compares the hyper-parameters and runs 3 tokens. */
static void write_load_run(const char *preset, const char *type, int n_layer, int n_vocab,
                           int n_expert) {
    ky_synth *s = plan(preset, type, n_layer, n_vocab, n_expert);
    REQUIRE(s != NULL);
    ky_synth_info in;
    ky_synth_get_info(s, &in);
    char path[512];
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("synth.gguf"));
    ky_error err;
    REQUIRE(ky_synth_write(s, path, &err) == KY_OK);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size == in.file_bytes);
    ky_model *m = NULL;
    ky_status st = ky_model_load(path, NULL, &m, &err);
    CHECKF(st == KY_OK, "%s %s: %s", preset, type, err.message);
    if (st == KY_OK) {
        ky_model_info mi;
        ky_model_get_info(m, &mi);
        const struct expect *x = find_expect(preset);
        CHECK(!strcmp(mi.arch, x->arch) && !strcmp(mi.arch, in.arch));
        CHECK(mi.n_layer == n_layer && mi.n_embd == x->n_embd && mi.n_vocab == n_vocab);
        CHECK(mi.n_head == x->n_head && mi.n_head_kv == x->n_head_kv && mi.head_dim == x->head_dim);
        CHECK(mi.n_ff == (x->n_expert ? x->n_ff_exp : x->n_ff));
        CHECK(mi.n_expert == in.n_expert && mi.n_expert_used == x->n_used);
        CHECK(mi.rope_freq_base == x->rope_base && mi.rms_eps == in.rms_eps);
        CHECK(mi.tied_output == x->tied && mi.n_ctx_train == in.n_ctx_train);
        CHECK(mi.n_params == in.n_params && mi.file_bytes == in.file_bytes);
        CHECK(mi.weight_bytes == in.tensor_bytes);
        CHECK(ky_vocab_n_tokens(m) == n_vocab && ky_vocab_bos(m) == 1 && ky_vocab_eos(m) == 2);
        ky_context_params cp = ky_context_default_params();
        cp.n_ctx = 8;
        cp.n_batch = 3;
        cp.n_threads = 1;
        ky_context *ctx = NULL;
        ky_batch b;
        REQUIRE(ky_context_create(m, &cp, &ctx, &err) == KY_OK);
        REQUIRE(ky_batch_init(&b, 3) == KY_OK);
        for (int i = 0; i < 3; i++) ky_batch_add(&b, 1 + 97 * i, i, 0, i == 2);
        CHECK(ky_decode(ctx, &b) == KY_OK);
        const float *lg = ky_get_logits(ctx, 2);
        REQUIRE(lg != NULL);
        bool finite = true, varied = false;
        for (int v = 0; v < n_vocab; v++) {
            finite &= isfinite(lg[v]) != 0;
            varied |= lg[v] != lg[0];
        }
        CHECKF(finite && varied, "%s %s: logits finite %d varied %d", preset, type, finite, varied);
        ky_batch_free(&b);
        ky_context_free(ctx);
    }
    ky_model_free(m);
    ky_synth_free(s);
    unlink(path);
}

static void test_scaled_variants_load_and_run(void) {
    write_load_run("qwen2.5-0.5b", "q4_k_m", 1, 1000, 0);
    write_load_run("qwen3-0.6b", "q6_k", 1, 700, 0);
    write_load_run("qwen3-30b-a3b", "q4_k_m", 1, 500, 8);
    write_load_run("llama-3.2-1b", "q4_0", 1, 400, 0);
    if (!ky_test_sanitized()) {
        write_load_run("qwen2.5-1.5b", "q5_k_m", 1, 300, 0);
        write_load_run("qwen2.5-0.5b", "f16", 2, 260, 0);
        write_load_run("qwen3-4b", "q4_0", 1, 300, 0);
    }
}

static char *slurp(const char *path, size_t *n) { return ky_test_read_file(path, n); }

static void test_deterministic(void) {
    const char *paths[3] = {"a.gguf", "b.gguf", "c.gguf"};
    char full[3][512];
    for (int i = 0; i < 3; i++) {
        ky_synth_params p = ky_synth_default_params();
        p.preset = "qwen2.5-0.5b";
        p.type = "q4_k_m";
        p.n_layer = 1;
        p.n_vocab = 300;
        p.seed = i == 2 ? 43 : 42;
        ky_synth *s;
        ky_error err;
        REQUIRE(ky_synth_plan(&p, &s, &err) == KY_OK);
        snprintf(full[i], sizeof full[i], "%s", ky_test_tmpfile(paths[i]));
        CHECK(ky_synth_write(s, full[i], &err) == KY_OK);
        ky_synth_free(s);
    }
    size_t na, nb, nc;
    char *a = slurp(full[0], &na), *b = slurp(full[1], &nb), *c = slurp(full[2], &nc);
    REQUIRE(a && b && c);
    CHECK(na == nb && !memcmp(a, b, na));
    CHECK(na == nc && memcmp(a, c, na) != 0);
    free(a);
    free(b);
    free(c);
    for (int i = 0; i < 3; i++) unlink(full[i]);
}

/* ---- the CLI ---------------------------------------------------------------------------------- */

typedef ky_cli_result run_result;

/* Runs `kaiyuan args...` (NULL-terminated) capturing stdout and stderr (tests/support.h). */
static bool run_cli(run_result *r, const char *const *args) { return ky_test_cli(args, r) == 0; }

static void run_free(run_result *r) { ky_test_cli_free(r); }

static void test_cli_synth(void) {
    run_result r;
    const char *dry[] = {"synth",     "--preset", "qwen2.5-0.5b", "--type", "q4_k_m",
                         "--dry-run", NULL};
    REQUIRE(run_cli(&r, dry));
    CHECK(r.exit_code == 0);
    /* The histogram lines: "  q5_0  132 ..." and the file size. */
    CHECKF(strstr(r.out, "q5_0") && strstr(r.out, " 132 "), "%s", r.out);
    CHECK(strstr(r.out, "\nfile: ") != NULL);
    run_free(&r);

    const char *bad[] = {"synth", "--preset", "nope", "--type", "q8_0", "-o", "x.gguf", NULL};
    REQUIRE(run_cli(&r, bad));
    CHECK(r.exit_code == 2 && strstr(r.err, "nope") && strstr(r.err, "qwen3-30b-a3b"));
    run_free(&r);

    char path[512];
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("cli.gguf"));
    const char *wr[] = {"synth",   "--preset", "qwen3-0.6b", "--type", "q8_0",    "--layers", "1",
                        "--vocab", "300",      "-o",         path,     "--quiet", NULL};
    REQUIRE(run_cli(&r, wr));
    CHECKF(r.exit_code == 0, "%s", r.err);
    CHECK(r.n_err == 0);
    run_free(&r);
    ky_model *m = NULL;
    ky_error err;
    CHECKF(ky_model_load(path, NULL, &m, &err) == KY_OK, "%s", err.message);
    if (m) {
        ky_model_info mi;
        ky_model_get_info(m, &mi);
        CHECK(mi.n_layer == 1 && mi.n_vocab == 300 && mi.head_dim == 128 && mi.n_embd == 1024);
    }
    ky_model_free(m);
    unlink(path);
}

static double num(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

/* Weight bytes a token reads, computed here from the tensor list. */
static double expected_tg_bytes(const char *path, int n_expert, int n_used) {
    ky_gguf *g;
    if (ky_gguf_open(path, &g, NULL) != KY_OK) return -1;
    bool tied = ky_gguf_find_tensor(g, "output.weight") < 0;
    double total = 0;
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
        ky_gguf_tensor_info t;
        ky_gguf_tensor(g, i, &t);
        double b = (double)t.n_bytes;
        if (t.name_len == 17 && !memcmp(t.name, "token_embd.weight", 17) && !tied)
            b /= (double)t.ne[1];
        if (t.n_dims == 3) b = b * n_used / n_expert;
        total += b;
    }
    ky_gguf_close(g);
    return total;
}

static void check_bench_json(const char *model, int n_expert, int n_used) {
    char path[512];
    snprintf(path, sizeof path, "%s", ky_test_shared(model));
    const char *args[] = {"bench", "--json", "-p", "8",  "-n", "4",       "-r",
                          "1",     "-t",     "1",  "-m", path, "--quiet", NULL};
    run_result r;
    REQUIRE(run_cli(&r, args));
    CHECKF(r.exit_code == 0, "%s", r.err);
    json_error_t je;
    json_t *o = json_loads(r.out, 0, &je);
    CHECKF(json_is_object(o), "not one JSON object: %s", r.out);
    if (json_is_object(o)) {
        struct stat sb;
        REQUIRE(stat(path, &sb) == 0);
        CHECK(num(o, "pp_tok_s") > 0 && num(o, "tg_tok_s") > 0);
        CHECK(num(o, "pp_tok_s_min") > 0 && num(o, "pp_tok_s_min") <= num(o, "pp_tok_s"));
        CHECK(num(o, "tg_tok_s_max") >= num(o, "tg_tok_s"));
        CHECK(num(o, "model_bytes") == (double)sb.st_size);
        CHECK(num(o, "threads") == 1 && num(o, "p") == 8 && num(o, "n") == 4);
        CHECK(num(o, "rss_peak_bytes") > 0 && num(o, "kv_bytes") > 0);
        CHECK(json_array_size(json_object_get(o, "tg_runs")) == 1);
        double want = expected_tg_bytes(path, n_expert, n_used);
        CHECKF(fabs(num(o, "tg_bytes_per_token") - want) <= 1.0, "%s: %.0f, want %.0f", model,
               num(o, "tg_bytes_per_token"), want);
        CHECK(fabs(num(o, "tg_gb_s") - want * num(o, "tg_tok_s") / 1e9) <
              1e-3 * num(o, "tg_gb_s") + 1e-3);
        CHECK(json_is_string(json_object_get(o, "kernels")));
    }
    json_decref(o);
    run_free(&r);
}

static void test_cli_bench(void) {
    check_bench_json("models/tiny-llama-q8_0.gguf", 0, 0);
    check_bench_json("models/tiny-qwen3moe-q8_0.gguf", 8, 2);
    check_bench_json("models/tiny-qwen2-q4_k_m.gguf", 0, 0);

    char path[512];
    snprintf(path, sizeof path, "%s", ky_test_shared("models/tiny-llama-q4_0.gguf"));
    const char *table[] = {"bench", "-p", "16", "-n", "2",       "-r", "2",
                           "-t",    "1",  "-m", path, "--quiet", NULL};
    run_result r;
    REQUIRE(run_cli(&r, table));
    CHECK(r.exit_code == 0 && strstr(r.out, "pp16") && strstr(r.out, "tg2") &&
          strstr(r.out, "GB/s"));
    run_free(&r);
    const char *none[] = {"bench", "-p", "0", "-n", "0", "-m", path, NULL};
    REQUIRE(run_cli(&r, none));
    CHECK(r.exit_code == 2 && r.n_out == 0);
    run_free(&r);
    const char *missing[] = {"bench", "-m", "/nonexistent.gguf", NULL};
    REQUIRE(run_cli(&r, missing));
    CHECK(r.exit_code == 1 && strstr(r.err, "/nonexistent.gguf"));
    run_free(&r);
}

int main(void) {
    RUN(test_every_preset_and_type_plans);
    RUN(test_qwen25_05b_q4_k_m_mixture);
    RUN(test_other_mixtures);
    RUN(test_bad_params);
    RUN(test_scaled_variants_load_and_run);
    RUN(test_deterministic);
    RUN(test_cli_synth);
    RUN(test_cli_bench);
    TEST_EXIT();
}
