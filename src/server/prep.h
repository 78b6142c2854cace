/* prep.h — request → prompt token ids (layer: server; uses kaiyuan.h only).
 *
 * Completions: a text prompt is tokenized with special tokens parsed and BOS prepended when the
 * vocabulary asks for it; a token-id prompt is used as is. Chat: the messages are rendered with
 * the model's chat template (ChatML when it has none) and tokenized so that special tokens
 * are matched only in template text. Runs on the engine thread.
 */
#ifndef KY_SERVER_PREP_H
#define KY_SERVER_PREP_H

#include <stdbool.h>
#include <stddef.h>

#include "kaiyuan.h"
#include "server/api_request.h"

/* Per-model state prep needs (the chat template); built once after loading. */
typedef struct prep_state prep_state;

/* Creates the prep state for model (the chat template: the model's, else ChatML). NULL when out
 * of memory; warnings on stderr. */
prep_state *prep_create(const ky_model *model);
void prep_free(prep_state *p);

/* Whether t ends the generation of a request of kind: an end-of-generation token of the
 * vocabulary, and for chat also the end of an assistant turn (ky_chat_stop_tokens). */
bool prep_is_end(const prep_state *p, api_kind kind, ky_token t);

/* Tokenizes text (len bytes) with special tokens parsed; add_bos prepends BOS when the vocabulary
 * has one. On success *ids (malloc'ed, caller frees) and *n. On failure err is a 400 or 500. */
bool prep_tokenize(const ky_model *model, const char *text, size_t len, bool add_bos,
                   ky_token **ids, size_t *n, api_error *err);

/* The prompt ids of a completion or chat request r, checked to leave room in n_ctx positions
 * for one generated token (else 400 context_length_exceeded with both counts). An empty prompt
 * becomes BOS (400 when there is none). On success *ids is malloc'ed (caller frees). */
bool prep_prompt(prep_state *p, const ky_model *model, const api_request *r, int32_t n_ctx,
                 ky_token **ids, size_t *n, api_error *err);

#endif
