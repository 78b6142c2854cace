/* matmul.c — threaded matrix products over a ky_pool (layer: kernels).
 *
 * Two pool dispatches per call (one for small inputs, which the caller converts): (1) the input
 * rows are converted to each distinct act type, (token, block) units split over threads; (2) the
 * output is cut into chunks — ranges of row groups of ROW_GROUP rows (the optimized kernels'
 * panel height) over all tokens, or token ranges over all rows when a product has fewer rows
 * than tokens — that threads take from a shared counter, calling the table's gemm per chunk and
 * weight. Float weights read the F32 input in place.
 */
#include "kernels/matmul.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>

#include "tensor/types.h"

enum { ROW_GROUP = 16, ALIGN = 64, QUANT_SERIAL_MAX = 1 << 15 };

typedef struct act_buf {
    uint32_t type;    /* act type */
    const char *data; /* n_tok rows, stride bytes apart */
    size_t stride;
    int64_t block; /* elements per act block (quantization unit) */
} act_buf;

typedef struct job {
    const ky_kernel_table *kt;
    int n_w;
    const ky_matrix *w[KY_MATMUL_MAX_MULTI];
    float *y[KY_MATMUL_MAX_MULTI];
    int64_t ldy[KY_MATMUL_MAX_MULTI];
    int w_act[KY_MATMUL_MAX_MULTI]; /* index into act[] */
    int n_act;
    act_buf act[KY_MATMUL_MAX_MULTI];
    const float *x;
    int64_t ldx, n_tok, n_in;
    int64_t groups[KY_MATMUL_MAX_MULTI]; /* row groups per weight */
    int64_t n_groups;
    int split_tokens; /* 1: chunks are token ranges (all rows); 0: row-group ranges (all tokens) */
    int64_t chunk;    /* tokens or row groups per chunk */
    int64_t n_chunks;
    atomic_llong next;                /* next chunk to take */
    long q_next[KY_MATMUL_MAX_MULTI]; /* next quantization unit per act buffer (ky_pool_claim) */
} job;

static size_t act_bytes(uint32_t act_type, int64_t n_in, int64_t n_tok) {
    if (act_type == KY_TYPE_F32) return 0; /* used in place */
    size_t row = ky_kernels_act_row_bytes(act_type, n_in);
    return ((row * (size_t)n_tok + ALIGN - 1) / ALIGN) * ALIGN;
}

size_t ky_matmul_multi_scratch_bytes(int n_w, const ky_matrix *const *w, int64_t n_tok) {
    size_t total = ALIGN; /* slack to align the caller's pointer */
    uint32_t seen[KY_MATMUL_MAX_MULTI];
    int n_seen = 0;
    for (int k = 0; k < n_w; k++) {
        uint32_t at = ky_kernels_act_type(w[k]->type);
        int dup = 0;
        for (int i = 0; i < n_seen; i++) dup |= seen[i] == at;
        if (dup) continue;
        seen[n_seen++] = at;
        total += act_bytes(at, w[k]->n_in, n_tok);
    }
    return total;
}

size_t ky_matmul_scratch_bytes(const ky_matrix *w, int64_t n_tok) {
    return ky_matmul_multi_scratch_bytes(1, &w, n_tok);
}

/* Converts (token, block) units in chunks claimed from j->q_next[a] (see ky_pool_claim). */
static void quantize_worker(void *arg, int ith, int nth) {
    (void)ith;
    job *j = arg;
    for (int a = 0; a < j->n_act; a++) {
        act_buf *ab = &j->act[a];
        if (ab->type == KY_TYPE_F32) continue;
        int64_t nb = j->n_in / ab->block;
        long n_units = (long)(nb * j->n_tok), chunk = ky_pool_chunk(n_units, nth, 4);
        size_t bbytes = ky_kernels_act_row_bytes(ab->type, ab->block);
        long begin, end;
        while (ky_pool_claim(&j->q_next[a], n_units, chunk, &begin, &end)) {
            for (long u = begin; u < end;) {
                int64_t t = u / nb, b0 = u % nb;
                int64_t b1 = nb < b0 + (end - u) ? nb : b0 + (end - u);
                j->kt->quantize_act[ab->type](j->x + t * j->ldx + b0 * ab->block,
                                              (char *)ab->data + (size_t)t * ab->stride +
                                                  (size_t)b0 * bbytes,
                                              (b1 - b0) * ab->block);
                u += b1 - b0;
            }
        }
    }
}

static void run_slice(const job *j, int k, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    const ky_matrix *w = j->w[k];
    const act_buf *ab = &j->act[j->w_act[k]];
    if (r1 > w->n_out) r1 = w->n_out;
    if (r0 >= r1 || t0 >= t1) return;
    j->kt->gemm[w->type](w->n_in, (const char *)w->data + (size_t)r0 * w->row_bytes, w->row_bytes,
                         r1 - r0, ab->data + (size_t)t0 * ab->stride, ab->stride, t1 - t0,
                         j->y[k] + t0 * j->ldy[k] + r0, j->ldy[k]);
}

/* Runs chunk c: a token range over every weight's rows, or a range of the concatenated row groups
 * of all weights over every token. */
static void run_chunk(const job *j, int64_t c) {
    if (j->split_tokens) {
        int64_t t0 = c * j->chunk, t1 = t0 + j->chunk < j->n_tok ? t0 + j->chunk : j->n_tok;
        for (int k = 0; k < j->n_w; k++) run_slice(j, k, 0, j->w[k]->n_out, t0, t1);
        return;
    }
    int64_t g0 = c * j->chunk, g1 = g0 + j->chunk < j->n_groups ? g0 + j->chunk : j->n_groups;
    int64_t base = 0; /* first global group of weight k */
    for (int k = 0; k < j->n_w; k++) {
        int64_t lo = g0 > base ? g0 : base,
                hi = g1 < base + j->groups[k] ? g1 : base + j->groups[k];
        if (lo < hi) run_slice(j, k, (lo - base) * ROW_GROUP, (hi - base) * ROW_GROUP, 0, j->n_tok);
        base += j->groups[k];
    }
}

/* Threads take chunks from a shared counter until none is left: a thread the OS schedules late
 * (more runnable threads than cores) finds the work done by the others instead of delaying it. */
static void gemm_worker(void *arg, int ith, int nth) {
    job *j = arg;
    (void)ith, (void)nth;
    for (;;) {
        int64_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= j->n_chunks) return;
        run_chunk(j, c);
    }
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Chunking: a few tokens (row kernels, bandwidth-bound) split rows finely; many tokens (packed
 * GEMM, which re-lays the activations once per call and each 16-row weight panel once per call)
 * split whichever dimension is smaller to keep duplicated packing small, in large chunks. */
static void plan_chunks(job *j, int nth) {
    int64_t total_rows = j->n_groups * ROW_GROUP;
    if (nth == 1) {
        j->split_tokens = 0;
        j->chunk = j->n_groups;
    } else if (j->n_tok < 3) {
        j->split_tokens = 0;
        j->chunk = ceil_div(j->n_groups, 8 * (int64_t)nth);
    } else if (total_rows < j->n_tok) {
        j->split_tokens = 1;
        int64_t t = ceil_div(j->n_tok, 2 * (int64_t)nth);
        j->chunk = ceil_div(t < 64 ? 64 : t, 8) * 8;
    } else {
        j->split_tokens = 0;
        int64_t g = ceil_div(j->n_groups, 4 * (int64_t)nth);
        j->chunk = g < 8 ? 8 : g;
    }
    if (j->chunk < 1) j->chunk = 1;
    j->n_chunks = ceil_div(j->split_tokens ? j->n_tok : j->n_groups, j->chunk);
    atomic_init(&j->next, 0);
}

void ky_matmul_multi(ky_pool *pool, const ky_kernel_table *kt, int n_w, const ky_matrix *const *w,
                     const float *x, int64_t ldx, int64_t n_tok, float *const *y,
                     const int64_t *ldy, void *scratch) {
    assert(n_w >= 1 && n_w <= KY_MATMUL_MAX_MULTI);
    if (n_tok <= 0) return;
    job j = {.kt = kt, .n_w = n_w, .x = x, .ldx = ldx, .n_tok = n_tok, .n_in = w[0]->n_in};
    char *p = (char *)(((uintptr_t)scratch + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    for (int k = 0; k < n_w; k++) {
        assert(w[k]->n_in == j.n_in && kt->gemm[w[k]->type] != NULL && ldy[k] >= w[k]->n_out);
        j.w[k] = w[k];
        j.y[k] = y[k];
        j.ldy[k] = ldy[k];
        j.groups[k] = (w[k]->n_out + ROW_GROUP - 1) / ROW_GROUP;
        j.n_groups += j.groups[k];
        uint32_t at = ky_kernels_act_type(w[k]->type);
        int a = 0;
        while (a < j.n_act && j.act[a].type != at) a++;
        if (a == j.n_act) {
            act_buf *ab = &j.act[j.n_act++];
            ab->type = at;
            if (at == KY_TYPE_F32) {
                ab->data = (const char *)x;
                ab->stride = (size_t)ldx * sizeof(float);
                ab->block = 1;
            } else {
                assert(kt->quantize_act[at] != NULL);
                ab->block = ky_type_get_traits(at)->block_size;
                ab->data = p;
                ab->stride = ky_kernels_act_row_bytes(at, j.n_in);
                p += act_bytes(at, j.n_in, n_tok);
            }
        }
        j.w_act[k] = a;
    }
    int nth = pool ? ky_pool_size(pool) : 1;
    plan_chunks(&j, nth);
    int need_quant = 0;
    for (int a = 0; a < j.n_act; a++) need_quant |= j.act[a].type != KY_TYPE_F32;
    if (nth == 1) {
        if (need_quant) quantize_worker(&j, 0, 1);
        gemm_worker(&j, 0, 1);
        return;
    }
    /* Small inputs (decode) are converted by the caller: one pool dispatch instead of two. */
    if (need_quant && n_tok * j.n_in <= QUANT_SERIAL_MAX)
        quantize_worker(&j, 0, 1);
    else if (need_quant)
        ky_pool_run(pool, quantize_worker, &j);
    ky_pool_run(pool, gemm_worker, &j);
}

void ky_matmul(ky_pool *pool, const ky_kernel_table *kt, const ky_matrix *w, const float *x,
               int64_t ldx, int64_t n_tok, float *y, int64_t ldy, void *scratch) {
    ky_matmul_multi(pool, kt, 1, &w, x, ldx, n_tok, &y, &ldy, scratch);
}
