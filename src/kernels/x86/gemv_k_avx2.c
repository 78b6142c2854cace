/* gemv_k_avx2.c — K-quant weights (Q4_K, Q5_K, Q6_K) × a few activation rows (the decode path)
 * with AVX2 (layer: kernels/x86).
 *
 * Bandwidth-bound, so the work per 256-element super-block is kept small: quants are unpacked to
 * unsigned bytes 32 at a time, vpmaddubsw multiplies them with the Q8_K activations into 16-bit
 * pair sums, vpmaddwd multiplies those by the sub-block scales into 32 bits. Four super-blocks are
 * reduced at once to their exact integer sums isum (and the mins term msum), then each adds
 * (d·dy)·isum − (dmin·dy)·msum (Q6_K: (d·dy)·isum) to the row's float sum, one rounding per
 * operation, super-block by super-block: the packed GEMM's arithmetic (gemm_avx2.c), so a batch of
 * tokens gives the same bits as one token at a time. Rows are walked in memory order (one
 * sequential stream per thread) with each row reused across the tokens of the call.
 * Saturation: vpmaddubsw sums two products u·x with u ≤ 63 and |x| ≤ 127 (≤ 16002 < 2^15).
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "kernels/x86/x86.h"

/* {Σ a0, Σ a1, Σ a2, Σ a3} over the 8 int32 lanes of each. */
static inline __m128i reduce4(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
    __m256i t01 = _mm256_add_epi32(_mm256_unpacklo_epi32(a0, a1), _mm256_unpackhi_epi32(a0, a1));
    __m256i t23 = _mm256_add_epi32(_mm256_unpacklo_epi32(a2, a3), _mm256_unpackhi_epi32(a2, a3));
    __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
    return _mm_add_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
}

/* {Σ m0, Σ m1, Σ m2, Σ m3} over the 4 int32 lanes of each. */
static inline __m128i reduce4_128(__m128i m0, __m128i m1, __m128i m2, __m128i m3) {
    __m128i t01 = _mm_add_epi32(_mm_unpacklo_epi32(m0, m1), _mm_unpackhi_epi32(m0, m1));
    __m128i t23 = _mm_add_epi32(_mm_unpacklo_epi32(m2, m3), _mm_unpackhi_epi32(m2, m3));
    return _mm_add_epi32(_mm_unpacklo_epi64(t01, t23), _mm_unpackhi_epi64(t01, t23));
}

/* acc += Σ over 32 elements of u·x·scale (u unsigned quants, x activations, sc the 16-bit scale
 * of each pair of elements). */
static inline __m256i dot32(__m256i acc, __m256i u, const int8_t *x, __m256i sc) {
    __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)x));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));
}

/* Shuffle control picking int16 element e of each 128-bit lane (e_lo in the low lane, e_hi in
 * the high one) into all 8 positions of the lane. */
static inline __m256i pick16(int e_lo, int e_hi) {
    short lo = (short)((2 * e_lo + 1) << 8 | 2 * e_lo),
          hi = (short)((2 * e_hi + 1) << 8 | 2 * e_hi);
    return _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
}

/* Q4_K/Q5_K 12-byte field (s12 may be read 16 bytes far: the quants follow it): bytes 0-7 get
 * the 8 6-bit scales, bytes 8-15 the 8 6-bit mins. Bytes 0-3 hold scales 0-3 (6 bits) and the
 * top 2 bits of scales 4-7, bytes 4-7 the same for mins, bytes 8-11 the low 4 bits of scale j+4
 * (low nibble) and min j+4 (high nibble). */
static inline __m128i k4_scales_mins(const uint8_t *s12) {
    __m128i v = _mm_loadu_si128((const __m128i *)s12);
    /* a: [b0-3 | b8-11 | b4-7 | b8-11]; hi: bits 6-7 of b0-3 / b4-7 moved to lanes 4-7 / 12-15 */
    __m128i a =
        _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    __m128i b =
        _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30));
    __m128i nib = _mm_blend_epi32(a, _mm_srli_epi16(a, 4), 0x8); /* lanes 12-15: high nibbles */
    __m128i mask = _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f);
    return _mm_or_si128(_mm_and_si128(nib, mask), hi);
}

/* 4 int32 lanes summing to Σ_j m_j · pairs[j], the 8 mins in bytes 8-15 of sm, pairs the
 * activation block's sums per 32 (act_pairs). */
static inline __m128i k4_msum(__m128i sm, const int16_t *pairs) {
    return _mm_madd_epi16(_mm_loadu_si128((const __m128i *)pairs),
                          _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)));
}

/* 4 int32 lanes summing to Σ_g s_g · bsums[g] over 16 groups, s signed bytes. */
static inline __m128i group_sum(__m128i s, const int16_t *bsums) {
    __m256i m =
        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), _mm256_cvtepi8_epi16(s));
    return _mm_add_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
}

static inline size_t kq_block_bytes(uint32_t type) {
    return type == KY_TYPE_Q4_K   ? sizeof(block_q4_K)
           : type == KY_TYPE_Q5_K ? sizeof(block_q5_K)
                                  : sizeof(block_q6_K);
}

/* The f16 super-block scales d and dmin (0 for Q6_K) of blocks b..b+g-1 of a row (1 <= g <= 4;
 * lanes from g on are 0 and nothing past block b+g-1 is read). */
static inline __attribute__((always_inline)) void
kscales4(uint32_t type, const void *row, int64_t b, int g, __m128 *d, __m128 *dmin) {
    size_t bs = kq_block_bytes(type);
    size_t at = type == KY_TYPE_Q4_K   ? offsetof(block_q4_K, d)
                : type == KY_TYPE_Q5_K ? offsetof(block_q5_K, d)
                                       : offsetof(block_q6_K, d);
    const char *p = (const char *)row + (size_t)b * bs + at;
    if (type != KY_TYPE_Q6_K) { /* d and dmin adjacent: 4 (d, dmin) pairs in one conversion */
        uint32_t v[4] = {0, 0, 0, 0};
        for (int i = 0; i < g; i++) memcpy(&v[i], p + (size_t)i * bs, 4);
        __m256 f = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v));
        __m128 lo = _mm256_castps256_ps128(f), hi = _mm256_extractf128_ps(f, 1);
        *d = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
        *dmin = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    } else {
        uint16_t h[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int i = 0; i < g; i++) memcpy(&h[i], p + (size_t)i * bs, 2);
        *d = _mm_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
        *dmin = _mm_setzero_ps();
    }
}

/* The integer work of super-block b of a row against activation block x (pairs: its sums per 32,
 * see act_pairs): returns 8 int32 lanes summing to Σ u·x·scale and sets *m to 4 int32 lanes
 * summing to the mins term msum (Q4_K/Q5_K) or to Σ_g sc_g·bsum_g (Q6_K: isum = Σ − 32·that).
 * Always inlined with constant type. */
static inline __attribute__((always_inline)) __m256i kblock(uint32_t type, const void *row,
                                                            int64_t b, const block_q8_K *x,
                                                            const int16_t *pairs, __m128i *m) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i acc = _mm256_setzero_si256();
    if (type == KY_TYPE_Q4_K || type == KY_TYPE_Q5_K) {
        const uint8_t *scales, *qs, *qhp = NULL;
        if (type == KY_TYPE_Q4_K) {
            const block_q4_K *w = (const block_q4_K *)row + b;
            scales = w->scales, qs = w->qs;
        } else {
            const block_q5_K *w = (const block_q5_K *)row + b;
            scales = w->scales, qs = w->qs, qhp = w->qh;
        }
        __m128i sm = k4_scales_mins(scales);
        __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm)); /* 8 scales per lane */
        *m = k4_msum(sm, pairs);
        __m256i qh = type == KY_TYPE_Q5_K ? _mm256_loadu_si256((const __m256i *)qhp)
                                          : _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) { /* elements 64j..64j+63: low nibbles, then high */
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i lo = _mm256_and_si256(q, m4),
                    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (type == KY_TYPE_Q5_K) {
                const __m256i one = _mm256_set1_epi8(1);
                lo = _mm256_or_si256(
                    lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4));
                hi = _mm256_or_si256(
                    hi,
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4));
            }
            acc = dot32(acc, lo, x->qs + 64 * j, _mm256_shuffle_epi8(sc, pick16(2 * j, 2 * j)));
            acc = dot32(acc, hi, x->qs + 64 * j + 32,
                        _mm256_shuffle_epi8(sc, pick16(2 * j + 1, 2 * j + 1)));
        }
        return acc;
    }
    /* Q6_K: 16 groups of 16 with signed 8-bit scales; quants stored +32 */
    const block_q6_K *w = (const block_q6_K *)row + b;
    const __m256i m2 = _mm256_set1_epi8(3);
    __m128i s8 = _mm_loadu_si128((const __m128i *)w->scales);
    __m128i s16 = _mm_cvtepi8_epi16(s8), s16h = _mm_cvtepi8_epi16(_mm_srli_si128(s8, 8));
    __m256i sc_lo = _mm256_broadcastsi128_si256(s16), sc_hi = _mm256_broadcastsi128_si256(s16h);
    *m = group_sum(s8, x->bsums);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = w->ql + 64 * h, *qh = w->qh + 32 * h;
        __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
        __m256i sc = h ? sc_hi : sc_lo; /* scales 8h..8h+7 */
#pragma GCC unroll 4
        for (int part = 0; part < 4; part++) { /* elements 128h + 32part: groups 8h + 2part, +1 */
            __m256i l = (part & 1) ? l1 : l0;
            __m256i lo = _mm256_and_si256(_mm256_srli_epi16(l, 4 * (part >> 1)), m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hh, 2 * part), m2);
            __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
            acc = dot32(acc, u, x->qs + 128 * h + 32 * part,
                        _mm256_shuffle_epi8(sc, pick16(2 * part, 2 * part + 1)));
        }
    }
    return acc;
}

/* The terms of a group of g <= 4 super-blocks starting at b, one rounding per operation:
 * (d·dy)·isum − (dmin·dy)·msum for types with mins, (d·dy)·isum for Q6_K (isum = Σ − 32·m). */
static inline __attribute__((always_inline)) __m128
group_terms(uint32_t type, const void *row, const block_q8_K *x, int64_t b, int g, __m256i a0,
            __m256i a1, __m256i a2, __m256i a3, __m128i m0, __m128i m1, __m128i m2, __m128i m3) {
    __m128i sum = reduce4(a0, a1, a2, a3), m = reduce4_128(m0, m1, m2, m3);
    __m128 d, dmin;
    kscales4(type, row, b, g, &d, &dmin);
    __m128 dy = _mm_setr_ps(x[b].d, g > 1 ? x[b + 1].d : 0.0f, g > 2 ? x[b + 2].d : 0.0f,
                            g > 3 ? x[b + 3].d : 0.0f);
    if (type == KY_TYPE_Q6_K) {
        __m128i isum = _mm_sub_epi32(sum, _mm_slli_epi32(m, 5));
        return _mm_mul_ps(_mm_mul_ps(d, dy), _mm_cvtepi32_ps(isum));
    }
    __m128 t1 = _mm_mul_ps(_mm_mul_ps(d, dy), _mm_cvtepi32_ps(sum));
    __m128 t2 = _mm_mul_ps(_mm_mul_ps(dmin, dy), _mm_cvtepi32_ps(m));
    return _mm_sub_ps(t1, t2);
}

/* sum += the dot of one row's super-blocks [0, nb) with one activation row (pairs: its act_pairs):
 * super-blocks in groups of four (the last one possibly shorter) share one reduction, then add
 * their terms to the sum in block order. */
static inline __attribute__((always_inline)) float row_dot(uint32_t type, const void *row,
                                                           const block_q8_K *x,
                                                           const int16_t *pairs, int64_t nb,
                                                           float sum) {
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        __m128i m0, m1, m2, m3;
        __m256i a0 = kblock(type, row, b, x + b, pairs + 8 * b, &m0);
        __m256i a1 = kblock(type, row, b + 1, x + b + 1, pairs + 8 * (b + 1), &m1);
        __m256i a2 = kblock(type, row, b + 2, x + b + 2, pairs + 8 * (b + 2), &m2);
        __m256i a3 = kblock(type, row, b + 3, x + b + 3, pairs + 8 * (b + 3), &m3);
        __m128 t = group_terms(type, row, x, b, 4, a0, a1, a2, a3, m0, m1, m2, m3);
        sum += _mm_cvtss_f32(t);
        sum += _mm_cvtss_f32(_mm_shuffle_ps(t, t, 1));
        sum += _mm_cvtss_f32(_mm_movehl_ps(t, t));
        sum += _mm_cvtss_f32(_mm_shuffle_ps(t, t, 3));
    }
    if (b < nb) { /* 1-3 blocks left: the same group arithmetic with zero lanes */
        int g = (int)(nb - b);
        const __m256i z = _mm256_setzero_si256();
        const __m128i zm = _mm_setzero_si128();
        __m128i m0, m1 = zm, m2 = zm;
        __m256i a0 = kblock(type, row, b, x + b, pairs + 8 * b, &m0), a1 = z, a2 = z;
        if (g > 1) a1 = kblock(type, row, b + 1, x + b + 1, pairs + 8 * (b + 1), &m1);
        if (g > 2) a2 = kblock(type, row, b + 2, x + b + 2, pairs + 8 * (b + 2), &m2);
        float t[4];
        _mm_storeu_ps(t, group_terms(type, row, x, b, g, a0, a1, a2, z, m0, m1, m2, zm));
        for (int i = 0; i < g; i++) sum += t[i];
    }
    return sum;
}

enum {
    KCH = 128, /* super-blocks per pass (32768 elements) */
    K_COLS = 4 /* tokens per pass */
};

/* Sums per 32 elements of activation blocks [0, nb): pairs[8b + j] = bsums[2j] + bsums[2j+1]
 * (|.| ≤ 4064), the Q4_K/Q5_K mins operand, computed once per call instead of once per row. */
static void act_pairs(const block_q8_K *x, int64_t nb, int16_t *pairs) {
    for (int64_t b = 0; b < nb; b++)
        _mm_storeu_si128((__m128i *)(pairs + 8 * b),
                         _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)x[b].bsums),
                                        _mm_loadu_si128((const __m128i *)(x[b].bsums + 8))));
}

static inline __attribute__((always_inline)) void gemv_k_t(uint32_t type, int64_t n, const void *w,
                                                           size_t w_stride, int64_t n_rows,
                                                           const void *x, size_t x_stride,
                                                           int64_t n_cols, float *y, int64_t ldy) {
    int16_t pairs[K_COLS][KCH * 8];
    const int k4 = type != KY_TYPE_Q6_K;
    const size_t bs = kq_block_bytes(type);
    int64_t nb_all = n / QK_K;
    for (int64_t c0 = 0; c0 < n_cols; c0 += K_COLS) {
        int nc = (int)(n_cols - c0 < K_COLS ? n_cols - c0 : K_COLS);
        for (int64_t b0 = 0; b0 < nb_all; b0 += KCH) { /* y carries the sum across passes */
            int64_t nb = nb_all - b0 < KCH ? nb_all - b0 : KCH;
            const block_q8_K *xc[K_COLS];
            for (int c = 0; c < nc; c++) {
                xc[c] = (const block_q8_K *)((const char *)x + (size_t)(c0 + c) * x_stride) + b0;
                if (k4) act_pairs(xc[c], nb, pairs[c]);
            }
            /* rows in memory order (one sequential stream per thread); a row stays in L1
             * across the tokens */
            for (int64_t r = 0; r < n_rows; r++) {
                const char *row = (const char *)w + (size_t)r * w_stride + (size_t)b0 * bs;
                for (int c = 0; c < nc; c++) {
                    float *yc = y + (c0 + c) * ldy + r;
                    *yc = row_dot(type, row, xc[c], pairs[c], nb, b0 == 0 ? 0.0f : *yc);
                }
            }
        }
    }
}

void kernels_x86_gemv_k_avx2(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                             int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols,
                             float *y, int64_t ldy) {
    switch (wtype) {
    case KY_TYPE_Q4_K:
        gemv_k_t(KY_TYPE_Q4_K, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    case KY_TYPE_Q5_K:
        gemv_k_t(KY_TYPE_Q5_K, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    default: gemv_k_t(KY_TYPE_Q6_K, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy); break;
    }
}
