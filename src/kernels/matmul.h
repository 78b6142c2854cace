/* matmul.h — the threaded matrix product the model layer calls (layer: kernels).
 *
 * ky_matmul converts the activations once to the weight's act type (in parallel, into caller
 * scratch), then splits the output rows over every thread of a ky_pool and runs the kernel
 * table's gemm on each slice. Works directly on mmap'd weights in their file layout; nothing is
 * allocated per call. ky_matmul_multi does the same for several weights sharing one input (Q/K/V,
 * gate/up), quantizing the input once per act type.
 */
#ifndef KY_KERNELS_MATMUL_H
#define KY_KERNELS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "os/pool.h"

/* A weight matrix: n_out rows of n_in elements of `type`, row_bytes apart (row_bytes >= the
 * packed row size; n_in a multiple of the type's block size). data is borrowed, never freed. */
typedef struct ky_matrix {
    const void *data;
    uint32_t type;
    int64_t n_in;
    int64_t n_out;
    size_t row_bytes;
} ky_matrix;

/* Bytes of scratch ky_matmul needs for n_tok activation rows of w's act type (0 for float
 * weights, whose F32 activations are used in place). */
size_t ky_matmul_scratch_bytes(const ky_matrix *w, int64_t n_tok);

/* Y[t*ldy + r] = Σ_i W[r][i]·X[t*ldx + i]  for t < n_tok, r < n_out.
 * x: n_tok rows of w->n_in floats, ldx floats apart; y: n_tok rows, ldy floats apart (ldy >=
 * n_out; y must not overlap x). scratch: ky_matmul_scratch_bytes(w, n_tok) bytes, 64-byte aligned
 * preferred, owned by the caller. The caller guarantees a supported type (kt->gemm[type] != NULL)
 * and consistent shapes: these are programmer errors, checked with assert. Uses every thread of
 * pool (NULL runs single-threaded). */
void ky_matmul(ky_pool *pool, const ky_kernel_table *kt, const ky_matrix *w, const float *x,
               int64_t ldx, int64_t n_tok, float *y, int64_t ldy, void *scratch);

enum { KY_MATMUL_MAX_MULTI = 4 };

/* Scratch for ky_matmul_multi over n_w (<= KY_MATMUL_MAX_MULTI) weights of equal n_in. */
size_t ky_matmul_multi_scratch_bytes(int n_w, const ky_matrix *const *w, int64_t n_tok);

/* For each k < n_w: y[k][t*ldy[k] + r] = Σ_i W_k[r][i]·X[t*ldx + i]. All weights share n_in;
 * the input is converted once per distinct act type; one pool dispatch covers all products.
 * Same contracts as ky_matmul. */
void ky_matmul_multi(ky_pool *pool, const ky_kernel_table *kt, int n_w, const ky_matrix *const *w,
                     const float *x, int64_t ldx, int64_t n_tok, float *const *y,
                     const int64_t *ldy, void *scratch);

#endif
