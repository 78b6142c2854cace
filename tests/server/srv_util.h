/* srv_util.h — helpers for tests that run `kaiyuan serve`: start/stop the server on a free
 * loopback port and talk raw HTTP/1.1 to it (header-only; static functions).
 *
 * The server is the CLI under test ($KY_KAIYUAN_BIN, the ASan build in the sanitizer pass),
 * started with --port 0; the port is read from its "listening on" line on stderr (a temp file).
 */
#ifndef KY_TESTS_SRV_UTIL_H
#define KY_TESTS_SRV_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

extern char **environ;

typedef struct test_server {
    pid_t pid;
    int port;
    char log[512];
} test_server;

static inline double tsrv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void tsrv_sleep(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

typedef struct http_resp {
    int status;
    char *headers; /* raw header block */
    char *body;    /* de-chunked */
    size_t n_body;
} http_resp;

static inline void http_resp_free(http_resp *r) {
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static inline int tsrv_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {120, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static inline int tsrv_send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Sends method path with body (may be NULL) and extra header lines (each ending in \r\n). */
static inline int tsrv_send_request(int fd, const char *method, const char *path, const char *extra,
                                    const char *body, size_t n_body) {
    char head[16384];
    int n =
        snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s",
                 method, path, extra ? extra : "");
    if (body)
        n += snprintf(head + n, sizeof head - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", n_body);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (tsrv_send_all(fd, head, (size_t)n)) return -1;
    return body && n_body ? tsrv_send_all(fd, body, n_body) : 0;
}

static inline char *tsrv_dechunk(const char *p, size_t n, size_t *out_n) {
    char *out = malloc(n + 1);
    size_t o = 0, i = 0;
    while (i < n) {
        char *end;
        unsigned long len = strtoul(p + i, &end, 16);
        const char *nl = memchr(p + i, '\n', n - i);
        if (!nl || len == 0) break;
        i = (size_t)(nl - p) + 1;
        if (i + len > n) len = n - i;
        memcpy(out + o, p + i, len);
        o += len;
        i += len + 2;
        (void)end;
    }
    out[o] = 0;
    *out_n = o;
    return out;
}

/* Parses a complete response held in raw[0..n). */
static inline void tsrv_parse(const char *raw, size_t n, http_resp *r) {
    memset(r, 0, sizeof *r);
    const char *sep = NULL;
    for (size_t i = 0; i + 3 < n; i++)
        if (!memcmp(raw + i, "\r\n\r\n", 4)) {
            sep = raw + i;
            break;
        }
    if (!sep || sscanf(raw, "HTTP/1.%*d %d", &r->status) != 1) {
        r->status = -1;
        return;
    }
    size_t hl = (size_t)(sep - raw);
    r->headers = malloc(hl + 1);
    memcpy(r->headers, raw, hl);
    r->headers[hl] = 0;
    const char *b = sep + 4;
    size_t bn = n - (size_t)(b - raw);
    if (strstr(r->headers, "chunked")) {
        r->body = tsrv_dechunk(b, bn, &r->n_body);
    } else {
        r->body = malloc(bn + 1);
        memcpy(r->body, b, bn);
        r->body[bn] = 0;
        r->n_body = bn;
    }
}

static inline char *tsrv_read_all(int fd, size_t *n_out) {
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
        if (k <= 0) break;
        n += (size_t)k;
    }
    buf[n] = 0;
    *n_out = n;
    return buf;
}

/* One request on a fresh connection; reads to EOF. Returns the status (-1: no response). */
static inline int http_do(int port, const char *method, const char *path, const char *extra,
                          const char *body, http_resp *r) {
    memset(r, 0, sizeof *r);
    r->status = -1;
    int fd = tsrv_connect(port);
    if (fd < 0) return -1;
    if (tsrv_send_request(fd, method, path, extra, body, body ? strlen(body) : 0) == 0) {
        size_t n;
        char *raw = tsrv_read_all(fd, &n);
        tsrv_parse(raw, n, r);
        free(raw);
    }
    close(fd);
    return r->status;
}

static inline int http_post(int port, const char *path, const char *body, http_resp *r) {
    return http_do(port, "POST", path, NULL, body, r);
}

/* Reads from fd until needle appears in what was read (or EOF/timeout). */
static inline bool tsrv_read_until(int fd, const char *needle, double timeout_s) {
    char buf[65536];
    size_t n = 0;
    double end = tsrv_now() + timeout_s;
    while (tsrv_now() < end) {
        ssize_t k = recv(fd, buf + n, sizeof buf - n - 1, 0);
        if (k <= 0) return false;
        n += (size_t)k;
        buf[n] = 0;
        if (strstr(buf, needle)) return true;
        if (n > sizeof buf / 2) {
            size_t keep = strlen(needle);
            memmove(buf, buf + n - keep, keep);
            n = keep;
        }
    }
    return false;
}

/* Starts the server with extra args (NULL-terminated) and waits until /health answers 200. */
static inline bool tsrv_start(test_server *s, const char *const *extra) {
    memset(s, 0, sizeof *s);
    static int counter;
    snprintf(s->log, sizeof s->log, "%s/server-%d.log", ky_test_tmpdir(), counter++);
    const char *argv[64];
    int n = 0;
    argv[n++] = ky_test_cli_binary();
    argv[n++] = "serve";
    argv[n++] = "-m";
    static char model[4096];
    snprintf(model, sizeof model, "%s", ky_test_shared("models/chat-qwen3-q8_0.gguf"));
    argv[n++] = model;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "-t";
    argv[n++] = "2";
    for (int i = 0; extra && extra[i] && n < 62; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&s->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    double end = tsrv_now() + 120;
    while (tsrv_now() < end) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "server exited early; log %s\n", s->log);
            s->pid = 0;
            return false;
        }
        if (!s->port) {
            char *log = ky_test_read_file(s->log, NULL);
            const char *p = log ? strstr(log, "listening on http://127.0.0.1:") : NULL;
            if (p) s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
            free(log);
        }
        if (s->port) {
            http_resp r;
            int st = http_do(s->port, "GET", "/health", NULL, NULL, &r);
            http_resp_free(&r);
            if (st == 200) return true;
        }
        tsrv_sleep(0.05);
    }
    return false;
}

/* Sends sig and waits (at most timeout_s) for the exit; returns the exit status, -1 when it did
 * not exit (then it is killed) or died from a signal. */
static inline int tsrv_stop(test_server *s, int sig, double timeout_s) {
    if (s->pid <= 0) return -1;
    kill(s->pid, sig);
    double end = tsrv_now() + timeout_s;
    int status = 0;
    while (tsrv_now() < end) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        tsrv_sleep(0.02);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    return -1;
}

/* Value of a metric line "name value" (first match) in a /metrics body; -1 when absent.
 * extra: header lines (the Authorization header), may be NULL. */
static inline double tsrv_metric_h(int port, const char *extra, const char *name) {
    http_resp r;
    double v = -1;
    if (http_do(port, "GET", "/metrics", extra, NULL, &r) == 200) {
        size_t nl = strlen(name);
        for (char *p = r.body; p && *p;) {
            if (!strncmp(p, name, nl) && p[nl] == ' ') {
                v = atof(p + nl + 1);
                break;
            }
            p = strchr(p, '\n');
            if (p) p++;
        }
    }
    http_resp_free(&r);
    return v;
}

static inline double tsrv_metric(int port, const char *name) {
    return tsrv_metric_h(port, NULL, name);
}

#endif
