/* pool.h — persistent fork-join thread pool (layer: os).
 *
 * ky_pool_run(pool, fn, arg) calls fn(arg, i, n) once on each of the n pool threads (the caller
 * is thread 0) and returns when all have finished: one parallel operation of the forward pass.
 * Workers spin for a short while between operations, then sleep on a condition variable, so
 * back-to-back operations cost no system call and an idle pool costs no CPU.
 */
#ifndef KY_OS_POOL_H
#define KY_OS_POOL_H

#include "base/status.h"

typedef void (*ky_pool_fn)(void *arg, int ith, int nth);

typedef struct ky_pool ky_pool;

/* Creates a pool of n_threads (>= 1; the caller counts as one). Owned by the caller. */
ky_status ky_pool_create(int n_threads, ky_pool **out, ky_error *err);
void ky_pool_free(ky_pool *pool);
int ky_pool_size(const ky_pool *pool);
/* Runs fn on every pool thread and waits. Not reentrant: fn must not call ky_pool_run. */
void ky_pool_run(ky_pool *pool, ky_pool_fn fn, void *arg);

/* Splits [0, n) into nth near-equal contiguous ranges and returns range ith in [*begin, *end). */
static inline void ky_split_range(long n, int ith, int nth, long *begin, long *end) {
    long base = n / nth, rem = n % nth;
    *begin = ith * base + (ith < rem ? ith : rem);
    *end = *begin + base + (ith < rem ? 1 : 0);
}

#endif
