/* x86.h — entry points shared between the x86 kernel files (layer: kernels/x86).
 *
 * Each function is compiled in the file whose suffix gives it its instruction set (_avx2: AVX2
 * +FMA+F16C; _avx512: +AVX-512F/BW/VL/DQ; _vnni: +AVX512-VNNI); a table may only reference
 * functions of its own tier or a lower one. Signatures are the table's (kernels.h).
 */
#ifndef KY_KERNELS_X86_H
#define KY_KERNELS_X86_H

#include "kernels/kernels_int.h"

/* Elements per chunk of the float summation order that the decode (row) kernels and the packed
 * GEMM share for quantized weights, so batched products equal token-by-token ones bit for bit. */
enum { KERNELS_X86_CHUNK = 1024 };

/* AVX-512 float gemm entries and vector helpers (float_avx512.c). */
void kernels_x86_fill_float_avx512(ky_kernel_table *t);
/* AVX2 float gemm entries and vector helpers (float_avx2.c). */
void kernels_x86_fill_float_avx2(ky_kernel_table *t);
/* AVX2 Q8_0 activation quantizer and row-dot (decode) kernels for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q4_K, Q5_K, Q6_K (quant_avx2.c). */
void kernels_x86_fill_quant_avx2(ky_kernel_table *t);

/* Row-dot kernels of the AVX2 tier (gemm_fn signature plus the weight type, one of the types
 * above; quant_avx2.c): rows streamed in memory order, float order shared with the packed GEMM. */
void kernels_x86_gemv_avx2(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                           int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols, float *y,
                           int64_t ldy);

/* AVX2 packed GEMM entries for the types above (gemm_avx2.c); they call kernels_x86_gemv_avx2 for
 * narrow products and give the same bits as it for every token count. */
void kernels_x86_fill_gemm_avx2(ky_kernel_table *t);

/* K-quant (Q4_K, Q5_K, Q6_K) decode products of the AVX2 tier (gemv_k_avx2.c); same contract. */
void kernels_x86_gemv_k_avx2(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                             int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols,
                             float *y, int64_t ldy);
/* AVX-512 VNNI activation quantizers and row-dot (decode) kernels (quant_vnni.c). */
void kernels_x86_fill_quant_vnni(ky_kernel_table *t);

/* VNNI packed GEMM entries (gemm_vnni.c); they call kernels_x86_gemv_vnni for narrow products. */
void kernels_x86_fill_gemm_vnni(ky_kernel_table *t);

/* K-quant (Q2_K..Q6_K) decode products of the VNNI tier (gemv_k_vnni.c); gemm_fn signature. */
void kernels_x86_gemv_k_vnni(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                             int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols,
                             float *y, int64_t ldy);

/* Row-dot kernels of the VNNI tier, used by the packed GEMM for narrow tiles. */
void kernels_x86_gemv_vnni(uint32_t wtype, int64_t n, const void *w, size_t w_stride,
                           int64_t n_rows, const void *x, size_t x_stride, int64_t n_cols, float *y,
                           int64_t ldy);

#endif
