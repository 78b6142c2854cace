/* table_neon.c — the arm64 NEON kernel table (layer: kernels/arm).
 *
 * NEON float kernels, helpers and quantizers; integer row-dot kernels for Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, Q4_K, Q5_K, Q6_K with widening multiplies. Q2_K and Q3_K are the generic reference.
 */
#include "kernels/arm/arm.h"

void kernels_fill_neon(ky_kernel_table *t) {
    kernels_fill_generic(t);
    kernels_arm_fill_float_neon(t);
    kernels_arm_fill_quant_neon(t);
    t->name = "neon";
}
