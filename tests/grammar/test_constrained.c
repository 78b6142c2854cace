/* test_constrained.c — constrained generation end to end through `kaiyuan run` (tests/grammar).
 *
 * The random-weight chat model (../shared/models/chat-qwen3-q8_0.gguf) never writes valid JSON by
 * itself; 50 seeded temperature-1 runs over assorted schemas must all end where the grammar may
 * end, parse, and validate with ajv (npm, pinned in tests/grammar/js; scripts/deps.sh installs
 * it). Also: --json-mode gives a JSON object, --grammar follows a GBNF file, and an unsupported
 * keyword is a usage error that names it.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static const char *const SCHEMAS[] = {
    /* nested objects, enum, integer bounds */
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},\"age\":{"
    "\"type\":\"integer\",\"minimum\":18,\"maximum\":99},\"address\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"enum\":[\"Paris\",\"Tokyo\",\"Lima\"]},\"zip\":{\"type\":"
    "\"string\",\"pattern\":\"^[0-9]{5}$\"}},\"required\":[\"city\",\"zip\"]}},\"required\":["
    "\"name\",\"age\",\"address\"]}",
    /* arrays with bounds, number bounds */
    "{\"type\":\"object\",\"properties\":{\"scores\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"number\",\"minimum\":-5,\"exclusiveMaximum\":5},\"minItems\":2,\"maxItems\":4},\"ok\":{"
    "\"type\":\"boolean\"}},\"required\":[\"scores\",\"ok\"],\"additionalProperties\":false}",
    /* anyOf, null, const */
    "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"event\"},\"value\":{\"anyOf\":[{"
    "\"type\":\"integer\",\"minimum\":0,\"maximum\":9},{\"type\":\"null\"},{\"type\":\"string\","
    "\"pattern\":\"^(yes|no)$\"}]}},\"required\":[\"kind\",\"value\"]}",
    /* $ref / $defs, recursion through an optional array */
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\","
    "\"minimum\":1,\"maximum\":500},\"children\":{\"type\":\"array\",\"maxItems\":2,\"items\":{"
    "\"$ref\":\"#/$defs/node\"}}},\"required\":[\"id\"]}},\"$ref\":\"#/$defs/node\"}",
    /* string formats */
    "{\"type\":\"object\",\"properties\":{\"when\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"day\":{\"type\":\"string\",\"format\":\"date\"},\"id\":{\"type\":\"string\",\"format\":"
    "\"uuid\"},\"mail\":{\"type\":\"string\",\"format\":\"email\"},\"at\":{\"type\":\"string\","
    "\"format\":\"time\"}},\"required\":[\"when\",\"day\",\"id\",\"mail\",\"at\"]}",
    /* prefixItems, items false, type list */
    "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\",\"pattern\":\"^[A-Z][a-z]{1,3}$\"},"
    "{\"type\":[\"integer\",\"boolean\"]},{\"enum\":[1,\"two\",[3],{\"four\":4}]}],\"items\":"
    "false,\"minItems\":2}",
    /* optional properties only (possibly empty object), nested arrays */
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3},"
    "\"b\":{\"type\":\"boolean\"},\"m\":{\"type\":\"array\",\"maxItems\":2,\"items\":{\"type\":"
    "\"array\",\"items\":{\"enum\":[true,null]},\"maxItems\":2}}},\"additionalProperties\":false}",
    /* allOf of objects, oneOf of disjoint shapes */
    "{\"allOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\",\"minimum\":-3,"
    "\"maximum\":3}},\"required\":[\"x\"]},{\"properties\":{\"tag\":{\"oneOf\":[{\"type\":"
    "\"string\",\"pattern\":\"^t[0-9]$\"},{\"type\":\"boolean\"}]}},\"required\":[\"tag\"]}]}",
    /* string lengths with escapes, integers with exclusive bounds */
    "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"minLength\":2,"
    "\"maxLength\":5},\"n\":{\"type\":\"integer\",\"exclusiveMinimum\":-10,\"exclusiveMaximum\":"
    "100}},\"required\":[\"s\",\"n\"]}",
    /* pattern with classes, alternation and quantifiers */
    "{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\",\"pattern\":\"^(ab|c\\\\d)+"
    "[^a-z\\\"]?x$\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":"
    "\"^\\\\w{1,3}$\"},\"maxItems\":3}},\"required\":[\"code\",\"tags\"]}",
};
#define N_SCHEMAS (sizeof SCHEMAS / sizeof *SCHEMAS)

static const char *MODEL = "models/chat-qwen3-q8_0.gguf";

/* Runs the CLI; returns the JSON "text" (malloc'd) and whether the run ended with an EOG id. */
static char *generate(const char *flag, const char *file, int seed, bool *ended, int *rc) {
    char seed_s[32];
    snprintf(seed_s, sizeof seed_s, "%d", seed);
    char model[1024];
    snprintf(model, sizeof model, "%s", ky_test_shared(MODEL));
    const char *args[] = {
        "run", "-m",  model, "-p", "Reply with JSON.", "--temp",  "1", "--seed", seed_s,
        "-n",  "700", flag,  file, "--json",           "--quiet", NULL};
    if (!file) {
        args[12] = "--json";
        args[13] = "--quiet";
        args[14] = NULL;
    }
    ky_cli_result r;
    *ended = false;
    *rc = -1;
    if (ky_test_cli_timed(args, 300, &r) != 0) return NULL;
    *rc = r.exit_code;
    char *text = NULL;
    json_t *o = r.exit_code == 0 ? json_loads(r.out, 0, NULL) : NULL;
    if (!o) fprintf(stderr, "run failed (%d): %s\n", r.exit_code, r.err);
    if (o) {
        const char *t = json_string_value(json_object_get(o, "text"));
        json_t *ids = json_object_get(o, "ids");
        size_t n = json_array_size(ids);
        /* 151645 <|im_end|>, 151643 <|endoftext|>: the chat model's end-of-generation tokens */
        json_int_t last = n ? json_integer_value(json_array_get(ids, n - 1)) : -1;
        *ended = last == 151645 || last == 151643;
        if (t) text = strdup(t);
        json_decref(o);
    }
    ky_test_cli_free(&r);
    return text;
}

static void test_schemas_validate(void) {
    int runs = ky_test_sanitized() ? 10 : 50;
    json_t *cases = json_array();
    int n_parsed = 0, n_ended = 0;
    for (int i = 0; i < runs; i++) {
        const char *schema = SCHEMAS[i % N_SCHEMAS];
        char name[64];
        snprintf(name, sizeof name, "schema%zu.json", i % N_SCHEMAS);
        const char *path = ky_test_tmpfile(name);
        REQUIRE(ky_test_write_file(path, schema, strlen(schema)) == 0);
        char p[1024];
        snprintf(p, sizeof p, "%s", path);
        bool ended;
        int rc;
        char *text = generate("--json-schema", p, 1000 + i, &ended, &rc);
        CHECKF(text != NULL, "run %d: exit %d", i, rc);
        if (!text) continue;
        CHECKF(ended, "run %d (schema %d) did not finish: %s", i, i % (int)N_SCHEMAS, text);
        n_ended += ended;
        json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
        CHECKF(v != NULL, "run %d: not JSON: %s", i, text);
        n_parsed += v != NULL;
        json_decref(v);
        json_array_append_new(
            cases, json_pack("{s:o, s:s}", "schema", json_loads(schema, 0, NULL), "text", text));
        free(text);
    }
    CHECK(n_parsed == runs);
    CHECK(n_ended == runs);
    const char *cpath = ky_test_tmpfile("cases.json");
    REQUIRE(json_dump_file(cases, cpath, 0) == 0);
    json_decref(cases);
    char cp[1024];
    snprintf(cp, sizeof cp, "%s", cpath);
    const char *argv[] = {"/usr/bin/env", "node", "tests/grammar/js/validate.mjs", cp, NULL};
    ky_cli_result r;
    REQUIRE(ky_test_spawn(argv, NULL, &r) == 0);
    int ok = 0;
    for (const char *s = r.out; s && (s = strstr(s, "ok\n")); s += 3) ok++;
    CHECKF(r.exit_code == 0 && ok == runs, "ajv: exit %d, %d of %d valid\n%s%s", r.exit_code, ok,
           runs, r.out, r.err);
    ky_test_cli_free(&r);
}

static void test_json_mode_and_gbnf(void) {
    for (int seed = 1; seed <= 3; seed++) {
        bool ended;
        int rc;
        char *text = generate("--json-mode", NULL, seed, &ended, &rc);
        REQUIRE(text);
        /* Unbounded strings: the random model rarely closes one within -n tokens, so a run that
         * did not end is only checked to be under way as an object. */
        json_t *v = json_loads(text, 0, NULL);
        CHECKF(text[0] == '{', "json-mode seed %d: %s", seed, text);
        CHECKF(!ended || json_is_object(v), "json-mode seed %d ended invalid: %s", seed, text);
        json_decref(v);
        free(text);
    }
    const char *g = "root ::= \"The answer is \" (\"yes\" | \"no\") \".\"\n";
    const char *path = ky_test_tmpfile("answer.gbnf");
    REQUIRE(ky_test_write_file(path, g, strlen(g)) == 0);
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    bool ended;
    int rc;
    char *text = generate("--grammar", p, 5, &ended, &rc);
    REQUIRE(text);
    CHECKF(ended && (!strcmp(text, "The answer is yes.") || !strcmp(text, "The answer is no.")),
           "gbnf: '%s'", text);
    free(text);
}

static void test_errors(void) {
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{\"type\":\"string\"}}}}";
    const char *path = ky_test_tmpfile("bad.json");
    REQUIRE(ky_test_write_file(path, s, strlen(s)) == 0);
    char p[1024], model[1024];
    snprintf(p, sizeof p, "%s", path);
    snprintf(model, sizeof model, "%s", ky_test_shared(MODEL));
    const char *args[] = {"run", "-m", model, "-p", "x", "--json-schema", p, "--quiet", NULL};
    ky_cli_result r;
    REQUIRE(ky_test_cli(args, &r) == 0);
    CHECK(r.exit_code == 2);
    CHECKF(strstr(r.err, "unsupported JSON Schema keyword 'not' at /properties/a") != NULL, "%s",
           r.err);
    ky_test_cli_free(&r);
    const char *g = "root ::= \"a\" | undefined_rule\n";
    path = ky_test_tmpfile("bad.gbnf");
    REQUIRE(ky_test_write_file(path, g, strlen(g)) == 0);
    snprintf(p, sizeof p, "%s", path);
    const char *args2[] = {"run", "-m", model, "-p", "x", "--grammar", p, "--quiet", NULL};
    REQUIRE(ky_test_cli(args2, &r) == 0);
    CHECK(r.exit_code == 2);
    CHECKF(strstr(r.err, "grammar:1:16: undefined rule 'undefined_rule'") != NULL, "%s", r.err);
    ky_test_cli_free(&r);
    const char *args3[] = {"run", "-m", model, "-p", "x", "--json-mode", "--grammar", p, NULL};
    REQUIRE(ky_test_cli(args3, &r) == 0);
    CHECK(r.exit_code == 2);
    ky_test_cli_free(&r);
}

int main(void) {
    RUN(test_errors);
    RUN(test_json_mode_and_gbnf);
    RUN(test_schemas_validate);
    TEST_EXIT();
}
