/* test_jinja.c — the Jinja interpreter against Python Jinja2: the cases of jinja_cases.inc
 * (rendered by Jinja2 3.1 in transformers' environment), sandbox limits with hostile templates,
 * provenance of output bytes and error messages naming the line. */
#include <stdlib.h>
#include <string.h>

#include "kaiyuan.h"
#include "test.h"

typedef struct jcase {
    const char *name, *src, *ctx;
    int is_error;
    const char *expected;
} jcase;

static const jcase k_cases[] = {
#include "jinja_cases.inc"
};

/* Renders src with ctx (model NULL); returns the status, text in *out (malloc'd) or the message. */
static ky_status render(const char *src, const char *ctx, char **out, ky_error *err) {
    ky_chat_template *t = NULL;
    ky_status st = ky_chat_template_parse(src, strlen(src), "case", &t, err);
    if (st) return st;
    ky_chat_prompt *p = NULL;
    st = ky_chat_render(t, NULL, ctx, strlen(ctx), 0, &p, err);
    if (st == KY_OK) {
        size_t n;
        const char *s = ky_chat_prompt_text(p, &n);
        *out = malloc(n + 1);
        memcpy(*out, s, n + 1);
    }
    ky_chat_prompt_free(p);
    ky_chat_template_free(t);
    return st;
}

static void test_cases_match_jinja2(void) {
    setenv("SOURCE_DATE_EPOCH", "1796203800", 1);
    size_t n = sizeof k_cases / sizeof k_cases[0], ok = 0;
    for (size_t i = 0; i < n; i++) {
        const jcase *c = &k_cases[i];
        char *out = NULL;
        ky_error err;
        ky_status st = render(c->src, c->ctx, &out, &err);
        if (c->is_error) {
            CHECKF(st != KY_OK, "case '%s' should fail (%s) but rendered '%s'", c->name,
                   c->expected, out ? out : "");
            if (st != KY_OK && !strcmp(c->name, "raise_exception"))
                CHECKF(strstr(err.message, c->expected) != NULL, "%s", err.message);
            if (st != KY_OK) ok++;
        } else if (st != KY_OK) {
            CHECKF(0, "case '%s' failed: %s", c->name, err.message);
        } else {
            CHECKF(!strcmp(out, c->expected), "case '%s':\n got      '%s'\n expected '%s'", c->name,
                   out, c->expected);
            ok += !strcmp(out, c->expected);
        }
        free(out);
    }
    printf("# %zu/%zu Jinja2 cases match\n", ok, n);
    CHECK(ok == n);
}

/* Each hostile template fails with a message naming the limit, in well under a second. */
static void test_sandbox_limits(void) {
    struct {
        const char *src, *needle;
    } hostile[] = {
        {"{% for i in range(100000000) %}x{% endfor %}", "range"},
        {"{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}",
         "steps"},
        {"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested deeper"},
        {"{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% "
         "endfor %}{{ ns.s|length }}",
         "MiB"},
        {"{{ 'x' * 100000000000 }}", "MiB"},
        {NULL, "nesting"}, /* 300 nested parentheses, built below */
    };
    char deep[700];
    size_t k = 0;
    deep[k++] = '{', deep[k++] = '{';
    for (int i = 0; i < 300; i++) deep[k++] = '(';
    deep[k++] = '1';
    for (int i = 0; i < 300; i++) deep[k++] = ')';
    deep[k++] = '}', deep[k++] = '}', deep[k] = 0;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        if (!hostile[i].src) hostile[i].src = deep;
        char *out = NULL;
        ky_error err;
        double t0 = ky_time_now();
        ky_status st = render(hostile[i].src, "{}", &out, &err);
        double dt = ky_time_now() - t0;
        CHECKF(st != KY_OK, "hostile template %zu rendered", i);
        if (st != KY_OK)
            CHECKF(strstr(err.message, hostile[i].needle) != NULL, "template %zu: '%s' lacks '%s'",
                   i, err.message, hostile[i].needle);
        CHECKF(dt < (ky_test_sanitized() ? 20.0 : 2.0), "hostile template %zu took %.2f s", i, dt);
        printf("# hostile %zu: %.3f s: %s\n", i, dt, st ? err.message : "(rendered)");
        free(out);
    }
}

static void test_errors_name_the_line(void) {
    char *out = NULL;
    ky_error err;
    const char *src = "line one\n{% if true %}\n{{ 1 + }}\n{% endif %}";
    CHECK(render(src, "{}", &out, &err) == KY_ERR_FORMAT);
    CHECKF(strstr(err.message, "line 3") != NULL, "%s", err.message);
    src = "a\nb\n{{ raise_exception('bad role') }}";
    CHECK(render(src, "{}", &out, &err) != KY_OK);
    CHECKF(strstr(err.message, "line 3") && strstr(err.message, "bad role"), "%s", err.message);
    CHECK(render("{{ x }}", "[1, 2]", &out, &err) == KY_ERR_INVALID_ARG);
    CHECK(render("{{ x }}", "{\"x\": ", &out, &err) == KY_ERR_INVALID_ARG);
    CHECKF(strstr(err.message, "invalid JSON") != NULL, "%s", err.message);
    free(out);
}

/* Bytes from variables are data, literals and bos_token/eos_token are template text; the marks
 * survive concatenation, filters, slicing and macro calls. */
static void test_provenance(void) {
    const char *src = "{% macro wrap(x) %}<{{ x|upper }}>{% endmacro %}[{{ bos_token }}]{{ "
                      "wrap(user) }}{{ user[1:] ~ 'T' }}";
    ky_chat_template *t = NULL;
    ky_error err;
    REQUIRE(ky_chat_template_parse(src, strlen(src), "prov", &t, &err) == KY_OK);
    const char *ctx = "{\"user\": \"ab\", \"bos_token\": \"B\"}";
    ky_chat_prompt *p = NULL;
    REQUIRE(ky_chat_render(t, NULL, ctx, strlen(ctx), 0, &p, &err) == KY_OK);
    size_t n;
    const char *s = ky_chat_prompt_text(p, &n);
    CHECK(!strcmp(s, "[B]<AB>bT"));
    const char *marks = "000011010"; /* 1 = data */
    for (size_t i = 0; i < n && i < 9; i++)
        CHECKF(ky_chat_prompt_is_data(p, i) == (marks[i] == '1'), "byte %zu ('%c')", i, s[i]);
    CHECK(!ky_chat_prompt_is_data(p, 999));
    ky_chat_prompt_free(p);
    ky_chat_template_free(t);
}

int main(void) {
    RUN(test_cases_match_jinja2);
    RUN(test_sandbox_limits);
    RUN(test_errors_name_the_line);
    RUN(test_provenance);
    TEST_EXIT();
}
