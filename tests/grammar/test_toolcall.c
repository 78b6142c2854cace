/* test_toolcall.c — golden tests of the streaming content / reasoning / tool-call parser and of
 * tool-call grammars (tests for src/grammar/toolcall.c).
 *
 * Every case is fed whole, split in two at every byte boundary, and byte by byte; all must give
 * the expected content, reasoning and calls.
 */
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "kaiyuan.h"
#include "test.h"

#define R1_CALLS_BEGIN "<｜tool▁calls▁begin｜>"
#define R1_CALLS_END   "<｜tool▁calls▁end｜>"
#define R1_CALL_BEGIN  "<｜tool▁call▁begin｜>"
#define R1_CALL_END    "<｜tool▁call▁end｜>"
#define R1_SEP         "<｜tool▁sep｜>"

typedef struct result {
    ky_strbuf content, reasoning, calls; /* calls: "index:name:args\n" */
    int n_args_events;                   /* KY_CHAT_EVENT_TOOL_CALL_ARGS events */
    int n_split_chars;                   /* argument fragments starting or ending mid-character */
    bool open_call;                      /* a streamed call's line is not ended yet */
} result;

static void on_event(void *user, const ky_chat_event *ev) {
    result *r = user;
    if (ev->type == KY_CHAT_EVENT_TOOL_CALL_BEGIN) { /* streamed: same line shape when done */
        if (r->open_call) ky_strbuf_puts(&r->calls, "\n");
        ky_strbuf_printf(&r->calls, "%d:", ev->index);
        ky_strbuf_append(&r->calls, ev->name, ev->name_len);
        ky_strbuf_puts(&r->calls, ":");
        r->open_call = true;
        return;
    }
    if (ev->type == KY_CHAT_EVENT_TOOL_CALL_ARGS) {
        ky_strbuf_append(&r->calls, ev->arguments, ev->arguments_len);
        r->n_args_events++;
        const unsigned char *a = (const unsigned char *)ev->arguments;
        size_t n = ev->arguments_len, k = n;
        while (k > 0 && (a[k - 1] & 0xC0) == 0x80) k--; /* k - 1: the last lead byte */
        size_t want = !k                 ? 0
                      : a[k - 1] >= 0xF0 ? 4
                      : a[k - 1] >= 0xE0 ? 3
                      : a[k - 1] >= 0xC0 ? 2
                                         : 1;
        if ((n && (a[0] & 0xC0) == 0x80) || (k && n - (k - 1) != want)) r->n_split_chars++;
        return;
    }
    if (r->open_call && ev->type == KY_CHAT_EVENT_TOOL_CALL) ky_strbuf_puts(&r->calls, "\n");
    if (ev->type == KY_CHAT_EVENT_TOOL_CALL) r->open_call = false;
    if (ev->type == KY_CHAT_EVENT_CONTENT)
        ky_strbuf_append(&r->content, ev->text, ev->len);
    else if (ev->type == KY_CHAT_EVENT_REASONING)
        ky_strbuf_append(&r->reasoning, ev->text, ev->len);
    else {
        ky_strbuf_printf(&r->calls, "%d:", ev->index);
        ky_strbuf_append(&r->calls, ev->name, ev->name_len);
        ky_strbuf_puts(&r->calls, ":");
        ky_strbuf_append(&r->calls, ev->arguments, ev->arguments_len);
        ky_strbuf_puts(&r->calls, "\n");
    }
}

static const char *str(const ky_strbuf *b) { return b->data ? b->data : ""; }

typedef struct tcase {
    const char *name;
    ky_tool_format fmt;
    bool reasoning, open;
    const char *in, *content, *reasoning_out, *calls;
} tcase;

static const tcase CASES[] = {
    {"hermes one call", KY_TOOL_FORMAT_HERMES, false, false,
     "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
     "", "", "0:get_weather:{\"city\":\"Paris\"}\n"},
    {"hermes two calls", KY_TOOL_FORMAT_HERMES, false, false,
     "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": "
     "\"b\", "
     "\"arguments\": {\"x\": [1, 2]}}\n</tool_call>",
     "", "", "0:a:{}\n1:b:{\"x\":[1,2]}\n"},
    {"hermes text before", KY_TOOL_FORMAT_HERMES, false, false,
     "Let me check.\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": "
     "\"<x>\"}}\n</tool_call>",
     "Let me check.", "", "0:a:{\"q\":\"<x>\"}\n"},
    {"hermes malformed", KY_TOOL_FORMAT_HERMES, false, false,
     "<tool_call>\n{\"name\": \"a\", \"arguments\": {bad}\n</tool_call>",
     "<tool_call>\n{\"name\": \"a\", \"arguments\": {bad}\n</tool_call>", "", ""},
    {"hermes no name", KY_TOOL_FORMAT_HERMES, false, false,
     "x <tool_call>{\"arguments\": {}}</tool_call>", "x <tool_call>{\"arguments\": {}}</tool_call>",
     "", ""},
    {"hermes string arguments", KY_TOOL_FORMAT_HERMES, false, false,
     "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>", "", "",
     "0:f:{\"a\":1}\n"},
    {"hermes unclosed but complete", KY_TOOL_FORMAT_HERMES, false, false,
     "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n", "", "", "0:f:{}\n"},
    {"hermes unclosed incomplete", KY_TOOL_FORMAT_HERMES, false, false,
     "ok <tool_call>\n{\"name\": \"f\", \"argu", "ok <tool_call>\n{\"name\": \"f\", \"argu", "",
     ""},
    {"not markup", KY_TOOL_FORMAT_HERMES, true, false, "a < b <tool and <thin",
     "a < b <tool and <thin", "", ""},
    {"think then answer", KY_TOOL_FORMAT_HERMES, true, false,
     "<think>\nhmm, 2+2\n</think>\n\nIt is 4.", "It is 4.", "hmm, 2+2", ""},
    {"think opened by the prompt", KY_TOOL_FORMAT_HERMES, true, true, "I think\n</think>\nAnswer",
     "Answer", "I think", ""},
    {"think then call", KY_TOOL_FORMAT_HERMES, true, false,
     "<think>\nneed weather\n</think>\n\n<tool_call>\n{\"name\": \"w\", \"arguments\": "
     "{}}\n</tool_call>",
     "", "need weather", "0:w:{}\n"},
    {"stray think close dropped", KY_TOOL_FORMAT_NONE, true, false, "Hello</think> world",
     "Hello world", "", ""},
    {"no tools: markup is text", KY_TOOL_FORMAT_NONE, false, false,
     "<tool_call>{\"name\": \"a\"}</tool_call>", "<tool_call>{\"name\": \"a\"}</tool_call>", "",
     ""},
    {"qwen3-coder xml", KY_TOOL_FORMAT_QWEN3_CODER, false, false,
     "Sure.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nSan Francisco\n</parameter>\n"
     "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
     "Sure.", "", "0:get_weather:{\"city\":\"San Francisco\",\"days\":3}\n"},
    {"qwen3-coder bare function", KY_TOOL_FORMAT_QWEN3_CODER, false, false,
     "<function=f>\n<parameter=a>\n{\"k\": true}\n</parameter>\n</function>", "", "",
     "0:f:{\"a\":{\"k\":true}}\n"},
    {"qwen3-coder malformed", KY_TOOL_FORMAT_QWEN3_CODER, false, false,
     "<tool_call>\n<function=f>\n<parameter=a>\n1\n</function>\n</tool_call>",
     "<tool_call>\n<function=f>\n<parameter=a>\n1\n</function>\n</tool_call>", "", ""},
    {"deepseek-r1 two calls", KY_TOOL_FORMAT_DEEPSEEK_R1, true, false,
     "<think>\nok\n</think>\n\n" R1_CALLS_BEGIN R1_CALL_BEGIN "function" R1_SEP
     "get_weather\n```json\n{\"city\": \"Paris\"}\n```" R1_CALL_END "\n" R1_CALL_BEGIN
     "function" R1_SEP "get_time\n```json\n{}\n```" R1_CALL_END R1_CALLS_END,
     "", "ok", "0:get_weather:{\"city\":\"Paris\"}\n1:get_time:{}\n"},
    {"deepseek-r1 malformed", KY_TOOL_FORMAT_DEEPSEEK_R1, false, false,
     "x" R1_CALLS_BEGIN R1_CALL_BEGIN "function" R1_SEP
     "f\n```json\n{oops}\n```" R1_CALL_END R1_CALLS_END,
     "x" R1_CALLS_BEGIN R1_CALL_BEGIN "function" R1_SEP
     "f\n```json\n{oops}\n```" R1_CALL_END R1_CALLS_END,
     "", ""},
    {"llama3 call", KY_TOOL_FORMAT_LLAMA3, false, false,
     " {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", "",
     "0:get_weather:{\"city\":\"Paris\"}\n"},
    {"llama3 python tag two calls", KY_TOOL_FORMAT_LLAMA3, false, false,
     "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": "
     "{\"x\": 1}}",
     "", "", "0:a:{}\n1:b:{\"x\":1}\n"},
    {"llama3 text", KY_TOOL_FORMAT_LLAMA3, false, false,
     "Sure: {\"name\": \"a\", \"parameters\": {}}", "Sure: {\"name\": \"a\", \"parameters\": {}}",
     "", ""},
    {"llama3 bad json", KY_TOOL_FORMAT_LLAMA3, false, false, "{not json} ", "{not json}", "", ""},
};

static bool g_stream_args; /* run_split streams Hermes arguments */

/* Feeds in[0..n) in chunks cut at cuts[0..nc). */
static void run_split(const tcase *c, const size_t *cuts, size_t nc, result *r) {
    ky_chat_parser_params p = {c->fmt, c->reasoning, c->open, g_stream_args};
    ky_chat_parser *ps = NULL;
    memset(r, 0, sizeof *r);
    if (ky_chat_parser_create(&p, &ps, NULL) != KY_OK) return;
    size_t at = 0, n = strlen(c->in);
    for (size_t i = 0; i <= nc; i++) {
        size_t end = i < nc ? cuts[i] : n;
        ky_chat_parser_feed(ps, c->in + at, end - at, on_event, r);
        at = end;
    }
    ky_chat_parser_finish(ps, on_event, r);
    if (r->open_call) ky_strbuf_puts(&r->calls, "\n");
    r->open_call = false;
    ky_chat_parser_free(ps);
}

static bool same(const tcase *c, const result *r, const char *how) {
    bool ok = !strcmp(str(&r->content), c->content) &&
              !strcmp(str(&r->reasoning), c->reasoning_out) && !strcmp(str(&r->calls), c->calls);
    if (!ok)
        fprintf(stderr, "%s (%s): content '%s' reasoning '%s' calls '%s'\n", c->name, how,
                str(&r->content), str(&r->reasoning), str(&r->calls));
    return ok;
}

static void free_result(result *r) {
    ky_strbuf_free(&r->content);
    ky_strbuf_free(&r->reasoning);
    ky_strbuf_free(&r->calls);
}

static void test_golden_every_split(void) {
    for (size_t k = 0; k < sizeof CASES / sizeof *CASES; k++) {
        const tcase *c = &CASES[k];
        size_t n = strlen(c->in);
        result r;
        run_split(c, NULL, 0, &r);
        CHECKF(same(c, &r, "whole"), "case '%s'", c->name);
        free_result(&r);
        int bad = 0;
        for (size_t i = 0; i <= n; i++) {
            run_split(c, &i, 1, &r);
            if (!same(c, &r, "split") && bad++ < 2)
                CHECKF(false, "case '%s' split at %zu", c->name, i);
            free_result(&r);
        }
        size_t *cuts = malloc((n + 1) * sizeof *cuts);
        for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
        run_split(c, cuts, n, &r);
        CHECKF(same(c, &r, "bytes"), "case '%s' byte by byte", c->name);
        free_result(&r);
        free(cuts);
    }
}

/* stream_arguments: every well-formed Hermes case gives the same content, reasoning and calls
 * at every split, the arguments arrive in several fragments when fed in pieces, and a call whose
 * arguments are not an object is parsed whole as before. */
static void test_stream_arguments(void) {
    g_stream_args = true;
    for (size_t k = 0; k < sizeof CASES / sizeof *CASES; k++) {
        const tcase *c = &CASES[k];
        if ((c->fmt != KY_TOOL_FORMAT_HERMES && c->fmt != KY_TOOL_FORMAT_DEEPSEEK_R1) ||
            strstr(c->name, "malformed"))
            continue;
        size_t n = strlen(c->in);
        result r;
        int bad = 0;
        for (size_t i = 0; i <= n; i++) {
            run_split(c, &i, 1, &r);
            if (!same(c, &r, "stream split") && bad++ < 2)
                CHECKF(false, "case '%s' streamed, split at %zu", c->name, i);
            free_result(&r);
        }
        size_t *cuts = malloc((n + 1) * sizeof *cuts);
        for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
        run_split(c, cuts, n, &r);
        CHECKF(same(c, &r, "stream bytes"), "case '%s' streamed byte by byte", c->name);
        free_result(&r);
        free(cuts);
    }
    static const tcase longc = {
        "long",
        KY_TOOL_FORMAT_HERMES,
        true,
        false,
        "<think>x</think><tool_call>\n{\"name\": \"say\", \"arguments\": {\"text\": "
        "\"\xC3\xA9\xF0\x9D\x94\xB8"
        "a } ] "
        "\\\" <tool_call> b\", \"n\": [1, {\"k\": 2}]}}\n</tool_call>\n<tool_call>\n"
        "{\"name\": \"t\", \"arguments\": {}}\n</tool_call>",
        "",
        "x",
        "0:say:{\"text\":\"\xC3\xA9\xF0\x9D\x94\xB8"
        "a } ] \\\" <tool_call> "
        "b\",\"n\":[1,{\"k\":2}]}\n1:t:{}\n"};
    size_t n = strlen(longc.in), cuts[400];
    for (size_t i = 0; i < n && i < 400; i++) cuts[i] = i + 1;
    result r;
    run_split(&longc, cuts, n - 1, &r);
    CHECK(same(&longc, &r, "long bytes"));
    CHECKF(r.n_args_events > 20, "%d argument fragments", r.n_args_events);
    CHECKF(r.n_split_chars == 0, "%d fragments split a character", r.n_split_chars);
    free_result(&r);
    static const tcase r1 = {
        "r1 streamed",
        KY_TOOL_FORMAT_DEEPSEEK_R1,
        true,
        false,
        "<think>\nok\n</think>\n\nSure." R1_CALLS_BEGIN R1_CALL_BEGIN "function" R1_SEP
        "say\n```json\n{\"text\": \"a```b\", \"n\": [1, 2]}\n```" R1_CALL_END "\n" R1_CALL_BEGIN
        "function" R1_SEP "t\n```json\n{}\n```" R1_CALL_END R1_CALLS_END " after",
        "Sure. after",
        "ok",
        "0:say:{\"text\":\"a```b\",\"n\":[1,2]}\n1:t:{}\n"};
    n = strlen(r1.in);
    size_t *cuts1 = malloc(n * sizeof *cuts1);
    for (size_t i = 0; i < n; i++) cuts1[i] = i + 1;
    run_split(&r1, cuts1, n - 1, &r);
    CHECK(same(&r1, &r, "r1 bytes"));
    CHECKF(r.n_args_events > 20, "r1: %d argument fragments", r.n_args_events);
    free_result(&r);
    for (size_t i = 0; i <= n; i++) {
        run_split(&r1, &i, 1, &r);
        CHECKF(same(&r1, &r, "r1 split"), "r1 split at %zu", i);
        free_result(&r);
    }
    free(cuts1);
    g_stream_args = false;
}

static void test_detect(void) {
    const char *files[] = {"templates/Qwen-Qwen3-0.6B.jinja", "templates/Qwen-QwQ-32B.jinja",
                           "templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
                           "templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
                           "templates/meta-llama-Llama-3.2-3B-Instruct.jinja"};
    ky_tool_format want[] = {KY_TOOL_FORMAT_HERMES, KY_TOOL_FORMAT_HERMES,
                             KY_TOOL_FORMAT_DEEPSEEK_R1, KY_TOOL_FORMAT_LLAMA3,
                             KY_TOOL_FORMAT_LLAMA3};
    for (size_t i = 0; i < 5; i++) {
        char *t = ky_test_read_file(ky_test_shared(files[i]), NULL);
        REQUIRE(t);
        CHECKF(ky_tool_format_detect(t) == want[i], "%s: %d", files[i], ky_tool_format_detect(t));
        free(t);
    }
    CHECK(ky_tool_format_detect("<function=x><parameter=y>") == KY_TOOL_FORMAT_QWEN3_CODER);
    CHECK(ky_tool_format_detect("{{ messages }}") == KY_TOOL_FORMAT_NONE);
}

static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": "
    "{\"type\": "
    "\"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"days\": {\"type\": "
    "\"integer\", "
    "\"minimum\": 1, \"maximum\": 7}}, \"required\": [\"city\"]}}}, {\"type\": \"function\", "
    "\"function\": {\"name\": \"get_time\", \"parameters\": {\"type\": \"object\", \"properties\": "
    "{}}}}]";

/* Whether the grammar accepts s completely, via a matcher on the Qwen3 vocabulary. */
static int accepts(ky_grammar *g, ky_grammar_vocab *v, const char *s) {
    ky_grammar_matcher *m = NULL;
    if (ky_grammar_matcher_create(g, v, NULL, &m, NULL) != KY_OK) return -1;
    int r =
        ky_grammar_matcher_accept_bytes(m, s, strlen(s)) == KY_OK && ky_grammar_matcher_can_end(m);
    ky_grammar_matcher_free(m);
    return r;
}

static void test_tool_grammars(void) {
    ky_model_params mp = ky_model_default_params();
    mp.vocab_only = true;
    ky_model *model = NULL;
    REQUIRE(ky_model_load(ky_test_shared("tokenizer/qwen3/qwen3-vocab-only.gguf"), &mp, &model,
                          NULL) == KY_OK);
    ky_grammar_vocab *v = NULL;
    REQUIRE(ky_grammar_vocab_create(model, &v, NULL) == KY_OK);
    ky_error err;
    ky_grammar *g = NULL;
    ky_tool_grammar_params p = {KY_TOOL_FORMAT_HERMES, NULL, true, NULL};
    REQUIRE(ky_grammar_from_tools(TOOLS, strlen(TOOLS), &p, &g, &err) == KY_OK);
    CHECK(accepts(g, v,
                  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
                  "\"days\": 3}}\n</tool_call>") == 1);
    CHECK(accepts(g, v,
                  "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>\n"
                  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"x\"}}\n"
                  "</tool_call>") == 1);
    CHECK(accepts(g, v,
                  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"days\": "
                  "3}}\n</tool_call>") == 0); /* city required */
    CHECK(accepts(
              g, v,
              "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"P\", \"days\": "
              "9}}\n</tool_call>") == 0);
    CHECK(accepts(g, v, "<tool_call>\n{\"name\": \"nope\", \"arguments\": {}}\n</tool_call>") == 0);
    ky_grammar_free(g);
    /* named function, single call */
    ky_tool_grammar_params pn = {KY_TOOL_FORMAT_HERMES, "get_time", false, NULL};
    REQUIRE(ky_grammar_from_tools(TOOLS, strlen(TOOLS), &pn, &g, &err) == KY_OK);
    CHECK(accepts(g, v, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>") ==
          1);
    CHECK(accepts(g, v,
                  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                  "\"x\"}}\n</tool_call>") == 0);
    ky_grammar_free(g);
    pn.name = "missing";
    CHECK(ky_grammar_from_tools(TOOLS, strlen(TOOLS), &pn, &g, &err) == KY_ERR_NOT_FOUND);
    /* other formats */
    ky_tool_grammar_params pr = {KY_TOOL_FORMAT_DEEPSEEK_R1, NULL, true, NULL};
    REQUIRE(ky_grammar_from_tools(TOOLS, strlen(TOOLS), &pr, &g, &err) == KY_OK);
    CHECK(accepts(g, v,
                  R1_CALLS_BEGIN R1_CALL_BEGIN "function" R1_SEP "get_weather\n```json\n{\"city\": "
                                               "\"Paris\"}\n```" R1_CALL_END R1_CALLS_END) == 1);
    ky_grammar_free(g);
    ky_tool_grammar_params pl = {KY_TOOL_FORMAT_LLAMA3, NULL, false, NULL};
    REQUIRE(ky_grammar_from_tools(TOOLS, strlen(TOOLS), &pl, &g, &err) == KY_OK);
    CHECK(accepts(g, v, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}") == 1);
    ky_grammar_free(g);
    ky_tool_grammar_params pq = {KY_TOOL_FORMAT_QWEN3_CODER, NULL, false, "</think>"};
    REQUIRE(ky_grammar_from_tools(TOOLS, strlen(TOOLS), &pq, &g, &err) == KY_OK);
    CHECK(accepts(g, v,
                  "</think>\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nSan "
                  "Francisco\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n"
                  "</tool_call>") == 1);
    ky_grammar_free(g);
    ky_grammar_vocab_free(v);
    ky_model_free(model);
}

int main(void) {
    RUN(test_golden_every_split);
    RUN(test_stream_arguments);
    RUN(test_detect);
    RUN(test_tool_grammars);
    TEST_EXIT();
}
