/* metrics.h — server counters and histograms, Prometheus text format (layer: server).
 *
 * Every value is a C11 atomic updated with relaxed operations: the engine thread and the I/O
 * thread write, /metrics reads, and nobody takes a lock. Names follow llama.cpp / vLLM
 * ("kaiyuan:prompt_tokens_total", ...).
 */
#ifndef KY_SERVER_METRICS_H
#define KY_SERVER_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/strbuf.h"

#define SRV_HIST_BUCKETS 14
#define SRV_N_STATUS     13

typedef struct srv_histogram {
    atomic_uint_fast64_t bucket[SRV_HIST_BUCKETS + 1]; /* non-cumulative; last is +Inf */
    atomic_uint_fast64_t sum_us;                       /* sum of observations in microseconds */
} srv_histogram;

typedef struct srv_metrics {
    atomic_uint_fast64_t requests[SRV_N_STATUS]; /* by status, see metrics.c's status list */
    atomic_uint_fast64_t prompt_tokens, generation_tokens, prompt_tokens_cached;
    atomic_uint_fast64_t decode_steps, batch_tokens, client_disconnects;
    atomic_uint_fast64_t draft_tokens, draft_accepted; /* prompt-lookup speculation */
    atomic_int_fast64_t running, waiting;
    atomic_uint_fast64_t kv_used, kv_total; /* positions in use / capacity (ratio on read) */
    srv_histogram ttft, itl;
} srv_metrics;

/* Zeroes every counter. */
void srv_metrics_init(srv_metrics *m);
/* Counts one response with HTTP status (statuses outside the list count as "other"). */
void srv_metrics_request(srv_metrics *m, int status);
/* Adds one observation in seconds to a histogram. */
void srv_metrics_observe(srv_histogram *h, double seconds);
/* Appends the Prometheus text exposition of every metric to sb. */
void srv_metrics_format(srv_metrics *m, ky_strbuf *sb);

#endif
