/* metrics.c — lock-free counters and their Prometheus text exposition (layer: server). */
#include "server/metrics.h"

#include <inttypes.h>
#include <string.h>

static const int k_status[SRV_N_STATUS] = {200, 400, 401, 404, 405, 413, 429,
                                           431, 499, 500, 501, 503, 0 /* other */};
static const double k_bounds[SRV_HIST_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};

void srv_metrics_init(srv_metrics *m) { memset(m, 0, sizeof *m); }

void srv_metrics_request(srv_metrics *m, int status) {
    int i = 0;
    while (i < SRV_N_STATUS - 1 && k_status[i] != status) i++;
    atomic_fetch_add_explicit(&m->requests[i], 1, memory_order_relaxed);
}

void srv_metrics_observe(srv_histogram *h, double seconds) {
    int i = 0;
    while (i < SRV_HIST_BUCKETS && seconds > k_bounds[i]) i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6) : 0;
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

static uint64_t ld(atomic_uint_fast64_t *v) {
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void counter(ky_strbuf *sb, const char *name, const char *help, uint64_t v) {
    ky_strbuf_printf(sb,
                     "# HELP kaiyuan:%s %s\n# TYPE kaiyuan:%s counter\nkaiyuan:%s %" PRIu64 "\n",
                     name, help, name, name, v);
}

static void gauge(ky_strbuf *sb, const char *name, const char *help, double v) {
    ky_strbuf_printf(sb, "# HELP kaiyuan:%s %s\n# TYPE kaiyuan:%s gauge\nkaiyuan:%s %.6g\n", name,
                     help, name, name, v);
}

static void histogram(ky_strbuf *sb, const char *name, const char *help, srv_histogram *h) {
    ky_strbuf_printf(sb, "# HELP kaiyuan:%s %s\n# TYPE kaiyuan:%s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i <= SRV_HIST_BUCKETS; i++) {
        cum += ld(&h->bucket[i]);
        if (i < SRV_HIST_BUCKETS)
            ky_strbuf_printf(sb, "kaiyuan:%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, k_bounds[i],
                             cum);
        else
            ky_strbuf_printf(sb, "kaiyuan:%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    }
    ky_strbuf_printf(sb, "kaiyuan:%s_sum %.6f\nkaiyuan:%s_count %" PRIu64 "\n", name,
                     (double)ld(&h->sum_us) / 1e6, name, cum);
}

void srv_metrics_format(srv_metrics *m, ky_strbuf *sb) {
    ky_strbuf_puts(sb, "# HELP kaiyuan:requests_total Responses sent, by HTTP status (499: the "
                       "client left before a response).\n# TYPE kaiyuan:requests_total counter\n");
    for (int i = 0; i < SRV_N_STATUS; i++) {
        if (k_status[i])
            ky_strbuf_printf(sb, "kaiyuan:requests_total{status=\"%d\"} %" PRIu64 "\n", k_status[i],
                             ld(&m->requests[i]));
        else
            ky_strbuf_printf(sb, "kaiyuan:requests_total{status=\"other\"} %" PRIu64 "\n",
                             ld(&m->requests[i]));
    }
    counter(sb, "prompt_tokens_total", "Prompt tokens of admitted requests.",
            ld(&m->prompt_tokens));
    counter(sb, "generation_tokens_total", "Generated tokens.", ld(&m->generation_tokens));
    counter(sb, "prompt_tokens_cached_total", "Prompt tokens served from the prefix cache.",
            ld(&m->prompt_tokens_cached));
    counter(sb, "decode_steps_total", "ky_decode calls of the engine.", ld(&m->decode_steps));
    counter(sb, "batch_tokens_total", "Tokens carried by all decode steps.", ld(&m->batch_tokens));
    counter(sb, "spec_decode_num_draft_tokens_total",
            "Tokens drafted by prompt lookup and verified (speculative decoding).",
            ld(&m->draft_tokens));
    counter(sb, "spec_decode_num_accepted_tokens_total",
            "Drafted tokens the sampler accepted (each one a generated token).",
            ld(&m->draft_accepted));
    counter(sb, "client_disconnects_total", "Requests whose client hung up before the end.",
            ld(&m->client_disconnects));
    gauge(sb, "requests_running", "Requests holding sequences.",
          (double)atomic_load_explicit(&m->running, memory_order_relaxed));
    gauge(sb, "requests_waiting", "Requests queued for a sequence.",
          (double)atomic_load_explicit(&m->waiting, memory_order_relaxed));
    uint64_t total = ld(&m->kv_total);
    gauge(sb, "kv_cache_usage_ratio", "Cached positions over KV cache capacity.",
          total ? (double)ld(&m->kv_used) / (double)total : 0.0);
    histogram(sb, "time_to_first_token_seconds", "Arrival to first generated token.", &m->ttft);
    histogram(sb, "inter_token_latency_seconds", "Time between generated tokens of a choice.",
              &m->itl);
}
