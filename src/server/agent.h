/* agent.h — the load-balancer agent port: HAProxy's agent-check protocol (layer: server).
 *
 * With `--agent-port N` the server listens on a second TCP port. Every connection gets one line
 * and is closed: the replica's state and load in HAProxy's agent-check words ("ready up 100%",
 * "drain", "down#loading"), computed from the server's atomics only. The I/O thread accepts and
 * writes; the reply never takes a lock the engine thread holds.
 */
#ifndef KY_SERVER_AGENT_H
#define KY_SERVER_AGENT_H

#include <stddef.h>

/* Formats the agent reply for a server in state `state` (SRV_LOADING / READY / DRAINING /
 * FAILED) with `parallel` sequences, `running` requests holding sequences and `waiting` queued,
 * into buf (NUL-terminated, ends with "\n"; cap >= 32). READY answers "ready up P%": P is 100
 * while nothing waits, else 100 * parallel / (parallel + waiting) rounded down to a multiple of
 * 25, at least 25 (coarse steps, so a consistent-hash ring seldom moves). DRAINING answers
 * "drain", LOADING "down#loading", FAILED "down#failed". Returns the length written. */
size_t srv_agent_format(int state, int parallel, long running, long waiting, char *buf, size_t cap);

/* Opens a non-blocking listening TCP socket on host:port (port 0: any free port); *bound gets
 * the port. Returns the fd, or -1 with errno set. */
int srv_agent_listen(const char *host, int port, int *bound);

struct srv_server;
/* Accepts every pending connection on listening socket fd and answers each with the reply for
 * s's current state (srv_agent_format), then closes it. Never blocks: a client whose socket
 * buffer cannot take the short line is closed without it. */
void srv_agent_serve(struct srv_server *s, int fd);

#endif
