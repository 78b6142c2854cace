/* cli_model.c — loading a model and creating a context with the CLI's messages: errors and a
 * one-line summary on stderr (layer: cli; uses kaiyuan.h only). MODEL arguments are paths or
 * REFs of the model store (pulled on first use). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/cli.h"

/* A MODEL that names no existing file but looks like one is reported as a missing file, not
 * parsed as a REF: absolute and ./ ../ paths, and names ending in .gguf. */
static bool looks_like_path(const char *s) {
    size_t n = strlen(s);
    return s[0] == '/' || !strncmp(s, "./", 2) || !strncmp(s, "../", 3) ||
           (n >= 5 && !strcasecmp(s + n - 5, ".gguf"));
}

bool cli_resolve_model(const char *cmd, const char *model, char *path, size_t cap, bool quiet) {
    struct stat sb;
    if (stat(model, &sb) == 0 || looks_like_path(model)) {
        snprintf(path, cap, "%s", model);
        return true;
    }
    ky_store_params sp = ky_store_default_params();
    ky_store_entry e;
    ky_error err;
    if (ky_store_find(&sp, model, &e, &err) != KY_OK) {
        if (err.status != KY_ERR_NOT_FOUND || !strncmp(model, "ollama:", 7)) {
            fprintf(stderr, "kaiyuan %s: %s\n", cmd, err.message);
            return false;
        }
        if (!quiet) fprintf(stderr, "kaiyuan: %s is not in the store yet: pulling it\n", model);
        if (!cli_pull_one(cmd, model, quiet, -1, &e)) return false;
    }
    if (strlen(e.path) >= cap) {
        fprintf(stderr, "kaiyuan %s: %s: path too long\n", cmd, e.path);
        return false;
    }
    snprintf(path, cap, "%s", e.path);
    return true;
}

bool cli_load_model(const char *cmd, const char *model, bool vocab_only, bool quiet,
                    ky_model **out) {
    ky_model_params mp = ky_model_default_params();
    mp.vocab_only = vocab_only;
    return cli_load_model_params(cmd, model, &mp, quiet, out);
}

bool cli_load_model_params(const char *cmd, const char *model, const ky_model_params *params,
                           bool quiet, ky_model **out) {
    char path[KY_STORE_PATH_MAX];
    if (!cli_resolve_model(cmd, model, path, sizeof path, quiet)) return false;
    ky_model_params mp = *params;
    bool vocab_only = mp.vocab_only;
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
