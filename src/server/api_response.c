/* api_response.c — builds OpenAI response JSON with jansson (layer: server).
 *
 * Shapes follow what api.openai.com sends (and what the openai-node SDK parses): field order
 * id, object, created, model, system_fingerprint, choices, usage. Log-probabilities use OpenAI's
 * two shapes: chat `logprobs.content[] = {token, logprob, bytes, top_logprobs[]}` and completions
 * `logprobs = {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}`.
 */
#include "server/api_response.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

bool api_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_len) {
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    ky_strbuf_append(&sb, "", 0);
    for (size_t i = 0; i < n;) {
        size_t k = ky_utf8_seq_len(s + i, n - i);
        if (k) {
            ky_strbuf_append(&sb, s + i, k);
            i += k;
        } else {
            ky_strbuf_append(&sb, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    if (sb.failed || !sb.data) {
        ky_strbuf_free(&sb);
        return false;
    }
    *out = sb.data;
    *out_len = sb.len;
    return true;
}

static json_t *jstr(const char *s, size_t n) {
    json_t *v = json_stringn(s, n);
    if (v) return v;
    char *clean;
    size_t len;
    if (!api_utf8_sanitize(s, n, &clean, &len)) return NULL;
    v = json_stringn(clean, len);
    free(clean);
    return v;
}

static json_t *jlogprob(float lp) { return json_real(isfinite(lp) ? (double)lp : -9999.0); }

static char *dump(json_t *o) {
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Token t's bytes as printed, in a malloc'ed buffer. */
static char *piece_of(const api_meta *m, ky_token t, size_t *len) {
    char small[64];
    size_t n = m->piece(m->piece_user, t, small, sizeof small);
    char *buf = malloc(n + 1);
    if (!buf) return NULL;
    if (n <= sizeof small)
        memcpy(buf, small, n);
    else
        m->piece(m->piece_user, t, buf, n);
    buf[n] = 0;
    *len = n;
    return buf;
}

static json_t *jbytes(const char *p, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)p[i]));
    return a;
}

/* Chat: {"token", "logprob", "bytes"} (+ "top_logprobs" when with_top). */
static json_t *chat_lp_item(const api_meta *m, ky_token t, float lp, const api_lp_entry *e) {
    size_t n;
    char *p = piece_of(m, t, &n);
    if (!p) return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "token", jstr(p, n));
    json_object_set_new(o, "logprob", jlogprob(lp));
    json_object_set_new(o, "bytes", jbytes(p, n));
    free(p);
    if (e) {
        json_t *top = json_array();
        for (int32_t k = 0; k < e->n_top; k++)
            json_array_append_new(top, chat_lp_item(m, e->top[k].token, e->top[k].logprob, NULL));
        json_object_set_new(o, "top_logprobs", top);
    }
    return o;
}

static json_t *logprobs_json(const api_meta *m, const api_lp_entry *lp, size_t n) {
    if (!lp) return json_null();
    if (m->kind == API_CHAT) {
        json_t *content = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(content, chat_lp_item(m, lp[i].token, lp[i].logprob, &lp[i]));
        json_t *o = json_object();
        json_object_set_new(o, "content", content);
        json_object_set_new(o, "refusal", json_null());
        return o;
    }
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *p = piece_of(m, lp[i].token, &len);
        json_array_append_new(tokens, p ? jstr(p, len) : json_string(""));
        free(p);
        json_array_append_new(lps, jlogprob(lp[i].logprob));
        json_t *top = json_object();
        for (int32_t k = 0; k < lp[i].n_top; k++) {
            char *tp = piece_of(m, lp[i].top[k].token, &len);
            if (!tp) continue;
            json_t *key = jstr(tp, len);
            free(tp);
            /* json_object keys are NUL-terminated: a piece with a NUL byte is cut there. */
            if (key)
                json_object_set_new(top, json_string_value(key), jlogprob(lp[i].top[k].logprob));
            json_decref(key);
        }
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer(lp[i].text_offset));
    }
    json_t *o = json_object();
    json_object_set_new(o, "tokens", tokens);
    json_object_set_new(o, "token_logprobs", lps);
    json_object_set_new(o, "top_logprobs", tops);
    json_object_set_new(o, "text_offset", offs);
    return o;
}

static json_t *usage_json(const api_usage *u) {
    json_t *o = json_object();
    json_object_set_new(o, "prompt_tokens", json_integer(u->prompt_tokens));
    json_object_set_new(o, "completion_tokens", json_integer(u->completion_tokens));
    json_object_set_new(o, "total_tokens", json_integer(u->prompt_tokens + u->completion_tokens));
    json_t *d = json_object();
    json_object_set_new(d, "cached_tokens", json_integer(u->cached_tokens));
    json_object_set_new(o, "prompt_tokens_details", d);
    d = json_object();
    json_object_set_new(d, "reasoning_tokens", json_integer(u->reasoning_tokens));
    json_object_set_new(o, "completion_tokens_details", d);
    return o;
}

static json_t *head(const api_meta *m, bool chunk) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(m->id));
    const char *obj = m->kind == API_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                          : "text_completion";
    json_object_set_new(o, "object", json_string(obj));
    json_object_set_new(o, "created", json_integer(m->created));
    json_object_set_new(o, "model", jstr(m->model, strlen(m->model)));
    json_object_set_new(o, "system_fingerprint", json_string(API_SYSTEM_FINGERPRINT));
    return o;
}

char *api_response_final(const api_meta *m, const api_choice *choices, size_t n,
                         const api_usage *u) {
    json_t *o = head(m, false), *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const api_choice *c = &choices[i];
        json_t *ch = json_object();
        if (m->kind == API_CHAT) {
            json_object_set_new(ch, "index", json_integer((json_int_t)i));
            json_t *msg = json_object();
            json_object_set_new(msg, "role", json_string("assistant"));
            if (c->tool_calls && c->len == 0)
                json_object_set_new(msg, "content", json_null());
            else
                json_object_set_new(msg, "content", jstr(c->text, c->len));
            if (c->reasoning) {
                json_object_set_new(msg, "reasoning_content", jstr(c->reasoning, c->reasoning_len));
                json_object_set_new(msg, "reasoning", jstr(c->reasoning, c->reasoning_len));
            }
            if (c->tool_calls) {
                json_t *tc = json_loads(c->tool_calls, 0, NULL);
                json_object_set_new(msg, "tool_calls", tc ? tc : json_array());
            }
            json_object_set_new(msg, "refusal", json_null());
            json_object_set_new(ch, "message", msg);
            json_object_set_new(ch, "logprobs", logprobs_json(m, c->lp, c->n_lp));
        } else {
            json_object_set_new(ch, "text", jstr(c->text, c->len));
            json_object_set_new(ch, "index", json_integer((json_int_t)i));
            json_object_set_new(ch, "logprobs", logprobs_json(m, c->lp, c->n_lp));
        }
        json_object_set_new(ch, "finish_reason", json_string(c->finish_reason));
        json_array_append_new(arr, ch);
    }
    json_object_set_new(o, "choices", arr);
    json_object_set_new(o, "usage", usage_json(u));
    return dump(o);
}

static char *chunk(const api_meta *m, int32_t index, json_t *delta_or_text, json_t *logprobs,
                   const char *finish) {
    json_t *o = head(m, true), *arr = json_array(), *ch = json_object();
    if (m->kind == API_CHAT) {
        json_object_set_new(ch, "index", json_integer(index));
        json_object_set_new(ch, "delta", delta_or_text);
    } else {
        json_object_set_new(ch, "text", delta_or_text);
        json_object_set_new(ch, "index", json_integer(index));
    }
    json_object_set_new(ch, "logprobs", logprobs ? logprobs : json_null());
    json_object_set_new(ch, "finish_reason", finish ? json_string(finish) : json_null());
    json_array_append_new(arr, ch);
    json_object_set_new(o, "choices", arr);
    if (m->include_usage) json_object_set_new(o, "usage", json_null());
    return dump(o);
}

char *api_chunk_role(const api_meta *m, int32_t index) {
    json_t *d = json_object();
    json_object_set_new(d, "role", json_string("assistant"));
    json_object_set_new(d, "content", json_string(""));
    return chunk(m, index, d, NULL, NULL);
}

char *api_chunk_text(const api_meta *m, int32_t index, const char *text, size_t len,
                     const api_lp_entry *lp, size_t n_lp) {
    json_t *t = jstr(text, len), *d = t;
    if (m->kind == API_CHAT) {
        d = json_object();
        json_object_set_new(d, "content", t);
    }
    return chunk(m, index, d, lp ? logprobs_json(m, lp, n_lp) : NULL, NULL);
}

char *api_chunk_reasoning(const api_meta *m, int32_t index, const char *text, size_t len) {
    json_t *d = json_object();
    json_object_set_new(d, "reasoning_content", jstr(text, len));
    json_object_set_new(d, "reasoning", jstr(text, len));
    return chunk(m, index, d, NULL, NULL);
}

static json_t *tool_delta(int32_t call, json_t *fn, const char *id) {
    json_t *d = json_object(), *arr = json_array(), *tc = json_object();
    json_object_set_new(tc, "index", json_integer(call));
    if (id) {
        json_object_set_new(tc, "id", json_string(id));
        json_object_set_new(tc, "type", json_string("function"));
    }
    json_object_set_new(tc, "function", fn);
    json_array_append_new(arr, tc);
    json_object_set_new(d, "tool_calls", arr);
    return d;
}

char *api_chunk_tool_header(const api_meta *m, int32_t index, int32_t call, const char *id,
                            const char *name, size_t name_len) {
    json_t *fn = json_object();
    json_object_set_new(fn, "name", jstr(name, name_len));
    json_object_set_new(fn, "arguments", json_string(""));
    return chunk(m, index, tool_delta(call, fn, id), NULL, NULL);
}

char *api_chunk_tool_args(const api_meta *m, int32_t index, int32_t call, const char *args,
                          size_t len) {
    json_t *fn = json_object();
    json_object_set_new(fn, "arguments", jstr(args, len));
    return chunk(m, index, tool_delta(call, fn, NULL), NULL, NULL);
}

bool api_tool_call_append(char **arr, const char *id, const char *name, size_t name_len,
                          const char *args, size_t args_len) {
    json_t *a = *arr ? json_loads(*arr, 0, NULL) : json_array();
    json_t *tc = json_object(), *fn = json_object();
    if (!a || !tc || !fn) {
        json_decref(a), json_decref(tc), json_decref(fn);
        return false;
    }
    json_object_set_new(tc, "id", json_string(id));
    json_object_set_new(tc, "type", json_string("function"));
    json_object_set_new(fn, "name", jstr(name, name_len));
    json_object_set_new(fn, "arguments", jstr(args, args_len));
    json_object_set_new(tc, "function", fn);
    json_array_append_new(a, tc);
    char *t = dump(a);
    if (!t) return false;
    free(*arr);
    *arr = t;
    return true;
}

char *api_chunk_finish(const api_meta *m, int32_t index, const char *finish_reason) {
    json_t *d = m->kind == API_CHAT ? json_object() : json_string("");
    return chunk(m, index, d, NULL, finish_reason);
}

char *api_chunk_usage(const api_meta *m, const api_usage *u) {
    json_t *o = head(m, true);
    json_object_set_new(o, "choices", json_array());
    json_object_set_new(o, "usage", usage_json(u));
    return dump(o);
}

char *api_error_json(const api_error *e) {
    json_t *inner = json_object();
    json_object_set_new(inner, "message", jstr(e->message, strlen(e->message)));
    json_object_set_new(inner, "type", json_string(e->type ? e->type : "server_error"));
    json_object_set_new(inner, "param", e->param ? json_string(e->param) : json_null());
    json_object_set_new(inner, "code", e->code ? json_string(e->code) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "error", inner);
    return dump(o);
}

char *api_models_json(const char *model, int64_t created) {
    json_t *m = json_object();
    json_object_set_new(m, "id", jstr(model, strlen(model)));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(created));
    json_object_set_new(m, "owned_by", json_string("kaiyuan"));
    json_t *data = json_array();
    json_array_append_new(data, m);
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", data);
    return dump(o);
}

char *api_tokenize_json(const ky_token *ids, size_t n, bool with_pieces, api_piece_fn piece,
                        void *user) {
    api_meta m = {.piece = piece, .piece_user = user};
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!with_pieces) {
            json_array_append_new(arr, json_integer(ids[i]));
            continue;
        }
        size_t len;
        char *p = piece_of(&m, ids[i], &len);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(ids[i]));
        json_object_set_new(o, "piece", p ? jstr(p, len) : json_string(""));
        free(p);
        json_array_append_new(arr, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "tokens", arr);
    return dump(o);
}

char *api_detokenize_json(const char *text, size_t len) {
    json_t *o = json_object();
    json_object_set_new(o, "content", jstr(text, len));
    return dump(o);
}
