/* forward.c — allocation of the forward-pass state and the batched decode driver
 * (layer: model).
 *
 * Decode = embed the batch tokens → run every layer (architecture descriptor) → for the entries
 * that want logits only: final RMSNorm and output projection. Everything runs on buffers sized at
 * init; work inside the blocks is split across the thread pool.
 */
#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/limits.h"
#include "model/blocks.h"
#include "tensor/quant.h"

/* 64-byte aligned zeroed buffer of n elements of size sz; NULL on overflow/failure. */
static void *alloc_buf(size_t n, size_t sz) {
    size_t bytes;
    if (ky_mul_overflow_size(n ? n : 1, sz, &bytes) || bytes > SIZE_MAX - 64) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Largest matmul scratch any product needs: layer weights for n (ubatch) tokens, the output
 * projection for n_out_max rows. */
static size_t scratch_need(const ky_weights *w, bool head, int64_t n, int64_t n_out_max) {
    const ky_hparams *hp = &w->hp;
    size_t need = head ? ky_matmul_scratch_bytes(&w->output, n_out_max) : 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const ky_layer *L = &w->layers[il];
        const ky_matrix *ms[] = {&L->wo, &L->ffn_down, &L->gate_inp, &L->down_exps};
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
            if (ms[i]->data) need = max_sz(need, ky_matmul_scratch_bytes(ms[i], n));
        /* products that share their input (blk_qkv, the gate/up pairs) */
        const ky_matrix *qkv[3] = {&L->wq, &L->wk, &L->wv};
        need = max_sz(need, ky_matmul_multi_scratch_bytes(3, qkv, n));
        const ky_matrix *gu[2] = {L->ffn_gate.data ? &L->ffn_gate : &L->gate_exps,
                                  L->ffn_up.data ? &L->ffn_up : &L->up_exps};
        need = max_sz(need, ky_matmul_multi_scratch_bytes(2, gu, n));
    }
    return need;
}

ky_status ky_fwd_init(ky_fwd *f, const ky_weights *w, const ky_fwd_params *p, ky_error *err) {
    memset(f, 0, sizeof *f);
    if (p->n_batch < 1 || p->n_ctx < 1 || p->n_seq < 1 || p->n_threads < 1)
        return ky_errf(err, KY_ERR_INVALID_ARG, "context sizes must be positive");
    int32_t n_layer = w->hp.n_layer, b = p->layer_begin, e = p->layer_end;
    if (b == 0 && e == 0) e = n_layer;
    if (b < 0 || e > n_layer || b >= e)
        return ky_errf(err, KY_ERR_INVALID_ARG, "layer range [%d, %d) is not inside [0, %d)", b, e,
                       n_layer);
    f->layer_begin = b;
    f->layer_end = e;
    f->has_embd = b == 0;
    f->has_head = e == n_layer;
    /* A stage sees its layers as 0..e-b: the blocks and the KV cache need no layer offset. */
    f->stage_w = *w;
    f->stage_w.layers = w->layers + b;
    f->stage_w.hp.n_layer = e - b;
    f->w = &f->stage_w;
    f->hp = &f->stage_w.hp;
    const ky_hparams *hp = f->hp;
    f->arch = ky_arch_get(hp->arch);
    f->kt = ky_kernels();
    f->n_batch = p->n_batch;
    f->n_ubatch = p->n_batch < KY_UBATCH ? p->n_batch : KY_UBATCH;
    f->n_threads = p->n_threads;
    ky_status st = ky_pool_create(p->n_threads, &f->pool, err);
    if (st) return st;
    st = ky_kv_init(&f->kv, p->kv_type, hp->n_layer, p->n_seq, p->n_ctx, hp->n_head_kv,
                    hp->head_dim, err);
    if (st) {
        ky_fwd_free(f);
        return st;
    }
    /* Activations are sized for one micro-batch (U tokens); only the output rows (out_*) and
     * logits scale with the whole batch (T). */
    size_t T = (size_t)p->n_batch, U = (size_t)f->n_ubatch, E = (size_t)hp->n_embd;
    size_t qw = (size_t)hp->n_head * (size_t)hp->head_dim;
    size_t kvw = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    size_t ffw = max_sz((size_t)hp->n_ff, (size_t)hp->n_ff_exp);
    size_t n_exp = (size_t)hp->n_expert, n_used = (size_t)hp->n_expert_used;
    f->x = alloc_buf(U * E, sizeof(float));
    f->xn = alloc_buf(U * E, sizeof(float));
    f->q = alloc_buf(U * qw, sizeof(float));
    f->k = alloc_buf(U * kvw, sizeof(float));
    f->v = alloc_buf(U * kvw, sizeof(float));
    f->att = alloc_buf(U * qw, sizeof(float));
    f->ff_a = alloc_buf(U * ffw, sizeof(float));
    f->ff_b = alloc_buf(U * ffw, sizeof(float));
    f->proj = alloc_buf(U * E, sizeof(float));
    f->rope_cs = alloc_buf(U * (size_t)hp->n_rot, sizeof(float));
    /* Attention query blocks: up to 64 query rows (tokens × heads per kv head) at a time. */
    int32_t group = hp->n_head / hp->n_head_kv;
    f->att_block_tokens = 64 / group > 0 ? 64 / group : 1;
    size_t att_rows = (size_t)f->att_block_tokens * (size_t)group;
    f->att_s_stride = att_rows * (size_t)p->n_ctx;
    f->att_q_stride = att_rows * (size_t)hp->head_dim;
    f->att_blocks = alloc_buf(U, sizeof(ky_att_block));
    f->att_s = alloc_buf((size_t)p->n_threads * f->att_s_stride, sizeof(float));
    f->att_q = alloc_buf((size_t)p->n_threads * f->att_q_stride, sizeof(float));
    f->att_o = alloc_buf((size_t)p->n_threads * f->att_q_stride, sizeof(float));
    f->out_of_tok = alloc_buf(T, sizeof(int32_t));
    f->out_tok = alloc_buf(T, sizeof(int32_t));
    f->out_x = alloc_buf(T * E, sizeof(float));
    bool ok = f->x && f->xn && f->q && f->k && f->v && f->att && f->ff_a && f->ff_b && f->proj &&
              f->rope_cs && f->att_blocks && f->att_s && f->att_q && f->att_o && f->out_of_tok &&
              f->out_tok && f->out_x;
    if (ok && n_exp) {
        f->router = alloc_buf(U * n_exp, sizeof(float));
        f->moe_ids = alloc_buf(U * n_used, sizeof(int32_t));
        f->moe_w = alloc_buf(U * n_used, sizeof(float));
        f->moe_rows = alloc_buf(U, sizeof(int32_t));
        f->moe_wrow = alloc_buf(U, sizeof(float));
        f->moe_x = alloc_buf(U * E, sizeof(float));
        ok = f->router && f->moe_ids && f->moe_w && f->moe_rows && f->moe_wrow && f->moe_x;
    }
    if (ok) f->mm_scratch = alloc_buf(scratch_need(f->w, f->has_head, (int64_t)U, (int64_t)T), 1);
    /* Logits: room for one row per sequence up front; grows if a batch asks for more. */
    f->out_cap = p->n_seq;
    if (ok) f->logits = alloc_buf((size_t)f->out_cap * (size_t)hp->n_vocab, sizeof(float));
    if (!ok || !f->mm_scratch || !f->logits) {
        ky_fwd_free(f);
        return ky_errf(err, KY_ERR_NOMEM, "out of memory allocating buffers for %d tokens",
                       p->n_batch);
    }
    return KY_OK;
}

void ky_fwd_free(ky_fwd *f) {
    void *bufs[] = {f->x,          f->xn,         f->q,        f->k,        f->v,
                    f->att,        f->ff_a,       f->ff_b,     f->proj,     f->rope_cs,
                    f->att_blocks, f->att_s,      f->att_q,    f->att_o,    f->router,
                    f->moe_ids,    f->moe_w,      f->moe_rows, f->moe_wrow, f->moe_x,
                    f->mm_scratch, f->out_of_tok, f->out_tok,  f->out_x,    f->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    if (f->pool) ky_pool_free(f->pool);
    ky_kv_free(&f->kv);
    memset(f, 0, sizeof *f);
}

static void embed(ky_fwd *f) {
    const ky_matrix *te = &f->w->tok_embd;
    for (int32_t t = 0; t < f->n_tok; t++) {
        const uint8_t *row = (const uint8_t *)te->data + (size_t)f->tokens[t] * te->row_bytes;
        ky_dequantize_row(te->type, row, f->x + (int64_t)t * f->hp->n_embd, f->hp->n_embd);
    }
}

ky_status ky_fwd_reserve(ky_fwd *f, int32_t n_out, ky_error *err) {
    if (n_out <= f->out_cap) return KY_OK;
    float *grown = alloc_buf((size_t)n_out * (size_t)f->hp->n_vocab, sizeof(float));
    if (!grown) return ky_errf(err, KY_ERR_NOMEM, "out of memory for %d rows of logits", n_out);
    free(f->logits);
    f->logits = grown;
    f->out_cap = n_out;
    return KY_OK;
}

ky_status ky_fwd_outputs(ky_fwd *f, const bool *want_logits, int32_t n, ky_error *err) {
    int32_t n_out = 0;
    for (int32_t t = 0; t < n; t++) n_out += want_logits[t] ? 1 : 0;
    ky_status st = ky_fwd_reserve(f, n_out, err);
    if (st) return st;
    n_out = 0;
    for (int32_t t = 0; t < n; t++) {
        f->out_of_tok[t] = want_logits[t] ? n_out : -1;
        if (want_logits[t]) f->out_tok[n_out++] = t;
    }
    f->n_last = n;
    f->n_out = 0; /* rows collected so far */
    return KY_OK;
}

void ky_fwd_ubatch(ky_fwd *f, const int32_t *tokens, const float *x_in, const int32_t *pos,
                   const int32_t *seq, int32_t m) {
    f->n_tok = m;
    f->tokens = tokens;
    f->pos = pos;
    f->seq = seq;
    if (x_in)
        memcpy(f->x, x_in, (size_t)m * (size_t)f->hp->n_embd * sizeof(float));
    else
        embed(f);
    for (int il = 0; il < f->hp->n_layer; il++) f->arch->forward_layer(f, il);
    for (int32_t t = 0; t < m; t++) {
        int32_t s = seq[t];
        if (pos[t] + 1 > f->kv.seq_len[s]) f->kv.seq_len[s] = pos[t] + 1;
    }
}

void ky_fwd_collect(ky_fwd *f, const bool *want_logits, int32_t m) {
    int64_t E = f->hp->n_embd;
    for (int32_t t = 0; t < m; t++)
        if (want_logits[t])
            memcpy(f->out_x + (int64_t)f->n_out++ * E, f->x + (int64_t)t * E,
                   (size_t)E * sizeof(float));
}

void ky_fwd_head(ky_fwd *f) {
    if (f->n_out > 0) {
        f->n_tok = f->n_out;
        blk_rmsnorm(f, f->out_x, f->w->output_norm, f->out_x);
        blk_matmul(f, &f->w->output, f->out_x, f->logits);
    }
}

ky_status ky_fwd_decode(ky_fwd *f, const int32_t *tokens, const int32_t *pos, const int32_t *seq,
                        const bool *want_logits, int32_t n, ky_error *err) {
    ky_status st = ky_fwd_outputs(f, want_logits, n, err);
    if (st) return st;
    /* Micro-batches of at most n_ubatch tokens run through all layers in turn; a later one sees
     * the K/V an earlier one wrote, so causal attention across them is exact. */
    for (int32_t u0 = 0; u0 < n; u0 += f->n_ubatch) {
        int32_t m = n - u0 < f->n_ubatch ? n - u0 : f->n_ubatch;
        ky_fwd_ubatch(f, tokens + u0, NULL, pos + u0, seq + u0, m);
        ky_fwd_collect(f, want_logits + u0, m);
    }
    /* Output rows only: final norm and projection. */
    ky_fwd_head(f);
    return KY_OK;
}

const float *ky_fwd_logits(const ky_fwd *f, int32_t t) {
    if (t < 0 || t >= f->n_last || f->out_of_tok[t] < 0) return NULL;
    return f->logits + (int64_t)f->out_of_tok[t] * f->hp->n_vocab;
}
