/* http.c — the I/O thread: libmicrohttpd in our own epoll loop (layer: server).
 *
 * MHD runs in external epoll mode (MHD_USE_EPOLL, no internal threads) with suspend/resume.
 * One epoll set holds MHD's epoll fd, the engine's eventfd (new output), a signalfd
 * (SIGTERM/SIGINT: drain), a periodic timerfd (MHD timeouts, hang-up checks, drain end) and,
 * with --agent-port, the agent's listening socket (agent.c). While draining the HTTP port stays
 * open so a load balancer's health check sees 503 and new requests are refused with 503.
 * This thread never decodes: it checks the HTTP-level rules (route, method, auth, sizes,
 * capacity), parses the body into a request, submits it and suspends the connection; when the
 * engine has output the connection is resumed and the bytes are copied out. A suspended
 * connection is not polled by MHD, so a client that hangs up then is found by peeking its
 * socket on every tick.
 */
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "base/limits.h"
#include "base/strbuf.h"
#include "server/agent.h"
#include "server/api_response.h"
#include "server/server_int.h"
#include "server/webui.h"

enum route {
    R_NONE,
    R_HEALTH,
    R_MODELS,
    R_METRICS,
    R_COMPLETIONS,
    R_CHAT,
    R_TOKENIZE,
    R_DETOKENIZE,
    R_WEBUI,
};

typedef struct conn_state {
    enum route route;
    ky_strbuf body;
    bool too_large;
    bool counted;     /* requests_total counted for this request */
    bool get_pending; /* a GET answered on the next call (MHD closes a connection whose
                         response is queued before the request is fully read) */
    srv_request *req;
    int fd;
    const char *cors;               /* the allowed Origin of this request (from --cors), or NULL */
    struct conn_state *prev, *next; /* list of requests handed to the engine */
} conn_state;

typedef struct srv_http {
    srv_server *s;
    struct MHD_Daemon *d;
    conn_state *live; /* requests submitted and not completed */
    int n_live;
} srv_http;

/* ------------------------------------------------------------------------------------------ */
/* Responses */

/* Cross-origin headers for a request whose Origin --cors allows. */
static void add_cors(struct MHD_Response *resp, const conn_state *cs) {
    if (!cs || !cs->cors) return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", cs->cors);
    MHD_add_response_header(resp, "Vary", "Origin");
}

static enum MHD_Result send_body(srv_http *h, conn_state *cs, struct MHD_Connection *conn,
                                 int status, const char *type, char *body, size_t len,
                                 const char *extra_name, const char *extra_value) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (extra_name) MHD_add_response_header(resp, extra_name, extra_value);
    add_cors(resp, cs);
    if (cs && !cs->counted && cs->route != R_HEALTH && cs->route != R_METRICS) {
        cs->counted = true;
        srv_metrics_request(&h->s->metrics, status);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(srv_http *h, conn_state *cs, struct MHD_Connection *conn,
                                  const api_error *e, const char *extra_name,
                                  const char *extra_value) {
    char *body = api_error_json(e);
    return send_body(h, cs, conn, e->status, "application/json", body, body ? strlen(body) : 0,
                     extra_name, extra_value);
}

static enum MHD_Result fail(srv_http *h, conn_state *cs, struct MHD_Connection *conn, int status,
                            const char *type, const char *code, const char *msg) {
    api_error e;
    api_errorf(&e, status, type, NULL, code, "%s", msg);
    return send_error(h, cs, conn, &e, NULL, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Streaming */

static ssize_t read_outbox(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    srv_request *r = cls;
    if (atomic_load(&r->cancelled)) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    while (r->head && n < max) {
        srv_chunk *c = r->head;
        size_t k = c->len - c->off;
        if (k > max - n) k = max - n;
        memcpy(buf + n, c->data + c->off, k);
        c->off += k;
        n += k;
        if (c->off == c->len) {
            r->head = c->next;
            if (!r->head) r->tail = NULL;
            free(c);
        }
    }
    bool done = r->done;
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_sub(&r->out_bytes, n);
    if (n) return (ssize_t)n;
    if (done) return MHD_CONTENT_READER_END_OF_STREAM;
    if (r->conn) {
        r->suspended = true;
        MHD_suspend_connection(r->conn);
    }
    return 0;
}

static void release_reader(void *cls) { srv_request_unref(cls); }

/* The engine decided the response (or not yet): queue it, or suspend again. */
static enum MHD_Result on_resumed(srv_http *h, conn_state *cs, struct MHD_Connection *conn) {
    srv_request *r = cs->req;
    if (atomic_load(&r->cancelled)) return MHD_NO;
    pthread_mutex_lock(&r->mu);
    int status = r->status;
    bool sse = r->sse, done = r->done;
    char *body = NULL;
    size_t len = 0;
    if (status && !sse && done) {
        ky_strbuf sb;
        ky_strbuf_init(&sb);
        for (srv_chunk *c = r->head, *next; c; c = next) {
            next = c->next;
            ky_strbuf_append(&sb, c->data + c->off, c->len - c->off);
            free(c);
        }
        r->head = r->tail = NULL;
        atomic_store(&r->out_bytes, 0);
        body = sb.failed ? NULL : sb.data;
        len = sb.failed ? 0 : sb.len;
        if (sb.failed) ky_strbuf_free(&sb);
    }
    if (!status || (!sse && !done)) {
        r->suspended = true;
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&r->mu);
        return MHD_YES;
    }
    pthread_mutex_unlock(&r->mu);
    if (!sse) {
        if (!body) return fail(h, cs, conn, 500, "server_error", NULL, "out of memory");
        return send_body(h, cs, conn, status, "application/json", body, len, NULL, NULL);
    }
    srv_request_ref(r);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                  read_outbox, r, release_reader);
    if (!resp) {
        srv_request_unref(r);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    add_cors(resp, cs);
    if (!cs->counted) {
        cs->counted = true;
        srv_metrics_request(&h->s->metrics, status);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Request handling */

static enum route route_of(const char *url) {
    static const struct {
        const char *path;
        enum route r;
    } k[] = {
        {"/health", R_HEALTH},           {"/v1/health", R_HEALTH},
        {"/v1/models", R_MODELS},        {"/models", R_MODELS},
        {"/metrics", R_METRICS},         {"/v1/completions", R_COMPLETIONS},
        {"/completions", R_COMPLETIONS}, {"/v1/chat/completions", R_CHAT},
        {"/chat/completions", R_CHAT},   {"/tokenize", R_TOKENIZE},
        {"/detokenize", R_DETOKENIZE},   {"/", R_WEBUI},
        {"/index.html", R_WEBUI},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(url, k[i].path)) return k[i].r;
    return R_NONE;
}

static bool key_matches(const char *given, const char *key) {
    size_t a = strlen(given), b = strlen(key);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(given[i < a ? i : 0] ^ key[i]);
    return diff == 0;
}

static bool authorized(srv_http *h, struct MHD_Connection *conn) {
    const char *key = h->s->cfg.api_key;
    if (!key) return true;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) return false;
    return key_matches(auth + 7, key);
}

/* The embedded chat page: gzip when the client accepts it, an ETag from the build's script hash
 * (If-None-Match gives 304), a strict Content-Security-Policy. It holds no secret, so it needs
 * no API key; every API call it makes does. */
static enum MHD_Result send_webui(srv_http *h, conn_state *cs, struct MHD_Connection *conn) {
    srv_webui_page p = srv_webui();
    const char *hash = strstr(p.csp, "sha256-");
    char etag[64];
    snprintf(etag, sizeof etag, "\"%.20s\"", hash ? hash + 7 : "kaiyuan");
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
    bool gz = ae && strstr(ae, "gzip") != NULL;
    bool fresh = inm && !strcmp(inm, etag);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(fresh ? 0
                                        : gz  ? p.gz_len
                                              : p.html_len,
                                        (void *)(fresh ? ""
                                                 : gz  ? (const void *)p.gz
                                                       : (const void *)p.html),
                                        MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    if (gz && !fresh) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, "Content-Security-Policy", p.csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    (void)h;
    cs->counted = true; /* page loads are not API requests */
    enum MHD_Result ret = MHD_queue_response(conn, fresh ? 304 : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A CORS preflight (OPTIONS) for an API route: 204 with the allowed methods and headers when
 * the Origin is one --cors allows, 403 otherwise. */
static enum MHD_Result send_preflight(srv_http *h, conn_state *cs, struct MHD_Connection *conn,
                                      bool is_get) {
    if (!cs->cors)
        return fail(
            h, cs, conn, 403, "invalid_request_error", "cors_origin_not_allowed",
            "Cross-origin requests from this origin are not allowed (kaiyuan serve --cors ORIGIN)");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    add_cors(resp, cs);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                            is_get ? "GET, OPTIONS" : "POST, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    cs->counted = true;
    enum MHD_Result ret = MHD_queue_response(conn, 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result handle_get(srv_http *h, conn_state *cs, struct MHD_Connection *conn) {
    srv_server *s = h->s;
    int state = atomic_load(&s->state);
    if (cs->route == R_HEALTH) {
        if (state == SRV_READY) {
            static const char ok[] = "{\"status\":\"ok\"}";
            return send_body(h, cs, conn, 200, "application/json", strdup(ok), sizeof ok - 1, NULL,
                             NULL);
        }
        return fail(h, cs, conn, 503, "unavailable_error", NULL,
                    state == SRV_LOADING ? "Loading model" : "The server is shutting down");
    }
    if (cs->route == R_METRICS) {
        ky_strbuf sb;
        ky_strbuf_init(&sb);
        srv_metrics_format(&s->metrics, &sb);
        if (sb.failed) {
            ky_strbuf_free(&sb);
            return fail(h, cs, conn, 500, "server_error", NULL, "out of memory");
        }
        return send_body(h, cs, conn, 200, "text/plain; version=0.0.4", sb.data, sb.len, NULL,
                         NULL);
    }
    char *body = api_models_json(s->model_name, s->created);
    return send_body(h, cs, conn, 200, "application/json", body, body ? strlen(body) : 0, NULL,
                     NULL);
}

static void live_add(srv_http *h, conn_state *cs) {
    cs->prev = NULL;
    cs->next = h->live;
    if (h->live) h->live->prev = cs;
    h->live = cs;
    h->n_live++;
}

static void live_remove(srv_http *h, conn_state *cs) {
    if (cs->prev)
        cs->prev->next = cs->next;
    else
        h->live = cs->next;
    if (cs->next) cs->next->prev = cs->prev;
    h->n_live--;
}

/* The body is complete: validate, submit, suspend. */
static enum MHD_Result handle_post(srv_http *h, conn_state *cs, struct MHD_Connection *conn) {
    srv_server *s = h->s;
    if (cs->too_large) {
        api_error e;
        api_errorf(&e, 413, "invalid_request_error", NULL, "request_too_large",
                   "The request body is larger than %zu bytes (--max-body)", s->cfg.max_body);
        return send_error(h, cs, conn, &e, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    int state = atomic_load(&s->state);
    if (state != SRV_READY) { /* a balancer retries a 503 elsewhere; close so it reconnects */
        api_error e;
        api_errorf(&e, 503, "unavailable_error", NULL, NULL, "%s",
                   state == SRV_LOADING ? "Loading model" : "The server is shutting down");
        return send_error(h, cs, conn, &e, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    api_kind kind = cs->route == R_CHAT         ? API_CHAT
                    : cs->route == R_TOKENIZE   ? API_TOKENIZE
                    : cs->route == R_DETOKENIZE ? API_DETOKENIZE
                                                : API_COMPLETION;
    api_request api;
    api_error e;
    if (!api_request_parse(kind, cs->body.data ? cs->body.data : "", cs->body.len,
                           atomic_load(&s->n_vocab), &api, &e))
        return send_error(h, cs, conn, &e, NULL, NULL);
    ky_strbuf_free(&cs->body);
    if (s->cfg.alias && api.model && strcmp(api.model, s->cfg.alias) != 0) {
        api_errorf(&e, 404, "invalid_request_error", "model", "model_not_found",
                   "The model '%.200s' does not exist (this server serves '%.200s')", api.model,
                   s->cfg.alias);
        api_request_free(&api);
        return send_error(h, cs, conn, &e, NULL, NULL);
    }
    if (atomic_load(&s->inflight) >= s->cfg.parallel + s->cfg.queue) {
        api_request_free(&api);
        api_errorf(&e, 429, "rate_limit_error", NULL, "rate_limit_exceeded",
                   "The server is busy: %d requests running or queued (--parallel %d + --queue "
                   "%d); retry later",
                   atomic_load(&s->inflight), s->cfg.parallel, s->cfg.queue);
        return send_error(h, cs, conn, &e, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    srv_request *r = srv_request_new(s, &api);
    if (!r) return fail(h, cs, conn, 500, "server_error", NULL, "out of memory");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    cs->fd = ci ? ci->connect_fd : -1;
    cs->req = r;
    r->conn = conn;
    live_add(h, cs);
    srv_submit(s, r);
    r->suspended = true;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
    (void)kind;
    (void)key;
    (void)value;
    (*(int *)cls)++;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    srv_http *h = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        cs->fd = -1;
        *con_cls = cs;
        cs->route = route_of(url);
        int n_headers = 0;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &n_headers);
        if (n_headers > KY_SRV_MAX_HEADERS) {
            api_error e;
            api_errorf(&e, 431, "invalid_request_error", NULL, "request_header_fields_too_large",
                       "More than %d request headers", KY_SRV_MAX_HEADERS);
            return send_error(h, cs, conn, &e, MHD_HTTP_HEADER_CONNECTION, "close");
        }
        const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
        for (int i = 0; origin && i < h->s->cfg.n_cors; i++)
            if (!strcmp(origin, h->s->cfg.cors[i])) cs->cors = h->s->cfg.cors[i];
        if (cs->route == R_WEBUI && h->s->cfg.no_webui) cs->route = R_NONE;
        if (cs->route == R_NONE) {
            api_error e;
            api_errorf(&e, 404, "invalid_request_error", NULL, "not_found", "Unknown URL %.200s",
                       url);
            return send_error(h, cs, conn, &e, NULL, NULL);
        }
        bool is_get = cs->route == R_HEALTH || cs->route == R_MODELS || cs->route == R_METRICS ||
                      cs->route == R_WEBUI;
        if (!strcmp(method, "OPTIONS") && cs->route != R_WEBUI)
            return send_preflight(h, cs, conn, is_get);
        if (cs->route == R_WEBUI && !strcmp(method, "HEAD")) method = "GET";
        if (strcmp(method, is_get ? "GET" : "POST") != 0) {
            api_error e;
            api_errorf(&e, 405, "invalid_request_error", NULL, "method_not_allowed",
                       "Method %.20s is not allowed on %.200s (use %s)", method, url,
                       is_get ? "GET" : "POST");
            return send_error(h, cs, conn, &e, MHD_HTTP_HEADER_ALLOW, is_get ? "GET" : "POST");
        }
        if (cs->route == R_WEBUI) return send_webui(h, cs, conn);
        if (cs->route != R_HEALTH && !authorized(h, conn))
            return fail(h, cs, conn, 401, "invalid_request_error", "invalid_api_key",
                        "Incorrect API key provided (Authorization: Bearer KEY)");
        if (is_get) {
            cs->get_pending = true;
            return MHD_YES;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > h->s->cfg.max_body) {
            cs->too_large = true;
            return handle_post(h, cs, conn);
        }
        return MHD_YES;
    }
    if (cs->req) return on_resumed(h, cs, conn);
    if (cs->get_pending && !*upload_size) return handle_get(h, cs, conn);
    if (*upload_size) {
        if (!cs->too_large && cs->body.len + *upload_size <= h->s->cfg.max_body) {
            ky_strbuf_append(&cs->body, upload, *upload_size);
            if (cs->body.failed) cs->too_large = true;
        } else {
            cs->too_large = true;
            ky_strbuf_free(&cs->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return handle_post(h, cs, conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    srv_http *h = cls;
    conn_state *cs = *con_cls;
    if (!cs) return;
    *con_cls = NULL;
    srv_request *r = cs->req;
    if (r) {
        pthread_mutex_lock(&r->mu);
        bool done = r->done;
        pthread_mutex_unlock(&r->mu);
        bool gone = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
        if (gone || !done)
            srv_cancel(h->s, r, gone && toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN);
        if (!cs->counted) srv_metrics_request(&h->s->metrics, 499);
        r->conn = NULL;
        r->suspended = false;
        live_remove(h, cs);
        srv_request_unref(r);
    }
    ky_strbuf_free(&cs->body);
    free(cs);
}

/* ------------------------------------------------------------------------------------------ */
/* The loop */

static void resume_notified(srv_http *h) {
    for (srv_request *r = srv_take_notified(h->s), *next; r; r = next) {
        next = r->next_nt;
        if (r->conn && r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
        srv_request_unref(r);
    }
}

/* A suspended connection is not polled by MHD: peek at its socket to see a hang-up. */
static void check_hangups(srv_http *h) {
    for (conn_state *cs = h->live; cs; cs = cs->next) {
        srv_request *r = cs->req;
        if (!r->suspended || cs->fd < 0) continue;
        char c;
        ssize_t n = recv(cs->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            srv_cancel(h->s, r, true);
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
    }
}

static int add_fd(int ep, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int srv_http_run(srv_server *s) {
    srv_http h = {.s = s};
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->cfg.port)};
    if (inet_pton(AF_INET, s->cfg.host, &addr.sin_addr) != 1) {
        fprintf(stderr, "kaiyuan serve: --host %s: not an IPv4 address\n", s->cfg.host);
        return 1;
    }
    h.d = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, (uint16_t)s->cfg.port, NULL, NULL, on_request, &h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        &h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)KY_SRV_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KY_SRV_CONN_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)KY_SRV_MAX_CONNECTIONS, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (!h.d) {
        fprintf(stderr, "kaiyuan serve: cannot listen on %s:%d: %s\n", s->cfg.host, s->cfg.port,
                strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(h.d, MHD_DAEMON_INFO_BIND_PORT);
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(h.d, MHD_DAEMON_INFO_EPOLL_FD);
    fprintf(stderr, "kaiyuan serve: listening on http://%s:%u\n", s->cfg.host,
            pi ? pi->port : (unsigned)s->cfg.port);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {.it_interval = {0, 50 * 1000000L}, .it_value = {0, 50 * 1000000L}};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = 1, agent_fd = -1;
    if (s->cfg.agent_port >= 0) {
        int bound = 0;
        agent_fd = srv_agent_listen(s->cfg.host, s->cfg.agent_port, &bound);
        if (agent_fd < 0) {
            fprintf(stderr, "kaiyuan serve: cannot listen on %s:%d (--agent-port): %s\n",
                    s->cfg.host, s->cfg.agent_port, strerror(errno));
            goto out;
        }
        fprintf(stderr, "kaiyuan serve: agent on %s:%d\n", s->cfg.host, bound);
    }
    if (!ei || sig_fd < 0 || timer_fd < 0 || ep < 0 || timerfd_settime(timer_fd, 0, &its, NULL) ||
        add_fd(ep, ei->epoll_fd) || add_fd(ep, s->event_fd) || add_fd(ep, sig_fd) ||
        add_fd(ep, timer_fd) || (agent_fd >= 0 && add_fd(ep, agent_fd))) {
        perror("kaiyuan serve: epoll set-up");
        goto out;
    }
    bool draining = false, ready_said = false;
    double deadline = 0;
    for (;;) {
        struct epoll_event evs[8];
        int n = epoll_wait(ep, evs, 8, -1);
        if (n < 0 && errno != EINTR) {
            perror("kaiyuan serve: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == sig_fd) {
                struct signalfd_siginfo si;
                while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
                }
                if (!draining) {
                    draining = true;
                    atomic_store(&s->state, SRV_DRAINING);
                    deadline = ky_time_now() + KY_SRV_DRAIN_S;
                    fprintf(stderr, "kaiyuan serve: draining %d requests\n", h.n_live);
                }
            } else if (fd == s->event_fd) {
                uint64_t v;
                while (read(s->event_fd, &v, sizeof v) == (ssize_t)sizeof v) {
                }
            } else if (fd == timer_fd) {
                uint64_t v;
                while (read(timer_fd, &v, sizeof v) == (ssize_t)sizeof v) {
                }
                check_hangups(&h);
            } else if (fd == agent_fd) {
                srv_agent_serve(s, agent_fd);
            }
        }
        resume_notified(&h);
        MHD_run(h.d);
        int state = atomic_load(&s->state);
        if (state == SRV_FAILED) {
            fprintf(stderr, "kaiyuan serve: %s\n", s->load_error);
            break;
        }
        if (state == SRV_READY && !ready_said) {
            ready_said = true;
            fprintf(stderr, "kaiyuan serve: ready (model '%s')\n", s->model_name);
        }
        if (draining && (h.n_live == 0 || ky_time_now() > deadline)) {
            if (h.n_live) fprintf(stderr, "kaiyuan serve: drain timeout, %d left\n", h.n_live);
            rc = 0;
            break;
        }
    }
out:
    /* Stop the engine first (it drops every request), then close every connection. */
    pthread_mutex_lock(&s->in_mu);
    s->stop = true;
    pthread_cond_signal(&s->in_cv);
    pthread_mutex_unlock(&s->in_mu);
    for (conn_state *cs = h.live; cs; cs = cs->next) {
        srv_cancel(s, cs->req, false);
        if (cs->req->suspended) {
            cs->req->suspended = false;
            MHD_resume_connection(cs->req->conn);
        }
    }
    MHD_stop_daemon(h.d);
    if (ep >= 0) close(ep);
    if (sig_fd >= 0) close(sig_fd);
    if (timer_fd >= 0) close(timer_fd);
    if (agent_fd >= 0) close(agent_fd);
    return rc;
}
