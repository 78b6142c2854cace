/* engine.c — the engine thread: owns the model context and schedules every request
 * (layer: server; uses kaiyuan.h only).
 *
 * Each step: reap cancelled requests, take new ones from the inbox (prompt preparation, or
 * tokenize/detokenize answered at once), admit queued requests FIFO while sequences are free,
 * then build ONE batch: one token for every generating choice plus up to prefill_chunk pending
 * prompt tokens (oldest request first), decode it, and sample, detokenize and stream every choice.
 * A choice whose client does not read (outbox above KY_SRV_OUTBOX_HIGH) skips steps; after
 * KY_SRV_STALL_S it is cancelled. Each choice has its own sampler (seed + choice index) and its
 * own sequence, so its text does not depend on what else is batched.
 *
 * Speculation (--spec ngram): a generating choice without a grammar may also carry up to k drafted
 * tokens, copied from the longest earlier match of its own text's last n-gram (prompt lookup);
 * every drafted position gets logits, the sampler accepts drafts by the speculative rule
 * (greedy: exactly the tokens plain decoding gives) and the rejected tail is dropped from the KV
 * cache. k adapts to the choice's own acceptance only, never to what else is batched, so the
 * text stays independent of the batch.
 *
 * Prompt flow of a request with n choices: choice 0 owns the sequence with the longest cached
 * prefix (prefix.c) and prefills prompt[cached .. n_prompt-1); the others then copy those
 * positions. Every choice feeds the last prompt token itself as its first generation step, so
 * logits always come from a computed position.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/strbuf.h"
#include "server/api_response.h"
#include "server/gcompile.h"
#include "server/prefix.h"
#include "server/prep.h"
#include "server/server_int.h"

enum { CH_PREFILL, CH_WAITCOPY, CH_GEN, CH_DONE };
/* Where a choice's output is relative to a <think> block: none (or closed), not known yet (the
 * block may open with the first text), inside. */
enum { THINK_NONE, THINK_MAYBE, THINK_IN };

typedef struct choice {
    int32_t index, seq, state;
    int32_t n_past;    /* positions decoded into seq */
    ky_token next;     /* token to feed at n_past (CH_GEN) */
    int32_t n_gen;     /* tokens sampled */
    int32_t batch_i;   /* batch entry whose logits this choice samples, -1 */
    int32_t n_prefill; /* prompt tokens of this choice in the batch being decoded */
    ky_sampler *smp;
    ky_detok_stream *detok;
    ky_strbuf text;   /* emitted text (non-streams: the whole response; streams: unused) */
    size_t n_emitted; /* bytes of text emitted so far (completions' text_offset) */
    ky_strbuf held;   /* detokenized text not yet emitted (may start a stop string) */
    api_lp_entry *lp;
    size_t n_lp, cap_lp, lp_sent;
    const char *finish;
    double t_last, paused_since;
    /* Constrained decoding and the chat output split (NULL when unused). */
    ky_grammar_matcher *gm;
    uint32_t *mask;         /* (mask words of gm) */
    ky_chat_parser *parser; /* chat: content / reasoning / tool calls */
    ky_strbuf reasoning;    /* non-streams: the reasoning text */
    char *calls;            /* non-streams: message.tool_calls JSON array */
    bool emitted_lp;        /* streams with a parser: logprobs pending in a text-less chunk */
    /* Speculation: drafts fed after `next` in the step being decoded, the adaptive draft length,
     * consecutive steps whose drafts all failed, and steps left without drafting. */
    int32_t n_draft, k_cur, misses, backoff;
    ky_token draft[KY_SRV_MAX_DRAFT];
    /* Reasoning: THINK_*, tokens sampled inside the block, tokens to emit instead of sampling
     * (the engine's <think> / </think> ids), the last text bytes (markers across tokens). */
    int think;
    int32_t n_reason;
    const ky_token *force;
    int32_t n_force;
    bool gm_started; /* think_gram: the grammar engaged (it ends the output when it finishes) */
    char tail[16];
    size_t n_tail;
    /* Non-streams: the streamed tool call being collected (name NULL: none). */
    char *call_name;
    int32_t call_index;
    ky_strbuf call_args;
} choice;

typedef struct active {
    srv_request *req;
    ky_token *prompt;
    size_t n_prompt;
    int32_t n_cached;
    int32_t n_choices;
    bool first_token;
    struct gcache_entry *ge;       /* response_format or tool-call grammar, NULL: free */
    bool think_open, think_closed; /* the prompt ends inside / after a <think> block */
    bool think_gram;               /* the grammar starts at </think> (constrained after thinking) */
    bool ge_schema;                /* ge is response_format's (not a tool-call grammar) */
    choice ch[KY_SRV_MAX_N];
    struct active *next;
} active;

/* A compiled grammar with a prototype matcher (its precomputed token sets): requests with the
 * same grammar text clone the prototype instead of precomputing again. */
typedef struct gcache_entry {
    char *key; /* trigger + "\n" + GBNF text */
    ky_grammar *g;
    ky_grammar_matcher *proto;
    int users;   /* active requests using it */
    bool cached; /* in engine.gcache (else freed by its last user) */
    uint64_t last;
} gcache_entry;

#define GCACHE_N 8

typedef struct engine {
    srv_server *s;
    ky_model *model;
    ky_context *ctx;
    prep_state *prep;
    prefix_pool pool;
    ky_batch batch;
    int32_t n_ctx, n_vocab, parallel, prefill_chunk;
    int32_t draft_max; /* --draft (0: no speculation) */
    ky_token *hist;    /* (n_ctx + 1) a choice's tokens, for drafting */
    int32_t running_choices;
    struct pending *q_head, *q_tail; /* prepared, waiting for sequences (FIFO) */
    active *act_head, *act_tail;     /* running, in admission order */
    float *lp_scratch;               /* (n_vocab) */
    uint64_t seed_counter;
    ky_grammar_vocab *gvocab; /* token trie for grammars (NULL: model without tokenizer) */
    ky_tool_format tool_fmt;  /* from the chat template */
    bool think;               /* the template knows <think> */
    ky_token think_ids[2][8]; /* "<think>\n" and "</think>\n\n" as tokens (forced) */
    int32_t n_think_ids[2];
    gcache_entry *gcache[GCACHE_N];
    uint64_t gcache_tick;
    gc_worker *gcw;    /* compiles new grammars off this thread (NULL: compiled inline) */
    gc_job *compiling; /* submitted jobs not yet back (through next_inflight) */
    bool stopping;     /* shutting down: no new compile jobs */
} engine;

static void gcache_entry_free(gcache_entry *g) {
    if (!g) return;
    ky_grammar_matcher_free(g->proto);
    ky_grammar_free(g->g);
    free(g->key);
    free(g);
}

/* Drops a request's use of g (frees an uncached entry with its last user). */
static void gcache_release(gcache_entry *g) {
    if (g && --g->users == 0 && !g->cached) gcache_entry_free(g);
}

/* A queued request with its prepared prompt and grammar (admitted once the grammar is ready). */
typedef struct pending {
    srv_request *req;
    ky_token *prompt;
    size_t n_prompt;
    bool think_open, think_closed, think_gram, ge_schema; /* as in active */
    gcache_entry *ge; /* the grammar (one use counted), NULL: none or still compiling */
    gc_job *job;      /* the compile job it waits for, NULL: ready */
    struct pending *next;
} pending;

/* ------------------------------------------------------------------------------------------ */
/* Output helpers */

static void push_error(engine *e, srv_request *r, const api_error *err) {
    char *body = api_error_json(err);
    if (!body) {
        srv_finish(e->s, r);
        return;
    }
    pthread_mutex_lock(&r->mu);
    bool sse = r->status != 0 && r->sse;
    pthread_mutex_unlock(&r->mu);
    if (sse) {
        ky_strbuf sb;
        ky_strbuf_init(&sb);
        ky_strbuf_printf(&sb, "data: %s\n\n", body);
        if (!sb.failed) srv_push(e->s, r, err->status, false, sb.data, sb.len);
        ky_strbuf_free(&sb);
    } else {
        srv_push(e->s, r, err->status, false, body, strlen(body));
    }
    free(body);
    srv_finish(e->s, r);
}

static bool push_event(engine *e, srv_request *r, char *json) {
    if (!json) return false;
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    ky_strbuf_printf(&sb, "data: %s\n\n", json);
    free(json);
    bool ok = !sb.failed && srv_push(e->s, r, 200, true, sb.data, sb.len);
    ky_strbuf_free(&sb);
    return ok;
}

static api_meta meta_of(engine *e, active *a) {
    api_meta m = {.kind = a->req->api.kind,
                  .id = a->req->id,
                  .created = a->req->created,
                  .model = e->s->model_name,
                  .include_usage = a->req->api.include_usage,
                  .piece = srv_piece,
                  .piece_user = e->s};
    return m;
}

/* ------------------------------------------------------------------------------------------ */
/* Request end */

static void free_active(engine *e, active *a) {
    for (int32_t i = 0; i < a->n_choices; i++) {
        choice *c = &a->ch[i];
        if (c->seq >= 0) prefix_release(&e->pool, c->seq);
        if (c->state != CH_DONE) e->running_choices--;
        ky_sampler_free(c->smp);
        ky_detok_stream_free(c->detok);
        ky_strbuf_free(&c->text);
        ky_strbuf_free(&c->held);
        free(c->lp);
        ky_grammar_matcher_free(c->gm);
        free(c->mask);
        ky_chat_parser_free(c->parser);
        ky_strbuf_free(&c->reasoning);
        free(c->calls);
        free(c->call_name);
        ky_strbuf_free(&c->call_args);
    }
    gcache_release(a->ge);
    free(a->prompt);
    atomic_fetch_sub(&e->s->inflight, 1);
    atomic_fetch_sub(&e->s->metrics.running, 1);
    srv_request_unref(a->req);
    free(a);
}

static void unlink_active(engine *e, active *a) {
    active **pp = &e->act_head;
    while (*pp != a) pp = &(*pp)->next;
    *pp = a->next;
    if (e->act_tail == a) {
        e->act_tail = NULL;
        for (active *x = e->act_head; x; x = x->next) e->act_tail = x;
    }
}

static api_usage usage_of(active *a) {
    api_usage u = {.prompt_tokens = (int64_t)a->n_prompt, .cached_tokens = a->n_cached};
    for (int32_t i = 0; i < a->n_choices; i++) {
        u.completion_tokens += a->ch[i].n_gen;
        u.reasoning_tokens += a->ch[i].n_reason;
    }
    return u;
}

static void complete(engine *e, active *a) {
    srv_request *r = a->req;
    api_meta m = meta_of(e, a);
    api_usage u = usage_of(a);
    if (r->api.stream) {
        if (r->api.include_usage) push_event(e, r, api_chunk_usage(&m, &u));
        static const char done[] = "data: [DONE]\n\n";
        srv_push(e->s, r, 200, true, done, sizeof done - 1);
    } else {
        static const api_lp_entry no_lp; /* logprobs requested, no token: "content": [] */
        api_choice cs[KY_SRV_MAX_N];
        for (int32_t i = 0; i < a->n_choices; i++) {
            choice *c = &a->ch[i];
            cs[i] = (api_choice){.text = c->text.data ? c->text.data : "",
                                 .len = c->text.len,
                                 .reasoning = c->reasoning.len ? c->reasoning.data : NULL,
                                 .reasoning_len = c->reasoning.len,
                                 .tool_calls = c->calls,
                                 .finish_reason = c->finish ? c->finish : "stop",
                                 .lp = r->api.logprobs ? (c->lp ? c->lp : &no_lp) : NULL,
                                 .n_lp = c->n_lp};
        }
        char *body = api_response_final(&m, cs, (size_t)a->n_choices, &u);
        if (body) srv_push(e->s, r, 200, false, body, strlen(body));
        free(body);
    }
    srv_finish(e->s, r);
    unlink_active(e, a);
    free_active(e, a);
}

static void fail_active(engine *e, active *a, int status, const char *msg) {
    api_error err;
    api_errorf(&err, status, "server_error", NULL, NULL, "%s", msg);
    push_error(e, a->req, &err);
    unlink_active(e, a);
    free_active(e, a);
}

/* ------------------------------------------------------------------------------------------ */
/* Text, stop strings, logprobs */

/* Length of the longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t stop_holdback(const api_request *r, const char *s, size_t n) {
    size_t keep = 0;
    for (size_t i = 0; i < r->n_stop; i++) {
        size_t sl = strlen(r->stop[i]);
        size_t k = sl - 1 < n ? sl - 1 : n;
        for (; k > keep; k--)
            if (!memcmp(s + n - k, r->stop[i], k)) break;
        if (k > keep) keep = k;
    }
    return keep;
}

/* Non-streams: appends the streamed call being collected to message.tool_calls. */
static bool flush_call(choice *c, srv_request *r) {
    if (!c->call_name) return true;
    char id[64];
    snprintf(id, sizeof id, "call_%s_%d_%d", r->id + (strncmp(r->id, "chatcmpl-", 9) ? 0 : 9),
             c->index, c->call_index);
    bool ok = api_tool_call_append(&c->calls, id, c->call_name, strlen(c->call_name),
                                   c->call_args.data ? c->call_args.data : "{}",
                                   c->call_args.data ? c->call_args.len : 2);
    free(c->call_name);
    c->call_name = NULL;
    ky_strbuf_reset(&c->call_args);
    return ok;
}

typedef struct parse_ctx {
    engine *e;
    active *a;
    choice *c;
    bool ok;
} parse_ctx;

/* Chat parser events: content, reasoning and tool calls as OpenAI shapes them. */
static void on_parsed(void *user, const ky_chat_event *ev) {
    parse_ctx *pc = user;
    engine *e = pc->e;
    active *a = pc->a;
    choice *c = pc->c;
    srv_request *r = a->req;
    api_meta m = meta_of(e, a);
    char id[64];
    snprintf(id, sizeof id, "call_%s_%d_%d", r->id + (strncmp(r->id, "chatcmpl-", 9) ? 0 : 9),
             c->index, ev->index);
    if (ev->type == KY_CHAT_EVENT_TOOL_CALL_BEGIN) { /* a streamed call: header now */
        if (r->api.stream) {
            pc->ok &= push_event(
                e, r, api_chunk_tool_header(&m, c->index, ev->index, id, ev->name, ev->name_len));
        } else {
            pc->ok &= flush_call(c, r);
            c->call_name = malloc(ev->name_len + 1);
            pc->ok &= c->call_name != NULL;
            if (c->call_name) memcpy(c->call_name, ev->name, ev->name_len);
            if (c->call_name) c->call_name[ev->name_len] = 0;
            c->call_index = ev->index;
        }
        return;
    }
    if (ev->type == KY_CHAT_EVENT_TOOL_CALL_ARGS) { /* ... and its arguments as they come */
        if (r->api.stream) {
            pc->ok &= push_event(
                e, r,
                api_chunk_tool_args(&m, c->index, ev->index, ev->arguments, ev->arguments_len));
        } else {
            ky_strbuf_append(&c->call_args, ev->arguments, ev->arguments_len);
            pc->ok &= !c->call_args.failed;
        }
        return;
    }
    if (ev->type == KY_CHAT_EVENT_TOOL_CALL) {
        if (!r->api.stream) pc->ok &= flush_call(c, r);
        if (r->api.stream) {
            pc->ok &= push_event(
                e, r, api_chunk_tool_header(&m, c->index, ev->index, id, ev->name, ev->name_len));
            pc->ok &= push_event(
                e, r,
                api_chunk_tool_args(&m, c->index, ev->index, ev->arguments, ev->arguments_len));
        } else {
            pc->ok &= api_tool_call_append(&c->calls, id, ev->name, ev->name_len, ev->arguments,
                                           ev->arguments_len);
        }
        return;
    }
    char *clean = NULL;
    size_t len = 0;
    if (!api_utf8_sanitize(ev->text, ev->len, &clean, &len)) {
        pc->ok = false;
        return;
    }
    bool reasoning = ev->type == KY_CHAT_EVENT_REASONING;
    if (r->api.stream) {
        pc->ok &= push_event(e, r,
                             reasoning ? api_chunk_reasoning(&m, c->index, clean, len)
                                       : api_chunk_text(&m, c->index, clean, len, NULL, 0));
        if (!reasoning) c->text.len += len;
    } else {
        ky_strbuf_append(reasoning ? &c->reasoning : &c->text, clean, len);
        pc->ok &= !c->text.failed && !c->reasoning.failed;
    }
    free(clean);
}

/* Emits held[0..n) as text (stream: one chunk with any pending logprobs). */
static bool emit(engine *e, active *a, choice *c, size_t n, bool final) {
    srv_request *r = a->req;
    if (c->parser) { /* chat: split into content / reasoning / tool calls */
        parse_ctx pc = {e, a, c, true};
        if (ky_chat_parser_feed(c->parser, c->held.data ? c->held.data : "", n, on_parsed, &pc) !=
            KY_OK)
            pc.ok = false;
        if (final && ky_chat_parser_finish(c->parser, on_parsed, &pc) != KY_OK) pc.ok = false;
        if (final && !r->api.stream) pc.ok &= flush_call(c, r);
        memmove(c->held.data, c->held.data + n, c->held.len - n);
        c->held.len -= n;
        if (c->held.data) c->held.data[c->held.len] = 0;
        if (r->api.stream && r->api.logprobs && c->lp_sent < c->n_lp) {
            api_meta m = meta_of(e, a);
            pc.ok &= push_event(
                e, r,
                api_chunk_text(&m, c->index, "", 0, c->lp + c->lp_sent, c->n_lp - c->lp_sent));
            c->lp_sent = c->n_lp;
        }
        return pc.ok;
    }
    char *clean = NULL;
    size_t len = 0;
    if (!api_utf8_sanitize(c->held.data ? c->held.data : "", n, &clean, &len)) return false;
    memmove(c->held.data, c->held.data + n, c->held.len - n);
    c->held.len -= n;
    if (c->held.data) c->held.data[c->held.len] = 0;
    bool ok = true;
    if (r->api.stream) {
        bool lp_due = r->api.logprobs && c->lp_sent < c->n_lp && (len > 0 || final);
        if (len > 0 || lp_due) {
            api_meta m = meta_of(e, a);
            ok = push_event(e, r,
                            api_chunk_text(&m, c->index, clean, len,
                                           lp_due ? c->lp + c->lp_sent : NULL,
                                           lp_due ? c->n_lp - c->lp_sent : 0));
            if (lp_due) c->lp_sent = c->n_lp;
        }
    } else {
        ky_strbuf_append(&c->text, clean, len);
        ok = !c->text.failed;
    }
    c->n_emitted += len;
    free(clean);
    return ok;
}

static void finish_choice(engine *e, active *a, choice *c, const char *reason) {
    const char *t;
    size_t n;
    if (reason[0] == 'l' && ky_detok_stream_flush(c->detok, &t, &n) == KY_OK && n)
        ky_strbuf_append(&c->held, t, n);
    if (c->held.len || c->parser)
        emit(e, a, c, c->held.len, true);
    else if (a->req->api.stream && a->req->api.logprobs && c->lp_sent < c->n_lp)
        emit(e, a, c, 0, true);
    if (c->parser && ky_chat_parser_n_tool_calls(c->parser) > 0 && reason[0] == 's')
        reason = "tool_calls";
    c->finish = reason;
    c->state = CH_DONE;
    e->running_choices--;
    if (a->req->api.stream) {
        api_meta m = meta_of(e, a);
        push_event(e, a->req, api_chunk_finish(&m, c->index, reason));
    }
}

/* Appends new text; emits what cannot start a stop string; finishes on a stop string. */
static void on_text(engine *e, active *a, choice *c, const char *t, size_t n) {
    const api_request *r = &a->req->api;
    size_t before = c->held.len;
    ky_strbuf_append(&c->held, t, n);
    if (!r->n_stop) {
        emit(e, a, c, c->held.len, false);
        return;
    }
    /* A stop string can only end inside the new bytes: search from where one could start. */
    size_t from = 0;
    for (size_t i = 0; i < r->n_stop; i++) {
        size_t sl = strlen(r->stop[i]);
        size_t f = before + 1 > sl ? before + 1 - sl : 0;
        if (i == 0 || f < from) from = f;
    }
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < r->n_stop; i++) {
        size_t sl = strlen(r->stop[i]);
        for (size_t p = from; p + sl <= c->held.len && p < best; p++)
            if (!memcmp(c->held.data + p, r->stop[i], sl)) {
                best = p;
                break;
            }
    }
    if (best != SIZE_MAX) {
        c->held.len = best;
        finish_choice(e, a, c, "stop");
        return;
    }
    size_t keep = stop_holdback(r, c->held.data, c->held.len);
    if (c->held.len > keep) emit(e, a, c, c->held.len - keep, false);
}

static void record_logprobs(engine *e, active *a, choice *c, const float *logits, ky_token tok) {
    if (c->n_lp == c->cap_lp) {
        size_t cap = c->cap_lp ? c->cap_lp * 2 : 16;
        api_lp_entry *lp = realloc(c->lp, cap * sizeof *lp);
        if (!lp) return;
        c->lp = lp;
        c->cap_lp = cap;
    }
    float mx = -INFINITY;
    for (int32_t i = 0; i < e->n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int32_t i = 0; i < e->n_vocab; i++)
        if (logits[i] == logits[i]) sum += exp((double)(logits[i] - mx));
    float lse = mx + (float)log(sum);
    api_lp_entry *en = &c->lp[c->n_lp++];
    memset(en, 0, sizeof *en);
    en->token = tok;
    en->logprob = logits[tok] - lse;
    en->text_offset = (uint32_t)(c->n_emitted + c->held.len);
    int32_t k = a->req->api.top_logprobs;
    for (int32_t i = 0; i < e->n_vocab && k > 0; i++) {
        float v = logits[i];
        if (!(v == v)) continue;
        int32_t j = en->n_top < k ? en->n_top++ : k;
        if (j == k) {
            if (v <= en->top[k - 1].logprob) continue;
            j = k - 1;
        }
        while (j > 0 && en->top[j - 1].logprob < v) {
            en->top[j] = en->top[j - 1];
            j--;
        }
        en->top[j] = (api_lp_top){.token = i, .logprob = v};
    }
    for (int32_t j = 0; j < en->n_top; j++) en->top[j].logprob -= lse;
}

/* ------------------------------------------------------------------------------------------ */
/* Inbox, queue and admission */

static void answer_tokenize(engine *e, srv_request *r) {
    api_error err;
    char *body = NULL;
    if (r->api.kind == API_TOKENIZE) {
        ky_token *ids;
        size_t n;
        if (!prep_tokenize(e->model, r->api.prompt_text, r->api.prompt_len, r->api.add_special,
                           &ids, &n, &err)) {
            push_error(e, r, &err);
            return;
        }
        body = api_tokenize_json(ids, n, r->api.with_pieces, srv_piece, e->s);
        free(ids);
    } else {
        size_t n = 0;
        ky_detokenize(e->model, r->api.prompt_ids, r->api.n_prompt_ids, 0, NULL, 0, &n);
        char *text = malloc(n + 1);
        if (text && ky_detokenize(e->model, r->api.prompt_ids, r->api.n_prompt_ids, 0, text, n,
                                  &n) == KY_OK)
            body = api_detokenize_json(text, n);
        free(text);
    }
    if (!body) {
        api_errorf(&err, 500, "server_error", NULL, NULL, "out of memory");
        push_error(e, r, &err);
        return;
    }
    srv_push(e->s, r, 200, false, body, strlen(body));
    free(body);
    srv_finish(e->s, r);
}

static void drop_request(engine *e, srv_request *r) {
    atomic_fetch_sub(&e->s->inflight, 1);
    srv_finish(e->s, r);
    srv_request_unref(r);
}

static void think_state(engine *e, pending *a);
static void unlink_pending(engine *e, pending *p);
static bool make_grammar(engine *e, pending *a, api_error *err);

static void take_inbox(engine *e) {
    pthread_mutex_lock(&e->s->in_mu);
    srv_request *list = e->s->in_head;
    e->s->in_head = e->s->in_tail = NULL;
    pthread_mutex_unlock(&e->s->in_mu);
    for (srv_request *r = list, *next; r; r = next) {
        next = r->next_in;
        if (atomic_load(&r->cancelled)) {
            drop_request(e, r);
            continue;
        }
        if (r->api.kind == API_TOKENIZE || r->api.kind == API_DETOKENIZE) {
            answer_tokenize(e, r);
            atomic_fetch_sub(&e->s->inflight, 1);
            srv_request_unref(r);
            continue;
        }
        api_error err;
        pending *p = calloc(1, sizeof *p);
        if (!p) {
            api_errorf(&err, 500, "server_error", NULL, NULL, "out of memory");
        } else if (r->api.n > e->parallel) {
            api_errorf(&err, 400, "invalid_request_error", "n", NULL,
                       "'n' is %d but the server decodes at most %d sequences (--parallel)",
                       r->api.n, e->parallel);
        } else if (prep_prompt(e->prep, e->model, &r->api, e->n_ctx, &p->prompt, &p->n_prompt,
                               &err)) {
            p->req = r;
            if (e->q_tail)
                e->q_tail->next = p;
            else
                e->q_head = p;
            e->q_tail = p;
            atomic_fetch_add(&e->s->metrics.waiting, 1);
            think_state(e, p);
            if (make_grammar(e, p, &err)) continue; /* p may be gone (an inline compile failed) */
            unlink_pending(e, p);
            atomic_fetch_sub(&e->s->metrics.waiting, 1);
            free(p->prompt);
        }
        free(p);
        push_error(e, r, &err);
        atomic_fetch_sub(&e->s->inflight, 1);
        srv_request_unref(r);
    }
}

static void reap(engine *e) {
    for (pending **pp = &e->q_head; *pp;) {
        pending *p = *pp;
        if (atomic_load(&p->req->cancelled)) {
            *pp = p->next;
            if (e->q_tail == p) e->q_tail = NULL;
            atomic_fetch_sub(&e->s->metrics.waiting, 1);
            gcache_release(p->ge); /* a job it waits for still finishes and is cached */
            free(p->prompt);
            drop_request(e, p->req);
            free(p);
        } else {
            pp = &p->next;
        }
    }
    if (!e->q_tail)
        for (pending *p = e->q_head; p; p = p->next) e->q_tail = p;
    for (active *a = e->act_head, *next; a; a = next) {
        next = a->next;
        if (!atomic_load(&a->req->cancelled)) continue;
        srv_finish(e->s, a->req);
        unlink_active(e, a);
        free_active(e, a);
    }
}

/* Whether the prompt's last text opened (or closed) a <think> block. */
static void think_state(engine *e, pending *a) {
    if (!e->think || a->n_prompt == 0) return;
    size_t k = a->n_prompt < 6 ? a->n_prompt : 6, n = 0;
    const ky_token *t = a->prompt + a->n_prompt - k;
    char buf[256];
    if (ky_detokenize(e->model, t, k, KY_DETOK_SPECIAL, buf, sizeof buf - 1, &n) != KY_OK) return;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
    a->think_open = n >= 7 && !memcmp(buf + n - 7, "<think>", 7);
    a->think_closed = n >= 8 && !memcmp(buf + n - 8, "</think>", 8);
}

static bool init_choice(engine *e, active *a, choice *c, int32_t index) {
    const api_request *r = &a->req->api;
    memset(c, 0, sizeof *c);
    c->index = index;
    c->seq = -1;
    c->batch_i = -1;
    c->k_cur = e->draft_max;
    ky_sampler_params sp = ky_sampler_default_params();
    sp.temperature = (float)r->temperature;
    sp.top_k = r->top_p <= 0 ? 1 : r->top_k;
    sp.top_p = r->top_p <= 0 ? 1.0f : (float)r->top_p;
    sp.min_p = (float)r->min_p;
    sp.repeat_penalty = (float)r->repetition_penalty;
    sp.frequency_penalty = (float)r->frequency_penalty;
    sp.presence_penalty = (float)r->presence_penalty;
    sp.penalty_last_n = -1;
    uint64_t seed = r->has_seed ? r->seed : ((uint64_t)time(NULL) << 20) ^ ++e->seed_counter;
    sp.seed = seed + (uint64_t)index;
    sp.logit_bias = r->logit_bias;
    sp.n_logit_bias = r->n_logit_bias;
    if (ky_sampler_create(&sp, e->n_vocab, &c->smp, NULL) != KY_OK) return false;
    if (ky_detok_stream_create(e->model, 0, &c->detok) != KY_OK) return false;
    if (a->ge) {
        if (ky_grammar_matcher_clone(a->ge->proto, &c->gm, NULL) != KY_OK) return false;
        if (!(c->mask = malloc(ky_grammar_mask_words(c->gm) * sizeof *c->mask))) return false;
    }
    if (r->kind == API_CHAT) {
        bool tools = r->tool_choice != API_TOOLS_NONE && r->tools_json;
        /* calls the grammar constrains stream their arguments as they are sampled */
        ky_chat_parser_params pp = {tools ? (e->tool_fmt ? e->tool_fmt : KY_TOOL_FORMAT_HERMES)
                                          : KY_TOOL_FORMAT_NONE,
                                    e->think, a->think_open, tools && a->ge && !a->ge_schema};
        if (ky_chat_parser_create(&pp, &c->parser, NULL) != KY_OK) return false;
        if (e->think && !a->think_closed) {
            c->think = a->think_open ? THINK_IN : THINK_MAYBE;
            if (c->think == THINK_MAYBE && a->think_gram && e->n_think_ids[0]) {
                /* constrained after the reasoning: the block is opened for the model */
                c->think = THINK_IN;
                c->force = e->think_ids[0];
                c->n_force = e->n_think_ids[0];
            }
        }
    }
    c->call_index = -1;
    return true;
}

/* grammar (GBNF with a `root` rule) behind the literal "</think>" and up to two newlines: the same rules
 * with root renamed. malloc'ed; NULL when out of memory. */
static char *after_think(const char *grammar) {
    static const char head[] = "root ::= \"</think>\" \"\\n\"{0,2} ky-after-think\n";
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    ky_strbuf_puts(&sb, head);
    /* rule names start lines (newlines inside literals are escaped) */
    for (const char *p = grammar; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (n >= 9 && !strncmp(p, "root ::= ", 9)) {
            ky_strbuf_puts(&sb, "ky-after-think ::= ");
            ky_strbuf_append(&sb, p + 9, n - 9);
        } else {
            ky_strbuf_append(&sb, p, n);
        }
        p += n;
    }
    if (sb.failed) {
        ky_strbuf_free(&sb);
        return NULL;
    }
    return sb.data;
}

/* Caches a compiled grammar: a free slot, else the least recently used idle entry (else it stays
 * uncached and is freed by its last user). */
static void gcache_insert(engine *e, gcache_entry *g) {
    int slot = -1;
    for (int i = 0; i < GCACHE_N && (slot < 0 || e->gcache[slot]); i++)
        if (!e->gcache[i] ||
            (e->gcache[i]->users == 0 && (slot < 0 || e->gcache[i]->last < e->gcache[slot]->last)))
            slot = i;
    if (slot >= 0) {
        gcache_entry_free(e->gcache[slot]);
        e->gcache[slot] = g;
        g->cached = true;
    }
}

static void unlink_pending(engine *e, pending *p) {
    pending **pp = &e->q_head, *prev = NULL;
    while (*pp != p) prev = *pp, pp = &(*pp)->next;
    *pp = p->next;
    if (e->q_tail == p) e->q_tail = prev;
}

/* A finished compile job: the grammar goes into the cache and to every request waiting for it;
 * on failure those requests get the error. Frees the job. */
static void job_done(engine *e, gc_job *j) {
    for (gc_job **pp = &e->compiling; *pp; pp = &(*pp)->next_inflight)
        if (*pp == j) {
            *pp = j->next_inflight;
            break;
        }
    gcache_entry *g = NULL;
    if (j->st == KY_OK && (g = calloc(1, sizeof *g))) {
        g->key = j->key, g->g = j->g, g->proto = j->proto;
        j->key = NULL, j->g = NULL, j->proto = NULL;
        g->last = ++e->gcache_tick;
        gcache_insert(e, g);
        fprintf(stderr, "kaiyuan serve: compiled a grammar in %.3f s (compile thread)\n",
                j->seconds);
    }
    api_error err;
    if (!g && j->st == KY_OK) j->st = KY_ERR_NOMEM;
    if (j->st == KY_ERR_NOMEM)
        api_errorf(&err, 500, "server_error", NULL, NULL, "out of memory");
    else
        api_errorf(&err, 400, "invalid_request_error", NULL, NULL, "%s", j->msg);
    for (pending *p = e->q_head, *next; p; p = next) {
        next = p->next;
        if (p->job != j) continue;
        p->job = NULL;
        if (g) {
            p->ge = g;
            g->users++;
            continue;
        }
        unlink_pending(e, p);
        atomic_fetch_sub(&e->s->metrics.waiting, 1);
        push_error(e, p->req, &err);
        free(p->prompt);
        atomic_fetch_sub(&e->s->inflight, 1);
        srv_request_unref(p->req);
        free(p);
    }
    if (g && !g->cached && g->users == 0) gcache_entry_free(g);
    gc_job_free(j);
}

/* Takes the jobs the compile thread finished. */
static void collect_jobs(engine *e) {
    for (gc_job *j = gc_take_done(e->gcw), *next; j; j = next) {
        next = j->next;
        job_done(e, j);
    }
}

/* The request's grammar: response_format, or the tool-call grammar (required / named: from the
 * first token; auto: lazy, engaged by the call's opening text), from the engine's cache, from a
 * compile job already running for the same text, or a new job for the compile thread (~0.1-4 s
 * for a new schema on a 150k vocabulary; the other streams keep decoding meanwhile). The pending
 * request is admitted once p->job is NULL again. Returns false with err set on failure. */
static bool make_grammar(engine *e, pending *a, api_error *err) {
    const api_request *r = &a->req->api;
    ky_error ke = {0};
    ky_status st = KY_OK;
    char *text = NULL;
    const char *trig = NULL;
    bool tools = r->kind == API_CHAT && r->tools_json && r->tool_choice != API_TOOLS_NONE;
    bool forced =
        tools && (r->tool_choice == API_TOOLS_REQUIRED || r->tool_choice == API_TOOLS_NAMED);
    bool thinks = r->kind == API_CHAT && e->think && !a->think_closed;
    if (!r->grammar && !tools) return true;
    if (!e->gvocab) {
        api_errorf(err, 400, "invalid_request_error", "response_format", NULL,
                   "constrained output needs a model with a tokenizer");
        return false;
    }
    if (r->grammar && !forced) { /* a forced tool call turn writes no content to constrain */
        a->ge_schema = true;
        if (thinks) { /* the model thinks first: constrain from the end of the reasoning on */
            text = after_think(r->grammar);
            trig = "</think>";
            a->think_gram = true;
        } else {
            text = strdup(r->grammar);
        }
        if (!text) st = KY_ERR_NOMEM;
    } else {
        ky_tool_format fmt = e->tool_fmt ? e->tool_fmt : KY_TOOL_FORMAT_HERMES;
        ky_tool_grammar_params tp = {fmt, r->tool_choice == API_TOOLS_NAMED ? r->tool_name : NULL,
                                     r->parallel_tool_calls, NULL};
        if (r->tool_choice == API_TOOLS_AUTO) {
            trig = ky_tool_format_trigger(fmt);
        } else if (thinks) {
            /* the model thinks first: constrain from the end of the reasoning block on */
            tp.prefix = "</think>";
            trig = "</think>";
            a->think_gram = true;
        }
        st = ky_grammar_tools_gbnf(r->tools_json, strlen(r->tools_json), &tp, &text, &ke);
    }
    ky_strbuf key;
    ky_strbuf_init(&key);
    if (st == KY_OK) {
        ky_strbuf_printf(&key, "%s\n%s", trig ? trig : "", text);
        if (key.failed) st = KY_ERR_NOMEM;
    }
    free(text);
    gcache_entry *g = NULL;
    for (int i = 0; st == KY_OK && i < GCACHE_N; i++)
        if (e->gcache[i] && !strcmp(e->gcache[i]->key, key.data)) g = e->gcache[i];
    gc_job *j = NULL;
    for (gc_job *x = e->compiling; st == KY_OK && !g && x; x = x->next_inflight)
        if (!strcmp(x->key, key.data)) j = x;
    if (st == KY_OK && !g && !j && e->stopping) {
        ky_strbuf_free(&key);
        api_errorf(err, 503, "server_error", NULL, NULL, "the server is shutting down");
        return false;
    }
    if (st == KY_OK && !g && !j) {
        if ((j = calloc(1, sizeof *j))) {
            j->key = key.data;
            key.data = NULL;
            j->next_inflight = e->compiling;
            e->compiling = j;
        } else {
            st = KY_ERR_NOMEM;
        }
    }
    ky_strbuf_free(&key);
    if (st != KY_OK) {
        if (st == KY_ERR_NOMEM)
            api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
        else
            api_errorf(err, 400, "invalid_request_error", NULL, NULL, "%s", ke.message);
        return false;
    }
    if (g) {
        g->users++;
        g->last = ++e->gcache_tick;
        a->ge = g;
        return true;
    }
    a->job = j;
    if (++j->waiters == 1) {
        if (e->gcw) {
            gc_submit(e->gcw, j);
        } else { /* no compile thread: here, and done at once */
            gc_compile(e->gvocab, j);
            job_done(e, j); /* a is ready, or answered with the error and freed */
        }
    }
    return true;
}

static void start_generation(engine *e, active *a);

/* Starts the oldest queued request whose grammar is ready when enough sequences are free. */
static bool admit_one(engine *e) {
    pending *p = e->q_head;
    while (p && p->job) p = p->next;
    if (!p) return false;
    srv_request *r = p->req;
    int32_t n = r->api.n;
    if (e->running_choices + n > e->parallel || prefix_n_idle(&e->pool) < n) return false;
    unlink_pending(e, p);
    atomic_fetch_sub(&e->s->metrics.waiting, 1);
    atomic_fetch_add(&e->s->metrics.running, 1);
    active *a = calloc(1, sizeof *a);
    if (!a) {
        api_error err;
        api_errorf(&err, 500, "server_error", NULL, NULL, "out of memory");
        push_error(e, r, &err);
        atomic_fetch_sub(&e->s->metrics.running, 1);
        gcache_release(p->ge);
        free(p->prompt);
        free(p);
        atomic_fetch_sub(&e->s->inflight, 1);
        srv_request_unref(r);
        return true;
    }
    a->req = r;
    a->prompt = p->prompt;
    a->n_prompt = p->n_prompt;
    a->think_open = p->think_open, a->think_closed = p->think_closed;
    a->think_gram = p->think_gram, a->ge_schema = p->ge_schema;
    a->ge = p->ge;
    free(p);
    a->n_choices = n;
    if (e->act_tail)
        e->act_tail->next = a;
    else
        e->act_head = a;
    e->act_tail = a;
    bool ok = true;
    for (int32_t i = 0; i < n; i++) {
        ok = ok && init_choice(e, a, &a->ch[i], i);
        a->ch[i].state = CH_WAITCOPY;
        e->running_choices++;
    }
    if (!ok) {
        fail_active(e, a, 500, "cannot create a sampler");
        return true;
    }
    /* Choice 0: the sequence with the longest cached prefix of prompt[0 .. n_prompt-1). */
    int32_t want = (int32_t)a->n_prompt - 1, lcp = 0;
    int32_t best = want > 0 ? prefix_best(&e->pool, a->prompt, (size_t)want, &lcp) : -1;
    choice *c0 = &a->ch[0];
    /* An idle match is reused in place when that loses nothing (its cached tokens are all a
     * prefix of the prompt) or no other sequence is free; else its prefix is copied into the
     * least recently used sequence, so the longer conversation it holds stays cached. */
    bool in_place = best >= 0 && !e->pool.busy[best] &&
                    (e->pool.len[best] <= lcp || prefix_n_idle(&e->pool) < n + 1);
    if (in_place) {
        prefix_claim(&e->pool, best);
        c0->seq = best;
    } else {
        bool shield = best >= 0 && !e->pool.busy[best];
        if (shield) prefix_claim(&e->pool, best); /* not the copy's destination */
        c0->seq = prefix_take(&e->pool);
        if (shield) prefix_release(&e->pool, best);
        ky_kv_seq_keep(e->ctx, c0->seq, 0);
        prefix_keep(&e->pool, c0->seq, 0);
        if (best >= 0 && lcp > 0) {
            if (ky_kv_seq_copy(e->ctx, best, c0->seq, lcp) == KY_OK)
                prefix_copy(&e->pool, best, c0->seq, lcp);
            else
                lcp = 0;
        }
    }
    ky_kv_seq_keep(e->ctx, c0->seq, lcp);
    prefix_keep(&e->pool, c0->seq, lcp);
    c0->n_past = lcp;
    a->n_cached = lcp;
    c0->state = CH_PREFILL;
    for (int32_t i = 1; i < n; i++) a->ch[i].seq = prefix_take(&e->pool);
    atomic_fetch_add_explicit(&e->s->metrics.prompt_tokens, a->n_prompt, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->s->metrics.prompt_tokens_cached, (uint64_t)lcp,
                              memory_order_relaxed);
    if (r->api.stream && r->api.kind == API_CHAT) {
        api_meta m = meta_of(e, a);
        for (int32_t i = 0; i < n; i++) push_event(e, r, api_chunk_role(&m, i));
    }
    if (c0->n_past >= want) start_generation(e, a);
    return true;
}

/* Choice 0 finished the shared prompt part: every choice starts generating. */
static void start_generation(engine *e, active *a) {
    int32_t np = (int32_t)a->n_prompt - 1;
    for (int32_t i = 0; i < a->n_choices; i++) {
        choice *c = &a->ch[i];
        if (i > 0) {
            if (ky_kv_seq_copy(e->ctx, a->ch[0].seq, c->seq, np) != KY_OK) {
                fail_active(e, a, 500, ky_context_last_error(e->ctx));
                return;
            }
            prefix_copy(&e->pool, a->ch[0].seq, c->seq, np);
        }
        c->n_past = np;
        c->next = a->prompt[np];
        c->state = CH_GEN;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* One step */

static bool paused(active *a, choice *c, double now) {
    if (atomic_load(&a->req->out_bytes) <= KY_SRV_OUTBOX_HIGH) {
        c->paused_since = 0;
        return false;
    }
    if (c->paused_since == 0) c->paused_since = now;
    if (now - c->paused_since > KY_SRV_STALL_S) atomic_store(&a->req->cancelled, true);
    return true;
}

/* Follows the output text t[0..n) in and out of a <think> block (c->think). */
static void think_track(choice *c, const char *t, size_t n) {
    for (size_t i = 0; i < n && c->think != THINK_NONE; i++) {
        if (c->think == THINK_MAYBE && !c->n_tail && (t[i] == ' ' || t[i] == '\n')) continue;
        if (c->n_tail == sizeof c->tail) {
            memmove(c->tail, c->tail + 1, sizeof c->tail - 1);
            c->n_tail--;
        }
        c->tail[c->n_tail++] = t[i];
        if (c->think == THINK_MAYBE) { /* the first text decides: "<think>" or no block */
            if (memcmp(c->tail, "<think>", c->n_tail < 7 ? c->n_tail : 7)) c->think = THINK_NONE;
            if (c->think == THINK_MAYBE && c->n_tail == 7) c->think = THINK_IN, c->n_tail = 0;
        } else if (c->n_tail >= 8 && !memcmp(c->tail + c->n_tail - 8, "</think>", 8)) {
            c->think = THINK_NONE;
        }
    }
}

/* The token for one position of choice c (logits: its distribution, NULL: none): a forced token
 * (the engine closing a reasoning block), the grammar's, the verification of a draft (draft not
 * KY_TOKEN_NULL; *ok: accepted) or a plain sample. *forced: the engine chose it. KY_TOKEN_NULL:
 * nothing may follow (the choice stops). */
static ky_token pick_token(engine *e, active *a, choice *c, const float *logits, ky_token draft,
                           bool *ok, bool *forced) {
    const api_request *r = &a->req->api;
    ky_token tok = KY_TOKEN_NULL;
    *ok = false;
    /* max_reasoning_tokens reached: the engine closes the block */
    if (c->think == THINK_IN && !c->n_force && r->max_reasoning_tokens >= 0 &&
        c->n_reason >= r->max_reasoning_tokens) {
        c->force = e->think_ids[1];
        c->n_force = e->n_think_ids[1];
    }
    *forced = logits && c->n_force > 0;
    if (*forced) {
        tok = *c->force++;
        c->n_force--;
    } else if (logits && c->gm) {
        if (ky_grammar_matcher_fill_mask(c->gm, c->mask, ky_grammar_mask_words(c->gm)) == KY_OK)
            tok = ky_sampler_sample_masked(c->smp, logits, c->mask);
    } else if (logits && draft != KY_TOKEN_NULL) {
        tok = ky_sampler_sample_draft(c->smp, logits, draft, ok);
    } else if (logits) {
        tok = ky_sampler_sample(c->smp, logits);
    }
    if (tok != KY_TOKEN_NULL && !*forced && a->think_gram && c->think == THINK_IN &&
        prep_is_end(e->prep, r->kind, tok) && e->n_think_ids[1]) {
        /* an end inside the reasoning of a constrained answer: close the block instead */
        tok = e->think_ids[1][0];
        c->force = e->think_ids[1] + 1;
        c->n_force = e->n_think_ids[1] - 1;
        *forced = true;
        *ok = false;
    }
    if (tok != KY_TOKEN_NULL && c->gm && ky_grammar_matcher_accept_token(c->gm, tok) != KY_OK)
        tok = KY_TOKEN_NULL;
    return tok;
}

/* Takes tok as the choice's next generated token (logits: the distribution it was drawn from;
 * forced: chosen by the engine): penalties, logprobs, metrics, reasoning, end of generation,
 * text, length. Returns true when the choice goes on generating. */
static bool take_token(engine *e, active *a, choice *c, const float *logits, ky_token tok,
                       bool forced, double now) {
    const api_request *r = &a->req->api;
    ky_sampler_accept(c->smp, tok);
    if (r->logprobs) record_logprobs(e, a, c, logits, tok);
    c->n_gen++;
    atomic_fetch_add_explicit(&e->s->metrics.generation_tokens, 1, memory_order_relaxed);
    if (!a->first_token) {
        a->first_token = true;
        srv_metrics_observe(&e->s->metrics.ttft, now - a->req->t_arrival);
    } else if (c->t_last > 0) {
        srv_metrics_observe(&e->s->metrics.itl, now - c->t_last);
    }
    c->t_last = now;
    if (prep_is_end(e->prep, r->kind, tok)) {
        finish_choice(e, a, c, "stop");
        return false;
    }
    const char *t;
    size_t n;
    bool in_think = c->think == THINK_IN;
    if (ky_detok_stream_push(c->detok, tok, &t, &n) != KY_OK) n = 0;
    if (c->think != THINK_NONE) think_track(c, t, n);
    if (in_think && c->think == THINK_IN && !forced) c->n_reason++;
    if (n) on_text(e, a, c, t, n);
    if (c->state == CH_DONE) return false;
    if (c->gm && a->think_gram) { /* lazy at </think>: the answer ends with its grammar */
        if (ky_grammar_matcher_is_active(c->gm))
            c->gm_started = true;
        else if (c->gm_started) {
            finish_choice(e, a, c, "stop");
            return false;
        }
    }
    if ((r->max_tokens > 0 && c->n_gen >= r->max_tokens) || c->n_past >= e->n_ctx) {
        finish_choice(e, a, c, "length");
        return false;
    }
    c->next = tok;
    return true;
}

/* Samples the choice's tokens from the decoded step: position batch_i (its `next`) and, after
 * each accepted draft, the drafted position that follows. Positions past the first rejection
 * leave the KV cache. */
static void sample_choice(engine *e, active *a, choice *c, double now) {
    int32_t n_draft = c->n_draft, accepted = 0, i0 = c->batch_i;
    c->n_draft = 0;
    c->batch_i = -1;
    for (int32_t i = 0; i <= n_draft; i++) {
        prefix_append(&e->pool, c->seq, i == 0 ? c->next : c->draft[i - 1]);
        c->n_past++;
        const float *logits = ky_get_logits(e->ctx, i0 + i);
        bool ok, forced;
        ky_token tok =
            pick_token(e, a, c, logits, i < n_draft ? c->draft[i] : KY_TOKEN_NULL, &ok, &forced);
        if (tok == KY_TOKEN_NULL) {
            finish_choice(e, a, c, "stop");
            break;
        }
        if (!take_token(e, a, c, logits, tok, forced, now) || !ok) break;
        accepted++;
    }
    if (n_draft > 0) {
        atomic_fetch_add_explicit(&e->s->metrics.draft_tokens, (uint64_t)n_draft,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&e->s->metrics.draft_accepted, (uint64_t)accepted,
                                  memory_order_relaxed);
        /* adapt (as `run --spec`): grow after full acceptance, shrink to what was accepted,
         * back off after repeated misses */
        c->k_cur = accepted == n_draft ? (c->k_cur + 2 < e->draft_max ? c->k_cur + 2 : e->draft_max)
                                       : (accepted + 1 > 2 ? accepted + 1 : 2);
        c->misses = accepted == 0 ? c->misses + 1 : 0;
        if (c->misses >= 2) c->backoff = c->misses * 4 < 64 ? c->misses * 4 : 64;
    }
    if (accepted < n_draft) ky_kv_seq_keep(e->ctx, c->seq, c->n_past);
}

/* Drafts for choice c (its `next` is fed at n_past): up to k_cur tokens that followed the latest
 * earlier occurrence of its text's last 2-5 tokens, within max_tokens and the context. */
static int32_t draft_for(engine *e, active *a, choice *c) {
    const api_request *r = &a->req->api;
    /* not under a grammar, while the engine forces tokens, or where a reasoning bound applies */
    if (e->draft_max <= 0 || c->gm || c->n_force > 0 ||
        (c->think != THINK_NONE && r->max_reasoning_tokens >= 0))
        return 0;
    if (c->backoff > 0) {
        c->backoff--;
        return 0;
    }
    int64_t room = c->k_cur;
    if (r->max_tokens > 0 && room > (int64_t)r->max_tokens - c->n_gen - 1)
        room = (int64_t)r->max_tokens - c->n_gen - 1;
    if (room > (int64_t)e->n_ctx - c->n_past - 2) room = (int64_t)e->n_ctx - c->n_past - 2;
    if (room <= 0) return 0;
    memcpy(e->hist, e->pool.tokens + (size_t)c->seq * (size_t)e->n_ctx,
           (size_t)c->n_past * sizeof *e->hist);
    e->hist[c->n_past] = c->next;
    return (int32_t)ky_draft_ngram(e->hist, (size_t)c->n_past + 1, 2, 5, c->draft, (size_t)room);
}

/* Builds and decodes one batch. Returns false when there was nothing to decode. */
static bool step(engine *e) {
    ky_batch *b = &e->batch;
    ky_batch_clear(b);
    double now = ky_time_now();
    for (active *a = e->act_head; a; a = a->next)
        for (int32_t i = 0; i < a->n_choices; i++) {
            choice *c = &a->ch[i];
            if (c->state != CH_GEN || paused(a, c, now)) continue;
            c->batch_i = b->n_tokens;
            ky_batch_add(b, c->next, c->n_past, c->seq, true);
            c->n_draft = draft_for(e, a, c);
            for (int32_t j = 0; j < c->n_draft; j++)
                ky_batch_add(b, c->draft[j], c->n_past + 1 + j, c->seq, true);
        }
    int32_t budget = e->prefill_chunk;
    for (active *a = e->act_head; a && budget > 0; a = a->next) {
        choice *c = &a->ch[0];
        if (c->state != CH_PREFILL) continue;
        int32_t end = (int32_t)a->n_prompt - 1;
        int32_t k = end - c->n_past;
        if (k > budget) k = budget;
        for (int32_t j = 0; j < k; j++)
            ky_batch_add(b, a->prompt[c->n_past + j], c->n_past + j, c->seq, false);
        c->n_prefill = k;
        budget -= k;
    }
    if (b->n_tokens == 0) return false;
    ky_status st = ky_decode(e->ctx, b);
    atomic_fetch_add_explicit(&e->s->metrics.decode_steps, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->s->metrics.batch_tokens, (uint64_t)b->n_tokens,
                              memory_order_relaxed);
    if (st != KY_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "decode failed: %s", ky_context_last_error(e->ctx));
        while (e->act_head) fail_active(e, e->act_head, 500, msg);
        return true;
    }
    now = ky_time_now();
    for (active *a = e->act_head, *next; a; a = next) {
        next = a->next;
        choice *c0 = &a->ch[0];
        if (c0->state == CH_PREFILL) {
            for (int32_t j = 0; j < c0->n_prefill; j++)
                prefix_append(&e->pool, c0->seq, a->prompt[c0->n_past + j]);
            c0->n_past += c0->n_prefill;
            c0->n_prefill = 0;
            if (c0->n_past >= (int32_t)a->n_prompt - 1) start_generation(e, a);
            continue;
        }
        bool all_done = true;
        for (int32_t i = 0; i < a->n_choices; i++) {
            choice *c = &a->ch[i];
            if (c->state == CH_GEN && c->batch_i >= 0) sample_choice(e, a, c, now);
            all_done = all_done && c->state == CH_DONE;
        }
        if (all_done) complete(e, a);
    }
    return true;
}

static void update_gauges(engine *e) {
    atomic_store_explicit(&e->s->metrics.kv_used, prefix_used(&e->pool), memory_order_relaxed);
}

/* ------------------------------------------------------------------------------------------ */

void srv_context_params(const srv_config *c, ky_context_params *out) {
    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = c->n_ctx;
    cp.n_seq_max = c->parallel + c->cache_slots;
    cp.n_batch = c->prefill_chunk + c->parallel * (1 + c->draft);
    cp.n_threads = c->threads;
    cp.pipe = c->pipe;
    cp.pipe_ubatch = c->pipe_ubatch;
    *out = cp;
}

static bool setup(engine *e) {
    srv_server *s = e->s;
    const srv_config *cfg = &s->cfg;
    ky_error err = {0};
    ky_model_params mp = ky_model_default_params();
    mp.layer_begin = cfg->layer_begin;
    mp.layer_end = cfg->layer_end;
    if (ky_model_load(cfg->model_path, &mp, &e->model, &err) != KY_OK) {
        snprintf(s->load_error, sizeof s->load_error, "%s", err.message);
        return false;
    }
    ky_context_params cp;
    srv_context_params(cfg, &cp);
    if (ky_context_create(e->model, &cp, &e->ctx, &err) != KY_OK) {
        snprintf(s->load_error, sizeof s->load_error, "%s", err.message);
        return false;
    }
    e->n_ctx = ky_context_n_ctx(e->ctx);
    e->n_vocab = ky_vocab_n_tokens(e->model);
    e->parallel = cfg->parallel;
    e->prefill_chunk = cfg->prefill_chunk;
    e->draft_max = cfg->draft;
    e->prep = prep_create(e->model);
    const char *tmpl = ky_model_chat_template(e->model);
    e->tool_fmt = ky_tool_format_detect(tmpl);
    e->think = tmpl && strstr(tmpl, "<think>");
    static const char *const marks[2] = {"<think>\n", "</think>\n\n"};
    for (int i = 0; e->think && i < 2; i++) {
        size_t n = 0;
        if (ky_tokenize(e->model, marks[i], strlen(marks[i]), KY_TOKENIZE_PARSE_SPECIAL,
                        e->think_ids[i], 8, &n) != KY_OK)
            n = 0;
        e->n_think_ids[i] = (int32_t)n;
    }
    if (strcmp(ky_vocab_kind(e->model), "none") != 0 &&
        ky_grammar_vocab_create(e->model, &e->gvocab, &err) != KY_OK) {
        snprintf(s->load_error, sizeof s->load_error, "%s", err.message);
        return false;
    }
    if (e->gvocab && !(e->gcw = gc_start(e->gvocab, &s->in_mu, &s->in_cv)))
        fprintf(stderr, "kaiyuan serve: no grammar compile thread; compiling on the engine's\n");
    e->hist = malloc(((size_t)e->n_ctx + 1) * sizeof *e->hist);
    if (!e->prep || !e->hist || !prefix_pool_init(&e->pool, cp.n_seq_max, e->n_ctx) ||
        ky_batch_init(&e->batch, cp.n_batch) != KY_OK) {
        snprintf(s->load_error, sizeof s->load_error, "out of memory");
        return false;
    }
    uint64_t kv = ky_context_kv_bytes(e->ctx);
    fprintf(stderr,
            "kaiyuan serve: %s: %d sequences (%d parallel + %d cache slots) x %d positions, "
            "KV cache %.1f MiB, %d threads, kernels %s\n",
            cfg->model_path, cp.n_seq_max, cfg->parallel, cfg->cache_slots, e->n_ctx,
            (double)kv / (1024.0 * 1024.0), ky_context_n_threads(e->ctx), ky_kernels_name());
    atomic_store(&s->metrics.kv_total, (uint64_t)cp.n_seq_max * (uint64_t)e->n_ctx);
    s->model = e->model;
    atomic_store(&s->n_vocab, e->n_vocab);
    return true;
}

void *srv_engine_main(void *arg) {
    engine e = {.s = arg};
    srv_server *s = e.s;
    if (!setup(&e)) {
        atomic_store(&s->state, SRV_FAILED);
        uint64_t one = 1;
        if (write(s->event_fd, &one, sizeof one) < 0) {
        }
    } else {
        int expected = SRV_LOADING;
        atomic_compare_exchange_strong(&s->state, &expected, SRV_READY);
        for (;;) {
            pthread_mutex_lock(&s->in_mu);
            bool stop = s->stop;
            pthread_mutex_unlock(&s->in_mu);
            if (stop) break;
            take_inbox(&e);
            collect_jobs(&e);
            reap(&e);
            while (admit_one(&e)) {
            }
            bool worked = step(&e);
            update_gauges(&e);
            if (worked) continue;
            pthread_mutex_lock(&s->in_mu);
            if (!s->stop && !s->in_head && !gc_has_done(e.gcw)) {
                if (e.act_head || e.q_head) {
                    struct timespec ts;
                    clock_gettime(CLOCK_REALTIME, &ts);
                    ts.tv_nsec += 50 * 1000000L;
                    if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                    }
                    pthread_cond_timedwait(&s->in_cv, &s->in_mu, &ts);
                } else {
                    pthread_cond_wait(&s->in_cv, &s->in_mu);
                }
            }
            pthread_mutex_unlock(&s->in_mu);
        }
    }
    /* Shutdown: end everything still held. */
    while (e.act_head) {
        active *a = e.act_head;
        srv_finish(s, a->req);
        unlink_active(&e, a);
        free_active(&e, a);
    }
    gc_stop(e.gcw); /* frees every job */
    e.gcw = NULL;
    e.compiling = NULL;
    e.stopping = true; /* late requests needing a new grammar get a 503 */
    take_inbox(&e);
    while (e.q_head) {
        pending *p = e.q_head;
        e.q_head = p->next;
        gcache_release(p->ge);
        free(p->prompt);
        drop_request(&e, p->req);
        free(p);
    }
    prefix_pool_free(&e.pool);
    free(e.hist);
    ky_batch_free(&e.batch);
    prep_free(e.prep);
    for (int i = 0; i < GCACHE_N; i++) gcache_entry_free(e.gcache[i]);
    ky_grammar_vocab_free(e.gvocab);
    if (s->cfg.pipe && e.ctx) srv_print_pipe_stats(e.ctx, stderr);
    ky_context_free(e.ctx); /* a pipeline's rank 0: also ends the other ranks */
    s->model = NULL;
    ky_model_free(e.model);
    return NULL;
}
