/* quant_act.c — activation quantizers of the generic table (layer: kernels/generic).
 *
 * Thin adapters from the table's untyped signature to tensor/quant.h's reference quantizers
 * (bit-exact with llama.cpp's quantize_row_q8_*_ref), which every optimized tier must reproduce.
 */
#include "kernels/kernels_int.h"
#include "tensor/quant.h"

void kernels_quantize_q8_0_ref(const float *x, void *y, int64_t n) {
    ky_quantize_row_q8_0(x, (block_q8_0 *)y, n);
}
void kernels_quantize_q8_1_ref(const float *x, void *y, int64_t n) {
    ky_quantize_row_q8_1(x, (block_q8_1 *)y, n);
}
void kernels_quantize_q8_K_ref(const float *x, void *y, int64_t n) {
    ky_quantize_row_q8_K(x, (block_q8_K *)y, n);
}
