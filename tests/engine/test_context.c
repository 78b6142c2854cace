/* test_context.c — contexts, batches and the KV cache through the public API.
 *
 * Checks that batched prompt evaluation equals token-by-token decoding bit for bit (the kernels
 * are batch-exact; MoE prefill groups the tokens routed to each expert into one product per
 * expert, and must still equal decoding them one at a time), that several sequences in one batch give the same logits as each alone, that
 * keeping/copying a prefix of the cache reproduces a fresh evaluation, that trimming one sequence
 * leaves the others bit-for-bit untouched, that F16 and F32 caches
 * agree closely, and that every invalid batch is rejected with a message and leaves the cache
 * unchanged.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "test.h"

static const ky_token k_prompt[] = {1,   403, 407, 261, 378, 432, 383, 286,
                                    261, 376, 298, 315, 421, 395, 317, 426};
#define N_PROMPT ((int32_t)(sizeof k_prompt / sizeof k_prompt[0]))

static ky_model *load(const char *name) {
    ky_model *m = NULL;
    ky_error err;
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", name);
    if (ky_model_load(ky_test_shared(rel), NULL, &m, &err) != KY_OK) {
        fprintf(stderr, "load %s: %s\n", name, err.message);
        return NULL;
    }
    return m;
}

static ky_context *make_ctx(ky_model *m, int32_t n_ctx, int32_t n_seq, int32_t n_batch,
                            uint32_t kv_type, int32_t threads) {
    ky_context_params p = ky_context_default_params();
    p.n_ctx = n_ctx;
    p.n_seq_max = n_seq;
    p.n_batch = n_batch;
    p.kv_type = kv_type;
    p.n_threads = threads;
    ky_context *c = NULL;
    ky_error err;
    if (ky_context_create(m, &p, &c, &err) != KY_OK) fprintf(stderr, "ctx: %s\n", err.message);
    return c;
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* Prompt token i of a prompt of any length: k_prompt, then a fixed pseudo-random sequence. */
static ky_token prompt_token(int32_t i, int n_vocab) {
    if (i < N_PROMPT) return k_prompt[i];
    uint32_t h = (uint32_t)i * 2654435761u;
    return (ky_token)(1 + (h >> 8) % (uint32_t)(n_vocab - 1));
}

/* Decodes the first n prompt tokens as one batch into rows[n][n_vocab]. */
static bool eval_batch_n(ky_context *c, int32_t seq, int32_t n, float *rows, int n_vocab) {
    ky_batch b;
    ky_batch_init(&b, n);
    for (int32_t i = 0; i < n; i++) ky_batch_add(&b, prompt_token(i, n_vocab), i, seq, true);
    bool ok = ky_decode(c, &b) == KY_OK;
    for (int32_t i = 0; ok && i < n; i++)
        memcpy(rows + (size_t)i * n_vocab, ky_get_logits(c, i), (size_t)n_vocab * sizeof(float));
    ky_batch_free(&b);
    return ok;
}

/* Decodes the prompt as one batch into rows[N_PROMPT][n_vocab]. */
static bool eval_batch(ky_context *c, int32_t seq, float *rows, int n_vocab) {
    return eval_batch_n(c, seq, N_PROMPT, rows, n_vocab);
}

/* A prompt of n tokens in one batch vs the same tokens decoded one at a time: identical logits
 * (every kernel path a batch takes — multi-token row dots, packed GEMM, grouped experts, blocked
 * attention — keeps the one-token float order). */
static void batched_equals_sequential(const char *model_name, int32_t n) {
    ky_model *m = load(model_name);
    REQUIRE(m);
    ky_model_info mi;
    ky_model_get_info(m, &mi);
    int V = mi.n_vocab;
    float *batch_rows = malloc((size_t)n * V * sizeof(float));
    ky_context *c = make_ctx(m, n, 1, n, KY_TYPE_F32, 2);
    REQUIRE(c && batch_rows);
    CHECK(eval_batch_n(c, 0, n, batch_rows, V));
    CHECK(ky_kv_seq_len(c, 0) == n);
    ky_kv_clear(c);
    CHECK(ky_kv_seq_len(c, 0) == 0);
    ky_batch b;
    ky_batch_init(&b, 1);
    float worst = 0;
    int32_t differ = 0;
    for (int32_t i = 0; i < n; i++) {
        ky_batch_clear(&b);
        ky_batch_add(&b, prompt_token(i, V), i, 0, true);
        REQUIRE(ky_decode(c, &b) == KY_OK);
        const float *got = ky_get_logits(c, 0), *want = batch_rows + (size_t)i * V;
        worst = fmaxf(worst, max_abs_diff(got, want, V));
        differ += memcmp(got, want, (size_t)V * sizeof(float)) != 0;
    }
    CHECKF(differ == 0, "%s: %d of %d positions differ batched vs token-by-token (max |d| %g)",
           model_name, differ, n, worst);
    printf("# %s: %d tokens batched vs sequential: %d positions differ, max |dlogit| %.2e\n",
           model_name, n, differ, worst);
    ky_batch_free(&b);
    ky_context_free(c);
    ky_model_free(m);
    free(batch_rows);
}

static void test_batched_equals_sequential_f32(void) {
    batched_equals_sequential("tiny-llama-f32.gguf", N_PROMPT);
    batched_equals_sequential("tiny-qwen3moe-f32.gguf", N_PROMPT);
}

/* Quantized weights: activations are quantized per row either way, and every batched kernel
 * reproduces the one-token float order. */
static void test_batched_equals_sequential_quant(void) {
    batched_equals_sequential("tiny-qwen2-q8_0.gguf", N_PROMPT);
    batched_equals_sequential("tiny-qwen3-q4_k_m.gguf", N_PROMPT);
}

/* MoE: with 96 tokens each expert receives enough of them for the packed GEMM (Q8_0 from 5, the
 * K-quants from 8 tokens per product), with 16 the multi-token row dots. */
static void test_moe_grouped_prefill_exact(void) {
    static const char *const models[] = {"tiny-qwen3moe-f32.gguf", "tiny-qwen3moe-q8_0.gguf",
                                         "tiny-qwen3moe-q4_k_m.gguf"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        batched_equals_sequential(models[i], N_PROMPT);
        if (!ky_test_sanitized() || i == 1) batched_equals_sequential(models[i], 96);
    }
}

static void test_multi_sequence_batch(void) {
    ky_model *m = load("tiny-qwen2-f32.gguf");
    REQUIRE(m);
    ky_model_info mi;
    ky_model_get_info(m, &mi);
    int V = mi.n_vocab;
    float *alone = malloc((size_t)N_PROMPT * V * sizeof(float));
    ky_context *c1 = make_ctx(m, 32, 1, 32, KY_TYPE_F32, 1);
    REQUIRE(alone && c1);
    REQUIRE(eval_batch(c1, 0, alone, V));
    ky_context_free(c1);

    /* Sequence 0 runs the prompt, sequence 2 runs its first 10 tokens, interleaved in one batch. */
    ky_context *c = make_ctx(m, 32, 3, 64, KY_TYPE_F32, 2);
    REQUIRE(c);
    ky_batch b;
    ky_batch_init(&b, 64);
    int32_t row_of[2][N_PROMPT];
    for (int32_t i = 0; i < N_PROMPT; i++) {
        row_of[0][i] = b.n_tokens;
        ky_batch_add(&b, k_prompt[i], i, 0, true);
        if (i < 10) {
            row_of[1][i] = b.n_tokens;
            ky_batch_add(&b, k_prompt[i], i, 2, true);
        }
    }
    REQUIRE(ky_decode(c, &b) == KY_OK);
    float worst = 0;
    for (int32_t i = 0; i < N_PROMPT; i++) {
        worst =
            fmaxf(worst, max_abs_diff(ky_get_logits(c, row_of[0][i]), alone + (size_t)i * V, V));
        if (i < 10)
            worst = fmaxf(worst,
                          max_abs_diff(ky_get_logits(c, row_of[1][i]), alone + (size_t)i * V, V));
    }
    CHECKF(worst <= 1e-4f, "multi-sequence max |d| %g", worst);
    CHECK(ky_kv_seq_len(c, 0) == N_PROMPT && ky_kv_seq_len(c, 1) == 0 && ky_kv_seq_len(c, 2) == 10);

    /* Continue sequence 2 to the full prompt: must equal the single-sequence rows. */
    ky_batch_clear(&b);
    for (int32_t i = 10; i < N_PROMPT; i++) ky_batch_add(&b, k_prompt[i], i, 2, true);
    REQUIRE(ky_decode(c, &b) == KY_OK);
    worst = 0;
    for (int32_t i = 10; i < N_PROMPT; i++)
        worst = fmaxf(worst, max_abs_diff(ky_get_logits(c, i - 10), alone + (size_t)i * V, V));
    CHECKF(worst <= 1e-4f, "continued sequence max |d| %g", worst);
    ky_batch_free(&b);
    ky_context_free(c);
    ky_model_free(m);
    free(alone);
}

static void test_keep_and_copy_prefix(void) {
    ky_model *m = load("tiny-qwen3-f32.gguf");
    REQUIRE(m);
    ky_model_info mi;
    ky_model_get_info(m, &mi);
    int V = mi.n_vocab;
    float *fresh = malloc((size_t)N_PROMPT * V * sizeof(float));
    ky_context *c = make_ctx(m, 32, 2, 32, KY_TYPE_F32, 2);
    REQUIRE(fresh && c);
    REQUIRE(eval_batch(c, 0, fresh, V));

    /* Keep 6 positions, then re-feed the rest with a different token first, then the original. */
    CHECK(ky_kv_seq_keep(c, 0, 6) == KY_OK);
    CHECK(ky_kv_seq_len(c, 0) == 6);
    ky_batch b;
    ky_batch_init(&b, 32);
    ky_batch_add(&b, 7, 6, 0, true);
    REQUIRE(ky_decode(c, &b) == KY_OK);
    CHECK(max_abs_diff(ky_get_logits(c, 0), fresh + 6 * (size_t)V, V) > 1e-3f); /* other token */
    CHECK(ky_kv_seq_keep(c, 0, 6) == KY_OK);
    ky_batch_clear(&b);
    for (int32_t i = 6; i < N_PROMPT; i++) ky_batch_add(&b, k_prompt[i], i, 0, true);
    REQUIRE(ky_decode(c, &b) == KY_OK);
    float worst = 0;
    for (int32_t i = 6; i < N_PROMPT; i++)
        worst = fmaxf(worst, max_abs_diff(ky_get_logits(c, i - 6), fresh + (size_t)i * V, V));
    CHECKF(worst <= 1e-4f, "after keep: max |d| %g", worst);

    /* Copy 12 positions of sequence 0 into 1 and continue there. */
    CHECK(ky_kv_seq_copy(c, 0, 1, 12) == KY_OK);
    CHECK(ky_kv_seq_len(c, 1) == 12);
    ky_batch_clear(&b);
    for (int32_t i = 12; i < N_PROMPT; i++) ky_batch_add(&b, k_prompt[i], i, 1, true);
    REQUIRE(ky_decode(c, &b) == KY_OK);
    worst = 0;
    for (int32_t i = 12; i < N_PROMPT; i++)
        worst = fmaxf(worst, max_abs_diff(ky_get_logits(c, i - 12), fresh + (size_t)i * V, V));
    CHECKF(worst <= 1e-4f, "after copy: max |d| %g", worst);
    CHECK(ky_kv_seq_copy(c, 0, 1, N_PROMPT + 1) == KY_ERR_INVALID_ARG);
    CHECK(ky_kv_seq_keep(c, 5, 0) == KY_ERR_INVALID_ARG);
    ky_batch_free(&b);
    ky_context_free(c);
    ky_model_free(m);
    free(fresh);
}

/* Trimming (ky_kv_seq_keep) one sequence, and overwriting its trimmed positions, must leave the
 * other sequences' caches untouched: their next-token logits equal, bit for bit, those of a
 * context where the trim never happened. */
static void test_keep_leaves_other_sequences(void) {
    ky_model *m = load("tiny-llama-f32.gguf");
    REQUIRE(m);
    ky_model_info mi;
    ky_model_get_info(m, &mi);
    int V = mi.n_vocab;
    ky_context *trimmed = make_ctx(m, 32, 3, 64, KY_TYPE_F32, 2);
    ky_context *plain = make_ctx(m, 32, 3, 64, KY_TYPE_F32, 2);
    float *want = malloc((size_t)V * sizeof(float));
    REQUIRE(trimmed && plain && want);
    ky_batch b;
    ky_batch_init(&b, 64);
    /* Sequences 0 and 2: the prompt; sequence 1: the prompt reversed (12 tokens). */
    for (int32_t i = 0; i < N_PROMPT; i++) {
        ky_batch_add(&b, k_prompt[i], i, 0, false);
        ky_batch_add(&b, k_prompt[i], i, 2, false);
        if (i < 12) ky_batch_add(&b, k_prompt[N_PROMPT - 1 - i], i, 1, false);
    }
    REQUIRE(ky_decode(trimmed, &b) == KY_OK && ky_decode(plain, &b) == KY_OK);

    /* Only in `trimmed`: keep 4 positions of sequence 0 and write other tokens over 4..9, and
     * drop sequence 2 entirely. */
    CHECK(ky_kv_seq_keep(trimmed, 0, 4) == KY_OK);
    CHECK(ky_kv_seq_keep(trimmed, 2, 0) == KY_OK);
    ky_batch_clear(&b);
    for (int32_t i = 4; i < 10; i++) ky_batch_add(&b, (ky_token)(100 + i), i, 0, i == 9);
    REQUIRE(ky_decode(trimmed, &b) == KY_OK);
    CHECK(ky_kv_seq_len(trimmed, 0) == 10 && ky_kv_seq_len(trimmed, 2) == 0);
    CHECK(ky_kv_seq_len(trimmed, 1) == 12 && ky_kv_seq_len(plain, 1) == 12);

    /* The next two tokens of sequence 1, identical batches in both contexts. */
    for (int32_t step = 0; step < 2; step++) {
        ky_batch_clear(&b);
        ky_batch_add(&b, (ky_token)(7 + step), 12 + step, 1, true);
        REQUIRE(ky_decode(plain, &b) == KY_OK);
        memcpy(want, ky_get_logits(plain, 0), (size_t)V * sizeof(float));
        REQUIRE(ky_decode(trimmed, &b) == KY_OK);
        CHECKF(memcmp(want, ky_get_logits(trimmed, 0), (size_t)V * sizeof(float)) == 0,
               "step %d: sequence 1 changed by trimming sequences 0 and 2 (max |d| %g)", step,
               max_abs_diff(want, ky_get_logits(trimmed, 0), V));
    }
    ky_batch_free(&b);
    free(want);
    ky_context_free(trimmed);
    ky_context_free(plain);
    ky_model_free(m);
}

static void test_f16_cache_close_to_f32(void) {
    ky_model *m = load("tiny-llama-f32.gguf");
    REQUIRE(m);
    ky_model_info mi;
    ky_model_get_info(m, &mi);
    int V = mi.n_vocab;
    float *a = malloc((size_t)N_PROMPT * V * sizeof(float));
    float *b = malloc((size_t)N_PROMPT * V * sizeof(float));
    ky_context *c32 = make_ctx(m, 32, 1, 32, KY_TYPE_F32, 2);
    ky_context *c16 = make_ctx(m, 32, 1, 32, KY_TYPE_F16, 2);
    REQUIRE(a && b && c32 && c16);
    REQUIRE(eval_batch(c32, 0, a, V) && eval_batch(c16, 0, b, V));
    float d = max_abs_diff(a, b, N_PROMPT * V);
    /* K/V rounded to f16 (relative 2^-11) moves logits of std ~1 by well under 1e-2. */
    CHECKF(d < 1e-2f && d > 0.0f, "f16 vs f32 cache max |d| %g", d);
    printf("# f16 vs f32 KV cache max |dlogit| %.2e\n", d);
    CHECK(ky_context_kv_bytes(c16) * 2 == ky_context_kv_bytes(c32));
    ky_context_free(c32);
    ky_context_free(c16);
    ky_model_free(m);
    free(a);
    free(b);
}

/* A batch longer than the internal micro-batch (KY_UBATCH = 256) must equal smaller decodes. */
static void test_long_batch(void) {
    ky_model *m = load("stories260K.gguf");
    REQUIRE(m);
    enum { N = 600, CHUNK = 100, V = 512 };
    ky_token ids[N];
    uint32_t state = 12345;
    for (int i = 0; i < N; i++) {
        state = state * 1664525u + 1013904223u;
        ids[i] = (ky_token)(3 + (state >> 8) % 500);
    }
    float *one = malloc((size_t)N * V * sizeof(float));
    ky_context *c = make_ctx(m, 1024, 1, N, KY_TYPE_F32, 2);
    REQUIRE(one && c);
    ky_batch b;
    ky_batch_init(&b, N);
    for (int i = 0; i < N; i++) ky_batch_add(&b, ids[i], i, 0, true);
    REQUIRE(ky_decode(c, &b) == KY_OK);
    for (int i = 0; i < N; i++) memcpy(one + (size_t)i * V, ky_get_logits(c, i), V * sizeof(float));
    ky_kv_clear(c);
    float worst = 0;
    for (int start = 0; start < N; start += CHUNK) {
        ky_batch_clear(&b);
        for (int i = start; i < start + CHUNK; i++) ky_batch_add(&b, ids[i], i, 0, true);
        REQUIRE(ky_decode(c, &b) == KY_OK);
        for (int i = 0; i < CHUNK; i++)
            worst =
                fmaxf(worst, max_abs_diff(ky_get_logits(c, i), one + (size_t)(start + i) * V, V));
    }
    CHECKF(worst <= 1e-4f, "600-token batch vs 100-token batches: max |d| %g", worst);
    CHECK(ky_kv_seq_len(c, 0) == N);
    ky_batch_free(&b);
    ky_context_free(c);
    ky_model_free(m);
    free(one);
}

static void test_invalid_batches(void) {
    ky_model *m = load("tiny-llama-q8_0.gguf");
    REQUIRE(m);
    ky_context *c = make_ctx(m, 8, 2, 4, KY_TYPE_F16, 1);
    REQUIRE(c);
    CHECK(ky_context_n_ctx(c) == 8);
    ky_batch b;
    ky_batch_init(&b, 16);
    CHECK(ky_decode(c, &b) == KY_ERR_INVALID_ARG); /* empty */
    CHECK(strstr(ky_context_last_error(c), "empty") != NULL);
    ky_batch_add(&b, 512, 0, 0, true); /* out of vocabulary */
    CHECK(ky_decode(c, &b) == KY_ERR_INVALID_ARG);
    CHECK(strstr(ky_context_last_error(c), "512") != NULL);
    ky_batch_clear(&b);
    ky_batch_add(&b, -1, 0, 0, true);
    CHECK(ky_decode(c, &b) == KY_ERR_INVALID_ARG);
    ky_batch_clear(&b);
    ky_batch_add(&b, 5, 0, 2, true); /* sequence out of range */
    CHECK(ky_decode(c, &b) == KY_ERR_INVALID_ARG);
    CHECK(strstr(ky_context_last_error(c), "sequence id 2") != NULL);
    ky_batch_clear(&b);
    ky_batch_add(&b, 5, 1, 0, true); /* gap: sequence 0 is empty */
    CHECK(ky_decode(c, &b) == KY_ERR_INVALID_ARG);
    CHECK(strstr(ky_context_last_error(c), "expected 0") != NULL);
    ky_batch_clear(&b);
    for (int i = 0; i < 5; i++) ky_batch_add(&b, 5, i, 0, false); /* > n_batch */
    CHECK(ky_decode(c, &b) == KY_ERR_INVALID_ARG);
    CHECK(ky_kv_seq_len(c, 0) == 0); /* nothing was written by rejected batches */

    /* Fill sequence 1 to the context size, then overflow it. */
    for (int start = 0; start < 8; start += 4) {
        ky_batch_clear(&b);
        for (int i = 0; i < 4; i++) ky_batch_add(&b, 5, start + i, 1, i == 3);
        CHECK(ky_decode(c, &b) == KY_OK);
    }
    CHECK(ky_kv_seq_len(c, 1) == 8);
    ky_batch_clear(&b);
    ky_batch_add(&b, 5, 8, 1, true);
    CHECK(ky_decode(c, &b) == KY_ERR_CONTEXT_FULL);
    CHECK(strstr(ky_context_last_error(c), "full") != NULL);
    CHECK(ky_kv_seq_len(c, 1) == 8);
    /* A batch mixing a valid entry with an invalid one changes nothing. */
    ky_batch_clear(&b);
    ky_batch_add(&b, 5, 0, 0, true);
    ky_batch_add(&b, 5, 3, 0, true);
    CHECK(ky_decode(c, &b) == KY_ERR_INVALID_ARG);
    CHECK(ky_kv_seq_len(c, 0) == 0);
    CHECK(ky_get_logits(c, 3) != NULL); /* logits of the last successful decode stay readable */
    CHECK(ky_get_logits(c, 0) == NULL); /* that entry did not ask for logits */
    ky_batch_free(&b);
    ky_context_free(c);

    ky_context_params p = ky_context_default_params();
    ky_error err;
    p.n_seq_max = 0;
    CHECK(ky_context_create(m, &p, &c, &err) == KY_ERR_INVALID_ARG);
    p = ky_context_default_params();
    p.kv_type = KY_TYPE_Q8_0;
    CHECK(ky_context_create(m, &p, &c, &err) == KY_ERR_INVALID_ARG);
    p = ky_context_default_params();
    p.n_ctx = 1 << 20; /* capped to the trained length */
    CHECK(ky_context_create(m, &p, &c, &err) == KY_OK);
    CHECK(ky_context_n_ctx(c) == 2048);
    ky_context_free(c);
    ky_model_free(m);
}

int main(void) {
    RUN(test_batched_equals_sequential_f32);
    RUN(test_batched_equals_sequential_quant);
    RUN(test_moe_grouped_prefill_exact);
    RUN(test_multi_sequence_batch);
    RUN(test_keep_and_copy_prefix);
    RUN(test_keep_leaves_other_sequences);
    RUN(test_f16_cache_close_to_f32);
    RUN(test_long_batch);
    RUN(test_invalid_batches);
    TEST_EXIT();
}
