/* gemv_k_vnni.c — K-quant weights × a few activation rows (the decode path) with AVX-512 BW/VNNI
 * (layer: kernels/x86).
 *
 * Bandwidth-bound, so the work per 256-element super-block is kept small: the quants are unpacked
 * to unsigned bytes 64 at a time, vpmaddubsw multiplies them with the Q8_K activations into 16-bit
 * pair sums, and vpdpwssd multiplies those by the sub-block scales and accumulates in 32 bits — two
 * instructions per 64 elements, no per-block horizontal sums. Four super-blocks are reduced at once
 * to their exact integer sums isum (and the mins term msum), then each adds
 * (d·dy)·isum − (dmin·dy)·msum to the row's float sum, one rounding per operation, super-block by
 * super-block: exactly the arithmetic of the packed GEMM (gemm_vnni.c), so a batch of tokens gives
 * the same bits as one token at a time. Rows are walked in memory order (one sequential stream per
 * thread for the hardware prefetchers) with each row reused across the tokens of the call.
 * Saturation: vpmaddubsw sums two products u·x with u ≤ 63 and |x| ≤ 127 (≤ 16002 < 2^15).
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/x86.h"
#include "tensor/fp16.h"

/* {Σ a0, Σ a1, Σ a2, Σ a3} over the 16 int32 lanes of each. */
static inline __m128i reduce4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
    __m256i v = _mm256_add_epi32(_mm512_castsi512_si256(u), _mm512_extracti64x4_epi64(u, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

/* {Σ m0, Σ m1, Σ m2, Σ m3} over the 4 int32 lanes of each. */
static inline __m128i reduce4_128(__m128i m0, __m128i m1, __m128i m2, __m128i m3) {
    __m128i t01 = _mm_add_epi32(_mm_unpacklo_epi32(m0, m1), _mm_unpackhi_epi32(m0, m1));
    __m128i t23 = _mm_add_epi32(_mm_unpacklo_epi32(m2, m3), _mm_unpackhi_epi32(m2, m3));
    return _mm_add_epi32(_mm_unpacklo_epi64(t01, t23), _mm_unpackhi_epi64(t01, t23));
}

static inline int hsum128_i32(__m128i m) {
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0xB1));
    return _mm_cvtsi128_si32(m);
}

/* Two 32-byte halves as one zmm. */
static inline __m512i pair256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* acc += Σ over 64 elements of u·x·scale, u unsigned quants, x the activations, sc the 16-bit
 * scale of each pair of elements (32 lanes). */
static inline __m512i dot64(__m512i acc, __m512i u, const int8_t *x, __m512i sc) {
    return _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(u, _mm512_loadu_si512(x)), sc);
}

/* Per 32-element sub-block scales: 16-bit lanes 0-15 get s[2j], lanes 16-31 s[2j+1] (s: 8 scales
 * as the low 8 int16 of a zmm). */
static inline __m512i scales32(__m512i s, int j) {
    const __m512i base = _mm512_set_epi16(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_epi16(_mm512_add_epi16(base, _mm512_set1_epi16((short)(2 * j))), s);
}

/* Per 16-element group scales: lanes 8q..8q+7 get s[g + q] for q < 4 (s: 16 scales as int16). */
static inline __m512i scales16(__m512i s, int g) {
    const __m512i base = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
                                          1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_epi16(_mm512_add_epi16(base, _mm512_set1_epi16((short)g)), s);
}

/* Q4_K/Q5_K 12-byte field: 8 6-bit scales (bytes 0-7) and 8 6-bit mins (bytes 8-15). */
static inline __m128i k4_scales_mins(const uint8_t *s12) {
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
    uint32_t sc_lo = u0 & k1, sc_hi = (u2 & k2) | (((u0 >> 6) & k3) << 4);
    uint32_t mn_lo = u1 & k1, mn_hi = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
    return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)mn_lo, (int)mn_hi);
}

/* 4 int32 lanes summing to Σ_j m_j · (bsums[2j] + bsums[2j+1]), the 8 mins in bytes 8-15 of sm. */
static inline __m128i k4_msum(__m128i sm, const int16_t *bsums) {
    __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums),
                                   _mm_loadu_si128((const __m128i *)(bsums + 8))); /* |.| ≤ 4064 */
    return _mm_madd_epi16(pairs, _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)));
}

/* 4 int32 lanes summing to Σ_g s_g · bsums[g] over 16 groups, s signed bytes. */
static inline __m128i group_sum(__m128i s, const int16_t *bsums) {
    __m256i m =
        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), _mm256_cvtepi8_epi16(s));
    return _mm_add_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
}

/* Q3_K's 16 6-bit scales minus 32, as signed bytes. */
static inline __m128i q3k_scales(const uint8_t *s12) {
    uint32_t a0, a1, t;
    memcpy(&a0, s12, 4);
    memcpy(&a1, s12 + 4, 4);
    memcpy(&t, s12 + 8, 4);
    const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f;
    __m128i s = _mm_setr_epi32((int)((a0 & k2) | ((t & k1) << 4)),
                               (int)((a1 & k2) | (((t >> 2) & k1) << 4)),
                               (int)(((a0 >> 4) & k2) | (((t >> 4) & k1) << 4)),
                               (int)(((a1 >> 4) & k2) | (((t >> 6) & k1) << 4)));
    return _mm_sub_epi8(s, _mm_set1_epi8(32));
}

/* Offset of the stored quants of offset types (Q6_K +32, Q3_K +4), 0 for types with mins. */
static inline int kq_offset(uint32_t type) {
    return type == KY_TYPE_Q6_K ? 32 : type == KY_TYPE_Q3_K ? 4 : 0;
}

/* The integer work of super-block b of a row against activation block x: returns 16 int32 lanes
 * summing to Σ u·x·scale, sets *m to 4 int32 lanes summing to the mins term msum (types with
 * mins) or to Σ_g sc_g·bsum_g (offset types: isum = Σ − offset·that), and the block's float
 * scales (dmin 0 without mins). Always inlined with constant type. */
static inline __attribute__((always_inline)) __m512i kblock(uint32_t type, const void *row,
                                                            int64_t b, const block_q8_K *x,
                                                            float *d, float *dmin, __m128i *m) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    __m512i acc = _mm512_setzero_si512();
    switch (type) {
    case KY_TYPE_Q4_K:
    case KY_TYPE_Q5_K: {
        const uint8_t *scales, *qs, *qhp = NULL;
        uint16_t hd, hdmin;
        if (type == KY_TYPE_Q4_K) {
            const block_q4_K *w = (const block_q4_K *)row + b;
            scales = w->scales, qs = w->qs, hd = w->d, hdmin = w->dmin;
        } else {
            const block_q5_K *w = (const block_q5_K *)row + b;
            scales = w->scales, qs = w->qs, qhp = w->qh, hd = w->d, hdmin = w->dmin;
        }
        __m128i sm = k4_scales_mins(scales);
        __m512i sc = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm)); /* lanes 0-7: scales */
        *m = k4_msum(sm, x->bsums);
        *d = _cvtsh_ss(hd);
        *dmin = _cvtsh_ss(hdmin);
        __m256i qh = type == KY_TYPE_Q5_K ? _mm256_loadu_si256((const __m256i *)qhp)
                                          : _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) { /* elements 64j..64j+63: low nibbles, then high */
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m512i u =
                pair256(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            if (type == KY_TYPE_Q5_K) {
                __mmask64 k =
                    (__mmask64)_mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * j)))) |
                    ((__mmask64)_mm256_test_epi8_mask(qh,
                                                      _mm256_set1_epi8((char)(1 << (2 * j + 1))))
                     << 32);
                u = _mm512_mask_add_epi8(u, k, u, _mm512_set1_epi8(16));
            }
            acc = dot64(acc, u, x->qs + 64 * j, scales32(sc, j));
        }
        return acc;
    }
    case KY_TYPE_Q6_K: {
        const block_q6_K *w = (const block_q6_K *)row + b;
        __m128i s8 = _mm_loadu_si128((const __m128i *)w->scales);
        __m512i sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(s8));
        *m = group_sum(s8, x->bsums);
        *d = _cvtsh_ss(w->d);
        *dmin = 0.0f;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w->ql + 64 * h, *qh = w->qh + 32 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
#pragma GCC unroll 2
            for (int part = 0; part < 2; part++) { /* elements 128h + 64part + 0..63 */
                int sh = 4 * part;
                __m256i a = _mm256_and_si256(_mm256_srli_epi16(l0, sh), m4);
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(l1, sh), m4);
                __m256i ha = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, sh), m2), 4);
                __m256i hc =
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, sh + 2), m2), 4);
                __m512i u = pair256(_mm256_or_si256(a, ha), _mm256_or_si256(c, hc));
                acc = dot64(acc, u, x->qs + 128 * h + 64 * part, scales16(sc, 8 * h + 4 * part));
            }
        }
        return acc;
    }
    case KY_TYPE_Q2_K: { /* elements 128h + 32k + l are bits 2k of qs[32h + l] */
        const block_q2_K *w = (const block_q2_K *)row + b;
        __m128i raw = _mm_loadu_si128((const __m128i *)w->scales);
        __m512i sc =
            _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0x0F))));
        *m = group_sum(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F)), x->bsums);
        *d = _cvtsh_ss(w->d);
        *dmin = _cvtsh_ss(w->dmin);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * h));
#pragma GCC unroll 2
            for (int k = 0; k < 4; k += 2) {
                __m512i u = pair256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m2),
                                    _mm256_and_si256(_mm256_srli_epi16(q, 2 * k + 2), m2));
                acc = dot64(acc, u, x->qs + 128 * h + 32 * k, scales16(sc, 8 * h + 2 * k));
            }
        }
        return acc;
    }
    default: { /* Q3_K: value (2 low bits | hmask bit << 2) − 4, stored +4 */
        const block_q3_K *w = (const block_q3_K *)row + b;
        __m128i s8 = q3k_scales(w->scales);
        __m512i sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(s8));
        *m = group_sum(s8, x->bsums);
        *d = _cvtsh_ss(w->d);
        *dmin = 0.0f;
        __m256i hm = _mm256_loadu_si256((const __m256i *)w->hmask);
        const __m256i four = _mm256_set1_epi8(4);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * h));
#pragma GCC unroll 2
            for (int k = 0; k < 4; k += 2) {
                __m256i u0 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m2);
                __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k + 2), m2);
                __mmask32 h0 =
                    _mm256_test_epi8_mask(hm, _mm256_set1_epi8((char)(1 << (4 * h + k))));
                __mmask32 h1 =
                    _mm256_test_epi8_mask(hm, _mm256_set1_epi8((char)(1 << (4 * h + k + 1))));
                u0 = _mm256_mask_or_epi32(u0, 0xFF, u0, _mm256_maskz_mov_epi8(h0, four));
                u1 = _mm256_mask_or_epi32(u1, 0xFF, u1, _mm256_maskz_mov_epi8(h1, four));
                acc = dot64(acc, pair256(u0, u1), x->qs + 128 * h + 32 * k,
                            scales16(sc, 8 * h + 2 * k));
            }
        }
        return acc;
    }
    }
}

/* One super-block's contribution (d·dy)·isum − (dmin·dy)·msum, one rounding per operation in
 * this order, lane by lane (the packed GEMM's order). */
static inline __m128 k_terms(__m128 d, __m128 dmin, __m128 dy, __m128i isum, __m128i msum) {
    __m128 a = _mm_mul_ps(_mm_mul_ps(d, dy), _mm_cvtepi32_ps(isum));
    __m128 b = _mm_mul_ps(_mm_mul_ps(dmin, dy), _mm_cvtepi32_ps(msum));
    return _mm_sub_ps(a, b);
}

/* isum and msum lanes from a block's Σ and m (see kblock). */
static inline void finish(uint32_t type, __m128i sum, __m128i m, __m128i *isum, __m128i *msum) {
    int off = kq_offset(type);
    if (off) {
        *isum = _mm_sub_epi32(sum, _mm_mullo_epi32(m, _mm_set1_epi32(off)));
        *msum = _mm_setzero_si128();
    } else {
        *isum = sum;
        *msum = m;
    }
}

/* The dot of one row (nb super-blocks) with one activation row: super-blocks in groups of four
 * share one reduction, then add their terms to the sum in block order. */
static inline __attribute__((always_inline)) float row_dot(uint32_t type, const void *row,
                                                           const block_q8_K *x, int64_t nb) {
    float sum = 0.0f;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        float d[4], dmin[4];
        __m128i m0, m1, m2, m3, isum, msum;
        __m512i a0 = kblock(type, row, b, x + b, &d[0], &dmin[0], &m0);
        __m512i a1 = kblock(type, row, b + 1, x + b + 1, &d[1], &dmin[1], &m1);
        __m512i a2 = kblock(type, row, b + 2, x + b + 2, &d[2], &dmin[2], &m2);
        __m512i a3 = kblock(type, row, b + 3, x + b + 3, &d[3], &dmin[3], &m3);
        finish(type, reduce4(a0, a1, a2, a3), reduce4_128(m0, m1, m2, m3), &isum, &msum);
        __m128 t = k_terms(_mm_loadu_ps(d), _mm_loadu_ps(dmin),
                           _mm_setr_ps(x[b].d, x[b + 1].d, x[b + 2].d, x[b + 3].d), isum, msum);
        float tv[4];
        _mm_storeu_ps(tv, t);
        sum += tv[0];
        sum += tv[1];
        sum += tv[2];
        sum += tv[3];
    }
    for (; b < nb; b++) {
        float d, dmin;
        __m128i m, isum, msum;
        __m512i a = kblock(type, row, b, x + b, &d, &dmin, &m);
        finish(type, _mm_cvtsi32_si128(_mm512_reduce_add_epi32(a)),
               _mm_cvtsi32_si128(hsum128_i32(m)), &isum, &msum);
        __m128 t = k_terms(_mm_set_ss(d), _mm_set_ss(dmin), _mm_set_ss(x[b].d), isum, msum);
        sum += _mm_cvtss_f32(t);
    }
    return sum;
}

static inline __attribute__((always_inline)) void gemv_k_t(uint32_t type, int64_t n, const void *w,
                                                           size_t w_stride, int64_t n_rows,
                                                           const void *x, size_t x_stride,
                                                           int64_t n_cols, float *y, int64_t ldy) {
    int64_t nb = n / QK_K;
    for (int64_t r = 0; r < n_rows; r++) { /* rows outer: a row stays in L1 across tokens */
        const char *row = (const char *)w + (size_t)r * w_stride;
        for (int64_t c = 0; c < n_cols; c++)
            y[c * ldy + r] = row_dot(
                type, row, (const block_q8_K *)((const char *)x + (size_t)c * x_stride), nb);
    }
}

void kernels_x86_gemv_k_vnni(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                             int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols,
                             float *y, int64_t ldy) {
    switch (wtype) {
    case KY_TYPE_Q4_K:
        gemv_k_t(KY_TYPE_Q4_K, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    case KY_TYPE_Q5_K:
        gemv_k_t(KY_TYPE_Q5_K, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    case KY_TYPE_Q6_K:
        gemv_k_t(KY_TYPE_Q6_K, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    case KY_TYPE_Q2_K:
        gemv_k_t(KY_TYPE_Q2_K, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    default: gemv_k_t(KY_TYPE_Q3_K, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy); break;
    }
}
