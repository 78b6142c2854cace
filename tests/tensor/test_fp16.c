/* test_fp16.c — exhaustive checks of the f16 and bf16 conversions in tensor/fp16.h.
 *
 * Every 16-bit pattern is decoded against an independent formula and must round-trip; f32 -> f16
 * and f32 -> bf16 are checked at every tie between neighbouring values (round half to even),
 * just below and above each tie, at overflow to infinity, in the subnormal range, and for NaN;
 * f32 -> f16 also against a nearest-value search over all f16 values for random f32 inputs.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qcheck.h"
#include "tensor/fp16.h"
#include "test.h"

static bool f16_is_nan(uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0; }
static bool bf16_is_nan(uint16_t h) { return (h & 0x7F80) == 0x7F80 && (h & 0x7F) != 0; }

/* f16 value from its fields, in double arithmetic (independent of fp16.h) */
static double f16_value(uint16_t h) {
    int sign = h >> 15, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return sign ? -v : v;
}

static float next_up(float f) { return nextafterf(f, INFINITY); }
static float next_down(float f) { return nextafterf(f, -INFINITY); }

static void test_f16_all_patterns(void) {
    int bad_value = 0, bad_trip = 0;
    for (uint32_t h = 0; h <= 0xFFFF; h++) {
        float f = ky_f16_to_f32((uint16_t)h);
        double want = f16_value((uint16_t)h);
        if (f16_is_nan((uint16_t)h)) {
            uint16_t back = ky_f32_to_f16(f);
            bad_value += !isnan(f);
            bad_trip +=
                !f16_is_nan(back) || (back >> 15) != (h >> 15); /* NaN stays NaN, sign kept */
            continue;
        }
        bad_value += (double)f != want || !!signbit(f) != (int)(h >> 15);
        bad_trip += ky_f32_to_f16(f) != h;
    }
    CHECKF(bad_value == 0, "%d f16 patterns decode wrongly", bad_value);
    CHECKF(bad_trip == 0, "%d f16 patterns do not round-trip", bad_trip);
}

static void test_bf16_all_patterns(void) {
    int bad = 0;
    for (uint32_t h = 0; h <= 0xFFFF; h++) {
        float f = ky_bf16_to_f32((uint16_t)h);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        bad += bits != h << 16; /* bf16 is the top half of the f32 */
        uint16_t back = ky_f32_to_bf16(f);
        if (bf16_is_nan((uint16_t)h))
            bad += !bf16_is_nan(back) || (back >> 15) != (h >> 15) || !(back & 0x40); /* quiet */
        else
            bad += back != h;
    }
    CHECKF(bad == 0, "%d bf16 patterns fail", bad);
}

/* For each pair of neighbouring f16 values a < b (both signs): the midpoint (exact in f32) rounds
 * to the one with an even mantissa, the f32 just below/above it to a/b. The pair 65504 / "65536"
 * covers overflow (65520 and above -> inf), the pair 0 / 2^-24 the bottom of the subnormals. */
static void test_f16_rounding(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x7C00; h++) {
        double a = f16_value((uint16_t)h),
               b = h + 1 == 0x7C00 ? 65536.0 : f16_value((uint16_t)(h + 1));
        float mid = (float)((a + b) / 2);
        CHECKF((double)mid == (a + b) / 2, "midpoint of %04x not exact", h);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        for (int sign = 0; sign < 2; sign++) {
            uint16_t s = (uint16_t)(sign << 15);
            float m = sign ? -mid : mid;
            bad += ky_f32_to_f16(m) != (s | even);
            bad += ky_f32_to_f16(sign ? -next_down(mid) : next_down(mid)) != (s | h);
            bad += ky_f32_to_f16(sign ? -next_up(mid) : next_up(mid)) != (s | (h + 1));
        }
    }
    CHECKF(bad == 0, "%d f16 rounding failures", bad);
    CHECK(ky_f32_to_f16(65519.996f) == 0x7BFF);
    CHECK(ky_f32_to_f16(65520.0f) == 0x7C00);
    CHECK(ky_f32_to_f16(1e10f) == 0x7C00 && ky_f32_to_f16(-1e10f) == 0xFC00);
    CHECK(ky_f32_to_f16(FLT_MAX) == 0x7C00 && ky_f32_to_f16(INFINITY) == 0x7C00);
    CHECK(ky_f32_to_f16(-INFINITY) == 0xFC00);
    CHECK(ky_f32_to_f16(0x1p-25f) == 0x0000 && ky_f32_to_f16(next_up(0x1p-25f)) == 0x0001);
    CHECK(ky_f32_to_f16(-0x1p-25f) == 0x8000 && ky_f32_to_f16(-0.0f) == 0x8000);
    CHECK(ky_f32_to_f16(FLT_TRUE_MIN) == 0 && ky_f32_to_f16(0x1p-14f) == 0x0400);
    CHECK(f16_is_nan(ky_f32_to_f16(NAN)) && f16_is_nan(ky_f32_to_f16(-NAN)));
    uint32_t snan = 0x7F800001u; /* payload only in the low bits: must not become inf */
    float fs;
    memcpy(&fs, &snan, 4);
    CHECK(f16_is_nan(ky_f32_to_f16(fs)));
}

static void test_bf16_rounding(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x7F80; h++) {
        /* a = h<<16, b = (h+1)<<16; in f32 bits the midpoint is h<<16 | 0x8000 */
        uint32_t mid_bits = (h << 16) | 0x8000;
        float mid;
        memcpy(&mid, &mid_bits, 4);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        for (int sign = 0; sign < 2; sign++) {
            uint16_t s = (uint16_t)(sign << 15);
            bad += ky_f32_to_bf16(sign ? -mid : mid) != (s | even);
            bad += ky_f32_to_bf16(sign ? -next_down(mid) : next_down(mid)) != (s | h);
            bad += ky_f32_to_bf16(sign ? -next_up(mid) : next_up(mid)) != (s | (h + 1));
        }
    }
    CHECKF(bad == 0, "%d bf16 rounding failures", bad);
    CHECK(ky_f32_to_bf16(FLT_MAX) == 0x7F80); /* rounds up past the largest finite bf16 */
    CHECK(ky_f32_to_bf16(INFINITY) == 0x7F80 && ky_f32_to_bf16(-INFINITY) == 0xFF80);
    CHECK(ky_f32_to_bf16(FLT_TRUE_MIN) == 0x0000 && ky_f32_to_bf16(-FLT_TRUE_MIN) == 0x8000);
    CHECK(ky_f32_to_bf16(0x1p-133f) == 0x0001); /* subnormals are kept, not flushed */
    uint32_t nan_bits[] = {0x7F800001u, 0x7FC00000u, 0xFF800001u, 0x7FFFFFFFu};
    for (size_t i = 0; i < sizeof nan_bits / sizeof nan_bits[0]; i++) {
        float f;
        memcpy(&f, &nan_bits[i], 4);
        uint16_t h = ky_f32_to_bf16(f);
        CHECKF(bf16_is_nan(h) && (h & 0x40) && (h >> 15) == (nan_bits[i] >> 31), "nan %08x -> %04x",
               nan_bits[i], h);
    }
}

/* Nearest f16 by binary search over the sorted positive f16 values; ties to the even pattern. */
static uint16_t f16_nearest_ref(float f, const double *vals) {
    uint16_t s = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (isnan(f)) return 0x7E00;
    if (a >= 65520.0) return s | 0x7C00;
    int lo = 0, hi = 0x7BFF; /* vals[lo] <= a < vals[hi] after the search, or a >= vals[0x7BFF] */
    if (a >= vals[hi]) return s | 0x7BFF;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (vals[mid] <= a)
            lo = mid;
        else
            hi = mid;
    }
    double dl = a - vals[lo], dh = vals[hi] - a;
    if (dl < dh) return s | (uint16_t)lo;
    if (dh < dl) return s | (uint16_t)hi;
    return s | (uint16_t)((lo & 1) ? hi : lo);
}

static void test_f16_random_vs_search(void) {
    static double vals[0x7C00];
    for (int h = 0; h < 0x7C00; h++) vals[h] = f16_value((uint16_t)h);
    const int n = ky_test_sanitized() ? 200000 : 2000000;
    int bad = 0;
    qc_seed(42);
    for (int i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)qc_next();
        if (i % 2)
            bits =
                (bits & 0x807FFFFFu) | ((uint32_t)(96 + qc_next() % 50) << 23); /* near f16 range */
        float f;
        memcpy(&f, &bits, 4);
        if (isnan(f)) continue;
        uint16_t want = f16_nearest_ref(f, vals), got = ky_f32_to_f16(f);
        if (want != got && bad++ < 5)
            fprintf(stderr, "f32 %08x: got %04x want %04x\n", bits, got, want);
    }
    CHECKF(bad == 0, "%d of %d random f32 -> f16 conversions differ", bad, n);
}

int main(void) {
    RUN(test_f16_all_patterns);
    RUN(test_bf16_all_patterns);
    RUN(test_f16_rounding);
    RUN(test_bf16_rounding);
    RUN(test_f16_random_vs_search);
    TEST_EXIT();
}
