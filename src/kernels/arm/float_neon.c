/* float_neon.c — arm64 NEON float products, vector helpers and activation quantizers (layer:
 * kernels/arm).
 *
 * F32/F16/BF16 rows are widened to f32 and dotted with 4 independent float32x4 accumulators.
 * Quantizers are bit-exact with tensor/quant.h: FRINTA is C's roundf (Q8_0/Q8_1) and FCVTNS is
 * round-to-nearest-even (Q8_K's nearest_int). silu uses libm's expf per element.
 */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels/arm/arm.h"
#include "tensor/fp16.h"

static inline float32x4_t load4(uint32_t type, const void *p, int64_t i) {
    switch (type) {
    case KY_TYPE_F16: return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p + i)));
    case KY_TYPE_BF16:
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)p + i), 16));
    default: return vld1q_f32((const float *)p + i);
    }
}

static inline float at(uint32_t type, const void *p, int64_t i) {
    switch (type) {
    case KY_TYPE_F16: return ky_f16_to_f32(((const uint16_t *)p)[i]);
    case KY_TYPE_BF16: return ky_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

static inline float row_dot(uint32_t type, const void *w, const float *x, int64_t n) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, load4(type, w, i), vld1q_f32(x + i));
        a1 = vfmaq_f32(a1, load4(type, w, i + 4), vld1q_f32(x + i + 4));
        a2 = vfmaq_f32(a2, load4(type, w, i + 8), vld1q_f32(x + i + 8));
        a3 = vfmaq_f32(a3, load4(type, w, i + 12), vld1q_f32(x + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, load4(type, w, i), vld1q_f32(x + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) s += at(type, w, i) * x[i];
    return s;
}

static inline void gemm_float(uint32_t type, int64_t n, const void *w, size_t w_stride,
                              int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols,
                              float *y, int64_t ldy) {
    for (int64_t c = 0; c < n_cols; c++) {
        const float *xc = (const float *)((const char *)x + (size_t)c * x_stride);
        for (int64_t r = 0; r < n_rows; r++)
            y[c * ldy + r] = row_dot(type, (const char *)w + (size_t)r * w_stride, xc, n);
    }
}

static void gemm_f32(int64_t n, const void *w, size_t ws, int64_t nr, const void *x, size_t xs,
                     int64_t nc, float *y, int64_t ldy) {
    gemm_float(KY_TYPE_F32, n, w, ws, nr, x, xs, nc, y, ldy);
}
static void gemm_f16(int64_t n, const void *w, size_t ws, int64_t nr, const void *x, size_t xs,
                     int64_t nc, float *y, int64_t ldy) {
    gemm_float(KY_TYPE_F16, n, w, ws, nr, x, xs, nc, y, ldy);
}
static void gemm_bf16(int64_t n, const void *w, size_t ws, int64_t nr, const void *x, size_t xs,
                      int64_t nc, float *y, int64_t ldy) {
    gemm_float(KY_TYPE_BF16, n, w, ws, nr, x, xs, nc, y, ldy);
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    return row_dot(KY_TYPE_F32, a, b, n);
}
static float dot_f16(const uint16_t *a, const float *b, int64_t n) {
    return row_dot(KY_TYPE_F16, a, b, n);
}

static void axpy_f32(float alpha, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), alpha));
    for (; i < n; i++) y[i] += alpha * x[i];
}

static void axpy_f16(float alpha, const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load4(KY_TYPE_F16, x, i), alpha));
    for (; i < n; i++) y[i] += alpha * ky_f16_to_f32(x[i]);
}

static void scale_f32(float alpha, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), alpha));
    for (; i < n; i++) y[i] *= alpha;
}

static void f32_to_f16(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = ky_f32_to_f16(x[i]);
}

static void rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    float ss = row_dot(KY_TYPE_F32, x, x, n);
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(w + i)));
    for (; i < n; i++) y[i] = x[i] * scale * w[i];
}

static void silu_mul(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* ---- activation quantizers ------------------------------------------------------------------- */

static inline float quant32(const float *x, int8_t *qs, int32_t *sum) {
    float32x4_t v[8], m = vdupq_n_f32(0);
    for (int i = 0; i < 8; i++) {
        v[i] = vld1q_f32(x + 4 * i);
        m = vmaxq_f32(m, vabsq_f32(v[i]));
    }
    float amax = vmaxvq_f32(m);
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    int32x4_t s = vdupq_n_s32(0);
    for (int i = 0; i < 8; i += 2) {
        int32x4_t a = vcvtq_s32_f32(vrndaq_f32(vmulq_n_f32(v[i], id)));
        int32x4_t b = vcvtq_s32_f32(vrndaq_f32(vmulq_n_f32(v[i + 1], id)));
        s = vaddq_s32(s, vaddq_s32(a, b));
        int16x8_t h = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
        vst1_s8(qs + 4 * i, vmovn_s16(h));
    }
    *sum = vaddvq_s32(s);
    return d;
}

static void quantize_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    int32_t sum;
    for (int64_t b = 0; b < n / QK8_0; b++)
        y[b].d = ky_f32_to_f16(quant32(x + 32 * b, y[b].qs, &sum));
}

static void quantize_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    int32_t sum;
    for (int64_t b = 0; b < n / QK8_1; b++) {
        float d = quant32(x + 32 * b, y[b].qs, &sum);
        y[b].d = ky_f32_to_f16(d);
        y[b].s = ky_f32_to_f16((float)sum * d);
    }
}

static void quantize_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float32x4_t m = vdupq_n_f32(0);
        for (int i = 0; i < QK_K; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
        float amax = vmaxvq_f32(m);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        float iscale = -127.0f / max;
        for (int g = 0; g < QK_K / 16; g++) {
            int32x4_t s = vdupq_n_s32(0), q[4];
            for (int k = 0; k < 4; k++) {
                q[k] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * g + 4 * k), iscale)),
                                 vdupq_n_s32(127));
                s = vaddq_s32(s, q[k]);
            }
            int16x8_t h0 = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
            int16x8_t h1 = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
            vst1q_s8(y[b].qs + 16 * g, vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
            y[b].bsums[g] = (int16_t)vaddvq_s32(s);
        }
        y[b].d = 1.0f / iscale;
    }
}

void kernels_arm_fill_float_neon(ky_kernel_table *t) {
    t->quantize_act[KY_TYPE_Q8_0] = quantize_q8_0;
    t->quantize_act[KY_TYPE_Q8_1] = quantize_q8_1;
    t->quantize_act[KY_TYPE_Q8_K] = quantize_q8_K;
    t->gemm[KY_TYPE_F32] = gemm_f32;
    t->gemm[KY_TYPE_F16] = gemm_f16;
    t->gemm[KY_TYPE_BF16] = gemm_bf16;
    t->dot_f32 = dot_f32;
    t->dot_f16 = dot_f16;
    t->axpy_f32 = axpy_f32;
    t->axpy_f16 = axpy_f16;
    t->scale_f32 = scale_f32;
    t->f32_to_f16 = f32_to_f16;
    t->rmsnorm = rmsnorm;
    t->silu_mul = silu_mul;
}
