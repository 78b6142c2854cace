/* quant_vnni.c — AVX-512 VNNI activation quantizers and row-dot kernels (layer: kernels/x86).
 *
 * The quantizers reproduce tensor/quant.h's reference bit for bit (same scale formulas; roundf
 * emulated as trunc(t ± 0.49999997), nearest_int as the default round-to-even conversion). The
 * decode path (matrix × a few vectors) for 32-element types is bandwidth-bound: the activation's
 * per-block terms are computed once per call, then each weight row is streamed in its file layout
 * (rows in memory order: one sequential stream per thread, which the hardware prefetchers follow)
 * with vpdpbusd on unsigned unpacked quants and per-block float scales. K-quant weights go to
 * gemv_k_vnni.c.
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "kernels/x86/x86.h"
#include "tensor/fp16.h"

static inline float f16(uint16_t h) { return _cvtsh_ss(h); }

/* ---- activation quantizers ------------------------------------------------------------------ */

/* roundf (ties away from zero) for |t| < 2^22. */
static inline __m512 round_away(__m512 t) {
    __m512 s = _mm512_or_ps(_mm512_set1_ps(0.49999997f), _mm512_and_ps(t, _mm512_set1_ps(-0.0f)));
    return _mm512_roundscale_ps(_mm512_add_ps(t, s), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

/* One 32-float block: returns d and writes the 32 quants. */
static inline float quant32(const float *x, int8_t *qs, __m512i *sum) {
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    __m512i q0 = _mm512_cvttps_epi32(round_away(_mm512_mul_ps(v0, vid)));
    __m512i q1 = _mm512_cvttps_epi32(round_away(_mm512_mul_ps(v1, vid)));
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtepi32_epi8(q1));
    *sum = _mm512_add_epi32(q0, q1);
    return d;
}

static void quantize_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    __m512i sum;
    for (int64_t b = 0; b < n / QK8_0; b++)
        y[b].d = ky_f32_to_f16(quant32(x + 32 * b, y[b].qs, &sum));
}

static void quantize_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    __m512i sum;
    for (int64_t b = 0; b < n / QK8_1; b++) {
        float d = quant32(x + 32 * b, y[b].qs, &sum);
        y[b].d = ky_f32_to_f16(d);
        y[b].s = ky_f32_to_f16((float)_mm512_reduce_add_epi32(sum) * d);
    }
}

static void quantize_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m512 v[16], am = _mm512_setzero_ps();
        for (int i = 0; i < 16; i++) {
            v[i] = _mm512_loadu_ps(x + 16 * i);
            am = _mm512_max_ps(am, _mm512_abs_ps(v[i]));
        }
        float amax = _mm512_reduce_max_ps(am);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0; /* the first element of largest magnitude, as the reference picks it */
        for (int i = 0; i < 16; i++) {
            __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(v[i]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (k) {
                max = x[16 * i + __builtin_ctz(k)];
                break;
            }
        }
        float iscale = -127.0f / max;
        __m512 vs = _mm512_set1_ps(iscale);
        for (int i = 0; i < 16; i++) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(v[i], vs));
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * i), _mm512_cvtepi32_epi8(q));
            y[b].bsums[i] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ---- decode path for 32-element blocks ------------------------------------------------------ */

/* 16 packed nibbles -> 32 unsigned bytes in element order (low nibbles first). */
static inline __m256i nibbles32(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

static inline __m256i five_bit32(const uint8_t *qs, const uint8_t *qh4) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    return _mm256_mask_or_epi32(nibbles32(qs), 0xFF, nibbles32(qs),
                                _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(16)));
}

enum {
    META_MAX = 1024, /* blocks per pass (K chunk of 32768 elements; a multiple of CHUNK_BLOCKS) */
    GV_COLS = 8,     /* tokens per pass */
    CHUNK_BLOCKS = KERNELS_X86_CHUNK / 32
};

static inline int32_t sum_q32(const int8_t *q) {
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1),
                                    _mm256_loadu_si256((const __m256i *)q));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

static inline int32_t hsum256_i32(__m256i p) {
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

/* Four f16 values `stride` bytes apart as floats. */
static inline __m128 f16x4(const char *p, size_t stride) {
    uint16_t h0, h1, h2, h3;
    memcpy(&h0, p, 2);
    memcpy(&h1, p + stride, 2);
    memcpy(&h2, p + 2 * stride, 2);
    memcpy(&h3, p + 3 * stride, 2);
    return _mm_cvtph_ps(_mm_setr_epi16((short)h0, (short)h1, (short)h2, (short)h3, 0, 0, 0, 0));
}

static inline int has_mins(uint32_t type) { return type == KY_TYPE_Q4_1 || type == KY_TYPE_Q5_1; }

/* Unsigned quants of block b of a row (offset: Q8_0 128, Q4_0 8, Q5_0 16; none for _1 types). */
static inline __attribute__((always_inline)) __m256i quants32(uint32_t type, const char *row,
                                                              int64_t b) {
    switch (type) {
    case KY_TYPE_Q8_0:
        return _mm256_xor_si256(
            _mm256_loadu_si256((const __m256i *)((const block_q8_0 *)row + b)->qs),
            _mm256_set1_epi8((char)0x80));
    case KY_TYPE_Q4_0: return nibbles32(((const block_q4_0 *)row + b)->qs);
    case KY_TYPE_Q5_0: {
        const block_q5_0 *q = (const block_q5_0 *)row + b;
        return five_bit32(q->qs, q->qh);
    }
    case KY_TYPE_Q4_1: return nibbles32(((const block_q4_1 *)row + b)->qs);
    default: {
        const block_q5_1 *q = (const block_q5_1 *)row + b;
        return five_bit32(q->qs, q->qh);
    }
    }
}

static inline size_t wblock_bytes(uint32_t type) {
    return type == KY_TYPE_Q8_0   ? sizeof(block_q8_0)
           : type == KY_TYPE_Q4_0 ? sizeof(block_q4_0)
           : type == KY_TYPE_Q5_0 ? sizeof(block_q5_0)
           : type == KY_TYPE_Q4_1 ? sizeof(block_q4_1)
                                  : sizeof(block_q5_1);
}

/* The activation's per-block terms for one pass: scale d, and the int32 start of the block sum
 * (-offset·Σq, offset types) or Q8_1's s (f16(d·Σq), types with mins). */
typedef struct act_terms {
    float d[META_MAX];
    union {
        int32_t init[META_MAX];
        float s[META_MAX];
    } u;
} act_terms;

/* *y += the row's dot over blocks [0, nb) (nb from a multiple of CHUNK_BLOCKS on). The float order
 * is the packed GEMM's (gemm_vnni.c): per chunk of CHUNK_BLOCKS blocks, the even and the odd
 * blocks are summed separately from +0, each block adding cvt(Σ)·(d·dx) and then, for mins,
 * m·s, one rounding per operation; then y += even + odd. */
static inline __attribute__((always_inline)) void row32(uint32_t type, const char *w, int64_t nb,
                                                        const int8_t *xq, size_t xblk,
                                                        const act_terms *at, float *y) {
    const int mins = has_mins(type);
    const size_t wsz = wblock_bytes(type);
    float yv = *y;
    for (int64_t c0 = 0; c0 < nb; c0 += CHUNK_BLOCKS) {
        int64_t end = nb - c0 < CHUNK_BLOCKS ? nb : c0 + CHUNK_BLOCKS, b = c0;
        __m128 acc = _mm_setzero_ps(); /* lane 0: even blocks, lane 1: odd blocks */
        for (; b + 4 <= end; b += 4) {
            __m256i p[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                p[r] = _mm256_dpbusd_epi32(
                    _mm256_setzero_si256(), quants32(type, w, b + r),
                    _mm256_loadu_si256((const __m256i *)(xq + (size_t)(b + r) * xblk)));
            __m128i s = sum4x8(p[0], p[1], p[2], p[3]);
            if (!mins) s = _mm_add_epi32(s, _mm_loadu_si128((const __m128i *)(at->u.init + b)));
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
        for (; b < end; b++) {
            const char *blk = w + (size_t)b * wsz;
            uint16_t hd;
            memcpy(&hd, blk, 2);
            int32_t s = hsum256_i32(
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), quants32(type, w, b),
                                    _mm256_loadu_si256((const __m256i *)(xq + (size_t)b * xblk))));
            float *l = &lane[(b - c0) & 1];
            *l += (float)(mins ? s : s + at->u.init[b]) * (f16(hd) * at->d[b]);
            if (mins) {
                uint16_t hm;
                memcpy(&hm, blk + 2, 2);
                *l += f16(hm) * at->u.s[b];
            }
        }
        yv += lane[0] + lane[1];
    }
    *y = yv;
}

/* y[c] += row32's dot of one row with activation rows xq[c] (terms at[c]), c < nc <= GV_COLS:
 * each group of four weight blocks is unpacked once for all the tokens, and every token's sum is
 * formed exactly as row32 forms it, so the result equals nc calls of row32 bit for bit. */
static inline __attribute__((always_inline)) void row32_multi(uint32_t type, const char *w,
                                                              int64_t nb, const int8_t *const *xq,
                                                              size_t xblk, const act_terms *at,
                                                              int nc, float *const *y) {
    const int mins = has_mins(type);
    const size_t wsz = wblock_bytes(type);
    float yv[GV_COLS];
    for (int c = 0; c < nc; c++) yv[c] = *y[c];
    for (int64_t c0 = 0; c0 < nb; c0 += CHUNK_BLOCKS) {
        int64_t end = nb - c0 < CHUNK_BLOCKS ? nb : c0 + CHUNK_BLOCKS, b = c0;
        __m128 acc[GV_COLS]; /* per token, lane 0: even blocks, lane 1: odd blocks */
        for (int c = 0; c < nc; c++) acc[c] = _mm_setzero_ps();
        for (; b + 4 <= end; b += 4) {
            __m256i q[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) q[r] = quants32(type, w, b + r);
            __m128 wd = f16x4(w + (size_t)b * wsz, wsz);
            __m128 wm = mins ? f16x4(w + (size_t)b * wsz + 2, wsz) : _mm_setzero_ps();
            for (int c = 0; c < nc; c++) {
                __m256i p[4];
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    p[r] = _mm256_dpbusd_epi32(
                        _mm256_setzero_si256(), q[r],
                        _mm256_loadu_si256((const __m256i *)(xq[c] + (size_t)(b + r) * xblk)));
                __m128i sm = sum4x8(p[0], p[1], p[2], p[3]);
                if (!mins)
                    sm = _mm_add_epi32(sm, _mm_loadu_si128((const __m128i *)(at[c].u.init + b)));
                __m128 qf =
                    _mm_mul_ps(_mm_cvtepi32_ps(sm), _mm_mul_ps(wd, _mm_loadu_ps(at[c].d + b)));
                if (mins) {
                    __m128 m = _mm_mul_ps(wm, _mm_loadu_ps(at[c].u.s + b));
                    acc[c] = _mm_add_ps(_mm_add_ps(acc[c], qf), m);
                    acc[c] =
                        _mm_add_ps(_mm_add_ps(acc[c], _mm_movehl_ps(qf, qf)), _mm_movehl_ps(m, m));
                } else {
                    acc[c] = _mm_add_ps(_mm_add_ps(acc[c], qf), _mm_movehl_ps(qf, qf));
                }
            }
        }
        for (int c = 0; c < nc; c++) {
            float lane[4];
            _mm_storeu_ps(lane, acc[c]);
            for (int64_t t = b; t < end; t++) {
                const char *blk = w + (size_t)t * wsz;
                uint16_t hd;
                memcpy(&hd, blk, 2);
                int32_t sv = hsum256_i32(_mm256_dpbusd_epi32(
                    _mm256_setzero_si256(), quants32(type, w, t),
                    _mm256_loadu_si256((const __m256i *)(xq[c] + (size_t)t * xblk))));
                float *l = &lane[(t - c0) & 1];
                *l += (float)(mins ? sv : sv + at[c].u.init[t]) * (f16(hd) * at[c].d[t]);
                if (mins) {
                    uint16_t hm;
                    memcpy(&hm, blk + 2, 2);
                    *l += f16(hm) * at[c].u.s[t];
                }
            }
            yv[c] += lane[0] + lane[1];
        }
    }
    for (int c = 0; c < nc; c++) *y[c] = yv[c];
}

static inline __attribute__((always_inline)) void gemv32_t(uint32_t type, int64_t n, const void *w,
                                                           size_t w_stride, int64_t n_rows,
                                                           const void *x, size_t x_stride,
                                                           int64_t n_cols, float *y, int64_t ldy) {
    act_terms terms[GV_COLS];
    const int mins = has_mins(type);
    const int offset = type == KY_TYPE_Q8_0 ? 128 : type == KY_TYPE_Q4_0 ? 8 : 16;
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
                        terms[c].u.init[b] = -offset * sum_q32(q->qs);
                    }
                }
            }
            /* one row at a time: each thread reads its rows as one sequential stream, which
             * the hardware prefetchers follow (several rows interleaved block by block ran at
             * half the bandwidth on Zen 4, software prefetch or not) */
            const char *wb = (const char *)w + (size_t)b0 * wsz;
            for (int64_t r = 0; r < n_rows; r++) {
                if (nc == 1) { /* decode: one token */
                    row32(type, wb + (size_t)r * w_stride, nb, xq[0], xblk, &terms[0],
                          y + c0 * ldy + r);
                    continue;
                }
                float *yr[GV_COLS];
                for (int c = 0; c < nc; c++) yr[c] = y + (c0 + c) * ldy + r;
                row32_multi(type, wb + (size_t)r * w_stride, nb, xq, xblk, terms, nc, yr);
            }
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

/* ---- gemm entries -------------------------------------------------------------------------- */

void kernels_x86_gemv_vnni(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                           int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols, float *y,
                           int64_t ldy) {
    if (wtype == KY_TYPE_Q8_0 || wtype == KY_TYPE_Q4_0 || wtype == KY_TYPE_Q5_0 ||
        wtype == KY_TYPE_Q4_1 || wtype == KY_TYPE_Q5_1) {
        gemv32(wtype, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        return;
    }
    kernels_x86_gemv_k_vnni(wtype, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
}

#define GEMV_ENTRY(T, ID)                                                                          \
    static void gemv_##T(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x, \
                         size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {                 \
        kernels_x86_gemv_vnni(ID, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);            \
    }
GEMV_ENTRY(q4_0, KY_TYPE_Q4_0)
GEMV_ENTRY(q4_1, KY_TYPE_Q4_1)
GEMV_ENTRY(q5_0, KY_TYPE_Q5_0)
GEMV_ENTRY(q5_1, KY_TYPE_Q5_1)
GEMV_ENTRY(q8_0, KY_TYPE_Q8_0)
GEMV_ENTRY(q4_K, KY_TYPE_Q4_K)
GEMV_ENTRY(q5_K, KY_TYPE_Q5_K)
GEMV_ENTRY(q6_K, KY_TYPE_Q6_K)
GEMV_ENTRY(q2_K, KY_TYPE_Q2_K)
GEMV_ENTRY(q3_K, KY_TYPE_Q3_K)

void kernels_x86_fill_quant_vnni(ky_kernel_table *t) {
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
    t->gemm[KY_TYPE_Q2_K] = gemv_q2_K;
    t->gemm[KY_TYPE_Q3_K] = gemv_q3_K;
}
