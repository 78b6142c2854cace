/* test_api.c — the public vocabulary / tokenization functions of kaiyuan.h (tests of the engine's
 * vocab_api.c). The ky_model is assembled from a GGUF and its vocabulary directly, so these tests
 * do not depend on the weight loader; the CLI test covers ky_model_load(vocab_only).
 */
#include "engine/engine.h"
#include "tok_util.h"

static bool make_model(struct ky_model *m, tu_vocab *tv, const char *rel) {
    memset(m, 0, sizeof *m);
    if (!tu_load(tv, rel)) return false;
    m->gguf = tv->g;
    m->vocab = tv->v;
    return true;
}

static void qwen_vocab_queries(void) {
    struct ky_model m;
    tu_vocab tv;
    REQUIRE(make_model(&m, &tv, "tokenizer/qwen3/qwen3-vocab-only.gguf"));
    CHECK(!strcmp(ky_vocab_kind(&m), "gpt2"));
    CHECK(ky_vocab_n_tokens(&m) == 151936);
    CHECK(ky_vocab_bos(&m) == 151643 && ky_vocab_eos(&m) == 151645 && ky_vocab_eot(&m) == 151645);
    CHECK(!ky_vocab_add_bos(&m));
    CHECK(ky_vocab_is_eog(&m, 151645) && ky_vocab_is_eog(&m, 151643));
    CHECK(!ky_vocab_is_eog(&m, 151644) && !ky_vocab_is_eog(&m, -1) && !ky_vocab_is_eog(&m, 151936));
    CHECK(ky_vocab_token_attr(&m, 151644) == KY_TOKEN_CONTROL);
    CHECK(ky_vocab_token_attr(&m, 151667) == KY_TOKEN_USER_DEFINED);
    CHECK(ky_vocab_token_attr(&m, 9707) == KY_TOKEN_NORMAL);
    CHECK(ky_vocab_token_attr(&m, 151936) == 0 && ky_vocab_token_attr(&m, -5) == 0);
    tu_free(&tv);
}

static void qwen_tokenize_detokenize(void) {
    struct ky_model m;
    tu_vocab tv;
    REQUIRE(make_model(&m, &tv, "tokenizer/qwen3/qwen3-vocab-only.gguf"));
    const char *text = "<|im_start|>user\nHello!<|im_end|>";
    size_t n = 0;
    CHECK(ky_tokenize(&m, text, strlen(text), KY_TOKENIZE_PARSE_SPECIAL, NULL, 0, &n) ==
          KY_ERR_INVALID_ARG);
    CHECK(n == 6);
    ky_token ids[16];
    CHECK(ky_tokenize(&m, text, strlen(text), KY_TOKENIZE_PARSE_SPECIAL, ids, 16, &n) == KY_OK);
    static const ky_token want[] = {151644, 872, 198, 9707, 0, 151645};
    CHECK(tu_same(ids, n, want, 6));
    char buf[64];
    size_t len;
    CHECK(ky_detokenize(&m, ids, n, 0, buf, sizeof buf, &len) == KY_OK);
    CHECK(len == 11 && !memcmp(buf, "user\nHello!", 11));
    CHECK(ky_detokenize(&m, ids, n, KY_DETOK_SPECIAL, buf, sizeof buf, &len) == KY_OK);
    CHECK(len == strlen(text) && !memcmp(buf, text, len));
    CHECK(ky_token_to_piece(&m, 21927, 0, buf, sizeof buf, &len) == KY_OK);
    CHECK(len == 6 && !memcmp(buf, " Hello", 6));
    CHECK(ky_token_to_piece(&m, 21927, 0, buf, 3, &len) == KY_ERR_INVALID_ARG && len == 6);
    CHECK(ky_token_to_piece(&m, 151644, 0, buf, sizeof buf, &len) == KY_OK && len == 0);
    CHECK(ky_token_to_piece(&m, 151644, KY_DETOK_SPECIAL, buf, sizeof buf, &len) == KY_OK &&
          len == 12);
    CHECK(ky_token_to_piece(&m, 151936, 0, buf, sizeof buf, &len) == KY_ERR_INVALID_ARG);
    CHECK(ky_tokenize(&m, text, 5, 0, NULL, 0, NULL) == KY_ERR_INVALID_ARG);

    /* streaming: "🦙" is split over two byte-level tokens */
    size_t nt;
    CHECK(ky_tokenize(&m, "a🦙b", 6, 0, ids, 16, &nt) == KY_OK);
    ky_detok_stream *s;
    REQUIRE(ky_detok_stream_create(&m, 0, &s) == KY_OK);
    char out[32];
    size_t total = 0;
    for (size_t i = 0; i < nt; i++) {
        const char *t;
        size_t l;
        CHECK(ky_detok_stream_push(s, ids[i], &t, &l) == KY_OK);
        CHECK(l == 0 || l == 1 || l == 4 || l == 5); /* never a partial emoji */
        if (total + l <= sizeof out) memcpy(out + total, t, l);
        total += l;
    }
    const char *t;
    size_t l;
    CHECK(ky_detok_stream_flush(s, &t, &l) == KY_OK && l == 0);
    CHECK(total == 6 && !memcmp(out, "a🦙b", 6));
    CHECK(ky_detok_stream_push(s, -3, &t, &l) == KY_ERR_INVALID_ARG);
    CHECK(ky_detok_stream_push(NULL, 1, &t, &l) == KY_ERR_INVALID_ARG);
    ky_detok_stream_free(s);
    ky_detok_stream_free(NULL);
    tu_free(&tv);
}

static void spm_model(void) {
    struct ky_model m;
    tu_vocab tv;
    REQUIRE(make_model(&m, &tv, "models/stories260K.gguf"));
    CHECK(!strcmp(ky_vocab_kind(&m), "llama"));
    CHECK(ky_vocab_add_bos(&m) && ky_vocab_bos(&m) == 1 && ky_vocab_eos(&m) == 2);
    ky_token ids[16];
    size_t n;
    CHECK(ky_tokenize(&m, "Hello world", 11, KY_TOKENIZE_ADD_BOS, ids, 16, &n) == KY_OK);
    static const ky_token want[] = {1, 346, 306, 414, 263, 304, 341};
    CHECK(tu_same(ids, n, want, 7));
    char buf[32];
    size_t len;
    CHECK(ky_detokenize(&m, ids, n, 0, buf, sizeof buf, &len) == KY_OK);
    CHECK(len == 11 && !memcmp(buf, "Hello world", 11));
    tu_free(&tv);
}

static void no_tokenizer(void) {
    struct ky_model m;
    memset(&m, 0, sizeof m);
    ky_token ids[4];
    size_t n = 99;
    CHECK(!strcmp(ky_vocab_kind(&m), "none"));
    CHECK(ky_vocab_n_tokens(&m) == 0 && ky_vocab_bos(&m) == KY_TOKEN_NULL);
    CHECK(!ky_vocab_add_bos(&m) && !ky_vocab_is_eog(&m, 0));
    CHECK(ky_tokenize(&m, "x", 1, 0, ids, 4, &n) == KY_ERR_UNSUPPORTED && n == 0);
    char buf[8];
    CHECK(ky_detokenize(&m, ids, 0, 0, buf, 8, &n) == KY_ERR_UNSUPPORTED);
    CHECK(ky_token_to_piece(&m, 0, 0, buf, 8, &n) == KY_ERR_UNSUPPORTED);
    ky_detok_stream *s = NULL;
    CHECK(ky_detok_stream_create(&m, 0, &s) == KY_ERR_UNSUPPORTED && s == NULL);
    CHECK(ky_tokenize(NULL, "x", 1, 0, ids, 4, &n) == KY_ERR_INVALID_ARG);
    CHECK(!strcmp(ky_vocab_kind(NULL), "none"));
}

int main(void) {
    RUN(qwen_vocab_queries);
    RUN(qwen_tokenize_detokenize);
    RUN(spm_model);
    RUN(no_tokenizer);
    TEST_EXIT();
}
