/* test_reference_cli.c — the done-when check through the `kaiyuan` binary: for every
 * ../shared/models/<name>.ref.json (llama.cpp's outputs),
 *   kaiyuan logits -m <name>.gguf --ids <prompt_ids> [--top 64]
 * must give the same argmax at every position and max |Δlogit| within the file's class (F32 1e-3,
 * F16/BF16 2e-2, quantized 0.1; --top 64 for the large-vocabulary chat model, whose reference holds
 * top-64 pairs), and
 *   kaiyuan run -m <name>.gguf --ids <prompt_ids> -n 32 --temp 0 --kv-type f32 --json --quiet
 * must echo the prompt ids and generate the reference's `greedy` ids, except at a step in the
 * allow-list of known divergences. Rules and parsing are shared with tests/model/test_reference.c
 * (tests/ref_compare.h).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ref_compare.h"
#include "test.h"

/* Parses `kaiyuan logits` output into rows[n] (complete rows, or top-K pairs): the values and ids
 * go to *vals / *ids (malloc'd, caller frees). Returns false when it is not shaped as documented. */
static bool parse_logits(const char *out, const ky_ref *ref, ky_ref_row *rows, float **vals,
                         int32_t **ids) {
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    json_t *jrows = json_object_get(j, "logits");
    bool ok = j && json_integer_value(json_object_get(j, "n_vocab")) == ref->n_vocab &&
              json_array_size(jrows) == (size_t)ref->n_prompt;
    int32_t k = ref->top_k ? ref->k : ref->n_vocab;
    size_t total = (size_t)ref->n_prompt * (size_t)k;
    *vals = malloc(total * sizeof **vals);
    *ids = ref->top_k ? malloc(total * sizeof **ids) : NULL;
    ok = ok && *vals && (!ref->top_k || *ids);
    for (int32_t p = 0; ok && p < ref->n_prompt; p++) {
        json_t *jrow = json_array_get(jrows, (size_t)p);
        ok = json_array_size(jrow) == (size_t)k;
        float *v = *vals + (size_t)p * (size_t)k;
        int32_t *id = ref->top_k ? *ids + (size_t)p * (size_t)k : NULL;
        for (int32_t i = 0; ok && i < k; i++) {
            json_t *x = json_array_get(jrow, (size_t)i);
            if (id) {
                json_t *jid = json_array_get(x, 0);
                ok = json_is_integer(jid) && json_integer_value(jid) >= 0 &&
                     json_integer_value(jid) < ref->n_vocab && json_is_number(json_array_get(x, 1));
                id[i] = (int32_t)json_integer_value(jid);
                v[i] = (float)json_number_value(json_array_get(x, 1));
            } else {
                ok = json_is_number(x);
                v[i] = (float)json_number_value(x);
            }
        }
        rows[p] = (ky_ref_row){k, id, v};
    }
    if (!j) fprintf(stderr, "bad JSON (%s): %.200s\n", e.text, out);
    json_decref(j);
    return ok;
}

static void check_logits(const ky_ref *ref, double *max_diff) {
    char top[16];
    snprintf(top, sizeof top, "%d", ref->k);
    const char *args[] = {"logits", "-m", ref->model_path, "--ids", ref->ids_arg, "--quiet", NULL,
                          NULL,     NULL};
    if (ref->top_k) {
        args[6] = "--top";
        args[7] = top;
    }
    ky_cli_result r;
    REQUIRE(ky_test_cli(args, &r) == 0);
    CHECKF(r.exit_code == 0, "%s: kaiyuan logits exit %d: %s", ref->name, r.exit_code, r.err);
    ky_ref_row *rows = calloc((size_t)ref->n_prompt, sizeof *rows);
    float *vals = NULL;
    int32_t *ids = NULL;
    bool parsed = r.exit_code == 0 && rows && parse_logits(r.out, ref, rows, &vals, &ids);
    CHECKF(parsed, "%s: kaiyuan logits output is not as documented: %.200s", ref->name, r.out);
    if (parsed) *max_diff = ky_ref_check_logits(ref, rows, "kaiyuan logits");
    free(vals);
    free(ids);
    free(rows);
    ky_test_cli_free(&r);
}

static void check_run(const ky_ref *ref, char *note, size_t cap) {
    char n[16];
    snprintf(n, sizeof n, "%d", ref->n_greedy);
    const char *args[] = {"run",    "-m", ref->model_path, "--ids", ref->ids_arg, "-n",      n,
                          "--temp", "0",  "--kv-type",     "f32",   "--json",     "--quiet", NULL};
    ky_cli_result r;
    REQUIRE(ky_test_cli(args, &r) == 0);
    CHECKF(r.exit_code == 0, "%s: kaiyuan run exit %d: %s", ref->name, r.exit_code, r.err);
    CHECKF(r.n_err == 0, "%s: kaiyuan run --quiet wrote to stderr: %s", ref->name, r.err);
    json_error_t e;
    json_t *j = json_loads(r.out, JSON_ALLOW_NUL, &e); /* byte tokens can decode to NUL */
    json_t *jp = json_object_get(j, "prompt_ids"), *jg = json_object_get(j, "ids");
    CHECKF(j && json_is_array(jp) && json_is_array(jg), "%s: kaiyuan run --json: %.200s", ref->name,
           r.out);
    bool same_prompt = json_array_size(jp) == (size_t)ref->n_prompt;
    for (int32_t i = 0; same_prompt && i < ref->n_prompt; i++)
        same_prompt = json_integer_value(json_array_get(jp, (size_t)i)) == ref->prompt[i];
    CHECKF(same_prompt, "%s: kaiyuan run echoed other prompt ids", ref->name);
    int32_t ours[256], n_ours = 0;
    for (size_t i = 0; i < json_array_size(jg) && n_ours < 256; i++)
        ours[n_ours++] = (int32_t)json_integer_value(json_array_get(jg, i));
    ky_ref_check_greedy(ref, ours, n_ours, "kaiyuan run", note, cap);
    json_decref(j);
    ky_test_cli_free(&r);
}

static const char *g_current;

static void test_current(void) {
    ky_ref ref;
    bool loaded = ky_ref_load(g_current, &ref);
    CHECKF(loaded, "%s: cannot read the reference", g_current);
    if (loaded) {
        double max_diff = -1;
        char note[512] = "";
        check_logits(&ref, &max_diff);
        check_run(&ref, note, sizeof note);
        printf("# %-32s kaiyuan logits max|dlogit| %.6f (tol %.0e); kaiyuan run %s\n", ref.name,
               max_diff, ky_ref_tolerance(ref.name), note);
    }
    ky_ref_free(&ref);
}

int main(void) {
    static char *names[128];
    int n = 0;
    ky_test_collect_files(ky_test_shared("models"), ".ref.json", 0, names, &n, 128);
    if (n < 20) fprintf(stderr, "expected the shared reference files, found %d\n", n);
    for (int i = 0; i < n; i++) {
        g_current = names[i];
        const char *slash = strrchr(names[i], '/');
        ky_test_run(slash ? slash + 1 : names[i], test_current);
    }
    ky_test_free_files(names, n);
    return ky_test_n_fail || n < 20 ? 1 : 0;
}
