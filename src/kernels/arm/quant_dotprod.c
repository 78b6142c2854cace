/* quant_dotprod.c — arm64 integer row-dot kernels with SDOT (layer: kernels/arm).
 *
 * Compiled with -march=armv8.2-a+dotprod; the 16-byte dot primitive is one vdotq_s32 (4 signed
 * byte products per int32 lane). Bodies: quant_rows_arm.h.
 */
#include <arm_neon.h>

static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

#include "kernels/arm/quant_rows_arm.h"

void kernels_arm_fill_quant_dotprod(ky_kernel_table *t) { fill_rows(t); }
