/* gemm_float.c — reference products for float weights and the vector helpers (layer:
 * kernels/generic).
 *
 * F32 / F16 / BF16 weights multiply F32 activations; sums are accumulated in double so this file
 * is a precise reference for the optimized tiers. The vector helpers (dot, axpy, rmsnorm, silu)
 * are the attention and elementwise building blocks. Portable C, no ISA code.
 */
#include <math.h>

#include "kernels/kernels_int.h"
#include "tensor/fp16.h"

static void gemm_f32(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x,
                     size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    for (int64_t c = 0; c < n_cols; c++) {
        const float *xc = (const float *)((const char *)x + (size_t)c * x_stride);
        for (int64_t r = 0; r < n_rows; r++) {
            const float *wr = (const float *)((const char *)w + (size_t)r * w_stride);
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += (double)wr[i] * xc[i];
            y[c * ldy + r] = (float)s;
        }
    }
}

static void gemm_f16(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x,
                     size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    for (int64_t c = 0; c < n_cols; c++) {
        const float *xc = (const float *)((const char *)x + (size_t)c * x_stride);
        for (int64_t r = 0; r < n_rows; r++) {
            const uint16_t *wr = (const uint16_t *)((const char *)w + (size_t)r * w_stride);
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += (double)ky_f16_to_f32(wr[i]) * xc[i];
            y[c * ldy + r] = (float)s;
        }
    }
}

static void gemm_bf16(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x,
                      size_t x_stride, int64_t n_cols, float *y, int64_t ldy) {
    for (int64_t c = 0; c < n_cols; c++) {
        const float *xc = (const float *)((const char *)x + (size_t)c * x_stride);
        for (int64_t r = 0; r < n_rows; r++) {
            const uint16_t *wr = (const uint16_t *)((const char *)w + (size_t)r * w_stride);
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += (double)ky_bf16_to_f32(wr[i]) * xc[i];
            y[c * ldy + r] = (float)s;
        }
    }
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

static float dot_f16(const uint16_t *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)ky_f16_to_f32(a[i]) * b[i];
    return (float)s;
}

static void axpy_f32(float alpha, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

static void axpy_f16(float alpha, const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * ky_f16_to_f32(x[i]);
}

static void scale_f32(float alpha, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= alpha;
}

static void f32_to_f16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ky_f32_to_f16(x[i]);
}

static void rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)(x[i] * x[i]); /* as llama.cpp's rms_norm */
    float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

float kernels_expf_approx(float x) {
    if (x != x) return x;
    if (x > 100.0f) return INFINITY;
    if (x < -110.0f) return 0.0f;
    float z = fmaf(x, 0x1.715476p+0f, 0x1.8p23f);
    float n = z - 0x1.8p23f;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    float u = b * b;
    float j = fmaf(
        fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
        u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

/* silu(g)·u = g / (1 + e^(0−g)) · u, in llama.cpp's operation order. */
static void silu_mul(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + kernels_expf_approx(0.0f - g[i])) * u[i];
}

static double exp_sum(float *x, int64_t n, float max) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i += 16) {
        float v[16];
        for (int k = 0; k < 16; k++) {
            v[k] = i + k < n ? kernels_expf_approx(x[i + k] - max) : 0.0f;
            if (i + k < n) x[i + k] = v[k];
        }
        for (int w = 8; w >= 1; w /= 2)
            for (int k = 0; k < w; k++) v[k] = v[k] + v[k + w];
        sum += (double)v[0];
    }
    return sum;
}

void kernels_quantize_f32_copy(const float *x, void *y, int64_t n) {
    float *o = y;
    for (int64_t i = 0; i < n; i++) o[i] = x[i];
}

/* Activations for F16 / BF16 weights: F32 rows whose values are rounded to f16 / bf16. */
static void round_f16(const float *x, void *y, int64_t n) {
    float *o = y;
    for (int64_t i = 0; i < n; i++) o[i] = ky_f16_to_f32(ky_f32_to_f16(x[i]));
}
static void round_bf16(const float *x, void *y, int64_t n) {
    float *o = y;
    for (int64_t i = 0; i < n; i++) o[i] = ky_bf16_to_f32(ky_f32_to_bf16(x[i]));
}

void kernels_fill_generic(ky_kernel_table *t) {
    *t = (ky_kernel_table){.name = "generic"};
    t->quantize_act[KY_TYPE_F32] = kernels_quantize_f32_copy;
    t->quantize_act[KY_TYPE_F16] = round_f16;
    t->quantize_act[KY_TYPE_BF16] = round_bf16;
    t->quantize_act[KY_TYPE_Q8_0] = kernels_quantize_q8_0_ref;
    t->quantize_act[KY_TYPE_Q8_1] = kernels_quantize_q8_1_ref;
    t->quantize_act[KY_TYPE_Q8_K] = kernels_quantize_q8_K_ref;
    t->gemm[KY_TYPE_F32] = gemm_f32;
    t->gemm[KY_TYPE_F16] = gemm_f16;
    t->gemm[KY_TYPE_BF16] = gemm_bf16;
    kernels_fill_generic_quant(t);
    t->dot_f32 = dot_f32;
    t->dot_f16 = dot_f16;
    t->axpy_f32 = axpy_f32;
    t->axpy_f16 = axpy_f16;
    t->scale_f32 = scale_f32;
    t->f32_to_f16 = f32_to_f16;
    t->rmsnorm = rmsnorm;
    t->silu_mul = silu_mul;
    t->exp_sum = exp_sum;
}
