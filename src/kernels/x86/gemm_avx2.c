/* gemm_avx2.c — cache-blocked GEMM for quantized weights with AVX2 (layer: kernels/x86).
 *
 * The prefill path (many tokens) of the AVX2 tier, modelled on gemm_vnni.c. Weights stay in their
 * file layout; for each panel of 8 rows and K chunk of KERNELS_X86_CHUNK elements the kernel
 * unpacks the quants to unsigned bytes and transposes them so one ymm holds 4 consecutive quants
 * of each of the 8 rows. vpmaddubsw with a broadcast 4-byte activation slice then gives 16-bit
 * pair sums for the 8 rows of one token, summed in 16 bits as far as they cannot overflow (Q4
 * quants ≤ 15: a whole 32-element block; Q5 ≤ 31: half a block; Q6_K ≤ 63: 8 elements) before
 * vpmaddwd widens them to 32 bits (by 1, or by the K-quant sub-block scales). Q8_0 is stored as
 * q + 128 = 16·hi + lo, two nibble planes handled like Q4 (the sign trick |w|·sign(x, w) would
 * widen every slice and spend a vpsignb per product: ~25% slower on Zen 4). Activations are
 * re-laid once per (token chunk, K chunk) with their per-block scale and offset term; offsets
 * (Q8_0 +128, Q4_0 +8, Q5_0 +16, Q6_K +32) are removed exactly through the activation sums.
 * All integer block sums are exact, and the float operations are the row kernels' (quant_avx2.c,
 * gemv_k_avx2.c) in the same order, so a batched product equals token-by-token ones bit for bit.
 * Narrow products (< PACK_MIN_COLS tokens) use the row kernels.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/x86/x86.h"

enum {
    PR = 8,                 /* rows per panel (int32 lanes of a ymm) */
    KC = KERNELS_X86_CHUNK, /* K chunk in elements (multiple of 256) */
    NC = 256,               /* tokens per activation chunk */
    NT = 4,                 /* tokens per micro-tile */
    SUB = KC / 32,          /* 32-element sub-blocks per chunk */
    KB = KC / QK_K,         /* super-blocks per chunk */
    NC_PAD = (NC + NT - 1) / NT * NT
};
/* Below this many tokens the row-dot kernels are faster than packing. */
enum { PACK_MIN_COLS = 4 };

/* Packed weight panel for one K chunk. u[k][s] is one ymm: quants 4s..4s+3 of sub-block k for the
 * 8 rows (Q8_0: q + 128 = 16·hi + u, both nibbles). 32-element types: float scale ws[k] and min
 * wm[k] per row. K-quants keep integer sub-block scales as vpmaddwd operands (both int16 halves of
 * row r's lane hold the scale): sc[2k] per 32 (Q4_K/Q5_K) or sc[2k], sc[2k+1] per 16 (Q6_K);
 * mins pairs mp[4·kb + q] = (m[2q], m[2q+1]) (Q4_K/Q5_K), Q6_K scale pairs gp[8·kb + j] =
 * (sc[2j], sc[2j+1]) for the offset term, and the f16 super-block scales d, dmin as floats. */
typedef struct wpanel {
    uint8_t u[SUB][8][32];
    uint8_t hi[SUB][8][32];
    float ws[SUB][PR], wm[SUB][PR];
    int16_t sc[2 * SUB][2 * PR];
    int16_t mp[SUB / 2][2 * PR];
    int16_t gp[SUB][2 * PR];
    float d[KC / QK_K][PR], dmin[KC / QK_K][PR];
} wpanel;

/* Activation slices: 32-element blocks (Q8_0/Q8_1) or 256-element blocks (Q8_K). A chunk's
 * slices are grouped by micro-tile so a tile reads them sequentially: token c's slice of
 * (sub-/super-)block k is at ((c / NT)·nk + k)·NT + c % NT (nk = SUB or KB). */
typedef struct act32 {
    int8_t qs[32];
    float d;
    union {
        int32_t init; /* −offset·Σq (Q8_0, Q4_0, Q5_0): the int sum's start */
        float s;      /* Q8_1: f16(d·Σq) for the min term */
    } u;
} act32;
typedef struct actK {
    int8_t qs[QK_K];
    float d;
    int16_t pairs[16]; /* Q4_K/Q5_K: Σq over each 32 (8); Q6_K: over each 16 (bsums) */
} actK;

/* ---- unpacking one 32-element sub-block of one row to unsigned bytes -------------------------- */

static inline __m256i nib_lo_hi(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

/* u + 16 in byte j where bit j of the 32-bit word at qh is set. */
static inline __m256i with_high_bits(__m256i u, const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    __m256i v = _mm256_set1_epi32((int)bits);
    v = _mm256_shuffle_epi8(v, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2,
                                                2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_or_si256(u, _mm256_and_si256(set, _mm256_set1_epi8(16)));
}

/* Per-row terms of one sub-block: float scale/min (32-element types), integer scales of the
 * sub-block or its two 16-element groups and its min, K super-block scales. */
typedef struct sub_meta {
    float ws, wm;
    int32_t sc0, sc1, mn;
    float d, dmin;
} sub_meta;

/* Unpacks sub-block k (32 elements) of a row starting at block pointer `row` to unsigned bytes
 * (Q8_0: the low nibbles of q + 128, *hi4 the high ones) and fills *m. Always inlined with
 * constant type. */
static inline __attribute__((always_inline)) __m256i
unpack_sub(uint32_t type, const uint8_t *row, int64_t k, sub_meta *m, __m256i *hi4) {
    switch (type) {
    case KY_TYPE_Q8_0: { /* q + 128 = 16·hi + lo */
        const block_q8_0 *b = (const block_q8_0 *)row + k;
        __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs),
                                     _mm256_set1_epi8((char)0x80));
        m->ws = _cvtsh_ss(b->d);
        *hi4 = _mm256_and_si256(_mm256_srli_epi16(u, 4), _mm256_set1_epi8(0x0F));
        return _mm256_and_si256(u, _mm256_set1_epi8(0x0F));
    }
    case KY_TYPE_Q4_0: {
        const block_q4_0 *b = (const block_q4_0 *)row + k;
        m->ws = _cvtsh_ss(b->d);
        return nib_lo_hi(b->qs);
    }
    case KY_TYPE_Q5_0: {
        const block_q5_0 *b = (const block_q5_0 *)row + k;
        m->ws = _cvtsh_ss(b->d);
        return with_high_bits(nib_lo_hi(b->qs), b->qh);
    }
    case KY_TYPE_Q4_1: {
        const block_q4_1 *b = (const block_q4_1 *)row + k;
        m->ws = _cvtsh_ss(b->d);
        m->wm = _cvtsh_ss(b->m);
        return nib_lo_hi(b->qs);
    }
    case KY_TYPE_Q5_1: {
        const block_q5_1 *b = (const block_q5_1 *)row + k;
        m->ws = _cvtsh_ss(b->d);
        m->wm = _cvtsh_ss(b->m);
        return with_high_bits(nib_lo_hi(b->qs), b->qh);
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
        m->mn = mn;
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
        if (j & 1) q = _mm256_srli_epi16(q, 4);
        __m256i u = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
        if (type == KY_TYPE_Q5_K) {
            const block_q5_K *b = (const block_q5_K *)row + kb;
            __m256i qh = _mm256_loadu_si256((const __m256i *)b->qh);
            const __m256i bit = _mm256_set1_epi8((char)(1 << j));
            __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
            u = _mm256_or_si256(u, _mm256_and_si256(set, _mm256_set1_epi8(16)));
        }
        return u;
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

/* Transposes 8 rows × 8 dwords (r[i] = 8 dwords of row i) into out[s] = dword s of each row. */
static inline void transpose8x8(const __m256i r[PR], void *out) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);     /* dwords 0,1 | 4,5 */
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]); /* dwords 2,3 | 6,7 */
    }
    for (int g = 0; g < 2; g++) {                                         /* rows 4g..4g+3 */
        u[4 * g] = _mm256_unpacklo_epi64(t[4 * g], t[4 * g + 2]);         /* dword 0 | 4 */
        u[4 * g + 1] = _mm256_unpackhi_epi64(t[4 * g], t[4 * g + 2]);     /* dword 1 | 5 */
        u[4 * g + 2] = _mm256_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]); /* dword 2 | 6 */
        u[4 * g + 3] = _mm256_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]); /* dword 3 | 7 */
    }
    __m256i *o = out;
    for (int s = 0; s < 4; s++) {
        _mm256_store_si256(o + s, _mm256_permute2x128_si256(u[s], u[4 + s], 0x20));
        _mm256_store_si256(o + s + 4, _mm256_permute2x128_si256(u[s], u[4 + s], 0x31));
    }
}

/* Packs rows [0, n_rows) (<= 8; missing rows are zero) of sub-blocks [k0, k0+nsub). Inlined per
 * type (pack_panel below) so the unpacking switch folds away. */
static inline __attribute__((always_inline)) void pack_panel_t(uint32_t type, const uint8_t *w,
                                                               size_t w_stride, int64_t n_rows,
                                                               int64_t k0, int nsub, wpanel *p) {
    for (int k = 0; k < nsub; k++) {
        __m256i rows[PR], hi[PR];
        int kb = k / 8, j = k % 8;
        for (int r = 0; r < PR; r++) {
            sub_meta m = {0};
            hi[r] = _mm256_setzero_si256();
            if (r < n_rows)
                rows[r] = unpack_sub(type, w + (size_t)r * w_stride, k0 + k, &m, &hi[r]);
            else
                rows[r] = _mm256_setzero_si256();
            p->ws[k][r] = m.ws;
            p->wm[k][r] = m.wm;
            p->sc[2 * k][2 * r] = p->sc[2 * k][2 * r + 1] = (int16_t)m.sc0;
            p->sc[2 * k + 1][2 * r] = p->sc[2 * k + 1][2 * r + 1] = (int16_t)m.sc1;
            p->mp[4 * kb + j / 2][2 * r + (j & 1)] = (int16_t)m.mn;
            p->gp[8 * kb + j][2 * r] = (int16_t)m.sc0;
            p->gp[8 * kb + j][2 * r + 1] = (int16_t)m.sc1;
            if (j == 0) {
                p->d[kb][r] = m.d;
                p->dmin[kb][r] = m.dmin;
            }
        }
        transpose8x8(rows, p->u[k]);
        if (type == KY_TYPE_Q8_0) transpose8x8(hi, p->hi[k]);
    }
}

static void pack_panel(uint32_t type, const uint8_t *w, size_t w_stride, int64_t n_rows, int64_t k0,
                       int nsub, wpanel *p) {
    switch (type) {
    case KY_TYPE_Q8_0: pack_panel_t(KY_TYPE_Q8_0, w, w_stride, n_rows, k0, nsub, p); break;
    case KY_TYPE_Q4_0: pack_panel_t(KY_TYPE_Q4_0, w, w_stride, n_rows, k0, nsub, p); break;
    case KY_TYPE_Q5_0: pack_panel_t(KY_TYPE_Q5_0, w, w_stride, n_rows, k0, nsub, p); break;
    case KY_TYPE_Q4_1: pack_panel_t(KY_TYPE_Q4_1, w, w_stride, n_rows, k0, nsub, p); break;
    case KY_TYPE_Q5_1: pack_panel_t(KY_TYPE_Q5_1, w, w_stride, n_rows, k0, nsub, p); break;
    case KY_TYPE_Q4_K: pack_panel_t(KY_TYPE_Q4_K, w, w_stride, n_rows, k0, nsub, p); break;
    case KY_TYPE_Q5_K: pack_panel_t(KY_TYPE_Q5_K, w, w_stride, n_rows, k0, nsub, p); break;
    default: pack_panel_t(KY_TYPE_Q6_K, w, w_stride, n_rows, k0, nsub, p); break;
    }
}

/* ---- activation re-lay ------------------------------------------------------------------------ */

static inline int32_t sum32_i8(const int8_t *q) {
    __m256i p = _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)q));
    __m256i s = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

/* Offset of the unsigned quants in the panel, removed through −offset·Σx. */
static int type_offset(uint32_t type) {
    return type == KY_TYPE_Q8_0 ? 128 : type == KY_TYPE_Q4_0 ? 8 : type == KY_TYPE_Q5_0 ? 16 : 0;
}

/* Re-lays activation blocks of tokens [0, nc) for sub-blocks [k0, k0+nsub) (layout: act32). */
static void pack_act32(uint32_t type, const void *x, size_t x_stride, int nc, int64_t k0, int nsub,
                       act32 *a) {
    int off = type_offset(type);
    for (int c = 0; c < nc; c++) {
        const char *xr = (const char *)x + (size_t)c * x_stride;
        for (int k = 0; k < nsub; k++) {
            act32 *o = &a[((c / NT) * SUB + k) * NT + c % NT];
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
            actK *o = &a[((c / NT) * KB + kb) * NT + c % NT];
            memcpy(o->qs, b->qs, QK_K);
            o->d = b->d;
            if (type == KY_TYPE_Q6_K) {
                memcpy(o->pairs, b->bsums, sizeof o->pairs);
            } else { /* sums per 32: |.| <= 4064 fits int16 */
                for (int j = 0; j < 8; j++)
                    o->pairs[j] = (int16_t)(b->bsums[2 * j] + b->bsums[2 * j + 1]);
                memset(o->pairs + 8, 0, 8 * sizeof o->pairs[0]);
            }
        }
    }
}

/* ---- micro-kernels ---------------------------------------------------------------------------- */

static inline __m256i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm256_set1_epi32(v);
}

/* v, opaque to the optimizer: keeps a running int32 sum a chain (compilers reassociate plain
 * adds into trees whose partial sums no longer fit in the 16 ymm registers and spill). */
static inline __m256i chain(__m256i v) {
    __asm__("" : "+x"(v));
    return v;
}

/* Slices s summed in 16 bits before widening: Σ of 2·depth products u·x stays below 2^15
 * (u ≤ 15: 16·15·128; Q5: 8·31·128; Q6_K: 4·63·128; Q8_0 is split into two nibble planes). */
static inline int depth_of(uint32_t type) {
    switch (type) {
    case KY_TYPE_Q5_0:
    case KY_TYPE_Q5_1:
    case KY_TYPE_Q5_K: return 4;
    case KY_TYPE_Q6_K: return 2;
    default: return 8;
    }
}

/* is[c] = the 8 rows' Σ u·x·scale over sub-block k for tokens c < nt (xq[c]: their 32 quants);
 * scale: 1 (32-element types; Q8_0: Σ lo·x + 16·Σ hi·x), sc[2k] (Q4_K/Q5_K), sc[2k] / sc[2k+1]
 * for the first / second 16 elements (Q6_K). */
static inline __attribute__((always_inline)) void
sub_sums(uint32_t type, const wpanel *p, int k, const int8_t *const *xq, int nt, __m256i *is) {
    const int depth = depth_of(type), q8 = type == KY_TYPE_Q8_0;
    const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 8
    for (int s0 = 0; s0 < 8; s0 += depth) {
        __m256i a16[NT], h16[NT];
        __m256i scale = type == KY_TYPE_Q4_K || type == KY_TYPE_Q5_K
                            ? _mm256_loadu_si256((const __m256i *)p->sc[2 * k])
                        : type == KY_TYPE_Q6_K
                            ? _mm256_loadu_si256((const __m256i *)p->sc[2 * k + (s0 >= 4)])
                            : ones;
#pragma GCC unroll 8
        for (int t = 0; t < depth; t++) {
            int s = s0 + t;
            __m256i w = _mm256_load_si256((const __m256i *)p->u[k][s]);
            __m256i wh = q8 ? _mm256_load_si256((const __m256i *)p->hi[k][s]) : w;
#pragma GCC unroll 8
            for (int c = 0; c < nt; c++) {
                __m256i x = bcast4(xq[c] + 4 * s);
                __m256i m = _mm256_maddubs_epi16(w, x);
                /* saturating add, which never saturates here: compilers keep it a chain (plain
                 * adds get reassociated into a tree that spills) */
                a16[c] = t == 0 ? m : _mm256_adds_epi16(a16[c], m);
                if (q8) {
                    __m256i mh = _mm256_maddubs_epi16(wh, x);
                    h16[c] = t == 0 ? mh : _mm256_adds_epi16(h16[c], mh);
                }
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < nt; c++) {
            __m256i v = _mm256_madd_epi16(a16[c], scale);
            if (q8) v = _mm256_add_epi32(v, _mm256_madd_epi16(h16[c], _mm256_set1_epi16(16)));
            is[c] = s0 == 0 ? v : chain(_mm256_add_epi32(is[c], v));
        }
    }
}

/* lane[c] += block k's term for tokens c < nt, the row kernels' operations: cvt(Σ)·(ws·dx), then
 * + wm·s for types with mins (mul then add, no FMA). */
static inline __attribute__((always_inline)) void block32(uint32_t type, const wpanel *p, int k,
                                                          const act32 *a, int nt, __m256 *lane) {
    const int8_t *xq[NT];
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) xq[c] = a[k * NT + c].qs;
    __m256i is[NT];
    sub_sums(type, p, k, xq, nt, is);
    __m256 ws = _mm256_loadu_ps(p->ws[k]);
    const int mins = type == KY_TYPE_Q4_1 || type == KY_TYPE_Q5_1;
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) {
        const act32 *ac = &a[k * NT + c];
        __m256i i = is[c];
        if (type_offset(type)) i = _mm256_add_epi32(i, _mm256_set1_epi32(ac->u.init));
        __m256 q = _mm256_mul_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(ws, _mm256_set1_ps(ac->d)));
        lane[c] = _mm256_add_ps(lane[c], q);
        if (mins) {
            __m256 m = _mm256_mul_ps(_mm256_loadu_ps(p->wm[k]), _mm256_set1_ps(ac->u.s));
            lane[c] = _mm256_add_ps(lane[c], m);
        }
    }
}

/* sum[c] (8 rows) = the chunk's sum for tokens c < nt, 32-element types: even blocks and odd blocks
 * each summed block by block from +0 (two passes, so only one set of sums is live), then
 * sum = even + odd — the row kernels' order. */
static inline __attribute__((always_inline)) void micro32(uint32_t type, const wpanel *p, int nsub,
                                                          const act32 *a, int nt, __m256 *sum) {
    __m256 even[NT], odd[NT];
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) even[c] = _mm256_setzero_ps();
    for (int k = 0; k < nsub; k += 2) block32(type, p, k, a, nt, even);
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) odd[c] = _mm256_setzero_ps();
    for (int k = 1; k < nsub; k += 2) block32(type, p, k, a, nt, odd);
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) sum[c] = _mm256_add_ps(even[c], odd[c]);
}

/* K-quants, the row kernels' arithmetic per super-block: exact integer isum = Σ sc·(Σ u·x)
 * (Q6_K: minus 32·Σ sc·bsum) and msum = Σ m·Σx (Q4_K/Q5_K), then
 * acc += (d·dy)·isum − (dmin·dy)·msum (Q6_K: acc += (d·dy)·isum), super-blocks in order. */
static inline __attribute__((always_inline)) void microK(uint32_t type, const wpanel *p, int nsub,
                                                         const actK *a, int nt, __m256 *acc) {
    for (int kb = 0; kb < nsub / 8; kb++) {
        const actK *ak = a + kb * NT;
        __m256i isum[NT];
        for (int j = 0; j < 8; j++) {
            const int8_t *xq[NT];
            __m256i is[NT];
#pragma GCC unroll 8
            for (int c = 0; c < nt; c++) xq[c] = ak[c].qs + 32 * j;
            sub_sums(type, p, 8 * kb + j, xq, nt, is);
#pragma GCC unroll 8
            for (int c = 0; c < nt; c++)
                isum[c] = j == 0 ? is[c] : _mm256_add_epi32(isum[c], is[c]);
        }
        __m256 dw = _mm256_loadu_ps(p->d[kb]), dminw = _mm256_loadu_ps(p->dmin[kb]);
#pragma GCC unroll 8
        for (int c = 0; c < nt; c++) {
            __m256 dy = _mm256_set1_ps(ak[c].d);
            const int npairs = type == KY_TYPE_Q6_K ? 8 : 4;
            __m256i ms = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int q = 0; q < npairs; q++) {
                const int16_t *wp = type == KY_TYPE_Q6_K ? p->gp[8 * kb + q] : p->mp[4 * kb + q];
                __m256i v = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)wp),
                                              bcast4((const int8_t *)&ak[c].pairs[2 * q]));
                ms = q == 0 ? v : _mm256_add_epi32(ms, v);
            }
            if (type == KY_TYPE_Q6_K) {
                __m256i i = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(ms, 5));
                acc[c] = _mm256_add_ps(acc[c],
                                       _mm256_mul_ps(_mm256_mul_ps(dw, dy), _mm256_cvtepi32_ps(i)));
                continue;
            }
            __m256 t1 = _mm256_mul_ps(_mm256_mul_ps(dw, dy), _mm256_cvtepi32_ps(isum[c]));
            __m256 t2 = _mm256_mul_ps(_mm256_mul_ps(dminw, dy), _mm256_cvtepi32_ps(ms));
            acc[c] = _mm256_add_ps(acc[c], _mm256_sub_ps(t1, t2));
        }
    }
}

/* One micro-tile: tokens [c0, c0+nt) of the chunk, 8 rows (rmask: the valid ones) at y. first: the
 * K chunk is the row's first (y starts at 0, as in the row kernels). */
static inline __attribute__((always_inline)) void tile(uint32_t type, const wpanel *p, int nsub,
                                                       const void *act, int c0, int nt, float *y,
                                                       int64_t ldy, __m256i rmask, int first) {
    __m256 acc[NT];
    if (type == KY_TYPE_Q4_K || type == KY_TYPE_Q5_K || type == KY_TYPE_Q6_K) {
#pragma GCC unroll 8
        for (int c = 0; c < nt; c++)
            acc[c] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + (c0 + c) * ldy, rmask);
        microK(type, p, nsub, (const actK *)act + (c0 / NT) * KB * NT + c0 % NT, nt, acc);
    } else {
        /* y + (even + odd): y is loaded only at the end (fewer live registers) */
        micro32(type, p, nsub, (const act32 *)act + (c0 / NT) * SUB * NT + c0 % NT, nt, acc);
#pragma GCC unroll 8
        for (int c = 0; c < nt; c++) {
            __m256 yv = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + (c0 + c) * ldy, rmask);
            acc[c] = _mm256_add_ps(yv, acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < nt; c++) _mm256_maskstore_ps(y + (c0 + c) * ldy, rmask, acc[c]);
}

/* One type's token loop: full tiles of NT, the tail one token at a time. */
#define TOKEN_LOOP(T, ID)                                                                     \
    static void tokens_##T(const wpanel *p, int nsub, const void *act, int nc, float *y,      \
                           int64_t ldy, __m256i rmask, int first) {                           \
        int c0 = 0;                                                                           \
        for (; c0 + NT <= nc; c0 += NT) tile(ID, p, nsub, act, c0, NT, y, ldy, rmask, first); \
        for (; c0 < nc; c0++) tile(ID, p, nsub, act, c0, 1, y, ldy, rmask, first);            \
    }
TOKEN_LOOP(q4_0, KY_TYPE_Q4_0)
TOKEN_LOOP(q4_1, KY_TYPE_Q4_1)
TOKEN_LOOP(q5_0, KY_TYPE_Q5_0)
TOKEN_LOOP(q5_1, KY_TYPE_Q5_1)
TOKEN_LOOP(q8_0, KY_TYPE_Q8_0)
TOKEN_LOOP(q4_K, KY_TYPE_Q4_K)
TOKEN_LOOP(q5_K, KY_TYPE_Q5_K)
TOKEN_LOOP(q6_K, KY_TYPE_Q6_K)

typedef void (*tokens_fn)(const wpanel *p, int nsub, const void *act, int nc, float *y, int64_t ldy,
                          __m256i rmask, int first);

static tokens_fn tokens_of(uint32_t type) {
    switch (type) {
    case KY_TYPE_Q4_0: return tokens_q4_0;
    case KY_TYPE_Q4_1: return tokens_q4_1;
    case KY_TYPE_Q5_0: return tokens_q5_0;
    case KY_TYPE_Q5_1: return tokens_q5_1;
    case KY_TYPE_Q8_0: return tokens_q8_0;
    case KY_TYPE_Q4_K: return tokens_q4_K;
    case KY_TYPE_Q5_K: return tokens_q5_K;
    default: return tokens_q6_K;
    }
}

/* ---- driver ----------------------------------------------------------------------------------- */

/* Per-thread packing buffers (kernels_thread_buffer). */
typedef struct gemm_bufs {
    wpanel panel;
    union {
        act32 a32[SUB * NC_PAD];
        actK aK[KB * NC_PAD];
    } act;
} gemm_bufs;

/* This thread's buffers, or NULL when they cannot be allocated. */
static gemm_bufs *thread_bufs(void) {
    return kernels_thread_buffer(KERNELS_BUF_GEMM_AVX2, sizeof(gemm_bufs));
}

static void gemm_packed(uint32_t type, int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                        const void *x, size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    gemm_bufs *bufs = n_cols < PACK_MIN_COLS || n == 0 ? NULL : thread_bufs();
    if (!bufs) { /* narrow product, or no memory for this thread's buffers: the row kernels */
        kernels_x86_gemv_avx2(type, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        return;
    }
    const int kquant = type == KY_TYPE_Q4_K || type == KY_TYPE_Q5_K || type == KY_TYPE_Q6_K;
    const tokens_fn tokens = tokens_of(type);
    for (int64_t c0 = 0; c0 < n_cols; c0 += NC) {
        int nc = (int)(n_cols - c0 < NC ? n_cols - c0 : NC);
        const char *xc = (const char *)x + (size_t)c0 * x_stride;
        for (int64_t e0 = 0; e0 < n; e0 += KC) {
            int nsub = (int)((n - e0 < KC ? n - e0 : KC) / 32);
            const void *ap;
            if (kquant) {
                pack_actK(type, xc, x_stride, nc, e0 / QK_K, nsub / 8, bufs->act.aK);
                ap = bufs->act.aK;
            } else {
                pack_act32(type, xc, x_stride, nc, e0 / 32, nsub, bufs->act.a32);
                ap = bufs->act.a32;
            }
            for (int64_t r0 = 0; r0 < n_rows; r0 += PR) {
                int64_t nr = n_rows - r0 < PR ? n_rows - r0 : PR;
                pack_panel(type, (const uint8_t *)w + (size_t)r0 * w_stride, w_stride, nr, e0 / 32,
                           nsub, &bufs->panel);
                __m256i rmask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr),
                                                   _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                tokens(&bufs->panel, nsub, ap, nc, y + c0 * ldy + r0, ldy, rmask, e0 == 0);
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

void kernels_x86_fill_gemm_avx2(ky_kernel_table *t) {
    t->gemm[KY_TYPE_Q4_0] = gemm_q4_0;
    t->gemm[KY_TYPE_Q4_1] = gemm_q4_1;
    t->gemm[KY_TYPE_Q5_0] = gemm_q5_0;
    t->gemm[KY_TYPE_Q5_1] = gemm_q5_1;
    t->gemm[KY_TYPE_Q8_0] = gemm_q8_0;
    t->gemm[KY_TYPE_Q4_K] = gemm_q4_K;
    t->gemm[KY_TYPE_Q5_K] = gemm_q5_K;
    t->gemm[KY_TYPE_Q6_K] = gemm_q6_K;
}
