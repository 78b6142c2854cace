/* sys.h — clock, CPU facts and feature detection (layer: os). */
#ifndef KY_OS_SYS_H
#define KY_OS_SYS_H

#include <stdbool.h>
#include <stdint.h>

/* CPU features relevant to kernel dispatch, detected once (thread-safe after first call). */
typedef struct ky_cpu_features {
    bool avx2, fma, f16c;                         /* x86 AVX2 tier */
    bool avx512f, avx512bw, avx512vl, avx512dq;   /* x86 AVX-512 tier */
    bool avx512vnni, avxvnni, avx512bf16;         /* x86 dot-product extras */
    bool neon, dotprod;                           /* arm64 */
} ky_cpu_features;

const ky_cpu_features *ky_cpu_get_features(void);

#endif
