/* arch.h — per-architecture descriptors and the tensor-binding helpers they use (layer: model).
 *
 * Each architecture file (llama.c, qwen2.c, qwen3.c, qwen3moe.c) defines a ky_arch_desc: how to
 * read its hyper-parameters, bind one layer's tensors, and run one layer of the forward pass from
 * the shared blocks in blocks.h.
 */
#ifndef KY_MODEL_ARCH_H
#define KY_MODEL_ARCH_H

#include "model/model.h"

struct ky_fwd; /* forward-pass state, blocks.h */

/* Binding context while loading: the file, the weights being filled, and error reporting. */
typedef struct ky_loader {
    const ky_gguf *g; /* the file holding the metadata (the first part of a split model) */
    const ky_gguf *const *parts; /* [n_parts] every file whose tensors are bound; parts[0] == g */
    int n_parts;
    const char *path;
    ky_weights *w;
    ky_error *err;
} ky_loader;

typedef struct ky_arch_desc {
    const char *name;
    ky_arch arch;
    bool rope_neox;
    /* Reads architecture-specific hyper-parameters (after the common ones). May be NULL. */
    ky_status (*load_hparams)(ky_loader *ld, ky_hparams *hp);
    /* Binds layer il's tensors into L. */
    ky_status (*load_layer)(ky_loader *ld, int il, ky_layer *L);
    /* Runs layer il on the batch held by f (residual stream updated in place). */
    void (*forward_layer)(struct ky_fwd *f, int il);
} ky_arch_desc;

extern const ky_arch_desc ky_arch_llama;
extern const ky_arch_desc ky_arch_qwen2;
extern const ky_arch_desc ky_arch_qwen3;
extern const ky_arch_desc ky_arch_qwen3moe;

/* Descriptor for an architecture id (as stored in ky_hparams). */
const ky_arch_desc *ky_arch_get(ky_arch arch);

/* Tensor binding helpers. Names are printf formats with the layer index. Each checks that the
 * tensor exists (unless optional, then *out is zeroed/NULL and KY_OK returned), that its type is
 * supported, and that its shape is exactly the expected one; errors name the tensor. */
ky_status ky_bind_matrix(ky_loader *ld, ky_matrix *out, bool optional, int64_t n_in,
                         int64_t n_out, const char *fmt, int il);
/* 3-D expert tensor {n_in, n_out, n_expert}, bound as n_out*n_expert rows of n_in. */
ky_status ky_bind_experts(ky_loader *ld, ky_matrix *out, int64_t n_in, int64_t n_out,
                          int64_t n_expert, const char *fmt, int il);
/* 1-D float vector of n elements; non-F32 float storage is converted to an owned F32 copy. */
ky_status ky_bind_vector(ky_loader *ld, const float **out, bool optional, int64_t n,
                         const char *fmt, int il);
/* Binds the tensors every supported architecture shares in a layer: attn_norm, wq, wk, wv, wo,
 * ffn_norm (and the dense FFN when dense is true). */
ky_status ky_bind_common_layer(ky_loader *ld, int il, ky_layer *L, bool dense);
/* Binds the per-head Q/K RMSNorm weights (qwen3, qwen3moe). */
ky_status ky_bind_qk_norm(ky_loader *ld, int il, ky_layer *L);

/* Reads "<arch>.<suffix>" as an integer in [lo, hi]; required unless *out preset and optional. */
ky_status ky_read_hparam_int(ky_loader *ld, const char *suffix, bool optional, int64_t lo,
                             int64_t hi, int32_t *out);
ky_status ky_read_hparam_float(ky_loader *ld, const char *suffix, bool optional, float *out);

#endif
