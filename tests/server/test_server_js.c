/* test_server_js.c — runs the JavaScript tests under tests/js against `kaiyuan serve`: the
 * official OpenAI client (openai.test.mjs, node:test) and the loopback load test (load.mjs).
 * Starts three servers (main: key + alias + 64 KiB body limit; busy: 1 sequence, no queue, for
 * 429; load: 4 sequences), and checks that each exits 0 on SIGTERM (under ASan that includes
 * the leak check). Needs node and tests/js/node_modules (scripts/deps.sh runs npm ci).
 */
#include "server/srv_util.h"

static void print_output(const ky_cli_result *r) {
    if (r->out) fputs(r->out, stdout);
    if (r->err) fputs(r->err, stdout);
    fflush(stdout);
}

static test_server S_main, S_busy, S_load;

static void run_node(const char *script, bool node_test, const char *const *env) {
    char path[256];
    snprintf(path, sizeof path, "tests/js/%s", script);
    const char *argv_test[] = {"/usr/bin/env",         "node", "--test",
                               "--test-reporter=spec", path,   NULL};
    const char *argv_run[] = {"/usr/bin/env", "node", path, NULL};
    ky_cli_result r;
    REQUIRE(ky_test_spawn(node_test ? argv_test : argv_run, env, &r) == 0);
    print_output(&r);
    CHECKF(r.exit_code == 0, "node %s exited %d", script, r.exit_code);
    ky_test_cli_free(&r);
}

static void test_openai_client(void) {
    char url[64], busy[64];
    snprintf(url, sizeof url, "KY_URL=http://127.0.0.1:%d", S_main.port);
    snprintf(busy, sizeof busy, "KY_BUSY_URL=http://127.0.0.1:%d", S_busy.port);
    const char *env[] = {url, busy, "KY_KEY=sk-js-test", NULL};
    run_node("openai.test.mjs", true, env);
}

static void test_load(void) {
    char url[64];
    snprintf(url, sizeof url, "KY_URL=http://127.0.0.1:%d", S_load.port);
    const char *env[] = {url, NULL};
    run_node("load.mjs", false, env);
}

static void test_clean_exit(void) {
    CHECK(tsrv_stop(&S_main, SIGTERM, 60) == 0);
    CHECK(tsrv_stop(&S_busy, SIGTERM, 60) == 0);
    CHECK(tsrv_stop(&S_load, SIGINT, 60) == 0);
}

int main(void) {
    if (access("tests/js/node_modules/openai/package.json", R_OK) != 0) {
        printf("not ok - tests/js/node_modules missing: run scripts/deps.sh (npm ci)\n");
        return 1;
    }
    const char *main_args[] = {"--parallel", "4",          "-c",      "2048",
                               "--api-key",  "sk-js-test", "--alias", "kai",
                               "--max-body", "65536",      NULL};
    const char *busy_args[] = {"--parallel", "1", "--queue", "0", "-c", "4096", NULL};
    const char *load_args[] = {"--parallel", "4", "-c", "2048", "--queue", "64", NULL};
    if (!tsrv_start(&S_main, main_args) || !tsrv_start(&S_busy, busy_args) ||
        !tsrv_start(&S_load, load_args)) {
        printf("not ok - start servers (logs %s %s %s)\n", S_main.log, S_busy.log, S_load.log);
        tsrv_stop(&S_main, SIGKILL, 5);
        tsrv_stop(&S_busy, SIGKILL, 5);
        tsrv_stop(&S_load, SIGKILL, 5);
        return 1;
    }
    RUN(test_openai_client);
    RUN(test_load);
    RUN(test_clean_exit);
    TEST_EXIT();
}
