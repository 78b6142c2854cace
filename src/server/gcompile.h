/* gcompile.h — grammar compilation on a worker thread (layer: server; uses kaiyuan.h only).
 *
 * Binding a new grammar to the 150k-token vocabulary precomputes token sets for 0.1-4 s. The
 * engine thread submits such jobs here and keeps decoding the other streams; the worker parses
 * the GBNF, builds the prototype matcher, moves the job to its done list and wakes the engine
 * (signals the condition variable it was given, under its mutex). One worker, jobs in FIFO order,
 * at nice KY_SRV_COMPILE_NICE so the decode threads keep their share of the CPU.
 */
#ifndef KY_SERVER_GCOMPILE_H
#define KY_SERVER_GCOMPILE_H

#include <pthread.h>
#include <stdbool.h>

#include "kaiyuan.h"

typedef struct gc_job {
    char *key; /* trigger + "\n" + GBNF text (malloc'ed, owned by the job) */
    /* Results: set by the worker; owned by the job until the engine takes them (then NULL). */
    ky_status st;
    ky_grammar *g;
    ky_grammar_matcher *proto;
    char msg[KY_ERROR_MAX]; /* the error when st != KY_OK */
    double seconds;         /* time the worker spent on the job */
    int waiters;            /* engine thread only: queued requests waiting for the result */
    struct gc_job *next;    /* worker queue / done list, then the engine's in-flight list */
    struct gc_job *next_inflight;
} gc_job;

typedef struct gc_worker gc_worker;

/* Starts the worker over vocab (read-only; must outlive the worker). wake_mu / wake_cv are
 * signalled after each finished job. NULL when out of memory or no thread could start. */
gc_worker *gc_start(const ky_grammar_vocab *vocab, pthread_mutex_t *wake_mu,
                    pthread_cond_t *wake_cv);
/* Queues job (the worker owns it until gc_take_done returns it). */
void gc_submit(gc_worker *w, gc_job *job);
/* Whether finished jobs are waiting (cheap; any thread). */
bool gc_has_done(gc_worker *w);
/* Takes the finished jobs (a list through next, in completion order; the caller owns them). */
gc_job *gc_take_done(gc_worker *w);
/* Stops and joins the worker (after the job it is running) and frees every job it still holds,
 * queued or done. NULL is a no-op. */
void gc_stop(gc_worker *w);
/* Compiles job on the calling thread (what the worker runs): sets st, g, proto or msg, seconds. */
void gc_compile(const ky_grammar_vocab *vocab, gc_job *job);
/* Frees a job and any results it still owns. */
void gc_job_free(gc_job *job);

#endif
