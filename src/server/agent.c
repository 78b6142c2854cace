/* agent.c — HAProxy agent-check replies on the agent port (layer: server).
 *
 * A connection is accepted, answered with one line and closed, all on the I/O thread and
 * without blocking; the load comes from the metrics atomics (running, waiting) and s->state.
 */
#include "server/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server_int.h"

size_t srv_agent_format(int state, int parallel, long running, long waiting, char *buf,
                        size_t cap) {
    (void)running;
    int n;
    if (state == SRV_READY) {
        long pct = 100;
        if (waiting > 0 && parallel > 0) {
            pct = 100L * parallel / (parallel + waiting);
            pct = pct / 25 * 25;
            if (pct < 25) pct = 25;
        }
        n = snprintf(buf, cap, "ready up %ld%%\n", pct);
    } else if (state == SRV_DRAINING) {
        n = snprintf(buf, cap, "drain\n");
    } else if (state == SRV_LOADING) {
        n = snprintf(buf, cap, "down#loading\n");
    } else {
        n = snprintf(buf, cap, "down#failed\n");
    }
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

int srv_agent_listen(const char *host, int port, int *bound) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

void srv_agent_serve(struct srv_server *s, int fd) {
    for (;;) {
        int c = accept(fd, NULL, NULL); /* the reply is sent with MSG_DONTWAIT */
        if (c < 0) return;              /* EAGAIN: none left (or a transient error: next wakeup) */
        char line[64];
        size_t n =
            srv_agent_format(atomic_load(&s->state), s->cfg.parallel,
                             (long)atomic_load_explicit(&s->metrics.running, memory_order_relaxed),
                             (long)atomic_load_explicit(&s->metrics.waiting, memory_order_relaxed),
                             line, sizeof line);
        if (send(c, line, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* the peer left: nothing to do */
        }
        close(c);
    }
}
