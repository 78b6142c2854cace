/* table_vnni.c — the AVX-512 VNNI kernel table (layer: kernels/x86).
 *
 * AVX-512 float kernels and helpers plus VNNI integer kernels for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q4_K, Q5_K, Q6_K; Q2_K and Q3_K stay on the generic reference.
 */
#include "kernels/x86/x86.h"

void kernels_fill_vnni(ky_kernel_table *t) {
    kernels_fill_avx512(t);
    x86_fill_quant_vnni(t);
    x86_fill_gemm_vnni(t);
    t->name = "avx512-vnni";
}
