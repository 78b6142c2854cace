/* quant_avx2.c — AVX2 integer row-dot kernels and the Q8_0 activation quantizer (layer:
 * kernels/x86).
 *
 * Without VNNI the byte products use vpmaddubsw (unsigned x signed -> int16 pairs, no saturation
 * for these ranges: |q| <= 128 after the sign trick times |x| <= 127, twice, fits int16) and
 * vpmaddwd, which also applies K-quant sub-block scales as int16 multipliers. Per-block integer
 * sums then one float scale, as the reference. Q8_1/Q8_K quantizers and Q2_K/Q3_K stay generic.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/x86.h"
#include "tensor/fp16.h"

static inline float f16(uint16_t h) { return _cvtsh_ss(h); }

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_i32(__m256i v) {
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

/* ---- Q8_0 quantizer (bit-exact with the reference) -------------------------------------------- */

static inline __m256 round_away(__m256 t) {
    __m256 s = _mm256_or_ps(_mm256_set1_ps(0.49999997f), _mm256_and_ps(t, _mm256_set1_ps(-0.0f)));
    return _mm256_round_ps(_mm256_add_ps(t, s), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

static void quantize_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            m = _mm256_max_ps(m, _mm256_and_ps(v[i], absmask));
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h);
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ky_f32_to_f16(d);
        __m256i q[4];
        for (int i = 0; i < 4; i++)
            q[i] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v[i], _mm256_set1_ps(id))));
        __m256i p =
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, p);
    }
}

/* ---- helpers ---------------------------------------------------------------------------------- */

/* Σ u·s per 32-bit lane (u unsigned bytes, s signed bytes). */
static inline __m256i mul_sum_us8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
/* Σ a·b per lane for signed bytes a, b. */
static inline __m256i mul_sum_i8(__m256i a, __m256i b) {
    return mul_sum_us8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

static inline __m256i nibbles32(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

/* 0xFF in byte j where bit j of the 32-bit word is set. */
static inline __m256i bytes_from_bits(const uint8_t *p4) {
    uint32_t bits;
    memcpy(&bits, p4, 4);
    __m256i v = _mm256_set1_epi32((int)bits);
    v = _mm256_shuffle_epi8(v, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2,
                                                2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

static inline __m256i five_bit32(const uint8_t *qs, const uint8_t *qh) {
    return _mm256_or_si256(nibbles32(qs),
                           _mm256_and_si256(bytes_from_bits(qh), _mm256_set1_epi8(16)));
}

/* ---- 32-element block types ------------------------------------------------------------------- */

static float dot_q8_0(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        __m256i p = mul_sum_i8(_mm256_loadu_si256((const __m256i *)w[b].qs),
                               _mm256_loadu_si256((const __m256i *)x[b].qs));
        acc =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)), acc);
    }
    return hsum256(acc);
}

static float dot_q4_0(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw;
    const block_q8_0 *x = vx;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK4_0; b++) {
        __m256i q = _mm256_sub_epi8(nibbles32(w[b].qs), _mm256_set1_epi8(8));
        __m256i p = mul_sum_i8(q, _mm256_loadu_si256((const __m256i *)x[b].qs));
        acc =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)), acc);
    }
    return hsum256(acc);
}

static float dot_q5_0(int64_t n, const void *vw, const void *vx) {
    const block_q5_0 *w = vw;
    const block_q8_0 *x = vx;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK5_0; b++) {
        __m256i q = _mm256_sub_epi8(five_bit32(w[b].qs, w[b].qh), _mm256_set1_epi8(16));
        __m256i p = mul_sum_i8(q, _mm256_loadu_si256((const __m256i *)x[b].qs));
        acc =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)), acc);
    }
    return hsum256(acc);
}

static float dot_q4_1(int64_t n, const void *vw, const void *vx) {
    const block_q4_1 *w = vw;
    const block_q8_1 *x = vx;
    __m256 acc = _mm256_setzero_ps();
    float ms = 0;
    for (int64_t b = 0; b < n / QK4_1; b++) {
        __m256i p = mul_sum_us8(nibbles32(w[b].qs), _mm256_loadu_si256((const __m256i *)x[b].qs));
        acc =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)), acc);
        ms += f16(w[b].m) * f16(x[b].s);
    }
    return hsum256(acc) + ms;
}

static float dot_q5_1(int64_t n, const void *vw, const void *vx) {
    const block_q5_1 *w = vw;
    const block_q8_1 *x = vx;
    __m256 acc = _mm256_setzero_ps();
    float ms = 0;
    for (int64_t b = 0; b < n / QK5_1; b++) {
        __m256i p =
            mul_sum_us8(five_bit32(w[b].qs, w[b].qh), _mm256_loadu_si256((const __m256i *)x[b].qs));
        acc =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)), acc);
        ms += f16(w[b].m) * f16(x[b].s);
    }
    return hsum256(acc) + ms;
}

/* ---- K-quants --------------------------------------------------------------------------------- */

static inline int k4_scales(const uint8_t *s12, const int16_t *bsums, int16_t sc[8]) {
    int msum = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        ky_q4k_scale_min(j, s12, &s, &m);
        sc[j] = s;
        msum += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    return msum;
}

static inline float dot_k4(const uint8_t *qs, const uint8_t *qh, const uint8_t *scales, float d,
                           float dmin, const block_q8_K *x) {
    int16_t sc[8];
    int msum = k4_scales(scales, x->bsums, sc);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i hb = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qh) {
            const __m256i one = _mm256_set1_epi8(1);
            lo = _mm256_or_si256(
                lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one), 4));
            hi = _mm256_or_si256(
                hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one), 4));
        }
        __m256i plo =
            _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x->qs + 64 * j)));
        __m256i phi =
            _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x->qs + 64 * j + 32)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * j])));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * j + 1])));
    }
    int isum = hsum_i32(acc);
    return d * x->d * (float)isum - dmin * x->d * (float)msum;
}

static float dot_q4_K(int64_t n, const void *vw, const void *vx) {
    const block_q4_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++)
        sum += dot_k4(w[b].qs, NULL, w[b].scales, f16(w[b].d), f16(w[b].dmin), &x[b]);
    return sum;
}

static float dot_q5_K(int64_t n, const void *vw, const void *vx) {
    const block_q5_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++)
        sum += dot_k4(w[b].qs, w[b].qh, w[b].scales, f16(w[b].d), f16(w[b].dmin), &x[b]);
    return sum;
}

static float dot_q6_K(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m128i s16 = _mm_loadu_si128((const __m128i *)w[b].scales);
        __m256i sc16 = _mm256_cvtepi8_epi16(s16);
        int osum =
            hsum_i32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[b].bsums), sc16));
        int16_t sc[16];
        _mm256_storeu_si256((__m256i *)sc, sc16);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
            for (int part = 0; part < 4; part++) { /* 32 elements: groups 8h+2part, +1 */
                __m256i l = (part & 1) ? l1 : l0;
                __m256i lo = _mm256_and_si256(_mm256_srli_epi16(l, 4 * (part >> 1)), m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hh, 2 * part), m2);
                __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
                __m256i p = _mm256_maddubs_epi16(
                    u, _mm256_loadu_si256((const __m256i *)(x[b].qs + 128 * h + 32 * part)));
                int g = 8 * h + 2 * part;
                __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
            }
        }
        int isum = hsum_i32(acc) - 32 * osum;
        sum += f16(w[b].d) * x[b].d * (float)isum;
    }
    return sum;
}

/* ---- gemm entries ----------------------------------------------------------------------------- */

typedef float (*row_dot_fn)(int64_t n, const void *w, const void *x);

static inline void gemv(row_dot_fn dot, int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                        const void *x, size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    for (int64_t r = 0; r < n_rows; r++) /* rows outer: a row stays in L1 across tokens */
        for (int64_t c = 0; c < n_cols; c++)
            y[c * ldy + r] = dot(n, (const char *)w + (size_t)r * w_stride,
                                 (const char *)x + (size_t)c * x_stride);
}

#define GEMV_ENTRY(T)                                                                              \
    static void gemv_##T(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x, \
                         size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {                 \
        gemv(dot_##T, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);                        \
    }
GEMV_ENTRY(q4_0)
GEMV_ENTRY(q4_1)
GEMV_ENTRY(q5_0)
GEMV_ENTRY(q5_1)
GEMV_ENTRY(q8_0)
GEMV_ENTRY(q4_K)
GEMV_ENTRY(q5_K)
GEMV_ENTRY(q6_K)

void kernels_x86_fill_quant_avx2(ky_kernel_table *t) {
    t->quantize_act[KY_TYPE_Q8_0] = quantize_q8_0;
    t->gemm[KY_TYPE_Q4_0] = gemv_q4_0;
    t->gemm[KY_TYPE_Q4_1] = gemv_q4_1;
    t->gemm[KY_TYPE_Q5_0] = gemv_q5_0;
    t->gemm[KY_TYPE_Q5_1] = gemv_q5_1;
    t->gemm[KY_TYPE_Q8_0] = gemv_q8_0;
    t->gemm[KY_TYPE_Q4_K] = gemv_q4_K;
    t->gemm[KY_TYPE_Q5_K] = gemv_q5_K;
    t->gemm[KY_TYPE_Q6_K] = gemv_q6_K;
}
