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
#include <stddef.h>
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

static inline size_t kq_block_bytes(uint32_t type) {
    return type == KY_TYPE_Q4_K   ? sizeof(block_q4_K)
           : type == KY_TYPE_Q5_K ? sizeof(block_q5_K)
           : type == KY_TYPE_Q2_K ? sizeof(block_q2_K)
           : type == KY_TYPE_Q6_K ? sizeof(block_q6_K)
                                  : sizeof(block_q3_K);
}

/* The f16 super-block scales d and dmin (0 for types without mins) of blocks b..b+g-1 of a row
 * (1 <= g <= 4; lanes from g on are 0 and nothing past block b+g-1 is read). */
static inline __attribute__((always_inline)) void
kscales4(uint32_t type, const void *row, int64_t b, int g, __m128 *d, __m128 *dmin) {
    size_t bs = kq_block_bytes(type);
    size_t at = type == KY_TYPE_Q4_K   ? offsetof(block_q4_K, d)
                : type == KY_TYPE_Q5_K ? offsetof(block_q5_K, d)
                : type == KY_TYPE_Q2_K ? offsetof(block_q2_K, d)
                : type == KY_TYPE_Q6_K ? offsetof(block_q6_K, d)
                                       : offsetof(block_q3_K, d);
    const char *p = (const char *)row + (size_t)b * bs + at;
    /* lanes built in registers: a vector load of small stores would stall store forwarding */
    uint32_t v[4] = {0, 0, 0, 0};
    size_t n = kq_offset(type) == 0 ? 4 : 2;
    for (int i = 0; i < g; i++) memcpy(&v[i], p + (size_t)i * bs, n);
    __m128i h = _mm_setr_epi32((int)v[0], (int)v[1], (int)v[2], (int)v[3]);
    if (kq_offset(type) == 0) { /* d and dmin adjacent: 4 (d, dmin) pairs in one conversion */
        __m256 f = _mm256_cvtph_ps(h);
        __m128 lo = _mm256_castps256_ps128(f), hi = _mm256_extractf128_ps(f, 1);
        *d = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
        *dmin = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    } else { /* d alone: the low half of each 32-bit lane */
        *d = _mm_cvtph_ps(_mm_packus_epi32(h, h));
        *dmin = _mm_setzero_ps();
    }
}

/* The integer work of super-block b of a row against activation block x (pairs: its sums per 32,
 * see act_pairs): returns 16 int32 lanes summing to Σ u·x·scale and sets *m to 4 int32 lanes
 * summing to the mins term msum (types with mins) or to Σ_g sc_g·bsum_g (offset types: isum =
 * Σ − offset·that). Always inlined with constant type. */
static inline __attribute__((always_inline)) __m512i kblock(uint32_t type, const void *row,
                                                            int64_t b, const block_q8_K *x,
                                                            const int16_t *pairs, __m128i *m) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    __m512i acc = _mm512_setzero_si512();
    switch (type) {
    case KY_TYPE_Q4_K:
    case KY_TYPE_Q5_K: {
        const uint8_t *scales, *qs, *qhp = NULL;
        if (type == KY_TYPE_Q4_K) {
            const block_q4_K *w = (const block_q4_K *)row + b;
            scales = w->scales, qs = w->qs;
        } else {
            const block_q5_K *w = (const block_q5_K *)row + b;
            scales = w->scales, qs = w->qs, qhp = w->qh;
        }
        __m128i sm = k4_scales_mins(scales);
        __m512i sc = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm)); /* lanes 0-7: scales */
        *m = k4_msum(sm, pairs);
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

/* A super-block unpacked once for several tokens (the multi-token path): u[j] the unsigned quants of
 * elements 64j..64j+63, sc[j] their 16-bit scales per pair of elements (as kblock passes them to
 * dot64), ms the per-block term of the mins or offset sum (the 6-bit mins in bytes 8-15 for
 * Q4_K/Q5_K, the signed 16 group scales for Q6_K/Q3_K, the 16 4-bit mins for Q2_K). */
typedef struct kunpacked {
    __m512i u[4], sc[4];
    __m128i ms;
} kunpacked;

/* Unpacks super-block b of a row into *k: the same bytes and scales kblock feeds dot64, so
 * kdot/kmsum below give kblock's integer sums exactly. Always inlined with constant type.
 * kblock keeps its own copy of this unpacking, interleaved with its dot products: built from
 * kunpack + kdot the one-token Q6_K product measured 4% slower (1536x1536, cache-resident, 1
 * thread: 119.9 vs 114.7 us best of 400), and decode is the path a user waits on. */
static inline __attribute__((always_inline)) void kunpack(uint32_t type, const void *row, int64_t b,
                                                          kunpacked *k) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    switch (type) {
    case KY_TYPE_Q4_K:
    case KY_TYPE_Q5_K: {
        const uint8_t *scales, *qs, *qhp = NULL;
        if (type == KY_TYPE_Q4_K) {
            const block_q4_K *w = (const block_q4_K *)row + b;
            scales = w->scales, qs = w->qs;
        } else {
            const block_q5_K *w = (const block_q5_K *)row + b;
            scales = w->scales, qs = w->qs, qhp = w->qh;
        }
        __m128i sm = k4_scales_mins(scales);
        __m512i sc = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm));
        k->ms = sm;
        __m256i qh = type == KY_TYPE_Q5_K ? _mm256_loadu_si256((const __m256i *)qhp)
                                          : _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m512i u =
                pair256(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            if (type == KY_TYPE_Q5_K) {
                __mmask64 km =
                    (__mmask64)_mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * j)))) |
                    ((__mmask64)_mm256_test_epi8_mask(qh,
                                                      _mm256_set1_epi8((char)(1 << (2 * j + 1))))
                     << 32);
                u = _mm512_mask_add_epi8(u, km, u, _mm512_set1_epi8(16));
            }
            k->u[j] = u;
            k->sc[j] = scales32(sc, j);
        }
        return;
    }
    case KY_TYPE_Q6_K: {
        const block_q6_K *w = (const block_q6_K *)row + b;
        __m128i s8 = _mm_loadu_si128((const __m128i *)w->scales);
        __m512i sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(s8));
        k->ms = s8;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w->ql + 64 * h, *qh = w->qh + 32 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
#pragma GCC unroll 2
            for (int part = 0; part < 2; part++) {
                int sh = 4 * part;
                __m256i a = _mm256_and_si256(_mm256_srli_epi16(l0, sh), m4);
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(l1, sh), m4);
                __m256i ha = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, sh), m2), 4);
                __m256i hc =
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, sh + 2), m2), 4);
                k->u[2 * h + part] = pair256(_mm256_or_si256(a, ha), _mm256_or_si256(c, hc));
                k->sc[2 * h + part] = scales16(sc, 8 * h + 4 * part);
            }
        }
        return;
    }
    case KY_TYPE_Q2_K: {
        const block_q2_K *w = (const block_q2_K *)row + b;
        __m128i raw = _mm_loadu_si128((const __m128i *)w->scales);
        __m512i sc =
            _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0x0F))));
        k->ms = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * h));
#pragma GCC unroll 2
            for (int kk = 0; kk < 4; kk += 2) {
                k->u[2 * h + kk / 2] =
                    pair256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * kk), m2),
                            _mm256_and_si256(_mm256_srli_epi16(q, 2 * kk + 2), m2));
                k->sc[2 * h + kk / 2] = scales16(sc, 8 * h + 2 * kk);
            }
        }
        return;
    }
    default: {
        const block_q3_K *w = (const block_q3_K *)row + b;
        __m128i s8 = q3k_scales(w->scales);
        __m512i sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(s8));
        k->ms = s8;
        __m256i hm = _mm256_loadu_si256((const __m256i *)w->hmask);
        const __m256i four = _mm256_set1_epi8(4);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * h));
#pragma GCC unroll 2
            for (int kk = 0; kk < 4; kk += 2) {
                __m256i u0 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * kk), m2);
                __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * kk + 2), m2);
                __mmask32 h0 =
                    _mm256_test_epi8_mask(hm, _mm256_set1_epi8((char)(1 << (4 * h + kk))));
                __mmask32 h1 =
                    _mm256_test_epi8_mask(hm, _mm256_set1_epi8((char)(1 << (4 * h + kk + 1))));
                u0 = _mm256_mask_or_epi32(u0, 0xFF, u0, _mm256_maskz_mov_epi8(h0, four));
                u1 = _mm256_mask_or_epi32(u1, 0xFF, u1, _mm256_maskz_mov_epi8(h1, four));
                k->u[2 * h + kk / 2] = pair256(u0, u1);
                k->sc[2 * h + kk / 2] = scales16(sc, 8 * h + 2 * kk);
            }
        }
        return;
    }
    }
}

/* 16 int32 lanes summing to Σ u·x·scale of an unpacked super-block against activation block x. */
static inline __m512i kdot(const kunpacked *k, const block_q8_K *x) {
    __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) acc = dot64(acc, k->u[j], x->qs + 64 * j, k->sc[j]);
    return acc;
}

/* kblock's *m for an unpacked super-block (pairs: x's act_pairs, Q4_K/Q5_K only). */
static inline __attribute__((always_inline)) __m128i
kmsum(uint32_t type, const kunpacked *k, const block_q8_K *x, const int16_t *pairs) {
    if (type == KY_TYPE_Q4_K || type == KY_TYPE_Q5_K) return k4_msum(k->ms, pairs);
    return group_sum(k->ms, x->bsums);
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

/* The terms of a group of g <= 4 super-blocks starting at b: one reduction for the group. */
static inline __attribute__((always_inline)) __m128
group_terms(uint32_t type, const void *row, const block_q8_K *x, int64_t b, int g, __m512i a0,
            __m512i a1, __m512i a2, __m512i a3, __m128i m0, __m128i m1, __m128i m2, __m128i m3) {
    __m128i isum, msum;
    __m128 d, dmin;
    finish(type, reduce4(a0, a1, a2, a3), reduce4_128(m0, m1, m2, m3), &isum, &msum);
    kscales4(type, row, b, g, &d, &dmin);
    __m128 dy = _mm_setr_ps(x[b].d, g > 1 ? x[b + 1].d : 0.0f, g > 2 ? x[b + 2].d : 0.0f,
                            g > 3 ? x[b + 3].d : 0.0f);
    return k_terms(d, dmin, dy, isum, msum);
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
        __m512i a0 = kblock(type, row, b, x + b, pairs + 8 * b, &m0);
        __m512i a1 = kblock(type, row, b + 1, x + b + 1, pairs + 8 * (b + 1), &m1);
        __m512i a2 = kblock(type, row, b + 2, x + b + 2, pairs + 8 * (b + 2), &m2);
        __m512i a3 = kblock(type, row, b + 3, x + b + 3, pairs + 8 * (b + 3), &m3);
        __m128 t = group_terms(type, row, x, b, 4, a0, a1, a2, a3, m0, m1, m2, m3);
        sum += _mm_cvtss_f32(t);
        sum += _mm_cvtss_f32(_mm_shuffle_ps(t, t, 1));
        sum += _mm_cvtss_f32(_mm_movehl_ps(t, t));
        sum += _mm_cvtss_f32(_mm_shuffle_ps(t, t, 3));
    }
    if (b < nb) { /* 1-3 blocks left: the same group arithmetic with zero lanes */
        int g = (int)(nb - b);
        const __m512i z = _mm512_setzero_si512();
        const __m128i zm = _mm_setzero_si128();
        __m128i m0, m1 = zm, m2 = zm;
        __m512i a0 = kblock(type, row, b, x + b, pairs + 8 * b, &m0), a1 = z, a2 = z;
        if (g > 1) a1 = kblock(type, row, b + 1, x + b + 1, pairs + 8 * (b + 1), &m1);
        if (g > 2) a2 = kblock(type, row, b + 2, x + b + 2, pairs + 8 * (b + 2), &m2);
        float t[4];
        _mm_storeu_ps(t, group_terms(type, row, x, b, g, a0, a1, a2, z, m0, m1, m2, zm));
        for (int i = 0; i < g; i++) sum += t[i];
    }
    return sum;
}

enum {
    KCH = 128,  /* super-blocks per pass (32768 elements) */
    MC_COLS = 8 /* tokens per pass, sharing one unpacking of each super-block */
};

/* One group of g <= 4 super-blocks from b for row_dot_multi (always inlined with constant g). */
static inline __attribute__((always_inline)) void mc_group(uint32_t type, const void *row,
                                                           const block_q8_K *const *x,
                                                           int16_t (*pairs)[KCH * 8], int nc,
                                                           int64_t b, int g, float *sum) {
    const __m512i z = _mm512_setzero_si512();
    const __m128i zm = _mm_setzero_si128();
    __m512i a[MC_COLS][4];
    __m128i m[MC_COLS][4];
    for (int i = 0; i < 4; i++) {
        if (i >= g) {
            for (int c = 0; c < nc; c++) a[c][i] = z, m[c][i] = zm;
            continue;
        }
        kunpacked k;
        kunpack(type, row, b + i, &k);
        for (int c = 0; c < nc; c++) {
            a[c][i] = kdot(&k, x[c] + b + i);
            m[c][i] = kmsum(type, &k, x[c] + b + i, pairs[c] + 8 * (b + i));
        }
    }
    for (int c = 0; c < nc; c++) {
        __m128 t = group_terms(type, row, x[c], b, g, a[c][0], a[c][1], a[c][2], a[c][3], m[c][0],
                               m[c][1], m[c][2], m[c][3]);
        float s = sum[c];
        s += _mm_cvtss_f32(t);
        if (g > 1) s += _mm_cvtss_f32(_mm_shuffle_ps(t, t, 1));
        if (g > 2) s += _mm_cvtss_f32(_mm_movehl_ps(t, t));
        if (g > 3) s += _mm_cvtss_f32(_mm_shuffle_ps(t, t, 3));
        sum[c] = s;
    }
}

/* sum[c] += the dot of one row's super-blocks [0, nb) with activation rows x[c], c < nc <= MC_COLS:
 * each super-block is unpacked once for all the tokens, and every token's sum is formed exactly
 * as row_dot forms it (groups of four super-blocks, one reduction, terms added in block order),
 * so the result equals nc calls of row_dot bit for bit. */
static inline __attribute__((always_inline)) void row_dot_multi(uint32_t type, const void *row,
                                                                const block_q8_K *const *x,
                                                                int16_t (*pairs)[KCH * 8], int nc,
                                                                int64_t nb, float *sum) {
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) mc_group(type, row, x, pairs, nc, b, 4, sum);
    switch (nb - b) {
    case 1: mc_group(type, row, x, pairs, nc, b, 1, sum); break;
    case 2: mc_group(type, row, x, pairs, nc, b, 2, sum); break;
    case 3: mc_group(type, row, x, pairs, nc, b, 3, sum); break;
    default: break;
    }
}

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
    int16_t pairs[MC_COLS][KCH * 8];
    const int k4 = type == KY_TYPE_Q4_K || type == KY_TYPE_Q5_K;
    const size_t bs = kq_block_bytes(type);
    int64_t nb_all = n / QK_K;
    for (int64_t c0 = 0; c0 < n_cols; c0 += MC_COLS) {
        int nc = (int)(n_cols - c0 < MC_COLS ? n_cols - c0 : MC_COLS);
        for (int64_t b0 = 0; b0 < nb_all; b0 += KCH) { /* y carries the sum across passes */
            int64_t nb = nb_all - b0 < KCH ? nb_all - b0 : KCH;
            const block_q8_K *xc[MC_COLS];
            for (int c = 0; c < nc; c++) {
                xc[c] = (const block_q8_K *)((const char *)x + (size_t)(c0 + c) * x_stride) + b0;
                if (k4) act_pairs(xc[c], nb, pairs[c]);
            }
            /* rows in memory order (one sequential stream per thread); a row stays in L1
             * across the tokens */
            for (int64_t r = 0; r < n_rows; r++) {
                const char *row = (const char *)w + (size_t)r * w_stride + (size_t)b0 * bs;
                if (nc == 1) { /* decode: one token */
                    float *yc = y + c0 * ldy + r;
                    *yc = row_dot(type, row, xc[0], pairs[0], nb, b0 == 0 ? 0.0f : *yc);
                    continue;
                }
                float sum[MC_COLS];
                for (int c = 0; c < nc; c++) sum[c] = b0 == 0 ? 0.0f : y[(c0 + c) * ldy + r];
                row_dot_multi(type, row, xc, pairs, nc, nb, sum);
                for (int c = 0; c < nc; c++) y[(c0 + c) * ldy + r] = sum[c];
            }
        }
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
