/* test_split.c — split GGUF models (llama.cpp's gguf-split layout) load as one model: a tiny model
 * is rewritten into 2 and 3 parts with the GGUF writer, and its logits must equal the original's
 * bit for bit; broken splits fail with a message naming the part. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "kaiyuan.h"
#include "test.h"

/* Writes src as n_parts files PREFIX-0000K-of-0000N.gguf (metadata in the first; tensors divided
 * evenly). total_override >= 0 writes a wrong split.tensors.count. */
static bool write_split(const char *src, const char *prefix, int n_parts, int64_t total_override) {
    ky_gguf *g;
    if (ky_gguf_open(src, &g, NULL) != KY_OK) return false;
    int64_t n_t = ky_gguf_n_tensors(g);
    bool ok = true;
    for (int p = 0; p < n_parts && ok; p++) {
        gguf_writer *w;
        if (gguf_writer_create(3, 0, &w, NULL) != KY_OK) {
            ok = false;
            break;
        }
        if (p == 0)
            for (int64_t k = 0; k < ky_gguf_n_kv(g) && ok; k++)
                ok = gguf_writer_copy_kv(w, g, k) == KY_OK;
        ok = ok && gguf_writer_set_u16(w, "split.no", (uint16_t)p) == KY_OK &&
             gguf_writer_set_u16(w, "split.count", (uint16_t)n_parts) == KY_OK &&
             gguf_writer_set_i32(w, "split.tensors.count",
                                 (int32_t)(total_override >= 0 ? total_override : n_t)) == KY_OK;
        for (int64_t i = n_t * p / n_parts; ok && i < n_t * (p + 1) / n_parts; i++)
            ok = gguf_writer_copy_tensor(w, g, i, NULL) == KY_OK;
        char path[1024];
        snprintf(path, sizeof path, "%s-%05d-of-%05d.gguf", prefix, p + 1, n_parts);
        ok = ok && gguf_writer_write_file(w, path) == KY_OK;
        gguf_writer_free(w);
    }
    ky_gguf_close(g);
    return ok;
}

/* Logits of the prompt's last position (n_vocab floats, malloc'd) or NULL. */
static float *last_logits(const char *path, int32_t *n_vocab, uint64_t *file_bytes) {
    ky_model *m;
    ky_error err;
    if (ky_model_load(path, NULL, &m, &err) != KY_OK) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    cp.kv_type = KY_TYPE_F32;
    ky_context *ctx;
    float *out = NULL;
    if (ky_context_create(m, &cp, &ctx, &err) == KY_OK) {
        ky_batch b;
        const ky_token ids[] = {1, 403, 407, 261, 378};
        if (ky_batch_init(&b, 8) == KY_OK) {
            for (int i = 0; i < 5; i++) ky_batch_add(&b, ids[i], i, 0, i == 4);
            if (ky_decode(ctx, &b) == KY_OK) {
                *n_vocab = ky_vocab_n_tokens(m);
                ky_model_info mi;
                ky_model_get_info(m, &mi);
                *n_vocab = mi.n_vocab;
                *file_bytes = mi.file_bytes;
                out = malloc((size_t)*n_vocab * sizeof *out);
                if (out) memcpy(out, ky_get_logits(ctx, 4), (size_t)*n_vocab * sizeof *out);
            }
            ky_batch_free(&b);
        }
        ky_context_free(ctx);
    }
    ky_model_free(m);
    return out;
}

static void split_loads_as_one(void) {
    const char *models[] = {"models/tiny-llama-q8_0.gguf", "models/tiny-qwen3moe-q4_k_m.gguf"};
    for (int mi = 0; mi < 2; mi++) {
        char src[1024];
        snprintf(src, sizeof src, "%s", ky_test_shared(models[mi]));
        int32_t nv0 = 0;
        uint64_t fb0 = 0;
        float *want = last_logits(src, &nv0, &fb0);
        REQUIRE(want);
        for (int parts = 2; parts <= 3; parts++) {
            char prefix[512], first[600];
            snprintf(prefix, sizeof prefix, "%s/m%d-p%d", ky_test_tmpdir(), mi, parts);
            REQUIRE(write_split(src, prefix, parts, -1));
            snprintf(first, sizeof first, "%s-00001-of-%05d.gguf", prefix, parts);
            int32_t nv = 0;
            uint64_t fb = 0;
            float *got = last_logits(first, &nv, &fb);
            CHECKF(got != NULL, "%s: %d parts do not load", models[mi], parts);
            if (got) {
                CHECK(nv == nv0);
                CHECKF(!memcmp(got, want, (size_t)nv0 * sizeof *got),
                       "%s: logits of %d parts differ", models[mi], parts);
                CHECKF(fb > fb0 / 2 && fb != 0, "file_bytes %llu counts every part",
                       (unsigned long long)fb);
            }
            free(got);
            for (int p = 1; p <= parts; p++) {
                char path[600];
                snprintf(path, sizeof path, "%s-%05d-of-%05d.gguf", prefix, p, parts);
                unlink(path);
            }
        }
        free(want);
    }
}

static void expect_load_error(const char *path, ky_status want, const char *needle) {
    ky_model *m;
    ky_error err;
    ky_status st = ky_model_load(path, NULL, &m, &err);
    CHECKF(st == want, "%s: status %s, want %s (%s)", path, ky_status_name(st),
           ky_status_name(want), st ? err.message : "loaded");
    if (st == KY_OK)
        ky_model_free(m);
    else
        CHECKF(strstr(err.message, needle), "%s: message '%s' lacks '%s'", path, err.message,
               needle);
}

static void broken_splits(void) {
    char src[1024], prefix[512], path[600];
    snprintf(src, sizeof src, "%s", ky_test_shared("models/tiny-llama-q8_0.gguf"));
    snprintf(prefix, sizeof prefix, "%s/broken", ky_test_tmpdir());
    REQUIRE(write_split(src, prefix, 3, -1));
    /* The second part is not where a model starts. */
    snprintf(path, sizeof path, "%s-00002-of-00003.gguf", prefix);
    expect_load_error(path, KY_ERR_INVALID_ARG, "part 2 of a 3-part split model");
    /* A missing part is named. */
    snprintf(path, sizeof path, "%s-00003-of-00003.gguf", prefix);
    REQUIRE(unlink(path) == 0);
    snprintf(path, sizeof path, "%s-00001-of-00003.gguf", prefix);
    expect_load_error(path, KY_ERR_IO, "part 3 of 3");
    snprintf(path, sizeof path, "%s-00002-of-00003.gguf", prefix);
    unlink(path);
    snprintf(path, sizeof path, "%s-00001-of-00003.gguf", prefix);
    unlink(path);
    /* A wrong total. */
    REQUIRE(write_split(src, prefix, 2, 5));
    snprintf(path, sizeof path, "%s-00001-of-00002.gguf", prefix);
    expect_load_error(path, KY_ERR_FORMAT, "split.tensors.count is 5");
    /* A first part renamed out of the pattern cannot find its siblings. */
    char renamed[600];
    snprintf(renamed, sizeof renamed, "%s/renamed.gguf", ky_test_tmpdir());
    REQUIRE(rename(path, renamed) == 0);
    expect_load_error(renamed, KY_ERR_FORMAT, "not named PREFIX-00001-of-00002.gguf");
    unlink(renamed);
    snprintf(path, sizeof path, "%s-00002-of-00002.gguf", prefix);
    unlink(path);
}

int main(void) {
    RUN(split_loads_as_one);
    RUN(broken_splits);
    TEST_EXIT();
}
