/* test_attention.c — attention scheduling does not change results (tests model/blocks.c).
 *
 * Attention runs one task per (query block, kv head) on the pool, or, when there are fewer tasks
 * than threads and the context is long, splits each task's kv positions, softmax rows and head
 * dimensions across threads. Both must give the logits of a single-threaded run bit for bit,
 * for several sequences, F16 and F32 caches, decode steps and prompt batches.
 */
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "test.h"

enum { N_PROMPT = 300, N_STEPS = 6, N_CTX = 320 };

static ky_context *make_ctx(ky_model *m, uint32_t kv_type, int32_t threads) {
    ky_context_params p = ky_context_default_params();
    p.n_ctx = N_CTX;
    p.n_seq_max = 2;
    p.n_batch = N_PROMPT;
    p.kv_type = kv_type;
    p.n_threads = threads;
    ky_context *c = NULL;
    ky_error err;
    if (ky_context_create(m, &p, &c, &err) != KY_OK) fprintf(stderr, "ctx: %s\n", err.message);
    return c;
}

/* Prompt of sequence 0 (N_PROMPT tokens) and of sequence 1 (a shorter one) in one batch, then
 * N_STEPS decode steps of both sequences; appends every logits row to out (n_rows rows). */
static bool run(ky_context *c, int n_vocab, float *out, int *n_rows) {
    ky_batch b;
    if (ky_batch_init(&b, N_PROMPT) != KY_OK) return false;
    bool ok = true;
    *n_rows = 0;
    for (int32_t i = 0; i < N_PROMPT - 40; i++)
        ky_batch_add(&b, (ky_token)(3 + (i * 37) % 500), i, 0, i == N_PROMPT - 41);
    for (int32_t i = 0; i < 40; i++)
        ky_batch_add(&b, (ky_token)(5 + (i * 11) % 400), i, 1, i == 39);
    ok = ky_decode(c, &b) == KY_OK;
    for (int32_t r = 0; ok && r < b.n_tokens; r++) {
        const float *l = ky_get_logits(c, r);
        if (l) memcpy(out + (size_t)(*n_rows)++ * n_vocab, l, (size_t)n_vocab * sizeof(float));
    }
    for (int s = 0; ok && s < N_STEPS; s++) {
        b.n_tokens = 0;
        ky_batch_add(&b, (ky_token)(7 + s * 13), N_PROMPT - 40 + s, 0, true);
        if (s % 2) ky_batch_add(&b, (ky_token)(9 + s), 40 + s / 2, 1, true);
        ok = ky_decode(c, &b) == KY_OK;
        for (int32_t r = 0; ok && r < b.n_tokens; r++)
            memcpy(out + (size_t)(*n_rows)++ * n_vocab, ky_get_logits(c, r),
                   (size_t)n_vocab * sizeof(float));
    }
    ky_batch_free(&b);
    return ok;
}

static void threads_do_not_change_bits(const char *model, uint32_t kv_type) {
    ky_model *m = NULL;
    ky_error err;
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", model);
    REQUIRE(ky_model_load(ky_test_shared(rel), NULL, &m, &err) == KY_OK);
    ky_model_info mi;
    ky_model_get_info(m, &mi);
    int V = mi.n_vocab, cap = 2 + 2 * N_STEPS;
    float *ref = malloc(sizeof(float) * (size_t)V * (size_t)cap);
    float *got = malloc(sizeof(float) * (size_t)V * (size_t)cap);
    REQUIRE(ref && got);
    ky_context *c1 = make_ctx(m, kv_type, 1);
    REQUIRE(c1);
    int n1 = 0, n = 0;
    CHECK(run(c1, V, ref, &n1));
    ky_context_free(c1);
    /* 2 kv heads: 3 and 5 threads take the split path in decode steps, 2 the per-task path */
    const int threads[] = {2, 3, 5};
    for (int i = 0; i < 3; i++) {
        ky_context *c = make_ctx(m, kv_type, threads[i]);
        REQUIRE(c);
        CHECK(run(c, V, got, &n));
        CHECKF(n == n1 && memcmp(ref, got, sizeof(float) * (size_t)V * (size_t)n) == 0,
               "%s kv %s: %d threads change the logits", model, ky_type_name(kv_type), threads[i]);
        ky_context_free(c);
    }
    free(ref), free(got);
    ky_model_free(m);
}

static void test_llama_f16_cache(void) {
    threads_do_not_change_bits("tiny-llama-q8_0.gguf", KY_TYPE_F16);
}
static void test_llama_f32_cache(void) {
    threads_do_not_change_bits("tiny-llama-q4_k_m.gguf", KY_TYPE_F32);
}
static void test_qwen3(void) { threads_do_not_change_bits("tiny-qwen3-q8_0.gguf", KY_TYPE_F16); }

int main(void) {
    RUN(test_llama_f16_cache);
    RUN(test_llama_f32_cache);
    RUN(test_qwen3);
    TEST_EXIT();
}
