/* test_reference.c — forward pass vs llama.cpp's reference outputs for every shared model,
 * through the library API (tests/cli/test_reference_cli.c does the same through the CLI).
 *
 * For each ../shared/models/<name>.ref.json (all four architectures, all types): evaluate
 * prompt_ids in one batch with an F32 KV cache and compare every position's logits with the
 * reference — same argmax and max |Δlogit| within the type's tolerance (F32 1e-3, F16/BF16 2e-2,
 * quantized 0.1; llama.cpp quantizes activations to Q8 and rounds to F16/BF16 inside its matmuls,
 * which we mirror for quantized types) — then greedy-decode 32 tokens and compare with `greedy`.
 * The ids must be equal except at a step in the explicit allow-list of known divergences
 * (tests/ref_compare.c: file, step, llama.cpp's own top-2 margin there). The rules and the
 * parsing are shared with the CLI test in tests/ref_compare.h. The measured max |Δ| and the
 * greedy agreement per file are printed for the closing notes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "ref_compare.h"
#include "test.h"

static void check_one(const char *ref_path) {
    ky_ref ref;
    if (!ky_ref_load(ref_path, &ref)) {
        ky_ref_free(&ref);
        REQUIRE(0);
    }
    ky_model *model = NULL;
    ky_context *ctx = NULL;
    ky_batch batch = {0};
    ky_ref_row *rows = NULL;
    ky_error err;
    ky_status st = ky_model_load(ref.model_path, NULL, &model, &err);
    CHECKF(st == KY_OK, "%s: %s", ref.model_path, err.message);
    if (st) goto done;
    ky_model_info mi;
    ky_model_get_info(model, &mi);
    CHECK(mi.n_vocab == ref.n_vocab);
    if (mi.n_vocab != ref.n_vocab) goto done;
    int32_t n = ref.n_prompt;
    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = n + ref.n_greedy + 8;
    cp.n_batch = n;
    cp.kv_type = KY_TYPE_F32;
    cp.n_threads = 2;
    st = ky_context_create(model, &cp, &ctx, &err);
    CHECKF(st == KY_OK, "%s", err.message);
    if (st) goto done;
    ky_batch_init(&batch, n);
    for (int32_t i = 0; i < n; i++) ky_batch_add(&batch, ref.prompt[i], i, 0, true);
    st = ky_decode(ctx, &batch);
    CHECKF(st == KY_OK, "%s", ky_context_last_error(ctx));
    if (st) goto done;

    rows = calloc((size_t)n, sizeof *rows);
    REQUIRE(rows);
    for (int32_t i = 0; i < n; i++) rows[i] = (ky_ref_row){mi.n_vocab, NULL, ky_get_logits(ctx, i)};
    double max_diff = ky_ref_check_logits(&ref, rows, "ky_decode");

    /* Greedy continuation, token by token, always feeding our own choice. */
    int32_t ours[64], n_ours = 0, pos = n;
    const float *logits = ky_get_logits(ctx, n - 1);
    while (n_ours < ref.n_greedy && n_ours < 64) {
        ky_token got = ky_ref_argmax(logits, mi.n_vocab);
        ours[n_ours++] = got;
        ky_batch_clear(&batch);
        ky_batch_add(&batch, got, pos++, 0, true);
        if (ky_decode(ctx, &batch) != KY_OK) {
            CHECKF(0, "%s: decode failed: %s", ref.name, ky_context_last_error(ctx));
            break;
        }
        logits = ky_get_logits(ctx, 0);
    }
    char note[512];
    ky_ref_check_greedy(&ref, ours, n_ours, "ky_decode", note, sizeof note);
    printf("# %-32s max|dlogit| %.6f (tol %.0e)  %s\n", ref.name, max_diff,
           ky_ref_tolerance(ref.name), note);
done:
    free(rows);
    ky_batch_free(&batch);
    ky_context_free(ctx);
    ky_model_free(model);
    ky_ref_free(&ref);
}

static char *g_names[128];
static int g_n;
static const char *g_current;

static void test_current(void) { check_one(g_current); }

int main(void) {
    ky_test_collect_files(ky_test_shared("models"), ".ref.json", 0, g_names, &g_n, 128);
    if (g_n < 20) fprintf(stderr, "expected the shared reference files, found %d\n", g_n);
    for (int i = 0; i < g_n; i++) {
        g_current = g_names[i];
        const char *slash = strrchr(g_names[i], '/');
        ky_test_run(slash ? slash + 1 : g_names[i], test_current);
    }
    ky_test_free_files(g_names, g_n);
    return ky_test_n_fail || g_n < 20 ? 1 : 0;
}
