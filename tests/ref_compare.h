/* ref_compare.h — llama.cpp's reference outputs (../shared/models/<name>.ref.json) and the rules
 * for matching them, shared by the library-API test (tests/model/test_reference.c) and the CLI
 * test (tests/cli/test_reference_cli.c).
 *
 * A reference holds prompt_ids, the logits of every prompt position (full rows when n_vocab <=
 * 4096, else the top 64 as [id, logit] pairs) and `greedy`, 32 greedy tokens. The rules (issue #3):
 * every position has the same argmax and max |Δlogit| within the file's class (F32 1e-3, F16/BF16
 * 2e-2, quantized 0.1: llama.cpp quantizes activations to Q8 and rounds to F16/BF16 inside its
 * matmuls); the greedy ids are equal, except at a step listed in the explicit allow-list of known
 * divergences in ref_compare.c.
 */
#ifndef KY_TEST_REF_COMPARE_H
#define KY_TEST_REF_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One position's logits: the complete row (ids NULL, vals[id] for id < n == n_vocab) or n
 * (id, logit) pairs of the best tokens (any order). Views: the arrays are borrowed. */
typedef struct ky_ref_row {
    int32_t n;
    const int32_t *ids;
    const float *vals;
} ky_ref_row;

typedef struct ky_ref {
    char name[128];       /* file name, "tiny-llama-q6_k.ref.json" */
    char stem[128];       /* "tiny-llama-q6_k" */
    char model_path[600]; /* the .gguf beside the reference */
    char ids_arg[4096];   /* prompt_ids as "1,403,..." for --ids */
    int32_t n_vocab;
    int32_t n_prompt, n_greedy;
    int32_t *prompt;  /* [n_prompt] */
    int32_t *greedy;  /* [n_greedy] */
    ky_ref_row *rows; /* [n_prompt] reference logits */
    bool top_k;       /* rows are top-K pairs rather than complete rows */
    int32_t k;        /* entries per row: n_vocab, or K for top-K rows */
    void *owned;      /* storage behind prompt, greedy and rows */
} ky_ref;

/* Parses ref_path (a <name>.ref.json) into *r. Returns false, printing why, when the file cannot
 * be read or is not shaped like a reference. Free with ky_ref_free (also after a failure). */
bool ky_ref_load(const char *ref_path, ky_ref *r);
void ky_ref_free(ky_ref *r);

/* max |Δlogit| allowed for a file, from its name: "-f32." 1e-3, "-f16." / "-bf16." 2e-2, anything
 * else (quantized) 0.1. */
double ky_ref_tolerance(const char *file_name);

/* Result of comparing one position. Entries known on one side only (top-K rows) contribute the
 * lower bound their absence implies: a token missing from a top-K list is at most that list's
 * lowest logit. */
typedef struct ky_ref_cmp {
    double max_diff;
    int32_t ref_best, our_best; /* argmax of each (lowest id on ties) */
    double ref_margin;          /* reference top-2 margin (0 when fewer than two entries) */
} ky_ref_cmp;

/* Compares our row with the reference row of one position (n_vocab tokens). */
void ky_ref_compare_row(const ky_ref_row *ref, const ky_ref_row *ours, int32_t n_vocab,
                        ky_ref_cmp *out);

/* Checks our logits of every prompt position (ours[n_prompt]) against the reference: same argmax
 * everywhere and max |Δ| within ky_ref_tolerance. Failures are recorded with CHECKF (test.h) and
 * name the file, `what` (e.g. "kaiyuan logits") and the position. Returns the max |Δ|. */
double ky_ref_check_logits(const ky_ref *r, const ky_ref_row *ours, const char *what);

/* Checks our greedy continuation (ours[n_ours]) against the reference's: equal ids, except that
 * the first divergence may be at a step in the allow-list (then the rest is not compared).
 * Failures are recorded with CHECKF and name the file, `what`, the step and both tokens. Writes
 * a one-line note (matched steps; the allowed divergence taken; or that a listed divergence no
 * longer occurs, which is printed but does not fail) into note[cap]. Returns the number of
 * matching leading steps. */
int ky_ref_check_greedy(const ky_ref *r, const int32_t *ours, int32_t n_ours, const char *what,
                        char *note, size_t cap);

/* Index of the largest of v[0..n) (lowest index on ties), and its margin over the runner-up. */
int32_t ky_ref_argmax(const float *v, int32_t n);
float ky_ref_margin2(const float *v, int32_t n);

#endif
