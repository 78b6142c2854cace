/* jlex.c — Jinja2 lexer: template source → text and tag tokens (layer: chat).
 *
 * Follows Jinja2's lexer as transformers configures it: newlines normalised to "\n" and one
 * trailing newline dropped; trim_blocks (a block or comment tag eats the newline after it);
 * lstrip_blocks (spaces before a block or comment tag on its own line are removed unless the tag
 * starts with "{%+"); "-" at either side of a tag strips all whitespace on that side; raw blocks.
 * String literals are decoded with Python's escapes. Brackets are balanced inside tags so that
 * "}}" closing a dict literal does not end a {{ }} expression.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "chat/jinja.h"

typedef struct lexer {
    const char *name;
    const char *s; /* normalised source */
    size_t n, pos;
    int line;
    jx_arena *arena;
    jtok *toks;
    size_t n_toks, cap;
    ky_error *err;
    ky_status st;
} lexer;

static bool lex_fail(lexer *L, const char *fmt, const char *arg) {
    if (L->st == KY_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, fmt, arg ? arg : "");
        L->st = ky_errf(L->err, KY_ERR_FORMAT, "template %s line %d: %s", L->name, L->line, msg);
    }
    return false;
}

static jtok *push(lexer *L, uint8_t kind, const char *s, size_t n) {
    if (L->n_toks == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jtok *t = jx_alloc(L->arena, cap * sizeof *t);
        if (!t) {
            L->st = ky_errf(L->err, KY_ERR_NOMEM, "template %s: out of memory", L->name);
            return NULL;
        }
        if (L->n_toks) memcpy(t, L->toks, L->n_toks * sizeof *t);
        L->toks = t;
        L->cap = cap;
    }
    jtok *t = &L->toks[L->n_toks++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->line = L->line;
    t->s = s;
    t->n = n;
    return t;
}

static void count_lines(lexer *L, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n') L->line++;
}

static bool is_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Emits text [a, b) with the "-" / lstrip rules of the tag that follows it (sign: '-', '+' or
 * 0; lstrip_ok: the tag is a block or comment). */
static void emit_text(lexer *L, size_t a, size_t b, char sign, bool lstrip_ok, bool line_start) {
    size_t end = b;
    if (sign == '-') {
        while (end > a && is_space(L->s[end - 1])) end--;
    } else if (sign != '+' && lstrip_ok) {
        size_t l = end;
        while (l > a && L->s[l - 1] != '\n') l--;
        bool at_line_start = l > a || (l == a && line_start);
        bool all_ws = l < end;
        for (size_t i = l; i < end && all_ws; i++)
            if (!is_space(L->s[i])) all_ws = false;
        if (at_line_start && all_ws) end = l;
    }
    if (end > a) push(L, JT_TEXT, L->s + a, end - a);
    count_lines(L, L->s + a, b - a);
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes a string literal body [a, b) with Python's escapes into the arena. */
static bool lex_string(lexer *L, size_t a, size_t b) {
    char *o = jx_alloc(L->arena, (b - a) * 4 / 2 + 8);
    if (!o) return lex_fail(L, "out of memory", NULL);
    size_t k = 0;
    for (size_t i = a; i < b; i++) {
        char ch = L->s[i];
        if (ch != '\\' || i + 1 >= b) {
            o[k++] = ch;
            continue;
        }
        char e = L->s[++i];
        int digits = 0;
        switch (e) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case '\\': o[k++] = '\\'; break;
        case '\'': o[k++] = '\''; break;
        case '"': o[k++] = '"'; break;
        case 'a': o[k++] = '\a'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'v': o[k++] = '\v'; break;
        case '\n': break; /* line continuation */
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                uint32_t v = 0;
                int m = 0;
                while (m < 3 && i < b && L->s[i] >= '0' && L->s[i] <= '7')
                    v = v * 8 + (uint32_t)(L->s[i++] - '0'), m++;
                i--;
                k += put_utf8(o + k, v);
            } else {
                o[k++] = '\\';
                o[k++] = e;
            }
        }
        if (digits) {
            uint32_t v = 0;
            for (int d = 0; d < digits; d++) {
                int h = i + 1 < b ? hexval(L->s[i + 1]) : -1;
                if (h < 0)
                    return lex_fail(L, "truncated \\%s escape in a string literal",
                                    e == 'x' ? "x" : "u");
                v = v * 16 + (uint32_t)h;
                i++;
            }
            if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
                return lex_fail(L, "invalid code point escape in a string literal", NULL);
            k += put_utf8(o + k, v);
        }
    }
    jtok *t = push(L, JT_STRING, o, k);
    return t != NULL;
}

static bool starts(const lexer *L, size_t p, const char *lit) {
    size_t m = strlen(lit);
    return p + m <= L->n && !memcmp(L->s + p, lit, m);
}

static bool is_name_start(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Lexes the inside of a {{ }} or {% %} tag starting at L->pos; returns after the end tag.
 * *end_sign receives '-' / '+' / 0 of the end tag and *ate_newline whether it consumed a
 * newline last (Jinja's line_starting). */
static bool lex_tag(lexer *L, bool is_block, bool *ate_newline) {
    int depth = 0;
    const char *close = is_block ? "%}" : "}}";
    for (;;) {
        if (L->st) return false;
        while (L->pos < L->n && is_space(L->s[L->pos])) {
            if (L->s[L->pos] == '\n') L->line++;
            L->pos++;
        }
        if (L->pos >= L->n) return lex_fail(L, "unexpected end of template inside a tag", NULL);
        size_t p = L->pos;
        char ch = L->s[p];
        if (depth == 0) {
            char sign = 0;
            size_t q = p;
            if ((ch == '-' || (ch == '+' && is_block)) && starts(L, p + 1, close)) sign = ch, q++;
            if (starts(L, q, close)) {
                q += 2;
                bool nl = false;
                if (sign == '-') {
                    while (q < L->n && is_space(L->s[q])) {
                        nl = L->s[q] == '\n';
                        if (nl) L->line++;
                        q++;
                    }
                } else if (sign == 0 && is_block && q < L->n && L->s[q] == '\n') {
                    q++, L->line++, nl = true;
                }
                L->pos = q;
                *ate_newline = nl;
                return push(L, is_block ? JT_BLOCK_END : JT_VAR_END, NULL, 0) != NULL;
            }
        }
        if (is_name_start(ch)) {
            while (L->pos < L->n && (is_name_start(L->s[L->pos]) || is_digit(L->s[L->pos])))
                L->pos++;
            push(L, JT_NAME, L->s + p, L->pos - p);
        } else if (is_digit(ch)) {
            char buf[64];
            size_t k = 0;
            bool is_float = false;
            while (L->pos < L->n && (is_digit(L->s[L->pos]) || L->s[L->pos] == '_')) {
                if (L->s[L->pos] != '_' && k < sizeof buf - 1) buf[k++] = L->s[L->pos];
                L->pos++;
            }
            if (L->pos + 1 < L->n && L->s[L->pos] == '.' && is_digit(L->s[L->pos + 1])) {
                is_float = true;
                buf[k < sizeof buf - 1 ? k++ : k] = '.';
                L->pos++;
                while (L->pos < L->n && (is_digit(L->s[L->pos]) || L->s[L->pos] == '_')) {
                    if (L->s[L->pos] != '_' && k < sizeof buf - 1) buf[k++] = L->s[L->pos];
                    L->pos++;
                }
            }
            if (L->pos < L->n && (L->s[L->pos] == 'e' || L->s[L->pos] == 'E')) {
                size_t q = L->pos + 1;
                if (q < L->n && (L->s[q] == '+' || L->s[q] == '-')) q++;
                if (q < L->n && is_digit(L->s[q])) {
                    is_float = true;
                    while (L->pos < q && k < sizeof buf - 1) buf[k++] = L->s[L->pos++];
                    while (L->pos < L->n && is_digit(L->s[L->pos]) && k < sizeof buf - 1)
                        buf[k++] = L->s[L->pos++];
                }
            }
            buf[k] = 0;
            if (k >= sizeof buf - 1) return lex_fail(L, "number literal too long", NULL);
            jtok *t = push(L, is_float ? JT_FLOAT : JT_INT, L->s + p, L->pos - p);
            if (!t) return false;
            if (is_float) {
                t->fval = strtod(buf, NULL);
            } else {
                char *e;
                unsigned long long v = strtoull(buf, &e, 10);
                if (v > (unsigned long long)INT64_MAX || k > 19)
                    return lex_fail(L, "integer literal too large", NULL);
                t->ival = (int64_t)v;
            }
        } else if (ch == '\'' || ch == '"') {
            size_t q = p + 1;
            while (q < L->n && L->s[q] != ch) q += L->s[q] == '\\' ? 2 : 1;
            if (q >= L->n) return lex_fail(L, "unterminated string literal", NULL);
            int line0 = L->line;
            if (!lex_string(L, p + 1, q)) return false;
            L->toks[L->n_toks - 1].line = line0;
            count_lines(L, L->s + p, q - p);
            L->pos = q + 1;
        } else {
            static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">="};
            size_t len = 0;
            for (size_t i = 0; i < sizeof ops2 / sizeof ops2[0]; i++)
                if (starts(L, p, ops2[i])) len = 2;
            if (!len) {
                if (!strchr("+-*/%~<>=()[]{},.:|;!", ch) || ch == 0) {
                    char s[2] = {ch, 0};
                    return lex_fail(L, "unexpected character '%s' in a tag", s);
                }
                if (ch == '!') return lex_fail(L, "unexpected character '!' in a tag", NULL);
                len = 1;
                if (ch == '(' || ch == '[' || ch == '{') depth++;
                if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) depth--;
            }
            push(L, JT_OP, L->s + p, len);
            L->pos += len;
        }
    }
}

/* Finds the next tag start at or after p: returns its offset (or L->n) and the kind
 * ('{' var, '%' block, '#' comment). */
static size_t next_tag(const lexer *L, size_t p, char *kind) {
    for (;;) {
        const char *q = memchr(L->s + p, '{', L->n - p);
        if (!q) return L->n;
        size_t i = (size_t)(q - L->s);
        if (i + 1 < L->n && (L->s[i + 1] == '{' || L->s[i + 1] == '%' || L->s[i + 1] == '#')) {
            *kind = L->s[i + 1];
            return i;
        }
        p = i + 1;
    }
}

/* Is the block tag at p (after "{%" and an optional sign) "raw"? Returns the offset after
 * its "%}" (0 when it is not a raw tag). */
static size_t raw_tag(const lexer *L, size_t p, const char *word, char *end_sign) {
    while (p < L->n && is_space(L->s[p])) p++;
    size_t m = strlen(word);
    if (!starts(L, p, word) ||
        (p + m < L->n && (is_name_start(L->s[p + m]) || is_digit(L->s[p + m]))))
        return 0;
    p += m;
    while (p < L->n && is_space(L->s[p])) p++;
    *end_sign = 0;
    if (p < L->n && (L->s[p] == '-' || L->s[p] == '+')) *end_sign = L->s[p++];
    if (!starts(L, p, "%}")) return 0;
    return p + 2;
}

/* After a block or comment end tag at q: "-" eats all following whitespace, no sign eats one
 * newline (trim_blocks). Returns the new position; *line_start says whether a newline was eaten
 * last (Jinja's line_starting for lstrip_blocks). */
static size_t after_end(lexer *L, size_t q, char sign, bool *line_start) {
    *line_start = false;
    if (sign == '-') {
        while (q < L->n && is_space(L->s[q])) {
            *line_start = L->s[q] == '\n';
            if (*line_start) L->line++;
            q++;
        }
    } else if (sign == 0 && q < L->n && L->s[q] == '\n') {
        q++, L->line++, *line_start = true;
    }
    return q;
}

static bool lex_all(lexer *L) {
    bool line_start = true;
    while (L->pos < L->n && !L->st) {
        char kind = 0;
        size_t t = next_tag(L, L->pos, &kind);
        if (t >= L->n) {
            emit_text(L, L->pos, L->n, 0, false, line_start);
            L->pos = L->n;
            break;
        }
        size_t body = t + 2;
        char sign = 0;
        if (body < L->n && (L->s[body] == '-' || L->s[body] == '+')) sign = L->s[body++];
        if (sign == '+' && kind == '{') sign = 0, body--; /* {{+ is not a modifier */
        int tag_line = L->line;
        emit_text(L, L->pos, t, sign, kind != '{', line_start);
        (void)tag_line;
        if (kind == '#') {
            const char *e = NULL;
            for (size_t q = body; q + 1 < L->n; q++)
                if (L->s[q] == '#' && L->s[q + 1] == '}') {
                    e = L->s + q;
                    break;
                }
            if (!e) return lex_fail(L, "unterminated comment", NULL);
            size_t q = (size_t)(e - L->s);
            char esign = q > body && (L->s[q - 1] == '-' || L->s[q - 1] == '+') ? L->s[q - 1] : 0;
            count_lines(L, L->s + body, q - body);
            L->pos = after_end(L, q + 2, esign, &line_start);
            continue;
        }
        char esign;
        size_t after_raw = kind == '%' ? raw_tag(L, body, "raw", &esign) : 0;
        if (after_raw) {
            size_t q = after_raw;
            if (esign == '-')
                while (q < L->n && is_space(L->s[q])) q++;
            count_lines(L, L->s + t, q - t);
            /* find {% endraw %} */
            size_t r = q;
            for (;;) {
                char k2 = 0;
                size_t e = next_tag(L, r, &k2);
                if (e >= L->n) return lex_fail(L, "missing {%% endraw %%}", NULL);
                size_t b2 = e + 2;
                char s2 = 0;
                if (k2 == '%' && b2 < L->n && (L->s[b2] == '-' || L->s[b2] == '+')) s2 = L->s[b2++];
                char es2;
                size_t after = k2 == '%' ? raw_tag(L, b2, "endraw", &es2) : 0;
                if (!after) {
                    r = e + 1;
                    continue;
                }
                emit_text(L, q, e, s2, true, false);
                count_lines(L, L->s + e, after - e);
                L->pos = after_end(L, after, es2, &line_start);
                break;
            }
            continue;
        }
        if (!push(L, kind == '%' ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, NULL, 0)) return false;
        L->pos = body;
        bool nl = false;
        if (!lex_tag(L, kind == '%', &nl)) return false;
        line_start = nl;
    }
    return L->st == KY_OK && push(L, JT_EOF, NULL, 0) != NULL;
}

ky_status jx_lex(const char *name, const char *src, size_t len, jx_arena *a, jtok **out,
                 size_t *n_out, ky_error *err) {
    lexer L = {.name = name, .line = 1, .arena = a, .err = err};
    char *s = jx_alloc(a, len + 1);
    if (!s) return ky_errf(err, KY_ERR_NOMEM, "template %s: out of memory", name);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[k++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[k++] = src[i];
        }
    }
    if (k > 0 && s[k - 1] == '\n') k--;
    s[k] = 0;
    L.s = s;
    L.n = k;
    if (!lex_all(&L))
        return L.st ? L.st : ky_errf(err, KY_ERR_FORMAT, "template %s: lexer error", name);
    *out = L.toks;
    *n_out = L.n_toks;
    return KY_OK;
}
