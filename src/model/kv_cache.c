/* kv_cache.c — allocation and prefix copies of the per-sequence KV cache (layer: model). */
#include "model/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "kaiyuan.h"

ky_status ky_kv_init(ky_kv_cache *kv, uint32_t type, int32_t n_layer, int32_t n_seq, int32_t n_ctx,
                     int32_t n_head_kv, int32_t head_dim, ky_error *err) {
    memset(kv, 0, sizeof *kv);
    if (type != KY_TYPE_F32 && type != KY_TYPE_F16)
        return ky_errf(err, KY_ERR_INVALID_ARG, "KV cache type must be f32 or f16");
    kv->type = type;
    kv->elem_size = type == KY_TYPE_F32 ? 4 : 2;
    kv->n_layer = n_layer;
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->n_head_kv = n_head_kv;
    kv->head_dim = head_dim;
    size_t n = kv->elem_size;
    if (ky_mul_overflow_size(n, (size_t)n_layer, &n) ||
        ky_mul_overflow_size(n, (size_t)n_seq, &n) || ky_mul_overflow_size(n, (size_t)n_ctx, &n) ||
        ky_mul_overflow_size(n, (size_t)n_head_kv, &n) ||
        ky_mul_overflow_size(n, (size_t)head_dim, &n) || n > SIZE_MAX / 2)
        return ky_errf(err, KY_ERR_NOMEM, "KV cache size overflows");
    kv->k = calloc(1, n);
    kv->v = calloc(1, n);
    kv->seq_len = calloc((size_t)n_seq, sizeof *kv->seq_len);
    if (!kv->k || !kv->v || !kv->seq_len) {
        ky_kv_free(kv);
        return ky_errf(err, KY_ERR_NOMEM, "cannot allocate a KV cache of %zu bytes", 2 * n);
    }
    kv->bytes = 2 * (uint64_t)n;
    return KY_OK;
}

void ky_kv_free(ky_kv_cache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->seq_len);
    memset(kv, 0, sizeof *kv);
}

void ky_kv_copy_prefix(ky_kv_cache *kv, int32_t src, int32_t dst, int32_t n) {
    if (src != dst && n > 0) {
        size_t es = kv->elem_size, row = (size_t)kv->n_ctx * es;
        size_t k_bytes = (size_t)n * (size_t)kv->head_dim * es;
        for (int32_t il = 0; il < kv->n_layer; il++)
            for (int32_t h = 0; h < kv->n_head_kv; h++) {
                memcpy(ky_kv_k(kv, il, dst, h, 0), ky_kv_k(kv, il, src, h, 0), k_bytes);
                uint8_t *vd = ky_kv_vt(kv, il, dst, h);
                const uint8_t *vs = ky_kv_vt(kv, il, src, h);
                for (int32_t d = 0; d < kv->head_dim; d++)
                    memcpy(vd + (size_t)d * row, vs + (size_t)d * row, (size_t)n * es);
            }
    }
    kv->seq_len[dst] = n;
}
