/* gcompile.c — the grammar compile worker (layer: server; uses kaiyuan.h only). */
#include "server/gcompile.h"

#include "base/limits.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct gc_worker {
    const ky_grammar_vocab *vocab;
    pthread_mutex_t *wake_mu;
    pthread_cond_t *wake_cv;
    pthread_t thread;
    pthread_mutex_t mu; /* guards the lists and stop */
    pthread_cond_t cv;
    gc_job *q_head, *q_tail, *done_head, *done_tail;
    atomic_bool has_done;
    bool stop;
};

void gc_compile(const ky_grammar_vocab *vocab, gc_job *j) {
    double t0 = ky_time_now();
    ky_error err = {0};
    const char *nl = strchr(j->key, '\n');
    char trig[64] = "";
    size_t tl = nl ? (size_t)(nl - j->key) : 0;
    if (tl >= sizeof trig) tl = sizeof trig - 1;
    memcpy(trig, j->key, tl);
    trig[tl] = '\0';
    const char *body = nl ? nl + 1 : j->key;
    const char *tp = trig;
    ky_grammar_matcher_params gp = {&tp, tl ? 1 : 0};
    j->st = ky_grammar_from_gbnf(body, strlen(body), &j->g, &err);
    if (j->st == KY_OK) j->st = ky_grammar_matcher_create(j->g, vocab, &gp, &j->proto, &err);
    if (j->st != KY_OK) {
        ky_grammar_free(j->g);
        j->g = NULL;
        snprintf(j->msg, sizeof j->msg, "%s", err.message);
    }
    j->seconds = ky_time_now() - t0;
}

static void *worker_main(void *arg) {
    gc_worker *w = arg;
    /* below the decode threads: a compile takes spare CPU, never the streams' */
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, tid); /* relative: the server may run niced */
    if (errno == 0) {
        int want = nice_now + KY_SRV_COMPILE_NICE;
        if (setpriority(PRIO_PROCESS, tid, want > 19 ? 19 : want) != 0) {
        }
    }
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && !w->q_head) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        gc_job *j = w->q_head;
        w->q_head = j->next;
        if (!w->q_head) w->q_tail = NULL;
        j->next = NULL;
        pthread_mutex_unlock(&w->mu);
        gc_compile(w->vocab, j);
        pthread_mutex_lock(&w->mu);
        if (w->done_tail)
            w->done_tail->next = j;
        else
            w->done_head = j;
        w->done_tail = j;
        atomic_store(&w->has_done, true);
        pthread_mutex_unlock(&w->mu);
        pthread_mutex_lock(w->wake_mu);
        pthread_cond_signal(w->wake_cv);
        pthread_mutex_unlock(w->wake_mu);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

gc_worker *gc_start(const ky_grammar_vocab *vocab, pthread_mutex_t *wake_mu,
                    pthread_cond_t *wake_cv) {
    gc_worker *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->vocab = vocab;
    w->wake_mu = wake_mu;
    w->wake_cv = wake_cv;
    atomic_init(&w->has_done, false);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    return w;
}

void gc_submit(gc_worker *w, gc_job *j) {
    j->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->q_tail)
        w->q_tail->next = j;
    else
        w->q_head = j;
    w->q_tail = j;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool gc_has_done(gc_worker *w) { return w && atomic_load(&w->has_done); }

gc_job *gc_take_done(gc_worker *w) {
    if (!w) return NULL;
    pthread_mutex_lock(&w->mu);
    gc_job *l = w->done_head;
    w->done_head = w->done_tail = NULL;
    atomic_store(&w->has_done, false);
    pthread_mutex_unlock(&w->mu);
    return l;
}

void gc_job_free(gc_job *j) {
    if (!j) return;
    ky_grammar_matcher_free(j->proto);
    ky_grammar_free(j->g);
    free(j->key);
    free(j);
}

void gc_stop(gc_worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    for (gc_job *l = w->q_head, *n; l; l = n) n = l->next, gc_job_free(l);
    for (gc_job *l = w->done_head, *n; l; l = n) n = l->next, gc_job_free(l);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
