/* grammar_api.c — the "Constrained decoding" part of kaiyuan.h (layer: engine).
 *
 * Joins the grammar engine (src/grammar/) with a model's vocabulary: token pieces come from
 * ky_token_to_piece, end-of-generation tokens from ky_vocab_is_eog and ky_chat_stop_tokens. A
 * matcher keeps its live state in three preallocated buffers (current, and two to advance into,
 * so a rejected token leaves the state intact) and remembers the masks of recent states
 * (KY_GRAMMAR_MASK_CACHE, exact match on the canonical state): inside a string or a number the
 * state repeats token after token. Nothing here allocates after ky_grammar_matcher_create.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/status.h"
#include "base/strbuf.h"
#include "grammar/grammar.h"
#include "grammar/schema.h"

struct ky_grammar {
    gram *g;
};

struct ky_grammar_vocab {
    gvocab *v;
};

#define CACHE_KEY_WORDS 1024u

/* Precomputed token sets, shared (read-only) by a matcher and its clones. */
typedef struct shared_mask {
    gmask *gm;
    atomic_int refs;
} shared_mask;

typedef struct mcache {
    uint64_t hash, last;
    uint32_t n_words, n_stacks;
    bool can_end, used;
} mcache;

struct ky_grammar_matcher {
    const gram *g;
    const gvocab *v;
    shared_mask *sm;
    gmask *gm; /* sm->gm */
    gmask_scratch *sc;
    gadv adv;
    uint32_t *buf[3]; /* [KY_GRAMMAR_MAX_STATE_WORDS] each */
    int cur;
    gstate state;
    uint64_t hash;
    bool ended; /* an end-of-generation token was accepted */
    uint32_t *canon_tmp;
    uint32_t n_words; /* mask words */
    mcache cache[KY_GRAMMAR_MASK_CACHE];
    uint32_t *cache_keys;  /* [KY_GRAMMAR_MASK_CACHE * CACHE_KEY_WORDS] */
    uint32_t *cache_masks; /* [KY_GRAMMAR_MASK_CACHE * n_words] */
    uint64_t tick;
    /* lazy mode */
    bool lazy, active;
    char *trig[KY_TOOLCALL_MAX_TRIGGERS];
    size_t trig_len[KY_TOOLCALL_MAX_TRIGGERS], n_trig, max_trig;
    char *tail; /* [max_trig + KY_GRAMMAR_MAX_TOKEN_BYTES] */
    size_t tail_len;
};

/* ---------------------------------------------------------------------------------------------
 * Grammars
 * ------------------------------------------------------------------------------------------- */

ky_status ky_grammar_from_gbnf(const char *text, size_t len, ky_grammar **out, ky_error *err) {
    if (!out) return ky_errf(err, KY_ERR_INVALID_ARG, "grammar: NULL out");
    ky_grammar *gr = calloc(1, sizeof *gr);
    if (!gr) return ky_errf(err, KY_ERR_NOMEM, "grammar: out of memory");
    ky_status st = gram_parse_gbnf(text, len, &gr->g, err);
    if (st != KY_OK) {
        free(gr);
        return st;
    }
    *out = gr;
    return KY_OK;
}

static ky_status from_strbuf(ky_strbuf *sb, ky_status st, ky_grammar **out, ky_error *err) {
    if (st == KY_OK && sb->failed) st = ky_errf(err, KY_ERR_NOMEM, "schema: out of memory");
    if (st == KY_OK) st = ky_grammar_from_gbnf(sb->data, sb->len, out, err);
    ky_strbuf_free(sb);
    return st;
}

ky_status ky_grammar_from_json_schema(const char *schema, size_t len, ky_grammar **out,
                                      ky_error *err) {
    if (!out || (!schema && len)) return ky_errf(err, KY_ERR_INVALID_ARG, "schema: NULL argument");
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    ky_status st = schema_to_gbnf(schema, len, &sb, err);
    return from_strbuf(&sb, st, out, err);
}

ky_status ky_grammar_json(ky_grammar **out, ky_error *err) {
    if (!out) return ky_errf(err, KY_ERR_INVALID_ARG, "grammar: NULL out");
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    schema_json_object_gbnf(&sb);
    return from_strbuf(&sb, KY_OK, out, err);
}

ky_status ky_grammar_from_tools(const char *tools_json, size_t len,
                                const ky_tool_grammar_params *params, ky_grammar **out,
                                ky_error *err) {
    if (!out) return ky_errf(err, KY_ERR_INVALID_ARG, "tools: NULL out");
    char *text = NULL;
    ky_status st = ky_grammar_tools_gbnf(tools_json, len, params, &text, err);
    if (st != KY_OK) return st;
    st = ky_grammar_from_gbnf(text, strlen(text), out, err);
    free(text);
    return st;
}

void ky_grammar_free(ky_grammar *gr) {
    if (!gr) return;
    gram_free(gr->g);
    free(gr);
}

/* ---------------------------------------------------------------------------------------------
 * Vocabulary
 * ------------------------------------------------------------------------------------------- */

typedef struct vocab_src {
    const ky_model *model;
    char buf[KY_GRAMMAR_MAX_TOKEN_BYTES + 1];
    uint8_t *stop; /* [n_vocab] */
    bool too_long;
} vocab_src;

static const uint8_t *vs_piece(void *user, int32_t t, size_t *len) {
    vocab_src *vs = user;
    size_t n = 0;
    ky_status st = ky_token_to_piece(vs->model, t, 0, vs->buf, sizeof vs->buf, &n);
    if (st != KY_OK) {
        if (n > sizeof vs->buf) {
            *len = n; /* reported as too long by gvocab_build */
            return (const uint8_t *)vs->buf;
        }
        *len = 0;
        return NULL;
    }
    *len = n;
    return (const uint8_t *)vs->buf;
}

static bool vs_eog(void *user, int32_t t) {
    vocab_src *vs = user;
    return ky_vocab_is_eog(vs->model, t) || vs->stop[t];
}

ky_status ky_grammar_vocab_create(const ky_model *model, ky_grammar_vocab **out, ky_error *err) {
    if (!model || !out)
        return ky_errf(err, KY_ERR_INVALID_ARG, "grammar vocabulary: NULL argument");
    if (!strcmp(ky_vocab_kind(model), "none"))
        return ky_errf(err, KY_ERR_UNSUPPORTED, "grammar vocabulary: the model has no tokenizer");
    int32_t n = ky_vocab_n_tokens(model);
    vocab_src *vs = calloc(1, sizeof *vs);
    ky_grammar_vocab *gv = calloc(1, sizeof *gv);
    if (!vs || !gv || !(vs->stop = calloc((size_t)n, 1))) {
        if (vs) free(vs->stop);
        free(vs);
        free(gv);
        return ky_errf(err, KY_ERR_NOMEM, "grammar vocabulary: out of memory");
    }
    vs->model = model;
    ky_token stops[64];
    size_t ns = ky_chat_stop_tokens(model, stops, 64);
    for (size_t i = 0; i < ns && i < 64; i++)
        if (stops[i] >= 0 && stops[i] < n) vs->stop[stops[i]] = 1;
    ky_status st = gvocab_build(n, vs_piece, vs_eog, vs, &gv->v, err);
    free(vs->stop);
    free(vs);
    if (st != KY_OK) {
        free(gv);
        return st;
    }
    *out = gv;
    return KY_OK;
}

void ky_grammar_vocab_free(ky_grammar_vocab *gv) {
    if (!gv) return;
    gvocab_free(gv->v);
    free(gv);
}

/* ---------------------------------------------------------------------------------------------
 * Matcher
 * ------------------------------------------------------------------------------------------- */

static void set_start(ky_grammar_matcher *m) {
    m->cur = 0;
    gadv_begin(&m->adv, m->buf[0], KY_GRAMMAR_MAX_STATE_WORDS);
    gadv_start(&m->adv);
    m->state = gadv_end(&m->adv);
    m->hash = gstate_canon(&m->state, m->canon_tmp);
    m->ended = false;
}

void ky_grammar_matcher_free(ky_grammar_matcher *m) {
    if (!m) return;
    if (m->sm && atomic_fetch_sub(&m->sm->refs, 1) == 1) {
        gmask_free(m->sm->gm);
        free(m->sm);
    }
    gmask_scratch_free(m->sc);
    gadv_free(&m->adv);
    for (int i = 0; i < 3; i++) free(m->buf[i]);
    free(m->canon_tmp);
    free(m->cache_keys);
    free(m->cache_masks);
    for (size_t i = 0; i < m->n_trig; i++) free(m->trig[i]);
    free(m->tail);
    free(m);
}

/* Everything of a matcher but its shared mask tables (m->g, m->v, m->sm set). */
static ky_status matcher_init(ky_grammar_matcher *m, const char *const *triggers, size_t n_trig,
                              ky_error *err) {
    m->gm = m->sm->gm;
    m->n_words = (uint32_t)(((uint32_t)m->v->n_vocab + 31) / 32);
    bool ok = gmask_scratch_create(m->gm, &m->sc) == KY_OK && gadv_init(&m->adv, m->g) == KY_OK;
    for (int i = 0; i < 3; i++)
        ok = ok && (m->buf[i] = malloc(KY_GRAMMAR_MAX_STATE_WORDS * sizeof *m->buf[i]));
    ok = ok && (m->canon_tmp = malloc((KY_GRAMMAR_MAX_STATE_WORDS + KY_GRAMMAR_MAX_STACKS) *
                                      sizeof *m->canon_tmp));
    ok = ok && (m->cache_keys = malloc((size_t)KY_GRAMMAR_MASK_CACHE * CACHE_KEY_WORDS *
                                       sizeof *m->cache_keys));
    ok = ok && (m->cache_masks =
                    malloc((size_t)KY_GRAMMAR_MASK_CACHE * m->n_words * sizeof *m->cache_masks));
    if (ok && n_trig) {
        m->lazy = true;
        for (size_t i = 0; ok && i < n_trig; i++) {
            const char *t = triggers[i];
            size_t n = t ? strlen(t) : 0;
            if (!n || n > 256)
                return ky_errf(err, KY_ERR_INVALID_ARG,
                               "grammar matcher: trigger %zu is empty or longer than 256 bytes", i);
            ok = (m->trig[i] = malloc(n + 1)) != NULL;
            if (ok) memcpy(m->trig[i], t, n + 1);
            m->trig_len[i] = n;
            m->n_trig = i + 1;
            if (n > m->max_trig) m->max_trig = n;
        }
        ok = ok && (m->tail = malloc(m->max_trig + KY_GRAMMAR_MAX_TOKEN_BYTES));
    }
    if (!ok) return ky_errf(err, KY_ERR_NOMEM, "grammar matcher: out of memory");
    ky_grammar_matcher_reset(m);
    if (m->state.n_stacks == 0 && !m->state.can_end)
        return ky_errf(err, KY_ERR_UNSUPPORTED, "grammar matcher: the start state exceeds limits");
    return KY_OK;
}

ky_status ky_grammar_matcher_create(const ky_grammar *grammar, const ky_grammar_vocab *vocab,
                                    const ky_grammar_matcher_params *params,
                                    ky_grammar_matcher **out, ky_error *err) {
    if (!grammar || !vocab || !out)
        return ky_errf(err, KY_ERR_INVALID_ARG, "grammar matcher: NULL argument");
    if (params && params->n_triggers > KY_TOOLCALL_MAX_TRIGGERS)
        return ky_errf(err, KY_ERR_UNSUPPORTED, "grammar matcher: %zu triggers (limit %d)",
                       params->n_triggers, KY_TOOLCALL_MAX_TRIGGERS);
    ky_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m || !(m->sm = calloc(1, sizeof *m->sm))) {
        free(m);
        return ky_errf(err, KY_ERR_NOMEM, "grammar matcher: out of memory");
    }
    atomic_init(&m->sm->refs, 1);
    m->g = grammar->g;
    m->v = vocab->v;
    ky_status st = gmask_build(m->g, m->v, &m->sm->gm, err);
    if (st == KY_OK)
        st =
            matcher_init(m, params ? params->triggers : NULL, params ? params->n_triggers : 0, err);
    if (st != KY_OK) {
        ky_grammar_matcher_free(m);
        return st;
    }
    *out = m;
    return KY_OK;
}

ky_status ky_grammar_matcher_clone(const ky_grammar_matcher *src, ky_grammar_matcher **out,
                                   ky_error *err) {
    if (!src || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "grammar matcher: NULL argument");
    ky_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m) return ky_errf(err, KY_ERR_NOMEM, "grammar matcher: out of memory");
    m->g = src->g;
    m->v = src->v;
    m->sm = src->sm;
    atomic_fetch_add(&m->sm->refs, 1);
    ky_status st = matcher_init(m, (const char *const *)src->trig, src->n_trig, err);
    if (st != KY_OK) {
        ky_grammar_matcher_free(m);
        return st;
    }
    *out = m;
    return KY_OK;
}

void ky_grammar_matcher_reset(ky_grammar_matcher *m) {
    if (!m) return;
    set_start(m);
    m->active = !m->lazy;
    m->tail_len = 0;
}

/* Advances the state by n bytes; on failure leaves it unchanged. */
static ky_status advance(ky_grammar_matcher *m, const uint8_t *b, size_t n) {
    if (m->ended) return n ? KY_ERR_INVALID_ARG : KY_OK;
    gstate s = m->state;
    int at = m->cur;
    for (size_t i = 0; i < n; i++) {
        int next = (at + 1) % 3 == m->cur ? (at + 2) % 3 : (at + 1) % 3;
        gadv_begin(&m->adv, m->buf[next], KY_GRAMMAR_MAX_STATE_WORDS);
        gadv_step(&m->adv, &s, b[i]);
        if (m->adv.overflow) return KY_ERR_UNSUPPORTED;
        s = gadv_end(&m->adv);
        if (s.n_stacks == 0 && (!s.can_end || i + 1 < n)) return KY_ERR_INVALID_ARG;
        at = next;
    }
    m->cur = at;
    m->state = s;
    m->hash = gstate_canon(&m->state, m->canon_tmp);
    return KY_OK;
}

static bool is_eog(const gvocab *v, ky_token t) {
    for (uint32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == t) return true;
    return false;
}

/* Lazy mode: looks for a trigger in the recent text plus this piece; engages when found. */
static void lazy_scan(ky_grammar_matcher *m, const uint8_t *p, size_t n) {
    memcpy(m->tail + m->tail_len, p, n);
    size_t len = m->tail_len + n, best = SIZE_MAX;
    for (size_t k = 0; k < m->n_trig; k++) {
        size_t tl = m->trig_len[k];
        for (size_t i = 0; i + tl <= len; i++)
            if (!memcmp(m->tail + i, m->trig[k], tl)) {
                if (i < best) best = i;
                break;
            }
    }
    if (best != SIZE_MAX) {
        set_start(m);
        if (advance(m, (const uint8_t *)m->tail + best, len - best) == KY_OK) {
            m->active = true;
            m->tail_len = 0;
            return;
        }
        set_start(m); /* the text after the trigger does not fit: stay free */
    }
    size_t keep = m->max_trig - 1;
    if (len > keep) {
        memmove(m->tail, m->tail + len - keep, keep);
        len = keep;
    }
    m->tail_len = len;
}

ky_status ky_grammar_matcher_accept_bytes(ky_grammar_matcher *m, const char *bytes, size_t n) {
    if (!m || (!bytes && n)) return KY_ERR_INVALID_ARG;
    if (m->lazy && !m->active) {
        for (size_t i = 0; i < n; i += KY_GRAMMAR_MAX_TOKEN_BYTES) {
            size_t k = n - i < KY_GRAMMAR_MAX_TOKEN_BYTES ? n - i : KY_GRAMMAR_MAX_TOKEN_BYTES;
            lazy_scan(m, (const uint8_t *)bytes + i, k);
            if (m->active) return advance(m, (const uint8_t *)bytes + i + k, n - i - k);
        }
        return KY_OK;
    }
    ky_status st = advance(m, (const uint8_t *)bytes, n);
    if (st == KY_OK && m->lazy && m->state.n_stacks == 0) ky_grammar_matcher_reset(m);
    return st;
}

ky_status ky_grammar_matcher_accept_token(ky_grammar_matcher *m, ky_token t) {
    if (!m || t < 0 || t >= m->v->n_vocab) return KY_ERR_INVALID_ARG;
    const uint8_t *p = m->v->piece + m->v->piece_off[t];
    size_t n = m->v->piece_off[t + 1] - m->v->piece_off[t];
    if (m->lazy && !m->active) {
        if (!is_eog(m->v, t)) lazy_scan(m, p, n);
        return KY_OK;
    }
    if (is_eog(m->v, t)) {
        if (m->ended || !m->state.can_end) return KY_ERR_INVALID_ARG;
        m->ended = true;
        return KY_OK;
    }
    if (n == 0) return KY_ERR_INVALID_ARG;
    ky_status st = advance(m, p, n);
    if (st == KY_OK && m->lazy && m->state.n_stacks == 0) ky_grammar_matcher_reset(m);
    return st;
}

size_t ky_grammar_mask_words(const ky_grammar_matcher *m) { return m ? m->n_words : 0; }

ky_status ky_grammar_matcher_fill_mask(ky_grammar_matcher *m, uint32_t *mask, size_t n_words) {
    if (!m || !mask || n_words < m->n_words) return KY_ERR_INVALID_ARG;
    if (m->lazy && !m->active) {
        memset(mask, 0xFF, m->n_words * sizeof *mask);
        uint32_t rem = (uint32_t)m->v->n_vocab & 31;
        if (rem) mask[m->n_words - 1] = (1u << rem) - 1;
        return KY_OK;
    }
    if (m->ended) {
        memset(mask, 0, m->n_words * sizeof *mask);
        return KY_OK;
    }
    const gstate *s = &m->state;
    m->tick++;
    for (int i = 0; i < KY_GRAMMAR_MASK_CACHE; i++) {
        mcache *c = &m->cache[i];
        if (c->used && c->hash == m->hash && c->n_words == s->n_words &&
            c->n_stacks == s->n_stacks && c->can_end == s->can_end &&
            !memcmp(m->cache_keys + (size_t)i * CACHE_KEY_WORDS, s->w, s->n_words * 4u)) {
            c->last = m->tick;
            memcpy(mask, m->cache_masks + (size_t)i * m->n_words, m->n_words * sizeof *mask);
            return KY_OK;
        }
    }
    bool ok = gmask_fill(m->gm, m->sc, s, mask);
    if (!ok) return KY_ERR_UNSUPPORTED;
    if (s->n_words <= CACHE_KEY_WORDS) {
        int victim = 0;
        for (int i = 0; i < KY_GRAMMAR_MASK_CACHE; i++) {
            if (!m->cache[i].used) {
                victim = i;
                break;
            }
            if (m->cache[i].last < m->cache[victim].last) victim = i;
        }
        mcache *c = &m->cache[victim];
        *c = (mcache){m->hash, m->tick, s->n_words, s->n_stacks, s->can_end, true};
        memcpy(m->cache_keys + (size_t)victim * CACHE_KEY_WORDS, s->w, s->n_words * 4u);
        memcpy(m->cache_masks + (size_t)victim * m->n_words, mask, m->n_words * sizeof *mask);
    }
    return KY_OK;
}

ky_status ky_grammar_matcher_apply(ky_grammar_matcher *m, float *logits, int32_t n_vocab) {
    if (!m || !logits || n_vocab != m->v->n_vocab) return KY_ERR_INVALID_ARG;
    if (m->lazy && !m->active) return KY_OK;
    /* The two state buffers that are not the current state are free between calls. */
    uint32_t *mask = m->buf[(m->cur + 1) % 3];
    if (m->n_words > KY_GRAMMAR_MAX_STATE_WORDS) return KY_ERR_UNSUPPORTED;
    ky_status st = ky_grammar_matcher_fill_mask(m, mask, m->n_words);
    for (int32_t t = 0; t < n_vocab; t++)
        if (!((mask[t >> 5] >> (t & 31)) & 1u)) logits[t] = -INFINITY;
    return st;
}

bool ky_grammar_matcher_can_end(const ky_grammar_matcher *m) {
    if (!m) return false;
    if (m->lazy && !m->active) return true;
    return !m->ended && m->state.can_end;
}

bool ky_grammar_matcher_is_finished(const ky_grammar_matcher *m) {
    if (!m) return false;
    if (m->lazy && !m->active) return false;
    return m->ended || (m->state.n_stacks == 0 && m->state.can_end);
}

bool ky_grammar_matcher_is_active(const ky_grammar_matcher *m) { return m && m->active; }

double ky_grammar_matcher_build_seconds(const ky_grammar_matcher *m) {
    return m ? gmask_build_seconds(m->gm) : 0.0;
}
