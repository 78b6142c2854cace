/* matmul.h — multi-threaded matrix products over the kernel table (layer: kernels).
 *
 * The model layer calls these from the thread that owns the pool; they split the work across all
 * pool threads. Activations are converted once per call to the weight's activation type (see
 * kernels.h) in caller-provided scratch, so nothing is allocated per token.
 */
#ifndef KY_KERNELS_MATMUL_H
#define KY_KERNELS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "os/pool.h"

/* A weight matrix: n_out rows of n_in elements of `type`, rows row_bytes apart. */
typedef struct ky_matrix {
    const void *data;
    uint32_t type;
    int64_t n_in;
    int64_t n_out;
    size_t row_bytes;
} ky_matrix;

/* Bytes of scratch ky_matmul needs for n_tok activation rows of w's activation type. */
size_t ky_matmul_scratch_bytes(const ky_matrix *w, int64_t n_tok);

/* Y[t*ldy + r] = Σ_i W[r][i]·X[t*ldx + i] for t < n_tok, r < n_out. Converts X to W's activation
 * type in scratch (in parallel), then splits the output over the pool's threads. No allocation. */
void ky_matmul(ky_pool *pool, const ky_kernel_table *kt, const ky_matrix *w, const float *x,
               int64_t ldx, int64_t n_tok, float *y, int64_t ldy, void *scratch);

#endif
