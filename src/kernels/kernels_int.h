/* kernels_int.h — module-internal declarations of the kernels layer (layer: kernels).
 *
 * The per-tier table constructors (one per ISA file group, chosen by dispatch.c) and the generic
 * entries optimized tables reuse. K-quant scale unpacking comes from tensor/quant.h. Nothing here
 * is used outside src/kernels/.
 */
#ifndef KY_KERNELS_KERNELS_INT_H
#define KY_KERNELS_KERNELS_INT_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "tensor/quant.h"

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

#endif
