/* float_avx2.c — AVX2+FMA+F16C products for F32/F16/BF16 weights and the vector helpers (layer:
 * kernels/x86).
 *
 * Same structure as float_avx512.c with 8-wide vectors: 4-row x 4-token register tiles over L2
 * token chunks; element tails (n % 8) finish in scalar code. F32 weights and rmsnorm's sum of
 * squares accumulate in double, like the reference. silu's exp: degree-6 polynomial with the 2^k
 * scale built in the exponent bits (input clamped to the float range).
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/x86/x86.h"
#include "tensor/fp16.h"

enum { TR = 4, TC = 4, CHUNK_COLS = 32, PF_ROWS = 12 };

static inline __attribute__((always_inline)) __m256 load_w(uint32_t type, const void *p,
                                                           int64_t i) {
    switch (type) {
    case KY_TYPE_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    case KY_TYPE_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i))),
            16));
    default: return _mm256_loadu_ps((const float *)p + i);
    }
}

static inline float w_at(uint32_t type, const void *p, int64_t i) {
    switch (type) {
    case KY_TYPE_F16: return ky_f16_to_f32(((const uint16_t *)p)[i]);
    case KY_TYPE_BF16: return ky_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) void tile(uint32_t type, int R, int C, int64_t n,
                                                       const char *w, size_t w_stride,
                                                       const char *x, size_t x_stride, float *y,
                                                       int64_t ldy) {
    const size_t esize = type == KY_TYPE_F32 ? 4 : 2;
    __m256 acc[TR][TC];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t n8 = n & ~(int64_t)7;
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 wv[TR], xv[TC];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            /* rows PF_ROWS below: hides DRAM latency when few tokens share each weight load */
            if ((i & 15) == 0)
                _mm_prefetch((const char *)((uintptr_t)w + (size_t)(r + PF_ROWS) * w_stride +
                                            (size_t)i * esize),
                             _MM_HINT_T0); /* may lie past the matrix: a hint, never dereferenced */
            wv[r] = load_w(type, w + (size_t)r * w_stride, i);
        }
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            xv[c] = _mm256_loadu_ps((const float *)(x + (size_t)c * x_stride) + i);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(wv[r], xv[c], acc[r][c]);
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            float s = hsum256(acc[r][c]);
            for (int64_t i = n8; i < n; i++)
                s += w_at(type, w + (size_t)r * w_stride, i) *
                     ((const float *)(x + (size_t)c * x_stride))[i];
            y[c * ldy + r] = s;
        }
}

static inline __attribute__((always_inline)) void
gemm_float(uint32_t type, int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x,
           size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    for (int64_t c0 = 0; c0 < n_cols; c0 += CHUNK_COLS) {
        int64_t c1 = c0 + CHUNK_COLS < n_cols ? c0 + CHUNK_COLS : n_cols;
        for (int64_t r = 0; r < n_rows;) {
            int full_r = n_rows - r >= TR;
            const char *wr = (const char *)w + (size_t)r * w_stride;
            for (int64_t c = c0; c < c1;) {
                const char *xc = (const char *)x + (size_t)c * x_stride;
                float *yt = y + c * ldy + r;
                int full_c = c1 - c >= TC;
                if (full_r && full_c)
                    tile(type, TR, TC, n, wr, w_stride, xc, x_stride, yt, ldy);
                else if (full_r)
                    tile(type, TR, 1, n, wr, w_stride, xc, x_stride, yt, ldy);
                else if (full_c)
                    tile(type, 1, TC, n, wr, w_stride, xc, x_stride, yt, ldy);
                else
                    tile(type, 1, 1, n, wr, w_stride, xc, x_stride, yt, ldy);
                c += full_c ? TC : 1;
            }
            r += full_r ? TR : 1;
        }
    }
}

/* F32 weights: products and sums in double, as the generic reference (see float_avx512.c). */
static inline __attribute__((always_inline)) void tile_f64(int R, int C, int64_t n, const char *w,
                                                           size_t w_stride, const char *x,
                                                           size_t x_stride, float *y, int64_t ldy) {
    __m256d acc[TR][TC];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_pd();
    int64_t n4 = n & ~(int64_t)3;
    for (int64_t i = 0; i < n4; i += 4) {
        __m256d wv[TR], xv[TC];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = _mm256_cvtps_pd(_mm_loadu_ps((const float *)(w + (size_t)r * w_stride) + i));
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            xv[c] = _mm256_cvtps_pd(_mm_loadu_ps((const float *)(x + (size_t)c * x_stride) + i));
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_pd(wv[r], xv[c], acc[r][c]);
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            __m128d h =
                _mm_add_pd(_mm256_castpd256_pd128(acc[r][c]), _mm256_extractf128_pd(acc[r][c], 1));
            double s = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
            const float *wr = (const float *)(w + (size_t)r * w_stride);
            const float *xc = (const float *)(x + (size_t)c * x_stride);
            for (int64_t i = n4; i < n; i++) s += (double)wr[i] * xc[i];
            y[c * ldy + r] = (float)s;
        }
}

static void gemm_f32(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x,
                     size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    for (int64_t c0 = 0; c0 < n_cols; c0 += CHUNK_COLS) {
        int64_t c1 = c0 + CHUNK_COLS < n_cols ? c0 + CHUNK_COLS : n_cols;
        for (int64_t r = 0; r < n_rows;) {
            int full_r = n_rows - r >= TR;
            const char *wr = (const char *)w + (size_t)r * w_stride;
            for (int64_t c = c0; c < c1;) {
                const char *xc = (const char *)x + (size_t)c * x_stride;
                float *yt = y + c * ldy + r;
                int full_c = c1 - c >= TC;
                if (full_r && full_c)
                    tile_f64(TR, TC, n, wr, w_stride, xc, x_stride, yt, ldy);
                else if (full_r)
                    tile_f64(TR, 1, n, wr, w_stride, xc, x_stride, yt, ldy);
                else if (full_c)
                    tile_f64(1, TC, n, wr, w_stride, xc, x_stride, yt, ldy);
                else
                    tile_f64(1, 1, n, wr, w_stride, xc, x_stride, yt, ldy);
                c += full_c ? TC : 1;
            }
            r += full_r ? TR : 1;
        }
    }
}
static void gemm_f16(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x,
                     size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    gemm_float(KY_TYPE_F16, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
}
static void gemm_bf16(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x,
                      size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    gemm_float(KY_TYPE_BF16, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
}

/* ---- vector helpers --------------------------------------------------------------------------- */

static float dot_f32(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static float dot_f16(const uint16_t *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))),
                             _mm256_loadu_ps(b + i), s0);
    float s = hsum256(s0);
    for (; i < n; i++) s += ky_f16_to_f32(a[i]) * b[i];
    return s;
}

static void axpy_f32(float alpha, const float *x, float *y, int64_t n) {
    __m256 va = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}

static void axpy_f16(float alpha, const uint16_t *x, float *y, int64_t n) {
    __m256 va = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, xv, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++) y[i] += alpha * ky_f16_to_f32(x[i]);
}

static void scale_f32(float alpha, float *y, int64_t n) {
    __m256 va = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] *= alpha;
}

static void f32_to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(
            (__m128i *)(y + i),
            _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = ky_f32_to_f16(x[i]);
}

static void rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    __m256d s = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_loadu_ps(x + i);
        s = _mm256_add_pd(s, _mm256_cvtps_pd(_mm_mul_ps(v, v))); /* float products, double sums */
    }
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    double ss = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    for (; i < n; i++) ss += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
                                              _mm256_loadu_ps(w + i)));
    for (; i < n; i++) y[i] = x[i] * scale * w[i];
}

/* kernels_expf_approx on 8 lanes (same fused operations, so the same bits). 2^n is built from
 * exponent bits, valid while the result is a normal float (|n| <= 126); other lanes (|x| > ~87,
 * never reached by SiLU of real activations) take the scalar reference. */
static inline __m256 expf_approx256(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    __m256 n = _mm256_sub_ps(z, shift);
    __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    __m256 u = _mm256_mul_ps(b, b);
    __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
            _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(126.0f),
                               _CMP_NLE_UQ); /* also NaN lanes */
    if (_mm256_movemask_ps(big)) {
        float in[8], out[8];
        _mm256_storeu_ps(in, x);
        for (int k = 0; k < 8; k++) out[k] = kernels_expf_approx(in[k]);
        return _mm256_loadu_ps(out);
    }
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(j, _mm256_castsi256_ps(e));
}

static void silu_mul(float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256 e = expf_approx256(_mm256_sub_ps(_mm256_setzero_ps(), v));
        _mm256_storeu_ps(
            g + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + kernels_expf_approx(0.0f - g[i])) * u[i];
}

void kernels_x86_fill_float_avx2(ky_kernel_table *t) {
    t->gemm[KY_TYPE_F32] = gemm_f32;
    t->gemm[KY_TYPE_F16] = gemm_f16;
    t->gemm[KY_TYPE_BF16] = gemm_bf16;
    t->dot_f32 = dot_f32;
    t->dot_f16 = dot_f16;
    t->axpy_f32 = axpy_f32;
    t->axpy_f16 = axpy_f16;
    t->scale_f32 = scale_f32;
    t->f32_to_f16 = f32_to_f16;
    t->rmsnorm = rmsnorm;
    t->silu_mul = silu_mul;
}
