/* quant_avx2.c — AVX2 activation quantizers (Q8_0, Q8_1, Q8_K; bit-exact with tensor/quant.h's
 * reference) and the row-dot (decode) kernels for 32-element block types (layer: kernels/x86).
 *
 * Without VNNI the byte products use vpmaddubsw (unsigned × signed → int16 pair sums) and
 * vpmaddwd (→ int32). Q4_0/Q4_1/Q5_0/Q5_1 quants are unpacked unsigned (u ≤ 31, pair sums ≤
 * 2·31·127 < 2^15); Q4_0/Q5_0's offset (8, 16) is removed exactly through −offset·Σx, computed once
 * per call from the activation. Q8_0 uses the sign trick |w| · sign(x, w) (|w| ≤ 128, |x| ≤ 127:
 * pair sums ≤ 32512). Rows are streamed in memory order one at a time (one sequential stream per
 * thread, which the hardware prefetchers follow), each reused across the few tokens of a call.
 * Float order (shared with the packed GEMM, gemm_avx2.c, so batched products equal token-by-token
 * ones bit for bit): per chunk of KERNELS_X86_CHUNK elements the even and the odd blocks are
 * summed separately from +0, each block adding cvt(Σ)·(dw·dx) and then, for Q4_1/Q5_1, m·s (one
 * rounding per operation, no FMA); then y += even + odd. Four blocks' integer sums are reduced at
 * once. K-quant rows are in gemv_k_avx2.c.
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/x86/x86.h"
#include "tensor/fp16.h"

static inline float f16(uint16_t h) { return _cvtsh_ss(h); }

/* ---- activation quantizers (bit-exact with the reference) ------------------------------------ */

static inline __m256 round_away(__m256 t) {
    __m256 s = _mm256_or_ps(_mm256_set1_ps(0.49999997f), _mm256_and_ps(t, _mm256_set1_ps(-0.0f)));
    return _mm256_round_ps(_mm256_add_ps(t, s), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

/* The Q8_0 / Q8_1 quants of one 32-float block as the reference computes them (d = amax/127,
 * q = roundf(x/d)): returns d, stores the quants and sets *sum to Σq. */
static inline float quant32(const float *x, int8_t *qs, int *sum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 v[4], m = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        m = _mm256_max_ps(_mm256_and_ps(v[i], absmask), m); /* NaN ignored, as fmaxf does */
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float amax = _mm_cvtss_f32(h);
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256i q[4];
    for (int i = 0; i < 4; i++)
        q[i] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v[i], _mm256_set1_ps(id))));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
    __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0x4E));
    u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0xB1));
    *sum = _mm_cvtsi128_si32(u);
    return d;
}

static void quantize_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        int sum;
        y[b].d = ky_f32_to_f16(quant32(x, y[b].qs, &sum));
    }
}

static void quantize_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        int sum;
        float d = quant32(x, y[b].qs, &sum);
        y[b].d = ky_f32_to_f16(d);
        y[b].s = ky_f32_to_f16((float)sum * d);
    }
}

/* Q8_K as the reference: iscale = −127/max with max the first element of largest magnitude,
 * q = min(127, round-half-even(iscale·x)) (vcvtps2dq; the reference's 1.5·2^23 trick gives the
 * same for |iscale·x| < 2^22), bsums per 16, d = 1/iscale; an all-zero block is all zeros. */
static void quantize_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K / 8; i++)
            m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + 8 * i), absmask), m);
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0; /* the first element of largest magnitude, as the reference picks it */
        for (int i = 0; i < QK_K / 8; i++) {
            __m256 e = _mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + 8 * i), absmask),
                                     _mm256_set1_ps(amax), _CMP_EQ_OQ);
            int k = _mm256_movemask_ps(e);
            if (k) {
                max = x[8 * i + __builtin_ctz((unsigned)k)];
                break;
            }
        }
        float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i lim = _mm256_set1_epi32(127);
        for (int i = 0; i < QK_K / 32; i++) { /* 32 elements: groups 2i, 2i+1 */
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = _mm256_min_epi32(
                    _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * i + 8 * k), vs)),
                    lim);
            __m256i p =
                _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * i), p);
            __m256i g0 = _mm256_add_epi32(q[0], q[1]), g1 = _mm256_add_epi32(q[2], q[3]);
            __m128i s0 = _mm_add_epi32(_mm256_castsi256_si128(g0), _mm256_extracti128_si256(g0, 1));
            __m128i s1 = _mm_add_epi32(_mm256_castsi256_si128(g1), _mm256_extracti128_si256(g1, 1));
            __m128i s = _mm_hadd_epi32(s0, s1);
            s = _mm_hadd_epi32(s, s);
            y[b].bsums[2 * i] = (int16_t)_mm_cvtsi128_si32(s);
            y[b].bsums[2 * i + 1] = (int16_t)_mm_extract_epi32(s, 1);
        }
        y[b].d = 1 / iscale;
    }
}

/* ---- unpacking and integer block sums --------------------------------------------------------- */

/* 16 packed nibbles -> 32 unsigned bytes in element order (low nibbles first). */
static inline __m256i nibbles32(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

/* 0xFF in byte j where bit j of the 32-bit word at p4 is set. */
static inline __m256i bytes_from_bits(const uint8_t *p4) {
    uint32_t bits;
    memcpy(&bits, p4, 4);
    __m256i v = _mm256_set1_epi32((int)bits);
    v = _mm256_shuffle_epi8(v, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2,
                                                2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* Q5_0/Q5_1 quants (0..31) in element order. */
static inline __m256i five_bit32(const uint8_t *qs, const uint8_t *qh) {
    return _mm256_or_si256(nibbles32(qs),
                           _mm256_and_si256(bytes_from_bits(qh), _mm256_set1_epi8(16)));
}

static inline int has_mins(uint32_t type) { return type == KY_TYPE_Q4_1 || type == KY_TYPE_Q5_1; }
/* Offset of the unsigned quants whose sum −offset·Σx starts the block sum (Q4_0, Q5_0). */
static inline int quant_offset(uint32_t type) {
    return type == KY_TYPE_Q4_0 ? 8 : type == KY_TYPE_Q5_0 ? 16 : 0;
}

static inline size_t wblock_bytes(uint32_t type) {
    return type == KY_TYPE_Q8_0   ? sizeof(block_q8_0)
           : type == KY_TYPE_Q4_0 ? sizeof(block_q4_0)
           : type == KY_TYPE_Q5_0 ? sizeof(block_q5_0)
           : type == KY_TYPE_Q4_1 ? sizeof(block_q4_1)
                                  : sizeof(block_q5_1);
}

/* 8 int32 lanes summing to Σ q·x over block b of a row (q unsigned for Q4/Q5 types, without
 * their offset; signed for Q8_0), x the 32 activation quants at xq. */
static inline __attribute__((always_inline)) __m256i prod32(uint32_t type, const char *row,
                                                            int64_t b, const int8_t *xq) {
    const __m256i x = _mm256_loadu_si256((const __m256i *)xq), ones = _mm256_set1_epi16(1);
    __m256i u, s = x;
    switch (type) {
    case KY_TYPE_Q8_0: {
        __m256i w = _mm256_loadu_si256((const __m256i *)((const block_q8_0 *)row + b)->qs);
        u = _mm256_sign_epi8(w, w);
        s = _mm256_sign_epi8(x, w);
        break;
    }
    case KY_TYPE_Q4_0: u = nibbles32(((const block_q4_0 *)row + b)->qs); break;
    case KY_TYPE_Q4_1: u = nibbles32(((const block_q4_1 *)row + b)->qs); break;
    case KY_TYPE_Q5_0: {
        const block_q5_0 *q = (const block_q5_0 *)row + b;
        u = five_bit32(q->qs, q->qh);
        break;
    }
    default: {
        const block_q5_1 *q = (const block_q5_1 *)row + b;
        u = five_bit32(q->qs, q->qh);
        break;
    }
    }
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones);
}

static inline int32_t hsum_i32(__m256i p) {
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

/* {Σ p0, Σ p1, Σ p2, Σ p3} over the 8 int32 lanes of each. */
static inline __m128i sum4x8(__m256i p0, __m256i p1, __m256i p2, __m256i p3) {
    __m256i t01 = _mm256_add_epi32(_mm256_unpacklo_epi32(p0, p1), _mm256_unpackhi_epi32(p0, p1));
    __m256i t23 = _mm256_add_epi32(_mm256_unpacklo_epi32(p2, p3), _mm256_unpackhi_epi32(p2, p3));
    __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
    return _mm_add_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
}

/* Four f16 values `stride` bytes apart as floats (combined in a general register: the vector
 * pipes are the busy ones). */
static inline __m128 f16x4(const char *p, size_t stride) {
    uint16_t h0, h1, h2, h3;
    memcpy(&h0, p, 2);
    memcpy(&h1, p + stride, 2);
    memcpy(&h2, p + 2 * stride, 2);
    memcpy(&h3, p + 3 * stride, 2);
    uint64_t v = (uint64_t)h0 | (uint64_t)h1 << 16 | (uint64_t)h2 << 32 | (uint64_t)h3 << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/* ---- decode path ------------------------------------------------------------------------------ */

enum {
    META_MAX = 1024, /* blocks per pass (K chunk of 32768 elements; a multiple of CHUNK_BLOCKS) */
    GV_COLS = 4,     /* tokens per pass */
    CHUNK_BLOCKS = KERNELS_X86_CHUNK / 32,
    /* software prefetch distance in bytes: one thread alone does not reach the memory bandwidth
     * with the hardware prefetchers on Q8_0 rows (measured +5-15% single-thread on Zen 4; the
     * other types are compute-bound, for which it costs nothing measurable). Reads past the end
     * of the weights are harmless: prefetches never fault. */
    PREFETCH = 4096
};

/* The activation's per-block terms for one pass: scale d, and the int32 start of the block sum
 * (−offset·Σq for Q4_0/Q5_0, 0 for Q8_0) or Q8_1's s (f16(d·Σq), types with mins). */
typedef struct act_terms {
    float d[META_MAX];
    union {
        int32_t init[META_MAX];
        float s[META_MAX];
    } u;
} act_terms;

/* *y += the row's dot over blocks [0, nb) (nb from a multiple of CHUNK_BLOCKS on), in the float
 * order of the file comment. */
static inline __attribute__((always_inline)) void row32(uint32_t type, const char *w, int64_t nb,
                                                        const int8_t *xq, size_t xblk,
                                                        const act_terms *at, float *y) {
    const int mins = has_mins(type), init = quant_offset(type) != 0;
    const size_t wsz = wblock_bytes(type);
    float yv = *y;
    for (int64_t c0 = 0; c0 < nb; c0 += CHUNK_BLOCKS) {
        int64_t end = nb - c0 < CHUNK_BLOCKS ? nb : c0 + CHUNK_BLOCKS, b = c0;
        __m128 acc = _mm_setzero_ps(); /* lane 0: even blocks, lane 1: odd blocks */
        for (; b + 4 <= end; b += 4) {
            uintptr_t ahead = (uintptr_t)(w + (size_t)b * wsz) + PREFETCH;
            _mm_prefetch((const char *)ahead, _MM_HINT_T0);
            if (4 * wsz > 96) _mm_prefetch((const char *)(ahead + 64), _MM_HINT_T0);
            __m256i p[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) p[r] = prod32(type, w, b + r, xq + (size_t)(b + r) * xblk);
            __m128i s = sum4x8(p[0], p[1], p[2], p[3]);
            if (init) s = _mm_add_epi32(s, _mm_loadu_si128((const __m128i *)(at->u.init + b)));
            __m128 q = _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_mul_ps(f16x4(w + (size_t)b * wsz, wsz),
                                                                 _mm_loadu_ps(at->d + b)));
            if (mins) {
                __m128 m =
                    _mm_mul_ps(f16x4(w + (size_t)b * wsz + 2, wsz), _mm_loadu_ps(at->u.s + b));
                acc = _mm_add_ps(_mm_add_ps(acc, q), m);
                acc = _mm_add_ps(_mm_add_ps(acc, _mm_movehl_ps(q, q)), _mm_movehl_ps(m, m));
            } else {
                acc = _mm_add_ps(_mm_add_ps(acc, q), _mm_movehl_ps(q, q));
            }
        }
        float lane[4];
        _mm_storeu_ps(lane, acc);
        for (; b < end; b++) { /* 1-3 blocks left; separate statements: never contracted */
            const char *blk = w + (size_t)b * wsz;
            uint16_t hd;
            memcpy(&hd, blk, 2);
            int32_t s = hsum_i32(prod32(type, w, b, xq + (size_t)b * xblk));
            if (init) s += at->u.init[b];
            float scale = f16(hd) * at->d[b];
            float t = (float)s * scale;
            float *l = &lane[(b - c0) & 1];
            *l += t;
            if (mins) {
                uint16_t hm;
                memcpy(&hm, blk + 2, 2);
                float m = f16(hm) * at->u.s[b];
                *l += m;
            }
        }
        yv += lane[0] + lane[1];
    }
    *y = yv;
}

/* Σ of the 32 signed activation quants at q. */
static inline int32_t sum_q32(const int8_t *q) {
    __m256i p = _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)q));
    return hsum_i32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

static inline __attribute__((always_inline)) void gemv32_t(uint32_t type, int64_t n, const void *w,
                                                           size_t w_stride, int64_t n_rows,
                                                           const void *x, size_t x_stride,
                                                           int64_t n_cols, float *y, int64_t ldy) {
    act_terms terms[GV_COLS];
    const int mins = has_mins(type), offset = quant_offset(type);
    const size_t xblk = mins ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t qs_at = mins ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    const size_t wsz = wblock_bytes(type);
    int64_t nb_all = n / 32;
    /* columns in groups of GV_COLS, rows outer within a group: a few tokens stream each weight
     * row from memory once (it stays in L1 across the group's columns) */
    for (int64_t c0 = 0; c0 < n_cols; c0 += GV_COLS) {
        int nc = (int)(n_cols - c0 < GV_COLS ? n_cols - c0 : GV_COLS);
        for (int c = 0; c < nc; c++)
            for (int64_t r = 0; r < n_rows; r++) y[(c0 + c) * ldy + r] = 0;
        for (int64_t b0 = 0; b0 < nb_all; b0 += META_MAX) {
            int64_t nb = nb_all - b0 < META_MAX ? nb_all - b0 : META_MAX;
            const int8_t *xq[GV_COLS];
            for (int c = 0; c < nc; c++) {
                const char *xc = (const char *)x + (size_t)(c0 + c) * x_stride;
                xq[c] = (const int8_t *)(xc + (size_t)b0 * xblk + qs_at);
                for (int64_t b = 0; b < nb; b++) {
                    if (mins) {
                        const block_q8_1 *q = (const block_q8_1 *)xc + b0 + b;
                        terms[c].d[b] = f16(q->d);
                        terms[c].u.s[b] = f16(q->s);
                    } else {
                        const block_q8_0 *q = (const block_q8_0 *)xc + b0 + b;
                        terms[c].d[b] = f16(q->d);
                        terms[c].u.init[b] = offset ? -offset * sum_q32(q->qs) : 0;
                    }
                }
            }
            /* one row at a time, in memory order (several rows interleaved block by block ran
             * at half the bandwidth) */
            const char *wb = (const char *)w + (size_t)b0 * wsz;
            for (int64_t r = 0; r < n_rows; r++)
                for (int c = 0; c < nc; c++)
                    row32(type, wb + (size_t)r * w_stride, nb, xq[c], xblk, &terms[c],
                          y + (c0 + c) * ldy + r);
        }
    }
}

static void gemv32(uint32_t type, int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                   const void *x, size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    switch (type) {
    case KY_TYPE_Q8_0:
        gemv32_t(KY_TYPE_Q8_0, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    case KY_TYPE_Q4_0:
        gemv32_t(KY_TYPE_Q4_0, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    case KY_TYPE_Q5_0:
        gemv32_t(KY_TYPE_Q5_0, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    case KY_TYPE_Q4_1:
        gemv32_t(KY_TYPE_Q4_1, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        break;
    default: gemv32_t(KY_TYPE_Q5_1, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy); break;
    }
}

/* ---- gemm entries ----------------------------------------------------------------------------- */

void kernels_x86_gemv_avx2(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                           int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols, float *y,
                           int64_t ldy) {
    if (wtype == KY_TYPE_Q8_0 || wtype == KY_TYPE_Q4_0 || wtype == KY_TYPE_Q5_0 ||
        wtype == KY_TYPE_Q4_1 || wtype == KY_TYPE_Q5_1) {
        gemv32(wtype, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        return;
    }
    kernels_x86_gemv_k_avx2(wtype, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
}

#define GEMV_ENTRY(T, ID)                                                                          \
    static void gemv_##T(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x, \
                         size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {                 \
        kernels_x86_gemv_avx2(ID, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);            \
    }
GEMV_ENTRY(q4_0, KY_TYPE_Q4_0)
GEMV_ENTRY(q4_1, KY_TYPE_Q4_1)
GEMV_ENTRY(q5_0, KY_TYPE_Q5_0)
GEMV_ENTRY(q5_1, KY_TYPE_Q5_1)
GEMV_ENTRY(q8_0, KY_TYPE_Q8_0)
GEMV_ENTRY(q4_K, KY_TYPE_Q4_K)
GEMV_ENTRY(q5_K, KY_TYPE_Q5_K)
GEMV_ENTRY(q6_K, KY_TYPE_Q6_K)

void kernels_x86_fill_quant_avx2(ky_kernel_table *t) {
    t->quantize_act[KY_TYPE_Q8_0] = quantize_q8_0;
    t->quantize_act[KY_TYPE_Q8_1] = quantize_q8_1;
    t->quantize_act[KY_TYPE_Q8_K] = quantize_q8_K;
    t->gemm[KY_TYPE_Q4_0] = gemv_q4_0;
    t->gemm[KY_TYPE_Q4_1] = gemv_q4_1;
    t->gemm[KY_TYPE_Q5_0] = gemv_q5_0;
    t->gemm[KY_TYPE_Q5_1] = gemv_q5_1;
    t->gemm[KY_TYPE_Q8_0] = gemv_q8_0;
    t->gemm[KY_TYPE_Q4_K] = gemv_q4_K;
    t->gemm[KY_TYPE_Q5_K] = gemv_q5_K;
    t->gemm[KY_TYPE_Q6_K] = gemv_q6_K;
}
