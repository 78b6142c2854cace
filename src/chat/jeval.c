/* jeval.c — the Jinja evaluator: expressions, statements, scopes, loops and macros, and the
 * module's entry points jx_tmpl_parse / jx_render (layer: chat).
 *
 * Scopes follow Jinja2: a for loop (and a macro call) opens a scope, so "set" inside a loop does
 * not leak out of it (namespace() exists for that); if-blocks do not open one. Names that are
 * not defined evaluate to undefined, which prints as nothing and is falsy; using it further (an
 * attribute, arithmetic) is an error, as in Jinja2's default Undefined. Errors unwind to
 * jx_render with longjmp; all memory is in the rendering's arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "chat/jinja.h"

/* ---- scopes ------------------------------------------------------------------------------ */

static jframe *frame_new(jx_ctx *c, jframe *parent) {
    jframe *f = jx_calloc(c, sizeof *f);
    f->parent = parent;
    return f;
}

static jv *frame_find(jframe *f, const char *name, size_t n) {
    for (size_t i = f->n; i-- > 0;)
        if (f->names[i].n == n && !memcmp(f->names[i].s, name, n)) return &f->vals[i];
    return NULL;
}

static void frame_set(jx_ctx *c, jframe *f, jname name, jv v) {
    jv *old = frame_find(f, name.s, name.n);
    if (old) {
        *old = v;
        return;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        jname *nn = jx_calloc(c, cap * sizeof *nn);
        jv *nv = jx_calloc(c, cap * sizeof *nv);
        if (f->n) {
            memcpy(nn, f->names, f->n * sizeof *nn);
            memcpy(nv, f->vals, f->n * sizeof *nv);
        }
        f->names = nn;
        f->vals = nv;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->vals[f->n] = v;
    f->n++;
}

jv jx_lookup(jx_ctx *c, const char *name, size_t n) {
    for (jframe *f = c->frame; f; f = f->parent) {
        jv *v = frame_find(f, name, n);
        if (v) return *v;
    }
    char *nm = jx_calloc(c, n + 1);
    memcpy(nm, name, n);
    return jv_undef(nm);
}

/* ---- helpers ----------------------------------------------------------------------------- */

jv jv_substr(jx_ctx *c, const jstr *s, size_t off, size_t n) {
    jv r = jv_str(c, s->s + off, n, s->prov == JP_MIXED ? JP_TMPL : s->prov);
    if (s->prov == JP_MIXED) {
        bool any_t = false, any_d = false;
        for (size_t i = 0; i < n; i++) {
            if (s->pv[off + i])
                any_d = true;
            else
                any_t = true;
        }
        if (any_d && any_t) {
            uint8_t *pv = jx_calloc(c, n);
            memcpy(pv, s->pv + off, n);
            r.u.s->prov = JP_MIXED;
            r.u.s->pv = pv;
        } else {
            r.u.s->prov = any_d ? JP_DATA : JP_TMPL;
        }
    }
    return r;
}

/* Byte offsets of the code points of s (n + 1 entries, the last = s->n). */
static size_t *char_offsets(jx_ctx *c, const jstr *s, size_t *n_chars) {
    size_t n = jv_str_chars(s);
    size_t *off = jx_calloc(c, (n + 1) * sizeof *off);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (((unsigned char)s->s[i] & 0xC0) != 0x80) off[k++] = i;
    off[n] = s->n;
    *n_chars = n;
    return off;
}

const jlist *jx_iter(jx_ctx *c, const jv *v) {
    switch (v->t) {
    case JV_LIST: return v->u.l;
    case JV_UNDEF: return jlist_new(c, 0);
    case JV_DICT: {
        jlist *l = jlist_new(c, v->u.d->n);
        for (size_t i = 0; i < v->u.d->n; i++) jlist_push(c, l, v->u.d->k[i]);
        return l;
    }
    case JV_STR: {
        size_t n;
        size_t *off = char_offsets(c, v->u.s, &n);
        jlist *l = jlist_new(c, n);
        for (size_t i = 0; i < n; i++)
            jlist_push(c, l, jv_substr(c, v->u.s, off[i], off[i + 1] - off[i]));
        return l;
    }
    default: jx_fail(c, KY_ERR_INVALID_ARG, "'%s' object is not iterable", jv_type_name(v));
    }
}

_Noreturn static void fail_undefined(jx_ctx *c, const jv *v) {
    if (v->u.uname) jx_fail(c, KY_ERR_INVALID_ARG, "'%s' is undefined", v->u.uname);
    jx_fail(c, KY_ERR_INVALID_ARG, "use of an undefined value");
}

static jv loop_attr(jx_ctx *c, const jloop *lp, const char *name, size_t n) {
#define IS(s) (n == sizeof(s) - 1 && !memcmp(name, s, n))
    int64_t len = (int64_t)lp->items->n, i = (int64_t)lp->index0;
    if (IS("index0")) return jv_int(i);
    if (IS("index")) return jv_int(i + 1);
    if (IS("revindex")) return jv_int(len - i);
    if (IS("revindex0")) return jv_int(len - i - 1);
    if (IS("first")) return jv_bool(i == 0);
    if (IS("last")) return jv_bool(i == len - 1);
    if (IS("length")) return jv_int(len);
    if (IS("depth")) return jv_int(lp->depth0 + 1);
    if (IS("depth0")) return jv_int(lp->depth0);
    if (IS("previtem")) return i > 0 ? lp->items->v[i - 1] : jv_undef("previtem");
    if (IS("nextitem")) return i + 1 < len ? lp->items->v[i + 1] : jv_undef("nextitem");
#undef IS
    (void)c;
    return jv_undef(NULL);
}

jv jx_getattr(jx_ctx *c, const jv *obj, const char *name, size_t n) {
    switch (obj->t) {
    case JV_UNDEF: fail_undefined(c, obj);
    case JV_DICT: {
        jv *v = jdict_get(obj->u.d, name, n);
        if (v) return *v;
        char *nm = jx_calloc(c, n + 1);
        memcpy(nm, name, n);
        return jv_undef(nm);
    }
    case JV_LOOP: return loop_attr(c, obj->u.lp, name, n);
    default: return jv_undef(NULL);
    }
}

static bool as_index(const jv *k, int64_t *out) {
    if (k->t == JV_INT)
        *out = k->u.i;
    else if (k->t == JV_BOOL)
        *out = k->u.b;
    else
        return false;
    return true;
}

jv jx_getitem(jx_ctx *c, const jv *obj, const jv *key) {
    int64_t i;
    switch (obj->t) {
    case JV_UNDEF: fail_undefined(c, obj);
    case JV_DICT: {
        jv *v = jdict_get_v(obj->u.d, key);
        return v ? *v : jv_undef(NULL);
    }
    case JV_LIST:
        if (!as_index(key, &i)) return jv_undef(NULL);
        if (i < 0) i += (int64_t)obj->u.l->n;
        if (i < 0 || i >= (int64_t)obj->u.l->n) return jv_undef(NULL);
        return obj->u.l->v[i];
    case JV_STR: {
        if (!as_index(key, &i)) return jv_undef(NULL);
        size_t n;
        size_t *off = char_offsets(c, obj->u.s, &n);
        if (i < 0) i += (int64_t)n;
        if (i < 0 || i >= (int64_t)n) return jv_undef(NULL);
        return jv_substr(c, obj->u.s, off[i], off[i + 1] - off[i]);
    }
    case JV_LOOP:
        if (key->t == JV_STR) return loop_attr(c, obj->u.lp, key->u.s->s, key->u.s->n);
        return jv_undef(NULL);
    default: return jv_undef(NULL);
    }
}

/* Python slice indices for a sequence of length len. */
static void slice_indices(jx_ctx *c, const jv *a, const jv *b, const jv *s, int64_t len,
                          int64_t *start, int64_t *stop, int64_t *step) {
    *step = 1;
    if (s->t != JV_NONE && s->t != JV_UNDEF && !as_index(s, step))
        jx_fail(c, KY_ERR_INVALID_ARG, "slice indices must be integers");
    if (*step == 0) jx_fail(c, KY_ERR_INVALID_ARG, "slice step cannot be zero");
    int64_t lo = *step < 0 ? -1 : 0, hi = *step < 0 ? len - 1 : len;
    int64_t v;
    if (a->t == JV_NONE || a->t == JV_UNDEF)
        *start = *step < 0 ? hi : lo;
    else {
        if (!as_index(a, &v)) jx_fail(c, KY_ERR_INVALID_ARG, "slice indices must be integers");
        if (v < 0) v += len;
        *start = v < lo ? lo : v > hi ? hi : v;
    }
    if (b->t == JV_NONE || b->t == JV_UNDEF)
        *stop = *step < 0 ? lo : hi;
    else {
        if (!as_index(b, &v)) jx_fail(c, KY_ERR_INVALID_ARG, "slice indices must be integers");
        if (v < 0) v += len;
        *stop = v < lo ? lo : v > hi ? hi : v;
    }
}

static jv do_slice(jx_ctx *c, const jv *obj, const jv *a, const jv *b, const jv *s) {
    int64_t start, stop, step;
    if (obj->t == JV_LIST) {
        const jlist *l = obj->u.l;
        slice_indices(c, a, b, s, (int64_t)l->n, &start, &stop, &step);
        jlist *r = jlist_new(c, 0);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            jlist_push(c, r, l->v[i]);
        r->tuple = l->tuple;
        return (jv){.t = JV_LIST, .u.l = r};
    }
    if (obj->t == JV_STR) {
        size_t n;
        size_t *off = char_offsets(c, obj->u.s, &n);
        slice_indices(c, a, b, s, (int64_t)n, &start, &stop, &step);
        jbuf out;
        jbuf_init(c, &out);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            jv ch = jv_substr(c, obj->u.s, off[i], off[i + 1] - off[i]);
            jbuf_put_str(c, &out, ch.u.s);
        }
        return jv_str_buf(c, &out);
    }
    if (obj->t == JV_UNDEF) fail_undefined(c, obj);
    jx_fail(c, KY_ERR_INVALID_ARG, "'%s' object is not subscriptable", jv_type_name(obj));
}

/* ---- arithmetic -------------------------------------------------------------------------- */

static jv arith(jx_ctx *c, uint8_t op, const jv *a, const jv *b) {
    if (a->t == JV_UNDEF) fail_undefined(c, a);
    if (b->t == JV_UNDEF) fail_undefined(c, b);
    if (op == JO_ADD && a->t == JV_STR && b->t == JV_STR) {
        jbuf o;
        jbuf_init(c, &o);
        jbuf_put_str(c, &o, a->u.s);
        jbuf_put_str(c, &o, b->u.s);
        return jv_str_buf(c, &o);
    }
    if (op == JO_ADD && a->t == JV_LIST && b->t == JV_LIST) {
        jlist *l = jlist_new(c, a->u.l->n + b->u.l->n);
        for (size_t i = 0; i < a->u.l->n; i++) jlist_push(c, l, a->u.l->v[i]);
        for (size_t i = 0; i < b->u.l->n; i++) jlist_push(c, l, b->u.l->v[i]);
        return (jv){.t = JV_LIST, .u.l = l};
    }
    if (op == JO_MUL &&
        ((a->t == JV_STR && b->t == JV_INT) || (a->t == JV_INT && b->t == JV_STR))) {
        const jv *s = a->t == JV_STR ? a : b;
        int64_t k = a->t == JV_INT ? a->u.i : b->u.i;
        if (k > 0 && s->u.s->n && (uint64_t)k > KY_TMPL_MAX_OUTPUT / s->u.s->n)
            jx_fail(c, KY_ERR_UNSUPPORTED, "string repetition longer than %u MiB",
                    KY_TMPL_MAX_OUTPUT >> 20);
        jbuf o;
        jbuf_init(c, &o);
        for (int64_t i = 0; i < k; i++) {
            jx_step(c);
            jbuf_put_str(c, &o, s->u.s);
        }
        return jv_str_buf(c, &o);
    }
    if (op == JO_MOD && a->t == JV_STR)
        jx_fail(c, KY_ERR_UNSUPPORTED, "printf-style string formatting is not supported");
    if (!jv_is_number(a) || !jv_is_number(b))
        jx_fail(c, KY_ERR_INVALID_ARG, "unsupported operand types for arithmetic: '%s' and '%s'",
                jv_type_name(a), jv_type_name(b));
    bool ints = a->t != JV_FLOAT && b->t != JV_FLOAT;
    if (ints && op != JO_DIV) {
        int64_t x = a->t == JV_BOOL ? a->u.b : a->u.i, y = b->t == JV_BOOL ? b->u.b : b->u.i, r = 0;
        switch (op) {
        case JO_ADD:
            if (__builtin_add_overflow(x, y, &r)) goto overflow;
            return jv_int(r);
        case JO_SUB:
            if (__builtin_sub_overflow(x, y, &r)) goto overflow;
            return jv_int(r);
        case JO_MUL:
            if (__builtin_mul_overflow(x, y, &r)) goto overflow;
            return jv_int(r);
        case JO_FLOORDIV:
        case JO_MOD: {
            if (y == 0) jx_fail(c, KY_ERR_INVALID_ARG, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) goto overflow;
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) q--, m += y;
            return jv_int(op == JO_MOD ? m : q);
        }
        case JO_POW: {
            if (y < 0) return jv_float(__builtin_pow((double)x, (double)y));
            int64_t p = 1;
            for (int64_t i = 0; i < y; i++) {
                if (__builtin_mul_overflow(p, x, &p)) goto overflow;
                if (p == 0 || p == 1) break;
            }
            return jv_int(p);
        }
        }
    }
    double x = jv_num(a), y = jv_num(b);
    switch (op) {
    case JO_ADD: return jv_float(x + y);
    case JO_SUB: return jv_float(x - y);
    case JO_MUL: return jv_float(x * y);
    case JO_DIV:
        if (y == 0) jx_fail(c, KY_ERR_INVALID_ARG, "division by zero");
        return jv_float(x / y);
    case JO_FLOORDIV:
        if (y == 0) jx_fail(c, KY_ERR_INVALID_ARG, "float floor division by zero");
        return jv_float(__builtin_floor(x / y));
    case JO_MOD: {
        if (y == 0) jx_fail(c, KY_ERR_INVALID_ARG, "float modulo");
        double m = __builtin_fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return jv_float(m);
    }
    case JO_POW: return jv_float(__builtin_pow(x, y));
    }
overflow:
    jx_fail(c, KY_ERR_UNSUPPORTED, "integer overflow");
}

static bool contains(jx_ctx *c, const jv *needle, const jv *hay) {
    switch (hay->t) {
    case JV_STR:
        if (needle->t != JV_STR)
            jx_fail(c, KY_ERR_INVALID_ARG, "'in <string>' requires string as left operand, not %s",
                    jv_type_name(needle));
        if (!needle->u.s->n) return true;
        for (size_t i = 0; i + needle->u.s->n <= hay->u.s->n; i++)
            if (!memcmp(hay->u.s->s + i, needle->u.s->s, needle->u.s->n)) return true;
        return false;
    case JV_LIST:
        for (size_t i = 0; i < hay->u.l->n; i++)
            if (jv_equal(needle, &hay->u.l->v[i])) return true;
        return false;
    case JV_DICT: return jdict_get_v(hay->u.d, needle) != NULL;
    case JV_UNDEF: return false;
    default:
        jx_fail(c, KY_ERR_INVALID_ARG, "argument of type '%s' is not iterable", jv_type_name(hay));
    }
}

/* ---- calls ------------------------------------------------------------------------------- */

typedef struct argv {
    jv *v;
    jname *kw;
    size_t n;
} argv;

static argv eval_args(jx_ctx *c, const jnode *n) {
    argv a = {0};
    a.n = n->n_items;
    if (a.n) {
        a.v = jx_calloc(c, a.n * sizeof *a.v);
        a.kw = jx_calloc(c, a.n * sizeof *a.kw);
        for (size_t i = 0; i < a.n; i++) {
            a.v[i] = jx_eval(c, n->items[i]);
            if (n->kw) a.kw[i] = n->kw[i];
        }
    }
    return a;
}

static void exec_body(jx_ctx *c, const jnode *body);

/* Renders body into a fresh buffer and returns its text. */
static jv capture(jx_ctx *c, const jnode *body) {
    jbuf b, *saved = c->out;
    jbuf_init(c, &b);
    c->out = &b;
    exec_body(c, body);
    c->out = saved;
    return jv_str_buf(c, &b);
}

jv jx_call_macro(jx_ctx *c, const jmacro *m, const jv *args, const jname *kw, size_t n) {
    const jnode *def = m->def;
    if (++c->depth > KY_TMPL_MAX_DEPTH)
        jx_fail(c, KY_ERR_UNSUPPORTED, "macro calls nested deeper than %d", KY_TMPL_MAX_DEPTH);
    jframe *f = frame_new(c, m->caller_frame ? m->caller_frame : c->globals);
    size_t n_pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (kw && kw[i].n) continue;
        if (n_pos >= def->n_targets)
            jx_fail(c, KY_ERR_INVALID_ARG, "macro '%.*s' takes not more than %zu argument(s)",
                    (int)def->name.n, def->name.s, def->n_targets);
        frame_set(c, f, def->targets[n_pos++], args[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (!kw || !kw[i].n) continue;
        bool known = false;
        for (size_t p = 0; p < def->n_targets; p++)
            if (def->targets[p].n == kw[i].n && !memcmp(def->targets[p].s, kw[i].s, kw[i].n))
                known = true;
        if (!known)
            jx_fail(c, KY_ERR_INVALID_ARG, "macro '%.*s' takes no keyword argument '%.*s'",
                    (int)def->name.n, def->name.s, (int)kw[i].n, kw[i].s);
        frame_set(c, f, kw[i], args[i]);
    }
    jframe *saved = c->frame;
    c->frame = f;
    for (size_t p = 0; p < def->n_targets; p++) {
        if (frame_find(f, def->targets[p].s, def->targets[p].n)) continue;
        jv d = def->items && p < def->n_items && def->items[p] ? jx_eval(c, def->items[p])
                                                               : jv_undef(NULL);
        frame_set(c, f, def->targets[p], d);
    }
    if (m->caller) {
        jmacro *cm = jx_calloc(c, sizeof *cm);
        cm->def = m->caller;
        cm->caller_frame = saved;
        frame_set(c, f, (jname){"caller", 6}, (jv){.t = JV_MACRO, .u.m = cm});
    }
    int saved_ctl = c->loop_ctl;
    jv r = capture(c, def->b);
    c->loop_ctl = saved_ctl;
    c->frame = saved;
    c->depth--;
    return r;
}

static jv call_value(jx_ctx *c, const jv *f, const argv *a) {
    if (f->t == JV_MACRO) return jx_call_macro(c, f->u.m, a->v, a->kw, a->n);
    if (f->t == JV_FUNC) return jx_call_func(c, f->u.fn, a->v, a->kw, a->n);
    if (f->t == JV_UNDEF) fail_undefined(c, f);
    jx_fail(c, KY_ERR_INVALID_ARG, "'%s' object is not callable", jv_type_name(f));
}

static jv eval_call(jx_ctx *c, const jnode *n) {
    const jnode *callee = n->a;
    if (callee->kind == JN_ATTR) {
        jv obj = jx_eval(c, callee->a);
        argv a = eval_args(c, n);
        bool found = false;
        if (obj.t != JV_DICT || !jdict_get(obj.u.d, callee->name.s, callee->name.n) ||
            obj.u.d->ns == false) {
            jv r = jx_method(c, &obj, callee->name.s, callee->name.n, a.v, a.kw, a.n, &found);
            if (found) return r;
        }
        jv f = jx_getattr(c, &obj, callee->name.s, callee->name.n);
        if (f.t == JV_UNDEF)
            jx_fail(c, KY_ERR_INVALID_ARG, "'%s' object has no attribute '%.*s'",
                    jv_type_name(&obj), (int)callee->name.n, callee->name.s);
        return call_value(c, &f, &a);
    }
    jv f = jx_eval(c, callee);
    argv a = eval_args(c, n);
    return call_value(c, &f, &a);
}

/* ---- expressions ------------------------------------------------------------------------- */

jv jx_eval(jx_ctx *c, const jnode *n) {
    jx_step(c);
    c->line = n->line;
    switch (n->kind) {
    case JN_LIT: return n->lit;
    case JN_NAME: return jx_lookup(c, n->name.s, n->name.n);
    case JN_LIST:
    case JN_TUPLE: {
        jlist *l = jlist_new(c, n->n_items);
        for (size_t i = 0; i < n->n_items; i++) jlist_push(c, l, jx_eval(c, n->items[i]));
        l->tuple = n->kind == JN_TUPLE;
        return (jv){.t = JV_LIST, .u.l = l};
    }
    case JN_DICT: {
        jdict *d = jdict_new(c, n->n_items / 2);
        for (size_t i = 0; i + 1 < n->n_items; i += 2) {
            jv k = jx_eval(c, n->items[i]);
            jdict_set(c, d, k, jx_eval(c, n->items[i + 1]));
        }
        return (jv){.t = JV_DICT, .u.d = d};
    }
    case JN_ATTR: {
        jv o = jx_eval(c, n->a);
        c->line = n->line;
        return jx_getattr(c, &o, n->name.s, n->name.n);
    }
    case JN_ITEM: {
        jv o = jx_eval(c, n->a), k = jx_eval(c, n->b);
        c->line = n->line;
        if (o.t == JV_DICT && k.t == JV_STR) {
            jv *v = jdict_get(o.u.d, k.u.s->s, k.u.s->n);
            if (v) return *v;
        }
        return jx_getitem(c, &o, &k);
    }
    case JN_SLICE: {
        jv o = jx_eval(c, n->a);
        jv p[3];
        for (int i = 0; i < 3; i++) p[i] = n->items[i] ? jx_eval(c, n->items[i]) : jv_none();
        return do_slice(c, &o, &p[0], &p[1], &p[2]);
    }
    case JN_CALL: return eval_call(c, n);
    case JN_FILTER: {
        jv self = jx_eval(c, n->a);
        argv a = eval_args(c, n);
        c->line = n->line;
        return jx_filter(c, &n->name, &self, a.v, a.kw, a.n);
    }
    case JN_TEST: {
        jv self = jx_eval(c, n->a);
        argv a = eval_args(c, n);
        c->line = n->line;
        bool r = jx_test(c, &n->name, &self, a.v, a.n);
        return jv_bool(n->negate ? !r : r);
    }
    case JN_NEG:
    case JN_POS: {
        jv v = jx_eval(c, n->a);
        if (v.t == JV_UNDEF) fail_undefined(c, &v);
        if (!jv_is_number(&v))
            jx_fail(c, KY_ERR_INVALID_ARG, "bad operand type for unary %c: '%s'",
                    n->kind == JN_NEG ? '-' : '+', jv_type_name(&v));
        if (n->kind == JN_POS) return v.t == JV_BOOL ? jv_int(v.u.b) : v;
        if (v.t == JV_FLOAT) return jv_float(-v.u.f);
        int64_t i = v.t == JV_BOOL ? v.u.b : v.u.i;
        if (i == INT64_MIN) jx_fail(c, KY_ERR_UNSUPPORTED, "integer overflow");
        return jv_int(-i);
    }
    case JN_NOT: {
        jv v = jx_eval(c, n->a);
        return jv_bool(!jv_truthy(&v));
    }
    case JN_COND: {
        jv cond = jx_eval(c, n->b);
        if (jv_truthy(&cond)) return jx_eval(c, n->a);
        return n->c ? jx_eval(c, n->c) : jv_undef(NULL);
    }
    case JN_SET: return capture(c, n->b); /* {% filter %} body */
    case JN_BIN: break;
    default: jx_fail(c, KY_ERR_INTERNAL, "statement used as an expression");
    }
    /* binary operators */
    if (n->op == JO_AND || n->op == JO_OR) {
        jv a = jx_eval(c, n->a);
        bool t = jv_truthy(&a);
        if (n->op == JO_AND ? !t : t) return a;
        return jx_eval(c, n->b);
    }
    jv a = jx_eval(c, n->a), b = jx_eval(c, n->b);
    c->line = n->line;
    switch (n->op) {
    case JO_EQ: return jv_bool(jv_equal(&a, &b));
    case JO_NE: return jv_bool(!jv_equal(&a, &b));
    case JO_LT: return jv_bool(jv_compare(c, &a, &b) < 0);
    case JO_LE: return jv_bool(jv_compare(c, &a, &b) <= 0);
    case JO_GT: return jv_bool(jv_compare(c, &a, &b) > 0);
    case JO_GE: return jv_bool(jv_compare(c, &a, &b) >= 0);
    case JO_IN: return jv_bool(contains(c, &a, &b));
    case JO_NOTIN: return jv_bool(!contains(c, &a, &b));
    case JO_CONCAT: {
        jbuf o;
        jbuf_init(c, &o);
        jv_write_str(c, &o, &a);
        jv_write_str(c, &o, &b);
        return jv_str_buf(c, &o);
    }
    default: return arith(c, n->op, &a, &b);
    }
}

/* ---- statements -------------------------------------------------------------------------- */

static void assign(jx_ctx *c, const jnode *n, jv v) {
    if (n->n_targets == 1) {
        frame_set(c, c->frame, n->targets[0], v);
        return;
    }
    const jlist *l = v.t == JV_LIST ? v.u.l : jx_iter(c, &v);
    if (l->n != n->n_targets)
        jx_fail(c, KY_ERR_INVALID_ARG, "cannot unpack %zu values into %zu names", l->n,
                n->n_targets);
    for (size_t i = 0; i < l->n; i++) frame_set(c, c->frame, n->targets[i], l->v[i]);
}

static void exec_for(jx_ctx *c, const jnode *n) {
    jv seq = jx_eval(c, n->a);
    const jlist *all = jx_iter(c, &seq);
    jframe *saved = c->frame;
    c->frame = frame_new(c, saved);
    const jlist *items = all;
    if (n->c) { /* for x in xs if cond: filter first, so loop.length counts what is kept */
        jlist *kept = jlist_new(c, 0);
        for (size_t i = 0; i < all->n; i++) {
            jx_step(c);
            assign(c, n, all->v[i]);
            jv keep = jx_eval(c, n->c);
            if (jv_truthy(&keep)) jlist_push(c, kept, all->v[i]);
        }
        items = kept;
    }
    jloop *lp = jx_calloc(c, sizeof *lp);
    lp->items = items; /* depth stays 1: recursive loops are not supported */
    jframe *iter = c->frame;
    for (size_t i = 0; i < items->n; i++) {
        jx_step(c);
        lp->index0 = i;
        iter->n = 0; /* each iteration starts from the outer values (nothing keeps a frame) */
        frame_set(c, c->frame, (jname){"loop", 4}, (jv){.t = JV_LOOP, .u.lp = lp});
        assign(c, n, items->v[i]);
        exec_body(c, n->b);
        if (c->loop_ctl == 1) {
            c->loop_ctl = 0;
            break;
        }
        c->loop_ctl = 0;
    }
    if (items->n == 0 && n->n_items) exec_body(c, n->items[0]);
    c->frame = saved;
}

static void exec_node(jx_ctx *c, const jnode *n) {
    jx_step(c);
    c->line = n->line;
    switch (n->kind) {
    case JN_TEXT: jbuf_put_str(c, c->out, n->lit.u.s); break;
    case JN_OUT: {
        jv v = jx_eval(c, n->a);
        jv_write_str(c, c->out, &v);
        break;
    }
    case JN_BODY: exec_body(c, n); break;
    case JN_IF: {
        jv cond = jx_eval(c, n->a);
        if (jv_truthy(&cond))
            exec_body(c, n->b);
        else if (n->c)
            exec_node(c, n->c);
        break;
    }
    case JN_FOR: exec_for(c, n); break;
    case JN_SET: {
        jv v = n->a ? jx_eval(c, n->a) : capture(c, n->b);
        if (n->attr.n) {
            jv ns = jx_lookup(c, n->targets[0].s, n->targets[0].n);
            if (ns.t != JV_DICT || !ns.u.d->ns)
                jx_fail(c, KY_ERR_INVALID_ARG, "cannot assign attribute on non-namespace object");
            jdict_set(c, ns.u.d, jv_str(c, n->attr.s, n->attr.n, JP_TMPL), v);
        } else {
            assign(c, n, v);
        }
        break;
    }
    case JN_MACRO: {
        jmacro *m = jx_calloc(c, sizeof *m);
        m->def = n;
        frame_set(c, c->frame, n->name, (jv){.t = JV_MACRO, .u.m = m});
        break;
    }
    case JN_CALLBLOCK: {
        const jnode *call = n->a;
        jv f = jx_eval(c, call->a);
        if (f.t != JV_MACRO) jx_fail(c, KY_ERR_INVALID_ARG, "'call' needs a macro");
        argv a = eval_args(c, call);
        jmacro m = *f.u.m;
        m.caller = n;
        jv r = jx_call_macro(c, &m, a.v, a.kw, a.n);
        jbuf_put_str(c, c->out, r.u.s);
        break;
    }
    case JN_BREAK: c->loop_ctl = 1; break;
    case JN_CONTINUE: c->loop_ctl = 2; break;
    default: {
        jv v = jx_eval(c, n);
        (void)v;
    }
    }
}

static void exec_body(jx_ctx *c, const jnode *body) {
    for (size_t i = 0; i < body->n_items && !c->loop_ctl; i++) exec_node(c, body->items[i]);
}

/* ---- entry points ------------------------------------------------------------------------ */

ky_status jx_tmpl_parse(const char *src, size_t len, const char *name, jx_tmpl **out,
                        ky_error *err) {
    if (!name) name = "<template>";
    if (!src && len) return ky_errf(err, KY_ERR_INVALID_ARG, "template %s: no source", name);
    if (len > KY_TMPL_MAX_SOURCE)
        return ky_errf(err, KY_ERR_UNSUPPORTED, "template %s: %zu bytes, more than the %u allowed",
                       name, len, KY_TMPL_MAX_SOURCE);
    jx_tmpl *t = calloc(1, sizeof *t);
    if (!t) return ky_errf(err, KY_ERR_NOMEM, "template %s: out of memory", name);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->arena.limit = KY_TMPL_MAX_MEMORY;
    jtok *toks;
    size_t n;
    ky_status st = jx_lex(t->name, src ? src : "", len, &t->arena, &toks, &n, err);
    if (st == KY_OK) st = jx_parse_tokens(t, toks, n, err);
    if (st != KY_OK) {
        jx_tmpl_free(t);
        return st;
    }
    *out = t;
    return KY_OK;
}

void jx_tmpl_free(jx_tmpl *t) {
    if (!t) return;
    jx_arena_free(&t->arena);
    free(t);
}

static const char *const k_funcs[] = {"range",        "namespace", "raise_exception",
                                      "strftime_now", "dict",      NULL};

ky_status jx_render(const jx_tmpl *t, const json_t *vars, const char *const *tmpl_keys, int64_t now,
                    bool utc, jx_output *out, ky_error *err) {
    if (!t || !out || (vars && !json_is_object(vars)))
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "template rendering: the variables must be a JSON object");
    jx_ctx *c = calloc(1, sizeof *c);
    if (!c) return ky_errf(err, KY_ERR_NOMEM, "template %s: out of memory", t->name);
    c->arena.limit = KY_TMPL_MAX_MEMORY;
    c->err = err;
    c->tmpl_name = t->name;
    c->line = 1;
    c->now = now;
    c->utc = utc;
    ky_status st = KY_OK;
    if (setjmp(c->fail)) {
        st = err ? err->status : KY_ERR_FORMAT;
        if (st == KY_OK) st = KY_ERR_FORMAT;
        goto done;
    }
    c->globals = c->frame = frame_new(c, NULL);
    for (int i = 0; k_funcs[i]; i++)
        frame_set(c, c->globals, (jname){k_funcs[i], strlen(k_funcs[i])},
                  (jv){.t = JV_FUNC, .u.fn = i});
    if (vars) {
        const char *k;
        size_t klen;
        json_t *x;
        json_object_keylen_foreach((json_t *)vars, k, klen, x) {
            uint8_t prov = JP_DATA;
            for (size_t i = 0; tmpl_keys && tmpl_keys[i]; i++)
                if (strlen(tmpl_keys[i]) == klen && !memcmp(tmpl_keys[i], k, klen)) prov = JP_TMPL;
            char *name = jx_calloc(c, klen + 1);
            memcpy(name, k, klen);
            frame_set(c, c->globals, (jname){name, klen}, jv_from_json(c, x, prov, 0));
        }
    }
    c->frame = frame_new(c, c->globals); /* template-level sets shadow the variables */
    c->globals = c->frame;
    jbuf b;
    jbuf_init(c, &b);
    c->out = &b;
    exec_body(c, t->root);
    out->text = malloc(b.n + 1);
    out->prov = malloc(b.n ? b.n : 1);
    if (!out->text || !out->prov) {
        free(out->text);
        free(out->prov);
        st = ky_errf(err, KY_ERR_NOMEM, "template %s: out of memory", t->name);
        goto done;
    }
    if (b.n) {
        memcpy(out->text, b.s, b.n);
        memcpy(out->prov, b.pv, b.n);
    }
    out->text[b.n] = 0;
    out->len = b.n;
done:
    jx_arena_free(&c->arena);
    free(c);
    return st;
}

int jx_func_id(const char *name, size_t n) {
    for (int i = 0; k_funcs[i]; i++)
        if (strlen(k_funcs[i]) == n && !memcmp(k_funcs[i], name, n)) return i;
    return -1;
}
