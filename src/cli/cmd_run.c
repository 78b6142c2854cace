/* cmd_run.c — `kaiyuan run`: generate from a text prompt or token ids, streaming text to stdout
 * (layer: cli; uses kaiyuan.h only).
 *
 * The prompt is evaluated in batches of up to n_batch tokens (logits for the last one only), then
 * tokens are sampled and decoded one at a time until -n tokens or an end-of-generation token.
 * Text is streamed through the UTF-8-safe detokenizer; --json prints one object at the end
 * instead. A summary and timings go to stderr unless --quiet.
 *
 * Constrained generation: --grammar FILE (GBNF), --json-schema FILE (JSON Schema) or --json-mode
 * (any JSON object) masks every token the grammar does not allow before sampling; end-of-
 * generation tokens are allowed only where the grammar may end. (--json is the output format.)
 *
 * End-of-generation tokens (EOS, EOT, <|im_end|>, ...) are not text: neither the stream nor the
 * JSON "text" contains their pieces (also with --ignore-eos). The JSON "ids" are every sampled
 * token, so they end with the end-of-generation token that stopped the run (if one did).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/strbuf.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: kaiyuan run -m MODEL (-p TEXT | --ids 1,2,3) [options]\n"
        "  -n N                   tokens to generate (default 256)\n"
        "  --temp T               temperature; 0 = greedy (default 0.8)\n"
        "  --top-k K              keep the K most likely tokens (default 40; 0 = off)\n"
        "  --top-p P              nucleus sampling (default 0.95; 1 = off)\n"
        "  --min-p P              drop tokens below P × the best probability (default 0.05)\n"
        "  --repeat-penalty R     penalize recent tokens (default 1.0 = off)\n"
        "  --repeat-last-n N      window of the penalties (default 64)\n"
        "  --frequency-penalty F  --presence-penalty P   (default 0 = off)\n"
        "  --seed S               random seed (default: from the clock; printed)\n"
        "  -t THREADS             threads (default: physical cores)\n"
        "  -c CTX                 context positions (default: model's, at most 4096)\n"
        "  -b N                   prompt batch size (default 512)\n"
        "  --kv-type f16|f32      KV cache type (default f16)\n"
        "  --no-bos               do not prepend BOS to -p text\n"
        "  --special              parse special tokens (e.g. <|im_start|>) in -p text\n"
        "  --ignore-eos           keep generating after end-of-generation tokens\n"
        "  --spec ngram|off       speculative decoding from the context: drafts copied from\n"
        "                         earlier text are verified in one batch (default off; greedy\n"
        "                         output is identical, sampling keeps the same distribution)\n"
        "  --draft N              most drafted tokens per step (default 8)\n"
        "  --json                 print {\"prompt_ids\", \"ids\", \"text\"} instead of streaming;\n"
        "                         ids include the end-of-generation token that stopped the run,\n"
        "                         text (like the stream) never has end-of-generation pieces\n"
        "  --grammar FILE         constrain the output to a GBNF grammar (root rule 'root')\n"
        "  --json-schema FILE     constrain the output to JSON valid for a JSON Schema\n"
        "  --json-mode            constrain the output to one JSON object (any keys)\n"
        "  --quiet                no summary or timings on stderr\n");
}

typedef struct run_opts {
    const char *model, *prompt, *ids, *grammar, *schema;
    long long n_predict, threads, n_ctx, n_batch, seed, top_k, last_n, draft;
    double temp, top_p, min_p, repeat, freq, presence;
    uint32_t kv_type;
    bool json, quiet, no_bos, special, ignore_eos, seed_set, spec, json_mode;
} run_opts;

/* Returns 0 on success, else the exit status. */
static int parse_args(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 256;
    o->n_batch = 512;
    o->top_k = 40;
    o->last_n = 64;
    o->temp = 0.8;
    o->top_p = 0.95;
    o->min_p = 0.05;
    o->repeat = 1.0;
    o->kv_type = KY_TYPE_F16;
    o->draft = 8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--json"))
            o->json = true;
        else if (!strcmp(a, "--quiet"))
            o->quiet = true;
        else if (!strcmp(a, "--no-bos"))
            o->no_bos = true;
        else if (!strcmp(a, "--special"))
            o->special = true;
        else if (!strcmp(a, "--ignore-eos"))
            o->ignore_eos = true;
        else if (!strcmp(a, "--json-mode"))
            o->json_mode = true;
        else if (!v) {
            fprintf(stderr, "kaiyuan run: unknown option or missing value: '%s'\n", a);
            return 2;
        } else {
            i++;
            if (!strcmp(a, "-m") || !strcmp(a, "--model"))
                o->model = v;
            else if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
                o->prompt = v;
            else if (!strcmp(a, "--ids"))
                o->ids = v;
            else if (!strcmp(a, "--grammar"))
                o->grammar = v;
            else if (!strcmp(a, "--json-schema"))
                o->schema = v;
            else if (!strcmp(a, "-n"))
                ok = cli_parse_int("run", a, v, 0, 1 << 24, &o->n_predict);
            else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
                ok = cli_parse_int("run", a, v, 1, 256, &o->threads);
            else if (!strcmp(a, "-c") || !strcmp(a, "--ctx"))
                ok = cli_parse_int("run", a, v, 1, 1 << 22, &o->n_ctx);
            else if (!strcmp(a, "-b") || !strcmp(a, "--batch"))
                ok = cli_parse_int("run", a, v, 1, 1 << 16, &o->n_batch);
            else if (!strcmp(a, "--seed")) {
                ok = cli_parse_int("run", a, v, 0, INT64_MAX, &o->seed);
                o->seed_set = true;
            } else if (!strcmp(a, "--top-k"))
                ok = cli_parse_int("run", a, v, 0, 1 << 24, &o->top_k);
            else if (!strcmp(a, "--repeat-last-n"))
                ok = cli_parse_int("run", a, v, -1, 1 << 24, &o->last_n);
            else if (!strcmp(a, "--temp"))
                ok = cli_parse_float("run", a, v, &o->temp);
            else if (!strcmp(a, "--top-p"))
                ok = cli_parse_float("run", a, v, &o->top_p);
            else if (!strcmp(a, "--min-p"))
                ok = cli_parse_float("run", a, v, &o->min_p);
            else if (!strcmp(a, "--repeat-penalty"))
                ok = cli_parse_float("run", a, v, &o->repeat);
            else if (!strcmp(a, "--frequency-penalty"))
                ok = cli_parse_float("run", a, v, &o->freq);
            else if (!strcmp(a, "--presence-penalty"))
                ok = cli_parse_float("run", a, v, &o->presence);
            else if (!strcmp(a, "--draft"))
                ok = cli_parse_int("run", a, v, 1, 64, &o->draft);
            else if (!strcmp(a, "--spec")) {
                if (!strcmp(v, "ngram"))
                    o->spec = true;
                else if (!strcmp(v, "off"))
                    o->spec = false;
                else {
                    fprintf(stderr, "kaiyuan run: --spec: '%s' is not ngram or off\n", v);
                    return 2;
                }
            } else if (!strcmp(a, "--kv-type"))
                ok = cli_parse_kv_type("run", v, &o->kv_type);
            else {
                fprintf(stderr, "kaiyuan run: unknown option '%s'\n", a);
                return 2;
            }
        }
        if (!ok) return 2;
    }
    if (!o->model || (!o->prompt && !o->ids) || (o->prompt && o->ids)) {
        fprintf(stderr, "kaiyuan run: -m MODEL and exactly one of -p TEXT or --ids are required\n");
        usage(stderr);
        return 2;
    }
    if (o->spec && (o->grammar || o->schema || o->json_mode)) {
        fprintf(stderr, "kaiyuan run: --spec ngram cannot be combined with a grammar\n");
        return 2;
    }
    if ((o->grammar != NULL) + (o->schema != NULL) + o->json_mode > 1) {
        fprintf(stderr, "kaiyuan run: use at most one of --grammar, --json-schema, --json-mode\n");
        return 2;
    }
    if (o->temp < 0) {
        fprintf(stderr, "kaiyuan run: --temp: %g is negative (use 0 for greedy)\n", o->temp);
        return 2;
    }
    return 0;
}

/* Tokenizes the -p text; returns false (with a message) on failure. */
static bool tokenize_prompt(const ky_model *model, const run_opts *o, ky_token **out,
                            size_t *n_out) {
    if (strcmp(ky_vocab_kind(model), "none") == 0) {
        fprintf(stderr, "kaiyuan run: %s has no tokenizer; pass token ids with --ids\n", o->model);
        return false;
    }
    unsigned flags = (o->special ? KY_TOKENIZE_PARSE_SPECIAL : 0u) |
                     (!o->no_bos && ky_vocab_add_bos(model) ? KY_TOKENIZE_ADD_BOS : 0u);
    size_t len = strlen(o->prompt), n = 0;
    ky_status st = ky_tokenize(model, o->prompt, len, flags, NULL, 0, &n);
    if (st != KY_OK && st != KY_ERR_INVALID_ARG) {
        fprintf(stderr, "kaiyuan run: cannot tokenize the prompt: %s\n", ky_status_name(st));
        return false;
    }
    ky_token *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids || ky_tokenize(model, o->prompt, len, flags, ids, n, &n) != KY_OK) {
        fprintf(stderr, "kaiyuan run: cannot tokenize the prompt\n");
        free(ids);
        return false;
    }
    *out = ids;
    *n_out = n;
    return true;
}

/* Text of the generated ids as it reads after the prompt: decodes prompt + generation and skips
 * the decoded prompt (*skip bytes), so spacing rules see the real preceding token.
 * End-of-generation tokens are left out, as the stream leaves them out. *text is malloc'd
 * (caller frees). */
static bool generated_text(const ky_model *model, const ky_token *prompt, size_t n_prompt,
                           const ky_token *gen, size_t n_gen, char **text, size_t *len,
                           size_t *skip) {
    ky_token *all = malloc((n_prompt + n_gen + 1) * sizeof *all);
    if (!all) return false;
    memcpy(all, prompt, n_prompt * sizeof *all);
    size_t n = n_prompt;
    for (size_t i = 0; i < n_gen; i++)
        if (!ky_vocab_is_eog(model, gen[i])) all[n++] = gen[i];
    size_t n_all = 0, n_pre = 0;
    ky_detokenize(model, all, n, 0, NULL, 0, &n_all);
    ky_detokenize(model, all, n_prompt, 0, NULL, 0, &n_pre);
    char *buf = malloc(n_all + 1);
    bool ok = buf && ky_detokenize(model, all, n, 0, buf, n_all + 1, &n_all) == KY_OK;
    free(all);
    if (!ok) {
        free(buf);
        return false;
    }
    buf[n_all] = '\0';
    *text = buf;
    *len = n_all;
    *skip = n_pre <= n_all ? n_pre : n_all;
    return true;
}

/* Builds the matcher for --grammar / --json-schema / --json-mode; returns the exit status on
 * failure (2: bad grammar or file, 1: runtime), 0 on success (*out NULL without a grammar). */
static int make_matcher(const ky_model *model, const run_opts *o, ky_grammar **g,
                        ky_grammar_vocab **v, ky_grammar_matcher **out) {
    *out = NULL;
    if (!o->grammar && !o->schema && !o->json_mode) return 0;
    ky_error err;
    ky_status st;
    if (o->json_mode) {
        st = ky_grammar_json(g, &err);
    } else {
        const char *path = o->grammar ? o->grammar : o->schema;
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "kaiyuan run: cannot open %s\n", path);
            return 2;
        }
        ky_strbuf sb;
        ky_strbuf_init(&sb);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) ky_strbuf_append(&sb, buf, n);
        fclose(f);
        if (sb.failed) {
            ky_strbuf_free(&sb);
            fprintf(stderr, "kaiyuan run: out of memory\n");
            return 1;
        }
        if (o->grammar)
            st = ky_grammar_from_gbnf(sb.data ? sb.data : "", sb.len, g, &err);
        else
            st = ky_grammar_from_json_schema(sb.data ? sb.data : "", sb.len, g, &err);
        ky_strbuf_free(&sb);
        if (st != KY_OK) {
            fprintf(stderr, "kaiyuan run: %s: %s\n", path, err.message);
            return st == KY_ERR_NOMEM ? 1 : 2;
        }
    }
    if (st != KY_OK) {
        fprintf(stderr, "kaiyuan run: %s\n", err.message);
        return 1;
    }
    if (ky_grammar_vocab_create(model, v, &err) != KY_OK ||
        ky_grammar_matcher_create(*g, *v, NULL, out, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan run: %s\n", err.message);
        return err.status == KY_ERR_NOMEM ? 1 : 2;
    }
    if (!o->quiet)
        fprintf(stderr, "kaiyuan: grammar ready in %.3f s\n",
                ky_grammar_matcher_build_seconds(*out));
    return 0;
}

/* Streams one generated token: its text (end-of-generation tokens print nothing) or, for a model
 * without a tokenizer, its id. */
typedef struct emit_state {
    const ky_model *model;
    ky_detok_stream *stream;
    bool has_vocab, json;
    size_t n_emitted;
} emit_state;

static void emit(emit_state *es, ky_token tok, bool eog) {
    es->n_emitted++;
    if (es->stream && !eog) {
        const char *piece;
        size_t plen;
        if (ky_detok_stream_push(es->stream, tok, &piece, &plen) == KY_OK && plen) {
            fwrite(piece, 1, plen, stdout);
            fflush(stdout);
        }
    } else if (!es->has_vocab && !es->json) {
        printf("%s%d", es->n_emitted > 1 ? " " : "", tok);
        fflush(stdout);
    }
}

/* Samples from logits; with a matcher only grammar-allowed tokens, and the token advances it.
 * KY_TOKEN_NULL (message printed) when the grammar leaves no token or exceeds its limits. */
static ky_token sample_tok(ky_sampler *s, const float *lg, ky_grammar_matcher *m, uint32_t *mask,
                           double *t_mask, size_t *n_mask) {
    if (!m) return ky_sampler_sample(s, lg);
    double t0 = ky_time_now();
    if (ky_grammar_matcher_fill_mask(m, mask, ky_grammar_mask_words(m)) != KY_OK) {
        fprintf(stderr, "\nkaiyuan run: the grammar exceeded the matcher's limits\n");
        return KY_TOKEN_NULL;
    }
    *t_mask += ky_time_now() - t0;
    (*n_mask)++;
    ky_token t = ky_sampler_sample_masked(s, lg, mask);
    if (t == KY_TOKEN_NULL || ky_grammar_matcher_accept_token(m, t) != KY_OK) {
        fprintf(stderr, "\nkaiyuan run: no token satisfies the grammar\n");
        return KY_TOKEN_NULL;
    }
    return t;
}

static void json_ids(ky_strbuf *sb, const ky_token *ids, size_t n) {
    ky_strbuf_puts(sb, "[");
    for (size_t i = 0; i < n; i++) ky_strbuf_printf(sb, "%s%d", i ? ", " : "", ids[i]);
    ky_strbuf_puts(sb, "]");
}

int cmd_run(int argc, char **argv) {
    run_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) return prc < 0 ? 0 : prc;

    int rc = 1;
    ky_model *model = NULL;
    ky_context *ctx = NULL;
    ky_sampler *smpl = NULL;
    ky_detok_stream *stream = NULL;
    ky_grammar *grammar = NULL;
    ky_grammar_vocab *gvocab = NULL;
    ky_grammar_matcher *matcher = NULL;
    uint32_t *mask = NULL;
    double t_mask = 0;
    size_t n_mask = 0;
    ky_batch batch = {0};
    ky_token *prompt = NULL, *gen = NULL, *hist = NULL;
    size_t n_prompt = 0, n_gen = 0;
    char *text = NULL;
    ky_strbuf sb;
    ky_strbuf_init(&sb);

    if (!cli_load_model("run", o.model, false, o.quiet, &model)) goto done;
    ky_model_info mi;
    ky_model_get_info(model, &mi);
    bool has_vocab = strcmp(ky_vocab_kind(model), "none") != 0;
    if (o.ids) {
        if (!cli_parse_ids("run", "--ids", o.ids, &prompt, &n_prompt)) {
            rc = 2;
            goto done;
        }
    } else if (!tokenize_prompt(model, &o, &prompt, &n_prompt)) {
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "kaiyuan run: the prompt is empty (no tokens to start from)\n");
        rc = 2;
        goto done;
    }
    if (!cli_check_ids("run", prompt, n_prompt, mi.n_vocab)) {
        rc = 2;
        goto done;
    }

    if (o.grammar || o.schema || o.json_mode) {
        if (!has_vocab) {
            fprintf(stderr, "kaiyuan run: constrained generation needs a model with a tokenizer\n");
            rc = 2;
            goto done;
        }
        int grc = make_matcher(model, &o, &grammar, &gvocab, &matcher);
        if (grc) {
            rc = grc;
            goto done;
        }
        mask = malloc(ky_grammar_mask_words(matcher) * sizeof *mask);
        if (!mask) {
            fprintf(stderr, "kaiyuan run: out of memory\n");
            goto done;
        }
    }

    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = (int32_t)o.n_ctx;
    cp.n_batch = (int32_t)o.n_batch;
    cp.n_threads = (int32_t)o.threads;
    cp.kv_type = o.kv_type;
    if (!cli_create_context("run", model, &cp, o.quiet, &ctx)) goto done;
    int32_t n_ctx = ky_context_n_ctx(ctx);
    if ((long long)n_prompt + o.n_predict > n_ctx) {
        fprintf(stderr,
                "kaiyuan run: the prompt (%zu tokens) plus -n %lld exceeds the context of "
                "%d positions (raise -c, at most the model's %d)\n",
                n_prompt, o.n_predict, n_ctx, mi.n_ctx_train);
        rc = 2;
        goto done;
    }

    ky_sampler_params sp = ky_sampler_default_params();
    sp.temperature = (float)o.temp;
    sp.top_k = (int32_t)o.top_k;
    sp.top_p = (float)o.top_p;
    sp.min_p = (float)o.min_p;
    sp.repeat_penalty = (float)o.repeat;
    sp.frequency_penalty = (float)o.freq;
    sp.presence_penalty = (float)o.presence;
    sp.penalty_last_n = (int32_t)o.last_n;
    sp.seed = o.seed_set ? (uint64_t)o.seed : (uint64_t)time(NULL);
    ky_error err;
    if (ky_sampler_create(&sp, mi.n_vocab, &smpl, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan run: %s\n", err.message);
        rc = 2;
        goto done;
    }
    if (!o.quiet && o.temp > 0)
        fprintf(stderr, "kaiyuan: sampling with seed %" PRIu64 "\n", sp.seed);
    for (size_t i = 0; i < n_prompt; i++) ky_sampler_accept(smpl, prompt[i]);
    if (has_vocab && !o.json) {
        if (ky_detok_stream_create(model, 0, &stream) != KY_OK) {
            fprintf(stderr, "kaiyuan run: out of memory\n");
            goto done;
        }
        /* Prime the decoder with the prompt (output discarded) so the first generated piece gets
         * the spacing it has after the prompt, not the one of a text's first token. */
        for (size_t i = 0; i < n_prompt; i++) {
            const char *piece;
            size_t plen;
            ky_detok_stream_push(stream, prompt[i], &piece, &plen);
        }
    }
    int32_t n_batch = ky_context_n_batch(ctx);
    gen = malloc((size_t)(o.n_predict ? o.n_predict : 1) * sizeof *gen);
    if (!gen || ky_batch_init(&batch, n_batch) != KY_OK) {
        fprintf(stderr, "kaiyuan run: out of memory\n");
        goto done;
    }

    double t0 = ky_time_now();
    for (size_t i = 0; i < n_prompt; i += (size_t)n_batch) {
        ky_batch_clear(&batch);
        size_t end = i + (size_t)n_batch < n_prompt ? i + (size_t)n_batch : n_prompt;
        for (size_t j = i; j < end; j++)
            ky_batch_add(&batch, prompt[j], (int32_t)j, 0, j == n_prompt - 1);
        if (ky_decode(ctx, &batch) != KY_OK) {
            fprintf(stderr, "kaiyuan run: %s\n", ky_context_last_error(ctx));
            goto done;
        }
    }
    double t1 = ky_time_now();
    const float *logits = ky_get_logits(ctx, batch.n_tokens - 1);
    int32_t pos = (int32_t)n_prompt;
    /* Generation. With --spec ngram, each step also verifies up to k tokens drafted from the
     * text so far (prompt + generation): one batch carries the last token and the drafts, the
     * batch-exact kernels make each position's logits equal to one-by-one decoding, and the
     * sampler accepts drafts by the speculative rule, so the output is what plain decoding gives
     * (greedy: the same tokens). Rejected drafts are dropped from the KV cache. */
    hist = malloc((n_prompt + (size_t)o.n_predict + 1) * sizeof *hist);
    if (!hist) {
        fprintf(stderr, "kaiyuan run: out of memory\n");
        goto done;
    }
    memcpy(hist, prompt, n_prompt * sizeof *hist);
    size_t n_hist = n_prompt;
    emit_state es = {model, stream, has_vocab, o.json, 0};
    ky_token draft[64], tok = sample_tok(smpl, logits, matcher, mask, &t_mask, &n_mask);
    if (tok == KY_TOKEN_NULL && matcher) goto done;
    long long drafted = 0, accepted = 0, steps = 0;
    int32_t k_cur = (int32_t)o.draft, backoff = 0, misses = 0;
    for (;;) {
        ky_sampler_accept(smpl, tok);
        gen[n_gen++] = tok;
        hist[n_hist++] = tok;
        bool eog = has_vocab && ky_vocab_is_eog(model, tok);
        emit(&es, tok, eog);
        if ((eog && !o.ignore_eos) || (long long)n_gen == o.n_predict) break;
        size_t k = 0;
        if (o.spec && backoff > 0) {
            backoff--;
        } else if (o.spec) {
            long long room = o.n_predict - (long long)n_gen - 1;
            if (room > k_cur) room = k_cur;
            if (room > n_ctx - pos - 1) room = n_ctx - pos - 1;
            if (room > n_batch - 1) room = n_batch - 1;
            if (room > 0) k = ky_draft_ngram(hist, n_hist, 2, 5, draft, (size_t)room);
        }
        ky_batch_clear(&batch);
        ky_batch_add(&batch, tok, pos, 0, true);
        for (size_t i = 0; i < k; i++)
            ky_batch_add(&batch, draft[i], pos + 1 + (int32_t)i, 0, true);
        if (ky_decode(ctx, &batch) != KY_OK) {
            fprintf(stderr, "\nkaiyuan run: %s\n", ky_context_last_error(ctx));
            goto done;
        }
        steps++;
        size_t m = 0;
        bool stop = false;
        ky_token next = KY_TOKEN_NULL;
        for (size_t i = 0;; i++) {
            const float *lg = ky_get_logits(ctx, (int32_t)i);
            if (i == k) {
                next = sample_tok(smpl, lg, matcher, mask, &t_mask, &n_mask);
                if (next == KY_TOKEN_NULL && matcher) goto done;
                break;
            }
            bool ok = false;
            next = ky_sampler_sample_draft(smpl, lg, draft[i], &ok);
            if (!ok) break;
            m++; /* an accepted draft is a generated token */
            ky_sampler_accept(smpl, next);
            gen[n_gen++] = next;
            hist[n_hist++] = next;
            bool e = has_vocab && ky_vocab_is_eog(model, next);
            emit(&es, next, e);
            if ((e && !o.ignore_eos) || (long long)n_gen == o.n_predict) {
                stop = true;
                break;
            }
        }
        pos += 1 + (int32_t)m;
        if (m < k && !stop) ky_kv_seq_keep(ctx, 0, pos);
        drafted += (long long)k;
        accepted += (long long)m;
        if (k > 0) { /* adapt: grow after full acceptance, back off after repeated misses */
            k_cur = m == k ? (k_cur + 2 < o.draft ? k_cur + 2 : (int32_t)o.draft)
                           : (m + 1 > 2 ? (int32_t)m + 1 : 2);
            misses = m == 0 ? misses + 1 : 0;
            if (misses >= 2) backoff = misses * 4 < 64 ? misses * 4 : 64;
        }
        if (stop) break;
        tok = next;
    }
    double t2 = ky_time_now();
    if (stream) {
        const char *piece;
        size_t plen;
        if (ky_detok_stream_flush(stream, &piece, &plen) == KY_OK && plen)
            fwrite(piece, 1, plen, stdout);
        fputc('\n', stdout);
    } else if (!has_vocab && !o.json) {
        fputc('\n', stdout);
    }
    fflush(stdout); /* the text ends before the timings on stderr */
    if (o.json) {
        size_t tlen = 0, skip = 0;
        if (has_vocab &&
            !generated_text(model, prompt, n_prompt, gen, n_gen, &text, &tlen, &skip)) {
            fprintf(stderr, "kaiyuan run: cannot decode the generated tokens\n");
            goto done;
        }
        ky_strbuf_puts(&sb, "{\"prompt_ids\": ");
        json_ids(&sb, prompt, n_prompt);
        ky_strbuf_puts(&sb, ", \"ids\": ");
        json_ids(&sb, gen, n_gen);
        ky_strbuf_puts(&sb, ", \"text\": ");
        if (has_vocab)
            ky_strbuf_json_string(&sb, text + skip, tlen - skip);
        else
            ky_strbuf_puts(&sb, "null");
        ky_strbuf_puts(&sb, "}\n");
        if (sb.failed) {
            fprintf(stderr, "kaiyuan run: out of memory\n");
            goto done;
        }
        fwrite(sb.data, 1, sb.len, stdout);
    }
    if (!o.quiet) {
        double pp = t1 - t0, tg = t2 - t1;
        size_t n_tg = n_gen > 1 ? n_gen - 1 : 0; /* decode steps after the prompt */
        fprintf(stderr,
                "kaiyuan: prompt %zu tokens in %.3f s (%.2f tok/s); generated %zu tokens in "
                "%.3f s (%.2f tok/s)\n",
                n_prompt, pp, pp > 0 ? (double)n_prompt / pp : 0.0, n_gen, tg,
                tg > 0 ? (double)n_tg / tg : 0.0);
        if (matcher)
            fprintf(stderr, "kaiyuan: grammar masks: %zu, mean %.1f us%s\n", n_mask,
                    n_mask ? t_mask * 1e6 / (double)n_mask : 0.0,
                    ky_grammar_matcher_is_finished(matcher) || ky_grammar_matcher_can_end(matcher)
                        ? ""
                        : " (stopped before the grammar could end)");
        if (o.spec)
            fprintf(stderr,
                    "kaiyuan: speculation: %lld drafted, %lld accepted (%.1f%%), %lld decode steps "
                    "for %zu tokens\n",
                    drafted, accepted, drafted ? 100.0 * (double)accepted / (double)drafted : 0.0,
                    steps, n_gen);
    }
    rc = 0;
done:
    fflush(stdout);
    ky_strbuf_free(&sb);
    free(text);
    free(prompt);
    free(gen);
    free(hist);
    ky_batch_free(&batch);
    ky_detok_stream_free(stream);
    free(mask);
    ky_grammar_matcher_free(matcher);
    ky_grammar_vocab_free(gvocab);
    ky_grammar_free(grammar);
    ky_sampler_free(smpl);
    ky_context_free(ctx);
    ky_model_free(model);
    return rc;
}
