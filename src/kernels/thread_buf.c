/* thread_buf.c — per-thread scratch buffers for the packed GEMMs (layer: kernels).
 *
 * A packed GEMM needs a few hundred KB of panel and activation space per thread. Threads get it
 * on their first packed product (only threads that run prefill pay for it) and it is freed when
 * the thread exits, through one pthread key whose value is the thread's array of slots.
 */
#include <pthread.h>
#include <stdlib.h>

#include "kernels/kernels_int.h"

typedef struct thread_bufs {
    void *buf[KERNELS_BUF_COUNT];
    size_t bytes[KERNELS_BUF_COUNT];
} thread_bufs;

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_key_ok;

static void free_bufs(void *p) {
    thread_bufs *t = p;
    for (int i = 0; i < KERNELS_BUF_COUNT; i++) free(t->buf[i]);
    free(t);
}

static void make_key(void) { g_key_ok = pthread_key_create(&g_key, free_bufs) == 0; }

void *kernels_thread_buffer(int slot, size_t bytes) {
    pthread_once(&g_once, make_key);
    if (!g_key_ok || slot < 0 || slot >= KERNELS_BUF_COUNT) return NULL;
    thread_bufs *t = pthread_getspecific(g_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) return NULL;
        if (pthread_setspecific(g_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    if (t->bytes[slot] < bytes) {
        void *b = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (!b) return NULL;
        free(t->buf[slot]);
        t->buf[slot] = b;
        t->bytes[slot] = bytes;
    }
    return t->buf[slot];
}
