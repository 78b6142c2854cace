/* server_int.h — what the server's stages share: the server state and the request (layer: server).
 *
 * A request lives from a complete HTTP body to the end of its response. The I/O thread creates
 * it and submits it to the engine's inbox; the engine thread fills its outbox (bytes ready to
 * send: a whole JSON body or SSE events) and wakes the I/O thread through the notify list and an
 * eventfd. The outbox is the only shared mutable part and is guarded by the request's mutex;
 * `cancelled` and `out_bytes` are atomics so each side can poll them without the lock.
 * Requests are reference counted (I/O connection, engine, notify list each hold one).
 */
#ifndef KY_SERVER_SERVER_INT_H
#define KY_SERVER_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "kaiyuan.h"
#include "server/api_request.h"
#include "server/metrics.h"
#include "server/server.h"

typedef struct srv_chunk {
    struct srv_chunk *next;
    size_t len, off; /* data[off..len) not yet sent */
    char data[];
} srv_chunk;

typedef struct srv_request {
    atomic_int refs;
    api_request api;
    char id[48];      /* "chatcmpl-..." / "cmpl-..." */
    int64_t created;  /* unix seconds */
    double t_arrival; /* ky_time_now() when the body was complete */
    atomic_bool cancelled;          /* client gone (I/O sets) or engine gave up */
    atomic_bool disconnect_counted; /* client_disconnects_total counted once */
    atomic_size_t out_bytes;        /* bytes waiting in the outbox (backpressure) */
    pthread_mutex_t mu;             /* guards the fields below */
    srv_chunk *head, *tail;
    int status;          /* 0 until the engine decides the HTTP status */
    bool sse;            /* the response is an event stream */
    bool done;           /* the engine will add nothing more */
    bool notify_pending; /* on the server's notify list */
    /* I/O thread only. */
    void *conn; /* struct MHD_Connection * while the connection lives */
    bool suspended;
    /* Links: engine inbox/queue, and the notify list. */
    struct srv_request *next_in, *next_nt;
} srv_request;

enum { SRV_LOADING = 0, SRV_READY = 1, SRV_DRAINING = 2, SRV_FAILED = 3 };

typedef struct srv_server {
    srv_config cfg;
    srv_metrics metrics;
    atomic_int state;
    char model_name[256]; /* served name (alias or file base name) */
    int64_t created;
    atomic_int inflight; /* requests submitted to the engine and not finished by it */
    atomic_int n_vocab;  /* set before state becomes READY */
    ky_model *model;     /* engine thread writes once before READY; read-only after */
    char load_error[KY_ERROR_MAX];
    /* Engine inbox (I/O → engine). */
    pthread_mutex_t in_mu;
    pthread_cond_t in_cv;
    srv_request *in_head, *in_tail;
    bool stop; /* engine thread exits */
    /* Notify list (engine → I/O) and its eventfd. */
    pthread_mutex_t nt_mu;
    srv_request *nt_head;
    int event_fd;
} srv_server;

/* Allocates a request owning *api (moved in; *api is zeroed), refs 1. NULL when out of memory
 * (api is then freed). */
srv_request *srv_request_new(srv_server *s, api_request *api);
void srv_request_ref(srv_request *r);
/* Drops one reference; the last frees the request and its outbox. */
void srv_request_unref(srv_request *r);

/* Engine side: appends len bytes to the outbox (status is set to `status` when still 0, with sse
 * telling whether the response is a stream) and notifies the I/O thread. Returns false when out
 * of memory (the caller cancels the request). */
bool srv_push(srv_server *s, srv_request *r, int status, bool sse, const char *data, size_t len);
/* Engine side: no more data; notifies. */
void srv_finish(srv_server *s, srv_request *r);
/* Engine side: puts r on the notify list (once) and signals the eventfd. */
void srv_notify(srv_server *s, srv_request *r);
/* I/O side: takes the whole notify list (each entry holds a reference the caller drops). */
srv_request *srv_take_notified(srv_server *s);
/* I/O side: hands r to the engine (takes a reference for it) and wakes the engine. */
void srv_submit(srv_server *s, srv_request *r);
/* I/O side: marks r cancelled and wakes the engine; counts a client disconnect once. */
void srv_cancel(srv_server *s, srv_request *r, bool client_gone);

/* The engine thread (engine.c): loads the model, sets state READY (or FAILED with load_error),
 * then serves the inbox until s->stop. arg is the srv_server. */
void *srv_engine_main(void *arg);

/* The I/O loop (http.c): binds, serves until a signal and the drain end. Returns the exit
 * status. Called by srv_run after the engine thread started. */
int srv_http_run(srv_server *s);

/* Token t's printed bytes (the api_piece_fn over s->model). */
size_t srv_piece(void *server, ky_token t, char *buf, size_t cap);

#endif
