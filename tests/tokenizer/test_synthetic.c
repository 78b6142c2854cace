/* test_synthetic.c — tokenizer rules on small hand-made vocabularies written with the GGUF
 * writer (tests of the tokenizer layer): SentencePiece unused-piece resegmentation, byte
 * fallback and unknown token, byte-level BPE merge order, ignored malformed merges, and load
 * errors (unsupported pre-tokenizer, missing merges) that name the key.
 */
#include "gguf/gguf_write.h"
#include "tok_util.h"

typedef struct tok_def {
    const char *text;
    float score;
    int32_t type;
} tok_def;

/* Builds a vocab-only GGUF in memory and loads it. Returns the load status. */
static ky_status build(const char *model, const char *pre, const tok_def *toks, size_t n,
                       const char *const *merges, size_t n_merges, tu_vocab *out, ky_error *err,
                       uint8_t **image) {
    gguf_writer *w;
    if (gguf_writer_create(3, 32, &w, err) != KY_OK) return KY_ERR_INTERNAL;
    const char *texts[64];
    float scores[64];
    int32_t types[64];
    for (size_t i = 0; i < n; i++) {
        texts[i] = toks[i].text;
        scores[i] = toks[i].score;
        types[i] = toks[i].type;
    }
    gguf_writer_set_str(w, "general.architecture", "llama", 5);
    gguf_writer_set_str(w, "tokenizer.ggml.model", model, strlen(model));
    if (pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, strlen(pre));
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", texts, NULL, n);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", KY_GGUF_F32, scores, n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", KY_GGUF_I32, types, n);
    if (merges) gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, n_merges);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    size_t size;
    ky_status st = gguf_writer_write_memory(w, image, &size);
    gguf_writer_free(w);
    if (st) return st;
    out->v = NULL;
    if ((st = gguf_open_memory(*image, size, "synthetic.gguf", &out->g, err))) return st;
    st = ky_vocab_load(out->g, &out->v, err);
    if (st) {
        ky_gguf_close(out->g);
        out->g = NULL;
    }
    return st;
}

static void expect(const ky_vocab *v, const char *text, unsigned flags, const ky_token *want,
                   size_t n_want) {
    size_t n;
    ky_token *ids = tu_tokenize(v, text, strlen(text), flags, &n, NULL);
    CHECKF(ids && tu_same(ids, n, want, n_want), "tokenize \"%s\"", text);
    if (ids && !tu_same(ids, n, want, n_want)) {
        tu_print_ids(stderr, "got     ", ids, n);
        tu_print_ids(stderr, "expected", want, n_want);
    }
    free(ids);
}

#define U "\xE2\x96\x81" /* ▁ */

static void spm_unused_and_fallback(void) {
    /* 0 <unk>, 1 <s>, 2 </s>, 3 ▁, 4 a, 5 b, 6 c, 7 ab (unused), 8 abc, 9 <0x7A> ('z'),
     * 10 <0x41> text as a normal piece would never be merged to: byte pieces are not pieces. */
    static const tok_def toks[] = {
        {"<unk>", 0, KY_TOKEN_UNKNOWN},  {"<s>", 0, KY_TOKEN_CONTROL},
        {"</s>", 0, KY_TOKEN_CONTROL},   {U, -1, KY_TOKEN_NORMAL},
        {"a", -2, KY_TOKEN_NORMAL},      {"b", -3, KY_TOKEN_NORMAL},
        {"c", -4, KY_TOKEN_NORMAL},      {"ab", -0.1f, KY_TOKEN_UNUSED},
        {"abc", -0.2f, KY_TOKEN_NORMAL}, {"<0x7A>", 0, KY_TOKEN_BYTE},
        {"<", -5, KY_TOKEN_NORMAL},      {">", -5, KY_TOKEN_NORMAL},
        {"s", -5, KY_TOKEN_NORMAL},
    };
    tu_vocab tv;
    ky_error err;
    uint8_t *img = NULL;
    REQUIRE(build("llama", NULL, toks, sizeof toks / sizeof toks[0], NULL, 0, &tv, &err, &img) ==
            KY_OK);
    /* "ab" is unused: merged, then split back into a, b */
    expect(tv.v, "ab", 0, (const ky_token[]){3, 4, 5}, 3);
    /* ... but still leads on to "abc" */
    expect(tv.v, "abc", 0, (const ky_token[]){3, 8}, 2);
    /* 'z' has a byte piece; 'y' has none and the vocabulary no other bytes: unknown */
    expect(tv.v, "z", 0, (const ky_token[]){3, 9}, 2);
    expect(tv.v, "y", 0, (const ky_token[]){3, 0}, 2);
    /* control pieces are never merge results; parse-special matches them */
    expect(tv.v, "<s>", 0, (const ky_token[]){3, 10, 12, 11}, 4);
    expect(tv.v, "<s>a", KY_TOKENIZE_PARSE_SPECIAL, (const ky_token[]){1, 3, 4}, 3);
    tu_free(&tv);
    free(img);
}

static void bpe_merges(void) {
    /* byte-level tokens for a, b, c only; Ġ is ' ' */
    static const tok_def toks[] = {
        {"<unk>", 0, KY_TOKEN_UNKNOWN},
        {"<s>", 0, KY_TOKEN_CONTROL},
        {"</s>", 0, KY_TOKEN_CONTROL},
        {"a", 0, KY_TOKEN_NORMAL},
        {"b", 0, KY_TOKEN_NORMAL},
        {"c", 0, KY_TOKEN_NORMAL},
        {"ab", 0, KY_TOKEN_NORMAL},
        {"bc", 0, KY_TOKEN_NORMAL},
        {"abc", 0, KY_TOKEN_NORMAL},
        {"\xC4\xA0", 0, KY_TOKEN_NORMAL},
        {"\xC4\xA0"
         "a",
         0, KY_TOKEN_NORMAL},
    };
    /* ranks: "b c" before "a b"; malformed and unknown-token merges are skipped */
    static const char *const merges[] = {"nospace", "x y",  "b c",       "a b",
                                         "ab c",    "a bc", "\xC4\xA0 a"};
    tu_vocab tv;
    ky_error err;
    uint8_t *img = NULL;
    REQUIRE(build("gpt2", "gpt-2", toks, sizeof toks / sizeof toks[0], merges,
                  sizeof merges / sizeof merges[0], &tv, &err, &img) == KY_OK);
    expect(tv.v, "abc", 0, (const ky_token[]){8}, 1); /* a (bc) → abc via "a bc" */
    expect(tv.v, "ab", 0, (const ky_token[]){6}, 1);
    expect(tv.v, "abab", 0, (const ky_token[]){6, 6}, 2);      /* leftmost first */
    expect(tv.v, "cab a", 0, (const ky_token[]){5, 6, 10}, 3); /* " a" is one word */
    expect(tv.v, "aqa", 0, (const ky_token[]){3, 0, 3}, 3);    /* 'q' has no byte token: unk */
    tu_free(&tv);
    free(img);
}

static void load_errors(void) {
    static const tok_def toks[] = {
        {"a", 0, KY_TOKEN_NORMAL}, {"b", 0, KY_TOKEN_NORMAL}, {"c", 0, KY_TOKEN_NORMAL}};
    static const char *const merges[] = {"a b"};
    tu_vocab tv;
    ky_error err;
    uint8_t *img = NULL;
    CHECK(build("gpt2", "no-such-pre", toks, 3, merges, 1, &tv, &err, &img) == KY_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "tokenizer.ggml.pre") && strstr(err.message, "no-such-pre"));
    free(img);
    img = NULL;
    CHECK(build("gpt2", "qwen2", toks, 3, NULL, 0, &tv, &err, &img) == KY_ERR_FORMAT);
    CHECK(strstr(err.message, "tokenizer.ggml.merges") != NULL);
    free(img);
    img = NULL;
    CHECK(build("t5", NULL, toks, 3, NULL, 0, &tv, &err, &img) == KY_ERR_UNSUPPORTED);
    free(img);
}

int main(void) {
    RUN(spm_unused_and_fallback);
    RUN(bpe_merges);
    RUN(load_errors);
    TEST_EXIT();
}
