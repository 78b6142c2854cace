/* jbuiltins.c — Jinja2's filters, tests, string / dict methods and global functions, as chat
 * templates use them (layer: chat).
 *
 * Each follows the Python implementation it stands for (jinja2/filters.py, jinja2/tests.py,
 * str/dict methods): Python's whitespace for strip/split, full-case upper ("ß" → "SS"), tojson
 * as transformers overrides it. The sandbox is ImmutableSandboxedEnvironment's: methods that
 * would mutate a list or dict (append, pop, update...) are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "base/limits.h"
#include "chat/jinja.h"

#define NAME_IS(nm, lit)  ((nm)->n == sizeof(lit) - 1 && !memcmp((nm)->s, lit, (nm)->n))
#define STR_IS(s, n, lit) ((n) == sizeof(lit) - 1 && !memcmp((s), lit, (n)))

/* Argument pos (positional index) or keyword name; NULL when absent. */
static const jv *arg(const jv *args, const jname *kw, size_t n, size_t pos, const char *name) {
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        if (kw && kw[i].n) {
            if (name && strlen(name) == kw[i].n && !memcmp(kw[i].s, name, kw[i].n)) return &args[i];
        } else if (p++ == pos) {
            return &args[i];
        }
    }
    return NULL;
}

static bool arg_bool(const jv *a, bool dflt) { return a ? jv_truthy(a) : dflt; }

static const jstr *need_str(jx_ctx *c, const jv *v, const char *what) {
    if (v->t == JV_STR) return v->u.s;
    jx_fail(c, KY_ERR_INVALID_ARG, "%s expects a string, not %s", what, jv_type_name(v));
}

static int64_t need_int(jx_ctx *c, const jv *v, const char *what) {
    if (v->t == JV_INT) return v->u.i;
    if (v->t == JV_BOOL) return v->u.b;
    jx_fail(c, KY_ERR_INVALID_ARG, "%s expects an integer, not %s", what, jv_type_name(v));
}

static jv list_v(jlist *l) { return (jv){.t = JV_LIST, .u.l = l}; }

/* ---- Unicode helpers --------------------------------------------------------------------- */

/* Decodes one code point at s[i] (invalid bytes decode as themselves, length 1). */
static int32_t cp_at(const jstr *s, size_t i, size_t *len) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r =
        utf8proc_iterate((const utf8proc_uint8_t *)s->s + i, (utf8proc_ssize_t)(s->n - i), &cp);
    if (r <= 0) {
        *len = 1;
        return -1;
    }
    *len = (size_t)r;
    return cp;
}

static bool is_py_space(int32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static void put_cp(jx_ctx *c, jbuf *b, int32_t cp, uint8_t prov) {
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, tmp);
    jbuf_put(c, b, (const char *)tmp, (size_t)n, prov);
}

enum { CASE_UPPER, CASE_LOWER, CASE_TITLE };

static void put_cased(jx_ctx *c, jbuf *b, int32_t cp, int mode, uint8_t prov) {
    if (mode != CASE_LOWER && cp == 0xDF) { /* ß: full case mapping */
        jbuf_put(c, b, mode == CASE_UPPER ? "SS" : "Ss", 2, prov);
        return;
    }
    int32_t r = mode == CASE_UPPER   ? utf8proc_toupper(cp)
                : mode == CASE_LOWER ? utf8proc_tolower(cp)
                                     : utf8proc_totitle(cp);
    put_cp(c, b, r, prov);
}

/* Maps the case of every code point (mode), or Python's capitalize()/title() shapes. */
static jv recase(jx_ctx *c, const jstr *s, int mode, int shape) {
    jbuf b;
    jbuf_init(c, &b);
    bool first = true, prev_cased = false;
    for (size_t i = 0; i < s->n;) {
        size_t len;
        int32_t cp = cp_at(s, i, &len);
        uint8_t p = jstr_prov_at(s, i);
        if (cp < 0) {
            jbuf_put(c, &b, s->s + i, 1, p);
        } else if (shape == 1) { /* capitalize: first titlecased, rest lower */
            put_cased(c, &b, cp, first ? CASE_TITLE : CASE_LOWER, p);
        } else if (shape == 2) { /* str.title(): upper after an uncased character */
            bool cased = utf8proc_category(cp) == UTF8PROC_CATEGORY_LU ||
                         utf8proc_category(cp) == UTF8PROC_CATEGORY_LL ||
                         utf8proc_category(cp) == UTF8PROC_CATEGORY_LT;
            put_cased(c, &b, cp, prev_cased ? CASE_LOWER : CASE_TITLE, p);
            prev_cased = cased;
        } else {
            put_cased(c, &b, cp, mode, p);
        }
        first = false;
        i += len;
    }
    return jv_str_buf(c, &b);
}

/* Strips Python whitespace (chars NULL) or any of the code points in chars from the ends. */
/* Is the code point cp at byte i of s stripped: Python whitespace (chars NULL) or one of the
 * code points of chars (an invalid byte matches the same byte)? */
static bool strip_hit(const jstr *s, const jstr *chars, size_t i, int32_t cp) {
    if (!chars) return is_py_space(cp);
    for (size_t k = 0; k < chars->n;) {
        size_t l2;
        int32_t q = cp_at(chars, k, &l2);
        if (q == cp && (cp >= 0 || chars->s[k] == s->s[i])) return true;
        k += l2;
    }
    return false;
}

static jv strip(jx_ctx *c, const jstr *s, const jstr *chars, bool left, bool right) {
    size_t a = 0, b = s->n;
    for (;;) {
        if (!left || a >= b) break;
        size_t len;
        int32_t cp = cp_at(s, a, &len);
        if (!strip_hit(s, chars, a, cp)) break;
        a += len;
    }
    while (right && b > a) {
        size_t st = b - 1;
        while (st > a && ((unsigned char)s->s[st] & 0xC0) == 0x80) st--;
        size_t len;
        int32_t cp = cp_at(s, st, &len);
        if (st + len != b) { /* invalid tail byte */
            st = b - 1;
            cp = -1;
        }
        if (!strip_hit(s, chars, st, cp)) break;
        b = st;
    }
    return jv_substr(c, s, a, b - a);
}

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == nd[0] && !memcmp(h + i, nd, nn)) return h + i;
    return NULL;
}

static jv replace(jx_ctx *c, const jstr *s, const jstr *old, const jstr *new_, int64_t count) {
    jbuf b;
    jbuf_init(c, &b);
    size_t i = 0;
    int64_t done = 0;
    if (old->n == 0) { /* Python inserts new between every character */
        for (size_t k = 0; k <= s->n;) {
            if (count < 0 || done < count) {
                jbuf_put_str(c, &b, new_);
                done++;
            }
            if (k == s->n) break;
            size_t len;
            cp_at(s, k, &len);
            jbuf_put_str(c, &b, jv_substr(c, s, k, len).u.s);
            k += len;
            jx_step(c);
        }
        return jv_str_buf(c, &b);
    }
    while (i < s->n) {
        const char *hit =
            (count < 0 || done < count) ? find_bytes(s->s + i, s->n - i, old->s, old->n) : NULL;
        size_t upto = hit ? (size_t)(hit - s->s) : s->n;
        if (upto > i) jbuf_put_str(c, &b, jv_substr(c, s, i, upto - i).u.s);
        if (!hit) break;
        jbuf_put_str(c, &b, new_);
        done++;
        i = upto + old->n;
        jx_step(c);
    }
    return jv_str_buf(c, &b);
}

static jv split(jx_ctx *c, const jstr *s, const jstr *sep, int64_t maxsplit) {
    jlist *l = jlist_new(c, 0);
    if (sep && sep->n == 0) jx_fail(c, KY_ERR_INVALID_ARG, "split: empty separator");
    size_t i = 0;
    int64_t done = 0;
    if (!sep) {
        for (;;) {
            while (i < s->n) {
                size_t len;
                if (!is_py_space(cp_at(s, i, &len))) break;
                i += len;
            }
            if (i >= s->n) break;
            size_t j = i;
            if (maxsplit >= 0 && done >= maxsplit) {
                size_t e = s->n; /* rest, trailing whitespace stripped */
                jv rest = strip(c, jv_substr(c, s, j, e - j).u.s, NULL, false, true);
                jlist_push(c, l, rest);
                break;
            }
            while (j < s->n) {
                size_t len;
                if (is_py_space(cp_at(s, j, &len))) break;
                j += len;
            }
            jlist_push(c, l, jv_substr(c, s, i, j - i));
            done++;
            i = j;
        }
        return list_v(l);
    }
    for (;;) {
        const char *hit = (maxsplit < 0 || done < maxsplit)
                              ? find_bytes(s->s + i, s->n - i, sep->s, sep->n)
                              : NULL;
        size_t upto = hit ? (size_t)(hit - s->s) : s->n;
        jlist_push(c, l, jv_substr(c, s, i, upto - i));
        if (!hit) break;
        done++;
        i = upto + sep->n;
    }
    return list_v(l);
}

static bool starts_or_ends(jx_ctx *c, const jstr *s, const jv *what, bool end) {
    if (what->t == JV_LIST) {
        for (size_t i = 0; i < what->u.l->n; i++)
            if (starts_or_ends(c, s, &what->u.l->v[i], end)) return true;
        return false;
    }
    const jstr *p = need_str(c, what, end ? "endswith" : "startswith");
    if (p->n > s->n) return false;
    return !memcmp(end ? s->s + s->n - p->n : s->s, p->s, p->n);
}

/* ---- sequences --------------------------------------------------------------------------- */

/* Attribute path "a.b.0" of v. */
static jv attr_path(jx_ctx *c, const jv *v, const jstr *path) {
    jv cur = *v;
    size_t i = 0;
    while (i <= path->n) {
        const char *dot = memchr(path->s + i, '.', path->n - i);
        size_t e = dot ? (size_t)(dot - path->s) : path->n;
        const char *part = path->s + i;
        size_t pn = e - i;
        bool digits = pn > 0;
        for (size_t k = 0; k < pn; k++)
            if (part[k] < '0' || part[k] > '9') digits = false;
        if (cur.t == JV_UNDEF) return cur;
        if (digits && cur.t == JV_LIST) {
            jv idx = jv_int(strtoll(part, NULL, 10));
            cur = jx_getitem(c, &cur, &idx);
        } else {
            cur = jx_getattr(c, &cur, part, pn);
        }
        if (!dot) break;
        i = e + 1;
    }
    return cur;
}

static jv apply_filter_by_name(jx_ctx *c, const jv *name, const jv *self, const jv *args,
                               const jname *kw, size_t n) {
    const jstr *s = need_str(c, name, "filter name");
    jname nm = {s->s, s->n};
    return jx_filter(c, &nm, self, args, kw, n);
}

/* select / reject / selectattr / rejectattr. */
static jv select_items(jx_ctx *c, const jv *self, const jv *args, size_t n, bool by_attr,
                       bool keep) {
    const jlist *in = jx_iter(c, self);
    jlist *out = jlist_new(c, 0);
    size_t k = 0;
    const jstr *attr = NULL;
    if (by_attr) {
        if (n < 1) jx_fail(c, KY_ERR_INVALID_ARG, "selectattr/rejectattr need an attribute name");
        attr = need_str(c, &args[0], "attribute");
        k = 1;
    }
    const jstr *test = n > k ? need_str(c, &args[k], "test name") : NULL;
    for (size_t i = 0; i < in->n; i++) {
        jx_step(c);
        jv item = attr ? attr_path(c, &in->v[i], attr) : in->v[i];
        bool r;
        if (test) {
            jname tn = {test->s, test->n};
            r = jx_test(c, &tn, &item, args + k + 1, n - k - 1);
        } else {
            r = jv_truthy(&item);
        }
        if (r == keep) jlist_push(c, out, in->v[i]);
    }
    return list_v(out);
}

static jv do_map(jx_ctx *c, const jv *self, const jv *args, const jname *kw, size_t n) {
    const jlist *in = jx_iter(c, self);
    jlist *out = jlist_new(c, in->n);
    const jv *attr = arg(args, kw, n, 99, "attribute");
    const jv *dflt = arg(args, kw, n, 99, "default");
    for (size_t i = 0; i < in->n; i++) {
        jx_step(c);
        jv r;
        if (attr) {
            r = attr_path(c, &in->v[i], need_str(c, attr, "map attribute"));
            if (r.t == JV_UNDEF && dflt) r = *dflt;
        } else {
            if (n < 1) jx_fail(c, KY_ERR_INVALID_ARG, "map needs a filter name or attribute=");
            r = apply_filter_by_name(c, &args[0], &in->v[i], args + 1, kw ? kw + 1 : NULL, n - 1);
        }
        jlist_push(c, out, r);
    }
    return list_v(out);
}

static jv join(jx_ctx *c, const jv *self, const jv *sep, const jv *attr) {
    const jlist *in = jx_iter(c, self);
    jbuf b;
    jbuf_init(c, &b);
    for (size_t i = 0; i < in->n; i++) {
        jx_step(c);
        if (i && sep) jv_write_str(c, &b, sep);
        jv item = attr ? attr_path(c, &in->v[i], need_str(c, attr, "join attribute")) : in->v[i];
        jv_write_str(c, &b, &item);
    }
    return jv_str_buf(c, &b);
}

static void sort_list(jx_ctx *c, jlist *l, bool reverse, const jstr *attr, bool case_sensitive) {
    /* insertion sort (stable); lists in templates are short and the step limit bounds it */
    for (size_t i = 1; i < l->n; i++) {
        for (size_t j = i; j > 0; j--) {
            jx_step(c);
            jv a = attr ? attr_path(c, &l->v[j], attr) : l->v[j];
            jv b = attr ? attr_path(c, &l->v[j - 1], attr) : l->v[j - 1];
            if (!case_sensitive && a.t == JV_STR && b.t == JV_STR) {
                a = recase(c, a.u.s, CASE_LOWER, 0);
                b = recase(c, b.u.s, CASE_LOWER, 0);
            }
            int r = jv_compare(c, &a, &b);
            if (reverse ? r <= 0 : r >= 0) break;
            jv t = l->v[j];
            l->v[j] = l->v[j - 1];
            l->v[j - 1] = t;
        }
    }
}

static jlist *copy_list(jx_ctx *c, const jlist *in) {
    jlist *l = jlist_new(c, in->n);
    for (size_t i = 0; i < in->n; i++) jlist_push(c, l, in->v[i]);
    return l;
}

static jv items_of(jx_ctx *c, const jv *self) {
    if (self->t == JV_UNDEF) return list_v(jlist_new(c, 0));
    if (self->t != JV_DICT)
        jx_fail(c, KY_ERR_INVALID_ARG, "can only get item pairs from a mapping, not %s",
                jv_type_name(self));
    jlist *l = jlist_new(c, self->u.d->n);
    for (size_t i = 0; i < self->u.d->n; i++) {
        jlist *pair = jlist_new(c, 2);
        pair->tuple = true;
        jlist_push(c, pair, self->u.d->k[i]);
        jlist_push(c, pair, self->u.d->v[i]);
        jlist_push(c, l, list_v(pair));
    }
    return list_v(l);
}

static int64_t length_of(jx_ctx *c, const jv *v) {
    switch (v->t) {
    case JV_STR: return (int64_t)jv_str_chars(v->u.s);
    case JV_LIST: return (int64_t)v->u.l->n;
    case JV_DICT: return (int64_t)v->u.d->n;
    case JV_UNDEF: return 0;
    default: jx_fail(c, KY_ERR_INVALID_ARG, "object of type '%s' has no len()", jv_type_name(v));
    }
}

static jv indent(jx_ctx *c, const jstr *s, const jv *width, bool first, bool blank) {
    jbuf pad;
    jbuf_init(c, &pad);
    if (!width || width->t != JV_STR) {
        int64_t w = width ? need_int(c, width, "indent width") : 4;
        for (int64_t i = 0; i < w && i < 1024; i++) jbuf_put(c, &pad, " ", 1, JP_TMPL);
    } else {
        jbuf_put_str(c, &pad, width->u.s);
    }
    jv padv = jv_str_buf(c, &pad);
    jbuf b;
    jbuf_init(c, &b);
    size_t i = 0;
    bool line0 = true;
    while (i <= s->n) {
        const char *nl = memchr(s->s + i, '\n', s->n - i);
        size_t e = nl ? (size_t)(nl - s->s) : s->n;
        bool empty = e == i;
        if ((!line0 || first) && (blank || !empty)) jbuf_put_str(c, &b, padv.u.s);
        if (e > i) jbuf_put_str(c, &b, jv_substr(c, s, i, e - i).u.s);
        if (!nl) break;
        jbuf_put_str(c, &b, jv_substr(c, s, e, 1).u.s);
        i = e + 1;
        line0 = false;
        jx_step(c);
    }
    return jv_str_buf(c, &b);
}

/* ---- filters ----------------------------------------------------------------------------- */

jv jx_filter(jx_ctx *c, const jname *name, const jv *self, const jv *args, const jname *kw,
             size_t n) {
    const jname *nm = name;
    if (NAME_IS(nm, "tojson")) {
        const jv *ind = arg(args, kw, n, 0, "indent");
        const jv *sk = arg(args, kw, n, 99, "sort_keys");
        int w = ind && ind->t != JV_NONE ? (int)need_int(c, ind, "tojson indent") : -1;
        if (w > 64) w = 64;
        jbuf b;
        jbuf_init(c, &b);
        jv_write_json(c, &b, self, w, arg_bool(sk, false));
        return jv_str_buf(c, &b);
    }
    if (NAME_IS(nm, "length") || NAME_IS(nm, "count")) return jv_int(length_of(c, self));
    if (NAME_IS(nm, "string")) return jv_to_string(c, self);
    if (NAME_IS(nm, "safe")) return *self;
    if (NAME_IS(nm, "default") || NAME_IS(nm, "d")) {
        const jv *dv = arg(args, kw, n, 0, "default_value");
        bool boolean = arg_bool(arg(args, kw, n, 1, "boolean"), false);
        if (self->t == JV_UNDEF || (boolean && !jv_truthy(self)))
            return dv ? *dv : jv_str(c, "", 0, JP_TMPL);
        return *self;
    }
    if (NAME_IS(nm, "items")) return items_of(c, self);
    if (NAME_IS(nm, "list")) return list_v(copy_list(c, jx_iter(c, self)));
    if (NAME_IS(nm, "first") || NAME_IS(nm, "last")) {
        const jlist *l = jx_iter(c, self);
        if (!l->n) return jv_undef(NULL);
        return NAME_IS(nm, "first") ? l->v[0] : l->v[l->n - 1];
    }
    if (NAME_IS(nm, "reverse")) {
        if (self->t == JV_STR) {
            const jlist *chars = jx_iter(c, self);
            jbuf b;
            jbuf_init(c, &b);
            for (size_t i = chars->n; i-- > 0;) jbuf_put_str(c, &b, chars->v[i].u.s);
            return jv_str_buf(c, &b);
        }
        const jlist *l = jx_iter(c, self);
        jlist *r = jlist_new(c, l->n);
        for (size_t i = l->n; i-- > 0;) jlist_push(c, r, l->v[i]);
        return list_v(r);
    }
    if (NAME_IS(nm, "join"))
        return join(c, self, arg(args, kw, n, 0, "d"), arg(args, kw, n, 1, "attribute"));
    if (NAME_IS(nm, "map")) return do_map(c, self, args, kw, n);
    if (NAME_IS(nm, "select")) return select_items(c, self, args, n, false, true);
    if (NAME_IS(nm, "reject")) return select_items(c, self, args, n, false, false);
    if (NAME_IS(nm, "selectattr")) return select_items(c, self, args, n, true, true);
    if (NAME_IS(nm, "rejectattr")) return select_items(c, self, args, n, true, false);
    if (NAME_IS(nm, "sort")) {
        jlist *l = copy_list(c, jx_iter(c, self));
        const jv *attr = arg(args, kw, n, 2, "attribute");
        sort_list(c, l, arg_bool(arg(args, kw, n, 0, "reverse"), false),
                  attr ? need_str(c, attr, "sort attribute") : NULL,
                  arg_bool(arg(args, kw, n, 1, "case_sensitive"), false));
        return list_v(l);
    }
    if (NAME_IS(nm, "dictsort")) {
        jv it = items_of(c, self);
        sort_list(c, it.u.l, arg_bool(arg(args, kw, n, 2, "reverse"), false), NULL,
                  arg_bool(arg(args, kw, n, 0, "case_sensitive"), false));
        return it;
    }
    if (NAME_IS(nm, "unique")) {
        const jlist *l = jx_iter(c, self);
        jlist *r = jlist_new(c, 0);
        for (size_t i = 0; i < l->n; i++) {
            bool seen = false;
            for (size_t j = 0; j < r->n && !seen; j++) seen = jv_equal(&r->v[j], &l->v[i]);
            jx_step(c);
            if (!seen) jlist_push(c, r, l->v[i]);
        }
        return list_v(r);
    }
    if (NAME_IS(nm, "min") || NAME_IS(nm, "max")) {
        const jlist *l = jx_iter(c, self);
        if (!l->n) return jv_undef(NULL);
        size_t best = 0;
        for (size_t i = 1; i < l->n; i++) {
            int r = jv_compare(c, &l->v[i], &l->v[best]);
            if (NAME_IS(nm, "min") ? r < 0 : r > 0) best = i;
        }
        return l->v[best];
    }
    if (NAME_IS(nm, "sum")) {
        const jlist *l = jx_iter(c, self);
        const jv *attr = arg(args, kw, n, 0, "attribute");
        const jv *start = arg(args, kw, n, 1, "start");
        jv acc = start ? *start : jv_int(0);
        for (size_t i = 0; i < l->n; i++) {
            jv x = attr ? attr_path(c, &l->v[i], need_str(c, attr, "sum attribute")) : l->v[i];
            if (!jv_is_number(&x) || !jv_is_number(&acc))
                jx_fail(c, KY_ERR_INVALID_ARG, "sum of non-numbers");
            if (acc.t == JV_FLOAT || x.t == JV_FLOAT)
                acc = jv_float(jv_num(&acc) + jv_num(&x));
            else if (__builtin_add_overflow(acc.u.i, x.t == JV_BOOL ? x.u.b : x.u.i, &acc.u.i))
                jx_fail(c, KY_ERR_UNSUPPORTED, "integer overflow");
        }
        return acc;
    }
    if (NAME_IS(nm, "attr")) {
        const jv *a = arg(args, kw, n, 0, "name");
        if (!a) jx_fail(c, KY_ERR_INVALID_ARG, "attr needs a name");
        const jstr *s = need_str(c, a, "attr");
        return jx_getattr(c, self, s->s, s->n);
    }
    if (NAME_IS(nm, "int")) {
        const jv *dv = arg(args, kw, n, 0, "default");
        if (self->t == JV_INT) return *self;
        if (self->t == JV_BOOL) return jv_int(self->u.b);
        if (self->t == JV_FLOAT && self->u.f > -9.2e18 && self->u.f < 9.2e18)
            return jv_int((int64_t)self->u.f);
        if (self->t == JV_STR) {
            char buf[64];
            jv t = strip(c, self->u.s, NULL, true, true);
            if (t.u.s->n && t.u.s->n < sizeof buf) {
                memcpy(buf, t.u.s->s, t.u.s->n);
                buf[t.u.s->n] = 0;
                char *e;
                long long v = strtoll(buf, &e, 10);
                if (!*e) return jv_int(v);
                double f = strtod(buf, &e);
                if (!*e && f > -9.2e18 && f < 9.2e18) return jv_int((int64_t)f);
            }
        }
        return dv ? *dv : jv_int(0);
    }
    if (NAME_IS(nm, "float")) {
        const jv *dv = arg(args, kw, n, 0, "default");
        if (jv_is_number(self)) return jv_float(jv_num(self));
        if (self->t == JV_STR && self->u.s->n < 64) {
            char buf[64], *e;
            memcpy(buf, self->u.s->s, self->u.s->n);
            buf[self->u.s->n] = 0;
            double f = strtod(buf, &e);
            if (e != buf && !*e) return jv_float(f);
        }
        return dv ? *dv : jv_float(0);
    }
    if (NAME_IS(nm, "abs")) {
        if (self->t == JV_FLOAT) return jv_float(self->u.f < 0 ? -self->u.f : self->u.f);
        int64_t i = need_int(c, self, "abs");
        if (i == INT64_MIN) jx_fail(c, KY_ERR_UNSUPPORTED, "integer overflow");
        return jv_int(i < 0 ? -i : i);
    }
    if (NAME_IS(nm, "round")) {
        const jv *p = arg(args, kw, n, 0, "precision");
        const jv *m = arg(args, kw, n, 1, "method");
        int64_t prec = p ? need_int(c, p, "round precision") : 0;
        if (prec > 15) prec = 15;
        if (prec < -15) prec = -15;
        double x = jv_num(self), scale = __builtin_pow(10.0, (double)prec);
        const jstr *meth = m ? need_str(c, m, "round method") : NULL;
        double r;
        if (meth && STR_IS(meth->s, meth->n, "floor"))
            r = __builtin_floor(x * scale) / scale;
        else if (meth && STR_IS(meth->s, meth->n, "ceil"))
            r = __builtin_ceil(x * scale) / scale;
        else
            r = __builtin_rint(x * scale) / scale; /* Python round(): half to even */
        return jv_float(r);
    }
    if (self->t == JV_UNDEF &&
        (NAME_IS(nm, "upper") || NAME_IS(nm, "lower") || NAME_IS(nm, "trim") ||
         NAME_IS(nm, "capitalize") || NAME_IS(nm, "title") || NAME_IS(nm, "replace") ||
         NAME_IS(nm, "indent") || NAME_IS(nm, "escape") || NAME_IS(nm, "e")))
        return jv_str(c, "", 0, JP_TMPL);
    jv sv = jv_to_string(c, self);
    const jstr *s = sv.u.s;
    if (NAME_IS(nm, "upper")) return recase(c, s, CASE_UPPER, 0);
    if (NAME_IS(nm, "lower")) return recase(c, s, CASE_LOWER, 0);
    if (NAME_IS(nm, "capitalize")) return recase(c, s, CASE_LOWER, 1);
    if (NAME_IS(nm, "title")) return recase(c, s, CASE_LOWER, 2);
    if (NAME_IS(nm, "trim")) {
        const jv *ch = arg(args, kw, n, 0, "chars");
        return strip(c, s, ch && ch->t != JV_NONE ? need_str(c, ch, "trim chars") : NULL, true,
                     true);
    }
    if (NAME_IS(nm, "replace")) {
        const jv *o = arg(args, kw, n, 0, "old"), *nw = arg(args, kw, n, 1, "new"),
                 *cnt = arg(args, kw, n, 2, "count");
        if (!o || !nw) jx_fail(c, KY_ERR_INVALID_ARG, "replace needs old and new");
        jv ov = jv_to_string(c, o), nv = jv_to_string(c, nw);
        return replace(c, s, ov.u.s, nv.u.s,
                       cnt && cnt->t != JV_NONE ? need_int(c, cnt, "replace count") : -1);
    }
    if (NAME_IS(nm, "indent")) {
        return indent(c, s, arg(args, kw, n, 0, "width"),
                      arg_bool(arg(args, kw, n, 1, "first"), false),
                      arg_bool(arg(args, kw, n, 2, "blank"), false));
    }
    if (NAME_IS(nm, "escape") || NAME_IS(nm, "e")) {
        jbuf b;
        jbuf_init(c, &b);
        for (size_t i = 0; i < s->n; i++) {
            const char *e = NULL;
            switch (s->s[i]) {
            case '&': e = "&amp;"; break;
            case '<': e = "&lt;"; break;
            case '>': e = "&gt;"; break;
            case '"': e = "&#34;"; break;
            case '\'': e = "&#39;"; break;
            }
            if (e)
                jbuf_put(c, &b, e, strlen(e), jstr_prov_at(s, i));
            else
                jbuf_put(c, &b, s->s + i, 1, jstr_prov_at(s, i));
        }
        return jv_str_buf(c, &b);
    }
    if (NAME_IS(nm, "wordcount")) {
        jv parts = split(c, s, NULL, -1);
        return jv_int((int64_t)parts.u.l->n);
    }
    jx_fail(c, KY_ERR_UNSUPPORTED, "no filter named '%.*s'", (int)nm->n, nm->s);
}

/* ---- tests ------------------------------------------------------------------------------- */

bool jx_test(jx_ctx *c, const jname *name, const jv *self, const jv *args, size_t n) {
    const jname *nm = name;
    const jv *a0 = n > 0 ? &args[0] : NULL;
    if (NAME_IS(nm, "defined")) return self->t != JV_UNDEF;
    if (NAME_IS(nm, "undefined")) return self->t == JV_UNDEF;
    if (NAME_IS(nm, "none")) return self->t == JV_NONE;
    if (NAME_IS(nm, "string")) return self->t == JV_STR;
    if (NAME_IS(nm, "number")) return jv_is_number(self);
    if (NAME_IS(nm, "integer")) return self->t == JV_INT;
    if (NAME_IS(nm, "float")) return self->t == JV_FLOAT;
    if (NAME_IS(nm, "boolean")) return self->t == JV_BOOL;
    if (NAME_IS(nm, "mapping")) return self->t == JV_DICT;
    if (NAME_IS(nm, "iterable"))
        return self->t == JV_STR || self->t == JV_LIST || self->t == JV_DICT || self->t == JV_UNDEF;
    if (NAME_IS(nm, "sequence"))
        return self->t == JV_STR || self->t == JV_LIST || self->t == JV_DICT;
    if (NAME_IS(nm, "true")) return self->t == JV_BOOL && self->u.b;
    if (NAME_IS(nm, "false")) return self->t == JV_BOOL && !self->u.b;
    if (NAME_IS(nm, "callable")) return self->t == JV_MACRO || self->t == JV_FUNC;
    if (NAME_IS(nm, "odd") || NAME_IS(nm, "even")) {
        int64_t i = need_int(c, self, "odd/even test");
        return NAME_IS(nm, "odd") ? (i % 2 != 0) : (i % 2 == 0);
    }
    if (NAME_IS(nm, "divisibleby")) {
        if (!a0) jx_fail(c, KY_ERR_INVALID_ARG, "divisibleby needs a number");
        int64_t d = need_int(c, a0, "divisibleby");
        if (d == 0) jx_fail(c, KY_ERR_INVALID_ARG, "integer division or modulo by zero");
        return need_int(c, self, "divisibleby") % d == 0;
    }
    if (NAME_IS(nm, "lower") || NAME_IS(nm, "upper")) {
        if (self->t != JV_STR) return false;
        jv r = recase(c, self->u.s, NAME_IS(nm, "lower") ? CASE_LOWER : CASE_UPPER, 0);
        return jv_equal(&r, self);
    }
    if (!a0) jx_fail(c, KY_ERR_INVALID_ARG, "test '%.*s' needs an argument", (int)nm->n, nm->s);
    if (NAME_IS(nm, "equalto") || NAME_IS(nm, "eq") || NAME_IS(nm, "==")) return jv_equal(self, a0);
    if (NAME_IS(nm, "ne") || NAME_IS(nm, "!=")) return !jv_equal(self, a0);
    if (NAME_IS(nm, "sameas"))
        return self->t == a0->t &&
               (self->t == JV_NONE || self->t == JV_UNDEF || jv_equal(self, a0));
    if (NAME_IS(nm, "lt") || NAME_IS(nm, "lessthan")) return jv_compare(c, self, a0) < 0;
    if (NAME_IS(nm, "le")) return jv_compare(c, self, a0) <= 0;
    if (NAME_IS(nm, "gt") || NAME_IS(nm, "greaterthan")) return jv_compare(c, self, a0) > 0;
    if (NAME_IS(nm, "ge")) return jv_compare(c, self, a0) >= 0;
    if (NAME_IS(nm, "in")) {
        if (a0->t == JV_STR && self->t == JV_STR)
            return find_bytes(a0->u.s->s, a0->u.s->n, self->u.s->s, self->u.s->n) != NULL;
        if (a0->t == JV_DICT) return jdict_get_v(a0->u.d, self) != NULL;
        const jlist *l = jx_iter(c, a0);
        for (size_t i = 0; i < l->n; i++)
            if (jv_equal(self, &l->v[i])) return true;
        return false;
    }
    jx_fail(c, KY_ERR_UNSUPPORTED, "no test named '%.*s'", (int)nm->n, nm->s);
}

/* ---- methods ----------------------------------------------------------------------------- */

static jv str_method(jx_ctx *c, const jstr *s, const char *m, size_t mn, const jv *args,
                     const jname *kw, size_t n, bool *found) {
    *found = true;
    const jv *a0 = arg(args, kw, n, 0, NULL), *a1 = arg(args, kw, n, 1, NULL);
#define M(lit) STR_IS(m, mn, lit)
    if (M("startswith") || M("endswith")) {
        if (!a0) jx_fail(c, KY_ERR_INVALID_ARG, "%.*s needs an argument", (int)mn, m);
        return jv_bool(starts_or_ends(c, s, a0, M("endswith")));
    }
    if (M("strip") || M("lstrip") || M("rstrip")) {
        const jstr *ch = a0 && a0->t != JV_NONE ? need_str(c, a0, "strip chars") : NULL;
        return strip(c, s, ch, !M("rstrip"), !M("lstrip"));
    }
    if (M("split")) {
        const jv *sep = arg(args, kw, n, 0, "sep"), *mx = arg(args, kw, n, 1, "maxsplit");
        return split(c, s, sep && sep->t != JV_NONE ? need_str(c, sep, "split separator") : NULL,
                     mx ? need_int(c, mx, "maxsplit") : -1);
    }
    if (M("splitlines")) {
        jlist *l = jlist_new(c, 0);
        size_t i = 0;
        while (i < s->n) {
            size_t e = i;
            while (e < s->n && s->s[e] != '\n' && s->s[e] != '\r') e++;
            jlist_push(c, l, jv_substr(c, s, i, e - i));
            if (e < s->n && s->s[e] == '\r' && e + 1 < s->n && s->s[e + 1] == '\n') e++;
            i = e + 1;
        }
        return list_v(l);
    }
    if (M("replace")) {
        if (!a0 || !a1) jx_fail(c, KY_ERR_INVALID_ARG, "replace needs two arguments");
        const jv *cnt = arg(args, kw, n, 2, "count");
        return replace(c, s, need_str(c, a0, "replace"), need_str(c, a1, "replace"),
                       cnt ? need_int(c, cnt, "replace count") : -1);
    }
    if (M("upper")) return recase(c, s, CASE_UPPER, 0);
    if (M("lower")) return recase(c, s, CASE_LOWER, 0);
    if (M("title")) return recase(c, s, CASE_LOWER, 2);
    if (M("capitalize")) return recase(c, s, CASE_LOWER, 1);
    if (M("find") || M("count") || M("rfind") || M("index")) {
        if (!a0) jx_fail(c, KY_ERR_INVALID_ARG, "%.*s needs an argument", (int)mn, m);
        const jstr *sub = need_str(c, a0, "find");
        if (M("count")) {
            int64_t k = 0;
            if (!sub->n) return jv_int((int64_t)jv_str_chars(s) + 1);
            for (size_t i = 0; i + sub->n <= s->n;) {
                if (!memcmp(s->s + i, sub->s, sub->n))
                    k++, i += sub->n;
                else
                    i++;
            }
            return jv_int(k);
        }
        int64_t pos = -1;
        for (size_t i = 0; i + sub->n <= s->n; i++)
            if (!memcmp(s->s + i, sub->s, sub->n)) {
                pos = (int64_t)i;
                if (!M("rfind")) break;
            }
        if (pos >= 0) { /* byte offset → code point offset */
            int64_t cp = 0;
            for (int64_t i = 0; i < pos; i++)
                if (((unsigned char)s->s[i] & 0xC0) != 0x80) cp++;
            pos = cp;
        } else if (M("index")) {
            jx_fail(c, KY_ERR_INVALID_ARG, "substring not found");
        }
        return jv_int(pos);
    }
    if (M("join")) {
        if (!a0) jx_fail(c, KY_ERR_INVALID_ARG, "join needs an argument");
        jv sep = {.t = JV_STR, .u.s = (jstr *)s};
        return join(c, a0, &sep, NULL);
    }
    if (M("isdigit") || M("isalpha") || M("isspace") || M("isalnum") || M("islower") ||
        M("isupper")) {
        if (!s->n) return jv_bool(false);
        if (M("islower") || M("isupper")) {
            jv r = recase(c, s, M("islower") ? CASE_LOWER : CASE_UPPER, 0);
            jv sv = {.t = JV_STR, .u.s = (jstr *)s};
            return jv_bool(jv_equal(&r, &sv));
        }
        for (size_t i = 0; i < s->n;) {
            size_t len;
            int32_t cp = cp_at(s, i, &len);
            utf8proc_category_t cat = cp >= 0 ? utf8proc_category(cp) : UTF8PROC_CATEGORY_CN;
            bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
            bool digit = cat == UTF8PROC_CATEGORY_ND;
            bool ok = M("isdigit")   ? digit
                      : M("isalpha") ? alpha
                      : M("isspace") ? is_py_space(cp)
                                     : (alpha || digit);
            if (!ok) return jv_bool(false);
            i += len;
        }
        return jv_bool(true);
    }
#undef M
    *found = false;
    return jv_undef(NULL);
}

jv jx_method(jx_ctx *c, const jv *obj, const char *name, size_t nlen, const jv *args,
             const jname *kw, size_t n, bool *found) {
    *found = false;
    const jv *a0 = arg(args, kw, n, 0, NULL);
#define M(lit) STR_IS(name, nlen, lit)
    if (obj->t == JV_STR) return str_method(c, obj->u.s, name, nlen, args, kw, n, found);
    if (obj->t == JV_DICT && !obj->u.d->ns) {
        *found = true;
        if (M("get")) {
            if (!a0) jx_fail(c, KY_ERR_INVALID_ARG, "get needs a key");
            jv *v = jdict_get_v(obj->u.d, a0);
            const jv *dv = arg(args, kw, n, 1, "default");
            return v ? *v : dv ? *dv : jv_none();
        }
        if (M("items")) return items_of(c, obj);
        if (M("keys") || M("values")) {
            jlist *l = jlist_new(c, obj->u.d->n);
            for (size_t i = 0; i < obj->u.d->n; i++)
                jlist_push(c, l, M("keys") ? obj->u.d->k[i] : obj->u.d->v[i]);
            return list_v(l);
        }
        if (M("copy")) {
            jdict *d = jdict_new(c, obj->u.d->n);
            for (size_t i = 0; i < obj->u.d->n; i++)
                jdict_set(c, d, obj->u.d->k[i], obj->u.d->v[i]);
            return (jv){.t = JV_DICT, .u.d = d};
        }
        *found = false;
    }
    if (obj->t == JV_LIST) {
        if (M("index") || M("count")) {
            *found = true;
            if (!a0) jx_fail(c, KY_ERR_INVALID_ARG, "%.*s needs an argument", (int)nlen, name);
            int64_t k = 0;
            for (size_t i = 0; i < obj->u.l->n; i++)
                if (jv_equal(&obj->u.l->v[i], a0)) {
                    if (M("index")) return jv_int((int64_t)i);
                    k++;
                }
            if (M("index")) jx_fail(c, KY_ERR_INVALID_ARG, "value is not in list");
            return jv_int(k);
        }
    }
    if (obj->t == JV_LIST || obj->t == JV_DICT) {
        static const char *const unsafe[] = {"append", "extend",     "insert",  "pop",
                                             "remove", "clear",      "sort",    "reverse",
                                             "update", "setdefault", "popitem", NULL};
        for (size_t i = 0; unsafe[i]; i++)
            if (strlen(unsafe[i]) == nlen && !memcmp(unsafe[i], name, nlen))
                jx_fail(c, KY_ERR_UNSUPPORTED, "access to attribute '%s' of '%s' object is unsafe",
                        unsafe[i], jv_type_name(obj));
    }
    if (obj->t == JV_LOOP && M("cycle")) {
        *found = true;
        if (!n) jx_fail(c, KY_ERR_INVALID_ARG, "no items for cycling given");
        return args[obj->u.lp->index0 % n];
    }
#undef M
    return jv_undef(NULL);
}

/* ---- global functions -------------------------------------------------------------------- */

jv jx_call_func(jx_ctx *c, int fn, const jv *args, const jname *kw, size_t n) {
    switch (fn) {
    case 0: { /* range */
        int64_t start = 0, stop, step = 1;
        size_t np = 0;
        for (size_t i = 0; i < n; i++)
            if (!kw || !kw[i].n) np++;
        if (np == 0 || np > 3) jx_fail(c, KY_ERR_INVALID_ARG, "range expects 1 to 3 arguments");
        if (np == 1)
            stop = need_int(c, &args[0], "range");
        else {
            start = need_int(c, &args[0], "range");
            stop = need_int(c, &args[1], "range");
            if (np == 3) step = need_int(c, &args[2], "range");
        }
        if (step == 0) jx_fail(c, KY_ERR_INVALID_ARG, "range() arg 3 must not be zero");
        double count = step > 0 ? ((double)stop - (double)start) / (double)step
                                : ((double)start - (double)stop) / (double)-step;
        if (count > KY_TMPL_MAX_RANGE)
            jx_fail(c, KY_ERR_UNSUPPORTED, "range() of more than %d elements", KY_TMPL_MAX_RANGE);
        jlist *l = jlist_new(c, count > 0 ? (size_t)count + 1 : 0);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            jx_step(c);
            jlist_push(c, l, jv_int(i));
        }
        return list_v(l);
    }
    case 1:   /* namespace */
    case 4: { /* dict */
        jdict *d = jdict_new(c, n);
        d->ns = fn == 1;
        for (size_t i = 0; i < n; i++) {
            if (kw && kw[i].n) {
                jdict_set(c, d, jv_str(c, kw[i].s, kw[i].n, JP_TMPL), args[i]);
            } else if (args[i].t == JV_DICT) {
                for (size_t k = 0; k < args[i].u.d->n; k++)
                    jdict_set(c, d, args[i].u.d->k[k], args[i].u.d->v[k]);
            } else {
                jx_fail(c, KY_ERR_INVALID_ARG, "%s() takes keyword arguments or a mapping",
                        fn == 1 ? "namespace" : "dict");
            }
        }
        return (jv){.t = JV_DICT, .u.d = d};
    }
    case 2: { /* raise_exception */
        jv msg = n ? jv_to_string(c, &args[0]) : jv_str(c, "raise_exception", 15, JP_TMPL);
        jx_fail(c, KY_ERR_INVALID_ARG, "%.*s", (int)(msg.u.s->n > 300 ? 300 : msg.u.s->n),
                msg.u.s->s);
    }
    case 3: { /* strftime_now */
        const jv *f = arg(args, kw, n, 0, "format");
        if (!f) jx_fail(c, KY_ERR_INVALID_ARG, "strftime_now needs a format");
        const jstr *fmt = need_str(c, f, "strftime_now");
        if (fmt->n > 256) jx_fail(c, KY_ERR_INVALID_ARG, "strftime_now format too long");
        time_t t = (time_t)c->now;
        struct tm tm;
        if (c->utc)
            gmtime_r(&t, &tm);
        else
            localtime_r(&t, &tm);
        char fbuf[260], out[1024];
        memcpy(fbuf, fmt->s, fmt->n);
        fbuf[fmt->n] = 0;
        size_t k = fmt->n ? strftime(out, sizeof out, fbuf, &tm) : 0;
        return jv_str(c, out, k, JP_TMPL);
    }
    default: jx_fail(c, KY_ERR_INTERNAL, "unknown function");
    }
}
