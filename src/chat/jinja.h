/* jinja.h — the chat-template module's internal header: a sandboxed Jinja2 interpreter that
 * renders what Python Jinja2 renders for Hugging Face chat templates (layer: chat).
 *
 * Pipeline: jlex.c cuts the source into text and tag tokens (trim_blocks, lstrip_blocks and the
 * dropped trailing newline are applied there), jparse.c builds an AST in the template's arena,
 * jeval.c walks it over values (jvalue.c) with the filters, tests and methods of jbuiltins.c.
 * Every rendering owns one arena (freed at once) and is bounded by the KY_TMPL_* limits; errors
 * unwind with longjmp to jx_render, which is safe because everything lives in the arena.
 * Every output byte carries its provenance: 0 = template literal, 1 = caller data.
 */
#ifndef KY_CHAT_JINJA_H
#define KY_CHAT_JINJA_H

#include <jansson.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* ---- arena ------------------------------------------------------------------------------ */

typedef struct jx_chunk jx_chunk;
typedef struct jx_arena {
    jx_chunk *head;
    size_t used, limit; /* bytes handed out; limit 0 = unbounded */
} jx_arena;

/* ---- values ----------------------------------------------------------------------------- */

typedef enum jv_type {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST, /* also tuples (flag in jlist) */
    JV_DICT, /* also namespace() objects (flag in jdict) */
    JV_MACRO,
    JV_LOOP,
    JV_FUNC, /* a global function (range, namespace, raise_exception, strftime_now, dict) */
} jv_type;

enum { JP_TMPL = 0, JP_DATA = 1, JP_MIXED = 2 };

typedef struct jstr {
    size_t n;
    uint8_t prov;      /* JP_TMPL, JP_DATA or JP_MIXED */
    const uint8_t *pv; /* per-byte provenance when JP_MIXED, else NULL */
    char s[];          /* n bytes + NUL */
} jstr;

struct jlist;
struct jdict;
struct jmacro;
struct jloop;

typedef struct jv {
    uint8_t t; /* jv_type */
    union {
        bool b;
        int64_t i;
        double f;
        jstr *s;
        struct jlist *l;
        struct jdict *d;
        struct jmacro *m;
        struct jloop *lp;
        int fn; /* JV_FUNC id */
        const char *uname; /* JV_UNDEF: the name that was missing (may be NULL) */
    } u;
} jv;

typedef struct jlist {
    size_t n, cap;
    bool tuple;
    jv *v;
} jlist;

typedef struct jdict {
    size_t n, cap;
    bool ns; /* namespace(): attributes may be assigned */
    jv *k;   /* keys (strings, or any hashable value) */
    jv *v;
} jdict;

/* ---- AST -------------------------------------------------------------------------------- */

typedef enum jn_kind {
    JN_LIT,
    JN_NAME,
    JN_LIST,
    JN_TUPLE,
    JN_DICT, /* items alternate key, value */
    JN_ATTR,
    JN_ITEM,
    JN_SLICE, /* a = object, items[0..2] = start, stop, step (NULL when absent) */
    JN_CALL,  /* a = callee, items = args (kw names in kw) */
    JN_FILTER,
    JN_TEST,
    JN_NEG,
    JN_POS,
    JN_NOT,
    JN_BIN,
    JN_COND, /* a if b else c */
    /* statements */
    JN_TEXT,
    JN_OUT,
    JN_BODY,
    JN_IF, /* a = cond, b = body, c = else (body or nested IF) */
    JN_FOR,
    JN_SET,
    JN_MACRO,
    JN_CALLBLOCK,
    JN_BREAK,
    JN_CONTINUE,
} jn_kind;

typedef enum jn_op {
    JO_ADD,
    JO_SUB,
    JO_MUL,
    JO_DIV,
    JO_FLOORDIV,
    JO_MOD,
    JO_POW,
    JO_CONCAT,
    JO_EQ,
    JO_NE,
    JO_LT,
    JO_LE,
    JO_GT,
    JO_GE,
    JO_IN,
    JO_NOTIN,
    JO_AND,
    JO_OR,
} jn_op;

typedef struct jname {
    const char *s;
    size_t n;
} jname;

typedef struct jnode jnode;
struct jnode {
    uint8_t kind; /* jn_kind */
    uint8_t op;   /* jn_op for JN_BIN */
    bool negate;  /* JN_TEST: "is not" */
    int line;
    jname name;     /* NAME, ATTR, FILTER, TEST, MACRO, SET (single target) */
    jv lit;         /* JN_LIT, JN_TEXT (string) */
    jnode *a, *b, *c;
    jnode **items; /* args, elements, statements, FOR/SET/MACRO parameter defaults */
    jname *kw;     /* per item: keyword name (n == 0: positional); may be NULL */
    size_t n_items;
    jname *targets; /* FOR / SET targets, MACRO / CALLBLOCK parameter names */
    size_t n_targets;
    jname attr; /* SET ns.attr: attribute name (targets[0] is the namespace) */
};

/* A parsed template. */
typedef struct jx_tmpl {
    jx_arena arena;
    jnode *root;
    char name[96];
} jx_tmpl;

/* ---- rendering state -------------------------------------------------------------------- */

typedef struct jbuf {
    char *s;
    uint8_t *pv;
    size_t n, cap;
} jbuf;

typedef struct jframe jframe;
struct jframe {
    jframe *parent;
    size_t n, cap;
    jname *names;
    jv *vals;
};

typedef struct jmacro {
    const jnode *def;     /* JN_MACRO or JN_CALLBLOCK (its parameter list and body) */
    const jnode *caller;  /* for a macro called by a call block: that block */
    jframe *caller_frame; /* frame the call block's body runs in */
} jmacro;

typedef struct jloop {
    const jlist *items;
    size_t index0;
    int64_t depth0;
} jloop;

typedef struct jx_ctx {
    jx_arena arena;
    jmp_buf fail;
    ky_error *err;
    const char *tmpl_name;
    int line; /* line being evaluated */
    uint64_t steps;
    int depth;
    size_t out_total;
    jframe *globals; /* template level */
    jframe *frame;   /* innermost scope */
    jbuf *out;       /* current output */
    int64_t now;     /* strftime_now's time (seconds since the epoch) */
    bool utc;
    int loop_ctl; /* 0, 1 = break, 2 = continue */
} jx_ctx;

/* ---- arena (jvalue.c) ------------------------------------------------------------------- */

/* Returns n zeroed bytes from the arena, or NULL when allocation fails or the limit is passed. */
void *jx_alloc(jx_arena *a, size_t n);
void jx_arena_free(jx_arena *a);

/* ---- values (jvalue.c); functions taking a jx_ctx* fail through jx_fail ------------------ */

/* Reports an error at the current line and unwinds to jx_render. */
_Noreturn void jx_fail(jx_ctx *c, ky_status st, const char *fmt, ...) KY_PRINTF(3, 4);
void *jx_calloc(jx_ctx *c, size_t n);
/* Counts one evaluation step; fails past KY_TMPL_MAX_STEPS. */
void jx_step(jx_ctx *c);

jv jv_undef(const char *name);
jv jv_none(void);
jv jv_bool(bool b);
jv jv_int(int64_t i);
jv jv_float(double f);
/* A new string of n bytes with uniform provenance prov (JP_TMPL or JP_DATA). */
jv jv_str(jx_ctx *c, const char *s, size_t n, uint8_t prov);
jstr *jstr_new(jx_arena *a, const char *s, size_t n, uint8_t prov);
/* A string built from a buffer (provenance per byte; collapsed when uniform). */
jv jv_str_buf(jx_ctx *c, const jbuf *b);
/* Provenance of byte i of s. */
static inline uint8_t jstr_prov_at(const jstr *s, size_t i) {
    return s->prov == JP_MIXED ? s->pv[i] : s->prov;
}
/* Provenance for a string derived from the strings a and b (b may be NULL). */
uint8_t jv_derived_prov(const jv *a, const jv *b);

jlist *jlist_new(jx_ctx *c, size_t cap);
void jlist_push(jx_ctx *c, jlist *l, jv v);
jdict *jdict_new(jx_ctx *c, size_t cap);
/* Sets key (a string value) to v, replacing an existing key. */
void jdict_set(jx_ctx *c, jdict *d, jv key, jv v);
/* Value of the string key, or NULL. */
jv *jdict_get(const jdict *d, const char *key, size_t n);
/* Value of any key (Python equality), or NULL. */
jv *jdict_get_v(const jdict *d, const jv *key);

bool jv_truthy(const jv *v);
bool jv_equal(const jv *a, const jv *b);
/* Python's comparison a < b (numbers, strings, lists); fails for other types. */
int jv_compare(jx_ctx *c, const jv *a, const jv *b);
bool jv_is_number(const jv *v);
double jv_num(const jv *v);
const char *jv_type_name(const jv *v);
/* Number of code points of a string. */
size_t jv_str_chars(const jstr *s);

void jbuf_init(jx_ctx *c, jbuf *b);
void jbuf_put(jx_ctx *c, jbuf *b, const char *s, size_t n, uint8_t prov);
void jbuf_put_str(jx_ctx *c, jbuf *b, const jstr *s);
/* Appends str(v) (Python's str(); strings keep their provenance, undefined prints nothing). */
void jv_write_str(jx_ctx *c, jbuf *b, const jv *v);
/* Appends repr(v). */
void jv_write_repr(jx_ctx *c, jbuf *b, const jv *v);
/* str(v) as a value. */
jv jv_to_string(jx_ctx *c, const jv *v);
/* Appends transformers' tojson: json.dumps(v, ensure_ascii=False, indent=indent (<0: None),
 * sort_keys=sort). */
void jv_write_json(jx_ctx *c, jbuf *b, const jv *v, int indent, bool sort);
/* Converts a jansson value; strings get provenance prov. */
jv jv_from_json(jx_ctx *c, const json_t *j, uint8_t prov, int depth);

/* ---- lexer / parser (jlex.c, jparse.c) -------------------------------------------------- */

typedef enum jt_kind {
    JT_TEXT,
    JT_VAR_BEGIN,   /* {{ */
    JT_VAR_END,     /* }} */
    JT_BLOCK_BEGIN, /* {% */
    JT_BLOCK_END,   /* %} */
    JT_NAME,
    JT_STRING,
    JT_INT,
    JT_FLOAT,
    JT_OP, /* punctuation in text/len */
    JT_EOF,
} jt_kind;

typedef struct jtok {
    uint8_t kind;
    int line;
    const char *s; /* raw slice (TEXT: the text after whitespace control; STRING: decoded) */
    size_t n;
    int64_t ival;
    double fval;
} jtok;

/* Cuts src into tokens (allocated in a). On error returns a status with err naming the line. */
ky_status jx_lex(const char *name, const char *src, size_t len, jx_arena *a, jtok **out,
                 size_t *n_out, ky_error *err);
/* Parses tokens into t->root. */
ky_status jx_parse_tokens(jx_tmpl *t, const jtok *toks, size_t n, ky_error *err);

/* ---- evaluation (jeval.c, jbuiltins.c) -------------------------------------------------- */

jv jx_eval(jx_ctx *c, const jnode *n);
/* Calls a macro value with evaluated arguments (kw[i].n == 0: positional). */
jv jx_call_macro(jx_ctx *c, const jmacro *m, const jv *args, const jname *kw, size_t n);
jv jx_lookup(jx_ctx *c, const char *name, size_t n);
/* Attribute / item access with Jinja's rules (a missing key is undefined). */
jv jx_getattr(jx_ctx *c, const jv *obj, const char *name, size_t n);
jv jx_getitem(jx_ctx *c, const jv *obj, const jv *key);

/* Filters, tests, methods and global functions: args[0..n) with kw names (n == 0 positional). */
jv jx_filter(jx_ctx *c, const jname *name, const jv *self, const jv *args, const jname *kw,
             size_t n);
bool jx_test(jx_ctx *c, const jname *name, const jv *self, const jv *args, size_t n);
/* Method call obj.name(args); *found false when obj has no such method. */
jv jx_method(jx_ctx *c, const jv *obj, const char *name, size_t nlen, const jv *args,
             const jname *kw, size_t n, bool *found);
jv jx_call_func(jx_ctx *c, int fn, const jv *args, const jname *kw, size_t n);
/* Id of a global function name (for JV_FUNC), or -1. */
int jx_func_id(const char *name, size_t n);
/* Substring of s: bytes [off, off + n), provenance kept. */
jv jv_substr(jx_ctx *c, const jstr *s, size_t off, size_t n);
/* Iterable → list (strings → characters, dicts → keys, undefined → empty); fails otherwise. */
const jlist *jx_iter(jx_ctx *c, const jv *v);

/* ---- the module's entry points (jeval.c) ------------------------------------------------ */

/* Parses a template (name is used in messages). The caller owns *out (jx_tmpl_free). */
ky_status jx_tmpl_parse(const char *src, size_t len, const char *name, jx_tmpl **out,
                        ky_error *err);
void jx_tmpl_free(jx_tmpl *t);

/* A rendering: text and per-byte provenance (malloc'ed, owned by the caller: free both). */
typedef struct jx_output {
    char *text;
    uint8_t *prov;
    size_t len;
} jx_output;

/* Renders t with the variables of the JSON object vars. Strings in vars are caller data, except
 * those of the keys listed in tmpl_keys (e.g. bos_token), which count as template text.
 * now is the time strftime_now formats (seconds since the epoch), utc whether to use UTC. */
ky_status jx_render(const jx_tmpl *t, const json_t *vars, const char *const *tmpl_keys,
                    int64_t now, bool utc, jx_output *out, ky_error *err);

#endif
