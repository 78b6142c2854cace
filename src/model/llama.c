/* llama.c — the llama architecture (Llama 2/3, TinyStories, DeepSeek-R1-Distill-Llama)
 * (layer: model).
 *
 * Pre-norm block: x += Wo·attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x)); x += SwiGLU(n(x)).
 * RoPE rotates adjacent pairs ("normal" mode; GGUF conversion permuted Q/K rows for it). An
 * optional rope_freqs tensor (Llama 3.1) divides the rotary frequencies.
 */
#include "model/arch.h"
#include "model/blocks.h"

static ky_status llama_hparams(ky_loader *ld, ky_hparams *hp) {
    return ky_read_hparam_int(ld, "feed_forward_length", false, 1, 1 << 20, &hp->n_ff);
}

static ky_status llama_layer(ky_loader *ld, int il, ky_layer *L) {
    return ky_bind_common_layer(ld, il, L, true);
}

static void llama_forward_layer(ky_fwd *f, int il) {
    blk_attention_block(f, il);
    blk_rmsnorm(f, f->x, f->w->layers[il].ffn_norm, f->xn);
    blk_ffn_swiglu(f, &f->w->layers[il]);
}

const ky_arch_desc ky_arch_llama = {
    .name = "llama",
    .arch = KY_ARCH_LLAMA,
    .rope_neox = false,
    .load_hparams = llama_hparams,
    .load_layer = llama_layer,
    .forward_layer = llama_forward_layer,
};
