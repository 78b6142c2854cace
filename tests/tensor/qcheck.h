/* qcheck.h — shared helpers of the tensor tests: per-element quantization grids, error bounds
 * derived from each format, error statistics, and a seeded random generator.
 *
 * The grid of an element (the values its block can represent there: lo + k*step, k = 0..levels-1)
 * is found by probing the dequantizer with the block's quant bits set to levels 0 and 1, so the
 * checks need no second decoder of the scale packing, yet a wrong layout still fails them: the
 * error is then measured against the true f32 weights.
 */
#ifndef KY_TEST_QCHECK_H
#define KY_TEST_QCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tensor/quant.h"
#include "tensor/types.h"

/* ---- seeded xorshift64* and distributions ---------------------------------------------------- */

static uint64_t qc_rng_state = 0x9E3779B97F4A7C15ull;
static inline void qc_seed(uint64_t s) { qc_rng_state = s ? s : 1; }
static inline uint64_t qc_next(void) {
    qc_rng_state ^= qc_rng_state >> 12;
    qc_rng_state ^= qc_rng_state << 25;
    qc_rng_state ^= qc_rng_state >> 27;
    return qc_rng_state * 0x2545F4914F6CDD1Dull;
}
static inline float qc_uniform(void) { return (float)((qc_next() >> 40) * (1.0 / 16777216.0)); }
static inline float qc_gauss(void) {
    float u = qc_uniform() + 1e-7f, v = qc_uniform();
    return sqrtf(-2.0f * logf(u)) * cosf(6.28318530718f * v);
}

/* ---- grids ----------------------------------------------------------------------------------- */

/* A byte range of a block holding quant bits, and the byte values that put every element's
 * quant at level 0 and level 1. */
typedef struct {
    size_t off, len;
    uint8_t level0, level1;
} qc_region;

typedef struct {
    int levels; /* 2^bits */
    int n_regions;
    qc_region r[2];
    bool exact_grid; /* the quantizer re-rounds against the stored (f16) scales: nearest point */
} qc_layout;

static inline bool qc_get_layout(uint32_t type, qc_layout *L) {
    memset(L, 0, sizeof *L);
    switch (type) {
    case KY_TYPE_Q4_0: *L = (qc_layout){16, 1, {{offsetof(block_q4_0, qs), 16, 0, 0x11}}, 0}; break;
    case KY_TYPE_Q4_1: *L = (qc_layout){16, 1, {{offsetof(block_q4_1, qs), 16, 0, 0x11}}, 0}; break;
    case KY_TYPE_Q5_0:
        *L = (qc_layout){
            32,
            2,
            {{offsetof(block_q5_0, qh), 4, 0, 0}, {offsetof(block_q5_0, qs), 16, 0, 0x11}},
            0};
        break;
    case KY_TYPE_Q5_1:
        *L = (qc_layout){
            32,
            2,
            {{offsetof(block_q5_1, qh), 4, 0, 0}, {offsetof(block_q5_1, qs), 16, 0, 0x11}},
            0};
        break;
    case KY_TYPE_Q8_0:
        *L = (qc_layout){256, 1, {{offsetof(block_q8_0, qs), 32, 0x80, 0x81}}, 0};
        break;
    case KY_TYPE_Q2_K: *L = (qc_layout){4, 1, {{offsetof(block_q2_K, qs), 64, 0, 0x55}}, 1}; break;
    case KY_TYPE_Q3_K:
        *L = (qc_layout){
            8,
            2,
            {{offsetof(block_q3_K, hmask), 32, 0, 0}, {offsetof(block_q3_K, qs), 64, 0, 0x55}},
            1};
        break;
    case KY_TYPE_Q4_K:
        *L = (qc_layout){16, 1, {{offsetof(block_q4_K, qs), 128, 0, 0x11}}, 1};
        break;
    case KY_TYPE_Q5_K:
        *L = (qc_layout){
            32,
            2,
            {{offsetof(block_q5_K, qh), 32, 0, 0}, {offsetof(block_q5_K, qs), 128, 0, 0x11}},
            1};
        break;
    case KY_TYPE_Q6_K:
        *L = (qc_layout){
            64,
            2,
            {{offsetof(block_q6_K, ql), 128, 0, 0x11}, {offsetof(block_q6_K, qh), 64, 0, 0}},
            1};
        break;
    default: return false;
    }
    return true;
}

/* lo[] and step[] of the block_size elements of one block (copied into a scratch block). */
static inline void qc_block_grid(uint32_t type, const qc_layout *L, const uint8_t *block, float *lo,
                                 float *step) {
    const ky_type_traits *t = ky_type_get_traits(type);
    _Alignas(16) uint8_t tmp[512];
    float one[256];
    memcpy(tmp, block, t->type_size);
    for (int r = 0; r < L->n_regions; r++) memset(tmp + L->r[r].off, L->r[r].level0, L->r[r].len);
    ky_dequantize_row(type, tmp, lo, t->block_size);
    for (int r = 0; r < L->n_regions; r++) memset(tmp + L->r[r].off, L->r[r].level1, L->r[r].len);
    ky_dequantize_row(type, tmp, one, t->block_size);
    for (uint32_t j = 0; j < t->block_size; j++) step[j] = one[j] - lo[j];
}

/* ---- statistics ------------------------------------------------------------------------------ */

typedef struct {
    double max_abs, sum_sq, sum_x2;
    double max_steps; /* worst error in units of the element's step (ulp for f16/bf16) */
    int64_t n, n_bad; /* n_bad: elements over their bound */
} qc_stats;

static inline void qc_add(qc_stats *s, float x, float y, double bound, double step) {
    double e = fabs((double)y - (double)x);
    if (e > s->max_abs) s->max_abs = e;
    s->sum_sq += e * e;
    s->sum_x2 += (double)x * x;
    s->n++;
    if (step > 0 && e / step > s->max_steps) s->max_steps = e / step;
    if (!(e <= bound)) s->n_bad++;
}

static inline void qc_print(const char *what, const qc_stats *s) {
    printf("# %-30s n=%-8lld max|err|=%-9.3g rms=%-9.3g rms/rms(x)=%-9.3g max err/step=%.3f\n",
           what, (long long)s->n, s->max_abs, s->n ? sqrt(s->sum_sq / s->n) : 0.0,
           s->sum_x2 > 0 ? sqrt(s->sum_sq / s->sum_x2) : 0.0, s->max_steps);
}

/* ---- per-element bounds ---------------------------------------------------------------------- */

/* Checks the dequantized row y[n] of `type` (blocks at q) against the original x[n]; adds every
 * element to s with its bound:
 *   f16:  half an ulp, |x|*2^-11 (2^-25 below the normal range);  bf16: |x|*2^-8.
 *   Q8_0: 0.5 step for rounding + 127 steps * 2^-11 for the f16 rounding of d  -> 0.5625 step.
 *   Q4_0/Q5_0: the -max end maps to +8 (+16) which is clamped to 7 (15): 1 step, + 8 (16) steps
 *         * 2^-11 for the f16 d  -> (1 + 9*2^-11) and (1 + 17*2^-11) steps.
 *   Q4_1/Q5_1: 0.5 step + 15 (31) steps * 2^-11 (f16 d) + |m| * 2^-11 (f16 m), with margin.
 *   K-quants: the quantizer's last pass re-rounds every element against the stored scales, so y
 *         must be the grid point nearest to x: |y - x| <= min_k |lo + k*step - x| (+ 1e-5 of the
 *         grid's span for float evaluation); where the sub-block scale is 0, y = lo. */
static inline void qc_check_row(uint32_t type, const void *q, const float *x, const float *y,
                                int64_t n, qc_stats *s) {
    if (type == KY_TYPE_F16 || type == KY_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            double ax = fabs(x[i]);
            double b =
                type == KY_TYPE_F16 ? fmax(ax * 0x1p-11, 0x1p-25) : fmax(ax * 0x1p-8, 0x1p-133);
            double ulp =
                type == KY_TYPE_F16 ? fmax(ax * 0x1p-10, 0x1p-24) : fmax(ax * 0x1p-7, 0x1p-133);
            qc_add(s, x[i], y[i], b, ulp);
        }
        return;
    }
    qc_layout L;
    if (!qc_get_layout(type, &L)) return;
    const ky_type_traits *t = ky_type_get_traits(type);
    float lo[256], step[256];
    for (int64_t b = 0; b < n / t->block_size; b++) {
        const uint8_t *blk = (const uint8_t *)q + (size_t)b * t->type_size;
        qc_block_grid(type, &L, blk, lo, step);
        for (uint32_t j = 0; j < t->block_size; j++) {
            int64_t i = b * t->block_size + j;
            double st = fabs(step[j]), o = fabs(lo[j]), bound;
            double slack = 1e-6 * fabs(x[i]) + 1e-30;
            switch (type) {
            case KY_TYPE_Q8_0: bound = 0.5625 * st; break;
            case KY_TYPE_Q4_0: bound = (1 + 9 * 0x1p-11) * st; break;
            case KY_TYPE_Q5_0: bound = (1 + 17 * 0x1p-11) * st; break;
            case KY_TYPE_Q4_1: bound = (0.5 + 16 * 0x1p-11) * st + 0x1p-10 * o; break;
            case KY_TYPE_Q5_1: bound = (0.5 + 32 * 0x1p-11) * st + 0x1p-10 * o; break;
            default: /* K-quants: nearest grid point */
                if (step[j] == 0.0f) {
                    bound = fabs((double)lo[j] - x[i]);
                } else {
                    double k = nearbyint(((double)x[i] - lo[j]) / step[j]);
                    if (k < 0) k = 0;
                    if (k > L.levels - 1) k = L.levels - 1;
                    bound = fabs((double)lo[j] + k * step[j] - x[i]);
                    slack += 1e-5 * (o + L.levels * st);
                }
                break;
            }
            qc_add(s, x[i], y[i], bound + slack, st);
        }
    }
}

#endif
