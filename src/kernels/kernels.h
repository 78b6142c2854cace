/* kernels.h — the table of compute kernels and its run-time selection (layer: kernels).
 *
 * Every kernel is a single-threaded function over a slice of work; ky_matmul (matmul.h) splits
 * products across the thread pool and calls these. generic/ holds the portable reference
 * implementation of every entry (the spec); x86/ and arm/ hold optimized versions in per-ISA files
 * compiled with their own flags. ky_kernels() picks the best table for this CPU once.
 *
 * Tables (name — KY_KERNELS value): "avx512-vnni" — vnni, "avx512" — avx512, "avx2" — avx2,
 * "neon-dotprod" — dotprod, "neon" — neon, "generic" — generic. A forced tier the CPU lacks is
 * refused with a warning (the best table is used). Optimized tables cover F32, F16, BF16, Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K; Q2_K and Q3_K too in avx512-vnni (generic elsewhere).
 * Every table's quantize_act output is bit-identical to the generic one (tensor/quant.h).
 *
 * Matrix products: a weight of type W is multiplied with activations converted once per matmul
 * to ky_kernels_act_type(W) the way llama.cpp does, so results agree with it closely: Q8_0 for
 * Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for K-quants; F16 and BF16 weights take activations
 * rounded to f16 / bf16 (llama.cpp converts them to the weight's type), which the tables keep as
 * F32 values (act types KY_TYPE_F16 / KY_TYPE_BF16 mean "F32 rows holding f16/bf16 values", so
 * the float gemm kernels read F32 activations for every float weight type); F32 weights use F32.
 */
#ifndef KY_KERNELS_KERNELS_H
#define KY_KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kaiyuan.h"
#include "tensor/blocks.h"

/* Converts n floats (n a multiple of the act type's block size) to activation blocks. */
typedef void (*ky_quantize_act_fn)(const float *x, void *y, int64_t n);

/* Matrix product on a tile:  y[c*ldy + r] = Σ_i W[r][i] · X[c][i]  for r < n_rows, c < n_cols.
 * W: n_rows rows of n elements of the weight type, w_stride bytes apart, in the GGUF layout
 * (no repacking needed: optimized tables repack tiles on the fly into thread-local buffers).
 * X: n_cols rows of n elements already in the act type, x_stride bytes apart. Writes only
 * y[c*ldy + r] for r < n_rows (ldy >= n_rows). Results match the generic table up to float
 * summation order (integer block sums are exact). */
typedef void (*ky_gemm_fn)(int64_t n, const void *w, size_t w_stride, int64_t n_rows, const void *x,
                           size_t x_stride, int64_t n_cols, float *y, int64_t ldy);

typedef struct ky_kernel_table {
    const char *name;
    /* indexed by activation type (KY_TYPE_F32, KY_TYPE_Q8_0, KY_TYPE_Q8_1, KY_TYPE_Q8_K) */
    ky_quantize_act_fn quantize_act[KY_TYPE_COUNT];
    /* indexed by weight type; NULL for unsupported types */
    ky_gemm_fn gemm[KY_TYPE_COUNT];

    /* Vector helpers for attention and elementwise ops. f16 = IEEE half bits. */
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    float (*dot_f16)(const uint16_t *a, const float *b, int64_t n);     /* Σ f16(a)·b */
    void (*axpy_f32)(float alpha, const float *x, float *y, int64_t n); /* y += alpha·x */
    void (*axpy_f16)(float alpha, const uint16_t *x, float *y, int64_t n);
    void (*scale_f32)(float alpha, float *y, int64_t n); /* y *= alpha */
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
    /* y = x / sqrt(mean(x²) + eps) * w  (y may alias x) */
    void (*rmsnorm)(const float *x, const float *w, float *y, int64_t n, float eps);
    /* g = silu(g) * u */
    void (*silu_mul)(float *g, const float *u, int64_t n);
    /* Softmax numerator and denominator as llama.cpp's AVX-512 soft_max computes them:
     * x[i] = e^(x[i] − max) (kernels_expf_approx), and returns Σ x[i] taken over 16-element
     * chunks (the last one zero-padded, like llama.cpp's masked, padded rows), each chunk summed
     * in float by halving (lane i + lane i+8, then +4, +2, +1) and the chunk sums added in
     * double. Every tier returns the same bits. */
    double (*exp_sum)(float *x, int64_t n, float max);
} ky_kernel_table;

/* The table chosen for this CPU (and KY_KERNELS), selected on first call; thread-safe. */
const ky_kernel_table *ky_kernels(void);
/* The portable reference table. */
const ky_kernel_table *ky_kernels_generic(void);
/* Every table this CPU can run, best first, generic last; returns the count (for tests). */
int ky_kernels_available(const ky_kernel_table **out, int cap);

/* Activation type used to multiply weights of type wtype; KY_TYPE_COUNT if unsupported. */
uint32_t ky_kernels_act_type(uint32_t wtype);
/* Bytes of one activation row of n elements in act type (n a multiple of its block size). */
size_t ky_kernels_act_row_bytes(uint32_t act_type, int64_t n);

#endif
