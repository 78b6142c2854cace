/* bpe.c — byte-level BPE (tokenizer.ggml.model = "gpt2"): merge table and word merging
 * (layer: tokenizer).
 *
 * Merges are kept as a hash map from a pair of token ids to (rank, merged id), so a word is
 * merged entirely on integers: its initial symbols are the tokens of its bytes (GPT-2's
 * byte ↔ unicode map is folded into byte_token), and the lowest-rank adjacent pair (ties:
 * leftmost) is merged until none is left, through a lazily checked binary heap — O(n log n)
 * for a word of n bytes, whatever its content. A per-call cache remembers the tokens of words
 * already seen (text repeats words a lot).
 */
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/tok_impl.h"

ky_status bpe_build(ky_vocab *v, const ky_gguf *g, ky_error *err) {
    const char *path = gguf_path(g);
    uint32_t et;
    uint64_t n;
    int64_t kv;
    ky_status st = gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, &kv, err);
    if (st == KY_ERR_NOT_FOUND)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: byte-level BPE vocabulary without merges (key "
                       "'tokenizer.ggml.merges' not found)",
                       path);
    if (st) return st;
    if (et != KY_GGUF_STRING)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: key 'tokenizer.ggml.merges' is an array of %s, "
                       "expected strings",
                       path, ky_gguf_type_name(et));
    if (n > UINT32_MAX / 4)
        return ky_errf(err, KY_ERR_FORMAT, "%s: key 'tokenizer.ggml.merges' has too many entries",
                       path);
    if (tok_pairmap_init(&v->impl->pairs, (size_t)n))
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory for %llu merges", path,
                       (unsigned long long)n);
    char stack_buf[512];
    char *buf = stack_buf;
    size_t buf_cap = sizeof stack_buf;
    for (uint64_t i = 0; i < n; i++) {
        const char *p;
        uint64_t len;
        gguf_arr_str(g, kv, i, &p, &len);
        /* "A B": split at the first space after the first byte (A may start with a space in
         * vocabularies that do not escape it) */
        const char *sp = len > 1 ? memchr(p + 1, ' ', (size_t)len - 1) : NULL;
        if (!sp) continue;
        size_t la = (size_t)(sp - p), lb = (size_t)len - la - 1;
        int32_t a = tok_map_find(v, p, la), b = tok_map_find(v, sp + 1, lb);
        if (a < 0 || b < 0) continue;
        if (la + lb > buf_cap) {
            char *nb = malloc(la + lb);
            if (!nb) {
                if (buf != stack_buf) free(buf);
                return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
            }
            if (buf != stack_buf) free(buf);
            buf = nb;
            buf_cap = la + lb;
        }
        memcpy(buf, p, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t ab = tok_map_find(v, buf, la + lb);
        if (ab < 0) continue; /* merged text is no token: the merge can never apply */
        tok_pairmap_insert(&v->impl->pairs, a, b, (uint32_t)i, ab);
    }
    if (buf != stack_buf) free(buf);
    return KY_OK;
}

/* ---- word cache: word bytes → tokens, per tokenize call ---- */

#define CACHE_MIN_SLOTS 256       /* power of two; the table doubles while half full */
#define CACHE_MAX_SLOTS (1 << 16) /* then it starts over */
#define CACHE_MAX_WORD  64

typedef struct cache_slot {
    uint64_t hash; /* 0 = empty */
    uint32_t key_off, key_len;
    uint32_t ids_off, n_ids;
} cache_slot;

typedef struct bpe_cache {
    cache_slot *slot;
    uint32_t mask, used;
    uint8_t *keys;
    size_t keys_len, keys_cap;
    int32_t *ids;
    size_t ids_len, ids_cap;
} bpe_cache;

static cache_slot *cache_find(bpe_cache *c, const uint8_t *w, size_t n, uint64_t h) {
    uint32_t i = (uint32_t)h & c->mask;
    for (;;) {
        cache_slot *e = &c->slot[i];
        if (e->hash == 0) return e;
        if (e->hash == h && e->key_len == n && !memcmp(c->keys + e->key_off, w, n)) return e;
        i = (i + 1) & c->mask;
    }
}

/* Makes room for one more entry: doubles the table while it is small, else empties it.
 * Returns false on allocation failure. */
static bool cache_room(bpe_cache *c) {
    uint32_t slots = c->slot ? c->mask + 1 : 0;
    if (c->slot && 2 * (c->used + 1) <= slots) return true;
    if (slots >= CACHE_MAX_SLOTS) { /* full: start over */
        memset(c->slot, 0, (size_t)slots * sizeof *c->slot);
        c->used = 0;
        c->keys_len = c->ids_len = 0;
        return true;
    }
    uint32_t ns = slots ? 2 * slots : CACHE_MIN_SLOTS;
    cache_slot *old = c->slot, *t = calloc(ns, sizeof *t);
    if (!t) return false;
    c->slot = t;
    c->mask = ns - 1;
    for (uint32_t i = 0; i < slots; i++)
        if (old[i].hash) *cache_find(c, NULL, 0, old[i].hash) = old[i]; /* hashes are unique */
    free(old);
    return true;
}

/* ---- merging ---- */

typedef struct bpe_sym {
    int32_t id; /* token, -2 once merged into the left neighbour, -1 for a missing byte */
    int32_t prev, next;
} bpe_sym;

/* Merge candidates are heap keys rank << 32 | left position (smallest first). An entry is
 * checked when popped: it is applied only if the pair now at that position still has that rank
 * (ranks identify pairs), so stale entries need no bookkeeping and an entry is 8 bytes. */
#define ARITY 8 /* an 8-ary heap: the children of i are 8i+1..8i+8, one cache line */

typedef struct bpe_ctx {
    const tok_pairmap *pairs;
    bpe_sym *sym;
    uint64_t *heap;
    size_t n_heap;
} bpe_ctx;

/* Rank and merged id of the pair starting at symbol i; false when it does not merge. */
static bool pair_at(const bpe_ctx *c, int32_t i, uint32_t *rank, int32_t *mid) {
    if (i < 0) return false;
    int32_t r = c->sym[i].next;
    if (r < 0) return false;
    int32_t a = c->sym[i].id, b = c->sym[r].id;
    return a >= 0 && b >= 0 && tok_pairmap_find(c->pairs, a, b, rank, mid);
}

static void push_pair(bpe_ctx *c, int32_t i) {
    uint32_t rank;
    int32_t mid;
    if (!pair_at(c, i, &rank, &mid)) return;
    uint64_t e = (uint64_t)rank << 32 | (uint32_t)i;
    size_t k = c->n_heap++;
    while (k > 0) {
        size_t up = (k - 1) / ARITY;
        if (c->heap[up] <= e) break;
        c->heap[k] = c->heap[up];
        k = up;
    }
    c->heap[k] = e;
}

static void sift_down(bpe_ctx *c, size_t i, uint64_t e) {
    size_t n = c->n_heap;
    for (;;) {
        size_t first = ARITY * i + 1;
        if (first >= n) break;
        size_t best = first, end = first + ARITY < n ? first + ARITY : n;
        for (size_t k = first + 1; k < end; k++)
            if (c->heap[k] < c->heap[best]) best = k;
        if (c->heap[best] >= e) break;
        c->heap[i] = c->heap[best];
        i = best;
    }
    c->heap[i] = e;
}

static uint64_t pop_pair(bpe_ctx *c) {
    uint64_t top = c->heap[0];
    uint64_t last = c->heap[--c->n_heap];
    if (c->n_heap) sift_down(c, 0, last);
    return top;
}

static void emit_id(tok_sess *s, int32_t id) {
    if (id >= 0) {
        tok_emit(s, id);
    } else if (s->v->unk != KY_TOKEN_NULL) {
        tok_emit(s, s->v->unk); /* a byte the vocabulary cannot spell */
    }
}

/* Merges one word and emits its tokens (and appends them to the cache entry when caching). */
static void merge_word(tok_sess *s, const uint8_t *w, size_t n, bpe_cache *cache,
                       cache_slot *slot) {
    const struct ky_vocab_impl *im = s->v->impl;
    if (!tok_reserve(s, &s->sym, &s->sym_cap, n, sizeof(bpe_sym)) ||
        !tok_reserve(s, &s->heap, &s->heap_cap, 2 * n, sizeof(uint64_t)))
        return;
    bpe_ctx c = {&im->pairs, s->sym, s->heap, 0};
    for (size_t i = 0; i < n; i++)
        c.sym[i] = (bpe_sym){im->byte_token[w[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    /* Initial pairs, then heapify bottom-up (O(n)). */
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t rank;
        int32_t mid;
        if (pair_at(&c, (int32_t)i, &rank, &mid)) c.heap[c.n_heap++] = (uint64_t)rank << 32 | i;
    }
    for (size_t k = c.n_heap / ARITY + 1; k-- > 0;)
        if (k < c.n_heap) sift_down(&c, k, c.heap[k]);
    while (c.n_heap) {
        uint64_t e = pop_pair(&c);
        int32_t i = (int32_t)(uint32_t)e;
        uint32_t rank;
        int32_t mid;
        if (c.sym[i].id < 0 || !pair_at(&c, i, &rank, &mid) || rank != (uint32_t)(e >> 32))
            continue; /* stale: the pair at i changed since the push */
        bpe_sym *l = &c.sym[i], *r = &c.sym[l->next];
        l->id = mid;
        l->next = r->next;
        if (r->next >= 0) c.sym[r->next].prev = i;
        r->id = -2;
        push_pair(&c, l->prev);
        push_pair(&c, i);
    }
    if (slot &&
        !tok_reserve(s, (void **)&cache->ids, &cache->ids_cap, cache->ids_len + n, sizeof(int32_t)))
        return;
    uint32_t first = slot ? (uint32_t)cache->ids_len : 0, count = 0;
    for (int32_t i = 0; i >= 0; i = c.sym[i].next) {
        emit_id(s, c.sym[i].id);
        if (slot) {
            cache->ids[cache->ids_len++] = c.sym[i].id;
            count++;
        }
    }
    if (slot) {
        slot->ids_off = first;
        slot->n_ids = count;
    }
}

static void bpe_word(tok_sess *s, const uint8_t *w, size_t n) {
    const struct ky_vocab_impl *im = s->v->impl;
    if (n == 1) {
        emit_id(s, im->byte_token[w[0]]);
        return;
    }
    if (im->pretok->ignore_merges) { /* a word that is itself a token is taken whole */
        if (!tok_reserve(s, (void **)&s->wbuf, &s->wbuf_cap, 2 * n, 1)) return;
        size_t m = 0;
        bool ok = true;
        for (size_t i = 0; i < n && ok; i++) {
            int32_t t = im->byte_token[w[i]];
            if (t < 0) {
                ok = false;
                break;
            }
            memcpy(s->wbuf + m, s->v->text[t], s->v->text_len[t]);
            m += s->v->text_len[t];
        }
        int32_t id = ok ? tok_map_find(s->v, s->wbuf, m) : -1;
        if (id >= 0) {
            tok_emit(s, id);
            return;
        }
    }
    if (n > CACHE_MAX_WORD) {
        merge_word(s, w, n, NULL, NULL);
        return;
    }
    bpe_cache *c = s->cache;
    if (!c) {
        if (!(c = s->cache = calloc(1, sizeof *c))) {
            s->st = KY_ERR_NOMEM;
            return;
        }
    }
    uint64_t h = tok_hash(w, n) | 1;
    cache_slot *e = c->slot ? cache_find(c, w, n, h) : NULL;
    if (e && e->hash) {
        for (uint32_t i = 0; i < e->n_ids; i++) emit_id(s, c->ids[e->ids_off + i]);
        return;
    }
    if (!cache_room(c)) {
        s->st = KY_ERR_NOMEM;
        return;
    }
    e = cache_find(c, w, n, h);
    if (!tok_reserve(s, (void **)&c->keys, &c->keys_cap, c->keys_len + n, 1)) return;
    memcpy(c->keys + c->keys_len, w, n);
    e->hash = h;
    e->key_off = (uint32_t)c->keys_len;
    e->key_len = (uint32_t)n;
    e->n_ids = 0;
    c->keys_len += n;
    c->used++;
    merge_word(s, w, n, c, e);
}

void bpe_tokenize(tok_sess *s, const uint8_t *text, size_t n) {
    if (s->v->impl->pretok->nfc) {
        size_t m;
        const uint8_t *t = tok_nfc(s, text, n, &m);
        if (!t) {
            s->st = KY_ERR_NOMEM;
            return;
        }
        pretok_split(s, t, m, bpe_word);
    } else {
        pretok_split(s, text, n, bpe_word);
    }
}

void bpe_sess_free(tok_sess *s) {
    bpe_cache *c = s->cache;
    if (c) {
        free(c->slot);
        free(c->keys);
        free(c->ids);
        free(c);
        s->cache = NULL;
    }
}
