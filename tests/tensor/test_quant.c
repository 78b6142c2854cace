/* test_quant.c — reference weight quantizers: byte identity with llama.cpp's files, round-trip
 * error bounds on seeded random data, edge cases and the generic API.
 *
 * The tiny-llama-TYPE.gguf files were written by llama-quantize (no importance matrix) from the
 * weights of tiny-llama-f32.gguf, so quantizing each f32 tensor must reproduce the stored bytes
 * exactly, for every type the files contain.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "qcheck.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "test.h"

static const char *const k_files[] = {"f16",  "bf16", "q8_0",   "q4_0",   "q4_1",   "q5_0",
                                      "q5_1", "q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"};

static const uint32_t k_weight_types[] = {KY_TYPE_F16,  KY_TYPE_BF16, KY_TYPE_Q8_0, KY_TYPE_Q4_0,
                                          KY_TYPE_Q4_1, KY_TYPE_Q5_0, KY_TYPE_Q5_1, KY_TYPE_Q2_K,
                                          KY_TYPE_Q3_K, KY_TYPE_Q4_K, KY_TYPE_Q5_K, KY_TYPE_Q6_K};
#define N_WEIGHT_TYPES (sizeof k_weight_types / sizeof k_weight_types[0])

static ky_gguf *open_model(const char *type) {
    char rel[128];
    snprintf(rel, sizeof rel, "models/tiny-llama-%s.gguf", type);
    ky_gguf *g = NULL;
    ky_error err;
    if (ky_gguf_open(ky_test_shared(rel), &g, &err) != KY_OK) {
        fprintf(stderr, "cannot open %s\n", rel);
        return NULL;
    }
    return g;
}

/* Quantizes every f32 tensor to the type stored in each quantized file and compares bytes.
 * Under the sanitizers only the first 64 rows of each tensor are compared (same code paths). */
static void test_quant_matches_llamacpp_files(void) {
    int64_t n_tensors[KY_TYPE_COUNT] = {0}, n_same[KY_TYPE_COUNT] = {0};
    uint64_t n_bytes[KY_TYPE_COUNT] = {0};
    ky_gguf *f32 = open_model("f32");
    REQUIRE(f32);
    for (size_t f = 0; f < sizeof k_files / sizeof k_files[0]; f++) {
        ky_gguf *q = open_model(k_files[f]);
        CHECK(q);
        if (!q) continue;
        for (int64_t i = 0; i < ky_gguf_n_tensors(q); i++) {
            ky_gguf_tensor_info ti, fi;
            REQUIRE(ky_gguf_tensor(q, i, &ti) == KY_OK);
            if (ti.type == KY_TYPE_F32) continue;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)ti.name_len, ti.name);
            int64_t fidx = ky_gguf_find_tensor(f32, name);
            REQUIRE(fidx >= 0 && ky_gguf_tensor(f32, fidx, &fi) == KY_OK);
            REQUIRE(fi.type == KY_TYPE_F32 && memcmp(fi.ne, ti.ne, sizeof fi.ne) == 0);
            int64_t n_rows = (int64_t)(fi.n_bytes / 4) / fi.ne[0];
            if (ky_test_sanitized() && n_rows > 64) n_rows = 64;
            const int64_t n = n_rows * fi.ne[0];
            uint64_t bytes;
            REQUIRE(ky_type_row_bytes(ti.type, n, &bytes) && bytes <= ti.n_bytes);
            uint8_t *buf = malloc(bytes);
            REQUIRE(buf);
            CHECK(ky_can_quantize(ti.type));
            CHECKF(ky_quantize_row(ti.type, fi.data, buf, n), "%s %s", k_files[f], name);
            size_t first = SIZE_MAX;
            for (size_t b = 0; b < bytes && first == SIZE_MAX; b++)
                if (buf[b] != ((const uint8_t *)ti.data)[b]) first = b;
            CHECKF(first == SIZE_MAX, "%s: %s (%s): first differing byte %zu of %llu", k_files[f],
                   name, ky_type_name(ti.type), first, (unsigned long long)bytes);
            n_tensors[ti.type]++;
            n_same[ti.type] += first == SIZE_MAX;
            n_bytes[ti.type] += bytes;
            free(buf);
        }
        ky_gguf_close(q);
    }
    ky_gguf_close(f32);
    for (size_t k = 0; k < N_WEIGHT_TYPES; k++) {
        uint32_t t = k_weight_types[k];
        CHECKF(n_tensors[t] > 0, "no %s tensor seen", ky_type_name(t));
        printf("# %-5s %3lld/%-3lld tensors byte-identical to llama.cpp's (%llu bytes compared)\n",
               ky_type_name(t), (long long)n_same[t], (long long)n_tensors[t],
               (unsigned long long)n_bytes[t]);
    }
}

/* Seeded test data: each distribution stresses another part of the scale searches. */
enum {
    DIST_GAUSS,
    DIST_OFFSET,
    DIST_OUTLIERS,
    DIST_UNIFORM,
    DIST_LEVELS,
    DIST_MIXED_SCALE,
    N_DIST
};
static const char *const k_dist_names[N_DIST] = {"gauss",   "gauss+2",  "outliers",
                                                 "uniform", "5 levels", "mixed scale"};

static void fill(float *x, int64_t n, int dist) {
    for (int64_t i = 0; i < n; i++) {
        switch (dist) {
        case DIST_GAUSS: x[i] = qc_gauss(); break;
        case DIST_OFFSET: x[i] = qc_gauss() * 0.5f + 2.0f; break; /* all positive */
        case DIST_OUTLIERS:
            x[i] = qc_next() % 64 == 0 ? qc_gauss() * 30 : qc_gauss() * 0.05f;
            break;
        case DIST_UNIFORM: x[i] = qc_uniform() * 2 - 1; break;
        case DIST_LEVELS: x[i] = (float)((int)(qc_next() % 5) - 2) * 0.125f; break; /* exact ties */
        case DIST_MIXED_SCALE: x[i] = qc_gauss() * powf(10.0f, (float)((i / 256) % 7) - 3); break;
        }
    }
}

/* Round trip on random rows: every element within its format's bound (qcheck.h: half a step
 * for round-to-nearest formats plus the f16 rounding of the scales, one step for the clamped end
 * of Q4_0/Q5_0, the nearest grid point for K-quants). For N(0,1) rows the RMS error must also stay
 * under a ceiling: uniform rounding noise step/sqrt(12) with the typical step of each format
 * (e.g. Q4_0: amax/8 ~ 2.1/8 -> 0.075, plus the clamped end), with ~10% margin. */
static void test_quant_roundtrip_random(void) {
    const int64_t n = ky_test_sanitized() ? 256 * 16 : 256 * 128;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    uint8_t *q = malloc((size_t)n * 2);
    REQUIRE(x && y && q);
    for (size_t k = 0; k < N_WEIGHT_TYPES; k++) {
        uint32_t t = k_weight_types[k];
        qc_stats all = {0};
        for (int dist = 0; dist < N_DIST; dist++) {
            qc_seed(1000 + 17 * (uint64_t)dist);
            fill(x, n, dist);
            REQUIRE(ky_quantize_row(t, x, q, n));
            REQUIRE(ky_dequantize_row(t, q, y, n));
            qc_stats s = {0};
            qc_check_row(t, q, x, y, n, &s);
            CHECKF(s.n == n && s.n_bad == 0, "%s on %s: %lld elements over the bound",
                   ky_type_name(t), k_dist_names[dist], (long long)s.n_bad);
            all.n += s.n;
            all.sum_sq += s.sum_sq;
            all.sum_x2 += s.sum_x2;
            all.max_abs = fmax(all.max_abs, s.max_abs);
            all.max_steps = fmax(all.max_steps, s.max_steps);
            if (dist == DIST_GAUSS) {
                char what[64];
                snprintf(what, sizeof what, "roundtrip %s N(0,1)", ky_type_name(t));
                qc_print(what, &s);
                double rel = sqrt(s.sum_sq / s.sum_x2);
                double ceiling = t == KY_TYPE_F16    ? 3e-4
                                 : t == KY_TYPE_BF16 ? 2.5e-3
                                 : t == KY_TYPE_Q8_0 ? 0.006
                                 : t == KY_TYPE_Q6_K ? 0.02
                                 : (t == KY_TYPE_Q5_0 || t == KY_TYPE_Q5_1 || t == KY_TYPE_Q5_K)
                                     ? 0.045
                                 : t == KY_TYPE_Q3_K ? 0.17
                                 : t == KY_TYPE_Q2_K ? 0.33
                                                     : 0.09;
                CHECKF(rel <= ceiling, "%s: rms/rms(x) %g > %g", ky_type_name(t), rel, ceiling);
            }
        }
        char what[64];
        snprintf(what, sizeof what, "roundtrip %s all", ky_type_name(t));
        qc_print(what, &all);
    }
    free(x);
    free(y);
    free(q);
}

/* Zero, constant, one-outlier, tiny and large rows: no NaN/Inf, zero stays exactly zero, and the
 * per-element bounds hold wherever the scales fit in f16. */
static void test_quant_edge_cases(void) {
    enum { N = 512 };
    float x[N], y[N];
    _Alignas(8) uint8_t q[N * 2];
    for (size_t k = 0; k < N_WEIGHT_TYPES; k++) {
        uint32_t t = k_weight_types[k];
        const char *tn = ky_type_name(t);
        /* zeros (and negative zeros) dequantize to exactly 0 */
        for (int i = 0; i < N; i++) x[i] = i % 3 ? 0.0f : -0.0f;
        REQUIRE(ky_quantize_row(t, x, q, N) && ky_dequantize_row(t, q, y, N));
        for (int i = 0; i < N; i++) CHECKF(y[i] == 0.0f, "%s zero row: y[%d] = %g", tn, i, y[i]);
        for (int c = 0; c < 5; c++) {
            qc_stats s = {0};
            switch (c) {
            case 0:
                for (int i = 0; i < N; i++) x[i] = 0.37f;
                break; /* constant */
            case 1:
                for (int i = 0; i < N; i++) x[i] = -1234.5f;
                break; /* negative const */
            case 2:    /* one outlier per block of 256 among small values */
                for (int i = 0; i < N; i++)
                    x[i] = (i % 256 == 77) ? 1000.0f : 1e-3f * (float)(i % 7);
                break;
            case 3:
                for (int i = 0; i < N; i++) x[i] = 3e-7f * (float)((i * 37) % 11 - 5);
                break;
            case 4:
                for (int i = 0; i < N; i++) x[i] = 3e4f * sinf((float)i);
                break; /* large */
            }
            REQUIRE(ky_quantize_row(t, x, q, N) && ky_dequantize_row(t, q, y, N));
            int finite = 1;
            for (int i = 0; i < N; i++) finite &= isfinite(y[i]);
            CHECKF(finite, "%s case %d: non-finite output", tn, c);
            if (c == 3 && t != KY_TYPE_F16 && t != KY_TYPE_BF16) {
                /* scales in the f16 subnormal range lose precision (as in llama.cpp): only
                 * require outputs of the inputs' size (|x| <= 1.5e-6 here) */
                for (int i = 0; i < N; i++)
                    CHECKF(fabsf(y[i]) <= 4e-6f, "%s tiny: y[%d] = %g vs %g", tn, i, y[i], x[i]);
                continue;
            }
            qc_check_row(t, q, x, y, N, &s);
            CHECKF(s.n_bad == 0, "%s case %d: %lld elements over the bound", tn, c,
                   (long long)s.n_bad);
        }
    }
}

/* Non-finite and extreme inputs: the results are meaningless (llama.cpp's are too), but no
 * quantizer may read or write out of bounds or hit undefined behaviour (run under UBSan). */
static void test_quant_garbage_inputs(void) {
    enum { N = 512 };
    float x[N];
    _Alignas(8) uint8_t q[N * 2 + 64];
    float y[N];
    static const uint32_t types[] = {KY_TYPE_F16,  KY_TYPE_BF16, KY_TYPE_Q4_0, KY_TYPE_Q4_1,
                                     KY_TYPE_Q5_0, KY_TYPE_Q5_1, KY_TYPE_Q8_0, KY_TYPE_Q8_1,
                                     KY_TYPE_Q2_K, KY_TYPE_Q3_K, KY_TYPE_Q4_K, KY_TYPE_Q5_K,
                                     KY_TYPE_Q6_K, KY_TYPE_Q8_K};
    for (int c = 0; c < 5; c++) {
        qc_seed(77 + (uint64_t)c);
        for (int i = 0; i < N; i++) {
            float g = qc_gauss();
            switch (c) {
            case 0: x[i] = i % 5 == 0 ? NAN : g; break;
            case 1: x[i] = i % 7 == 0 ? (i % 2 ? INFINITY : -INFINITY) : g; break;
            case 2: x[i] = g * 1e-40f; break; /* f32 subnormals: scales overflow their inverse */
            case 3: x[i] = g * 1e38f; break;  /* scales overflow f16 */
            case 4: x[i] = (qc_next() & 1) ? NAN : INFINITY; break;
            }
        }
        for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
            q[N * 2 + 63] = 0xEE;
            CHECK(ky_quantize_row(types[k], x, q, N));
            CHECK(ky_dequantize_row(types[k], q, y, N));
            CHECKF(q[N * 2 + 63] == 0xEE, "%s wrote past its row", ky_type_name(types[k]));
        }
    }
}

static void test_quant_api(void) {
    float x[256] = {0};
    _Alignas(8) uint8_t q[1024];
    static const uint32_t ok_types[] = {KY_TYPE_F32,  KY_TYPE_F16,  KY_TYPE_BF16, KY_TYPE_Q4_0,
                                        KY_TYPE_Q4_1, KY_TYPE_Q5_0, KY_TYPE_Q5_1, KY_TYPE_Q8_0,
                                        KY_TYPE_Q8_1, KY_TYPE_Q2_K, KY_TYPE_Q3_K, KY_TYPE_Q4_K,
                                        KY_TYPE_Q5_K, KY_TYPE_Q6_K, KY_TYPE_Q8_K};
    for (size_t k = 0; k < sizeof ok_types / sizeof ok_types[0]; k++) {
        uint32_t t = ok_types[k];
        CHECKF(ky_can_quantize(t), "%u", t);
        CHECKF(ky_quantize_row(t, x, q, 256), "%u", t);
        memset(q, 0x5A, sizeof q);
        CHECKF(ky_quantize_row(t, x, q, 0) && q[0] == 0x5A, "%u: n = 0 writes nothing", t);
        CHECKF(!ky_quantize_row(t, x, q, -256) && q[0] == 0x5A, "%u", t);
        if (ky_type_get_traits(t)->block_size > 1)
            CHECKF(!ky_quantize_row(t, x, q, 48) && q[0] == 0x5A, "%u", t);
    }
    static const uint32_t bad_types[] = {4, 5, 16, 20, 23, 24, 29, 39, 40, 1000, UINT32_MAX};
    for (size_t k = 0; k < sizeof bad_types / sizeof bad_types[0]; k++) {
        CHECKF(!ky_can_quantize(bad_types[k]), "%u", bad_types[k]);
        CHECKF(!ky_quantize_row(bad_types[k], x, q, 256), "%u", bad_types[k]);
    }
    /* F32 "quantization" is a copy; Q8_1 through the generic entry equals the typed call */
    for (int i = 0; i < 256; i++) x[i] = (float)i * 0.25f - 7.0f;
    float back[256];
    CHECK(ky_quantize_row(KY_TYPE_F32, x, q, 256) && memcmp(q, x, sizeof x) == 0);
    CHECK(ky_dequantize_row(KY_TYPE_F32, q, back, 256) && memcmp(back, x, sizeof x) == 0);
    block_q8_1 a[8];
    ky_quantize_row_q8_1(x, a, 256);
    CHECK(ky_quantize_row(KY_TYPE_Q8_1, x, q, 256) && memcmp(q, a, sizeof a) == 0);
}

int main(void) {
    RUN(test_quant_matches_llamacpp_files);
    RUN(test_quant_roundtrip_random);
    RUN(test_quant_edge_cases);
    RUN(test_quant_garbage_inputs);
    RUN(test_quant_api);
    TEST_EXIT();
}
