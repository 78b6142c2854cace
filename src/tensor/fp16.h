/* fp16.h — IEEE half and bfloat16 conversions (layer: tensor).
 *
 * Portable bit-exact conversions (round to nearest even; NaN/Inf preserved). Inline because
 * reference kernels call them per element.
 */
#ifndef KY_TENSOR_FP16_H
#define KY_TENSOR_FP16_H

#include <stdint.h>
#include <string.h>

static inline float ky_bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t ky_f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float ky_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0x1F) return ky_bits_to_f32(sign | 0x7F800000u | (man << 13)); /* inf/nan */
    if (exp == 0) {
        if (man == 0) return ky_bits_to_f32(sign);
        /* subnormal: man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return ky_bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static inline uint16_t ky_f32_to_f16(float f) {
    uint32_t x = ky_f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7C00 | (ax > 0x7F800000u ? 0x200 | ((ax >> 13) & 0x3FF) : 0));
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {                                  /* below the smallest normal */
        if (ax < 0x33000000u) return (uint16_t)sign;         /* < 2^-25: rounds to 0 */
        uint32_t e = ax >> 23, m = (ax & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = ax - 0x38000000u; /* rebias exponent 127 -> 15 (in the shifted position) */
    uint32_t half = r >> 13, rem = r & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)(sign | half);
}

static inline float ky_bf16_to_f32(uint16_t h) { return ky_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t ky_f32_to_bf16(float f) {
    uint32_t x = ky_f32_to_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    return (uint16_t)((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

#endif
