/* types.c — the type traits table (layer: tensor). Sizes follow ggml's block layouts. */
#include "tensor/types.h"

#include <stddef.h>

#include "base/checked.h"

static const ky_type_traits k_traits[KY_TYPE_COUNT] = {
    [KY_TYPE_F32] = {"f32", 1, 4, false, true},
    [KY_TYPE_F16] = {"f16", 1, 2, false, true},
    [KY_TYPE_Q4_0] = {"q4_0", 32, 18, true, true},
    [KY_TYPE_Q4_1] = {"q4_1", 32, 20, true, true},
    [4] = {"q4_2", 0, 0, false, false}, /* removed from ggml; ids kept reserved */
    [5] = {"q4_3", 0, 0, false, false},
    [KY_TYPE_Q5_0] = {"q5_0", 32, 22, true, true},
    [KY_TYPE_Q5_1] = {"q5_1", 32, 24, true, true},
    [KY_TYPE_Q8_0] = {"q8_0", 32, 34, true, true},
    [KY_TYPE_Q8_1] = {"q8_1", 32, 36, true, false},
    [KY_TYPE_Q2_K] = {"q2_K", 256, 84, true, true},
    [KY_TYPE_Q3_K] = {"q3_K", 256, 110, true, true},
    [KY_TYPE_Q4_K] = {"q4_K", 256, 144, true, true},
    [KY_TYPE_Q5_K] = {"q5_K", 256, 176, true, true},
    [KY_TYPE_Q6_K] = {"q6_K", 256, 210, true, true},
    [KY_TYPE_Q8_K] = {"q8_K", 256, 292, true, false},
    [16] = {"iq2_xxs", 256, 66, true, false},
    [17] = {"iq2_xs", 256, 74, true, false},
    [18] = {"iq3_xxs", 256, 98, true, false},
    [19] = {"iq1_s", 256, 50, true, false},
    [20] = {"iq4_nl", 32, 18, true, false},
    [21] = {"iq3_s", 256, 110, true, false},
    [22] = {"iq2_s", 256, 82, true, false},
    [23] = {"iq4_xs", 256, 136, true, false},
    [24] = {"i8", 1, 1, false, false},
    [25] = {"i16", 1, 2, false, false},
    [26] = {"i32", 1, 4, false, false},
    [27] = {"i64", 1, 8, false, false},
    [28] = {"f64", 1, 8, false, false},
    [29] = {"iq1_m", 256, 56, true, false},
    [KY_TYPE_BF16] = {"bf16", 1, 2, false, true},
    [34] = {"tq1_0", 256, 54, true, false},
    [35] = {"tq2_0", 256, 66, true, false},
    [39] = {"mxfp4", 32, 17, true, false},
};

const ky_type_traits *ky_type_get_traits(uint32_t type) {
    if (type >= KY_TYPE_COUNT || k_traits[type].name == NULL || k_traits[type].block_size == 0)
        return NULL;
    return &k_traits[type];
}

bool ky_type_row_bytes(uint32_t type, int64_t n, uint64_t *bytes) {
    const ky_type_traits *t = ky_type_get_traits(type);
    if (!t || n < 0 || (uint64_t)n % t->block_size != 0) return false;
    return !ky_mul_overflow_u64((uint64_t)n / t->block_size, t->type_size, bytes);
}

const char *ky_type_name(uint32_t type) {
    const ky_type_traits *t = ky_type_get_traits(type);
    return t ? t->name : NULL;
}

bool ky_type_is_supported(uint32_t type) {
    const ky_type_traits *t = ky_type_get_traits(type);
    return t && t->supported;
}
