/* schema_regex.c — JSON Schema "pattern" regexes → GBNF over JSON string content, and the
 * code-point set helpers the schema compiler shares (layer: grammar).
 *
 * The subset: literals and escapes, classes with ranges and negation, \\d \\w \\s (and
 * negations), '.', groups ( ) and (?: ), alternation, * + ? {m} {m,} {m,n} (lazy forms mean the
 * same language). Lookaround, backreferences, \\b and anchors inside the pattern are errors.
 * A character is emitted as JSON writes it: '"', '\\' and control characters as escapes.
 */
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "grammar/schema_int.h"

typedef struct rx {
    const char *s;
    size_t n, i;
    const char *why; /* first error */
    uint32_t depth;
} rx;

static bool rx_fail(rx *r, const char *msg) {
    if (!r->why) r->why = msg;
    return false;
}

/* Emits a code-point set as JSON string content: raw chars except '"', '\\' and controls,
 * which appear as their JSON escapes. */
void schema_emit_cpset(ky_strbuf *b, const cpr *r, size_t n) {
    bool q = false, bs = false, nl = false, tab = false, cr = false;
    ky_strbuf cls;
    ky_strbuf_init(&cls);
    for (size_t i = 0; i < n; i++) {
        uint32_t lo = r[i].lo, hi = r[i].hi;
        for (uint32_t x = lo; x <= hi && x < 0x20; x++) {
            nl |= x == '\n';
            tab |= x == '\t';
            cr |= x == '\r';
        }
        q |= lo <= '"' && '"' <= hi;
        bs |= lo <= '\\' && '\\' <= hi;
        /* the raw part: [max(lo, 0x20), hi] minus '"' and '\\' */
        static const uint32_t cut[3][2] = {{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}};
        for (int k = 0; k < 3; k++) {
            uint32_t a = lo > cut[k][0] ? lo : cut[k][0], e = hi < cut[k][1] ? hi : cut[k][1];
            if (a <= e) ky_strbuf_printf(&cls, "\\U%08X-\\U%08X", a, e);
        }
    }
    ky_strbuf_puts(b, "( ");
    bool alt = false;
    if (cls.len) {
        ky_strbuf_printf(b, "[%s]", cls.data);
        alt = true;
    }
    ky_strbuf_free(&cls);
    const char *esc[5] = {"\"\\\\\\\"\"", "\"\\\\\\\\\"", "\"\\\\n\"", "\"\\\\t\"", "\"\\\\r\""};
    bool has[5] = {q, bs, nl, tab, cr};
    for (int k = 0; k < 5; k++)
        if (has[k]) {
            ky_strbuf_printf(b, "%s%s", alt ? " | " : "", esc[k]);
            alt = true;
        }
    if (!alt) ky_strbuf_puts(b, "[^\\x00-\\U0010FFFF]"); /* empty set: matches nothing */
    ky_strbuf_puts(b, " )");
}

static int cmp_cpr(const void *a, const void *b) {
    const cpr *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts, merges and optionally complements ranges in r (capacity >= 2n + 2). */
size_t schema_cp_normalize(cpr *r, size_t n, bool neg) {
    qsort(r, n, sizeof *r, cmp_cpr);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && r[i].lo <= r[m - 1].hi + 1) {
            if (r[i].hi > r[m - 1].hi) r[m - 1].hi = r[i].hi;
        } else {
            r[m++] = r[i];
        }
    }
    if (!neg) return m;
    cpr tmp[130];
    size_t k = 0;
    uint32_t next = 0;
    for (size_t i = 0; i < m && k < 128; i++) {
        if (r[i].lo > next) tmp[k++] = (cpr){next, r[i].lo - 1};
        next = r[i].hi + 1;
    }
    if (next <= 0x10FFFF) tmp[k++] = (cpr){next, 0x10FFFF};
    /* no surrogates */
    size_t o = 0;
    for (size_t i = 0; i < k; i++) {
        cpr x = tmp[i];
        if (x.hi < 0xD800 || x.lo > 0xDFFF) {
            r[o++] = x;
            continue;
        }
        if (x.lo < 0xD800) r[o++] = (cpr){x.lo, 0xD7FF};
        if (x.hi > 0xDFFF) r[o++] = (cpr){0xE000, x.hi};
    }
    return o;
}

static bool rx_utf8(rx *r, uint32_t *cp) {
    size_t n = ky_utf8_seq_len(r->s + r->i, r->n - r->i);
    if (!n) return rx_fail(r, "invalid UTF-8 in");
    const unsigned char *s = (const unsigned char *)r->s + r->i;
    *cp = n == 1   ? s[0]
          : n == 2 ? ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu)
          : n == 3 ? ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu)
                   : ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
                         (s[3] & 0x3Fu);
    r->i += n;
    return true;
}

/* A shorthand class (\d \w \s and negations) into ranges; returns count, 0 if not one. */
static size_t shorthand(char ch, cpr *o, bool *neg) {
    *neg = ch == 'D' || ch == 'W' || ch == 'S';
    switch (ch) {
    case 'd':
    case 'D': o[0] = (cpr){'0', '9'}; return 1;
    case 'w':
    case 'W':
        o[0] = (cpr){'0', '9'}, o[1] = (cpr){'A', 'Z'}, o[2] = (cpr){'_', '_'},
        o[3] = (cpr){'a', 'z'};
        return 4;
    case 's':
    case 'S': o[0] = (cpr){'\t', '\r'}, o[1] = (cpr){' ', ' '}; return 2;
    }
    return 0;
}

/* One escaped character after '\\' (not a shorthand). */
static bool rx_escape_char(rx *r, uint32_t *cp) {
    if (r->i >= r->n) return rx_fail(r, "unterminated escape in");
    char ch = r->s[r->i++];
    switch (ch) {
    case 'n': *cp = '\n'; return true;
    case 't': *cp = '\t'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case 'u': {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            if (r->i >= r->n) return rx_fail(r, "bad \\u escape in");
            char h = r->s[r->i++];
            int d = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
            if (d < 0) return rx_fail(r, "bad \\u escape in");
            v = v * 16 + (uint32_t)d;
        }
        if (v >= 0xD800 && v <= 0xDFFF) return rx_fail(r, "surrogate escape in");
        *cp = v;
        return true;
    }
    default:
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
            return rx_fail(r, "unsupported escape (backreference, \\b, ...) in");
        *cp = (uint32_t)(unsigned char)ch;
        return true;
    }
}

static bool rx_alt(rx *r, ky_strbuf *b);

static bool rx_atom(rx *r, ky_strbuf *b) {
    char ch = r->s[r->i];
    cpr set[260];
    size_t n = 0;
    bool neg = false;
    if (ch == '(') {
        if (++r->depth > KY_GRAMMAR_MAX_NEST) return rx_fail(r, "nesting too deep in");
        r->i++;
        if (r->i + 1 < r->n && r->s[r->i] == '?') {
            if (r->s[r->i + 1] != ':') return rx_fail(r, "unsupported group (lookaround) in");
            r->i += 2;
        }
        ky_strbuf_puts(b, "( ");
        if (!rx_alt(r, b)) return false;
        if (r->i >= r->n || r->s[r->i] != ')') return rx_fail(r, "unclosed '(' in");
        r->i++;
        r->depth--;
        ky_strbuf_puts(b, " )");
        return true;
    }
    if (ch == '[') {
        r->i++;
        if (r->i < r->n && r->s[r->i] == '^') neg = true, r->i++;
        bool first = true;
        while (r->i < r->n && (r->s[r->i] != ']' || first)) {
            first = false;
            if (n + 8 > 128) return rx_fail(r, "character class too large in");
            uint32_t lo;
            if (r->s[r->i] == '\\') {
                r->i++;
                bool sneg;
                if (r->i < r->n) {
                    size_t k = shorthand(r->s[r->i], set + n, &sneg);
                    if (k) {
                        if (sneg) return rx_fail(r, "negated shorthand inside a class in");
                        r->i++;
                        n += k;
                        continue;
                    }
                }
                if (!rx_escape_char(r, &lo)) return false;
            } else if (!rx_utf8(r, &lo)) {
                return false;
            }
            uint32_t hi = lo;
            if (r->i + 1 < r->n && r->s[r->i] == '-' && r->s[r->i + 1] != ']') {
                r->i++;
                if (r->s[r->i] == '\\') {
                    r->i++;
                    if (!rx_escape_char(r, &hi)) return false;
                } else if (!rx_utf8(r, &hi)) {
                    return false;
                }
                if (hi < lo) return rx_fail(r, "class range out of order in");
            }
            set[n++] = (cpr){lo, hi};
        }
        if (r->i >= r->n) return rx_fail(r, "unclosed '[' in");
        r->i++;
        n = schema_cp_normalize(set, n, neg);
        schema_emit_cpset(b, set, n);
        return true;
    }
    if (ch == '.') {
        r->i++;
        set[0] = (cpr){'\n', '\n'};
        n = schema_cp_normalize(set, 1, true);
        schema_emit_cpset(b, set, n);
        return true;
    }
    uint32_t cp;
    if (ch == '\\') {
        r->i++;
        if (r->i < r->n) {
            size_t k = shorthand(r->s[r->i], set, &neg);
            if (k) {
                r->i++;
                n = schema_cp_normalize(set, k, neg);
                schema_emit_cpset(b, set, n);
                return true;
            }
        }
        if (!rx_escape_char(r, &cp)) return false;
    } else {
        if (ch == '*' || ch == '+' || ch == '?' || ch == '{')
            return rx_fail(r, "quantifier without an atom in");
        if (!rx_utf8(r, &cp)) return false;
    }
    set[0] = (cpr){cp, cp};
    schema_emit_cpset(b, set, 1);
    return true;
}

static bool rx_seq(rx *r, ky_strbuf *b) {
    bool any = false;
    while (r->i < r->n && r->s[r->i] != '|' && r->s[r->i] != ')') {
        if (r->s[r->i] == '$' && r->i + 1 == r->n) break;
        if (r->s[r->i] == '^' || r->s[r->i] == '$') return rx_fail(r, "anchor inside");
        if (any) ky_strbuf_puts(b, " ");
        ky_strbuf_puts(b, "( ");
        if (!rx_atom(r, b)) return false;
        ky_strbuf_puts(b, " )");
        any = true;
        if (r->i < r->n) {
            char q = r->s[r->i];
            if (q == '*' || q == '+' || q == '?') {
                ky_strbuf_printf(b, "%c", q);
                r->i++;
            } else if (q == '{') {
                size_t j = r->i + 1;
                unsigned long m = 0, x = 0;
                bool hx = false, comma = false;
                while (j < r->n && r->s[j] >= '0' && r->s[j] <= '9' && m < 100000)
                    m = m * 10 + (unsigned long)(r->s[j++] - '0');
                if (j < r->n && r->s[j] == ',') {
                    comma = true;
                    j++;
                    while (j < r->n && r->s[j] >= '0' && r->s[j] <= '9' && x < 100000)
                        x = x * 10 + (unsigned long)(r->s[j++] - '0'), hx = true;
                }
                if (j >= r->n || r->s[j] != '}' || j == r->i + 1) return rx_fail(r, "bad {m,n} in");
                if (m > KY_GRAMMAR_MAX_REPEAT || x > KY_GRAMMAR_MAX_REPEAT)
                    return rx_fail(r, "repetition over the limit in");
                if (hx && x < m) return rx_fail(r, "bad {m,n} (n < m) in");
                if (!comma)
                    ky_strbuf_printf(b, "{%lu}", m);
                else if (hx)
                    ky_strbuf_printf(b, "{%lu,%lu}", m, x);
                else
                    ky_strbuf_printf(b, "{%lu,}", m);
                r->i = j + 1;
            }
            if (r->i < r->n && r->s[r->i] == '?') r->i++; /* lazy: same language */
            if (r->i < r->n && (r->s[r->i] == '*' || r->s[r->i] == '+'))
                return rx_fail(r, "possessive or double quantifier in");
        }
    }
    if (!any) ky_strbuf_puts(b, "\"\"");
    return true;
}

static bool rx_alt(rx *r, ky_strbuf *b) {
    if (!rx_seq(r, b)) return false;
    while (r->i < r->n && r->s[r->i] == '|') {
        r->i++;
        ky_strbuf_puts(b, " | ");
        if (!rx_seq(r, b)) return false;
    }
    return true;
}

bool schema_regex_gbnf(const char *pat, size_t n, ky_strbuf *b, const char **why) {
    rx r = {pat, n, 0, NULL, 0};
    bool ok = rx_alt(&r, b);
    if (ok && r.i < r.n) ok = rx_fail(&r, "unmatched ')' in");
    *why = r.why;
    return ok;
}

bool schema_utf8_cp(const char *s, size_t n, uint32_t *cp, size_t *len) {
    rx r = {s, n, 0, NULL, 0};
    if (!rx_utf8(&r, cp)) return false;
    *len = r.i;
    return true;
}
