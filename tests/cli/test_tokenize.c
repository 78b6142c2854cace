/* test_tokenize.c — `kaiyuan tokenize` end to end through $KY_KAIYUAN_BIN (default
 * build/kaiyuan): JSON ids against the reference cases, --pieces (raw vocabulary text), --add-bos,
 * special parsing on and off, --file with arbitrary bytes, output longer than the input (NFC),
 * --bench output, and exit codes for bad usage.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test.h"
#include "tokenizer/tokenize.h"
#include "tokenizer/vocab.h"

#define QWEN "tokenizer/qwen3/qwen3-vocab-only.gguf"
#define SPM  "models/stories260K.gguf"

/* Runs the CLI (tests/support.h runner) with args (NULL-terminated, argv[0] excluded); stdout
 * goes to *out (malloc'd, NUL-terminated). Returns the exit status, -1 when it did not run. */
static int run(const char *const *args, char **out) {
    ky_cli_result r;
    *out = NULL;
    if (ky_test_cli(args, &r) != 0) return -1;
    int code = r.exit_code;
    *out = r.out;
    r.out = NULL;
    ky_test_cli_free(&r);
    return code;
}

/* Parses a JSON array of ids; returns the count or -1. */
static int parse_ids(const char *json, ky_token *ids, int cap) {
    json_error_t e;
    json_t *j = json_loads(json ? json : "", 0, &e);
    if (!json_is_array(j)) {
        json_decref(j);
        return -1;
    }
    int n = (int)json_array_size(j);
    for (int i = 0; i < n && i < cap; i++)
        ids[i] = (ky_token)json_integer_value(json_array_get(j, i));
    json_decref(j);
    return n;
}

static bool ids_equal_json(const ky_token *got, int n, json_t *exp) {
    if (n < 0 || (size_t)n != json_array_size(exp)) return false;
    for (int i = 0; i < n; i++)
        if (got[i] != json_integer_value(json_array_get(exp, i))) return false;
    return true;
}

static void qwen_cases(void) {
    size_t size;
    char *data = ky_test_read_file(ky_test_shared("tokenizer/qwen3/cases.jsonl"), &size);
    REQUIRE(data);
    /* a few representative lines: plain English, CJK + emoji, NFC-sensitive, chat markup */
    static const char *needles[] = {"\"Hello, world!\"", "emoji😀中文", "caf", "<|im_start|>user"};
    char model[512];
    snprintf(model, sizeof model, "%s", ky_test_shared(QWEN));
    int done = 0;
    for (size_t k = 0; k < sizeof needles / sizeof needles[0]; k++) {
        char *line = strstr(data, needles[k]);
        if (!line) continue;
        while (line > data && line[-1] != '\n') line--;
        char *end = strchr(line, '\n');
        char saved = end ? *end : 0;
        if (end) *end = '\0';
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (end) *end = saved;
        CHECK(j != NULL);
        if (!j) continue;
        const char *text = json_string_value(json_object_get(j, "text"));
        char *out = NULL;
        ky_token ids[512];
        const char *a1[] = {"tokenize", "-m", model, "--text", text, "--parse-special", NULL};
        CHECK(run(a1, &out) == 0);
        int n = parse_ids(out, ids, 512);
        CHECKF(ids_equal_json(ids, n, json_object_get(j, "ids")), "--parse-special: %s -> %s", text,
               out ? out : "");
        free(out);
        const char *a2[] = {"tokenize", "-m", model, "--text", text, NULL};
        CHECK(run(a2, &out) == 0);
        n = parse_ids(out, ids, 512);
        CHECKF(ids_equal_json(ids, n, json_object_get(j, "ids_plain")), "default: %s -> %s", text,
               out ? out : "");
        free(out);
        json_decref(j);
        done++;
    }
    CHECK(done == 4);
    free(data);
}

static void pieces_and_bos(void) {
    char model[512];
    snprintf(model, sizeof model, "%s", ky_test_shared(SPM));
    char *out = NULL;
    const char *a[] = {"tokenize",    "-m",       model,       "--text",
                       "Hello world", "--pieces", "--add-bos", NULL};
    CHECK(run(a, &out) == 0);
    json_error_t e;
    json_t *j = json_loads(out ? out : "", 0, &e);
    CHECK(json_is_array(j) && json_array_size(j) == 7);
    static const char *texts[] = {"<s>", "\xE2\x96\x81He", "ll", "o", "\xE2\x96\x81w", "or", "ld"};
    static const int want[] = {1, 346, 306, 414, 263, 304, 341};
    for (size_t i = 0; json_is_array(j) && i < json_array_size(j) && i < 7; i++) {
        json_t *p = json_array_get(j, i);
        CHECK(json_integer_value(json_array_get(p, 0)) == want[i]);
        const char *s = json_string_value(json_array_get(p, 1));
        CHECKF(s && !strcmp(s, texts[i]), "piece %zu: %s", i, s ? s : "(null)");
    }
    json_decref(j);
    free(out);
    /* default: no BOS */
    const char *b[] = {"tokenize", "-m", model, "--text", "Hello world", NULL};
    CHECK(run(b, &out) == 0);
    ky_token ids[16];
    CHECK(parse_ids(out, ids, 16) == 6 && ids[0] == 346);
    free(out);
}

static void file_with_arbitrary_bytes(void) {
    static const char bytes[] = "a\0b\xff\xfe<|im_start|>\xe4\xb8\n\t caf\x65\xcc\x81 \xf0\x9f";
    char path[600]; /* ky_test_tmpfile's buffer is reused by the CLI runner */
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("bytes.txt"));
    REQUIRE(ky_test_write_file(path, bytes, sizeof bytes - 1) == 0);
    char model[512];
    snprintf(model, sizeof model, "%s", ky_test_shared(QWEN));
    ky_gguf *g;
    ky_vocab *v;
    ky_error err;
    REQUIRE(ky_gguf_open(model, &g, &err) == KY_OK);
    REQUIRE(ky_vocab_load(g, &v, &err) == KY_OK);
    for (int special = 0; special < 2; special++) {
        ky_token want[64], got[64];
        size_t n_want;
        CHECK(ky_vocab_tokenize(v, bytes, sizeof bytes - 1, special ? KY_TOKENIZE_PARSE_SPECIAL : 0,
                                want, 64, &n_want) == KY_OK);
        char *out = NULL;
        const char *a[] = {
            "tokenize", "-m", model, "--file", path, special ? "--parse-special" : NULL, NULL};
        CHECK(run(a, &out) == 0);
        int n = parse_ids(out, got, 64);
        CHECKF(n == (int)n_want && !memcmp(got, want, n_want * sizeof *got), "file: %s",
               out ? out : "");
        free(out);
    }
    ky_vocab_free(v);
    ky_gguf_close(g);
}

static void bench_output(void) {
    char model[512];
    snprintf(model, sizeof model, "%s", ky_test_shared(QWEN));
    char path[600];
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("bench.txt"));
    static const char text[] = "Hello, world! 你好，世界。 int main(void) { return 0; }\n";
    REQUIRE(ky_test_write_file(path, text, sizeof text - 1) == 0);
    char *out = NULL;
    const char *a[] = {"tokenize", "-m", model, "--file", path, "--bench", "--reps", "3", NULL};
    CHECK(run(a, &out) == 0);
    json_error_t e;
    json_t *j = json_loads(out ? out : "", 0, &e);
    CHECK(json_is_object(j));
    CHECK(json_integer_value(json_object_get(j, "bytes")) == (json_int_t)(sizeof text - 1));
    CHECK(json_integer_value(json_object_get(j, "n_tokens")) > 0);
    CHECK(json_integer_value(json_object_get(j, "reps")) == 3);
    CHECK(json_number_value(json_object_get(j, "mb_per_s")) > 0);
    json_decref(j);
    free(out);
}

/* U+1D160 is 4 bytes and its NFC 12 (three code points): 100 of them give more tokens than the
 * len + 2 the CLI allocates first, so it must retry with the exact count. */
static void output_longer_than_input(void) {
    char model[512];
    snprintf(model, sizeof model, "%s", ky_test_shared(QWEN));
    char path[600];
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("nfc_longer.txt"));
    char text[400];
    for (int i = 0; i < 100; i++) memcpy(text + 4 * i, "\xF0\x9D\x85\xA0", 4);
    REQUIRE(ky_test_write_file(path, text, sizeof text) == 0);
    ky_gguf *g;
    ky_vocab *v;
    ky_error err;
    REQUIRE(ky_gguf_open(model, &g, &err) == KY_OK);
    REQUIRE(ky_vocab_load(g, &v, &err) == KY_OK);
    static ky_token want[2048], got[2048];
    size_t n_want;
    CHECK(ky_vocab_tokenize(v, text, sizeof text, 0, want, 2048, &n_want) == KY_OK);
    CHECKF(n_want > sizeof text + 2, "%zu tokens: the case does not exceed len + 2", n_want);
    char *out = NULL;
    const char *a[] = {"tokenize", "-m", model, "--file", path, NULL};
    CHECK(run(a, &out) == 0);
    int n = parse_ids(out, got, 2048);
    CHECKF(n == (int)n_want && !memcmp(got, want, n_want * sizeof *got), "got %d ids", n);
    free(out);
    const char *b[] = {"tokenize", "-m", model, "--file", path, "--bench", "--reps", "1", NULL};
    CHECK(run(b, &out) == 0);
    json_error_t e;
    json_t *j = json_loads(out ? out : "", 0, &e);
    CHECK(json_integer_value(json_object_get(j, "n_tokens")) == (json_int_t)n_want);
    json_decref(j);
    free(out);
    ky_vocab_free(v);
    ky_gguf_close(g);
}

/* --pieces prints raw vocabulary text: "Ġworld" (byte-level), "<0xE4>" (SPM byte fallback). */
static void pieces_are_raw_text(void) {
    char model[512];
    snprintf(model, sizeof model, "%s", ky_test_shared(QWEN));
    char *out = NULL;
    const char *a[] = {"tokenize", "-m", model, "--text", "Hello world", "--pieces", NULL};
    CHECK(run(a, &out) == 0);
    CHECKF(out && strstr(out, "\"\xC4\xA0world\""), "%s", out ? out : "");
    free(out);
    snprintf(model, sizeof model, "%s", ky_test_shared(SPM));
    const char *b[] = {"tokenize", "-m", model, "--text", "\xE4\xB8\xAD", "--pieces", NULL};
    CHECK(run(b, &out) == 0);
    CHECKF(out && strstr(out, "\"<0xE4>\"") && strstr(out, "\"<0xAD>\""), "%s", out ? out : "");
    free(out);
}

static void usage_errors(void) {
    char model[512];
    snprintf(model, sizeof model, "%s", ky_test_shared(QWEN));
    char *out = NULL;
    const char *a1[] = {"tokenize", "--text", "x", NULL};
    CHECK(run(a1, &out) == 2);
    free(out);
    const char *a2[] = {"tokenize", "-m", model, "--text", "x", "--file", "y", NULL};
    CHECK(run(a2, &out) == 2);
    free(out);
    const char *a3[] = {"tokenize", "-m", "/nonexistent/model.gguf", "--text", "x", NULL};
    CHECK(run(a3, &out) == 1);
    free(out);
    const char *a4[] = {"tokenize", "-m", model, "--file", "/nonexistent/input.txt", NULL};
    CHECK(run(a4, &out) == 1);
    free(out);
    const char *a5[] = {"tokenize", "-m", model, "--text", "x", "--bogus", NULL};
    CHECK(run(a5, &out) == 2);
    free(out);
    const char *a6[] = {"tokenize", "-m", model, "--text", "", NULL};
    CHECK(run(a6, &out) == 0 && out && !strcmp(out, "[]\n"));
    free(out);
}

int main(void) {
    RUN(qwen_cases);
    RUN(pieces_and_bos);
    RUN(file_with_arbitrary_bytes);
    RUN(bench_output);
    RUN(output_longer_than_input);
    RUN(pieces_are_raw_text);
    RUN(usage_errors);
    TEST_EXIT();
}
