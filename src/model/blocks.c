/* blocks.c — shared transformer blocks over a batch: norms, projections, RoPE, causal GQA
 * attention over the KV cache, SwiGLU and mixture-of-experts FFNs (layer: model).
 *
 * Numerics follow llama.cpp where it matters for agreement: RoPE angles are built by repeated
 * multiplication in float like ggml's rope cache, attention scales q·k by 1/sqrt(head_dim) before a
 * max-subtracted softmax whose exponentials and sums are those of ggml's soft_max (the kernel
 * table's exp_sum), MoE weights are that softmax over all experts, top-k, renormalized.
 */
#include "model/blocks.h"

#include <math.h>
#include <string.h>

#include "tensor/fp16.h"

/* ---------------------------------------------------------------------------------------------
 * Parallel helpers
 * ------------------------------------------------------------------------------------------- */

typedef void (*row_fn)(ky_fwd *f, int64_t row, void *ctx);

typedef struct rows_job {
    ky_fwd *f;
    row_fn fn;
    void *ctx;
    long n, chunk, next;
} rows_job;

static void rows_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    rows_job *job = arg;
    long b, e;
    while (ky_pool_claim(&job->next, job->n, job->chunk, &b, &e))
        for (long r = b; r < e; r++) job->fn(job->f, r, job->ctx);
}

/* Runs fn for rows [0, n): inline for small n, else in chunks across the pool. */
static void par_rows(ky_fwd *f, int64_t n, row_fn fn, void *ctx) {
    if (n < 4 || f->n_threads == 1) {
        for (int64_t r = 0; r < n; r++) fn(f, r, ctx);
        return;
    }
    rows_job job = {f, fn, ctx, (long)n, ky_pool_chunk((long)n, f->n_threads, 4), 0};
    ky_pool_run(f->pool, rows_worker, &job);
}

/* ---------------------------------------------------------------------------------------------
 * Norms and projections
 * ------------------------------------------------------------------------------------------- */

typedef struct norm_ctx {
    const float *in;
    const float *weight;
    float *out;
    int64_t width;
} norm_ctx;

static void norm_row(ky_fwd *f, int64_t t, void *p) {
    norm_ctx *c = p;
    f->kt->rmsnorm(c->in + t * c->width, c->weight, c->out + t * c->width, c->width,
                   f->hp->rms_eps);
}

void blk_rmsnorm(ky_fwd *f, const float *in, const float *weight, float *out) {
    norm_ctx c = {in, weight, out, f->hp->n_embd};
    par_rows(f, f->n_tok, norm_row, &c);
}

void blk_matmul(ky_fwd *f, const ky_matrix *w, const float *x, float *y) {
    ky_matmul(f->pool, f->kt, w, x, w->n_in, f->n_tok, y, w->n_out, f->mm_scratch);
}

static void add_bias(ky_fwd *f, float *y, const float *bias, int64_t width) {
    if (!bias) return;
    for (int32_t t = 0; t < f->n_tok; t++) {
        float *row = y + (int64_t)t * width;
        for (int64_t i = 0; i < width; i++) row[i] += bias[i];
    }
}

void blk_qkv(ky_fwd *f, const ky_layer *L) {
    /* one activation conversion and one pool dispatch for the three projections */
    const ky_matrix *w[3] = {&L->wq, &L->wk, &L->wv};
    float *y[3] = {f->q, f->k, f->v};
    int64_t ldy[3] = {L->wq.n_out, L->wk.n_out, L->wv.n_out};
    ky_matmul_multi(f->pool, f->kt, 3, w, f->xn, L->wq.n_in, f->n_tok, y, ldy, f->mm_scratch);
    add_bias(f, f->q, L->bq, L->wq.n_out);
    add_bias(f, f->k, L->bk, L->wk.n_out);
    add_bias(f, f->v, L->bv, L->wv.n_out);
}

typedef struct head_norm_ctx {
    float *buf;
    int32_t n_heads;
    const float *weight;
} head_norm_ctx;

static void head_norm_row(ky_fwd *f, int64_t t, void *p) {
    head_norm_ctx *c = p;
    int64_t hd = f->hp->head_dim;
    float *row = c->buf + t * c->n_heads * hd;
    for (int32_t h = 0; h < c->n_heads; h++)
        f->kt->rmsnorm(row + h * hd, c->weight, row + h * hd, hd, f->hp->rms_eps);
}

void blk_head_rmsnorm(ky_fwd *f, float *buf, int32_t n_heads, const float *weight) {
    head_norm_ctx c = {buf, n_heads, weight};
    par_rows(f, f->n_tok, head_norm_row, &c);
}

/* ---------------------------------------------------------------------------------------------
 * RoPE
 * ------------------------------------------------------------------------------------------- */

/* cos/sin of every rotary pair for every batch position, like ggml's rope cache: the angle of
 * pair i is pos · base^(-2i/n_rot) built by repeated multiplication in float, divided by the
 * optional frequency factor and multiplied by 1/rope_scale. */
static void rope_tables(ky_fwd *f) {
    const ky_hparams *hp = f->hp;
    int32_t half = hp->n_rot / 2;
    float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    float freq_scale = 1.0f / hp->rope_scale;
    for (int32_t t = 0; t < f->n_tok; t++) {
        float theta = (float)f->pos[t];
        float *cs = f->rope_cs + (int64_t)t * half * 2;
        for (int32_t i = 0; i < half; i++) {
            float ff = f->w->rope_freqs ? f->w->rope_freqs[i] : 1.0f;
            float angle = freq_scale * (theta / ff);
            cs[2 * i] = cosf(angle);
            cs[2 * i + 1] = sinf(angle);
            theta *= theta_scale;
        }
    }
}

static void rope_heads(const ky_hparams *hp, float *row, int32_t n_heads, const float *cs) {
    int32_t half = hp->n_rot / 2, hd = hp->head_dim;
    for (int32_t h = 0; h < n_heads; h++) {
        float *x = row + (int64_t)h * hd;
        if (hp->rope_neox) {
            for (int32_t i = 0; i < half; i++) {
                float c = cs[2 * i], s = cs[2 * i + 1];
                float a = x[i], b = x[i + half];
                x[i] = a * c - b * s;
                x[i + half] = a * s + b * c;
            }
        } else {
            for (int32_t i = 0; i < half; i++) {
                float c = cs[2 * i], s = cs[2 * i + 1];
                float a = x[2 * i], b = x[2 * i + 1];
                x[2 * i] = a * c - b * s;
                x[2 * i + 1] = a * s + b * c;
            }
        }
    }
}

static void rope_row(ky_fwd *f, int64_t t, void *p) {
    (void)p;
    const ky_hparams *hp = f->hp;
    const float *cs = f->rope_cs + t * hp->n_rot;
    rope_heads(hp, f->q + t * (int64_t)hp->n_head * hp->head_dim, hp->n_head, cs);
    rope_heads(hp, f->k + t * (int64_t)hp->n_head_kv * hp->head_dim, hp->n_head_kv, cs);
}

void blk_rope_qk(ky_fwd *f) {
    rope_tables(f);
    par_rows(f, f->n_tok, rope_row, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Attention
 * ------------------------------------------------------------------------------------------- */

static void store_kv(ky_fwd *f, int il) {
    const ky_hparams *hp = f->hp;
    int32_t hd = hp->head_dim;
    bool f16 = f->kv.type == KY_TYPE_F16;
    size_t n_ctx = (size_t)f->kv.n_ctx;
    for (int32_t t = 0; t < f->n_tok; t++) {
        const float *krow = f->k + (int64_t)t * hp->n_head_kv * hd;
        const float *vrow = f->v + (int64_t)t * hp->n_head_kv * hd;
        size_t p = (size_t)f->pos[t];
        for (int32_t h = 0; h < hp->n_head_kv; h++) {
            void *kd = ky_kv_k(&f->kv, il, f->seq[t], h, f->pos[t]);
            void *vt = ky_kv_vt(&f->kv, il, f->seq[t], h);
            const float *vs = vrow + (int64_t)h * hd;
            if (f16) {
                f->kt->f32_to_f16(krow + (int64_t)h * hd, kd, hd);
                uint16_t *v16 = vt;
                for (int32_t d = 0; d < hd; d++) v16[(size_t)d * n_ctx + p] = ky_f32_to_f16(vs[d]);
            } else {
                memcpy(kd, krow + (int64_t)h * hd, (size_t)hd * sizeof(float));
                float *v32 = vt;
                for (int32_t d = 0; d < hd; d++) v32[(size_t)d * n_ctx + p] = vs[d];
            }
        }
    }
}

/* Splits the micro-batch into query blocks: runs of consecutive entries of one sequence with
 * consecutive positions, at most att_block_tokens long. Returns the block count. */
static int32_t make_blocks(ky_fwd *f) {
    int32_t n = 0;
    for (int32_t t = 0; t < f->n_tok;) {
        int32_t len = 1;
        while (t + len < f->n_tok && len < f->att_block_tokens && f->seq[t + len] == f->seq[t] &&
               f->pos[t + len] == f->pos[t + len - 1] + 1)
            len++;
        f->att_blocks[n].t0 = t;
        f->att_blocks[n].n = len;
        n++;
        t += len;
    }
    return n;
}

/* Attention of one query block against one kv head is two GEMMs over the cache and a softmax:
 *   S = Q·Kᵀ (rows: the block's tokens × the G query heads sharing this kv head),
 *   P = softmax(S/sqrt(d)) with the causal mask, O = P·V (through Vᵀ rows), scattered into att.
 * A task is one (query block, kv head) pair; its scratch (S, Q, O) is one thread slot. Each
 * element of S and O is computed by the same kernel call shape whatever range of kv positions
 * (S) or head dimensions (O) a call covers, so splitting a task over threads changes no bit. */
typedef struct att_task {
    const ky_att_block *blk;
    int32_t kvh, n_kv, rows;
    float *S, *Q, *O;
} att_task;

static att_task make_task(ky_fwd *f, int64_t task, int slot) {
    int32_t G = f->hp->n_head / f->hp->n_head_kv;
    att_task t;
    t.blk = &f->att_blocks[task / f->hp->n_head_kv];
    t.kvh = (int32_t)(task % f->hp->n_head_kv);
    t.n_kv = f->pos[t.blk->t0 + t.blk->n - 1] + 1;
    t.rows = t.blk->n * G;
    t.S = f->att_s + (size_t)slot * f->att_s_stride;
    t.Q = f->att_q + (size_t)slot * f->att_q_stride;
    t.O = f->att_o + (size_t)slot * f->att_q_stride;
    return t;
}

static void att_gather_q(ky_fwd *f, const att_task *t) {
    int32_t hd = f->hp->head_dim, G = f->hp->n_head / f->hp->n_head_kv;
    int64_t q_w = (int64_t)f->hp->n_head * hd;
    for (int32_t i = 0; i < t->blk->n; i++)
        memcpy(t->Q + (int64_t)i * G * hd, f->q + (t->blk->t0 + i) * q_w + (int64_t)t->kvh * G * hd,
               (size_t)G * (size_t)hd * sizeof(float));
}

/* S[:, j0:j1) = Q·K[j0:j1)ᵀ */
static void att_scores(ky_fwd *f, int il, const att_task *t, int32_t j0, int32_t j1) {
    int32_t hd = f->hp->head_dim;
    size_t es = f->kv.elem_size;
    const char *K = ky_kv_k(&f->kv, il, f->seq[t->blk->t0], t->kvh, 0);
    f->kt->gemm[f->kv.type](hd, K + (size_t)j0 * (size_t)hd * es, (size_t)hd * es, j1 - j0, t->Q,
                            (size_t)hd * sizeof(float), t->rows, t->S + j0, t->n_kv);
}

/* Row r of S becomes its causal softmax (llama.cpp's soft_max numerics, see exp_sum). */
static void att_softmax_row(ky_fwd *f, const att_task *t, int32_t r) {
    int32_t G = f->hp->n_head / f->hp->n_head_kv;
    float *row = t->S + (int64_t)r * t->n_kv;
    int32_t valid = f->pos[t->blk->t0 + r / G] + 1;
    float scale = 1.0f / sqrtf((float)f->hp->head_dim), max = -INFINITY;
    for (int32_t j = 0; j < valid; j++) {
        row[j] *= scale;
        if (row[j] > max) max = row[j];
    }
    f->kt->scale_f32((float)(1.0 / f->kt->exp_sum(row, valid, max)), row, valid);
    for (int32_t j = valid; j < t->n_kv; j++) row[j] = 0.0f;
}

/* O[:, d0:d1) = P·V[:, d0:d1) */
static void att_values(ky_fwd *f, int il, const att_task *t, int32_t d0, int32_t d1) {
    size_t es = f->kv.elem_size, vt_stride = (size_t)f->kv.n_ctx * es;
    const char *Vt = ky_kv_vt(&f->kv, il, f->seq[t->blk->t0], t->kvh);
    f->kt->gemm[f->kv.type](t->n_kv, Vt + (size_t)d0 * vt_stride, vt_stride, d1 - d0, t->S,
                            (size_t)t->n_kv * sizeof(float), t->rows, t->O + d0, f->hp->head_dim);
}

static void att_scatter(ky_fwd *f, const att_task *t) {
    int32_t hd = f->hp->head_dim, G = f->hp->n_head / f->hp->n_head_kv;
    int64_t q_w = (int64_t)f->hp->n_head * hd;
    for (int32_t i = 0; i < t->blk->n; i++)
        memcpy(f->att + (t->blk->t0 + i) * q_w + (int64_t)t->kvh * G * hd,
               t->O + (int64_t)i * G * hd, (size_t)G * (size_t)hd * sizeof(float));
}

static void attend_task(ky_fwd *f, int il, const att_task *t) {
    att_gather_q(f, t);
    att_scores(f, il, t, 0, t->n_kv);
    for (int32_t r = 0; r < t->rows; r++) att_softmax_row(f, t, r);
    att_values(f, il, t, 0, f->hp->head_dim);
    att_scatter(f, t);
}

typedef struct attn_job {
    ky_fwd *f;
    int il;
    int64_t n_tasks;
    /* split mode: per phase, units = task × part */
    int phase;
    int32_t parts;
    long next;
} attn_job;

static void attn_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *job = arg;
    ky_fwd *f = job->f;
    for (;;) {
        int64_t task = __atomic_fetch_add(&f->atomic_task, 1, __ATOMIC_RELAXED);
        if (task >= job->n_tasks) break;
        att_task t = make_task(f, task, ith);
        attend_task(f, job->il, &t);
    }
}

enum { KV_SPLIT_MIN = 256, KV_PART_MIN = 64 };

/* Split mode (fewer tasks than threads, long contexts): every task owns thread slot = its index;
 * phase 0 splits the kv positions of S, phase 1 the rows of the softmax, phase 2 the head
 * dimensions of O into job->parts parts. */
static void attn_split_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    attn_job *job = arg;
    ky_fwd *f = job->f;
    long n_units = (long)(job->n_tasks * job->parts), b, e;
    while (ky_pool_claim(&job->next, n_units, 1, &b, &e)) {
        int64_t task = b / job->parts;
        int32_t part = (int32_t)(b % job->parts);
        att_task t = make_task(f, task, (int)task);
        int32_t len = job->phase == 0 ? t.n_kv : job->phase == 1 ? t.rows : f->hp->head_dim;
        int32_t p0 = (int32_t)((int64_t)len * part / job->parts),
                p1 = (int32_t)((int64_t)len * (part + 1) / job->parts);
        if (p0 == p1) continue;
        if (job->phase == 0)
            att_scores(f, job->il, &t, p0, p1);
        else if (job->phase == 1)
            for (int32_t r = p0; r < p1; r++) att_softmax_row(f, &t, r);
        else
            att_values(f, job->il, &t, p0, p1);
    }
}

void blk_attention(ky_fwd *f, int il) {
    store_kv(f, il);
    int32_t n_blocks = make_blocks(f);
    attn_job job = {f, il, (int64_t)n_blocks * f->hp->n_head_kv, 0, 1, 0};
    f->atomic_task = 0;
    /* Small work (short contexts of small models) is cheaper inline than a pool dispatch. */
    int64_t work =
        (int64_t)f->n_tok * f->hp->n_head * (int64_t)(f->pos[f->n_tok - 1] + 1) * f->hp->head_dim;
    if (f->n_threads == 1 || work < (1 << 15)) {
        attn_worker(&job, 0, 1);
        return;
    }
    int32_t max_kv = 0;
    for (int32_t t = 0; t < f->n_tok; t++)
        if (f->pos[t] + 1 > max_kv) max_kv = f->pos[t] + 1;
    if (job.n_tasks >= f->n_threads || max_kv < KV_SPLIT_MIN) {
        if (job.n_tasks == 1)
            attn_worker(&job, 0, 1);
        else
            ky_pool_run(f->pool, attn_worker, &job);
        return;
    }
    /* Few tasks (decode of a model with few kv heads) on many threads: split each task. */
    for (int64_t i = 0; i < job.n_tasks; i++) {
        att_task t = make_task(f, i, (int)i);
        att_gather_q(f, &t);
    }
    int32_t per = (int32_t)((f->n_threads + job.n_tasks - 1) / job.n_tasks);
    int32_t kv_parts = max_kv / KV_PART_MIN < per ? max_kv / KV_PART_MIN : per;
    int32_t parts[3] = {kv_parts > 0 ? kv_parts : 1, per, per};
    for (int phase = 0; phase < 3; phase++) {
        job.phase = phase;
        job.parts = parts[phase];
        job.next = 0;
        ky_pool_run(f->pool, attn_split_worker, &job);
    }
    for (int64_t i = 0; i < job.n_tasks; i++) {
        att_task t = make_task(f, i, (int)i);
        att_scatter(f, &t);
    }
}

static void add_rows(ky_fwd *f, float *x, const float *y) {
    int64_t n = (int64_t)f->n_tok * f->hp->n_embd;
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

void blk_attn_output(ky_fwd *f, const ky_layer *L) {
    blk_matmul(f, &L->wo, f->att, f->proj);
    add_rows(f, f->x, f->proj);
}

void blk_attention_block(ky_fwd *f, int il) {
    const ky_layer *L = &f->w->layers[il];
    blk_rmsnorm(f, f->x, L->attn_norm, f->xn);
    blk_qkv(f, L);
    if (L->q_norm) blk_head_rmsnorm(f, f->q, f->hp->n_head, L->q_norm);
    if (L->k_norm) blk_head_rmsnorm(f, f->k, f->hp->n_head_kv, L->k_norm);
    blk_rope_qk(f);
    blk_attention(f, il);
    blk_attn_output(f, L);
}

/* ---------------------------------------------------------------------------------------------
 * Feed-forward
 * ------------------------------------------------------------------------------------------- */

typedef struct glu_ctx {
    float *a;
    const float *b;
    int64_t width;
} glu_ctx;

static void glu_row(ky_fwd *f, int64_t t, void *p) {
    glu_ctx *c = p;
    f->kt->silu_mul(c->a + t * c->width, c->b + t * c->width, c->width);
}

void blk_ffn_swiglu(ky_fwd *f, const ky_layer *L) {
    const ky_matrix *w[2] = {&L->ffn_gate, &L->ffn_up};
    float *y[2] = {f->ff_a, f->ff_b};
    int64_t ldy[2] = {L->ffn_gate.n_out, L->ffn_up.n_out};
    ky_matmul_multi(f->pool, f->kt, 2, w, f->xn, L->ffn_gate.n_in, f->n_tok, y, ldy, f->mm_scratch);
    glu_ctx c = {f->ff_a, f->ff_b, L->ffn_gate.n_out};
    par_rows(f, f->n_tok, glu_row, &c);
    blk_matmul(f, &L->ffn_down, f->ff_a, f->proj);
    add_rows(f, f->x, f->proj);
}

/* Router: softmax over all experts, keep the top n_used (ties → lower id), renormalize. */
static void route_token(ky_fwd *f, int64_t t) {
    const ky_hparams *hp = f->hp;
    float *p = f->router + t * hp->n_expert;
    float max = -INFINITY;
    for (int32_t e = 0; e < hp->n_expert; e++)
        if (p[e] > max) max = p[e];
    f->kt->scale_f32((float)(1.0 / f->kt->exp_sum(p, hp->n_expert, max)), p, hp->n_expert);
    int32_t *ids = f->moe_ids + t * hp->n_expert_used;
    float *wts = f->moe_w + t * hp->n_expert_used;
    double wsum = 0.0; /* llama.cpp's sum_rows accumulates in double */
    for (int32_t k = 0; k < hp->n_expert_used; k++) {
        int32_t best = -1;
        for (int32_t e = 0; e < hp->n_expert; e++) {
            bool taken = false;
            for (int32_t j = 0; j < k; j++) taken |= ids[j] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;
        }
        ids[k] = best;
        wts[k] = p[best];
        wsum += p[best];
    }
    if (hp->norm_topk)
        for (int32_t k = 0; k < hp->n_expert_used; k++) wts[k] /= (float)wsum;
}

void blk_ffn_moe(ky_fwd *f, const ky_layer *L) {
    const ky_hparams *hp = f->hp;
    int64_t n_embd = hp->n_embd, n_ff = hp->n_ff_exp;
    blk_matmul(f, &L->gate_inp, f->xn, f->router);
    for (int32_t t = 0; t < f->n_tok; t++) route_token(f, t);

    memset(f->proj, 0, (size_t)f->n_tok * (size_t)n_embd * sizeof(float));
    int32_t n_tok = f->n_tok;
    for (int32_t e = 0; e < hp->n_expert; e++) {
        int32_t cnt = 0;
        for (int32_t t = 0; t < n_tok; t++)
            for (int32_t k = 0; k < hp->n_expert_used; k++)
                if (f->moe_ids[(int64_t)t * hp->n_expert_used + k] == e) {
                    f->moe_rows[cnt] = t;
                    f->moe_wrow[cnt] = f->moe_w[(int64_t)t * hp->n_expert_used + k];
                    memcpy(f->moe_x + (int64_t)cnt * n_embd, f->xn + (int64_t)t * n_embd,
                           (size_t)n_embd * sizeof(float));
                    cnt++;
                }
        if (cnt == 0) continue;
        ky_matrix gate = ky_expert_matrix(&L->gate_exps, n_ff, e);
        ky_matrix up = ky_expert_matrix(&L->up_exps, n_ff, e);
        ky_matrix down = ky_expert_matrix(&L->down_exps, n_embd, e);
        const ky_matrix *gu[2] = {&gate, &up};
        float *gu_y[2] = {f->ff_a, f->ff_b};
        int64_t gu_ld[2] = {n_ff, n_ff};
        ky_matmul_multi(f->pool, f->kt, 2, gu, f->moe_x, n_embd, cnt, gu_y, gu_ld, f->mm_scratch);
        for (int32_t r = 0; r < cnt; r++)
            f->kt->silu_mul(f->ff_a + (int64_t)r * n_ff, f->ff_b + (int64_t)r * n_ff, n_ff);
        /* the expert outputs land in moe_x (its inputs are no longer needed) */
        ky_matmul(f->pool, f->kt, &down, f->ff_a, n_ff, cnt, f->moe_x, n_embd, f->mm_scratch);
        for (int32_t r = 0; r < cnt; r++) {
            float *dst = f->proj + (int64_t)f->moe_rows[r] * n_embd;
            const float *src = f->moe_x + (int64_t)r * n_embd;
            float wr = f->moe_wrow[r];
            for (int64_t i = 0; i < n_embd; i++) dst[i] += wr * src[i];
        }
    }
    add_rows(f, f->x, f->proj);
}
