/* context.h — the state behind a ky_context, shared by context_api.c (contexts, decode, KV
 * calls) and pipe.c (pipeline stages) (layer: engine).
 */
#ifndef KY_ENGINE_CONTEXT_H
#define KY_ENGINE_CONTEXT_H

#include "engine/engine.h"
#include "model/forward.h"

/* Pipeline state of one rank (engine/pipe.c); unused (pipe.on false) in a plain context. */
typedef struct ky_pipe {
    bool on;
    bool shut;            /* rank 0: shutdown sent */
    ky_pipe_transport tr; /* copy of the caller's transport */
    int32_t ubatch;       /* tokens per micro-batch, 0 = automatic */
    uint8_t *msg;         /* [msg_cap] one micro-batch message (header, ids, hidden states) */
    size_t msg_cap;
    bool *want; /* [n_ubatch] logit flags of a received micro-batch */
    ky_pipe_stats stats;
} ky_pipe;

struct ky_context {
    ky_model *model;
    ky_context_params params;
    ky_fwd fwd;
    int32_t *next_pos; /* [n_seq_max] scratch for batch validation */
    char last_error[KY_ERROR_MAX];
    ky_pipe pipe;
};

/* Records a message in ctx->last_error and returns st. */
ky_status ky_ctx_fail(ky_context *ctx, ky_status st, const char *fmt, ...) KY_PRINTF(3, 4);

/* Sets up the pipeline state of a new context (ctx->params.pipe not NULL, fwd initialized) and
 * runs the creation handshake; fills err on failure (the caller frees the context). */
ky_status ky_pipe_init(ky_context *ctx, ky_error *err);
/* Frees the pipeline state (after ky_pipe_shutdown on rank 0). */
void ky_pipe_free(ky_context *ctx);
/* Rank 0: ky_decode of a validated batch through the pipeline. Message in last_error. */
ky_status ky_pipe_decode(ky_context *ctx, const ky_batch *batch);
/* Rank 0: forwards one KV operation (applied locally by the caller) to the other ranks. op is
 * one of the KV commands in pipe.c; a, b, c its arguments. */
ky_status ky_pipe_kv(ky_context *ctx, int32_t op, int32_t a, int32_t b, int32_t c);

enum { KY_PIPE_KV_KEEP = 1, KY_PIPE_KV_COPY = 2, KY_PIPE_KV_CLEAR = 3 };

#endif
