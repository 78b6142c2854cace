/* kv_cache.h — per-sequence key/value cache (layer: model).
 *
 * Layout: for each layer, sequence and kv head, keys are stored by position and values transposed
 * (by dimension), so attention is two matrix products over contiguous rows — S = Q·Kᵀ with the
 * keys as rows, O = P·V with the rows of Vᵀ — run by the kernels' GEMMs:
 *     k[layer][seq][kv_head][pos][head_dim]
 *     v[layer][seq][kv_head][head_dim][n_ctx]
 * A sequence's cached positions are always the prefix [0, seq_len); keeping or dropping a prefix
 * only changes seq_len, copying a prefix to another sequence copies its rows. Storage type is F32
 * or F16, chosen at creation; all memory is allocated once.
 */
#ifndef KY_MODEL_KV_CACHE_H
#define KY_MODEL_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct ky_kv_cache {
    uint32_t type; /* KY_TYPE_F32 or KY_TYPE_F16 */
    size_t elem_size;
    int32_t n_layer, n_seq, n_ctx, n_head_kv, head_dim;
    uint8_t *k, *v;     /* see layout above */
    int32_t *seq_len;   /* [n_seq] cached positions per sequence */
    uint64_t bytes;     /* k + v */
} ky_kv_cache;

/* Allocates the cache (zero pages are only touched when written). Errors: KY_ERR_INVALID_ARG for
 * an unsupported type, KY_ERR_NOMEM when the size overflows or allocation fails. */
ky_status ky_kv_init(ky_kv_cache *kv, uint32_t type, int32_t n_layer, int32_t n_seq,
                     int32_t n_ctx, int32_t n_head_kv, int32_t head_dim, ky_error *err);
void ky_kv_free(ky_kv_cache *kv);

/* Index of the (layer, seq, head) slab, each n_ctx * head_dim elements. */
static inline size_t ky_kv_slab(const ky_kv_cache *kv, int32_t il, int32_t s, int32_t h) {
    return ((size_t)il * (size_t)kv->n_seq + (size_t)s) * (size_t)kv->n_head_kv + (size_t)h;
}
/* Pointer to the head_dim key values of (layer, seq, head, pos). */
static inline void *ky_kv_k(const ky_kv_cache *kv, int32_t il, int32_t s, int32_t h, int32_t p) {
    size_t idx = ky_kv_slab(kv, il, s, h) * (size_t)kv->n_ctx + (size_t)p;
    return kv->k + idx * (size_t)kv->head_dim * kv->elem_size;
}
/* Pointer to Vᵀ of (layer, seq, head): head_dim rows of n_ctx values (row d = dimension d). */
static inline void *ky_kv_vt(const ky_kv_cache *kv, int32_t il, int32_t s, int32_t h) {
    size_t idx = ky_kv_slab(kv, il, s, h) * (size_t)kv->n_ctx * (size_t)kv->head_dim;
    return kv->v + idx * kv->elem_size;
}

/* Copies the first n positions of sequence src to dst (all layers and heads); dst_len = n. */
void ky_kv_copy_prefix(ky_kv_cache *kv, int32_t src, int32_t dst, int32_t n);

#endif
