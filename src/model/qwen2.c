/* qwen2.c — the qwen2 architecture (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen) (layer: model).
 *
 * As llama, plus biases on the Q, K and V projections, and NeoX-style RoPE (rotating x[i] with
 * x[i + n_rot/2]). Small models tie the output projection to token_embd when output.weight is
 * absent (handled by the common loader).
 */
#include "model/arch.h"
#include "model/blocks.h"

static ky_status qwen2_hparams(ky_loader *ld, ky_hparams *hp) {
    return ky_read_hparam_int(ld, "feed_forward_length", false, 1, 1 << 20, &hp->n_ff);
}

static ky_status qwen2_layer(ky_loader *ld, int il, ky_layer *L) {
    const ky_hparams *hp = &ld->w->hp;
    ky_status st = ky_bind_common_layer(ld, il, L, true);
    if (st) return st;
    int64_t q_w = (int64_t)hp->n_head * hp->head_dim, kv_w = (int64_t)hp->n_head_kv * hp->head_dim;
    if ((st = ky_bind_vector(ld, &L->bq, false, q_w, "blk.%d.attn_q.bias", il)) ||
        (st = ky_bind_vector(ld, &L->bk, false, kv_w, "blk.%d.attn_k.bias", il)) ||
        (st = ky_bind_vector(ld, &L->bv, false, kv_w, "blk.%d.attn_v.bias", il)))
        return st;
    return KY_OK;
}

static void qwen2_forward_layer(ky_fwd *f, int il) {
    blk_attention_block(f, il); /* with the Q/K/V biases bound above */
    blk_rmsnorm(f, f->x, f->w->layers[il].ffn_norm, f->xn);
    blk_ffn_swiglu(f, &f->w->layers[il]);
}

const ky_arch_desc ky_arch_qwen2 = {
    .name = "qwen2",
    .arch = KY_ARCH_QWEN2,
    .rope_neox = true,
    .load_hparams = qwen2_hparams,
    .load_layer = qwen2_layer,
    .forward_layer = qwen2_forward_layer,
};
