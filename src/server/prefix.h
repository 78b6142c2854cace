/* prefix.h — the sequences of the KV cache and what each holds: the prefix cache (layer: server).
 *
 * The engine's context has n_seq sequences (--parallel active ones plus --cache-slots retired
 * ones). The pool mirrors, per sequence, the token at every cached position, so a new request
 * can find the sequence sharing its longest token prefix. Busy sequences belong to a running
 * choice; idle ones keep their tokens until reused, the least recently used first (LRU).
 * The pool only does bookkeeping; the engine makes the matching ky_kv_* calls.
 */
#ifndef KY_SERVER_PREFIX_H
#define KY_SERVER_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaiyuan.h"

typedef struct prefix_pool {
    int32_t n_seq, n_ctx;
    ky_token *tokens; /* (n_seq, n_ctx): tokens[s * n_ctx + p] is position p of sequence s */
    int32_t *len;     /* (n_seq) cached positions */
    bool *busy;       /* (n_seq) owned by a running choice */
    uint64_t *stamp;  /* (n_seq) LRU clock value of the last release */
    uint64_t clock;
} prefix_pool;

/* Allocates the bookkeeping for n_seq sequences of n_ctx positions. false when out of memory
 * (the pool is then freeable). */
bool prefix_pool_init(prefix_pool *p, int32_t n_seq, int32_t n_ctx);
void prefix_pool_free(prefix_pool *p);
/* Number of sequences that are not busy. */
int32_t prefix_n_idle(const prefix_pool *p);
/* The sequence (busy or idle) whose cached tokens share the longest prefix with prompt[0..n),
 * with that length in *lcp; ties prefer idle, then most recently used. -1 (and *lcp 0) when no
 * sequence shares a token. */
int32_t prefix_best(const prefix_pool *p, const ky_token *prompt, size_t n, int32_t *lcp);
/* An idle sequence to own: an empty one first, else the least recently used. -1 when all are
 * busy. Marks it busy. */
int32_t prefix_take(prefix_pool *p);
/* Marks idle sequence seq busy (for in-place reuse). */
void prefix_claim(prefix_pool *p, int32_t seq);
/* Marks seq idle, most recently used. */
void prefix_release(prefix_pool *p, int32_t seq);
/* Mirrors ky_kv_seq_keep(seq, n). */
void prefix_keep(prefix_pool *p, int32_t seq, int32_t n);
/* Mirrors ky_kv_seq_copy(src, dst, n). */
void prefix_copy(prefix_pool *p, int32_t src, int32_t dst, int32_t n);
/* Records that token t was decoded at the next position of seq (len < n_ctx). */
void prefix_append(prefix_pool *p, int32_t seq, ky_token t);
/* Sum of cached positions over all sequences. */
uint64_t prefix_used(const prefix_pool *p);

#endif
