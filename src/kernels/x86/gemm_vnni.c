/* gemm_vnni.c — cache-blocked GEMM for quantized weights with AVX-512 VNNI (layer: kernels/x86).
 *
 * The prefill path (many tokens). Weights stay in their file layout; for each panel of 16 rows
 * and K chunk of 1024 elements the kernel unpacks the quants to unsigned bytes and transposes
 * them so one zmm holds 4 consecutive quants of each of the 16 rows ("packing A", as BLIS does).
 * One vpdpbusd with a broadcast 4-byte activation slice then advances 16 row sums for one token,
 * with no horizontal reductions. Activations are re-laid once per (token chunk, K chunk) with
 * their per-block scale and offset term. Unsigned quants carry an offset (Q8_0 +128, Q4_0 +8,
 * Q5_0 +16, Q6_K +32, Q3_K +4) removed exactly through the activation block sums; mins (Q4_1/Q5_1/
 * Q4_K/Q5_K/Q2_K) are a float term per block. Narrow products (fewer tokens than pack_min_cols) use
 * the row dots, which unpack each block once for all their tokens.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/x86/x86.h"
#include "tensor/fp16.h"

enum {
    PR = 16,                /* rows per panel (zmm lanes) */
    KC = KERNELS_X86_CHUNK, /* K chunk in elements (multiple of 256) */
    NC = 256,               /* tokens per activation chunk */
    NT = 8,                 /* tokens per micro-tile */
    SUB = KC / 32           /* 32-element sub-blocks per chunk */
};

/* FAM_32: Q8_0/Q4_0/Q5_0; FAM_32MIN: Q4_1/Q5_1; FAM_K4: Q4_K/Q5_K; FAM_G16: Q6_K/Q3_K (signed
 * per-16 scales, offset quants); FAM_K2: Q2_K (per-16 scale and min). */
typedef enum { FAM_32, FAM_32MIN, FAM_K4, FAM_G16, FAM_K2 } family;

static family family_of(uint32_t type) {
    switch (type) {
    case KY_TYPE_Q4_1:
    case KY_TYPE_Q5_1: return FAM_32MIN;
    case KY_TYPE_Q4_K:
    case KY_TYPE_Q5_K: return FAM_K4;
    case KY_TYPE_Q6_K:
    case KY_TYPE_Q3_K: return FAM_G16;
    case KY_TYPE_Q2_K: return FAM_K2;
    default: return FAM_32;
    }
}

/* Packed weight panel for one K chunk. u[k][s] is one zmm: quants 4s..4s+3 of sub-block k for the
 * 16 rows. 32-element types: float scale ws[2k] and min wm[2k] per row. K-quants keep llama.cpp's
 * integer block sums: integer scales sc[2k] (per 32) or sc[2k], sc[2k+1] (per 16), integer mins
 * as int16 pairs mp[8·kb + q] (vpdpwssd operands), and the f16 super-block scales d, dmin. */
typedef struct wpanel {
    uint8_t u[SUB][8][PR * 4];
    float ws[2 * SUB][PR];
    float wm[2 * SUB][PR];
    int32_t sc[2 * SUB][PR];
    int16_t mp[SUB][PR * 2];
    float d[KC / QK_K][PR], dmin[KC / QK_K][PR];
} wpanel;

/* Activation slices: 32-element blocks (Q8_0/Q8_1) or 256-element blocks (Q8_K). */
typedef struct act32 {
    int8_t qs[32];
    float d;
    union {
        int32_t init; /* -offset * Σq: the int accumulator's start */
        float s;      /* Q8_1: f16(d·Σq) for the min term */
    } u;
} act32;
typedef struct actK {
    int8_t qs[QK_K];
    float d;
    union {
        int32_t off[16];   /* Q6_K / Q3_K: -offset · Σq over each 16 */
        int16_t pairs[16]; /* Q4_K/Q5_K: Σq over each 32 (8); Q2_K: over each 16 (16) */
    } u;
} actK;

/* ---- per-type unpacking of one 32-element sub-block of one row to unsigned bytes ------------- */

static inline __m256i nib_lo_hi(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

static inline __m256i with_high_bits(__m256i u, uint32_t bits) {
    return _mm256_or_si256(u, _mm256_maskz_mov_epi8((__mmask32)bits, _mm256_set1_epi8(16)));
}

/* Per-row terms of one 32-element sub-block: float scale/min (32-element types), integer
 * scales/mins of the sub-block or of its two 16-element groups, and K super-block scales. */
typedef struct sub_meta {
    float ws, wm;
    int32_t sc0, sc1, mn0, mn1;
    float d, dmin;
} sub_meta;

/* Unpacks sub-block k (32 elements) of a row starting at block pointer `row` to unsigned bytes
 * and fills *m. */
static inline __m256i unpack_sub(uint32_t type, const uint8_t *row, int64_t k, sub_meta *m) {
    switch (type) {
    case KY_TYPE_Q8_0: {
        const block_q8_0 *b = (const block_q8_0 *)row + k;
        m->ws = _cvtsh_ss(b->d);
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs),
                                _mm256_set1_epi8((char)0x80));
    }
    case KY_TYPE_Q4_0: {
        const block_q4_0 *b = (const block_q4_0 *)row + k;
        m->ws = _cvtsh_ss(b->d);
        return nib_lo_hi(b->qs);
    }
    case KY_TYPE_Q5_0: {
        const block_q5_0 *b = (const block_q5_0 *)row + k;
        uint32_t qh;
        memcpy(&qh, b->qh, 4);
        m->ws = _cvtsh_ss(b->d);
        return with_high_bits(nib_lo_hi(b->qs), qh);
    }
    case KY_TYPE_Q4_1: {
        const block_q4_1 *b = (const block_q4_1 *)row + k;
        m->ws = _cvtsh_ss(b->d);
        m->wm = _cvtsh_ss(b->m);
        return nib_lo_hi(b->qs);
    }
    case KY_TYPE_Q5_1: {
        const block_q5_1 *b = (const block_q5_1 *)row + k;
        uint32_t qh;
        memcpy(&qh, b->qh, 4);
        m->ws = _cvtsh_ss(b->d);
        m->wm = _cvtsh_ss(b->m);
        return with_high_bits(nib_lo_hi(b->qs), qh);
    }
    case KY_TYPE_Q4_K:
    case KY_TYPE_Q5_K: {
        int64_t kb = k / 8;
        int j = (int)(k % 8);
        const uint8_t *scales, *qs;
        if (type == KY_TYPE_Q4_K) {
            const block_q4_K *b = (const block_q4_K *)row + kb;
            scales = b->scales, qs = b->qs, m->d = _cvtsh_ss(b->d), m->dmin = _cvtsh_ss(b->dmin);
        } else {
            const block_q5_K *b = (const block_q5_K *)row + kb;
            scales = b->scales, qs = b->qs, m->d = _cvtsh_ss(b->d), m->dmin = _cvtsh_ss(b->dmin);
        }
        uint8_t sc, mn;
        ky_q4k_scale_min(j, scales, &sc, &mn);
        m->sc0 = sc;
        m->mn0 = mn;
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
        if (j & 1) q = _mm256_srli_epi16(q, 4);
        __m256i u = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
        if (type == KY_TYPE_Q5_K) {
            const block_q5_K *b = (const block_q5_K *)row + kb;
            __m256i qh = _mm256_loadu_si256((const __m256i *)b->qh);
            __mmask32 bits = _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << j)));
            u = _mm256_mask_add_epi8(u, bits, u, _mm256_set1_epi8(16));
        }
        return u;
    }
    case KY_TYPE_Q2_K:
    case KY_TYPE_Q3_K: {
        int j = (int)(k % 8), h = j / 4, sh = 2 * (j % 4); /* elements 128h + 32(j%4) + l */
        const uint8_t *qs = type == KY_TYPE_Q2_K ? ((const block_q2_K *)row + k / 8)->qs
                                                 : ((const block_q3_K *)row + k / 8)->qs;
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, sh), _mm256_set1_epi8(3));
        if (type == KY_TYPE_Q2_K) {
            const block_q2_K *b = (const block_q2_K *)row + k / 8;
            m->d = _cvtsh_ss(b->d);
            m->dmin = _cvtsh_ss(b->dmin);
            m->sc0 = b->scales[2 * j] & 0xF;
            m->sc1 = b->scales[2 * j + 1] & 0xF;
            m->mn0 = b->scales[2 * j] >> 4;
            m->mn1 = b->scales[2 * j + 1] >> 4;
            return u;
        }
        const block_q3_K *b = (const block_q3_K *)row + k / 8;
        __m256i hm = _mm256_loadu_si256((const __m256i *)b->hmask);
        __mmask32 hb = _mm256_test_epi8_mask(hm, _mm256_set1_epi8((char)(1 << j)));
        m->d = _cvtsh_ss(b->d);
        m->sc0 = ky_q3k_scale(2 * j, b->scales);
        m->sc1 = ky_q3k_scale(2 * j + 1, b->scales);
        return _mm256_mask_add_epi8(u, hb, u, _mm256_set1_epi8(4)); /* stored +4 */
    }
    default: { /* KY_TYPE_Q6_K */
        const block_q6_K *b = (const block_q6_K *)row + k / 8;
        int j = (int)(k % 8), h = j / 4, part = j % 4; /* 32 elements: half h, quarter part */
        const uint8_t *ql = b->ql + 64 * h + 32 * (part & 1), *qh = b->qh + 32 * h;
        __m256i l = _mm256_loadu_si256((const __m256i *)ql);
        __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
        const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
        __m256i lo = _mm256_and_si256(_mm256_srli_epi16(l, 4 * (part >> 1)), m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hh, 2 * part), m2);
        m->d = _cvtsh_ss(b->d);
        m->sc0 = b->scales[2 * j];
        m->sc1 = b->scales[2 * j + 1];
        return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
    }
    }
}

/* Transposes 16 rows x 8 dwords (rows[r] = 8 dwords of row r) into out[s] = dword s of each row. */
static inline __attribute__((always_inline)) void transpose16x8(const __m256i rows[PR],
                                                                uint8_t out[8][PR * 4]) {
    __m512i z[8], p[8], q[8];
    for (int k = 0; k < 8; k++)
        z[k] = _mm512_inserti64x4(_mm512_castsi256_si512(rows[2 * k]), rows[2 * k + 1], 1);
    /* stage 1: rows 4g..4g+3, s-quads: p[2g+h] position 4s'+q = row 4g+q, s = 4h+s' */
    const __m512i i1a = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i i1b = _mm512_add_epi32(i1a, _mm512_set1_epi32(4));
    for (int g = 0; g < 4; g++) {
        p[2 * g] = _mm512_permutex2var_epi32(z[2 * g], i1a, z[2 * g + 1]);
        p[2 * g + 1] = _mm512_permutex2var_epi32(z[2 * g], i1b, z[2 * g + 1]);
    }
    /* stage 2: rows 8G..8G+7; q[4G+2h+a] position i: s' = 2a + (i>=8), row r = i%8 */
    const __m512i i2a = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i i2b = _mm512_add_epi32(i2a, _mm512_set1_epi32(8));
    for (int G = 0; G < 2; G++)
        for (int h = 0; h < 2; h++) {
            __m512i a = p[4 * G + h], b = p[4 * G + 2 + h];
            q[4 * G + 2 * h] = _mm512_permutex2var_epi32(a, i2a, b);
            q[4 * G + 2 * h + 1] = _mm512_permutex2var_epi32(a, i2b, b);
        }
    /* stage 3: all 16 rows; s = 4h + 2a + t */
    const __m512i i3a = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i i3b = _mm512_add_epi32(i3a, _mm512_set1_epi32(8));
    for (int h = 0; h < 2; h++)
        for (int a = 0; a < 2; a++) {
            __m512i lo = q[2 * h + a], hi = q[4 + 2 * h + a];
            int s = 4 * h + 2 * a;
            _mm512_store_si512(out[s], _mm512_permutex2var_epi32(lo, i3a, hi));
            _mm512_store_si512(out[s + 1], _mm512_permutex2var_epi32(lo, i3b, hi));
        }
}

/* Q4_K/Q5_K: the quants of super-blocks [kb0, kb0 + nblk) of row r into rows[k][r], a
 * super-block at a time: the bytes unpack_sub gives (the terms come from pack_terms_k). */
static inline __attribute__((always_inline)) void
pack_row_k4(uint32_t type, const uint8_t *row, int64_t kb0, int nblk, int r, __m256i (*rows)[PR]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int kb = 0; kb < nblk; kb++) {
        const uint8_t *qs, *qh = NULL;
        if (type == KY_TYPE_Q4_K) {
            qs = ((const block_q4_K *)row + kb0 + kb)->qs;
        } else {
            const block_q5_K *b = (const block_q5_K *)row + kb0 + kb;
            qs = b->qs, qh = b->qh;
        }
        __m256i hb =
            type == KY_TYPE_Q5_K ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
            __m256i lo = _mm256_and_si256(q, m4),
                    hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (type == KY_TYPE_Q5_K) {
                __mmask32 b0 = _mm256_test_epi8_mask(hb, _mm256_set1_epi8((char)(1 << (2 * h))));
                __mmask32 b1 = _mm256_test_epi8_mask(hb, _mm256_set1_epi8((char)(2 << (2 * h))));
                lo = _mm256_mask_add_epi8(lo, b0, lo, _mm256_set1_epi8(16));
                hi = _mm256_mask_add_epi8(hi, b1, hi, _mm256_set1_epi8(16));
            }
            rows[8 * kb + 2 * h][r] = lo;
            rows[8 * kb + 2 * h + 1][r] = hi;
        }
    }
}

/* Q6_K: as pack_row_k4 (the quants of a half loaded once). */
static inline void pack_row_q6k(const uint8_t *row, int64_t kb0, int nblk, int r,
                                __m256i (*rows)[PR]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int kb = 0; kb < nblk; kb++) {
        const block_q6_K *b = (const block_q6_K *)row + kb0 + kb;
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            __m256i hh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
#pragma GCC unroll 4
            for (int part = 0; part < 4; part++) { /* sub-block 4h + part */
                __m256i l = part & 1 ? l1 : l0;
                __m256i lo = _mm256_and_si256(_mm256_srli_epi16(l, 4 * (part >> 1)), m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hh, 2 * part), m2);
                rows[8 * kb + 4 * h + part][r] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
            }
        }
    }
}

/* The per-lane terms of super-blocks [kb0, kb0 + nblk) of a Q4_K/Q5_K/Q6_K panel (rows
 * [0, n_rows), the others 0): the 16 rows' scale bytes and f16 scales gathered as dwords and
 * decoded 16 lanes at a time into the layout microK reads — what unpack_sub gives per row, for a
 * tenth of the instructions of decoding and storing them row by row. Needs 15·w_stride < 2^31. */
static inline __attribute__((always_inline)) void pack_terms_k(uint32_t type, const uint8_t *w,
                                                               size_t w_stride, int64_t n_rows,
                                                               int64_t kb0, int nblk, wpanel *p) {
    const __mmask16 live = (__mmask16)((1u << n_rows) - 1);
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32((int)w_stride));
    const __m512i z = _mm512_setzero_si512();
#define GATHER(base) _mm512_mask_i32gather_epi32(z, live, idx, (const void *)(base), 1)
    for (int kb = 0; kb < nblk; kb++) {
        if (type == KY_TYPE_Q6_K) {
            const block_q6_K *b = (const block_q6_K *)w + kb0 + kb;
            /* d is the last 2 bytes of the block: read the dword that ends there */
            __m512i gd = _mm512_srli_epi32(GATHER((const uint8_t *)&b->d - 2), 16);
            _mm512_storeu_ps(p->d[kb], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(gd)));
            for (int i = 0; i < 4; i++) {
                __m512i g = GATHER(b->scales + 4 * i);
                for (int t = 0; t < 4; t++) /* signed byte t of each lane */
                    _mm512_storeu_si512(
                        p->sc[16 * kb + 4 * i + t],
                        _mm512_srai_epi32(_mm512_sllv_epi32(g, _mm512_set1_epi32(24 - 8 * t)), 24));
            }
            continue;
        }
        /* Q5_K starts as Q4_K: d, dmin, the 12 scale bytes */
        size_t bs = type == KY_TYPE_Q4_K ? sizeof(block_q4_K) : sizeof(block_q5_K);
        const block_q4_K *b = (const block_q4_K *)(w + (size_t)(kb0 + kb) * bs);
        __m512i gd = GATHER(&b->d); /* d | dmin << 16 */
        _mm512_storeu_ps(p->d[kb], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(gd)));
        _mm512_storeu_ps(p->dmin[kb],
                         _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(gd, 16))));
        __m512i g0 = GATHER(b->scales), g1 = GATHER(b->scales + 4), g2 = GATHER(b->scales + 8);
        __m512i sc[8], mn[8];
        for (int j = 0; j < 4; j++) { /* ky_q4k_scale_min, 16 rows at a time */
            __m512i sh = _mm512_set1_epi32(8 * j), sh6 = _mm512_set1_epi32(8 * j + 6);
            __m512i sh4 = _mm512_set1_epi32(8 * j + 4), m63 = _mm512_set1_epi32(63);
            __m512i m15 = _mm512_set1_epi32(15), m3 = _mm512_set1_epi32(3);
            sc[j] = _mm512_and_si512(_mm512_srlv_epi32(g0, sh), m63);
            mn[j] = _mm512_and_si512(_mm512_srlv_epi32(g1, sh), m63);
            sc[j + 4] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srlv_epi32(g2, sh), m15),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srlv_epi32(g0, sh6), m3), 4));
            mn[j + 4] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srlv_epi32(g2, sh4), m15),
                _mm512_slli_epi32(_mm512_and_si512(_mm512_srlv_epi32(g1, sh6), m3), 4));
        }
        for (int j = 0; j < 8; j++) _mm512_storeu_si512(p->sc[2 * (8 * kb + j)], sc[j]);
        for (int q = 0; q < 4; q++) /* int16 pairs (min 2q, min 2q+1) per lane */
            _mm512_storeu_si512(p->mp[8 * kb + q],
                                _mm512_or_si512(mn[2 * q], _mm512_slli_epi32(mn[2 * q + 1], 16)));
    }
#undef GATHER
}

/* Packs rows [0, n_rows) (<= 16; missing rows are zero) of sub-blocks [k0, k0+nsub), row by row
 * (the panel's rows are contiguous in memory: one sequential stream the hardware prefetchers
 * follow; sub-block-major order jumped a row length per access and stalled on every load) into
 * rows[k][r], then transposes each sub-block. Inlined per type (pack_panel below) so the
 * unpacking switch folds away and the terms a family does not use are not stored. */
static inline __attribute__((always_inline)) void pack_panel_t(uint32_t type, const uint8_t *w,
                                                               size_t w_stride, int64_t n_rows,
                                                               int64_t k0, int nsub, wpanel *p,
                                                               __m256i (*rows)[PR]) {
    const family fam = family_of(type);
    const int fast_k = (type == KY_TYPE_Q4_K || type == KY_TYPE_Q5_K || type == KY_TYPE_Q6_K) &&
                       w_stride <= (size_t)INT32_MAX / PR;
    if (fast_k) pack_terms_k(type, w, w_stride, n_rows, k0 / 8, nsub / 8, p);
    for (int r = 0; r < PR; r++) {
        const uint8_t *row = w + (size_t)r * w_stride;
        if (fast_k) {
            if (r >= n_rows)
                for (int k = 0; k < nsub; k++) rows[k][r] = _mm256_setzero_si256();
            else if (type == KY_TYPE_Q6_K)
                pack_row_q6k(row, k0 / 8, nsub / 8, r, rows);
            else
                pack_row_k4(type, row, k0 / 8, nsub / 8, r, rows);
            continue;
        }
        for (int k = 0; k < nsub; k++) {
            int kb = k / 8, j = k % 8;
            sub_meta m = {0};
            rows[k][r] = r < n_rows ? unpack_sub(type, row, k0 + k, &m) : _mm256_setzero_si256();
            if (fam == FAM_32 || fam == FAM_32MIN) p->ws[2 * k][r] = m.ws;
            if (fam == FAM_32MIN) p->wm[2 * k][r] = m.wm;
            if (fam != FAM_32 && fam != FAM_32MIN) p->sc[2 * k][r] = m.sc0;
            if (fam == FAM_G16 || fam == FAM_K2) p->sc[2 * k + 1][r] = m.sc1;
            if (fam == FAM_K4) {
                p->mp[8 * kb + j / 2][2 * r + (j & 1)] = (int16_t)m.mn0;
            } else if (fam == FAM_K2) {
                p->mp[8 * kb + j][2 * r] = (int16_t)m.mn0;
                p->mp[8 * kb + j][2 * r + 1] = (int16_t)m.mn1;
            }
            if (j == 0 && fam != FAM_32 && fam != FAM_32MIN) {
                p->d[kb][r] = m.d;
                p->dmin[kb][r] = m.dmin;
            }
        }
    }
    for (int k = 0; k < nsub; k++) transpose16x8(rows[k], p->u[k]);
}

static void pack_panel(uint32_t type, const uint8_t *w, size_t w_stride, int64_t n_rows, int64_t k0,
                       int nsub, wpanel *p, __m256i (*rows)[PR]) {
    switch (type) {
    case KY_TYPE_Q8_0: pack_panel_t(KY_TYPE_Q8_0, w, w_stride, n_rows, k0, nsub, p, rows); break;
    case KY_TYPE_Q4_0: pack_panel_t(KY_TYPE_Q4_0, w, w_stride, n_rows, k0, nsub, p, rows); break;
    case KY_TYPE_Q5_0: pack_panel_t(KY_TYPE_Q5_0, w, w_stride, n_rows, k0, nsub, p, rows); break;
    case KY_TYPE_Q4_1: pack_panel_t(KY_TYPE_Q4_1, w, w_stride, n_rows, k0, nsub, p, rows); break;
    case KY_TYPE_Q5_1: pack_panel_t(KY_TYPE_Q5_1, w, w_stride, n_rows, k0, nsub, p, rows); break;
    case KY_TYPE_Q4_K: pack_panel_t(KY_TYPE_Q4_K, w, w_stride, n_rows, k0, nsub, p, rows); break;
    case KY_TYPE_Q5_K: pack_panel_t(KY_TYPE_Q5_K, w, w_stride, n_rows, k0, nsub, p, rows); break;
    case KY_TYPE_Q2_K: pack_panel_t(KY_TYPE_Q2_K, w, w_stride, n_rows, k0, nsub, p, rows); break;
    case KY_TYPE_Q3_K: pack_panel_t(KY_TYPE_Q3_K, w, w_stride, n_rows, k0, nsub, p, rows); break;
    default: pack_panel_t(KY_TYPE_Q6_K, w, w_stride, n_rows, k0, nsub, p, rows); break;
    }
}

static inline int32_t sum32_i8(const int8_t *q) {
    __m256i v = _mm256_loadu_si256((const __m256i *)q);
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), v);
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

static int type_offset(uint32_t type) {
    switch (type) {
    case KY_TYPE_Q8_0: return 128;
    case KY_TYPE_Q4_0: return 8;
    case KY_TYPE_Q5_0: return 16;
    default: return 0;
    }
}

/* Re-lays activation blocks of tokens [0, nc) for sub-blocks [k0, k0+nsub) as a[k][c]. */
static void pack_act32(uint32_t type, const void *x, size_t x_stride, int nc, int64_t k0, int nsub,
                       act32 *a) {
    int off = type_offset(type);
    for (int c = 0; c < nc; c++) {
        const char *xr = (const char *)x + (size_t)c * x_stride;
        for (int k = 0; k < nsub; k++) {
            act32 *o = &a[k * NC + c];
            if (type == KY_TYPE_Q4_1 || type == KY_TYPE_Q5_1) {
                const block_q8_1 *b = (const block_q8_1 *)xr + k0 + k;
                memcpy(o->qs, b->qs, 32);
                o->d = _cvtsh_ss(b->d);
                o->u.s = _cvtsh_ss(b->s);
            } else {
                const block_q8_0 *b = (const block_q8_0 *)xr + k0 + k;
                memcpy(o->qs, b->qs, 32);
                o->d = _cvtsh_ss(b->d);
                o->u.init = -off * sum32_i8(b->qs);
            }
        }
    }
}

static void pack_actK(uint32_t type, const void *x, size_t x_stride, int nc, int64_t kb0, int nblk,
                      actK *a) {
    for (int c = 0; c < nc; c++) {
        const block_q8_K *xr = (const block_q8_K *)((const char *)x + (size_t)c * x_stride);
        for (int kb = 0; kb < nblk; kb++) {
            const block_q8_K *b = xr + kb0 + kb;
            actK *o = &a[kb * NC + c];
            memcpy(o->qs, b->qs, QK_K);
            o->d = b->d;
            if (type == KY_TYPE_Q6_K || type == KY_TYPE_Q3_K) {
                int off = type == KY_TYPE_Q6_K ? 32 : 4;
                for (int g = 0; g < 16; g++) o->u.off[g] = -off * b->bsums[g];
            } else if (type == KY_TYPE_Q2_K) {
                memcpy(o->u.pairs, b->bsums, sizeof o->u.pairs);
            } else { /* sums per 32: |.| <= 4064 fits int16 */
                for (int j = 0; j < 8; j++)
                    o->u.pairs[j] = (int16_t)(b->bsums[2 * j] + b->bsums[2 * j + 1]);
            }
        }
    }
}

static inline __m512i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm512_set1_epi32(v);
}

/* One 32-element block k of the chunk for tokens c < nt: lane[c] += cvt(Σ u·x) · (ws·dx), then
 * + wm·s for mins (mul then add, no FMA). */
static inline __attribute__((always_inline)) void
block32(family fam, const wpanel *p, int k, const void *act, int c0, int nt, __m512 *lane) {
    __m512i w[8];
#pragma GCC unroll 8
    for (int s = 0; s < 8; s++) w[s] = _mm512_load_si512(p->u[k][s]);
    const act32 *a = (const act32 *)act + k * NC + c0;
    __m512 ws = _mm512_loadu_ps(p->ws[2 * k]);
    __m512 wm = _mm512_loadu_ps(p->wm[2 * k]);
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) {
        __m512i i = fam == FAM_32 ? _mm512_set1_epi32(a[c].u.init) : _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) i = _mm512_dpbusd_epi32(i, w[s], bcast4(a[c].qs + 4 * s));
        lane[c] = _mm512_add_ps(lane[c], _mm512_mul_ps(_mm512_cvtepi32_ps(i),
                                                       _mm512_mul_ps(ws, _mm512_set1_ps(a[c].d))));
        if (fam == FAM_32MIN)
            lane[c] = _mm512_add_ps(lane[c], _mm512_mul_ps(wm, _mm512_set1_ps(a[c].u.s)));
    }
}

/* sum[c] (16 rows) = the chunk's sum for tokens c < nt, 32-element families, in the order the
 * row kernels use (quant_vnni.c) so a batch equals token-by-token products bit for bit: the
 * chunk's even blocks and its odd blocks are summed separately, block by block, from +0, and
 * sum = even + odd (the caller then adds it to y). Always inlined with constant nt. */
static inline __attribute__((always_inline)) void
micro32(family fam, const wpanel *p, int nsub, const void *act, int c0, int nt, __m512 *sum) {
    __m512 even[NT], odd[NT];
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) even[c] = odd[c] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 1 < nsub; k += 2) {
        block32(fam, p, k, act, c0, nt, even);
        block32(fam, p, k + 1, act, c0, nt, odd);
    }
    if (k < nsub) block32(fam, p, k, act, c0, nt, even);
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) sum[c] = _mm512_add_ps(even[c], odd[c]);
}

/* K-quant families, exactly the row-dot kernels' arithmetic per 256-block: integer
 * isum = Σ sc·(Σ u·x) (offsets folded into the start value), integer msum = Σ m·Σx via vpdpwssd,
 * then acc += (d·dy)·isum − (dmin·dy)·msum in that float order, so a batch of tokens gives the
 * same bits as one token at a time. */
static inline __attribute__((always_inline)) void
microK(family fam, const wpanel *p, int nsub, const void *act, int c0, int nt, __m512 *acc) {
    for (int kb = 0; kb < nsub / 8; kb++) {
        const actK *a = (const actK *)act + kb * NC + c0;
        __m512i isum[NT];
#pragma GCC unroll 8
        for (int c = 0; c < nt; c++) isum[c] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            int k = 8 * kb + j;
            __m512i w[8];
#pragma GCC unroll 8
            for (int s = 0; s < 8; s++) w[s] = _mm512_load_si512(p->u[k][s]);
            __m512i sc0 = _mm512_loadu_si512(p->sc[2 * k]),
                    sc1 = _mm512_loadu_si512(p->sc[2 * k + 1]);
#pragma GCC unroll 8
            for (int c = 0; c < nt; c++) {
                const int8_t *xq = a[c].qs + 32 * j;
                if (fam == FAM_K4) {
                    __m512i i = _mm512_setzero_si512();
#pragma GCC unroll 8
                    for (int s = 0; s < 8; s++)
                        i = _mm512_dpbusd_epi32(i, w[s], bcast4(xq + 4 * s));
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(i, sc0));
                } else {
                    __m512i i0 = fam == FAM_G16 ? _mm512_set1_epi32(a[c].u.off[2 * j])
                                                : _mm512_setzero_si512();
                    __m512i i1 = fam == FAM_G16 ? _mm512_set1_epi32(a[c].u.off[2 * j + 1])
                                                : _mm512_setzero_si512();
#pragma GCC unroll 8
                    for (int s = 0; s < 4; s++) {
                        i0 = _mm512_dpbusd_epi32(i0, w[s], bcast4(xq + 4 * s));
                        i1 = _mm512_dpbusd_epi32(i1, w[s + 4], bcast4(xq + 16 + 4 * s));
                    }
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(i0, sc0));
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(i1, sc1));
                }
            }
        }
        __m512 dw = _mm512_loadu_ps(p->d[kb]), dminw = _mm512_loadu_ps(p->dmin[kb]);
#pragma GCC unroll 8
        for (int c = 0; c < nt; c++) {
            __m512 dy = _mm512_set1_ps(a[c].d);
            __m512 t1 = _mm512_mul_ps(_mm512_mul_ps(dw, dy), _mm512_cvtepi32_ps(isum[c]));
            if (fam == FAM_G16) { /* t1 - 0·0, as the row kernels compute it */
                acc[c] = _mm512_add_ps(acc[c], _mm512_sub_ps(t1, _mm512_setzero_ps()));
                continue;
            }
            __m512i ms = _mm512_setzero_si512();
            int npairs = fam == FAM_K4 ? 4 : 8;
            for (int q = 0; q < npairs; q++) {
                int32_t pair;
                memcpy(&pair, &a[c].u.pairs[2 * q], 4);
                ms = _mm512_dpwssd_epi32(ms, _mm512_loadu_si512(p->mp[8 * kb + q]),
                                         _mm512_set1_epi32(pair));
            }
            __m512 t2 = _mm512_mul_ps(_mm512_mul_ps(dminw, dy), _mm512_cvtepi32_ps(ms));
            acc[c] = _mm512_add_ps(acc[c], _mm512_sub_ps(t1, t2));
        }
    }
}

static inline __attribute__((always_inline)) void tile(family fam, const wpanel *p, int nsub,
                                                       const void *act, int c0, int nt, float *y,
                                                       int64_t ldy, __mmask16 rmask, int first) {
    __m512 acc[NT];
    if (fam == FAM_32 || fam == FAM_32MIN) {
        /* y + (even + odd): y is loaded only at the end (fewer live registers) */
        micro32(fam, p, nsub, act, c0, nt, acc);
#pragma GCC unroll 8
        for (int c = 0; c < nt; c++)
            if (!first)
                acc[c] = _mm512_add_ps(_mm512_maskz_loadu_ps(rmask, y + (c0 + c) * ldy), acc[c]);
    } else {
#pragma GCC unroll 8
        for (int c = 0; c < nt; c++)
            acc[c] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(rmask, y + (c0 + c) * ldy);
        microK(fam, p, nsub, act, c0, nt, acc);
    }
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) _mm512_mask_storeu_ps(y + (c0 + c) * ldy, rmask, acc[c]);
}

/* One family's token loop, full tiles of NT unrolled, the tail one token at a time. */
#define TOKEN_LOOP(FAM)                                                                        \
    static void tokens_##FAM(const wpanel *p, int nsub, const void *act, int nc, float *y,     \
                             int64_t ldy, __mmask16 rmask, int first) {                        \
        int c0 = 0;                                                                            \
        for (; c0 + NT <= nc; c0 += NT) tile(FAM, p, nsub, act, c0, NT, y, ldy, rmask, first); \
        for (; c0 < nc; c0++) tile(FAM, p, nsub, act, c0, 1, y, ldy, rmask, first);            \
    }
TOKEN_LOOP(FAM_32)
TOKEN_LOOP(FAM_32MIN)
TOKEN_LOOP(FAM_K4)
TOKEN_LOOP(FAM_G16)
TOKEN_LOOP(FAM_K2)

/* Per-thread packing buffers (kernels_thread_buffer). */
typedef struct gemm_bufs {
    wpanel panel;
    __m256i rows[SUB][PR]; /* unpacked rows of a panel before the transpose */
    union {
        act32 a32[SUB * NC];
        actK aK[(KC / QK_K) * NC];
    } act;
} gemm_bufs;

/* This thread's buffers, or NULL when they cannot be allocated. */
static gemm_bufs *thread_bufs(void) {
    return kernels_thread_buffer(KERNELS_BUF_GEMM_VNNI, sizeof(gemm_bufs));
}

/* Below this many tokens the multi-token row dots (quant_vnni.c, gemv_k_vnni.c) are faster than
 * packing. Measured with `kernels_bench --cols` on Sapphire Rapids (1 thread cache-resident and
 * 2 threads from DRAM): Q4_K's row dots, which share their unpacking, win up to 7 tokens (6: 313
 * vs 285 us hot, 1055 vs 1142 us DRAM); Q6_K and the 32-element types break even at 4-6 tokens
 * (Q5_0 4 tokens: 627 vs 490 hot, 452 vs 513 DRAM; Q6_K 6: 426 vs 306 hot). */
static int pack_min_cols(family fam) { return fam == FAM_K4 ? 8 : 5; }

static void gemm_packed(uint32_t type, int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                        const void *x, size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    family fam = family_of(type);
    if (n_cols < pack_min_cols(fam) || n == 0) {
        kernels_x86_gemv_vnni(type, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        return;
    }
    gemm_bufs *bufs = thread_bufs();
    if (!bufs) { /* out of memory for this thread's buffers: the unpacked path still works */
        kernels_x86_gemv_vnni(type, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        return;
    }
    int kblock = fam == FAM_K4 || fam == FAM_G16 || fam == FAM_K2 ? QK_K : 32;
    for (int64_t c0 = 0; c0 < n_cols; c0 += NC) {
        int nc = (int)(n_cols - c0 < NC ? n_cols - c0 : NC);
        const char *xc = (const char *)x + (size_t)c0 * x_stride;
        for (int64_t e0 = 0; e0 < n; e0 += KC) {
            int nsub = (int)((n - e0 < KC ? n - e0 : KC) / 32);
            if (kblock == 32)
                pack_act32(type, xc, x_stride, nc, e0 / 32, nsub, bufs->act.a32);
            else
                pack_actK(type, xc, x_stride, nc, e0 / QK_K, nsub / 8, bufs->act.aK);
            const void *ap =
                kblock == 32 ? (const void *)bufs->act.a32 : (const void *)bufs->act.aK;
            for (int64_t r0 = 0; r0 < n_rows; r0 += PR) {
                int64_t nr = n_rows - r0 < PR ? n_rows - r0 : PR;
                pack_panel(type, (const uint8_t *)w + (size_t)r0 * w_stride, w_stride, nr, e0 / 32,
                           nsub, &bufs->panel, bufs->rows);
                __mmask16 rmask = (__mmask16)((1u << nr) - 1);
                float *yt = y + c0 * ldy + r0;
                int first = e0 == 0;
                switch (fam) {
                case FAM_32:
                    tokens_FAM_32(&bufs->panel, nsub, ap, nc, yt, ldy, rmask, first);
                    break;
                case FAM_32MIN:
                    tokens_FAM_32MIN(&bufs->panel, nsub, ap, nc, yt, ldy, rmask, first);
                    break;
                case FAM_K4:
                    tokens_FAM_K4(&bufs->panel, nsub, ap, nc, yt, ldy, rmask, first);
                    break;
                case FAM_G16:
                    tokens_FAM_G16(&bufs->panel, nsub, ap, nc, yt, ldy, rmask, first);
                    break;
                case FAM_K2:
                    tokens_FAM_K2(&bufs->panel, nsub, ap, nc, yt, ldy, rmask, first);
                    break;
                }
            }
        }
    }
}

#define GEMM_ENTRY(T, ID)                                                                          \
    static void gemm_##T(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x, \
                         size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {                 \
        gemm_packed(ID, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);                      \
    }
GEMM_ENTRY(q4_0, KY_TYPE_Q4_0)
GEMM_ENTRY(q4_1, KY_TYPE_Q4_1)
GEMM_ENTRY(q5_0, KY_TYPE_Q5_0)
GEMM_ENTRY(q5_1, KY_TYPE_Q5_1)
GEMM_ENTRY(q8_0, KY_TYPE_Q8_0)
GEMM_ENTRY(q4_K, KY_TYPE_Q4_K)
GEMM_ENTRY(q5_K, KY_TYPE_Q5_K)
GEMM_ENTRY(q6_K, KY_TYPE_Q6_K)
GEMM_ENTRY(q2_K, KY_TYPE_Q2_K)
GEMM_ENTRY(q3_K, KY_TYPE_Q3_K)

void kernels_x86_fill_gemm_vnni(ky_kernel_table *t) {
    t->gemm[KY_TYPE_Q4_0] = gemm_q4_0;
    t->gemm[KY_TYPE_Q4_1] = gemm_q4_1;
    t->gemm[KY_TYPE_Q5_0] = gemm_q5_0;
    t->gemm[KY_TYPE_Q5_1] = gemm_q5_1;
    t->gemm[KY_TYPE_Q8_0] = gemm_q8_0;
    t->gemm[KY_TYPE_Q4_K] = gemm_q4_K;
    t->gemm[KY_TYPE_Q5_K] = gemm_q5_K;
    t->gemm[KY_TYPE_Q6_K] = gemm_q6_K;
    t->gemm[KY_TYPE_Q2_K] = gemm_q2_K;
    t->gemm[KY_TYPE_Q3_K] = gemm_q3_K;
}
