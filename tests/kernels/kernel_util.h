/* kernel_util.h — random weight/activation generators shared by the kernel tests and bench.
 *
 * Header-only (static functions) so each test program stays a single file. Weights are random
 * bytes with their f16 scale fields overwritten by sane values, which is a valid block of every
 * quantized type.
 */
#ifndef KY_TEST_KERNEL_UTIL_H
#define KY_TEST_KERNEL_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/types.h"

static uint64_t kt_rng_state = 0x9E3779B97F4A7C15ull;
static inline uint64_t kt_rand(void) {
    uint64_t x = kt_rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return kt_rng_state = x;
}
/* Uniform in [-1, 1). */
static inline float kt_randf(void) { return (float)((kt_rand() >> 40) * (2.0 / 16777216.0) - 1.0); }

static const uint32_t kt_weight_types[] = {
    KY_TYPE_F32,  KY_TYPE_F16,  KY_TYPE_BF16, KY_TYPE_Q4_0, KY_TYPE_Q4_1,
    KY_TYPE_Q5_0, KY_TYPE_Q5_1, KY_TYPE_Q8_0, KY_TYPE_Q2_K, KY_TYPE_Q3_K,
    KY_TYPE_Q4_K, KY_TYPE_Q5_K, KY_TYPE_Q6_K,
};
enum { KT_N_TYPES = sizeof kt_weight_types / sizeof kt_weight_types[0] };

static inline void kt_put_f16(uint8_t *p, float v) {
    uint16_t h = ky_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* Fills one row of n elements of `type` at dst with random valid data. */
static inline void kt_random_row(uint32_t type, uint8_t *dst, int64_t n) {
    const ky_type_traits *tr = ky_type_get_traits(type);
    int64_t nb = n / tr->block_size;
    if (type == KY_TYPE_F32) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = kt_randf();
        return;
    }
    if (type == KY_TYPE_F16 || type == KY_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h =
                type == KY_TYPE_F16 ? ky_f32_to_f16(kt_randf()) : ky_f32_to_bf16(kt_randf());
            memcpy(dst + 2 * i, &h, 2);
        }
        return;
    }
    for (int64_t i = 0; i < nb * (int64_t)tr->type_size; i++) dst[i] = (uint8_t)kt_rand();
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = dst + b * tr->type_size;
        float d = 0.01f * kt_randf(), m = 0.005f * (1.0f + kt_randf());
        switch (type) {
        case KY_TYPE_Q4_0:
        case KY_TYPE_Q5_0:
        case KY_TYPE_Q8_0: kt_put_f16(blk, d); break;
        case KY_TYPE_Q4_1:
        case KY_TYPE_Q5_1:
        case KY_TYPE_Q4_K:
        case KY_TYPE_Q5_K:
            kt_put_f16(blk, d);
            kt_put_f16(blk + 2, m);
            break;
        case KY_TYPE_Q2_K:
            kt_put_f16(blk + 80, d);
            kt_put_f16(blk + 82, m);
            break;
        case KY_TYPE_Q3_K: kt_put_f16(blk + 108, d); break;
        case KY_TYPE_Q6_K: kt_put_f16(blk + 208, d); break;
        default: break;
        }
    }
}

#endif
