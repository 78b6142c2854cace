/* sampler.c — the sampler chain behind the public ky_sampler_* API (layer: sampler).
 *
 * Order follows llama.cpp's common sampler: logit bias → penalties (repeat / frequency / presence
 * over the last N accepted tokens) → top-k → top-p → min-p → temperature → softmax → draw with a
 * seeded xoshiro256** generator. All buffers are sized for n_vocab at creation; a sampling step
 * allocates nothing and never sorts the whole vocabulary unless the distribution forces it.
 */
#include "sampler/sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/limits.h"
#include "base/status.h"

/* top-p without top-k buckets candidates by their distance to the max logit, finds the bucket
 * where the cumulative probability crosses p, and sorts only the candidates up to that bucket. */
#define TOPP_BUCKETS 512
#define TOPP_RANGE   32.0f /* logits below max - TOPP_RANGE share the last bucket */

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct ky_sampler {
    ky_sampler_params params; /* copy; params.logit_bias points to bias below */
    ky_logit_bias *bias;      /* [n_bias] owned copy */
    size_t n_bias;
    int32_t n_vocab;
    float *work; /* [n_vocab] logits after bias and penalties */
    cand *cand;  /* [n_vocab] candidate set of the current step */
    size_t n_cand;
    float cand_max; /* max logit of the candidate set */

    /* Penalty history (allocated only when a penalty is active and penalty_last_n != 0). */
    bool pen_on;
    int32_t *count;    /* [n_vocab] occurrences of each token in the window */
    int32_t *seen;     /* [n_vocab] tokens with count > 0, in no particular order */
    int32_t *seen_pos; /* [n_vocab] index of a token in seen, or -1 */
    int32_t n_seen;
    int32_t *ring; /* [ring_cap] last accepted tokens (window > 0 only) */
    int32_t ring_cap, ring_len, ring_head;

    uint64_t rng[4]; /* xoshiro256** state */
    double bucket_mass[TOPP_BUCKETS];
    int32_t bucket_n[TOPP_BUCKETS];
};

/* ---------------------------------------------------------------------------------------------
 * PRNG: xoshiro256** seeded through splitmix64 (same stream on every machine)
 * ------------------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static void rng_seed(ky_sampler *s, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

uint64_t sampler_rng_next(ky_sampler *s) {
    uint64_t *r = s->rng;
    uint64_t out = rotl64(r[1] * 5, 7) * 9;
    uint64_t t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl64(r[3], 45);
    return out;
}

/* Uniform double in [0, 1) with 53 random bits. */
static double rng_uniform(ky_sampler *s) {
    return (double)(sampler_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---------------------------------------------------------------------------------------------
 * Parameters and lifetime
 * ------------------------------------------------------------------------------------------- */

ky_sampler_params ky_sampler_default_params(void) {
    ky_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.penalty_last_n = 64;
    p.seed = 0;
    p.logit_bias = NULL;
    p.n_logit_bias = 0;
    return p;
}

static ky_status validate(const ky_sampler_params *p, int32_t n_vocab, ky_error *err) {
    if (n_vocab <= 0 || n_vocab > KY_MAX_VOCAB)
        return ky_errf(err, KY_ERR_INVALID_ARG, "sampler: n_vocab %d outside [1, %d]", (int)n_vocab,
                       (int)KY_MAX_VOCAB);
    if (!isfinite(p->temperature) || p->temperature < 0.0f)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "sampler: temperature %g must be finite and >= 0 (0 = greedy)",
                       (double)p->temperature);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return ky_errf(err, KY_ERR_INVALID_ARG, "sampler: top_p %g outside (0, 1] (1 = off)",
                       (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return ky_errf(err, KY_ERR_INVALID_ARG, "sampler: min_p %g outside [0, 1] (0 = off)",
                       (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0.0f)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "sampler: repeat_penalty %g must be finite and > 0 (1 = off)",
                       (double)p->repeat_penalty);
    if (!isfinite(p->frequency_penalty))
        return ky_errf(err, KY_ERR_INVALID_ARG, "sampler: frequency_penalty %g is not finite",
                       (double)p->frequency_penalty);
    if (!isfinite(p->presence_penalty))
        return ky_errf(err, KY_ERR_INVALID_ARG, "sampler: presence_penalty %g is not finite",
                       (double)p->presence_penalty);
    if (p->penalty_last_n < -1 || p->penalty_last_n > KY_MAX_CTX)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "sampler: penalty_last_n %d outside [-1, %d] (-1 = all, 0 = off)",
                       (int)p->penalty_last_n, (int)KY_MAX_CTX);
    if (p->n_logit_bias > 0 && !p->logit_bias)
        return ky_errf(err, KY_ERR_INVALID_ARG, "sampler: n_logit_bias %zu with a NULL logit_bias",
                       p->n_logit_bias);
    if (p->n_logit_bias > (size_t)KY_MAX_VOCAB * 4)
        return ky_errf(err, KY_ERR_INVALID_ARG, "sampler: n_logit_bias %zu is too large",
                       p->n_logit_bias);
    for (size_t i = 0; i < p->n_logit_bias; i++) {
        const ky_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || b->token >= n_vocab)
            return ky_errf(err, KY_ERR_INVALID_ARG,
                           "sampler: logit_bias[%zu]: token %d outside the vocabulary [0, %d)", i,
                           (int)b->token, (int)n_vocab);
        if (isnan(b->bias) || b->bias == INFINITY)
            return ky_errf(err, KY_ERR_INVALID_ARG,
                           "sampler: logit_bias[%zu]: token %d: bias %g must be finite or -inf", i,
                           (int)b->token, (double)b->bias);
    }
    return KY_OK;
}

static void *alloc_array(size_t n, size_t size) {
    size_t bytes;
    if (ky_mul_overflow_size(n, size, &bytes)) return NULL;
    return malloc(bytes ? bytes : 1);
}

static void clear_history(ky_sampler *s) {
    if (!s->pen_on) return;
    for (int32_t i = 0; i < s->n_seen; i++) {
        s->count[s->seen[i]] = 0;
        s->seen_pos[s->seen[i]] = -1;
    }
    s->n_seen = 0;
    s->ring_len = 0;
    s->ring_head = 0;
}

ky_status ky_sampler_create(const ky_sampler_params *params, int32_t n_vocab, ky_sampler **out,
                            ky_error *err) {
    ky_sampler_params defaults = ky_sampler_default_params();
    if (!params) params = &defaults;
    if (!out) return ky_errf(err, KY_ERR_INVALID_ARG, "sampler: out is NULL");
    ky_status st = validate(params, n_vocab, err);
    if (st != KY_OK) return st;

    ky_sampler *s = calloc(1, sizeof *s);
    if (!s) return ky_errf(err, KY_ERR_NOMEM, "sampler: out of memory");
    s->params = *params;
    s->n_vocab = n_vocab;
    s->n_bias = params->n_logit_bias;
    s->bias = alloc_array(s->n_bias, sizeof *s->bias);
    s->work = alloc_array((size_t)n_vocab, sizeof *s->work);
    s->cand = alloc_array((size_t)n_vocab, sizeof *s->cand);
    bool ok = s->bias && s->work && s->cand;
    s->pen_on = params->penalty_last_n != 0 &&
                (params->repeat_penalty != 1.0f || params->frequency_penalty != 0.0f ||
                 params->presence_penalty != 0.0f);
    if (ok && s->pen_on) {
        s->count = calloc((size_t)n_vocab, sizeof *s->count);
        s->seen = alloc_array((size_t)n_vocab, sizeof *s->seen);
        s->seen_pos = alloc_array((size_t)n_vocab, sizeof *s->seen_pos);
        s->ring_cap = params->penalty_last_n > 0 ? params->penalty_last_n : 0;
        s->ring = alloc_array((size_t)s->ring_cap, sizeof *s->ring);
        ok = s->count && s->seen && s->seen_pos && s->ring;
        if (ok)
            for (int32_t i = 0; i < n_vocab; i++) s->seen_pos[i] = -1;
    }
    if (!ok) {
        ky_sampler_free(s);
        return ky_errf(err, KY_ERR_NOMEM, "sampler: out of memory for n_vocab %d", (int)n_vocab);
    }
    if (s->n_bias) memcpy(s->bias, params->logit_bias, s->n_bias * sizeof *s->bias);
    s->params.logit_bias = s->bias;
    rng_seed(s, params->seed);
    ky_error_clear(err);
    *out = s;
    return KY_OK;
}

void ky_sampler_free(ky_sampler *s) {
    if (!s) return;
    free(s->bias);
    free(s->work);
    free(s->cand);
    free(s->count);
    free(s->seen);
    free(s->seen_pos);
    free(s->ring);
    free(s);
}

void ky_sampler_reset(ky_sampler *s) {
    if (!s) return;
    clear_history(s);
    rng_seed(s, s->params.seed);
}

/* ---------------------------------------------------------------------------------------------
 * Penalty history
 * ------------------------------------------------------------------------------------------- */

static void count_add(ky_sampler *s, int32_t t) {
    if (s->count[t]++ == 0) {
        s->seen_pos[t] = s->n_seen;
        s->seen[s->n_seen++] = t;
    }
}

static void count_remove(ky_sampler *s, int32_t t) {
    if (--s->count[t] == 0) {
        int32_t pos = s->seen_pos[t], last = s->seen[--s->n_seen];
        s->seen[pos] = last;
        s->seen_pos[last] = pos;
        s->seen_pos[t] = -1;
    }
}

void ky_sampler_accept(ky_sampler *s, ky_token token) {
    if (!s || !s->pen_on || token < 0 || token >= s->n_vocab) return;
    if (s->ring_cap == 0) { /* penalty_last_n == -1: every token since the last reset */
        if (s->count[token] < INT32_MAX) count_add(s, token);
        return;
    }
    if (s->ring_len == s->ring_cap) { /* drop the oldest */
        count_remove(s, s->ring[s->ring_head]);
        s->ring[s->ring_head] = token;
        s->ring_head = (s->ring_head + 1) % s->ring_cap;
    } else {
        s->ring[(s->ring_head + s->ring_len) % s->ring_cap] = token;
        s->ring_len++;
    }
    count_add(s, token);
}

/* ---------------------------------------------------------------------------------------------
 * The chain
 * ------------------------------------------------------------------------------------------- */

/* NaN becomes -inf (never chosen), +inf becomes FLT_MAX so differences stay finite. */
static inline float sanitize(float v) {
    if (isnan(v)) return -INFINITY;
    if (v == INFINITY) return FLT_MAX;
    return v;
}

/* Max of w[0..n) with eight independent lanes (vectorizes; -inf when n is 0). */
static float max_of(const float *w, int32_t n) {
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) m[j] = w[i + j] > m[j] ? w[i + j] : m[j];
    for (; i < n; i++) m[0] = w[i] > m[0] ? w[i] : m[0];
    float max = m[0];
    for (int j = 1; j < 8; j++) max = m[j] > max ? m[j] : max;
    return max;
}

/* Sets work[t] = v (sanitized), keeping *max exact: a raised value may become the max; lowering
 * a value equal to the max forces a rescan (*rescan). */
static inline void set_work(ky_sampler *s, int32_t t, float v, float *max, bool *rescan) {
    float old = s->work[t];
    v = sanitize(v);
    s->work[t] = v;
    if (v > *max)
        *max = v;
    else if (old == *max && v < old)
        *rescan = true;
}

/* work = logits + bias, then penalties on the tokens of the window; tokens whose bit is clear in
 * mask (when not NULL) become -inf first. Returns the max of work. */
static float apply_bias_penalties(ky_sampler *s, const float *restrict logits,
                                  const uint32_t *restrict mask) {
    float *restrict w = s->work;
    const int32_t n = s->n_vocab;
    /* Branch-free copy with eight independent maxima (vectorizes; NaN compares false). */
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            float v = logits[i + j];
            v = v == v ? v : -INFINITY;
            v = v < FLT_MAX ? v : FLT_MAX;
            w[i + j] = v;
            m[j] = v > m[j] ? v : m[j];
        }
    }
    for (; i < n; i++) {
        float v = sanitize(logits[i]);
        w[i] = v;
        m[0] = v > m[0] ? v : m[0];
    }
    float max = m[0];
    for (int j = 1; j < 8; j++) max = m[j] > max ? m[j] : max;
    if (mask) {
        /* Grammar mask: banned tokens become -inf (32 at a time; the max is rescanned). */
        for (int32_t k = 0; k < n; k += 32) {
            uint32_t bits = mask[k >> 5];
            if (bits == UINT32_MAX) continue;
            int32_t e = k + 32 < n ? k + 32 : n;
            for (int32_t t = k; t < e; t++)
                if (!((bits >> (t - k)) & 1u)) w[t] = -INFINITY;
        }
        max = max_of(w, n);
    }

    bool rescan = false;
    for (size_t b = 0; b < s->n_bias; b++) {
        int32_t t = s->bias[b].token;
        float bias = s->bias[b].bias;
        set_work(s, t, bias == -INFINITY ? -INFINITY : w[t] + bias, &max, &rescan);
    }
    if (s->pen_on) {
        const float rep = s->params.repeat_penalty, freq = s->params.frequency_penalty,
                    pres = s->params.presence_penalty;
        for (int32_t k = 0; k < s->n_seen; k++) {
            int32_t t = s->seen[k];
            float l = w[t];
            if (l == -INFINITY) continue;
            if (rep != 1.0f) l = l <= 0.0f ? l * rep : l / rep;
            l -= (float)s->count[t] * freq + pres;
            set_work(s, t, l, &max, &rescan);
        }
    }
    return rescan ? max_of(w, n) : max;
}

/* a ranks before b: higher logit, then lower id. */
static inline bool better(cand a, cand b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

/* Min-heap (worst candidate at the root) sift-down over h[0..n). */
static void heap_down(cand *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, worst = i;
        if (l < n && better(h[worst], h[l])) worst = l;
        if (r < n && better(h[worst], h[r])) worst = r;
        if (worst == i) return;
        cand t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

static void heap_up(cand *h, size_t i) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!better(h[parent], h[i])) return;
        cand t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* Sorts a heap built by heap_up/heap_down (worst at the root) best first, in place. */
static void heap_sort_best_first(cand *h, size_t n) {
    for (size_t end = n; end > 1; end--) {
        cand t = h[0];
        h[0] = h[end - 1];
        h[end - 1] = t;
        heap_down(h, end - 1, 0);
    }
}

/* Sorts a[0..n) best first in place (heapsort: no allocation, unlike glibc's qsort). */
static void sort_best_first(cand *a, size_t n) {
    for (size_t i = n / 2; i-- > 0;) heap_down(a, n, i);
    heap_sort_best_first(a, n);
}

/* cand[0..n) = the k best finite tokens of work, sorted best first. */
static size_t select_top_k(ky_sampler *s, size_t k) {
    cand *h = s->cand;
    size_t n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        cand c = {s->work[i], i};
        if (c.logit == -INFINITY) continue;
        if (n < k) {
            h[n] = c;
            heap_up(h, n++);
        } else if (better(c, h[0])) {
            h[0] = c;
            heap_down(h, n, 0);
        }
    }
    heap_sort_best_first(h, n);
    return n;
}

static inline int bucket_of(float max, float l) {
    float d = max - l;
    if (!(d < TOPP_RANGE)) return TOPP_BUCKETS - 1;
    int b = (int)(d * ((float)TOPP_BUCKETS / TOPP_RANGE));
    return b < TOPP_BUCKETS ? b : TOPP_BUCKETS - 1;
}

/* Builds the candidate set in s->cand[0..s->n_cand) after top-k, top-p and min-p (temperature
 * does not change the set); max is the max of work. Returns false when every token is banned. */
static bool build_candidates(ky_sampler *s, float max) {
    const ky_sampler_params *p = &s->params;
    s->n_cand = 0;
    s->cand_max = max;
    if (max == -INFINITY) return false;
    /* min-p keeps p_i >= min_p * p_max, i.e. logit >= max + log(min_p). */
    const float t_min = p->min_p > 0.0f ? max + logf(p->min_p) : -INFINITY;
    const bool top_p_on = p->top_p < 1.0f;

    if (p->top_k > 0 && p->top_k < s->n_vocab) {
        size_t n = select_top_k(s, (size_t)p->top_k);
        if (top_p_on) { /* the shortest sorted prefix whose mass reaches top_p */
            double z = 0.0, cum = 0.0;
            for (size_t i = 0; i < n; i++) z += expf(s->cand[i].logit - max);
            const double target = (double)p->top_p * z;
            for (size_t i = 0; i < n; i++) {
                cum += expf(s->cand[i].logit - max);
                if (cum >= target) {
                    n = i + 1;
                    break;
                }
            }
        }
        size_t keep = 1;
        while (keep < n && s->cand[keep].logit >= t_min) keep++;
        s->n_cand = keep;
        return true;
    }

    size_t n = 0;
    if (!top_p_on) { /* no order needed: the min-p pool in id order */
        for (int32_t i = 0; i < s->n_vocab; i++) {
            float l = s->work[i];
            if (l == -INFINITY || l < t_min) continue;
            s->cand[n].logit = l;
            s->cand[n].id = i;
            n++;
        }
        s->n_cand = n;
        return true;
    }

    /* top-p over the whole vocabulary. The mass is normalised over every finite token; the
     * prefix is searched among the min-p pool (min-p's set is itself a sorted prefix, so the
     * result is the shorter of the two). Buckets by distance to the max locate the crossing;
     * buckets above it are kept whole and unsorted, only the crossing bucket is sorted. */
    memset(s->bucket_mass, 0, sizeof s->bucket_mass);
    double z = 0.0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float l = s->work[i];
        if (l == -INFINITY) continue;
        double e = expf(l - max);
        z += e;
        if (l >= t_min) s->bucket_mass[bucket_of(max, l)] += e;
    }
    const double target = (double)p->top_p * z;
    int last = TOPP_BUCKETS - 1;
    double above = 0.0; /* mass of the buckets before the crossing one */
    for (int b = 0; b < TOPP_BUCKETS; b++) {
        if (above + s->bucket_mass[b] >= target) {
            last = b;
            break;
        }
        above += s->bucket_mass[b];
    }
    /* Whole buckets first (id order), then the crossing bucket at the end. */
    size_t n_cross = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float l = s->work[i];
        if (l == -INFINITY || l < t_min) continue;
        int b = bucket_of(max, l);
        if (b < last) {
            s->cand[n].logit = l;
            s->cand[n].id = i;
            n++;
        }
    }
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float l = s->work[i];
        if (l == -INFINITY || l < t_min || bucket_of(max, l) != last) continue;
        s->cand[n + n_cross].logit = l;
        s->cand[n + n_cross].id = i;
        n_cross++;
    }
    cand *cross = s->cand + n;
    sort_best_first(cross, n_cross);
    size_t keep = n_cross; /* if rounding keeps the walk below target, the bucket stays whole */
    double cum = above;
    for (size_t i = 0; i < n_cross; i++) {
        cum += expf(cross[i].logit - max);
        if (cum >= target) {
            keep = i + 1;
            break;
        }
    }
    s->n_cand = n + keep;
    return true;
}

/* Greedy choice: highest logit of work, lowest id on ties; KY_TOKEN_NULL if all banned. */
static ky_token argmax(const ky_sampler *s, float max) {
    if (max == -INFINITY) return KY_TOKEN_NULL;
    for (int32_t i = 0; i < s->n_vocab; i++)
        if (s->work[i] == max) return i;
    return KY_TOKEN_NULL;
}

/* Replaces the candidates' logits by softmax weights at the sampler's temperature (max weight
 * 1) and returns their sum. */
static double to_weights(ky_sampler *s) {
    const float inv_t = 1.0f / s->params.temperature, max = s->cand_max;
    double total = 0.0;
    for (size_t i = 0; i < s->n_cand; i++) {
        float w = expf((s->cand[i].logit - max) * inv_t);
        s->cand[i].logit = w;
        total += w;
    }
    return total;
}

ky_token ky_sampler_sample(ky_sampler *s, const float *logits) {
    return ky_sampler_sample_masked(s, logits, NULL);
}

ky_token ky_sampler_sample_masked(ky_sampler *s, const float *logits, const uint32_t *mask) {
    if (!s || !logits) return KY_TOKEN_NULL;
    float max = apply_bias_penalties(s, logits, mask);
    if (s->params.temperature <= 0.0f) return argmax(s, max);
    /* One draw per step whatever the candidate count, so the stream stays aligned. */
    double u = rng_uniform(s);
    if (!build_candidates(s, max)) return KY_TOKEN_NULL;
    if (s->n_cand == 1) return s->cand[0].id;
    double target = u * to_weights(s), acc = 0.0;
    for (size_t i = 0; i < s->n_cand; i++) {
        acc += s->cand[i].logit;
        if (acc > target) return s->cand[i].id;
    }
    return s->cand[s->n_cand - 1].id;
}

ky_status sampler_candidates(ky_sampler *s, const float *logits, ky_token *ids, float *probs,
                             size_t cap, size_t *n_out) {
    if (!s || !logits || !n_out) return KY_ERR_INVALID_ARG;
    float max = apply_bias_penalties(s, logits, NULL);
    if (s->params.temperature <= 0.0f) {
        ky_token t = argmax(s, max);
        *n_out = t == KY_TOKEN_NULL ? 0 : 1;
        if (*n_out > cap) return KY_ERR_INVALID_ARG;
        if (*n_out) {
            if (ids) ids[0] = t;
            if (probs) probs[0] = 1.0f;
        }
        return KY_OK;
    }
    build_candidates(s, max);
    *n_out = s->n_cand;
    if (s->n_cand > cap) return KY_ERR_INVALID_ARG;
    double total = to_weights(s);
    for (size_t i = 0; i < s->n_cand; i++) {
        if (ids) ids[i] = s->cand[i].id;
        if (probs) probs[i] = (float)(s->cand[i].logit / total);
    }
    return KY_OK;
}

ky_token ky_sampler_sample_draft(ky_sampler *s, const float *logits, ky_token draft,
                                 bool *accepted) {
    if (accepted) *accepted = false;
    if (!s || !logits) return KY_TOKEN_NULL;
    float max = apply_bias_penalties(s, logits, NULL);
    if (s->params.temperature <= 0.0f) {
        ky_token t = argmax(s, max);
        if (accepted) *accepted = t != KY_TOKEN_NULL && t == draft;
        return t;
    }
    double u = rng_uniform(s), v = rng_uniform(s); /* two draws per step, whatever happens */
    if (!build_candidates(s, max)) return KY_TOKEN_NULL;
    double total = to_weights(s), p_draft = 0.0;
    for (size_t i = 0; i < s->n_cand; i++)
        if (s->cand[i].id == draft) p_draft = s->cand[i].logit;
    /* Accept with the target probability p(draft) (the draft distribution is a point mass). */
    if (p_draft > 0.0 && u * total < p_draft) {
        if (accepted) *accepted = true;
        return draft;
    }
    /* Rejected: draw from p with the draft removed, renormalised — max(0, p - q) for point q. */
    double rest = total - p_draft, target = v * rest, acc = 0.0;
    ky_token last = KY_TOKEN_NULL;
    for (size_t i = 0; i < s->n_cand; i++) {
        if (s->cand[i].id == draft) continue;
        last = s->cand[i].id;
        acc += s->cand[i].logit;
        if (acc > target) return last;
    }
    return last != KY_TOKEN_NULL ? last : draft; /* the draft was the only candidate */
}

size_t ky_draft_ngram(const ky_token *hist, size_t n, int32_t n_min, int32_t n_max, ky_token *out,
                      size_t cap) {
    if (!hist || !out || cap == 0 || n_min < 1 || n_max < n_min) return 0;
    for (int32_t g = n_max; g >= n_min; g--) {
        size_t gl = (size_t)g;
        if (n <= gl) continue;
        const ky_token *suffix = hist + n - gl;
        /* most recent earlier occurrence whose continuation is in hist */
        for (size_t start = n - gl; start-- > 0;) {
            if (hist[start] != suffix[0] || memcmp(hist + start, suffix, gl * sizeof *hist) != 0)
                continue;
            size_t from = start + gl, k = 0;
            while (k < cap && from + k < n) {
                out[k] = hist[from + k];
                k++;
            }
            if (k) return k;
        }
    }
    return 0;
}
