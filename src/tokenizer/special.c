/* special.c — matching control / user-defined / unknown token texts in raw text (layer:
 * tokenizer).
 *
 * A byte trie over the texts of the special tokens. special_find scans for the leftmost
 * position where some special text starts and takes the longest one there (Hugging Face's
 * added-vocabulary semantics); positions whose byte starts no special text are skipped with one
 * table lookup, so scanning plain text costs about as much as memchr.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_impl.h"

static int32_t new_node(tok_trie *t, uint8_t byte) {
    if (t->n_nodes == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 64;
        tok_trie_node *n = realloc(t->nodes, (size_t)cap * sizeof *n);
        if (!n) return -1;
        t->nodes = n;
        t->cap = cap;
    }
    tok_trie_node *n = &t->nodes[t->n_nodes];
    n->child = n->sibling = n->token = -1;
    n->byte = byte;
    return t->n_nodes++;
}

/* Child of node with edge byte b, created when missing (-1 on allocation failure). */
static int32_t child(tok_trie *t, int32_t node, uint8_t b) {
    if (node == 0) {
        if (t->root_child[b] >= 0) return t->root_child[b];
        int32_t c = new_node(t, b);
        if (c >= 0) t->root_child[b] = c;
        return c;
    }
    for (int32_t c = t->nodes[node].child; c >= 0; c = t->nodes[c].sibling)
        if (t->nodes[c].byte == b) return c;
    int32_t c = new_node(t, b);
    if (c < 0) return -1;
    t->nodes[c].sibling = t->nodes[node].child;
    t->nodes[node].child = c;
    return c;
}

ky_status special_build(ky_vocab *v, const char *path, ky_error *err) {
    tok_trie *t = &v->impl->special;
    memset(t->root_child, 0xff, sizeof t->root_child);
    if (new_node(t, 0) != 0) goto nomem;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        uint8_t a = v->attr[id];
        if (a != KY_TOKEN_CONTROL && a != KY_TOKEN_USER_DEFINED && a != KY_TOKEN_UNKNOWN) continue;
        if (v->text_len[id] == 0) continue;
        const uint8_t *s = (const uint8_t *)v->text[id];
        int32_t node = 0;
        for (uint32_t i = 0; i < v->text_len[id]; i++)
            if ((node = child(t, node, s[i])) < 0) goto nomem;
        if (t->nodes[node].token < 0) t->nodes[node].token = id; /* first id wins */
    }
    return KY_OK;
nomem:
    return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory for the special-token matcher", path);
}

void special_free(tok_trie *t) {
    free(t->nodes);
    t->nodes = NULL;
    t->n_nodes = t->cap = 0;
}

bool special_find(const tok_trie *t, const uint8_t *s, size_t n, size_t *start, size_t *len,
                  ky_token *id) {
    if (t->n_nodes <= 1) return false;
    for (size_t p = 0; p < n; p++) {
        int32_t node = t->root_child[s[p]];
        if (node < 0) continue;
        int32_t best = -1;
        size_t best_len = 0, q = p + 1;
        for (;;) {
            if (t->nodes[node].token >= 0) {
                best = t->nodes[node].token;
                best_len = q - p;
            }
            if (q == n) break;
            int32_t c = t->nodes[node].child;
            while (c >= 0 && t->nodes[c].byte != s[q]) c = t->nodes[c].sibling;
            if (c < 0) break;
            node = c;
            q++;
        }
        if (best >= 0) {
            *start = p;
            *len = best_len;
            *id = best;
            return true;
        }
    }
    return false;
}
