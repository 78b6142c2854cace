/* forward.h — forward-pass state and the batched decode driver (layer: model).
 *
 * A ky_fwd owns everything one context needs to run the model: the KV cache, the thread pool and
 * every activation buffer, all sized at creation for at most n_batch tokens, so decoding allocates
 * nothing (only the logits buffer grows, when a batch asks for more output rows than ever before).
 * A decode runs in micro-batches of at most n_ubatch tokens, which bounds activation memory
 * (prefill of a 4B model at n_batch 512 would otherwise need ~100 MB of scratch). Shapes below use
 * T = tokens in the current micro-batch (<= n_ubatch), B = tokens in the whole batch.
 */
#ifndef KY_MODEL_FORWARD_H
#define KY_MODEL_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "model/arch.h"
#include "model/kv_cache.h"
#include "os/pool.h"

/* Micro-batch size: enough tokens per weight pass for the GEMM kernels to reach full speed. */
#define KY_UBATCH 256

/* A query block of attention: n consecutive batch entries of one sequence from entry t0. */
typedef struct ky_att_block {
    int32_t t0, n;
} ky_att_block;

typedef struct ky_fwd {
    const ky_weights *w;  /* the model, or stage_w for a pipeline stage */
    const ky_hparams *hp; /* w->hp: n_layer counts this stage's layers only */
    ky_weights stage_w;   /* pipeline stage: a view of the model's weights whose layers[0] is the
                             stage's first layer and hp.n_layer its layer count */
    int32_t layer_begin, layer_end; /* this stage's layers [begin, end) of the model's */
    bool has_embd, has_head;        /* stage holds the token embeddings / output norm + head */
    const ky_arch_desc *arch;
    const ky_kernel_table *kt;
    ky_pool *pool;
    ky_kv_cache kv;
    int32_t n_batch;    /* most tokens per decode */
    int32_t n_ubatch;   /* tokens per micro-batch: activation buffers are sized for this */
    int32_t n_threads;

    /* current micro-batch */
    int32_t n_tok;
    const int32_t *tokens; /* [T] */
    const int32_t *pos;    /* [T] */
    const int32_t *seq;    /* [T] */

    /* activations */
    float *x;        /* [T][n_embd] residual stream */
    float *xn;       /* [T][n_embd] normalized input of a sub-block */
    float *q;        /* [T][n_head*head_dim] */
    float *k, *v;    /* [T][n_head_kv*head_dim] */
    float *att;      /* [T][n_head*head_dim] attention output (before wo) */
    float *ff_a;     /* [T][max(n_ff, n_ff_exp)] gate (then silu(gate)*up) */
    float *ff_b;     /* [T][max(n_ff, n_ff_exp)] up */
    float *proj;     /* [T][n_embd] output of wo / ffn_down before the residual add */
    float *rope_cs;  /* [T][n_rot/2][2] cos, sin for the batch positions */
    /* attention scratch per thread: R = att_block_tokens × (n_head / n_head_kv) query rows */
    int32_t att_block_tokens;  /* tokens per query block */
    ky_att_block *att_blocks;  /* [T] query blocks of the current micro-batch */
    float *att_s;              /* [n_threads][R][n_ctx] scores / probabilities */
    float *att_q, *att_o;      /* [n_threads][R][head_dim] gathered queries / outputs */
    size_t att_s_stride, att_q_stride; /* floats per thread */
    float *router;   /* [T][n_expert] MoE router probabilities */
    int32_t *moe_ids;   /* [T][n_expert_used] chosen experts */
    float *moe_w;       /* [T][n_expert_used] their weights */
    int32_t *moe_rows;  /* [T] tokens routed to the current expert */
    float *moe_wrow;    /* [T] weight of the current expert per gathered row */
    float *moe_x;       /* [T][n_embd] gathered inputs of one expert */
    void *mm_scratch;   /* matmul activation scratch */

    /* outputs */
    int32_t n_last;     /* entries of the last decoded batch */
    int32_t n_out;      /* rows of logits produced by the last decode */
    int32_t out_cap;    /* rows the logits buffer holds */
    int32_t *out_of_tok;/* [B] output row of batch entry t, or -1 */
    int32_t *out_tok;   /* [B] batch entry of output row r */
    float *out_x;       /* [n_batch][n_embd] final hidden states of output rows */
    float *logits;      /* [out_cap][n_vocab] */
    int atomic_task;    /* work counter for dynamically scheduled blocks */
} ky_fwd;

typedef struct ky_fwd_params {
    int32_t n_ctx, n_seq, n_batch, n_threads;
    uint32_t kv_type;
    int32_t layer_begin, layer_end; /* layers this state runs (a pipeline stage); 0, 0 = all */
} ky_fwd_params;

/* Allocates the state for a model, or for the pipeline stage of layers [layer_begin, layer_end)
 * whose tensors w holds (the KV cache then holds those layers only; the embeddings are used
 * when layer_begin is 0, the head when layer_end is the model's last). Errors: KY_ERR_NOMEM,
 * KY_ERR_INVALID_ARG (bad sizes, a layer range w does not hold). */
ky_status ky_fwd_init(ky_fwd *f, const ky_weights *w, const ky_fwd_params *p, ky_error *err);
void ky_fwd_free(ky_fwd *f);

/* Runs the model on n tokens (n <= n_batch) whose positions and sequences the caller validated:
 * for each sequence, positions continue its cached length without gaps. Writes K/V into the cache,
 * advances each sequence's length, and computes logits for entries with want_logits[t]
 * (retrievable with ky_fwd_logits). Fails only with KY_ERR_NOMEM when the logits buffer must
 * grow and cannot. */
ky_status ky_fwd_decode(ky_fwd *f, const int32_t *tokens, const int32_t *pos, const int32_t *seq,
                        const bool *want_logits, int32_t n, ky_error *err);

/* Pieces of ky_fwd_decode, for a pipeline stage (engine/pipe.c) that runs its layers on
 * micro-batches it receives and sends on. ky_fwd_decode is exactly: ky_fwd_outputs over the
 * batch, ky_fwd_ubatch + ky_fwd_collect per micro-batch in order, then ky_fwd_head. */

/* Makes room for n_out rows of logits (grows the buffer: the only allocation after init).
 * KY_ERR_NOMEM with a message when it cannot. */
ky_status ky_fwd_reserve(ky_fwd *f, int32_t n_out, ky_error *err);
/* Starts a batch of n entries: records which want logits (output rows in entry order) for
 * ky_fwd_logits, reserves their rows, and empties the collected rows. Errors as ky_fwd_reserve. */
ky_status ky_fwd_outputs(ky_fwd *f, const bool *want_logits, int32_t n, ky_error *err);
/* Runs the stage's layers on m (1..n_ubatch) entries already validated: the input is the
 * embedding of tokens when x_in is NULL (the stage must have the embeddings), else the m rows
 * of n_embd floats at x_in (the previous stage's output). The output stays in f->x [m][n_embd];
 * each sequence's cached length advances past the entries' positions. */
void ky_fwd_ubatch(ky_fwd *f, const int32_t *tokens, const float *x_in, const int32_t *pos,
                   const int32_t *seq, int32_t m);
/* Appends the rows of f->x (after ky_fwd_ubatch of m entries) whose want_logits[t] is set to
 * the collected output rows (f->out_x). The caller keeps the total within n_batch. */
void ky_fwd_collect(ky_fwd *f, const bool *want_logits, int32_t m);
/* Final norm and output projection of the f->n_out collected rows into the logits (room
 * reserved by the caller). Needs the head (has_head). */
void ky_fwd_head(ky_fwd *f);

/* Logits of batch entry t of the last decode, or NULL when it did not ask for them. */
const float *ky_fwd_logits(const ky_fwd *f, int32_t t);

#endif
