/* test_serve.c — `kaiyuan serve` end to end over raw HTTP/1.1 with the shared chat model
 * (../shared/models/chat-qwen3-q8_0.gguf): endpoints, response and stream shapes, errors
 * (400/401/404/405/413/429/431), disconnects freeing slots, batch and prefix-cache invariance,
 * the prefix cache's reuse and speed-up, prompt-lookup speculation (on by default: A and B run
 * with it, a third server without it gives the reference text), and SIGTERM draining. Two servers
 * run throughout: A (8 parallel sequences) and B (1 sequence, queue 1, API key, alias, small body
 * limit).
 */
#include <jansson.h>
#include <pthread.h>

#include "server/srv_util.h"

#define KEY  "sk-test-123"
#define AUTH "Authorization: Bearer " KEY "\r\n"

static test_server A, B;

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

static json_t *post_json(int port, const char *path, const char *extra, const char *body,
                         int *status) {
    http_resp r;
    *status = http_do(port, "POST", path, extra, body, &r);
    json_t *v = r.body ? json_loads(r.body, 0, NULL) : NULL;
    http_resp_free(&r);
    return v;
}

static const char *sget(json_t *o, const char *k) {
    return json_string_value(json_object_get(o, k));
}

/* Text of choice i of a completion (text) or chat (message.content) response; "" when absent. */
static const char *choice_text(json_t *resp, size_t i) {
    json_t *c = json_array_get(json_object_get(resp, "choices"), i);
    const char *t = sget(c, "text");
    if (!t) t = sget(json_object_get(c, "message"), "content");
    return t ? t : "";
}

static json_int_t usage_of(json_t *resp, const char *field) {
    json_t *u = json_object_get(resp, "usage");
    if (!strcmp(field, "cached_tokens"))
        return json_integer_value(
            json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"));
    return json_integer_value(json_object_get(u, field));
}

/* A completion request's text (NULL on failure; caller frees). */
static char *complete_text(int port, const char *extra, const char *body) {
    int st;
    json_t *v = post_json(port, "/v1/completions", extra, body, &st);
    char *t = st == 200 && v ? strdup(choice_text(v, 0)) : NULL;
    if (st != 200) fprintf(stderr, "status %d for %s\n", st, body);
    json_decref(v);
    return t;
}

/* SSE events of a stream body: the payloads after "data: " (caller frees each and the array). */
static int sse_events(const char *body, char ***out) {
    int n = 0, cap = 64;
    char **ev = malloc((size_t)cap * sizeof *ev);
    const char *p = body;
    while (p && *p) {
        const char *end = strstr(p, "\n\n");
        if (!end) {
            ev[n++] = strdup("<<unterminated>>");
            break;
        }
        if (n == cap) ev = realloc(ev, (size_t)(cap *= 2) * sizeof *ev);
        if (strncmp(p, "data: ", 6) != 0) {
            ev[n++] = strdup("<<not data>>");
        } else {
            size_t len = (size_t)(end - p) - 6;
            ev[n] = malloc(len + 1);
            memcpy(ev[n], p + 6, len);
            ev[n++][len] = 0;
        }
        p = end + 2;
    }
    *out = ev;
    return n;
}

static void free_events(char **ev, int n) {
    for (int i = 0; i < n; i++) free(ev[i]);
    free(ev);
}

/* Concatenated text deltas of a stream, choice index `index`; checks the shape as it goes. */
typedef struct stream_info {
    char *text;
    char *finish;
    json_t *usage;
    int n_events;
    bool ok_shape, done;
} stream_info;

static void parse_stream(const char *body, bool chat, int index, stream_info *si) {
    memset(si, 0, sizeof *si);
    char **ev;
    int n = sse_events(body, &ev);
    si->n_events = n;
    si->ok_shape = n >= 2;
    size_t cap = 1 << 16, len = 0;
    si->text = calloc(cap, 1);
    char id[128] = "";
    bool role_seen = !chat;
    for (int i = 0; i < n; i++) {
        if (!strcmp(ev[i], "[DONE]")) {
            si->done = true;
            if (i != n - 1) si->ok_shape = false;
            continue;
        }
        json_t *o = json_loads(ev[i], 0, NULL);
        if (!o) {
            fprintf(stderr, "bad event: %s\n", ev[i]);
            si->ok_shape = false;
            continue;
        }
        const char *eid = sget(o, "id");
        if (!id[0] && eid) snprintf(id, sizeof id, "%s", eid);
        if (!eid || strcmp(eid, id)) si->ok_shape = false;
        const char *obj = sget(o, "object");
        if (!obj || strcmp(obj, chat ? "chat.completion.chunk" : "text_completion"))
            si->ok_shape = false;
        json_t *choices = json_object_get(o, "choices");
        if (json_array_size(choices) == 0) {
            si->usage = json_incref(json_object_get(o, "usage"));
        } else {
            json_t *c = json_array_get(choices, 0);
            if (json_integer_value(json_object_get(c, "index")) == index) {
                const char *fr = sget(c, "finish_reason");
                json_t *d = json_object_get(c, "delta");
                const char *t = chat ? sget(d, "content") : sget(c, "text");
                if (chat && sget(d, "role")) {
                    if (role_seen || strcmp(t ? t : "x", "")) si->ok_shape = false;
                    role_seen = true;
                } else if (fr) {
                    if (si->finish) si->ok_shape = false;
                    si->finish = strdup(fr);
                    if (chat && json_object_size(d) != 0) si->ok_shape = false;
                } else if (t) {
                    if (!role_seen || si->finish) si->ok_shape = false;
                    size_t k = strlen(t);
                    if (len + k + 1 > cap) si->text = realloc(si->text, cap = (len + k) * 2 + 1);
                    memcpy(si->text + len, t, k + 1);
                    len += k;
                }
            }
        }
        json_decref(o);
    }
    if (!si->done || !si->finish) si->ok_shape = false;
    free_events(ev, n);
}

static void free_stream(stream_info *si) {
    free(si->text);
    free(si->finish);
    json_decref(si->usage);
}

/* ------------------------------------------------------------------------------------------ */

static void test_health_models_metrics(void) {
    http_resp r;
    CHECK(http_do(A.port, "GET", "/health", NULL, NULL, &r) == 200);
    CHECK(r.body && !strcmp(r.body, "{\"status\":\"ok\"}"));
    http_resp_free(&r);
    CHECK(http_do(A.port, "GET", "/v1/models", NULL, NULL, &r) == 200);
    json_t *v = json_loads(r.body, 0, NULL);
    CHECK(!strcmp(sget(v, "object"), "list"));
    CHECK(!strcmp(sget(json_array_get(json_object_get(v, "data"), 0), "id"), "chat-qwen3-q8_0"));
    json_decref(v);
    http_resp_free(&r);
    CHECK(http_do(A.port, "GET", "/metrics", NULL, NULL, &r) == 200);
    const char *names[] = {"kaiyuan:requests_total{status=\"200\"}",
                           "kaiyuan:prompt_tokens_total",
                           "kaiyuan:generation_tokens_total",
                           "kaiyuan:prompt_tokens_cached_total",
                           "kaiyuan:time_to_first_token_seconds_bucket",
                           "kaiyuan:inter_token_latency_seconds_count",
                           "kaiyuan:requests_running",
                           "kaiyuan:requests_waiting",
                           "kaiyuan:kv_cache_usage_ratio",
                           "kaiyuan:decode_steps_total",
                           "kaiyuan:batch_tokens_total",
                           "kaiyuan:spec_decode_num_draft_tokens_total",
                           "kaiyuan:spec_decode_num_accepted_tokens_total",
                           "kaiyuan:client_disconnects_total"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECKF(r.body && strstr(r.body, names[i]), "%s missing", names[i]);
    http_resp_free(&r);
    /* B requires the key everywhere but /health; its alias is the served name. */
    CHECK(http_do(B.port, "GET", "/health", NULL, NULL, &r) == 200);
    http_resp_free(&r);
    CHECK(http_do(B.port, "GET", "/v1/models", NULL, NULL, &r) == 401);
    http_resp_free(&r);
    CHECK(http_do(B.port, "GET", "/v1/models", AUTH, NULL, &r) == 200);
    CHECK(r.body && strstr(r.body, "\"id\":\"kai\""));
    http_resp_free(&r);
}

static void test_completion_shape(void) {
    int st;
    json_t *v =
        post_json(A.port, "/v1/completions", NULL,
                  "{\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0}", &st);
    REQUIRE(st == 200 && v);
    CHECK(!strncmp(sget(v, "id"), "cmpl-", 5));
    CHECK(!strcmp(sget(v, "object"), "text_completion"));
    CHECK(json_is_integer(json_object_get(v, "created")));
    CHECK(!strcmp(sget(v, "model"), "chat-qwen3-q8_0"));
    CHECK(sget(v, "system_fingerprint"));
    json_t *c = json_array_get(json_object_get(v, "choices"), 0);
    CHECK(!strcmp(sget(c, "finish_reason"), "length"));
    CHECK(json_is_null(json_object_get(c, "logprobs")));
    CHECK(usage_of(v, "completion_tokens") == 5);
    CHECK(usage_of(v, "prompt_tokens") == 4);
    CHECK(usage_of(v, "total_tokens") == 9);
    json_decref(v);
    /* Token-id prompt, tokenize and detokenize agree. */
    v = post_json(A.port, "/tokenize", NULL, "{\"content\":\"Once upon a time\"}", &st);
    CHECK(st == 200 && json_array_size(json_object_get(v, "tokens")) == 4);
    char *ids = json_dumps(json_object_get(v, "tokens"), JSON_COMPACT);
    json_decref(v);
    char body[512];
    snprintf(body, sizeof body, "{\"tokens\":%s}", ids);
    v = post_json(A.port, "/detokenize", NULL, body, &st);
    CHECK(st == 200 && !strcmp(sget(v, "content"), "Once upon a time"));
    json_decref(v);
    snprintf(body, sizeof body, "{\"prompt\":%s,\"max_tokens\":5,\"temperature\":0}", ids);
    char *a = complete_text(A.port, NULL, body);
    char *b = complete_text(A.port, NULL,
                            "{\"prompt\":\"Once upon a time\",\"max_tokens\":5,\"temperature\":0}");
    CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);
    free(ids);
    /* Chat. */
    v = post_json(A.port, "/v1/chat/completions", NULL,
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":4,"
                  "\"temperature\":0,\"logprobs\":true,\"top_logprobs\":2}",
                  &st);
    REQUIRE(st == 200 && v);
    CHECK(!strcmp(sget(v, "object"), "chat.completion"));
    c = json_array_get(json_object_get(v, "choices"), 0);
    CHECK(!strcmp(sget(json_object_get(c, "message"), "role"), "assistant"));
    json_t *content = json_object_get(json_object_get(c, "logprobs"), "content");
    CHECK(json_array_size(content) == 4);
    json_t *e0 = json_array_get(content, 0);
    CHECK(json_is_real(json_object_get(e0, "logprob")) &&
          json_real_value(json_object_get(e0, "logprob")) <= 0);
    CHECK(json_array_size(json_object_get(e0, "top_logprobs")) == 2);
    json_decref(v);
}

static void test_stream_shape(void) {
    http_resp r;
    const char *body =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me\"}],\"max_tokens\":6,"
        "\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    REQUIRE(http_do(A.port, "POST", "/v1/chat/completions", NULL, body, &r) == 200);
    CHECK(strstr(r.headers, "text/event-stream") != NULL);
    stream_info si;
    parse_stream(r.body, true, 0, &si);
    CHECK(si.ok_shape);
    CHECK(si.finish && !strcmp(si.finish, "length"));
    CHECK(si.usage && json_integer_value(json_object_get(si.usage, "completion_tokens")) == 6);
    /* Every chunk before the usage chunk carries "usage": null. */
    char **ev;
    int n = sse_events(r.body, &ev);
    for (int i = 0; i + 2 < n; i++) CHECKF(strstr(ev[i], "\"usage\":null"), "%s", ev[i]);
    free_events(ev, n);
    /* The same request without streaming gives the same text. */
    char nb[512];
    snprintf(nb, sizeof nb, "%s",
             "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me\"}],\"max_tokens\":6,"
             "\"temperature\":0}");
    int st;
    json_t *v = post_json(A.port, "/v1/chat/completions", NULL, nb, &st);
    CHECK(st == 200 && !strcmp(choice_text(v, 0), si.text));
    json_decref(v);
    free_stream(&si);
    http_resp_free(&r);
    /* Completions stream: no role chunk, no usage field without include_usage. */
    REQUIRE(http_do(A.port, "POST", "/v1/completions", NULL,
                    "{\"prompt\":\"abc\",\"max_tokens\":3,\"temperature\":0,\"stream\":true}",
                    &r) == 200);
    parse_stream(r.body, false, 0, &si);
    CHECK(si.ok_shape && !si.usage);
    CHECK(!strstr(r.body, "\"usage\""));
    free_stream(&si);
    http_resp_free(&r);
}

static void test_stop_strings(void) {
    int st;
    json_t *v = post_json(A.port, "/v1/completions", NULL,
                          "{\"prompt\":\"The list:\",\"max_tokens\":16,\"temperature\":0,"
                          "\"logprobs\":0}",
                          &st);
    REQUIRE(st == 200 && v);
    json_t *toks = json_object_get(
        json_object_get(json_array_get(json_object_get(v, "choices"), 0), "logprobs"), "tokens");
    REQUIRE(json_array_size(toks) == 16);
    const char *full = choice_text(v, 0);
    /* A stop string of two whole tokens (crosses a token boundary). */
    char stop[256];
    snprintf(stop, sizeof stop, "%s%s", json_string_value(json_array_get(toks, 5)),
             json_string_value(json_array_get(toks, 6)));
    const char *at = strstr(full, stop);
    REQUIRE(at);
    size_t want_len = (size_t)(at - full);
    json_t *bj = json_pack("{s:s,s:i,s:i,s:[s,s]}", "prompt", "The list:", "max_tokens", 16,
                           "temperature", 0, "stop", stop, "zzzz-never");
    char *body = json_dumps(bj, JSON_COMPACT);
    json_decref(bj);
    json_t *w = post_json(A.port, "/v1/completions", NULL, body, &st);
    CHECK(st == 200);
    const char *got = choice_text(w, 0);
    CHECKF(strlen(got) == want_len && !strncmp(got, full, want_len), "got '%s'", got);
    CHECK(!strcmp(sget(json_array_get(json_object_get(w, "choices"), 0), "finish_reason"), "stop"));
    json_decref(w);
    /* Streamed: the same text, no part of the stop string leaks. */
    bj = json_loads(body, 0, NULL);
    json_object_set_new(bj, "stream", json_true());
    free(body);
    body = json_dumps(bj, JSON_COMPACT);
    json_decref(bj);
    http_resp r;
    CHECK(http_do(A.port, "POST", "/v1/completions", NULL, body, &r) == 200);
    stream_info si;
    parse_stream(r.body, false, 0, &si);
    CHECK(si.ok_shape);
    CHECKF(strlen(si.text) == want_len && !strncmp(si.text, full, want_len), "got '%s'", si.text);
    CHECK(si.finish && !strcmp(si.finish, "stop"));
    free_stream(&si);
    http_resp_free(&r);
    free(body);
    json_decref(v);
}

static void test_n_choices(void) {
    int st;
    json_t *v = post_json(A.port, "/v1/completions", NULL,
                          "{\"prompt\":\"Dogs\",\"max_tokens\":8,\"temperature\":1,\"seed\":7,"
                          "\"n\":2}",
                          &st);
    REQUIRE(st == 200 && json_array_size(json_object_get(v, "choices")) == 2);
    CHECK(usage_of(v, "completion_tokens") == 16);
    /* Choice i samples with seed + i: each equals a single request with that seed. */
    char *c0 = complete_text(A.port, NULL,
                             "{\"prompt\":\"Dogs\",\"max_tokens\":8,\"temperature\":1,\"seed\":7}");
    char *c1 = complete_text(A.port, NULL,
                             "{\"prompt\":\"Dogs\",\"max_tokens\":8,\"temperature\":1,\"seed\":8}");
    CHECK(c0 && !strcmp(c0, choice_text(v, 0)));
    CHECK(c1 && !strcmp(c1, choice_text(v, 1)));
    CHECK(json_integer_value(
              json_object_get(json_array_get(json_object_get(v, "choices"), 1), "index")) == 1);
    free(c0);
    free(c1);
    json_decref(v);
}

static void expect_error(int port, const char *method, const char *path, const char *extra,
                         const char *body, int status, const char *type, const char *param,
                         const char *code) {
    http_resp r;
    int st = http_do(port, method, path, extra, body, &r);
    CHECKF(st == status, "%s %s: status %d, want %d (%s)", method, path, st, status,
           r.body ? r.body : "");
    json_t *v = r.body ? json_loads(r.body, 0, NULL) : NULL;
    json_t *e = json_object_get(v, "error");
    CHECKF(e && json_is_string(json_object_get(e, "message")), "%s", r.body ? r.body : "");
    CHECK(e && json_object_get(e, "param") && json_object_get(e, "code"));
    if (type) CHECKF(sget(e, "type") && !strcmp(sget(e, "type"), type), "type %s", sget(e, "type"));
    if (param) CHECKF(sget(e, "param") && !strcmp(sget(e, "param"), param), "param");
    if (code) CHECKF(sget(e, "code") && !strcmp(sget(e, "code"), code), "code %s", sget(e, "code"));
    json_decref(v);
    http_resp_free(&r);
}

static void test_errors(void) {
    expect_error(A.port, "POST", "/v1/completions", NULL, "{bad", 400, "invalid_request_error",
                 NULL, NULL);
    expect_error(A.port, "POST", "/v1/completions", NULL, "{\"prompt\":\"x\",\"max_tokens\":-5}",
                 400, "invalid_request_error", "max_tokens", NULL);
    expect_error(A.port, "POST", "/v1/completions", NULL, "{\"prompt\":\"\xff\"}", 400,
                 "invalid_request_error", NULL, NULL);
    expect_error(A.port, "POST", "/v1/chat/completions", NULL, "{\"messages\":\"hi\"}", 400,
                 "invalid_request_error", "messages", NULL);
    expect_error(A.port, "POST", "/v1/completions", NULL, "{\"prompt\":\"x\",\"n\":9}", 400,
                 "invalid_request_error", "n", NULL);
    expect_error(A.port, "GET", "/v1/nothing", NULL, NULL, 404, "invalid_request_error", NULL,
                 NULL);
    expect_error(A.port, "GET", "/v1/completions", NULL, NULL, 405, "invalid_request_error", NULL,
                 NULL);
    expect_error(A.port, "POST", "/v1/models", NULL, "{}", 405, NULL, NULL, NULL);
    /* B: key, alias, body limit. */
    const char *ok = "{\"prompt\":\"x\",\"max_tokens\":1}";
    expect_error(B.port, "POST", "/v1/completions", NULL, ok, 401, "invalid_request_error", NULL,
                 "invalid_api_key");
    expect_error(B.port, "POST", "/v1/completions", "Authorization: Bearer sk-test-12\r\n", ok, 401,
                 NULL, NULL, "invalid_api_key");
    expect_error(B.port, "POST", "/v1/completions", "Authorization: Bearer sk-test-1234\r\n", ok,
                 401, NULL, NULL, "invalid_api_key");
    expect_error(B.port, "POST", "/v1/completions", AUTH,
                 "{\"model\":\"gpt-4\",\"prompt\":\"x\",\"max_tokens\":1}", 404,
                 "invalid_request_error", "model", "model_not_found");
    int st;
    json_t *v = post_json(B.port, "/v1/completions", AUTH,
                          "{\"model\":\"kai\",\"prompt\":\"x\",\"max_tokens\":1}", &st);
    CHECK(st == 200 && !strcmp(sget(v, "model"), "kai"));
    json_decref(v);
    /* 413: declared too large, and a chunked upload that grows past the limit. */
    size_t big = 70000;
    char *huge = malloc(big + 32);
    memset(huge, ' ', big);
    memcpy(huge, "{\"prompt\":\"", 11);
    strcpy(huge + big - 3, "\"}");
    expect_error(B.port, "POST", "/v1/completions", AUTH, huge, 413, NULL, NULL, NULL);
    int fd = tsrv_connect(B.port);
    REQUIRE(fd >= 0);
    const char *head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n" AUTH
                       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    tsrv_send_all(fd, head, strlen(head));
    char chunk[64];
    for (int i = 0; i < 40; i++) {
        snprintf(chunk, sizeof chunk, "%x\r\n", 4000);
        if (tsrv_send_all(fd, chunk, strlen(chunk)) || tsrv_send_all(fd, huge + 11, 4000) ||
            tsrv_send_all(fd, "\r\n", 2))
            break;
    }
    tsrv_send_all(fd, "0\r\n\r\n", 5);
    size_t n;
    char *raw = tsrv_read_all(fd, &n);
    CHECKF(!strncmp(raw, "HTTP/1.1 413", 12), "%.60s", raw);
    free(raw);
    close(fd);
    free(huge);
    /* 431: too many headers. */
    char many[8192] = "";
    for (int i = 0; i < 80; i++) {
        size_t l = strlen(many);
        snprintf(many + l, sizeof many - l, "X-H%d: v\r\n", i);
    }
    expect_error(A.port, "GET", "/v1/models", many, NULL, 431, NULL, NULL, NULL);
    /* 400 context_length_exceeded: more prompt tokens than B's context (4096). */
    char *ids = malloc(8 * 5000 + 64);
    size_t l = (size_t)sprintf(ids, "{\"prompt\":[");
    for (int i = 0; i < 5000; i++) l += (size_t)sprintf(ids + l, "%s%d", i ? "," : "", 100 + i);
    strcpy(ids + l, "],\"max_tokens\":4}");
    http_resp r;
    st = http_do(B.port, "POST", "/v1/completions", AUTH, ids, &r);
    CHECK(st == 400);
    CHECKF(r.body && strstr(r.body, "context_length_exceeded") && strstr(r.body, "5000") &&
               strstr(r.body, "4096"),
           "%s", r.body ? r.body : "");
    http_resp_free(&r);
    free(ids);
    /* A slowloris client (headers never finished) does not hold up others. */
    int slow = tsrv_connect(A.port);
    REQUIRE(slow >= 0);
    tsrv_send_all(slow, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-A: ", 44);
    double t0 = tsrv_now();
    CHECK(http_do(A.port, "GET", "/health", NULL, NULL, &r) == 200);
    CHECK(tsrv_now() - t0 < 5);
    http_resp_free(&r);
    close(slow);
}

/* A client that does not read: its choices pause once its outbox and the socket buffers are
 * full (memory stays bounded), and the other requests go on. */
static void test_slow_reader(void) {
    double g0 = tsrv_metric(A.port, "kaiyuan:generation_tokens_total");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)A.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Talk\"}],\"n\":2,"
                       "\"max_tokens\":3000,\"temperature\":0,\"logprobs\":true,"
                       "\"top_logprobs\":20,\"stream\":true}";
    tsrv_send_request(fd, "POST", "/v1/chat/completions", NULL, body, strlen(body));
    /* Wait until generation stops growing while the request is still running. */
    double end = tsrv_now() + 240, g1 = g0, g2 = -1;
    while (tsrv_now() < end) {
        tsrv_sleep(0.5);
        g2 = tsrv_metric(A.port, "kaiyuan:generation_tokens_total");
        if (g2 == g1 && g2 > g0) break;
        g1 = g2;
    }
    printf("# slow reader: paused after %.0f tokens\n", g2 - g0);
    CHECKF(g2 == g1 && g2 > g0, "generation did not pause (%.0f tokens)", g2 - g0);
    CHECK(g2 - g0 < 2 * 3000);
    CHECK(tsrv_metric(A.port, "kaiyuan:requests_running") == 1);
    char *t =
        complete_text(A.port, NULL, "{\"prompt\":\"Other\",\"max_tokens\":8,\"temperature\":0}");
    CHECK(t != NULL);
    free(t);
    close(fd);
    end = tsrv_now() + 30;
    while (tsrv_now() < end && tsrv_metric(A.port, "kaiyuan:requests_running") != 0)
        tsrv_sleep(0.05);
    CHECK(tsrv_metric(A.port, "kaiyuan:requests_running") == 0);
}

static double bmetric(const char *name) { return tsrv_metric_h(B.port, AUTH, name); }

/* 429 when running + queued reach parallel + queue; hang-ups (running and queued) free the
 * slot at the next step and are counted once. */
static void test_capacity_and_disconnect(void) {
    double d0 = bmetric("kaiyuan:client_disconnects_total");
    const char *body = "{\"prompt\":\"A long story\",\"max_tokens\":100000,\"stream\":true}";
    int f1 = tsrv_connect(B.port), f2 = tsrv_connect(B.port);
    REQUIRE(f1 >= 0 && f2 >= 0);
    tsrv_send_request(f1, "POST", "/v1/completions", AUTH, body, strlen(body));
    CHECK(tsrv_read_until(f1, "data: ", 30));
    tsrv_send_request(f2, "POST", "/v1/completions", AUTH, body, strlen(body));
    double end = tsrv_now() + 30;
    while (bmetric("kaiyuan:requests_waiting") < 1 && tsrv_now() < end) tsrv_sleep(0.02);
    CHECK(bmetric("kaiyuan:requests_waiting") == 1);
    http_resp r;
    CHECK(http_do(B.port, "POST", "/v1/completions", AUTH, "{\"prompt\":\"x\",\"max_tokens\":1}",
                  &r) == 429);
    CHECK(r.headers && strstr(r.headers, "Retry-After: 1"));
    CHECK(r.body && strstr(r.body, "rate_limit_error"));
    http_resp_free(&r);
    /* The queued one first (it never got a response: 499), then the running one. */
    close(f2);
    end = tsrv_now() + 30;
    while (tsrv_now() < end && (bmetric("kaiyuan:client_disconnects_total") < d0 + 1 ||
                                bmetric("kaiyuan:requests_waiting") != 0))
        tsrv_sleep(0.02);
    CHECK(bmetric("kaiyuan:requests_waiting") == 0);
    close(f1);
    end = tsrv_now() + 30;
    while (tsrv_now() < end && (bmetric("kaiyuan:requests_running") != 0 ||
                                bmetric("kaiyuan:client_disconnects_total") < d0 + 2))
        tsrv_sleep(0.02);
    CHECK(bmetric("kaiyuan:client_disconnects_total") == d0 + 2);
    CHECK(bmetric("kaiyuan:requests_running") == 0);
    CHECK(bmetric("kaiyuan:requests_waiting") == 0);
    CHECKF(bmetric("kaiyuan:requests_total{status=\"499\"}") == 1, "499: %g",
           bmetric("kaiyuan:requests_total{status=\"499\"}"));
    /* The single slot is free again: a request completes at once. */
    double t0 = tsrv_now();
    char *t = complete_text(B.port, AUTH, "{\"prompt\":\"x\",\"max_tokens\":2,\"temperature\":0}");
    CHECK(t != NULL);
    CHECK(tsrv_now() - t0 < 20);
    free(t);
    tsrv_sleep(0.2);
    CHECK(bmetric("kaiyuan:client_disconnects_total") == d0 + 2);
}

/* ------------------------------------------------------------------------------------------ */
/* Batch invariance */

#define N_PAR 8

typedef struct job {
    int port;
    const char *extra;
    char body[8192];
    char *text;
    json_int_t cached;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    int st;
    json_t *v = post_json(j->port, "/v1/completions", j->extra, j->body, &st);
    j->text = st == 200 ? strdup(choice_text(v, 0)) : NULL;
    j->cached = st == 200 ? usage_of(v, "cached_tokens") : -1;
    json_decref(v);
    return NULL;
}

static void make_bodies(job *jobs, bool sampled) {
    for (int i = 0; i < N_PAR; i++) {
        char prompt[6000];
        size_t l = (size_t)snprintf(prompt, sizeof prompt,
                                    "%s %d:", sampled ? "Sampled request" : "Request", i);
        /* Different lengths: some prompts take several prefill chunks. */
        for (int k = 0; k < i * i * 6 && l < sizeof prompt - 32; k++)
            l += (size_t)snprintf(prompt + l, sizeof prompt - l, " word%d", k * 7 + i);
        if (sampled)
            snprintf(jobs[i].body, sizeof jobs[i].body,
                     "{\"prompt\":\"%s\",\"max_tokens\":24,\"temperature\":1,\"seed\":%d}", prompt,
                     1000 + i);
        else
            snprintf(jobs[i].body, sizeof jobs[i].body,
                     "{\"prompt\":\"%s\",\"max_tokens\":24,\"temperature\":0}", prompt);
    }
}

static void batch_invariance(bool sampled) {
    job alone[N_PAR], together[N_PAR], again[N_PAR];
    memset(alone, 0, sizeof alone);
    make_bodies(alone, sampled);
    /* Alone: one at a time on B (one sequence, another batch size). */
    for (int i = 0; i < N_PAR; i++) {
        alone[i].port = B.port;
        alone[i].extra = AUTH;
        run_job(&alone[i]);
        REQUIRE(alone[i].text);
    }
    /* Together: 8 concurrent requests on A, prefills chunked among the others' decodes. */
    pthread_t th[N_PAR];
    for (int i = 0; i < N_PAR; i++) {
        together[i] = alone[i];
        together[i].port = A.port;
        together[i].extra = NULL;
        together[i].text = NULL;
        pthread_create(&th[i], NULL, run_job, &together[i]);
    }
    for (int i = 0; i < N_PAR; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_PAR; i++) {
        CHECKF(together[i].text && !strcmp(together[i].text, alone[i].text),
               "request %d batched: '%s' alone: '%s'", i, together[i].text, alone[i].text);
        CHECKF(together[i].cached < 8, "cached %lld", (long long)together[i].cached);
    }
    /* Again on A, now from the prefix cache: same text. */
    int n_cached = 0;
    for (int i = 0; i < N_PAR; i++) {
        again[i] = together[i];
        again[i].text = NULL;
        run_job(&again[i]);
        CHECKF(again[i].text && !strcmp(again[i].text, alone[i].text), "request %d cached", i);
        n_cached += again[i].cached > 0;
    }
    CHECKF(n_cached >= 4, "%d of 8 repeated requests hit the prefix cache", n_cached);
    for (int i = 0; i < N_PAR; i++) {
        free(alone[i].text);
        free(together[i].text);
        free(again[i].text);
    }
}

static void test_batch_invariance_greedy(void) { batch_invariance(false); }
static void test_batch_invariance_seeded(void) { batch_invariance(true); }

/* ------------------------------------------------------------------------------------------ */
/* Prefix cache */

/* Streams a chat request; returns seconds to the first content delta, and cached tokens. */
static double chat_ttft(const char *system, const char *question, json_int_t *cached, char **text,
                        json_int_t *prompt_tokens) {
    json_t *bj =
        json_pack("{s:[{s:s,s:s},{s:s,s:s}],s:i,s:i,s:b,s:{s:b}}", "messages", "role", "system",
                  "content", system, "role", "user", "content", question, "max_tokens", 8,
                  "temperature", 0, "stream", 1, "stream_options", "include_usage", 1);
    char *body = json_dumps(bj, JSON_COMPACT);
    json_decref(bj);
    int fd = tsrv_connect(A.port);
    double t0 = tsrv_now();
    tsrv_send_request(fd, "POST", "/v1/chat/completions", NULL, body, strlen(body));
    free(body);
    double ttft = -1;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = 0;
        if (ttft < 0 && strstr(buf, "\"delta\":{\"content\"")) ttft = tsrv_now() - t0;
    }
    close(fd);
    http_resp r;
    tsrv_parse(buf, n, &r);
    free(buf);
    stream_info si;
    parse_stream(r.body ? r.body : "", true, 0, &si);
    CHECK(si.ok_shape);
    *cached = si.usage ? json_integer_value(json_object_get(
                             json_object_get(si.usage, "prompt_tokens_details"), "cached_tokens"))
                       : -1;
    *text = strdup(si.text ? si.text : "");
    if (prompt_tokens)
        *prompt_tokens =
            si.usage ? json_integer_value(json_object_get(si.usage, "prompt_tokens")) : -1;
    free_stream(&si);
    http_resp_free(&r);
    return ttft;
}

static void test_prefix_cache(void) {
    char *sys = malloc(64 * 1024);
    size_t l = (size_t)sprintf(sys, "You are the support assistant of the Kaiyuan shop. ");
    for (int i = 0; i < 74; i++)
        l += (size_t)sprintf(sys + l, "Rule %d: when asked about item %d, answer in %d words. ",
                             i + 1, 3 * i + 17, i % 9 + 3);
    int st;
    json_t *bj = json_pack("{s:s}", "content", sys);
    char *body = json_dumps(bj, JSON_COMPACT);
    json_decref(bj);
    json_t *v = post_json(A.port, "/tokenize", NULL, body, &st);
    size_t n_sys = json_array_size(json_object_get(v, "tokens"));
    json_decref(v);
    free(body);
    printf("# system prompt: %zu tokens\n", n_sys);
    CHECK(n_sys >= 1400 && n_sys <= 1700);
    json_int_t c1, c2;
    char *t1, *t2, *t3;
    json_int_t p1;
    double ttft1 = chat_ttft(sys, "Where is my parcel?", &c1, &t1, &p1);
    double ttft2 = chat_ttft(sys, "Can I return a lamp?", &c2, &t2, NULL);
    printf("# prefix cache: first TTFT %.1f ms (cached %lld), second TTFT %.1f ms (cached %lld)\n",
           ttft1 * 1e3, (long long)c1, ttft2 * 1e3, (long long)c2);
    CHECK(c1 < 100);
    CHECKF(c2 >= 1400, "cached %lld", (long long)c2);
    CHECKF(ttft2 < 0.2 * ttft1, "second TTFT %.4f s is not under 20%% of %.4f s", ttft2, ttft1);
    /* The cached answer is the cold one: ask the first question again (cached) and compare. */
    json_int_t c3;
    chat_ttft(sys, "Where is my parcel?", &c3, &t3, NULL);
    /* The second request copied the shared prefix, so the first conversation stayed whole:
     * everything but the last prompt token (always recomputed) comes from the cache. */
    CHECKF(c3 == p1 - 1, "cached %lld of %lld", (long long)c3, (long long)p1);
    CHECKF(!strcmp(t1, t3), "cold '%s' cached '%s'", t1, t3);
    free(t1);
    free(t2);
    free(t3);
    free(sys);
}

/* ------------------------------------------------------------------------------------------ */
/* Speculation */

/* A completion body for prompt (JSON-escaped here) with the given extra fields. */
static char *spec_body(const char *prompt, const char *fields) {
    json_t *pj = json_string(prompt);
    char *ps = json_dumps(pj, JSON_ENCODE_ANY);
    json_decref(pj);
    size_t n = strlen(ps) + strlen(fields) + 64;
    char *b = malloc(n);
    snprintf(b, n, "{\"prompt\":%s,%s}", ps, fields);
    free(ps);
    return b;
}

/* Greedy text with drafts (A, C's reference without): identical, with and without streaming,
 * logprobs and a stop string that ends inside a run of accepted drafts; the drafts must have
 * been accepted (the random-weight model repeats itself, which prompt lookup predicts). */
static void test_speculation(void) {
    test_server C;
    const char *c_args[] = {"--parallel", "2", "-c", "4096", "--spec", "none", NULL};
    REQUIRE(tsrv_start(&C, c_args));
    double d0 = tsrv_metric(A.port, "kaiyuan:spec_decode_num_draft_tokens_total");
    double a0 = tsrv_metric(A.port, "kaiyuan:spec_decode_num_accepted_tokens_total");
    double s0 = tsrv_metric(A.port, "kaiyuan:decode_steps_total");
    const char *p = "The order 4471 shipped on Monday from the Hangzhou warehouse.";
    char *b = spec_body(p, "\"max_tokens\":48,\"temperature\":0");
    char *ref = complete_text(C.port, NULL, b), *got = complete_text(A.port, NULL, b);
    REQUIRE(ref && got);
    CHECKF(!strcmp(ref, got), "with drafts '%s' without '%s'", got, ref);
    free(b);
    /* The prompt followed by its own continuation and the prompt again: a copy task. */
    size_t qn = 2 * strlen(p) + strlen(ref) + 2;
    char *q = malloc(qn);
    snprintf(q, qn, "%s%s %s", p, ref, p);
    const char *variants[] = {"\"max_tokens\":40,\"temperature\":0",
                              "\"max_tokens\":40,\"temperature\":0,\"logprobs\":2",
                              "\"max_tokens\":40,\"temperature\":0,\"n\":2"};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        b = spec_body(q, variants[v]);
        char *r1 = complete_text(C.port, NULL, b), *r2 = complete_text(A.port, NULL, b);
        CHECKF(r1 && r2 && !strcmp(r1, r2), "%s: with drafts '%s' without '%s'", variants[v], r2,
               r1);
        free(b);
        if (v == 0 && r1 && strlen(r1) > 24) { /* a stop string from the middle of the text */
            char stop[16], fields[128];
            memcpy(stop, r1 + strlen(r1) / 2, 8);
            stop[8] = 0;
            json_t *sj = json_string(stop);
            char *ss = json_dumps(sj, JSON_ENCODE_ANY);
            json_decref(sj);
            snprintf(fields, sizeof fields, "\"max_tokens\":40,\"temperature\":0,\"stop\":%s", ss);
            free(ss);
            b = spec_body(q, fields);
            char *t1 = complete_text(C.port, NULL, b), *t2 = complete_text(A.port, NULL, b);
            CHECKF(t1 && t2 && !strcmp(t1, t2) && strlen(t1) < strlen(r1),
                   "stop: with drafts '%s' without '%s'", t2, t1);
            free(t1), free(t2), free(b);
        }
        free(r1), free(r2);
    }
    /* Loops that change: drafts are rejected at every change (acceptance about 2/3 here), which
     * exercises dropping the rejected tail from the KV cache. */
    const char *mixed[] = {"The order 4471 shipped on Monday. /docker/docker/lamp/docker/docker/pen"
                           "/docker/docker/cup/docker/docker/ink The order 4471 shipped on Monday.",
                           "Item A costs 4 yuan. Item B costs 5 yuan. Item C costs 6 yuan. Item"};
    for (size_t v = 0; v < 2; v++) {
        b = spec_body(mixed[v], "\"max_tokens\":40,\"temperature\":0");
        char *r1 = complete_text(C.port, NULL, b), *r2 = complete_text(A.port, NULL, b);
        CHECKF(r1 && r2 && !strcmp(r1, r2), "with drafts '%s' without '%s'", r2, r1);
        free(r1), free(r2), free(b);
    }
    /* Streaming: the deltas add up to the same text. */
    b = spec_body(q, "\"max_tokens\":40,\"temperature\":0,\"stream\":true");
    http_resp r;
    CHECK(http_do(A.port, "POST", "/v1/completions", NULL, b, &r) == 200);
    stream_info si;
    parse_stream(r.body ? r.body : "", false, 0, &si);
    char *plain = spec_body(q, "\"max_tokens\":40,\"temperature\":0");
    char *r1 = complete_text(C.port, NULL, plain);
    CHECKF(si.ok_shape && si.done && r1 && !strcmp(si.text, r1), "stream '%s' vs '%s'", si.text,
           r1);
    free_stream(&si);
    http_resp_free(&r);
    free(r1), free(plain), free(b);
    double drafted = tsrv_metric(A.port, "kaiyuan:spec_decode_num_draft_tokens_total") - d0;
    double accepted = tsrv_metric(A.port, "kaiyuan:spec_decode_num_accepted_tokens_total") - a0;
    double steps = tsrv_metric(A.port, "kaiyuan:decode_steps_total") - s0;
    printf("# speculation on A: %.0f drafted, %.0f accepted, %.0f decode steps\n", drafted,
           accepted, steps);
    CHECKF(drafted > 0 && accepted > 0.5 * drafted && accepted < drafted,
           "drafted %.0f accepted %.0f", drafted, accepted);
    CHECK(tsrv_metric(C.port, "kaiyuan:spec_decode_num_draft_tokens_total") == 0);
    free(q), free(ref), free(got);
    CHECK(tsrv_stop(&C, SIGTERM, 30) == 0);
}

/* ------------------------------------------------------------------------------------------ */

static void test_sigterm_drains(void) {
    const char *body = "{\"prompt\":\"Drain me\",\"max_tokens\":64,\"temperature\":0,"
                       "\"stream\":true}";
    int fd = tsrv_connect(A.port);
    REQUIRE(fd >= 0);
    tsrv_send_request(fd, "POST", "/v1/completions", NULL, body, strlen(body));
    REQUIRE(tsrv_read_until(fd, "data: ", 30));
    kill(A.pid, SIGTERM);
    CHECK(tsrv_read_until(fd, "data: [DONE]", 60));
    close(fd);
    int rc = tsrv_stop(&A, 0, 60);
    CHECKF(rc == 0, "exit status %d", rc);
    CHECK(tsrv_connect(A.port) < 0);
}

int main(void) {
    const char *a_args[] = {"--parallel", "8", "-c", "4096", "--cache-slots", "4", NULL};
    const char *b_args[] = {"--parallel",      "1",  "--queue", "1",   "-c",         "4096",
                            "--api-key",       KEY,  "--alias", "kai", "--max-body", "65536",
                            "--prefill-chunk", "64", NULL};
    if (!tsrv_start(&A, a_args) || !tsrv_start(&B, b_args)) {
        printf("not ok - start servers (logs %s %s)\n", A.log, B.log);
        tsrv_stop(&A, SIGKILL, 5);
        tsrv_stop(&B, SIGKILL, 5);
        return 1;
    }
    RUN(test_health_models_metrics);
    RUN(test_completion_shape);
    RUN(test_stream_shape);
    RUN(test_stop_strings);
    RUN(test_n_choices);
    RUN(test_errors);
    RUN(test_capacity_and_disconnect);
    RUN(test_slow_reader);
    RUN(test_batch_invariance_greedy);
    RUN(test_batch_invariance_seeded);
    RUN(test_prefix_cache);
    RUN(test_speculation);
    RUN(test_sigterm_drains);
    int rc = tsrv_stop(&B, SIGTERM, 60);
    if (rc != 0) {
        printf("not ok - server B exit status %d\n", rc);
        ky_test_n_fail++;
    }
    if (A.pid) tsrv_stop(&A, SIGKILL, 5);
    TEST_EXIT();
}
