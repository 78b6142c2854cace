/* fuzz_tokenize.c — libFuzzer target for the tokenizers (tests/fuzz; built by fuzz.mk).
 *
 * Arbitrary bytes are tokenized with a SentencePiece vocabulary (stories260K), the Qwen3
 * byte-level BPE vocabulary (NFC, one regex) and DeepSeek LLM's (a sequence of six regexes), with
 * and without special-token parsing and BOS, then decoded. Properties that must hold:
 *   - tokenization succeeds and every id is in range; the count query agrees with the fill;
 *   - SPM and DeepSeek without special parsing: decode(encode(x)) == x byte for byte (SPM: with
 *     U+2581 "▁" read as a space, which is what SentencePiece's escaping means);
 *   - Qwen: encoding is idempotent through its NFC: encode(decode(encode(x))) == encode(x), with
 *     and without special parsing (specials print their text and parse back);
 *   - the streaming decoder's chunks add up to the full decode, and no chunk boundary falls
 *     inside a valid UTF-8 character of it.
 * Vocabularies are read from $KY_SHARED (default ../shared), relative to the repository root.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/tokenize.h"
#include "tokenizer/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void require(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_tokenize: property violated: %s\n", what);
        abort();
    }
}

enum { V_SPM, V_QWEN, V_DSL, N_VOCAB };
static const char *k_files[N_VOCAB] = {"models/stories260K.gguf",
                                       "tokenizer/qwen3/qwen3-vocab-only.gguf",
                                       "tokenizer/llamacpp/ggml-vocab-deepseek-llm.gguf"};
static ky_gguf *g_gguf[N_VOCAB];
static ky_vocab *g_vocab[N_VOCAB];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; /* libFuzzer's signature; the vocabularies come from KY_SHARED */
    (void)argv;
    const char *root = getenv("KY_SHARED");
    if (!root || !*root) root = "../shared";
    for (int i = 0; i < N_VOCAB; i++) {
        char path[1024];
        ky_error err;
        snprintf(path, sizeof path, "%s/%s", root, k_files[i]);
        if (ky_gguf_open(path, &g_gguf[i], &err) != KY_OK ||
            ky_vocab_load(g_gguf[i], &g_vocab[i], &err) != KY_OK) {
            fprintf(stderr, "fuzz_tokenize: cannot load %s: %s\n", path, err.message);
            abort();
        }
    }
    return 0;
}

static ky_token *encode(const ky_vocab *v, const void *s, size_t n, unsigned flags, size_t *out_n) {
    size_t need = 0;
    ky_status st = ky_vocab_tokenize(v, s, n, flags, NULL, 0, &need);
    require(st == KY_OK || st == KY_ERR_INVALID_ARG, "count query fails");
    require(st == KY_OK ? need == 0 : need > 0, "count query status");
    ky_token *ids = malloc((need ? need : 1) * sizeof *ids);
    require(ids != NULL, "out of memory");
    size_t got = 0;
    require(ky_vocab_tokenize(v, s, n, flags, ids, need, &got) == KY_OK, "tokenize fails");
    require(got == need, "count query disagrees with the fill");
    for (size_t i = 0; i < got; i++) require(ids[i] >= 0 && ids[i] < v->n_tokens, "id range");
    *out_n = got;
    return ids;
}

static char *decode(const ky_vocab *v, const ky_token *ids, size_t n, unsigned flags, size_t *len) {
    size_t need = 0;
    ky_status st = ky_vocab_detokenize(v, ids, n, flags, NULL, 0, &need);
    require(st == KY_OK || st == KY_ERR_INVALID_ARG, "detokenize count fails");
    char *out = malloc(need + 1);
    require(out != NULL, "out of memory");
    require(ky_vocab_detokenize(v, ids, n, flags, out, need + 1, len) == KY_OK && *len == need,
            "detokenize fails");
    return out;
}

/* The stream's chunks must add up to the full decode, and no chunk boundary may fall inside a
 * valid UTF-8 character of it (invalid bytes may be passed on at any point). */
static void check_stream(const ky_vocab *v, const ky_token *ids, size_t n, unsigned flags,
                         const char *want, size_t want_len) {
    uint8_t *inside = calloc(want_len + 1, 1); /* 1 where a boundary would split a character */
    require(inside != NULL, "out of memory");
    for (size_t i = 0; i < want_len;) {
        size_t l = tok_utf8_len((const uint8_t *)want + i, want_len - i);
        for (size_t k = 1; k < l; k++) inside[i + k] = 1;
        i += l;
    }
    ky_vocab_stream st;
    ky_vocab_stream_init(&st, v, flags);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t;
        size_t len;
        require(ky_vocab_stream_push(&st, ids[i], &t, &len) == KY_OK, "stream push fails");
        require(total + len <= want_len, "stream emitted too much");
        require(len == 0 || !memcmp(want + total, t, len), "stream text differs from detokenize");
        total += len;
        require(!inside[total], "stream split a character");
    }
    const char *t;
    size_t len;
    require(ky_vocab_stream_flush(&st, &t, &len) == KY_OK, "stream flush fails");
    require(total + len == want_len, "stream length differs from detokenize");
    require(len == 0 || !memcmp(want + total, t, len), "stream text differs from detokenize");
    free(inside);
    ky_vocab_stream_free(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    for (int vi = 0; vi < N_VOCAB; vi++) {
        const ky_vocab *v = g_vocab[vi];
        for (unsigned flags = 0; flags < 4; flags++) {
            bool special = flags & KY_TOKENIZE_PARSE_SPECIAL;
            size_t n, len;
            ky_token *ids = encode(v, data, size, flags, &n);
            unsigned dflags = special ? KY_DETOK_SPECIAL : 0;
            char *text = decode(v, ids, n, dflags, &len);
            check_stream(v, ids, n, dflags, text, len);
            if (vi != V_QWEN && !special) {
                const uint8_t *want = data;
                size_t want_len = size;
                uint8_t *esc = NULL;
                if (vi == V_SPM && size >= 3) { /* "▁" in the input decodes as ' ' */
                    esc = malloc(size);
                    require(esc != NULL, "out of memory");
                    want_len = 0;
                    for (size_t i = 0; i < size; i++) {
                        if (i + 3 <= size && !memcmp(data + i, "\xE2\x96\x81", 3)) {
                            esc[want_len++] = ' ';
                            i += 2;
                        } else {
                            esc[want_len++] = data[i];
                        }
                    }
                    want = esc;
                }
                require(len == want_len && !memcmp(text, want, want_len), "decode(encode(x)) != x");
                free(esc);
            }
            if (vi == V_QWEN) {
                /* specials print as their text and parse back; BOS is then part of the text */
                unsigned again_flags = special ? flags & ~(unsigned)KY_TOKENIZE_ADD_BOS : flags;
                size_t n2;
                ky_token *again = encode(v, text, len, again_flags, &n2);
                require(n2 == n && !memcmp(again, ids, n * sizeof *ids),
                        "encode is not idempotent through NFC");
                free(again);
            }
            free(text);
            free(ids);
        }
    }
    return 0;
}
