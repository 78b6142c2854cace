/* qwen3moe.c — the qwen3moe architecture (Qwen3-30B-A3B and relatives) (layer: model).
 *
 * Attention as qwen3 (per-head Q/K RMSNorm, NeoX RoPE). The FFN is a mixture of experts: router
 * ffn_gate_inp {n_embd, n_expert}; softmax over all experts, top expert_used_count, weights
 * renormalized to sum 1; Σ w·down(silu(gate·x) ⊙ up·x). Expert tensors are 3-D
 * {n_in, n_out, n_expert}. No shared expert.
 */
#include "model/arch.h"
#include "base/limits.h"
#include "model/blocks.h"

static ky_status qwen3moe_hparams(ky_loader *ld, ky_hparams *hp) {
    ky_status st;
    if ((st = ky_read_hparam_int(ld, "expert_count", false, 1, KY_MAX_EXPERTS, &hp->n_expert)) ||
        (st = ky_read_hparam_int(ld, "expert_used_count", false, 1, hp->n_expert,
                                 &hp->n_expert_used)) ||
        (st = ky_read_hparam_int(ld, "expert_feed_forward_length", false, 1, 1 << 20,
                                 &hp->n_ff_exp)))
        return st;
    /* No dense FFN: feed_forward_length (when present) describes the dense-model equivalent and
     * must not size the expert scratch. */
    hp->n_ff = hp->n_ff_exp;
    hp->norm_topk = true;
    return KY_OK;
}

static ky_status qwen3moe_layer(ky_loader *ld, int il, ky_layer *L) {
    const ky_hparams *hp = &ld->w->hp;
    ky_status st;
    if ((st = ky_bind_common_layer(ld, il, L, false)) || (st = ky_bind_qk_norm(ld, il, L)) ||
        (st = ky_bind_matrix(ld, &L->gate_inp, false, hp->n_embd, hp->n_expert,
                             "blk.%d.ffn_gate_inp.weight", il)) ||
        (st = ky_bind_experts(ld, &L->gate_exps, hp->n_embd, hp->n_ff_exp, hp->n_expert,
                              "blk.%d.ffn_gate_exps.weight", il)) ||
        (st = ky_bind_experts(ld, &L->up_exps, hp->n_embd, hp->n_ff_exp, hp->n_expert,
                              "blk.%d.ffn_up_exps.weight", il)) ||
        (st = ky_bind_experts(ld, &L->down_exps, hp->n_ff_exp, hp->n_embd, hp->n_expert,
                              "blk.%d.ffn_down_exps.weight", il)))
        return st;
    return KY_OK;
}

static void qwen3moe_forward_layer(ky_fwd *f, int il) {
    blk_attention_block(f, il); /* with the per-head Q/K norms bound above */
    blk_rmsnorm(f, f->x, f->w->layers[il].ffn_norm, f->xn);
    blk_ffn_moe(f, &f->w->layers[il]);
}

const ky_arch_desc ky_arch_qwen3moe = {
    .name = "qwen3moe",
    .arch = KY_ARCH_QWEN3MOE,
    .rope_neox = true,
    .load_hparams = qwen3moe_hparams,
    .load_layer = qwen3moe_layer,
    .forward_layer = qwen3moe_forward_layer,
};
