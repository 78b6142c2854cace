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
/* The generic quantized gemm entries (gemm_quant.c), called by kernels_fill_generic. */
void kernels_fill_generic_quant(ky_kernel_table *t);

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

/* e^x as llama.cpp's x86/ARM CPU backend computes it in its vectorized SiLU and softmax (the
 * Arm optimized-routines algorithm): n = round(x·log2 e) by the 1.5·2^23 shift, b = x − n·ln 2 in
 * two parts, a degree-5 polynomial j(b), result j·2^n; x > 100 → +inf, x < −110 → 0, NaN → NaN.
 * Every tier's silu_mul computes exactly these bits (fused multiply-adds in the same order), so
 * SiLU outputs are identical across tiers and to llama.cpp's. Max error ~1.5 ulp. */
float kernels_expf_approx(float x);

/* Slots of per-thread scratch (one per packed GEMM implementation). */
enum { KERNELS_BUF_GEMM_VNNI, KERNELS_BUF_GEMM_AVX2, KERNELS_BUF_COUNT };
/* This thread's buffer for slot, at least bytes long and 64-byte aligned; owned by the thread
 * (freed when it exits; its contents are not kept when it grows). NULL when out of memory. */
void *kernels_thread_buffer(int slot, size_t bytes);

#endif
