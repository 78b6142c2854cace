/* table_avx2.c — the AVX2+FMA+F16C kernel table (layer: kernels/x86).
 *
 * Float kernels and helpers (float_avx2.c); integer kernels for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q4_K, Q5_K, Q6_K — row dots for decode (quant_avx2.c, gemv_k_avx2.c) and a packed GEMM for
 * prefill (gemm_avx2.c), batch-exact with each other — and the Q8_0 quantizer. Q2_K, Q3_K and the
 * Q8_1/Q8_K quantizers are the generic reference.
 */
#include "kernels/x86/x86.h"

void kernels_fill_avx2(ky_kernel_table *t) {
    kernels_fill_generic(t);
    kernels_x86_fill_float_avx2(t);
    kernels_x86_fill_quant_avx2(t);
    kernels_x86_fill_gemm_avx2(t);
    t->name = "avx2";
}
