/* test_synthetic.c — tokenizer rules on small hand-made vocabularies written with the GGUF
 * writer (tests of the tokenizer layer): SentencePiece unused-piece resegmentation, byte
 * fallback and unknown token, byte-level BPE merge order, ignored malformed merges, the splits of
 * the llama-bpe (Llama 3, with ignore_merges), qwen2 / deepseek-r1-qwen, gpt-2 and default
 * pre-tokenizers, and load errors (unsupported pre-tokenizer, missing merges) that name the key.
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
    const char *texts[128];
    float scores[128];
    int32_t types[128];
    if (n > 128) return KY_ERR_INVALID_ARG;
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

/* ---- pre-tokenizer splits on one byte-level vocabulary ----
 *
 * Token texts use GPT-2's byte <-> character map: printable ASCII is itself, Ġ (U+0120) is the
 * byte ' ', Ċ (U+010A) '\n', "Ã©" the two bytes of "é" (C3 A9), "Ìģ" those of U+0301 (CC 81;
 * 0x81 is the 36th unprintable byte, 256 + 35 = U+0123). Every multi-character token except
 * "hello" can be built by a merge, so the ids below show the pre-tokenizer's split directly:
 * a wrong split changes which merges can apply. The expected splits are worked out by hand from
 * the regexes (llama.cpp src/llama-vocab.cpp, the models' tokenizer.json). */
#define G "\xC4\xA0" /* Ġ */
#define C "\xC4\x8A" /* Ċ */

/* clang-format off */
static const char *const k_bl_tokens[] = {
    "<unk>", "<s>", "</s>",
    "1", "2", "3", "4", "5", "6", "7", "12", "123", "34", "45", "456",
    "x", "I", "M", "R", "E", "'", "'M", "'R", "'RE", "d", "'d",
    G, "t", "h", "e", "y", G "t", "he", G "the", G "they", "w", G "w", G "we",
    "i", "(", "hi", "(hi", ".", "..", "...", C, C C, "..." C C,
    "a", "b", G G, G "b", "l", "o", "ll", "hello",
    "\xC3\x83", "\xC2\xA9", "\xC3\x83\xC2\xA9", "\xC3\x8C", "\xC4\xA3",
    "s", "it", "'s", "+", "=", ",", G "(", ")", "Mx",
};
/* clang-format on */
#define N_BL_TOKENS (sizeof k_bl_tokens / sizeof k_bl_tokens[0])

/* In rank order. "M x" and "3 4" come first: they merge across the pieces of "'M" + "x" and of
 * llama-bpe's three-digit groups when those are not split. "hello" is no merge result (only
 * "h e" and "l l" apply to it). */
/* clang-format off */
static const char *const k_bl_merges[] = {
    "M x", "3 4", "1 2", "12 3", "4 5", "45 6",
    "' M", "' R", "'R E", "' d", G " t", "h e", G "t he", G "the y", G " w", G "w e",
    "h i", "( hi", ". .", C " " C, ".. .", "... " C C, G " " G, G " b", "l l",
    "\xC3\x83 \xC2\xA9", "i t", "' s", G " (",
};
/* clang-format on */

#define P(...) ((const char *const[]){__VA_ARGS__, NULL})

enum { LLAMA3, QWEN2, GPT2, DEFAULT };

typedef struct split_case {
    const char *text;
    const char *const *want[4]; /* token texts under LLAMA3, QWEN2, GPT2, DEFAULT */
} split_case;

static const split_case k_split_cases[] = {
    /* llama-bpe \p{N}{1,3}; qwen2 \p{N}; gpt-2 one " ?\p{N}+" word (so "3 4" merges first);
     * default: a \p{N}+ run cut by [0-9]{3} from the left */
    {"1234567",
     {P("123", "456", "7"), P("1", "2", "3", "4", "5", "6", "7"), P("12", "34", "5", "6", "7"),
      P("123", "456", "7")}},
    /* the space before digits is a piece of its own except in gpt-2's " ?\p{N}+" */
    {"x 12345",
     {P("x", G, "123", "45"), P("x", G, "1", "2", "3", "4", "5"), P("x", G, "12", "34", "5"),
      P("x", G, "123", "45")}},
    /* contractions: case-insensitive in llama-bpe / qwen2 ("'M" then "x", where "M x" would be
     * the first merge of "'Mx"), lower case only in gpt-2; default isolates the apostrophe
     * (\p{P}) before anything else */
    {"I'Mx", {P("I", "'M", "x"), P("I", "'M", "x"), P("I", "'", "Mx"), P("I", "'", "Mx")}},
    {"I'M they'RE we'd",
     {P("I", "'M", G "they", "'RE", G "we", "'d"), P("I", "'M", G "they", "'RE", G "we", "'d"),
      P("I", "'", "M", G "they", "'", "R", "E", G "we", "'d"),
      P("I", "'", "M", G "they", "'", "R", "E", G "we", "'", "d")}},
    {"it's", {P("it", "'s"), P("it", "'s"), P("it", "'s"), P("it", "'", "s")}},
    /* [^\r\n\p{L}\p{N}]?\p{L}+: one non-letter joins the letters after it */
    {"x(hi", {P("x", "(hi"), P("x", "(hi"), P("x", "(", "hi"), P("x", "(", "hi")}},
    /* " ?[^\s\p{L}\p{N}]+[\r\n]*": punctuation keeps its newlines */
    {"a...\n\nb",
     {P("a", "..." C C, "b"), P("a", "..." C C, "b"), P("a", "...", C, C, "b"),
      P("a", "...", C, C, "b")}},
    /* \s+(?!\S) leaves the last space to the word */
    {"a   b", {P("a", G G, G "b"), P("a", G G, G "b"), P("a", G G, G "b"), P("a", G G, G "b")}},
    {" (x)", {P(G "(", "x", ")"), P(G "(", "x", ")"), P(G "(", "x", ")"), P(G, "(", "x", ")")}},
    {"a+b=12345,",
     {P("a", "+", "b", "=", "123", "45", ","), P("a", "+", "b", "=", "1", "2", "3", "4", "5", ","),
      P("a", "+", "b", "=", "12", "34", "5", ","), P("a", "+", "b", "=", "123", "45", ",")}},
    /* ignore_merges (llama-bpe only): a word that is a token is taken whole, even though the
     * merges would give he + ll + o; a word that is not a token is merged as usual */
    {"hello", {P("hello"), P("he", "ll", "o"), P("he", "ll", "o"), P("he", "ll", "o")}},
    {"hell", {P("he", "ll"), P("he", "ll"), P("he", "ll"), P("he", "ll")}},
    /* NFC (qwen2 only): e + U+0301 becomes é, one letter */
    {"e\xCC\x81",
     {P("e", "\xC3\x8C", "\xC4\xA3"), P("\xC3\x83\xC2\xA9"), P("e", "\xC3\x8C", "\xC4\xA3"),
      P("e", "\xC3\x8C", "\xC4\xA3")}},
};

/* Loads the vocabulary above with tokenizer.ggml.pre = pre (NULL: no such key). */
static ky_status load_bytelevel(const char *pre, tu_vocab *tv, uint8_t **img) {
    static tok_def toks[N_BL_TOKENS];
    for (size_t i = 0; i < N_BL_TOKENS; i++)
        toks[i] = (tok_def){k_bl_tokens[i], 0,
                            i == 0  ? KY_TOKEN_UNKNOWN
                            : i < 3 ? KY_TOKEN_CONTROL
                                    : KY_TOKEN_NORMAL};
    ky_error err;
    *img = NULL;
    ky_status st = build("gpt2", pre, toks, N_BL_TOKENS, k_bl_merges,
                         sizeof k_bl_merges / sizeof k_bl_merges[0], tv, &err, img);
    if (st)
        fprintf(stderr, "synthetic byte-level vocabulary (pre %s): %s\n", pre ? pre : "(none)",
                err.message);
    return st;
}

/* Checks that text tokenizes to the tokens named by pieces (NULL-terminated token texts). */
static void expect_pieces(const ky_vocab *v, const char *pre, const char *text,
                          const char *const *pieces) {
    ky_token want[32];
    size_t n_want = 0;
    for (; pieces[n_want]; n_want++) {
        ky_token id = -1;
        for (size_t i = 0; i < N_BL_TOKENS; i++)
            if (!strcmp(k_bl_tokens[i], pieces[n_want])) id = (ky_token)i;
        REQUIRE(id >= 0 && n_want < 32);
        want[n_want] = id;
    }
    size_t n;
    ky_token *ids = tu_tokenize(v, text, strlen(text), 0, &n, NULL);
    CHECKF(ids && tu_same(ids, n, want, n_want), "pre %s: tokenize \"%s\"", pre, text);
    if (ids && !tu_same(ids, n, want, n_want)) {
        tu_print_ids(stderr, "got     ", ids, n);
        tu_print_ids(stderr, "expected", want, n_want);
    }
    free(ids);
}

/* Runs every split case under pre (NULL: key absent) against expectation set which. */
static void run_split_cases(const char *pre, int which) {
    tu_vocab tv;
    uint8_t *img;
    REQUIRE(load_bytelevel(pre, &tv, &img) == KY_OK);
    for (size_t i = 0; i < sizeof k_split_cases / sizeof k_split_cases[0]; i++) {
        expect_pieces(tv.v, pre ? pre : "(none)", k_split_cases[i].text,
                      k_split_cases[i].want[which]);
    }
    tu_free(&tv);
    free(img);
}

static void pretok_llama_bpe(void) {
    run_split_cases("llama-bpe", LLAMA3);
    run_split_cases("llama3", LLAMA3);
}

static void pretok_qwen2(void) { run_split_cases("qwen2", QWEN2); }

static void pretok_gpt2(void) { run_split_cases("gpt-2", GPT2); }

/* "default" and a missing tokenizer.ggml.pre both give llama.cpp's default split. */
static void pretok_default(void) {
    run_split_cases("default", DEFAULT);
    run_split_cases(NULL, DEFAULT);
}

/* "deepseek-r1-qwen" is the qwen2 pre-tokenizer (NFC included): same ids on every case and on
 * text that mixes them all. */
static void pretok_deepseek_r1_qwen(void) {
    run_split_cases("deepseek-r1-qwen", QWEN2);
    tu_vocab q, r;
    uint8_t *qi, *ri;
    REQUIRE(load_bytelevel("qwen2", &q, &qi) == KY_OK);
    REQUIRE(load_bytelevel("deepseek-r1-qwen", &r, &ri) == KY_OK);
    char all[512];
    size_t len = 0;
    for (size_t i = 0; i < sizeof k_split_cases / sizeof k_split_cases[0] && len < sizeof all; i++)
        len += (size_t)snprintf(all + len, sizeof all - len, "%s\n ", k_split_cases[i].text);
    REQUIRE(len < sizeof all);
    size_t nq, nr;
    ky_token *a = tu_tokenize(q.v, all, len, 0, &nq, NULL);
    ky_token *b = tu_tokenize(r.v, all, len, 0, &nr, NULL);
    CHECK(a && b && nq > 40 && tu_same(a, nq, b, nr));
    free(a);
    free(b);
    tu_free(&q);
    tu_free(&r);
    free(qi);
    free(ri);
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
    RUN(pretok_llama_bpe);
    RUN(pretok_qwen2);
    RUN(pretok_deepseek_r1_qwen);
    RUN(pretok_gpt2);
    RUN(pretok_default);
    RUN(load_errors);
    TEST_EXIT();
}
