/* qwen3.c — the qwen3 architecture (Qwen3 dense models) (layer: model).
 *
 * No biases; a per-head RMSNorm on Q and K (attn_q_norm, attn_k_norm, head_dim wide) applied
 * before NeoX RoPE. head_dim comes from attention.key_length and may differ from n_embd/n_head
 * (Qwen3-0.6B: 16 heads of 128 with n_embd 1024).
 */
#include "model/arch.h"
#include "model/blocks.h"

static ky_status qwen3_hparams(ky_loader *ld, ky_hparams *hp) {
    return ky_read_hparam_int(ld, "feed_forward_length", false, 1, 1 << 20, &hp->n_ff);
}

static ky_status qwen3_layer(ky_loader *ld, int il, ky_layer *L) {
    ky_status st = ky_bind_common_layer(ld, il, L, true);
    return st ? st : ky_bind_qk_norm(ld, il, L);
}

static void qwen3_forward_layer(ky_fwd *f, int il) {
    blk_attention_block(f, il); /* with the per-head Q/K norms bound above */
    blk_rmsnorm(f, f->x, f->w->layers[il].ffn_norm, f->xn);
    blk_ffn_swiglu(f, &f->w->layers[il]);
}

const ky_arch_desc ky_arch_qwen3 = {
    .name = "qwen3",
    .arch = KY_ARCH_QWEN3,
    .rope_neox = true,
    .load_hparams = qwen3_hparams,
    .load_layer = qwen3_layer,
    .forward_layer = qwen3_forward_layer,
};
