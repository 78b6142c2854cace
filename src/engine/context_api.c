/* context_api.c — ky_context_*, ky_batch_*, ky_decode and the KV-cache calls of kaiyuan.h
 * (layer: engine).
 *
 * A context owns the forward-pass state (KV cache for n_seq_max sequences, scratch, thread pool).
 * ky_decode validates the whole batch first — tokens, sequence ids, positions that continue each
 * sequence without gaps, room in the context — so a rejected batch leaves the cache untouched.
 * A pipeline context (params.pipe) runs only its model's layer range; its decode and KV calls go
 * through pipe.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "engine/context.h"
#include "model/model.h"

ky_context_params ky_context_default_params(void) {
    ky_context_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_seq_max = 1;
    p.n_batch = 512;
    p.n_threads = 0;
    p.kv_type = KY_TYPE_F16;
    return p;
}

ky_status ky_ctx_fail(ky_context *ctx, ky_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->last_error, sizeof ctx->last_error, fmt, ap);
    va_end(ap);
    return st;
}
#define fail ky_ctx_fail

ky_status ky_context_create(ky_model *model, const ky_context_params *params, ky_context **out,
                            ky_error *err) {
    ky_error_clear(err);
    if (!model || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "ky_context_create: NULL argument");
    if (!model->weights)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "cannot create a context: the model was loaded "
                       "with vocab_only");
    ky_context_params p = params ? *params : ky_context_default_params();
    const ky_hparams *hp = &model->weights->hp;
    if (p.n_ctx < 0 || p.n_seq_max < 1 || p.n_seq_max > KY_MAX_SEQ || p.n_batch < 1 ||
        p.n_threads < 0 || p.n_threads > KY_MAX_THREADS)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "context parameters out of range (n_ctx %d, "
                       "n_seq_max %d in [1, %d], n_batch %d, n_threads %d in [0, %d])",
                       p.n_ctx, p.n_seq_max, KY_MAX_SEQ, p.n_batch, p.n_threads, KY_MAX_THREADS);
    if (p.kv_type != KY_TYPE_F16 && p.kv_type != KY_TYPE_F32)
        return ky_errf(err, KY_ERR_INVALID_ARG, "KV cache type must be f16 or f32");
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_ctx > hp->n_ctx_train) p.n_ctx = hp->n_ctx_train; /* capped by the trained length */
    if (p.n_threads == 0) p.n_threads = ky_physical_cores();
    int64_t max_batch = (int64_t)p.n_ctx * p.n_seq_max;
    if (p.n_batch > max_batch) p.n_batch = (int32_t)max_batch;

    ky_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ky_errf(err, KY_ERR_NOMEM, "out of memory");
    ctx->model = model;
    ctx->params = p;
    ctx->next_pos = calloc((size_t)p.n_seq_max, sizeof *ctx->next_pos);
    if (!ctx->next_pos) {
        free(ctx);
        return ky_errf(err, KY_ERR_NOMEM, "out of memory");
    }
    const ky_weights *w = model->weights;
    bool whole = w->layer_begin == 0 && w->layer_end == w->hp.n_layer;
    if (!p.pipe && !whole) {
        free(ctx->next_pos);
        free(ctx);
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "the model holds only layers [%d, %d) of %d: a context over it needs a "
                       "pipeline transport",
                       w->layer_begin, w->layer_end, w->hp.n_layer);
    }
    ky_fwd_params fp = {p.n_ctx,   p.n_seq_max,    p.n_batch,   p.n_threads,
                        p.kv_type, w->layer_begin, w->layer_end};
    ky_status st = ky_fwd_init(&ctx->fwd, w, &fp, err);
    if (!st && p.pipe) st = ky_pipe_init(ctx, err);
    if (st) {
        ky_pipe_free(ctx);
        ky_fwd_free(&ctx->fwd);
        free(ctx->next_pos);
        free(ctx);
        return st;
    }
    *out = ctx;
    return KY_OK;
}

void ky_context_free(ky_context *ctx) {
    if (!ctx) return;
    (void)ky_pipe_shutdown(ctx); /* a failure here has nobody left to report to */
    ky_pipe_free(ctx);
    ky_fwd_free(&ctx->fwd);
    free(ctx->next_pos);
    free(ctx);
}

const char *ky_context_last_error(const ky_context *ctx) { return ctx->last_error; }
int32_t ky_context_n_ctx(const ky_context *ctx) { return ctx->params.n_ctx; }
int32_t ky_context_n_batch(const ky_context *ctx) { return ctx->params.n_batch; }
int32_t ky_context_n_threads(const ky_context *ctx) { return ctx->params.n_threads; }
uint64_t ky_context_kv_bytes(const ky_context *ctx) { return ctx->fwd.kv.bytes; }

/* ---------------------------------------------------------------------------------------------
 * Batches
 * ------------------------------------------------------------------------------------------- */

ky_status ky_batch_init(ky_batch *b, int32_t capacity) {
    memset(b, 0, sizeof *b);
    if (capacity < 1) return KY_ERR_INVALID_ARG;
    b->token = malloc((size_t)capacity * sizeof *b->token);
    b->pos = malloc((size_t)capacity * sizeof *b->pos);
    b->seq_id = malloc((size_t)capacity * sizeof *b->seq_id);
    b->logits = malloc((size_t)capacity * sizeof *b->logits);
    if (!b->token || !b->pos || !b->seq_id || !b->logits) {
        ky_batch_free(b);
        return KY_ERR_NOMEM;
    }
    b->capacity = capacity;
    return KY_OK;
}

void ky_batch_free(ky_batch *b) {
    free(b->token);
    free(b->pos);
    free(b->seq_id);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

void ky_batch_clear(ky_batch *b) { b->n_tokens = 0; }

ky_status ky_batch_add(ky_batch *b, ky_token token, int32_t pos, int32_t seq_id, bool logits) {
    if (b->n_tokens >= b->capacity) return KY_ERR_INVALID_ARG;
    int32_t i = b->n_tokens++;
    b->token[i] = token;
    b->pos[i] = pos;
    b->seq_id[i] = seq_id;
    b->logits[i] = logits;
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Decode
 * ------------------------------------------------------------------------------------------- */

static ky_status validate(ky_context *ctx, const ky_batch *b) {
    const ky_context_params *p = &ctx->params;
    int32_t n_vocab = ctx->model->weights->hp.n_vocab;
    if (!b || b->n_tokens < 1)
        return fail(ctx, KY_ERR_INVALID_ARG, "empty batch: nothing to decode");
    if (b->n_tokens > p->n_batch)
        return fail(ctx, KY_ERR_INVALID_ARG,
                    "batch of %d tokens exceeds the context's n_batch "
                    "of %d",
                    b->n_tokens, p->n_batch);
    for (int32_t s = 0; s < p->n_seq_max; s++) ctx->next_pos[s] = ctx->fwd.kv.seq_len[s];
    for (int32_t i = 0; i < b->n_tokens; i++) {
        int32_t tok = b->token[i], s = b->seq_id[i], pos = b->pos[i];
        if (tok < 0 || tok >= n_vocab)
            return fail(ctx, KY_ERR_INVALID_ARG,
                        "batch entry %d: token id %" PRId32 " is outside the vocabulary [0, %d)", i,
                        tok, n_vocab);
        if (s < 0 || s >= p->n_seq_max)
            return fail(ctx, KY_ERR_INVALID_ARG,
                        "batch entry %d: sequence id %" PRId32 " is outside [0, %d)", i, s,
                        p->n_seq_max);
        if (pos != ctx->next_pos[s])
            return fail(ctx, KY_ERR_INVALID_ARG,
                        "batch entry %d: position %" PRId32 " of "
                        "sequence %" PRId32 " does not continue it (expected %" PRId32 "; drop "
                        "cached positions first with ky_kv_seq_keep)",
                        i, pos, s, ctx->next_pos[s]);
        if (pos >= p->n_ctx)
            return fail(ctx, KY_ERR_CONTEXT_FULL,
                        "sequence %" PRId32 " is full: position %" PRId32
                        " does not fit in the context of %d positions",
                        s, pos, p->n_ctx);
        ctx->next_pos[s]++;
    }
    return KY_OK;
}

ky_status ky_decode(ky_context *ctx, const ky_batch *batch) {
    ctx->last_error[0] = '\0';
    if (ctx->pipe.on && ctx->pipe.tr.rank != 0)
        return fail(ctx, KY_ERR_INVALID_ARG,
                    "ky_decode on pipeline rank %d: only rank 0 decodes (the others run "
                    "ky_pipe_serve)",
                    ctx->pipe.tr.rank);
    ky_status st = validate(ctx, batch);
    if (st) return st;
    if (ctx->pipe.on) return ky_pipe_decode(ctx, batch);
    ky_error err;
    st = ky_fwd_decode(&ctx->fwd, batch->token, batch->pos, batch->seq_id, batch->logits,
                       batch->n_tokens, &err);
    if (st) return fail(ctx, st, "%s", err.message);
    return KY_OK;
}

const float *ky_get_logits(const ky_context *ctx, int32_t i) { return ky_fwd_logits(&ctx->fwd, i); }

/* ---------------------------------------------------------------------------------------------
 * KV cache
 * ------------------------------------------------------------------------------------------- */

int32_t ky_kv_seq_len(const ky_context *ctx, int32_t seq_id) {
    if (seq_id < 0 || seq_id >= ctx->params.n_seq_max) return 0;
    return ctx->fwd.kv.seq_len[seq_id];
}

ky_status ky_kv_seq_keep(ky_context *ctx, int32_t seq_id, int32_t n_keep) {
    if (seq_id < 0 || seq_id >= ctx->params.n_seq_max)
        return fail(ctx, KY_ERR_INVALID_ARG, "sequence id %d is outside [0, %d)", seq_id,
                    ctx->params.n_seq_max);
    if (n_keep < 0) return fail(ctx, KY_ERR_INVALID_ARG, "cannot keep %d positions", n_keep);
    if (n_keep < ctx->fwd.kv.seq_len[seq_id]) ctx->fwd.kv.seq_len[seq_id] = n_keep;
    return ky_pipe_kv(ctx, KY_PIPE_KV_KEEP, seq_id, n_keep, 0);
}

ky_status ky_kv_seq_copy(ky_context *ctx, int32_t src, int32_t dst, int32_t n) {
    int32_t n_seq = ctx->params.n_seq_max;
    if (src < 0 || src >= n_seq || dst < 0 || dst >= n_seq)
        return fail(ctx, KY_ERR_INVALID_ARG, "sequence ids %d, %d must be in [0, %d)", src, dst,
                    n_seq);
    if (n < 0 || n > ctx->fwd.kv.seq_len[src])
        return fail(ctx, KY_ERR_INVALID_ARG, "cannot copy %d positions: sequence %d has %d", n, src,
                    ctx->fwd.kv.seq_len[src]);
    ky_kv_copy_prefix(&ctx->fwd.kv, src, dst, n);
    return ky_pipe_kv(ctx, KY_PIPE_KV_COPY, src, dst, n);
}

void ky_kv_clear(ky_context *ctx) {
    for (int32_t s = 0; s < ctx->params.n_seq_max; s++) ctx->fwd.kv.seq_len[s] = 0;
    (void)ky_pipe_kv(ctx, KY_PIPE_KV_CLEAR, 0, 0, 0); /* a failure is in last_error */
}
