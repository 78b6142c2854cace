/* table_avx512.c — the AVX-512 (F/BW/VL/DQ) kernel table (layer: kernels/x86).
 *
 * AVX-512 float kernels and helpers; integer kernels from the AVX2 tier (no VNNI here).
 */
#include "kernels/x86/x86.h"

void kernels_fill_avx512(ky_kernel_table *t) {
    kernels_fill_avx2(t);
    kernels_x86_fill_float_avx512(t);
    t->name = "avx512";
}
