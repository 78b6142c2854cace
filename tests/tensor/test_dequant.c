/* test_dequant.c — dequantizers against the shared tiny-llama models, hand-built blocks, and the
 * Q8_0/Q8_1/Q8_K activation quantizers on hand-computed cases.
 *
 * The tiny-llama-TYPE.gguf files were quantized by llama.cpp from the weights in
 * tiny-llama-f32.gguf, so each dequantized tensor must lie within its format's error bound of the
 * f32 tensor (bounds and why: qcheck.h), each type's RMS error must stay under a ceiling, and the
 * tensors llama.cpp kept in F32 (norms) must be the f32 file's bits. Measured errors are printed
 * as "# ..." lines.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "qcheck.h"
#include "tensor/fp16.h"
#include "tensor/quant.h"
#include "test.h"

static const char *const k_files[] = {"f16",  "bf16", "q8_0",   "q4_0",   "q4_1",   "q5_0",
                                      "q5_1", "q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"};

static ky_gguf *open_model(const char *type) {
    char rel[128];
    snprintf(rel, sizeof rel, "models/tiny-llama-%s.gguf", type);
    ky_gguf *g = NULL;
    ky_error err;
    if (ky_gguf_open(ky_test_shared(rel), &g, &err) != KY_OK) {
        fprintf(stderr, "cannot open %s\n", rel);
        return NULL;
    }
    return g;
}

/* RMS error / RMS of the weights that each type's dequantized tiny-llama tensors must stay under:
 * the measured value (f16 2.1e-4, bf16 1.7e-3, q8_0 0.0053, q4_0 0.086, q4_1 0.078, q5_0 0.043,
 * q5_1 0.038, q2_K 0.30, q3_K 0.15, q4_K 0.071, q5_K 0.036, q6_K 0.018) with ~12% margin. The
 * files are fixed, so only a dequantizer change moves these; a decoder that loses the quant bits
 * lands near 1. */
static double rms_ceiling(uint32_t type) {
    switch (type) {
    case KY_TYPE_F16: return 2.4e-4;
    case KY_TYPE_BF16: return 1.9e-3;
    case KY_TYPE_Q8_0: return 0.006;
    case KY_TYPE_Q4_0: return 0.096;
    case KY_TYPE_Q4_1: return 0.088;
    case KY_TYPE_Q5_0: return 0.048;
    case KY_TYPE_Q5_1: return 0.043;
    case KY_TYPE_Q2_K: return 0.33;
    case KY_TYPE_Q3_K: return 0.17;
    case KY_TYPE_Q4_K: return 0.08;
    case KY_TYPE_Q5_K: return 0.041;
    case KY_TYPE_Q6_K: return 0.02;
    default: return 0;
    }
}

/* Where a K-quant block's probed step is not 0 it must equal the step qc_k_step decodes from the
 * scale bytes (up to f32 rounding of lo + step): keeps the step == 0 guard's decoder honest.
 * Returns the number of mismatching elements. */
static int64_t k_step_mismatches(uint32_t type, const uint8_t *q, int64_t n) {
    qc_layout L;
    if (!qc_get_layout(type, &L) || isnan(qc_k_step(type, q, 0))) return 0;
    const ky_type_traits *t = ky_type_get_traits(type);
    float lo[256], step[256];
    int64_t bad = 0;
    for (int64_t b = 0; b < n / t->block_size; b++) {
        const uint8_t *blk = q + (size_t)b * t->type_size;
        qc_block_grid(type, &L, blk, lo, step);
        for (uint32_t j = 0; j < t->block_size; j++) {
            double ks = fabs(qc_k_step(type, blk, j)), st = fabs(step[j]);
            if (st != 0 && fabs(st - ks) > (fabs(lo[j]) + ks) * 0x1p-22) bad++;
        }
    }
    return bad;
}

/* Every tensor of every quantized tiny-llama file against the same tensor of the F32 file:
 * non-F32 tensors dequantized within their bounds, F32 tensors bit for bit. */
static void test_dequant_tiny_llama(void) {
    static qc_stats stats[KY_TYPE_COUNT];
    memset(stats, 0, sizeof stats);
    int64_t n_f32_tensors = 0;
    ky_gguf *f32 = open_model("f32");
    REQUIRE(f32);
    for (size_t f = 0; f < sizeof k_files / sizeof k_files[0]; f++) {
        ky_gguf *q = open_model(k_files[f]);
        CHECK(q);
        if (!q) continue;
        for (int64_t i = 0; i < ky_gguf_n_tensors(q); i++) {
            ky_gguf_tensor_info ti, fi;
            REQUIRE(ky_gguf_tensor(q, i, &ti) == KY_OK);
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)ti.name_len, ti.name);
            int64_t fidx = ky_gguf_find_tensor(f32, name);
            REQUIRE(fidx >= 0 && ky_gguf_tensor(f32, fidx, &fi) == KY_OK);
            REQUIRE(fi.type == KY_TYPE_F32 && memcmp(fi.ne, ti.ne, sizeof fi.ne) == 0);
            if (ti.type == KY_TYPE_F32) {
                CHECKF(ti.n_bytes == fi.n_bytes && !memcmp(ti.data, fi.data, (size_t)fi.n_bytes),
                       "%s: F32 tensor %s differs from tiny-llama-f32.gguf", k_files[f], name);
                n_f32_tensors++;
                continue;
            }
            int64_t n = (int64_t)(fi.n_bytes / 4);
            float *y = malloc((size_t)n * sizeof *y);
            REQUIRE(y);
            CHECKF(ky_dequantize_row(ti.type, ti.data, y, n), "%s %s", k_files[f], name);
            qc_stats s = {0};
            qc_check_row(ti.type, ti.data, fi.data, y, n, &s);
            CHECKF(s.n == n && s.n_bad == 0,
                   "%s: %s (%s): %lld of %lld elements over the bound (%lld with a zero step "
                   "in a sub-block whose scale is not 0)",
                   k_files[f], name, ky_type_name(ti.type), (long long)s.n_bad, (long long)n,
                   (long long)s.n_flat);
            int64_t mism = k_step_mismatches(ti.type, ti.data, n);
            CHECKF(mism == 0, "%s: %s (%s): %lld probed steps differ from the stored scales",
                   k_files[f], name, ky_type_name(ti.type), (long long)mism);
            qc_stats *t = &stats[ti.type];
            t->n += s.n;
            t->n_bad += s.n_bad;
            t->sum_sq += s.sum_sq;
            t->sum_x2 += s.sum_x2;
            t->max_abs = fmax(t->max_abs, s.max_abs);
            t->max_steps = fmax(t->max_steps, s.max_steps);
            free(y);
        }
        ky_gguf_close(q);
    }
    ky_gguf_close(f32);
    static const uint32_t expect[] = {KY_TYPE_F16,  KY_TYPE_BF16, KY_TYPE_Q8_0, KY_TYPE_Q4_0,
                                      KY_TYPE_Q4_1, KY_TYPE_Q5_0, KY_TYPE_Q5_1, KY_TYPE_Q2_K,
                                      KY_TYPE_Q3_K, KY_TYPE_Q4_K, KY_TYPE_Q5_K, KY_TYPE_Q6_K};
    for (size_t k = 0; k < sizeof expect / sizeof expect[0]; k++) {
        const qc_stats *st = &stats[expect[k]];
        CHECKF(st->n > 0, "no %s tensor seen", ky_type_name(expect[k]));
        char what[64];
        snprintf(what, sizeof what, "dequant %s vs f32", ky_type_name(expect[k]));
        qc_print(what, st);
        double rel = st->sum_x2 > 0 ? sqrt(st->sum_sq / st->sum_x2) : INFINITY;
        CHECKF(rel <= rms_ceiling(expect[k]), "%s: rms/rms(x) %g > %g", ky_type_name(expect[k]),
               rel, rms_ceiling(expect[k]));
    }
    /* every file keeps its norms in F32: 2 per layer + output_norm (tiny-llama has 2 layers) */
    printf("# %lld F32 tensors bit-identical to tiny-llama-f32.gguf\n", (long long)n_f32_tensors);
    CHECK(n_f32_tensors >= (int64_t)(sizeof k_files / sizeof k_files[0]) * 5);
}

static void test_dequant_api(void) {
    _Alignas(8) uint8_t src[1024] = {0};
    float dst[256];
    static const uint32_t ok_types[] = {KY_TYPE_F32,  KY_TYPE_F16,  KY_TYPE_BF16, KY_TYPE_Q4_0,
                                        KY_TYPE_Q4_1, KY_TYPE_Q5_0, KY_TYPE_Q5_1, KY_TYPE_Q8_0,
                                        KY_TYPE_Q8_1, KY_TYPE_Q2_K, KY_TYPE_Q3_K, KY_TYPE_Q4_K,
                                        KY_TYPE_Q5_K, KY_TYPE_Q6_K, KY_TYPE_Q8_K};
    for (size_t k = 0; k < sizeof ok_types / sizeof ok_types[0]; k++) {
        uint32_t t = ok_types[k];
        CHECKF(ky_can_dequantize(t), "%u", t);
        CHECKF(ky_dequantize_row(t, src, dst, 256), "%u", t);
        CHECKF(ky_dequantize_row(t, src, dst, 0), "%u", t);
        CHECKF(!ky_dequantize_row(t, src, dst, -256), "%u", t);
        if (ky_type_get_traits(t)->block_size > 1)
            CHECKF(!ky_dequantize_row(t, src, dst, 40), "%u", t);
    }
    static const uint32_t bad_types[] = {4, 5, 16, 20, 23, 24, 29, 39, 40, 1000, UINT32_MAX};
    for (size_t k = 0; k < sizeof bad_types / sizeof bad_types[0]; k++) {
        CHECKF(!ky_can_dequantize(bad_types[k]), "%u", bad_types[k]);
        CHECKF(!ky_dequantize_row(bad_types[k], src, dst, 256), "%u", bad_types[k]);
    }
}

/* Blocks written byte by byte from the layout description in models.md; each value is computed
 * by hand here, independently of dequant.c. */
static void test_dequant_handmade(void) {
    float y[256];
    { /* Q4_0: element j < 16 = low nibble of qs[j], j >= 16 = high nibble of qs[j-16]; (q-8)*d */
        block_q4_0 b = {.d = 0x4000}; /* 2.0 */
        for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
        ky_dequantize_row_q4_0(&b, y, 32);
        for (int j = 0; j < 16; j++) {
            CHECKF(y[j] == 2.0f * (float)(j - 8), "q4_0 %d: %g", j, y[j]);
            CHECKF(y[j + 16] == 2.0f * (float)(7 - j), "q4_0 %d: %g", j + 16, y[j + 16]);
        }
    }
    { /* Q5_1: 5th bit j = bit j of the little-endian u32 qh; q*d + m */
        block_q5_1 b = {.d = 0x3800 /* 0.5 */, .m = 0xBC00 /* -1 */};
        uint32_t qh = 0x80000001u; /* elements 0 and 31 */
        memcpy(b.qh, &qh, 4);
        for (int j = 0; j < 16; j++) b.qs[j] = 0xF3;
        ky_dequantize_row_q5_1(&b, y, 32);
        CHECK(y[0] == (3 + 16) * 0.5f - 1);
        CHECK(y[1] == 3 * 0.5f - 1);
        CHECK(y[16] == 15 * 0.5f - 1);
        CHECK(y[31] == (15 + 16) * 0.5f - 1);
    }
    {                                 /* Q8_0 with a negative f16 scale */
        block_q8_0 b = {.d = 0xB800}; /* -0.5 */
        for (int j = 0; j < 32; j++) b.qs[j] = (int8_t)(j * 8 - 128);
        ky_dequantize_row_q8_0(&b, y, 32);
        for (int j = 0; j < 32; j++) CHECKF(y[j] == -0.5f * (float)(j * 8 - 128), "q8_0 %d", j);
    }
    { /* Q3_K: scale of sub-block 13 = low nibble in the high half of byte 5, high 2 bits in
       * bits 6..7 of byte 9 (8 + 13%4 = 9, shift 2*(13/4) = 6); stored 0 means -32. */
        block_q3_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;              /* 1.0 */
        b.scales[5] = 0x70;        /* sub-block 13 low 4 bits = 7 */
        b.scales[9] = 0x80;        /* sub-block 13 high bits = 2 -> 0x27 = 39 -> +7 */
        memset(b.hmask, 0xFF, 32); /* no "-4" anywhere */
        b.qs[32 + (208 % 128) % 32] = (uint8_t)(3 << (2 * ((208 % 128) / 32))); /* element 208 */
        ky_dequantize_row_q3_K(&b, y, 256);
        CHECKF(y[208] == 7.0f * 3.0f, "q3_K 208: %g", y[208]);
        CHECKF(y[209] == 0.0f && y[0] == 0.0f, "q3_K zero elements");
        b.hmask[208 % 32] &= (uint8_t) ~(1u << (208 / 32)); /* clear its high bit: q = 3 - 4 */
        ky_dequantize_row_q3_K(&b, y, 256);
        CHECKF(y[208] == -7.0f, "q3_K 208 with hmask clear: %g", y[208]);
        CHECKF(y[0] == -32.0f * 0.0f, "q3_K sub-block 0 scale -32, q 0");
    }
    { /* Q4_K: sub-block 6 has scale (byte 10 low nibble | byte 2 bits 6-7 << 4) and min
       * (byte 10 high nibble | byte 6 bits 6-7 << 4). Elements 192..223 = low nibbles of qs[96..127]. */
        block_q4_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;        /* 1.0 */
        b.dmin = 0x3800;     /* 0.5 */
        b.scales[10] = 0x95; /* scale low 5, min low 9 */
        b.scales[2] = 0x80;  /* scale high 2 -> 37 */
        b.scales[6] = 0x40;  /* min high 1 -> 25 */
        b.qs[96 + 4] = 0x3C; /* element 196: q 12; element 228: q 3 (sub-block 7, scale 0) */
        ky_dequantize_row_q4_K(&b, y, 256);
        CHECKF(y[196] == 37.0f * 12 - 0.5f * 25, "q4_K 196: %g", y[196]);
        CHECKF(y[197] == -0.5f * 25, "q4_K 197: %g", y[197]);
        CHECKF(y[228] == 0.0f, "q4_K 228: %g", y[228]);
    }
    { /* Q6_K: element 200 = half 1, r 72, quarter 2, l 8: low 4 bits = high nibble of ql[64+8],
       * high 2 bits = bits 4-5 of qh[32+8]; scale = scales[12]. */
        block_q6_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3400; /* 0.25 */
        b.scales[12] = -3;
        b.ql[64 + 8] = 0xA0; /* low bits 10 */
        b.qh[32 + 8] = 0x20; /* high bits 2 -> q = 42 - 32 = 10 */
        ky_dequantize_row_q6_K(&b, y, 256);
        CHECKF(y[200] == 0.25f * -3.0f * 10.0f, "q6_K 200: %g", y[200]);
        CHECKF(y[201] == 0.25f * -3.0f * -32.0f, "q6_K 201: %g", y[201]);
        CHECKF(y[0] == 0.0f, "q6_K 0 (scale 0): %g", y[0]);
    }
    { /* Q2_K: element 77 = half 0, byte 77%32 = 13, bits 2*(77/32) = 4; sub-block 4 */
        block_q2_K b;
        memset(&b, 0, sizeof b);
        b.d = 0x3C00;
        b.dmin = 0x4000;    /* 2.0 */
        b.scales[4] = 0x35; /* scale 5, min 3 */
        b.qs[13] = 2 << 4;
        ky_dequantize_row_q2_K(&b, y, 256);
        CHECKF(y[77] == 5.0f * 2 - 2.0f * 3, "q2_K 77: %g", y[77]);
        CHECKF(y[78] == -6.0f, "q2_K 78: %g", y[78]);
    }
}

/* ---- activation quantizers ------------------------------------------------------------------- */

static void test_q8_0_activation(void) {
    float x[64];
    /* block 0: amax 127 -> d = 1, id = 1; ties at .5 round away from zero (roundf) */
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) + 0.5f;
    x[0] = -127.0f;
    /* block 1: all zero -> d = 0, q = 0 */
    for (int j = 32; j < 64; j++) x[j] = 0.0f;
    block_q8_0 y[2], z[2];
    ky_quantize_row_q8_0(x, y, 64);
    CHECK(y[0].d == 0x3C00);
    CHECK(y[0].qs[0] == -127);
    for (int j = 1; j < 32; j++) {
        float v = (float)(j - 16) + 0.5f;
        CHECKF(y[0].qs[j] == (int8_t)(v > 0 ? v + 0.5f : v - 0.5f), "q8_0 tie %d: %d", j,
               y[0].qs[j]);
    }
    CHECK(y[1].d == 0);
    for (int j = 0; j < 32; j++) CHECK(y[1].qs[j] == 0);
    /* the x86 AVX variant rounds ties to even */
    ky_quantize_row_q8_0_x86(x, z, 64);
    CHECK(z[0].d == 0x3C00);
    for (int j = 1; j < 32; j++) {
        float v = (float)(j - 16) + 0.5f;
        CHECKF(z[0].qs[j] == (int8_t)nearbyintf(v), "q8_0_x86 tie %d: %d", j, z[0].qs[j]);
    }
    /* random rows: scale is f16(amax/127); every value within 0.5 step + f16 rounding of d */
    qc_seed(1);
    float r[4096];
    block_q8_0 q[128];
    for (int rep = 0; rep < 8; rep++) {
        for (int i = 0; i < 4096; i++) r[i] = qc_gauss() * (rep + 1) * 0.1f;
        ky_quantize_row_q8_0(r, q, 4096);
        for (int b = 0; b < 128; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(r[32 * b + j]));
            CHECK(q[b].d == ky_f32_to_f16(amax / 127));
            float d = ky_f16_to_f32(q[b].d);
            for (int j = 0; j < 32; j++)
                CHECK(fabsf((float)q[b].qs[j] * d - r[32 * b + j]) <= 0.5625f * d);
        }
    }
}

static void test_q8_1_activation(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) + 0.5f; /* ties; amax 15.5 */
    block_q8_1 y;
    ky_quantize_row_q8_1(x, &y, 32);
    const float d = 15.5f / 127;
    CHECK(y.d == ky_f32_to_f16(d));
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        CHECKF(y.qs[j] == (int8_t)roundf(x[j] * (1.0f / d)), "q8_1 %d", j);
        sum += y.qs[j];
    }
    CHECK(y.qs[0] == -127 && y.qs[31] == 127);
    CHECK(y.s == ky_f32_to_f16((float)sum * d)); /* s uses the unrounded d */
    qc_seed(2);
    for (int rep = 0; rep < 100; rep++) {
        for (int j = 0; j < 32; j++) x[j] = qc_gauss() + 0.3f;
        ky_quantize_row_q8_1(x, &y, 32);
        block_q8_0 z;
        ky_quantize_row_q8_0(x, &z, 32);
        CHECK(z.d == y.d && memcmp(z.qs, y.qs, 32) == 0); /* same quants as Q8_0 */
        float amax = 0;
        sum = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        for (int j = 0; j < 32; j++) sum += y.qs[j];
        CHECK(y.s == ky_f32_to_f16((float)sum * (amax / 127)));
        block_q8_1 w;
        ky_quantize_row_q8_1_x86(x, &w, 32);
        for (int j = 0; j < 32; j++) CHECK(abs(w.qs[j] - y.qs[j]) <= 1);
    }
}

static void test_q8_K_activation(void) {
    float x[512];
    /* block 0: largest magnitude +127 -> iscale -1, d = -1: q = nearest-even(-x) */
    for (int j = 0; j < 256; j++) x[j] = (float)((j % 16) - 8) + 0.5f; /* ties at .5 */
    x[100] = 127.0f;
    /* block 1: all zero */
    for (int j = 256; j < 512; j++) x[j] = 0.0f;
    block_q8_K y[2];
    memset(y, 0xAA, sizeof y);
    ky_quantize_row_q8_K(x, y, 512);
    CHECK(y[0].d == -1.0f);
    CHECK(y[0].qs[100] == -127);
    for (int j = 0; j < 256; j++) {
        if (j == 100) continue;
        CHECKF(y[0].qs[j] == (int8_t)nearbyintf(-x[j]), "q8_K %d: %d for %g", j, y[0].qs[j], x[j]);
    }
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int l = 0; l < 16; l++) sum += y[0].qs[16 * g + l];
        CHECKF(y[0].bsums[g] == sum, "bsums[%d]", g);
    }
    CHECK(y[1].d == 0.0f);
    for (int j = 0; j < 256; j++) CHECK(y[1].qs[j] == 0);
    for (int g = 0; g < 16; g++) CHECK(y[1].bsums[g] == 0);
    /* random: d = 1/(-127/max); every element within half a step (d is stored as f32) */
    qc_seed(3);
    for (int rep = 0; rep < 20; rep++) {
        for (int j = 0; j < 512; j++) x[j] = qc_gauss() * 3.0f;
        ky_quantize_row_q8_K(x, y, 512);
        for (int b = 0; b < 2; b++) {
            float amax = 0, max = 0;
            for (int j = 0; j < 256; j++)
                if (fabsf(x[256 * b + j]) > amax) amax = fabsf(max = x[256 * b + j]);
            CHECK(y[b].d == 1 / (-127.f / max));
            for (int j = 0; j < 256; j++)
                CHECK(fabsf(y[b].d * (float)y[b].qs[j] - x[256 * b + j]) <=
                      0.5001f * fabsf(y[b].d));
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int l = 0; l < 16; l++) sum += y[b].qs[16 * g + l];
                CHECK(y[b].bsums[g] == sum);
            }
        }
    }
}

int main(void) {
    RUN(test_dequant_tiny_llama);
    RUN(test_dequant_api);
    RUN(test_dequant_handmade);
    RUN(test_q8_0_activation);
    RUN(test_q8_1_activation);
    RUN(test_q8_K_activation);
    TEST_EXIT();
}
