/* test_spec.c — speculative decoding: the draft-verification rule of ky_sampler_sample_draft
 * keeps the sampler's distribution exactly (chi-square over many seeded draws, for a likely, an
 * unlikely and an impossible draft, with top-k/top-p active), greedy verification equals argmax,
 * the n-gram drafter, and `kaiyuan run --spec ngram` giving the same greedy ids as plain decoding
 * on the reference models and the chat model. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "sampler/sampler.h"
#include "test.h"

#define V 12

static void test_rule_keeps_distribution(void) {
    const float logits[V] = {2.0f,  1.5f,  1.0f,  0.5f,  0.0f,  -0.5f,
                             -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -9.0f};
    ky_sampler_params p = ky_sampler_default_params();
    p.temperature = 0.8f;
    p.top_k = 10;
    p.top_p = 0.97f;
    p.min_p = 0.0f;
    p.seed = 42;
    ky_sampler *s = NULL;
    REQUIRE(ky_sampler_create(&p, V, &s, NULL) == KY_OK);
    ky_token ids[V];
    float probs[V];
    size_t n = 0;
    REQUIRE(sampler_candidates(s, logits, ids, probs, V, &n) == KY_OK && n > 3);
    double expect[V] = {0};
    for (size_t i = 0; i < n; i++) expect[ids[i]] = probs[i];
    const ky_token drafts[] = {0, 3, 11}; /* likely, unlikely, outside the candidate set */
    const int draws = 200000;
    for (size_t d = 0; d < 3; d++) {
        int count[V] = {0}, acc = 0;
        for (int i = 0; i < draws; i++) {
            bool ok;
            ky_token t = ky_sampler_sample_draft(s, logits, drafts[d], &ok);
            REQUIRE(t >= 0 && t < V);
            count[t]++;
            acc += ok;
            CHECK(!ok || t == drafts[d]);
        }
        double chi2 = 0;
        int dof = -1;
        for (int t = 0; t < V; t++) {
            if (expect[t] == 0) {
                CHECKF(count[t] == 0, "draft %d: token %d outside the candidates drawn %d times",
                       drafts[d], t, count[t]);
                continue;
            }
            double e = expect[t] * draws;
            chi2 += (count[t] - e) * (count[t] - e) / e;
            dof++;
        }
        /* 99.9% quantile of chi-square with <= 11 degrees of freedom is < 32 */
        printf("# draft %d: accepted %.3f (p = %.3f), chi2 %.1f with %d dof\n", drafts[d],
               (double)acc / draws, expect[drafts[d]], chi2, dof);
        CHECK(chi2 < 32.0);
        CHECK(fabs((double)acc / draws - expect[drafts[d]]) < 0.01);
    }
    ky_sampler_free(s);
    p.temperature = 0;
    REQUIRE(ky_sampler_create(&p, V, &s, NULL) == KY_OK);
    bool ok = true;
    CHECK(ky_sampler_sample_draft(s, logits, 3, &ok) == 0 && !ok);
    CHECK(ky_sampler_sample_draft(s, logits, 0, &ok) == 0 && ok);
    ky_sampler_free(s);
}

static void test_ngram_drafter(void) {
    const ky_token h[] = {5, 6, 7, 8, 9, 1, 2, 5, 6, 7};
    ky_token out[8];
    size_t k = ky_draft_ngram(h, 10, 2, 4, out, 8);
    CHECK(k == 7 && out[0] == 8 && out[1] == 9 && out[2] == 1 && out[3] == 2 && out[6] == 7);
    CHECK(ky_draft_ngram(h, 10, 2, 4, out, 2) == 2);
    const ky_token none[] = {1, 2, 3, 4, 5};
    CHECK(ky_draft_ngram(none, 5, 2, 4, out, 8) == 0);
    CHECK(ky_draft_ngram(h, 10, 0, 4, out, 8) == 0);
    CHECK(ky_draft_ngram(NULL, 10, 2, 4, out, 8) == 0);
    /* the most recent occurrence wins */
    const ky_token two[] = {1, 2, 3, 1, 2, 4, 1, 2};
    CHECK(ky_draft_ngram(two, 8, 2, 2, out, 1) == 1 && out[0] == 4);
}

static char *run_ids(const char *model, const char *prompt_flag, const char *prompt,
                     const char *spec) {
    const char *args[] = {"run",    "-m", model,    prompt_flag, prompt,   "-n", "96",
                          "--temp", "0",  "--json", "--quiet",   "--spec", spec, NULL};
    ky_cli_result r;
    if (ky_test_cli(args, &r) != 0) return NULL;
    char *out = r.exit_code == 0 ? strdup(r.out) : NULL;
    if (!out) fprintf(stderr, "run failed: %s\n", r.err);
    ky_test_cli_free(&r);
    return out;
}

static void test_greedy_output_identical(void) {
    static const struct {
        const char *model, *flag, *prompt;
    } cases[] = {
        {"models/stories260K.gguf", "--ids", "1"},
        {"models/stories260K.gguf", "-p", "Once upon a time there was a cat. Once upon a time"},
        {"models/tiny-llama-q4_k_m.gguf", "--ids",
         "1,403,407,261,378,432,383,286,261,376,298,315,421,395,317,426"},
        {"models/tiny-qwen2-q8_0.gguf", "--ids",
         "1,403,407,261,378,432,383,286,261,376,298,315,421,395,317,426"},
        {"models/tiny-qwen3moe-q8_0.gguf", "--ids",
         "1,403,407,261,378,432,383,286,261,376,298,315,421,395,317,426"},
        {"models/chat-qwen3-q8_0.gguf", "-p", "hello hello hello world hello hello"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char model[600];
        snprintf(model, sizeof model, "%s", ky_test_shared(cases[i].model));
        char *plain = run_ids(model, cases[i].flag, cases[i].prompt, "off");
        char *spec = run_ids(model, cases[i].flag, cases[i].prompt, "ngram");
        CHECKF(plain && spec && !strcmp(plain, spec), "%s: speculative greedy output differs",
               cases[i].model);
        free(plain);
        free(spec);
    }
}

int main(void) {
    RUN(test_rule_keeps_distribution);
    RUN(test_ngram_drafter);
    RUN(test_greedy_output_identical);
    TEST_EXIT();
}
