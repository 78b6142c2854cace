/* table_avx512.c — the AVX-512 (F/BW/VL/DQ) kernel table (layer: kernels/x86). */
#include "kernels/kernels_int.h"

void kernels_fill_avx512(ky_kernel_table *t) {
    kernels_fill_avx2(t);
    t->name = "avx512";
}
