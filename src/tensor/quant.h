/* quant.h — reference (portable C) quantizers and dequantizers for every tensor type (layer: tensor).
 *
 * These are the specification the SIMD kernels are tested against, and they reproduce llama.cpp's
 * reference routines (ggml-quants.c, *_ref) bit for bit: same scale formulas, same rounding, same
 * f16 rounding of stored scales. Layouts: blocks.h and ../shared/docs/models.md. Clarity over speed.
 * Implementation: quant.c (plain floats, 32-element blocks, activations), quant_k.c (K-quant
 * weights), dequant.c (every dequantizer).
 */
#ifndef KY_TENSOR_QUANT_H
#define KY_TENSOR_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/blocks.h"

/* ---- generic entry points (type = ky_type id) ------------------------------------------------ */

/* true when ky_dequantize_row handles the type: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K. */
bool ky_can_dequantize(uint32_t type);

/* Dequantizes n elements of `type` at src (n / block_size blocks, tightly packed) into dst[n].
 * Returns false, writing nothing, when the type has no dequantizer, n < 0, or n is not a multiple
 * of the block size. src must be aligned like its block struct (2 bytes; 4 for F32 and Q8_K), as
 * GGUF tensor data always is. */
bool ky_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* true when ky_quantize_row handles the type: every dequantizable type (F32 is a copy). */
bool ky_can_quantize(uint32_t type);

/* Quantizes n floats into n / block_size blocks of `type` at dst. Weight types use llama.cpp's
 * reference algorithm without an importance matrix (what llama-quantize does without --imatrix);
 * Q8_0/Q8_1/Q8_K use the activation quantizers below. Returns false, writing nothing, when the
 * type has no quantizer, n < 0, or n is not a multiple of the block size. Inputs must be finite
 * (|x| < 2^22 times the block's smallest step for the K-quants, as in llama.cpp). */
bool ky_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* ---- activation quantizers (bit-exact with quantize_row_q8_{0,1,K}_ref) ------------------------ */
/* n is a multiple of the block size (32, 32, 256); n / block_size blocks are written to y. */

/* d = amax/127 (stored as f16), q = roundf(x * (1/d)) (ties away from zero). */
void ky_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
/* As q8_0, plus s = f16(d * sum(q)) with d the unrounded f32 scale. */
void ky_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t n);
/* iscale = -127/max where max is the signed value of largest magnitude; q = nearest_int(iscale*x)
 * (ties to even) capped at 127; d = 1/iscale as f32; bsums = sums of 16 quants. All-zero block:
 * d = 0, q = 0, bsums = 0 (llama.cpp leaves bsums unwritten there). */
void ky_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n);

/* What llama.cpp's x86 AVX/AVX2 build actually runs for Q8_0/Q8_1 activations
 * (ggml-cpu/arch/x86/quants.c): scale as above but q = round-half-even(x * (127/amax)). Differs
 * from the _ref results only when x * id lands on (or 1 ulp from) a .5 tie. */
void ky_quantize_row_q8_0_x86(const float *x, block_q8_0 *y, int64_t n);
void ky_quantize_row_q8_1_x86(const float *x, block_q8_1 *y, int64_t n);

/* ---- typed weight quantizers (reference, no importance matrix) ------------------------------- */
/* n is a multiple of the block size; n / block_size blocks are written to y. */

void ky_quantize_row_f16(const float *x, ky_f16 *y, int64_t n);
void ky_quantize_row_bf16(const float *x, ky_bf16 *y, int64_t n);
void ky_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n);
void ky_quantize_row_q4_1(const float *x, block_q4_1 *y, int64_t n);
void ky_quantize_row_q5_0(const float *x, block_q5_0 *y, int64_t n);
void ky_quantize_row_q5_1(const float *x, block_q5_1 *y, int64_t n);
void ky_quantize_row_q2_K(const float *x, block_q2_K *y, int64_t n);
void ky_quantize_row_q3_K(const float *x, block_q3_K *y, int64_t n);
void ky_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n);
void ky_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n);
void ky_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n);

/* ---- typed dequantizers (same float operation order as llama.cpp's dequantize_row_*) --------- */
/* n is a multiple of the block size; writes y[n]. */

void ky_dequantize_row_f16(const ky_f16 *x, float *y, int64_t n);
void ky_dequantize_row_bf16(const ky_bf16 *x, float *y, int64_t n);
void ky_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n);
void ky_dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t n);
void ky_dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n);
void ky_dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n);
void ky_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void ky_dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t n);
void ky_dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t n);
void ky_dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t n);
void ky_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void ky_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n);
void ky_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n);
void ky_dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n);

/* ---- K-quant scale packing, shared by quantizers, dequantizers and kernels --------------------- */

/* Q4_K/Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12-byte packed array. */
static inline void ky_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: signed scale (-32..31) of sub-block j (0..15) from the 12-byte packed array: low 4 bits
 * in byte j (j < 8) or the high nibble of byte j-8, high 2 bits in byte 8 + j%4 at bit 2*(j/4). */
static inline int ky_q3k_scale(int j, const uint8_t *s) {
    int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

#endif
