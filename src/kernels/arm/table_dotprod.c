/* table_dotprod.c — the arm64 NEON + dot-product kernel table (layer: kernels/arm).
 *
 * As the NEON table, with the integer kernels using SDOT (quant_dotprod.c).
 */
#include "kernels/arm/arm.h"

void kernels_fill_dotprod(ky_kernel_table *t) {
    kernels_fill_neon(t);
    kernels_arm_fill_quant_dotprod(t);
    t->name = "neon-dotprod";
}
