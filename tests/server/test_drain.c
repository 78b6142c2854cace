/* test_drain.c — what a load balancer sees of one `kaiyuan serve`: the agent-check replies
 * (agent.c's srv_agent_format, then the live --agent-port) and the SIGTERM drain: /health and
 * new requests get 503 with Connection: close while a started stream runs to [DONE], the agent
 * says "drain", and the process exits 0 once the stream is done. GETs keep their connection.
 */
#include "server/agent.h"
#include "server/server_int.h"
#include "server/srv_util.h"

static void test_agent_format(void) {
    char b[64];
    srv_agent_format(SRV_READY, 4, 0, 0, b, sizeof b);
    CHECKF(!strcmp(b, "ready up 100%\n"), "%s", b);
    srv_agent_format(SRV_READY, 4, 4, 0, b, sizeof b); /* busy but nothing waits */
    CHECKF(!strcmp(b, "ready up 100%\n"), "%s", b);
    srv_agent_format(SRV_READY, 4, 4, 1, b, sizeof b); /* 4/5 = 80% -> 75% */
    CHECKF(!strcmp(b, "ready up 75%\n"), "%s", b);
    srv_agent_format(SRV_READY, 4, 4, 4, b, sizeof b);
    CHECKF(!strcmp(b, "ready up 50%\n"), "%s", b);
    srv_agent_format(SRV_READY, 2, 2, 100, b, sizeof b); /* floor 25% */
    CHECKF(!strcmp(b, "ready up 25%\n"), "%s", b);
    srv_agent_format(SRV_DRAINING, 4, 1, 0, b, sizeof b);
    CHECKF(!strcmp(b, "drain\n"), "%s", b);
    srv_agent_format(SRV_LOADING, 4, 0, 0, b, sizeof b);
    CHECKF(!strcmp(b, "down#loading\n"), "%s", b);
    srv_agent_format(SRV_FAILED, 4, 0, 0, b, sizeof b);
    CHECKF(!strcmp(b, "down#failed\n"), "%s", b);
    size_t n = srv_agent_format(SRV_READY, 4, 0, 0, b, 8); /* truncated, still terminated */
    CHECK(n == 7 && strlen(b) == 7);
}

static test_server S;
static int agent_port;

/* One agent-check: connect, read the line until the server closes. */
static char *agent_read(void) {
    int fd = tsrv_connect(agent_port);
    if (fd < 0) return NULL;
    size_t n = 0;
    char *s = tsrv_read_all(fd, &n);
    close(fd);
    return s;
}

static void test_agent_live(void) {
    REQUIRE(agent_port > 0);
    char *s = agent_read();
    CHECKF(s && !strcmp(s, "ready up 100%\n"), "agent said '%s'", s ? s : "(nothing)");
    free(s);
}

/* A balancer's and a scraper's GETs reuse their connection (MHD closes it when a response is
 * queued before the request was read to its end; the server answers GETs on the next call). */
static void test_get_keep_alive(void) {
    int fd = tsrv_connect(S.port);
    REQUIRE(fd >= 0);
    for (int i = 0; i < 3; i++) {
        char req[128]; /* tsrv_send_request asks for Connection: close */
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                         i == 1 ? "/metrics" : "/health");
        CHECK(tsrv_send_all(fd, req, (size_t)n) == 0);
        CHECKF(tsrv_read_until(fd, i == 1 ? "kaiyuan:requests_waiting" : "{\"status\":\"ok\"}", 10),
               "GET %d on one connection", i);
    }
    close(fd);
}

static void test_sigterm_drain(void) {
    const char *body = "{\"prompt\":\"Drain me\",\"max_tokens\":48,\"temperature\":0,"
                       "\"stream\":true}";
    int fd = tsrv_connect(S.port);
    REQUIRE(fd >= 0);
    tsrv_send_request(fd, "POST", "/v1/completions", NULL, body, strlen(body));
    REQUIRE(tsrv_read_until(fd, "data: ", 30));
    kill(S.pid, SIGTERM);
    /* The signal is read by the I/O loop's next wakeup (a 50 ms tick at most). */
    char *a = NULL;
    for (int i = 0; i < 100; i++) {
        free(a);
        a = agent_read();
        if (a && !strcmp(a, "drain\n")) break;
        tsrv_sleep(0.01);
    }
    CHECKF(a && !strcmp(a, "drain\n"), "agent said '%s'", a ? a : "(nothing)");
    free(a);
    http_resp r;
    CHECK(http_do(S.port, "GET", "/health", NULL, NULL, &r) == 503);
    http_resp_free(&r);
    const char *b2 = "{\"prompt\":\"late\",\"max_tokens\":2}";
    CHECK(http_post(S.port, "/v1/completions", b2, &r) == 503);
    CHECKF(r.headers && strstr(r.headers, "Connection: close"), "headers: %s",
           r.headers ? r.headers : "");
    CHECK(r.body && strstr(r.body, "shutting down"));
    http_resp_free(&r);
    CHECK(tsrv_read_until(fd, "data: [DONE]", 60));
    close(fd);
    int rc = tsrv_stop(&S, 0, 60);
    CHECKF(rc == 0, "exit status %d", rc);
    CHECK(tsrv_connect(S.port) < 0);
}

int main(void) {
    RUN(test_agent_format);
    const char *args[] = {"--parallel", "2", "-c", "1024", "--agent-port", "0", NULL};
    if (!tsrv_start(&S, args)) {
        printf("not ok - start server (log %s)\n", S.log);
        tsrv_stop(&S, SIGKILL, 5);
        return 1;
    }
    char *log = ky_test_read_file(S.log, NULL);
    const char *p = log ? strstr(log, "agent on 127.0.0.1:") : NULL;
    agent_port = p ? atoi(p + strlen("agent on 127.0.0.1:")) : 0;
    free(log);
    RUN(test_agent_live);
    RUN(test_get_keep_alive);
    RUN(test_sigterm_drain);
    if (S.pid) tsrv_stop(&S, SIGKILL, 5);
    TEST_EXIT();
}
