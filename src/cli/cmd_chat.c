/* cmd_chat.c — `kaiyuan chat`: a multi-turn chat REPL over the model's own chat template
 * (layer: cli; uses kaiyuan.h only, plus libedit and jansson).
 *
 * Each turn renders the whole conversation with the template, tokenizes it (special tokens only
 * from template text) and prefills only what follows the longest common prefix with the KV
 * cache, so a long conversation costs its new tokens only. Answers stream as they are decoded;
 * Qwen3-style <think> blocks print dim (or not at all with --hide-think). On a terminal, lines
 * are read with libedit (history, editing); Ctrl-C stops an answer, and twice at the prompt
 * exits. Without a terminal, every input line is one user message (or all input with --single).
 * Prompt-lookup speculation (--spec ngram, the default) drafts tokens from the conversation's own
 * text and verifies them in the answer's decode steps, as `run --spec` and `serve` do: greedy
 * answers are unchanged, sampled ones keep their distribution.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#include "base/strbuf.h"
#include "cli/cli.h"

static volatile sig_atomic_t g_interrupted; /* Ctrl-C during an answer */
static volatile sig_atomic_t g_at_prompt;   /* reading a line: a second Ctrl-C exits */
static volatile sig_atomic_t g_prompt_sigints;

static void on_sigint(int sig) {
    (void)sig;
    if (g_at_prompt) {
        if (++g_prompt_sigints >= 2) {
            static const char bye[] = "\n";
            if (write(STDOUT_FILENO, bye, sizeof bye - 1) < 0) _exit(0);
            _exit(0);
        }
        static const char hint[] = "\n(Ctrl-C again to exit, or /exit)\n";
        if (write(STDOUT_FILENO, hint, sizeof hint - 1) < 0) return;
        return;
    }
    g_interrupted = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: kaiyuan chat -m MODEL [options]\n"
            "  -s, --system TEXT      system prompt\n"
            "  --no-think             ask Qwen3-style models not to think (enable_thinking=false)\n"
            "  --hide-think           do not print <think> blocks\n"
            "  -n N                   most tokens per answer (default 2048)\n"
            "  --temp T  --top-k K  --top-p P  --min-p P  --repeat-penalty R  --repeat-last-n N\n"
            "  --frequency-penalty F  --presence-penalty P  --seed S   (as for run)\n"
            "  -t THREADS  -c CTX  --kv-type f16|f32\n"
            "  --spec ngram|none      prompt-lookup speculative decoding (default ngram)\n"
            "  --draft N              most drafted tokens per step (default 8, at most 16)\n"
            "  --single               (no terminal) read all input as one message\n"
            "  --quiet                no model summary or per-turn timings on stderr\n"
            "commands: /reset  /system TEXT  /exit  /help\n");
}

enum { CHAT_MAX_DRAFT = 16 };

typedef struct chat_opts {
    const char *model, *system;
    long long n_predict, threads, n_ctx, seed, top_k, last_n, draft;
    double temp, top_p, min_p, repeat, freq, presence;
    uint32_t kv_type;
    bool no_think, hide_think, single, quiet, seed_set;
} chat_opts;

static int parse_args(int argc, char **argv, chat_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 2048;
    o->top_k = 40;
    o->last_n = 64;
    o->temp = 0.7;
    o->top_p = 0.9;
    o->min_p = 0.05;
    o->repeat = 1.0;
    o->kv_type = KY_TYPE_F16;
    o->draft = 8;
    bool spec = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--no-think"))
            o->no_think = true;
        else if (!strcmp(a, "--hide-think"))
            o->hide_think = true;
        else if (!strcmp(a, "--single"))
            o->single = true;
        else if (!strcmp(a, "--quiet"))
            o->quiet = true;
        else if (!v) {
            fprintf(stderr, "kaiyuan chat: unknown option or missing value: '%s'\n", a);
            return 2;
        } else {
            i++;
            if (!strcmp(a, "-m") || !strcmp(a, "--model"))
                o->model = v;
            else if (!strcmp(a, "-s") || !strcmp(a, "--system"))
                o->system = v;
            else if (!strcmp(a, "-n"))
                ok = cli_parse_int("chat", a, v, 1, 1 << 24, &o->n_predict);
            else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
                ok = cli_parse_int("chat", a, v, 1, 256, &o->threads);
            else if (!strcmp(a, "-c") || !strcmp(a, "--ctx"))
                ok = cli_parse_int("chat", a, v, 16, 1 << 22, &o->n_ctx);
            else if (!strcmp(a, "--seed")) {
                ok = cli_parse_int("chat", a, v, 0, INT64_MAX, &o->seed);
                o->seed_set = true;
            } else if (!strcmp(a, "--top-k"))
                ok = cli_parse_int("chat", a, v, 0, 1 << 24, &o->top_k);
            else if (!strcmp(a, "--repeat-last-n"))
                ok = cli_parse_int("chat", a, v, -1, 1 << 24, &o->last_n);
            else if (!strcmp(a, "--temp"))
                ok = cli_parse_float("chat", a, v, &o->temp);
            else if (!strcmp(a, "--top-p"))
                ok = cli_parse_float("chat", a, v, &o->top_p);
            else if (!strcmp(a, "--min-p"))
                ok = cli_parse_float("chat", a, v, &o->min_p);
            else if (!strcmp(a, "--repeat-penalty"))
                ok = cli_parse_float("chat", a, v, &o->repeat);
            else if (!strcmp(a, "--frequency-penalty"))
                ok = cli_parse_float("chat", a, v, &o->freq);
            else if (!strcmp(a, "--presence-penalty"))
                ok = cli_parse_float("chat", a, v, &o->presence);
            else if (!strcmp(a, "--kv-type"))
                ok = cli_parse_kv_type("chat", v, &o->kv_type);
            else if (!strcmp(a, "--draft"))
                ok = cli_parse_int("chat", a, v, 1, CHAT_MAX_DRAFT, &o->draft);
            else if (!strcmp(a, "--spec")) {
                if (strcmp(v, "ngram") && strcmp(v, "none")) {
                    fprintf(stderr, "kaiyuan chat: --spec: expected ngram or none, got '%s'\n", v);
                    return 2;
                }
                spec = !strcmp(v, "ngram");
            } else {
                fprintf(stderr, "kaiyuan chat: unknown option '%s'\n", a);
                return 2;
            }
        }
        if (!ok) return 2;
    }
    if (!spec) o->draft = 0;
    if (!o->model) {
        fprintf(stderr, "kaiyuan chat: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    if (o->temp < 0) {
        fprintf(stderr, "kaiyuan chat: --temp: %g is negative (use 0 for greedy)\n", o->temp);
        return 2;
    }
    return 0;
}

typedef struct chat {
    chat_opts o;
    ky_model *model;
    ky_context *ctx;
    ky_sampler *smpl;
    ky_chat_template *tmpl;
    bool tty;
    json_t *messages;
    ky_token *cache; /* tokens whose KV is in sequence 0 */
    size_t n_cache, cap_cache;
    ky_token *stops;
    size_t n_stops;
    ky_token think_open, think_close;
    ky_batch batch;
    int turn;
} chat;

static ky_token single_token(const ky_model *m, const char *text) {
    ky_token ids[4];
    size_t n = 0;
    if (ky_tokenize(m, text, strlen(text), KY_TOKENIZE_PARSE_SPECIAL, ids, 4, &n) != KY_OK ||
        n != 1)
        return KY_TOKEN_NULL;
    return ky_vocab_token_attr(m, ids[0]) == KY_TOKEN_NORMAL ? KY_TOKEN_NULL : ids[0];
}

static bool is_stop(const chat *c, ky_token t) {
    for (size_t i = 0; i < c->n_stops; i++)
        if (c->stops[i] == t) return true;
    return false;
}

static void reset_conversation(chat *c) {
    json_array_clear(c->messages);
    if (c->o.system && *c->o.system) {
        json_t *m = json_pack("{s:s, s:s}", "role", "system", "content", c->o.system);
        json_array_append_new(c->messages, m);
    }
}

static bool cache_push(chat *c, ky_token t) {
    if (c->n_cache == c->cap_cache) {
        size_t cap = c->cap_cache ? c->cap_cache * 2 : 1024;
        ky_token *n = realloc(c->cache, cap * sizeof *n);
        if (!n) return false;
        c->cache = n;
        c->cap_cache = cap;
    }
    c->cache[c->n_cache++] = t;
    return true;
}

/* Renders the conversation with a generation prompt into ids (malloc'd). Falls back to ChatML
 * (with a warning) when the model's template fails on it. */
static bool render(chat *c, ky_token **ids, size_t *n) {
    json_t *vars = json_pack("{s:O, s:b}", "messages", c->messages, "add_generation_prompt", 1);
    if (c->o.no_think) json_object_set_new(vars, "enable_thinking", json_false());
    char *js = json_dumps(vars, JSON_COMPACT);
    json_decref(vars);
    if (!js) return false;
    ky_chat_prompt *p = NULL;
    ky_error err;
    ky_status st = ky_chat_render(c->tmpl, c->model, js, strlen(js), 0, &p, &err);
    if (st) {
        fprintf(stderr,
                "kaiyuan chat: warning: the chat template failed: %s; falling back to ChatML\n",
                err.message);
        ky_chat_template_free(c->tmpl);
        c->tmpl = NULL;
        if (ky_chat_template_chatml(&c->tmpl, &err) == KY_OK)
            st = ky_chat_render(c->tmpl, c->model, js, strlen(js), 0, &p, &err);
        if (st) fprintf(stderr, "kaiyuan chat: %s\n", err.message);
    }
    free(js);
    if (st) return false;
    st = ky_chat_prompt_tokenize(p, c->model, ids, n, &err);
    ky_chat_prompt_free(p);
    if (st) fprintf(stderr, "kaiyuan chat: %s\n", err.message);
    return st == KY_OK;
}

/* Records answer token t: sampler history, the printed text (dim inside <think>, nothing of it
 * with --hide-think) and the answer kept for the conversation. */
static void show_token(chat *c, ky_detok_stream *ds, ky_token t, ky_strbuf *answer,
                       bool *thinking) {
    const char *dim = c->tty ? "\x1b[2m" : "", *undim = c->tty ? "\x1b[0m" : "";
    ky_sampler_accept(c->smpl, t);
    const char *piece;
    size_t plen = 0;
    ky_detok_stream_push(ds, t, &piece, &plen);
    if (t == c->think_open) {
        *thinking = true;
        if (!c->o.hide_think) fputs(dim, stdout);
    }
    if (plen && !(*thinking && c->o.hide_think)) fwrite(piece, 1, plen, stdout);
    ky_strbuf_append(answer, piece, plen);
    if (t == c->think_close) {
        *thinking = false;
        if (!c->o.hide_think) fputs(undim, stdout);
    }
    fflush(stdout);
}

/* One user turn: render, reuse the cached prefix, prefill, stream the answer. Returns false only
 * on a fatal error. */
static bool turn(chat *c, const char *user) {
    json_array_append_new(c->messages, json_pack("{s:s, s:s}", "role", "user", "content", user));
    ky_token *ids = NULL;
    size_t n = 0;
    if (!render(c, &ids, &n)) {
        json_array_remove(c->messages, json_array_size(c->messages) - 1);
        return true;
    }
    int32_t n_ctx = ky_context_n_ctx(c->ctx);
    if (n + 1 > (size_t)n_ctx) {
        fprintf(stderr,
                "kaiyuan chat: the conversation is %zu tokens, more than the context of %d "
                "positions allows with an answer; /reset or raise -c\n",
                n, n_ctx);
        json_array_remove(c->messages, json_array_size(c->messages) - 1);
        free(ids);
        return true;
    }
    size_t lcp = 0;
    while (lcp < n && lcp < c->n_cache && ids[lcp] == c->cache[lcp]) lcp++;
    if (lcp == n) lcp--; /* recompute the last token: its logits start the answer */
    ky_kv_seq_keep(c->ctx, 0, (int32_t)lcp);
    c->n_cache = lcp;
    ky_sampler_reset(c->smpl);
    for (size_t i = 0; i < n; i++) ky_sampler_accept(c->smpl, ids[i]);
    double t0 = ky_time_now();
    int32_t n_batch = ky_context_n_batch(c->ctx);
    for (size_t i = lcp; i < n; i += (size_t)n_batch) {
        ky_batch_clear(&c->batch);
        size_t end = i + (size_t)n_batch < n ? i + (size_t)n_batch : n;
        for (size_t j = i; j < end; j++) ky_batch_add(&c->batch, ids[j], (int32_t)j, 0, j == n - 1);
        if (ky_decode(c->ctx, &c->batch) != KY_OK) {
            fprintf(stderr, "kaiyuan chat: %s\n", ky_context_last_error(c->ctx));
            free(ids);
            return false;
        }
        for (size_t j = i; j < end; j++) cache_push(c, ids[j]);
    }
    double t1 = ky_time_now();
    ky_detok_stream *ds = NULL;
    if (ky_detok_stream_create(c->model, 0, &ds) != KY_OK) {
        free(ids);
        return false;
    }
    for (size_t i = 0; i < n; i++) { /* prime spacing with the prompt */
        const char *piece;
        size_t plen;
        ky_detok_stream_push(ds, ids[i], &piece, &plen);
    }
    ky_strbuf answer;
    ky_strbuf_init(&answer);
    const float *logits = ky_get_logits(c->ctx, c->batch.n_tokens - 1);
    int32_t pos = (int32_t)n;
    size_t n_gen = 0;
    bool thinking = false, stopped = false, full = false;
    g_interrupted = 0;
    /* Each step decodes the last token and up to k drafts (the tokens that followed the latest
     * earlier match of the text's last 2-5 tokens); the sampler verifies the drafts in order and
     * the rejected tail leaves the KV cache. k adapts to the acceptance. */
    ky_token draft[CHAT_MAX_DRAFT];
    int32_t k_cur = (int32_t)c->o.draft, misses = 0, backoff = 0;
    long long drafted = 0, accepted = 0;
    ky_token t = ky_sampler_sample(c->smpl, logits);
    for (;;) {
        if (g_interrupted) {
            stopped = true;
            break;
        }
        if (t == KY_TOKEN_NULL || is_stop(c, t)) break;
        show_token(c, ds, t, &answer, &thinking);
        if ((long long)++n_gen >= c->o.n_predict) break;
        if (pos + 1 > n_ctx) {
            full = true;
            break;
        }
        cache_push(c, t); /* the drafter reads the text through t */
        size_t k = 0;
        if (c->o.draft > 0 && backoff > 0) {
            backoff--;
        } else if (c->o.draft > 0) {
            long long room = k_cur;
            if (room > c->o.n_predict - (long long)n_gen - 1)
                room = c->o.n_predict - (long long)n_gen - 1;
            if (room > n_ctx - pos - 2) room = n_ctx - pos - 2;
            if (room > n_batch - 1) room = n_batch - 1;
            if (room > 0) k = ky_draft_ngram(c->cache, c->n_cache, 2, 5, draft, (size_t)room);
        }
        ky_batch_clear(&c->batch);
        ky_batch_add(&c->batch, t, pos, 0, true);
        for (size_t i = 0; i < k; i++)
            ky_batch_add(&c->batch, draft[i], pos + 1 + (int32_t)i, 0, true);
        if (ky_decode(c->ctx, &c->batch) != KY_OK) {
            fprintf(stderr, "\nkaiyuan chat: %s\n", ky_context_last_error(c->ctx));
            c->n_cache--;
            break;
        }
        pos++;
        size_t m = 0;
        bool end = false;
        for (size_t i = 0;; i++) {
            const float *lg = ky_get_logits(c->ctx, (int32_t)i);
            if (i == k) {
                t = ky_sampler_sample(c->smpl, lg);
                break;
            }
            bool ok = false;
            t = ky_sampler_sample_draft(c->smpl, lg, draft[i], &ok);
            if (!ok) break;
            if (is_stop(c, t) || g_interrupted) { /* an accepted draft that ends the answer */
                end = true;
                stopped = g_interrupted;
                break;
            }
            m++; /* an accepted draft is an answer token with its KV computed */
            show_token(c, ds, t, &answer, &thinking);
            cache_push(c, t);
            pos++;
            if ((long long)++n_gen >= c->o.n_predict) {
                end = true;
                break;
            }
        }
        if (k > 0) {
            if (m < k) ky_kv_seq_keep(c->ctx, 0, pos);
            drafted += (long long)k;
            accepted += (long long)m;
            k_cur = m == k ? (k_cur + 2 < c->o.draft ? k_cur + 2 : (int32_t)c->o.draft)
                           : (m + 1 > 2 ? (int32_t)m + 1 : 2);
            misses = m == 0 ? misses + 1 : 0;
            if (misses >= 2) backoff = misses * 4 < 64 ? misses * 4 : 64;
        }
        if (end) break;
    }
    const char *piece;
    size_t plen;
    if (ky_detok_stream_flush(ds, &piece, &plen) == KY_OK && plen) {
        if (!(thinking && c->o.hide_think)) fwrite(piece, 1, plen, stdout);
        ky_strbuf_append(&answer, piece, plen);
    }
    if (thinking && !c->o.hide_think) fputs(c->tty ? "\x1b[0m" : "", stdout);
    fputc('\n', stdout);
    if (stopped) fputs(c->tty ? "\x1b[2m[stopped]\x1b[0m\n" : "[stopped]\n", stdout);
    if (full)
        fprintf(stderr, "kaiyuan chat: the context is full (%d positions); /reset to start over\n",
                n_ctx);
    fflush(stdout);
    double t2 = ky_time_now();
    c->turn++;
    if (!c->o.quiet)
        fprintf(stderr,
                "kaiyuan: turn %d: prompt %zu tokens (reused %zu, prefilled %zu) in %.3f s; "
                "generated %zu tokens in %.3f s (%.2f tok/s); drafted %lld, accepted %lld\n",
                c->turn, n, lcp, n - lcp, t1 - t0, n_gen, t2 - t1,
                t2 > t1 ? (double)n_gen / (t2 - t1) : 0.0, drafted, accepted);
    json_array_append_new(c->messages, json_pack("{s:s, s:s%}", "role", "assistant", "content",
                                                 answer.data ? answer.data : "", answer.len));
    ky_strbuf_free(&answer);
    ky_detok_stream_free(ds);
    free(ids);
    g_interrupted = 0;
    return true;
}

/* Handles a /command; returns false for /exit. */
static bool command(chat *c, const char *line) {
    if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) return false;
    if (!strcmp(line, "/reset")) {
        reset_conversation(c);
        printf("(conversation cleared)\n");
    } else if (!strncmp(line, "/system", 7) && (line[7] == ' ' || line[7] == 0)) {
        const char *s = line[7] ? line + 8 : "";
        free((char *)c->o.system);
        c->o.system = strdup(s);
        reset_conversation(c);
        printf("(system prompt set; conversation cleared)\n");
    } else if (!strcmp(line, "/help")) {
        printf("/reset  clear the conversation\n/system TEXT  set the system prompt "
               "(clears)\n/exit  quit\nCtrl-C stops an answer; twice at the prompt quits.\n");
    } else {
        printf("unknown command %s (try /help)\n", line);
    }
    fflush(stdout);
    return true;
}

static char *read_all(FILE *f, size_t *len) {
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) ky_strbuf_append(&sb, buf, got);
    if (sb.failed) {
        ky_strbuf_free(&sb);
        return NULL;
    }
    *len = sb.len;
    return sb.data ? sb.data : strdup("");
}

static int repl(chat *c) {
    if (!c->tty) {
        if (c->o.single) {
            size_t len;
            char *all = read_all(stdin, &len);
            if (!all) return 1;
            while (len && (all[len - 1] == '\n' || all[len - 1] == '\r')) all[--len] = 0;
            bool ok = len == 0 || turn(c, all);
            free(all);
            return ok ? 0 : 1;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t r;
        while ((r = getline(&line, &cap, stdin)) >= 0) {
            while (r > 0 && (line[r - 1] == '\n' || line[r - 1] == '\r')) line[--r] = 0;
            if (r == 0) continue;
            if (line[0] == '/') {
                if (!command(c, line)) break;
                continue;
            }
            if (!turn(c, line)) {
                free(line);
                return 1;
            }
        }
        free(line);
        return 0;
    }
    printf(
        "kaiyuan chat — /help for commands, Ctrl-C stops an answer, twice at the prompt quits\n");
    for (;;) {
        g_at_prompt = 1;
        errno = 0;
        char *line = readline("> ");
        g_at_prompt = 0;
        if (!line) { /* EOF, or Ctrl-C interrupted the read (the count survives the retry) */
            if (errno == EINTR || g_prompt_sigints) continue;
            printf("\n");
            break;
        }
        g_prompt_sigints = 0;
        if (!*line) {
            free(line);
            continue;
        }
        add_history(line);
        bool go = true;
        if (line[0] == '/')
            go = command(c, line);
        else
            go = turn(c, line);
        free(line);
        if (!go) break;
    }
    return 0;
}

int cmd_chat(int argc, char **argv) {
    chat c;
    memset(&c, 0, sizeof c);
    int prc = parse_args(argc, argv, &c.o);
    if (prc) return prc < 0 ? 0 : prc;
    if (c.o.system) c.o.system = strdup(c.o.system);
    int rc = 1;
    c.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (!cli_load_model("chat", c.o.model, false, c.o.quiet, &c.model)) goto done;
    if (strcmp(ky_vocab_kind(c.model), "none") == 0) {
        fprintf(stderr, "kaiyuan chat: %s has no tokenizer; chat needs one\n", c.o.model);
        goto done;
    }
    ky_error err;
    if (ky_chat_template_from_model(c.model, &c.tmpl, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan chat: warning: %s; falling back to ChatML\n", err.message);
        if (ky_chat_template_chatml(&c.tmpl, &err) != KY_OK) {
            fprintf(stderr, "kaiyuan chat: %s\n", err.message);
            goto done;
        }
    }
    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = (int32_t)c.o.n_ctx;
    cp.n_threads = (int32_t)c.o.threads;
    cp.kv_type = c.o.kv_type;
    if (!cli_create_context("chat", c.model, &cp, c.o.quiet, &c.ctx)) goto done;
    ky_model_info mi;
    ky_model_get_info(c.model, &mi);
    ky_sampler_params sp = ky_sampler_default_params();
    sp.temperature = (float)c.o.temp;
    sp.top_k = (int32_t)c.o.top_k;
    sp.top_p = (float)c.o.top_p;
    sp.min_p = (float)c.o.min_p;
    sp.repeat_penalty = (float)c.o.repeat;
    sp.frequency_penalty = (float)c.o.freq;
    sp.presence_penalty = (float)c.o.presence;
    sp.penalty_last_n = (int32_t)c.o.last_n;
    sp.seed = c.o.seed_set ? (uint64_t)c.o.seed : (uint64_t)time(NULL);
    if (ky_sampler_create(&sp, mi.n_vocab, &c.smpl, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan chat: %s\n", err.message);
        rc = 2;
        goto done;
    }
    c.n_stops = ky_chat_stop_tokens(c.model, NULL, 0);
    c.stops = malloc((c.n_stops ? c.n_stops : 1) * sizeof *c.stops);
    c.messages = json_array();
    if (!c.stops || !c.messages || ky_batch_init(&c.batch, ky_context_n_batch(c.ctx)) != KY_OK)
        goto done;
    ky_chat_stop_tokens(c.model, c.stops, c.n_stops);
    c.think_open = single_token(c.model, "<think>");
    c.think_close = single_token(c.model, "</think>");
    reset_conversation(&c);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    rc = repl(&c);
done:
    json_decref(c.messages);
    free(c.stops);
    free(c.cache);
    free((char *)c.o.system);
    ky_batch_free(&c.batch);
    ky_sampler_free(c.smpl);
    ky_chat_template_free(c.tmpl);
    ky_context_free(c.ctx);
    ky_model_free(c.model);
    return rc;
}
