/* test_cluster.c — runs tests/js/cluster.mjs: 3 replicas of the CLI under test
 * ($KY_KAIYUAN_BIN, so the ASan pass runs ASan replicas) behind HAProxy through
 * scripts/cluster.sh and deploy/haproxy/haproxy.cfg.in, on loopback: cache-aware routing vs
 * roundrobin, X-Session-Id, SIGKILL fail-over and restart, SIGTERM drain. Each check of the
 * script is one "ok" / "not ok" line of this program. Needs haproxy and curl (scripts/deps.sh)
 * and node.
 */
#include "server/srv_util.h"

static void test_cluster(void) {
    char bin[4200], model[4200];
    snprintf(bin, sizeof bin, "KY_KAIYUAN_BIN=%s", ky_test_cli_binary());
    snprintf(model, sizeof model, "KY_MODEL=%s", ky_test_shared("models/chat-qwen3-q8_0.gguf"));
    const char *env[] = {bin, model, NULL};
    const char *argv[] = {"/usr/bin/env", "node", "tests/js/cluster.mjs", NULL};
    ky_cli_result r;
    REQUIRE(ky_test_spawn(argv, env, &r) == 0);
    if (r.out) fputs(r.out, stdout); /* the script's own ok / not ok lines */
    if (r.err) fputs(r.err, stdout);
    fflush(stdout);
    CHECKF(r.exit_code == 0, "node cluster.mjs exited %d", r.exit_code);
    ky_test_cli_free(&r);
}

int main(void) {
    if (system("command -v haproxy >/dev/null && command -v curl >/dev/null") != 0) {
        printf("not ok - haproxy or curl missing: run scripts/deps.sh\n");
        return 1;
    }
    RUN(test_cluster);
    TEST_EXIT();
}
