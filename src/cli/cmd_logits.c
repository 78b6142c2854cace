/* cmd_logits.c — `kaiyuan logits`: evaluate token ids in one batch and print the logits of every
 * position as JSON (layer: cli; uses kaiyuan.h only).
 *
 * Output: {"n_vocab": V, "logits": [row, ...]} with one row per position — the full row, or with
 * --top K the K best as [id, logit] pairs, best first (ties: lower id first). Default KV type f32,
 * matching how the shared llama.cpp references were produced. --steps N evaluates the last N ids
 * one decode call each (prefill, then decode steps; same output). With --mpi under `mpirun -n R`
 * the model's layers are split across the R ranks (mpi_pipe.h): rank 0 prints, the others serve
 * their layers.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "cli/cli.h"
#include "cli/mpi_pipe.h"
#include "server/server.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kaiyuan logits -m MODEL --ids 1,2,3 [--top K] [--kv-type f32|f16] "
               "[-t THREADS] [--steps N] [--quiet]\n"
               "       [--mpi [--layer-split A,B,...] [--pipe-ubatch N] [--pipe-stats]]\n"
               "  Evaluates the ids in one batch and prints {\"n_vocab\": V, \"logits\": [...]}, "
               "one row per position.\n"
               "  --steps N        evaluate the last N ids one decode call each\n"
               "  --mpi            under mpirun -n R: split the layers across the R ranks\n"
               "  --layer-split    layers per rank (default: by each host's free memory; even on "
               "one host)\n"
               "  --pipe-ubatch N  tokens per pipeline micro-batch (default: prefill\n"
               "                   in 2 x R, decode batches whole)\n"
               "  --pipe-stats     print each rank's busy/wait time (the bubble) on stderr\n");
}

/* Appends the k best (id, logit) pairs of row, best first, as JSON. */
static void append_top(ky_strbuf *sb, const float *row, int32_t n_vocab, int32_t k, int32_t *idx) {
    int32_t n = 0; /* idx[0..n) sorted by logit descending, then id ascending */
    for (int32_t id = 0; id < n_vocab; id++) {
        float v = row[id];
        if (n == k && !(v > row[idx[n - 1]])) continue;
        int32_t j = n < k ? n++ : k - 1;
        while (j > 0 && v > row[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = id;
    }
    ky_strbuf_puts(sb, "[");
    for (int32_t j = 0; j < n; j++)
        ky_strbuf_printf(sb, "%s[%d, %.9g]", j ? ", " : "", idx[j], row[idx[j]]);
    ky_strbuf_puts(sb, "]");
}

int cmd_logits(int argc, char **argv) {
    const char *model_path = NULL, *ids_arg = NULL;
    const char *split = NULL;
    long long top = 0, threads = 0, steps = 0, pipe_ubatch = 0;
    uint32_t kv_type = KY_TYPE_F32;
    bool quiet = false, use_mpi = false, pipe_stats = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--mpi")) {
            use_mpi = true;
        } else if (!strcmp(a, "--pipe-stats")) {
            pipe_stats = true;
        } else if (!has_val) {
            fprintf(stderr, "kaiyuan logits: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--ids")) {
            ids_arg = argv[++i];
        } else if (!strcmp(a, "--top")) {
            if (!cli_parse_int("logits", a, argv[++i], 1, 1 << 24, &top)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int("logits", a, argv[++i], 1, 256, &threads)) return 2;
        } else if (!strcmp(a, "--steps")) {
            if (!cli_parse_int("logits", a, argv[++i], 0, 1 << 24, &steps)) return 2;
        } else if (!strcmp(a, "--pipe-ubatch")) {
            if (!cli_parse_int("logits", a, argv[++i], 1, 1 << 16, &pipe_ubatch)) return 2;
        } else if (!strcmp(a, "--layer-split")) {
            split = argv[++i];
        } else if (!strcmp(a, "--kv-type")) {
            if (!cli_parse_kv_type("logits", argv[++i], &kv_type)) return 2;
        } else {
            fprintf(stderr, "kaiyuan logits: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || !ids_arg) {
        fprintf(stderr, "kaiyuan logits: -m MODEL and --ids are required\n");
        usage(stderr);
        return 2;
    }
    if (!use_mpi && (split || pipe_ubatch || pipe_stats)) {
        fprintf(stderr,
                "kaiyuan logits: --layer-split, --pipe-ubatch and --pipe-stats need --mpi\n");
        return 2;
    }
    ky_token *ids;
    size_t n_ids;
    if (!cli_parse_ids("logits", "--ids", ids_arg, &ids, &n_ids)) return 2;
    if ((size_t)steps >= n_ids) {
        fprintf(stderr, "kaiyuan logits: --steps %lld leaves no ids for the first batch\n", steps);
        free(ids);
        return 2;
    }
    cli_mpi mpi;
    if (use_mpi) {
        char path[KY_STORE_PATH_MAX];
        int prc = cli_mpi_init("logits", &mpi);
        if (!prc) prc = cli_resolve_model("logits", model_path, path, sizeof path, true) ? 0 : 1;
        if (!prc) prc = cli_mpi_plan("logits", &mpi, path, split, quiet);
        if (prc) { /* every rank got here alike: end MPI normally */
            free(ids);
            cli_mpi_finalize();
            return prc;
        }
        quiet = quiet || mpi.rank != 0;
        sigset_t set; /* the default action of SIGTERM / SIGINT again, in this thread */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }

    int rc = 1;
    ky_model *model = NULL;
    ky_context *ctx = NULL;
    ky_batch batch = {0};
    int32_t *idx = NULL;
    float *rows = NULL; /* [n_ids][n_vocab] */
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    ky_model_params mp = ky_model_default_params();
    if (use_mpi) {
        mp.layer_begin = mpi.layer_begin;
        mp.layer_end = mpi.layer_end;
    }
    if (!cli_load_model_params("logits", model_path, &mp, quiet, &model)) goto done;
    ky_model_info mi;
    ky_model_get_info(model, &mi);
    if (!cli_check_ids("logits", ids, n_ids, mi.n_vocab)) {
        rc = 2;
        goto done;
    }
    if (n_ids > (size_t)mi.n_ctx_train) {
        fprintf(stderr, "kaiyuan logits: %zu ids exceed the model's context of %d\n", n_ids,
                mi.n_ctx_train);
        rc = 2;
        goto done;
    }
    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = (int32_t)n_ids;
    cp.n_batch = (int32_t)n_ids;
    cp.n_threads = (int32_t)threads;
    cp.kv_type = kv_type;
    if (use_mpi) {
        cp.pipe = &mpi.tr;
        cp.pipe_ubatch = (int32_t)pipe_ubatch;
    }
    if (!cli_create_context("logits", model, &cp, quiet, &ctx)) goto done;
    if (use_mpi && mpi.rank != 0) { /* a stage: serve rank 0's batches until it is done */
        if (ky_pipe_serve(ctx) != KY_OK) {
            fprintf(stderr, "kaiyuan logits: rank %d: %s\n", mpi.rank, ky_context_last_error(ctx));
            goto done;
        }
        if (pipe_stats) srv_print_pipe_stats(ctx, stderr);
        rc = 0;
        goto done;
    }
    if (ky_batch_init(&batch, (int32_t)n_ids) != KY_OK) {
        fprintf(stderr, "kaiyuan logits: out of memory\n");
        goto done;
    }
    int32_t n_vocab = mi.n_vocab;
    /* Prefill of the first n_ids - steps ids, then one decode call per remaining id; each call's
     * logits are copied out before the next. */
    size_t n_pre = n_ids - (size_t)steps;
    if (!(rows = malloc(n_ids * (size_t)n_vocab * sizeof *rows))) {
        fprintf(stderr, "kaiyuan logits: out of memory\n");
        goto done;
    }
    double t0 = ky_time_now(), t_pre = 0;
    for (size_t i0 = 0; i0 < n_ids;) {
        size_t n = i0 == 0 ? n_pre : 1;
        ky_batch_clear(&batch);
        for (size_t i = i0; i < i0 + n; i++) ky_batch_add(&batch, ids[i], (int32_t)i, 0, true);
        if (ky_decode(ctx, &batch) != KY_OK) {
            fprintf(stderr, "kaiyuan logits: %s\n", ky_context_last_error(ctx));
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            memcpy(rows + (i0 + i) * (size_t)n_vocab, ky_get_logits(ctx, (int32_t)i),
                   (size_t)n_vocab * sizeof *rows);
        if (i0 == 0) t_pre = ky_time_now() - t0;
        i0 += n;
    }
    if (!quiet) {
        double t_all = ky_time_now() - t0;
        fprintf(stderr, "kaiyuan: evaluated %zu tokens in %.3f s (prefill %zu in %.3f s", n_ids,
                t_all, n_pre, t_pre);
        if (steps)
            fprintf(stderr, ", %lld decode steps at %.2f tok/s", steps,
                    (double)steps / (t_all - t_pre));
        fprintf(stderr, ")\n");
    }
    if (use_mpi && pipe_stats) srv_print_pipe_stats(ctx, stderr);
    if (top > n_vocab) top = n_vocab;
    if (top > 0 && !(idx = malloc((size_t)top * sizeof *idx))) {
        fprintf(stderr, "kaiyuan logits: out of memory\n");
        goto done;
    }
    ky_strbuf_printf(&sb, "{\"n_vocab\": %d, \"logits\": [", n_vocab);
    for (size_t i = 0; i < n_ids; i++) {
        const float *row = rows + i * (size_t)n_vocab;
        ky_strbuf_puts(&sb, i ? ",\n" : "\n");
        if (top > 0) {
            append_top(&sb, row, n_vocab, (int32_t)top, idx);
        } else {
            ky_strbuf_puts(&sb, "[");
            for (int32_t v = 0; v < n_vocab; v++)
                ky_strbuf_printf(&sb, "%s%.9g", v ? ", " : "", row[v]);
            ky_strbuf_puts(&sb, "]");
        }
    }
    ky_strbuf_puts(&sb, "]}\n");
    if (sb.failed) {
        fprintf(stderr, "kaiyuan logits: out of memory formatting the output\n");
        goto done;
    }
    fwrite(sb.data, 1, sb.len, stdout);
    rc = 0;
done:
    ky_strbuf_free(&sb);
    free(rows);
    free(idx);
    free(ids);
    ky_batch_free(&batch);
    if (use_mpi && rc != 0) cli_mpi_abort(rc); /* the other ranks may be waiting on this one */
    ky_context_free(ctx); /* rank 0: also ends the other ranks' ky_pipe_serve */
    ky_model_free(model);
    if (use_mpi) cli_mpi_finalize();
    return rc;
}
