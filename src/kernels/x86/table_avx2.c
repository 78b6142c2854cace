/* table_avx2.c — the AVX2+FMA+F16C kernel table (layer: kernels/x86). */
#include "kernels/kernels_int.h"

void kernels_fill_avx2(ky_kernel_table *t) {
    kernels_fill_generic(t);
    t->name = "avx2";
}
