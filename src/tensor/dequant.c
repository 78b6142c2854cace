/* dequant.c — reference dequantizers for every supported tensor type (layer: tensor).
 *
 * Each routine expands blocks to floats with the same float operations, in the same order, as
 * llama.cpp's dequantize_row_* (so results are bit-identical to ggml's), but indexes elements
 * directly instead of walking pointers. Bit layouts are drawn per type below.
 */
#include "tensor/quant.h"

#include <string.h>

#include "tensor/fp16.h"
#include "tensor/types.h"

#ifdef __clang__
#pragma clang fp contract(off) /* same roundings as llama.cpp's unfused reference */
#endif

void ky_dequantize_row_f16(const ky_f16 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ky_f16_to_f32(x[i]);
}

void ky_dequantize_row_bf16(const ky_bf16 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ky_bf16_to_f32(x[i]);
}

/* Q4_0: element j < 16 is the low nibble of qs[j], element j >= 16 the high nibble of qs[j-16];
 * value (q - 8) * d. */
void ky_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = ky_f16_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0xF) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Q4_1: nibbles as Q4_0; value q * d + m. */
void ky_dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = ky_f16_to_f32(x[i].d), m = ky_f16_to_f32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0xF) * d + m;
            y[j + QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* 5th bit of element j of a Q5 block: bit j of the little-endian u32 qh. */
static inline int q5_high(const uint8_t qh[4], int j) { return (qh[j / 8] >> (j % 8)) & 1; }

/* Q5_0: low 4 bits as Q4_0, 5th bit from qh; value (q - 16) * d. */
void ky_dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = ky_f16_to_f32(x[i].d);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = (x[i].qs[j] & 0xF) | (q5_high(x[i].qh, j) << 4);
            int q1 = (x[i].qs[j] >> 4) | (q5_high(x[i].qh, j + QK5_0 / 2) << 4);
            y[j] = (float)(q0 - 16) * d;
            y[j + QK5_0 / 2] = (float)(q1 - 16) * d;
        }
    }
}

/* Q5_1: bits as Q5_0; value q * d + m. */
void ky_dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = ky_f16_to_f32(x[i].d), m = ky_f16_to_f32(x[i].m);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = (x[i].qs[j] & 0xF) | (q5_high(x[i].qh, j) << 4);
            int q1 = (x[i].qs[j] >> 4) | (q5_high(x[i].qh, j + QK5_1 / 2) << 4);
            y[j] = (float)q0 * d + m;
            y[j + QK5_1 / 2] = (float)q1 * d + m;
        }
    }
}

void ky_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const float d = ky_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

void ky_dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        const float d = ky_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* Q2_K: 16 sub-blocks of 16. Element e (0..255) lives in 128-element half h = e/128 at
 * r = e%128: byte qs[32h + r%32], bits 2*(r/32)..+1. Sub-block e/16 has scales[e/16]: low nibble
 * scale, high nibble min. Value d*sc*q - dmin*m, computed as (d*sc)*q - (dmin*m). */
void ky_dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = ky_f16_to_f32(x[i].d), dmin = ky_f16_to_f32(x[i].dmin);
        for (int s = 0; s < QK_K / 16; s++) {
            const float dl = d * (float)(x[i].scales[s] & 0xF);
            const float ml = dmin * (float)(x[i].scales[s] >> 4);
            for (int l = 0; l < 16; l++) {
                int e = 16 * s + l, r = e % 128;
                int q = (x[i].qs[32 * (e / 128) + r % 32] >> (2 * (r / 32))) & 3;
                y[e] = dl * (float)q - ml;
            }
        }
    }
}

/* Q3_K: low 2 bits as Q2_K in qs; the 3rd bit of element e is bit e/32 of hmask[e%32], and a
 * clear bit means "subtract 4" (q in -4..3). Sub-block e/16 has the signed 6-bit scale
 * ky_q3k_scale(e/16). Value (d*sc)*q. */
void ky_dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = ky_f16_to_f32(x[i].d);
        for (int s = 0; s < QK_K / 16; s++) {
            const float dl = d * (float)ky_q3k_scale(s, x[i].scales);
            for (int l = 0; l < 16; l++) {
                int e = 16 * s + l, r = e % 128;
                int q = (x[i].qs[32 * (e / 128) + r % 32] >> (2 * (r / 32))) & 3;
                if (!((x[i].hmask[e % 32] >> (e / 32)) & 1)) q -= 4;
                y[e] = dl * (float)q;
            }
        }
    }
}

/* Q4_K: 8 sub-blocks of 32 with 6-bit scale/min (ky_q4k_scale_min). Each 64 elements use 32
 * bytes of qs: low nibbles are the first 32 elements, high nibbles the next 32. Value
 * (d*sc)*q - (dmin*m). */
void ky_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = ky_f16_to_f32(x[i].d), dmin = ky_f16_to_f32(x[i].dmin);
        for (int s = 0; s < QK_K / 32; s++) {
            uint8_t sc, m;
            ky_q4k_scale_min(s, x[i].scales, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = x[i].qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            for (int l = 0; l < 32; l++) y[32 * s + l] = dl * (float)((q[l] >> shift) & 0xF) - ml;
        }
    }
}

/* Q5_K: as Q4_K plus a 5th bit: bit e/32 of qh[e%32] adds 16. */
void ky_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = ky_f16_to_f32(x[i].d), dmin = ky_f16_to_f32(x[i].dmin);
        for (int s = 0; s < QK_K / 32; s++) {
            uint8_t sc, m;
            ky_q4k_scale_min(s, x[i].scales, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = x[i].qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            for (int l = 0; l < 32; l++) {
                int v = ((q[l] >> shift) & 0xF) | (((x[i].qh[l] >> s) & 1) << 4);
                y[32 * s + l] = dl * (float)v - ml;
            }
        }
    }
}

/* Q6_K: 16 sub-blocks of 16 with int8 scales. Per 128-element half h, ql[64h..64h+63] and
 * qh[32h..32h+31]; at r = e%128, c = r/32 (quarter), l = r%32: the low 4 bits are the
 * (c/2 ? high : low) nibble of ql[64h + 32*(c%2) + l], the high 2 bits are bits 2c..2c+1 of
 * qh[32h + l]; q = bits - 32. Value (d*sc)*q with sc = scales[e/16]. */
void ky_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = ky_f16_to_f32(x[i].d);
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, r = e % 128, c = r / 32, l = r % 32;
            int lo = (x[i].ql[64 * h + 32 * (c % 2) + l] >> (4 * (c / 2))) & 0xF;
            int hi = (x[i].qh[32 * h + l] >> (2 * c)) & 3;
            y[e] = d * (float)x[i].scales[e / 16] * (float)((lo | (hi << 4)) - 32);
        }
    }
}

void ky_dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++) y[j] = x[i].d * (float)x[i].qs[j];
}

bool ky_can_dequantize(uint32_t type) {
    switch (type) {
    case KY_TYPE_F32:
    case KY_TYPE_F16:
    case KY_TYPE_BF16:
    case KY_TYPE_Q4_0:
    case KY_TYPE_Q4_1:
    case KY_TYPE_Q5_0:
    case KY_TYPE_Q5_1:
    case KY_TYPE_Q8_0:
    case KY_TYPE_Q8_1:
    case KY_TYPE_Q2_K:
    case KY_TYPE_Q3_K:
    case KY_TYPE_Q4_K:
    case KY_TYPE_Q5_K:
    case KY_TYPE_Q6_K:
    case KY_TYPE_Q8_K: return true;
    default: return false;
    }
}

bool ky_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    uint64_t bytes;
    if (!ky_can_dequantize(type) || !ky_type_row_bytes(type, n, &bytes)) return false;
    switch (type) {
    case KY_TYPE_F32: memcpy(dst, src, (size_t)bytes); break;
    case KY_TYPE_F16: ky_dequantize_row_f16(src, dst, n); break;
    case KY_TYPE_BF16: ky_dequantize_row_bf16(src, dst, n); break;
    case KY_TYPE_Q4_0: ky_dequantize_row_q4_0(src, dst, n); break;
    case KY_TYPE_Q4_1: ky_dequantize_row_q4_1(src, dst, n); break;
    case KY_TYPE_Q5_0: ky_dequantize_row_q5_0(src, dst, n); break;
    case KY_TYPE_Q5_1: ky_dequantize_row_q5_1(src, dst, n); break;
    case KY_TYPE_Q8_0: ky_dequantize_row_q8_0(src, dst, n); break;
    case KY_TYPE_Q8_1: ky_dequantize_row_q8_1(src, dst, n); break;
    case KY_TYPE_Q2_K: ky_dequantize_row_q2_K(src, dst, n); break;
    case KY_TYPE_Q3_K: ky_dequantize_row_q3_K(src, dst, n); break;
    case KY_TYPE_Q4_K: ky_dequantize_row_q4_K(src, dst, n); break;
    case KY_TYPE_Q5_K: ky_dequantize_row_q5_K(src, dst, n); break;
    case KY_TYPE_Q6_K: ky_dequantize_row_q6_K(src, dst, n); break;
    case KY_TYPE_Q8_K: ky_dequantize_row_q8_K(src, dst, n); break;
    default: return false;
    }
    return true;
}
