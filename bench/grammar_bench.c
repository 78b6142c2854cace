/* grammar_bench.c — token-mask time of the grammar matcher on a real vocabulary (bench/).
 *
 *   build/bench/grammar_bench [VOCAB.gguf] [--walks N] [--steps N] [--seed S]
 *
 * For each grammar (JSON schemas of the kind the tests use, and any-JSON), runs N random walks:
 * at each step the mask is computed (timed), then a uniformly random allowed token is accepted
 * (a random-weight model at temperature 1 behaves much like this). Prints one JSON line per
 * grammar: build time, steps, median / p90 / p99 / max mask time in microseconds, cache hit rate
 * is not reported separately (the mask cache is part of what is measured).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"

static const struct {
    const char *name, *schema;
} SCHEMAS[] = {
    {"person",
     "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":40},"
     "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},\"email\":{\"type\":"
     "\"string\",\"format\":\"email\"},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":["
     "\"a\",\"b\",\"c\"]},\"maxItems\":4}},\"required\":[\"name\",\"age\"]}"},
    {"nested",
     "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
     "\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,\"items\":{\"type\":"
     "\"object\",\"properties\":{\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]{"
     "4}$\"},\"qty\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":99},\"note\":{\"type\":"
     "\"string\"}},\"required\":[\"sku\",\"qty\"]}},\"total\":{\"type\":\"number\","
     "\"minimum\":0}},\"required\":[\"id\",\"items\"]}"},
    {"bounds-oneof",
     "{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"number\",\"exclusiveMinimum\":"
     "0.25,\"maximum\":0.75},\"t\":{\"type\":\"number\",\"minimum\":-1.5,\"exclusiveMaximum\":"
     "-1.25},\"pet\":{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":"
     "\"cat\"},\"lives\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9}},\"required\":["
     "\"kind\"]},{\"type\":\"string\",\"maxLength\":6},{\"type\":\"null\"}]}},\"required\":["
     "\"p\",\"t\",\"pet\"]}"},
    {"free-text",
     "{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":\"string\"},"
     "\"confidence\":{\"type\":\"number\"}},\"required\":[\"answer\",\"confidence\"]}"},
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run(const char *name, ky_grammar *g, ky_grammar_vocab *v, const ky_model *m, int walks,
                int steps) {
    ky_error err;
    ky_grammar_matcher *mt = NULL;
    double t0 = ky_time_now();
    if (ky_grammar_matcher_create(g, v, NULL, &mt, &err) != KY_OK) {
        printf("{\"grammar\": \"%s\", \"error\": \"%s\"}\n", name, err.message);
        return;
    }
    double build = ky_time_now() - t0;
    int32_t nv = ky_vocab_n_tokens(m);
    size_t nw = ky_grammar_mask_words(mt);
    uint32_t *mask = malloc(nw * 4);
    int32_t *allowed = malloc((size_t)nv * sizeof *allowed);
    double *times = malloc((size_t)walks * (size_t)steps * sizeof *times);
    size_t n = 0;
    long n_tokens_allowed = 0;
    for (int w = 0; w < walks; w++) {
        ky_grammar_matcher_reset(mt);
        for (int s = 0; s < steps; s++) {
            double a = ky_time_now();
            ky_grammar_matcher_fill_mask(mt, mask, nw);
            times[n++] = (ky_time_now() - a) * 1e6;
            int na = 0;
            for (int32_t t = 0; t < nv; t++)
                if ((mask[t >> 5] >> (t & 31)) & 1u) allowed[na++] = t;
            n_tokens_allowed += na;
            if (!na) break;
            ky_token t = allowed[rnd() % (uint64_t)na];
            if (ky_grammar_matcher_accept_token(mt, t) != KY_OK) {
                printf("{\"grammar\": \"%s\", \"error\": \"masked token %d rejected\"}\n", name, t);
                break;
            }
            if (ky_grammar_matcher_is_finished(mt)) break;
        }
    }
    qsort(times, n, sizeof *times, cmp_d);
    printf("{\"grammar\": \"%s\", \"n_vocab\": %d, \"build_s\": %.3f, \"steps\": %zu, "
           "\"mean_allowed\": %.0f, \"median_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
           "\"max_us\": %.1f}\n",
           name, nv, build, n, n ? (double)n_tokens_allowed / (double)n : 0.0, times[n / 2],
           times[n * 9 / 10], times[n * 99 / 100], times[n - 1]);
    fflush(stdout);
    free(times);
    free(mask);
    free(allowed);
    ky_grammar_matcher_free(mt);
}

int main(int argc, char **argv) {
    const char *path = "../shared/tokenizer/qwen3/qwen3-vocab-only.gguf";
    int walks = 20, steps = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--walks") && i + 1 < argc)
            walks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rng = strtoull(argv[++i], NULL, 10) | 1;
        else
            path = argv[i];
    }
    ky_model_params mp = ky_model_default_params();
    mp.vocab_only = true;
    ky_model *m = NULL;
    ky_error err;
    if (ky_model_load(path, &mp, &m, &err) != KY_OK) {
        fprintf(stderr, "grammar_bench: %s\n", err.message);
        return 1;
    }
    double t0 = ky_time_now();
    ky_grammar_vocab *v = NULL;
    if (ky_grammar_vocab_create(m, &v, &err) != KY_OK) {
        fprintf(stderr, "grammar_bench: %s\n", err.message);
        return 1;
    }
    printf("{\"vocab_index_s\": %.3f}\n", ky_time_now() - t0);
    for (size_t i = 0; i < sizeof SCHEMAS / sizeof *SCHEMAS; i++) {
        ky_grammar *g = NULL;
        if (ky_grammar_from_json_schema(SCHEMAS[i].schema, strlen(SCHEMAS[i].schema), &g, &err) !=
            KY_OK) {
            printf("{\"grammar\": \"%s\", \"error\": \"%s\"}\n", SCHEMAS[i].name, err.message);
            continue;
        }
        run(SCHEMAS[i].name, g, v, m, walks, steps);
        ky_grammar_free(g);
    }
    ky_grammar *j = NULL;
    if (ky_grammar_json(&j, &err) == KY_OK) {
        run("json_object", j, v, m, walks, steps);
        ky_grammar_free(j);
    }
    ky_grammar_vocab_free(v);
    ky_model_free(m);
    return 0;
}
