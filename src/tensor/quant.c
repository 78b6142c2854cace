/* quant.c — reference quantizers for plain floats and 32-element block types, and the generic
 * ky_quantize_row entry point (layer: tensor).
 *
 * Each routine follows llama.cpp's quantize_row_*_ref formula step by step (scale computed in f32,
 * stored as f16; the same rounding of each element), so the bytes are identical to what
 * llama-quantize writes. K-quants live in quant_k.c.
 */
#include "tensor/quant.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "tensor/fp16.h"
#include "tensor/types.h"

#ifdef __clang__
#pragma clang fp contract(off) /* same roundings as llama.cpp's unfused reference */
#endif

void ky_quantize_row_f16(const float *x, ky_f16 *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ky_f32_to_f16(x[i]);
}

void ky_quantize_row_bf16(const float *x, ky_bf16 *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ky_f32_to_bf16(x[i]);
}

/* The value of largest magnitude in x[0..n), keeping its sign; the first one wins ties. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *min, float *max) {
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < *min) *min = x[j];
        if (x[j] > *max) *max = x[j];
    }
}

/* Symmetric 4-bit: d = max/-8 (max = signed value of largest magnitude, which maps to q = 0), then
 * q = min(15, trunc(x/d + 8.5)) — i.e. round half up, the -max end clamped from 16 to 15. */
void ky_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ky_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = (int8_t)(x[j] * id + 8.5f), q1 = (int8_t)(x[j + QK4_0 / 2] * id + 8.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Asymmetric 4-bit: m = min, d = (max - min)/15, q = min(15, trunc((x - min)/d + 0.5)). */
void ky_quantize_row_q4_1(const float *x, block_q4_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min, max;
        min_max(x, QK4_1, &min, &max);
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ky_f32_to_f16(d);
        y[i].m = ky_f32_to_f16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = (int8_t)((x[j] - min) * id + 0.5f);
            int q1 = (int8_t)((x[j + QK4_1 / 2] - min) * id + 0.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Stores the 5th bit of the 32 quants q[] as the little-endian u32 qh (bit j = element j). */
static void q5_pack(const int q[32], uint8_t qs[16], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
        h |= (uint32_t)((q[j] >> 4) & 1) << j;
        h |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    for (int b = 0; b < 4; b++) qh[b] = (uint8_t)(h >> (8 * b));
}

/* Symmetric 5-bit: d = max/-16, q = min(31, trunc(x/d + 16.5)). */
void ky_quantize_row_q5_0(const float *x, block_q5_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ky_f32_to_f16(d);
        int q[QK5_0];
        for (int j = 0; j < QK5_0; j++) {
            q[j] = (int8_t)(x[j] * id + 16.5f);
            if (q[j] > 31) q[j] = 31;
        }
        q5_pack(q, y[i].qs, y[i].qh);
    }
}

/* Asymmetric 5-bit: m = min, d = (max - min)/31, q = trunc((x - min)/d + 0.5) (no clamp: the
 * largest value gives 31.5 at most). */
void ky_quantize_row_q5_1(const float *x, block_q5_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min, max;
        min_max(x, QK5_1, &min, &max);
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ky_f32_to_f16(d);
        y[i].m = ky_f32_to_f16(min);
        int q[QK5_1];
        for (int j = 0; j < QK5_1; j++) q[j] = (uint8_t)((x[j] - min) * id + 0.5f);
        q5_pack(q, y[i].qs, y[i].qh);
    }
}

static float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

/* d = amax/127, id = 1/d, q = roundf(x*id); returns sum(q). */
static int q8_block_ref(const float *x, ky_f16 *d16, int8_t *qs, float *d_out) {
    const float d = absmax(x, 32) / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)roundf(x[j] * id);
        sum += qs[j];
    }
    *d16 = ky_f32_to_f16(d);
    *d_out = d;
    return sum;
}

/* d = amax/127, id = 127/amax, q = round-half-even(x*id) (AVX _mm256_round_ps). */
static int q8_block_x86(const float *x, ky_f16 *d16, int8_t *qs, float *d_out) {
    const float amax = absmax(x, 32);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)nearbyintf(x[j] * id);
        sum += qs[j];
    }
    *d16 = ky_f32_to_f16(d);
    *d_out = d;
    return sum;
}

void ky_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    float d;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) q8_block_ref(x, &y[i].d, y[i].qs, &d);
}

void ky_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float d;
        int sum = q8_block_ref(x, &y[i].d, y[i].qs, &d);
        y[i].s = ky_f32_to_f16((float)sum * d);
    }
}

void ky_quantize_row_q8_0_x86(const float *x, block_q8_0 *y, int64_t n) {
    float d;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) q8_block_x86(x, &y[i].d, y[i].qs, &d);
}

void ky_quantize_row_q8_1_x86(const float *x, block_q8_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float d;
        int sum = q8_block_x86(x, &y[i].d, y[i].qs, &d);
        y[i].s = ky_f32_to_f16(d * (float)sum);
    }
}

bool ky_can_quantize(uint32_t type) { return ky_can_dequantize(type); }

bool ky_quantize_row(uint32_t type, const float *src, void *dst, int64_t n) {
    uint64_t bytes;
    if (!ky_can_quantize(type) || !ky_type_row_bytes(type, n, &bytes)) return false;
    switch (type) {
    case KY_TYPE_F32: memcpy(dst, src, (size_t)bytes); break;
    case KY_TYPE_F16: ky_quantize_row_f16(src, dst, n); break;
    case KY_TYPE_BF16: ky_quantize_row_bf16(src, dst, n); break;
    case KY_TYPE_Q4_0: ky_quantize_row_q4_0(src, dst, n); break;
    case KY_TYPE_Q4_1: ky_quantize_row_q4_1(src, dst, n); break;
    case KY_TYPE_Q5_0: ky_quantize_row_q5_0(src, dst, n); break;
    case KY_TYPE_Q5_1: ky_quantize_row_q5_1(src, dst, n); break;
    case KY_TYPE_Q8_0: ky_quantize_row_q8_0(src, dst, n); break;
    case KY_TYPE_Q8_1: ky_quantize_row_q8_1(src, dst, n); break;
    case KY_TYPE_Q2_K: ky_quantize_row_q2_K(src, dst, n); break;
    case KY_TYPE_Q3_K: ky_quantize_row_q3_K(src, dst, n); break;
    case KY_TYPE_Q4_K: ky_quantize_row_q4_K(src, dst, n); break;
    case KY_TYPE_Q5_K: ky_quantize_row_q5_K(src, dst, n); break;
    case KY_TYPE_Q6_K: ky_quantize_row_q6_K(src, dst, n); break;
    case KY_TYPE_Q8_K: ky_quantize_row_q8_K(src, dst, n); break;
    default: return false;
    }
    return true;
}
