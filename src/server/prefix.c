/* prefix.c — bookkeeping of cached token prefixes per sequence (layer: server). */
#include "server/prefix.h"

#include <stdlib.h>
#include <string.h>

bool prefix_pool_init(prefix_pool *p, int32_t n_seq, int32_t n_ctx) {
    memset(p, 0, sizeof *p);
    p->n_seq = n_seq;
    p->n_ctx = n_ctx;
    p->tokens = calloc((size_t)n_seq * (size_t)n_ctx, sizeof *p->tokens);
    p->len = calloc((size_t)n_seq, sizeof *p->len);
    p->busy = calloc((size_t)n_seq, sizeof *p->busy);
    p->stamp = calloc((size_t)n_seq, sizeof *p->stamp);
    return p->tokens && p->len && p->busy && p->stamp;
}

void prefix_pool_free(prefix_pool *p) {
    free(p->tokens);
    free(p->len);
    free(p->busy);
    free(p->stamp);
    memset(p, 0, sizeof *p);
}

int32_t prefix_n_idle(const prefix_pool *p) {
    int32_t n = 0;
    for (int32_t s = 0; s < p->n_seq; s++) n += !p->busy[s];
    return n;
}

int32_t prefix_best(const prefix_pool *p, const ky_token *prompt, size_t n, int32_t *lcp) {
    int32_t best = -1, best_len = 0;
    for (int32_t s = 0; s < p->n_seq; s++) {
        const ky_token *t = p->tokens + (size_t)s * (size_t)p->n_ctx;
        int32_t k = 0, lim = p->len[s] < (int64_t)n ? p->len[s] : (int32_t)n;
        while (k < lim && t[k] == prompt[k]) k++;
        if (k == 0) continue;
        bool better = k > best_len;
        if (k == best_len && best >= 0) {
            if (p->busy[best] != p->busy[s])
                better = !p->busy[s];
            else
                better = p->stamp[s] > p->stamp[best];
        }
        if (better) {
            best = s;
            best_len = k;
        }
    }
    *lcp = best_len;
    return best;
}

int32_t prefix_take(prefix_pool *p) {
    int32_t pick = -1;
    for (int32_t s = 0; s < p->n_seq; s++) {
        if (p->busy[s]) continue;
        if (p->len[s] == 0) {
            pick = s;
            break;
        }
        if (pick < 0 || p->stamp[s] < p->stamp[pick]) pick = s;
    }
    if (pick >= 0) p->busy[pick] = true;
    return pick;
}

void prefix_claim(prefix_pool *p, int32_t seq) { p->busy[seq] = true; }

void prefix_release(prefix_pool *p, int32_t seq) {
    p->busy[seq] = false;
    p->stamp[seq] = ++p->clock;
}

void prefix_keep(prefix_pool *p, int32_t seq, int32_t n) {
    if (n < p->len[seq]) p->len[seq] = n < 0 ? 0 : n;
}

void prefix_copy(prefix_pool *p, int32_t src, int32_t dst, int32_t n) {
    memmove(p->tokens + (size_t)dst * (size_t)p->n_ctx, p->tokens + (size_t)src * (size_t)p->n_ctx,
            (size_t)n * sizeof *p->tokens);
    p->len[dst] = n;
}

void prefix_append(prefix_pool *p, int32_t seq, ky_token t) {
    if (p->len[seq] < p->n_ctx)
        p->tokens[(size_t)seq * (size_t)p->n_ctx + (size_t)p->len[seq]++] = t;
}

uint64_t prefix_used(const prefix_pool *p) {
    uint64_t n = 0;
    for (int32_t s = 0; s < p->n_seq; s++) n += (uint64_t)p->len[s];
    return n;
}
