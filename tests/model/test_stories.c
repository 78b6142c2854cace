/* test_stories.c — the llama2.c golden runs of the real TinyStories 260K model.
 *
 * ../shared/models/stories260K.reference.json holds greedy runs with llama2.c semantics. For each
 * run: the first positions' logits must match (rounded to 6 significant digits in the file, so a
 * relative tolerance of 1e-4), and greedy decoding from prompt_ids must reproduce every generated
 * id and, decoded, the generated text byte for byte (the 200-step run is llama2.c's published
 * "Once upon a time, there was a little girl named Lily..." output).
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "test.h"

static json_t *g_ref;
static ky_model *g_model;

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static void check_run(json_t *run) {
    const char *name = json_string_value(json_object_get(run, "name"));
    json_t *jp = json_object_get(run, "prompt_ids");
    json_t *jg = json_object_get(run, "generated_ids");
    json_t *jl = json_object_get(run, "logits_first_positions");
    const char *want_text = json_string_value(json_object_get(run, "generated_text"));
    size_t n_prompt = json_array_size(jp), n_gen = json_array_size(jg);
    REQUIRE(n_prompt > 0 && n_gen > 0 && want_text);

    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = (int32_t)(n_prompt + n_gen);
    cp.kv_type = KY_TYPE_F32;
    cp.n_threads = 2;
    ky_context *ctx = NULL;
    ky_error err;
    REQUIRE(ky_context_create(g_model, &cp, &ctx, &err) == KY_OK);
    ky_batch b;
    ky_batch_init(&b, (int32_t)n_prompt);
    for (size_t i = 0; i < n_prompt; i++)
        ky_batch_add(&b, (ky_token)json_integer_value(json_array_get(jp, i)), (int32_t)i, 0, true);
    REQUIRE(ky_decode(ctx, &b) == KY_OK);

    double worst_rel = 0;
    for (size_t p = 0; p < json_array_size(jl) && p < n_prompt; p++) {
        json_t *row = json_array_get(jl, p);
        const float *ours = ky_get_logits(ctx, (int32_t)p);
        for (size_t v = 0; v < json_array_size(row); v++) {
            double r = json_number_value(json_array_get(row, v));
            double rel = fabs(r - ours[v]) / fmax(1.0, fabs(r));
            if (rel > worst_rel) worst_rel = rel;
        }
    }
    CHECKF(worst_rel <= 1e-4, "%s: logits relative error %g", name, worst_rel);

    ky_token *gen = malloc(n_gen * sizeof *gen);
    REQUIRE(gen);
    const float *logits = ky_get_logits(ctx, (int32_t)n_prompt - 1);
    size_t matched = 0;
    for (size_t g = 0; g < n_gen; g++) {
        gen[g] = argmax(logits, 512);
        if (gen[g] == (ky_token)json_integer_value(json_array_get(jg, g)) && matched == g)
            matched++;
        if (g + 1 == n_gen) break;
        ky_batch_clear(&b);
        ky_batch_add(&b, gen[g], (int32_t)(n_prompt + g), 0, true);
        REQUIRE(ky_decode(ctx, &b) == KY_OK);
        logits = ky_get_logits(ctx, 0);
    }
    CHECKF(matched == n_gen, "%s: first %zu of %zu generated ids match", name, matched, n_gen);

    /* The text of the generated ids as llama2.c prints it: decode prompt + generation (SPM strips
     * the space of the first piece after BOS) and remove the decoded prompt. */
    ky_token *all = malloc((n_prompt + n_gen) * sizeof *all);
    REQUIRE(all);
    for (size_t i = 0; i < n_prompt; i++)
        all[i] = (ky_token)json_integer_value(json_array_get(jp, i));
    memcpy(all + n_prompt, gen, n_gen * sizeof *gen);
    size_t len_all = 0, len_prompt = 0;
    ky_detokenize(g_model, all, n_prompt + n_gen, 0, NULL, 0, &len_all);
    ky_detokenize(g_model, all, n_prompt, 0, NULL, 0, &len_prompt);
    char *text = malloc(len_all + 1);
    REQUIRE(text);
    CHECK(ky_detokenize(g_model, all, n_prompt + n_gen, 0, text, len_all + 1, &len_all) == KY_OK);
    text[len_all] = '\0';
    CHECK(len_prompt <= len_all);
    const char *ours = text + (len_prompt <= len_all ? len_prompt : len_all);
    CHECKF(strcmp(ours, want_text) == 0, "%s: text differs:\n ours: %s\n want: %s", name, ours,
           want_text);
    free(all);
    printf("# %s: %zu/%zu ids, logits rel err %.1e\n", name, matched, n_gen, worst_rel);
    free(text);
    free(gen);
    ky_batch_free(&b);
    ky_context_free(ctx);
}

static json_t *g_run;
static void test_run(void) { check_run(g_run); }

int main(void) {
    json_error_t jerr;
    g_ref = json_load_file(ky_test_shared("models/stories260K.reference.json"), 0, &jerr);
    ky_error err;
    if (!g_ref || ky_model_load(ky_test_shared("models/stories260K.gguf"), NULL, &g_model, &err)) {
        fprintf(stderr, "cannot load the stories260K reference or model\n");
        return 1;
    }
    json_t *runs = json_object_get(g_ref, "runs");
    size_t n_runs = json_array_size(runs);
    for (size_t i = 0; i < n_runs; i++) {
        g_run = json_array_get(runs, i);
        ky_test_run(json_string_value(json_object_get(g_run, "name")), test_run);
    }
    ky_model_free(g_model);
    json_decref(g_ref);
    return ky_test_n_fail || n_runs < 3 ? 1 : 0;
}
