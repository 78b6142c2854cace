/* quant_vnni.c — AVX-512 VNNI activation quantizers and row-dot kernels (layer: kernels/x86).
 *
 * The quantizers reproduce tensor/quant.h's reference bit for bit (same scale formulas; roundf
 * emulated as trunc(t ± 0.49999997), nearest_int as the default round-to-even conversion). The
 * row-dot kernels stream one weight row in its file layout against one activation row: the
 * decode path (matrix × vector), bandwidth-bound, so one pass per row with vpdpbusd on unsigned
 * unpacked quants and per-block float scales; 32-element types run four rows per pass with the
 * activation's per-block terms precomputed and software prefetch PF_ROWS rows ahead. K-quant
 * blocks keep llama.cpp's integer sums exactly (one int per block, then the float scale).
 */
#include <immintrin.h>
#include <stddef.h>
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

/* ---- row dots: 32-element blocks -------------------------------------------------------------- */

static float dot_q8_0(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i z = _mm256_setzero_si256();
    int64_t nb = n / QK8_0, b = 0;
    for (; b + 1 < nb; b += 2) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)w[b].qs);
        __m256i x0 = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)w[b + 1].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)x[b + 1].qs);
        __m256i p0 = _mm256_dpbusd_epi32(z, _mm256_abs_epi8(w0), _mm256_sign_epi8(x0, w0));
        __m256i p1 = _mm256_dpbusd_epi32(z, _mm256_abs_epi8(w1), _mm256_sign_epi8(x1, w1));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)),
                               acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1),
                               _mm256_set1_ps(f16(w[b + 1].d) * f16(x[b + 1].d)), acc1);
    }
    for (; b < nb; b++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)w[b].qs);
        __m256i x0 = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i p0 = _mm256_dpbusd_epi32(z, _mm256_abs_epi8(w0), _mm256_sign_epi8(x0, w0));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)),
                               acc0);
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

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

/* Σ (u - off)·x over 32 bytes, u unsigned, x signed. */
static inline __m256i dot_offset(__m256i u, __m256i x, __m256i off) {
    __m256i z = _mm256_setzero_si256();
    return _mm256_sub_epi32(_mm256_dpbusd_epi32(z, u, x), _mm256_dpbusd_epi32(z, off, x));
}

static float dot_q4_0(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw;
    const block_q8_0 *x = vx;
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(8);
    for (int64_t b = 0; b < n / QK4_0; b++) {
        __m256i p =
            dot_offset(nibbles32(w[b].qs), _mm256_loadu_si256((const __m256i *)x[b].qs), off);
        acc =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)), acc);
    }
    return hsum256(acc);
}

static float dot_q5_0(int64_t n, const void *vw, const void *vx) {
    const block_q5_0 *w = vw;
    const block_q8_0 *x = vx;
    __m256 acc = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(16);
    for (int64_t b = 0; b < n / QK5_0; b++) {
        __m256i p = dot_offset(five_bit32(w[b].qs, w[b].qh),
                               _mm256_loadu_si256((const __m256i *)x[b].qs), off);
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
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles32(w[b].qs),
                                        _mm256_loadu_si256((const __m256i *)x[b].qs));
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
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), five_bit32(w[b].qs, w[b].qh),
                                        _mm256_loadu_si256((const __m256i *)x[b].qs));
        acc =
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(f16(w[b].d) * f16(x[b].d)), acc);
        ms += f16(w[b].m) * f16(x[b].s);
    }
    return hsum256(acc) + ms;
}

/* One K-quant super-block's contribution (d·dy)·isum − (dmin·dy)·msum, one rounding per
 * operation in this order (separate statements: no contraction into FMAs), the order the packed
 * GEMM (gemm_vnni.c) uses too, so batched and single-token products agree bit for bit. */
static inline float k_term(float d, float dmin, float dy, int isum, int msum) {
    float a = d * dy;
    a = a * (float)isum;
    float b = dmin * dy;
    b = b * (float)msum;
    return a - b;
}

/* ---- row dots: K-quants (integer per block, as the reference) -------------------------------- */

/* Unpacks a Q4_K/Q5_K 12-byte scale field in registers (no byte stores: a vector load after
 * byte stores would stall on store forwarding): returns Σ_j min_j·(bsums[2j]+bsums[2j+1]) and
 * the 8 scales as int32 lanes 0-7 of *scv. */
static inline int k4_scales(const uint8_t *s12, const int16_t *bsums, __m512i *scv) {
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
    uint32_t sc_lo = u0 & k1, sc_hi = (u2 & k2) | (((u0 >> 6) & k3) << 4);
    uint32_t mn_lo = u1 & k1, mn_hi = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
    __m128i v = _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)mn_lo, (int)mn_hi);
    *scv = _mm512_cvtepu8_epi32(v);
    __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    __m128i pairs = _mm_hadd_epi16(b0, b1); /* Σ per 32: |.| <= 4064 */
    __m128i m = _mm_madd_epi16(pairs, _mm_cvtepu8_epi16(_mm_srli_si128(v, 8)));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0xB1));
    return _mm_cvtsi128_si32(m);
}

/* Lane selector for sub-blocks (2j, 2j+1) of a K4 block: lanes 0-7 -> 2j, 8-15 -> 2j+1. */
static inline __m512i k4_sel(int j) {
    return _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(2 * j), _mm512_set1_epi32(2 * j + 1));
}

static inline __m512i k4_pair(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static float dot_q4_K(int64_t n, const void *vw, const void *vx) {
    const block_q4_K *w = vw;
    const block_q8_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m512i scv, acc = _mm512_setzero_si512();
        int msum = k4_scales(w[b].scales, x[b].bsums, &scv);
        for (int j = 0; j < 4; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * j));
            __m512i u =
                k4_pair(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u,
                                            _mm512_loadu_si512(x[b].qs + 64 * j));
            acc = _mm512_add_epi32(acc,
                                   _mm512_mullo_epi32(p, _mm512_permutexvar_epi32(k4_sel(j), scv)));
        }
        int isum = _mm512_reduce_add_epi32(acc);
        sum += k_term(f16(w[b].d), f16(w[b].dmin), x[b].d, isum, msum);
    }
    return sum;
}

static float dot_q5_K(int64_t n, const void *vw, const void *vx) {
    const block_q5_K *w = vw;
    const block_q8_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m512i scv, acc = _mm512_setzero_si512();
        int msum = k4_scales(w[b].scales, x[b].bsums, &scv);
        __m256i qh = _mm256_loadu_si256((const __m256i *)w[b].qh);
        for (int j = 0; j < 4; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * j));
            __m512i u =
                k4_pair(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            __mmask64 k =
                (__mmask64)_mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * j)))) |
                ((__mmask64)_mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << (2 * j + 1))))
                 << 32);
            u = _mm512_mask_add_epi8(u, k, u, _mm512_set1_epi8(16));
            __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u,
                                            _mm512_loadu_si512(x[b].qs + 64 * j));
            acc = _mm512_add_epi32(acc,
                                   _mm512_mullo_epi32(p, _mm512_permutexvar_epi32(k4_sel(j), scv)));
        }
        int isum = _mm512_reduce_add_epi32(acc);
        sum += k_term(f16(w[b].d), f16(w[b].dmin), x[b].d, isum, msum);
    }
    return sum;
}

/* The 64 6-bit quants of half h (0/1), part p (0: elements 0-63, 1: 64-127) of a Q6_K block. */
static inline __m512i q6_part(const uint8_t *ql, const uint8_t *qh, int part) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
    int sh = 4 * part;
    __m256i a = _mm256_and_si256(_mm256_srli_epi16(l0, sh), m4);
    __m256i c = _mm256_and_si256(_mm256_srli_epi16(l1, sh), m4);
    __m256i ha = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, sh), m2), 4);
    __m256i hc = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, sh + 2), m2), 4);
    return k4_pair(_mm256_or_si256(a, ha), _mm256_or_si256(c, hc));
}

static float dot_q6_K(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m128i s16 = _mm_loadu_si128((const __m128i *)w[b].scales);
        /* offset term Σ_g sc_g · bsum_g (the quants are stored +32) */
        __m256i mo = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[b].bsums),
                                       _mm256_cvtepi8_epi16(s16));
        __m128i m1 = _mm_add_epi32(_mm256_castsi256_si128(mo), _mm256_extracti128_si256(mo, 1));
        m1 = _mm_add_epi32(m1, _mm_shuffle_epi32(m1, 0x4E));
        m1 = _mm_add_epi32(m1, _mm_shuffle_epi32(m1, 0xB1));
        int osum = _mm_cvtsi128_si32(m1);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            for (int part = 0; part < 2; part++) {
                __m512i u = q6_part(w[b].ql + 64 * h, w[b].qh + 32 * h, part);
                __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u,
                                                _mm512_loadu_si512(x[b].qs + 128 * h + 64 * part));
                int g = 8 * h + 4 * part; /* groups g..g+3, 4 lanes each */
                __m128i idx = _mm_setr_epi8(g, g, g, g, g + 1, g + 1, g + 1, g + 1, g + 2, g + 2,
                                            g + 2, g + 2, g + 3, g + 3, g + 3, g + 3);
                __m512i sc = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(s16, idx));
                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(p, sc));
            }
        }
        int isum = _mm512_reduce_add_epi32(acc) - 32 * osum;
        sum += k_term(f16(w[b].d), 0.0f, x[b].d, isum, 0);
    }
    return sum;
}

/* Σ over 16 lanes of p·sc where lane l belongs to 16-element group g0 + l/4 (one zmm = 64
 * elements = 4 groups) and s16 holds the block's 16 signed group scales. */
static inline __m512i scale_groups4(__m512i p, __m128i s16, int g0) {
    __m128i idx = _mm_add_epi8(_mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                               _mm_set1_epi8((char)g0));
    return _mm512_mullo_epi32(p, _mm512_cvtepi8_epi32(_mm_shuffle_epi8(s16, idx)));
}

static inline int hsum128_i32(__m128i m) {
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0xB1));
    return _mm_cvtsi128_si32(m);
}

/* Σ_g s16[g] · bsums[g] for signed 8-bit group scales. */
static inline int group_sum(const int16_t *bsums, __m128i s16) {
    __m256i mo =
        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), _mm256_cvtepi8_epi16(s16));
    return hsum128_i32(_mm_add_epi32(_mm256_castsi256_si128(mo), _mm256_extracti128_si256(mo, 1)));
}

/* Q2_K: 2-bit quants, per-16 4-bit scale (low nibble) and min (high nibble). Elements 128h +
 * 32k + l are bits 2k of qs[32h + l]. */
static float dot_q2_K(int64_t n, const void *vw, const void *vx) {
    const block_q2_K *w = vw;
    const block_q8_K *x = vx;
    const __m256i m2 = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m128i raw = _mm_loadu_si128((const __m128i *)w[b].scales);
        __m128i sc = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
        __m128i mn = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
        int msum = group_sum(x[b].bsums, mn);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
            for (int k = 0; k < 4; k += 2) {
                __m256i u0 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m2);
                __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k + 2), m2);
                __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), k4_pair(u0, u1),
                                                _mm512_loadu_si512(x[b].qs + 128 * h + 32 * k));
                acc = _mm512_add_epi32(acc, scale_groups4(p, sc, 8 * h + 2 * k));
            }
        }
        int isum = _mm512_reduce_add_epi32(acc);
        sum += k_term(f16(w[b].d), f16(w[b].dmin), x[b].d, isum, msum);
    }
    return sum;
}

/* Q3_K: 2 low bits in qs (as Q2_K) plus a high bit in hmask (bit 4h+k of hmask[l]); value
 * (low | high << 2) - 4; 16 signed 6-bit group scales packed in 12 bytes (minus 32). */
static float dot_q3_K(int64_t n, const void *vw, const void *vx) {
    const block_q3_K *w = vw;
    const block_q8_K *x = vx;
    const __m256i m2 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint32_t a0, a1, t;
        memcpy(&a0, w[b].scales, 4);
        memcpy(&a1, w[b].scales + 4, 4);
        memcpy(&t, w[b].scales + 8, 4);
        __m128i s16 = _mm_setr_epi32((int)((a0 & k2) | ((t & k1) << 4)),
                                     (int)((a1 & k2) | (((t >> 2) & k1) << 4)),
                                     (int)(((a0 >> 4) & k2) | (((t >> 4) & k1) << 4)),
                                     (int)(((a1 >> 4) & k2) | (((t >> 6) & k1) << 4)));
        s16 = _mm_sub_epi8(s16, _mm_set1_epi8(32));
        int osum = group_sum(x[b].bsums, s16); /* the quants are stored +4 */
        __m256i hm = _mm256_loadu_si256((const __m256i *)w[b].hmask);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
            for (int k = 0; k < 4; k += 2) {
                __m256i u0 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m2);
                __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k + 2), m2);
                __mmask32 h0 =
                    _mm256_test_epi8_mask(hm, _mm256_set1_epi8((char)(1 << (4 * h + k))));
                __mmask32 h1 =
                    _mm256_test_epi8_mask(hm, _mm256_set1_epi8((char)(1 << (4 * h + k + 1))));
                u0 = _mm256_mask_or_epi32(u0, 0xFF, u0, _mm256_maskz_mov_epi8(h0, four));
                u1 = _mm256_mask_or_epi32(u1, 0xFF, u1, _mm256_maskz_mov_epi8(h1, four));
                __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), k4_pair(u0, u1),
                                                _mm512_loadu_si512(x[b].qs + 128 * h + 32 * k));
                acc = _mm512_add_epi32(acc, scale_groups4(p, s16, 8 * h + 2 * k));
            }
        }
        int isum = _mm512_reduce_add_epi32(acc) - 4 * osum;
        sum += k_term(f16(w[b].d), 0.0f, x[b].d, isum, 0);
    }
    return sum;
}

/* ---- decode path for 32-element blocks: shared activation terms, four rows per pass ----------- */

/* Per activation block: its scale, and the int32 start of the dot accumulator (-offset·Σq for
 * offset types) or Q8_1's s (f16(d·Σq)) for types with mins. */
typedef struct act_meta {
    float d;
    union {
        int32_t init;
        float s;
    } u;
} act_meta;

enum {
    META_MAX = 1024, /* blocks per pass (K chunk of 32768 elements) */
    GV_COLS = 4,     /* tokens per pass */
    PF_ROWS = 12     /* software prefetch distance in rows (hides DRAM latency) */
};

static inline int32_t sum_q32(const int8_t *q) {
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1),
                                    _mm256_loadu_si256((const __m256i *)q));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

/* Unsigned quants of block b of a row (offset: Q8_0 128, Q4_0 8, Q5_0 16; none for _1 types). */
static inline __attribute__((always_inline)) __m256i unpack32(uint32_t type, const void *row,
                                                              int64_t b, float *d, float *m) {
    switch (type) {
    case KY_TYPE_Q8_0: {
        const block_q8_0 *q = (const block_q8_0 *)row + b;
        *d = f16(q->d);
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)q->qs),
                                _mm256_set1_epi8((char)0x80));
    }
    case KY_TYPE_Q4_0: {
        const block_q4_0 *q = (const block_q4_0 *)row + b;
        *d = f16(q->d);
        return nibbles32(q->qs);
    }
    case KY_TYPE_Q5_0: {
        const block_q5_0 *q = (const block_q5_0 *)row + b;
        *d = f16(q->d);
        return five_bit32(q->qs, q->qh);
    }
    case KY_TYPE_Q4_1: {
        const block_q4_1 *q = (const block_q4_1 *)row + b;
        *d = f16(q->d);
        *m = f16(q->m);
        return nibbles32(q->qs);
    }
    default: { /* Q5_1 */
        const block_q5_1 *q = (const block_q5_1 *)row + b;
        *d = f16(q->d);
        *m = f16(q->m);
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

/* y[r] for R (1 or 4) rows over blocks [0, nb) given the activation's meta. */
static inline __attribute__((always_inline)) void rows32(uint32_t type, int R, const char *w,
                                                         size_t w_stride, int64_t nb,
                                                         const int8_t *xq, size_t xblk,
                                                         const act_meta *meta, float *y) {
    const int mins = type == KY_TYPE_Q4_1 || type == KY_TYPE_Q5_1;
    const size_t wsz = wblock_bytes(type);
    /* y holds the running sums (0 on the first K chunk); each block adds cvt(Σ)·(d·dx), then
     * m·s for mins, one rounding per operation: the packed GEMM's order, lane by lane */
    __m128 acc = R == 4 ? _mm_loadu_ps(y) : _mm_load_ss(y);
    for (int64_t b = 0; b < nb; b++) {
        __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + (size_t)b * xblk));
        __m256i init = mins ? _mm256_setzero_si256()
                            : _mm256_castsi128_si256(_mm_cvtsi32_si128(meta[b].u.init));
        __m256i p[4];
        float d[4] = {0, 0, 0, 0}, m[4] = {0, 0, 0, 0};
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            _mm_prefetch(
                (const char *)((uintptr_t)w + (size_t)(r + PF_ROWS) * w_stride + (size_t)b * wsz),
                _MM_HINT_T0); /* may lie past the matrix: a hint, never dereferenced */
            __m256i u = unpack32(type, w + (size_t)r * w_stride, b, &d[r], &m[r]);
            p[r] = _mm256_dpbusd_epi32(init, u, xv);
        }
        __m128i sums;
        if (R == 4) { /* four 8-lane sums -> 4 block sums */
            __m256i h =
                _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
            sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        } else {
            __m128i t =
                _mm_add_epi32(_mm256_castsi256_si128(p[0]), _mm256_extracti128_si256(p[0], 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
            sums = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        }
        __m128 sc = _mm_mul_ps(_mm_setr_ps(d[0], d[1], d[2], d[3]), _mm_set1_ps(meta[b].d));
        acc = _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(sums), sc));
        if (mins)
            acc = _mm_add_ps(
                acc, _mm_mul_ps(_mm_setr_ps(m[0], m[1], m[2], m[3]), _mm_set1_ps(meta[b].u.s)));
    }
    if (R == 4)
        _mm_storeu_ps(y, acc);
    else
        _mm_store_ss(y, acc);
}

static inline __attribute__((always_inline)) void gemv32_t(uint32_t type, int64_t n, const void *w,
                                                           size_t w_stride, int64_t n_rows,
                                                           const void *x, size_t x_stride,
                                                           int64_t n_cols, float *y, int64_t ldy) {
    act_meta meta[GV_COLS][META_MAX];
    const int mins = type == KY_TYPE_Q4_1 || type == KY_TYPE_Q5_1;
    const int offset = type == KY_TYPE_Q8_0 ? 128 : type == KY_TYPE_Q4_0 ? 8 : 16;
    const size_t xblk = mins ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t qs_at = mins ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    const size_t wsz = type == KY_TYPE_Q8_0   ? sizeof(block_q8_0)
                       : type == KY_TYPE_Q4_0 ? sizeof(block_q4_0)
                       : type == KY_TYPE_Q5_0 ? sizeof(block_q5_0)
                       : type == KY_TYPE_Q4_1 ? sizeof(block_q4_1)
                                              : sizeof(block_q5_1);
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
                        meta[c][b].d = f16(q->d);
                        meta[c][b].u.s = f16(q->s);
                    } else {
                        const block_q8_0 *q = (const block_q8_0 *)xc + b0 + b;
                        meta[c][b].d = f16(q->d);
                        meta[c][b].u.init = -offset * sum_q32(q->qs);
                    }
                }
            }
            const char *wb = (const char *)w + (size_t)b0 * wsz;
            for (int64_t r = 0; r < n_rows;) {
                int R = n_rows - r >= 4 ? 4 : 1;
                for (int c = 0; c < nc; c++) {
                    float *yc = y + (c0 + c) * ldy + r;
                    if (R == 4)
                        rows32(type, 4, wb + (size_t)r * w_stride, w_stride, nb, xq[c], xblk,
                               meta[c], yc);
                    else
                        rows32(type, 1, wb + (size_t)r * w_stride, w_stride, nb, xq[c], xblk,
                               meta[c], yc);
                }
                r += R;
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

/* ---- gemm entries over row dots -------------------------------------------------------------- */

typedef float (*row_dot_fn)(int64_t n, const void *w, const void *x);

static row_dot_fn row_dot_for(uint32_t wtype) {
    switch (wtype) {
    case KY_TYPE_Q4_0: return dot_q4_0;
    case KY_TYPE_Q4_1: return dot_q4_1;
    case KY_TYPE_Q5_0: return dot_q5_0;
    case KY_TYPE_Q5_1: return dot_q5_1;
    case KY_TYPE_Q8_0: return dot_q8_0;
    case KY_TYPE_Q4_K: return dot_q4_K;
    case KY_TYPE_Q5_K: return dot_q5_K;
    case KY_TYPE_Q6_K: return dot_q6_K;
    case KY_TYPE_Q2_K: return dot_q2_K;
    case KY_TYPE_Q3_K: return dot_q3_K;
    default: return NULL;
    }
}

void kernels_x86_gemv_vnni(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                           int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols, float *y,
                           int64_t ldy) {
    if (wtype == KY_TYPE_Q8_0 || wtype == KY_TYPE_Q4_0 || wtype == KY_TYPE_Q5_0 ||
        wtype == KY_TYPE_Q4_1 || wtype == KY_TYPE_Q5_1) {
        gemv32(wtype, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);
        return;
    }
    row_dot_fn dot = row_dot_for(wtype);
    for (int64_t r = 0; r < n_rows; r++) { /* rows outer: a row stays in L1 across tokens */
        for (int64_t c = 0; c < n_cols; c++)
            y[c * ldy + r] = dot(n, (const char *)w + (size_t)r * w_stride,
                                 (const char *)x + (size_t)c * x_stride);
    }
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
