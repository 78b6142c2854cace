/* tok_map.c — hash maps of the tokenizer: token text → id and merge pair → rank (layer:
 * tokenizer).
 *
 * Both are open-addressing tables with linear probing, sized to a power of two at most half
 * full. The string hash is seeded once per process (ASLR address and clock) by the first vocab
 * load, so a crafted vocabulary cannot be built to collide in every process.
 */
#include "tokenizer/tok_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t tok_hash_seed;
static pthread_once_t g_seed_once = PTHREAD_ONCE_INIT;

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static void seed_init(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s =
        (uint64_t)(uintptr_t)&tok_hash_seed ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
    tok_hash_seed = mix64(s) | 1;
}

/* Smallest power of two >= 4/3 * n (at least 16): load factor at most 0.75. */
static uint32_t table_size(size_t n) {
    uint32_t s = 16;
    while (s < n + n / 3 + 1 && s < (1u << 31)) s <<= 1;
    return s;
}

static uint32_t make_tag(uint64_t h, size_t n) {
    return (uint32_t)(h >> 32 & 0xFFFFFF00u) | (uint32_t)(n < 255 ? n : 255);
}

static uint64_t make_head(const void *s, size_t n) {
    uint64_t w = 0;
    memcpy(&w, s, n < 8 ? n : 8);
    return w;
}

ky_status tok_map_build(ky_vocab *v, const char *path, ky_error *err) {
    pthread_once(&g_seed_once, seed_init);
    tok_strmap *m = &v->impl->map;
    uint32_t slots = table_size((size_t)v->n_tokens);
    m->mask = slots - 1;
    m->slot = malloc((size_t)slots * sizeof *m->slot);
    if (!m->slot) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory for the token map", path);
    for (uint32_t i = 0; i < slots; i++) m->slot[i] = (tok_strslot){0, -1, 0};
    for (int32_t t = 0; t < v->n_tokens; t++) {
        uint32_t len = v->text_len[t];
        if (len > v->impl->max_token_len) v->impl->max_token_len = len;
        uint64_t h = tok_hash(v->text[t], len);
        uint32_t tag = make_tag(h, len);
        uint64_t head = make_head(v->text[t], len);
        uint32_t i = (uint32_t)h & m->mask;
        for (;;) {
            tok_strslot *e = &m->slot[i];
            if (e->id < 0) {
                *e = (tok_strslot){tag, t, head};
                break;
            }
            if (e->tag == tag && e->head == head && v->text_len[e->id] == len &&
                (len <= 8 || !memcmp(v->text[e->id], v->text[t], len)))
                break; /* duplicate text: keep the first id */
            i = (i + 1) & m->mask;
        }
    }
    return KY_OK;
}

int32_t tok_map_find(const ky_vocab *v, const void *s, size_t n) {
    const tok_strmap *m = &v->impl->map;
    uint64_t h = tok_hash(s, n);
    uint32_t tag = make_tag(h, n);
    uint64_t head = make_head(s, n);
    uint32_t i = (uint32_t)h & m->mask;
    for (;;) {
        const tok_strslot *e = &m->slot[i];
        if (e->id < 0) return -1;
        if (e->tag == tag && e->head == head) {
            /* lengths below 255 are in the tag; short texts are entirely in head */
            if (n < 255 ? (n <= 8 || !memcmp(v->text[e->id], s, n))
                        : (v->text_len[e->id] == n && !memcmp(v->text[e->id], s, n)))
                return e->id;
        }
        i = (i + 1) & m->mask;
    }
}

ky_status tok_pairmap_init(tok_pairmap *m, size_t n) {
    uint32_t slots = table_size(n);
    m->mask = slots - 1;
    m->slot = malloc((size_t)slots * sizeof *m->slot);
    if (!m->slot) return KY_ERR_NOMEM;
    for (uint32_t i = 0; i < slots; i++) m->slot[i] = (tok_pairslot){UINT64_MAX, 0, -1};
    return KY_OK;
}

void tok_pairmap_insert(tok_pairmap *m, int32_t left, int32_t right, uint32_t rank, int32_t id) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    while (m->slot[i].key != UINT64_MAX) {
        if (m->slot[i].key == key) return; /* the first (lowest-rank) merge of a pair wins */
        i = (i + 1) & m->mask;
    }
    m->slot[i] = (tok_pairslot){key, rank, id};
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->slot);
    memset(m, 0, sizeof *m);
}
