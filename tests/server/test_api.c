/* test_api.c — request validation (api_request.c) and response shapes (api_response.c), no
 * model: every rejection names its field, defaults are OpenAI's, and the JSON shapes are the
 * ones the OpenAI SDKs parse. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "server/api_request.h"
#include "server/api_response.h"
#include "test.h"

#define N_VOCAB 1000

static bool parse(api_kind kind, const char *body, api_request *r, api_error *e) {
    return api_request_parse(kind, body, strlen(body), N_VOCAB, r, e);
}

/* Expects a 400 naming param (NULL: no param). */
static void expect_bad(api_kind kind, const char *body, const char *param) {
    api_request r;
    api_error e;
    bool ok = parse(kind, body, &r, &e);
    CHECKF(!ok, "accepted: %s", body);
    if (ok) {
        api_request_free(&r);
        return;
    }
    CHECKF(e.status == 400, "%s: status %d", body, e.status);
    CHECK(!strcmp(e.type, "invalid_request_error"));
    if (param)
        CHECKF(e.param && !strcmp(e.param, param), "%s: param %s, want %s", body,
               e.param ? e.param : "null", param);
    else
        CHECKF(!e.param, "%s: param %s", body, e.param);
    CHECK(e.message[0]);
}

static void test_completion_defaults(void) {
    api_request r;
    api_error e;
    REQUIRE(parse(API_COMPLETION, "{\"prompt\":\"hi\",\"unknown\":{\"x\":1}}", &r, &e));
    CHECK(r.prompt_text && !strcmp(r.prompt_text, "hi") && r.prompt_len == 2);
    CHECK(r.max_tokens == -1);
    CHECK(r.temperature == 1.0 && r.top_p == 1.0 && r.n == 1);
    CHECK(!r.stream && !r.include_usage && !r.logprobs && !r.has_seed && r.n_stop == 0);
    api_request_free(&r);
}

static void test_completion_fields(void) {
    api_request r;
    api_error e;
    REQUIRE(parse(API_COMPLETION,
                  "{\"model\":\"m\",\"prompt\":[1,2,3],\"max_tokens\":7,\"temperature\":0,"
                  "\"top_p\":0.5,\"top_k\":40,\"min_p\":0.1,\"seed\":42,\"stop\":[\"a\",\"bc\"],"
                  "\"n\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                  "\"logprobs\":2,\"logit_bias\":{\"5\":-100,\"7\":2.5},\"user\":\"u\","
                  "\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"repetition_penalty\":1.1}",
                  &r, &e));
    CHECK(r.model && !strcmp(r.model, "m"));
    CHECK(r.n_prompt_ids == 3 && r.prompt_ids[2] == 3 && !r.prompt_text);
    CHECK(r.max_tokens == 7 && r.temperature == 0 && r.top_p == 0.5 && r.top_k == 40);
    CHECK(fabs(r.min_p - 0.1) < 1e-9 && r.has_seed && r.seed == 42);
    CHECK(r.n_stop == 2 && !strcmp(r.stop[1], "bc"));
    CHECK(r.n == 3 && r.stream && r.include_usage && r.logprobs && r.top_logprobs == 2);
    CHECK(r.n_logit_bias == 2 && r.logit_bias[0].token == 5 && isinf(r.logit_bias[0].bias));
    CHECK(r.logit_bias[1].bias == 2.5f);
    CHECK(fabs(r.repetition_penalty - 1.1) < 1e-9);
    api_request_free(&r);
    /* max_completion_tokens wins; one-string arrays are a string prompt; nulls are absent. */
    REQUIRE(parse(API_COMPLETION,
                  "{\"prompt\":[\"x\"],\"max_completion_tokens\":3,\"max_tokens\":9,"
                  "\"temperature\":null,\"stop\":\"s\"}",
                  &r, &e));
    CHECK(r.max_tokens == 3 && r.prompt_text && !strcmp(r.prompt_text, "x"));
    CHECK(r.temperature == 1.0 && r.n_stop == 1);
    api_request_free(&r);
}

static void test_rejections(void) {
    expect_bad(API_COMPLETION, "not json", NULL);
    expect_bad(API_COMPLETION, "[1,2]", NULL);
    expect_bad(API_COMPLETION, "{\"prompt\":\"a\",\"prompt\":\"b\"}", NULL);
    expect_bad(API_COMPLETION, "{}", "prompt");
    expect_bad(API_COMPLETION, "{\"prompt\":5}", "prompt");
    expect_bad(API_COMPLETION, "{\"prompt\":[]}", "prompt");
    expect_bad(API_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", "prompt");
    expect_bad(API_COMPLETION, "{\"prompt\":[1,1000]}", "prompt");
    expect_bad(API_COMPLETION, "{\"prompt\":[1,-1]}", "prompt");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":-1}", "max_tokens");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":1e300}", "max_tokens");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":99999999999}", "max_tokens");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":\"5\"}", "max_tokens");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":1.5}", "max_tokens");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"n\":0}", "n");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"n\":17}", "n");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"temperature\":-0.1}", "temperature");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"temperature\":2.5}", "temperature");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"temperature\":\"hot\"}", "temperature");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"top_p\":1.5}", "top_p");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"min_p\":-1}", "min_p");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"presence_penalty\":3}", "presence_penalty");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"repetition_penalty\":0}", "repetition_penalty");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"seed\":1.5}", "seed");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"stream\":1}", "stream");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"stream_options\":3}", "stream_options");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"stop\":[\"\"]}", "stop");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"stop\":[1]}", "stop");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":6}", "logprobs");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"logit_bias\":{\"abc\":1}}", "logit_bias");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"logit_bias\":{\"1000\":1}}", "logit_bias");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"logit_bias\":{\"1\":101}}", "logit_bias");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"echo\":true}", "echo");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"best_of\":3}", "best_of");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"user\":5}", "user");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"model\":5}", "model");
    expect_bad(API_COMPLETION, "{\"prompt\":\"x\",\"response_format\":{\"type\":\"xml\"}}",
               "response_format");
    expect_bad(
        API_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":"
        "\"json_schema\",\"json_schema\":{\"schema\":{\"not\":{}}}}}",
        "response_format");
    expect_bad(
        API_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}",
        "tool_choice");
    expect_bad(
        API_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":"
        "\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\","
        "\"function\":{\"name\":\"g\"}}}",
        "tool_choice");
    /* response_format json_object / json_schema carry their grammar */
    api_request rq;
    api_error er;
    CHECK(parse(API_COMPLETION, "{\"prompt\":\"x\",\"response_format\":{\"type\":\"json_object\"}}",
                &rq, &er));
    CHECK(rq.grammar && strstr(rq.grammar, "root ::="));
    CHECK(rq.max_reasoning_tokens == -1); /* unlimited by default */
    api_request_free(&rq);
    /* max_reasoning_tokens: a non-negative integer; a forced tool call with response_format is
     * accepted (the call is that turn's output) */
    CHECK(parse(API_CHAT,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_reasoning_tokens\":0,"
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":"
                "\"required\",\"response_format\":{\"type\":\"json_object\"}}",
                &rq, &er));
    CHECK(rq.max_reasoning_tokens == 0 && rq.tool_choice == API_TOOLS_REQUIRED && rq.grammar);
    api_request_free(&rq);
    expect_bad(API_CHAT,
               "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_reasoning_tokens\":-1}",
               "max_reasoning_tokens");
    expect_bad(
        API_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_reasoning_tokens\":2.5}",
        "max_reasoning_tokens");
    expect_bad(
        API_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":"
        "\"json_schema\",\"json_schema\":{\"schema\":{\"oneOf\":[{\"type\":\"number\"},"
        "{\"type\":\"integer\"}]}}}}",
        "response_format");
    /* Invalid UTF-8 and NUL escapes never reach the engine. */
    expect_bad(API_COMPLETION, "{\"prompt\":\"\xff\xfe\"}", NULL);
    expect_bad(API_COMPLETION, "{\"prompt\":\"\xc0\xaf\"}", NULL);
    expect_bad(API_COMPLETION, "{\"prompt\":\"a\\u0000b\"}", NULL);
    expect_bad(API_COMPLETION, "{\"prompt\":\"\\ud800\"}", NULL);
}

static void test_chat(void) {
    api_request r;
    api_error e;
    REQUIRE(parse(API_CHAT,
                  "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\","
                  "\"content\":[{\"type\":\"text\",\"text\":\"a\"}]},{\"role\":\"assistant\","
                  "\"content\":null}],\"chat_template_kwargs\":{\"enable_thinking\":false},"
                  "\"logprobs\":true,\"top_logprobs\":3,\"tools\":[]}",
                  &r, &e));
    CHECK(r.logprobs && r.top_logprobs == 3);
    json_t *ctx = json_loads(r.chat_context, 0, NULL);
    REQUIRE(ctx);
    CHECK(json_array_size(json_object_get(ctx, "messages")) == 3);
    CHECK(json_is_false(json_object_get(ctx, "enable_thinking")));
    CHECK(json_is_true(json_object_get(ctx, "add_generation_prompt")));
    CHECK(json_is_array(json_object_get(ctx, "tools")));
    json_decref(ctx);
    api_request_free(&r);
    expect_bad(API_CHAT, "{}", "messages");
    expect_bad(API_CHAT, "{\"messages\":[]}", "messages");
    expect_bad(API_CHAT, "{\"messages\":[1]}", "messages");
    expect_bad(API_CHAT, "{\"messages\":[{\"content\":\"x\"}]}", "messages");
    expect_bad(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages");
    expect_bad(API_CHAT,
               "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
               "messages");
    expect_bad(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":1}",
               "logprobs");
    expect_bad(API_CHAT,
               "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}",
               "top_logprobs");
    expect_bad(API_CHAT,
               "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,"
               "\"top_logprobs\":21}",
               "top_logprobs");
    expect_bad(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":{}}",
               "tools");
    expect_bad(API_CHAT,
               "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":1}",
               "chat_template_kwargs");
    expect_bad(
        API_CHAT,
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"reasoning_effort\":\"max\"}",
        "reasoning_effort");
    static const struct {
        const char *extra;
        int thinking; /* -1: not set, 0: false, 1: true */
    } effort[] = {
        {",\"reasoning_effort\":\"none\"", 0},
        {",\"reasoning_effort\":\"high\"", -1},
        {",\"reasoning_effort\":\"none\",\"chat_template_kwargs\":{\"enable_thinking\":true}", 1}};
    for (size_t i = 0; i < sizeof effort / sizeof effort[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]%s}",
                 effort[i].extra);
        REQUIRE(parse(API_CHAT, body, &r, &e));
        ctx = json_loads(r.chat_context, 0, NULL);
        json_t *t = ctx ? json_object_get(ctx, "enable_thinking") : NULL;
        CHECKF(effort[i].thinking < 0
                   ? !t
                   : json_is_boolean(t) && json_is_true(t) == (effort[i].thinking == 1),
               "case %zu", i);
        json_decref(ctx);
        api_request_free(&r);
    }
}

static void test_tokenize_requests(void) {
    api_request r;
    api_error e;
    REQUIRE(parse(API_TOKENIZE, "{\"content\":\"abc\",\"add_special\":true}", &r, &e));
    CHECK(r.prompt_len == 3 && r.add_special);
    api_request_free(&r);
    REQUIRE(parse(API_DETOKENIZE, "{\"tokens\":[1,2]}", &r, &e));
    CHECK(r.n_prompt_ids == 2);
    api_request_free(&r);
    expect_bad(API_TOKENIZE, "{}", "content");
    expect_bad(API_DETOKENIZE, "{\"tokens\":[5000]}", "tokens");
}

/* Fake vocabulary: token t prints as "t<t>" (token 9 is "\xff", invalid UTF-8). */
static size_t fake_piece(void *user, ky_token t, char *buf, size_t cap) {
    (void)user;
    char tmp[32];
    int n = t == 9 ? snprintf(tmp, sizeof tmp, "\xff") : snprintf(tmp, sizeof tmp, "t%d", t);
    if ((size_t)n <= cap) memcpy(buf, tmp, (size_t)n);
    return (size_t)n;
}

static api_meta meta(api_kind kind, bool usage) {
    api_meta m = {.kind = kind,
                  .id = "chatcmpl-1",
                  .created = 123,
                  .model = "mod",
                  .include_usage = usage,
                  .piece = fake_piece};
    return m;
}

static json_t *load(char *s) {
    json_t *v = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    return v;
}

static const char *sget(json_t *o, const char *path) {
    return json_string_value(json_object_get(o, path));
}

static void test_chat_shapes(void) {
    api_meta m = meta(API_CHAT, true);
    api_lp_entry lp[1] = {
        {.token = 4, .logprob = -0.5f, .n_top = 2, .top = {{4, -0.5f}, {9, -1.5f}}}};
    api_choice c = {.text = "hello", .len = 5, .finish_reason = "stop", .lp = lp, .n_lp = 1};
    api_usage u = {
        .prompt_tokens = 10, .completion_tokens = 3, .cached_tokens = 4, .reasoning_tokens = 2};
    json_t *o = load(api_response_final(&m, &c, 1, &u));
    REQUIRE(o);
    CHECK(!strcmp(sget(o, "id"), "chatcmpl-1") && !strcmp(sget(o, "object"), "chat.completion"));
    CHECK(json_integer_value(json_object_get(o, "created")) == 123);
    CHECK(!strcmp(sget(o, "model"), "mod") && sget(o, "system_fingerprint"));
    json_t *ch = json_array_get(json_object_get(o, "choices"), 0);
    CHECK(json_integer_value(json_object_get(ch, "index")) == 0);
    CHECK(!strcmp(sget(ch, "finish_reason"), "stop"));
    json_t *msg = json_object_get(ch, "message");
    CHECK(!strcmp(sget(msg, "role"), "assistant") && !strcmp(sget(msg, "content"), "hello"));
    json_t *content = json_object_get(json_object_get(ch, "logprobs"), "content");
    json_t *e0 = json_array_get(content, 0);
    CHECK(!strcmp(sget(e0, "token"), "t4"));
    CHECK(fabs(json_real_value(json_object_get(e0, "logprob")) + 0.5) < 1e-6);
    CHECK(json_array_size(json_object_get(e0, "bytes")) == 2);
    json_t *top = json_object_get(e0, "top_logprobs");
    CHECK(json_array_size(top) == 2);
    json_t *t1 = json_array_get(top, 1);
    CHECK(!strcmp(sget(t1, "token"), "\xEF\xBF\xBD")); /* invalid byte → U+FFFD */
    CHECK(json_integer_value(json_array_get(json_object_get(t1, "bytes"), 0)) == 255);
    json_t *us = json_object_get(o, "usage");
    CHECK(json_integer_value(json_object_get(us, "total_tokens")) == 13);
    CHECK(json_integer_value(
              json_object_get(json_object_get(us, "prompt_tokens_details"), "cached_tokens")) == 4);
    CHECK(json_integer_value(json_object_get(json_object_get(us, "completion_tokens_details"),
                                             "reasoning_tokens")) == 2);
    json_decref(o);

    o = load(api_chunk_role(&m, 1));
    REQUIRE(o);
    CHECK(!strcmp(sget(o, "object"), "chat.completion.chunk"));
    CHECK(json_is_null(json_object_get(o, "usage")));
    ch = json_array_get(json_object_get(o, "choices"), 0);
    CHECK(json_integer_value(json_object_get(ch, "index")) == 1);
    json_t *d = json_object_get(ch, "delta");
    CHECK(!strcmp(sget(d, "role"), "assistant") && !strcmp(sget(d, "content"), ""));
    CHECK(json_is_null(json_object_get(ch, "finish_reason")));
    json_decref(o);

    o = load(api_chunk_text(&m, 0, "ab", 2, NULL, 0));
    ch = json_array_get(json_object_get(o, "choices"), 0);
    CHECK(!strcmp(sget(json_object_get(ch, "delta"), "content"), "ab"));
    CHECK(json_object_size(json_object_get(ch, "delta")) == 1);
    CHECK(json_is_null(json_object_get(ch, "logprobs")));
    json_decref(o);

    o = load(api_chunk_finish(&m, 0, "length"));
    ch = json_array_get(json_object_get(o, "choices"), 0);
    CHECK(json_object_size(json_object_get(ch, "delta")) == 0);
    CHECK(!strcmp(sget(ch, "finish_reason"), "length"));
    json_decref(o);

    o = load(api_chunk_usage(&m, &u));
    CHECK(json_array_size(json_object_get(o, "choices")) == 0);
    CHECK(json_integer_value(json_object_get(json_object_get(o, "usage"), "prompt_tokens")) == 10);
    json_decref(o);

    m.include_usage = false;
    o = load(api_chunk_text(&m, 0, "x", 1, NULL, 0));
    CHECK(!json_object_get(o, "usage"));
    json_decref(o);
}

static void test_completion_shapes(void) {
    api_meta m = meta(API_COMPLETION, false);
    api_lp_entry lp[2] = {{.token = 1, .logprob = -1, .n_top = 1, .top = {{1, -1}}},
                          {.token = 2, .logprob = -INFINITY, .text_offset = 2}};
    api_choice c[2] = {{.text = "t1t2", .len = 4, .finish_reason = "length", .lp = lp, .n_lp = 2},
                       {.text = "", .len = 0, .finish_reason = "stop"}};
    api_usage u = {1, 2, 0, 0};
    json_t *o = load(api_response_final(&m, c, 2, &u));
    REQUIRE(o);
    CHECK(!strcmp(sget(o, "object"), "text_completion"));
    json_t *c0 = json_array_get(json_object_get(o, "choices"), 0);
    CHECK(!strcmp(sget(c0, "text"), "t1t2") && !strcmp(sget(c0, "finish_reason"), "length"));
    json_t *l = json_object_get(c0, "logprobs");
    CHECK(!strcmp(json_string_value(json_array_get(json_object_get(l, "tokens"), 1)), "t2"));
    CHECK(json_real_value(json_array_get(json_object_get(l, "token_logprobs"), 1)) == -9999.0);
    json_t *top0 = json_array_get(json_object_get(l, "top_logprobs"), 0);
    CHECK(json_real_value(json_object_get(top0, "t1")) == -1.0);
    CHECK(json_integer_value(json_array_get(json_object_get(l, "text_offset"), 1)) == 2);
    json_t *c1 = json_array_get(json_object_get(o, "choices"), 1);
    CHECK(json_integer_value(json_object_get(c1, "index")) == 1);
    CHECK(json_is_null(json_object_get(c1, "logprobs")));
    json_decref(o);
    o = load(api_chunk_finish(&m, 0, "stop"));
    json_t *ch = json_array_get(json_object_get(o, "choices"), 0);
    CHECK(!strcmp(sget(ch, "text"), "") && !strcmp(sget(ch, "finish_reason"), "stop"));
    json_decref(o);
}

static void test_error_and_misc_shapes(void) {
    api_error e;
    api_errorf(&e, 400, "invalid_request_error", "max_tokens", NULL, "bad %d", 5);
    json_t *o = load(api_error_json(&e));
    json_t *in = json_object_get(o, "error");
    CHECK(!strcmp(sget(in, "message"), "bad 5") &&
          !strcmp(sget(in, "type"), "invalid_request_error"));
    CHECK(!strcmp(sget(in, "param"), "max_tokens") && json_is_null(json_object_get(in, "code")));
    CHECK(json_object_size(in) == 4);
    json_decref(o);
    o = load(api_models_json("m1", 5));
    CHECK(!strcmp(sget(o, "object"), "list"));
    CHECK(!strcmp(sget(json_array_get(json_object_get(o, "data"), 0), "id"), "m1"));
    json_decref(o);
    ky_token ids[2] = {3, 9};
    o = load(api_tokenize_json(ids, 2, true, fake_piece, NULL));
    json_t *t0 = json_array_get(json_object_get(o, "tokens"), 0);
    CHECK(json_integer_value(json_object_get(t0, "id")) == 3 && !strcmp(sget(t0, "piece"), "t3"));
    json_decref(o);
    char *clean;
    size_t n;
    REQUIRE(api_utf8_sanitize("a\xe2\x82"
                              "b\xf0\x9f\x98\x80",
                              8, &clean, &n));
    CHECK(!strcmp(clean, "a\xEF\xBF\xBD\xEF\xBF\xBD"
                         "b\xf0\x9f\x98\x80"));
    free(clean);
}

int main(void) {
    RUN(test_completion_defaults);
    RUN(test_completion_fields);
    RUN(test_rejections);
    RUN(test_chat);
    RUN(test_tokenize_requests);
    RUN(test_chat_shapes);
    RUN(test_completion_shapes);
    RUN(test_error_and_misc_shapes);
    TEST_EXIT();
}
