/* pool.h — persistent fork-join thread pool (layer: os).
 *
 * ky_pool_run(pool, fn, arg) runs fn(arg, ith, nth) on the caller (ith 0) and on every worker
 * that joins while the operation is open, and returns when all of them have finished: one parallel
 * operation of the forward pass. The caller never waits for a worker that has not started (a
 * descheduled thread on a busy machine): it closes the operation when its own fn returns and only
 * waits for workers already inside fn. So fn must hand out its work dynamically — claim chunks
 * from a shared counter with ky_pool_claim — never partition it statically by ith; ith is only a
 * unique slot index for per-thread scratch. Workers spin briefly between operations, then sleep on
 * a condition variable, so back-to-back operations cost no system call and an idle pool no CPU.
 */
#ifndef KY_OS_POOL_H
#define KY_OS_POOL_H

#include <stdbool.h>

#include "base/status.h"

typedef void (*ky_pool_fn)(void *arg, int ith, int nth);

typedef struct ky_pool ky_pool;

/* Creates a pool of n_threads (>= 1; the caller counts as one). Owned by the caller. */
ky_status ky_pool_create(int n_threads, ky_pool **out, ky_error *err);
void ky_pool_free(ky_pool *pool);
int ky_pool_size(const ky_pool *pool);
/* Runs fn on the caller and the workers that join (see above) and waits for those. Not
 * reentrant: fn must not call ky_pool_run. */
void ky_pool_run(ky_pool *pool, ky_pool_fn fn, void *arg);

/* Claims the next chunk of [0, n) from *next (a counter the caller set to 0 before ky_pool_run):
 * returns false when the range is exhausted, else the chunk in [*begin, *end). */
static inline bool ky_pool_claim(long *next, long n, long chunk, long *begin, long *end) {
    long b = __atomic_fetch_add(next, chunk, __ATOMIC_RELAXED);
    if (b >= n) return false;
    *begin = b;
    *end = b + chunk < n ? b + chunk : n;
    return true;
}

/* A chunk size giving each of nth threads about `per_thread` chunks of [0, n) (at least 1). */
static inline long ky_pool_chunk(long n, int nth, int per_thread) {
    long parts = (long)nth * per_thread;
    long c = (n + parts - 1) / parts;
    return c > 0 ? c : 1;
}

#endif
