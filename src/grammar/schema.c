/* schema.c — JSON Schema → GBNF text (layer: grammar; uses jansson).
 *
 * One rule per schema node (s<N>), written after its children. Objects keep the properties'
 * order: rule "rest i, comma needed" chains the optional properties so that commas are always
 * right; extra keys (additionalProperties) are strings that differ from every declared key
 * (a trie of the declared keys, complemented). Integer and number bounds become digit automata
 * (schema_num.c; fractional bounds included). Patterns go
 * through regex.c-style translation below (a subset: no lookaround, no backreferences).
 * Shared rules: ws (bounded), j-str, j-num, j-int, j-v<D> (any JSON to depth D).
 */
#include "grammar/schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/status.h"
#include "grammar/schema_int.h"

#define ANY_DEPTH  4  /* nesting of any-JSON values inside schemas ({} or true) */
#define NUM_DIGITS 15 /* digits of integer and fraction parts */
#define MAX_BOUND  999999999999999LL

struct schema_ctx {
    ky_strbuf *out;
    ky_error *err;
    ky_status st;
    json_t *root;
    uint32_t n_rules;
    uint32_t depth;
    struct ref_memo {
        json_t *target;
        char name[32];
    } * refs;
    size_t n_refs, cap_refs;
    bool need_fmt[5];
};

static const char CHAR_RULE[] =
    "( [^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-CefEF] [0-9a-fA-F]{3} "
    "| [dD] [0-7] [0-9a-fA-F]{2} ) ) )";

void schema_gbnf_literal(ky_strbuf *sb, const char *s, size_t n) {
    ky_strbuf_puts(sb, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            ky_strbuf_puts(sb, "\\\"");
        else if (c == '\\')
            ky_strbuf_puts(sb, "\\\\");
        else if (c == '\n')
            ky_strbuf_puts(sb, "\\n");
        else if (c == '\t')
            ky_strbuf_puts(sb, "\\t");
        else if (c < 0x20 || c == 0x7F)
            ky_strbuf_printf(sb, "\\x%02X", c);
        else
            ky_strbuf_append(sb, &s[i], 1);
    }
    ky_strbuf_puts(sb, "\"");
}

static ky_status fail(schema_ctx *c, ky_status st, const char *path, const char *msg,
                      const char *kw) {
    if (c->st == KY_OK)
        c->st = ky_errf(c->err, st, "%s%s%s%s at %s", msg, kw ? " '" : "", kw ? kw : "",
                        kw ? "'" : "", *path ? path : "/");
    /* message shape: "unsupported JSON Schema keyword 'not' at /properties/a" */
    return c->st;
}

static void new_name(schema_ctx *c, char name[32]) { snprintf(name, 32, "s%u", ++c->n_rules); }

static void emit_rule(schema_ctx *c, const char *name, const ky_strbuf *body) {
    ky_strbuf_printf(c->out, "%s ::= %s\n", name, body->data ? body->data : "\"\"");
}

static void sub_path(char *dst, const char *path, const char *a, const char *b) {
    snprintf(dst, 512, "%s/%s%s%s", path, a, b ? "/" : "", b ? b : "");
}

/* ---------------------------------------------------------------------------------------------
 * Shared rules
 * ------------------------------------------------------------------------------------------- */

static void emit_any(ky_strbuf *o, int depth) {
    ky_strbuf_printf(o, "j-v0 ::= j-str | j-num | \"true\" | \"false\" | \"null\"\n");
    for (int d = 1; d <= depth; d++) {
        ky_strbuf_printf(o,
                         "j-v%d ::= j-str | j-num | \"true\" | \"false\" | \"null\" | j-o%d | "
                         "j-a%d\n",
                         d, d, d);
        ky_strbuf_printf(o,
                         "j-o%d ::= \"{\" ws ( j-str ws \":\" ws j-v%d ws ( \",\" ws j-str ws "
                         "\":\" ws j-v%d ws )* )? \"}\"\n",
                         d, d - 1, d - 1);
        ky_strbuf_printf(o, "j-a%d ::= \"[\" ws ( j-v%d ws ( \",\" ws j-v%d ws )* )? \"]\"\n", d,
                         d - 1, d - 1);
    }
}

static void emit_base(ky_strbuf *o) {
    ky_strbuf_printf(o, "ws ::= ( \" \" | \"\\n\" [ ]{0,%d} )?\n", KY_GRAMMAR_WS_MAX);
    ky_strbuf_printf(o, "j-str ::= \"\\\"\" %s* \"\\\"\"\n", CHAR_RULE);
    ky_strbuf_printf(o, "j-int ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,%d} )\n", NUM_DIGITS - 1);
    ky_strbuf_printf(o, "j-num ::= j-int ( \".\" [0-9]{1,%d} )? ( [eE] [-+]? [0-9]{1,3} )?\n",
                     NUM_DIGITS);
}

static const char *const FMT_NAMES[5] = {"date", "time", "date-time", "uuid", "email"};

static void emit_formats(schema_ctx *c) {
    ky_strbuf *o = c->out;
    if (c->need_fmt[0] || c->need_fmt[2])
        ky_strbuf_puts(o, "j-date ::= [0-9]{4} \"-\" ( ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" "
                          "[1-9] | \"1\" [0-9] | \"2\" [0-8] ) | ( \"0\" [13-9] | \"1\" [0-2] ) "
                          "\"-\" ( \"29\" | \"30\" ) | ( \"0\" [13578] | \"1\" [02] ) \"-31\" )\n");
    if (c->need_fmt[1] || c->need_fmt[2])
        ky_strbuf_puts(o, "j-time ::= ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] "
                          "[0-9] ( \".\" [0-9]{1,6} )? ( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) "
                          "\":\" [0-5] [0-9] )\n");
    if (c->need_fmt[3])
        ky_strbuf_puts(o, "j-uuid ::= [0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" "
                          "[0-9a-f]{4} \"-\" [0-9a-f]{12}\n");
    if (c->need_fmt[4])
        ky_strbuf_puts(
            o, "j-email ::= [a-z0-9_+-]{1,20} ( \".\" [a-z0-9_+-]{1,20} )? \"@\" ( [a-z0-9] "
               "[a-z0-9-]{0,10} [a-z0-9] \".\" ){1,2} [a-z]{2,6}\n");
}

void schema_json_object_gbnf(ky_strbuf *out) {
    ky_strbuf_printf(out, "root ::= j-o%d\n", KY_GRAMMAR_JSON_MAX_DEPTH);
    emit_base(out);
    emit_any(out, KY_GRAMMAR_JSON_MAX_DEPTH);
}

/* ---------------------------------------------------------------------------------------------
 * Keyword checks
 * ------------------------------------------------------------------------------------------- */

static const char *const ANNOTATIONS[] = {
    "title", "description", "default",    "examples",        "$schema",
    "$id",   "$comment",    "deprecated", "readOnly",        "writeOnly",
    "$defs", "definitions", "$anchor",    "contentEncoding", NULL};
static const char *const KNOWN[] = {"type",
                                    "properties",
                                    "required",
                                    "additionalProperties",
                                    "enum",
                                    "const",
                                    "items",
                                    "prefixItems",
                                    "minItems",
                                    "maxItems",
                                    "anyOf",
                                    "oneOf",
                                    "allOf",
                                    "$ref",
                                    "minLength",
                                    "maxLength",
                                    "pattern",
                                    "format",
                                    "minimum",
                                    "maximum",
                                    "exclusiveMinimum",
                                    "exclusiveMaximum",
                                    "uniqueItems",
                                    NULL};

static bool in_list(const char *const *l, const char *k) {
    for (; *l; l++)
        if (!strcmp(*l, k)) return true;
    return false;
}

static bool is_annotation(const char *k) { return in_list(ANNOTATIONS, k); }

static ky_status check_keywords(schema_ctx *c, json_t *s, const char *path) {
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        if (is_annotation(k)) continue;
        if (!in_list(KNOWN, k))
            return fail(c, KY_ERR_UNSUPPORTED, path, "unsupported JSON Schema keyword", k);
        if (!strcmp(k, "uniqueItems") && json_is_true(v))
            return fail(c, KY_ERR_UNSUPPORTED, path, "unsupported JSON Schema keyword",
                        "uniqueItems");
    }
    return KY_OK;
}

/* Whether s has a constraint keyword other than those listed. */
static const char *other_constraint(json_t *s, const char *const *allowed) {
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        (void)v;
        if (!is_annotation(k) && !in_list(allowed, k)) return k;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Nodes
 * ------------------------------------------------------------------------------------------- */

static ky_status gen(schema_ctx *c, json_t *s, const char *path, char name[32]);

static void json_literal(schema_ctx *c, ky_strbuf *b, json_t *v) {
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!t) {
        c->out->failed = true;
        return;
    }
    schema_gbnf_literal(b, t, strlen(t));
    free(t);
}

static json_t *resolve_ref(schema_ctx *c, const char *ref) {
    if (ref[0] != '#') return NULL;
    json_t *cur = c->root;
    const char *p = ref + 1;
    while (*p) {
        if (*p != '/') return NULL;
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~' && (*p == '0' || *p == '1')) ch = *p++ == '0' ? '~' : '/';
            if (n + 1 >= sizeof tok) return NULL;
            tok[n++] = ch;
        }
        tok[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *e;
            long i = strtol(tok, &e, 10);
            cur = *e || i < 0 ? NULL : json_array_get(cur, (size_t)i);
        } else {
            return NULL;
        }
        if (!cur) return NULL;
    }
    return cur;
}

static ky_status gen_ref(schema_ctx *c, json_t *s, const char *path, char name[32]) {
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (!ref) return fail(c, KY_ERR_FORMAT, path, "$ref is not a string", NULL);
    static const char *const allowed[] = {"$ref", NULL};
    const char *o = other_constraint(s, allowed);
    if (o)
        return fail(c, KY_ERR_UNSUPPORTED, path,
                    "unsupported JSON Schema keyword next to $ref:", o);
    json_t *t = resolve_ref(c, ref);
    if (!t) return fail(c, KY_ERR_FORMAT, path, "cannot resolve $ref", ref);
    for (size_t i = 0; i < c->n_refs; i++)
        if (c->refs[i].target == t) {
            memcpy(name, c->refs[i].name, 32);
            return KY_OK;
        }
    if (c->n_refs == c->cap_refs) {
        size_t nc = c->cap_refs ? c->cap_refs * 2 : 16;
        void *q = realloc(c->refs, nc * sizeof *c->refs);
        if (!q) return fail(c, KY_ERR_NOMEM, path, "out of memory", NULL);
        c->refs = q;
        c->cap_refs = nc;
    }
    /* Name first (recursive schemas refer to it), body later. */
    size_t idx = c->n_refs++;
    c->refs[idx].target = t;
    new_name(c, c->refs[idx].name);
    memcpy(name, c->refs[idx].name, 32);
    char inner[32];
    if (gen(c, t, ref, inner) != KY_OK) return c->st;
    ky_strbuf_printf(c->out, "%s ::= %s\n", name, inner);
    return KY_OK;
}

/* Reads a numeric bound; false (and an error) when it is not a number. */
static bool get_bound(schema_ctx *c, json_t *s, const char *key, const char *path, bool *has,
                      double *v) {
    json_t *x = json_object_get(s, key);
    *has = false;
    if (!x) return true;
    if (!json_is_number(x)) {
        fail(c, KY_ERR_FORMAT, path, "keyword is not a number:", key);
        return false;
    }
    double d = json_number_value(x);
    if (!isfinite(d)) {
        fail(c, KY_ERR_FORMAT, path, "keyword is not a finite number:", key);
        return false;
    }
    *v = d;
    *has = true;
    return true;
}

typedef struct bounds {
    double lo, hi;
    bool exlo, exhi;
} bounds;

/* The four bound keywords of s; false on a bad value. The tighter of minimum and
 * exclusiveMinimum wins (exclusive on a tie), likewise for the maximum; both ends are clamped to
 * the +-MAX_BOUND the grammar can write (inclusive there). */
static bool get_bounds(schema_ctx *c, json_t *s, const char *path, bounds *r, bool *any) {
    bool hmin, hmax, hxmin, hxmax;
    double min = 0, max = 0, xmin = 0, xmax = 0;
    if (!get_bound(c, s, "minimum", path, &hmin, &min) ||
        !get_bound(c, s, "maximum", path, &hmax, &max) ||
        !get_bound(c, s, "exclusiveMinimum", path, &hxmin, &xmin) ||
        !get_bound(c, s, "exclusiveMaximum", path, &hxmax, &xmax))
        return false;
    *any = hmin || hmax || hxmin || hxmax;
    *r = (bounds){-(double)MAX_BOUND, (double)MAX_BOUND, false, false};
    if (hmin && min > r->lo) r->lo = min;
    if (hxmin && xmin >= r->lo) r->lo = xmin, r->exlo = true;
    if (hmax && max < r->hi) r->hi = max;
    if (hxmax && xmax <= r->hi) r->hi = xmax, r->exhi = true;
    if (r->lo < -(double)MAX_BOUND) r->lo = -(double)MAX_BOUND, r->exlo = false;
    if (r->hi > (double)MAX_BOUND) r->hi = (double)MAX_BOUND, r->exhi = false;
    return true;
}

static ky_status gen_integer(schema_ctx *c, json_t *s, const char *path, ky_strbuf *b) {
    bounds r;
    bool any;
    if (!get_bounds(c, s, path, &r, &any)) return c->st;
    if (!any) {
        ky_strbuf_puts(b, "j-int");
        return KY_OK;
    }
    /* integers within fractional bounds: round the ends inwards */
    double lo = r.exlo ? floor(r.lo) + 1 : ceil(r.lo), hi = r.exhi ? ceil(r.hi) - 1 : floor(r.hi);
    if (lo > hi) return fail(c, KY_ERR_FORMAT, path, "integer bounds leave no value", NULL);
    schema_range_int(b, (long long)lo, (long long)hi);
    return KY_OK;
}

static ky_status gen_number(schema_ctx *c, json_t *s, const char *path, ky_strbuf *b) {
    bounds r;
    bool any;
    if (!get_bounds(c, s, path, &r, &any)) return c->st;
    if (!any) {
        ky_strbuf_puts(b, "j-num");
        return KY_OK;
    }
    if (!schema_number_range(b, r.lo, r.exlo, r.hi, r.exhi))
        return fail(c, KY_ERR_FORMAT, path, "number bounds leave no value", NULL);
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Strings: plain, lengths, format, pattern
 * ------------------------------------------------------------------------------------------- */

static ky_status gen_string(schema_ctx *c, json_t *s, const char *path, ky_strbuf *b) {
    json_t *fmt = json_object_get(s, "format"), *pat = json_object_get(s, "pattern");
    json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
    if ((fmt || pat) && (mn || mx))
        return fail(c, KY_ERR_UNSUPPORTED, path, "unsupported JSON Schema keyword combination",
                    fmt ? "format with minLength/maxLength" : "pattern with minLength/maxLength");
    if (fmt && pat)
        return fail(c, KY_ERR_UNSUPPORTED, path, "unsupported JSON Schema keyword combination",
                    "format with pattern");
    if (fmt) {
        const char *f = json_string_value(fmt);
        if (!f) return fail(c, KY_ERR_FORMAT, path, "format is not a string", NULL);
        for (int i = 0; i < 5; i++)
            if (!strcmp(f, FMT_NAMES[i])) {
                c->need_fmt[i] = true;
                if (i == 2)
                    ky_strbuf_puts(b, "\"\\\"\" j-date \"T\" j-time \"\\\"\"");
                else
                    ky_strbuf_printf(b, "\"\\\"\" j-%s \"\\\"\"", f);
                return KY_OK;
            }
        return fail(c, KY_ERR_UNSUPPORTED, path, "unsupported JSON Schema format", f);
    }
    if (pat) {
        const char *p = json_string_value(pat);
        if (!p) return fail(c, KY_ERR_FORMAT, path, "pattern is not a string", NULL);
        size_t pn = strlen(p), i0 = pn && p[0] == '^' ? 1 : 0;
        bool start = i0 == 1;
        bool end = pn > i0 && p[pn - 1] == '$' && (pn < 2 || p[pn - 2] != '\\');
        ky_strbuf_puts(b, "\"\\\"\" ");
        if (!start) ky_strbuf_printf(b, "%s* ", CHAR_RULE);
        ky_strbuf_puts(b, "( ");
        const char *why = NULL;
        if (!schema_regex_gbnf(p + i0, pn - i0 - (end ? 1 : 0), b, &why))
            return fail(c, KY_ERR_UNSUPPORTED, path, why ? why : "bad", "pattern");
        ky_strbuf_puts(b, " )");
        if (!end) ky_strbuf_printf(b, " %s*", CHAR_RULE);
        ky_strbuf_puts(b, " \"\\\"\"");
        return KY_OK;
    }
    if (!mn && !mx) {
        ky_strbuf_puts(b, "j-str");
        return KY_OK;
    }
    if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx)))
        return fail(c, KY_ERR_FORMAT, path, "minLength/maxLength must be integers", NULL);
    json_int_t lo = mn ? json_integer_value(mn) : 0, hi = mx ? json_integer_value(mx) : -1;
    if (lo < 0 || (mx && hi < lo) || lo > KY_GRAMMAR_MAX_REPEAT || hi > KY_GRAMMAR_MAX_REPEAT)
        return fail(c, KY_ERR_UNSUPPORTED, path, "string length bounds out of range", NULL);
    if (mx)
        ky_strbuf_printf(b, "\"\\\"\" %s{%lld,%lld} \"\\\"\"", CHAR_RULE, (long long)lo,
                         (long long)hi);
    else
        ky_strbuf_printf(b, "\"\\\"\" %s{%lld,} \"\\\"\"", CHAR_RULE, (long long)lo);
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Objects and arrays
 * ------------------------------------------------------------------------------------------- */

/* Rule for JSON keys that differ from every key in keys[0..n) (compared as raw text; extra
 * keys use no escapes, so no escape can spell a declared key). Built as a code-point trie. */
static void key_notin(schema_ctx *c, const char **keys, size_t n, size_t depth, const char *name) {
    /* children: distinct next code points of keys that still match */
    ky_strbuf body;
    ky_strbuf_init(&body);
    bool is_end = false;
    for (size_t i = 0; i < n; i++)
        if (strlen(keys[i]) == depth) is_end = true;
    bool alt = false;
    if (!is_end) ky_strbuf_puts(&body, "\"\""), alt = true;
    cpr ex[130];
    size_t nex = 0;
    ex[nex++] = (cpr){'"', '"'};
    ex[nex++] = (cpr){'\\', '\\'};
    ex[nex++] = (cpr){0, 0x1F};
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(keys[i]);
        if (l <= depth) continue;
        size_t cl = ky_utf8_seq_len(keys[i] + depth, l - depth);
        if (!cl) continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            size_t lj = strlen(keys[j]);
            seen = lj > depth && !memcmp(keys[j], keys[i], depth + cl) &&
                   ky_utf8_seq_len(keys[j] + depth, lj - depth) == cl;
        }
        if (seen) continue;
        /* the code point */
        uint32_t cp = 0;
        size_t cpl;
        if (!schema_utf8_cp(keys[i] + depth, cl, &cp, &cpl)) continue;
        if (nex < 128) ex[nex++] = (cpr){cp, cp};
        const char *sub[256];
        size_t ns = 0;
        for (size_t j = 0; j < n && ns < 256; j++) {
            size_t lj = strlen(keys[j]);
            if (lj > depth && !memcmp(keys[j], keys[i], depth + cl)) sub[ns++] = keys[j];
        }
        char child[32];
        new_name(c, child);
        if (alt) ky_strbuf_puts(&body, " | ");
        schema_gbnf_literal(&body, keys[i] + depth, cl);
        ky_strbuf_printf(&body, " %s", child);
        alt = true;
        if (c->depth < 64) {
            c->depth++;
            key_notin(c, sub, ns, depth + cl, child);
            c->depth--;
        } else {
            ky_strbuf_printf(c->out, "%s ::= [^\"\\\\\\x00-\\x1F]*\n", child);
        }
    }
    size_t m = schema_cp_normalize(ex, nex, true);
    if (alt) ky_strbuf_puts(&body, " | ");
    ky_strbuf_puts(&body, "[");
    for (size_t i = 0; i < m; i++) ky_strbuf_printf(&body, "\\U%08X-\\U%08X", ex[i].lo, ex[i].hi);
    ky_strbuf_puts(&body, "] [^\"\\\\\\x00-\\x1F]*");
    emit_rule(c, name, &body);
    ky_strbuf_free(&body);
}

static ky_status gen_object(schema_ctx *c, json_t *s, const char *path, ky_strbuf *b) {
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props))
        return fail(c, KY_ERR_FORMAT, path, "properties is not an object", NULL);
    if (req && !json_is_array(req))
        return fail(c, KY_ERR_FORMAT, path, "required is not an array", NULL);
    size_t n = props ? json_object_size(props) : 0;
    if (n > 4096) return fail(c, KY_ERR_UNSUPPORTED, path, "too many properties", NULL);
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    char(*vrule)[32] = calloc(n ? n : 1, 32);
    bool *required = calloc(n ? n : 1, 1);
    if (!keys || !vrule || !required) {
        free(keys), free(vrule), free(required);
        return fail(c, KY_ERR_NOMEM, path, "out of memory", NULL);
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    if (props) {
        json_object_foreach(props, k, v) {
            char p[512];
            sub_path(p, path, "properties", k);
            keys[i] = k;
            if (gen(c, v, p, vrule[i]) != KY_OK) goto done;
            i++;
        }
    }
    for (size_t r = 0; req && r < json_array_size(req); r++) {
        const char *name = json_string_value(json_array_get(req, r));
        if (!name) {
            fail(c, KY_ERR_FORMAT, path, "required holds a non-string", NULL);
            goto done;
        }
        size_t j = 0;
        while (j < n && strcmp(keys[j], name)) j++;
        if (j == n) {
            fail(c, KY_ERR_UNSUPPORTED, path,
                 "required property without a schema in properties:", name);
            goto done;
        }
        required[j] = true;
    }
    /* extra properties */
    char extra_val[32] = "", extra_key[32] = "";
    if (addl && !json_is_boolean(addl) && !json_is_object(addl)) {
        fail(c, KY_ERR_FORMAT, path, "additionalProperties is not a boolean or schema", NULL);
        goto done;
    }
    if (addl && !json_is_false(addl)) {
        if (json_is_true(addl) || json_object_size(addl) == 0) {
            snprintf(extra_val, 32, "j-v%d", ANY_DEPTH);
        } else {
            char p[512];
            sub_path(p, path, "additionalProperties", NULL);
            if (gen(c, addl, p, extra_val) != KY_OK) goto done;
        }
        new_name(c, extra_key);
        char kr[32];
        new_name(c, kr);
        key_notin(c, keys, n, 0, kr);
        ky_strbuf_printf(c->out, "%s ::= \"\\\"\" %s \"\\\"\"\n", extra_key, kr);
    }
    /* rest_i(comma): names R<i>a (no comma yet) and R<i>b (comma needed) */
    char(*ra)[32] = calloc(n + 1, 32), (*rb)[32] = calloc(n + 1, 32);
    if (!ra || !rb) {
        free(ra), free(rb);
        fail(c, KY_ERR_NOMEM, path, "out of memory", NULL);
        goto done;
    }
    for (size_t j = 0; j <= n; j++) new_name(c, ra[j]), new_name(c, rb[j]);
    for (size_t j = 0; j <= n; j++) {
        for (int comma = 0; comma < 2; comma++) {
            ky_strbuf body;
            ky_strbuf_init(&body);
            const char *sep = comma ? "\",\" ws " : "";
            if (j == n) {
                if (extra_key[0])
                    ky_strbuf_printf(
                        &body, "( %s%s ws \":\" ws %s ws ( \",\" ws %s ws \":\" ws %s ws )* )?",
                        sep, extra_key, extra_val, extra_key, extra_val);
                else
                    ky_strbuf_puts(&body, "\"\"");
            } else {
                ky_strbuf_printf(&body, "%s", sep);
                json_t *ks = json_string(keys[j]);
                char *kt = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL;
                json_decref(ks);
                if (!kt) {
                    ky_strbuf_free(&body);
                    free(ra), free(rb);
                    fail(c, KY_ERR_NOMEM, path, "out of memory", NULL);
                    goto done;
                }
                schema_gbnf_literal(&body, kt, strlen(kt));
                free(kt);
                ky_strbuf_printf(&body, " ws \":\" ws %s ws %s", vrule[j], rb[j + 1]);
                if (!required[j]) ky_strbuf_printf(&body, " | %s", comma ? rb[j + 1] : ra[j + 1]);
            }
            emit_rule(c, comma ? rb[j] : ra[j], &body);
            ky_strbuf_free(&body);
        }
    }
    ky_strbuf_printf(b, "\"{\" ws %s \"}\"", ra[0]);
    free(ra), free(rb);
done:
    free(keys), free(vrule), free(required);
    return c->st;
}

static ky_status gen_array(schema_ctx *c, json_t *s, const char *path, ky_strbuf *b) {
    json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    json_t *mn = json_object_get(s, "minItems"), *mx = json_object_get(s, "maxItems");
    if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx)))
        return fail(c, KY_ERR_FORMAT, path, "minItems/maxItems must be integers", NULL);
    if (prefix && !json_is_array(prefix))
        return fail(c, KY_ERR_FORMAT, path, "prefixItems is not an array", NULL);
    if (json_is_array(items))
        return fail(c, KY_ERR_UNSUPPORTED, path, "unsupported JSON Schema keyword form",
                    "items (array)");
    long long lo = mn ? json_integer_value(mn) : 0, hi = mx ? json_integer_value(mx) : -1;
    if (lo < 0 || lo > KY_GRAMMAR_MAX_REPEAT || hi > KY_GRAMMAR_MAX_REPEAT || (mx && hi < lo))
        return fail(c, KY_ERR_UNSUPPORTED, path, "minItems/maxItems out of range", NULL);
    size_t k = prefix ? json_array_size(prefix) : 0;
    if (k > 256) return fail(c, KY_ERR_UNSUPPORTED, path, "too many prefixItems", NULL);
    char pr[256][32];
    for (size_t i = 0; i < k; i++) {
        char p[512], idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        sub_path(p, path, "prefixItems", idx);
        if (gen(c, json_array_get(prefix, i), p, pr[i]) != KY_OK) return c->st;
    }
    char it[32] = "";
    if (json_is_false(items)) {
        if (lo > (long long)k)
            return fail(c, KY_ERR_FORMAT, path, "minItems above the item count", NULL);
        if (hi < 0 || hi > (long long)k) hi = (long long)k;
    } else if (!items || json_is_true(items)) {
        snprintf(it, 32, "j-v%d", ANY_DEPTH);
    } else {
        char p[512];
        sub_path(p, path, "items", NULL);
        if (gen(c, items, p, it) != KY_OK) return c->st;
    }
    /* rest after the prefix: count r in [max(0, lo - k), hi - k] */
    ky_strbuf rest;
    ky_strbuf_init(&rest);
    long long rlo = lo > (long long)k ? lo - (long long)k : 0;
    long long rhi = hi < 0 ? -1 : (hi > (long long)k ? hi - (long long)k : 0);
    bool has_rest = it[0] && rhi != 0;
    if (k == 0) {
        /* whole list from items */
        if (!has_rest) {
            ky_strbuf_puts(b, "\"[\" ws \"]\"");
            ky_strbuf_free(&rest);
            return KY_OK;
        }
        ky_strbuf_printf(b, "\"[\" ws ");
        if (rlo == 0) ky_strbuf_puts(b, "( ");
        ky_strbuf_printf(b, "%s ws ( \",\" ws %s ws )", it, it);
        long long m1 = rlo > 0 ? rlo - 1 : 0;
        if (rhi < 0)
            ky_strbuf_printf(b, "{%lld,}", m1);
        else
            ky_strbuf_printf(b, "{%lld,%lld}", m1, rhi - 1);
        if (rlo == 0) ky_strbuf_puts(b, " )?");
        ky_strbuf_puts(b, " \"]\"");
        ky_strbuf_free(&rest);
        return KY_OK;
    }
    if (has_rest) {
        ky_strbuf_printf(&rest, "( \",\" ws %s ws )", it);
        if (rhi < 0)
            ky_strbuf_printf(&rest, "{%lld,}", rlo);
        else
            ky_strbuf_printf(&rest, "{%lld,%lld}", rlo, rhi);
    }
    /* nested prefix: P1 ws ( "," ws P2 ws ( ... rest )? )? */
    ky_strbuf_puts(b, "\"[\" ws ");
    size_t opened = 0;
    for (size_t i = 0; i < k; i++) {
        bool optional = (long long)i >= lo;
        if (optional) ky_strbuf_puts(b, "( "), opened++;
        if (i) ky_strbuf_puts(b, "\",\" ws ");
        ky_strbuf_printf(b, "%s ws ", pr[i]);
    }
    if (has_rest) ky_strbuf_printf(b, "%s ", rest.data);
    for (size_t i = 0; i < opened; i++) ky_strbuf_puts(b, ")? ");
    ky_strbuf_puts(b, "\"]\"");
    ky_strbuf_free(&rest);
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------------------------- */

static ky_status gen_type(schema_ctx *c, json_t *s, const char *t, const char *path, ky_strbuf *b) {
    if (!strcmp(t, "string")) return gen_string(c, s, path, b);
    if (!strcmp(t, "integer")) return gen_integer(c, s, path, b);
    if (!strcmp(t, "number")) return gen_number(c, s, path, b);
    if (!strcmp(t, "boolean")) {
        ky_strbuf_puts(b, "( \"true\" | \"false\" )");
        return KY_OK;
    }
    if (!strcmp(t, "null")) {
        ky_strbuf_puts(b, "\"null\"");
        return KY_OK;
    }
    if (!strcmp(t, "object")) return gen_object(c, s, path, b);
    if (!strcmp(t, "array")) return gen_array(c, s, path, b);
    return fail(c, KY_ERR_FORMAT, path, "unknown type", t);
}

/* ---------------------------------------------------------------------------------------------
 * oneOf: compiled as the alternatives of anyOf, which is exact only when no generated value can
 * match two branches. excl(A, B) proves "nothing A's grammar writes validates against B" from
 * types, const/enum values and object properties; anything it cannot prove is rejected.
 * ------------------------------------------------------------------------------------------- */

enum { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_FRAC = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64 };
#define T_ALL 127
#define T_NUM (T_INT | T_FRAC)

static json_t *deref(schema_ctx *c, json_t *s) {
    for (int hop = 0; hop < 16 && json_is_object(s) && json_object_get(s, "$ref"); hop++) {
        const char *r = json_string_value(json_object_get(s, "$ref"));
        s = r ? resolve_ref(c, r) : NULL;
    }
    return s;
}

static unsigned value_type(json_t *v) {
    switch (json_typeof(v)) {
    case JSON_NULL: return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    case JSON_INTEGER: return T_INT;
    case JSON_REAL: return json_real_value(v) == floor(json_real_value(v)) ? T_INT : T_FRAC;
    case JSON_STRING: return T_STR;
    case JSON_ARRAY: return T_ARR;
    default: return T_OBJ;
    }
}

static unsigned type_name_mask(const char *t) {
    static const char *const names[] = {"null",   "boolean", "integer", "number",
                                        "string", "array",   "object"};
    static const unsigned masks[] = {T_NULL, T_BOOL, T_INT, T_NUM, T_STR, T_ARR, T_OBJ};
    for (int i = 0; i < 7; i++)
        if (t && !strcmp(t, names[i])) return masks[i];
    return T_ALL;
}

/* Types an instance valid against s may have (a superset; depth bounds recursion). */
static unsigned sem_types(schema_ctx *c, json_t *s, int depth) {
    s = deref(c, s);
    if (json_is_false(s)) return 0;
    if (!json_is_object(s) || depth > 16) return T_ALL;
    unsigned t = T_ALL;
    json_t *ty = json_object_get(s, "type"), *v;
    size_t i;
    if (json_is_string(ty)) t &= type_name_mask(json_string_value(ty));
    if (json_is_array(ty)) {
        unsigned m = 0;
        json_array_foreach(ty, i, v) m |= type_name_mask(json_string_value(v));
        t &= m;
    }
    if ((v = json_object_get(s, "const"))) t &= value_type(v);
    json_t *en = json_object_get(s, "enum");
    if (json_is_array(en)) {
        unsigned m = 0;
        json_array_foreach(en, i, v) m |= value_type(v);
        t &= m;
    }
    static const char *const alts[] = {"anyOf", "oneOf"};
    for (int k = 0; k < 2; k++) {
        json_t *l = json_object_get(s, alts[k]);
        if (!json_is_array(l)) continue;
        unsigned m = 0;
        json_array_foreach(l, i, v) m |= sem_types(c, v, depth + 1);
        t &= m;
    }
    json_t *all = json_object_get(s, "allOf");
    if (json_is_array(all)) json_array_foreach(all, i, v) t &= sem_types(c, v, depth + 1);
    return t;
}

/* Types the compiled grammar of s can write: as sem_types, narrowed by the keyword-based type
 * inference of gen() when s names no type. */
static unsigned gen_types(schema_ctx *c, json_t *s) {
    unsigned t = sem_types(c, s, 0);
    s = deref(c, s);
    if (!json_is_object(s)) return t;
    static const char *const explicit_kw[] = {"type", "const", "enum", "anyOf", "oneOf", NULL};
    for (int i = 0; explicit_kw[i]; i++)
        if (json_object_get(s, explicit_kw[i])) return t;
    if (json_object_get(s, "allOf")) return t & T_OBJ;
    static const struct {
        const char *kw;
        unsigned t;
    } infer[] = {{"properties", T_OBJ},      {"additionalProperties", T_OBJ},
                 {"required", T_OBJ},        {"items", T_ARR},
                 {"prefixItems", T_ARR},     {"minItems", T_ARR},
                 {"maxItems", T_ARR},        {"pattern", T_STR},
                 {"format", T_STR},          {"minLength", T_STR},
                 {"maxLength", T_STR},       {"minimum", T_NUM},
                 {"maximum", T_NUM},         {"exclusiveMinimum", T_NUM},
                 {"exclusiveMaximum", T_NUM}};
    for (size_t i = 0; i < sizeof infer / sizeof *infer; i++)
        if (json_object_get(s, infer[i].kw)) return t & infer[i].t;
    return t;
}

/* The finite set of values s allows (its const or enum), or NULL. */
static json_t *finite_values(schema_ctx *c, json_t *s, json_t **one) {
    s = deref(c, s);
    if (!json_is_object(s)) return NULL;
    json_t *v = json_object_get(s, "const");
    if (v) {
        *one = json_pack("[O]", v);
        return *one;
    }
    v = json_object_get(s, "enum");
    return json_is_array(v) ? v : NULL;
}

/* a and b may be equal JSON values (numbers by value; containers conservatively). */
static bool maybe_equal(json_t *a, json_t *b) {
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b)) return false;
    if (json_is_array(a) || json_is_object(a)) return true;
    return json_equal(a, b);
}

/* Value v (from A's const/enum) cannot validate against B. */
static bool value_fails(schema_ctx *c, json_t *v, json_t *B) {
    if (!(value_type(v) & sem_types(c, B, 0))) return true;
    json_t *one = NULL, *vb = finite_values(c, B, &one), *w;
    bool fails = vb != NULL;
    size_t i;
    if (vb) json_array_foreach(vb, i, w) fails = fails && !maybe_equal(v, w);
    json_decref(one);
    return fails;
}

static bool str_in(json_t *arr, const char *k) {
    size_t i;
    json_t *v;
    json_array_foreach(arr, i,
                       v) if (json_is_string(v) && !strcmp(json_string_value(v), k)) return true;
    return false;
}

/* The numeric interval s allows (its bound keywords; unreadable ones count as absent). */
static bounds num_interval(json_t *s) {
    bounds r = {-INFINITY, INFINITY, false, false};
    json_t *v;
    if (json_is_number(v = json_object_get(s, "minimum"))) r.lo = json_number_value(v);
    if (json_is_number(v = json_object_get(s, "exclusiveMinimum")) && json_number_value(v) >= r.lo)
        r.lo = json_number_value(v), r.exlo = true;
    if (json_is_number(v = json_object_get(s, "maximum"))) r.hi = json_number_value(v);
    if (json_is_number(v = json_object_get(s, "exclusiveMaximum")) && json_number_value(v) <= r.hi)
        r.hi = json_number_value(v), r.exhi = true;
    return r;
}

/* x ends before y starts (no common value). */
static bool before(bounds x, bounds y) {
    return x.hi < y.lo || (x.hi == y.lo && (x.exhi || y.exlo));
}

/* Nothing A's grammar writes validates against B. */
static bool excl(schema_ctx *c, json_t *A, json_t *B) {
    unsigned ga = gen_types(c, A);
    if (!(ga & sem_types(c, B, 0))) return true;
    json_t *na = deref(c, A), *nb = deref(c, B);
    if (!(ga & ~(unsigned)T_NUM) && json_is_object(na) && json_is_object(nb)) {
        bounds ia = num_interval(na), ib = num_interval(nb); /* numbers in disjoint ranges */
        if (before(ia, ib) || before(ib, ia)) return true;
    }
    json_t *one = NULL, *va = finite_values(c, A, &one), *v;
    size_t i;
    if (va) {
        bool all = true;
        json_array_foreach(va, i, v) all = all && value_fails(c, v, B);
        json_decref(one);
        return all;
    }
    json_t *a = deref(c, A), *b = deref(c, B);
    if ((ga & ~(unsigned)T_OBJ) || !json_is_object(a) || !json_is_object(b) ||
        json_object_get(a, "allOf") || json_object_get(a, "anyOf") || json_object_get(a, "oneOf"))
        return false;
    /* objects: a property A always writes (required) whose values B rejects, or a property B
     * requires that A never writes (A declares no extra keys) */
    json_t *pa = json_object_get(a, "properties"), *ra = json_object_get(a, "required");
    json_t *pb = json_object_get(b, "properties"), *rb = json_object_get(b, "required");
    json_t *addl = json_object_get(a, "additionalProperties");
    const char *k;
    json_object_foreach(pa, k, v) {
        json_t *bv = json_object_get(pb, k);
        if (!str_in(ra, k) || !bv) continue;
        json_t *one_a = NULL, *vals = finite_values(c, v, &one_a), *w;
        bool all = vals != NULL;
        size_t j;
        if (vals) json_array_foreach(vals, j, w) all = all && value_fails(c, w, bv);
        json_decref(one_a);
        if (all) return true;
    }
    if (!addl || json_is_false(addl)) json_array_foreach(rb, i, v) {
            if (json_is_string(v) && !json_object_get(pa, json_string_value(v))) return true;
        }
    return false;
}

/* Rejects a oneOf whose branches may overlap (c->st set); KY_OK when every pair is disjoint. */
static ky_status check_one_of(schema_ctx *c, json_t *list, const char *path) {
    size_t n = json_array_size(list);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            if (i == j || excl(c, json_array_get(list, i), json_array_get(list, j))) continue;
            char msg[200];
            snprintf(msg, sizeof msg,
                     "unsupported oneOf: branch %zu may also match branch %zu (use anyOf, or make "
                     "them differ in type, const/enum or a required const property) in",
                     i, j);
            return fail(c, KY_ERR_UNSUPPORTED, path, msg, "oneOf");
        }
    return KY_OK;
}

/* allOf of object schemas → one merged object schema (new reference). */
static json_t *merge_all_of(schema_ctx *c, json_t *s, const char *path) {
    json_t *m = json_object(), *props = json_object(), *req = json_array();
    bool addl_false = false;
    json_t *list = json_object_get(s, "allOf");
    if (!m || !props || !req || !json_is_array(list)) {
        json_decref(m), json_decref(props), json_decref(req);
        fail(c, json_is_array(list) ? KY_ERR_NOMEM : KY_ERR_FORMAT, path, "allOf is not an array",
             NULL);
        return NULL;
    }
    size_t n = json_array_size(list);
    for (size_t i = 0; i <= n; i++) {
        json_t *sub = i < n ? json_array_get(list, i) : s;
        for (int hop = 0; hop < 16 && json_is_object(sub) && json_object_get(sub, "$ref"); hop++) {
            const char *r = json_string_value(json_object_get(sub, "$ref"));
            sub = r ? resolve_ref(c, r) : NULL;
        }
        if (!json_is_object(sub)) {
            fail(c, KY_ERR_UNSUPPORTED, path, "unsupported allOf member (not an object schema)",
                 NULL);
            goto bad;
        }
        const char *k;
        json_t *v;
        json_object_foreach(sub, k, v) {
            if (is_annotation(k) || !strcmp(k, "allOf")) continue;
            if (!strcmp(k, "type")) {
                if (!json_is_string(v) || strcmp(json_string_value(v), "object")) {
                    fail(c, KY_ERR_UNSUPPORTED, path, "unsupported allOf member type", "type");
                    goto bad;
                }
            } else if (!strcmp(k, "properties") && json_is_object(v)) {
                const char *pk;
                json_t *pv;
                json_object_foreach(v, pk, pv) {
                    if (json_object_get(props, pk)) {
                        fail(c, KY_ERR_UNSUPPORTED, path, "property in two allOf members:", pk);
                        goto bad;
                    }
                    json_object_set(props, pk, pv);
                }
            } else if (!strcmp(k, "required") && json_is_array(v)) {
                json_array_extend(req, v);
            } else if (!strcmp(k, "additionalProperties")) {
                if (json_is_false(v)) addl_false = true;
            } else {
                fail(c, KY_ERR_UNSUPPORTED, path, "unsupported keyword inside allOf:", k);
                goto bad;
            }
        }
    }
    json_object_set_new(m, "type", json_string("object"));
    json_object_set_new(m, "properties", props);
    json_object_set_new(m, "required", req);
    if (!addl_false) json_object_set_new(m, "additionalProperties", json_false());
    return m;
bad:
    json_decref(m), json_decref(props), json_decref(req);
    return NULL;
}

static ky_status gen(schema_ctx *c, json_t *s, const char *path, char name[32]) {
    if (c->st != KY_OK) return c->st;
    if (++c->depth > KY_GRAMMAR_MAX_NEST)
        return fail(c, KY_ERR_UNSUPPORTED, path, "schema nested too deeply", NULL);
    ky_strbuf b;
    ky_strbuf_init(&b);
    if (json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0)) {
        snprintf(name, 32, "j-v%d", ANY_DEPTH);
        c->depth--;
        return KY_OK;
    }
    if (json_is_false(s)) {
        fail(c, KY_ERR_UNSUPPORTED, path, "unsupported schema", "false");
        goto out;
    }
    if (!json_is_object(s)) {
        fail(c, KY_ERR_FORMAT, path, "schema is not an object or boolean", NULL);
        goto out;
    }
    if (check_keywords(c, s, path) != KY_OK) goto out;
    if (json_object_get(s, "$ref")) {
        gen_ref(c, s, path, name);
        c->depth--;
        return c->st;
    }
    json_t *cst = json_object_get(s, "const"), *en = json_object_get(s, "enum");
    json_t *any = json_object_get(s, "anyOf");
    const char *any_kw = "anyOf";
    if (!any) any = json_object_get(s, "oneOf"), any_kw = "oneOf";
    if (cst) {
        json_literal(c, &b, cst);
    } else if (en) {
        if (!json_is_array(en) || !json_array_size(en)) {
            fail(c, KY_ERR_FORMAT, path, "enum is not a non-empty array", NULL);
            goto out;
        }
        for (size_t i = 0; i < json_array_size(en); i++) {
            if (i) ky_strbuf_puts(&b, " | ");
            json_literal(c, &b, json_array_get(en, i));
        }
    } else if (any) {
        static const char *const allowed[] = {"anyOf", "oneOf", NULL};
        const char *o = other_constraint(s, allowed);
        if (o) {
            fail(c, KY_ERR_UNSUPPORTED, path,
                 "unsupported JSON Schema keyword next to anyOf/oneOf:", o);
            goto out;
        }
        if (!json_is_array(any) || !json_array_size(any)) {
            fail(c, KY_ERR_FORMAT, path, "anyOf/oneOf is not a non-empty array", any_kw);
            goto out;
        }
        if (json_object_get(s, "anyOf") && json_object_get(s, "oneOf")) {
            fail(c, KY_ERR_UNSUPPORTED, path, "unsupported JSON Schema keyword combination",
                 "anyOf with oneOf");
            goto out;
        }
        if (any_kw[0] == 'o' && check_one_of(c, any, path) != KY_OK) goto out;
        for (size_t i = 0; i < json_array_size(any); i++) {
            char p[512], idx[24], sub[32];
            snprintf(idx, sizeof idx, "%zu", i);
            sub_path(p, path, any_kw, idx);
            if (gen(c, json_array_get(any, i), p, sub) != KY_OK) goto out;
            ky_strbuf_printf(&b, "%s%s", i ? " | " : "", sub);
        }
    } else if (json_object_get(s, "allOf")) {
        json_t *m = merge_all_of(c, s, path);
        if (!m) goto out;
        char sub[32];
        gen(c, m, path, sub);
        json_decref(m);
        if (c->st != KY_OK) goto out;
        ky_strbuf_puts(&b, sub);
    } else {
        json_t *type = json_object_get(s, "type");
        if (json_is_string(type)) {
            gen_type(c, s, json_string_value(type), path, &b);
        } else if (json_is_array(type) && json_array_size(type)) {
            for (size_t i = 0; i < json_array_size(type) && c->st == KY_OK; i++) {
                const char *t = json_string_value(json_array_get(type, i));
                if (!t) {
                    fail(c, KY_ERR_FORMAT, path, "type list holds a non-string", NULL);
                    break;
                }
                if (i) ky_strbuf_puts(&b, " | ");
                ky_strbuf_puts(&b, "( ");
                gen_type(c, s, t, path, &b);
                ky_strbuf_puts(&b, " )");
            }
        } else if (type) {
            fail(c, KY_ERR_FORMAT, path, "type is not a string or list", NULL);
        } else if (json_object_get(s, "properties") || json_object_get(s, "additionalProperties") ||
                   json_object_get(s, "required")) {
            gen_type(c, s, "object", path, &b);
        } else if (json_object_get(s, "items") || json_object_get(s, "prefixItems") ||
                   json_object_get(s, "minItems") || json_object_get(s, "maxItems")) {
            gen_type(c, s, "array", path, &b);
        } else if (json_object_get(s, "pattern") || json_object_get(s, "format") ||
                   json_object_get(s, "minLength") || json_object_get(s, "maxLength")) {
            gen_type(c, s, "string", path, &b);
        } else if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
                   json_object_get(s, "exclusiveMinimum") ||
                   json_object_get(s, "exclusiveMaximum")) {
            gen_type(c, s, "number", path, &b);
        } else {
            ky_strbuf_printf(&b, "j-v%d", ANY_DEPTH);
        }
    }
    if (c->st == KY_OK) {
        new_name(c, name);
        emit_rule(c, name, &b);
    }
out:
    ky_strbuf_free(&b);
    c->depth--;
    return c->st;
}

schema_ctx *schema_ctx_new(ky_strbuf *out, ky_error *err) {
    schema_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->out = out;
    c->err = err;
    return c;
}

ky_status schema_ctx_add(schema_ctx *c, json_t *schema, const char *path, char name[32]) {
    if (c->st != KY_OK) return c->st;
    c->root = schema;
    c->n_refs = 0; /* $ref memo is per root */
    return gen(c, schema, path ? path : "", name);
}

ky_status schema_ctx_finish(schema_ctx *c) {
    ky_status st = c->st;
    if (st == KY_OK) {
        emit_base(c->out);
        emit_any(c->out, ANY_DEPTH);
        emit_formats(c);
        if (c->out->failed) st = ky_errf(c->err, KY_ERR_NOMEM, "schema: out of memory");
    }
    free(c->refs);
    free(c);
    return st;
}

ky_status schema_to_gbnf(const char *json, size_t len, ky_strbuf *out, ky_error *err) {
    if (len > KY_GRAMMAR_MAX_SOURCE)
        return ky_errf(err, KY_ERR_UNSUPPORTED, "schema: %zu bytes is over the limit", len);
    json_error_t je;
    json_t *root = json_loadb(json ? json : "", len, JSON_DECODE_ANY, &je);
    if (!root)
        return ky_errf(err, KY_ERR_FORMAT, "schema: not JSON: %s (line %d, column %d)", je.text,
                       je.line, je.column);
    schema_ctx *c = schema_ctx_new(out, err);
    if (!c) {
        json_decref(root);
        return ky_errf(err, KY_ERR_NOMEM, "schema: out of memory");
    }
    char name[32];
    if (schema_ctx_add(c, root, "", name) == KY_OK) ky_strbuf_printf(out, "root ::= %s\n", name);
    ky_status st = schema_ctx_finish(c);
    json_decref(root);
    return st;
}

/* The public kaiyuan.h entry points that need no model. */

ky_status ky_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf, size_t *gbnf_len,
                                 ky_error *err) {
    if (!gbnf || (!schema && len)) return ky_errf(err, KY_ERR_INVALID_ARG, "schema: NULL argument");
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    ky_status st = schema_to_gbnf(schema, len, &sb, err);
    if (st == KY_OK && sb.failed) st = ky_errf(err, KY_ERR_NOMEM, "schema: out of memory");
    if (st != KY_OK) {
        ky_strbuf_free(&sb);
        return st;
    }
    if (gbnf_len) *gbnf_len = sb.len;
    *gbnf = sb.data;
    return KY_OK;
}

ky_status ky_json_object_gbnf(char **gbnf) {
    if (!gbnf) return KY_ERR_INVALID_ARG;
    ky_strbuf sb;
    ky_strbuf_init(&sb);
    schema_json_object_gbnf(&sb);
    if (sb.failed) {
        ky_strbuf_free(&sb);
        return KY_ERR_NOMEM;
    }
    *gbnf = sb.data;
    return KY_OK;
}
