/* membw.c — measured memory read bandwidth of this machine (benchmark tool; not part of tests).
 *
 * Streams a buffer (default 1 GiB, far beyond the caches) with T threads, each summing its own
 * contiguous slice, like a matrix-vector product reads its weights; reports the best and median
 * GB/s (1e9 bytes/s) of several passes as one JSON object. bench/compare relates token-generation
 * speed to it. Built by `make membw` with -O3 -march=native so the loop is vectorized.
 *
 *   build/bench/membw [--threads T] [--mb SIZE] [--reps R]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct slice {
    const uint64_t *p;
    size_t n; /* uint64 words */
    uint64_t sum;
} slice;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sums a slice. An integer reduction: compilers vectorize it at -O3 (no dependency on order). */
static void *read_slice(void *arg) {
    slice *s = arg;
    uint64_t t = 0;
    for (size_t i = 0; i < s->n; i++) t += s->p[i];
    s->sum = t;
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long arg_long(const char *s, long lo, long hi) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "membw: '%s' must be an integer in [%ld, %ld]\n", s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    long threads = sysconf(_SC_NPROCESSORS_ONLN), mb = 1024, reps = 5;
    if (threads < 1) threads = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && (!strcmp(argv[i], "--threads") || !strcmp(argv[i], "-t")))
            threads = arg_long(argv[++i], 1, 256);
        else if (i + 1 < argc && !strcmp(argv[i], "--mb"))
            mb = arg_long(argv[++i], 16, 1 << 20);
        else if (i + 1 < argc && (!strcmp(argv[i], "--reps") || !strcmp(argv[i], "-r")))
            reps = arg_long(argv[++i], 1, 1000);
        else {
            fprintf(stderr, "usage: membw [--threads T] [--mb SIZE] [--reps R]\n");
            return 2;
        }
    }
    size_t bytes = (size_t)mb << 20, words = bytes / sizeof(uint64_t);
    uint64_t *buf = aligned_alloc(64, bytes);
    slice *sl = calloc((size_t)threads, sizeof *sl);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    double *gbs = calloc((size_t)reps, sizeof *gbs);
    if (!buf || !sl || !tid || !gbs) {
        fprintf(stderr, "membw: cannot allocate %ld MiB\n", mb);
        return 1;
    }
    for (size_t i = 0; i < words; i++) buf[i] = i * 0x9E3779B97F4A7C15ull; /* fault every page */
    size_t per = (words / (size_t)threads) & ~(size_t)7;
    uint64_t check = 0;
    for (long r = -1; r < reps; r++) { /* r = -1: warm-up */
        for (long t = 0; t < threads; t++) {
            sl[t].p = buf + (size_t)t * per;
            sl[t].n = t == threads - 1 ? words - (size_t)t * per : per;
        }
        double t0 = now();
        for (long t = 1; t < threads; t++) pthread_create(&tid[t], NULL, read_slice, &sl[t]);
        read_slice(&sl[0]);
        for (long t = 1; t < threads; t++) pthread_join(tid[t], NULL);
        double dt = now() - t0;
        for (long t = 0; t < threads; t++) check += sl[t].sum;
        if (r >= 0) gbs[r] = (double)bytes / dt / 1e9;
    }
    qsort(gbs, (size_t)reps, sizeof *gbs, cmp_double);
    double median = reps % 2 ? gbs[reps / 2] : (gbs[reps / 2 - 1] + gbs[reps / 2]) / 2;
    printf(
        "{\"threads\": %ld, \"bytes\": %zu, \"reps\": %ld, \"gb_s\": %.3f, \"gb_s_median\": %.3f, "
        "\"gb_s_min\": %.3f, \"checksum\": %llu}\n",
        threads, bytes, reps, gbs[reps - 1], median, gbs[0], (unsigned long long)(check & 0xFF));
    free(buf);
    free(sl);
    free(tid);
    free(gbs);
    return 0;
}
