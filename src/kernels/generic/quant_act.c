/* quant_act.c — reference activation quantizers for the generic table (layer: kernels/generic).
 *
 * Bit-exact with llama.cpp's quantize_row_q8_0/q8_1/q8_K_ref. TEMPORARY: src/tensor/quant.h
 * (branch `tensor`) provides the canonical ky_quantize_row_q8_*; these wrappers switch to it when
 * that lands, and this file then only adapts signatures.
 */
#include <math.h>
#include <string.h>

#include "kernels/kernels_int.h"
#include "tensor/fp16.h"

void kernels_quantize_q8_0_ref(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ky_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) y[b].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void kernels_quantize_q8_1_ref(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        float amax = 0;
        for (int j = 0; j < QK8_1; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ky_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1 / 2; j++) {
            y[b].qs[j] = (int8_t)roundf(x[j] * id);
            y[b].qs[j + QK8_1 / 2] = (int8_t)roundf(x[j + QK8_1 / 2] * id);
            sum += y[b].qs[j] + y[b].qs[j + QK8_1 / 2];
        }
        y[b].s = ky_f32_to_f16((float)sum * d);
    }
}

/* llama.cpp's nearest_int: round half to even via the 1.5*2^23 trick (|v| < 2^22). */
static int nearest_int(float v) {
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void kernels_quantize_q8_K_ref(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[b].qs[16 * g + l];
            y[b].bsums[g] = (int16_t)s;
        }
        y[b].d = 1.0f / iscale;
    }
}
