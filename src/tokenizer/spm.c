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

typedef struct spm_pair {
    float score;
    int32_t left, right;
    uint32_t size;
    int32_t id;
} spm_pair;

static bool mergeable(const ky_vocab *v, int32_t id) {
    uint8_t a = v->attr[id];
    return a == KY_TOKEN_NORMAL || a == KY_TOKEN_USER_DEFINED || a == KY_TOKEN_UNUSED;
}

/* true when pair a is popped before pair b: higher score, then leftmost. */
static bool before(const spm_pair *a, const spm_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct spm_ctx {
    tok_sess *s;
    const uint8_t *text;
    spm_sym *sym;
    spm_node *node;
    spm_pair *heap;
    size_t n_heap;
} spm_ctx;

static void heap_push(spm_ctx *c, const spm_pair *p) {
    size_t i = c->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!before(p, &c->heap[up])) break;
        c->heap[i] = c->heap[up];
        i = up;
    }
    c->heap[i] = *p;
}

static spm_pair heap_pop(spm_ctx *c) {
    spm_pair top = c->heap[0], last = c->heap[--c->n_heap];
    size_t i = 0, n = c->n_heap;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        if (l + 1 < n && before(&c->heap[l + 1], &c->heap[l])) l++;
        if (!before(&c->heap[l], &last)) break;
        c->heap[i] = c->heap[l];
        i = l;
    }
    if (n) c->heap[i] = last;
    return top;
}

static void try_pair(spm_ctx *c, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const ky_vocab *v = c->s->v;
    uint32_t size = c->sym[l].len + c->sym[r].len;
    if (size > v->impl->max_token_len) return;
    int32_t id = tok_map_find(v, c->text + c->sym[l].start, size);
    if (id < 0 || !mergeable(v, id)) return;
    spm_pair p = {v->scores[id], l, r, size, id};
    heap_push(c, &p);
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
        !tok_reserve(s, &s->heap, &s->heap_cap, 2 * m, sizeof(spm_pair)) ||
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
    for (int32_t i = 1; i < ns; i++) try_pair(&c, i - 1, i);
    while (c.n_heap) {
        spm_pair p = heap_pop(&c);
        spm_sym *l = &c.sym[p.left], *r = &c.sym[p.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != p.size) continue; /* stale */
        c.node[n_nodes] = (spm_node){p.id, l->node, r->node, l->start, p.size};
        l->node = n_nodes++;
        l->len = p.size;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) c.sym[r->next].prev = p.left;
        try_pair(&c, l->prev, p.left);
        try_pair(&c, p.left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = c.sym[i].next) emit_node(&c, c.sym[i].node);
}
