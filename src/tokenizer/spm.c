/* spm.c — SentencePiece BPE (tokenizer.ggml.model = "llama") (layer: tokenizer).
 *
 * SentencePiece's algorithm: spaces become ▁ (U+2581) and the fragment gets a ▁ prefix; the text
 * starts as one symbol per UTF-8 character; the adjacent pair whose concatenation is a piece
 * with the highest score is merged (ties: leftmost first) until no pair is a piece. Pairs live in
 * a priority queue checked lazily, so merging is O(n log n). Only normal, user-defined and
 * unused pieces take part in merges (as in SentencePiece; control and byte pieces never do);
 * unused pieces are split back into the two symbols they were merged from. Symbols that are no
 * piece fall back to <0xXX> byte tokens, or to the unknown token when the vocabulary has none.
 */
#include <string.h>

#include "tokenizer/tok_impl.h"

typedef struct spm_sym {
    uint32_t start, len; /* bytes in the escaped text; len 0 once merged into the left */
    int32_t prev, next;
    int32_t node; /* merge-tree node */
} spm_sym;

typedef struct spm_node {
    int32_t id;          /* token or -1 */
    int32_t left, right; /* children (-1 for an initial character) */
    uint32_t start, len;
} spm_node;

static bool mergeable(const ky_vocab *v, int32_t id) {
    uint8_t a = v->attr[id];
    return a == KY_TOKEN_NORMAL || a == KY_TOKEN_USER_DEFINED || a == KY_TOKEN_UNUSED;
}

/* Merge candidates are heap keys: the piece's score mapped to an order-reversed integer (higher
 * scores first) << 32 | left symbol (leftmost first). A popped key is applied only if the pair now
 * at that position is still a piece with that score; a pair that changed to another piece of the
 * same score sorts exactly where a fresh entry would, so stale entries need no bookkeeping. */
#define ARITY 8 /* 8-ary heap of 8-byte keys: the children of i are 8i+1..8i+8 */

static uint32_t score_key(float score) {
    uint32_t u;
    memcpy(&u, &score, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending with the float */
    return ~u;                                      /* descending */
}

typedef struct spm_ctx {
    tok_sess *s;
    const uint8_t *text;
    spm_sym *sym;
    spm_node *node;
    uint64_t *heap;
    size_t n_heap;
} spm_ctx;

/* The piece formed by symbol l and its right neighbour, or -1. */
static int32_t pair_piece(const spm_ctx *c, int32_t l) {
    if (l < 0 || c->sym[l].len == 0) return -1;
    int32_t r = c->sym[l].next;
    if (r < 0) return -1;
    const ky_vocab *v = c->s->v;
    uint32_t size = c->sym[l].len + c->sym[r].len;
    if (size > v->impl->max_token_len) return -1;
    int32_t id = tok_map_find(v, c->text + c->sym[l].start, size);
    return id >= 0 && mergeable(v, id) ? id : -1;
}

static void sift_down(spm_ctx *c, size_t i, uint64_t e) {
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

static void try_pair(spm_ctx *c, int32_t l) {
    int32_t id = pair_piece(c, l);
    if (id < 0) return;
    uint64_t e = (uint64_t)score_key(c->s->v->scores[id]) << 32 | (uint32_t)l;
    size_t k = c->n_heap++;
    while (k > 0) {
        size_t up = (k - 1) / ARITY;
        if (c->heap[up] <= e) break;
        c->heap[k] = c->heap[up];
        k = up;
    }
    c->heap[k] = e;
}

/* Emits the tokens of merge-tree node k: the piece itself, its two halves for unused pieces,
 * or byte fallback. */
static void emit_node(spm_ctx *c, int32_t k) {
    tok_sess *s = c->s;
    const ky_vocab *v = s->v;
    size_t top = 0;
    s->stk[top++] = k;
    while (top) {
        const spm_node *nd = &c->node[s->stk[--top]];
        if (nd->id >= 0 && v->attr[nd->id] != KY_TOKEN_UNUSED) {
            tok_emit(s, nd->id);
        } else if (nd->id >= 0 && nd->left >= 0) {
            s->stk[top++] = nd->right;
            s->stk[top++] = nd->left;
        } else {
            bool bytes = true;
            for (uint32_t i = 0; i < nd->len; i++)
                if (v->impl->byte_token[c->text[nd->start + i]] < 0) bytes = false;
            if (bytes) {
                for (uint32_t i = 0; i < nd->len; i++)
                    tok_emit(s, v->impl->byte_token[c->text[nd->start + i]]);
            } else if (v->unk != KY_TOKEN_NULL) {
                tok_emit(s, v->unk);
            }
        }
    }
}

void spm_tokenize(tok_sess *s, const uint8_t *text, size_t n, bool prefix) {
    const ky_vocab *v = s->v;
    /* Escape: optional ▁ prefix, every ' ' → ▁. */
    size_t cap = 3 * n + 3;
    if (!tok_reserve(s, (void **)&s->buf, &s->buf_cap, cap, 1)) return;
    uint8_t *e = s->buf;
    size_t m = 0;
    if (prefix) {
        memcpy(e, "\xE2\x96\x81", 3);
        m = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') {
            memcpy(e + m, "\xE2\x96\x81", 3);
            m += 3;
        } else {
            e[m++] = text[i];
        }
    }
    if (m == 0) return;
    /* One symbol per character; nodes: m leaves + at most m - 1 merges. */
    if (!tok_reserve(s, &s->sym, &s->sym_cap, m, sizeof(spm_sym)) ||
        !tok_reserve(s, &s->aux, &s->aux_cap, 2 * m, sizeof(spm_node)) ||
        !tok_reserve(s, &s->heap, &s->heap_cap, 2 * m, sizeof(uint64_t)) ||
        !tok_reserve(s, (void **)&s->stk, &s->stk_cap, 2 * m, sizeof(int32_t)))
        return;
    spm_ctx c = {s, e, s->sym, s->aux, s->heap, 0};
    int32_t ns = 0;
    for (size_t i = 0; i < m;) {
        uint32_t l = (uint32_t)tok_utf8_len(e + i, m - i);
        int32_t id = tok_map_find(v, e + i, l);
        if (id >= 0 && !mergeable(v, id)) id = -1;
        c.sym[ns] = (spm_sym){(uint32_t)i, l, ns - 1, -1, ns};
        c.node[ns] = (spm_node){id, -1, -1, (uint32_t)i, l};
        if (ns > 0) c.sym[ns - 1].next = ns;
        ns++;
        i += l;
    }
    int32_t n_nodes = ns;
    for (int32_t i = 0; i + 1 < ns; i++) {
        int32_t id = pair_piece(&c, i);
        if (id >= 0) c.heap[c.n_heap++] = (uint64_t)score_key(v->scores[id]) << 32 | (uint32_t)i;
    }
    for (size_t k = c.n_heap / ARITY + 1; k-- > 0;)
        if (k < c.n_heap) sift_down(&c, k, c.heap[k]);
    while (c.n_heap) {
        uint64_t top = c.heap[0], last = c.heap[--c.n_heap];
        if (c.n_heap) sift_down(&c, 0, last);
        int32_t li = (int32_t)(uint32_t)top;
        int32_t id = pair_piece(&c, li);
        if (id < 0 || score_key(v->scores[id]) != (uint32_t)(top >> 32)) continue; /* stale */
        spm_sym *l = &c.sym[li], *r = &c.sym[l->next];
        uint32_t size = l->len + r->len;
        c.node[n_nodes] = (spm_node){id, l->node, r->node, l->start, size};
        l->node = n_nodes++;
        l->len = size;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) c.sym[r->next].prev = li;
        try_pair(&c, l->prev);
        try_pair(&c, li);
    }
    for (int32_t i = 0; i >= 0; i = c.sym[i].next) emit_node(&c, c.sym[i].node);
}
