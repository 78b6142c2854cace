/* quant_neon.c — arm64 integer row-dot kernels on baseline NEON (layer: kernels/arm).
 *
 * The 16-byte dot primitive widens to int16 products (|a·b| <= 128·127 fits) and pairwise-adds
 * into int32 lanes. Bodies: quant_rows_arm.h.
 */
#include <arm_neon.h>

static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

#include "kernels/arm/quant_rows_arm.h"

void kernels_arm_fill_quant_neon(ky_kernel_table *t) { fill_rows(t); }
