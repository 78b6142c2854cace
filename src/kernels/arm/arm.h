/* arm.h — entry points shared between the arm64 kernel files (layer: kernels/arm).
 *
 * _neon files use baseline ARMv8 Advanced SIMD; _dotprod files add the SDOT instruction
 * (-march=armv8.2-a+dotprod). A table only references functions of its own tier or lower.
 */
#ifndef KY_KERNELS_ARM_H
#define KY_KERNELS_ARM_H

#include "kernels/kernels_int.h"

/* Float gemm entries, vector helpers and activation quantizers (float_neon.c). */
void kernels_arm_fill_float_neon(ky_kernel_table *t);
/* Integer row-dot kernels with widening multiplies (quant_neon.c). */
void kernels_arm_fill_quant_neon(ky_kernel_table *t);
/* Integer row-dot kernels with SDOT (quant_dotprod.c). */
void kernels_arm_fill_quant_dotprod(ky_kernel_table *t);

#endif
