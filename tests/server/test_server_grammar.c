/* test_server_grammar.c — constrained output and tool calls of `kaiyuan serve`: runs
 * tests/grammar/js/server.test.mjs and thinking.test.mjs (official openai client + ajv) against a
 * server on the random-weight chat model, then checks a clean exit. Needs node, tests/js/node_modules and
 * tests/grammar/js/node_modules (scripts/deps.sh runs npm ci).
 */
#include "server/srv_util.h"

static test_server S;

static void test_openai_grammar(void) {
    char url[64];
    snprintf(url, sizeof url, "KY_URL=http://127.0.0.1:%d", S.port);
    /* the compile-thread test's schema: smaller under the sanitizers (a compile takes ~15x) */
    const char *env[] = {url, ky_test_sanitized() ? "KY_BIG_SCHEMA_PROPS=4" : NULL, NULL};
    const char *argv[] = {"/usr/bin/env",
                          "node",
                          "--test",
                          "--test-reporter=spec",
                          "tests/grammar/js/server.test.mjs",
                          "tests/grammar/js/thinking.test.mjs",
                          NULL};
    ky_cli_result r;
    REQUIRE(ky_test_spawn(argv, env, &r) == 0);
    if (r.out) fputs(r.out, stdout);
    if (r.err) fputs(r.err, stdout);
    CHECKF(r.exit_code == 0, "node exited %d", r.exit_code);
    ky_test_cli_free(&r);
}

static void test_clean_exit(void) { CHECK(tsrv_stop(&S, SIGTERM, 60) == 0); }

int main(void) {
    if (access("tests/js/node_modules/openai/package.json", R_OK) != 0 ||
        access("tests/grammar/js/node_modules/ajv/package.json", R_OK) != 0) {
        printf("not ok - node_modules missing: run scripts/deps.sh (npm ci)\n");
        return 1;
    }
    const char *args[] = {"--parallel", "2", "-c", "2048", NULL};
    if (!tsrv_start(&S, args)) {
        printf("not ok - start server (log %s)\n", S.log);
        tsrv_stop(&S, SIGKILL, 5);
        return 1;
    }
    RUN(test_openai_grammar);
    RUN(test_clean_exit);
    TEST_EXIT();
}
