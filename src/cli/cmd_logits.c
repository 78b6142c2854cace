/* cmd_logits.c — `kaiyuan logits`: evaluate token ids in one batch and print the logits of every
 * position as JSON (layer: cli; uses kaiyuan.h only).
 *
 * Output: {"n_vocab": V, "logits": [row, ...]} with one row per position — the full row, or with
 * --top K the K best as [id, logit] pairs, best first (ties: lower id first). Default KV type f32,
 * matching how the shared llama.cpp references were produced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kaiyuan logits -m MODEL --ids 1,2,3 [--top K] [--kv-type f32|f16] "
               "[-t THREADS] [--quiet]\n"
               "  Evaluates the ids in one batch and prints {\"n_vocab\": V, \"logits\": [...]}, "
               "one row per position.\n");
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
    long long top = 0, threads = 0;
    uint32_t kv_type = KY_TYPE_F32;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
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
    ky_token *ids;
    size_t n_ids;
    if (!cli_parse_ids("logits", "--ids", ids_arg, &ids, &n_ids)) return 2;

    int rc = 1;
    ky_model *model = NULL;
    ky_context *ctx = NULL;
    ky_batch batch = {0};
    int32_t *idx = NULL;
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    if (!cli_load_model("logits", model_path, false, quiet, &model)) goto done;
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
    if (!cli_create_context("logits", model, &cp, quiet, &ctx)) goto done;
    if (ky_batch_init(&batch, (int32_t)n_ids) != KY_OK) {
        fprintf(stderr, "kaiyuan logits: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n_ids; i++) ky_batch_add(&batch, ids[i], (int32_t)i, 0, true);
    double t0 = ky_time_now();
    if (ky_decode(ctx, &batch) != KY_OK) {
        fprintf(stderr, "kaiyuan logits: %s\n", ky_context_last_error(ctx));
        goto done;
    }
    if (!quiet)
        fprintf(stderr, "kaiyuan: evaluated %zu tokens in %.3f s\n", n_ids, ky_time_now() - t0);
    int32_t n_vocab = mi.n_vocab;
    if (top > n_vocab) top = n_vocab;
    if (top > 0 && !(idx = malloc((size_t)top * sizeof *idx))) {
        fprintf(stderr, "kaiyuan logits: out of memory\n");
        goto done;
    }
    ky_strbuf_printf(&sb, "{\"n_vocab\": %d, \"logits\": [", n_vocab);
    for (size_t i = 0; i < n_ids; i++) {
        const float *row = ky_get_logits(ctx, (int32_t)i);
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
    free(idx);
    free(ids);
    ky_batch_free(&batch);
    ky_context_free(ctx);
    ky_model_free(model);
    return rc;
}
