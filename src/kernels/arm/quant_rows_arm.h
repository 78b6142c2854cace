/* quant_rows_arm.h — integer row-dot kernels for arm64, written once over a 16-byte dot
 * primitive (layer: kernels/arm).
 *
 * Included by quant_neon.c (primitive: widening multiplies + pairwise adds) and quant_dotprod.c
 * (primitive: SDOT); each defines `static inline int32x4_t dot16(int32x4_t acc, int8x16_t a,
 * int8x16_t b)` before including. Quants are unpacked to signed bytes; each block (or K-quant
 * sub-block) yields an exact integer sum, then the float scale, as the reference.
 */
#ifndef KY_KERNELS_QUANT_ROWS_ARM_H
#define KY_KERNELS_QUANT_ROWS_ARM_H

#include <arm_neon.h>
#include <string.h>

#include "kernels/arm/arm.h"
#include "tensor/fp16.h"

static inline float f16(uint16_t h) { return ky_f16_to_f32(h); }

static inline int32_t dot32(const int8x16_t a0, const int8x16_t a1, const int8_t *x) {
    int32x4_t acc = dot16(vdupq_n_s32(0), a0, vld1q_s8(x));
    acc = dot16(acc, a1, vld1q_s8(x + 16));
    return vaddvq_s32(acc);
}

/* 0x10 in byte j of the 32-element block where bit j of qh is set (two halves of 16). */
static inline void high_bits(const uint8_t *qh4, uint8x16_t *h0, uint8x16_t *h1) {
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t bm = vld1q_u8(bits), s = vdupq_n_u8(0x10);
    *h0 = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh4[0]), vdup_n_u8(qh4[1])), bm), s);
    *h1 = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh4[2]), vdup_n_u8(qh4[3])), bm), s);
}

static float row_q8_0(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK8_0; b++)
        sum += (float)dot32(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), x[b].qs) *
               (f16(w[b].d) * f16(x[b].d));
    return sum;
}

static float row_q4_0(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw;
    const block_q8_0 *x = vx;
    float sum = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(8);
    for (int64_t b = 0; b < n / QK4_0; b++) {
        uint8x16_t q = vld1q_u8(w[b].qs);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), off);
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), off);
        sum += (float)dot32(lo, hi, x[b].qs) * f16(w[b].d) * f16(x[b].d);
    }
    return sum;
}

static float row_q5_0(int64_t n, const void *vw, const void *vx) {
    const block_q5_0 *w = vw;
    const block_q8_0 *x = vx;
    float sum = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(16);
    for (int64_t b = 0; b < n / QK5_0; b++) {
        uint8x16_t q = vld1q_u8(w[b].qs), h0, h1;
        high_bits(w[b].qh, &h0, &h1);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), h0)), off);
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), h1)), off);
        sum += (f16(w[b].d) * f16(x[b].d)) * (float)dot32(lo, hi, x[b].qs);
    }
    return sum;
}

static float row_q4_1(int64_t n, const void *vw, const void *vx) {
    const block_q4_1 *w = vw;
    const block_q8_1 *x = vx;
    float sum = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int64_t b = 0; b < n / QK4_1; b++) {
        uint8x16_t q = vld1q_u8(w[b].qs);
        int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, m4));
        int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        sum += (f16(w[b].d) * f16(x[b].d)) * (float)dot32(lo, hi, x[b].qs) +
               f16(w[b].m) * f16(x[b].s);
    }
    return sum;
}

static float row_q5_1(int64_t n, const void *vw, const void *vx) {
    const block_q5_1 *w = vw;
    const block_q8_1 *x = vx;
    float sum = 0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int64_t b = 0; b < n / QK5_1; b++) {
        uint8x16_t q = vld1q_u8(w[b].qs), h0, h1;
        high_bits(w[b].qh, &h0, &h1);
        int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), h0));
        int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), h1));
        sum += (f16(w[b].d) * f16(x[b].d)) * (float)dot32(lo, hi, x[b].qs) +
               f16(w[b].m) * f16(x[b].s);
    }
    return sum;
}

/* Q4_K / Q5_K block: qh NULL for Q4_K. */
static inline float k4_block(const uint8_t *qs, const uint8_t *qh, const uint8_t *scales, float d,
                             float dmin, const block_q8_K *x) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), sixteen = vdupq_n_u8(16);
    int isum = 0, msum = 0;
    for (int j = 0; j < 4; j++) {
        uint8_t sc0, m0, sc1, m1;
        ky_q4k_scale_min(2 * j, scales, &sc0, &m0);
        ky_q4k_scale_min(2 * j + 1, scales, &sc1, &m1);
        uint8x16_t q0 = vld1q_u8(qs + 32 * j), q1 = vld1q_u8(qs + 32 * j + 16);
        uint8x16_t l0 = vandq_u8(q0, m4), l1 = vandq_u8(q1, m4);
        uint8x16_t u0 = vshrq_n_u8(q0, 4), u1 = vshrq_n_u8(q1, 4);
        if (qh) {
            uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
            uint8x16_t bl = vdupq_n_u8((uint8_t)(1 << (2 * j))), bh = vdupq_n_u8((uint8_t)(2 << (2 * j)));
            l0 = vorrq_u8(l0, vandq_u8(vtstq_u8(h0, bl), sixteen));
            l1 = vorrq_u8(l1, vandq_u8(vtstq_u8(h1, bl), sixteen));
            u0 = vorrq_u8(u0, vandq_u8(vtstq_u8(h0, bh), sixteen));
            u1 = vorrq_u8(u1, vandq_u8(vtstq_u8(h1, bh), sixteen));
        }
        isum += sc0 * dot32(vreinterpretq_s8_u8(l0), vreinterpretq_s8_u8(l1), x->qs + 64 * j);
        isum += sc1 * dot32(vreinterpretq_s8_u8(u0), vreinterpretq_s8_u8(u1), x->qs + 64 * j + 32);
        msum += m0 * (x->bsums[4 * j] + x->bsums[4 * j + 1]) +
                m1 * (x->bsums[4 * j + 2] + x->bsums[4 * j + 3]);
    }
    return d * x->d * (float)isum - dmin * x->d * (float)msum;
}

static float row_q4_K(int64_t n, const void *vw, const void *vx) {
    const block_q4_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++)
        sum += k4_block(w[b].qs, NULL, w[b].scales, f16(w[b].d), f16(w[b].dmin), &x[b]);
    return sum;
}

static float row_q5_K(int64_t n, const void *vw, const void *vx) {
    const block_q5_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++)
        sum += k4_block(w[b].qs, w[b].qh, w[b].scales, f16(w[b].d), f16(w[b].dmin), &x[b]);
    return sum;
}

static float row_q6_K(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            for (int part = 0; part < 4; part++) { /* 32 elements = groups 8h+2part, +1 */
                const uint8_t *l = ql + 32 * (part & 1);
                int8x16_t v[2];
                for (int k = 0; k < 2; k++) {
                    uint8x16_t lo = vld1q_u8(l + 16 * k), hb = vld1q_u8(qh + 16 * k);
                    lo = (part >> 1) ? vshrq_n_u8(lo, 4) : vandq_u8(lo, m4);
                    uint8x16_t hi = vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * part))), m2);
                    v[k] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4))), off);
                }
                const int8_t *xq = x[b].qs + 128 * h + 32 * part;
                int g = 8 * h + 2 * part;
                isum += w[b].scales[g] * vaddvq_s32(dot16(vdupq_n_s32(0), v[0], vld1q_s8(xq)));
                isum += w[b].scales[g + 1] *
                        vaddvq_s32(dot16(vdupq_n_s32(0), v[1], vld1q_s8(xq + 16)));
            }
        }
        sum += f16(w[b].d) * x[b].d * (float)isum;
    }
    return sum;
}

typedef float (*arm_row_fn)(int64_t n, const void *w, const void *x);

static inline void rows_loop(arm_row_fn dot, int64_t n, const void *w, size_t w_stride,
                             int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols,
                             float *y, int64_t ldy) {
    for (int64_t r = 0; r < n_rows; r++) /* rows outer: a row stays in L1 across tokens */
        for (int64_t c = 0; c < n_cols; c++)
            y[c * ldy + r] = dot(n, (const char *)w + (size_t)r * w_stride,
                                 (const char *)x + (size_t)c * x_stride);
}

#define ARM_GEMM_ENTRY(T)                                                                         \
    static void gemm_##T(int64_t n, const void *w, size_t w_stride, int64_t n_rows,               \
                         const void *x, size_t x_stride, int64_t n_cols, float *y, int64_t ldy) { \
        rows_loop(row_##T, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);                  \
    }
ARM_GEMM_ENTRY(q4_0)
ARM_GEMM_ENTRY(q4_1)
ARM_GEMM_ENTRY(q5_0)
ARM_GEMM_ENTRY(q5_1)
ARM_GEMM_ENTRY(q8_0)
ARM_GEMM_ENTRY(q4_K)
ARM_GEMM_ENTRY(q5_K)
ARM_GEMM_ENTRY(q6_K)

static void fill_rows(ky_kernel_table *t) {
    t->gemm[KY_TYPE_Q4_0] = gemm_q4_0;
    t->gemm[KY_TYPE_Q4_1] = gemm_q4_1;
    t->gemm[KY_TYPE_Q5_0] = gemm_q5_0;
    t->gemm[KY_TYPE_Q5_1] = gemm_q5_1;
    t->gemm[KY_TYPE_Q8_0] = gemm_q8_0;
    t->gemm[KY_TYPE_Q4_K] = gemm_q4_K;
    t->gemm[KY_TYPE_Q5_K] = gemm_q5_K;
    t->gemm[KY_TYPE_Q6_K] = gemm_q6_K;
}

#endif
