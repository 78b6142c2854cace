/* vocab.c — loading token texts, scores, types and special ids from GGUF, and building the
 * tokenizer's lookup structures (layer: tokenizer). */
#include "tokenizer/vocab.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "gguf/gguf.h"
#include "tokenizer/tok_impl.h"

/* Reads an optional token id key; absent or out of range → KY_TOKEN_NULL. */
static ky_token optional_id(const ky_gguf *g, const char *key, int32_t n_tokens) {
    int64_t v;
    if (gguf_get_int(g, key, &v, NULL) != KY_OK) return KY_TOKEN_NULL;
    return (v >= 0 && v < n_tokens) ? (ky_token)v : KY_TOKEN_NULL;
}

static bool optional_bool(const ky_gguf *g, const char *key, bool dflt) {
    bool b;
    return gguf_get_bool(g, key, &b, NULL) == KY_OK ? b : dflt;
}

/* Finds a token by exact text. */
static ky_token find_text(const ky_vocab *v, const char *s) {
    int32_t t = tok_map_find(v, s, strlen(s));
    return t < 0 ? KY_TOKEN_NULL : t;
}

static ky_status load_arrays(ky_vocab *v, const ky_gguf *g, ky_error *err) {
    const char *path = gguf_path(g);
    uint32_t et;
    uint64_t n;
    int64_t kv;
    ky_status st = gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &kv, err);
    if (st) return st == KY_ERR_NOT_FOUND ? KY_ERR_FORMAT : st;
    if (et != KY_GGUF_STRING)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: key 'tokenizer.ggml.tokens' is an array of %s, "
                       "expected strings",
                       path, ky_gguf_type_name(et));
    if (n == 0 || n > KY_MAX_VOCAB)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: key 'tokenizer.ggml.tokens' has %" PRIu64 " entries (expected 1..%d)",
                       path, n, KY_MAX_VOCAB);
    v->n_tokens = (int32_t)n;
    v->text = calloc(n, sizeof *v->text);
    v->text_len = calloc(n, sizeof *v->text_len);
    v->scores = calloc(n, sizeof *v->scores);
    v->attr = malloc(n);
    v->is_eog = calloc(n, sizeof *v->is_eog);
    if (!v->text || !v->text_len || !v->scores || !v->attr || !v->is_eog)
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory for %" PRIu64 " tokens", path, n);
    for (uint64_t i = 0; i < n; i++) {
        const char *p;
        uint64_t len;
        gguf_arr_str(g, kv, i, &p, &len);
        if (len > UINT32_MAX)
            return ky_errf(err, KY_ERR_FORMAT, "%s: token %" PRIu64 " is %" PRIu64 " bytes long",
                           path, i, len);
        v->text[i] = p;
        v->text_len[i] = (uint32_t)len;
    }
    memset(v->attr, KY_TOKEN_NORMAL, n);

    uint64_t m;
    if (gguf_get_arr(g, "tokenizer.ggml.scores", &et, &m, &kv, NULL) == KY_OK) {
        if (et != KY_GGUF_F32 || m != n)
            return ky_errf(err, KY_ERR_FORMAT,
                           "%s: key 'tokenizer.ggml.scores' must be %" PRIu64
                           " f32 values (has %" PRIu64 " %s)",
                           path, n, m, ky_gguf_type_name(et));
        const uint8_t *d = gguf_arr_data(g, kv);
        for (uint64_t i = 0; i < n; i++) memcpy(&v->scores[i], d + 4 * i, 4);
    }
    if (gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &m, &kv, NULL) == KY_OK) {
        if ((et != KY_GGUF_I32 && et != KY_GGUF_U32) || m != n)
            return ky_errf(err, KY_ERR_FORMAT,
                           "%s: key 'tokenizer.ggml.token_type' must be %" PRIu64
                           " i32 values (has %" PRIu64 " %s)",
                           path, n, m, ky_gguf_type_name(et));
        const uint8_t *d = gguf_arr_data(g, kv);
        for (uint64_t i = 0; i < n; i++) {
            int32_t tt;
            memcpy(&tt, d + 4 * i, 4);
            if (tt < KY_TOKEN_NORMAL || tt > KY_TOKEN_BYTE)
                return ky_errf(err, KY_ERR_FORMAT,
                               "%s: key 'tokenizer.ggml.token_type': token %" PRIu64
                               " has unknown type %" PRId32,
                               path, i, tt);
            v->attr[i] = (uint8_t)tt;
        }
    }
    return KY_OK;
}

/* Marks end-of-generation tokens: EOS, EOT and control tokens with well-known end texts. */
static void mark_eog(ky_vocab *v) {
    static const char *k_end_texts[] = {"<|eot_id|>", "<|im_end|>",           "<|endoftext|>",
                                        "<|end|>",    "<end_of_turn>",        "<|eom_id|>",
                                        "<EOT>",      "<｜end▁of▁sentence｜>"};
    if (v->eos != KY_TOKEN_NULL) v->is_eog[v->eos] = true;
    if (v->eot != KY_TOKEN_NULL) v->is_eog[v->eot] = true;
    for (size_t k = 0; k < sizeof k_end_texts / sizeof k_end_texts[0]; k++) {
        ky_token t = find_text(v, k_end_texts[k]);
        if (t != KY_TOKEN_NULL &&
            (v->attr[t] == KY_TOKEN_CONTROL || v->attr[t] == KY_TOKEN_USER_DEFINED)) {
            v->is_eog[t] = true;
            if (v->eot == KY_TOKEN_NULL && (k == 0 || k == 1)) v->eot = t;
        }
    }
}

ky_status ky_vocab_load(const ky_gguf *g, ky_vocab **out, ky_error *err) {
    const char *path = gguf_path(g);
    const char *model;
    uint64_t model_len;
    ky_status st = gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len, err);
    if (st == KY_ERR_NOT_FOUND)
        return ky_errf(err, KY_ERR_NOT_FOUND,
                       "%s: no tokenizer (key 'tokenizer.ggml.model' "
                       "not found)",
                       path);
    if (st) return st;
    ky_vocab *v = calloc(1, sizeof *v);
    if (!v) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    size_t n = model_len < sizeof v->model_name - 1 ? (size_t)model_len : sizeof v->model_name - 1;
    memcpy(v->model_name, model, n);
    if (!strcmp(v->model_name, "llama") && model_len == 5) {
        v->type = KY_VOCAB_SPM;
    } else if (!strcmp(v->model_name, "gpt2") && model_len == 4) {
        v->type = KY_VOCAB_BPE;
    } else {
        ky_vocab_free(v);
        return ky_errf(err, KY_ERR_UNSUPPORTED,
                       "%s: tokenizer model '%.*s' is not supported "
                       "(supported: llama, gpt2)",
                       path, (int)n, model);
    }
    const char *pre;
    uint64_t pre_len;
    if (gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len, NULL) == KY_OK) {
        size_t m = pre_len < sizeof v->pre - 1 ? (size_t)pre_len : sizeof v->pre - 1;
        memcpy(v->pre, pre, m);
    } else {
        strcpy(v->pre, "default");
    }
    v->impl = calloc(1, sizeof *v->impl);
    if (!v->impl) {
        ky_vocab_free(v);
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    }
    if ((st = load_arrays(v, g, err)) || (st = tok_map_build(v, path, err))) {
        ky_vocab_free(v);
        return st;
    }
    v->bos = optional_id(g, "tokenizer.ggml.bos_token_id", v->n_tokens);
    v->eos = optional_id(g, "tokenizer.ggml.eos_token_id", v->n_tokens);
    v->eot = optional_id(g, "tokenizer.ggml.eot_token_id", v->n_tokens);
    v->unk = optional_id(g, "tokenizer.ggml.unknown_token_id", v->n_tokens);
    v->pad = optional_id(g, "tokenizer.ggml.padding_token_id", v->n_tokens);
    v->add_bos = optional_bool(g, "tokenizer.ggml.add_bos_token", v->type == KY_VOCAB_SPM);
    v->add_eos = optional_bool(g, "tokenizer.ggml.add_eos_token", false);
    v->nl = find_text(v, v->type == KY_VOCAB_SPM ? "<0x0A>" : "\xC4\x8A"); /* "Ċ" = '\n' */
    mark_eog(v);
    v->impl->add_space_prefix =
        optional_bool(g, "tokenizer.ggml.add_space_prefix", v->type == KY_VOCAB_SPM);
    if ((st = pieces_build(v, path, err)) || (st = special_build(v, path, err)) ||
        (v->type == KY_VOCAB_BPE &&
         ((st = bpe_build(v, g, err)) || (st = pretok_build(v, path, err))))) {
        ky_vocab_free(v);
        return st;
    }
    *out = v;
    return KY_OK;
}

void ky_vocab_free(ky_vocab *v) {
    if (!v) return;
    struct ky_vocab_impl *im = v->impl;
    if (im) {
        free(im->map.slot);
        free(im->piece_off);
        free(im->piece);
        tok_pairmap_free(&im->pairs);
        pretok_free(im);
        special_free(&im->special);
        free(im);
    }
    free(v->text);
    free(v->text_len);
    free(v->scores);
    free(v->attr);
    free(v->is_eog);
    free(v);
}
