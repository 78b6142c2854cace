/* test_run.c — `kaiyuan run` and `kaiyuan logits` end to end through the binary.
 *
 * Golden: the stories260K 200-step greedy run (ids and text), the reference logits of a tiny
 * model, and the chat model's ChatML prompt tokenized by `run -p --special` and its greedy ids. Behaviour: --json shape, streaming text equals the JSON text, seeded sampling is
 * reproducible, --top output is sorted, generation stops at an end-of-generation token (whose
 * piece is never text) unless --ignore-eos, and scripts/run.sh (`make run`) streams a model's
 * text or explains what it needs. Errors: bad arguments (out-of-range ids, empty prompt, -n
 * beyond the context, negative temperature, bad options) exit 2 and runtime/model errors (missing
 * files) exit 1 in both commands, with a message on stderr naming the culprit and nothing on
 * stdout.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"

#define STORIES "models/stories260K.gguf"

static char g_stories[512], g_tiny[512], g_tiny_ref[512];

static json_t *parse(const char *text) {
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) fprintf(stderr, "bad JSON (%s): %.200s\n", e.text, text);
    return j;
}

static void test_stories_200_greedy(void) {
    const char *args[] = {"run", "-m",     g_stories, "--ids",  "1",       "-n",
                          "200", "--temp", "0",       "--json", "--quiet", NULL};
    ky_cli_result r;
    REQUIRE(ky_test_cli(args, &r) == 0);
    CHECKF(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
    json_t *j = parse(r.out);
    json_error_t e;
    json_t *ref = json_load_file(ky_test_shared("models/stories260K.reference.json"), 0, &e);
    REQUIRE(j && ref);
    json_t *run0 = json_array_get(json_object_get(ref, "runs"), 0);
    CHECK(json_equal(json_object_get(j, "ids"), json_object_get(run0, "generated_ids")));
    CHECK(json_equal(json_object_get(j, "prompt_ids"), json_object_get(run0, "prompt_ids")));
    const char *text = json_string_value(json_object_get(j, "text"));
    const char *want = json_string_value(json_object_get(run0, "generated_text"));
    CHECKF(text && want && !strcmp(text, want), "text: %s", text ? text : "(null)");
    CHECK(r.n_err == 0); /* --quiet */
    json_decref(j);
    json_decref(ref);
    ky_test_cli_free(&r);
}

static void test_streaming_matches_json(void) {
    const char *base[] = {"run", "-m", g_stories, "-p", "Once upon a time",
                          "-n",  "40", "--temp",  "0",  "--quiet",
                          NULL,  NULL};
    ky_cli_result stream, json;
    REQUIRE(ky_test_cli(base, &stream) == 0);
    base[10] = "--json";
    REQUIRE(ky_test_cli(base, &json) == 0);
    CHECK(stream.exit_code == 0 && json.exit_code == 0);
    json_t *j = parse(json.out);
    REQUIRE(j);
    /* The prompt tokenizes like llama2.c's ([BOS] + SentencePiece ids). */
    json_t *want_prompt = json_pack("[iiiii]", 1, 403, 407, 261, 378);
    CHECK(json_equal(json_object_get(j, "prompt_ids"), want_prompt));
    const char *text = json_string_value(json_object_get(j, "text"));
    REQUIRE(text);
    size_t n = strlen(text);
    CHECKF(stream.n_out == n + 1 && !memcmp(stream.out, text, n) && stream.out[n] == '\n',
           "stream: %s\njson: %s", stream.out, text);
    CHECK(strncmp(text, ", there was a little girl", 25) == 0);
    json_decref(want_prompt);
    json_decref(j);
    ky_test_cli_free(&stream);
    ky_test_cli_free(&json);
}

static void test_seeded_sampling_reproducible(void) {
    const char *args[] = {"run",    "-m",      g_stories, "--ids",  "1",       "-n", "60",
                          "--temp", "1.5",     "--seed",  "42",     "--top-k", "0",  "--top-p",
                          "1",      "--min-p", "0",       "--json", "--quiet", NULL};
    ky_cli_result a, b, c;
    REQUIRE(ky_test_cli(args, &a) == 0 && ky_test_cli(args, &b) == 0);
    args[10] = "43";
    REQUIRE(ky_test_cli(args, &c) == 0);
    CHECK(a.exit_code == 0 && b.exit_code == 0 && c.exit_code == 0);
    CHECK(strcmp(a.out, b.out) == 0);
    CHECK(strcmp(a.out, c.out) != 0);
    ky_test_cli_free(&a);
    ky_test_cli_free(&b);
    ky_test_cli_free(&c);
}

static void test_summary_on_stderr(void) {
    const char *args[] = {"run", "-m", g_stories, "--ids", "1", "-n", "5", "--temp", "0", NULL};
    ky_cli_result r;
    REQUIRE(ky_test_cli(args, &r) == 0);
    CHECK(r.exit_code == 0);
    CHECK(strstr(r.err, "arch llama") != NULL);
    CHECK(strstr(r.err, "KV cache") != NULL);
    CHECK(strstr(r.err, "tok/s") != NULL);
    ky_test_cli_free(&r);
}

static void test_logits_match_reference(void) {
    json_error_t e;
    json_t *ref = json_load_file(g_tiny_ref, 0, &e);
    REQUIRE(ref);
    char ids[512] = "";
    json_t *jids = json_object_get(ref, "prompt_ids");
    for (size_t i = 0; i < json_array_size(jids); i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%lld", i ? "," : "",
                 (long long)json_integer_value(json_array_get(jids, i)));
    const char *args[] = {"logits", "-m", g_tiny, "--ids", ids, "--quiet", NULL};
    ky_cli_result r;
    REQUIRE(ky_test_cli(args, &r) == 0);
    CHECKF(r.exit_code == 0, "%s", r.err);
    json_t *j = parse(r.out);
    REQUIRE(j);
    CHECK(json_integer_value(json_object_get(j, "n_vocab")) == 512);
    json_t *rows = json_object_get(j, "logits"), *want = json_object_get(ref, "logits");
    CHECK(json_array_size(rows) == json_array_size(jids));
    double worst = 0;
    for (size_t p = 0; p < json_array_size(rows); p++)
        for (size_t v = 0; v < 512; v++)
            worst =
                fmax(worst, fabs(json_number_value(json_array_get(json_array_get(rows, p), v)) -
                                 json_number_value(json_array_get(json_array_get(want, p), v))));
    CHECKF(worst < 1e-3, "max |d| %g", worst);

    /* --top 5: pairs sorted by logit, equal to the best of the full row */
    const char *top_args[] = {"logits", "-m", g_tiny, "--ids", ids, "--top", "5", "--quiet", NULL};
    ky_cli_result t;
    REQUIRE(ky_test_cli(top_args, &t) == 0);
    json_t *jt = parse(t.out);
    REQUIRE(jt);
    json_t *row0 = json_array_get(json_object_get(jt, "logits"), 0);
    CHECK(json_array_size(row0) == 5);
    for (size_t k = 0; k + 1 < json_array_size(row0); k++)
        CHECK(json_number_value(json_array_get(json_array_get(row0, k), 1)) >=
              json_number_value(json_array_get(json_array_get(row0, k + 1), 1)));
    json_t *full0 = json_array_get(rows, 0);
    int best = 0;
    for (int v = 1; v < 512; v++)
        if (json_number_value(json_array_get(full0, (size_t)v)) >
            json_number_value(json_array_get(full0, (size_t)best)))
            best = v;
    CHECK(json_integer_value(json_array_get(json_array_get(row0, 0), 0)) == best);
    json_decref(jt);
    ky_test_cli_free(&t);
    json_decref(j);
    json_decref(ref);
    ky_test_cli_free(&r);
}

/* Writes a copy of stories260K whose tokenizer.ggml.eos_token_id is `eos` into the temp dir;
 * returns its path (static buffer) or NULL. */
static const char *stories_with_eos(uint32_t eos) {
    static char path[600];
    ky_gguf *g;
    ky_error err;
    if (ky_gguf_open(g_stories, &g, &err) != KY_OK) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    gguf_writer *w = NULL;
    ky_status st = gguf_writer_create(ky_gguf_version(g), (uint32_t)ky_gguf_alignment(g), &w, &err);
    for (int64_t i = 0; i < ky_gguf_n_kv(g) && !st; i++) st = gguf_writer_copy_kv(w, g, i);
    if (!st) st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", eos);
    for (int64_t i = 0; i < ky_gguf_n_tensors(g) && !st; i++)
        st = gguf_writer_copy_tensor(w, g, i, NULL);
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("stories-eos.gguf"));
    if (!st) st = gguf_writer_write_file(w, path);
    if (st) fprintf(stderr, "stories-eos.gguf: %s\n", w ? gguf_writer_last_error(w) : "");
    gguf_writer_free(w);
    ky_gguf_close(g);
    return st ? NULL : path;
}

/* `run` stops at an end-of-generation token; --ignore-eos goes on. The greedy run from BOS reads
 * "Once upon a time, there was a little girl" (403 407 261 378 432 383 286 ...): with
 * eos_token_id patched to 383 ("▁there") it must stop after 6 tokens. The stop token is not
 * text — neither streamed nor in the JSON "text" — but it is the last of the JSON "ids". */
static void test_stops_at_eos(void) {
    const char *model = stories_with_eos(383);
    REQUIRE(model);
    char path[600];
    snprintf(path, sizeof path, "%s", model);
    const char *args[] = {"run", "-m",     path, "--ids",   "1",  "-n",
                          "40",  "--temp", "0",  "--quiet", NULL, NULL};
    ky_cli_result stream, json;
    REQUIRE(ky_test_cli(args, &stream) == 0);
    args[10] = "--json";
    REQUIRE(ky_test_cli(args, &json) == 0);
    CHECKF(stream.exit_code == 0 && json.exit_code == 0, "exit %d / %d: %s", stream.exit_code,
           json.exit_code, json.err);
    CHECKF(!strcmp(stream.out, "Once upon a time,\n"), "streamed: '%s'", stream.out);
    json_t *j = parse(json.out);
    REQUIRE(j);
    json_t *want = json_pack("[iiiiii]", 403, 407, 261, 378, 432, 383);
    CHECKF(json_equal(json_object_get(j, "ids"), want), "ids: %s", json.out);
    const char *text = json_string_value(json_object_get(j, "text"));
    CHECKF(text && !strcmp(text, "Once upon a time,"), "json text: '%s'", text ? text : "(null)");
    json_decref(want);
    json_decref(j);
    ky_test_cli_free(&stream);
    ky_test_cli_free(&json);

    /* --ignore-eos: the 40 ids of the unpatched run (383 at step 5 included), its piece left out
     * of the text. */
    const char *more[] = {"run",    "-m", path,           "--ids",   "1",  "-n", "40",
                          "--temp", "0",  "--ignore-eos", "--quiet", NULL, NULL};
    REQUIRE(ky_test_cli(more, &stream) == 0);
    more[11] = "--json";
    REQUIRE(ky_test_cli(more, &json) == 0);
    CHECK(stream.exit_code == 0 && json.exit_code == 0);
    j = parse(json.out);
    json_error_t e;
    json_t *ref = json_load_file(ky_test_shared("models/stories260K.reference.json"), 0, &e);
    REQUIRE(j && ref);
    json_t *ref_ids =
        json_object_get(json_array_get(json_object_get(ref, "runs"), 0), "generated_ids");
    json_t *ids = json_object_get(j, "ids");
    bool same = json_array_size(ids) == 40;
    for (size_t i = 0; same && i < 40; i++)
        same = json_integer_value(json_array_get(ids, i)) ==
               json_integer_value(json_array_get(ref_ids, i));
    CHECKF(same, "--ignore-eos ids differ from the unpatched run: %s", json.out);
    text = json_string_value(json_object_get(j, "text"));
    REQUIRE(text);
    CHECKF(!strncmp(text, "Once upon a time, was a little girl", 35) && !strstr(text, "there"),
           "json text: '%s'", text);
    size_t n = strlen(text);
    CHECKF(stream.n_out == n + 1 && !memcmp(stream.out, text, n), "stream '%s' vs json '%s'",
           stream.out, text);
    json_decref(ref);
    json_decref(j);
    ky_test_cli_free(&stream);
    ky_test_cli_free(&json);
}

/* The chat model end to end from text: chat-qwen3-q8_0.ref.json's prompt_ids are the ChatML
 * rendering of a system and a user turn. With --special, `run -p` must tokenize that text to
 * exactly those ids (no BOS: Qwen adds none) and generate the reference's greedy ids; the stream
 * must equal the JSON text. Without --special the markers are plain text: no special token. */
static void test_chat_model_text(void) {
    static const char k_chatml[] = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                                   "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                                   "<|im_start|>assistant\n";
    char model[512];
    snprintf(model, sizeof model, "%s", ky_test_shared("models/chat-qwen3-q8_0.gguf"));
    json_error_t e;
    json_t *ref = json_load_file(ky_test_shared("models/chat-qwen3-q8_0.ref.json"), 0, &e);
    REQUIRE(ref);
    const char *args[] = {"run",    "-m", model,       "-p",  k_chatml,  "--special", "-n", "32",
                          "--temp", "0",  "--kv-type", "f32", "--quiet", NULL,        NULL};
    ky_cli_result stream, json;
    REQUIRE(ky_test_cli(args, &stream) == 0);
    args[13] = "--json";
    REQUIRE(ky_test_cli(args, &json) == 0);
    CHECKF(stream.exit_code == 0 && json.exit_code == 0, "exit %d / %d: %s", stream.exit_code,
           json.exit_code, json.err);
    json_t *j = parse(json.out);
    REQUIRE(j);
    CHECKF(json_equal(json_object_get(j, "prompt_ids"), json_object_get(ref, "prompt_ids")),
           "ChatML prompt tokenized to %s", json.out);
    CHECKF(json_equal(json_object_get(j, "ids"), json_object_get(ref, "greedy")),
           "greedy ids differ from llama.cpp's: %s", json.out);
    const char *text = json_string_value(json_object_get(j, "text"));
    REQUIRE(text);
    size_t n = strlen(text);
    CHECKF(n > 0 && stream.n_out == n + 1 && !memcmp(stream.out, text, n), "stream '%s' vs '%s'",
           stream.out, text);
    json_decref(j);
    ky_test_cli_free(&stream);
    ky_test_cli_free(&json);

    const char *plain[] = {"run", "-m",     model, "-p",     k_chatml,  "-n",
                           "1",   "--temp", "0",   "--json", "--quiet", NULL};
    REQUIRE(ky_test_cli(plain, &json) == 0);
    j = parse(json.out);
    REQUIRE(j);
    json_t *ids = json_object_get(j, "prompt_ids");
    CHECK(json_array_size(ids) > json_array_size(json_object_get(ref, "prompt_ids")));
    for (size_t i = 0; i < json_array_size(ids); i++)
        CHECKF(json_integer_value(json_array_get(ids, i)) < 151643,
               "special token %lld parsed without --special",
               (long long)json_integer_value(json_array_get(ids, i)));
    json_decref(j);
    ky_test_cli_free(&json);
    json_decref(ref);
}

/* `make run` is scripts/run.sh MODEL PROMPT: without MODEL it pulls the default qwen2.5:0.5b, and
 * offline it fails at once saying how to run a local file (exit 1); a missing file exits 2; with a
 * PROMPT and stories260K it streams the reference's greedy text; without a PROMPT it starts
 * `kaiyuan chat` (here on an empty stdin, so it ends at once). KY_KAIYUAN_BIN makes it run the
 * binary under test without building. */
static void test_make_run_script(void) {
    char bin_env[600], home_env[600];
    snprintf(bin_env, sizeof bin_env, "KY_KAIYUAN_BIN=%s", ky_test_cli_binary());
    snprintf(home_env, sizeof home_env, "KAIYUAN_HOME=%s", ky_test_tmpfile("no-store"));
    const char *env[] = {bin_env,           "RUN_ARGS=-n 8 --temp 0 --quiet",
                         home_env,          "HF_ENDPOINT=http://127.0.0.1:1",
                         "KAIYUAN_SOURCE=", NULL};
    ky_cli_result r;
    const char *no_model[] = {"scripts/run.sh", "", "", NULL};
    double t0 = ky_time_now();
    REQUIRE(ky_test_spawn(no_model, env, &r) == 0);
    CHECKF(r.exit_code == 1, "offline: exit %d", r.exit_code);
    CHECKF(strstr(r.err, "cannot get the model 'qwen2.5:0.5b'") && strstr(r.err, "cannot reach") &&
               strstr(r.err, "make run MODEL=path/to/file.gguf") &&
               strstr(r.err, "make run MODEL=../shared/models/chat-qwen3-q8_0.gguf"),
           "offline: stderr: %s", r.err);
    CHECKF(ky_time_now() - t0 < 10, "offline took %.1f s", ky_time_now() - t0);
    CHECK(r.n_out == 0);
    ky_test_cli_free(&r);

    const char *missing[] = {"scripts/run.sh", "/nonexistent/model.gguf", "", NULL};
    REQUIRE(ky_test_spawn(missing, env, &r) == 0);
    CHECKF(r.exit_code == 2, "missing file: exit %d", r.exit_code);
    CHECKF(strstr(r.err, "'/nonexistent/model.gguf' not found"), "missing file: stderr: %s", r.err);
    CHECK(r.n_out == 0);
    ky_test_cli_free(&r);

    char chat_model[600];
    snprintf(chat_model, sizeof chat_model, "%s", ky_test_shared("models/chat-qwen3-q8_0.gguf"));
    const char *chat_env[] = {bin_env, "RUN_ARGS=--quiet", home_env, NULL};
    const char *chat[] = {"scripts/run.sh", chat_model, "", NULL};
    REQUIRE(ky_test_spawn(chat, chat_env, &r) == 0);
    CHECKF(r.exit_code == 0 && !strstr(r.err, "kaiyuan run"), "chat: exit %d: %s", r.exit_code,
           r.err);
    ky_test_cli_free(&r);

    json_error_t e;
    json_t *ref = json_load_file(ky_test_shared("models/stories260K.reference.json"), 0, &e);
    REQUIRE(ref);
    json_t *run1 = json_array_get(json_object_get(ref, "runs"), 1);
    const char *want = json_string_value(json_object_get(run1, "generated_text"));
    REQUIRE(want);
    CHECK(!strcmp(json_string_value(json_object_get(run1, "prompt")), "Once upon a time"));
    const char *stories[] = {"scripts/run.sh", g_stories, "Once upon a time", NULL};
    REQUIRE(ky_test_spawn(stories, env, &r) == 0);
    CHECKF(r.exit_code == 0, "stories: exit %d: %s", r.exit_code, r.err);
    /* 8 tokens: ", there was a little girl" (432 383 286 261 376 298 315 421). */
    CHECKF(!strcmp(r.out, ", there was a little girl\n"), "stories: stdout '%s'", r.out);
    CHECKF(r.n_out > 1 && !strncmp(want, r.out, r.n_out - 1), "not a prefix of '%s'", want);
    CHECKF(r.n_err == 0, "stories: stderr %s", r.err);
    ky_test_cli_free(&r);
    json_decref(ref);
}

/* Runs args and expects a failure status with `needle` on stderr and nothing on stdout. */
static void expect_failure(const char *const *args, int want_status, const char *needle) {
    ky_cli_result r;
    REQUIRE(ky_test_cli(args, &r) == 0);
    CHECKF(r.exit_code == want_status, "%s %s: exit %d, want %d (stderr: %s)", args[0], args[1],
           r.exit_code, want_status, r.err);
    CHECKF(strstr(r.err, needle) != NULL, "stderr lacks '%s': %s", needle, r.err);
    CHECKF(r.n_out == 0, "stdout not empty: %s", r.out);
    ky_test_cli_free(&r);
}

static void test_errors(void) {
    const char *a1[] = {"run", "-m", g_stories, "--ids", "1,512", "-n", "4", "--quiet", NULL};
    expect_failure(a1, 2, "prompt token 2 of 2: id 512 is outside the vocabulary [0, 512)");
    const char *a2[] = {"run", "-m", g_stories, "-p", "", "--no-bos", "--quiet", NULL};
    expect_failure(a2, 2, "empty");
    const char *a3[] = {"run", "-m", g_stories, "--ids", "1", "-n", "5000", "--quiet", NULL};
    expect_failure(a3, 2, "exceeds the context");
    const char *a3b[] = {"run", "-m", g_stories, "--ids", "1", "-n", "100", "-c", "64", NULL};
    expect_failure(a3b, 2, "exceeds the context");
    const char *a4[] = {"run", "-m", g_stories, "--ids", "1", "--temp", "-0.5", NULL};
    expect_failure(a4, 2, "negative");
    const char *a5[] = {"run", "-m", g_stories, "--ids", "1,x", NULL};
    expect_failure(a5, 2, "not a list of token ids");
    const char *a6[] = {"run", "-m", "/nonexistent/model.gguf", "--ids", "1", NULL};
    expect_failure(a6, 1, "/nonexistent/model.gguf");
    const char *a7[] = {"run", "--ids", "1", NULL};
    expect_failure(a7, 2, "-m MODEL");
    const char *a8[] = {"run", "-m", g_stories, "--ids", "1", "--top-p", "1.5", NULL};
    expect_failure(a8, 2, "top_p");
    const char *a9[] = {"run", "-m", g_stories, "--ids", "1", "--frobnicate", "3", NULL};
    expect_failure(a9, 2, "unknown option");
    /* Bad ids are bad arguments (exit 2) in both commands, and the message names the id. */
    const char *l1[] = {"logits", "-m", g_stories, "--ids", "600", NULL};
    expect_failure(l1, 2, "prompt token 1 of 1: id 600 is outside the vocabulary [0, 512)");
    const char *bad_ids[] = {"-1", "99999999999", "5,99999999999999999999999"};
    const char *named[] = {"item 1: token id -1 is out of range",
                           "item 1: token id 99999999999 is out of range",
                           "item 2: token id 99999999999999999999999 is out of range"};
    for (int i = 0; i < 3; i++) {
        const char *lr[] = {"logits", "-m", g_stories, "--ids", bad_ids[i], "--quiet", NULL};
        expect_failure(lr, 2, named[i]);
        const char *rr[] = {"run", "-m", g_stories, "--ids", bad_ids[i], "--quiet", NULL};
        expect_failure(rr, 2, named[i]);
    }
    static char many[2049 * 2]; /* "1,1,...,1": 2049 ids, one more than stories260K's context */
    for (int i = 0; i < 2049; i++) memcpy(many + 2 * i, "1,", 2);
    many[2 * 2049 - 1] = '\0';
    const char *l5[] = {"logits", "-m", g_stories, "--ids", many, "--quiet", NULL};
    expect_failure(l5, 2, "2049 ids exceed the model's context of 2048");
    const char *l2[] = {"logits", "-m", g_stories, NULL};
    expect_failure(l2, 2, "--ids");
    const char *l3[] = {"logits", "-m", g_stories, "--ids", "1", "--kv-type", "q4", NULL};
    expect_failure(l3, 2, "f32 or f16");
    /* A vocab-only file has no weights to run. */
    char vocab[512];
    snprintf(vocab, sizeof vocab, "%s", ky_test_shared("tokenizer/qwen3/qwen3-vocab-only.gguf"));
    const char *l4[] = {"logits", "-m", vocab, "--ids", "1", NULL};
    expect_failure(l4, 1, "token_embd.weight");
}

int main(void) {
    snprintf(g_stories, sizeof g_stories, "%s", ky_test_shared(STORIES));
    snprintf(g_tiny, sizeof g_tiny, "%s", ky_test_shared("models/tiny-qwen2-f32.gguf"));
    snprintf(g_tiny_ref, sizeof g_tiny_ref, "%s", ky_test_shared("models/tiny-qwen2-f32.ref.json"));
    RUN(test_stories_200_greedy);
    RUN(test_streaming_matches_json);
    RUN(test_seeded_sampling_reproducible);
    RUN(test_summary_on_stderr);
    RUN(test_logits_match_reference);
    RUN(test_stops_at_eos);
    RUN(test_make_run_script);
    RUN(test_chat_model_text);
    RUN(test_errors);
    TEST_EXIT();
}
