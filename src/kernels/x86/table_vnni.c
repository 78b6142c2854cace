/* table_vnni.c — the AVX-512 VNNI kernel table (layer: kernels/x86). */
#include "kernels/kernels_int.h"

void kernels_fill_vnni(ky_kernel_table *t) {
    kernels_fill_avx512(t);
    t->name = "avx512-vnni";
}
