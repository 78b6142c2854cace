/* model.h — model hyper-parameters and weights as loaded from GGUF (layer: model).
 *
 * ky_weights_load() reads the hyper-parameters of a supported architecture (llama, qwen2, qwen3,
 * qwen3moe) from metadata and binds every tensor, checking presence, type and shape. Matrices stay
 * in the file's mapping in their stored type; only small vectors (norm weights, biases) are
 * converted to owned F32 copies when stored in another float type.
 */
#ifndef KY_MODEL_MODEL_H
#define KY_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"
#include "kernels/matmul.h"

typedef enum ky_arch {
    KY_ARCH_LLAMA,
    KY_ARCH_QWEN2,
    KY_ARCH_QWEN3,
    KY_ARCH_QWEN3MOE,
} ky_arch;

typedef struct ky_hparams {
    ky_arch arch;
    char arch_name[32];
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;   /* key length per head */
    int32_t head_dim_v; /* value length per head (== head_dim for supported archs) */
    int32_t n_ff;       /* dense FFN width */
    int32_t n_expert;   /* 0 for dense */
    int32_t n_expert_used;
    int32_t n_ff_exp;   /* expert FFN width */
    int32_t n_rot;      /* rotary dimensions (<= head_dim, even) */
    float rope_base;
    float rope_scale;   /* linear position scaling factor (1 = none) */
    bool rope_neox;     /* rotate (x[i], x[i+n_rot/2]) instead of adjacent pairs */
    float rms_eps;
    bool norm_topk;     /* MoE: renormalize the selected expert weights to sum 1 */
} ky_hparams;

typedef struct ky_layer {
    const float *attn_norm;          /* [n_embd] */
    ky_matrix wq, wk, wv, wo;        /* {n_embd, n_head*hd}, {n_embd, n_kv*hd} ×2, {n_head*hd, n_embd} */
    const float *bq, *bk, *bv;       /* qwen2 biases or NULL */
    const float *q_norm, *k_norm;    /* qwen3 per-head norms [head_dim] or NULL */
    const float *ffn_norm;           /* [n_embd] */
    ky_matrix ffn_gate, ffn_up;      /* dense: {n_embd, n_ff} */
    ky_matrix ffn_down;              /* dense: {n_ff, n_embd} */
    ky_matrix gate_inp;              /* MoE router {n_embd, n_expert} */
    ky_matrix gate_exps, up_exps;    /* MoE: expert e = rows [e*n_ff_exp, (e+1)*n_ff_exp) */
    ky_matrix down_exps;             /* MoE: expert e = rows [e*n_embd, (e+1)*n_embd) */
} ky_layer;

typedef struct ky_weights {
    ky_hparams hp;
    ky_matrix tok_embd;       /* {n_embd, n_vocab} */
    const float *output_norm; /* [n_embd] */
    ky_matrix output;         /* {n_embd, n_vocab}; == tok_embd when tied */
    bool tied_output;
    const float *rope_freqs;  /* optional [n_rot/2] frequency divisors (Llama 3.1) */
    ky_layer *layers;         /* [n_layer]; only [layer_begin, layer_end) bound */
    int32_t layer_begin, layer_end; /* the layers bound (a pipeline stage), [0, n_layer) = all */
    uint64_t n_params;
    uint64_t weight_bytes;
    uint32_t dominant_type;   /* type holding the most weight bytes */
    void **owned;             /* F32 copies made at load time */
    int n_owned;
} ky_weights;

/* Loads hyper-parameters from parts[0] and binds tensors found in any of the n_parts open GGUF
 * files (one file, or every part of a split model; they must outlive the weights). Every tensor
 * of every part must be bound. Errors name the file and the key/tensor: unsupported
 * architecture, missing tensor, wrong shape, unsupported type, a tensor left over.
 * A pipeline stage binds only the layers [layer_begin, layer_end) (0, 0 = all), the token
 * embeddings when layer_begin is 0, and the output norm and head (plus the embeddings when the
 * head is tied to them) when layer_end is n_layer; the other stages' tensors are neither bound
 * nor read, and the range must lie inside [0, n_layer) (KY_ERR_INVALID_ARG otherwise). Caller
 * owns *out (ky_weights_free). */
ky_status ky_weights_load(const ky_gguf *const *parts, int n_parts, int32_t layer_begin,
                          int32_t layer_end, ky_weights **out, ky_error *err);
void ky_weights_free(ky_weights *w);

/* Returns the matrix of expert e inside a 3-D expert tensor bound as rows_per_expert-row blocks. */
static inline ky_matrix ky_expert_matrix(const ky_matrix *all, int64_t rows_per_expert,
                                         int64_t e) {
    ky_matrix m = *all;
    m.n_out = rows_per_expert;
    m.data = (const uint8_t *)all->data + (size_t)(e * rows_per_expert) * all->row_bytes;
    return m;
}

#endif
