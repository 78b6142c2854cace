/* model_api.c — ky_model_* of kaiyuan.h: loading a GGUF file into tokenizer + weights, and the
 * model's summary (layer: engine).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "tensor/types.h"
#include "tokenizer/vocab.h"

ky_model_params ky_model_default_params(void) {
    ky_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}

ky_status ky_model_load(const char *path, const ky_model_params *params, ky_model **out,
                        ky_error *err) {
    ky_error_clear(err);
    if (!path || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "ky_model_load: NULL argument");
    ky_model_params p = params ? *params : ky_model_default_params();
    ky_model *m = calloc(1, sizeof *m);
    if (!m) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    ky_status st = gguf_split_open(path, &m->parts, &m->n_parts, err);
    if (st) goto fail;
    m->gguf = m->parts[0];
    ky_error verr;
    st = ky_vocab_load(m->gguf, &m->vocab, &verr);
    if (st == KY_ERR_NOT_FOUND && !p.vocab_only) {
        m->vocab = NULL; /* models without a tokenizer still run from token ids */
    } else if (st) {
        ky_errf(err, st, "%s", verr.message);
        goto fail;
    }
    if (!p.vocab_only) {
        st = ky_weights_load((const ky_gguf *const *)m->parts, m->n_parts, p.layer_begin,
                             p.layer_end, &m->weights, err);
        if (st) goto fail;
        if (m->vocab && m->vocab->n_tokens > m->weights->hp.n_vocab) {
            st = ky_errf(err, KY_ERR_FORMAT,
                         "%s: the tokenizer has %d tokens but token_embd "
                         "has only %d rows",
                         path, m->vocab->n_tokens, m->weights->hp.n_vocab);
            goto fail;
        }
    }
    const char *name;
    uint64_t name_len;
    if (gguf_get_str(m->gguf, "general.name", &name, &name_len, NULL) == KY_OK)
        snprintf(m->general_name, sizeof m->general_name, "%.*s",
                 (int)(name_len < sizeof m->general_name ? name_len : sizeof m->general_name - 1),
                 name);
    const char *tmpl;
    uint64_t tmpl_len;
    if (gguf_get_str(m->gguf, "tokenizer.chat_template", &tmpl, &tmpl_len, NULL) == KY_OK &&
        tmpl_len < (1u << 24)) {
        m->chat_template = malloc((size_t)tmpl_len + 1);
        if (!m->chat_template) {
            st = ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        memcpy(m->chat_template, tmpl, (size_t)tmpl_len);
        m->chat_template[tmpl_len] = '\0';
    }
    *out = m;
    return KY_OK;
fail:
    ky_model_free(m);
    return st;
}

void ky_model_free(ky_model *m) {
    if (!m) return;
    ky_weights_free(m->weights);
    ky_vocab_free(m->vocab);
    free(m->chat_template);
    gguf_split_close(m->parts, m->n_parts);
    free(m);
}

void ky_model_get_info(const ky_model *m, ky_model_info *out) {
    memset(out, 0, sizeof *out);
    for (int p = 0; p < m->n_parts; p++) out->file_bytes += ky_gguf_file_size(m->parts[p]);
    out->name = m->general_name;
    if (!m->weights) {
        out->arch = "";
        out->n_vocab = m->vocab ? m->vocab->n_tokens : 0;
        out->file_type = "";
        return;
    }
    const ky_hparams *hp = &m->weights->hp;
    out->arch = hp->arch_name;
    out->n_vocab = hp->n_vocab;
    out->n_ctx_train = hp->n_ctx_train;
    out->n_embd = hp->n_embd;
    out->n_layer = hp->n_layer;
    out->n_head = hp->n_head;
    out->n_head_kv = hp->n_head_kv;
    out->head_dim = hp->head_dim;
    out->n_ff = hp->n_expert ? hp->n_ff_exp : hp->n_ff;
    out->n_expert = hp->n_expert;
    out->n_expert_used = hp->n_expert_used;
    out->rope_freq_base = hp->rope_base;
    out->rms_eps = hp->rms_eps;
    out->tied_output = m->weights->tied_output;
    out->n_params = m->weights->n_params;
    out->weight_bytes = m->weights->weight_bytes;
    out->file_type = ky_type_name(m->weights->dominant_type);
    out->layer_begin = m->weights->layer_begin;
    out->layer_end = m->weights->layer_end;
}

const char *ky_model_chat_template(const ky_model *m) { return m->chat_template; }
