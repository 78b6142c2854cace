/* pipe.c — pipeline stages: one model's layers split across ranks that exchange byte messages
 * through a caller's transport (ky_pipe_transport; MPI lives in the CLI, never here)
 * (layer: engine).
 *
 * Messages from rank r to rank r+1 (and the last rank's results to rank 0) start with a header
 * of 8 int32: {cmd, n, a, b, c, kind, 0, 0}.
 *   HELLO     n = KY_PIPE_N_HELLO, followed by that many int32 (hello_fields): checked by each
 *             rank against its own values, then passed on; the last rank answers rank 0.
 *   UBATCH    n = tokens m, kind = 0 prefill / 1 decode, followed by pos[m], seq[m], want[m]
 *             (int32) and the hidden states [m][n_embd] (float) that leave the sender's layers.
 *   END       the batch is complete: the last rank sends RESULT {n = rows} to rank 0, then the
 *             rows of logits [rows][n_vocab] as a second message.
 *   KV        a = KY_PIPE_KV_*, b, c, kind = arguments: applied, then passed on.
 *   SHUTDOWN  passed on; ky_pipe_serve returns.
 * Messages between two ranks keep their order, so a KV call lands between the same batches on
 * every rank, and micro-batches reach each rank in token order (exact causal attention).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "engine/context.h"
#include "model/model.h"

enum { CMD_HELLO = 0x4b590001, CMD_UBATCH, CMD_END, CMD_RESULT, CMD_KV, CMD_SHUTDOWN };
enum { HDR = 8 };

/* Fields every rank must agree on, in handshake order. */
enum {
    H_N_RANKS,
    H_N_LAYER,
    H_N_EMBD,
    H_N_VOCAB,
    H_N_CTX,
    H_N_SEQ,
    H_N_BATCH,
    H_N_UBATCH,
    H_KV_TYPE,
    H_UBATCH_PARAM,
    H_LAYER_END, /* end of the sender's layer range: the receiver's must begin there */
    KY_PIPE_N_HELLO
};
static const char *const k_hello_names[KY_PIPE_N_HELLO] = {
    "number of ranks",      "n_layer", "n_embd",      "n_vocab",    "n_ctx", "n_seq_max", "n_batch",
    "micro-batch capacity", "kv_type", "pipe_ubatch", "layer range"};

static void hello_fields(const ky_context *ctx, int32_t *h) {
    const ky_fwd *f = &ctx->fwd;
    const ky_hparams *full = &ctx->model->weights->hp;
    h[H_N_RANKS] = ctx->pipe.tr.n_ranks;
    h[H_N_LAYER] = full->n_layer;
    h[H_N_EMBD] = full->n_embd;
    h[H_N_VOCAB] = full->n_vocab;
    h[H_N_CTX] = ctx->params.n_ctx;
    h[H_N_SEQ] = ctx->params.n_seq_max;
    h[H_N_BATCH] = ctx->params.n_batch;
    h[H_N_UBATCH] = f->n_ubatch;
    h[H_KV_TYPE] = (int32_t)ctx->params.kv_type;
    h[H_UBATCH_PARAM] = ctx->params.pipe_ubatch;
    h[H_LAYER_END] = f->layer_end;
}

static int32_t *hdr(ky_pipe *p) { return (int32_t *)(void *)p->msg; }

static ky_status tsend(ky_context *ctx, int32_t to, const void *buf, size_t n, ky_error *err) {
    ky_pipe *p = &ctx->pipe;
    return p->tr.send(p->tr.user, to, buf, n, err);
}

static ky_status trecv(ky_context *ctx, int32_t from, void *buf, size_t cap, size_t *n,
                       ky_error *err) {
    ky_pipe *p = &ctx->pipe;
    return p->tr.recv(p->tr.user, from, buf, cap, n, err);
}

/* Sends a header-only message {cmd, n, a, b, c, kind}. */
static ky_status send_hdr(ky_context *ctx, int32_t to, int32_t cmd, int32_t n, int32_t a, int32_t b,
                          int32_t c, int32_t kind, ky_error *err) {
    int32_t h[HDR] = {cmd, n, a, b, c, kind, 0, 0};
    return tsend(ctx, to, h, sizeof h, err);
}

ky_status ky_pipe_init(ky_context *ctx, ky_error *err) {
    ky_pipe *p = &ctx->pipe;
    const ky_pipe_transport *tr = ctx->params.pipe;
    const ky_fwd *f = &ctx->fwd;
    if (tr->n_ranks < 2 || tr->n_ranks > KY_MAX_PIPE_RANKS || tr->rank < 0 ||
        tr->rank >= tr->n_ranks || !tr->send || !tr->recv)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "pipeline transport: rank %d of %d ranks (need 2..%d ranks) or a missing "
                       "callback",
                       tr->rank, tr->n_ranks, KY_MAX_PIPE_RANKS);
    if (ctx->params.pipe_ubatch < 0)
        return ky_errf(err, KY_ERR_INVALID_ARG, "pipe_ubatch %d is negative",
                       ctx->params.pipe_ubatch);
    int32_t rank = tr->rank, last = tr->n_ranks - 1;
    if ((rank == 0) != f->has_embd || (rank == last) != f->has_head)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "pipeline rank %d of %d holds layers [%d, %d) of %d: rank 0 must start at "
                       "layer 0 and only the last rank may end at the last layer",
                       rank, tr->n_ranks, f->layer_begin, f->layer_end,
                       ctx->model->weights->hp.n_layer);
    p->tr = *tr;
    p->on = true;
    p->ubatch = ctx->params.pipe_ubatch;
    size_t U = (size_t)f->n_ubatch, E = (size_t)f->hp->n_embd;
    p->msg_cap = HDR * sizeof(int32_t) + 3 * U * sizeof(int32_t) + U * E * sizeof(float);
    p->msg = malloc(p->msg_cap);
    p->want = malloc(U * sizeof *p->want);
    if (!p->msg || !p->want) return ky_errf(err, KY_ERR_NOMEM, "out of memory");
    p->stats.rank = rank;
    p->stats.layer_begin = f->layer_begin;
    p->stats.layer_end = f->layer_end;

    /* Handshake along the chain: 0 → 1 → ... → last → 0. */
    int32_t mine[KY_PIPE_N_HELLO], got[HDR + KY_PIPE_N_HELLO];
    hello_fields(ctx, mine);
    ky_status st;
    size_t n;
    if (rank > 0) {
        if ((st = trecv(ctx, rank - 1, got, sizeof got, &n, err))) return st;
        if (n != sizeof got || got[0] != CMD_HELLO || got[1] != KY_PIPE_N_HELLO)
            return ky_errf(err, KY_ERR_FORMAT,
                           "pipeline rank %d: rank %d sent something other than the handshake "
                           "(a different kaiyuan version?)",
                           rank, rank - 1);
        for (int i = 0; i < KY_PIPE_N_HELLO; i++) {
            int32_t want = i == H_LAYER_END ? f->layer_begin : mine[i];
            if (got[HDR + i] != want)
                return ky_errf(err, KY_ERR_INVALID_ARG,
                               "pipeline rank %d does not match rank %d: %s %d here, %d there%s",
                               rank, rank - 1, k_hello_names[i], want, got[HDR + i],
                               i == H_LAYER_END ? " (layer ranges must be contiguous)"
                                                : " (every rank needs the same model and "
                                                  "options)");
        }
    }
    int32_t out[HDR + KY_PIPE_N_HELLO] = {CMD_HELLO, KY_PIPE_N_HELLO};
    memcpy(out + HDR, mine, sizeof mine);
    if ((st = tsend(ctx, rank == last ? 0 : rank + 1, out, sizeof out, err))) return st;
    if (rank == 0) {
        if ((st = trecv(ctx, last, got, sizeof got, &n, err))) return st;
        if (n != sizeof got || got[0] != CMD_HELLO ||
            got[HDR + H_LAYER_END] != got[HDR + H_N_LAYER])
            return ky_errf(err, KY_ERR_FORMAT,
                           "pipeline: the last rank's handshake does not close the chain");
    }
    return KY_OK;
}

void ky_pipe_free(ky_context *ctx) {
    free(ctx->pipe.msg);
    free(ctx->pipe.want);
    memset(&ctx->pipe, 0, sizeof ctx->pipe);
}

ky_status ky_pipe_shutdown(ky_context *ctx) {
    ky_pipe *p = &ctx->pipe;
    if (!p->on || p->tr.rank != 0 || p->shut) return KY_OK;
    p->shut = true;
    ky_error err;
    ky_status st = send_hdr(ctx, 1, CMD_SHUTDOWN, 0, 0, 0, 0, 0, &err);
    if (st) return ky_ctx_fail(ctx, st, "%s", err.message);
    return KY_OK;
}

ky_status ky_pipe_kv(ky_context *ctx, int32_t op, int32_t a, int32_t b, int32_t c) {
    ky_pipe *p = &ctx->pipe;
    if (!p->on || p->tr.rank != 0) return KY_OK;
    if (p->shut) return ky_ctx_fail(ctx, KY_ERR_INVALID_ARG, "the pipeline was shut down");
    ky_error err;
    ky_status st = send_hdr(ctx, 1, CMD_KV, 0, op, a, b, c, &err);
    if (st) return ky_ctx_fail(ctx, st, "%s", err.message);
    return KY_OK;
}

/* Packs the micro-batch of m entries (ids from pos/seq/want, hidden states f->x) into p->msg;
 * returns its length. */
static size_t pack(ky_context *ctx, int32_t m, const int32_t *pos, const int32_t *seq,
                   const bool *want, int32_t kind) {
    ky_pipe *p = &ctx->pipe;
    int32_t *h = hdr(p);
    memset(h, 0, HDR * sizeof *h);
    h[0] = CMD_UBATCH;
    h[1] = m;
    h[5] = kind;
    int32_t *ids = h + HDR;
    for (int32_t t = 0; t < m; t++) {
        ids[t] = pos[t];
        ids[m + t] = seq[t];
        ids[2 * m + t] = want[t] ? 1 : 0;
    }
    size_t xb = (size_t)m * (size_t)ctx->fwd.hp->n_embd * sizeof(float);
    memcpy(ids + 3 * m, ctx->fwd.x, xb);
    return (HDR + 3 * (size_t)m) * sizeof(int32_t) + xb;
}

/* 0 for a batch in which some sequence has more than one entry (prefill), else 1. */
static int32_t batch_kind(const ky_context *ctx, const ky_batch *b) {
    int32_t *seen = ctx->next_pos; /* validation is done: reuse its scratch */
    for (int32_t s = 0; s < ctx->params.n_seq_max; s++) seen[s] = 0;
    for (int32_t i = 0; i < b->n_tokens; i++)
        if (seen[b->seq_id[i]]++) return 0;
    return 1;
}

ky_status ky_pipe_decode(ky_context *ctx, const ky_batch *b) {
    ky_pipe *p = &ctx->pipe;
    ky_fwd *f = &ctx->fwd;
    ky_pipe_stats *s = &p->stats;
    ky_error err;
    if (p->shut) return ky_ctx_fail(ctx, KY_ERR_INVALID_ARG, "the pipeline was shut down");
    int32_t kind = batch_kind(ctx, b), n = b->n_tokens, last = p->tr.n_ranks - 1;
    ky_status st = ky_fwd_outputs(f, b->logits, n, &err);
    if (st) return ky_ctx_fail(ctx, st, "%s", err.message);
    int32_t n_rows = 0;
    for (int32_t t = 0; t < n; t++) n_rows += b->logits[t] ? 1 : 0;
    int32_t ub = p->ubatch;
    /* Automatic: a prefill batch in 2R micro-batches (bubble (R-1)/(3R-1)); a decode batch whole,
     * since decode streams every weight once per micro-batch (memory-bound: splitting it would
     * cost more weight reads than the overlap wins). */
    if (ub == 0) ub = kind == 1 ? n : (n + 2 * p->tr.n_ranks - 1) / (2 * p->tr.n_ranks);
    if (ub > f->n_ubatch) ub = f->n_ubatch;
    if (ub < 1) ub = 1;
    s->n_batches[kind]++;
    s->n_tokens[kind] += n;
    for (int32_t u0 = 0; u0 < n; u0 += ub) {
        int32_t m = n - u0 < ub ? n - u0 : ub;
        double t0 = ky_time_now();
        ky_fwd_ubatch(f, b->token + u0, NULL, b->pos + u0, b->seq_id + u0, m);
        size_t len = pack(ctx, m, b->pos + u0, b->seq_id + u0, b->logits + u0, kind);
        double t1 = ky_time_now();
        st = tsend(ctx, 1, p->msg, len, &err);
        s->busy_s[kind] += t1 - t0;
        s->wait_s[kind] += ky_time_now() - t1;
        s->n_ubatches[kind]++;
        s->bytes_sent[kind] += len;
        if (st) return ky_ctx_fail(ctx, st, "%s", err.message);
    }
    double t1 = ky_time_now();
    int32_t res[HDR];
    size_t got = 0;
    if ((st = send_hdr(ctx, 1, CMD_END, 0, 0, 0, 0, kind, &err)) ||
        (st = trecv(ctx, last, res, sizeof res, &got, &err)))
        return ky_ctx_fail(ctx, st, "%s", err.message);
    if (got != sizeof res || res[0] != CMD_RESULT || res[1] != n_rows)
        return ky_ctx_fail(ctx, KY_ERR_FORMAT,
                           "pipeline: the last rank answered a batch of %d logit rows with "
                           "something else",
                           n_rows);
    size_t want_bytes = (size_t)n_rows * (size_t)f->hp->n_vocab * sizeof(float);
    if (n_rows > 0 &&
        ((st = trecv(ctx, last, f->logits, want_bytes, &got, &err)) || got != want_bytes)) {
        if (!st) st = KY_ERR_FORMAT;
        return ky_ctx_fail(ctx, st, "pipeline: receiving logits: %s",
                           st == KY_ERR_FORMAT ? "wrong length" : err.message);
    }
    s->wait_s[kind] += ky_time_now() - t1;
    f->n_out = n_rows;
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Ranks > 0
 * ------------------------------------------------------------------------------------------- */

/* Checks and runs one received micro-batch of len bytes in p->msg, passing it on (or keeping
 * its logit rows on the last rank). */
static ky_status serve_ubatch(ky_context *ctx, size_t len, int32_t *batch_rows, ky_error *err) {
    ky_pipe *p = &ctx->pipe;
    ky_fwd *f = &ctx->fwd;
    int32_t *h = hdr(p), m = h[1], kind = h[5] ? 1 : 0;
    int32_t rank = p->tr.rank, last = p->tr.n_ranks - 1;
    size_t E = (size_t)f->hp->n_embd;
    if (m < 1 || m > f->n_ubatch ||
        len != (HDR + 3 * (size_t)m) * sizeof(int32_t) + (size_t)m * E * sizeof(float))
        return ky_errf(err, KY_ERR_FORMAT,
                       "pipeline rank %d: malformed micro-batch (%d tokens, %zu bytes)", rank, m,
                       len);
    const int32_t *pos = h + HDR, *seq = pos + m, *want = seq + m;
    int32_t *next = ctx->next_pos; /* [n_seq_max]: positions must continue each sequence */
    for (int32_t s = 0; s < ctx->params.n_seq_max; s++) next[s] = f->kv.seq_len[s];
    for (int32_t t = 0; t < m; t++) {
        if (seq[t] < 0 || seq[t] >= ctx->params.n_seq_max || pos[t] >= ctx->params.n_ctx ||
            pos[t] != next[seq[t]]++)
            return ky_errf(err, KY_ERR_FORMAT,
                           "pipeline rank %d: micro-batch entry %d (sequence %d, position %d) "
                           "does not fit this rank's cache",
                           rank, t, seq[t], pos[t]);
        p->want[t] = want[t] != 0;
        *batch_rows += p->want[t] ? 1 : 0;
    }
    if (*batch_rows > f->n_batch)
        return ky_errf(err, KY_ERR_FORMAT,
                       "pipeline rank %d: a batch asks for %d logit rows, more "
                       "than n_batch",
                       rank, *batch_rows);
    ky_pipe_stats *s = &p->stats;
    double t0 = ky_time_now();
    ky_fwd_ubatch(f, NULL, (const float *)(want + m), pos, seq, m);
    if (rank == last) ky_fwd_collect(f, p->want, m);
    double t1 = ky_time_now();
    s->busy_s[kind] += t1 - t0;
    s->n_ubatches[kind]++;
    s->n_tokens[kind] += m;
    if (rank == last) return KY_OK;
    memcpy((int32_t *)want + m, f->x, (size_t)m * E * sizeof(float));
    ky_status st = tsend(ctx, rank + 1, p->msg, len, err);
    s->wait_s[kind] += ky_time_now() - t1;
    s->bytes_sent[kind] += len;
    return st;
}

/* The last rank at the end of a batch: head over the collected rows, logits to rank 0. */
static ky_status serve_end(ky_context *ctx, int32_t kind, ky_error *err) {
    ky_fwd *f = &ctx->fwd;
    ky_pipe_stats *s = &ctx->pipe.stats;
    int32_t rows = f->n_out;
    ky_status st = ky_fwd_reserve(f, rows, err);
    if (st) return st;
    double t0 = ky_time_now();
    ky_fwd_head(f);
    double t1 = ky_time_now();
    size_t bytes = (size_t)rows * (size_t)f->hp->n_vocab * sizeof(float);
    st = send_hdr(ctx, 0, CMD_RESULT, rows, 0, 0, 0, kind, err);
    if (!st && rows > 0) st = tsend(ctx, 0, f->logits, bytes, err);
    s->busy_s[kind] += t1 - t0;
    s->wait_s[kind] += ky_time_now() - t1;
    s->bytes_sent[kind] += bytes + HDR * sizeof(int32_t);
    f->n_out = 0;
    return st;
}

/* Applies a KV command locally (the arguments were valid on rank 0, whose cache has the same
 * shape). */
static ky_status serve_kv(ky_context *ctx, const int32_t *h, ky_error *err) {
    ky_kv_cache *kv = &ctx->fwd.kv;
    int32_t op = h[2], a = h[3], b = h[4], c = h[5], n_seq = ctx->params.n_seq_max;
    if (op == KY_PIPE_KV_KEEP && a >= 0 && a < n_seq && b >= 0) {
        if (b < kv->seq_len[a]) kv->seq_len[a] = b;
    } else if (op == KY_PIPE_KV_COPY && a >= 0 && a < n_seq && b >= 0 && b < n_seq && c >= 0 &&
               c <= kv->seq_len[a]) {
        ky_kv_copy_prefix(kv, a, b, c);
    } else if (op == KY_PIPE_KV_CLEAR) {
        for (int32_t s = 0; s < n_seq; s++) kv->seq_len[s] = 0;
    } else {
        return ky_errf(err, KY_ERR_FORMAT,
                       "pipeline rank %d: KV command %d (%d, %d, %d) does not fit this rank's "
                       "cache",
                       ctx->pipe.tr.rank, op, a, b, c);
    }
    return KY_OK;
}

ky_status ky_pipe_serve(ky_context *ctx) {
    ky_pipe *p = &ctx->pipe;
    ctx->last_error[0] = '\0';
    if (!p->on || p->tr.rank == 0)
        return ky_ctx_fail(ctx, KY_ERR_INVALID_ARG,
                           "ky_pipe_serve needs a pipeline context of rank > 0");
    int32_t rank = p->tr.rank, last = p->tr.n_ranks - 1, batch_rows = 0;
    ky_error err;
    ky_status st = KY_OK;
    for (;;) {
        size_t len = 0;
        double t0 = ky_time_now();
        if ((st = trecv(ctx, rank - 1, p->msg, p->msg_cap, &len, &err))) break;
        int32_t *h = hdr(p);
        if (len < HDR * sizeof(int32_t)) {
            st =
                ky_errf(&err, KY_ERR_FORMAT, "pipeline rank %d: a message of %zu bytes", rank, len);
            break;
        }
        int32_t cmd = h[0], kind = h[5] ? 1 : 0;
        if (cmd == CMD_UBATCH || cmd == CMD_END) p->stats.wait_s[kind] += ky_time_now() - t0;
        if (cmd == CMD_UBATCH) {
            st = serve_ubatch(ctx, len, &batch_rows, &err);
        } else if (cmd == CMD_END) {
            p->stats.n_batches[kind]++;
            batch_rows = 0;
            double t1 = ky_time_now();
            st = rank == last ? serve_end(ctx, kind, &err) : tsend(ctx, rank + 1, h, len, &err);
            if (rank != last) p->stats.wait_s[kind] += ky_time_now() - t1;
        } else if (cmd == CMD_KV) {
            st = serve_kv(ctx, h, &err);
            if (!st && rank != last) st = tsend(ctx, rank + 1, h, len, &err);
        } else if (cmd == CMD_SHUTDOWN) {
            if (rank != last) st = tsend(ctx, rank + 1, h, len, &err);
            if (!st) return KY_OK;
        } else {
            st = ky_errf(&err, KY_ERR_FORMAT, "pipeline rank %d: unknown message %#x", rank,
                         (unsigned)cmd);
        }
        if (st) break;
    }
    return ky_ctx_fail(ctx, st, "%s", err.message);
}

void ky_pipe_get_stats(const ky_context *ctx, ky_pipe_stats *out) {
    if (ctx->pipe.on)
        *out = ctx->pipe.stats;
    else
        memset(out, 0, sizeof *out);
}

void ky_pipe_reset_stats(ky_context *ctx) {
    ky_pipe_stats *s = &ctx->pipe.stats;
    int32_t r = s->rank, b = s->layer_begin, e = s->layer_end;
    memset(s, 0, sizeof *s);
    s->rank = r;
    s->layer_begin = b;
    s->layer_end = e;
}
