/* cli_model.c — loading a model and creating a context with the CLI's messages: errors and a
 * one-line summary on stderr (layer: cli; uses kaiyuan.h only). */
#include <stdio.h>

#include "cli/cli.h"

bool cli_load_model(const char *cmd, const char *path, bool vocab_only, bool quiet,
                    ky_model **out) {
    ky_model_params mp = ky_model_default_params();
    mp.vocab_only = vocab_only;
    ky_error err;
    double t0 = ky_time_now();
    if (ky_model_load(path, &mp, out, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan %s: %s\n", cmd, err.message);
        return false;
    }
    if (!quiet && !vocab_only) {
        ky_model_info mi;
        ky_model_get_info(*out, &mi);
        char b1[32];
        fprintf(stderr,
                "kaiyuan: loaded %s in %.2f s: arch %s, %.2f M params, %s (%s), %d layers, "
                "n_embd %d, heads %d/%d×%d, ff %d%s, vocab %d, trained context %d\n",
                path, ky_time_now() - t0, mi.arch, (double)mi.n_params / 1e6,
                cli_human_bytes(mi.file_bytes, b1), mi.file_type, mi.n_layer, mi.n_embd, mi.n_head,
                mi.n_head_kv, mi.head_dim, mi.n_ff, mi.n_expert ? " (experts)" : "", mi.n_vocab,
                mi.n_ctx_train);
        if (mi.n_expert)
            fprintf(stderr, "kaiyuan: %d experts, %d used per token\n", mi.n_expert,
                    mi.n_expert_used);
    }
    return true;
}

bool cli_create_context(const char *cmd, ky_model *model, const ky_context_params *p, bool quiet,
                        ky_context **out) {
    ky_error err;
    if (ky_context_create(model, p, out, &err) != KY_OK) {
        fprintf(stderr, "kaiyuan %s: %s\n", cmd, err.message);
        return false;
    }
    if (!quiet) {
        char b1[32];
        fprintf(stderr, "kaiyuan: context %d positions, KV cache %s (%s), %d threads, kernels %s\n",
                ky_context_n_ctx(*out), cli_human_bytes(ky_context_kv_bytes(*out), b1),
                p->kv_type == KY_TYPE_F32 ? "f32" : "f16", ky_context_n_threads(*out),
                ky_kernels_name());
    }
    return true;
}
