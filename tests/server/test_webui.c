/* test_webui.c — runs the chat page's browser test (tests/web/webui.test.mjs: Debian's chromium
 * through playwright-core against `kaiyuan serve`, which the script starts with an API key) and
 * checks from C the page's headers (gzip, CSP, ETag/304, HEAD), --no-webui, and --cors with its
 * preflight. Screenshots land in build/webui-*.png. */
#include <stdlib.h>
#include <string.h>

#include "srv_util.h"
#include "test.h"

static void test_browser(void) {
    char model[600], shots[600], bin[600];
    snprintf(model, sizeof model, "KY_MODEL=%s", ky_test_shared("models/chat-qwen3-q8_0.gguf"));
    snprintf(bin, sizeof bin, "KY_KAIYUAN_BIN=%s", ky_test_cli_binary());
    const char *dir = getenv("KY_SHOT_DIR");
    snprintf(shots, sizeof shots, "KY_SHOT_DIR=%s", dir ? dir : "build");
    const char *env[] = {model, bin, shots, NULL};
    const char *argv[] = {
        "/usr/bin/env", "node", "--test", "--test-reporter=tap", "tests/web/webui.test.mjs", NULL};
    ky_cli_result r;
    REQUIRE(ky_test_spawn(argv, env, &r) == 0);
    fputs(r.out, stdout);
    fputs(r.err, stderr);
    CHECKF(r.exit_code == 0, "webui.test.mjs exited %d", r.exit_code);
    CHECK(strstr(r.out, "# pass 1") != NULL && strstr(r.out, "# fail 0") != NULL);
    ky_test_cli_free(&r);
}

static void test_headers_cors_and_no_webui(void) {
    test_server s;
    const char *extra[] = {"--api-key", "sekrit", "--cors", "http://app.example", NULL};
    REQUIRE(tsrv_start(&s, extra));
    http_resp r;
    CHECK(http_do(s.port, "GET", "/", "Accept-Encoding: gzip, br\r\n", NULL, &r) == 200);
    CHECK(r.headers && strstr(r.headers, "Content-Encoding: gzip") &&
          strstr(r.headers, "Content-Security-Policy: default-src 'none'"));
    CHECK(r.n_body > 1000 && (unsigned char)r.body[0] == 0x1f && (unsigned char)r.body[1] == 0x8b);
    const char *etag = r.headers ? strstr(r.headers, "ETag: ") : NULL;
    char inm[128] = "";
    if (etag)
        snprintf(inm, sizeof inm, "If-None-Match: %.*s\r\n", (int)strcspn(etag + 6, "\r\n"),
                 etag + 6);
    http_resp_free(&r);
    CHECK(etag && http_do(s.port, "GET", "/", inm, NULL, &r) == 304);
    http_resp_free(&r);
    CHECK(http_do(s.port, "GET", "/index.html", NULL, NULL, &r) == 200 && r.body &&
          strstr(r.body, "<title>kaiyuan</title>"));
    http_resp_free(&r);
    CHECK(http_do(s.port, "POST", "/", NULL, "x", &r) == 405);
    http_resp_free(&r);
    /* preflight: allowed origin 204 with the headers, other origins 403; no key needed */
    CHECK(http_do(s.port, "OPTIONS", "/v1/chat/completions", "Origin: http://app.example\r\n", NULL,
                  &r) == 204);
    CHECK(r.headers && strstr(r.headers, "Access-Control-Allow-Origin: http://app.example") &&
          strstr(r.headers, "Access-Control-Allow-Headers: Authorization, Content-Type"));
    http_resp_free(&r);
    CHECK(http_do(s.port, "OPTIONS", "/v1/chat/completions", "Origin: http://evil.example\r\n",
                  NULL, &r) == 403);
    CHECK(r.body && strstr(r.body, "cors_origin_not_allowed"));
    http_resp_free(&r);
    CHECK(http_do(s.port, "GET", "/v1/models",
                  "Origin: http://app.example\r\nAuthorization: Bearer sekrit\r\n", NULL,
                  &r) == 200);
    CHECK(r.headers && strstr(r.headers, "Access-Control-Allow-Origin: http://app.example"));
    http_resp_free(&r);
    CHECK(http_do(s.port, "GET", "/v1/models",
                  "Origin: http://evil.example\r\nAuthorization: Bearer sekrit\r\n", NULL,
                  &r) == 200);
    CHECK(r.headers && !strstr(r.headers, "Access-Control-Allow-Origin"));
    http_resp_free(&r);
    CHECK(tsrv_stop(&s, SIGTERM, 30) == 0);
    const char *off[] = {"--no-webui", NULL};
    REQUIRE(tsrv_start(&s, off));
    CHECK(http_do(s.port, "GET", "/", NULL, NULL, &r) == 404);
    http_resp_free(&r);
    CHECK(tsrv_stop(&s, SIGTERM, 30) == 0);
}

int main(void) {
    RUN(test_headers_cors_and_no_webui);
    RUN(test_browser);
    TEST_EXIT();
}
