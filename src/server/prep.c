/* prep.c — prompt preparation: tokenization and chat rendering (layer: server). */
#include "server/prep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREP_MAX_STOP_TOKENS 64

struct prep_state {
    const ky_model *model;
    ky_chat_template *tmpl;
    ky_token stop[PREP_MAX_STOP_TOKENS]; /* ends of an assistant turn (ascending) */
    size_t n_stop;
};

prep_state *prep_create(const ky_model *model) {
    prep_state *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->model = model;
    ky_error err = {0};
    ky_status st = ky_chat_template_from_model(model, &p->tmpl, &err);
    if (st != KY_OK) {
        if (st != KY_ERR_NOT_FOUND)
            fprintf(stderr,
                    "kaiyuan serve: the model's chat template is unusable (%s); using "
                    "ChatML\n",
                    err.message);
        if (ky_chat_template_chatml(&p->tmpl, &err) != KY_OK) {
            free(p);
            return NULL;
        }
    }
    p->n_stop = ky_chat_stop_tokens(model, p->stop, PREP_MAX_STOP_TOKENS);
    if (p->n_stop > PREP_MAX_STOP_TOKENS) p->n_stop = PREP_MAX_STOP_TOKENS;
    return p;
}

void prep_free(prep_state *p) {
    if (!p) return;
    ky_chat_template_free(p->tmpl);
    free(p);
}

bool prep_is_end(const prep_state *p, api_kind kind, ky_token t) {
    if (ky_vocab_is_eog(p->model, t)) return true;
    if (kind != API_CHAT) return false;
    for (size_t i = 0; i < p->n_stop; i++)
        if (p->stop[i] == t) return true;
    return false;
}

bool prep_tokenize(const ky_model *model, const char *text, size_t len, bool add_bos,
                   ky_token **ids, size_t *n, api_error *err) {
    unsigned flags = KY_TOKENIZE_PARSE_SPECIAL | (add_bos ? KY_TOKENIZE_ADD_BOS : 0);
    size_t count = 0;
    ky_status st = ky_tokenize(model, text, len, flags, NULL, 0, &count);
    if (st != KY_OK && !(st == KY_ERR_INVALID_ARG && count > 0))
        return api_errorf(err, st == KY_ERR_NOMEM ? 500 : 400,
                          st == KY_ERR_NOMEM ? "server_error" : "invalid_request_error", NULL, NULL,
                          "cannot tokenize the prompt: %s", ky_status_name(st));
    *ids = malloc((count ? count : 1) * sizeof **ids);
    if (!*ids) return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    st = ky_tokenize(model, text, len, flags, *ids, count, n);
    if (st != KY_OK) {
        free(*ids);
        *ids = NULL;
        return api_errorf(err, 500, "server_error", NULL, NULL, "cannot tokenize the prompt: %s",
                          ky_status_name(st));
    }
    return true;
}

static bool chat_prompt(prep_state *p, const api_request *r, ky_token **ids, size_t *n,
                        api_error *err) {
    ky_chat_prompt *prompt = NULL;
    ky_error e = {0};
    ky_status st = ky_chat_render(p->tmpl, p->model, r->chat_context, strlen(r->chat_context),
                                  KY_CHAT_OPENAI, &prompt, &e);
    if (st == KY_OK) st = ky_chat_prompt_tokenize(prompt, p->model, ids, n, &e);
    ky_chat_prompt_free(prompt);
    if (st == KY_OK) return true;
    if (st == KY_ERR_NOMEM)
        return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
    return api_errorf(err, 400, "invalid_request_error", "messages", NULL,
                      "cannot render the chat template: %s", e.message);
}

bool prep_prompt(prep_state *p, const ky_model *model, const api_request *r, int32_t n_ctx,
                 ky_token **ids, size_t *n, api_error *err) {
    *ids = NULL;
    *n = 0;
    if (r->kind == API_CHAT) {
        if (!chat_prompt(p, r, ids, n, err)) return false;
    } else if (r->prompt_ids) {
        *ids = malloc((r->n_prompt_ids ? r->n_prompt_ids : 1) * sizeof **ids);
        if (!*ids) return api_errorf(err, 500, "server_error", NULL, NULL, "out of memory");
        memcpy(*ids, r->prompt_ids, r->n_prompt_ids * sizeof **ids);
        *n = r->n_prompt_ids;
    } else if (!prep_tokenize(model, r->prompt_text, r->prompt_len, ky_vocab_add_bos(model), ids, n,
                              err)) {
        return false;
    }
    if (*n == 0) {
        ky_token bos = ky_vocab_bos(model);
        if (bos == KY_TOKEN_NULL) {
            free(*ids);
            *ids = NULL;
            return api_errorf(err, 400, "invalid_request_error", "prompt", NULL,
                              "the prompt is empty and the model has no BOS token");
        }
        (*ids)[0] = bos;
        *n = 1;
    }
    if (*n + 1 > (size_t)n_ctx) {
        api_errorf(err, 400, "invalid_request_error", r->kind == API_CHAT ? "messages" : "prompt",
                   "context_length_exceeded",
                   "This model's maximum context length is %d tokens. However, your prompt has "
                   "%zu tokens, which leaves no room for a generated token.",
                   n_ctx, *n);
        free(*ids);
        *ids = NULL;
        return false;
    }
    return true;
}
