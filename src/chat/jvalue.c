/* jvalue.c — values of the Jinja interpreter: arena, strings with per-byte provenance, lists,
 * dicts, Python's str()/repr()/==/<, transformers' tojson and conversion from JSON
 * (layer: chat).
 *
 * Python semantics matter byte for byte: floats print as repr() does (shortest round trip,
 * "1.0", "1e-05"), True/False/None print capitalised, lists and dicts print as Python reprs,
 * tojson is json.dumps(ensure_ascii=False) with ", " / ": " separators and key order kept.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "chat/jinja.h"

struct jx_chunk {
    jx_chunk *next;
    size_t cap, used;
    max_align_t data[];
};

void *jx_alloc(jx_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (a->limit && (n > a->limit || a->used > a->limit - n)) return NULL;
    jx_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

void jx_arena_free(jx_arena *a) {
    jx_chunk *c = a->head;
    while (c) {
        jx_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

_Noreturn void jx_fail(jx_ctx *c, ky_status st, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ky_errf(c->err, st, "template %s line %d: %s", c->tmpl_name, c->line, msg);
    longjmp(c->fail, 1);
}

void *jx_calloc(jx_ctx *c, size_t n) {
    void *p = jx_alloc(&c->arena, n);
    if (!p)
        jx_fail(c, KY_ERR_NOMEM, "rendering needs more than %u MiB of memory",
                KY_TMPL_MAX_MEMORY >> 20);
    return p;
}

void jx_step(jx_ctx *c) {
    if (++c->steps > KY_TMPL_MAX_STEPS)
        jx_fail(c, KY_ERR_UNSUPPORTED, "rendering takes more than %u steps (a loop too long?)",
                KY_TMPL_MAX_STEPS);
}

jv jv_undef(const char *name) { return (jv){.t = JV_UNDEF, .u.uname = name}; }
jv jv_none(void) { return (jv){.t = JV_NONE}; }
jv jv_bool(bool b) { return (jv){.t = JV_BOOL, .u.b = b}; }
jv jv_int(int64_t i) { return (jv){.t = JV_INT, .u.i = i}; }
jv jv_float(double f) { return (jv){.t = JV_FLOAT, .u.f = f}; }

jstr *jstr_new(jx_arena *a, const char *s, size_t n, uint8_t prov) {
    if (n > SIZE_MAX - sizeof(jstr) - 1) return NULL;
    jstr *r = jx_alloc(a, sizeof *r + n + 1);
    if (!r) return NULL;
    r->n = n;
    r->prov = prov;
    if (s && n) memcpy(r->s, s, n);
    return r;
}

jv jv_str(jx_ctx *c, const char *s, size_t n, uint8_t prov) {
    jstr *r = jstr_new(&c->arena, s, n, prov);
    if (!r)
        jx_fail(c, KY_ERR_NOMEM, "rendering needs more than %u MiB of memory",
                KY_TMPL_MAX_MEMORY >> 20);
    return (jv){.t = JV_STR, .u.s = r};
}

jv jv_str_buf(jx_ctx *c, const jbuf *b) {
    bool any_t = false, any_d = false;
    for (size_t i = 0; i < b->n; i++) {
        if (b->pv[i])
            any_d = true;
        else
            any_t = true;
    }
    jv v = jv_str(c, b->s, b->n, any_d ? JP_DATA : JP_TMPL);
    if (any_d && any_t) {
        uint8_t *pv = jx_calloc(c, b->n);
        memcpy(pv, b->pv, b->n);
        v.u.s->prov = JP_MIXED;
        v.u.s->pv = pv;
    }
    return v;
}

uint8_t jv_derived_prov(const jv *a, const jv *b) {
    bool d = (a && a->t == JV_STR && a->u.s->prov != JP_TMPL) ||
             (b && b->t == JV_STR && b->u.s->prov != JP_TMPL);
    return d ? JP_DATA : JP_TMPL;
}

jlist *jlist_new(jx_ctx *c, size_t cap) {
    jlist *l = jx_calloc(c, sizeof *l);
    if (cap) {
        l->v = jx_calloc(c, cap * sizeof *l->v);
        l->cap = cap;
    }
    return l;
}

void jlist_push(jx_ctx *c, jlist *l, jv v) {
    if (l->n == l->cap) {
        if (l->n >= KY_TMPL_MAX_RANGE)
            jx_fail(c, KY_ERR_UNSUPPORTED, "a list longer than %d elements", KY_TMPL_MAX_RANGE);
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *nv = jx_calloc(c, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

jdict *jdict_new(jx_ctx *c, size_t cap) {
    jdict *d = jx_calloc(c, sizeof *d);
    if (cap) {
        d->k = jx_calloc(c, cap * sizeof *d->k);
        d->v = jx_calloc(c, cap * sizeof *d->v);
        d->cap = cap;
    }
    return d;
}

jv *jdict_get_v(const jdict *d, const jv *key) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(&d->k[i], key)) return &d->v[i];
    return NULL;
}

jv *jdict_get(const jdict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].u.s->n == n && !memcmp(d->k[i].u.s->s, key, n))
            return &d->v[i];
    return NULL;
}

/* Appends a key known to be new. */
static void jdict_append(jx_ctx *c, jdict *d, jv key, jv v) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *nk = jx_calloc(c, cap * sizeof *nk), *nv = jx_calloc(c, cap * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n] = v;
    d->n++;
}

void jdict_set(jx_ctx *c, jdict *d, jv key, jv v) {
    jv *old = jdict_get_v(d, &key);
    if (old)
        *old = v;
    else
        jdict_append(c, d, key, v);
}

bool jv_is_number(const jv *v) { return v->t == JV_INT || v->t == JV_FLOAT || v->t == JV_BOOL; }

double jv_num(const jv *v) {
    if (v->t == JV_FLOAT) return v->u.f;
    if (v->t == JV_BOOL) return v->u.b;
    return (double)v->u.i;
}

bool jv_truthy(const jv *v) {
    switch (v->t) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v->u.b;
    case JV_INT: return v->u.i != 0;
    case JV_FLOAT: return v->u.f != 0;
    case JV_STR: return v->u.s->n > 0;
    case JV_LIST: return v->u.l->n > 0;
    case JV_DICT: return v->u.d->n > 0 || v->u.d->ns;
    default: return true;
    }
}

bool jv_equal(const jv *a, const jv *b) {
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a->t != JV_FLOAT && b->t != JV_FLOAT) {
            int64_t x = a->t == JV_BOOL ? a->u.b : a->u.i, y = b->t == JV_BOOL ? b->u.b : b->u.i;
            return x == y;
        }
        return jv_num(a) == jv_num(b);
    }
    if (a->t != b->t) return false;
    switch (a->t) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_STR: return a->u.s->n == b->u.s->n && !memcmp(a->u.s->s, b->u.s->s, a->u.s->n);
    case JV_LIST:
        if (a->u.l->n != b->u.l->n) return false;
        for (size_t i = 0; i < a->u.l->n; i++)
            if (!jv_equal(&a->u.l->v[i], &b->u.l->v[i])) return false;
        return true;
    case JV_DICT:
        if (a->u.d->n != b->u.d->n) return false;
        for (size_t i = 0; i < a->u.d->n; i++) {
            jv *o = jdict_get_v(b->u.d, &a->u.d->k[i]);
            if (!o || !jv_equal(&a->u.d->v[i], o)) return false;
        }
        return true;
    case JV_MACRO: return a->u.m == b->u.m;
    case JV_LOOP: return a->u.lp == b->u.lp;
    case JV_FUNC: return a->u.fn == b->u.fn;
    default: return false;
    }
}

const char *jv_type_name(const jv *v) {
    static const char *const names[] = {"Undefined", "NoneType",    "bool",    "int",
                                        "float",     "str",         "list",    "dict",
                                        "macro",     "LoopContext", "function"};
    if (v->t == JV_LIST && v->u.l->tuple) return "tuple";
    if (v->t == JV_DICT && v->u.d->ns) return "Namespace";
    return v->t < sizeof names / sizeof names[0] ? names[v->t] : "?";
}

int jv_compare(jx_ctx *c, const jv *a, const jv *b) {
    if (jv_is_number(a) && jv_is_number(b)) {
        double x = jv_num(a), y = jv_num(b);
        if (a->t != JV_FLOAT && b->t != JV_FLOAT) {
            int64_t p = a->t == JV_BOOL ? a->u.b : a->u.i, q = b->t == JV_BOOL ? b->u.b : b->u.i;
            return p < q ? -1 : p > q;
        }
        return x < y ? -1 : x > y;
    }
    if (a->t == JV_STR && b->t == JV_STR) {
        size_t m = a->u.s->n < b->u.s->n ? a->u.s->n : b->u.s->n;
        int r = memcmp(a->u.s->s, b->u.s->s, m);
        if (r) return r < 0 ? -1 : 1;
        return a->u.s->n < b->u.s->n ? -1 : a->u.s->n > b->u.s->n;
    }
    if (a->t == JV_LIST && b->t == JV_LIST) {
        for (size_t i = 0; i < a->u.l->n && i < b->u.l->n; i++) {
            if (jv_equal(&a->u.l->v[i], &b->u.l->v[i])) continue;
            return jv_compare(c, &a->u.l->v[i], &b->u.l->v[i]);
        }
        return a->u.l->n < b->u.l->n ? -1 : a->u.l->n > b->u.l->n;
    }
    jx_fail(c, KY_ERR_INVALID_ARG, "'<' not supported between instances of '%s' and '%s'",
            jv_type_name(a), jv_type_name(b));
}

size_t jv_str_chars(const jstr *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (((unsigned char)s->s[i] & 0xC0) != 0x80) n++;
    return n;
}

/* ---- buffers ---------------------------------------------------------------------------- */

void jbuf_init(jx_ctx *c, jbuf *b) {
    (void)c;
    memset(b, 0, sizeof *b);
}

static void jbuf_reserve(jx_ctx *c, jbuf *b, size_t extra) {
    if (extra > KY_TMPL_MAX_OUTPUT || b->n > KY_TMPL_MAX_OUTPUT - extra)
        jx_fail(c, KY_ERR_UNSUPPORTED, "rendered text longer than %u MiB",
                KY_TMPL_MAX_OUTPUT >> 20);
    if (b->n + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    char *s = jx_calloc(c, cap + 1);
    uint8_t *pv = jx_calloc(c, cap);
    if (b->n) {
        memcpy(s, b->s, b->n);
        memcpy(pv, b->pv, b->n);
    }
    b->s = s;
    b->pv = pv;
    b->cap = cap;
}

void jbuf_put(jx_ctx *c, jbuf *b, const char *s, size_t n, uint8_t prov) {
    if (!n) return;
    jbuf_reserve(c, b, n);
    memcpy(b->s + b->n, s, n);
    memset(b->pv + b->n, prov ? 1 : 0, n);
    b->n += n;
    b->s[b->n] = 0;
}

void jbuf_put_str(jx_ctx *c, jbuf *b, const jstr *s) {
    if (!s->n) return;
    jbuf_reserve(c, b, s->n);
    memcpy(b->s + b->n, s->s, s->n);
    if (s->prov == JP_MIXED)
        memcpy(b->pv + b->n, s->pv, s->n);
    else
        memset(b->pv + b->n, s->prov, s->n);
    b->n += s->n;
    b->s[b->n] = 0;
}

static void put_lit(jx_ctx *c, jbuf *b, const char *s) { jbuf_put(c, b, s, strlen(s), JP_TMPL); }

/* Python's repr(float). */
static void write_float(jx_ctx *c, jbuf *b, double f, bool json) {
    char buf[40];
    if (isnan(f)) {
        put_lit(c, b, json ? "NaN" : "nan");
        return;
    }
    if (isinf(f)) {
        put_lit(c, b, f < 0 ? (json ? "-Infinity" : "-inf") : (json ? "Infinity" : "inf"));
        return;
    }
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf = d.ddde±XX: digits and exponent */
    char digits[24];
    size_t nd = 0;
    const char *p = buf;
    bool neg = false;
    if (*p == '-') neg = true, p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char out[64];
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (exp10 < -4 || exp10 >= 16) {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (size_t i = 1; i < nd; i++) out[k++] = digits[i];
        }
        k += (size_t)snprintf(out + k, sizeof out - k, "e%c%02d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = -1; i > exp10; i--) out[k++] = '0';
        for (size_t i = 0; i < nd; i++) out[k++] = digits[i];
    } else {
        for (int i = 0; i <= exp10; i++) out[k++] = (size_t)i < nd ? digits[i] : '0';
        out[k++] = '.';
        if ((size_t)exp10 + 1 < nd)
            for (size_t i = (size_t)exp10 + 1; i < nd; i++) out[k++] = digits[i];
        else
            out[k++] = '0';
    }
    jbuf_put(c, b, out, k, JP_TMPL);
}

static void write_int(jx_ctx *c, jbuf *b, int64_t i) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)i);
    jbuf_put(c, b, buf, (size_t)n, JP_TMPL);
}

/* Python's repr(str): quotes chosen as Python does, control characters escaped. */
static void write_str_repr(jx_ctx *c, jbuf *b, const jstr *s) {
    bool has_sq = memchr(s->s, '\'', s->n) != NULL, has_dq = memchr(s->s, '"', s->n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jbuf_put(c, b, &q, 1, JP_TMPL);
    size_t run = 0;
    for (size_t i = 0; i <= s->n; i++) {
        unsigned char ch = i < s->n ? (unsigned char)s->s[i] : 0;
        const char *esc = NULL;
        char tmp[8];
        if (i < s->n) {
            if (ch == '\\')
                esc = "\\\\";
            else if (ch == (unsigned char)q)
                esc = q == '\'' ? "\\'" : "\\\"";
            else if (ch == '\n')
                esc = "\\n";
            else if (ch == '\r')
                esc = "\\r";
            else if (ch == '\t')
                esc = "\\t";
            else if (ch < 0x20 || ch == 0x7f) {
                snprintf(tmp, sizeof tmp, "\\x%02x", ch);
                esc = tmp;
            }
        }
        if (i == s->n || esc) {
            size_t start = i - run;
            for (size_t j = start; j < i; j++) jbuf_put(c, b, s->s + j, 1, jstr_prov_at(s, j));
            run = 0;
            if (esc) jbuf_put(c, b, esc, strlen(esc), jstr_prov_at(s, i));
        } else {
            run++;
        }
    }
    jbuf_put(c, b, &q, 1, JP_TMPL);
}

void jv_write_repr(jx_ctx *c, jbuf *b, const jv *v) {
    jx_step(c);
    switch (v->t) {
    case JV_STR: write_str_repr(c, b, v->u.s); break;
    case JV_LIST: {
        const jlist *l = v->u.l;
        put_lit(c, b, l->tuple ? "(" : "[");
        for (size_t i = 0; i < l->n; i++) {
            if (i) put_lit(c, b, ", ");
            jv_write_repr(c, b, &l->v[i]);
        }
        if (l->tuple && l->n == 1) put_lit(c, b, ",");
        put_lit(c, b, l->tuple ? ")" : "]");
        break;
    }
    case JV_DICT: {
        const jdict *d = v->u.d;
        if (d->ns) put_lit(c, b, "<Namespace ");
        put_lit(c, b, "{");
        for (size_t i = 0; i < d->n; i++) {
            if (i) put_lit(c, b, ", ");
            jv_write_repr(c, b, &d->k[i]);
            put_lit(c, b, ": ");
            jv_write_repr(c, b, &d->v[i]);
        }
        put_lit(c, b, "}");
        if (d->ns) put_lit(c, b, ">");
        break;
    }
    default: jv_write_str(c, b, v);
    }
}

void jv_write_str(jx_ctx *c, jbuf *b, const jv *v) {
    switch (v->t) {
    case JV_UNDEF: break;
    case JV_NONE: put_lit(c, b, "None"); break;
    case JV_BOOL: put_lit(c, b, v->u.b ? "True" : "False"); break;
    case JV_INT: write_int(c, b, v->u.i); break;
    case JV_FLOAT: write_float(c, b, v->u.f, false); break;
    case JV_STR: jbuf_put_str(c, b, v->u.s); break;
    case JV_LIST:
    case JV_DICT: jv_write_repr(c, b, v); break;
    case JV_MACRO: put_lit(c, b, "<Macro>"); break;
    case JV_LOOP: put_lit(c, b, "<LoopContext>"); break;
    default: put_lit(c, b, "<function>"); break;
    }
}

jv jv_to_string(jx_ctx *c, const jv *v) {
    if (v->t == JV_STR) return *v;
    jbuf b;
    jbuf_init(c, &b);
    jv_write_str(c, &b, v);
    return jv_str_buf(c, &b);
}

/* ---- tojson ----------------------------------------------------------------------------- */

static void write_json_string(jx_ctx *c, jbuf *b, const jstr *s) {
    put_lit(c, b, "\"");
    for (size_t i = 0; i < s->n; i++) {
        unsigned char ch = (unsigned char)s->s[i];
        uint8_t p = jstr_prov_at(s, i);
        char tmp[8];
        const char *esc = NULL;
        if (ch == '"')
            esc = "\\\"";
        else if (ch == '\\')
            esc = "\\\\";
        else if (ch == '\n')
            esc = "\\n";
        else if (ch == '\r')
            esc = "\\r";
        else if (ch == '\t')
            esc = "\\t";
        else if (ch == '\b')
            esc = "\\b";
        else if (ch == '\f')
            esc = "\\f";
        else if (ch < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", ch);
            esc = tmp;
        }
        if (esc)
            jbuf_put(c, b, esc, strlen(esc), p);
        else
            jbuf_put(c, b, s->s + i, 1, p);
    }
    put_lit(c, b, "\"");
}

static void newline_indent(jx_ctx *c, jbuf *b, int indent, int level) {
    put_lit(c, b, "\n");
    for (int i = 0; i < indent * level; i++) put_lit(c, b, " ");
}

static void write_json(jx_ctx *c, jbuf *b, const jv *v, int indent, bool sort, int level) {
    jx_step(c);
    if (level > KY_TMPL_MAX_NEST) jx_fail(c, KY_ERR_UNSUPPORTED, "tojson: value nested too deeply");
    switch (v->t) {
    case JV_NONE: put_lit(c, b, "null"); break;
    case JV_BOOL: put_lit(c, b, v->u.b ? "true" : "false"); break;
    case JV_INT: write_int(c, b, v->u.i); break;
    case JV_FLOAT: write_float(c, b, v->u.f, true); break;
    case JV_STR: write_json_string(c, b, v->u.s); break;
    case JV_LIST: {
        const jlist *l = v->u.l;
        if (!l->n) {
            put_lit(c, b, "[]");
            break;
        }
        put_lit(c, b, "[");
        for (size_t i = 0; i < l->n; i++) {
            if (i) put_lit(c, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline_indent(c, b, indent, level + 1);
            write_json(c, b, &l->v[i], indent, sort, level + 1);
        }
        if (indent >= 0) newline_indent(c, b, indent, level);
        put_lit(c, b, "]");
        break;
    }
    case JV_DICT: {
        const jdict *d = v->u.d;
        if (!d->n) {
            put_lit(c, b, "{}");
            break;
        }
        size_t *order = jx_calloc(c, d->n * sizeof *order);
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (sort)
            for (size_t i = 1; i < d->n; i++) /* insertion sort: dicts are small */
                for (size_t j = i; j > 0 && jv_compare(c, &d->k[order[j]], &d->k[order[j - 1]]) < 0;
                     j--) {
                    size_t t = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = t;
                }
        put_lit(c, b, "{");
        for (size_t i = 0; i < d->n; i++) {
            const jv *k = &d->k[order[i]];
            if (i) put_lit(c, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline_indent(c, b, indent, level + 1);
            if (k->t == JV_STR) {
                write_json_string(c, b, k->u.s);
            } else {
                jv s = jv_to_string(c, k);
                if (k->t == JV_BOOL)
                    s = jv_str(c, k->u.b ? "true" : "false", k->u.b ? 4 : 5, JP_TMPL);
                if (k->t == JV_NONE) s = jv_str(c, "null", 4, JP_TMPL);
                write_json_string(c, b, s.u.s);
            }
            put_lit(c, b, ": ");
            write_json(c, b, &d->v[order[i]], indent, sort, level + 1);
        }
        if (indent >= 0) newline_indent(c, b, indent, level);
        put_lit(c, b, "}");
        break;
    }
    default:
        jx_fail(c, KY_ERR_INVALID_ARG, "Object of type %s is not JSON serializable",
                jv_type_name(v));
    }
}

void jv_write_json(jx_ctx *c, jbuf *b, const jv *v, int indent, bool sort) {
    write_json(c, b, v, indent, sort, 0);
}

jv jv_from_json(jx_ctx *c, const json_t *j, uint8_t prov, int depth) {
    if (depth > KY_TMPL_MAX_JSON_DEPTH)
        jx_fail(c, KY_ERR_INVALID_ARG, "variables nested deeper than %d levels",
                KY_TMPL_MAX_JSON_DEPTH);
    switch (json_typeof(j)) {
    case JSON_NULL: return jv_none();
    case JSON_TRUE: return jv_bool(true);
    case JSON_FALSE: return jv_bool(false);
    case JSON_INTEGER: return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL: return jv_float(json_real_value(j));
    case JSON_STRING: return jv_str(c, json_string_value(j), json_string_length(j), prov);
    case JSON_ARRAY: {
        jlist *l = jlist_new(c, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++)
            jlist_push(c, l, jv_from_json(c, json_array_get(j, i), prov, depth + 1));
        return (jv){.t = JV_LIST, .u.l = l};
    }
    case JSON_OBJECT: {
        jdict *d = jdict_new(c, json_object_size(j));
        const char *k;
        size_t klen;
        json_t *x;
        json_object_keylen_foreach((json_t *)j, k, klen, x) {
            jdict_append(c, d, jv_str(c, k, klen, prov), jv_from_json(c, x, prov, depth + 1));
        }
        return (jv){.t = JV_DICT, .u.d = d};
    }
    }
    return jv_none();
}
