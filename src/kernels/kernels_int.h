/* kernels_int.h — module-internal declarations of the kernels layer (layer: kernels).
 *
 * The per-tier table constructors (one per ISA file group, chosen by dispatch.c), the generic
 * entries optimized tables may reuse, and small scalar helpers shared by every tier (K-quant scale
 * unpacking). Nothing here is used outside src/kernels/.
 */
#ifndef KY_KERNELS_KERNELS_INT_H
#define KY_KERNELS_KERNELS_INT_H

#include <stdint.h>

#include "kernels/kernels.h"

/* Fills *t with the generic reference table (every entry non-NULL for supported types). */
void kernels_fill_generic(ky_kernel_table *t);

/* Tier tables: each starts from the generic table and overrides what it speeds up. Only the
 * constructors of the host architecture are compiled (see the Makefile's ISA_EXCLUDE). */
void kernels_fill_avx2(ky_kernel_table *t);
void kernels_fill_avx512(ky_kernel_table *t);
void kernels_fill_vnni(ky_kernel_table *t);
void kernels_fill_neon(ky_kernel_table *t);
void kernels_fill_dotprod(ky_kernel_table *t);

/* Reference activation quantizers (llama.cpp's quantize_row_q8_*_ref), used by the generic table. */
void kernels_quantize_q8_0_ref(const float *x, void *y, int64_t n);
void kernels_quantize_q8_1_ref(const float *x, void *y, int64_t n);
void kernels_quantize_q8_K_ref(const float *x, void *y, int64_t n);
void kernels_quantize_f32_copy(const float *x, void *y, int64_t n);

/* 6-bit scale and min j (0..7) of a Q4_K / Q5_K block's 12-byte scales field. */
static inline void kernels_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The 16 signed 6-bit scales of a Q3_K block (already minus 32). */
static inline void kernels_q3_K_scales(const uint8_t *s12, int8_t out[16]) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (s12[j] & 0xF) : (s12[j - 8] >> 4);
        int hi = (s12[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

#endif
