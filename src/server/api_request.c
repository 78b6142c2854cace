/* api_request.c — parses and validates OpenAI request bodies with jansson (layer: server).
 *
 * Rules follow OpenAI's API reference (types, ranges, defaults); where llama.cpp's server adds
 * fields (top_k, min_p, repetition_penalty, chat_template_kwargs) they are accepted too.
 * Every rejection names the field in `param`. jansson rejects invalid UTF-8 and NUL escapes.
 */
#include "server/api_request.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

bool api_errorf(api_error *err, int status, const char *type, const char *param, const char *code,
                const char *fmt, ...) {
    err->status = status;
    err->type = type;
    err->param = param;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

#define BAD(param, ...) api_errorf(err, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* A JSON null counts as absent (the SDKs send null for unset options). */
static json_t *field(json_t *obj, const char *name) {
    json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

static bool get_number(json_t *obj, const char *name, double lo, double hi, double *out,
                       api_error *err) {
    json_t *v = field(obj, name);
    if (!v) return true;
    if (!json_is_number(v)) return BAD(name, "'%s' must be a number", name);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return BAD(name, "'%s' must be between %g and %g, got %g", name, lo, hi, d);
    *out = d;
    return true;
}

static bool get_int(json_t *obj, const char *name, long long lo, long long hi, long long *out,
                    api_error *err) {
    json_t *v = field(obj, name);
    if (!v) return true;
    long long x;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
             fabs(json_real_value(v)) < 9e15)
        x = (long long)json_real_value(v);
    else
        return BAD(name, "'%s' must be an integer", name);
    if (x < lo || x > hi)
        return BAD(name, "'%s' must be between %lld and %lld, got %lld", name, lo, hi, x);
    *out = x;
    return true;
}

static bool get_bool(json_t *obj, const char *name, bool *out, api_error *err) {
    json_t *v = field(obj, name);
    if (!v) return true;
    if (!json_is_boolean(v)) return BAD(name, "'%s' must be a boolean", name);
    *out = json_is_true(v);
    return true;
}

static bool parse_ids(json_t *arr, const char *name, int32_t n_vocab, ky_token **ids, size_t *n,
                      api_error *err) {
    size_t len = json_array_size(arr);
    *ids = malloc((len ? len : 1) * sizeof **ids);
    if (!*ids) return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_integer(e)) return BAD(name, "'%s' item %zu must be a token id", name, i);
        json_int_t t = json_integer_value(e);
        if (t < 0 || t >= n_vocab)
            return BAD(name, "'%s' item %zu: token id %lld is outside the vocabulary [0, %d)", name,
                       i, (long long)t, n_vocab);
        (*ids)[i] = (ky_token)t;
    }
    *n = len;
    return true;
}

static bool parse_prompt(json_t *root, int32_t n_vocab, api_request *r, api_error *err) {
    json_t *p = field(root, "prompt");
    if (!p) return BAD("prompt", "'prompt' is required");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        r->prompt_len = json_string_length(p);
        r->prompt_text = dup_n(json_string_value(p), r->prompt_len);
        if (!r->prompt_text)
            return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
        return true;
    }
    if (json_is_array(p)) {
        if (json_array_size(p) == 0) return BAD("prompt", "'prompt' must not be empty");
        if (!json_is_integer(json_array_get(p, 0)))
            return BAD("prompt", "'prompt' must be a string, an array of one string or an array "
                                 "of token ids (batched prompts are not supported)");
        return parse_ids(p, "prompt", n_vocab, &r->prompt_ids, &r->n_prompt_ids, err);
    }
    return BAD("prompt", "'prompt' must be a string or an array of token ids");
}

static bool parse_stop(json_t *root, api_request *r, api_error *err) {
    json_t *s = field(root, "stop");
    if (!s) return true;
    size_t n = json_is_string(s) ? 1 : json_is_array(s) ? json_array_size(s) : (size_t)-1;
    if (n == (size_t)-1) return BAD("stop", "'stop' must be a string or an array of strings");
    if (n > KY_SRV_MAX_STOP) return BAD("stop", "'stop' has more than %d strings", KY_SRV_MAX_STOP);
    r->stop = calloc(n ? n : 1, sizeof *r->stop);
    if (!r->stop) return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_string(s) ? s : json_array_get(s, i);
        if (!json_is_string(e)) return BAD("stop", "'stop' item %zu must be a string", i);
        size_t len = json_string_length(e);
        if (len == 0) return BAD("stop", "'stop' strings must not be empty");
        if (len > KY_SRV_MAX_STOP_LEN)
            return BAD("stop", "'stop' strings must be at most %d bytes", KY_SRV_MAX_STOP_LEN);
        if (!(r->stop[r->n_stop] = dup_n(json_string_value(e), len)))
            return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
        r->n_stop++;
    }
    return true;
}

static bool parse_logit_bias(json_t *root, int32_t n_vocab, api_request *r, api_error *err) {
    json_t *b = field(root, "logit_bias");
    if (!b) return true;
    if (!json_is_object(b)) return BAD("logit_bias", "'logit_bias' must be an object");
    size_t n = json_object_size(b);
    if (n > KY_SRV_MAX_LOGIT_BIAS)
        return BAD("logit_bias", "'logit_bias' has more than %d entries", KY_SRV_MAX_LOGIT_BIAS);
    r->logit_bias = calloc(n ? n : 1, sizeof *r->logit_bias);
    if (!r->logit_bias) return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v) {
        char *end;
        long long t = strtoll(key, &end, 10);
        if (!*key || *end || t < 0 || t >= n_vocab)
            return BAD("logit_bias", "'logit_bias' key '%.40s' is not a token id in [0, %d)", key,
                       n_vocab);
        if (!json_is_number(v)) return BAD("logit_bias", "'logit_bias' values must be numbers");
        double d = json_number_value(v);
        if (!(d >= -100 && d <= 100))
            return BAD("logit_bias", "'logit_bias' values must be between -100 and 100");
        r->logit_bias[r->n_logit_bias].token = (ky_token)t;
        /* OpenAI: -100 bans the token. */
        r->logit_bias[r->n_logit_bias].bias = d <= -100 ? -INFINITY : (float)d;
        r->n_logit_bias++;
    }
    return true;
}

static bool check_content(json_t *c, size_t i, api_error *err) {
    if (!c || json_is_string(c)) return true;
    if (!json_is_array(c))
        return BAD("messages", "'messages[%zu].content' must be a string or an array of parts", i);
    for (size_t k = 0; k < json_array_size(c); k++) {
        json_t *part = json_array_get(c, k);
        json_t *type = json_object_get(part, "type");
        if (!json_is_object(part) || !json_is_string(type))
            return BAD("messages", "'messages[%zu].content[%zu]' must be an object with a 'type'",
                       i, k);
        if (strcmp(json_string_value(type), "text") != 0)
            return BAD("messages",
                       "'messages[%zu].content[%zu]': type '%.40s' is not supported "
                       "(text only)",
                       i, k, json_string_value(type));
        if (!json_is_string(json_object_get(part, "text")))
            return BAD("messages", "'messages[%zu].content[%zu].text' must be a string", i, k);
    }
    return true;
}

static bool parse_chat(json_t *root, api_request *r, api_error *err) {
    json_t *msgs = field(root, "messages");
    if (!msgs) return BAD("messages", "'messages' is required");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return BAD("messages", "'messages' must be a non-empty array");
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        json_t *m = json_array_get(msgs, i);
        if (!json_is_object(m)) return BAD("messages", "'messages[%zu]' must be an object", i);
        json_t *role = json_object_get(m, "role");
        if (!json_is_string(role))
            return BAD("messages", "'messages[%zu].role' must be a string", i);
        if (!check_content(field(m, "content"), i, err)) return false;
    }
    json_t *tools = field(root, "tools");
    if (tools && !json_is_array(tools)) return BAD("tools", "'tools' must be an array");
    json_t *kw = field(root, "chat_template_kwargs");
    if (kw && !json_is_object(kw))
        return BAD("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    /* reasoning_effort "none" turns Qwen3-style thinking off (enable_thinking false) unless
     * chat_template_kwargs says otherwise; the other levels leave the template's default. */
    json_t *effort = field(root, "reasoning_effort");
    const char *es = effort ? json_string_value(effort) : NULL;
    if (effort && (!es || (strcmp(es, "none") && strcmp(es, "minimal") && strcmp(es, "low") &&
                           strcmp(es, "medium") && strcmp(es, "high"))))
        return BAD("reasoning_effort",
                   "'reasoning_effort' must be one of none, minimal, low, medium, high");
    json_t *ctx = json_object();
    if (!ctx) return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    if (kw) json_object_update(ctx, kw);
    if (es && !strcmp(es, "none") && !json_object_get(ctx, "enable_thinking"))
        json_object_set_new(ctx, "enable_thinking", json_false());
    json_object_set(ctx, "messages", msgs);
    if (tools) json_object_set(ctx, "tools", tools);
    json_object_set_new(ctx, "add_generation_prompt", json_true());
    r->parallel_tool_calls = true;
    if (!get_bool(root, "parallel_tool_calls", &r->parallel_tool_calls, err)) {
        json_decref(ctx);
        return false;
    }
    json_t *tc = field(root, "tool_choice");
    if (tc) {
        const char *ts = json_string_value(tc);
        json_t *fn = json_object_get(tc, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (ts && !strcmp(ts, "auto"))
            r->tool_choice = API_TOOLS_AUTO;
        else if (ts && !strcmp(ts, "none"))
            r->tool_choice = API_TOOLS_NONE;
        else if (ts && !strcmp(ts, "required"))
            r->tool_choice = API_TOOLS_REQUIRED;
        else if (json_is_object(tc) && name) {
            r->tool_choice = API_TOOLS_NAMED;
            if (!(r->tool_name = dup_n(name, strlen(name)))) {
                json_decref(ctx);
                return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
            }
        } else {
            json_decref(ctx);
            return BAD("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" "
                                      "or {\"type\": \"function\", \"function\": {\"name\"}}");
        }
    }
    if (tools && json_array_size(tools)) {
        bool found = r->tool_choice != API_TOOLS_NAMED;
        for (size_t i = 0; i < json_array_size(tools); i++) {
            json_t *f = json_object_get(json_array_get(tools, i), "function");
            const char *nm = json_string_value(json_object_get(f, "name"));
            if (!nm) {
                json_decref(ctx);
                return BAD("tools", "'tools[%zu].function.name' must be a string", i);
            }
            if (r->tool_name && !strcmp(nm, r->tool_name)) found = true;
        }
        if (!found) {
            json_decref(ctx);
            return BAD("tool_choice", "'tool_choice' names a function not in 'tools'");
        }
        r->tools_json = json_dumps(tools, JSON_COMPACT);
        if (!r->tools_json) {
            json_decref(ctx);
            return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
        }
        /* the grammar of valid calls: unsupported keywords in parameters are a 400 now */
        char *g = NULL;
        ky_error ke;
        ky_tool_grammar_params tp = {KY_TOOL_FORMAT_HERMES, r->tool_name, true, NULL};
        if (ky_grammar_tools_gbnf(r->tools_json, strlen(r->tools_json), &tp, &g, &ke) != KY_OK) {
            json_decref(ctx);
            return BAD("tools", "%s", ke.message);
        }
        free(g);
    } else if (r->tool_choice == API_TOOLS_REQUIRED || r->tool_choice == API_TOOLS_NAMED) {
        json_decref(ctx);
        return BAD("tool_choice", "'tool_choice' requires 'tools'");
    }
    r->chat_context = json_dumps(ctx, JSON_COMPACT);
    json_decref(ctx);
    if (!r->chat_context) return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    return true;
}

static bool parse_sampling(json_t *root, api_request *r, api_error *err) {
    long long x;
    r->max_tokens = -1;
    x = -1;
    const char *mt = field(root, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if (!get_int(root, mt, 1, KY_MAX_CTX, &x, err)) return false;
    r->max_tokens = x;
    x = -1;
    if (!get_int(root, "max_reasoning_tokens", 0, KY_MAX_CTX, &x, err)) return false;
    r->max_reasoning_tokens = (int32_t)x;
    r->temperature = 1.0;
    r->top_p = 1.0;
    if (!get_number(root, "temperature", 0, 2, &r->temperature, err)) return false;
    if (!get_number(root, "top_p", 0, 1, &r->top_p, err)) return false;
    if (!get_number(root, "min_p", 0, 1, &r->min_p, err)) return false;
    x = 0;
    if (!get_int(root, "top_k", -1, INT32_MAX, &x, err)) return false;
    r->top_k = (int32_t)(x < 0 ? 0 : x);
    if (!get_number(root, "presence_penalty", -2, 2, &r->presence_penalty, err)) return false;
    if (!get_number(root, "frequency_penalty", -2, 2, &r->frequency_penalty, err)) return false;
    r->repetition_penalty = 1.0;
    if (!get_number(root, "repetition_penalty", 0, 10, &r->repetition_penalty, err)) return false;
    if (r->repetition_penalty <= 0)
        return BAD("repetition_penalty", "'repetition_penalty' must be greater than 0");
    json_t *seed = field(root, "seed");
    if (seed) {
        if (!json_is_integer(seed)) return BAD("seed", "'seed' must be an integer");
        r->has_seed = true;
        r->seed = (uint64_t)json_integer_value(seed);
    }
    x = 1;
    if (!get_int(root, "n", 1, KY_SRV_MAX_N, &x, err)) return false;
    r->n = (int32_t)x;
    if (!get_bool(root, "stream", &r->stream, err)) return false;
    json_t *so = field(root, "stream_options");
    if (so) {
        if (!json_is_object(so)) return BAD("stream_options", "'stream_options' must be an object");
        if (!get_bool(so, "include_usage", &r->include_usage, err)) return false;
    }
    json_t *user = field(root, "user");
    if (user && !json_is_string(user)) return BAD("user", "'user' must be a string");
    json_t *rf = field(root, "response_format");
    if (rf) {
        json_t *t = json_object_get(rf, "type");
        if (!json_is_object(rf) || !json_is_string(t))
            return BAD("response_format", "'response_format' must be an object with a 'type'");
        const char *type = json_string_value(t);
        if (!strcmp(type, "json_object")) {
            if (ky_json_object_gbnf(&r->grammar) != KY_OK)
                return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
        } else if (!strcmp(type, "json_schema")) {
            json_t *js = json_object_get(rf, "json_schema");
            json_t *schema = json_object_get(js, "schema");
            if (!json_is_object(js) || !(json_is_object(schema) || json_is_boolean(schema)))
                return BAD("response_format",
                           "'response_format.json_schema.schema' must be a JSON Schema object");
            char *text = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
            ky_error ke;
            ky_status st = text ? ky_json_schema_to_gbnf(text, strlen(text), &r->grammar, NULL, &ke)
                                : KY_ERR_NOMEM;
            free(text);
            if (st == KY_ERR_NOMEM)
                return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
            if (st != KY_OK) return BAD("response_format", "json_schema: %s", ke.message);
        } else if (strcmp(type, "text") != 0) {
            return BAD("response_format", "'response_format' type '%.40s' is not supported", type);
        }
    }
    return parse_stop(root, r, err);
}

static bool parse_logprobs(json_t *root, api_request *r, api_error *err) {
    long long x = 0;
    if (r->kind == API_CHAT) {
        if (!get_bool(root, "logprobs", &r->logprobs, err)) return false;
        if (!get_int(root, "top_logprobs", 0, KY_SRV_MAX_TOP_LOGPROBS, &x, err)) return false;
        if (field(root, "top_logprobs") && !r->logprobs)
            return BAD("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    } else {
        x = -1;
        if (!get_int(root, "logprobs", 0, 5, &x, err)) return false;
        r->logprobs = x >= 0;
        if (x < 0) x = 0;
        bool echo = false;
        if (!get_bool(root, "echo", &echo, err)) return false;
        if (echo) return BAD("echo", "'echo' is not supported");
        if (field(root, "suffix")) return BAD("suffix", "'suffix' is not supported");
        long long best_of = 1;
        if (!get_int(root, "best_of", 1, KY_SRV_MAX_N, &best_of, err)) return false;
        if (best_of != 1 && best_of != r->n)
            return BAD("best_of", "'best_of' other than 'n' is not supported");
    }
    r->top_logprobs = (int32_t)x;
    return true;
}

static bool parse_root(json_t *root, int32_t n_vocab, api_request *r, api_error *err) {
    if (!json_is_object(root)) return BAD(NULL, "the request body must be a JSON object");
    if (r->kind == API_TOKENIZE) {
        json_t *c = field(root, "content");
        if (!json_is_string(c)) return BAD("content", "'content' must be a string");
        r->prompt_len = json_string_length(c);
        if (!(r->prompt_text = dup_n(json_string_value(c), r->prompt_len)))
            return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
        return get_bool(root, "add_special", &r->add_special, err) &&
               get_bool(root, "with_pieces", &r->with_pieces, err);
    }
    if (r->kind == API_DETOKENIZE) {
        json_t *t = field(root, "tokens");
        if (!json_is_array(t)) return BAD("tokens", "'tokens' must be an array of token ids");
        return parse_ids(t, "tokens", n_vocab, &r->prompt_ids, &r->n_prompt_ids, err);
    }
    json_t *model = field(root, "model");
    if (model) {
        if (!json_is_string(model)) return BAD("model", "'model' must be a string");
        if (!(r->model = dup_n(json_string_value(model), json_string_length(model))))
            return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    }
    if (r->kind == API_CHAT ? !parse_chat(root, r, err) : !parse_prompt(root, n_vocab, r, err))
        return false;
    return parse_sampling(root, r, err) && parse_logprobs(root, r, err) &&
           parse_logit_bias(root, n_vocab, r, err);
}

bool api_request_parse(api_kind kind, const char *body, size_t len, int32_t n_vocab,
                       api_request *out, api_error *err) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return BAD(NULL, "invalid JSON body: %s (at byte %d)", jerr.text, jerr.position);
    bool ok = parse_root(root, n_vocab, out, err);
    json_decref(root);
    if (!ok) api_request_free(out);
    return ok;
}

void api_request_free(api_request *r) {
    api_kind kind = r->kind;
    free(r->model);
    free(r->prompt_text);
    free(r->prompt_ids);
    free(r->chat_context);
    free(r->grammar);
    free(r->tools_json);
    free(r->tool_name);
    for (size_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r->logit_bias);
    memset(r, 0, sizeof *r);
    r->kind = kind;
}
