/* sys.c — monotonic clock, physical core count and CPU feature detection (layer: os).
 *
 * Feature bits come from CPUID (x86, including the OS's XSAVE support for AVX/AVX-512 state) or
 * from the auxiliary vector (arm64). No ISA-specific code runs here.
 */
#define _GNU_SOURCE
#include "os/sys.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kaiyuan.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KY_X86 1
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#define KY_ARM64 1
#endif

double ky_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int32_t ky_physical_cores(void) {
    /* Count distinct (physical id, core id) pairs in /proc/cpuinfo; fall back to online CPUs. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    int n_pairs = 0;
    if (f) {
        enum { MAXP = 1024 };
        int seen[MAXP][2];
        char line[512];
        int phys = 0;
        while (fgets(line, sizeof line, f)) {
            int v;
            if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
            if (sscanf(line, "core id : %d", &v) == 1) {
                int found = 0;
                for (int i = 0; i < n_pairs; i++)
                    if (seen[i][0] == phys && seen[i][1] == v) found = 1;
                if (!found && n_pairs < MAXP) {
                    seen[n_pairs][0] = phys;
                    seen[n_pairs][1] = v;
                    n_pairs++;
                }
            }
        }
        fclose(f);
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    if (n_pairs < 1 || n_pairs > online) return (int32_t)online;
    return n_pairs;
}

static ky_cpu_features g_features;
static int g_features_ready;

static void detect(ky_cpu_features *f) {
    memset(f, 0, sizeof *f);
#ifdef KY_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((unsigned long long)hi << 32) | lo;
    }
    bool ymm_os = (xcr0 & 0x6) == 0x6;
    bool zmm_os = (xcr0 & 0xE6) == 0xE6;
    if (!avx || !ymm_os) {
        f->fma = f->f16c = false;
        return;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f->avx2 = (b >> 5) & 1;
        if (zmm_os) {
            f->avx512f = (b >> 16) & 1;
            f->avx512dq = (b >> 17) & 1;
            f->avx512bw = (b >> 30) & 1;
            f->avx512vl = (b >> 31) & 1;
            f->avx512vnni = (c >> 11) & 1;
        }
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        f->avxvnni = (a >> 4) & 1;
        if (zmm_os) f->avx512bf16 = (a >> 5) & 1;
    }
#endif
#ifdef KY_ARM64
    unsigned long hw = getauxval(AT_HWCAP);
    f->neon = true;
    f->dotprod = (hw & (1ul << 20)) != 0; /* HWCAP_ASIMDDP */
#endif
}

const ky_cpu_features *ky_cpu_get_features(void) {
    if (!__atomic_load_n(&g_features_ready, __ATOMIC_ACQUIRE)) {
        ky_cpu_features f;
        detect(&f);
        g_features = f;
        __atomic_store_n(&g_features_ready, 1, __ATOMIC_RELEASE);
    }
    return &g_features;
}
