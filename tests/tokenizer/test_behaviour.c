/* test_behaviour.c — tokenizer behaviour beyond the reference vectors (tests of the tokenizer
 * layer): special-token injection on/off, BOS, buffer contract, pieces and leading-space rule,
 * the streaming decoder never splitting a UTF-8 character, invalid UTF-8 and NUL bytes, 1 MB
 * runs of one character and 400 KB of combining marks in every vocabulary (a generous stall
 * guard, not a performance assertion), concurrent use of one vocabulary.
 */
#include <pthread.h>
#include <time.h>

#include "base/limits.h"
#include "tok_util.h"
#include "tokenizer/tok_impl.h"

#define QWEN "tokenizer/qwen3/qwen3-vocab-only.gguf"
#define SPM  "models/stories260K.gguf"
#define GPT2 "tokenizer/llamacpp/ggml-vocab-gpt-2.gguf"
#define DSC  "tokenizer/llamacpp/ggml-vocab-deepseek-coder.gguf"
#define DSL  "tokenizer/llamacpp/ggml-vocab-deepseek-llm.gguf"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool contains(const ky_token *ids, size_t n, ky_token t) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == t) return true;
    return false;
}

/* true when s[0, n) is valid UTF-8 made of complete characters. */
static bool utf8_complete(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t l = tok_utf8_len((const uint8_t *)s + i, n - i);
        if (l == 1 && (unsigned char)s[i] >= 0x80) return false;
        i += l;
    }
    return true;
}

static void special_injection(void) {
    tu_vocab q;
    REQUIRE(tu_load(&q, QWEN));
    const char *s = "<|im_start|>user\nHi<think>x</think><|im_end|>";
    size_t n;
    ky_token *off = tu_tokenize(q.v, s, strlen(s), 0, &n, NULL);
    REQUIRE(off);
    CHECK(!contains(off, n, 151644) && !contains(off, n, 151645) && !contains(off, n, 151667) &&
          !contains(off, n, 151668));
    free(off);
    ky_token *on = tu_tokenize(q.v, s, strlen(s), KY_TOKENIZE_PARSE_SPECIAL, &n, NULL);
    REQUIRE(on);
    static const ky_token want[] = {151644, 872, 198, 13048, 151667, 87, 151668, 151645};
    CHECK(tu_same(on, n, want, sizeof want / sizeof want[0]));
    /* Unused [PAD] tokens are never matched, even with special parsing. */
    size_t m;
    ky_token *pad = tu_tokenize(q.v, "[PAD151669]", 11, KY_TOKENIZE_PARSE_SPECIAL, &m, NULL);
    REQUIRE(pad);
    CHECK(!contains(pad, m, 151669));
    free(pad);
    free(on);
    tu_free(&q);

    tu_vocab sp;
    REQUIRE(tu_load(&sp, SPM));
    ky_token *a = tu_tokenize(sp.v, "<s>hi</s>", 9, KY_TOKENIZE_PARSE_SPECIAL, &n, NULL);
    REQUIRE(a);
    CHECK(n >= 3 && a[0] == 1 && a[n - 1] == 2);
    free(a);
    a = tu_tokenize(sp.v, "<s>hi</s>", 9, 0, &n, NULL);
    REQUIRE(a);
    CHECK(!contains(a, n, 1) && !contains(a, n, 2));
    free(a);
    tu_free(&sp);
}

static void bos_and_buffer_contract(void) {
    tu_vocab sp, q;
    REQUIRE(tu_load(&sp, SPM));
    REQUIRE(tu_load(&q, QWEN));
    size_t n;
    ky_token ids[8];
    CHECK(ky_vocab_tokenize(sp.v, "Hello", 5, KY_TOKENIZE_ADD_BOS, ids, 8, &n) == KY_OK);
    CHECK(n == 4 && ids[0] == 1 && ids[1] == 346);
    CHECK(ky_vocab_tokenize(sp.v, "", 0, KY_TOKENIZE_ADD_BOS, ids, 8, &n) == KY_OK && n == 1);
    CHECK(ky_vocab_tokenize(sp.v, "", 0, 0, ids, 8, &n) == KY_OK && n == 0);
    CHECK(ky_vocab_tokenize(sp.v, NULL, 0, 0, NULL, 0, &n) == KY_OK && n == 0);
    CHECK(ky_vocab_tokenize(sp.v, NULL, 3, 0, ids, 8, &n) == KY_ERR_INVALID_ARG);
    CHECK(ky_vocab_tokenize(sp.v, "x", (size_t)KY_MAX_TOKENIZE_BYTES + 1, 0, ids, 8, &n) ==
          KY_ERR_INVALID_ARG);
    /* cap too small: INVALID_ARG, the full count, and the first cap ids written */
    ids[1] = -7;
    CHECK(ky_vocab_tokenize(q.v, "Hello world", 11, 0, ids, 1, &n) == KY_ERR_INVALID_ARG);
    CHECK(n == 2 && ids[0] == 9707 && ids[1] == -7);
    CHECK(ky_vocab_tokenize(q.v, "Hello world", 11, 0, NULL, 0, &n) == KY_ERR_INVALID_ARG &&
          n == 2);
    /* Qwen has a BOS id in its metadata (add_bos false): the flag still prepends it. */
    CHECK(ky_vocab_tokenize(q.v, "Hi", 2, KY_TOKENIZE_ADD_BOS, ids, 8, &n) == KY_OK);
    CHECK(n == 2 && ids[0] == 151643);
    CHECK(!q.v->add_bos && sp.v->add_bos);
    tu_free(&sp);
    tu_free(&q);
}

static void pieces_and_leading_space(void) {
    tu_vocab sp, q;
    REQUIRE(tu_load(&sp, SPM));
    REQUIRE(tu_load(&q, QWEN));
    size_t len;
    const char *p = ky_vocab_piece(sp.v, 346, 0, &len); /* "▁He" */
    CHECK(p && len == 3 && !memcmp(p, " He", 3));
    p = ky_vocab_piece(sp.v, 1, 0, &len);
    CHECK(p && len == 0);
    p = ky_vocab_piece(sp.v, 1, KY_DETOK_SPECIAL, &len);
    CHECK(p && len == 3 && !memcmp(p, "<s>", 3));
    p = ky_vocab_piece(sp.v, 13, 0, &len); /* <0x0A> */
    CHECK(p && len == 1 && p[0] == '\n');
    CHECK(ky_vocab_piece(sp.v, 512, 0, &len) == NULL && ky_vocab_piece(sp.v, -1, 0, &len) == NULL);
    p = ky_vocab_piece(q.v, 151644, 0, &len);
    CHECK(p && len == 0);
    p = ky_vocab_piece(q.v, 151667, 0, &len); /* <think>: user-defined, always printed */
    CHECK(p && len == 7 && !memcmp(p, "<think>", 7));
    p = ky_vocab_piece(q.v, 151669, KY_DETOK_SPECIAL, &len); /* unused [PAD] */
    CHECK(p && len == 0);
    p = ky_vocab_piece(q.v, 21927, 0, &len); /* "ĠHello" */
    CHECK(p && len == 6 && !memcmp(p, " Hello", 6));

    ky_token ids[] = {1, 346, 306, 414};
    char buf[32];
    size_t n;
    CHECK(ky_vocab_detokenize(sp.v, ids, 4, 0, buf, sizeof buf, &n) == KY_OK);
    CHECK(n == 5 && !memcmp(buf, "Hello", 5));
    CHECK(ky_vocab_detokenize(sp.v, ids, 4, KY_DETOK_KEEP_LEADING, buf, sizeof buf, &n) == KY_OK);
    CHECK(n == 6 && !memcmp(buf, " Hello", 6));
    CHECK(ky_vocab_detokenize(sp.v, ids, 4, KY_DETOK_SPECIAL, buf, sizeof buf, &n) == KY_OK);
    CHECK(n == 9 && !memcmp(buf, "<s> Hello", 9));
    CHECK(ky_vocab_detokenize(sp.v, ids, 4, 0, buf, 2, &n) == KY_ERR_INVALID_ARG && n == 5);
    ky_token bad[] = {346, 99999};
    CHECK(ky_vocab_detokenize(sp.v, bad, 2, 0, buf, sizeof buf, &n) == KY_ERR_INVALID_ARG);
    /* BPE keeps leading spaces */
    ky_token hi[] = {21927};
    CHECK(ky_vocab_detokenize(q.v, hi, 1, 0, buf, sizeof buf, &n) == KY_OK && n == 6);
    tu_free(&sp);
    tu_free(&q);
}

/* Feeds ids one at a time; every chunk must be complete UTF-8 and the chunks must add up to
 * want. */
static void stream_check(const ky_vocab *v, const char *text, unsigned tflags, unsigned dflags,
                         const char *want) {
    size_t n;
    ky_token *ids = tu_tokenize(v, text, strlen(text), tflags, &n, NULL);
    REQUIRE(ids);
    ky_vocab_stream st;
    ky_vocab_stream_init(&st, v, dflags);
    char out[1024];
    size_t total = 0;
    int split_chars = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t;
        size_t len;
        CHECK(ky_vocab_stream_push(&st, ids[i], &t, &len) == KY_OK);
        CHECKF(utf8_complete(t, len), "token %zu emitted a partial character", i);
        if (st.n_hold) split_chars++;
        if (total + len <= sizeof out) memcpy(out + total, t, len);
        total += len;
    }
    const char *t;
    size_t len;
    CHECK(ky_vocab_stream_flush(&st, &t, &len) == KY_OK && len == 0);
    CHECKF(total == strlen(want) && !memcmp(out, want, total), "stream output differs for %s",
           text);
    CHECKF(split_chars > 0, "no token split a character in '%s' (test is not testing)", text);
    ky_vocab_stream_free(&st);
    free(ids);
}

static void streaming_decoder(void) {
    tu_vocab q, sp;
    REQUIRE(tu_load(&q, QWEN));
    REQUIRE(tu_load(&sp, SPM));
    const char *text = "Hi 🦙 and 😶‍🌫️, 我想在apple工作 — ½ 𝔘𝔫𝔦";
    stream_check(q.v, text, 0, 0, text);
    stream_check(sp.v, text, 0, 0, text); /* byte fallback: <0xF0> <0x9F> ... */
    stream_check(sp.v, text, KY_TOKENIZE_ADD_BOS, 0, text);

    /* Invalid bytes pass through; an incomplete tail is held until flush. */
    ky_vocab_stream st;
    ky_vocab_stream_init(&st, q.v, 0);
    const char *t;
    size_t len;
    CHECK(ky_vocab_stream_push(&st, q.v->impl->byte_token[0xFF], &t, &len) == KY_OK);
    CHECK(len == 1 && (unsigned char)t[0] == 0xFF);
    CHECK(ky_vocab_stream_push(&st, q.v->impl->byte_token[0xE4], &t, &len) == KY_OK && len == 0);
    CHECK(ky_vocab_stream_push(&st, q.v->impl->byte_token[0xB8], &t, &len) == KY_OK && len == 0);
    CHECK(ky_vocab_stream_push(&st, q.v->impl->byte_token['a'], &t, &len) == KY_OK);
    CHECK(len == 3 && !memcmp(t,
                              "\xE4\xB8"
                              "a",
                              3)); /* 'a' cannot continue the character: flushed as is */
    CHECK(ky_vocab_stream_push(&st, q.v->impl->byte_token[0xF0], &t, &len) == KY_OK && len == 0);
    CHECK(ky_vocab_stream_flush(&st, &t, &len) == KY_OK && len == 1 && (unsigned char)t[0] == 0xF0);
    CHECK(ky_vocab_stream_push(&st, 999999, &t, &len) == KY_ERR_INVALID_ARG);
    ky_vocab_stream_free(&st);
    tu_free(&q);
    tu_free(&sp);
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random byte strings (invalid UTF-8, NUL, fragments of specials): tokenization succeeds and
 * the bytes come back exactly (Qwen: tokenization is idempotent through its NFC). Special
 * parsing is exercised on GPT-2 and Qwen only: with it, DeepSeek's added byte-character tokens
 * ("À" decodes to byte 0xC0, as in Hugging Face) and SPM's ▁ prefix after a special token do not
 * round-trip by design. */
static void invalid_utf8_and_nul(void) {
    static const char *files[] = {GPT2, DSC, DSL, SPM, QWEN};
    static const char alphabet[] = "a <|>\n\xff\xc3\xa9\xe4\xb8\x80\xf0\x9f\x98\x80\x00'sé\xcc\x81";
    int n_strings = ky_test_sanitized() ? 200 : 1500;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        tu_vocab tv;
        REQUIRE(tu_load(&tv, files[f]));
        bool nfc = f == 4;
        uint64_t seed = 0x9E3779B97F4A7C15ull + f;
        int bad = 0;
        for (int i = 0; i < n_strings && bad < 3; i++) {
            char s[96];
            size_t len = rng_next(&seed) % sizeof s;
            for (size_t k = 0; k < len; k++) {
                uint64_t r = rng_next(&seed);
                s[k] = (r & 1) ? (char)(r >> 8) : alphabet[(r >> 8) % (sizeof alphabet - 1)];
            }
            bool special_ok = f == 0 || f == 4;
            unsigned flags = (i & 1) && special_ok ? KY_TOKENIZE_PARSE_SPECIAL : 0;
            size_t n, dl;
            ky_token *ids = tu_tokenize(tv.v, s, len, flags, &n, NULL);
            CHECK(ids != NULL);
            if (!ids) {
                bad++;
                continue;
            }
            char *d = tu_detokenize(tv.v, ids, n, KY_DETOK_SPECIAL, &dl);
            CHECK(d != NULL);
            bool ok;
            if (!nfc) {
                ok = d && dl == len && !memcmp(d, s, len);
            } else {
                size_t n2;
                ky_token *ids2 = d ? tu_tokenize(tv.v, d, dl, flags, &n2, NULL) : NULL;
                ok = ids2 && tu_same(ids, n, ids2, n2);
                free(ids2);
            }
            if (!ok) {
                bad++;
                fprintf(stderr, "  %s: round trip failed\n", files[f]);
                tu_print_str(stderr, "input", s, len);
                if (d) tu_print_str(stderr, "got  ", d, dl);
            }
            CHECK(ok);
            free(d);
            free(ids);
        }
        /* embedded NUL: one token of its own between the letters */
        size_t n;
        ky_token *ids = tu_tokenize(tv.v, "a\0b", 3, 0, &n, NULL);
        CHECK(ids && n == 3 && contains(ids, n, tv.v->impl->byte_token[0]));
        free(ids);
        tu_free(&tv);
    }
}

/* Stall guard, not a performance assertion: every input below takes 0.1-1.3 s today (plain
 * build; several times that under ASan), while a quadratic step in normalization, splitting or
 * merging takes minutes on it. The bound is far above any plausible slowdown on a loaded 2-core
 * machine, so the test fails only when something has gone superlinear — the harness's 900 s
 * timeout would otherwise be the only signal. Speed itself is measured in bench/. */
#define STALL_SECONDS 20.0

/* Tokenizes text[0, len) once, checks that detokenizing gives want[0, want_len) and that it
 * took less than STALL_SECONDS. */
static void timed_run(const tu_vocab *tv, const char *vocab_name, const char *what,
                      const char *text, size_t len, const char *want, size_t want_len) {
    double t0 = now();
    size_t n, dl;
    ky_token *ids = tu_tokenize(tv->v, text, len, 0, &n, NULL);
    double dt = now() - t0;
    CHECKF(ids != NULL, "%s: %s: tokenization failed", vocab_name, what);
    char *d = ids ? tu_detokenize(tv->v, ids, n, 0, &dl) : NULL;
    CHECKF(d && dl == want_len && !memcmp(d, want, want_len), "%s: %s: round trip differs",
           vocab_name, what);
    printf("# %-14s %-24s %zu tokens in %.0f ms\n", vocab_name, what, ids ? n : 0, dt * 1e3);
    CHECKF(dt < STALL_SECONDS, "%s: %s took %.1f s (stall guard: %.0f s)", vocab_name, what, dt,
           STALL_SECONDS);
    free(d);
    free(ids);
}

/* 1 MB (128 KB under sanitizers) of one repeated character, and 1 MB (400 KB) of combining marks
 * after one letter (quadratic in utf8proc's NFC), in every vocabulary: merging is O(n log n), NFC
 * and the regex splits are linear. */
static void long_runs(void) {
    size_t size = ky_test_sanitized() ? (size_t)1 << 17 : (size_t)1 << 20;
    char *buf = malloc(size);
    REQUIRE(buf);
    static const char *units[] = {"a", " ", "\n", "1", "中", "\t"};
    static const char *files[] = {QWEN, SPM, GPT2, DSL, DSC};
    static const char *names[] = {"qwen3", "spm", "gpt-2", "deepseek-llm", "deepseek-coder"};
    /* "e" + (U+0301 U+0316) x N; its NFC is U+00E9 + U+0316 x N + U+0301 x (N - 1) (test_nfc.c
     * works it out). */
    size_t n_pairs = ky_test_sanitized() ? 100000 : 250000, adv_len = 1 + 4 * n_pairs, nfc_len = 0;
    char *adv = malloc(adv_len), *adv_nfc = malloc(adv_len);
    REQUIRE(adv && adv_nfc);
    adv[0] = 'e';
    for (size_t k = 0; k < n_pairs; k++) memcpy(adv + 1 + 4 * k, "\xCC\x81\xCC\x96", 4);
    memcpy(adv_nfc, "\xC3\xA9", 2);
    nfc_len = 2;
    for (size_t k = 0; k < n_pairs; k++, nfc_len += 2) memcpy(adv_nfc + nfc_len, "\xCC\x96", 2);
    for (size_t k = 1; k < n_pairs; k++, nfc_len += 2) memcpy(adv_nfc + nfc_len, "\xCC\x81", 2);
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        tu_vocab tv;
        REQUIRE(tu_load(&tv, files[f]));
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
            size_t ul = strlen(units[u]), len = 0;
            while (len + ul <= size) {
                memcpy(buf + len, units[u], ul);
                len += ul;
            }
            char what[64];
            snprintf(what, sizeof what, "%zu x U+%04X", len / ul,
                     (unsigned)(ul == 1 ? (unsigned char)units[u][0] : 0x4E2D));
            timed_run(&tv, names[f], what, buf, len, buf, len);
        }
        bool nfc = f == 0;
        char what[64];
        snprintf(what, sizeof what, "e + %zu x U+0301 U+0316", n_pairs);
        timed_run(&tv, names[f], what, adv, adv_len, nfc ? adv_nfc : adv, nfc ? nfc_len : adv_len);
        tu_free(&tv);
    }
    free(adv);
    free(adv_nfc);
    free(buf);
}

typedef struct worker {
    const ky_vocab *v;
    const char *text;
    size_t len;
    ky_token *ids;
    size_t n;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    for (int r = 0; r < 3; r++) {
        free(w->ids);
        w->ids = tu_tokenize(w->v, w->text, w->len, KY_TOKENIZE_PARSE_SPECIAL, &w->n, NULL);
    }
    return NULL;
}

/* One vocabulary shared by threads gives the same ids as a single thread. */
static void concurrent_use(void) {
    tu_vocab q;
    REQUIRE(tu_load(&q, QWEN));
    size_t size;
    char *text = ky_test_read_file(ky_test_shared("tokenizer/qwen3/cases.jsonl"), &size);
    REQUIRE(text);
    size_t n;
    ky_token *ref = tu_tokenize(q.v, text, size, KY_TOKENIZE_PARSE_SPECIAL, &n, NULL);
    REQUIRE(ref);
    worker w[3] = {
        {q.v, text, size, NULL, 0}, {q.v, text, size, NULL, 0}, {q.v, text, size, NULL, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++) CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].ids && tu_same(w[i].ids, w[i].n, ref, n));
        free(w[i].ids);
    }
    free(ref);
    free(text);
    tu_free(&q);
}

static void load_time(void) {
    ky_gguf *g;
    ky_error err;
    REQUIRE(ky_gguf_open(ky_test_shared(QWEN), &g, &err) == KY_OK);
    double t0 = now();
    ky_vocab *v;
    REQUIRE(ky_vocab_load(g, &v, &err) == KY_OK);
    printf("# qwen3 vocabulary (%d tokens) loaded in %.0f ms\n", v->n_tokens, (now() - t0) * 1e3);
    CHECK(v->n_tokens == 151936 && v->eos == 151645 && v->eot == 151645 && v->bos == 151643);
    CHECK(v->is_eog[151643] && v->is_eog[151645] && !v->is_eog[151644]);
    CHECK(v->attr[151667] == KY_TOKEN_USER_DEFINED && v->attr[151644] == KY_TOKEN_CONTROL);
    ky_vocab_free(v);
    ky_gguf_close(g);
}

int main(void) {
    RUN(special_injection);
    RUN(bos_and_buffer_contract);
    RUN(pieces_and_leading_space);
    RUN(streaming_decoder);
    RUN(invalid_utf8_and_nul);
    RUN(long_runs);
    RUN(concurrent_use);
    RUN(load_time);
    TEST_EXIT();
}
