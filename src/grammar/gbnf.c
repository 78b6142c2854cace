/* gbnf.c — GBNF text → byte grammar (layer: grammar).
 *
 * A recursive-descent parser over llama.cpp's GBNF syntax builds rules directly: literals become
 * one byte-set element per byte, character classes become UTF-8 byte-sequence alternatives
 * (a helper rule when there is more than one), groups with one alternative are inlined, and
 * repetitions become helper rules. For x{m,n} with n up to KY_GRAMMAR_MAX_CLONE_REPEAT every copy
 * of x gets its own helper rules, so that each copy has a unique call site (better mask caches).
 * Nesting, repetition counts, rules and elements are bounded (base/limits.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/status.h"
#include "base/strbuf.h"
#include "grammar/grammar.h"

typedef struct bseq {
    uint32_t *e;
    uint32_t n, cap;
} bseq;

typedef struct brule {
    char *name;
    bseq *alts;
    uint32_t n_alts, cap_alts;
    bool helper, defined, dead;
    uint32_t ref_line, ref_col; /* first reference, for "undefined rule" */
    uint32_t n_helpers;         /* helpers created under this rule (naming) */
} brule;

typedef struct gbuild {
    brule *rules;
    uint32_t n_rules, cap_rules;
    uint32_t *name_ht; /* 1 + rule id of named rules, open addressing */
    uint32_t name_cap;
    gbyteset *sets;
    uint32_t n_sets, cap_sets;
    uint32_t single[256]; /* 1 + set id of {b} */
    uint64_t n_elems;
    const char *src;
    size_t len, pos;
    uint32_t nest;
    ky_status st;
    ky_error *err;
} gbuild;

/* ---------------------------------------------------------------------------------------------
 * Builder
 * ------------------------------------------------------------------------------------------- */

static void pos_linecol(const gbuild *b, size_t pos, uint32_t *line, uint32_t *col) {
    uint32_t l = 1, c = 1;
    for (size_t i = 0; i < pos && i < b->len; i++) {
        if (b->src[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static bool fail_at(gbuild *b, ky_status st, size_t pos, const char *msg, const char *arg) {
    if (b->st != KY_OK) return false;
    uint32_t line, col;
    pos_linecol(b, pos, &line, &col);
    b->st = ky_errf(b->err, st, "grammar:%u:%u: %s%s%s%s", line, col, msg, arg ? " '" : "",
                    arg ? arg : "", arg ? "'" : "");
    return false;
}

static bool nomem(gbuild *b) {
    if (b->st == KY_OK) b->st = ky_errf(b->err, KY_ERR_NOMEM, "grammar: out of memory");
    return false;
}

static bool grow(gbuild *b, void **p, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return true;
    uint32_t nc = *cap ? *cap : 8;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return nomem(b);
    *p = q;
    *cap = nc;
    return true;
}

static bool seq_push(gbuild *b, bseq *s, uint32_t e) {
    if (++b->n_elems > KY_GRAMMAR_MAX_ELEMS)
        return fail_at(b, KY_ERR_UNSUPPORTED, b->pos, "grammar too large (element limit)", NULL);
    if (!grow(b, (void **)&s->e, &s->cap, s->n + 1, sizeof *s->e)) return false;
    s->e[s->n++] = e;
    return true;
}

static bool seq_append(gbuild *b, bseq *dst, const bseq *src) {
    for (uint32_t i = 0; i < src->n; i++)
        if (!seq_push(b, dst, src->e[i])) return false;
    return true;
}

static uint32_t new_rule(gbuild *b, const char *name, size_t name_len, bool helper) {
    if (b->n_rules >= KY_GRAMMAR_MAX_RULES) {
        fail_at(b, KY_ERR_UNSUPPORTED, b->pos, "grammar too large (rule limit)", NULL);
        return UINT32_MAX;
    }
    if (!grow(b, (void **)&b->rules, &b->cap_rules, b->n_rules + 1, sizeof *b->rules))
        return UINT32_MAX;
    brule *r = &b->rules[b->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(name_len + 1);
    if (!r->name) {
        nomem(b);
        return UINT32_MAX;
    }
    memcpy(r->name, name, name_len);
    r->name[name_len] = '\0';
    r->helper = helper;
    r->defined = helper;
    return b->n_rules++;
}

static uint32_t new_helper(gbuild *b, uint32_t parent) {
    char name[96];
    brule *p = &b->rules[parent];
    int n = snprintf(name, sizeof name, "%.60s-%u", p->name, ++p->n_helpers);
    return new_rule(b, name, (size_t)n, true);
}

static uint64_t name_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* Id of the named rule, created (undefined) on first use. */
static uint32_t named_rule(gbuild *b, const char *name, size_t n) {
    if (b->name_cap == 0 || (b->n_rules + 1) * 2 > b->name_cap) {
        uint32_t nc = b->name_cap ? b->name_cap * 2 : 64;
        uint32_t *ht = calloc(nc, sizeof *ht);
        if (!ht) {
            nomem(b);
            return UINT32_MAX;
        }
        for (uint32_t i = 0; i < b->name_cap; i++) {
            if (!b->name_ht[i]) continue;
            const char *nm = b->rules[b->name_ht[i] - 1].name;
            uint64_t h = name_hash(nm, strlen(nm)) & (nc - 1);
            while (ht[h]) h = (h + 1) & (nc - 1);
            ht[h] = b->name_ht[i];
        }
        free(b->name_ht);
        b->name_ht = ht;
        b->name_cap = nc;
    }
    uint64_t h = name_hash(name, n) & (b->name_cap - 1);
    while (b->name_ht[h]) {
        const char *nm = b->rules[b->name_ht[h] - 1].name;
        if (strlen(nm) == n && memcmp(nm, name, n) == 0) return b->name_ht[h] - 1;
        h = (h + 1) & (b->name_cap - 1);
    }
    uint32_t id = new_rule(b, name, n, false);
    if (id != UINT32_MAX) b->name_ht[h] = id + 1;
    return id;
}

static bseq *new_alt(gbuild *b, uint32_t rule) {
    brule *r = &b->rules[rule];
    if (!grow(b, (void **)&r->alts, &r->cap_alts, r->n_alts + 1, sizeof *r->alts)) return NULL;
    bseq *s = &r->alts[r->n_alts++];
    memset(s, 0, sizeof *s);
    if (++b->n_elems > KY_GRAMMAR_MAX_ELEMS) { /* the END element */
        fail_at(b, KY_ERR_UNSUPPORTED, b->pos, "grammar too large (element limit)", NULL);
        return NULL;
    }
    return s;
}

static uint32_t intern_set(gbuild *b, const gbyteset *s) {
    for (uint32_t i = 0; i < b->n_sets; i++)
        if (!memcmp(&b->sets[i], s, sizeof *s)) return i;
    if (!grow(b, (void **)&b->sets, &b->cap_sets, b->n_sets + 1, sizeof *b->sets))
        return UINT32_MAX;
    b->sets[b->n_sets] = *s;
    return b->n_sets++;
}

static bool push_byte(gbuild *b, bseq *s, uint8_t c) {
    if (!b->single[c]) {
        gbyteset set = {{0}};
        gset_add(&set, c);
        uint32_t id = intern_set(b, &set);
        if (id == UINT32_MAX) return false;
        b->single[c] = id + 1;
    }
    return seq_push(b, s, GE_MAKE(GE_BYTES, b->single[c] - 1));
}

static bool push_set(gbuild *b, bseq *s, const gbyteset *set) {
    uint32_t id = intern_set(b, set);
    return id != UINT32_MAX && seq_push(b, s, GE_MAKE(GE_BYTES, id));
}

/* Deep copy of an atom: helper rules it references are cloned (map[] old → new, for the
 * self-references of repetition helpers). */
typedef struct clone_map {
    uint32_t from[64], to[64];
    uint32_t n;
} clone_map;

static bool clone_seq(gbuild *b, const bseq *src, bseq *dst, clone_map *m, uint32_t depth);

static uint32_t clone_rule(gbuild *b, uint32_t r, clone_map *m, uint32_t depth) {
    for (uint32_t i = 0; i < m->n; i++)
        if (m->from[i] == r) return m->to[i];
    if (m->n >= 64 || depth > KY_GRAMMAR_MAX_NEST) return r; /* share: still correct */
    uint32_t nr = new_rule(b, b->rules[r].name, strlen(b->rules[r].name), true);
    if (nr == UINT32_MAX) return UINT32_MAX;
    m->from[m->n] = r;
    m->to[m->n++] = nr;
    for (uint32_t a = 0; a < b->rules[r].n_alts; a++) {
        bseq *dst = new_alt(b, nr);
        if (!dst) return UINT32_MAX;
        bseq src = b->rules[r].alts[a]; /* rules may move while cloning */
        bseq tmp = {0};
        if (!clone_seq(b, &src, &tmp, m, depth + 1)) {
            free(tmp.e);
            return UINT32_MAX;
        }
        b->rules[nr].alts[a] = tmp;
    }
    return nr;
}

static bool clone_seq(gbuild *b, const bseq *src, bseq *dst, clone_map *m, uint32_t depth) {
    for (uint32_t i = 0; i < src->n; i++) {
        uint32_t e = src->e[i];
        if (GE_TYPE(e) == GE_REF && b->rules[GE_VAL(e)].helper) {
            uint32_t nr = clone_rule(b, GE_VAL(e), m, depth);
            if (nr == UINT32_MAX) return false;
            e = GE_MAKE(GE_REF, nr);
        }
        if (!seq_push(b, dst, e)) return false;
    }
    return true;
}

static bool copy_atom(gbuild *b, const bseq *atom, bseq *dst, bool clone) {
    if (!clone) return seq_append(b, dst, atom);
    clone_map m;
    m.n = 0;
    return clone_seq(b, atom, dst, &m, 0);
}

/* Appends atom repeated {min, max} (max UINT32_MAX: unbounded) to seq. */
static bool repeat(gbuild *b, uint32_t rule, bseq *seq, const bseq *atom, uint32_t min,
                   uint32_t max) {
    bool clone = (max == UINT32_MAX ? min + 1 : max) <= KY_GRAMMAR_MAX_CLONE_REPEAT;
    bool first = true;
    for (uint32_t i = 0; i < min; i++, first = false)
        if (!copy_atom(b, atom, seq, clone && !first)) return false;
    if (max == UINT32_MAX) {
        uint32_t h = new_helper(b, rule);
        if (h == UINT32_MAX) return false;
        bseq tmp = {0};
        bool ok =
            copy_atom(b, atom, &tmp, clone && !first) && seq_push(b, &tmp, GE_MAKE(GE_REF, h));
        bseq *a0 = ok ? new_alt(b, h) : NULL;
        if (!a0) {
            free(tmp.e);
            return false;
        }
        *a0 = tmp;
        if (!new_alt(b, h)) return false;
        return seq_push(b, seq, GE_MAKE(GE_REF, h));
    }
    uint32_t inner = UINT32_MAX;
    for (uint32_t k = 0; k < max - min; k++) {
        uint32_t h = new_helper(b, rule);
        if (h == UINT32_MAX) return false;
        bseq tmp = {0};
        bool ok = copy_atom(b, atom, &tmp, clone && !(first && k + 1 == max - min));
        if (ok && inner != UINT32_MAX) ok = seq_push(b, &tmp, GE_MAKE(GE_REF, inner));
        bseq *a0 = ok ? new_alt(b, h) : NULL;
        if (!a0) {
            free(tmp.e);
            return false;
        }
        *a0 = tmp;
        if (!new_alt(b, h)) return false;
        inner = h;
    }
    return inner == UINT32_MAX || seq_push(b, seq, GE_MAKE(GE_REF, inner));
}

/* ---------------------------------------------------------------------------------------------
 * Code-point classes → UTF-8 byte sequences
 * ------------------------------------------------------------------------------------------- */

typedef struct cprange {
    uint32_t lo, hi;
} cprange;

typedef struct u8seq {
    uint8_t n;
    uint8_t lo[4], hi[4];
} u8seq;

typedef struct u8list {
    u8seq *s;
    uint32_t n, cap;
} u8list;

static int enc_utf8(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Splits [lo, hi] (same encoded length n) into ranges whose encodings are byte-range products
 * (the utf8-ranges construction of RE2 / Rust regex). */
static bool u8_split(gbuild *b, u8list *l, uint32_t lo, uint32_t hi, int n, int depth) {
    if (depth > 64) return fail_at(b, KY_ERR_INTERNAL, b->pos, "class split too deep", NULL);
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0)
                return u8_split(b, l, lo, lo | m, n, depth + 1) &&
                       u8_split(b, l, (lo | m) + 1, hi, n, depth + 1);
            if ((hi & m) != m)
                return u8_split(b, l, lo, (hi & ~m) - 1, n, depth + 1) &&
                       u8_split(b, l, hi & ~m, hi, n, depth + 1);
        }
    }
    if (!grow(b, (void **)&l->s, &l->cap, l->n + 1, sizeof *l->s)) return false;
    u8seq *s = &l->s[l->n++];
    s->n = (uint8_t)enc_utf8(lo, s->lo);
    enc_utf8(hi, s->hi);
    return true;
}

/* Appends the class (sorted, merged, surrogate-free ranges) to seq as one element, an inlined
 * byte sequence, or a helper rule of alternatives. */
static bool emit_class(gbuild *b, uint32_t rule, bseq *seq, const cprange *r, uint32_t nr) {
    u8list l = {0};
    static const uint32_t bounds[4] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    bool ok = true;
    for (uint32_t i = 0; i < nr && ok; i++) {
        uint32_t lo = r[i].lo;
        for (int n = 0; n < 4 && ok && lo <= r[i].hi; n++) {
            if (lo > bounds[n]) continue;
            uint32_t hi = r[i].hi < bounds[n] ? r[i].hi : bounds[n];
            ok = u8_split(b, &l, lo, hi, n + 1, 0);
            lo = hi + 1;
        }
    }
    /* Merge: all 1-byte sequences into one set; multi-byte ones with equal tails share a set. */
    gbyteset one = {{0}};
    bool have_one = false;
    gbyteset heads[64];
    uint32_t tails[64], n_groups = 0;
    bool overflow = false;
    for (uint32_t i = 0; ok && i < l.n; i++) {
        u8seq *s = &l.s[i];
        if (s->n == 1) {
            for (unsigned c = s->lo[0]; c <= s->hi[0]; c++) gset_add(&one, c);
            have_one = true;
            continue;
        }
        uint32_t g = 0;
        for (; g < n_groups; g++) {
            u8seq *t = &l.s[tails[g]];
            if (t->n == s->n && !memcmp(t->lo + 1, s->lo + 1, s->n - 1u) &&
                !memcmp(t->hi + 1, s->hi + 1, s->n - 1u))
                break;
        }
        if (g == n_groups) {
            if (n_groups == 64) {
                overflow = true;
                break;
            }
            memset(&heads[g], 0, sizeof heads[g]);
            tails[g] = i;
            n_groups++;
        }
        for (unsigned c = s->lo[0]; c <= s->hi[0]; c++) gset_add(&heads[g], c);
    }
    if (overflow) n_groups = 0; /* fall back to one alternative per sequence below */
    uint32_t n_alts = (have_one ? 1u : 0u) + (overflow ? l.n : n_groups);
    if (!ok) {
        free(l.s);
        return false;
    }
    if (n_alts == 0) { /* empty class: a set that matches nothing (reported by analysis) */
        gbyteset none = {{0}};
        free(l.s);
        return push_set(b, seq, &none);
    }
    bseq *target = seq;
    uint32_t h = UINT32_MAX;
    if (n_alts > 1) {
        h = new_helper(b, rule);
        if (h == UINT32_MAX) {
            free(l.s);
            return false;
        }
    }
    if (have_one) {
        if (h != UINT32_MAX && !(target = new_alt(b, h))) goto fail;
        if (!push_set(b, target, &one)) goto fail;
    }
    for (uint32_t g = 0; g < (overflow ? l.n : n_groups); g++) {
        u8seq *s = &l.s[overflow ? g : tails[g]];
        if (h != UINT32_MAX && !(target = new_alt(b, h))) goto fail;
        for (int k = 0; k < s->n; k++) {
            gbyteset set = {{0}};
            if (k == 0 && !overflow) {
                set = heads[g];
            } else {
                for (unsigned c = s->lo[k]; c <= s->hi[k]; c++) gset_add(&set, c);
            }
            if (!push_set(b, target, &set)) goto fail;
        }
    }
    free(l.s);
    return h == UINT32_MAX || seq_push(b, seq, GE_MAKE(GE_REF, h));
fail:
    free(l.s);
    return false;
}

static int cmp_range(const void *a, const void *b) {
    const cprange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts and merges r, negates it when neg, removes surrogates. Returns the new count; *r may be
 * reallocated (capacity *cap). */
static uint32_t normalize_ranges(gbuild *b, cprange **r, uint32_t n, uint32_t *cap, bool neg) {
    if (n) qsort(*r, n, sizeof **r, cmp_range);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (m && (*r)[i].lo <= (*r)[m - 1].hi + 1) {
            if ((*r)[i].hi > (*r)[m - 1].hi) (*r)[m - 1].hi = (*r)[i].hi;
        } else {
            (*r)[m++] = (*r)[i];
        }
    }
    if (neg) {
        cprange *o = malloc(((size_t)m + 1) * sizeof *o);
        if (!o) {
            nomem(b);
            return 0;
        }
        uint32_t k = 0, next = 0;
        for (uint32_t i = 0; i < m; i++) {
            if ((*r)[i].lo > next) o[k++] = (cprange){next, (*r)[i].lo - 1};
            next = (*r)[i].hi + 1;
        }
        if (next <= 0x10FFFF) o[k++] = (cprange){next, 0x10FFFF};
        free(*r);
        *r = o;
        *cap = m + 1;
        m = k;
    }
    /* drop D800-DFFF */
    uint32_t k = 0;
    cprange *o = malloc(((size_t)m * 2 + 1) * sizeof *o);
    if (!o) {
        nomem(b);
        return 0;
    }
    for (uint32_t i = 0; i < m; i++) {
        cprange x = (*r)[i];
        if (x.hi < 0xD800 || x.lo > 0xDFFF) {
            o[k++] = x;
            continue;
        }
        if (x.lo < 0xD800) o[k++] = (cprange){x.lo, 0xD7FF};
        if (x.hi > 0xDFFF) o[k++] = (cprange){0xE000, x.hi};
    }
    free(*r);
    *r = o;
    *cap = m * 2 + 1;
    return k;
}

/* ---------------------------------------------------------------------------------------------
 * Lexing helpers
 * ------------------------------------------------------------------------------------------- */

static int peek(const gbuild *b) { return b->pos < b->len ? (uint8_t)b->src[b->pos] : -1; }

static void skip_ws(gbuild *b) {
    while (b->pos < b->len) {
        char c = b->src[b->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            b->pos++;
        } else if (c == '#') {
            while (b->pos < b->len && b->src[b->pos] != '\n') b->pos++;
        } else {
            break;
        }
    }
}

static bool is_name_char(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static size_t name_len_at(const gbuild *b, size_t pos) {
    size_t n = 0;
    while (pos + n < b->len && is_name_char((uint8_t)b->src[pos + n])) n++;
    return n;
}

/* Whether a rule definition `name ::=` starts at the current position. */
static bool at_rule_start(const gbuild *b) {
    size_t n = name_len_at(b, b->pos);
    if (!n) return false;
    size_t p = b->pos + n;
    while (p < b->len && (b->src[p] == ' ' || b->src[p] == '\t')) p++;
    return p + 3 <= b->len && !memcmp(b->src + p, "::=", 3);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes one UTF-8 code point from the source (invalid bytes stand for themselves as
 * U+0080..U+00FF would not: they are an error). */
static bool read_utf8(gbuild *b, uint32_t *cp) {
    size_t n = ky_utf8_seq_len(b->src + b->pos, b->len - b->pos);
    if (!n) return fail_at(b, KY_ERR_FORMAT, b->pos, "invalid UTF-8 in the grammar", NULL);
    const uint8_t *s = (const uint8_t *)b->src + b->pos;
    if (n == 1)
        *cp = s[0];
    else if (n == 2)
        *cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    else if (n == 3)
        *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    else
        *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
              (s[3] & 0x3Fu);
    b->pos += n;
    return true;
}

/* One character of a literal or class: an escape or a UTF-8 code point. *raw_byte is set when
 * the escape \xHH names a byte rather than a code point (in literals only). */
static bool read_char(gbuild *b, uint32_t *cp, bool *is_byte) {
    *is_byte = false;
    if (peek(b) != '\\') return read_utf8(b, cp);
    size_t at = b->pos++;
    int c = peek(b);
    if (c < 0) return fail_at(b, KY_ERR_FORMAT, at, "unterminated escape", NULL);
    b->pos++;
    int nhex = 0;
    switch (c) {
    case 'n': *cp = '\n'; return true;
    case 't': *cp = '\t'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'b': *cp = '\b'; return true;
    case '0': *cp = 0; return true;
    case '\\':
    case '"':
    case '\'':
    case ']':
    case '[':
    case '-':
    case '^':
    case '/':
    case '.': *cp = (uint32_t)c; return true;
    case 'x': nhex = 2; break;
    case 'u': nhex = 4; break;
    case 'U': nhex = 8; break;
    default: {
        char s[2] = {(char)c, 0};
        return fail_at(b, KY_ERR_FORMAT, at, "unknown escape \\", s);
    }
    }
    uint32_t v = 0;
    for (int i = 0; i < nhex; i++) {
        int h = hexval(peek(b));
        if (h < 0) return fail_at(b, KY_ERR_FORMAT, at, "bad hex digits in escape", NULL);
        v = v * 16 + (uint32_t)h;
        b->pos++;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return fail_at(b, KY_ERR_FORMAT, at, "escape is not a Unicode scalar value", NULL);
    *cp = v;
    *is_byte = nhex == 2;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Parser
 * ------------------------------------------------------------------------------------------- */

static bool parse_alternates(gbuild *b, uint32_t rule);

static bool parse_literal(gbuild *b, bseq *atom) {
    size_t start = b->pos++;
    for (;;) {
        int c = peek(b);
        if (c < 0) return fail_at(b, KY_ERR_FORMAT, start, "unterminated string literal", NULL);
        if (c == '"') {
            b->pos++;
            return true;
        }
        uint32_t cp;
        bool is_byte;
        if (!read_char(b, &cp, &is_byte)) return false;
        uint8_t buf[4];
        int n = is_byte ? (buf[0] = (uint8_t)cp, 1) : enc_utf8(cp, buf);
        for (int i = 0; i < n; i++)
            if (!push_byte(b, atom, buf[i])) return false;
    }
}

static bool parse_class(gbuild *b, uint32_t rule, bseq *atom, bool any) {
    size_t start = b->pos;
    cprange *r = NULL;
    uint32_t n = 0, cap = 0;
    bool neg = false;
    if (any) {
        b->pos++;
        neg = true; /* [^] = every code point */
    } else {
        b->pos++;
        if (peek(b) == '^') {
            neg = true;
            b->pos++;
        }
        for (;;) {
            int c = peek(b);
            if (c < 0) {
                free(r);
                return fail_at(b, KY_ERR_FORMAT, start, "unterminated character class", NULL);
            }
            if (c == ']') {
                b->pos++;
                break;
            }
            uint32_t lo, hi;
            bool is_byte;
            if (!read_char(b, &lo, &is_byte)) {
                free(r);
                return false;
            }
            hi = lo;
            if (peek(b) == '-' && b->pos + 1 < b->len && b->src[b->pos + 1] != ']') {
                b->pos++;
                if (!read_char(b, &hi, &is_byte)) {
                    free(r);
                    return false;
                }
                if (hi < lo) {
                    free(r);
                    return fail_at(b, KY_ERR_FORMAT, start, "character range out of order", NULL);
                }
            }
            if (!grow(b, (void **)&r, &cap, n + 1, sizeof *r)) {
                free(r);
                return false;
            }
            r[n++] = (cprange){lo, hi};
        }
    }
    n = normalize_ranges(b, &r, n, &cap, neg);
    bool ok = b->st == KY_OK && emit_class(b, rule, atom, r, n);
    free(r);
    return ok;
}

static bool parse_uint(gbuild *b, uint32_t *out) {
    size_t at = b->pos;
    uint64_t v = 0;
    if (peek(b) < '0' || peek(b) > '9')
        return fail_at(b, KY_ERR_FORMAT, at, "expected a number in {m,n}", NULL);
    while (peek(b) >= '0' && peek(b) <= '9') {
        v = v * 10 + (uint64_t)(peek(b) - '0');
        if (v > KY_GRAMMAR_MAX_REPEAT)
            return fail_at(b, KY_ERR_UNSUPPORTED, at, "repetition count over the limit", NULL);
        b->pos++;
    }
    *out = (uint32_t)v;
    return true;
}

static bool parse_atom(gbuild *b, uint32_t rule, bseq *atom) {
    int c = peek(b);
    size_t at = b->pos;
    if (c == '"') return parse_literal(b, atom);
    if (c == '[') return parse_class(b, rule, atom, false);
    if (c == '.') return parse_class(b, rule, atom, true);
    if (c == '(') {
        if (++b->nest > KY_GRAMMAR_MAX_NEST)
            return fail_at(b, KY_ERR_UNSUPPORTED, at, "groups nested too deeply", NULL);
        b->pos++;
        uint32_t g = new_helper(b, rule);
        if (g == UINT32_MAX || !parse_alternates(b, g)) return false;
        skip_ws(b);
        if (peek(b) != ')') return fail_at(b, KY_ERR_FORMAT, at, "unclosed '('", NULL);
        b->pos++;
        b->nest--;
        brule *gr = &b->rules[g];
        if (gr->n_alts == 1) { /* inline a single alternative */
            bseq only = gr->alts[0];
            gr->alts[0].e = NULL;
            gr->n_alts = 0;
            gr->dead = true;
            bool ok = seq_append(b, atom, &only);
            b->n_elems -= only.n + 1u; /* the inlined copy replaces the group's elements */
            free(only.e);
            return ok;
        }
        return seq_push(b, atom, GE_MAKE(GE_REF, g));
    }
    size_t n = name_len_at(b, b->pos);
    if (n) {
        uint32_t r = named_rule(b, b->src + b->pos, n);
        if (r == UINT32_MAX) return false;
        if (!b->rules[r].defined && !b->rules[r].ref_line)
            pos_linecol(b, b->pos, &b->rules[r].ref_line, &b->rules[r].ref_col);
        b->pos += n;
        return seq_push(b, atom, GE_MAKE(GE_REF, r));
    }
    char s[2] = {(char)c, 0};
    return fail_at(b, KY_ERR_FORMAT, at, "unexpected character", c >= 32 && c < 127 ? s : "?");
}

static bool parse_sequence(gbuild *b, uint32_t rule, bseq *seq) {
    for (;;) {
        skip_ws(b);
        int c = peek(b);
        if (c < 0 || c == '|' || c == ')' || at_rule_start(b)) return true;
        bseq atom = {0};
        if (!parse_atom(b, rule, &atom)) {
            free(atom.e);
            return false;
        }
        for (;;) {
            size_t save = b->pos;
            skip_ws(b);
            c = peek(b);
            uint32_t min, max;
            if (c == '*') {
                min = 0, max = UINT32_MAX;
            } else if (c == '+') {
                min = 1, max = UINT32_MAX;
            } else if (c == '?') {
                min = 0, max = 1;
            } else if (c == '{') {
                size_t at = b->pos++;
                skip_ws(b);
                if (!parse_uint(b, &min)) goto fail;
                skip_ws(b);
                max = min;
                if (peek(b) == ',') {
                    b->pos++;
                    skip_ws(b);
                    max = UINT32_MAX;
                    if (peek(b) != '}' && !parse_uint(b, &max)) goto fail;
                    skip_ws(b);
                }
                if (peek(b) != '}') {
                    fail_at(b, KY_ERR_FORMAT, at, "expected '}' after {m,n}", NULL);
                    goto fail;
                }
                if (max < min) {
                    fail_at(b, KY_ERR_FORMAT, at, "{m,n} with n < m", NULL);
                    goto fail;
                }
            } else {
                b->pos = save;
                break;
            }
            b->pos++;
            bseq rep = {0};
            bool ok = repeat(b, rule, &rep, &atom, min, max);
            free(atom.e);
            atom = rep;
            if (!ok) goto fail;
        }
        bool ok = seq_append(b, seq, &atom);
        b->n_elems -= atom.n; /* moved, not copied */
        free(atom.e);
        if (!ok) return false;
        continue;
    fail:
        free(atom.e);
        return false;
    }
}

static bool parse_alternates(gbuild *b, uint32_t rule) {
    for (;;) {
        bseq tmp = {0};
        if (!parse_sequence(b, rule, &tmp)) {
            free(tmp.e);
            return false;
        }
        bseq *a = new_alt(b, rule);
        if (!a) {
            free(tmp.e);
            return false;
        }
        *a = tmp;
        skip_ws(b);
        if (peek(b) != '|') return true;
        b->pos++;
    }
}

static bool parse_grammar(gbuild *b) {
    for (;;) {
        skip_ws(b);
        if (b->pos >= b->len) return true;
        size_t at = b->pos, n = name_len_at(b, b->pos);
        if (!n) return fail_at(b, KY_ERR_FORMAT, at, "expected a rule name", NULL);
        uint32_t r = named_rule(b, b->src + at, n);
        if (r == UINT32_MAX) return false;
        b->pos += n;
        skip_ws(b);
        if (b->pos + 3 > b->len || memcmp(b->src + b->pos, "::=", 3))
            return fail_at(b, KY_ERR_FORMAT, b->pos, "expected '::=' after rule name",
                           b->rules[r].name);
        b->pos += 3;
        if (b->rules[r].defined)
            return fail_at(b, KY_ERR_FORMAT, at, "rule defined twice:", b->rules[r].name);
        b->rules[r].defined = true;
        if (!parse_alternates(b, r)) return false;
        skip_ws(b);
        if (peek(b) == ')') return fail_at(b, KY_ERR_FORMAT, b->pos, "unmatched ')'", NULL);
    }
}

static void build_free(gbuild *b) {
    for (uint32_t i = 0; i < b->n_rules; i++) {
        for (uint32_t a = 0; a < b->rules[i].n_alts; a++) free(b->rules[i].alts[a].e);
        free(b->rules[i].alts);
        free(b->rules[i].name);
    }
    free(b->rules);
    free(b->name_ht);
    free(b->sets);
}

void gram_free(gram *g) {
    if (!g) return;
    if (g->rule_name)
        for (uint32_t i = 0; i < g->n_rules; i++) free(g->rule_name[i]);
    free(g->rule_name);
    free(g->rule_alt);
    free(g->alt_first);
    free(g->elems);
    free(g->elem_rule);
    free(g->sets);
    free(g->reachable);
    free(g->nullable);
    free(g->follow);
    free(g->site);
    free(g);
}

/* Flattens the builder into a gram (takes the rule names). */
static gram *flatten(gbuild *b) {
    gram *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    uint64_t n_alts = 0, n_elems = 0;
    for (uint32_t i = 0; i < b->n_rules; i++) {
        n_alts += b->rules[i].n_alts;
        for (uint32_t a = 0; a < b->rules[i].n_alts; a++) n_elems += b->rules[i].alts[a].n + 1u;
    }
    g->n_rules = b->n_rules;
    g->n_alts = (uint32_t)n_alts;
    g->n_elems = (uint32_t)n_elems;
    g->n_sets = b->n_sets;
    g->rule_name = calloc(b->n_rules ? b->n_rules : 1, sizeof *g->rule_name);
    g->rule_alt = malloc(((size_t)b->n_rules + 1) * sizeof *g->rule_alt);
    g->alt_first = malloc((n_alts ? n_alts : 1) * sizeof *g->alt_first);
    g->elems = malloc((n_elems ? n_elems : 1) * sizeof *g->elems);
    g->elem_rule = malloc((n_elems ? n_elems : 1) * sizeof *g->elem_rule);
    g->sets = malloc((b->n_sets ? b->n_sets : 1) * sizeof *g->sets);
    if (!g->rule_name || !g->rule_alt || !g->alt_first || !g->elems || !g->elem_rule || !g->sets) {
        gram_free(g);
        return NULL;
    }
    if (b->n_sets) memcpy(g->sets, b->sets, b->n_sets * sizeof *g->sets);
    uint32_t ai = 0, ei = 0;
    for (uint32_t i = 0; i < b->n_rules; i++) {
        g->rule_name[i] = b->rules[i].name;
        b->rules[i].name = NULL;
        g->rule_alt[i] = ai;
        for (uint32_t a = 0; a < b->rules[i].n_alts; a++) {
            g->alt_first[ai++] = ei;
            bseq *s = &b->rules[i].alts[a];
            for (uint32_t k = 0; k < s->n; k++) {
                g->elem_rule[ei] = i;
                g->elems[ei++] = s->e[k];
            }
            g->elem_rule[ei] = i;
            g->elems[ei++] = GE_MAKE(GE_END, 0);
        }
    }
    g->rule_alt[b->n_rules] = ai;
    return g;
}

ky_status gram_parse_gbnf(const char *text, size_t len, gram **out, ky_error *err) {
    if (!out || (!text && len)) return ky_errf(err, KY_ERR_INVALID_ARG, "grammar: NULL argument");
    if (len > KY_GRAMMAR_MAX_SOURCE)
        return ky_errf(err, KY_ERR_UNSUPPORTED, "grammar: %zu bytes is over the limit of %u", len,
                       KY_GRAMMAR_MAX_SOURCE);
    gbuild b;
    memset(&b, 0, sizeof b);
    b.src = text ? text : "";
    b.len = len;
    b.err = err;
    parse_grammar(&b);
    uint32_t root = UINT32_MAX;
    for (uint32_t i = 0; b.st == KY_OK && i < b.n_rules; i++) {
        if (!b.rules[i].defined) {
            b.st = ky_errf(err, KY_ERR_FORMAT, "grammar:%u:%u: undefined rule '%s'",
                           b.rules[i].ref_line, b.rules[i].ref_col, b.rules[i].name);
        }
        if (!b.rules[i].helper && !strcmp(b.rules[i].name, "root")) root = i;
    }
    if (b.st == KY_OK && root == UINT32_MAX)
        b.st = ky_errf(err, KY_ERR_FORMAT, "grammar: no 'root' rule");
    gram *g = NULL;
    if (b.st == KY_OK) {
        g = flatten(&b);
        if (!g) b.st = ky_errf(err, KY_ERR_NOMEM, "grammar: out of memory");
    }
    build_free(&b);
    if (b.st != KY_OK) return b.st;
    g->root = root;
    ky_status st = gram_analyze(g, err);
    if (st != KY_OK) {
        gram_free(g);
        return st;
    }
    *out = g;
    return KY_OK;
}
