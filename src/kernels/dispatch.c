/* dispatch.c — run-time choice of the kernel table (layer: kernels).
 *
 * Builds every table this CPU can run once (pthread_once), best first, and picks one: the best,
 * or the tier named by the KY_KERNELS environment variable (generic|avx2|avx512|vnni|neon|
 * dotprod, or the table names that bench and the load summary print: avx512-vnni, neon-dotprod);
 * a tier the CPU lacks is refused with a warning on stderr and the best is used. Only
 * the host architecture's tier constructors exist in the build (the Makefile's ISA_EXCLUDE).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_int.h"
#include "os/sys.h"

#if defined(__x86_64__) || defined(__i386__)
#define KY_KERNELS_X86 1
#elif defined(__aarch64__)
#define KY_KERNELS_ARM 1
#endif

enum { MAX_TABLES = 4 };

typedef struct tier {
    const char *env_name; /* KY_KERNELS spelling */
    const char *alias;    /* the table's printed name when it differs, also accepted */
    void (*fill)(ky_kernel_table *t);
    bool (*usable)(const ky_cpu_features *f);
} tier;

#ifdef KY_KERNELS_X86
static bool has_avx2(const ky_cpu_features *f) { return f->avx2 && f->fma && f->f16c; }
static bool has_avx512(const ky_cpu_features *f) {
    return has_avx2(f) && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq;
}
static bool has_vnni(const ky_cpu_features *f) { return has_avx512(f) && f->avx512vnni; }
static const tier k_tiers[] = {
    {"vnni", "avx512-vnni", kernels_fill_vnni, has_vnni},
    {"avx512", NULL, kernels_fill_avx512, has_avx512},
    {"avx2", NULL, kernels_fill_avx2, has_avx2},
};
#elif defined(KY_KERNELS_ARM)
static bool has_neon(const ky_cpu_features *f) { return f->neon; }
static bool has_dotprod(const ky_cpu_features *f) { return f->neon && f->dotprod; }
static const tier k_tiers[] = {
    {"dotprod", "neon-dotprod", kernels_fill_dotprod, has_dotprod},
    {"neon", NULL, kernels_fill_neon, has_neon},
};
#else
static const tier k_tiers[1] = {{NULL, NULL, NULL, NULL}};
#endif
enum { N_TIERS = sizeof k_tiers / sizeof k_tiers[0] };
_Static_assert((int)N_TIERS < (int)MAX_TABLES, "g_tables holds every tier plus the generic one");

/* Whether want names tier t (either spelling). */
static bool tier_named(const tier *t, const char *want) {
    return want && t->env_name &&
           (strcmp(want, t->env_name) == 0 || (t->alias && strcmp(want, t->alias) == 0));
}

static ky_kernel_table g_tables[MAX_TABLES];
static int g_n_tables;
static const ky_kernel_table *g_chosen;
static ky_kernel_table g_generic;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
    const ky_cpu_features *f = ky_cpu_get_features();
    kernels_fill_generic(&g_generic);
    int chosen = -1;
    const char *want = getenv("KY_KERNELS");
    if (want && !*want) want = NULL;
    bool named = false; /* want names a tier of this architecture */
    for (int i = 0; i < (int)N_TIERS; i++) {
        bool is_want = tier_named(&k_tiers[i], want);
        named |= is_want;
        if (!k_tiers[i].fill || !k_tiers[i].usable(f)) {
            if (is_want)
                fprintf(stderr, "kaiyuan: KY_KERNELS=%s: this CPU lacks it; using the best tier\n",
                        want);
            continue;
        }
        if (is_want) chosen = g_n_tables;
        k_tiers[i].fill(&g_tables[g_n_tables++]);
    }
    g_tables[g_n_tables++] = g_generic;
    if (want && strcmp(want, "generic") == 0)
        chosen = g_n_tables - 1;
    else if (want && !named)
        fprintf(stderr, "kaiyuan: KY_KERNELS=%s: unknown tier; using the best tier\n", want);
    g_chosen = &g_tables[chosen >= 0 ? chosen : 0];
}

const ky_kernel_table *ky_kernels(void) {
    pthread_once(&g_once, init_tables);
    return g_chosen;
}

const ky_kernel_table *ky_kernels_generic(void) {
    pthread_once(&g_once, init_tables);
    return &g_generic;
}

int ky_kernels_available(const ky_kernel_table **out, int cap) {
    pthread_once(&g_once, init_tables);
    int n = 0;
    for (int i = 0; i < g_n_tables && n < cap; i++) out[n++] = &g_tables[i];
    return n;
}

const char *ky_kernels_name(void) { return ky_kernels()->name; }

uint32_t ky_kernels_act_type(uint32_t wtype) {
    switch (wtype) {
    case KY_TYPE_F32: return KY_TYPE_F32;
    case KY_TYPE_F16: return KY_TYPE_F16;   /* F32 storage, values rounded to f16 */
    case KY_TYPE_BF16: return KY_TYPE_BF16; /* F32 storage, values rounded to bf16 */
    case KY_TYPE_Q4_0:
    case KY_TYPE_Q5_0:
    case KY_TYPE_Q8_0: return KY_TYPE_Q8_0;
    case KY_TYPE_Q4_1:
    case KY_TYPE_Q5_1: return KY_TYPE_Q8_1;
    case KY_TYPE_Q2_K:
    case KY_TYPE_Q3_K:
    case KY_TYPE_Q4_K:
    case KY_TYPE_Q5_K:
    case KY_TYPE_Q6_K: return KY_TYPE_Q8_K;
    default: return KY_TYPE_COUNT;
    }
}

size_t ky_kernels_act_row_bytes(uint32_t act_type, int64_t n) {
    switch (act_type) {
    case KY_TYPE_F32:
    case KY_TYPE_F16:
    case KY_TYPE_BF16: return (size_t)n * sizeof(float);
    case KY_TYPE_Q8_0: return (size_t)(n / QK8_0) * sizeof(block_q8_0);
    case KY_TYPE_Q8_1: return (size_t)(n / QK8_1) * sizeof(block_q8_1);
    case KY_TYPE_Q8_K: return (size_t)(n / QK_K) * sizeof(block_q8_K);
    default: return 0;
    }
}
