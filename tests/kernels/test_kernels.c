/* test_kernels.c — every kernel table this CPU runs against the generic reference.
 *
 * gemm: same quantized activations into each tier's and the generic gemm, for every weight type
 * and shapes that hit one block, many blocks, the optimized kernels' K chunking and ragged row /
 * token tails; padded strides. Integer paths are exact per block, so differences come only from
 * float summation order: tolerance 2e-5 of the tile's largest |y| (float paths: the reference sums
 * in double, tiers in float with 16-wide FMA chains; same bound). Activation quantizers must be
 * bit-exact. Vector helpers: 1e-5 relative (float order; silu's exp approximation). ky_matmul
 * with 1..3 pool threads: exact with the generic table, tolerance with the best one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_util.h"
#include "kernels/kernels.h"
#include "kernels/kernels_int.h"
#include "kernels/matmul.h"
#include "os/pool.h"
#include "tensor/quant.h"
#include "test.h"

static const ky_kernel_table *g_tabs[8];
static int g_n_tabs;

static size_t row_bytes(uint32_t type, int64_t n) {
    uint64_t b = 0;
    ky_type_row_bytes(type, n, &b);
    return (size_t)b;
}

/* Quantizes n_cols rows of x (n floats each) with table t into a fresh buffer. */
static void *quantize_rows(const ky_kernel_table *t, uint32_t at, const float *x, int64_t n,
                           int64_t n_cols, size_t *stride) {
    *stride = at == KY_TYPE_F32 ? (size_t)n * 4 : ky_kernels_act_row_bytes(at, n);
    char *q = malloc(*stride * (size_t)n_cols + 1);
    for (int64_t c = 0; c < n_cols; c++) t->quantize_act[at](x + c * n, q + (size_t)c * *stride, n);
    return q;
}

static int close_tile(const float *y, const float *ref, int64_t n_rows, int64_t n_cols, int64_t ldy,
                      double rel, const char *what) {
    double maxabs = 0;
    for (int64_t c = 0; c < n_cols; c++)
        for (int64_t r = 0; r < n_rows; r++) maxabs = fmax(maxabs, fabs(ref[c * ldy + r]));
    double tol = rel * maxabs + 1e-30;
    for (int64_t c = 0; c < n_cols; c++)
        for (int64_t r = 0; r < n_rows; r++) {
            double d = fabs((double)y[c * ldy + r] - ref[c * ldy + r]);
            if (!(d <= tol)) {
                fprintf(stderr, "%s: row %lld col %lld: got %.9g want %.9g (tol %.3g)\n", what,
                        (long long)r, (long long)c, y[c * ldy + r], ref[c * ldy + r], tol);
                return 0;
            }
        }
    return 1;
}

typedef struct shape {
    int64_t blocks, rows, cols;
} shape;

static void check_gemm_type(uint32_t type) {
    const ky_kernel_table *gen = ky_kernels_generic();
    const ky_type_traits *tr = ky_type_get_traits(type);
    int64_t bs = tr->block_size == 1 ? 32 : tr->block_size;
    uint32_t at = ky_kernels_act_type(type);
    /* blocks x rows x cols; 2336 = 73 blocks of 32 crosses the packed GEMM's 1024-element K chunk;
     * 1100 blocks cross the decode path's 32768-element chunk */
    const shape shapes[] = {{1, 1, 1},   {1, 5, 2},   {3, 17, 3}, {73, 35, 21},
                            {9, 16, 16}, {4, 33, 40}, {2, 64, 9}, {73, 3, 1}};
    int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < n_shapes; s++) {
        int64_t n = shapes[s].blocks * bs;
        if (bs == 256 && shapes[s].blocks == 73) n = 9 * 256;
        if (bs == 256 && shapes[s].blocks == 1100) n = 130 * 256; /* > 32768: decode K chunking */
        int64_t rows = shapes[s].rows, cols = shapes[s].cols, ldy = rows + 3;
        size_t rb = row_bytes(type, n), w_stride = rb + 64; /* padded rows */
        uint8_t *w = malloc(w_stride * (size_t)rows);
        for (int64_t r = 0; r < rows; r++) kt_random_row(type, w + (size_t)r * w_stride, n);
        float *x = malloc(sizeof(float) * (size_t)(n * cols));
        for (int64_t i = 0; i < n * cols; i++) x[i] = kt_randf() * (i % 7 == 0 ? 4.0f : 1.0f);
        size_t xs;
        void *xq = quantize_rows(gen, at, x, n, cols, &xs);
        float *yref = calloc((size_t)(ldy * cols), sizeof(float));
        float *y = calloc((size_t)(ldy * cols), sizeof(float));
        gen->gemm[type](n, w, w_stride, rows, xq, xs, cols, yref, ldy);
        for (int t = 0; t < g_n_tabs; t++) {
            const ky_kernel_table *kt = g_tabs[t];
            REQUIRE(kt->gemm[type] != NULL);
            size_t xs2;
            void *xq2 = quantize_rows(kt, at, x, n, cols, &xs2);
            CHECKF(xs2 == xs && memcmp(xq, xq2, xs * (size_t)cols) == 0,
                   "%s: quantize_act for %s not bit-exact (n=%lld)", kt->name, tr->name,
                   (long long)n);
            for (int64_t i = 0; i < ldy * cols; i++) y[i] = -12345.0f;
            kt->gemm[type](n, w, w_stride, rows, xq, xs, cols, y, ldy);
            char what[128];
            snprintf(what, sizeof what, "%s gemm %s n=%lld rows=%lld cols=%lld", kt->name, tr->name,
                     (long long)n, (long long)rows, (long long)cols);
            CHECKF(close_tile(y, yref, rows, cols, ldy, 2e-5, what), "%s", what);
            /* the padding between rows of y is untouched */
            for (int64_t c = 0; c < cols; c++)
                for (int64_t r = rows; r < ldy; r++) CHECK(y[c * ldy + r] == -12345.0f);
            free(xq2);
        }
        free(w);
        free(x);
        free(xq);
        free(yref);
        free(y);
    }
}

static void test_gemm_all_types(void) {
    for (int i = 0; i < KT_N_TYPES; i++) check_gemm_type(kt_weight_types[i]);
}

/* The generic gemm against dequantize(W) · dequantize(Xq) in double: checks the reference's
 * integer formulation itself (block layouts, offsets, scales). Tolerance 1e-5 of Σ|w·x|: the
 * reference rounds each block's scale product and its running sum to float. */
static void test_generic_vs_dequant(void) {
    const ky_kernel_table *gen = ky_kernels_generic();
    for (int ti = 0; ti < KT_N_TYPES; ti++) {
        uint32_t type = kt_weight_types[ti], at = ky_kernels_act_type(type);
        int64_t n = 768, rows = 7, cols = 3;
        size_t rb = row_bytes(type, n);
        uint8_t *w = malloc(rb * (size_t)rows);
        float *x = malloc(sizeof(float) * (size_t)(n * cols)), *wf = malloc(sizeof(float) * n);
        float *xf = malloc(sizeof(float) * (size_t)(n * cols)), y[7 * 3];
        for (int64_t r = 0; r < rows; r++) kt_random_row(type, w + (size_t)r * rb, n);
        for (int64_t i = 0; i < n * cols; i++) x[i] = kt_randf();
        size_t xs;
        void *xq = quantize_rows(gen, at, x, n, cols, &xs);
        /* act types F16/BF16 are F32 rows holding rounded values: read them as F32 */
        uint32_t at_storage = (at == KY_TYPE_F16 || at == KY_TYPE_BF16) ? KY_TYPE_F32 : at;
        for (int64_t c = 0; c < cols; c++)
            REQUIRE(ky_dequantize_row(at_storage, (char *)xq + (size_t)c * xs, xf + c * n, n));
        gen->gemm[type](n, w, rb, rows, xq, xs, cols, y, rows);
        for (int64_t r = 0; r < rows; r++) {
            REQUIRE(ky_dequantize_row(type, w + (size_t)r * rb, wf, n));
            for (int64_t c = 0; c < cols; c++) {
                double s = 0, sa = 0;
                for (int64_t i = 0; i < n; i++) {
                    s += (double)wf[i] * xf[c * n + i];
                    sa += fabs((double)wf[i] * xf[c * n + i]);
                }
                CHECKF(fabs(y[c * rows + r] - s) <= 1e-5 * sa + 1e-30,
                       "%s row %lld col %lld: gemm %.9g, double %.9g (sum|wx| %.3g)",
                       ky_type_name(type), (long long)r, (long long)c, y[c * rows + r], s, sa);
            }
        }
        free(w), free(x), free(wf), free(xf), free(xq);
    }
}

/* The optimized tables compute quantized products with the same per-block integer sums and float
 * operation order whether a product has one token (row kernels) or many (packed GEMM): a batch
 * must equal token-by-token products bit for bit (batched prompt processing then matches
 * sequential decoding, and results do not depend on how requests are batched). */
static void test_batch_exact(void) {
    const uint32_t types[] = {KY_TYPE_Q2_K, KY_TYPE_Q3_K, KY_TYPE_Q4_K, KY_TYPE_Q5_K, KY_TYPE_Q6_K,
                              KY_TYPE_Q4_0, KY_TYPE_Q4_1, KY_TYPE_Q5_0, KY_TYPE_Q5_1, KY_TYPE_Q8_0,
                              KY_TYPE_F16,  KY_TYPE_BF16, KY_TYPE_F32};
    /* Row lengths: 5 super-blocks (crosses the packed 1024-element chunk; a group of four plus
     * one), 7 (a group plus three), 9 (two groups: the second adds to a non-zero sum; three
     * chunks), 1; 32-element types also 37 and 3 blocks (odd chunk tails). Tokens: 2-7 (the
     * multi-token row dots; 4|5 and 7|8 straddle the packed GEMM's thresholds, 8|9 the row dots'
     * 8-token passes), 11 and 17 (the packed micro-tiles and their tails); rows 37: panels plus
     * a ragged one. */
    const int64_t sizes[] = {5 * 256, 7 * 256, 9 * 256, 256, 37 * 32, 3 * 32};
    const int n_sizes = (int)(sizeof sizes / sizeof sizes[0]);
    const ky_kernel_table *gen = ky_kernels_generic();
    const int64_t col_counts[] = {2, 3, 4, 5, 7, 8, 9, 11, 17};
    int64_t rows = 37;
    for (int ci = 0; ci < (int)(sizeof col_counts / sizeof col_counts[0]); ci++) {
        int64_t cols = col_counts[ci];
        for (int ti = 0; ti < (int)(sizeof types / sizeof types[0]); ti++) {
            for (int si = 0; si < n_sizes; si++) {
                uint32_t type = types[ti], at = ky_kernels_act_type(type);
                int64_t n = sizes[si];
                if (n % ky_type_get_traits(type)->block_size) continue;
                size_t rb = row_bytes(type, n);
                uint8_t *w = malloc(rb * (size_t)rows);
                for (int64_t r = 0; r < rows; r++) kt_random_row(type, w + (size_t)r * rb, n);
                float *x = malloc(sizeof(float) * (size_t)(n * cols));
                for (int64_t i = 0; i < n * cols; i++) x[i] = kt_randf();
                size_t xs;
                void *xq = quantize_rows(gen, at, x, n, cols, &xs);
                float *yb = calloc((size_t)(rows * cols), sizeof(float));
                float *y1 = calloc((size_t)(rows * cols), sizeof(float));
                for (int t = 0; t < g_n_tabs; t++) {
                    const ky_kernel_table *kt = g_tabs[t];
                    if (kt->gemm[type] == gen->gemm[type]) continue;
                    kt->gemm[type](n, w, rb, rows, xq, xs, cols, yb, rows);
                    for (int64_t c = 0; c < cols; c++)
                        kt->gemm[type](n, w, rb, rows, (const char *)xq + (size_t)c * xs, xs, 1,
                                       y1 + c * rows, rows);
                    CHECKF(memcmp(yb, y1, sizeof(float) * (size_t)(rows * cols)) == 0,
                           "%s %s n=%lld, %lld tokens: batched product differs from token-by-token",
                           kt->name, ky_type_name(type), (long long)n, (long long)cols);
                }
                free(w), free(x), free(xq), free(yb), free(y1);
            }
        }
    }
}

/* Quantizers on edge inputs: zeros, one huge value, ties, negative maxima. */
static void test_quantize_act_edges(void) {
    const ky_kernel_table *gen = ky_kernels_generic();
    const uint32_t ats[] = {KY_TYPE_Q8_0, KY_TYPE_Q8_1, KY_TYPE_Q8_K};
    enum { N = 1024 };
    float x[N];
    for (int variant = 0; variant < 4; variant++) {
        for (int i = 0; i < N; i++) {
            switch (variant) {
            case 0: x[i] = 0; break;
            case 1: x[i] = i == 300 ? -1000.0f : kt_randf() * 0.001f; break;
            case 2: x[i] = (float)((i % 255) - 127) * 0.5f; break; /* exact halves */
            default: x[i] = i < 512 ? 0.0f : kt_randf() * 3.0f; break;
            }
        }
        for (int a = 0; a < 3; a++) {
            size_t s1, s2;
            void *q1 = quantize_rows(gen, ats[a], x, N, 1, &s1);
            for (int t = 0; t < g_n_tabs; t++) {
                void *q2 = quantize_rows(g_tabs[t], ats[a], x, N, 1, &s2);
                CHECKF(memcmp(q1, q2, s1) == 0, "%s act %u variant %d", g_tabs[t]->name, ats[a],
                       variant);
                free(q2);
            }
            free(q1);
        }
    }
}

static int close_rel(double a, double b, double rel) {
    return fabs(a - b) <= rel * fmax(1.0, fmax(fabs(a), fabs(b)));
}

static void test_vector_helpers(void) {
    const ky_kernel_table *gen = ky_kernels_generic();
    const int64_t sizes[] = {1, 7, 16, 33, 100, 896, 1027};
    for (int si = 0; si < 7; si++) {
        int64_t n = sizes[si];
        float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
        float *y1 = malloc(sizeof(float) * (size_t)n), *y2 = malloc(sizeof(float) * (size_t)n);
        float *w = malloc(sizeof(float) * (size_t)n);
        uint16_t *h = malloc(2 * (size_t)n), *h2 = malloc(2 * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            a[i] = kt_randf() * 3;
            b[i] = kt_randf() * 3;
            w[i] = 1.0f + kt_randf() * 0.5f;
            h[i] = ky_f32_to_f16(kt_randf() * 2);
        }
        for (int t = 0; t < g_n_tabs; t++) {
            const ky_kernel_table *kt = g_tabs[t];
            double scale = sqrt((double)n) * 9.0; /* typical |Σ a·b| magnitude bound */
            CHECKF(fabs(kt->dot_f32(a, b, n) - gen->dot_f32(a, b, n)) <= 1e-5 * scale,
                   "%s dot_f32 n=%lld", kt->name, (long long)n);
            CHECKF(fabs(kt->dot_f16(h, b, n) - gen->dot_f16(h, b, n)) <= 1e-5 * scale,
                   "%s dot_f16 n=%lld", kt->name, (long long)n);
            memcpy(y1, b, sizeof(float) * (size_t)n);
            memcpy(y2, b, sizeof(float) * (size_t)n);
            gen->axpy_f32(0.7f, a, y1, n);
            kt->axpy_f32(0.7f, a, y2, n);
            for (int64_t i = 0; i < n; i++) CHECK(close_rel(y1[i], y2[i], 1e-6));
            gen->axpy_f16(-1.3f, h, y1, n);
            kt->axpy_f16(-1.3f, h, y2, n);
            for (int64_t i = 0; i < n; i++) CHECK(close_rel(y1[i], y2[i], 1e-6));
            gen->scale_f32(0.3f, y1, n);
            kt->scale_f32(0.3f, y2, n);
            for (int64_t i = 0; i < n; i++) CHECK(close_rel(y1[i], y2[i], 1e-6));
            gen->f32_to_f16(a, h, n);
            kt->f32_to_f16(a, h2, n);
            CHECKF(memcmp(h, h2, 2 * (size_t)n) == 0, "%s f32_to_f16", kt->name);
            gen->rmsnorm(a, w, y1, n, 1e-6f);
            memcpy(y2, a, sizeof(float) * (size_t)n);
            kt->rmsnorm(y2, w, y2, n, 1e-6f); /* in place */
            for (int64_t i = 0; i < n; i++) CHECK(close_rel(y1[i], y2[i], 1e-5));
            memcpy(y1, a, sizeof(float) * (size_t)n);
            memcpy(y2, a, sizeof(float) * (size_t)n);
            gen->silu_mul(y1, b, n);
            kt->silu_mul(y2, b, n);
            for (int64_t i = 0; i < n; i++)
                CHECKF(close_rel(y1[i], y2[i], 1e-5), "%s silu %g vs %g", kt->name, y1[i], y2[i]);
            /* softmax terms: the same bits in every tier (llama.cpp's order), close to libm */
            for (int64_t i = 0; i < n; i++) y1[i] = y2[i] = a[i] * 8.0f - 2.0f;
            double s1 = gen->exp_sum(y1, n, 3.0f), s2 = kt->exp_sum(y2, n, 3.0f), ref = 0;
            CHECKF(s1 == s2 && memcmp(y1, y2, sizeof(float) * (size_t)n) == 0,
                   "%s exp_sum n=%lld: %.17g vs %.17g", kt->name, (long long)n, s1, s2);
            for (int64_t i = 0; i < n; i++) {
                double e = exp((double)(a[i] * 8.0f - 2.0f) - 3.0);
                CHECKF(fabs(y1[i] - e) <= 2e-6 * e, "exp_sum x[%lld] %g vs %g", (long long)i, y1[i],
                       e);
                ref += e;
            }
            CHECKF(fabs(s1 - ref) <= 1e-5 * ref, "exp_sum %g vs %g", s1, ref);
        }
        free(a), free(b), free(y1), free(y2), free(w), free(h), free(h2);
    }
    /* exp_sum's order: 16-element chunks summed by halving, chunk sums in double. With 1 and 2^-24
     * terms the order is visible: (1 + 2^-24) rounds back to 1 in float, so a sequential or a
     * double sum gives another result than the tree. */
    {
        float x[20];
        for (int i = 0; i < 20; i++) x[i] = -16.635532333438687f; /* ln 2^-24 */
        x[0] = 0.0f;
        x[16] = 0.0f;
        float one = kernels_expf_approx(0.0f), t16 = kernels_expf_approx(x[1]);
        double want = 0.0;
        for (int c = 0; c < 20; c += 16) { /* lane sums: tree over 16 (zero-padded) */
            float v[16];
            for (int k = 0; k < 16; k++) v[k] = c + k < 20 ? (x[c + k] == 0 ? one : t16) : 0.0f;
            for (int w = 8; w >= 1; w /= 2)
                for (int k = 0; k < w; k++) v[k] += v[k + w];
            want += v[0];
        }
        for (int t = 0; t < g_n_tabs; t++) {
            float y[20];
            memcpy(y, x, sizeof y);
            double got = g_tabs[t]->exp_sum(y, 20, 0.0f);
            CHECKF(got == want, "%s exp_sum order: %.17g vs %.17g", g_tabs[t]->name, got, want);
        }
    }
    /* f16 conversion edge cases: subnormals, overflow, ties */
    float e[] = {0.0f,     -0.0f,    65504.0f,  65520.0f,      1e6f,           -1e6f,
                 5.96e-8f, 2.98e-8f, 6.1e-5f,   1.0009765625f, 1.00048828125f, 1.00146484375f,
                 -3.0e-7f, 1e-10f,   0.333333f, 7.0f};
    uint16_t he[16], he2[16];
    gen->f32_to_f16(e, he, 16);
    for (int t = 0; t < g_n_tabs; t++) {
        g_tabs[t]->f32_to_f16(e, he2, 16);
        CHECKF(memcmp(he, he2, sizeof he) == 0, "%s f32_to_f16 edges", g_tabs[t]->name);
    }
}

/* ky_matmul over pools of 1..3 threads against the single-threaded generic product. */
static void test_matmul_threads(void) {
    const uint32_t types[] = {KY_TYPE_Q8_0, KY_TYPE_Q4_K, KY_TYPE_Q6_K, KY_TYPE_Q5_0,
                              KY_TYPE_F16,  KY_TYPE_Q5_1, KY_TYPE_F32};
    /* (rows, tokens): row chunks for 1/5/40 tokens; token chunks when tokens outnumber rows */
    const int64_t shapes[][2] = {{100, 1}, {100, 5}, {100, 40}, {20, 130}};
    const ky_kernel_table *gen = ky_kernels_generic(), *best = ky_kernels();
    int64_t n_in = 512, n_out = 100, ldx = n_in + 8, ldy = n_out + 5;
    for (int ti = 0; ti < 7; ti++) {
        uint32_t type = types[ti], at = ky_kernels_act_type(type);
        size_t rb = row_bytes(type, n_in);
        uint8_t *w = malloc(rb * (size_t)n_out);
        for (int64_t r = 0; r < n_out; r++) kt_random_row(type, w + (size_t)r * rb, n_in);
        ky_matrix m = {w, type, n_in, n_out, rb};
        for (int tk = 0; tk < 4; tk++) {
            int64_t n_tok = shapes[tk][1];
            m.n_out = shapes[tk][0];
            float *x = malloc(sizeof(float) * (size_t)(ldx * n_tok));
            for (int64_t i = 0; i < ldx * n_tok; i++) x[i] = kt_randf();
            float *yref = calloc((size_t)(ldy * n_tok), sizeof(float));
            float *y = calloc((size_t)(ldy * n_tok), sizeof(float));
            /* reference: contiguous copy of x, generic quantize + gemm */
            float *xc = malloc(sizeof(float) * (size_t)(n_in * n_tok));
            for (int64_t t = 0; t < n_tok; t++)
                memcpy(xc + t * n_in, x + t * ldx, sizeof(float) * (size_t)n_in);
            size_t xs;
            void *xq = quantize_rows(gen, at, xc, n_in, n_tok, &xs);
            gen->gemm[type](n_in, w, rb, m.n_out, xq, xs, n_tok, yref, ldy);
            void *scratch = malloc(ky_matmul_scratch_bytes(&m, n_tok) + 1);
            for (int nth = 1; nth <= 3; nth++) {
                ky_pool *pool = NULL;
                ky_error err;
                REQUIRE(ky_pool_create(nth, &pool, &err) == KY_OK);
                memset(y, 0, sizeof(float) * (size_t)(ldy * n_tok));
                ky_matmul(pool, gen, &m, x, ldx, n_tok, y, ldy, scratch);
                CHECKF(memcmp(y, yref, sizeof(float) * (size_t)(ldy * n_tok)) == 0,
                       "generic matmul %s n_tok %lld threads %d", ky_type_name(type),
                       (long long)n_tok, nth);
                memset(y, 0, sizeof(float) * (size_t)(ldy * n_tok));
                ky_matmul(pool, best, &m, x, ldx, n_tok, y, ldy, scratch);
                CHECKF(close_tile(y, yref, m.n_out, n_tok, ldy, 2e-5, "best matmul"),
                       "%s matmul %s n_tok %lld threads %d", best->name, ky_type_name(type),
                       (long long)n_tok, nth);
                ky_pool_free(pool);
            }
            free(scratch), free(xq), free(xc), free(x), free(y), free(yref);
        }
        free(w);
    }
}

/* ky_matmul_multi with mixed act types equals separate ky_matmul calls. */
static void test_matmul_multi(void) {
    const uint32_t types[3] = {KY_TYPE_Q5_0, KY_TYPE_Q8_0, KY_TYPE_Q4_K};
    const int64_t outs[3] = {64, 48, 80};
    int64_t n_in = 256, n_tok = 9;
    ky_matrix m[3];
    const ky_matrix *mp[3];
    uint8_t *w[3];
    float *y[3], *y1[3];
    int64_t ldy[3];
    for (int k = 0; k < 3; k++) {
        size_t rb = row_bytes(types[k], n_in);
        w[k] = malloc(rb * (size_t)outs[k]);
        for (int64_t r = 0; r < outs[k]; r++) kt_random_row(types[k], w[k] + (size_t)r * rb, n_in);
        m[k] = (ky_matrix){w[k], types[k], n_in, outs[k], rb};
        mp[k] = &m[k];
        ldy[k] = outs[k];
        y[k] = calloc((size_t)(outs[k] * n_tok), sizeof(float));
        y1[k] = calloc((size_t)(outs[k] * n_tok), sizeof(float));
    }
    float *x = malloc(sizeof(float) * (size_t)(n_in * n_tok));
    for (int64_t i = 0; i < n_in * n_tok; i++) x[i] = kt_randf();
    ky_pool *pool = NULL;
    ky_error err;
    REQUIRE(ky_pool_create(2, &pool, &err) == KY_OK);
    const ky_kernel_table *kt = ky_kernels();
    void *scratch = malloc(ky_matmul_multi_scratch_bytes(3, mp, n_tok));
    ky_matmul_multi(pool, kt, 3, mp, x, n_in, n_tok, y, ldy, scratch);
    for (int k = 0; k < 3; k++) {
        void *s1 = malloc(ky_matmul_scratch_bytes(&m[k], n_tok));
        ky_matmul(pool, kt, &m[k], x, n_in, n_tok, y1[k], ldy[k], s1);
        CHECKF(memcmp(y[k], y1[k], sizeof(float) * (size_t)(outs[k] * n_tok)) == 0,
               "multi vs single, weight %d", k);
        free(s1);
    }
    ky_pool_free(pool);
    free(scratch), free(x);
    for (int k = 0; k < 3; k++) free(w[k]), free(y[k]), free(y1[k]);
}

/* Activations for F16/BF16 weights are F32 values rounded to the weight's precision, as llama.cpp
 * converts them; every table produces the same bits. */
static void test_float_act_rounding(void) {
    float x[37], y[37];
    for (int i = 0; i < 37; i++) x[i] = kt_randf() * 3.0f;
    x[0] = 1.0f + 1.0f / 4096.0f; /* rounds to 1 in f16 (ties to even) and bf16 */
    for (int t = 0; t < g_n_tabs; t++) {
        g_tabs[t]->quantize_act[KY_TYPE_F16](x, y, 37);
        for (int i = 0; i < 37; i++) CHECK(y[i] == ky_f16_to_f32(ky_f32_to_f16(x[i])));
        CHECK(y[0] == 1.0f);
        g_tabs[t]->quantize_act[KY_TYPE_BF16](x, y, 37);
        for (int i = 0; i < 37; i++) CHECK(y[i] == ky_bf16_to_f32(ky_f32_to_bf16(x[i])));
    }
    CHECK(ky_kernels_act_row_bytes(KY_TYPE_F16, 10) == 40);
}

static void test_tables_listed(void) {
    CHECK(g_n_tabs >= 1);
    CHECK(strcmp(g_tabs[g_n_tabs - 1]->name, "generic") == 0);
    CHECK(ky_kernels() == g_tabs[0] || getenv("KY_KERNELS") != NULL);
    CHECK(strcmp(ky_kernels_name(), ky_kernels()->name) == 0);
    CHECK(ky_kernels_act_type(KY_TYPE_Q4_K) == KY_TYPE_Q8_K);
    CHECK(ky_kernels_act_type(KY_TYPE_Q5_1) == KY_TYPE_Q8_1);
    CHECK(ky_kernels_act_type(KY_TYPE_BF16) == KY_TYPE_BF16);
    CHECK(ky_kernels_act_type(KY_TYPE_F16) == KY_TYPE_F16);
    CHECK(ky_kernels_act_type(KY_TYPE_F32) == KY_TYPE_F32);
    CHECK(ky_kernels_act_type(KY_TYPE_Q8_K) == KY_TYPE_COUNT);
    for (int t = 0; t < g_n_tabs; t++) fprintf(stderr, "table %d: %s\n", t, g_tabs[t]->name);
}

int main(void) {
    g_n_tabs = ky_kernels_available(g_tabs, 8);
    RUN(test_tables_listed);
    RUN(test_float_act_rounding);
    RUN(test_generic_vs_dequant);
    RUN(test_gemm_all_types);
    RUN(test_batch_exact);
    RUN(test_quantize_act_edges);
    RUN(test_vector_helpers);
    RUN(test_matmul_threads);
    RUN(test_matmul_multi);
    TEST_EXIT();
}
