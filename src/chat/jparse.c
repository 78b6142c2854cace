/* jparse.c — Jinja2 parser: tokens → AST with Jinja2's grammar and precedence (layer: chat).
 *
 * Precedence, loosest first (as jinja2/parser.py): conditional "x if c else y", "or", "and",
 * "not", comparisons (==, !=, <, <=, >, >=, in, not in), "+ -", "~", "* / // %", "**", unary
 * "- +", then primaries with postfix ".attr", "[item]", "[a:b:c]", "(call)" and the filter
 * chain "|f(args)", "is [not] test arg", "(call)". So "-x|f" is "(-x)|f", "not x is y" is
 * "not (x is y)". Nesting is bounded by KY_TMPL_MAX_NEST.
 */
#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "chat/jinja.h"

typedef struct parser {
    jx_tmpl *t;
    const jtok *tk;
    size_t n, pos;
    int nest;
    ky_error *err;
    ky_status st;
    jmp_buf fail;
} parser;

_Noreturn static void pfail(parser *P, const char *fmt, const char *arg) {
    if (P->st == KY_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, fmt, arg ? arg : "");
        int line = P->pos < P->n ? P->tk[P->pos].line : (P->n ? P->tk[P->n - 1].line : 1);
        P->st = ky_errf(P->err, KY_ERR_FORMAT, "template %s line %d: %s", P->t->name, line, msg);
    }
    longjmp(P->fail, 1);
}

static void *palloc(parser *P, size_t n) {
    void *p = jx_alloc(&P->t->arena, n);
    if (!p) {
        P->st =
            ky_errf(P->err, KY_ERR_NOMEM, "template %s: out of memory while parsing", P->t->name);
        longjmp(P->fail, 1);
    }
    return p;
}

static const jtok *cur(parser *P) { return &P->tk[P->pos]; }
static const jtok *peek(parser *P, size_t k) {
    return P->pos + k < P->n ? &P->tk[P->pos + k] : &P->tk[P->n - 1];
}

static bool tok_is(const jtok *t, uint8_t kind, const char *s) {
    if (t->kind != kind) return false;
    if (!s) return true;
    size_t m = strlen(s);
    return t->n == m && !memcmp(t->s, s, m);
}
static bool is_op(parser *P, const char *s) { return tok_is(cur(P), JT_OP, s); }
static bool is_name(parser *P, const char *s) { return tok_is(cur(P), JT_NAME, s); }

static bool accept_op(parser *P, const char *s) {
    if (!is_op(P, s)) return false;
    P->pos++;
    return true;
}
static bool accept_name(parser *P, const char *s) {
    if (!is_name(P, s)) return false;
    P->pos++;
    return true;
}
static void expect_op(parser *P, const char *s) {
    if (!accept_op(P, s)) pfail(P, "expected '%s'", s);
}
static jname expect_ident(parser *P) {
    if (cur(P)->kind != JT_NAME) pfail(P, "expected a name", NULL);
    jname n = {cur(P)->s, cur(P)->n};
    P->pos++;
    return n;
}
static void expect_block_end(parser *P) {
    if (cur(P)->kind != JT_BLOCK_END) pfail(P, "expected the end of the statement ('%%}')", NULL);
    P->pos++;
}

static jnode *node(parser *P, uint8_t kind) {
    jnode *n = palloc(P, sizeof *n);
    n->kind = kind;
    n->line = cur(P)->line;
    return n;
}

/* Growable item list used while parsing. */
typedef struct items {
    jnode **v;
    jname *kw;
    size_t n, cap;
} items;

static void items_push(parser *P, items *it, jnode *x, jname kw) {
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 4;
        jnode **v = palloc(P, cap * sizeof *v);
        jname *k = palloc(P, cap * sizeof *k);
        if (it->n) {
            memcpy(v, it->v, it->n * sizeof *v);
            memcpy(k, it->kw, it->n * sizeof *k);
        }
        it->v = v;
        it->kw = k;
        it->cap = cap;
    }
    it->v[it->n] = x;
    it->kw[it->n] = kw;
    it->n++;
}

static void set_items(jnode *n, const items *it) {
    n->items = it->v;
    n->kw = it->kw;
    n->n_items = it->n;
}

static jnode *parse_expr(parser *P);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, bool with_filter);

static void enter(parser *P) {
    if (++P->nest > KY_TMPL_MAX_NEST) pfail(P, "expression or block nesting too deep", NULL);
}

/* "(a, b=c)" — cur is after "(". */
static void parse_call_args(parser *P, jnode *call) {
    items it = {0};
    while (!is_op(P, ")")) {
        if (it.n) {
            expect_op(P, ",");
            if (is_op(P, ")")) break;
        }
        jname kw = {0};
        if (cur(P)->kind == JT_NAME && tok_is(peek(P, 1), JT_OP, "=")) {
            kw = expect_ident(P);
            P->pos++;
        } else if (is_op(P, "*") || is_op(P, "**")) {
            pfail(P, "*args and **kwargs in calls are not supported", NULL);
        }
        items_push(P, &it, parse_expr(P), kw);
    }
    expect_op(P, ")");
    set_items(call, &it);
}

static jnode *parse_primary(parser *P) {
    enter(P);
    const jtok *t = cur(P);
    jnode *n;
    if (t->kind == JT_NAME) {
        n = node(P, JN_LIT);
        if (tok_is(t, JT_NAME, "true") || tok_is(t, JT_NAME, "True")) {
            n->lit = jv_bool(true);
        } else if (tok_is(t, JT_NAME, "false") || tok_is(t, JT_NAME, "False")) {
            n->lit = jv_bool(false);
        } else if (tok_is(t, JT_NAME, "none") || tok_is(t, JT_NAME, "None")) {
            n->lit = jv_none();
        } else {
            n->kind = JN_NAME;
            n->name = (jname){t->s, t->n};
        }
        P->pos++;
    } else if (t->kind == JT_STRING) {
        /* adjacent literals concatenate */
        size_t total = 0, k = P->pos;
        while (P->tk[k].kind == JT_STRING) total += P->tk[k++].n;
        jstr *s = jstr_new(&P->t->arena, NULL, total, JP_TMPL);
        if (!s) pfail(P, "out of memory", NULL);
        size_t o = 0;
        while (cur(P)->kind == JT_STRING) {
            memcpy(s->s + o, cur(P)->s, cur(P)->n);
            o += cur(P)->n;
            P->pos++;
        }
        n = node(P, JN_LIT);
        n->lit.t = JV_STR;
        n->lit.u.s = s;
    } else if (t->kind == JT_INT) {
        n = node(P, JN_LIT);
        n->lit = jv_int(t->ival);
        P->pos++;
    } else if (t->kind == JT_FLOAT) {
        n = node(P, JN_LIT);
        n->lit = jv_float(t->fval);
        P->pos++;
    } else if (accept_op(P, "(")) {
        if (accept_op(P, ")")) {
            n = node(P, JN_TUPLE);
        } else {
            jnode *first = parse_expr(P);
            if (is_op(P, ",")) {
                items it = {0};
                items_push(P, &it, first, (jname){0});
                while (accept_op(P, ",")) {
                    if (is_op(P, ")")) break;
                    items_push(P, &it, parse_expr(P), (jname){0});
                }
                n = node(P, JN_TUPLE);
                set_items(n, &it);
            } else {
                n = first;
            }
            expect_op(P, ")");
        }
    } else if (accept_op(P, "[")) {
        n = node(P, JN_LIST);
        items it = {0};
        while (!is_op(P, "]")) {
            if (it.n) {
                expect_op(P, ",");
                if (is_op(P, "]")) break;
            }
            items_push(P, &it, parse_expr(P), (jname){0});
        }
        expect_op(P, "]");
        set_items(n, &it);
    } else if (accept_op(P, "{")) {
        n = node(P, JN_DICT);
        items it = {0};
        while (!is_op(P, "}")) {
            if (it.n) {
                expect_op(P, ",");
                if (is_op(P, "}")) break;
            }
            items_push(P, &it, parse_expr(P), (jname){0});
            expect_op(P, ":");
            items_push(P, &it, parse_expr(P), (jname){0});
        }
        expect_op(P, "}");
        set_items(n, &it);
    } else {
        pfail(P,
              t->kind == JT_EOF || t->kind == JT_VAR_END || t->kind == JT_BLOCK_END
                  ? "unexpected end of expression%s"
                  : "unexpected token '%s'",
              t->kind == JT_OP || t->kind == JT_NAME ? "" : "");
    }
    P->nest--;
    return n;
}

static jnode *parse_subscript_part(parser *P) {
    if (is_op(P, ":") || is_op(P, "]")) return NULL;
    return parse_expr(P);
}

static jnode *parse_postfix(parser *P, jnode *n) {
    for (;;) {
        if (accept_op(P, ".")) {
            jnode *a = node(P, JN_ATTR);
            a->a = n;
            if (cur(P)->kind == JT_INT) {
                a->kind = JN_ITEM;
                a->b = node(P, JN_LIT);
                a->b->lit = jv_int(cur(P)->ival);
                P->pos++;
            } else {
                a->name = expect_ident(P);
            }
            n = a;
        } else if (accept_op(P, "[")) {
            jnode *start = parse_subscript_part(P);
            if (accept_op(P, ":")) {
                jnode *s = node(P, JN_SLICE);
                s->a = n;
                s->items = palloc(P, 3 * sizeof *s->items);
                s->n_items = 3;
                s->items[0] = start;
                s->items[1] = parse_subscript_part(P);
                if (accept_op(P, ":")) s->items[2] = parse_subscript_part(P);
                n = s;
            } else {
                if (!start) pfail(P, "expected a subscript", NULL);
                jnode *it = node(P, JN_ITEM);
                it->a = n;
                it->b = start;
                n = it;
            }
            expect_op(P, "]");
        } else if (accept_op(P, "(")) {
            jnode *c = node(P, JN_CALL);
            c->a = n;
            parse_call_args(P, c);
            n = c;
        } else {
            return n;
        }
    }
}

static jnode *parse_filter_expr(parser *P, jnode *n) {
    for (;;) {
        if (accept_op(P, "|")) {
            jnode *f = node(P, JN_FILTER);
            f->a = n;
            f->name = expect_ident(P);
            while (accept_op(P, ".")) { /* dotted filter names: keep the last part */
                f->name = expect_ident(P);
            }
            if (accept_op(P, "(")) parse_call_args(P, f);
            n = f;
        } else if (is_name(P, "is")) {
            P->pos++;
            jnode *t = node(P, JN_TEST);
            t->a = n;
            if (accept_name(P, "not")) t->negate = true;
            t->name = expect_ident(P);
            const jtok *c = cur(P);
            if (accept_op(P, "(")) {
                parse_call_args(P, t);
            } else if ((c->kind == JT_NAME || c->kind == JT_STRING || c->kind == JT_INT ||
                        c->kind == JT_FLOAT || tok_is(c, JT_OP, "[") || tok_is(c, JT_OP, "{")) &&
                       !tok_is(c, JT_NAME, "else") && !tok_is(c, JT_NAME, "or") &&
                       !tok_is(c, JT_NAME, "and") && !tok_is(c, JT_NAME, "if") &&
                       !tok_is(c, JT_NAME, "in") && !tok_is(c, JT_NAME, "not")) {
                if (tok_is(c, JT_NAME, "is"))
                    pfail(P, "you cannot chain multiple tests with is", NULL);
                items it = {0};
                items_push(P, &it, parse_postfix(P, parse_primary(P)), (jname){0});
                set_items(t, &it);
            }
            n = t;
        } else if (accept_op(P, "(")) {
            jnode *c = node(P, JN_CALL);
            c->a = n;
            parse_call_args(P, c);
            n = c;
        } else {
            return n;
        }
    }
}

static jnode *parse_unary(parser *P, bool with_filter) {
    enter(P);
    jnode *n;
    if (accept_op(P, "-")) {
        n = node(P, JN_NEG);
        n->a = parse_unary(P, false);
    } else if (accept_op(P, "+")) {
        n = node(P, JN_POS);
        n->a = parse_unary(P, false);
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filter_expr(P, n);
    P->nest--;
    return n;
}

static jnode *binop(parser *P, uint8_t op, jnode *a, jnode *b) {
    jnode *n = node(P, JN_BIN);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *l = parse_unary(P, true);
    while (accept_op(P, "**")) l = binop(P, JO_POW, l, parse_unary(P, true));
    return l;
}

static jnode *parse_math2(parser *P) {
    jnode *l = parse_pow(P);
    for (;;) {
        if (accept_op(P, "*"))
            l = binop(P, JO_MUL, l, parse_pow(P));
        else if (accept_op(P, "/"))
            l = binop(P, JO_DIV, l, parse_pow(P));
        else if (accept_op(P, "//"))
            l = binop(P, JO_FLOORDIV, l, parse_pow(P));
        else if (accept_op(P, "%"))
            l = binop(P, JO_MOD, l, parse_pow(P));
        else
            return l;
    }
}

static jnode *parse_concat(parser *P) {
    jnode *l = parse_math2(P);
    while (accept_op(P, "~")) l = binop(P, JO_CONCAT, l, parse_math2(P));
    return l;
}

static jnode *parse_math1(parser *P) {
    jnode *l = parse_concat(P);
    for (;;) {
        if (accept_op(P, "+"))
            l = binop(P, JO_ADD, l, parse_concat(P));
        else if (accept_op(P, "-"))
            l = binop(P, JO_SUB, l, parse_concat(P));
        else
            return l;
    }
}

static jnode *parse_compare(parser *P) {
    jnode *l = parse_math1(P);
    for (;;) {
        static const struct {
            const char *s;
            uint8_t op;
        } ops[] = {{"==", JO_EQ}, {"!=", JO_NE}, {"<", JO_LT},
                   {"<=", JO_LE}, {">", JO_GT},  {">=", JO_GE}};
        bool done = false;
        for (size_t i = 0; i < sizeof ops / sizeof ops[0] && !done; i++)
            if (accept_op(P, ops[i].s)) {
                l = binop(P, ops[i].op, l, parse_math1(P));
                done = true;
            }
        if (done) continue;
        if (accept_name(P, "in")) {
            l = binop(P, JO_IN, l, parse_math1(P));
        } else if (is_name(P, "not") && tok_is(peek(P, 1), JT_NAME, "in")) {
            P->pos += 2;
            l = binop(P, JO_NOTIN, l, parse_math1(P));
        } else {
            return l;
        }
    }
}

static jnode *parse_not(parser *P) {
    if (accept_name(P, "not")) {
        enter(P);
        jnode *n = node(P, JN_NOT);
        n->a = parse_not(P);
        P->nest--;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *l = parse_not(P);
    while (accept_name(P, "and")) l = binop(P, JO_AND, l, parse_not(P));
    return l;
}

static jnode *parse_or(parser *P) {
    jnode *l = parse_and(P);
    while (accept_name(P, "or")) l = binop(P, JO_OR, l, parse_and(P));
    return l;
}

static jnode *parse_expr(parser *P) {
    enter(P);
    jnode *n = parse_or(P);
    while (accept_name(P, "if")) {
        jnode *c = node(P, JN_COND);
        c->a = n;
        c->b = parse_or(P);
        if (accept_name(P, "else")) c->c = parse_expr(P);
        n = c;
    }
    P->nest--;
    return n;
}

/* A tuple without parentheses ("a, b") where statements allow it; else one expression. */
static jnode *parse_tuple(parser *P, bool with_cond) {
    jnode *first = with_cond ? parse_expr(P) : parse_or(P);
    if (!is_op(P, ",")) return first;
    items it = {0};
    items_push(P, &it, first, (jname){0});
    while (accept_op(P, ",")) {
        if (cur(P)->kind == JT_BLOCK_END || cur(P)->kind == JT_VAR_END || is_name(P, "in")) break;
        items_push(P, &it, with_cond ? parse_expr(P) : parse_or(P), (jname){0});
    }
    jnode *t = node(P, JN_TUPLE);
    set_items(t, &it);
    return t;
}

/* Targets of for / set: "a", "a, b", "(a, b)". */
static void parse_targets(parser *P, jnode *n) {
    jname buf[16];
    size_t k = 0;
    bool paren = accept_op(P, "(");
    do {
        if (k == 16) pfail(P, "too many assignment targets", NULL);
        buf[k++] = expect_ident(P);
    } while (accept_op(P, ","));
    if (paren) expect_op(P, ")");
    n->targets = palloc(P, k * sizeof *n->targets);
    memcpy(n->targets, buf, k * sizeof *buf);
    n->n_targets = k;
}

static jnode *parse_body(parser *P, const char *const *ends);

/* Is cur "{% name" for one of the names in ends? */
static bool at_end_tag(parser *P, const char *const *ends) {
    if (cur(P)->kind != JT_BLOCK_BEGIN) return false;
    const jtok *t = peek(P, 1);
    for (size_t i = 0; ends[i]; i++)
        if (tok_is(t, JT_NAME, ends[i])) return true;
    return false;
}

static void expect_end(parser *P, const char *name) {
    if (cur(P)->kind != JT_BLOCK_BEGIN || !tok_is(peek(P, 1), JT_NAME, name))
        pfail(P, "expected '{%% %s %%}'", name);
    P->pos += 2;
    expect_block_end(P);
}

/* Parameter list "(a, b=default)" of macro / call blocks. */
static void parse_params(parser *P, jnode *n) {
    jname names[64];
    items defaults = {0};
    size_t k = 0;
    expect_op(P, "(");
    while (!is_op(P, ")")) {
        if (k) expect_op(P, ",");
        if (k == 64) pfail(P, "too many macro parameters", NULL);
        names[k] = expect_ident(P);
        items_push(P, &defaults, accept_op(P, "=") ? parse_expr(P) : NULL, (jname){0});
        k++;
    }
    expect_op(P, ")");
    n->targets = palloc(P, (k ? k : 1) * sizeof *n->targets);
    memcpy(n->targets, names, k * sizeof *names);
    n->n_targets = k;
    set_items(n, &defaults);
}

static jnode *parse_if(parser *P) {
    jnode *n = node(P, JN_IF);
    n->a = parse_tuple(P, true);
    expect_block_end(P);
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    n->b = parse_body(P, ends);
    if (cur(P)->kind == JT_BLOCK_BEGIN && tok_is(peek(P, 1), JT_NAME, "elif")) {
        P->pos += 2;
        n->c = parse_if(P);
        return n; /* the nested if consumed endif */
    }
    if (cur(P)->kind == JT_BLOCK_BEGIN && tok_is(peek(P, 1), JT_NAME, "else")) {
        P->pos += 2;
        expect_block_end(P);
        static const char *const ends2[] = {"endif", NULL};
        n->c = parse_body(P, ends2);
    }
    expect_end(P, "endif");
    return n;
}

static jnode *parse_stmt(parser *P) {
    P->pos++; /* {% */
    int line = cur(P)->line;
    if (cur(P)->kind != JT_NAME) pfail(P, "expected a statement name", NULL);
    jnode *n;
    enter(P);
    if (accept_name(P, "if")) {
        n = parse_if(P);
    } else if (accept_name(P, "for")) {
        n = node(P, JN_FOR);
        parse_targets(P, n);
        if (!accept_name(P, "in")) pfail(P, "expected 'in' in a for loop", NULL);
        n->a = parse_tuple(P, false);
        if (accept_name(P, "if")) n->c = parse_expr(P);
        if (accept_name(P, "recursive")) pfail(P, "recursive loops are not supported", NULL);
        expect_block_end(P);
        static const char *const ends[] = {"else", "endfor", NULL};
        n->b = parse_body(P, ends);
        if (cur(P)->kind == JT_BLOCK_BEGIN && tok_is(peek(P, 1), JT_NAME, "else")) {
            P->pos += 2;
            expect_block_end(P);
            static const char *const ends2[] = {"endfor", NULL};
            items it = {0};
            items_push(P, &it, parse_body(P, ends2), (jname){0});
            set_items(n, &it);
        }
        expect_end(P, "endfor");
    } else if (accept_name(P, "set")) {
        n = node(P, JN_SET);
        if (cur(P)->kind == JT_NAME && tok_is(peek(P, 1), JT_OP, ".")) {
            n->targets = palloc(P, sizeof *n->targets);
            n->targets[0] = expect_ident(P);
            n->n_targets = 1;
            P->pos++;
            n->attr = expect_ident(P);
        } else {
            parse_targets(P, n);
        }
        if (accept_op(P, "=")) {
            n->a = parse_tuple(P, true);
            expect_block_end(P);
        } else {
            if (n->n_targets != 1 || n->attr.n) pfail(P, "a block set takes one name", NULL);
            expect_block_end(P);
            static const char *const ends[] = {"endset", NULL};
            n->b = parse_body(P, ends);
            expect_end(P, "endset");
        }
    } else if (accept_name(P, "macro")) {
        n = node(P, JN_MACRO);
        n->name = expect_ident(P);
        parse_params(P, n);
        expect_block_end(P);
        static const char *const ends[] = {"endmacro", NULL};
        n->b = parse_body(P, ends);
        expect_end(P, "endmacro");
    } else if (accept_name(P, "call")) {
        n = node(P, JN_CALLBLOCK);
        if (is_op(P, "(")) parse_params(P, n);
        jnode *callee = parse_expr(P);
        if (callee->kind != JN_CALL) pfail(P, "expected a macro call after 'call'", NULL);
        n->a = callee;
        expect_block_end(P);
        static const char *const ends[] = {"endcall", NULL};
        n->b = parse_body(P, ends);
        expect_end(P, "endcall");
    } else if (accept_name(P, "break")) {
        n = node(P, JN_BREAK);
        expect_block_end(P);
    } else if (accept_name(P, "continue")) {
        n = node(P, JN_CONTINUE);
        expect_block_end(P);
    } else if (accept_name(P, "generation")) { /* transformers' AssistantTracker tag */
        expect_block_end(P);
        static const char *const ends[] = {"endgeneration", NULL};
        n = parse_body(P, ends);
        expect_end(P, "endgeneration");
    } else if (accept_name(P, "filter")) {
        n = node(P, JN_OUT);
        jnode *f = node(P, JN_FILTER);
        f->name = expect_ident(P);
        if (accept_op(P, "(")) parse_call_args(P, f);
        expect_block_end(P);
        static const char *const ends[] = {"endfilter", NULL};
        jnode *body = parse_body(P, ends);
        expect_end(P, "endfilter");
        /* the body renders into a string that the filter receives */
        jnode *set = node(P, JN_SET);
        set->b = body;
        f->a = set;
        n->a = f;
    } else {
        char nm[64];
        size_t m = cur(P)->n < sizeof nm - 1 ? cur(P)->n : sizeof nm - 1;
        memcpy(nm, cur(P)->s, m);
        nm[m] = 0;
        pfail(P, "unknown statement '%s'", nm);
    }
    P->nest--;
    n->line = line;
    return n;
}

static jnode *parse_body(parser *P, const char *const *ends) {
    jnode *body = node(P, JN_BODY);
    items it = {0};
    for (;;) {
        const jtok *t = cur(P);
        if (t->kind == JT_EOF) {
            if (ends) pfail(P, "unexpected end of template: missing '{%% %s %%}'", ends[0]);
            break;
        }
        if (ends && at_end_tag(P, ends)) break;
        if (t->kind == JT_TEXT) {
            jnode *x = node(P, JN_TEXT);
            x->lit.t = JV_STR;
            x->lit.u.s = jstr_new(&P->t->arena, t->s, t->n, JP_TMPL);
            if (!x->lit.u.s) pfail(P, "out of memory", NULL);
            P->pos++;
            items_push(P, &it, x, (jname){0});
        } else if (t->kind == JT_VAR_BEGIN) {
            P->pos++;
            jnode *x = node(P, JN_OUT);
            x->a = parse_tuple(P, true);
            if (cur(P)->kind != JT_VAR_END)
                pfail(P, "expected the end of the expression ('}}')", NULL);
            P->pos++;
            items_push(P, &it, x, (jname){0});
        } else if (t->kind == JT_BLOCK_BEGIN) {
            const jtok *nm = peek(P, 1);
            static const char *const stray[] = {"endif",     "endfor",        "endmacro", "endset",
                                                "endcall",   "elif",          "else",     "endraw",
                                                "endfilter", "endgeneration", NULL};
            for (size_t i = 0; stray[i]; i++)
                if (tok_is(nm, JT_NAME, stray[i])) {
                    P->pos++;
                    pfail(P, "unexpected '%s'", stray[i]);
                }
            items_push(P, &it, parse_stmt(P), (jname){0});
        } else {
            pfail(P, "unexpected token", NULL);
        }
    }
    set_items(body, &it);
    return body;
}

ky_status jx_parse_tokens(jx_tmpl *t, const jtok *toks, size_t n, ky_error *err) {
    parser P = {.t = t, .tk = toks, .n = n, .err = err};
    if (setjmp(P.fail)) return P.st ? P.st : KY_ERR_FORMAT;
    t->root = parse_body(&P, NULL);
    return KY_OK;
}
