/* pool.c — persistent fork-join thread pool with a spin-then-sleep wait (layer: os).
 *
 * Join protocol: the caller publishes fn/arg, opens generation g (open = g, then generation = g)
 * and runs fn itself. A worker that sees generation g increments n_active and only then checks
 * open == g: if so it runs fn and decrements n_active, else (closed already) it just decrements.
 * When its own fn returns the caller closes (open = 0) and waits until n_active is 0. With
 * sequentially consistent operations either the worker sees the close or the caller sees the
 * worker, so fn/arg stay valid for every worker that runs them, and nobody waits for a worker
 * that never woke up. */
#define _GNU_SOURCE
#include "os/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

/* Workers spin this many pause iterations (~0.1-0.5 ms) for the next run before sleeping; the
 * caller yields its time slice after YIELD_AFTER iterations of waiting, so an oversubscribed
 * machine (more runnable threads than cores) does not burn whole slices spinning. */
#define SPIN_ITERS  (1 << 14)
#define YIELD_AFTER (1 << 10)

struct ky_pool {
    int n_threads;
    pthread_t *threads;
    struct worker *workers;
    ky_pool_fn fn;
    void *arg;
    atomic_uint generation; /* id of the latest operation (never 0) */
    atomic_uint open;       /* id of the operation workers may join, 0 when closed */
    atomic_int n_active;    /* workers inside (or about to enter) an operation */
    atomic_int n_sleepers;
    atomic_bool stop;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
};

struct worker {
    ky_pool *pool;
    int index;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void *worker_main(void *p) {
    struct worker *w = p;
    ky_pool *pool = w->pool;
    /* 0 = the generation at creation: reading pool->generation here would miss a ky_pool_run
     * issued before this thread got scheduled (it would then wait forever). */
    unsigned seen = 0;
    for (;;) {
        unsigned gen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        for (int i = 0; gen == seen && i < SPIN_ITERS; i++) {
            cpu_relax();
            gen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        }
        if (gen == seen) {
            pthread_mutex_lock(&pool->mutex);
            atomic_fetch_add(&pool->n_sleepers, 1);
            while ((gen = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cond, &pool->mutex);
            atomic_fetch_sub(&pool->n_sleepers, 1);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (atomic_load(&pool->stop)) break;
        seen = gen;
        atomic_fetch_add(&pool->n_active, 1);
        if (atomic_load(&pool->open) == gen) pool->fn(pool->arg, w->index, pool->n_threads);
        atomic_fetch_sub(&pool->n_active, 1);
    }
    return NULL;
}

ky_status ky_pool_create(int n_threads, ky_pool **out, ky_error *err) {
    if (n_threads < 1 || n_threads > KY_MAX_THREADS)
        return ky_errf(err, KY_ERR_INVALID_ARG, "thread count %d outside [1, %d]", n_threads,
                       KY_MAX_THREADS);
    ky_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return ky_errf(err, KY_ERR_NOMEM, "out of memory creating thread pool");
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->cond, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->open, 0);
    atomic_init(&pool->n_active, 0);
    atomic_init(&pool->n_sleepers, 0);
    atomic_init(&pool->stop, false);
    if (n_threads > 1) {
        pool->threads = calloc((size_t)n_threads, sizeof *pool->threads);
        pool->workers = calloc((size_t)n_threads, sizeof *pool->workers);
        if (!pool->threads || !pool->workers) {
            ky_pool_free(pool);
            return ky_errf(err, KY_ERR_NOMEM, "out of memory creating thread pool");
        }
        for (int i = 1; i < n_threads; i++) {
            pool->workers[i].pool = pool;
            pool->workers[i].index = i;
            if (pthread_create(&pool->threads[i], NULL, worker_main, &pool->workers[i]) != 0) {
                pool->n_threads = i; /* join only what started */
                ky_pool_free(pool);
                return ky_errf(err, KY_ERR_INTERNAL, "cannot start worker thread %d", i);
            }
        }
    }
    *out = pool;
    return KY_OK;
}

void ky_pool_free(ky_pool *pool) {
    if (!pool) return;
    if (pool->threads) {
        pthread_mutex_lock(&pool->mutex);
        atomic_store(&pool->stop, true);
        atomic_fetch_add(&pool->generation, 1);
        pthread_cond_broadcast(&pool->cond);
        pthread_mutex_unlock(&pool->mutex);
        for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    }
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->cond);
    free(pool->threads);
    free(pool->workers);
    free(pool);
}

int ky_pool_size(const ky_pool *pool) { return pool->n_threads; }

void ky_pool_run(ky_pool *pool, ky_pool_fn fn, void *arg) {
    int n = pool->n_threads;
    if (n == 1) {
        fn(arg, 0, 1);
        return;
    }
    /* No worker is inside an operation here (the previous run waited for them), and a late one
     * only reads fn/arg after seeing this operation open, so they may be replaced. */
    pool->fn = fn;
    pool->arg = arg;
    unsigned gen = atomic_load(&pool->generation) + 1;
    if (gen == 0) gen = 1;
    atomic_store(&pool->open, gen);
    atomic_store(&pool->generation, gen); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&pool->n_sleepers) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->cond);
        pthread_mutex_unlock(&pool->mutex);
    }
    fn(arg, 0, n);
    atomic_store(&pool->open, 0);
    for (unsigned i = 0; atomic_load(&pool->n_active) > 0; i++) {
        if (i < YIELD_AFTER)
            cpu_relax();
        else
            sched_yield();
    }
}
