/* tok_impl.h — module-internal state and helpers of the tokenizer (layer: tokenizer).
 *
 * struct ky_vocab_impl holds everything built at load time from the GGUF arrays: the text → id
 * hash map, the BPE merge table (pair of ids → rank and merged id), the compiled pre-tokenizer
 * regexes, the special-token trie, byte tokens and the decoded piece of every token. It is
 * read-only after ky_vocab_load, so one vocab serves any number of threads; per-call scratch
 * lives in a tok_sess on the caller's side.
 */
#ifndef KY_TOKENIZER_TOK_IMPL_H
#define KY_TOKENIZER_TOK_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer/vocab.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define TOK_MAX_REGEX 8 /* regexes in one pre-tokenizer sequence */

/* Hash of a byte string, seeded per process (set by the first tok_map_build) so crafted
 * vocabularies cannot flood the maps. */
extern uint64_t tok_hash_seed;
static inline uint64_t tok_hash(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = tok_hash_seed ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * 0x94d049bb133111ebull;
        h ^= h >> 32;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

/* Open-addressing map from token text to id (texts stay in the vocab's arrays). A slot carries
 * the text's length and first 8 bytes, so most lookups never touch the token arrays. */
typedef struct tok_strslot {
    uint32_t tag;  /* high 24 bits of tok_hash | min(length, 255) */
    int32_t id;    /* token id, -1 when empty */
    uint64_t head; /* first min(length, 8) bytes, zero-padded */
} tok_strslot;

typedef struct tok_strmap {
    uint32_t mask;     /* slots - 1 (power of two) */
    tok_strslot *slot; /* [slots] */
} tok_strmap;

/* Map from a pair of token ids to the merge (rank, merged id). */
typedef struct tok_pairslot {
    uint64_t key;  /* left << 32 | right, UINT64_MAX when empty */
    uint32_t rank; /* position in tokenizer.ggml.merges */
    int32_t id;    /* merged token */
} tok_pairslot;

typedef struct tok_pairmap {
    uint32_t mask;
    tok_pairslot *slot;
} tok_pairmap;

/* Trie of the special (control, user-defined, unknown) token texts, for leftmost-longest
 * matching. Node 0 is the root; children form sibling lists. */
typedef struct tok_trie_node {
    int32_t child;   /* first child node or -1 */
    int32_t sibling; /* next sibling or -1 */
    int32_t token;   /* token ending here or -1 */
    uint8_t byte;    /* edge label from the parent */
} tok_trie_node;

typedef struct tok_trie {
    tok_trie_node *nodes;
    int32_t n_nodes, cap;
    int32_t root_child[256]; /* root's child per first byte, -1 when none */
} tok_trie;

/* A pre-tokenizer: regexes applied in sequence (each splits every current piece into matches
 * and the gaps between them, like Hugging Face's Split(behavior=Isolated)). */
typedef struct tok_pretok {
    const char *names;                /* '|'-separated tokenizer.ggml.pre values it serves */
    const char *regex[TOK_MAX_REGEX]; /* NULL-terminated */
    bool nfc;                         /* NFC-normalize text before splitting (Qwen) */
    bool ignore_merges;               /* a word that is a token is used as is (Llama 3) */
} tok_pretok;

struct ky_vocab_impl {
    tok_strmap map;          /* token text → id (first id wins for duplicate texts) */
    int32_t byte_token[256]; /* token of each byte: <0xXX> (SPM) or the byte-level char (BPE) */
    uint32_t max_token_len;

    /* Decoded piece of every token: SPM ▁ → space, byte tokens → the byte, BPE chars → bytes;
     * special and user-defined tokens keep their text. */
    uint32_t *piece_off; /* [n_tokens + 1] */
    char *piece;

    bool add_space_prefix; /* SPM: prepend ▁ to text that starts a fragment */

    /* BPE */
    tok_pairmap pairs;
    const tok_pretok *pretok;
    pcre2_code *re[TOK_MAX_REGEX];
    bool re_jit[TOK_MAX_REGEX];
    int n_re;
    uint32_t max_capture; /* ovector pairs needed by the regexes */

    tok_trie special; /* control / user-defined / unknown token texts */
};

/* ---- Load-time builders (each returns KY_OK or an error naming the file and key) ---- */

/* Builds v->impl->map from the token texts. */
ky_status tok_map_build(ky_vocab *v, const char *path, ky_error *err);
/* Finds the id of a token text, or -1. */
int32_t tok_map_find(const ky_vocab *v, const void *s, size_t n);
/* Pair map: create with room for n entries; insert keeps the first (lowest) rank. */
ky_status tok_pairmap_init(tok_pairmap *m, size_t n);
void tok_pairmap_insert(tok_pairmap *m, int32_t left, int32_t right, uint32_t rank, int32_t id);
void tok_pairmap_free(tok_pairmap *m);
/* Looks up a merge; returns false when the pair does not merge. */
static inline bool tok_pairmap_find(const tok_pairmap *m, int32_t left, int32_t right,
                                    uint32_t *rank, int32_t *id) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    for (;;) {
        const tok_pairslot *e = &m->slot[i];
        if (e->key == key) {
            *rank = e->rank;
            *id = e->id;
            return true;
        }
        if (e->key == UINT64_MAX) return false;
        i = (i + 1) & m->mask;
    }
}

/* Reads tokenizer.ggml.merges, selects and compiles the pre-tokenizer (bpe.c / pretok.c). */
ky_status bpe_build(ky_vocab *v, const ky_gguf *g, ky_error *err);
ky_status pretok_build(ky_vocab *v, const char *path, ky_error *err);
void pretok_free(struct ky_vocab_impl *impl);

/* Builds the special-token trie (special.c). */
ky_status special_build(ky_vocab *v, const char *path, ky_error *err);
void special_free(tok_trie *t);
/* Finds the leftmost-longest special token in s[0, n). Returns true with its start, length and
 * id; false when none occurs. */
bool special_find(const tok_trie *t, const uint8_t *s, size_t n, size_t *start, size_t *len,
                  ky_token *id);

/* Builds byte_token and the decoded pieces (detok.c). */
ky_status pieces_build(ky_vocab *v, const char *path, ky_error *err);

/* ---- Per-call session ---- */

typedef struct tok_sess {
    const ky_vocab *v;
    ky_token *out; /* caller's array; ids past cap are counted only */
    size_t cap, n;
    ky_status st; /* first error (sticky) */

    uint8_t *buf; /* NFC output / SPM escaped text */
    size_t buf_cap;
    uint32_t *cps; /* NFC: code points of the stretch being normalized */
    size_t cps_cap;
    uint32_t *cps_tmp; /* NFC: counting-sort scratch for a long run of combining marks */
    size_t cps_tmp_cap;
    uint8_t *wbuf; /* byte-level rendering of a word (ignore_merges lookups) */
    size_t wbuf_cap;
    void *sym; /* symbols of the word being merged */
    size_t sym_cap;
    void *heap; /* merge candidates */
    size_t heap_cap;
    void *aux; /* SPM merge tree */
    size_t aux_cap;
    int32_t *stk; /* SPM resegment stack */
    size_t stk_cap;
    void *cache; /* BPE word cache */

    pcre2_match_data *md;
    pcre2_jit_stack *jit_stack;
    pcre2_match_context *mctx;
} tok_sess;

static inline void tok_emit(tok_sess *s, ky_token t) {
    if (s->n < s->cap) s->out[s->n] = t;
    s->n++;
}

/* Frees the session's scratch memory (not s->out, which is the caller's). */
void tok_sess_free(tok_sess *s);

/* Grows *p to hold at least n elements of elem bytes (amortized doubling). On failure sets
 * s->st = KY_ERR_NOMEM and returns false. */
bool tok_reserve(tok_sess *s, void **p, size_t *cap, size_t n, size_t elem);

/* SentencePiece BPE of one text fragment (spm.c). prefix: prepend the ▁ space prefix. */
void spm_tokenize(tok_sess *s, const uint8_t *text, size_t n, bool prefix);
/* Byte-level BPE of one text fragment: NFC (when the pre-tokenizer asks), regex split, merges
 * (bpe.c). */
void bpe_tokenize(tok_sess *s, const uint8_t *text, size_t n);
void bpe_sess_free(tok_sess *s);
/* Splits t[0, n) with the vocab's pre-tokenizer and calls word for every piece in text order
 * (pretok.c). Errors go to s->st. */
void pretok_split(tok_sess *s, const uint8_t *t, size_t n,
                  void (*word)(tok_sess *, const uint8_t *, size_t));

/* NFC normalization of s[0, n) (nfc.c). Returns s itself when the text is already NFC,
 * otherwise a normalized copy in *buf (grown as needed); invalid UTF-8 bytes are copied
 * unchanged. *out_n receives the result length. NULL on allocation failure. */
const uint8_t *tok_nfc(tok_sess *s, const uint8_t *text, size_t n, size_t *out_n);

/* Length of the UTF-8 sequence at s[0, n): 1..4 for a valid character, 1 for an invalid
 * byte (lone continuation, overlong, surrogate, truncated, > U+10FFFF). */
size_t tok_utf8_len(const uint8_t *s, size_t n);

#endif
