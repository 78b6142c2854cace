/* cmd_tokenize.c — `kaiyuan tokenize`: text → token ids as JSON, and a tokenizer throughput
 * benchmark (layer: cli; uses kaiyuan.h only).
 *
 * Defaults follow llama.cpp's test vectors: no BOS, no special-token parsing. Output is one JSON
 * array of ids, or [[id, "text"], ...] with --pieces (the token's raw vocabulary text, e.g.
 * "Ġhello" or "<0xE4>": a decoded piece can be a fragment of a UTF-8 character). --bench
 * tokenizes the input repeatedly and prints {bytes, n_tokens, reps, seconds_min,
 * seconds_median, mb_per_s}, the same object as bench/peer/peer.mjs tokenize-bench.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: kaiyuan tokenize -m MODEL (--text TEXT | --file PATH) [options]\n"
        "  --parse-special   match special tokens (<|im_start|>, <think>, ...) in the text\n"
        "  --add-bos         prepend the BOS token\n"
        "  --pieces          print [[id, \"piece\"], ...]: a piece is the token's raw vocabulary\n"
        "                    text (\"Ġhello\", \"▁He\", \"<0xE4>\"), not its decoded bytes\n"
        "                    (those can be an incomplete UTF-8 character)\n"
        "  --bench           time tokenization instead of printing ids (JSON summary)\n"
        "  --reps N          repetitions of --bench (default 5)\n");
}

/* Tokenizes text into *ids, allocated here (free it; *cap is its size), and sets *n. One pass in
 * the common case: len + 2 ids hold every byte-level BPE result without NFC (at most one token
 * per byte, + BOS) and every SentencePiece result whose vocabulary has a ▁ piece (one token per
 * byte, + the ▁ prefix, + BOS). NFC can lengthen text (U+1D160 is 4 bytes, its NFC 12) and SPM
 * byte fallback spells a missing ▁ as three tokens, so when the count says the buffer was
 * short, the text is tokenized again into one of the exact size. */
static ky_status tokenize_all(const ky_model *model, const char *text, size_t len, unsigned flags,
                              ky_token **ids, size_t *cap, size_t *n) {
    *cap = len < SIZE_MAX / sizeof **ids - 2 ? len + 2 : 0;
    *ids = *cap ? malloc(*cap * sizeof **ids) : NULL;
    if (!*ids) return KY_ERR_NOMEM;
    ky_status st = ky_tokenize(model, text, len, flags, *ids, *cap, n);
    if (st == KY_ERR_INVALID_ARG && *n > *cap) {
        ky_token *bigger = realloc(*ids, *n * sizeof **ids);
        if (!bigger) return KY_ERR_NOMEM;
        *ids = bigger;
        *cap = *n;
        st = ky_tokenize(model, text, len, flags, *ids, *cap, n);
    }
    return st;
}

/* What a tokenization failure status means to the user. */
static const char *failure(ky_status st) {
    if (st == KY_ERR_UNSUPPORTED) return "the file has no tokenizer";
    if (st == KY_ERR_INVALID_ARG) return "input too large for one tokenize call";
    if (st == KY_ERR_NOMEM) return "out of memory";
    return ky_status_name(st);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench(const ky_model *model, const char *text, size_t len, unsigned flags, int reps) {
    ky_token *ids = NULL;
    double *secs = malloc((size_t)reps * sizeof *secs);
    size_t n = 0, cap = 0;
    ky_status st = secs ? tokenize_all(model, text, len, flags, &ids, &cap, &n) /* warm-up */
                        : KY_ERR_NOMEM;
    for (int r = 0; r < reps && st == KY_OK; r++) {
        double t0 = ky_time_now();
        st = ky_tokenize(model, text, len, flags, ids, cap, &n);
        secs[r] = ky_time_now() - t0;
    }
    if (st != KY_OK) {
        fprintf(stderr, "kaiyuan tokenize: tokenization failed: %s\n", failure(st));
        free(ids);
        free(secs);
        return 1;
    }
    qsort(secs, (size_t)reps, sizeof *secs, cmp_double);
    double med = reps % 2 ? secs[reps / 2] : (secs[reps / 2 - 1] + secs[reps / 2]) / 2;
    printf("{\"bytes\":%zu,\"n_tokens\":%zu,\"reps\":%d,\"seconds_min\":%.9f,"
           "\"seconds_median\":%.9f,\"mb_per_s\":%.3f}\n",
           len, n, reps, secs[0], med, secs[0] > 0 ? (double)len / 1e6 / secs[0] : 0.0);
    free(ids);
    free(secs);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *text = NULL, *file = NULL;
    bool pieces = false, do_bench = false;
    unsigned flags = 0;
    long long reps = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--text") && has_val) {
            text = argv[++i];
        } else if (!strcmp(a, "--file") && has_val) {
            file = argv[++i];
        } else if (!strcmp(a, "--parse-special")) {
            flags |= KY_TOKENIZE_PARSE_SPECIAL;
        } else if (!strcmp(a, "--add-bos")) {
            flags |= KY_TOKENIZE_ADD_BOS;
        } else if (!strcmp(a, "--pieces")) {
            pieces = true;
        } else if (!strcmp(a, "--bench")) {
            do_bench = true;
        } else if (!strcmp(a, "--reps") && has_val) {
            if (!cli_parse_int("tokenize", "--reps", argv[++i], 1, 100000, &reps)) return 2;
        } else {
            fprintf(stderr, "kaiyuan tokenize: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || (!text) == (!file)) {
        fprintf(stderr, "kaiyuan tokenize: need -m MODEL and exactly one of --text, --file\n\n");
        usage(stderr);
        return 2;
    }
    size_t len = 0;
    char *owned = NULL;
    if (file) {
        if (!(owned = cli_read_file("tokenize", file, &len))) return 1;
        text = owned;
    } else {
        len = strlen(text);
    }
    char resolved[KY_STORE_PATH_MAX];
    if (!cli_resolve_model("tokenize", model_path, resolved, sizeof resolved, false)) {
        free(owned);
        return 1;
    }
    model_path = resolved;
    ky_model_params params = ky_model_default_params();
    params.vocab_only = true;
    ky_model *model = NULL;
    ky_error err;
    ky_status st = ky_model_load(model_path, &params, &model, &err);
    if (st != KY_OK) {
        fprintf(stderr, "kaiyuan tokenize: %s\n", err.message);
        free(owned);
        return 1;
    }
    int rc = 1;
    ky_token *ids = NULL;
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    if (do_bench) {
        rc = bench(model, text, len, flags, (int)reps);
        goto done;
    }
    size_t n = 0, cap = 0;
    st = tokenize_all(model, text, len, flags, &ids, &cap, &n);
    if (st != KY_OK) {
        fprintf(stderr, "kaiyuan tokenize: %s: %s\n", model_path, failure(st));
        goto done;
    }
    ky_strbuf_puts(&sb, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) ky_strbuf_puts(&sb, ", ");
        if (pieces) {
            size_t tl;
            const char *t = ky_vocab_token_text(model, ids[i], &tl);
            ky_strbuf_printf(&sb, "[%d, ", ids[i]);
            ky_strbuf_json_string(&sb, t ? t : "", tl);
            ky_strbuf_puts(&sb, "]");
        } else {
            ky_strbuf_printf(&sb, "%d", ids[i]);
        }
    }
    ky_strbuf_puts(&sb, "]\n");
    if (sb.failed) {
        fprintf(stderr, "kaiyuan tokenize: out of memory\n");
        goto done;
    }
    fwrite(sb.data, 1, sb.len, stdout);
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    ky_strbuf_free(&sb);
    free(ids);
    free(owned);
    ky_model_free(model);
    return rc;
}
