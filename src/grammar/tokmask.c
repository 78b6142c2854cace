/* tokmask.c — allowed-token masks over a whole vocabulary (layer: grammar).
 *
 * The vocabulary is a byte trie of token pieces (gvocab). For every byte-set position p of the
 * grammar, gmask_build walks the trie once from p's *static context*: p's rule, and above it
 * every rule that has a single call site, so the top k entries of any real stack whose top is
 * p are known in advance. The walk runs in boundary mode (popping below those k entries is
 * "the boundary") and sorts tokens into
 *   - accepted: some path consumes the whole token above the boundary, or reaches it exactly at
 *     the token's end — valid whatever lies below;
 *   - uncertain: a path reaches the boundary with bytes left whose first byte may follow the
 *     bottom rule (FOLLOW set); the remaining suffixes go into a per-position suffix trie;
 *   - rejected: everything else (never looked at again).
 * gmask_fill ORs the accepted sets of the state's stack tops and walks each suffix trie with the
 * real continuation below the context (XGrammar's context-independent / dependent split).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/limits.h"
#include "base/status.h"
#include "grammar/grammar.h"

/* ---------------------------------------------------------------------------------------------
 * Merge sort with a context (C11 has no qsort_r)
 * ------------------------------------------------------------------------------------------- */

typedef int (*cmp_fn)(const void *ctx, uint64_t a, uint64_t b);

static void msort(uint64_t *a, uint64_t *tmp, size_t n, cmp_fn cmp, const void *ctx) {
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = cmp(ctx, a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

static int cmp_bytes(const uint8_t *x, size_t nx, const uint8_t *y, size_t ny) {
    size_t n = nx < ny ? nx : ny;
    int c = n ? memcmp(x, y, n) : 0;
    if (c) return c;
    return nx < ny ? -1 : nx > ny;
}

/* ---------------------------------------------------------------------------------------------
 * Vocabulary trie
 * ------------------------------------------------------------------------------------------- */

void gvocab_free(gvocab *v) {
    if (!v) return;
    free(v->piece_off);
    free(v->piece);
    free(v->eog);
    free(v->nbyte);
    free(v->ndepth);
    free(v->nend);
    free(v->ntok);
    free(v->nntok);
    free(v->sorted);
    free(v);
}

static int cmp_tok(const void *ctx, uint64_t a, uint64_t b) {
    const gvocab *v = ctx;
    int c = cmp_bytes(v->piece + v->piece_off[a], v->piece_off[a + 1] - v->piece_off[a],
                      v->piece + v->piece_off[b], v->piece_off[b + 1] - v->piece_off[b]);
    return c ? c : (a < b ? -1 : a > b);
}

/* Subtree ends from depths (preorder): a node's subtree ends at the next node not deeper. */
static void fill_ends(const uint16_t *depth, uint32_t *end, uint32_t n, uint32_t *stack) {
    uint32_t sp = 0;
    for (uint32_t i = 0; i < n; i++) {
        while (sp && depth[stack[sp - 1]] >= depth[i]) end[stack[--sp]] = i;
        stack[sp++] = i;
    }
    while (sp) end[stack[--sp]] = n;
}

ky_status gvocab_build(int32_t n_vocab, const uint8_t *(*piece)(void *user, int32_t t, size_t *len),
                       bool (*is_eog)(void *user, int32_t t), void *user, gvocab **out,
                       ky_error *err) {
    if (n_vocab <= 0 || !piece || !out)
        return ky_errf(err, KY_ERR_INVALID_ARG, "grammar vocabulary: bad arguments");
    gvocab *v = calloc(1, sizeof *v);
    if (!v) return ky_errf(err, KY_ERR_NOMEM, "grammar vocabulary: out of memory");
    v->n_vocab = n_vocab;
    v->piece_off = malloc(((size_t)n_vocab + 1) * sizeof *v->piece_off);
    v->eog = malloc((size_t)n_vocab * sizeof *v->eog);
    uint64_t *ids = malloc((size_t)n_vocab * sizeof *ids);
    uint64_t *tmp = malloc((size_t)n_vocab * sizeof *tmp);
    size_t cap = (size_t)n_vocab * 8, used = 0;
    v->piece = malloc(cap);
    ky_status st = KY_OK;
    if (!v->piece_off || !v->eog || !ids || !tmp || !v->piece) goto nomem;
    size_t n_ids = 0;
    for (int32_t t = 0; t < n_vocab; t++) {
        size_t len = 0;
        const uint8_t *p = piece(user, t, &len);
        if (!p) len = 0;
        if (len > KY_GRAMMAR_MAX_TOKEN_BYTES) {
            st = ky_errf(err, KY_ERR_UNSUPPORTED,
                         "grammar vocabulary: token %d has %zu bytes (limit %u)", (int)t, len,
                         KY_GRAMMAR_MAX_TOKEN_BYTES);
            goto fail;
        }
        if (used + len > cap) {
            size_t nc = cap * 2 + len;
            uint8_t *q = realloc(v->piece, nc);
            if (!q) goto nomem;
            v->piece = q;
            cap = nc;
        }
        v->piece_off[t] = (uint32_t)used;
        if (len) memcpy(v->piece + used, p, len);
        used += len;
        if (used > UINT32_MAX / 2) goto nomem;
        bool eog = is_eog && is_eog(user, t);
        if (eog)
            v->eog[v->n_eog++] = t;
        else if (len)
            ids[n_ids++] = (uint64_t)t;
        if (len > v->max_len) v->max_len = (uint32_t)len;
    }
    v->piece_off[n_vocab] = (uint32_t)used;
    msort(ids, tmp, n_ids, cmp_tok, v);
    /* Nodes: one per byte not shared with the previous token (sorted order). */
    size_t n_nodes = 0;
    for (size_t i = 0; i < n_ids; i++) {
        uint32_t a = (uint32_t)ids[i], la = v->piece_off[a + 1] - v->piece_off[a], l = 0;
        if (i) {
            uint32_t b = (uint32_t)ids[i - 1], lb = v->piece_off[b + 1] - v->piece_off[b];
            while (l < la && l < lb &&
                   v->piece[v->piece_off[a] + l] == v->piece[v->piece_off[b] + l])
                l++;
        }
        n_nodes += la - l;
    }
    v->n_nodes = (uint32_t)n_nodes;
    size_t nn = n_nodes ? n_nodes : 1;
    v->nbyte = malloc(nn);
    v->ndepth = malloc(nn * sizeof *v->ndepth);
    v->nend = malloc(nn * sizeof *v->nend);
    v->ntok = malloc(nn * sizeof *v->ntok);
    v->nntok = calloc(nn, sizeof *v->nntok);
    v->sorted = malloc((n_ids ? n_ids : 1) * sizeof *v->sorted);
    uint32_t *stack = malloc(nn * sizeof *stack);
    if (!v->nbyte || !v->ndepth || !v->nend || !v->ntok || !v->nntok || !v->sorted || !stack) {
        free(stack);
        goto nomem;
    }
    uint32_t k = 0;
    for (size_t i = 0; i < n_ids; i++) {
        uint32_t a = (uint32_t)ids[i], la = v->piece_off[a + 1] - v->piece_off[a], l = 0;
        v->sorted[i] = (int32_t)a;
        if (i) {
            uint32_t b = (uint32_t)ids[i - 1], lb = v->piece_off[b + 1] - v->piece_off[b];
            while (l < la && l < lb &&
                   v->piece[v->piece_off[a] + l] == v->piece[v->piece_off[b] + l])
                l++;
        }
        if (l == la) { /* same piece as the previous token */
            v->nntok[k - 1]++;
            continue;
        }
        for (uint32_t d = l; d < la; d++, k++) {
            v->nbyte[k] = v->piece[v->piece_off[a] + d];
            v->ndepth[k] = (uint16_t)(d + 1);
            v->ntok[k] = (uint32_t)i;
        }
        v->nntok[k - 1] = 1;
    }
    fill_ends(v->ndepth, v->nend, v->n_nodes, stack);
    free(stack);
    free(ids);
    free(tmp);
    *out = v;
    return KY_OK;
nomem:
    st = ky_errf(err, KY_ERR_NOMEM, "grammar vocabulary: out of memory");
fail:
    free(ids);
    free(tmp);
    gvocab_free(v);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Per-position caches
 * ------------------------------------------------------------------------------------------- */

typedef struct pcache {
    uint32_t acc_off, acc_n; /* ids in acc_ids, or acc_n == UINT32_MAX: bitset acc_off */
    uint32_t sfx_off, sfx_n; /* suffix-trie nodes */
    uint32_t k;              /* stack entries covered by the static context (>= 1) */
} pcache;

typedef struct snode {
    uint32_t end; /* absolute index after the subtree */
    uint32_t tok_off, tok_n;
    uint16_t depth;
    uint8_t byte;
} snode;

struct gmask {
    const gram *g;
    const gvocab *v;
    uint32_t n_words;
    pcache *pc; /* [n_elems] */
    uint32_t *acc_ids;
    size_t n_acc_ids, cap_acc_ids;
    uint32_t *bits; /* n_bits * n_words */
    size_t n_bits, cap_bits;
    snode *sfx;
    size_t n_sfx, cap_sfx;
    int32_t *sfx_tok;
    size_t n_sfx_tok, cap_sfx_tok;
    double seconds;
};

struct gmask_scratch {
    gadv adv;
    uint32_t *arena; /* [KY_GRAMMAR_WALK_WORDS] states of a walk, one per depth */
    uint32_t *seen;  /* [n_elems] stamp of positions whose accepted set was ORed */
    uint32_t stamp;
    gstate *st; /* [max depth + 2] */
    uint32_t *top;
    bool *hit;
    uint32_t *cnt;
    uint16_t *lks;
};

void gmask_scratch_free(gmask_scratch *s) {
    if (!s) return;
    gadv_free(&s->adv);
    free(s->arena);
    free(s->seen);
    free(s->st);
    free(s->top);
    free(s->hit);
    free(s->cnt);
    free(s->lks);
    free(s);
}

ky_status gmask_scratch_create(const gmask *m, gmask_scratch **out) {
    gmask_scratch *s = calloc(1, sizeof *s);
    if (!s) return KY_ERR_NOMEM;
    size_t depth = (size_t)m->v->max_len + 2;
    if (gadv_init(&s->adv, m->g) != KY_OK) {
        free(s);
        return KY_ERR_NOMEM;
    }
    s->arena = malloc(KY_GRAMMAR_WALK_WORDS * sizeof *s->arena);
    s->seen = calloc(m->g->n_elems ? m->g->n_elems : 1, sizeof *s->seen);
    s->st = malloc(depth * sizeof *s->st);
    s->top = malloc(depth * sizeof *s->top);
    s->hit = malloc(depth * sizeof *s->hit);
    s->cnt = malloc(depth * sizeof *s->cnt);
    s->lks = malloc(depth * sizeof *s->lks);
    if (!s->arena || !s->seen || !s->st || !s->top || !s->hit || !s->cnt || !s->lks) {
        gmask_scratch_free(s);
        return KY_ERR_NOMEM;
    }
    *out = s;
    return KY_OK;
}

void gmask_free(gmask *m) {
    if (!m) return;
    free(m->pc);
    free(m->acc_ids);
    free(m->bits);
    free(m->sfx);
    free(m->sfx_tok);
    free(m);
}

double gmask_build_seconds(const gmask *m) { return m->seconds; }

static bool reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap * 2 : 1024;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

typedef struct unc_ctx {
    const gvocab *v;
} unc_ctx;

/* Uncertain entries are (token << 16 | k): token's suffix from byte k. */
static int cmp_unc(const void *ctx, uint64_t a, uint64_t b) {
    const gvocab *v = ((const unc_ctx *)ctx)->v;
    uint32_t ta = (uint32_t)(a >> 16), ka = (uint32_t)(a & 0xFFFF);
    uint32_t tb = (uint32_t)(b >> 16), kb = (uint32_t)(b & 0xFFFF);
    int c =
        cmp_bytes(v->piece + v->piece_off[ta] + ka, v->piece_off[ta + 1] - v->piece_off[ta] - ka,
                  v->piece + v->piece_off[tb] + kb, v->piece_off[tb + 1] - v->piece_off[tb] - kb);
    return c ? c : (a < b ? -1 : a > b);
}

/* Transition memo of a precompute walk: (state, byte) → state. Many trie nodes reach the same
 * state (after any complete character inside a string, say), so most steps become a lookup. */
#define MEMO_CAP   (1u << 16)
#define MEMO_WORDS (1u << 21)

typedef struct memo_ent {
    uint64_t key, child_hash;
    uint32_t stamp, par_off, par_n, ch_off, ch_n, ch_stacks;
    uint8_t byte, can_end, hit;
} memo_ent;

static uint64_t state_hash(const gstate *s) {
    uint64_t h = 0xCBF29CE484222325ull ^ s->can_end;
    for (uint32_t i = 0; i < s->n_words; i++) h = (h ^ s->w[i]) * 0x100000001B3ull;
    return h ^ (h >> 31);
}

typedef struct walk_buf {
    memo_ent *memo;
    uint32_t *marena;
    size_t mtop;
    uint32_t mstamp;
    uint64_t *sh; /* [depth] hash of each depth's state */
    uint64_t *unc, *tmp;
    size_t n_unc, cap_unc, cap_tmp;
    uint32_t *acc;
    size_t n_acc, cap_acc;
    uint32_t *stack;
    size_t cap_stack;
} walk_buf;

/* Builds the suffix trie of the sorted uncertain entries into m->sfx. */
static bool build_suffixes(gmask *m, walk_buf *wb, pcache *pc) {
    const gvocab *v = m->v;
    unc_ctx uc = {v};
    if (!reserve((void **)&wb->tmp, &wb->cap_tmp, wb->n_unc, sizeof *wb->tmp)) return false;
    msort(wb->unc, wb->tmp, wb->n_unc, cmp_unc, &uc);
    pc->sfx_off = (uint32_t)m->n_sfx;
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (size_t i = 0; i < wb->n_unc; i++) {
        uint32_t t = (uint32_t)(wb->unc[i] >> 16), k = (uint32_t)(wb->unc[i] & 0xFFFF);
        const uint8_t *s = v->piece + v->piece_off[t] + k;
        size_t len = v->piece_off[t + 1] - v->piece_off[t] - k, l = 0;
        while (prev && l < len && l < prev_len && s[l] == prev[l]) l++;
        if (!(prev && l == len && l == prev_len)) {
            if (!reserve((void **)&m->sfx, &m->cap_sfx, m->n_sfx + (len - l), sizeof *m->sfx))
                return false;
            for (size_t d = l; d < len; d++) {
                snode *nd = &m->sfx[m->n_sfx++];
                nd->byte = s[d];
                nd->depth = (uint16_t)(d + 1);
                nd->tok_off = (uint32_t)m->n_sfx_tok;
                nd->tok_n = 0;
            }
        }
        if (!reserve((void **)&m->sfx_tok, &m->cap_sfx_tok, m->n_sfx_tok + 1, sizeof *m->sfx_tok))
            return false;
        snode *last = &m->sfx[m->n_sfx - 1];
        if (last->tok_n == 0) last->tok_off = (uint32_t)m->n_sfx_tok;
        m->sfx_tok[m->n_sfx_tok++] = (int32_t)t;
        last->tok_n++;
        prev = s;
        prev_len = len;
    }
    pc->sfx_n = (uint32_t)(m->n_sfx - pc->sfx_off);
    /* subtree ends */
    uint32_t sp = 0;
    size_t base = pc->sfx_off;
    if (!reserve((void **)&wb->stack, &wb->cap_stack, pc->sfx_n + 1, sizeof *wb->stack) &&
        pc->sfx_n)
        return false;
    for (uint32_t i = 0; i < pc->sfx_n; i++) {
        while (sp && m->sfx[base + wb->stack[sp - 1]].depth >= m->sfx[base + i].depth)
            m->sfx[base + wb->stack[--sp]].end = (uint32_t)(base + i);
        wb->stack[sp++] = i;
    }
    while (sp) m->sfx[base + wb->stack[--sp]].end = (uint32_t)(base + pc->sfx_n);
    return true;
}

/* Walks the vocabulary trie from position p's static context. */
static ky_status walk_position(gmask *m, gmask_scratch *sc, walk_buf *wb, uint32_t p,
                               ky_error *err) {
    const gram *g = m->g;
    const gvocab *v = m->v;
    pcache *pc = &m->pc[p];
    /* static context, top first */
    uint32_t ctx[KY_GRAMMAR_MAX_DEPTH];
    uint32_t n_ctx = 0, r = g->elem_rule[p];
    for (uint32_t guard = 0; g->site[r] != UINT32_MAX && guard < g->n_rules; guard++) {
        uint32_t q = g->site[r];
        if (GE_TYPE(g->elems[q + 1]) != GE_END) {
            if (n_ctx + 1 >= KY_GRAMMAR_MAX_DEPTH) break;
            ctx[n_ctx++] = q + 1;
        }
        r = g->elem_rule[q];
    }
    const gbyteset *follow = &g->follow[r];
    pc->k = n_ctx + 1;
    uint32_t *a0 = sc->arena;
    a0[0] = n_ctx + 1;
    for (uint32_t i = 0; i < n_ctx; i++) a0[1 + i] = ctx[n_ctx - 1 - i];
    a0[1 + n_ctx] = p;
    sc->st[0] = (gstate){a0, n_ctx + 2, 1, false};
    sc->top[0] = n_ctx + 2;
    wb->sh[0] = state_hash(&sc->st[0]);
    if (++wb->mstamp == 0) {
        memset(wb->memo, 0, MEMO_CAP * sizeof *wb->memo);
        wb->mstamp = 1;
    }
    wb->mtop = 0;
    sc->hit[0] = false;
    sc->cnt[0] = 0;
    wb->n_unc = 0;
    wb->n_acc = 0;
    gadv *a = &sc->adv;
    a->boundary_mode = true;
    for (uint32_t i = 0; i < v->n_nodes;) {
        uint32_t d = v->ndepth[i];
        const gstate *par = &sc->st[d - 1];
        uint32_t base = sc->top[d - 1];
        uint8_t byte = v->nbyte[i];
        uint64_t key =
            (wb->sh[d - 1] ^ ((uint64_t)byte * 0x9E3779B97F4A7C15ull)) * 0xD6E8FEB86659FD93ull;
        uint32_t slot = (uint32_t)(key >> 40) & (MEMO_CAP - 1);
        memo_ent *me = NULL;
        for (int probe = 0; probe < 8; probe++, slot = (slot + 1) & (MEMO_CAP - 1)) {
            memo_ent *x = &wb->memo[slot];
            if (x->stamp != wb->mstamp) break;
            if (x->key == key && x->byte == byte && x->par_n == par->n_words &&
                !memcmp(wb->marena + x->par_off, par->w, par->n_words * sizeof *par->w)) {
                me = x;
                break;
            }
        }
        if (me) {
            sc->st[d] = (gstate){wb->marena + me->ch_off, me->ch_n, me->ch_stacks, me->can_end};
            sc->hit[d] = me->hit;
            sc->top[d] = base;
            wb->sh[d] = me->child_hash;
        } else {
            gadv_begin(a, sc->arena + base, KY_GRAMMAR_WALK_WORDS - base);
            if (par->n_stacks) gadv_step(a, par, byte);
            if (a->overflow) {
                a->boundary_mode = false;
                return ky_errf(err, KY_ERR_UNSUPPORTED,
                               "grammar: too ambiguous for the matcher limits in rule '%s'",
                               g->rule_name[g->elem_rule[p]]);
            }
            sc->st[d] = gadv_end(a);
            sc->hit[d] = a->hit_boundary;
            sc->top[d] = base + sc->st[d].n_words;
            wb->sh[d] = state_hash(&sc->st[d]);
            size_t need = (size_t)par->n_words + sc->st[d].n_words;
            memo_ent *x = &wb->memo[slot];
            if (x->stamp != wb->mstamp && wb->mtop + need <= MEMO_WORDS) {
                *x = (memo_ent){key,
                                wb->sh[d],
                                wb->mstamp,
                                (uint32_t)wb->mtop,
                                par->n_words,
                                (uint32_t)wb->mtop + par->n_words,
                                sc->st[d].n_words,
                                sc->st[d].n_stacks,
                                byte,
                                sc->st[d].can_end,
                                sc->hit[d]};
                memcpy(wb->marena + wb->mtop, par->w, par->n_words * sizeof *par->w);
                memcpy(wb->marena + wb->mtop + par->n_words, sc->st[d].w,
                       sc->st[d].n_words * sizeof *par->w);
                wb->mtop += need;
            }
        }
        uint32_t nl = sc->cnt[d - 1];
        if (d >= 2 && sc->hit[d - 1] && gset_has(follow, v->nbyte[i]))
            sc->lks[nl++] = (uint16_t)(d - 1);
        sc->cnt[d] = nl;
        bool within = sc->st[d].n_stacks > 0 || sc->hit[d];
        if (!within && nl == 0) {
            i = v->nend[i];
            continue;
        }
        for (uint32_t j = 0; j < v->nntok[i]; j++) {
            uint32_t t = (uint32_t)v->sorted[v->ntok[i] + j];
            if (within) {
                if (!reserve((void **)&wb->acc, &wb->cap_acc, wb->n_acc + 1, sizeof *wb->acc))
                    goto nomem;
                wb->acc[wb->n_acc++] = t;
            } else {
                if (!reserve((void **)&wb->unc, &wb->cap_unc, wb->n_unc + nl, sizeof *wb->unc))
                    goto nomem;
                for (uint32_t q = 0; q < nl; q++)
                    wb->unc[wb->n_unc++] = ((uint64_t)t << 16) | sc->lks[q];
            }
        }
        i++;
    }
    a->boundary_mode = false;
    /* accepted set */
    if (wb->n_acc > (size_t)v->n_vocab / 32) {
        if (!reserve((void **)&m->bits, &m->cap_bits, (m->n_bits + 1) * m->n_words,
                     sizeof *m->bits))
            goto nomem;
        uint32_t *b = m->bits + m->n_bits * m->n_words;
        memset(b, 0, m->n_words * sizeof *b);
        for (size_t i = 0; i < wb->n_acc; i++) b[wb->acc[i] >> 5] |= 1u << (wb->acc[i] & 31);
        pc->acc_off = (uint32_t)m->n_bits++;
        pc->acc_n = UINT32_MAX;
    } else {
        if (!reserve((void **)&m->acc_ids, &m->cap_acc_ids, m->n_acc_ids + wb->n_acc + 1,
                     sizeof *m->acc_ids))
            goto nomem;
        if (wb->n_acc) memcpy(m->acc_ids + m->n_acc_ids, wb->acc, wb->n_acc * sizeof *wb->acc);
        pc->acc_off = (uint32_t)m->n_acc_ids;
        pc->acc_n = (uint32_t)wb->n_acc;
        m->n_acc_ids += wb->n_acc;
    }
    if (wb->n_unc && !build_suffixes(m, wb, pc)) goto nomem;
    return KY_OK;
nomem:
    a->boundary_mode = false;
    return ky_errf(err, KY_ERR_NOMEM, "grammar: out of memory building token masks");
}

ky_status gmask_build(const gram *g, const gvocab *v, gmask **out, ky_error *err) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gmask *m = calloc(1, sizeof *m);
    if (!m) return ky_errf(err, KY_ERR_NOMEM, "grammar: out of memory");
    m->g = g;
    m->v = v;
    m->n_words = (uint32_t)(((uint32_t)v->n_vocab + 31) / 32);
    m->pc = calloc(g->n_elems ? g->n_elems : 1, sizeof *m->pc);
    gmask_scratch *sc = NULL;
    walk_buf wb;
    memset(&wb, 0, sizeof wb);
    ky_status st = KY_OK;
    wb.memo = calloc(MEMO_CAP, sizeof *wb.memo);
    wb.marena = malloc(MEMO_WORDS * sizeof *wb.marena);
    wb.sh = malloc(((size_t)v->max_len + 2) * sizeof *wb.sh);
    if (!m->pc || !wb.memo || !wb.marena || !wb.sh || gmask_scratch_create(m, &sc) != KY_OK) {
        st = ky_errf(err, KY_ERR_NOMEM, "grammar: out of memory");
        goto done;
    }
    for (uint32_t p = 0; p < g->n_elems && st == KY_OK; p++) {
        if (GE_TYPE(g->elems[p]) != GE_BYTES || !g->reachable[g->elem_rule[p]]) continue;
        st = walk_position(m, sc, &wb, p, err);
    }
done:
    gmask_scratch_free(sc);
    free(wb.memo);
    free(wb.marena);
    free(wb.sh);
    free(wb.unc);
    free(wb.tmp);
    free(wb.acc);
    free(wb.stack);
    if (st != KY_OK) {
        gmask_free(m);
        return st;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    m->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    *out = m;
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Mask of a state
 * ------------------------------------------------------------------------------------------- */

/* Walks pc's suffix trie from the continuation state s0; sets bits of tokens whose suffix the
 * continuation accepts. Returns false on overflow. */
static bool walk_suffixes(const gmask *m, gmask_scratch *sc, const pcache *pc, uint32_t *mask) {
    gadv *a = &sc->adv;
    uint32_t end = pc->sfx_off + pc->sfx_n;
    bool ok = true;
    for (uint32_t i = pc->sfx_off; i < end;) {
        const snode *nd = &m->sfx[i];
        uint32_t d = nd->depth;
        const gstate *par = &sc->st[d - 1];
        uint32_t base = sc->top[d - 1];
        gadv_begin(a, sc->arena + base, KY_GRAMMAR_WALK_WORDS - base);
        gadv_step(a, par, nd->byte);
        ok &= !a->overflow;
        sc->st[d] = gadv_end(a);
        sc->top[d] = base + sc->st[d].n_words;
        if (sc->st[d].n_stacks == 0 && !sc->st[d].can_end) {
            i = nd->end;
            continue;
        }
        for (uint32_t j = 0; j < nd->tok_n; j++) {
            uint32_t t = (uint32_t)m->sfx_tok[nd->tok_off + j];
            mask[t >> 5] |= 1u << (t & 31);
        }
        i = sc->st[d].n_stacks ? i + 1 : nd->end;
    }
    return ok;
}

bool gmask_fill(const gmask *m, gmask_scratch *sc, const gstate *s, uint32_t *mask) {
    memset(mask, 0, m->n_words * sizeof *mask);
    if (++sc->stamp == 0) {
        memset(sc->seen, 0, m->g->n_elems * sizeof *sc->seen);
        sc->stamp = 1;
    }
    bool ok = true;
    const uint32_t *w = s->w;
    gadv *a = &sc->adv;
    for (uint32_t i = 0; i < s->n_stacks; i++) {
        uint32_t len = w[0];
        const uint32_t *stk = w + 1;
        uint32_t p = stk[len - 1];
        const pcache *pc = &m->pc[p];
        if (sc->seen[p] != sc->stamp) {
            sc->seen[p] = sc->stamp;
            if (pc->acc_n == UINT32_MAX) {
                const uint32_t *b = m->bits + (size_t)pc->acc_off * m->n_words;
                for (uint32_t k = 0; k < m->n_words; k++) mask[k] |= b[k];
            } else {
                for (uint32_t k = 0; k < pc->acc_n; k++) {
                    uint32_t t = m->acc_ids[pc->acc_off + k];
                    mask[t >> 5] |= 1u << (t & 31);
                }
            }
        }
        if (pc->sfx_n && len > pc->k) {
            uint32_t blen = len - pc->k - 1;
            gadv_begin(a, sc->arena, KY_GRAMMAR_WALK_WORDS);
            gadv_expand(a, stk, blen, stk[blen]);
            ok &= !a->overflow;
            sc->st[0] = gadv_end(a);
            sc->top[0] = sc->st[0].n_words;
            if (sc->st[0].n_stacks) ok &= walk_suffixes(m, sc, pc, mask);
        }
        w += len + 1;
    }
    if (s->can_end)
        for (uint32_t k = 0; k < m->v->n_eog; k++) {
            uint32_t t = (uint32_t)m->v->eog[k];
            mask[t >> 5] |= 1u << (t & 31);
        }
    return ok;
}
