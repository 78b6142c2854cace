/* vocab_api.c — the vocabulary and tokenization functions of kaiyuan.h over model->vocab
 * (layer: engine).
 *
 * Thin wrappers: argument checks, "no tokenizer" handling, and the public streaming decoder
 * handle around the tokenizer's ky_vocab_stream.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tokenizer/tokenize.h"
#include "tokenizer/vocab.h"

struct ky_detok_stream {
    ky_vocab_stream s;
};

static const ky_vocab *vocab_of(const ky_model *m) { return m ? m->vocab : NULL; }

int32_t ky_vocab_n_tokens(const ky_model *model) {
    const ky_vocab *v = vocab_of(model);
    return v ? v->n_tokens : 0;
}

ky_token ky_vocab_bos(const ky_model *model) {
    const ky_vocab *v = vocab_of(model);
    return v ? v->bos : KY_TOKEN_NULL;
}

ky_token ky_vocab_eos(const ky_model *model) {
    const ky_vocab *v = vocab_of(model);
    return v ? v->eos : KY_TOKEN_NULL;
}

ky_token ky_vocab_eot(const ky_model *model) {
    const ky_vocab *v = vocab_of(model);
    return v ? v->eot : KY_TOKEN_NULL;
}

bool ky_vocab_add_bos(const ky_model *model) {
    const ky_vocab *v = vocab_of(model);
    return v && v->add_bos && v->bos != KY_TOKEN_NULL;
}

bool ky_vocab_is_eog(const ky_model *model, ky_token t) {
    const ky_vocab *v = vocab_of(model);
    return v && t >= 0 && t < v->n_tokens && v->is_eog[t];
}

ky_token_attr ky_vocab_token_attr(const ky_model *model, ky_token t) {
    const ky_vocab *v = vocab_of(model);
    if (!v || t < 0 || t >= v->n_tokens) return (ky_token_attr)0;
    return (ky_token_attr)v->attr[t];
}

const char *ky_vocab_kind(const ky_model *model) {
    const ky_vocab *v = vocab_of(model);
    return v ? v->model_name : "none";
}

const char *ky_vocab_token_text(const ky_model *model, ky_token t, size_t *len) {
    const ky_vocab *v = vocab_of(model);
    if (len) *len = 0;
    if (!v || !len || t < 0 || t >= v->n_tokens) return NULL;
    *len = v->text_len[t];
    return v->text[t];
}

ky_status ky_tokenize(const ky_model *model, const char *text, size_t len, unsigned flags,
                      ky_token *out, size_t cap, size_t *n_out) {
    if (!n_out) return KY_ERR_INVALID_ARG;
    *n_out = 0;
    const ky_vocab *v = vocab_of(model);
    if (!model) return KY_ERR_INVALID_ARG;
    if (!v) return KY_ERR_UNSUPPORTED;
    return ky_vocab_tokenize(v, text, len, flags, out, cap, n_out);
}

ky_status ky_token_to_piece(const ky_model *model, ky_token t, unsigned flags, char *out,
                            size_t cap, size_t *n_out) {
    if (!n_out) return KY_ERR_INVALID_ARG;
    *n_out = 0;
    const ky_vocab *v = vocab_of(model);
    if (!model) return KY_ERR_INVALID_ARG;
    if (!v) return KY_ERR_UNSUPPORTED;
    size_t len;
    const char *p = ky_vocab_piece(v, t, flags, &len);
    if (!p) return KY_ERR_INVALID_ARG;
    if (!out) cap = 0;
    if (cap && len) memcpy(out, p, len < cap ? len : cap);
    *n_out = len;
    return len <= cap ? KY_OK : KY_ERR_INVALID_ARG;
}

ky_status ky_detokenize(const ky_model *model, const ky_token *ids, size_t n, unsigned flags,
                        char *out, size_t cap, size_t *n_out) {
    if (!n_out) return KY_ERR_INVALID_ARG;
    *n_out = 0;
    const ky_vocab *v = vocab_of(model);
    if (!model) return KY_ERR_INVALID_ARG;
    if (!v) return KY_ERR_UNSUPPORTED;
    return ky_vocab_detokenize(v, ids, n, flags, out, cap, n_out);
}

ky_status ky_detok_stream_create(const ky_model *model, unsigned flags, ky_detok_stream **out) {
    if (!model || !out) return KY_ERR_INVALID_ARG;
    const ky_vocab *v = vocab_of(model);
    if (!v) return KY_ERR_UNSUPPORTED;
    ky_detok_stream *s = malloc(sizeof *s);
    if (!s) return KY_ERR_NOMEM;
    ky_vocab_stream_init(&s->s, v, flags);
    *out = s;
    return KY_OK;
}

void ky_detok_stream_free(ky_detok_stream *stream) {
    if (!stream) return;
    ky_vocab_stream_free(&stream->s);
    free(stream);
}

ky_status ky_detok_stream_push(ky_detok_stream *stream, ky_token t, const char **text,
                               size_t *len) {
    if (!stream || !text || !len) return KY_ERR_INVALID_ARG;
    return ky_vocab_stream_push(&stream->s, t, text, len);
}

ky_status ky_detok_stream_flush(ky_detok_stream *stream, const char **text, size_t *len) {
    if (!stream || !text || !len) return KY_ERR_INVALID_ARG;
    return ky_vocab_stream_flush(&stream->s, text, len);
}
