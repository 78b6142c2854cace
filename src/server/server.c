/* server.c — server start-up, request lifetime and the two queues between threads
 * (layer: server).
 *
 * srv_run starts the engine thread and runs the I/O loop on the calling thread. The inbox
 * (I/O → engine) is a list under in_mu with a condition variable; the notify list (engine → I/O)
 * is a list under nt_mu plus an eventfd the I/O loop polls.
 */
#include "server/server_int.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/limits.h"

void srv_config_default(srv_config *c) {
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->parallel = 4;
    c->queue = 64;
    c->max_body = KY_SRV_DEFAULT_MAX_BODY;
    c->cache_slots = 4;
    c->prefill_chunk = 256;
    c->draft = 8;
    c->agent_port = -1;
}

void srv_print_pipe_stats(const ky_context *ctx, FILE *out) {
    ky_pipe_stats s;
    ky_pipe_get_stats(ctx, &s);
    char part[2][160];
    static const char *const names[2] = {"prefill", "decode"};
    for (int k = 0; k < 2; k++) {
        double tot = s.busy_s[k] + s.wait_s[k];
        snprintf(part[k], sizeof part[k],
                 "%s %lld batches %lld micro-batches %lld tokens busy %.3f s wait %.3f s bubble "
                 "%.1f%% sent %.0f KiB",
                 names[k], (long long)s.n_batches[k], (long long)s.n_ubatches[k],
                 (long long)s.n_tokens[k], s.busy_s[k], s.wait_s[k],
                 tot > 0 ? 100.0 * s.wait_s[k] / tot : 0.0, (double)s.bytes_sent[k] / 1024);
    }
    fprintf(out, "kaiyuan: pipe rank %d layers [%d, %d): %s; %s\n", (int)s.rank, (int)s.layer_begin,
            (int)s.layer_end, part[0], part[1]);
}

srv_request *srv_request_new(srv_server *s, api_request *api) {
    static atomic_uint_fast64_t counter;
    srv_request *r = calloc(1, sizeof *r);
    if (!r) {
        api_request_free(api);
        return NULL;
    }
    atomic_init(&r->refs, 1);
    r->api = *api;
    memset(api, 0, sizeof *api);
    pthread_mutex_init(&r->mu, NULL);
    uint64_t n = atomic_fetch_add(&counter, 1) + 1;
    uint64_t salt = (uint64_t)s->created * 2654435761u;
    snprintf(r->id, sizeof r->id, "%s-%08llx%08llx", r->api.kind == API_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)(salt & 0xffffffffu), (unsigned long long)n);
    r->created = (int64_t)time(NULL);
    r->t_arrival = ky_time_now();
    return r;
}

void srv_request_ref(srv_request *r) { atomic_fetch_add(&r->refs, 1); }

void srv_request_unref(srv_request *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    for (srv_chunk *c = r->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    api_request_free(&r->api);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void srv_notify(srv_server *s, srv_request *r) {
    bool add = false;
    pthread_mutex_lock(&r->mu);
    if (!r->notify_pending) r->notify_pending = add = true;
    pthread_mutex_unlock(&r->mu);
    if (!add) return;
    srv_request_ref(r);
    pthread_mutex_lock(&s->nt_mu);
    r->next_nt = s->nt_head;
    s->nt_head = r;
    pthread_mutex_unlock(&s->nt_mu);
    uint64_t one = 1;
    if (write(s->event_fd, &one, sizeof one) < 0) { /* counter saturated: a wakeup is pending */
    }
}

srv_request *srv_take_notified(srv_server *s) {
    pthread_mutex_lock(&s->nt_mu);
    srv_request *list = s->nt_head;
    s->nt_head = NULL;
    pthread_mutex_unlock(&s->nt_mu);
    for (srv_request *r = list; r; r = r->next_nt) {
        pthread_mutex_lock(&r->mu);
        r->notify_pending = false;
        pthread_mutex_unlock(&r->mu);
    }
    return list;
}

bool srv_push(srv_server *s, srv_request *r, int status, bool sse, const char *data, size_t len) {
    srv_chunk *c = malloc(sizeof *c + len);
    if (!c) return false;
    c->next = NULL;
    c->len = len;
    c->off = 0;
    memcpy(c->data, data, len);
    pthread_mutex_lock(&r->mu);
    if (!r->status) {
        r->status = status;
        r->sse = sse;
    }
    if (r->tail)
        r->tail->next = c;
    else
        r->head = c;
    r->tail = c;
    atomic_fetch_add(&r->out_bytes, len);
    pthread_mutex_unlock(&r->mu);
    srv_notify(s, r);
    return true;
}

void srv_finish(srv_server *s, srv_request *r) {
    pthread_mutex_lock(&r->mu);
    r->done = true;
    if (!r->status) r->status = 500;
    pthread_mutex_unlock(&r->mu);
    srv_notify(s, r);
}

void srv_submit(srv_server *s, srv_request *r) {
    srv_request_ref(r);
    atomic_fetch_add(&s->inflight, 1);
    pthread_mutex_lock(&s->in_mu);
    r->next_in = NULL;
    if (s->in_tail)
        s->in_tail->next_in = r;
    else
        s->in_head = r;
    s->in_tail = r;
    pthread_cond_signal(&s->in_cv);
    pthread_mutex_unlock(&s->in_mu);
}

void srv_cancel(srv_server *s, srv_request *r, bool client_gone) {
    atomic_store(&r->cancelled, true);
    if (client_gone && !atomic_exchange(&r->disconnect_counted, true))
        atomic_fetch_add_explicit(&s->metrics.client_disconnects, 1, memory_order_relaxed);
    pthread_mutex_lock(&s->in_mu);
    pthread_cond_signal(&s->in_cv);
    pthread_mutex_unlock(&s->in_mu);
}

size_t srv_piece(void *server, ky_token t, char *buf, size_t cap) {
    srv_server *s = server;
    size_t n = 0;
    ky_status st = ky_token_to_piece(s->model, t, 0, buf, cap, &n);
    return st == KY_OK || st == KY_ERR_INVALID_ARG ? n : 0;
}

static void base_name(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    if (n >= cap) n = cap - 1;
    memcpy(out, b, n);
    out[n] = 0;
}

int srv_run(const srv_config *c) {
    /* Signals are read through a signalfd by the I/O loop: block them in every thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    srv_server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    s->cfg = *c;
    srv_metrics_init(&s->metrics);
    atomic_init(&s->state, SRV_LOADING);
    s->created = (int64_t)time(NULL);
    if (c->alias)
        snprintf(s->model_name, sizeof s->model_name, "%s", c->alias);
    else
        base_name(c->model_path, s->model_name, sizeof s->model_name);
    pthread_mutex_init(&s->in_mu, NULL);
    pthread_cond_init(&s->in_cv, NULL);
    pthread_mutex_init(&s->nt_mu, NULL);
    s->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = 1;
    pthread_t engine;
    if (s->event_fd < 0) {
        perror("kaiyuan serve: eventfd");
    } else if (pthread_create(&engine, NULL, srv_engine_main, s) != 0) {
        fprintf(stderr, "kaiyuan serve: cannot start the engine thread\n");
    } else {
        rc = srv_http_run(s);
        pthread_mutex_lock(&s->in_mu);
        s->stop = true;
        pthread_cond_signal(&s->in_cv);
        pthread_mutex_unlock(&s->in_mu);
        pthread_join(engine, NULL);
        for (srv_request *r = srv_take_notified(s), *next; r; r = next) {
            next = r->next_nt;
            srv_request_unref(r);
        }
    }
    if (s->event_fd >= 0) close(s->event_fd);
    pthread_mutex_destroy(&s->in_mu);
    pthread_cond_destroy(&s->in_cv);
    pthread_mutex_destroy(&s->nt_mu);
    free(s);
    return rc;
}
