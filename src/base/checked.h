/* checked.h — overflow-checked size arithmetic (layer: base).
 *
 * Every size computed from untrusted input (file headers, sockets, user arguments) goes through
 * these helpers. They return true on overflow and leave *out unspecified in that case.
 */
#ifndef KY_BASE_CHECKED_H
#define KY_BASE_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool ky_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline bool ky_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out);
}
static inline bool ky_mul_overflow_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline bool ky_add_overflow_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out);
}
/* Rounds x up to a multiple of align (align > 0). Returns true on overflow. */
static inline bool ky_align_up_u64(uint64_t x, uint64_t align, uint64_t *out) {
    uint64_t rem = x % align;
    if (rem == 0) {
        *out = x;
        return false;
    }
    return __builtin_add_overflow(x, align - rem, out);
}

#endif
