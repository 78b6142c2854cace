/* gstate.c — parse-stack sets advanced byte by byte (layer: grammar).
 *
 * Expanding a stack pushes the return position of a rule reference (omitted for a tail call, so
 * x* helpers run in constant stack depth) and the first element of each alternative, until the
 * top is a byte set; reaching an END pops. Output stacks are deduplicated through a hash table
 * stamped per output, so starting a new output costs nothing. Every bound (stacks, depth, words,
 * expansion steps) turns into `overflow` instead of growing: nothing is allocated here.
 */
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "grammar/grammar.h"

#define HT_CAP    (2u * KY_GRAMMAR_MAX_STACKS)
#define MAX_STEPS (64u * KY_GRAMMAR_MAX_STACKS)
#define MAX_REC   (4u * KY_GRAMMAR_MAX_DEPTH)

ky_status gadv_init(gadv *a, const gram *g) {
    memset(a, 0, sizeof *a);
    a->g = g;
    a->cur = malloc((KY_GRAMMAR_MAX_DEPTH + 1) * sizeof *a->cur);
    a->ht = malloc(HT_CAP * sizeof *a->ht);
    a->ht_stamp = calloc(HT_CAP, sizeof *a->ht_stamp);
    a->ht_cap = HT_CAP;
    if (!a->cur || !a->ht || !a->ht_stamp) {
        gadv_free(a);
        return KY_ERR_NOMEM;
    }
    return KY_OK;
}

void gadv_free(gadv *a) {
    free(a->cur);
    free(a->ht);
    free(a->ht_stamp);
    memset(a, 0, sizeof *a);
}

void gadv_begin(gadv *a, uint32_t *buf, uint32_t cap) {
    a->out = buf;
    a->out_cap = cap;
    a->out_n = 0;
    a->out_stacks = 0;
    a->out_can_end = false;
    a->hit_boundary = false;
    a->overflow = false;
    a->depth = 0;
    a->steps = 0;
    if (++a->stamp == 0) {
        memset(a->ht_stamp, 0, a->ht_cap * sizeof *a->ht_stamp);
        a->stamp = 1;
    }
}

gstate gadv_end(gadv *a) {
    gstate s = {a->out, a->out_n, a->out_stacks, a->out_can_end};
    return s;
}

static inline uint32_t mix32(uint32_t h, uint32_t v) {
    h ^= v * 0x9E3779B1u;
    h = (h << 13) | (h >> 19);
    return h * 5u + 0xE6546B64u;
}

static void emit(gadv *a, uint32_t len, uint32_t pos) {
    uint32_t h = 0x811C9DC5u;
    for (uint32_t i = 0; i < len; i++) h = mix32(h, a->cur[i]);
    h = mix32(h, pos);
    uint32_t mask = a->ht_cap - 1, slot = h & mask;
    while (a->ht_stamp[slot] == a->stamp) {
        const uint32_t *s = a->out + a->ht[slot];
        if (s[0] == len + 1 && s[len + 1] == pos && !memcmp(s + 1, a->cur, len * sizeof *s)) return;
        slot = (slot + 1) & mask;
    }
    if (a->out_stacks >= KY_GRAMMAR_MAX_STACKS || a->out_n + len + 2 > a->out_cap) {
        a->overflow = true;
        return;
    }
    a->ht_stamp[slot] = a->stamp;
    a->ht[slot] = a->out_n;
    uint32_t *o = a->out + a->out_n;
    o[0] = len + 1;
    memcpy(o + 1, a->cur, len * sizeof *o);
    o[len + 1] = pos;
    a->out_n += len + 2;
    a->out_stacks++;
}

/* Invariant: returns with cur[0..len) as it found it. */
static void expand(gadv *a, uint32_t len, uint32_t pos) {
    if (a->depth >= MAX_REC || ++a->steps > MAX_STEPS) {
        a->overflow = true;
        return;
    }
    a->depth++;
    const gram *g = a->g;
    uint32_t e = g->elems[pos];
    switch (GE_TYPE(e)) {
    case GE_END:
        if (len == 0) {
            if (a->boundary_mode)
                a->hit_boundary = true;
            else
                a->out_can_end = true;
        } else {
            uint32_t ret = a->cur[len - 1];
            expand(a, len - 1, ret);
            a->cur[len - 1] = ret;
        }
        break;
    case GE_BYTES: emit(a, len, pos); break;
    default: {
        uint32_t r = GE_VAL(e), next = pos + 1, nl = len;
        if (GE_TYPE(g->elems[next]) != GE_END) {
            if (len >= KY_GRAMMAR_MAX_DEPTH) {
                a->overflow = true;
                break;
            }
            a->cur[len] = next;
            nl = len + 1;
        }
        for (uint32_t alt = g->rule_alt[r]; alt < g->rule_alt[r + 1] && !a->overflow; alt++) {
            expand(a, nl, g->alt_first[alt]);
            if (nl > len) a->cur[len] = next;
        }
    }
    }
    a->depth--;
}

void gadv_expand(gadv *a, const uint32_t *base, uint32_t len, uint32_t pos) {
    if (len > KY_GRAMMAR_MAX_DEPTH) {
        a->overflow = true;
        return;
    }
    memcpy(a->cur, base, len * sizeof *base);
    expand(a, len, pos);
}

void gadv_start(gadv *a) {
    const gram *g = a->g;
    for (uint32_t alt = g->rule_alt[g->root]; alt < g->rule_alt[g->root + 1]; alt++)
        expand(a, 0, g->alt_first[alt]);
}

void gadv_step(gadv *a, const gstate *in, uint8_t b) {
    const gram *g = a->g;
    const uint32_t *w = in->w;
    for (uint32_t i = 0; i < in->n_stacks; i++) {
        uint32_t len = w[0];
        uint32_t top = w[len];
        if (gset_has(&g->sets[GE_VAL(g->elems[top])], b)) {
            memcpy(a->cur, w + 1, (len - 1) * sizeof *w);
            expand(a, len - 1, top + 1);
        }
        w += len + 1;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Canonical order
 * ------------------------------------------------------------------------------------------- */

static uint64_t stack_hash(const uint32_t *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (uint32_t i = 0; i <= s[0]; i++) h = (h ^ s[i]) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

static int stack_cmp(const uint32_t *x, const uint32_t *y) {
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    for (uint32_t i = 1; i <= x[0]; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

uint64_t gstate_canon(gstate *s, uint32_t *tmp) {
    /* Insertion sort of stack offsets (states are small; bounded by KY_GRAMMAR_MAX_STACKS). */
    uint32_t *off = tmp + s->n_words;
    uint32_t o = 0;
    for (uint32_t i = 0; i < s->n_stacks; i++) {
        off[i] = o;
        o += s->w[o] + 1;
    }
    for (uint32_t i = 1; i < s->n_stacks; i++) {
        uint32_t v = off[i], j = i;
        while (j > 0 && stack_cmp(s->w + off[j - 1], s->w + v) > 0) {
            off[j] = off[j - 1];
            j--;
        }
        off[j] = v;
    }
    uint32_t n = 0;
    uint64_t h = s->can_end ? 0x51ED27ull : 0x1234567ull;
    for (uint32_t i = 0; i < s->n_stacks; i++) {
        const uint32_t *st = s->w + off[i];
        memcpy(tmp + n, st, (st[0] + 1) * sizeof *st);
        n += st[0] + 1;
        h = (h ^ stack_hash(st)) * 0x9E3779B97F4A7C15ull;
    }
    memcpy(s->w, tmp, n * sizeof *tmp);
    return h;
}
