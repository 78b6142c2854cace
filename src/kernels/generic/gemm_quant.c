/* gemm_quant.c — reference matrix products for block-quantized weights (layer: kernels/generic).
 *
 * Each vec_dot_* is one weight row times one activation row, with exactly the integer arithmetic
 * of llama.cpp's ggml_vec_dot_*_ref (per-block integer sums, then one float scale per block or
 * sub-block), so optimized tiers can be checked against it up to float summation order. The gemm
 * entries loop vec_dot over a tile. Portable C, no ISA code: this file is the spec.
 */
#include <string.h>

#include "kernels/kernels_int.h"
#include "tensor/fp16.h"

#define F16(h) ky_f16_to_f32(h)

static float vec_dot_q4_0(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw;
    const block_q8_0 *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        int s0 = 0, s1 = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            s0 += ((w[b].qs[j] & 0xF) - 8) * x[b].qs[j];
            s1 += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + QK4_0 / 2];
        }
        sum += (float)(s0 + s1) * F16(w[b].d) * F16(x[b].d);
    }
    return sum;
}

static float vec_dot_q4_1(int64_t n, const void *vw, const void *vx) {
    const block_q4_1 *w = vw;
    const block_q8_1 *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK4_1; b++) {
        int s0 = 0, s1 = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            s0 += (w[b].qs[j] & 0xF) * x[b].qs[j];
            s1 += (w[b].qs[j] >> 4) * x[b].qs[j + QK4_1 / 2];
        }
        sum += (F16(w[b].d) * F16(x[b].d)) * (float)(s0 + s1) + F16(w[b].m) * F16(x[b].s);
    }
    return sum;
}

/* The 5-bit quants of a Q5_0/Q5_1 block: low nibble + bit j (first half) or j+16 of qh. */
static void unpack_q5(const uint8_t *qs, const uint8_t *qh4, int out[32]) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    for (int j = 0; j < 16; j++) {
        out[j] = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
        out[j + 16] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
    }
}

static float vec_dot_q5_0(int64_t n, const void *vw, const void *vx) {
    const block_q5_0 *w = vw;
    const block_q8_0 *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK5_0; b++) {
        int q[32], s = 0;
        unpack_q5(w[b].qs, w[b].qh, q);
        for (int j = 0; j < 32; j++) s += (q[j] - 16) * x[b].qs[j];
        sum += (F16(w[b].d) * F16(x[b].d)) * (float)s;
    }
    return sum;
}

static float vec_dot_q5_1(int64_t n, const void *vw, const void *vx) {
    const block_q5_1 *w = vw;
    const block_q8_1 *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK5_1; b++) {
        int q[32], s = 0;
        unpack_q5(w[b].qs, w[b].qh, q);
        for (int j = 0; j < 32; j++) s += q[j] * x[b].qs[j];
        sum += (F16(w[b].d) * F16(x[b].d)) * (float)s + F16(w[b].m) * F16(x[b].s);
    }
    return sum;
}

static float vec_dot_q8_0(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw;
    const block_q8_0 *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int s = 0;
        for (int j = 0; j < QK8_0; j++) s += w[b].qs[j] * x[b].qs[j];
        sum += (float)s * (F16(w[b].d) * F16(x[b].d));
    }
    return sum;
}

static float vec_dot_q2_K(int64_t n, const void *vw, const void *vx) {
    const block_q2_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const uint8_t *q2 = w[b].qs;
        const int8_t *q8 = x[b].qs;
        int summs = 0, isum = 0, is = 0;
        for (int j = 0; j < 16; j++) summs += x[b].bsums[j] * (w[b].scales[j] >> 4);
        for (int k = 0; k < QK_K / 128; k++) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    int d = w[b].scales[is++] & 0xF, s = 0;
                    for (int l = 0; l < 16; l++) s += q8[l] * ((q2[16 * half + l] >> shift) & 3);
                    isum += d * s;
                    q8 += 16;
                }
            }
            q2 += 32;
        }
        float dall = x[b].d * F16(w[b].d), dmin = x[b].d * F16(w[b].dmin);
        sum += dall * (float)isum - dmin * (float)summs;
    }
    return sum;
}

static float vec_dot_q3_K(int64_t n, const void *vw, const void *vx) {
    const block_q3_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int8_t q[QK_K];
        const uint8_t *q3 = w[b].qs;
        int8_t *a = q;
        uint8_t m = 1;
        for (int j = 0; j < QK_K; j += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int l = 0; l < 32; l++)
                    a[l] = (int8_t)(((q3[l] >> shift) & 3) - ((w[b].hmask[l] & m) ? 0 : 4));
                a += 32;
                m = (uint8_t)(m << 1);
            }
            q3 += 32;
        }
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += q[16 * g + l] * x[b].qs[16 * g + l];
            isum += ky_q3k_scale(g, w[b].scales) * s;
        }
        sum += F16(w[b].d) * x[b].d * (float)isum;
    }
    return sum;
}

/* Shared by Q4_K and Q5_K: q holds the 256 unsigned quants of one block. */
static float dot_k4_block(const uint8_t *scales, float d, float dmin, const uint8_t *q,
                          const block_q8_K *x) {
    int isum = 0, msum = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        ky_q4k_scale_min(j, scales, &sc, &m);
        int s = 0;
        for (int l = 0; l < 32; l++) s += q[32 * j + l] * x->qs[32 * j + l];
        isum += sc * s;
        msum += m * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return d * x->d * (float)isum - dmin * x->d * (float)msum;
}

static float vec_dot_q4_K(int64_t n, const void *vw, const void *vx) {
    const block_q4_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t q[QK_K];
        for (int j = 0; j < QK_K / 64; j++) {
            for (int l = 0; l < 32; l++) {
                q[64 * j + l] = w[b].qs[32 * j + l] & 0xF;
                q[64 * j + 32 + l] = w[b].qs[32 * j + l] >> 4;
            }
        }
        sum += dot_k4_block(w[b].scales, F16(w[b].d), F16(w[b].dmin), q, &x[b]);
    }
    return sum;
}

static float vec_dot_q5_K(int64_t n, const void *vw, const void *vx) {
    const block_q5_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t q[QK_K];
        for (int j = 0; j < QK_K / 64; j++) {
            for (int l = 0; l < 32; l++) {
                uint8_t h = w[b].qh[l];
                q[64 * j + l] =
                    (uint8_t)((w[b].qs[32 * j + l] & 0xF) | (((h >> (2 * j)) & 1) << 4));
                q[64 * j + 32 + l] =
                    (uint8_t)((w[b].qs[32 * j + l] >> 4) | (((h >> (2 * j + 1)) & 1) << 4));
            }
        }
        sum += dot_k4_block(w[b].scales, F16(w[b].d), F16(w[b].dmin), q, &x[b]);
    }
    return sum;
}

static float vec_dot_q6_K(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    float sum = 0;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int8_t q[QK_K];
        const uint8_t *ql = w[b].ql, *qh = w[b].qh;
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                q[j + l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                q[j + l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                q[j + l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                q[j + l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
            ql += 64;
            qh += 32;
        }
        int isum = 0;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += q[16 * g + l] * x[b].qs[16 * g + l];
            isum += w[b].scales[g] * s;
        }
        sum += F16(w[b].d) * x[b].d * (float)isum;
    }
    return sum;
}

typedef float (*vec_dot_fn)(int64_t n, const void *w, const void *x);

static void gemm_loop(vec_dot_fn dot, int64_t n, const void *w, size_t w_stride, int64_t n_rows,
                      const void *x, size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    for (int64_t c = 0; c < n_cols; c++) {
        const char *xc = (const char *)x + (size_t)c * x_stride;
        for (int64_t r = 0; r < n_rows; r++)
            y[c * ldy + r] = dot(n, (const char *)w + (size_t)r * w_stride, xc);
    }
}

#define GEMM_ENTRY(T)                                                                              \
    static void gemm_##T(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x, \
                         size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {                 \
        gemm_loop(vec_dot_##T, n, w, w_stride, n_rows, x, x_stride, n_cols, y, ldy);               \
    }
GEMM_ENTRY(q4_0)
GEMM_ENTRY(q4_1)
GEMM_ENTRY(q5_0)
GEMM_ENTRY(q5_1)
GEMM_ENTRY(q8_0)
GEMM_ENTRY(q2_K)
GEMM_ENTRY(q3_K)
GEMM_ENTRY(q4_K)
GEMM_ENTRY(q5_K)
GEMM_ENTRY(q6_K)

/* Registers the quantized gemm entries (called by kernels_fill_generic). */
void kernels_fill_generic_quant(ky_kernel_table *t);
void kernels_fill_generic_quant(ky_kernel_table *t) {
    t->gemm[KY_TYPE_Q4_0] = gemm_q4_0;
    t->gemm[KY_TYPE_Q4_1] = gemm_q4_1;
    t->gemm[KY_TYPE_Q5_0] = gemm_q5_0;
    t->gemm[KY_TYPE_Q5_1] = gemm_q5_1;
    t->gemm[KY_TYPE_Q8_0] = gemm_q8_0;
    t->gemm[KY_TYPE_Q2_K] = gemm_q2_K;
    t->gemm[KY_TYPE_Q3_K] = gemm_q3_K;
    t->gemm[KY_TYPE_Q4_K] = gemm_q4_K;
    t->gemm[KY_TYPE_Q5_K] = gemm_q5_K;
    t->gemm[KY_TYPE_Q6_K] = gemm_q6_K;
}
