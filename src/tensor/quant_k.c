/* quant_k.c — reference quantizers for the K-quant super-block types Q2_K..Q6_K and the Q8_K
 * activation type (layer: tensor).
 *
 * These reproduce llama.cpp's quantize_row_*_ref (the path llama-quantize takes without an
 * importance matrix) operation by operation — search loops, float expression order, ties — so the
 * bytes match llama.cpp's files exactly. Each sub-block first gets a float scale (and min) from a
 * small least-squares search; the scales are then quantized to 4/6/8 bits against one f16
 * super-scale, and every element is finally re-rounded against its quantized sub-block scale.
 * Files must be compiled without floating-point contraction (no FMA fusing), as the Makefile does.
 */
#include "tensor/quant.h"

#include <math.h>
#include <string.h>

#include "tensor/fp16.h"

#ifdef __clang__
#pragma clang fp contract(off)
#endif

#define GROUP_MAX_EPS 1e-15f /* below this a group counts as all zero */

/* Round to nearest, ties to even, for |f| <= 2^22 - 1: adding 1.5 * 2^23 leaves the integer in
 * the low mantissa bits (llama.cpp's nearest_int; kept for identical results at any input). */
static inline int nearest_int(float f) {
    float v = f + 12582912.0f;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (int)(u & 0x007FFFFF) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The value of largest magnitude in x[0..n), keeping its sign; *amax gets its magnitude. */
static float signed_absmax(const float *x, int n, float *amax) {
    float max = 0.0f;
    *amax = 0.0f;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > *amax) {
            *amax = ax;
            max = x[i];
        }
    }
    return max;
}

/* Weighted sums of x·l and l² for l = clamp(nearest(iscale*x), -nmax, nmax-1), w = x². */
static void qx_sums(int n, int nmax, const float *x, float iscale, float *sumlx, float *suml2) {
    *sumlx = *suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        *sumlx += w * x[i] * (float)l;
        *suml2 += w * (float)l * (float)l;
    }
}

/* Symmetric quantization of x[0..n) to L in 0..2*nmax-1 (value (L - nmax) * scale), minimising
 * sum x²·(x - scale·l)² over 19 candidate scales around -nmax/max (llama.cpp make_qx_quants with
 * rmse_type 1 and no importance weights). Returns the scale; an all-zero group gives L = 0 and 0. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1) + nmax);
    float sumlx, suml2;
    qx_sums(n, nmax, x, iscale, &sumlx, &suml2);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        qx_sums(n, nmax, x, iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1) + nmax);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric quantization for Q3_K (llama.cpp make_q3_quants with do_rmse): start from
 * l = nearest(-nmax/max · x), then up to 5 sweeps of coordinate descent, each moving single
 * elements to the level that best fits the current weighted least-squares scale (w = x²).
 * L gets l + nmax (0..2*nmax-1). Returns the least-squares scale. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                int new_l = clampi(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric quantization of x[0..n) to L in 0..nmax with value scale·L - the_min (llama.cpp
 * make_qkx2_quants): min is clamped to <= 0; candidate inverse scales
 * (rmin + rdelta·is + nmax)/(max - min), is = 0..nstep, each refitted by weighted least squares,
 * are kept when they lower the weighted error (|diff| if use_mad, else diff²). Returns the scale
 * and *the_min (>= 0). Laux[n] is scratch. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* qs layout shared by Q2_K and Q3_K: per 128 elements, 32 bytes; element r goes to byte r%32 at
 * bits 2*(r/32). L[256] holds 2-bit values. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < QK_K; h += 128)
        for (int l = 0; l < 32; l++)
            qs[h / 4 + l] = (uint8_t)(L[h + l] | (L[h + l + 32] << 2) | (L[h + l + 64] << 4) |
                                      (L[h + l + 96] << 6));
}

/* Q2_K: each 16-element sub-block gets (scale, min) from make_qkx2_quants with weights |x|; both
 * are quantized to 4 bits against d = max_scale/15 and dmin = max_min/15; then every element is
 * re-rounded against its quantized scale and min. */
void ky_quantize_row_q2_K(const float *x, block_q2_K *y, int64_t n) {
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = ky_f32_to_f16(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = ky_f32_to_f16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = ky_f32_to_f16(max_min / q4scale);
        } else {
            y[i].dmin = ky_f32_to_f16(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = ky_f16_to_f32(y[i].d) * (float)(y[i].scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = ky_f16_to_f32(y[i].dmin) * (float)(y[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)clampi(nearest_int((x[16 * j + l] + dm) / d), 0, 3);
        }
        pack_2bit(L, y[i].qs);
    }
}

/* Q3_K: each 16-element sub-block gets a signed scale from make_q3_quants; scales are quantized
 * to 6 bits (-32..31) against d = max_scale/-32 (max_scale = the scale of largest magnitude);
 * then elements are re-rounded to -4..3. The 3rd bit goes to hmask (bit e/32 of byte e%32). */
void ky_quantize_row_q3_K(const float *x, block_q3_K *y, int64_t n) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale != 0.0f) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int l = clampi((int8_t)nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 0xF);
                else
                    y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                y[i].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = ky_f32_to_f16(1 / iscale);
        } else {
            y[i].d = ky_f32_to_f16(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = ky_f16_to_f32(y[i].d) * (float)ky_q3k_scale(j, y[i].scales);
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(clampi(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
        }
        uint8_t L2[QK_K];
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int e = 0; e < QK_K; e++) {
            L2[e] = (uint8_t)L[e];
            if (L2[e] > 3) {
                y[i].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
                L2[e] -= 4;
            }
        }
        pack_2bit(L2, y[i].qs);
    }
}

/* Packs eight 6-bit scales and mins of Q4_K/Q5_K into 12 bytes (inverse of ky_q4k_scale_min):
 * j < 4: scale in byte j, min in byte j+4 (low 6 bits); j >= 4: low 4 bits of scale and min in
 * byte j+4, their top 2 bits in bits 6-7 of bytes j-4 and j. */
static void pack_scale_min_k4(const uint8_t ls[8], const uint8_t lm[8], uint8_t s[12]) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-element sub-block, weights
 * sqrt(mean x²) + |x|, make_qkx2_quants with the type's search grid; scales and mins quantized to
 * 6 bits against d = max_scale/63, dmin = max_min/63; elements re-rounded to 0..nmax into L. */
static void quantize_k4_block(const float *x, int nmax, float rmin, float rdelta, int nstep,
                              uint8_t L[QK_K], uint8_t scales12[12], ky_f16 *d16, ky_f16 *dmin16) {
    uint8_t Laux[32], ls[8], lm[8];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                     rmin, rdelta, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        /* uint8 wrap-around of a negative value is part of the reference behaviour */
        ls[j] = (uint8_t)nearest_int(inv_scale * scales[j]);
        lm[j] = (uint8_t)nearest_int(inv_min * mins[j]);
        if (ls[j] > 63) ls[j] = 63;
        if (lm[j] > 63) lm[j] = 63;
    }
    pack_scale_min_k4(ls, lm, scales12);
    *d16 = ky_f32_to_f16(max_scale / 63.f);
    *dmin16 = ky_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        ky_q4k_scale_min(j, scales12, &sc, &m);
        const float d = ky_f16_to_f32(*d16) * (float)sc;
        if (d == 0.0f) continue;
        const float dm = ky_f16_to_f32(*dmin16) * (float)m;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)clampi(nearest_int((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

void ky_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_k4_block(x, 15, -1.f, 0.1f, 20, L, y[i].scales, &y[i].d, &y[i].dmin);
        /* per 64 elements, 32 bytes: low nibble = first 32, high nibble = next 32 */
        for (int c = 0; c < QK_K / 64; c++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + l + 32] << 4));
    }
}

void ky_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_k4_block(x, 31, -0.5f, 0.1f, 15, L, y[i].scales, &y[i].d, &y[i].dmin);
        /* low 4 bits as Q4_K; the 5th bit of element e is bit e/32 of qh[e%32] */
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < QK_K / 64; c++) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[64 * c + l], l2 = L[64 * c + l + 32];
                y[i].qh[l] |= (uint8_t)(((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1)));
                y[i].qs[32 * c + l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
        }
    }
}

/* Q6_K: each 16-element sub-block gets a signed scale from make_qx_quants (nmax 32); scales are
 * quantized to int8 against d = max_scale/-128 (capped at 127); elements re-rounded to -32..31
 * and stored +32 as 4 low bits (ql) and 2 high bits (qh). */
void ky_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = ky_f32_to_f16(1 / iscale);
        for (int j = 0; j < QK_K / 16; j++) {
            int v = nearest_int(iscale * scales[j]);
            y[i].scales[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = ky_f16_to_f32(y[i].d) * (float)y[i].scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(clampi(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }
        /* per 128 elements: quarter c = r/32 of element r takes nibble c/2 of ql[32*(c%2) + r%32]
         * and bits 2c..2c+1 of qh[r%32] */
        for (int h = 0; h < QK_K / 128; h++) {
            const int8_t *Lh = L + 128 * h;
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                  ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

void ky_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax, max = signed_absmax(x, QK_K, &amax);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}
