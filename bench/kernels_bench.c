/* kernels_bench.c — micro-benchmark of the matrix products (bench; not run by `make test`).
 *
 * Prints JSON lines: the machine's read bandwidth (1 GB, 1 and 2 threads), then per weight type,
 * kernel tier and thread count: GB/s of weight bytes streamed by a matrix-vector product
 * (n_tok = 1, weights rotated over > 256 MB so they come from DRAM, as in decode; with --hot one
 * copy stays in the caches, which measures the kernel's compute throughput instead) and GFLOP/s
 * of a GEMM (n_tok = 512; 32 for the generic tier) over Qwen2.5-0.5B shapes.
 * --shape N_INxN_OUT replaces the three shapes with one. --cols prints instead, per shape, the
 * small-batch curve (decode of several sequences, speculative verification): the time of a
 * product with 1, 2, 3, 4, 6, 8, 12, 16 tokens, weights from DRAM, and its ratio to 1 token.
 * Usage: kernels_bench [--tier all|best|NAME] [--type NAME] [--threads N] [--no-gemm] [--hot]
 *                      [--shape N_INxN_OUT] [--cols]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/kernels/kernel_util.h"
#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "os/pool.h"
#include "os/sys.h"

typedef struct read_job {
    const uint64_t *buf;
    size_t n;
    long next;
    uint64_t sink[64];
} read_job;

static void read_worker(void *arg, int ith, int nth) {
    read_job *j = arg;
    long b, e, chunk = ky_pool_chunk((long)j->n, nth, 16) & ~3L;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    while (ky_pool_claim(&j->next, (long)j->n, chunk ? chunk : 4, &b, &e)) {
        for (long i = b; i + 3 < e; i += 4) {
            s0 += j->buf[i];
            s1 += j->buf[i + 1];
            s2 += j->buf[i + 2];
            s3 += j->buf[i + 3];
        }
    }
    j->sink[ith] = s0 + s1 + s2 + s3;
}

static double g_bw[3];
static int g_hot;  /* --hot: one weight copy, cache-resident */
static int g_cols; /* --cols: the small-batch curve instead of gemv/gemm */

static void bench_bandwidth(void) {
    size_t bytes = (size_t)1 << 30;
    uint64_t *buf = malloc(bytes);
    memset(buf, 1, bytes);
    read_job j = {buf, bytes / 8, 0, {0}};
    for (int nth = 1; nth <= 2; nth++) {
        ky_pool *pool;
        ky_error err;
        if (ky_pool_create(nth, &pool, &err) != KY_OK) exit(1);
        double best = 1e30;
        for (int rep = 0; rep < 4; rep++) {
            j.next = 0;
            double t0 = ky_time_now();
            ky_pool_run(pool, read_worker, &j);
            double t = ky_time_now() - t0;
            if (t < best) best = t;
        }
        g_bw[nth] = (double)bytes / best / 1e9;
        printf("{\"op\":\"read_bandwidth\",\"threads\":%d,\"GBps\":%.2f}\n", nth, g_bw[nth]);
        ky_pool_free(pool);
    }
    free(buf);
}

typedef struct shape {
    int64_t n_in, n_out;
} shape;

static void bench_one(const ky_kernel_table *kt, uint32_t type, shape s, int nth, int do_gemm) {
    const ky_type_traits *tr = ky_type_get_traits(type);
    if (s.n_in % tr->block_size) return;
    uint64_t rb64;
    ky_type_row_bytes(type, s.n_in, &rb64);
    size_t rb = (size_t)rb64, wbytes = rb * (size_t)s.n_out;
    int n_copies = g_hot ? 1 : (int)((256u << 20) / wbytes) + 1;
    if (n_copies > 64) n_copies = 64;
    uint8_t **w = malloc(sizeof(uint8_t *) * (size_t)n_copies);
    for (int c = 0; c < n_copies; c++) {
        w[c] = aligned_alloc(64, (wbytes + 63) / 64 * 64);
        if (c == 0)
            for (int64_t r = 0; r < s.n_out; r++)
                kt_random_row(type, w[0] + (size_t)r * rb, s.n_in);
        else
            memcpy(w[c], w[0], wbytes);
    }
    int64_t max_tok = 512;
    float *x = malloc(sizeof(float) * (size_t)(s.n_in * max_tok));
    for (int64_t i = 0; i < s.n_in * max_tok; i++) x[i] = kt_randf();
    float *y = malloc(sizeof(float) * (size_t)(s.n_out * max_tok));
    ky_pool *pool;
    ky_error err;
    if (ky_pool_create(nth, &pool, &err) != KY_OK) exit(1);
    ky_matrix m = {w[0], type, s.n_in, s.n_out, rb};
    void *scratch = aligned_alloc(64, (ky_matmul_scratch_bytes(&m, max_tok) + 63) / 64 * 64);
    if (g_cols) { /* time per product for a few tokens, copies rotated as for the gemv */
        static const int64_t ncols[] = {1, 2, 3, 4, 6, 8, 12, 16};
        double base = 0;
        for (int i = 0; i < (int)(sizeof ncols / sizeof ncols[0]); i++) {
            double best = 1e30;
            for (int rep = 0; rep < 3 * n_copies || rep < 12; rep++) {
                m.data = w[rep % n_copies];
                double t0 = ky_time_now();
                ky_matmul(pool, kt, &m, x, s.n_in, ncols[i], y, s.n_out, scratch);
                double t = ky_time_now() - t0;
                if (t < best) best = t;
            }
            if (i == 0) base = best;
            printf("{\"op\":\"cols\",\"type\":\"%s\",\"tier\":\"%s\",\"threads\":%d,"
                   "\"n_in\":%lld,\"n_out\":%lld,\"n_tok\":%lld,\"us\":%.1f,\"relative\":%.2f}\n",
                   tr->name, kt->name, nth, (long long)s.n_in, (long long)s.n_out,
                   (long long)ncols[i], best * 1e6, best / base);
        }
        do_gemm = 0;
        goto done;
    }
    /* matrix-vector: rotate copies so weights stream from memory */
    int reps = 0;
    double t0 = ky_time_now(), t = 0;
    while (t < 0.4 || reps < 3 * n_copies) {
        m.data = w[reps % n_copies];
        ky_matmul(pool, kt, &m, x, s.n_in, 1, y, s.n_out, scratch);
        reps++;
        t = ky_time_now() - t0;
        if (t > 3.0) break;
    }
    double gbps = (double)wbytes * reps / t / 1e9;
    printf("{\"op\":\"gemv\",\"type\":\"%s\",\"tier\":\"%s\",\"threads\":%d,\"n_in\":%lld,"
           "\"n_out\":%lld,\"us\":%.1f,\"GBps\":%.2f,\"bw_frac\":%.2f}\n",
           tr->name, kt->name, nth, (long long)s.n_in, (long long)s.n_out, t / reps * 1e6, gbps,
           gbps / g_bw[nth > 2 ? 2 : nth]);
    if (do_gemm) {
        int64_t n_tok = strcmp(kt->name, "generic") == 0 ? 32 : max_tok;
        m.data = w[0];
        reps = 0;
        t0 = ky_time_now();
        t = 0;
        while (t < 0.5 || reps < 2) {
            ky_matmul(pool, kt, &m, x, s.n_in, n_tok, y, s.n_out, scratch);
            reps++;
            t = ky_time_now() - t0;
        }
        double gflops = 2.0 * (double)s.n_in * (double)s.n_out * (double)n_tok * reps / t / 1e9;
        printf("{\"op\":\"gemm\",\"type\":\"%s\",\"tier\":\"%s\",\"threads\":%d,\"n_in\":%lld,"
               "\"n_out\":%lld,\"n_tok\":%lld,\"ms\":%.2f,\"GFLOPs\":%.1f}\n",
               tr->name, kt->name, nth, (long long)s.n_in, (long long)s.n_out, (long long)n_tok,
               t / reps * 1e3, gflops);
    }
done:
    fflush(stdout);
    ky_pool_free(pool);
    free(scratch), free(x), free(y);
    for (int c = 0; c < n_copies; c++) free(w[c]);
    free(w);
}

int main(int argc, char **argv) {
    const char *tier = "all", *type_name = NULL;
    int only_threads = 0, do_gemm = 1;
    long long one_in = 0, one_out = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tier") == 0 && i + 1 < argc)
            tier = argv[++i];
        else if (strcmp(argv[i], "--type") == 0 && i + 1 < argc)
            type_name = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            only_threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-gemm") == 0)
            do_gemm = 0;
        else if (strcmp(argv[i], "--hot") == 0)
            g_hot = 1;
        else if (strcmp(argv[i], "--cols") == 0)
            g_cols = 1;
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc &&
                 sscanf(argv[i + 1], "%lldx%lld", &one_in, &one_out) == 2 && one_in > 0 &&
                 one_out > 0)
            i++;
        else {
            fprintf(
                stderr,
                "usage: %s [--tier all|best|NAME] [--type NAME] [--threads N] [--no-gemm] [--hot] "
                "[--shape N_INxN_OUT] [--cols]\n",
                argv[0]);
            return 2;
        }
    }
    bench_bandwidth();
    const ky_kernel_table *tabs[8];
    int n_tabs = ky_kernels_available(tabs, 8);
    shape shapes[] = {{896, 4864}, {4864, 896}, {896, 151936}};
    int n_shapes = 3;
    if (one_in) {
        shapes[0] = (shape){one_in, one_out};
        n_shapes = 1;
    }
    for (int ti = 0; ti < KT_N_TYPES; ti++) {
        uint32_t type = kt_weight_types[ti];
        if (type_name && strcmp(type_name, ky_type_name(type)) != 0) continue;
        for (int k = 0; k < n_tabs; k++) {
            int is_best = k == 0, is_gen = k == n_tabs - 1;
            if (strcmp(tier, "all") == 0    ? !(is_best || is_gen)
                : strcmp(tier, "best") == 0 ? !is_best
                                            : strcmp(tier, tabs[k]->name) != 0)
                continue;
            for (int si = 0; si < n_shapes; si++) {
                if (is_gen && si == 2) continue; /* too slow to be useful */
                for (int nth = 1; nth <= 2; nth++) {
                    if (only_threads && nth != only_threads) continue;
                    bench_one(tabs[k], type, shapes[si], nth, do_gemm);
                }
            }
        }
    }
    return 0;
}
