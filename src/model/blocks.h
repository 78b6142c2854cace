/* blocks.h — the shared building blocks of every architecture's layer (layer: model).
 *
 * Each block works on the whole batch held in a ky_fwd and parallelizes over the pool itself.
 * Architecture files compose them (see llama.c for the canonical pre-norm layer).
 */
#ifndef KY_MODEL_BLOCKS_H
#define KY_MODEL_BLOCKS_H

#include "model/forward.h"

/* out[t] = rmsnorm(in[t]) * weight for every token row (width n_embd). */
void blk_rmsnorm(ky_fwd *f, const float *in, const float *weight, float *out);

/* y[t] = x[t]·Wᵀ for the batch; x rows are W->n_in wide, y rows W->n_out wide. */
void blk_matmul(ky_fwd *f, const ky_matrix *w, const float *x, float *y);

/* q, k, v = xn·Wq/k/vᵀ (+ biases when not NULL). */
void blk_qkv(ky_fwd *f, const ky_layer *L);

/* Per-head RMSNorm of n_heads heads of head_dim in every token row of buf (qwen3 q/k norm). */
void blk_head_rmsnorm(ky_fwd *f, float *buf, int32_t n_heads, const float *weight);

/* Rotary embedding of q (n_head heads) and k (n_head_kv heads) at the batch positions. */
void blk_rope_qk(ky_fwd *f);

/* Stores k, v of the batch into the cache of layer il and computes causal attention of q over
 * each token's sequence into att. */
void blk_attention(ky_fwd *f, int il);

/* x += att·Woᵀ */
void blk_attn_output(ky_fwd *f, const ky_layer *L);

/* x += down(silu(gate·xn) ⊙ up·xn) (dense SwiGLU FFN on xn). */
void blk_ffn_swiglu(ky_fwd *f, const ky_layer *L);

/* The whole attention sub-block of a pre-norm layer: x += Wo·attn(rope(q), rope(k), v) with
 * q, k, v projected from rmsnorm(x)·attn_norm (+ biases when the layer has them, qwen2) and a
 * per-head RMSNorm of q and k before RoPE when the layer has q_norm/k_norm (qwen3). */
void blk_attention_block(ky_fwd *f, int il);

/* x += Σ_k w_k · down_k(silu(gate_k·xn) ⊙ up_k·xn) over the top experts of a softmax router. */
void blk_ffn_moe(ky_fwd *f, const ky_layer *L);

#endif
