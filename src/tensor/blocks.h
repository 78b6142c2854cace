/* blocks.h — byte layouts of the quantized block types (layer: tensor).
 *
 * Each struct is exactly ggml's block (sizes checked below); f16 fields are raw IEEE half bits.
 * Values: see ../shared/docs/models.md. QK = elements per block.
 */
#ifndef KY_TENSOR_BLOCKS_H
#define KY_TENSOR_BLOCKS_H

#include <stdint.h>

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t ky_f16;  /* IEEE binary16 bits */
typedef uint16_t ky_bf16; /* bfloat16 bits */

typedef struct { ky_f16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;          /* (q-8)*d */
typedef struct { ky_f16 d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;       /* q*d + m */
typedef struct { ky_f16 d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { ky_f16 d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { ky_f16 d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { ky_f16 d, s; int8_t qs[QK8_1]; } block_q8_1; /* s = d * sum(qs) */

typedef struct {
    uint8_t scales[QK_K / 16]; /* low 4 bits scale, high 4 bits min */
    uint8_t qs[QK_K / 4];      /* 2-bit quants */
    ky_f16 d, dmin;
} block_q2_K;

typedef struct {
    uint8_t hmask[QK_K / 8]; /* high bit of each quant */
    uint8_t qs[QK_K / 4];    /* low 2 bits */
    uint8_t scales[12];      /* 16 6-bit scales, shuffled */
    ky_f16 d;
} block_q3_K;

typedef struct {
    ky_f16 d, dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales + 8 6-bit mins */
    uint8_t qs[QK_K / 2];
} block_q4_K;

typedef struct {
    ky_f16 d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;

typedef struct {
    uint8_t ql[QK_K / 2];      /* low 4 bits */
    uint8_t qh[QK_K / 4];      /* high 2 bits */
    int8_t scales[QK_K / 16];  /* 8-bit scales */
    ky_f16 d;
} block_q6_K;

typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16]; /* sum of qs per 16 */
} block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

#endif
