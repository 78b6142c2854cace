/* types.h — tensor type traits and row sizes (layer: tensor).
 *
 * One table describes every type id kaiyuan knows: llama.cpp's name, elements per block and bytes
 * per block. The GGUF reader uses it to validate tensor sizes; kernels use it to walk rows.
 */
#ifndef KY_TENSOR_TYPES_H
#define KY_TENSOR_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "kaiyuan.h"

typedef struct ky_type_traits {
    const char *name;    /* llama.cpp's name: "f32", "q4_K", ... */
    uint32_t block_size; /* elements per block (1 for plain floats) */
    uint32_t type_size;  /* bytes per block */
    bool quantized;
    bool supported;      /* kaiyuan can dequantize and multiply it */
} ky_type_traits;

/* Traits of a type id, or NULL when the id is unknown. */
const ky_type_traits *ky_type_get_traits(uint32_t type);

/* Bytes of a row of n elements. Returns false when the type is unknown, n is not a multiple of
 * the block size, or the size overflows. */
bool ky_type_row_bytes(uint32_t type, int64_t n, uint64_t *bytes);

#endif
