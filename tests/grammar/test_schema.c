/* test_schema.c — JSON Schema → grammar: which JSON texts each compiled schema accepts, and the
 * errors for unsupported keywords (tests for src/grammar/schema.c and schema_regex.c).
 * Integer ranges are checked exhaustively against the bounds over a window of values.
 */
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "grammar/grammar.h"
#include "kaiyuan.h"
#include "test.h"

typedef struct compiled {
    gram *g;
    gadv a;
    uint32_t *b0, *b1;
} compiled;

static bool compile(const char *schema, compiled *c) {
    char *text = NULL;
    ky_error err;
    memset(c, 0, sizeof *c);
    if (ky_json_schema_to_gbnf(schema, strlen(schema), &text, NULL, &err) != KY_OK) {
        fprintf(stderr, "schema %s: %s\n", schema, err.message);
        return false;
    }
    ky_status st = gram_parse_gbnf(text, strlen(text), &c->g, &err);
    if (st != KY_OK) fprintf(stderr, "gbnf of %s: %s\n%s\n", schema, err.message, text);
    free(text);
    if (st != KY_OK) return false;
    gadv_init(&c->a, c->g);
    c->b0 = malloc(KY_GRAMMAR_MAX_STATE_WORDS * 4);
    c->b1 = malloc(KY_GRAMMAR_MAX_STATE_WORDS * 4);
    return true;
}

static void release(compiled *c) {
    gadv_free(&c->a);
    gram_free(c->g);
    free(c->b0);
    free(c->b1);
}

static bool accepts(compiled *c, const char *s) {
    gadv_begin(&c->a, c->b0, KY_GRAMMAR_MAX_STATE_WORDS);
    gadv_start(&c->a);
    gstate st = gadv_end(&c->a);
    for (size_t i = 0; s[i]; i++) {
        gadv_begin(&c->a, (i & 1) ? c->b0 : c->b1, KY_GRAMMAR_MAX_STATE_WORDS);
        gadv_step(&c->a, &st, (uint8_t)s[i]);
        st = gadv_end(&c->a);
        if (!st.n_stacks && !st.can_end) return false;
    }
    return st.can_end;
}

/* yes: NULL-terminated texts that must be accepted; no: texts that must not. */
static void expect(const char *schema, const char *const *yes, const char *const *no) {
    compiled c;
    if (!compile(schema, &c)) {
        CHECKF(false, "schema did not compile: %s", schema);
        return;
    }
    for (; yes && *yes; yes++) CHECKF(accepts(&c, *yes), "%s should accept %s", schema, *yes);
    for (; no && *no; no++) CHECKF(!accepts(&c, *no), "%s should reject %s", schema, *no);
    release(&c);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_integer_ranges(void) {
    static const struct {
        const char *schema;
        long lo, hi;
    } cases[] = {
        {"{\"type\":\"integer\",\"minimum\":-37,\"maximum\":1234}", -37, 1234},
        {"{\"type\":\"integer\",\"minimum\":100}", 100, 1000000},
        {"{\"type\":\"integer\",\"maximum\":-3}", -1000000, -3},
        {"{\"type\":\"integer\",\"exclusiveMinimum\":9,\"exclusiveMaximum\":1000}", 10, 999},
        {"{\"type\":\"integer\",\"minimum\":0,\"maximum\":0}", 0, 0},
        {"{\"type\":\"integer\",\"minimum\":-500,\"maximum\":-120}", -500, -120},
    };
    char buf[32];
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        compiled c;
        REQUIRE(compile(cases[k].schema, &c));
        int bad = 0;
        for (long v = -2100; v <= 2100; v++) {
            snprintf(buf, sizeof buf, "%ld", v);
            bool want = v >= cases[k].lo && v <= cases[k].hi;
            if (accepts(&c, buf) != want && bad++ < 3)
                CHECKF(false, "%s: %ld accepted=%d", cases[k].schema, v, !want);
        }
        CHECK(bad == 0);
        CHECK(!accepts(&c, "007"));
        release(&c);
    }
}

/* Fractional number bounds, checked exhaustively: every decimal with integer part -3..3 and 0..4
 * fraction digits (trailing zeros included, "-0.x" too) against exact bounds in 1e-4 units. */
static void test_fractional_bounds(void) {
    static const struct {
        const char *schema;
        long lo, hi; /* x * 10^4 */
        bool exlo, exhi;
    } cases[] = {
        {"{\"type\":\"number\",\"minimum\":0.125,\"maximum\":2.5}", 1250, 25000, 0, 0},
        {"{\"type\":\"number\",\"exclusiveMinimum\":-1.25,\"exclusiveMaximum\":0.75}", -12500, 7500,
         1, 1},
        {"{\"type\":\"number\",\"minimum\":-2.005,\"exclusiveMaximum\":-0.5}", -20050, -5000, 0, 1},
        {"{\"type\":\"number\",\"exclusiveMinimum\":0.1,\"maximum\":0.1003}", 1000, 1003, 1, 0},
        {"{\"type\":\"number\",\"minimum\":1.5}", 15000, 1000000000, 0, 0},
        {"{\"type\":\"number\",\"exclusiveMaximum\":-0.001}", -1000000000, -10, 0, 1},
        {"{\"type\":\"number\",\"minimum\":0.2,\"maximum\":0.2}", 2000, 2000, 0, 0},
        {"{\"type\":\"number\",\"minimum\":0.5,\"exclusiveMinimum\":0.5,\"maximum\":3}", 5000,
         30000, 1, 0},
        {"{\"type\":\"number\",\"minimum\":-0.3,\"maximum\":0.0007}", -3000, 7, 0, 0},
        {"{\"type\":\"integer\",\"minimum\":0.5,\"maximum\":3.7}", 10000, 30000, 0, 0},
        {"{\"type\":\"integer\",\"exclusiveMinimum\":-2,\"exclusiveMaximum\":2.5}", -10000, 20000,
         0, 0},
    };
    char buf[32];
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        compiled c;
        REQUIRE(compile(cases[k].schema, &c));
        bool integer = strstr(cases[k].schema, "integer") != NULL;
        int bad = 0, n_yes = 0;
        for (int neg = 0; neg <= 1; neg++)
            for (long ip = 0; ip <= 3; ip++)
                for (int nf = 0; nf <= 4; nf++) {
                    long scale = 1;
                    for (int i = nf; i < 4; i++) scale *= 10;
                    long top = 1;
                    for (int i = 0; i < nf; i++) top *= 10;
                    for (long f = 0; f < top; f++) {
                        int n = snprintf(buf, sizeof buf, "%s%ld", neg ? "-" : "", ip);
                        if (nf) snprintf(buf + n, sizeof buf - (size_t)n, ".%0*ld", nf, f);
                        long v = (ip * 10000 + f * scale) * (neg ? -1 : 1);
                        bool want = (cases[k].exlo ? v > cases[k].lo : v >= cases[k].lo) &&
                                    (cases[k].exhi ? v < cases[k].hi : v <= cases[k].hi) &&
                                    (!integer || (nf == 0 && !(neg && v == 0)));
                        bool got = accepts(&c, buf);
                        n_yes += got;
                        if (got != want && bad++ < 5)
                            CHECKF(false, "%s: %s accepted=%d", cases[k].schema, buf, got);
                    }
                }
        CHECKF(bad == 0, "%s: %d wrong", cases[k].schema, bad);
        CHECK(n_yes > 0);
        release(&c);
    }
    /* a bounded number has at most 15 digits in all (distinct doubles for exclusive ends) */
    expect("{\"type\":\"number\",\"minimum\":0.1,\"maximum\":10}",
           L("0.123456789012345", "9.12345678901234", "10"),
           L("0.1234567890123456", "9.123456789012345", "0.09999", "1e1", "10.000000000000001"));
    expect("{\"type\":\"number\",\"exclusiveMinimum\":0.30000000000000004}", L("0.31", "1"),
           L("0.3", "0.30000000000000"));
}

/* oneOf compiles only when the branches provably cannot both match a generated value. */
static void test_one_of(void) {
    static const char *const ok[] = {
        "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
        "{\"oneOf\":[{\"const\":\"a\"},{\"const\":\"b\"},{\"enum\":[1,2.5,null]}]}",
        "{\"oneOf\":[{\"type\":\"number\",\"maximum\":3},{\"type\":\"null\"}]}",
        "{\"oneOf\":[{\"const\":1.5},{\"type\":\"integer\"}]}",
        "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"cat\"},"
        "\"lives\":{\"type\":\"integer\"}},\"required\":[\"kind\"]},{\"type\":\"object\","
        "\"properties\":{\"kind\":{\"enum\":[\"dog\",\"fox\"]}},\"required\":[\"kind\"]}]}",
        "{\"oneOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]},"
        "{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}",
        "{\"$defs\":{\"s\":{\"type\":\"string\"}},\"oneOf\":[{\"$ref\":\"#/$defs/s\"},"
        "{\"type\":\"array\"}]}",
        "{\"oneOf\":[{\"type\":\"number\",\"maximum\":0},{\"type\":\"number\","
        "\"exclusiveMinimum\":0}]}",
        "{\"oneOf\":[{\"type\":\"number\",\"maximum\":1},{\"minimum\":2}]}", /* B writes numbers */
        "{\"oneOf\":[{\"type\":\"integer\",\"maximum\":9},{\"type\":\"number\","
        "\"minimum\":9.5}]}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        ky_grammar *g = NULL;
        ky_error err = {0};
        CHECKF(ky_grammar_from_json_schema(ok[i], strlen(ok[i]), &g, &err) == KY_OK, "%s: %s",
               ok[i], err.message);
        ky_grammar_free(g);
    }
    static const char *const bad[] = {
        "{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}",
        "{\"oneOf\":[{\"type\":\"number\",\"maximum\":0},{\"type\":\"number\",\"minimum\":0}]}",
        "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}},"
        "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"}}}]}",
        "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"string\",\"maxLength\":3}]}",
        "{\"oneOf\":[{},{\"type\":\"null\"}]}",
        "{\"oneOf\":[{\"enum\":[1,2]},{\"enum\":[2.0,3]}]}",
        "{\"oneOf\":[{\"const\":1},{\"type\":\"integer\"}]}",
        "{\"oneOf\":[{\"type\":\"string\"},{\"pattern\":\"^a$\"}]}",
        "{\"oneOf\":[{\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"],"
        "\"additionalProperties\":true},{\"properties\":{\"b\":{}},\"required\":[\"b\"]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ky_grammar *g = NULL;
        ky_error err = {0};
        ky_status st = ky_grammar_from_json_schema(bad[i], strlen(bad[i]), &g, &err);
        CHECKF(st == KY_ERR_UNSUPPORTED, "%s: status %d", bad[i], st);
        CHECKF(strstr(err.message, "'oneOf' at /") != NULL, "%s: %s", bad[i], err.message);
        ky_grammar_free(g);
    }
    /* the accepted discriminated union writes either branch, never a mix */
    expect(ok[4], L("{\"kind\": \"cat\", \"lives\": 9}", "{\"kind\": \"fox\"}"),
           L("{\"kind\": \"cow\"}", "{\"kind\": \"dog\", \"lives\": 1}"));
}

static void test_numbers(void) {
    expect("{\"type\":\"number\",\"minimum\":0,\"exclusiveMaximum\":10}",
           L("0", "9.99", "5.5", "0.0001", "3"), L("10", "10.0", "-0.1", "1e3", "11", "-1"));
    expect("{\"type\":\"number\",\"exclusiveMinimum\":1,\"maximum\":2}",
           L("1.01", "2", "2.0", "1.5"), L("1", "1.0", "1.000", "2.01", "0.5", "3"));
    expect("{\"type\":\"number\",\"minimum\":-2,\"maximum\":-1}", L("-1.5", "-2", "-1", "-1.0"),
           L("-2.5", "-0.5", "0", "1"));
    expect("{\"type\":\"number\"}", L("0", "-1.5e-3", "12.25", "1E+2"),
           L("01", "1.", ".5", "+1", "1e", "--1"));
    expect("{\"type\":\"integer\"}", L("0", "-12", "123456789012345"),
           L("1.0", "-", "00", "1234567890123456"));
}

static void test_strings(void) {
    expect("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}",
           L("\"ab\"", "\"a\\n\"", "\"e\xCC\x81\xCC\x81\"", "\"\\u00e9x\""),
           L("\"a\"", "\"abcd\"", "\"a\nb\"", "\"\\ud800x\"", "ab"));
    expect("{\"type\":\"string\",\"pattern\":\"ab\"}", L("\"xxabyy\"", "\"ab\""),
           L("\"ba\"", "\"a\""));
    expect("{\"type\":\"string\",\"pattern\":\"^a+$\"}", L("\"aaa\""), L("\"aab\"", "\"\""));
    expect("{\"type\":\"string\",\"pattern\":\"^\\\"\\\\\\\\[^a-c]\\\\d{2}$\"}",
           L("\"\\\"\\\\d42\"", "\"\\\"\\\\\xC3\xA9"
                                "12\""),
           L("\"\\\"\\\\a42\"", "\"\"\\d42\""));
    expect("{\"type\":\"string\",\"pattern\":\"^(?:x|yz)*\\\\.\\\\w?$\"}",
           L("\"yzx.\"", "\"._\"", "\"xx.9\""), L("\"y.\"", "\"x.-\""));
    expect("{\"type\":\"string\",\"format\":\"date\"}",
           L("\"2024-02-28\"", "\"2024-12-31\"", "\"1999-04-30\""),
           L("\"2024-04-31\"", "\"2024-02-30\"", "\"2024-13-01\"", "\"2024-1-01\""));
    expect("{\"type\":\"string\",\"format\":\"date-time\"}",
           L("\"2024-05-06T07:08:09Z\"", "\"2024-05-06T23:59:59.123+05:30\""),
           L("\"2024-05-06T24:00:00Z\"", "\"2024-05-06 07:08:09Z\""));
    expect("{\"format\":\"uuid\"}", L("\"123e4567-e89b-12d3-a456-426614174000\""),
           L("\"123e4567e89b12d3a456426614174000\""));
    expect("{\"type\":\"string\",\"format\":\"email\"}", L("\"a.b@example.com\""),
           L("\"a@b\"", "\"@example.com\""));
}

static void test_objects_arrays(void) {
    const char *opt = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"},\"b\":{"
                      "\"type\":\"integer\"},\"c\":{\"type\":\"integer\"}},\"required\":[\"b\"]}";
    expect(opt,
           L("{\"b\":1}", "{\"a\":true,\"b\":1,\"c\":2}", "{ \"b\" : 1 }", "{\"b\":1,\"c\":2}",
             "{\n  \"a\": false,\n  \"b\": 3\n}"),
           L("{\"a\":true,\"c\":2}", "{,\"b\":1}", "{\"b\":1,}", "{\"c\":2,\"b\":1}",
             "{\"b\":1,\"x\":2}", "{\"b\":1}   ", "{  \"b\":1}"));
    const char *extra = "{\"properties\":{\"ab\":{\"type\":\"boolean\"}},\"additionalProperties\":{"
                        "\"type\":\"integer\"}}";
    expect(extra, L("{}", "{\"ab\":true,\"zz\":1}", "{\"abc\":1}", "{\"a\":2}", "{\"\":1,\"b\":2}"),
           L("{\"ab\":1}", "{\"zz\":true}", "{\"ab\":true,\"ab\":1}"));
    expect("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}",
           L("[1]", "[1, 2,3]", "[ 1 ]"), L("[]", "[1,2,3,4]", "[1,]"));
    expect("{\"type\":\"array\",\"prefixItems\":[{\"const\":\"a\"},{\"type\":\"null\"}],\"items\":"
           "{\"type\":\"boolean\"},\"maxItems\":3}",
           L("[]", "[\"a\"]", "[\"a\",null]", "[\"a\",null,true]"),
           L("[null]", "[\"a\",null,true,false]", "[\"a\",true]"));
    expect("{\"enum\":[1,\"x\",null,{\"k\":[true]}]}", L("1", "\"x\"", "null", "{\"k\":[true]}"),
           L("2", "\"y\"", "{\"k\":[false]}"));
    expect("{\"$defs\":{\"t\":{\"type\":\"object\",\"properties\":{\"n\":{\"$ref\":\"#/$defs/t\"}}"
           "}},\"$ref\":\"#/$defs/t\"}",
           L("{}", "{\"n\":{}}", "{\"n\":{\"n\":{}}}"), L("{\"n\":1}"));
    expect("{\"anyOf\":[{\"type\":\"string\",\"maxLength\":1},{\"type\":\"integer\",\"minimum\":5,"
           "\"maximum\":6}]}",
           L("\"q\"", "5", "6"), L("4", "\"qq\"", "null"));
    expect("{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},{"
           "\"type\":\"object\",\"properties\":{\"b\":{\"type\":[\"string\",\"null\"]}}}]}",
           L("{\"a\":1}", "{\"a\":1,\"b\":null}", "{\"a\":1,\"b\":\"s\"}"),
           L("{\"b\":null}", "{}"));
    expect("true", L("{\"x\":[1,{\"y\":null}]}", "\"s\"", "-2.5"), L("{x}", "[1,]"));
}

static void test_errors(void) {
    static const struct {
        const char *schema, *msg;
        ky_status st;
    } cases[] = {
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}",
         "unsupported JSON Schema keyword 'not' at /properties/a", KY_ERR_UNSUPPORTED},
        {"{\"if\":{},\"then\":{}}", "unsupported JSON Schema keyword 'if' at /",
         KY_ERR_UNSUPPORTED},
        {"{\"type\":\"object\",\"patternProperties\":{}}",
         "unsupported JSON Schema keyword 'patternProperties' at /", KY_ERR_UNSUPPORTED},
        {"{\"type\":\"array\",\"uniqueItems\":true}",
         "unsupported JSON Schema keyword 'uniqueItems' at /", KY_ERR_UNSUPPORTED},
        {"{\"type\":\"string\",\"format\":\"ipv4\"}", "unsupported JSON Schema format 'ipv4' at /",
         KY_ERR_UNSUPPORTED},
        {"{\"type\":\"number\",\"exclusiveMinimum\":0.5,\"exclusiveMaximum\":0.5}",
         "number bounds leave no value at /", KY_ERR_FORMAT},
        {"{\"type\":\"number\",\"minimum\":\"1\"}", "keyword is not a number: 'minimum' at /",
         KY_ERR_FORMAT},
        {"{\"type\":\"string\",\"pattern\":\"^(?=a)b$\"}",
         "unsupported group (lookaround) in 'pattern' at /", KY_ERR_UNSUPPORTED},
        {"{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}",
         "unsupported escape (backreference, \\b, ...) in 'pattern' at /", KY_ERR_UNSUPPORTED},
        {"{\"type\":\"string\",\"pattern\":\"^[a-c]{4,2}t\"}",
         "bad {m,n} (n < m) in 'pattern' at /", KY_ERR_UNSUPPORTED},
        {"{\"$ref\":\"#/$defs/missing\"}", "cannot resolve $ref '#/$defs/missing' at /",
         KY_ERR_FORMAT},
        {"{\"type\":\"strnig\"}", "unknown type 'strnig' at /", KY_ERR_FORMAT},
        {"{\"type\":", NULL, KY_ERR_FORMAT},
        {"{\"items\":{\"multipleOf\":2}}", "unsupported JSON Schema keyword 'multipleOf' at /items",
         KY_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ky_grammar *g = NULL;
        ky_error err = {0};
        ky_status st =
            ky_grammar_from_json_schema(cases[i].schema, strlen(cases[i].schema), &g, &err);
        CHECKF(st == cases[i].st, "case %zu: status %d", i, st);
        if (cases[i].msg)
            CHECKF(!strcmp(err.message, cases[i].msg), "case %zu: '%s' want '%s'", i, err.message,
                   cases[i].msg);
        ky_grammar_free(g);
    }
    /* deep nesting is bounded, not a stack overflow */
    size_t depth = 5000;
    char *deep = malloc(depth * 16 + 16);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(deep + n, "{\"items\":");
    n += (size_t)sprintf(deep + n, "{}");
    for (size_t i = 0; i < depth; i++) deep[n++] = '}';
    ky_grammar *g = NULL;
    ky_error err;
    ky_status st = ky_grammar_from_json_schema(deep, n, &g, &err);
    CHECK(st != KY_OK);
    ky_grammar_free(g);
    free(deep);
}

int main(void) {
    RUN(test_integer_ranges);
    RUN(test_numbers);
    RUN(test_fractional_bounds);
    RUN(test_one_of);
    RUN(test_strings);
    RUN(test_objects_arrays);
    RUN(test_errors);
    TEST_EXIT();
}
