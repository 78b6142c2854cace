/* test_all_types.c — every weight type in every weight position, against the same weights in F32.
 *
 * For tiny-qwen3moe-f32 (router, 3-D expert tensors, untied output) and tiny-qwen2-f32 (Q/K/V
 * biases, token_embd tied as the output) and each type T in {f16, bf16, q4_0, q4_1, q5_0, q5_1,
 * q8_0, q2_K, q3_K, q4_K, q5_K, q6_K}, two files are built in a temp dir with the GGUF writer and
 * the reference quantizers: "quant" stores every 2-D/3-D matrix (embedding, router, experts,
 * attention, FFN, output) quantized to T, "deq" the same quantized weights dequantized back to F32
 * (1-D norms and biases are copied). Both must give the same logits for the 16-token prompt,
 * evaluated as one batch (GEMM kernels) and token by token (GEMV kernels), up to the error of the
 * activation side of the products, which only the "quant" file has: activations are rounded to
 * f16 / bf16 for F16 / BF16 weights and quantized to Q8_0 / Q8_1 / Q8_K (8 bits per value, one
 * scale per 32 or 256) for the others, as llama.cpp does. Those are relative errors (2^-11, 2^-8,
 * ~1/254 of a block's largest value), so the bounds are relative to the spread of the logits at
 * each position p (sd_p, ~1 for qwen3moe, ~2 for qwen2):
 *
 *   type      bound: RMS |Δ|/sd_p, max |Δ|/sd_p   measured      llama.cpp's F32 vs this type
 *   f16       2e-3, 1e-2                          5e-4, 2e-3    max |Δ| 2.6e-3 .. 4.9e-3
 *   bf16      1.5e-2, 6e-2                        4.5e-3, 1.7e-2  max |Δ| 0.02
 *   quantized 0.06, 0.25                          0.023, 0.085  max |Δ| 0.07 .. 0.14 (Q8_0)
 *
 * (max |Δ| is up to 0.17 here on qwen2. llama.cpp's differences, from the shared reference files,
 * also include the weights' own rounding, which is absent here.) Simulated
 * kernel errors in a single position — a nibble-order swap in token_embd (lookup), the untied
 * output, a router or one expert tensor, experts read one row off, a row's last block dropped —
 * give RMS/sd_p of 0.19 to 1.5, far outside. The argmax must agree at every position, except
 * where the F32 file's top-2 margin is within twice the max bound (a near-tie the allowed error
 * may flip; reported).
 *
 * qwen3moe is run with every expert active (expert_used_count = expert_count in both files): with
 * 2 of 8, a near-tie between router scores flips the expert choice under any perturbation — a
 * discontinuity, not a kernel error (llama.cpp's own Q8_0 and F32 logits differ by 0.63 at
 * position 8 for that reason). All 8 keep the router weighting every expert and exercise every
 * expert's slice of the 3-D tensors; top-k selection is covered by test_reference. The sanitizer
 * build runs qwen3moe with a sample of the types.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "kaiyuan.h"
#include "ref_compare.h"
#include "tensor/quant.h"
#include "tensor/types.h"
#include "test.h"

static const ky_token k_prompt[] = {1,   403, 407, 261, 378, 432, 383, 286,
                                    261, 376, 298, 315, 421, 395, 317, 426};
#define N_PROMPT ((int32_t)(sizeof k_prompt / sizeof k_prompt[0]))

static const uint32_t k_types[] = {KY_TYPE_F16,  KY_TYPE_BF16, KY_TYPE_Q4_0, KY_TYPE_Q4_1,
                                   KY_TYPE_Q5_0, KY_TYPE_Q5_1, KY_TYPE_Q8_0, KY_TYPE_Q2_K,
                                   KY_TYPE_Q3_K, KY_TYPE_Q4_K, KY_TYPE_Q5_K, KY_TYPE_Q6_K};
#define N_TYPES ((int)(sizeof k_types / sizeof k_types[0]))

/* Bounds relative to the logits' standard deviation at the position (see the table above). */
typedef struct bounds {
    double rms, max;
} bounds;

static bounds bounds_for(uint32_t type) {
    if (type == KY_TYPE_F16) return (bounds){2e-3, 1e-2};
    if (type == KY_TYPE_BF16) return (bounds){1.5e-2, 6e-2};
    return (bounds){0.06, 0.25};
}

/* Writes <stem>-<type>.gguf (matrices in `type`) and <stem>-<type>-deq.gguf (the same values
 * dequantized to F32) from shared model src. Paths go to qpath / fpath (600 bytes each). */
static bool build_pair(const char *src, const char *stem, uint32_t type, char *qpath, char *fpath) {
    ky_gguf *g;
    ky_error err;
    if (ky_gguf_open(ky_test_shared(src), &g, &err) != KY_OK) {
        fprintf(stderr, "%s\n", err.message);
        return false;
    }
    int64_t n_t = ky_gguf_n_tensors(g);
    void **bufs = calloc((size_t)(2 * n_t), sizeof *bufs);
    gguf_writer *wq = NULL, *wf = NULL;
    uint32_t align = (uint32_t)ky_gguf_alignment(g);
    ky_status st = bufs ? KY_OK : KY_ERR_NOMEM;
    if (!st) st = gguf_writer_create(ky_gguf_version(g), align, &wq, &err);
    if (!st) st = gguf_writer_create(ky_gguf_version(g), align, &wf, &err);
    for (int64_t i = 0; i < ky_gguf_n_kv(g) && !st; i++)
        if (!(st = gguf_writer_copy_kv(wq, g, i))) st = gguf_writer_copy_kv(wf, g, i);
    int64_t n_expert = 0; /* every expert active (see the top of the file) */
    if (!st && gguf_get_int(g, "qwen3moe.expert_count", &n_expert, NULL) == KY_OK) {
        if (!(st = gguf_writer_set_u32(wq, "qwen3moe.expert_used_count", (uint32_t)n_expert)))
            st = gguf_writer_set_u32(wf, "qwen3moe.expert_used_count", (uint32_t)n_expert);
    }
    for (int64_t i = 0; i < n_t && !st; i++) {
        ky_gguf_tensor_info t;
        ky_gguf_tensor(g, i, &t);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t.name_len, t.name);
        if (t.n_dims < 2) {
            if (!(st = gguf_writer_copy_tensor(wq, g, i, NULL)))
                st = gguf_writer_copy_tensor(wf, g, i, NULL);
            continue;
        }
        int64_t n = t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3], rows = n / t.ne[0];
        uint64_t rb = 0;
        if (t.type != KY_TYPE_F32 || !ky_type_row_bytes(type, t.ne[0], &rb)) {
            fprintf(stderr, "%s: %s: not an F32 matrix with rows of whole %s blocks\n", src, name,
                    ky_type_name(type));
            st = KY_ERR_FORMAT;
            break;
        }
        void *q = bufs[2 * i] = malloc((size_t)(rb * (uint64_t)rows));
        float *f = bufs[2 * i + 1] = malloc((size_t)n * sizeof *f);
        if (!q || !f) {
            st = KY_ERR_NOMEM;
            break;
        }
        if (!ky_quantize_row(type, t.data, q, n) || !ky_dequantize_row(type, q, f, n)) {
            st = KY_ERR_INTERNAL;
            break;
        }
        if (!(st = gguf_writer_add_tensor(wq, name, type, t.n_dims, t.ne, q, NULL)))
            st = gguf_writer_add_tensor(wf, name, KY_TYPE_F32, t.n_dims, t.ne, f, NULL);
    }
    char file[128];
    snprintf(file, sizeof file, "%s-%s.gguf", stem, ky_type_name(type));
    snprintf(qpath, 600, "%s", ky_test_tmpfile(file));
    snprintf(file, sizeof file, "%s-%s-deq.gguf", stem, ky_type_name(type));
    snprintf(fpath, 600, "%s", ky_test_tmpfile(file));
    if (!st) st = gguf_writer_write_file(wq, qpath);
    if (!st) st = gguf_writer_write_file(wf, fpath);
    if (st)
        fprintf(stderr, "%s %s: %s / %s\n", stem, ky_type_name(type),
                wq ? gguf_writer_last_error(wq) : "", wf ? gguf_writer_last_error(wf) : "");
    for (int64_t i = 0; bufs && i < 2 * n_t; i++) free(bufs[i]);
    free(bufs);
    gguf_writer_free(wq);
    gguf_writer_free(wf);
    ky_gguf_close(g);
    return st == KY_OK;
}

/* Logits of the prompt into batch[N_PROMPT * V] (one batch) and seq[N_PROMPT * V] (token by
 * token). */
static bool eval(const char *path, int32_t *n_vocab, float **batch, float **seq) {
    ky_model *m = NULL;
    ky_context *c = NULL;
    ky_error err;
    ky_batch b = {0};
    bool ok = false;
    *batch = *seq = NULL;
    if (ky_model_load(path, NULL, &m, &err) != KY_OK) {
        fprintf(stderr, "%s\n", err.message);
        return false;
    }
    ky_model_info mi;
    ky_model_get_info(m, &mi);
    int32_t V = *n_vocab = mi.n_vocab;
    ky_context_params p = ky_context_default_params();
    p.n_ctx = 32;
    p.n_batch = N_PROMPT;
    p.kv_type = KY_TYPE_F32;
    p.n_threads = 2;
    *batch = malloc((size_t)N_PROMPT * (size_t)V * sizeof(float));
    *seq = malloc((size_t)N_PROMPT * (size_t)V * sizeof(float));
    if (!*batch || !*seq || ky_context_create(m, &p, &c, &err) != KY_OK ||
        ky_batch_init(&b, N_PROMPT) != KY_OK)
        goto done;
    for (int32_t i = 0; i < N_PROMPT; i++) ky_batch_add(&b, k_prompt[i], i, 0, true);
    if (ky_decode(c, &b) != KY_OK) goto done;
    for (int32_t i = 0; i < N_PROMPT; i++)
        memcpy(*batch + (size_t)i * V, ky_get_logits(c, i), (size_t)V * sizeof(float));
    ky_kv_clear(c);
    for (int32_t i = 0; i < N_PROMPT; i++) {
        ky_batch_clear(&b);
        ky_batch_add(&b, k_prompt[i], i, 0, true);
        if (ky_decode(c, &b) != KY_OK) goto done;
        memcpy(*seq + (size_t)i * V, ky_get_logits(c, 0), (size_t)V * sizeof(float));
    }
    ok = true;
done:
    if (!ok) fprintf(stderr, "%s: %s\n", path, c ? ky_context_last_error(c) : "no context");
    ky_batch_free(&b);
    ky_context_free(c);
    ky_model_free(m);
    return ok;
}

/* Worst ratios over the positions of the quantized file's rows q against the F32 file's f. */
typedef struct diff {
    double rms, max; /* max over positions of RMS |Δ| / sd_p and max |Δ| / sd_p */
    double max_abs;  /* max |Δlogit| */
} diff;

static diff compare(const char *label, const float *q, const float *f, int32_t V, bounds bd) {
    diff worst = {0, 0, 0};
    for (int32_t p = 0; p < N_PROMPT; p++) {
        const float *a = q + (size_t)p * V, *b = f + (size_t)p * V;
        double ss = 0, mx = 0, sum = 0, sum2 = 0;
        for (int32_t v = 0; v < V; v++) {
            double d = fabs((double)a[v] - b[v]);
            if (!(d <= mx)) mx = isnan(d) ? INFINITY : d;
            ss += d * d;
            sum += b[v];
            sum2 += (double)b[v] * b[v];
        }
        double sd = sqrt(fmax(sum2 / V - (sum / V) * (sum / V), 1e-12));
        double rms = sqrt(ss / V) / sd, rel = mx / sd;
        CHECKF(rms <= bd.rms && rel <= bd.max,
               "%s: position %d: RMS |dlogit| %.3g and max %.3g (x sd %.3g), bounds %.3g, %.3g",
               label, p, rms, rel, sd, bd.rms, bd.max);
        worst.rms = fmax(worst.rms, isnan(rms) ? INFINITY : rms);
        worst.max = fmax(worst.max, isnan(rel) ? INFINITY : rel);
        worst.max_abs = fmax(worst.max_abs, mx);
        int32_t qa = ky_ref_argmax(a, V), fa = ky_ref_argmax(b, V);
        if (qa != fa) {
            float margin = ky_ref_margin2(b, V);
            CHECKF(margin < 2.0 * bd.max * sd,
                   "%s: position %d: argmax %d, F32 file %d (margin %.3g)", label, p, qa, fa,
                   margin);
            printf("# %s: position %d: near-tie argmax flip %d / %d (margin %.3g)\n", label, p, qa,
                   fa, margin);
        }
    }
    return worst;
}

static void check_model(const char *src, const char *stem) {
    bool san = ky_test_sanitized() != 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = k_types[ti];
        if (san && ti % 3 != 0) continue; /* f16, q4_1, q8_0, q3_K */
        char qpath[600], fpath[600];
        bool built = build_pair(src, stem, type, qpath, fpath);
        CHECKF(built, "%s: cannot build the %s files", stem, ky_type_name(type));
        if (!built) continue;
        int32_t Vq = 0, Vf = 0;
        float *qb, *qs, *fb, *fs;
        bool ok_q = eval(qpath, &Vq, &qb, &qs);
        bool ok = eval(fpath, &Vf, &fb, &fs) && ok_q;
        CHECKF(ok && Vq == Vf, "%s %s: evaluation failed", stem, ky_type_name(type));
        if (ok && Vq == Vf) {
            char label[96];
            bounds bd = bounds_for(type);
            snprintf(label, sizeof label, "%s %s batch", stem, ky_type_name(type));
            diff db = compare(label, qb, fb, Vq, bd);
            snprintf(label, sizeof label, "%s %s token-by-token", stem, ky_type_name(type));
            diff ds = compare(label, qs, fs, Vq, bd);
            printf("# %-5s %-5s vs its F32 copy: RMS/sd %.1e, %.1e (bound %.2g); max/sd %.1e, "
                   "%.1e (bound %.2g); max |dlogit| %.3f (batch, token by token)\n",
                   stem, ky_type_name(type), db.rms, ds.rms, bd.rms, db.max, ds.max, bd.max,
                   fmax(db.max_abs, ds.max_abs));
        }
        free(qb);
        free(qs);
        free(fb);
        free(fs);
        remove(qpath);
        remove(fpath);
    }
}

static void test_qwen3moe_all_types(void) { check_model("models/tiny-qwen3moe-f32.gguf", "moe"); }

static void test_qwen2_all_types(void) {
    if (ky_test_sanitized()) return; /* the plain build covers it; ASan runs qwen3moe */
    check_model("models/tiny-qwen2-f32.gguf", "qwen2");
}

int main(void) {
    RUN(test_qwen3moe_all_types);
    RUN(test_qwen2_all_types);
    TEST_EXIT();
}
