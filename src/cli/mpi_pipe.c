/* mpi_pipe.c — Open MPI start-up, layer split and the MPI transport of the pipeline (layer: cli;
 * uses kaiyuan.h and mpi.h). See mpi_pipe.h.
 */
#include "cli/mpi_pipe.h"

#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/status.h"

enum { TAG = 17 };

static ky_status mpi_fail(int rc, const char *what, int32_t peer, ky_error *err) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return ky_errf(err, KY_ERR_NETWORK, "MPI %s rank %d failed: %s", what, (int)peer, msg);
}

static ky_status tr_send(void *user, int32_t to, const void *buf, size_t n, ky_error *err) {
    (void)user;
    if (n > KY_MPI_MAX_MESSAGE)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "MPI message of %zu bytes to rank %d exceeds %u bytes (ask for fewer "
                       "logit rows per batch)",
                       n, (int)to, KY_MPI_MAX_MESSAGE);
    int rc = MPI_Send(buf, (int)n, MPI_BYTE, to, TAG, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? KY_OK : mpi_fail(rc, "send to", to, err);
}

static ky_status tr_recv(void *user, int32_t from, void *buf, size_t cap, size_t *n,
                         ky_error *err) {
    (void)user;
    if (cap > KY_MPI_MAX_MESSAGE) cap = KY_MPI_MAX_MESSAGE;
    MPI_Status status;
    int rc = MPI_Recv(buf, (int)cap, MPI_BYTE, from, TAG, MPI_COMM_WORLD, &status);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "receive from", from, err);
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    *n = (size_t)count;
    return KY_OK;
}

int cli_mpi_init(const char *cmd, cli_mpi *m) {
    memset(m, 0, sizeof *m);
    /* Threads inherit the signal mask: block before MPI starts its own threads, so that SIGTERM
     * and SIGINT reach only a thread that waits for them (the server's), never an MPI thread
     * with the default action. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "kaiyuan %s: --mpi: MPI_Init failed (run under mpirun)\n", cmd);
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->n_ranks);
    if (provided < MPI_THREAD_SERIALIZED) {
        if (m->rank == 0)
            fprintf(stderr, "kaiyuan %s: --mpi: this MPI library lacks MPI_THREAD_SERIALIZED\n",
                    cmd);
        return 1;
    }
    if (m->n_ranks < 2 || m->n_ranks > KY_MAX_PIPE_RANKS) {
        if (m->rank == 0)
            fprintf(stderr,
                    "kaiyuan %s: --mpi needs 2 to %d ranks (mpirun -n R), this job has %d\n", cmd,
                    KY_MAX_PIPE_RANKS, m->n_ranks);
        return 2;
    }
    m->tr.rank = m->rank;
    m->tr.n_ranks = m->n_ranks;
    m->tr.user = m;
    m->tr.send = tr_send;
    m->tr.recv = tr_recv;
    return 0;
}

/* The model's block_count, or -1 after printing why not. */
static int32_t read_n_layer(const char *cmd, const char *path, bool print) {
    ky_gguf *g = NULL;
    ky_error err;
    if (ky_gguf_open(path, &g, &err) != KY_OK) {
        if (print) fprintf(stderr, "kaiyuan %s: %s\n", cmd, err.message);
        return -1;
    }
    int32_t n = -1;
    ky_gguf_value arch = ky_gguf_kv_value(g, ky_gguf_find_key(g, "general.architecture"));
    if (arch.type == KY_GGUF_STRING && arch.v.str.len < 64) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch.v.str.len, arch.v.str.ptr);
        ky_gguf_value v = ky_gguf_kv_value(g, ky_gguf_find_key(g, key));
        if ((v.type == KY_GGUF_U32 || v.type == KY_GGUF_U64) && v.v.u64 >= 1 &&
            v.v.u64 <= KY_MAX_LAYERS)
            n = (int32_t)v.v.u64;
        else if ((v.type == KY_GGUF_I32 || v.type == KY_GGUF_I64) && v.v.i64 >= 1 &&
                 v.v.i64 <= KY_MAX_LAYERS)
            n = (int32_t)v.v.i64;
    }
    ky_gguf_close(g);
    if (n < 0 && print)
        fprintf(stderr, "kaiyuan %s: %s: no usable <arch>.block_count to split the layers by\n",
                cmd, path);
    return n;
}

/* Parses --layer-split into counts; prints why not (when print) and returns false. */
static bool parse_split(const char *cmd, const char *s, int n_ranks, int32_t n_layer,
                        int32_t *counts, bool print) {
    int n = 0;
    long long sum = 0;
    const char *p = s;
    for (;;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || v > KY_MAX_LAYERS || (*end && *end != ',')) {
            if (print)
                fprintf(stderr,
                        "kaiyuan %s: --layer-split '%s': expected positive layer counts "
                        "separated by commas (e.g. 14,14)\n",
                        cmd, s);
            return false;
        }
        if (n < KY_MAX_PIPE_RANKS) counts[n] = (int32_t)v;
        n++;
        sum += v;
        if (!*end) break;
        p = end + 1;
    }
    if (n != n_ranks) {
        if (print)
            fprintf(stderr,
                    "kaiyuan %s: --layer-split '%s' gives %d layer counts but mpirun started %d "
                    "ranks\n",
                    cmd, s, n, n_ranks);
        return false;
    }
    if (sum != n_layer) {
        if (print)
            fprintf(stderr,
                    "kaiyuan %s: --layer-split '%s' covers %lld layers but the model has %d\n", cmd,
                    s, sum, (int)n_layer);
        return false;
    }
    return true;
}

/* Splits n_layer layers over n ranks in proportion to weight[r] (largest remainder), each rank
 * at least one layer (n <= n_layer). Equal weights give an even split, the extra layers to the
 * first ranks. */
static void split_by_weight(int32_t n_layer, int n, const double *weight, int32_t *counts) {
    double total = 0;
    for (int r = 0; r < n; r++) total += weight[r] > 0 ? weight[r] : 0;
    int32_t left = n_layer - n; /* one layer each first */
    double rem[KY_MAX_PIPE_RANKS];
    for (int r = 0; r < n; r++) {
        double share =
            total > 0 ? (weight[r] > 0 ? weight[r] : 0) / total * left : (double)left / n;
        counts[r] = 1 + (int32_t)share;
        rem[r] = share - (int32_t)share;
    }
    int32_t given = 0;
    for (int r = 0; r < n; r++) given += counts[r];
    while (given < n_layer) { /* the largest remainders, earlier ranks first on ties */
        int best = 0;
        for (int r = 1; r < n; r++)
            if (rem[r] > rem[best] + 1e-9) best = r;
        counts[best]++;
        rem[best] = -1;
        given++;
    }
}

/* MemAvailable of this host in bytes, 0 when unknown. */
static double mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

typedef struct host_info {
    double mem;
    char name[64];
} host_info;

int cli_mpi_plan(const char *cmd, cli_mpi *m, const char *path, const char *split, bool quiet) {
    bool print = m->rank == 0;
    m->n_layer = read_n_layer(cmd, path, print);
    if (m->n_layer < 0) return 1;
    if (m->n_ranks > m->n_layer) {
        if (print)
            fprintf(stderr, "kaiyuan %s: %d ranks but the model has only %d layers\n", cmd,
                    m->n_ranks, (int)m->n_layer);
        return 2;
    }
    host_info me = {mem_available(), {0}}, all[KY_MAX_PIPE_RANKS];
    gethostname(me.name, sizeof me.name - 1);
    if (MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE,
                      MPI_COMM_WORLD) != MPI_SUCCESS) {
        if (print) fprintf(stderr, "kaiyuan %s: MPI_Allgather of the hosts' memory failed\n", cmd);
        return 1;
    }
    if (split) {
        if (!parse_split(cmd, split, m->n_ranks, m->n_layer, m->counts, print)) return 2;
    } else {
        bool one_host = true;
        double w[KY_MAX_PIPE_RANKS];
        for (int r = 0; r < m->n_ranks; r++) {
            if (strcmp(all[r].name, all[0].name)) one_host = false;
            w[r] = all[r].mem;
        }
        for (int r = 0; one_host && r < m->n_ranks; r++) w[r] = 1; /* one host: even */
        split_by_weight(m->n_layer, m->n_ranks, w, m->counts);
    }
    int32_t b = 0;
    for (int r = 0; r < m->n_ranks; r++) {
        if (r == m->rank) {
            m->layer_begin = b;
            m->layer_end = b + m->counts[r];
        }
        if (print && !quiet)
            fprintf(stderr, "kaiyuan: pipe rank %d on %s (%.1f GiB available): layers [%d, %d)\n",
                    r, all[r].name, all[r].mem / (1024.0 * 1024 * 1024), (int)b,
                    (int)(b + m->counts[r]));
        b += m->counts[r];
    }
    return 0;
}

void cli_mpi_finalize(void) { MPI_Finalize(); }

_Noreturn void cli_mpi_abort(int code) {
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* MPI_Abort does not return; this keeps _Noreturn honest */
}
