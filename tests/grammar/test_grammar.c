/* test_grammar.c — GBNF parsing, byte matching and token masks (tests for src/grammar/).
 *
 * Masks are checked against brute force on the real Qwen3 vocabulary: for states reached along
 * random valid walks, every token's bytes are fed to a copy of the matcher, and the mask bit must
 * equal "accepted".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "grammar/grammar.h"
#include "kaiyuan.h"
#include "test.h"

/* Whether the grammar accepts the whole string s (may end after its last byte). */
static int gmatch(const char *gbnf, const char *s, size_t n) {
    gram *g = NULL;
    ky_error err;
    if (gram_parse_gbnf(gbnf, strlen(gbnf), &g, &err) != KY_OK) {
        fprintf(stderr, "parse failed: %s\n", err.message);
        return -1;
    }
    gadv a;
    gadv_init(&a, g);
    uint32_t *b0 = malloc(KY_GRAMMAR_MAX_STATE_WORDS * 4),
             *b1 = malloc(KY_GRAMMAR_MAX_STATE_WORDS * 4);
    gadv_begin(&a, b0, KY_GRAMMAR_MAX_STATE_WORDS);
    gadv_start(&a);
    gstate st = gadv_end(&a);
    for (size_t i = 0; i < n; i++) {
        uint32_t *dst = (i & 1) ? b0 : b1;
        gadv_begin(&a, dst, KY_GRAMMAR_MAX_STATE_WORDS);
        gadv_step(&a, &st, (uint8_t)s[i]);
        st = gadv_end(&a);
    }
    int r = st.can_end ? 1 : 0;
    free(b0);
    free(b1);
    gadv_free(&a);
    gram_free(g);
    return r;
}

#define ACCEPTS(g, s) CHECKF(gmatch(g, s, strlen(s)) == 1, "%s should accept '%s'", g, s)
#define REJECTS(g, s) CHECKF(gmatch(g, s, strlen(s)) == 0, "%s should reject '%s'", g, s)

static void test_parse_errors(void) {
    static const struct {
        const char *src, *msg;
    } cases[] = {
        {"root ::= \"abc", "grammar:1:10: unterminated string literal"},
        {"root ::= foo", "grammar:1:10: undefined rule 'foo'"},
        {"root ::= [a-", "grammar:1:10: unterminated character class"},
        {"root ::= (\"a\"", "grammar:1:10: unclosed '('"},
        {"x ::= \"a\"", "grammar: no 'root' rule"},
        {"root ::= \"a\"\nroot ::= \"b\"", "grammar:2:1: rule defined twice: 'root'"},
        {"root ::= root \"a\" | \"b\"", "grammar: left recursion through rule 'root'"},
        {"root ::= x\nx ::= \"a\" x", "grammar: rule 'root' can never match a finite string"},
        {"root ::= \"a\"{3,2}", "grammar:1:13: {m,n} with n < m"},
        {"root ::= \"a\"{1,99999}", "grammar:1:16: repetition count over the limit"},
        {"root ::= [z-a]", "grammar:1:10: character range out of order"},
        {"root ::= \"\\q\"", "grammar:1:11: unknown escape \\ 'q'"},
        {"root ::= @", "grammar:1:10: unexpected character '@'"},
        {"root \"a\"", "grammar:1:6: expected '::=' after rule name 'root'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ky_grammar *g = NULL;
        ky_error err = {0};
        ky_status st = ky_grammar_from_gbnf(cases[i].src, strlen(cases[i].src), &g, &err);
        CHECKF(st != KY_OK, "case %zu parsed", i);
        CHECKF(strcmp(err.message, cases[i].msg) == 0, "case %zu: got '%s' want '%s'", i,
               err.message, cases[i].msg);
        ky_grammar_free(g);
    }
}

static void test_nesting_limit(void) {
    size_t n = 3 * KY_GRAMMAR_MAX_NEST + 100;
    char *s = malloc(n * 2 + 32);
    strcpy(s, "root ::= ");
    size_t k = strlen(s);
    for (size_t i = 0; i < n; i++) s[k++] = '(';
    s[k++] = '"', s[k++] = 'a', s[k++] = '"';
    for (size_t i = 0; i < n; i++) s[k++] = ')';
    ky_grammar *g = NULL;
    ky_error err;
    CHECK(ky_grammar_from_gbnf(s, k, &g, &err) == KY_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "nested too deeply") != NULL);
    free(s);
}

static void test_match(void) {
    const char *g1 = "root ::= \"ab\" [c-e]+ \"!\"?";
    ACCEPTS(g1, "abc");
    ACCEPTS(g1, "abcde!");
    REJECTS(g1, "ab");
    REJECTS(g1, "abf");
    REJECTS(g1, "abc!!");
    const char *g2 = "root ::= x{2,3}\nx ::= \"a\" | \"bc\"";
    ACCEPTS(g2, "aa");
    ACCEPTS(g2, "abca");
    ACCEPTS(g2, "bcbcbc");
    REJECTS(g2, "a");
    REJECTS(g2, "aaaa");
    const char *g3 = "root ::= [^\"\\\\]* \"\\\"\"";
    ACCEPTS(g3, "\"");
    ACCEPTS(g3, "h\xC3\xA9llo \xE4\xBD\xA0\xF0\x9F\x98\x80\"");
    REJECTS(g3, "a\\\"");
    REJECTS(g3, "\xC3\"");         /* truncated UTF-8 */
    REJECTS(g3, "\xED\xA0\x80\""); /* surrogate */
    REJECTS(g3, "\xC0\x80\"");     /* overlong */
    const char *g4 = "root ::= [\\u00e0-\\u00ff] \".\" | . \"x\"";
    ACCEPTS(g4, "\xC3\xA9.");
    ACCEPTS(g4, "\xF0\x9F\x98\x80x");
    REJECTS(g4, "e.");
    /* comments, multi-line rules, empty alternatives */
    const char *g5 = "# c\nroot ::= a\n  | \"b\" # tail\na ::= \"a\" ( \"c\"\n | ) \n";
    ACCEPTS(g5, "a");
    ACCEPTS(g5, "ac");
    ACCEPTS(g5, "b");
    REJECTS(g5, "bc");
    const char *g6 = "root ::= \"\\x41\\u00e9\\n\"";
    ACCEPTS(g6, "A\xC3\xA9\n");
}

/* --- masks on the Qwen3 vocabulary --- */

static ky_model *qwen(void) {
    static ky_model *m;
    if (!m) {
        ky_model_params p = ky_model_default_params();
        p.vocab_only = true;
        ky_error err;
        if (ky_model_load(ky_test_shared("tokenizer/qwen3/qwen3-vocab-only.gguf"), &p, &m, &err) !=
            KY_OK)
            fprintf(stderr, "load: %s\n", err.message);
    }
    return m;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Compares the mask with brute force at states along random walks. */
static void brute_force(ky_grammar *g, ky_grammar_vocab *v, int walks, int steps) {
    ky_model *m = qwen();
    int32_t nv = ky_vocab_n_tokens(m);
    ky_grammar_matcher *mt = NULL, *probe = NULL;
    ky_error err;
    REQUIRE(ky_grammar_matcher_create(g, v, NULL, &mt, &err) == KY_OK);
    REQUIRE(ky_grammar_matcher_create(g, v, NULL, &probe, &err) == KY_OK);
    size_t nw = ky_grammar_mask_words(mt);
    uint32_t *mask = malloc(nw * 4);
    int32_t *allowed = malloc((size_t)nv * sizeof *allowed);
    char(*hist)[64] = NULL;
    ky_token *path = malloc((size_t)steps * sizeof *path);
    for (int w = 0; w < walks; w++) {
        ky_grammar_matcher_reset(mt);
        int n_path = 0;
        (void)hist;
        for (int s = 0; s < steps; s++) {
            REQUIRE(ky_grammar_matcher_fill_mask(mt, mask, nw) == KY_OK);
            int n_allowed = 0, bad = 0;
            for (int32_t t = 0; t < nv; t++) {
                ky_grammar_matcher_reset(probe);
                bool ok = true;
                for (int k = 0; k < n_path && ok; k++)
                    ok = ky_grammar_matcher_accept_token(probe, path[k]) == KY_OK;
                if (!ok) break;
                bool acc = ky_grammar_matcher_accept_token(probe, t) == KY_OK;
                bool bit = (mask[t >> 5] >> (t & 31)) & 1u;
                if (acc != bit && bad++ < 5) {
                    char piece[256];
                    size_t pl = 0;
                    ky_token_to_piece(m, t, 0, piece, sizeof piece - 1, &pl);
                    piece[pl < 255 ? pl : 255] = 0;
                    CHECKF(acc == bit, "walk %d step %d token %d '%s': accepted %d mask %d", w, s,
                           t, piece, acc, bit);
                }
                if (acc) allowed[n_allowed++] = t;
            }
            CHECK(bad == 0);
            if (n_allowed == 0) break;
            ky_token t = allowed[next_rand() % (uint64_t)n_allowed];
            if (ky_vocab_is_eog(m, t) && n_allowed > 1)
                t = allowed[(next_rand() % (uint64_t)n_allowed)];
            if (ky_grammar_matcher_accept_token(mt, t) != KY_OK) break;
            path[n_path++] = t;
            if (ky_grammar_matcher_is_finished(mt)) break;
        }
    }
    free(path);
    free(mask);
    free(allowed);
    ky_grammar_matcher_free(mt);
    ky_grammar_matcher_free(probe);
}

static void test_mask_brute_force(void) {
    ky_model *m = qwen();
    REQUIRE(m);
    ky_grammar_vocab *v = NULL;
    ky_error err;
    REQUIRE(ky_grammar_vocab_create(m, &v, &err) == KY_OK);
    const char *gb = "root ::= \"{\" ws \"\\\"a\\\"\" ws \":\" ws str ws (\",\" ws num)? ws \"}\"\n"
                     "str ::= \"\\\"\" [^\"\\\\]{0,12} \"\\\"\"\nnum ::= \"-\"? [0-9]{1,4}\n"
                     "ws ::= [ \\n]{0,3}\n";
    ky_grammar *g = NULL;
    REQUIRE(ky_grammar_from_gbnf(gb, strlen(gb), &g, &err) == KY_OK);
    int walks = ky_test_sanitized() ? 1 : 3;
    brute_force(g, v, walks, ky_test_sanitized() ? 3 : 8);
    ky_grammar_free(g);
    ky_grammar *j = NULL;
    REQUIRE(ky_grammar_json(&j, &err) == KY_OK);
    brute_force(j, v, walks, ky_test_sanitized() ? 3 : 8);
    ky_grammar_free(j);
    ky_grammar_vocab_free(v);
}

static void test_eog_and_apply(void) {
    ky_model *m = qwen();
    REQUIRE(m);
    ky_grammar_vocab *v = NULL;
    ky_error err;
    REQUIRE(ky_grammar_vocab_create(m, &v, &err) == KY_OK);
    const char *gb = "root ::= \"yes\" | \"no\"";
    ky_grammar *g = NULL;
    REQUIRE(ky_grammar_from_gbnf(gb, strlen(gb), &g, &err) == KY_OK);
    ky_grammar_matcher *mt = NULL;
    REQUIRE(ky_grammar_matcher_create(g, v, NULL, &mt, &err) == KY_OK);
    int32_t nv = ky_vocab_n_tokens(m);
    float *logits = malloc((size_t)nv * sizeof *logits);
    for (int32_t t = 0; t < nv; t++) logits[t] = 0;
    ky_token eos = 151645; /* <|im_end|> */
    CHECK(ky_grammar_matcher_apply(mt, logits, nv) == KY_OK);
    CHECK(logits[eos] == -INFINITY);
    int n_ok = 0;
    for (int32_t t = 0; t < nv; t++) n_ok += logits[t] == 0;
    CHECKF(n_ok >= 3 && n_ok < 20, "%d tokens allowed at the start", n_ok);
    CHECK(ky_grammar_matcher_accept_token(mt, eos) == KY_ERR_INVALID_ARG);
    CHECK(ky_grammar_matcher_accept_bytes(mt, "ye", 2) == KY_OK);
    CHECK(ky_grammar_matcher_accept_bytes(mt, "x", 1) == KY_ERR_INVALID_ARG);
    CHECK(!ky_grammar_matcher_can_end(mt));
    CHECK(ky_grammar_matcher_accept_bytes(mt, "s", 1) == KY_OK);
    CHECK(ky_grammar_matcher_can_end(mt));
    for (int32_t t = 0; t < nv; t++) logits[t] = 0;
    CHECK(ky_grammar_matcher_apply(mt, logits, nv) == KY_OK);
    CHECK(logits[eos] == 0);
    CHECK(ky_grammar_matcher_accept_token(mt, eos) == KY_OK);
    CHECK(ky_grammar_matcher_is_finished(mt));
    /* masked sampling picks only allowed tokens */
    ky_grammar_matcher_reset(mt);
    ky_sampler *s = NULL;
    ky_sampler_params sp = ky_sampler_default_params();
    sp.seed = 7;
    REQUIRE(ky_sampler_create(&sp, nv, &s, &err) == KY_OK);
    uint32_t *mask = malloc(ky_grammar_mask_words(mt) * 4);
    for (int i = 0; i < 20; i++) {
        for (int32_t t = 0; t < nv; t++) logits[t] = (float)((next_rand() % 1000) / 100.0);
        CHECK(ky_grammar_matcher_fill_mask(mt, mask, ky_grammar_mask_words(mt)) == KY_OK);
        ky_token t = ky_sampler_sample_masked(s, logits, mask);
        CHECK(t >= 0 && ((mask[t >> 5] >> (t & 31)) & 1u));
    }
    free(mask);
    ky_sampler_free(s);
    free(logits);
    ky_grammar_matcher_free(mt);
    ky_grammar_free(g);
    ky_grammar_vocab_free(v);
}

static void test_lazy(void) {
    ky_model *m = qwen();
    REQUIRE(m);
    ky_grammar_vocab *v = NULL;
    ky_error err;
    REQUIRE(ky_grammar_vocab_create(m, &v, &err) == KY_OK);
    const char *gb = "root ::= \"<tool_call>\" [a-z]{1,4} \"</tool_call>\"";
    ky_grammar *g = NULL;
    REQUIRE(ky_grammar_from_gbnf(gb, strlen(gb), &g, &err) == KY_OK);
    const char *trig[] = {"<tool_call>"};
    ky_grammar_matcher_params p = {trig, 1};
    ky_grammar_matcher *mt = NULL;
    REQUIRE(ky_grammar_matcher_create(g, v, &p, &mt, &err) == KY_OK);
    CHECK(!ky_grammar_matcher_is_active(mt));
    CHECK(ky_grammar_matcher_accept_bytes(mt, "hello <tool", 11) == KY_OK);
    CHECK(!ky_grammar_matcher_is_active(mt));
    CHECK(ky_grammar_matcher_accept_bytes(mt, "_call>ab", 8) == KY_OK);
    CHECK(ky_grammar_matcher_is_active(mt));
    CHECK(ky_grammar_matcher_accept_bytes(mt, "1", 1) == KY_ERR_INVALID_ARG);
    CHECK(ky_grammar_matcher_accept_bytes(mt, "c</tool_call>", 13) == KY_OK);
    CHECK(!ky_grammar_matcher_is_active(mt)); /* finished: free text again */
    CHECK(ky_grammar_matcher_accept_bytes(mt, "1", 1) == KY_OK);
    ky_grammar_matcher_free(mt);
    ky_grammar_free(g);
    ky_grammar_vocab_free(v);
}

int main(void) {
    RUN(test_parse_errors);
    RUN(test_nesting_limit);
    RUN(test_match);
    RUN(test_eog_and_apply);
    RUN(test_lazy);
    RUN(test_mask_brute_force);
    TEST_EXIT();
}
