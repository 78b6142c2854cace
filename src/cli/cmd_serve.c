/* cmd_serve.c — `kaiyuan serve`: the OpenAI-compatible HTTP server (layer: cli).
 *
 * Parses the options into a srv_config and runs the server (src/server/server.h, itself a
 * client of kaiyuan.h only). The API key may come from a file so that it stays out of `ps`.
 * With --mpi under `mpirun -n R`, rank 0 runs the server over the first layers and ranks > 0
 * serve the rest of the pipeline (mpi_pipe.h) until rank 0 shuts down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "cli/cli.h"
#include "cli/mpi_pipe.h"
#include "server/server.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: kaiyuan serve -m MODEL [options]\n"
        "  --host ADDR           IPv4 address to bind (default 127.0.0.1)\n"
        "  --port N              TCP port (default 8080; 0 = any free port, printed)\n"
        "  --parallel N          sequences decoded together (default 4)\n"
        "  -c CTX                positions of EACH sequence (default: model's, at most 4096)\n"
        "  --api-key KEY         require Authorization: Bearer KEY (not on /health)\n"
        "  --api-key-file F      read the key from the first line of F\n"
        "  -t THREADS            threads (default: physical cores)\n"
        "  --queue N             requests waiting beyond --parallel before 429 (default 64)\n"
        "  --max-body BYTES      largest request body (default %u; larger: 413)\n"
        "  --alias NAME          served model name; other names get 404 model_not_found\n"
        "  --cache-slots N       retired sequences kept for the prefix cache (default 4)\n"
        "  --no-webui            do not serve the chat page at /\n"
        "  --cors ORIGIN         also allow this origin cross-origin (repeatable)\n"
        "  --prefill-chunk N     prompt tokens per decode step (default 256)\n"
        "  --spec ngram|none     prompt-lookup speculative decoding (default ngram): drafts\n"
        "                        from each sequence's own text, verified in the same batch;\n"
        "                        greedy output unchanged, sampling distribution preserved\n"
        "  --draft N             most drafted tokens per sequence and step (default 8, max %d)\n"
        "  --agent-port N        HAProxy agent-check port (0 = any free port, printed)\n"
        "  --mpi                 under mpirun -n R: split the model's layers across R ranks\n"
        "                        (rank 0 serves HTTP); all ranks take the same options\n"
        "  --layer-split A,B,..  layers per rank (default: by each host's MemAvailable; even\n"
        "                        on one host)\n"
        "  --pipe-ubatch N       tokens per pipeline micro-batch (default: a prefill in 2 x R,\n"
        "                        decode batches whole)\n"
        "Endpoints: POST /v1/chat/completions, /v1/completions, /tokenize, /detokenize;\n"
        "GET /v1/models, /health, /metrics. SIGTERM/SIGINT drain: in-flight requests end,\n"
        "new ones and /health get 503, then the server exits.\n",
        KY_SRV_DEFAULT_MAX_BODY, KY_SRV_MAX_DRAFT);
}

static char *read_key_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char buf[4096];
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!line) return NULL;
    buf[strcspn(buf, "\r\n")] = 0;
    return buf[0] ? strdup(buf) : NULL;
}

/* Rank > 0 of `serve --mpi`: its layers of the pipeline until rank 0 shuts down. SIGTERM and
 * SIGINT stay blocked (cli_mpi_init): mpirun passes them to every rank, and this rank must live
 * until rank 0 has drained its requests (the pipeline's shutdown then ends it). */
static int serve_stage(const srv_config *c) {
    ky_model_params mp = ky_model_default_params();
    mp.layer_begin = c->layer_begin;
    mp.layer_end = c->layer_end;
    ky_model *model = NULL;
    ky_context *ctx = NULL;
    ky_context_params cp;
    srv_context_params(c, &cp);
    int rc = 1;
    if (cli_load_model_params("serve", c->model_path, &mp, true, &model) &&
        cli_create_context("serve", model, &cp, true, &ctx)) {
        if (ky_pipe_serve(ctx) == KY_OK) {
            srv_print_pipe_stats(ctx, stderr);
            rc = 0;
        } else {
            fprintf(stderr, "kaiyuan serve: rank %d: %s\n", c->pipe->rank,
                    ky_context_last_error(ctx));
        }
    }
    ky_context_free(ctx);
    ky_model_free(model);
    return rc;
}

/* `serve --mpi`: plans the layer split with every rank, then rank 0 serves HTTP over its
 * pipeline context and the others run serve_stage. A failure on any rank ends the whole job. */
static int serve_mpi(srv_config *c, const char *split) {
    static cli_mpi mpi; /* the transport's state outlives the server's context */
    static char path[KY_STORE_PATH_MAX];
    int rc = cli_mpi_init("serve", &mpi);
    if (!rc) rc = cli_resolve_model("serve", c->model_path, path, sizeof path, true) ? 0 : 1;
    if (!rc) rc = cli_mpi_plan("serve", &mpi, path, split, false);
    if (rc) { /* every rank got here alike */
        cli_mpi_finalize();
        return rc;
    }
    c->model_path = path;
    c->pipe = &mpi.tr;
    c->layer_begin = mpi.layer_begin;
    c->layer_end = mpi.layer_end;
    rc = mpi.rank == 0 ? srv_run(c) : serve_stage(c);
    if (rc) cli_mpi_abort(rc); /* the other ranks may be waiting on this one */
    cli_mpi_finalize();
    return 0;
}

int cmd_serve(int argc, char **argv) {
    srv_config c;
    srv_config_default(&c);
    const char *key_file = NULL, *split = NULL;
    bool spec = true, use_mpi = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x = 0;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--no-webui")) {
            c.no_webui = true;
            continue;
        }
        if (!strcmp(a, "--mpi")) {
            use_mpi = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "kaiyuan serve: unknown option or missing value: '%s'\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            c.model_path = v;
        else if (!strcmp(a, "--host"))
            c.host = v;
        else if (!strcmp(a, "--api-key"))
            c.api_key = v;
        else if (!strcmp(a, "--api-key-file"))
            key_file = v;
        else if (!strcmp(a, "--layer-split"))
            split = v;
        else if (!strcmp(a, "--pipe-ubatch") && (ok = cli_parse_int("serve", a, v, 1, 1 << 16, &x)))
            c.pipe_ubatch = (int32_t)x;
        else if (!strcmp(a, "--alias"))
            c.alias = v;
        else if (!strcmp(a, "--cors")) {
            if (c.n_cors == KY_SRV_MAX_CORS) {
                fprintf(stderr, "kaiyuan serve: --cors: at most %d origins\n", KY_SRV_MAX_CORS);
                return 2;
            }
            if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
                fprintf(stderr,
                        "kaiyuan serve: --cors: '%s' is not an origin (http[s]://host[:port])\n",
                        v);
                return 2;
            }
            c.cors[c.n_cors++] = v;
        } else if (!strcmp(a, "--port") && (ok = cli_parse_int("serve", a, v, 0, 65535, &x)))
            c.port = (int)x;
        else if (!strcmp(a, "--parallel") &&
                 (ok = cli_parse_int("serve", a, v, 1, KY_SRV_MAX_PARALLEL, &x)))
            c.parallel = (int)x;
        else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx")) &&
                 (ok = cli_parse_int("serve", a, v, 0, KY_MAX_CTX, &x)))
            c.n_ctx = (int)x;
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) &&
                 (ok = cli_parse_int("serve", a, v, 1, KY_MAX_THREADS, &x)))
            c.threads = (int)x;
        else if (!strcmp(a, "--queue") &&
                 (ok = cli_parse_int("serve", a, v, 0, KY_SRV_MAX_QUEUE, &x)))
            c.queue = (int)x;
        else if (!strcmp(a, "--max-body") && (ok = cli_parse_int("serve", a, v, 1, 1ll << 30, &x)))
            c.max_body = (size_t)x;
        else if (!strcmp(a, "--cache-slots") &&
                 (ok = cli_parse_int("serve", a, v, 0, KY_SRV_MAX_CACHE_SLOTS, &x)))
            c.cache_slots = (int)x;
        else if (!strcmp(a, "--spec")) {
            if (strcmp(v, "ngram") && strcmp(v, "none")) {
                fprintf(stderr, "kaiyuan serve: --spec: expected ngram or none, got '%s'\n", v);
                return 2;
            }
            spec = !strcmp(v, "ngram");
        } else if (!strcmp(a, "--draft") &&
                   (ok = cli_parse_int("serve", a, v, 1, KY_SRV_MAX_DRAFT, &x)))
            c.draft = (int)x;
        else if (!strcmp(a, "--prefill-chunk") &&
                 (ok = cli_parse_int("serve", a, v, 1, 1 << 16, &x)))
            c.prefill_chunk = (int)x;
        else if (!strcmp(a, "--agent-port") && (ok = cli_parse_int("serve", a, v, 0, 65535, &x)))
            c.agent_port = (int)x;
        else if (ok) {
            fprintf(stderr, "kaiyuan serve: unknown option '%s'\n", a);
            return 2;
        }
        if (!ok) return 2;
    }
    if (!spec) c.draft = 0;
    if (!c.model_path) {
        fprintf(stderr, "kaiyuan serve: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    if (c.parallel + c.cache_slots > KY_MAX_SEQ) {
        fprintf(stderr, "kaiyuan serve: --parallel + --cache-slots must be at most %d\n",
                KY_MAX_SEQ);
        return 2;
    }
    char *key = NULL;
    if (key_file) {
        if (c.api_key) {
            fprintf(stderr, "kaiyuan serve: give --api-key or --api-key-file, not both\n");
            return 2;
        }
        if (!(key = read_key_file(key_file))) {
            fprintf(stderr, "kaiyuan serve: --api-key-file %s: cannot read a key\n", key_file);
            return 2;
        }
        c.api_key = key;
    }
    if (c.api_key && !c.api_key[0]) c.api_key = NULL;
    if (!use_mpi && (split || c.pipe_ubatch)) {
        fprintf(stderr, "kaiyuan serve: --layer-split and --pipe-ubatch need --mpi\n");
        free(key);
        return 2;
    }
    int rc = use_mpi ? serve_mpi(&c, split) : srv_run(&c);
    free(key);
    return rc;
}
