/* chat_api.c — the chat-template functions of kaiyuan.h: templates from models, rendering with
 * transformers' variables, OpenAI normalisation, provenance-aware tokenization and stop tokens
 * (layer: engine).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/limits.h"
#include "chat/jinja.h"
#include "engine/engine.h"
#include "tokenizer/tokenize.h"
#include "tokenizer/vocab.h"

struct ky_chat_template {
    jx_tmpl *t;
};

struct ky_chat_prompt {
    char *text;
    uint8_t *prov;
    size_t len;
};

/* Hugging Face's ChatML template (as in transformers' default for ChatML models). */
static const char k_chatml[] =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

ky_status ky_chat_template_parse(const char *source, size_t len, const char *name,
                                 ky_chat_template **out, ky_error *err) {
    ky_error_clear(err);
    if (!out || (!source && len))
        return ky_errf(err, KY_ERR_INVALID_ARG, "ky_chat_template_parse: NULL argument");
    ky_chat_template *t = calloc(1, sizeof *t);
    if (!t) return ky_errf(err, KY_ERR_NOMEM, "out of memory");
    ky_status st = jx_tmpl_parse(source, len, name, &t->t, err);
    if (st) {
        free(t);
        return st;
    }
    *out = t;
    return KY_OK;
}

ky_status ky_chat_template_from_model(const ky_model *model, ky_chat_template **out,
                                      ky_error *err) {
    ky_error_clear(err);
    if (!model || !out)
        return ky_errf(err, KY_ERR_INVALID_ARG, "ky_chat_template_from_model: NULL argument");
    const char *src = ky_model_chat_template(model);
    if (!src)
        return ky_errf(err, KY_ERR_NOT_FOUND,
                       "the model has no chat template (tokenizer.chat_template)");
    return ky_chat_template_parse(src, strlen(src), "tokenizer.chat_template", out, err);
}

ky_status ky_chat_template_chatml(ky_chat_template **out, ky_error *err) {
    return ky_chat_template_parse(k_chatml, sizeof k_chatml - 1, "chatml", out, err);
}

void ky_chat_template_free(ky_chat_template *tmpl) {
    if (!tmpl) return;
    jx_tmpl_free(tmpl->t);
    free(tmpl);
}

/* ---- OpenAI normalisation ---------------------------------------------------------------- */

static ky_status normalise_message(json_t *m, size_t idx, ky_error *err) {
    if (!json_is_object(m))
        return ky_errf(err, KY_ERR_INVALID_ARG, "messages[%zu] is not an object", idx);
    json_t *content = json_object_get(m, "content");
    if (json_is_null(content)) {
        json_object_set_new(m, "content", json_string(""));
    } else if (json_is_array(content)) {
        size_t total = 0, i;
        json_t *part;
        json_array_foreach(content, i, part) {
            json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
            if (!json_is_object(part) || !json_is_string(type))
                return ky_errf(err, KY_ERR_INVALID_ARG,
                               "messages[%zu].content[%zu] is not a content part with a type", idx,
                               i);
            if (strcmp(json_string_value(type), "text") != 0)
                return ky_errf(err, KY_ERR_UNSUPPORTED,
                               "messages[%zu].content[%zu]: content parts of type '%s' are not "
                               "supported (text only)",
                               idx, i, json_string_value(type));
            if (!json_is_string(text))
                return ky_errf(err, KY_ERR_INVALID_ARG,
                               "messages[%zu].content[%zu].text is not a string", idx, i);
            total += json_string_length(text) + 1;
        }
        char *buf = malloc(total + 1);
        if (!buf) return ky_errf(err, KY_ERR_NOMEM, "out of memory");
        size_t k = 0;
        json_array_foreach(content, i, part) {
            json_t *text = json_object_get(part, "text");
            if (i) buf[k++] = '\n';
            memcpy(buf + k, json_string_value(text), json_string_length(text));
            k += json_string_length(text);
        }
        json_object_set_new(m, "content", json_stringn(buf, k));
        free(buf);
    }
    json_t *calls = json_object_get(m, "tool_calls");
    if (json_is_array(calls)) {
        size_t i;
        json_t *call;
        json_array_foreach(calls, i, call) {
            json_t *fn = json_object_get(call, "function");
            json_t *args = fn ? json_object_get(fn, "arguments") : NULL;
            if (json_is_string(args)) {
                json_t *parsed = json_loadb(json_string_value(args), json_string_length(args),
                                            JSON_DECODE_ANY, NULL);
                if (json_is_object(parsed))
                    json_object_set_new(fn, "arguments", parsed);
                else
                    json_decref(parsed);
            }
        }
    }
    return KY_OK;
}

/* ---- rendering --------------------------------------------------------------------------- */

static void set_token_var(json_t *vars, const char *key, const ky_model *model, ky_token t) {
    if (json_object_get(vars, key) || !model || t == KY_TOKEN_NULL) return;
    size_t n;
    const char *s = ky_vocab_token_text(model, t, &n);
    if (s) json_object_set_new(vars, key, json_stringn(s, n));
}

ky_status ky_chat_render(const ky_chat_template *tmpl, const ky_model *model, const char *vars_json,
                         size_t len, unsigned flags, ky_chat_prompt **out, ky_error *err) {
    ky_error_clear(err);
    if (!tmpl || !out || (!vars_json && len))
        return ky_errf(err, KY_ERR_INVALID_ARG, "ky_chat_render: NULL argument");
    if (len > KY_CHAT_MAX_CONTEXT_BYTES)
        return ky_errf(err, KY_ERR_INVALID_ARG, "chat variables: %zu bytes, more than %u allowed",
                       len, KY_CHAT_MAX_CONTEXT_BYTES);
    json_error_t jerr;
    json_t *vars = len ? json_loadb(vars_json, len, JSON_ALLOW_NUL, &jerr) : json_object();
    if (!vars)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "chat variables: invalid JSON at line %d column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    ky_status st = KY_OK;
    if (!json_is_object(vars)) {
        st = ky_errf(err, KY_ERR_INVALID_ARG, "chat variables: expected a JSON object");
        goto done;
    }
    json_t *messages = json_object_get(vars, "messages");
    if (messages && !json_is_array(messages)) {
        st = ky_errf(err, KY_ERR_INVALID_ARG, "chat variables: 'messages' is not an array");
        goto done;
    }
    if (flags & KY_CHAT_OPENAI) {
        size_t i;
        json_t *m;
        json_array_foreach(messages, i, m) {
            if ((st = normalise_message(m, i, err))) goto done;
        }
    }
    if (!json_object_get(vars, "tools")) json_object_set_new(vars, "tools", json_null());
    if (!json_object_get(vars, "documents")) json_object_set_new(vars, "documents", json_null());
    if (!json_object_get(vars, "add_generation_prompt"))
        json_object_set_new(vars, "add_generation_prompt", json_false());
    if (model) {
        set_token_var(vars, "bos_token", model, ky_vocab_bos(model));
        set_token_var(vars, "eos_token", model, ky_vocab_eos(model));
    }
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    int64_t now = (int64_t)time(NULL);
    bool utc = false;
    if (epoch && *epoch) {
        char *e;
        long long v = strtoll(epoch, &e, 10);
        if (!*e) now = v, utc = true;
    }
    static const char *const tmpl_keys[] = {"bos_token", "eos_token", "pad_token", "unk_token",
                                            NULL};
    jx_output o;
    st = jx_render(tmpl->t, vars, tmpl_keys, now, utc, &o, err);
    if (st) goto done;
    ky_chat_prompt *p = malloc(sizeof *p);
    if (!p) {
        free(o.text);
        free(o.prov);
        st = ky_errf(err, KY_ERR_NOMEM, "out of memory");
        goto done;
    }
    p->text = o.text;
    p->prov = o.prov;
    p->len = o.len;
    *out = p;
done:
    json_decref(vars);
    return st;
}

const char *ky_chat_prompt_text(const ky_chat_prompt *prompt, size_t *len) {
    if (len) *len = prompt ? prompt->len : 0;
    return prompt ? prompt->text : NULL;
}

bool ky_chat_prompt_is_data(const ky_chat_prompt *prompt, size_t i) {
    return prompt && i < prompt->len && prompt->prov[i];
}

ky_status ky_chat_prompt_tokenize(const ky_chat_prompt *prompt, const ky_model *model,
                                  ky_token **ids, size_t *n, ky_error *err) {
    ky_error_clear(err);
    if (!prompt || !model || !ids || !n)
        return ky_errf(err, KY_ERR_INVALID_ARG, "ky_chat_prompt_tokenize: NULL argument");
    if (!model->vocab) return ky_errf(err, KY_ERR_UNSUPPORTED, "the model has no tokenizer");
    size_t count = 0;
    ky_status st = ky_vocab_tokenize_masked(model->vocab, prompt->text, prompt->len, prompt->prov,
                                            KY_TOKENIZE_PARSE_SPECIAL, NULL, 0, &count);
    if (st && st != KY_ERR_INVALID_ARG)
        return ky_errf(err, st, "tokenizing the rendered prompt failed");
    if (st == KY_ERR_INVALID_ARG && count == 0)
        return ky_errf(err, st, "the rendered prompt is too long to tokenize");
    ky_token *buf = malloc((count ? count : 1) * sizeof *buf);
    if (!buf) return ky_errf(err, KY_ERR_NOMEM, "out of memory for %zu tokens", count);
    st = ky_vocab_tokenize_masked(model->vocab, prompt->text, prompt->len, prompt->prov,
                                  KY_TOKENIZE_PARSE_SPECIAL, buf, count, &count);
    if (st) {
        free(buf);
        return ky_errf(err, st, "tokenizing the rendered prompt failed");
    }
    *ids = buf;
    *n = count;
    return KY_OK;
}

void ky_chat_prompt_free(ky_chat_prompt *prompt) {
    if (!prompt) return;
    free(prompt->text);
    free(prompt->prov);
    free(prompt);
}

size_t ky_chat_stop_tokens(const ky_model *model, ky_token *out, size_t cap) {
    const ky_vocab *v = model ? model->vocab : NULL;
    if (!v) return 0;
    static const char *const names[] = {"<|im_end|>",
                                        "<|eot_id|>",
                                        "<|end|>",
                                        "<|endoftext|>",
                                        "<|end_of_text|>",
                                        "<\xef\xbd\x9c"
                                        "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                        "<|eom_id|>",
                                        NULL};
    size_t k = 0;
    for (ky_token t = 0; t < v->n_tokens; t++) {
        bool stop = v->is_eog[t] || t == v->eos || t == v->eot;
        if (!stop && (v->attr[t] == KY_TOKEN_CONTROL || v->attr[t] == KY_TOKEN_USER_DEFINED))
            for (size_t i = 0; names[i] && !stop; i++)
                stop = v->text_len[t] == strlen(names[i]) &&
                       !memcmp(v->text[t], names[i], v->text_len[t]);
        if (!stop) continue;
        if (k < cap && out) out[k] = t;
        k++;
    }
    return k;
}
