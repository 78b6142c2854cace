/* test_parity.c — exact parity with the reference tokenizers, and round trips (tests of the
 * tokenizer layer).
 *
 * - llama.cpp's vectors (../shared/tokenizer/llamacpp/, .inp and .out): no BOS, no special parsing,
 *   SPM ▁ prefix; for every vocabulary whose GGUF is present, and the qwen2 vectors with the
 *   Qwen3 vocabulary.
 * - ../shared/tokenizer/qwen3/cases.jsonl: "ids" with special parsing, "ids_plain" without
 *   (Hugging Face semantics, NFC included).
 * - ../shared/tokenizer/tok512/cases.jsonl: SentencePiece on stories260K.
 * Every string must match exactly; the first mismatches are printed with both id lists. Each
 * test also checks detokenize(tokenize(s)) == detokenize(reference ids), and that this is s
 * except for exactly the listed Qwen strings, where it is utf8proc's NFC(s).
 */
#include <jansson.h>
#include <utf8proc.h>

#include "tok_util.h"

#define MAX_PRINT 5

typedef struct tally {
    int ok, total, printed;
    int rt_ok, rt_total, rt_exceptions;
} tally;

static void report(const char *name, const tally *t) {
    printf("# parity %-28s %d/%d strings, round trip %d/%d (%d NFC exceptions)\n", name, t->ok,
           t->total, t->rt_ok, t->rt_total, t->rt_exceptions);
}

/* Compares one string's ids with the expectation; prints the first mismatches. */
static void compare(tally *t, const char *what, const char *s, size_t len, const ky_token *got,
                    size_t n_got, const ky_token *exp, size_t n_exp) {
    t->total++;
    if (tu_same(got, n_got, exp, n_exp)) {
        t->ok++;
        return;
    }
    if (t->printed++ < MAX_PRINT) {
        fprintf(stderr, "  mismatch (%s):\n", what);
        tu_print_str(stderr, "text", s, len);
        tu_print_ids(stderr, "got     ", got, n_got);
        tu_print_ids(stderr, "expected", exp, n_exp);
    }
}

/* Round trip: detokenize(ids) must equal want (the input, or its NFC form). */
static void round_trip(tally *t, const ky_vocab *v, const ky_token *ids, size_t n, unsigned dflags,
                       const char *want, size_t want_len, bool exception) {
    size_t len;
    char *d = tu_detokenize(v, ids, n, dflags, &len);
    t->rt_total++;
    bool ok = d && len == want_len && !memcmp(d, want, len);
    if (ok)
        t->rt_ok++;
    else if (exception)
        t->rt_exceptions++;
    else {
        fprintf(stderr, "  round trip failed:\n");
        tu_print_str(stderr, "want", want, want_len);
        if (d) tu_print_str(stderr, "got ", d, len);
    }
    free(d);
}

/* Runs llama.cpp's .inp/.out vectors of base (relative to ../shared) against vocab rel. */
static void run_vectors(const char *name, const char *gguf_rel, const char *base_rel) {
    tu_vocab tv;
    REQUIRE(tu_load(&tv, gguf_rel));
    char path[512];
    snprintf(path, sizeof path, "%s.inp", base_rel);
    size_t n_inp, n_out;
    char *inp = ky_test_read_file(ky_test_shared(path), &n_inp);
    snprintf(path, sizeof path, "%s.out", base_rel);
    char *out = ky_test_read_file(ky_test_shared(path), &n_out);
    CHECK(inp && out);
    tally t = {0};
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *s = inp, *o = out;
    while (inp && out) {
        char *end = strstr(s, sep);
        char *eol = strchr(o, '\n');
        if (!end || !eol) break;
        *end = '\0';
        *eol = '\0';
        ky_token exp[4096];
        size_t n_exp = 0;
        for (char *q = o; *q;) {
            char *e;
            long id = strtol(q, &e, 10);
            if (e == q) break;
            if (n_exp < 4096) exp[n_exp++] = (ky_token)id;
            q = e;
        }
        size_t len = (size_t)(end - s), n;
        ky_status st = KY_OK;
        ky_token *ids = tu_tokenize(tv.v, s, len, 0, &n, &st);
        CHECKF(ids != NULL, "tokenize failed (%s)", ky_status_name(st));
        if (ids) {
            compare(&t, name, s, len, ids, n, exp, n_exp);
            round_trip(&t, tv.v, ids, n, 0, s, len, false);
        }
        free(ids);
        s = end + sizeof sep - 1;
        o = eol + 1;
    }
    report(name, &t);
    CHECKF(t.total >= 40, "%s: only %d vectors read", name, t.total);
    CHECKF(t.ok == t.total, "%s: %d/%d strings match", name, t.ok, t.total);
    CHECK(t.rt_ok == t.rt_total);
    free(inp);
    free(out);
    tu_free(&tv);
}

static void llamacpp_llama_spm(void) {
    run_vectors("llama.cpp llama-spm", "tokenizer/llamacpp/ggml-vocab-llama-spm.gguf",
                "tokenizer/llamacpp/ggml-vocab-llama-spm.gguf");
}

static void llamacpp_gpt2(void) {
    run_vectors("llama.cpp gpt-2", "tokenizer/llamacpp/ggml-vocab-gpt-2.gguf",
                "tokenizer/llamacpp/ggml-vocab-gpt-2.gguf");
}

static void llamacpp_deepseek_llm(void) {
    run_vectors("llama.cpp deepseek-llm", "tokenizer/llamacpp/ggml-vocab-deepseek-llm.gguf",
                "tokenizer/llamacpp/ggml-vocab-deepseek-llm.gguf");
}

static void llamacpp_deepseek_coder(void) {
    run_vectors("llama.cpp deepseek-coder", "tokenizer/llamacpp/ggml-vocab-deepseek-coder.gguf",
                "tokenizer/llamacpp/ggml-vocab-deepseek-coder.gguf");
}

static void llamacpp_qwen2(void) {
    run_vectors("llama.cpp qwen2 (qwen3 vocab)", "tokenizer/qwen3/qwen3-vocab-only.gguf",
                "tokenizer/llamacpp/ggml-vocab-qwen2.gguf");
}

/* Reads a JSON array of ids into exp (at most cap). */
static size_t json_ids(json_t *a, ky_token *exp, size_t cap) {
    size_t n = json_array_size(a);
    for (size_t i = 0; i < n && i < cap; i++)
        exp[i] = (ky_token)json_integer_value(json_array_get(a, i));
    return n < cap ? n : cap;
}

/* The cases.jsonl strings that NFC changes, so that detokenize(tokenize(s)) is NFC(s), not s:
 * e + U+0301, e + U+0301 U+0301, OHM SIGN, A + RING ABOVE, Hangul jamo L V T. */
static const char *const k_nfc_exceptions[] = {"cafe\xCC\x81", "e\xCC\x81\xCC\x81", "\xE2\x84\xA6",
                                               "A\xCC\x8A", "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"};
#define N_NFC_EXCEPTIONS (sizeof k_nfc_exceptions / sizeof k_nfc_exceptions[0])

/* Index of s[0, len) in k_nfc_exceptions, or -1. */
static int nfc_exception_index(const char *s, size_t len) {
    for (size_t k = 0; k < N_NFC_EXCEPTIONS; k++)
        if (strlen(k_nfc_exceptions[k]) == len && !memcmp(k_nfc_exceptions[k], s, len))
            return (int)k;
    return -1;
}

/* Runs a cases.jsonl file: key "ids" with ids_flags (and, when present, "ids_plain" without
 * special parsing). nfc: the reference normalizes, so a round trip gives NFC(s). */
static void run_cases(const char *name, const char *gguf_rel, const char *cases_rel, bool nfc,
                      unsigned ids_flags) {
    tu_vocab tv;
    REQUIRE(tu_load(&tv, gguf_rel));
    size_t size;
    char *data = ky_test_read_file(ky_test_shared(cases_rel), &size);
    REQUIRE(data);
    tally ts = {0}, tp = {0};
    int seen_exception[N_NFC_EXCEPTIONS] = {0};
    static ky_token exp[1 << 14];
    for (char *line = data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (!*line) continue;
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        CHECKF(j != NULL, "%s: bad JSON line: %s", cases_rel, je.text);
        if (!j) continue;
        json_t *jt = json_object_get(j, "text");
        const char *s = json_string_value(jt);
        size_t len = json_string_length(jt);
        size_t n;
        ky_token *ids = tu_tokenize(tv.v, s, len, ids_flags, &n, NULL);
        CHECK(ids != NULL);
        size_t n_exp = json_ids(json_object_get(j, "ids"), exp, sizeof exp / sizeof exp[0]);
        if (ids) compare(&ts, ids_flags ? "special parsing on" : "ids", s, len, ids, n, exp, n_exp);
        /* Round trip with special tokens printed: the text comes back (NFC for Qwen). */
        bool changed = false;
        if (ids) {
            if (nfc) {
                /* The reference ids decode to NFC(s): compare the two round trips. */
                size_t ln;
                char *want = tu_detokenize(tv.v, exp, n_exp, KY_DETOK_SPECIAL, &ln);
                changed = want && (ln != len || memcmp(want, s, len));
                round_trip(&ts, tv.v, ids, n, KY_DETOK_SPECIAL, want ? want : s, want ? ln : len,
                           false);
                if (changed) {
                    /* NFC must be the reason, and this one of the known cases. */
                    uint8_t *nfc_s = memchr(s, 0, len) ? NULL : utf8proc_NFC((const uint8_t *)s);
                    CHECKF(nfc_s && strlen((char *)nfc_s) == ln && !memcmp(nfc_s, want, ln),
                           "reference ids of \"%s\" decode to neither the text nor its NFC", s);
                    free(nfc_s);
                    int k = nfc_exception_index(s, len);
                    CHECKF(k >= 0, "unexpected round-trip exception: \"%s\"", s);
                    if (k >= 0) seen_exception[k]++;
                    ts.rt_exceptions++;
                    printf("#   round-trip exception (NFC changes the text): \"%s\"\n", s);
                }
                free(want);
            } else {
                round_trip(&ts, tv.v, ids, n, KY_DETOK_SPECIAL, s, len, false);
            }
        }
        free(ids);
        json_t *plain = json_object_get(j, "ids_plain");
        if (plain) {
            ids = tu_tokenize(tv.v, s, len, 0, &n, NULL);
            CHECK(ids != NULL);
            n_exp = json_ids(plain, exp, sizeof exp / sizeof exp[0]);
            if (ids) {
                compare(&tp, "special parsing off", s, len, ids, n, exp, n_exp);
                if (!changed) round_trip(&tp, tv.v, ids, n, 0, s, len, false);
            }
            free(ids);
        }
        json_decref(j);
    }
    char label[64];
    snprintf(label, sizeof label, "%s%s", name, ids_flags ? " (special)" : "");
    report(label, &ts);
    CHECKF(ts.total >= 100, "%s: only %d cases read", name, ts.total);
    CHECKF(ts.ok == ts.total, "%s: %d/%d match with special parsing", name, ts.ok, ts.total);
    CHECK(ts.rt_ok == ts.rt_total);
    for (size_t k = 0; nfc && k < N_NFC_EXCEPTIONS; k++)
        CHECKF(seen_exception[k] == 1, "NFC exception \"%s\" seen %d times (expected once)",
               k_nfc_exceptions[k], seen_exception[k]);
    if (tp.total) {
        snprintf(label, sizeof label, "%s (plain)", name);
        report(label, &tp);
        CHECKF(tp.ok == tp.total, "%s: %d/%d match without special parsing", name, tp.ok, tp.total);
        CHECKF(tp.total == ts.total, "%s: ids_plain missing in some cases", name);
        CHECK(tp.rt_ok == tp.rt_total);
    }
    free(data);
    tu_free(&tv);
}

static void qwen3_cases(void) {
    run_cases("qwen3 cases.jsonl", "tokenizer/qwen3/qwen3-vocab-only.gguf",
              "tokenizer/qwen3/cases.jsonl", true, KY_TOKENIZE_PARSE_SPECIAL);
}

static void tok512_cases(void) {
    /* SentencePiece itself: no special parsing */
    run_cases("tok512 cases.jsonl", "models/stories260K.gguf", "tokenizer/tok512/cases.jsonl",
              false, 0);
}

int main(void) {
    RUN(llamacpp_llama_spm);
    RUN(llamacpp_gpt2);
    RUN(llamacpp_deepseek_llm);
    RUN(llamacpp_deepseek_coder);
    RUN(llamacpp_qwen2);
    RUN(qwen3_cases);
    RUN(tok512_cases);
    TEST_EXIT();
}
