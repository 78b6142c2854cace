/* server.h — entry point of the OpenAI-compatible HTTP server (layer: server).
 *
 * The CLI's `kaiyuan serve` fills a srv_config and calls srv_run. Like kaiyuan.h, this header
 * exposes no engine internals: the server is a client of kaiyuan.h only.
 */
#ifndef KY_SERVER_SERVER_H
#define KY_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "base/limits.h"
#include "kaiyuan.h"

typedef struct srv_config {
    const char *model_path; /* GGUF file (required) */
    const char *host;       /* IPv4 address to bind, default "127.0.0.1" */
    int port;               /* 0: any free port (printed) */
    int parallel;           /* sequences decoding together */
    int n_ctx;              /* positions of each sequence; 0: the model's (at most 4096) */
    const char *api_key;    /* NULL: no authentication */
    int threads;            /* 0: physical cores */
    int queue;              /* requests waiting beyond --parallel before 429 */
    size_t max_body;        /* bytes of a request body before 413 */
    const char *alias;      /* served model name; NULL: the file's base name, any name accepted */
    int cache_slots;        /* retired sequences kept for the prefix cache */
    int prefill_chunk;      /* prompt tokens per decode step */
    bool no_webui;          /* do not serve the chat page at / */
    int draft;              /* prompt-lookup speculation: most drafted tokens per sequence and
                               step (adaptive below that); 0: off */
    const char *cors[KY_SRV_MAX_CORS]; /* origins allowed cross-origin (besides the same origin) */
    int n_cors;
    int agent_port; /* HAProxy agent-check port (agent.h): -1 off, 0 any free port (printed) */
    /* Pipeline rank 0 (`serve --mpi`): the engine's context runs layers [layer_begin,
     * layer_end) and sends the rest through pipe (NULL: the whole model in this process). */
    const ky_pipe_transport *pipe;
    int32_t layer_begin, layer_end;
    int32_t pipe_ubatch; /* tokens per pipeline micro-batch, 0 = automatic */
} srv_config;

/* Defaults: 127.0.0.1:8080, parallel 4, n_ctx 0, queue 64, max_body 8 MiB, cache_slots 4,
 * prefill_chunk 256, draft 8, no agent port. */
void srv_config_default(srv_config *c);

/* The context parameters the server's engine uses for c (n_ctx, sequences = parallel +
 * cache_slots, n_batch = prefill_chunk + parallel × (1 + draft), threads, pipe): a pipeline's
 * other ranks create theirs with the same values. */
void srv_context_params(const srv_config *c, ky_context_params *out);

/* Prints a pipeline rank's counters (ky_pipe_get_stats) as one line on out: "kaiyuan: pipe rank
 * R layers [b, e): prefill N batches ... busy S wait S bubble P%; decode ...". */
void srv_print_pipe_stats(const ky_context *ctx, FILE *out);

/* Loads the model (on the engine thread), serves until SIGTERM/SIGINT, drains in-flight requests
 * (at most KY_SRV_DRAIN_S seconds; meanwhile the port stays open, /health answers 503, new API
 * requests get 503 with Connection: close and the agent port says "drain"; the process exits
 * when the last in-flight request is done) and returns the exit status: 0 after a signal, 1 when
 * the model cannot be loaded or the socket cannot be bound (message on stderr). Prints the
 * listening address ("kaiyuan serve: listening on http://HOST:PORT") and the KV cache size on
 * stderr. Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread. */
int srv_run(const srv_config *c);

#endif
