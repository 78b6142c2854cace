/* qcheck.h — shared helpers of the tensor tests: per-element quantization grids, error bounds
 * derived from each format, error statistics, and a seeded random generator.
 *
 * The grid of an element (the values its block can represent there: lo + k*step, k = 0..levels-1)
 * is found by probing the dequantizer with the block's quant bits set to levels 0 and 1, so the
 * checks need no second decoder of the scale packing, yet a wrong layout still fails them: the
 * error is then measured against the true f32 weights. One exception: a probed step of 0 is only
 * believed when the K-quant sub-block's stored scale is 0 (qc_k_step decodes it), else a
 * dequantizer that ignores the quant bits would pass.
 */
#ifndef KY_TEST_QCHECK_H
#define KY_TEST_QCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tensor/fp16.h"
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
    int levels; /* 2^bits; 0 for types without a grid */
    int n_regions;
    qc_region r[2];
} qc_layout;

#define QC_R(T, field, n, l0, l1) \
    { offsetof(T, field), n, l0, l1 }
static const qc_layout qc_layouts[KY_TYPE_COUNT] = {
    [KY_TYPE_Q4_0] = {16, 1, {QC_R(block_q4_0, qs, 16, 0, 0x11)}},
    [KY_TYPE_Q4_1] = {16, 1, {QC_R(block_q4_1, qs, 16, 0, 0x11)}},
    [KY_TYPE_Q5_0] = {32, 2, {QC_R(block_q5_0, qh, 4, 0, 0), QC_R(block_q5_0, qs, 16, 0, 0x11)}},
    [KY_TYPE_Q5_1] = {32, 2, {QC_R(block_q5_1, qh, 4, 0, 0), QC_R(block_q5_1, qs, 16, 0, 0x11)}},
    [KY_TYPE_Q8_0] = {256, 1, {QC_R(block_q8_0, qs, 32, 0x80, 0x81)}},
    [KY_TYPE_Q2_K] = {4, 1, {QC_R(block_q2_K, qs, 64, 0, 0x55)}},
    [KY_TYPE_Q3_K] = {8, 2, {QC_R(block_q3_K, hmask, 32, 0, 0), QC_R(block_q3_K, qs, 64, 0, 0x55)}},
    [KY_TYPE_Q4_K] = {16, 1, {QC_R(block_q4_K, qs, 128, 0, 0x11)}},
    [KY_TYPE_Q5_K] = {32, 2, {QC_R(block_q5_K, qh, 32, 0, 0), QC_R(block_q5_K, qs, 128, 0, 0x11)}},
    [KY_TYPE_Q6_K] = {64, 2, {QC_R(block_q6_K, ql, 128, 0, 0x11), QC_R(block_q6_K, qh, 64, 0, 0)}},
};
#undef QC_R

static inline bool qc_get_layout(uint32_t type, qc_layout *L) {
    if (type >= KY_TYPE_COUNT || qc_layouts[type].levels == 0) return false;
    *L = qc_layouts[type];
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

/* The step of element j's K-quant sub-block as the stored scales give it (super-block scale d
 * times the sub-block scale; Q3_K stores scale + 32), decoded from the bytes independently of
 * dequant.c (layouts: llama.cpp's dequantize_row_*_K). 0 exactly when d or the sub-block scale is
 * 0; NAN for types that are not K-quants. */
static inline double qc_k_step(uint32_t type, const uint8_t *block, uint32_t j) {
    switch (type) {
    case KY_TYPE_Q2_K: { /* 16 sub-blocks of 16: low nibble of scales[j/16] */
        const block_q2_K *b = (const block_q2_K *)block;
        return (double)ky_f16_to_f32(b->d) * (b->scales[j / 16] & 0xF);
    }
    case KY_TYPE_Q3_K: { /* 16 sub-blocks of 16: 4 low bits from scales[0..7] (low nibble for
                          * 0..7, high for 8..15), 2 high bits from scales[8 + sb%4] */
        const block_q3_K *b = (const block_q3_K *)block;
        uint32_t sb = j / 16;
        int lo4 = sb < 8 ? b->scales[sb] & 0xF : b->scales[sb - 8] >> 4;
        int hi2 = (b->scales[8 + sb % 4] >> (2 * (sb / 4))) & 3;
        return (double)ky_f16_to_f32(b->d) * ((lo4 | hi2 << 4) - 32);
    }
    case KY_TYPE_Q4_K:
    case KY_TYPE_Q5_K: { /* 8 sub-blocks of 32: get_scale_min_k4 (same place in both blocks) */
        const block_q4_K *b4 = (const block_q4_K *)block;
        const block_q5_K *b5 = (const block_q5_K *)block;
        const uint8_t *q = type == KY_TYPE_Q4_K ? b4->scales : b5->scales;
        uint16_t d = type == KY_TYPE_Q4_K ? b4->d : b5->d;
        uint32_t sb = j / 32;
        int sc = sb < 4 ? q[sb] & 63 : (q[sb + 4] & 0xF) | ((q[sb - 4] >> 6) << 4);
        return (double)ky_f16_to_f32(d) * sc;
    }
    case KY_TYPE_Q6_K: { /* 16 sub-blocks of 16: int8 scales[j/16] */
        const block_q6_K *b = (const block_q6_K *)block;
        return (double)ky_f16_to_f32(b->d) * b->scales[j / 16];
    }
    default: return NAN;
    }
}

/* ---- statistics ------------------------------------------------------------------------------ */

typedef struct {
    double max_abs, sum_sq, sum_x2;
    double max_steps; /* worst error in units of the element's step (ulp for f16/bf16) */
    int64_t n, n_bad; /* n_bad: elements over their bound (n_flat included) */
    int64_t n_flat;   /* K-quant elements whose probed step is 0 though their scale is not */
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

/* Largest error of rounding a positive scale v to f16: half an ulp, 2^-11 relative in the normal
 * range and 2^-25 absolute below it (with a little slack for v being the rounded value). */
static inline double qc_f16_err(double v) { return fmax(v * 0x1p-11, 0x1p-25) * 1.001; }

/* Checks the dequantized row y[n] of `type` (blocks at q) against the original x[n]; adds every
 * element to s with its bound (st = the element's step, e = qc_f16_err(st), em = qc_f16_err(|m|)):
 *   f16:  half an ulp, |x|*2^-11 (2^-25 below the normal range);  bf16: |x|*2^-8.
 *   Q8_0: half a step for rounding + up to 128 steps' worth of the f16 rounding of d:
 *         0.5*st + 129*e  (= 0.563 st in the normal f16 range).
 *   Q4_0/Q5_0: the -max end maps to +8 (+16) which is clamped to 7 (15): one step, plus 8 (16)
 *         times the f16 error of d:  st + 9e  and  st + 17e.
 *   Q4_1/Q5_1: half a step + 15 (31) times the f16 error of d + the f16 error of m:
 *         0.5*st + 16e + em  and  0.5*st + 32e + em.
 *   K-quants: the quantizer's last pass re-rounds every element against the stored scales, so y
 *         must be the grid point nearest to x: |y - x| <= min_k |lo + k*step - x| (+ 1e-5 of the
 *         grid's span for float evaluation). A probed step of 0 is accepted (then y = lo, the
 *         only grid point) only where the stored sub-block step (qc_k_step) is 0 or too small to
 *         change lo in f32; otherwise the element is counted bad (n_flat): the dequantizer
 *         ignored the quant bits. */
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
            case KY_TYPE_Q8_0: bound = 0.5 * st + 129 * qc_f16_err(st); break;
            case KY_TYPE_Q4_0: bound = st + 9 * qc_f16_err(st); break;
            case KY_TYPE_Q5_0: bound = st + 17 * qc_f16_err(st); break;
            case KY_TYPE_Q4_1: bound = 0.5 * st + 16 * qc_f16_err(st) + qc_f16_err(o); break;
            case KY_TYPE_Q5_1: bound = 0.5 * st + 32 * qc_f16_err(st) + qc_f16_err(o); break;
            default: /* K-quants: nearest grid point */
                if (step[j] == 0.0f) {
                    double ks = fabs(qc_k_step(type, blk, j));
                    bound = fabs((double)lo[j] - x[i]);
                    if (!(ks == 0 || ks < fabs(lo[j]) * 0x1p-24)) {
                        bound = -1; /* always over: counted in n_bad */
                        s->n_flat++;
                    }
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
