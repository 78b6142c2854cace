/* ref_compare.c — parsing of the llama.cpp reference files and the matching rules, including the
 * allow-list of known greedy divergences (see ref_compare.h). */
#include "ref_compare.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* Known greedy divergences from llama.cpp. The issue allows a divergence only where the
 * reference's own top-2 margin is tiny (< 1e-3); anything else must be listed here, with the
 * margin measured by `node bench/peer/peer.mjs logits --ids <prompt + greedy[0..step)> --top 2`
 * on the last position, and why it is accepted. An entry matches the first divergence of that
 * file at that step with exactly those two tokens; when the divergence no longer occurs the tests
 * print a note (remove the entry then) instead of failing. */
typedef struct known_divergence {
    const char *stem; /* reference file without .ref.json */
    int32_t step;     /* greedy step, from 0 */
    int32_t ours, ref;
    double ref_margin; /* llama.cpp's top-2 logit margin at that step */
} known_divergence;

static const known_divergence k_known[] = {
    /* llama.cpp: 165 2.31523, 263 2.30876 (margin 6.5e-3); ours: 263 2.3204, 165 2.2933.
     * Cause, found by instrumenting the quantizer: one 8-bit activation rounding. Our prompt
     * logits equal llama.cpp's to 5e-6 (the references' print precision) at positions 0-8 and
     * differ by 0.03-0.05 from position 9 on. In layer 0, position 9, one element of the FFN
     * input scaled for Q8_K is exactly -24.5 here (round-half-even: -24); rounding that single
     * element to -25 instead gives 5e-6 at all 16 positions and greedy 32/32. Our value lands on
     * the tie and llama.cpp's an ulp away because earlier sums run in another float order (e.g.
     * our Q6_K dot scales its exact integer sum once per super-block; llama.cpp's x86 kernel
     * scales eight lane sums and adds them in float).
     * node-llama-cpp 3.22.1 reproduces the reference file exactly on the development machine
     * (bench/peer/check-refs.sh: 5e-6, greedy 32/32), so the file is not stale. Agreeing at every
     * such tie would mean copying llama.cpp's float order in every kernel of each CPU variant. */
    {"tiny-llama-q6_k", 22, 263, 165, 6.5e-3},
};

double ky_ref_tolerance(const char *file_name) {
    if (strstr(file_name, "-f32.")) return 1e-3;
    if (strstr(file_name, "-f16.") || strstr(file_name, "-bf16.")) return 2e-2;
    return 0.1;
}

int32_t ky_ref_argmax(const float *v, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

float ky_ref_margin2(const float *v, int32_t n) {
    int32_t b = ky_ref_argmax(v, n);
    float second = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (i != b && v[i] > second) second = v[i];
    return v[b] - second;
}

/* Storage behind a ky_ref. */
typedef struct ref_store {
    int32_t *prompt, *greedy, *ids;
    float *vals;
    ky_ref_row *rows;
} ref_store;

void ky_ref_free(ky_ref *r) {
    ref_store *s = r->owned;
    if (s) {
        free(s->prompt);
        free(s->greedy);
        free(s->ids);
        free(s->vals);
        free(s->rows);
        free(s);
    }
    memset(r, 0, sizeof *r);
}

static bool load_ids(json_t *arr, int32_t **out, int32_t *n) {
    size_t m = json_array_size(arr);
    *out = malloc((m ? m : 1) * sizeof **out);
    if (!*out) return false;
    for (size_t i = 0; i < m; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v)) return false;
        (*out)[i] = (int32_t)json_integer_value(v);
    }
    *n = (int32_t)m;
    return true;
}

bool ky_ref_load(const char *ref_path, ky_ref *r) {
    memset(r, 0, sizeof *r);
    const char *slash = strrchr(ref_path, '/');
    snprintf(r->name, sizeof r->name, "%s", slash ? slash + 1 : ref_path);
    snprintf(r->stem, sizeof r->stem, "%s", r->name);
    char *dot = strstr(r->stem, ".ref.json");
    if (dot) *dot = '\0';
    snprintf(r->model_path, sizeof r->model_path, "%s", ref_path);
    dot = strstr(r->model_path, ".ref.json");
    if (!dot) {
        fprintf(stderr, "%s: not a .ref.json file\n", ref_path);
        return false;
    }
    strcpy(dot, ".gguf");

    json_error_t jerr;
    json_t *root = json_load_file(ref_path, 0, &jerr);
    if (!root) {
        fprintf(stderr, "%s: %s (line %d)\n", ref_path, jerr.text, jerr.line);
        return false;
    }
    ref_store *s = calloc(1, sizeof *s);
    bool ok = s != NULL;
    r->owned = s;
    json_t *jlog = json_object_get(root, "logits");
    r->n_vocab = (int32_t)json_integer_value(json_object_get(root, "n_vocab"));
    ok = ok && load_ids(json_object_get(root, "prompt_ids"), &s->prompt, &r->n_prompt) &&
         load_ids(json_object_get(root, "greedy"), &s->greedy, &r->n_greedy) && r->n_prompt > 0 &&
         r->n_vocab > 0 && json_array_size(jlog) == (size_t)r->n_prompt;
    if (ok) {
        r->prompt = s->prompt;
        r->greedy = s->greedy;
        json_t *row0 = json_array_get(jlog, 0);
        r->top_k = json_is_array(json_array_get(row0, 0));
        r->k = (int32_t)json_array_size(row0);
        size_t total = (size_t)r->n_prompt * (size_t)r->k;
        s->vals = malloc((total ? total : 1) * sizeof *s->vals);
        s->ids = r->top_k ? malloc((total ? total : 1) * sizeof *s->ids) : NULL;
        s->rows = calloc((size_t)r->n_prompt, sizeof *s->rows);
        ok = s->vals && s->rows && (!r->top_k || s->ids) && r->k > 0 &&
             (r->top_k ? r->k <= r->n_vocab : r->k == r->n_vocab);
    }
    for (int32_t p = 0; ok && p < r->n_prompt; p++) {
        json_t *jrow = json_array_get(jlog, (size_t)p);
        ok = json_array_size(jrow) == (size_t)r->k;
        float *vals = s->vals + (size_t)p * (size_t)r->k;
        int32_t *ids = r->top_k ? s->ids + (size_t)p * (size_t)r->k : NULL;
        for (int32_t i = 0; ok && i < r->k; i++) {
            json_t *e = json_array_get(jrow, (size_t)i);
            if (r->top_k) {
                json_t *id = json_array_get(e, 0);
                ok = json_is_integer(id) && json_is_number(json_array_get(e, 1)) &&
                     json_integer_value(id) >= 0 && json_integer_value(id) < r->n_vocab;
                ids[i] = (int32_t)json_integer_value(id);
                vals[i] = (float)json_number_value(json_array_get(e, 1));
            } else {
                ok = json_is_number(e);
                vals[i] = (float)json_number_value(e);
            }
        }
        s->rows[p] = (ky_ref_row){r->k, ids, vals};
    }
    r->rows = ok ? s->rows : NULL;
    size_t len = 0;
    for (int32_t i = 0; ok && i < r->n_prompt; i++) {
        int w =
            snprintf(r->ids_arg + len, sizeof r->ids_arg - len, "%s%d", i ? "," : "", r->prompt[i]);
        ok = w > 0 && len + (size_t)w < sizeof r->ids_arg;
        len += ok ? (size_t)w : 0;
    }
    json_decref(root);
    if (!ok) fprintf(stderr, "%s: not shaped like a llama.cpp reference\n", ref_path);
    return ok;
}

/* Spreads a row over dense[n_vocab] (NAN where unknown); returns the lowest known value (the
 * bound on unknown entries) or -INFINITY when the row is complete. */
static float densify(const ky_ref_row *row, int32_t n_vocab, float *dense) {
    if (!row->ids) {
        memcpy(dense, row->vals, (size_t)n_vocab * sizeof *dense);
        return -INFINITY;
    }
    for (int32_t v = 0; v < n_vocab; v++) dense[v] = NAN;
    float floor_v = INFINITY;
    for (int32_t i = 0; i < row->n; i++) {
        dense[row->ids[i]] = row->vals[i];
        if (row->vals[i] < floor_v) floor_v = row->vals[i];
    }
    return floor_v;
}

/* argmax over the known entries (lowest id on ties) and the margin over the runner-up. */
static int32_t best_of(const float *dense, int32_t n_vocab, double *margin) {
    int32_t b = -1, second = -1;
    for (int32_t v = 0; v < n_vocab; v++) {
        if (isnan(dense[v])) continue;
        if (b < 0 || dense[v] > dense[b]) {
            second = b;
            b = v;
        } else if (second < 0 || dense[v] > dense[second]) {
            second = v;
        }
    }
    if (margin) *margin = b >= 0 && second >= 0 ? (double)dense[b] - dense[second] : 0.0;
    return b;
}

void ky_ref_compare_row(const ky_ref_row *ref, const ky_ref_row *ours, int32_t n_vocab,
                        ky_ref_cmp *out) {
    memset(out, 0, sizeof *out);
    float *a = malloc((size_t)n_vocab * sizeof *a), *b = malloc((size_t)n_vocab * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        out->max_diff = INFINITY;
        out->ref_best = out->our_best = -1;
        return;
    }
    float fa = densify(ref, n_vocab, a), fb = densify(ours, n_vocab, b);
    double worst = 0.0;
    for (int32_t v = 0; v < n_vocab; v++) {
        double d;
        if (!isnan(a[v]) && !isnan(b[v]))
            d = fabs((double)a[v] - b[v]);
        else if (!isnan(a[v])) /* ours[v] <= fb */
            d = fmax(0.0, (double)a[v] - fb);
        else if (!isnan(b[v])) /* ref[v] <= fa */
            d = fmax(0.0, (double)b[v] - fa);
        else
            continue;
        if (isnan(d)) d = INFINITY; /* NaN logits fail */
        if (d > worst) worst = d;
    }
    out->max_diff = worst;
    out->ref_best = best_of(a, n_vocab, &out->ref_margin);
    out->our_best = best_of(b, n_vocab, NULL);
    free(a);
    free(b);
}

double ky_ref_check_logits(const ky_ref *r, const ky_ref_row *ours, const char *what) {
    double tol = ky_ref_tolerance(r->name), worst = 0.0;
    int worst_pos = 0;
    for (int32_t p = 0; p < r->n_prompt; p++) {
        ky_ref_cmp c;
        ky_ref_compare_row(&r->rows[p], &ours[p], r->n_vocab, &c);
        CHECKF(c.ref_best == c.our_best,
               "%s: %s: position %d: argmax %d, llama.cpp %d (its top-2 margin %.2e)", r->name,
               what, p, c.our_best, c.ref_best, c.ref_margin);
        if (!(c.max_diff <= worst)) {
            worst = c.max_diff;
            worst_pos = p;
        }
    }
    CHECKF(worst <= tol, "%s: %s: max |dlogit| %.6f (position %d) > %.0e", r->name, what, worst,
           worst_pos, tol);
    return worst;
}

int ky_ref_check_greedy(const ky_ref *r, const int32_t *ours, int32_t n_ours, const char *what,
                        char *note, size_t cap) {
    const known_divergence *listed = NULL;
    for (size_t i = 0; i < sizeof k_known / sizeof k_known[0]; i++)
        if (!strcmp(k_known[i].stem, r->stem)) listed = &k_known[i];
    int32_t s = 0;
    while (s < r->n_greedy && s < n_ours && ours[s] == r->greedy[s]) s++;
    snprintf(note, cap, "greedy %d/%d", s, r->n_greedy);
    if (s == r->n_greedy) {
        if (listed) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "; NOTE: the allowed divergence at step %d (ours %d, llama.cpp %d, its "
                     "margin %.1e) no longer occurs: remove it from tests/ref_compare.c",
                     listed->step, listed->ours, listed->ref, listed->ref_margin);
            snprintf(note + strlen(note), cap - strlen(note), "%s", msg);
        }
        return s;
    }
    if (s == n_ours) {
        CHECKF(0, "%s: %s: greedy stopped after %d of %d tokens", r->name, what, n_ours,
               r->n_greedy);
        return s;
    }
    bool allowed =
        listed && listed->step == s && listed->ours == ours[s] && listed->ref == r->greedy[s];
    CHECKF(allowed,
           "%s: %s: greedy step %d: ours %d, llama.cpp %d (not in the allow-list of known "
           "divergences in tests/ref_compare.c)",
           r->name, what, s, ours[s], r->greedy[s]);
    if (allowed)
        snprintf(note + strlen(note), cap - strlen(note),
                 " (allowed divergence at step %d: ours %d, llama.cpp %d, its margin %.1e)", s,
                 ours[s], r->greedy[s], listed->ref_margin);
    return s;
}
