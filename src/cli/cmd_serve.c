/* cmd_serve.c — `kaiyuan serve`: the OpenAI-compatible HTTP server (layer: cli).
 *
 * Parses the options into a srv_config and runs the server (src/server/server.h, itself a
 * client of kaiyuan.h only). The API key may come from a file so that it stays out of `ps`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "cli/cli.h"
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

int cmd_serve(int argc, char **argv) {
    srv_config c;
    srv_config_default(&c);
    const char *key_file = NULL;
    bool spec = true;
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
    int rc = srv_run(&c);
    free(key);
    return rc;
}
