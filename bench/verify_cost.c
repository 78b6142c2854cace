/* verify_cost.c — the verify cost curve of speculative decoding: time of one forward pass that
 * carries 1, 2, 4, 8, 16 tokens of one sequence after a 64-token prompt (best of R), printed as
 * JSON lines. The speedup of speculation at acceptance a with k drafts is
 * (expected tokens per step) / (cost(k + 1) / cost(1)).
 *   make build/bench/verify_cost && build/bench/verify_cost MODEL [THREADS] [REPS] */
#include <stdio.h>
#include <stdlib.h>

#include "kaiyuan.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: verify_cost MODEL [THREADS] [REPS]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 10;
    ky_model *m = NULL;
    ky_error err;
    if (ky_model_load(argv[1], NULL, &m, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    ky_context_params cp = ky_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = threads;
    ky_context *ctx = NULL;
    if (ky_context_create(m, &cp, &ctx, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    ky_model_info mi;
    ky_model_get_info(m, &mi);
    ky_batch b;
    ky_batch_init(&b, 64);
    for (int i = 0; i < 64; i++)
        ky_batch_add(&b, (ky_token)(100 + 37 * i) % mi.n_vocab, i, 0, i == 63);
    ky_decode(ctx, &b);
    double base = 0;
    const int sizes[] = {1, 2, 4, 8, 16};
    for (int s = 0; s < 5; s++) {
        double best = 1e9;
        for (int r = 0; r < reps; r++) {
            ky_kv_seq_keep(ctx, 0, 64);
            ky_batch_clear(&b);
            for (int i = 0; i < sizes[s]; i++)
                ky_batch_add(&b, (ky_token)(7 + 11 * i) % mi.n_vocab, 64 + i, 0, true);
            double t0 = ky_time_now();
            ky_decode(ctx, &b);
            double dt = ky_time_now() - t0;
            if (dt < best) best = dt;
        }
        if (s == 0) base = best;
        printf("{\"bench\": \"verify_cost\", \"model\": \"%s\", \"threads\": %d, \"tokens\": %d, "
               "\"ms\": %.3f, \"relative\": %.2f, \"kernels\": \"%s\"}\n",
               argv[1], threads, sizes[s], best * 1e3, best / base, ky_kernels_name());
    }
    ky_batch_free(&b);
    ky_context_free(ctx);
    ky_model_free(m);
    return 0;
}
