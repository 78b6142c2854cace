/* loader.c — hyper-parameters and tensor binding shared by all architectures (layer: model).
 *
 * ky_weights_load() dispatches on general.architecture, reads the common hyper-parameters, binds
 * the global tensors and lets the architecture descriptor bind each layer. Every tensor is checked
 * for presence, supported type and exact shape before use, and every tensor of the file must be
 * bound by the architecture (as llama.cpp requires: a tensor left over means the metadata does not
 * describe the file, e.g. a block_count smaller than the file's layers).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "gguf/gguf.h"
#include "model/arch.h"
#include "tensor/quant.h"
#include "tensor/types.h"

const ky_arch_desc *ky_arch_get(ky_arch arch) {
    switch (arch) {
    case KY_ARCH_LLAMA: return &ky_arch_llama;
    case KY_ARCH_QWEN2: return &ky_arch_qwen2;
    case KY_ARCH_QWEN3: return &ky_arch_qwen3;
    case KY_ARCH_QWEN3MOE: return &ky_arch_qwen3moe;
    }
    return NULL;
}

static const ky_arch_desc *const k_archs[] = {&ky_arch_llama, &ky_arch_qwen2, &ky_arch_qwen3,
                                              &ky_arch_qwen3moe};

/* ---------------------------------------------------------------------------------------------
 * Hyper-parameters
 * ------------------------------------------------------------------------------------------- */

ky_status ky_read_hparam_int(ky_loader *ld, const char *suffix, bool optional, int64_t lo,
                             int64_t hi, int32_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", ld->w->hp.arch_name, suffix);
    int64_t v;
    ky_error e;
    ky_status st = gguf_get_int(ld->g, key, &v, &e);
    if (st == KY_ERR_NOT_FOUND && optional) return KY_OK;
    if (st) return ky_errf(ld->err, st == KY_ERR_NOT_FOUND ? KY_ERR_FORMAT : st, "%s", e.message);
    if (v < lo || v > hi)
        return ky_errf(ld->err, KY_ERR_FORMAT,
                       "%s: key '%s' = %" PRId64 " outside [%" PRId64 ", %" PRId64 "]", ld->path,
                       key, v, lo, hi);
    *out = (int32_t)v;
    return KY_OK;
}

ky_status ky_read_hparam_float(ky_loader *ld, const char *suffix, bool optional, float *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", ld->w->hp.arch_name, suffix);
    double v;
    ky_error e;
    ky_status st = gguf_get_float(ld->g, key, &v, &e);
    if (st == KY_ERR_NOT_FOUND && optional) return KY_OK;
    if (st) return ky_errf(ld->err, st == KY_ERR_NOT_FOUND ? KY_ERR_FORMAT : st, "%s", e.message);
    if (!isfinite(v) || fabs(v) > 3.0e38)
        return ky_errf(ld->err, KY_ERR_FORMAT, "%s: key '%s' = %g is not a finite f32", ld->path,
                       key, v);
    *out = (float)v;
    return KY_OK;
}

static ky_status read_common_hparams(ky_loader *ld, ky_hparams *hp) {
    ky_status st;
    hp->n_ctx_train = 2048;
    if ((st = ky_read_hparam_int(ld, "context_length", true, 1, KY_MAX_CTX, &hp->n_ctx_train)) ||
        (st = ky_read_hparam_int(ld, "embedding_length", false, 1, 1 << 20, &hp->n_embd)) ||
        (st = ky_read_hparam_int(ld, "block_count", false, 1, KY_MAX_LAYERS, &hp->n_layer)) ||
        (st = ky_read_hparam_int(ld, "attention.head_count", false, 1, 1 << 14, &hp->n_head)))
        return st;
    hp->n_head_kv = hp->n_head;
    if ((st = ky_read_hparam_int(ld, "attention.head_count_kv", true, 1, hp->n_head,
                                 &hp->n_head_kv)))
        return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return ky_errf(ld->err, KY_ERR_FORMAT,
                       "%s: %d attention heads are not a multiple of %d "
                       "kv heads",
                       ld->path, hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((st = ky_read_hparam_int(ld, "attention.key_length", true, 1, 1 << 14, &hp->head_dim)))
        return st;
    hp->head_dim_v = hp->head_dim;
    if ((st = ky_read_hparam_int(ld, "attention.value_length", true, 1, 1 << 14, &hp->head_dim_v)))
        return st;
    if (hp->head_dim_v != hp->head_dim)
        return ky_errf(ld->err, KY_ERR_UNSUPPORTED,
                       "%s: key length %d != value length %d is not "
                       "supported",
                       ld->path, hp->head_dim, hp->head_dim_v);
    if (hp->n_head * hp->head_dim == 0 || hp->head_dim % 2 != 0)
        return ky_errf(ld->err, KY_ERR_FORMAT, "%s: head dimension %d must be even", ld->path,
                       hp->head_dim);
    hp->n_rot = hp->head_dim;
    if ((st = ky_read_hparam_int(ld, "rope.dimension_count", true, 2, hp->head_dim, &hp->n_rot)))
        return st;
    if (hp->n_rot % 2 != 0)
        return ky_errf(ld->err, KY_ERR_FORMAT, "%s: rope dimension %d must be even", ld->path,
                       hp->n_rot);
    hp->rope_base = 10000.0f;
    if ((st = ky_read_hparam_float(ld, "rope.freq_base", true, &hp->rope_base))) return st;
    if (!(hp->rope_base > 0.0f))
        return ky_errf(ld->err, KY_ERR_FORMAT, "%s: rope.freq_base %g must be positive", ld->path,
                       hp->rope_base);
    hp->rope_scale = 1.0f;
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch_name);
    const char *stype;
    uint64_t stype_len;
    if (gguf_get_str(ld->g, key, &stype, &stype_len, NULL) == KY_OK &&
        !(stype_len == 4 && !memcmp(stype, "none", 4))) {
        if (!(stype_len == 6 && !memcmp(stype, "linear", 6)))
            return ky_errf(ld->err, KY_ERR_UNSUPPORTED,
                           "%s: key '%s' = '%.*s': only linear "
                           "rope scaling is supported",
                           ld->path, key, (int)stype_len, stype);
        float factor = 1.0f;
        if ((st = ky_read_hparam_float(ld, "rope.scaling.factor", true, &factor))) return st;
        if (!(factor > 0.0f))
            return ky_errf(ld->err, KY_ERR_FORMAT, "%s: rope.scaling.factor %g must be positive",
                           ld->path, factor);
        hp->rope_scale = factor;
    }
    if ((st = ky_read_hparam_float(ld, "attention.layer_norm_rms_epsilon", false, &hp->rms_eps)))
        return st;
    if (!(hp->rms_eps > 0.0f))
        return ky_errf(ld->err, KY_ERR_FORMAT, "%s: rms epsilon %g must be positive", ld->path,
                       hp->rms_eps);
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Tensor binding
 * ------------------------------------------------------------------------------------------- */

/* Loading state: the ky_loader the architecture descriptors see, plus which of the file's tensors
 * a binding helper has found. Every ky_loader is the first member of a load_state (the only one is
 * created by ky_weights_load), so the helpers below convert the pointer back (C11 6.7.2.1p15). */
typedef struct load_state {
    ky_loader ld;
    uint8_t *bound; /* [total tensors of all parts]: 1 once bound */
    int64_t *first; /* [n_parts]: index of each part's first tensor in bound */
    int64_t n_bound;
} load_state;

static int64_t find(ky_loader *ld, char *name, size_t cap, const char *fmt, int il,
                    ky_gguf_tensor_info *t) {
    snprintf(name, cap, fmt, il);
    load_state *ls = (load_state *)ld;
    for (int p = 0; p < ld->n_parts; p++) {
        int64_t i = ky_gguf_find_tensor(ld->parts[p], name);
        if (i < 0) continue;
        ky_gguf_tensor(ld->parts[p], i, t);
        i += ls->first[p];
        if (!ls->bound[i]) {
            ls->bound[i] = 1;
            ls->n_bound++;
        }
        return i;
    }
    return -1;
}

static ky_status check_shape(ky_loader *ld, const char *name, const ky_gguf_tensor_info *t,
                             uint32_t n_dims, const int64_t *ne) {
    bool ok = true;
    for (uint32_t d = 0; d < 4; d++)
        if (t->ne[d] != (d < n_dims ? ne[d] : 1)) ok = false;
    if (ok) return KY_OK;
    char want[96], have[96];
    int a = 0, b = 0;
    for (uint32_t d = 0; d < n_dims; d++)
        a += snprintf(want + a, sizeof want - (size_t)a, "%s%" PRId64, d ? ", " : "", ne[d]);
    for (uint32_t d = 0; d < t->n_dims; d++)
        b += snprintf(have + b, sizeof have - (size_t)b, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    return ky_errf(ld->err, KY_ERR_FORMAT, "%s: tensor '%s' has shape {%s}, expected {%s}",
                   ld->path, name, have, want);
}

static ky_status check_type(ky_loader *ld, const char *name, uint32_t type) {
    if (ky_type_is_supported(type)) return KY_OK;
    const char *tn = ky_type_name(type);
    return ky_errf(ld->err, KY_ERR_UNSUPPORTED,
                   "%s: tensor '%s' has type %s, which kaiyuan "
                   "cannot compute with yet",
                   ld->path, name, tn ? tn : "?");
}

static ky_status missing(ky_loader *ld, const char *name) {
    return ky_errf(ld->err, KY_ERR_FORMAT, "%s: required tensor '%s' is missing", ld->path, name);
}

ky_status ky_bind_matrix(ky_loader *ld, ky_matrix *out, bool optional, int64_t n_in, int64_t n_out,
                         const char *fmt, int il) {
    char name[128];
    ky_gguf_tensor_info t;
    memset(out, 0, sizeof *out);
    if (find(ld, name, sizeof name, fmt, il, &t) < 0) return optional ? KY_OK : missing(ld, name);
    ky_status st = check_shape(ld, name, &t, 2, (int64_t[]){n_in, n_out});
    if (!st) st = check_type(ld, name, t.type);
    if (st) return st;
    uint64_t rb;
    ky_type_row_bytes(t.type, n_in, &rb); /* validated by the reader */
    *out = (ky_matrix){t.data, t.type, n_in, n_out, (size_t)rb};
    return KY_OK;
}

ky_status ky_bind_experts(ky_loader *ld, ky_matrix *out, int64_t n_in, int64_t n_out,
                          int64_t n_expert, const char *fmt, int il) {
    char name[128];
    ky_gguf_tensor_info t;
    memset(out, 0, sizeof *out);
    if (find(ld, name, sizeof name, fmt, il, &t) < 0) return missing(ld, name);
    ky_status st = check_shape(ld, name, &t, 3, (int64_t[]){n_in, n_out, n_expert});
    if (!st) st = check_type(ld, name, t.type);
    if (st) return st;
    uint64_t rb;
    ky_type_row_bytes(t.type, n_in, &rb);
    *out = (ky_matrix){t.data, t.type, n_in, n_out * n_expert, (size_t)rb};
    return KY_OK;
}

static ky_status own(ky_loader *ld, void *p) {
    void **grown = realloc(ld->w->owned, (size_t)(ld->w->n_owned + 1) * sizeof *grown);
    if (!grown) {
        free(p);
        return ky_errf(ld->err, KY_ERR_NOMEM, "%s: out of memory", ld->path);
    }
    ld->w->owned = grown;
    ld->w->owned[ld->w->n_owned++] = p;
    return KY_OK;
}

ky_status ky_bind_vector(ky_loader *ld, const float **out, bool optional, int64_t n,
                         const char *fmt, int il) {
    char name[128];
    ky_gguf_tensor_info t;
    *out = NULL;
    if (find(ld, name, sizeof name, fmt, il, &t) < 0) return optional ? KY_OK : missing(ld, name);
    ky_status st = check_shape(ld, name, &t, 1, &n);
    if (st) return st;
    if (t.type == KY_TYPE_F32 && ((uintptr_t)t.data % sizeof(float)) == 0) {
        *out = t.data;
        return KY_OK;
    }
    if (t.type != KY_TYPE_F32 && t.type != KY_TYPE_F16 && t.type != KY_TYPE_BF16)
        return ky_errf(ld->err, KY_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has type %s; vectors must "
                       "be f32, f16 or bf16",
                       ld->path, name, ky_type_name(t.type));
    float *copy = malloc((size_t)n * sizeof *copy);
    if (!copy) return ky_errf(ld->err, KY_ERR_NOMEM, "%s: out of memory", ld->path);
    ky_dequantize_row(t.type, t.data, copy, n);
    if ((st = own(ld, copy))) return st;
    *out = copy;
    return KY_OK;
}

ky_status ky_bind_common_layer(ky_loader *ld, int il, ky_layer *L, bool dense) {
    const ky_hparams *hp = &ld->w->hp;
    int64_t q_w = (int64_t)hp->n_head * hp->head_dim, kv_w = (int64_t)hp->n_head_kv * hp->head_dim;
    ky_status st;
    if ((st =
             ky_bind_vector(ld, &L->attn_norm, false, hp->n_embd, "blk.%d.attn_norm.weight", il)) ||
        (st = ky_bind_matrix(ld, &L->wq, false, hp->n_embd, q_w, "blk.%d.attn_q.weight", il)) ||
        (st = ky_bind_matrix(ld, &L->wk, false, hp->n_embd, kv_w, "blk.%d.attn_k.weight", il)) ||
        (st = ky_bind_matrix(ld, &L->wv, false, hp->n_embd, kv_w, "blk.%d.attn_v.weight", il)) ||
        (st =
             ky_bind_matrix(ld, &L->wo, false, q_w, hp->n_embd, "blk.%d.attn_output.weight", il)) ||
        (st = ky_bind_vector(ld, &L->ffn_norm, false, hp->n_embd, "blk.%d.ffn_norm.weight", il)))
        return st;
    if (!dense) return KY_OK;
    if ((st = ky_bind_matrix(ld, &L->ffn_gate, false, hp->n_embd, hp->n_ff,
                             "blk.%d.ffn_gate.weight", il)) ||
        (st = ky_bind_matrix(ld, &L->ffn_up, false, hp->n_embd, hp->n_ff, "blk.%d.ffn_up.weight",
                             il)) ||
        (st = ky_bind_matrix(ld, &L->ffn_down, false, hp->n_ff, hp->n_embd,
                             "blk.%d.ffn_down.weight", il)))
        return st;
    return KY_OK;
}

ky_status ky_bind_qk_norm(ky_loader *ld, int il, ky_layer *L) {
    int64_t hd = ld->w->hp.head_dim;
    ky_status st;
    if ((st = ky_bind_vector(ld, &L->q_norm, false, hd, "blk.%d.attn_q_norm.weight", il)) ||
        (st = ky_bind_vector(ld, &L->k_norm, false, hd, "blk.%d.attn_k_norm.weight", il)))
        return st;
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Whole model
 * ------------------------------------------------------------------------------------------- */

static void summarize(const ky_gguf *const *parts, int n_parts, ky_weights *w) {
    uint64_t bytes_by_type[KY_TYPE_COUNT] = {0};
    w->n_params = 0;
    w->weight_bytes = 0;
    for (int p = 0; p < n_parts; p++)
        for (int64_t i = 0; i < ky_gguf_n_tensors(parts[p]); i++) {
            ky_gguf_tensor_info t;
            ky_gguf_tensor(parts[p], i, &t);
            w->n_params += (uint64_t)(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
            w->weight_bytes += t.n_bytes;
            if (t.n_dims >= 2 && t.type < KY_TYPE_COUNT) bytes_by_type[t.type] += t.n_bytes;
        }
    uint32_t best = KY_TYPE_F32;
    for (uint32_t ty = 0; ty < KY_TYPE_COUNT; ty++)
        if (bytes_by_type[ty] > bytes_by_type[best]) best = ty;
    w->dominant_type = best;
}

/* true for a tensor another pipeline stage binds: a layer of the model's n_layer outside [b, e),
 * the embeddings when this stage does not use them, the output norm and head when it has no
 * head. (A layer past n_layer belongs to no stage: still an unused tensor.) */
static bool other_stage(const ky_gguf_tensor_info *t, int32_t n_layer, int32_t b, int32_t e,
                        bool embd, bool head) {
    char name[64];
    if (t->name_len >= sizeof name) return false;
    memcpy(name, t->name, t->name_len);
    name[t->name_len] = '\0';
    int il, n = 0;
    if (sscanf(name, "blk.%d.%n", &il, &n) == 1 && n > 0)
        return il >= 0 && il < n_layer && (il < b || il >= e);
    if (!strcmp(name, "token_embd.weight")) return !embd;
    if (!strcmp(name, "output_norm.weight") || !strcmp(name, "output.weight")) return !head;
    return false;
}

ky_status ky_weights_load(const ky_gguf *const *parts, int n_parts, int32_t layer_begin,
                          int32_t layer_end, ky_weights **out, ky_error *err) {
    const ky_gguf *g = parts[0];
    const char *path = gguf_path(g);
    const char *arch;
    uint64_t arch_len;
    ky_error e;
    if (gguf_get_str(g, "general.architecture", &arch, &arch_len, &e) != KY_OK)
        return ky_errf(err, KY_ERR_FORMAT, "%s", e.message);
    const ky_arch_desc *desc = NULL;
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (strlen(k_archs[i]->name) == arch_len && !memcmp(k_archs[i]->name, arch, arch_len))
            desc = k_archs[i];
    if (!desc)
        return ky_errf(err, KY_ERR_UNSUPPORTED,
                       "%s: architecture '%.*s' is not supported "
                       "(supported: llama, qwen2, qwen3, qwen3moe)",
                       path, (int)(arch_len > 64 ? 64 : arch_len), arch);

    ky_weights *w = calloc(1, sizeof *w);
    int64_t *first = calloc((size_t)n_parts, sizeof *first);
    int64_t n_tensors = 0;
    for (int p = 0; first && p < n_parts; p++) {
        first[p] = n_tensors;
        n_tensors += ky_gguf_n_tensors(parts[p]);
    }
    load_state ls = {{g, parts, n_parts, path, w, err}, calloc((size_t)n_tensors + 1, 1), first, 0};
    if (!w || !ls.bound || !first) {
        free(w);
        free(ls.bound);
        free(first);
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    }
    ky_hparams *hp = &w->hp;
    hp->arch = desc->arch;
    snprintf(hp->arch_name, sizeof hp->arch_name, "%s", desc->name);
    hp->rope_neox = desc->rope_neox;
    ky_status st = read_common_hparams(&ls.ld, hp);
    if (!st && desc->load_hparams) st = desc->load_hparams(&ls.ld, hp);
    if (st) goto fail;

    /* The vocabulary size comes from the embedding matrix. */
    int64_t ti = ky_gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0) {
        st = missing(&ls.ld, "token_embd.weight");
        goto fail;
    }
    ky_gguf_tensor_info te;
    ky_gguf_tensor(g, ti, &te);
    if (te.n_dims != 2 || te.ne[1] < 1 || te.ne[1] > KY_MAX_VOCAB) {
        st = ky_errf(err, KY_ERR_FORMAT,
                     "%s: tensor 'token_embd.weight' must be 2-D {n_embd, "
                     "n_vocab} with n_vocab <= %d",
                     path, KY_MAX_VOCAB);
        goto fail;
    }
    hp->n_vocab = (int32_t)te.ne[1];
    int32_t lb = layer_begin, le = layer_end;
    if (lb == 0 && le == 0) le = hp->n_layer;
    if (lb < 0 || le > hp->n_layer || lb >= le) {
        st = ky_errf(err, KY_ERR_INVALID_ARG,
                     "%s: layer range [%d, %d) is not inside the model's %d layers", path, lb, le,
                     hp->n_layer);
        goto fail;
    }
    w->layer_begin = lb;
    w->layer_end = le;
    bool head = le == hp->n_layer;
    if ((lb == 0 && (st = ky_bind_matrix(&ls.ld, &w->tok_embd, false, hp->n_embd, hp->n_vocab,
                                         "token_embd.weight", 0))) ||
        (head && (st = ky_bind_vector(&ls.ld, &w->output_norm, false, hp->n_embd,
                                      "output_norm.weight", 0))) ||
        (head && (st = ky_bind_matrix(&ls.ld, &w->output, true, hp->n_embd, hp->n_vocab,
                                      "output.weight", 0))) ||
        (st = ky_bind_vector(&ls.ld, &w->rope_freqs, true, hp->n_rot / 2, "rope_freqs.weight", 0)))
        goto fail;
    if (head && !w->output.data) { /* tied: the head is the embedding matrix */
        if (!w->tok_embd.data && (st = ky_bind_matrix(&ls.ld, &w->tok_embd, false, hp->n_embd,
                                                      hp->n_vocab, "token_embd.weight", 0)))
            goto fail;
        w->output = w->tok_embd;
        w->tied_output = true;
    }
    bool embd = w->tok_embd.data != NULL;
    w->layers = calloc((size_t)hp->n_layer, sizeof *w->layers);
    if (!w->layers) {
        st = ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int il = lb; il < le; il++)
        if ((st = desc->load_layer(&ls.ld, il, &w->layers[il]))) goto fail;
    int64_t n_other = 0, un = -1; /* tensors of other stages; first tensor nobody uses */
    for (int p = 0; p < n_parts; p++)
        for (int64_t i = 0; i < ky_gguf_n_tensors(parts[p]); i++) {
            if (ls.bound[first[p] + i]) continue;
            ky_gguf_tensor_info t;
            ky_gguf_tensor(parts[p], i, &t);
            if (other_stage(&t, hp->n_layer, lb, le, embd, head))
                n_other++;
            else if (un < 0)
                un = first[p] + i;
        }
    if (un >= 0) {
        int p = n_parts - 1;
        while (p > 0 && first[p] > un) p--;
        ky_gguf_tensor_info t;
        ky_gguf_tensor(parts[p], un - first[p], &t);
        st = ky_errf(err, KY_ERR_FORMAT,
                     "%s: wrong number of tensors: the file has %" PRId64 ", a %d-layer %s model "
                     "uses %" PRId64 "; tensor '%.*s' is not used (does %s.block_count match the "
                     "file?)",
                     path, n_tensors, hp->n_layer, desc->name, ls.n_bound + n_other,
                     (int)t.name_len, t.name, desc->name);
        goto fail;
    }
    summarize(parts, n_parts, w);
    free(ls.bound);
    free(first);
    *out = w;
    return KY_OK;
fail:
    free(ls.bound);
    free(first);
    ky_weights_free(w);
    return st;
}

void ky_weights_free(ky_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n_owned; i++) free(w->owned[i]);
    free(w->owned);
    free(w->layers);
    free(w);
}
