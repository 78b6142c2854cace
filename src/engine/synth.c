/* synth.c — ky_synth_* of kaiyuan.h: random-weight GGUF files with the exact shapes, vocabulary
 * size and per-tensor type mixture of real models, for benchmarks (layer: engine).
 *
 * The type of each tensor follows llama.cpp's quantizer (src/llama-quant.cpp, without an
 * importance matrix): the file type's base type; Q6_K for `output` (or a tied `token_embd`) and,
 * for Q4_K_M / Q5_K_M, for attn_v and ffn_down in the "use_more_bits" layers; F32 for vectors and
 * the MoE router; and the fallbacks for rows not divisible by the block size (Q4_K→Q5_0,
 * Q5_K→Q5_1, Q6_K→Q8_0). Weights are blocks drawn at random from a pool quantized once per type.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/limits.h"
#include "base/status.h"
#include "gguf/gguf_write.h"
#include "tensor/quant.h"
#include "tensor/types.h"

/* ---------------------------------------------------------------------------------------------
 * Presets and file types
 * ------------------------------------------------------------------------------------------- */

typedef struct preset {
    const char *name;
    const char *arch; /* "llama", "qwen2", "qwen3", "qwen3moe" */
    int32_t n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    int32_t n_expert, n_expert_used, n_ff_exp; /* 0 for dense models */
    bool tied;
    float rope_base, eps;
    float llama3_rope_factor; /* > 0: Llama 3.x frequency scaling stored as rope_freqs.weight */
} preset;

/* Shapes from the models' config.json / official GGUF files (../shared/docs/models.md). */
static const preset k_presets[] = {
    {"qwen2.5-0.5b", "qwen2", 24, 896, 14, 2, 64, 4864, 151936, 32768, 0, 0, 0, true, 1e6f, 1e-6f,
     0},
    {"qwen2.5-1.5b", "qwen2", 28, 1536, 12, 2, 128, 8960, 151936, 32768, 0, 0, 0, true, 1e6f, 1e-6f,
     0},
    {"qwen2.5-7b", "qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 32768, 0, 0, 0, false, 1e6f, 1e-6f,
     0},
    {"qwen3-0.6b", "qwen3", 28, 1024, 16, 8, 128, 3072, 151936, 40960, 0, 0, 0, true, 1e6f, 1e-6f,
     0},
    {"qwen3-4b", "qwen3", 36, 2560, 32, 8, 128, 9728, 151936, 40960, 0, 0, 0, true, 1e6f, 1e-6f, 0},
    {"qwen3-8b", "qwen3", 36, 4096, 32, 8, 128, 12288, 151936, 40960, 0, 0, 0, false, 1e6f, 1e-6f,
     0},
    {"qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 6144, 151936, 40960, 128, 8, 768, false,
     1e6f, 1e-6f, 0},
    {"llama-3.2-1b", "llama", 16, 2048, 32, 8, 64, 8192, 128256, 131072, 0, 0, 0, true, 500000.0f,
     1e-5f, 32.0f},
    {"llama-3.1-8b", "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072, 0, 0, 0, false,
     500000.0f, 1e-5f, 8.0f},
};
#define N_PRESETS ((int32_t)(sizeof k_presets / sizeof k_presets[0]))

typedef enum ftype_kind { FT_F16, FT_Q8_0, FT_Q4_0, FT_Q4_K_M, FT_Q5_K_M, FT_Q6_K } ftype_kind;

typedef struct ftype_desc {
    const char *name;
    ftype_kind kind;
    uint32_t llama_ftype; /* general.file_type (llama.cpp's LLAMA_FTYPE_MOSTLY_*) */
    uint32_t base;        /* default tensor type */
} ftype_desc;

static const ftype_desc k_ftypes[] = {
    {"f16", FT_F16, 1, KY_TYPE_F16},         {"q8_0", FT_Q8_0, 7, KY_TYPE_Q8_0},
    {"q4_0", FT_Q4_0, 2, KY_TYPE_Q4_0},      {"q4_k_m", FT_Q4_K_M, 15, KY_TYPE_Q4_K},
    {"q5_k_m", FT_Q5_K_M, 17, KY_TYPE_Q5_K}, {"q6_k", FT_Q6_K, 18, KY_TYPE_Q6_K},
};
#define N_FTYPES ((int32_t)(sizeof k_ftypes / sizeof k_ftypes[0]))

const char *ky_synth_preset(int32_t i) {
    return i >= 0 && i < N_PRESETS ? k_presets[i].name : NULL;
}
const char *ky_synth_type(int32_t i) { return i >= 0 && i < N_FTYPES ? k_ftypes[i].name : NULL; }

ky_synth_params ky_synth_default_params(void) {
    ky_synth_params p;
    memset(&p, 0, sizeof p);
    p.preset = "qwen2.5-0.5b";
    p.type = "q4_k_m";
    p.seed = 42;
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * The plan
 * ------------------------------------------------------------------------------------------- */

/* How a tensor's bytes are produced. */
typedef enum fill_kind { FILL_POOL, FILL_NORM, FILL_BIAS, FILL_ROPE_FREQS } fill_kind;

/* llama.cpp's tensor categories that the type rules look at. */
typedef enum category {
    CAT_TOKEN_EMBD,
    CAT_OUTPUT,
    CAT_ATTN_V,
    CAT_FFN_DOWN,
    CAT_ROUTER,
    CAT_OTHER_MATRIX,
    CAT_VECTOR,
} category;

#define POOL_UNITS 4096u /* blocks per type pool (indices drawn 12 bits at a time) */
#define WEIGHT_STD 0.02f

struct ky_synth {
    const preset *pr;
    const ftype_desc *ft;
    ky_synth_params params;
    ky_synth_info info;
    ky_synth_tensor *tensors; /* [n_tensors] */
    uint8_t *fill;            /* [n_tensors] fill_kind */
    int64_t n_tensors, cap;
    gguf_writer *w;
    uint8_t *pool[KY_TYPE_COUNT]; /* POOL_UNITS units of each type in use (while writing) */
    uint32_t unit_elems[KY_TYPE_COUNT];
    uint64_t done; /* bytes written so far (progress) */
};

static const char *find_name(const char *s, int kind) {
    if (!s) return NULL;
    int32_t n = kind ? N_FTYPES : N_PRESETS;
    for (int32_t i = 0; i < n; i++) {
        const char *name = kind ? k_ftypes[i].name : k_presets[i].name;
        if (!strcmp(s, name)) return name;
    }
    return NULL;
}

static ky_status bad_choice(ky_error *err, const char *what, const char *given, int kind) {
    char list[256];
    size_t len = 0;
    int32_t n = kind ? N_FTYPES : N_PRESETS;
    list[0] = '\0';
    for (int32_t i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                kind ? k_ftypes[i].name : k_presets[i].name);
    return ky_errf(err, KY_ERR_INVALID_ARG, "synth: unknown %s '%.64s' (choose from: %s)", what,
                   given ? given : "(null)", list);
}

/* llama.cpp's use_more_bits(i_layer, n_layers): the first and last eighth and every third layer
 * in between get more bits in Q4_K_M / Q5_K_M. */
static bool use_more_bits(int il, int n) {
    return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2;
}

static uint32_t block_of(uint32_t type) { return ky_type_get_traits(type)->block_size; }

/* Replaces a type whose block does not divide the row length ne0 (llama.cpp's
 * tensor_type_fallback). */
static uint32_t fallback(uint32_t type, int64_t ne0) {
    if (ne0 % block_of(type) == 0) return type;
    switch (type) {
    case KY_TYPE_Q4_K: type = KY_TYPE_Q5_0; break;
    case KY_TYPE_Q5_K: type = KY_TYPE_Q5_1; break;
    case KY_TYPE_Q6_K: type = KY_TYPE_Q8_0; break;
    default: break;
    }
    return ne0 % block_of(type) == 0 ? type : KY_TYPE_F16;
}

/* The type llama-quantize gives a tensor of this category in layer il (-1 outside layers). */
static uint32_t choose_type(const ky_synth *s, category cat, int il, int64_t ne0) {
    const ftype_desc *ft = s->ft;
    if (cat == CAT_VECTOR || cat == CAT_ROUTER) return KY_TYPE_F32;
    if (ft->kind == FT_F16) return KY_TYPE_F16; /* not a quantized file type: no rules apply */
    uint32_t t = ft->base;
    bool more_bits_ftype = ft->kind == FT_Q4_K_M || ft->kind == FT_Q5_K_M;
    int n_layer = s->info.n_layer;
    if (cat == CAT_OUTPUT || (cat == CAT_TOKEN_EMBD && s->pr->tied)) {
        if (ne0 % block_of(t) != 0)
            t = KY_TYPE_Q8_0;
        else if (t != KY_TYPE_Q8_0)
            t = KY_TYPE_Q6_K;
    } else if (cat == CAT_ATTN_V || cat == CAT_FFN_DOWN) {
        if (more_bits_ftype && use_more_bits(il, n_layer)) t = KY_TYPE_Q6_K;
    }
    return fallback(t, ne0);
}

static ky_status add_tensor(ky_synth *s, category cat, fill_kind fk, int il, uint32_t n_dims,
                            int64_t ne0, int64_t ne1, int64_t ne2, const char *fmt, ky_error *err) {
    if (s->n_tensors == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 64;
        ky_synth_tensor *t = realloc(s->tensors, (size_t)cap * sizeof *t);
        if (!t) return ky_errf(err, KY_ERR_NOMEM, "synth: out of memory");
        s->tensors = t;
        uint8_t *f = realloc(s->fill, (size_t)cap);
        if (!f) return ky_errf(err, KY_ERR_NOMEM, "synth: out of memory");
        s->fill = f;
        s->cap = cap;
    }
    ky_synth_tensor *t = &s->tensors[s->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, fmt, il);
    t->type = choose_type(s, cat, il, ne0);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->ne[2] = n_dims > 2 ? ne2 : 1;
    t->ne[3] = 1;
    uint64_t row, n_rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2];
    if (!ky_type_row_bytes(t->type, ne0, &row) || ky_mul_overflow_u64(row, n_rows, &t->n_bytes))
        return ky_errf(err, KY_ERR_INVALID_ARG, "synth: tensor '%s' has an invalid size", t->name);
    s->fill[s->n_tensors++] = (uint8_t)fk;
    s->info.n_params += (uint64_t)ne0 * n_rows;
    s->info.tensor_bytes += t->n_bytes;
    return KY_OK;
}

/* Every tensor of the architecture, in the order llama.cpp's converter groups them. */
static ky_status plan_tensors(ky_synth *s, ky_error *err) {
    const ky_synth_info *in = &s->info;
    const preset *pr = s->pr;
    int64_t E = in->n_embd, hd = in->head_dim, qw = (int64_t)in->n_head * hd;
    int64_t kvw = (int64_t)in->n_head_kv * hd, V = in->n_vocab;
    bool qwen2 = !strcmp(pr->arch, "qwen2"),
         qk_norm = !strcmp(pr->arch, "qwen3") || !strcmp(pr->arch, "qwen3moe");
    ky_status st;
#define ADD(cat, fk, il, nd, a, b, c, name)                                       \
    do {                                                                          \
        if ((st = add_tensor(s, cat, fk, il, nd, a, b, c, name, err))) return st; \
    } while (0)
    ADD(CAT_TOKEN_EMBD, FILL_POOL, -1, 2, E, V, 1, "token_embd.weight");
    if (pr->llama3_rope_factor > 0)
        ADD(CAT_VECTOR, FILL_ROPE_FREQS, -1, 1, hd / 2, 1, 1, "rope_freqs.weight");
    for (int il = 0; il < in->n_layer; il++) {
        ADD(CAT_VECTOR, FILL_NORM, il, 1, E, 1, 1, "blk.%d.attn_norm.weight");
        ADD(CAT_OTHER_MATRIX, FILL_POOL, il, 2, E, qw, 1, "blk.%d.attn_q.weight");
        ADD(CAT_OTHER_MATRIX, FILL_POOL, il, 2, E, kvw, 1, "blk.%d.attn_k.weight");
        ADD(CAT_ATTN_V, FILL_POOL, il, 2, E, kvw, 1, "blk.%d.attn_v.weight");
        if (qwen2) {
            ADD(CAT_VECTOR, FILL_BIAS, il, 1, qw, 1, 1, "blk.%d.attn_q.bias");
            ADD(CAT_VECTOR, FILL_BIAS, il, 1, kvw, 1, 1, "blk.%d.attn_k.bias");
            ADD(CAT_VECTOR, FILL_BIAS, il, 1, kvw, 1, 1, "blk.%d.attn_v.bias");
        }
        if (qk_norm) {
            ADD(CAT_VECTOR, FILL_NORM, il, 1, hd, 1, 1, "blk.%d.attn_q_norm.weight");
            ADD(CAT_VECTOR, FILL_NORM, il, 1, hd, 1, 1, "blk.%d.attn_k_norm.weight");
        }
        ADD(CAT_OTHER_MATRIX, FILL_POOL, il, 2, qw, E, 1, "blk.%d.attn_output.weight");
        ADD(CAT_VECTOR, FILL_NORM, il, 1, E, 1, 1, "blk.%d.ffn_norm.weight");
        if (in->n_expert) {
            int64_t X = in->n_expert, F = in->n_ff_exp;
            ADD(CAT_ROUTER, FILL_POOL, il, 2, E, X, 1, "blk.%d.ffn_gate_inp.weight");
            ADD(CAT_OTHER_MATRIX, FILL_POOL, il, 3, E, F, X, "blk.%d.ffn_gate_exps.weight");
            ADD(CAT_OTHER_MATRIX, FILL_POOL, il, 3, E, F, X, "blk.%d.ffn_up_exps.weight");
            ADD(CAT_FFN_DOWN, FILL_POOL, il, 3, F, E, X, "blk.%d.ffn_down_exps.weight");
        } else {
            int64_t F = in->n_ff;
            ADD(CAT_OTHER_MATRIX, FILL_POOL, il, 2, E, F, 1, "blk.%d.ffn_gate.weight");
            ADD(CAT_OTHER_MATRIX, FILL_POOL, il, 2, E, F, 1, "blk.%d.ffn_up.weight");
            ADD(CAT_FFN_DOWN, FILL_POOL, il, 2, F, E, 1, "blk.%d.ffn_down.weight");
        }
    }
    ADD(CAT_VECTOR, FILL_NORM, -1, 1, E, 1, 1, "output_norm.weight");
    if (!pr->tied) ADD(CAT_OUTPUT, FILL_POOL, -1, 2, E, V, 1, "output.weight");
#undef ADD
    s->info.n_tensors = s->n_tensors;
    return KY_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Metadata: hyper-parameters and a synthetic SentencePiece vocabulary
 * ------------------------------------------------------------------------------------------- */

/* Token i of the vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then unique letter pieces
 * ("▁a", "a", "▁b", ...: bijective base 26, every second one with the SPM space marker). */
static size_t token_text(int32_t i, char *out) {
    static const char *const specials[3] = {"<unk>", "<s>", "</s>"};
    if (i < 3) return (size_t)sprintf(out, "%s", specials[i]);
    if (i < 259) return (size_t)sprintf(out, "<0x%02X>", (unsigned)(i - 3));
    int64_t j = i - 259;
    size_t n = 0;
    if (j % 2 == 0) {
        memcpy(out, "\xE2\x96\x81", 3); /* U+2581 ▁ */
        n = 3;
    }
    char rev[16];
    size_t k = 0;
    for (int64_t v = j / 2 + 1; v > 0; v = (v - 1) / 26) rev[k++] = (char)('a' + (v - 1) % 26);
    while (k) out[n++] = rev[--k];
    out[n] = '\0';
    return n;
}

static ky_status set_vocab(ky_synth *s, ky_error *err) {
    int32_t n = s->info.n_vocab;
    gguf_writer *w = s->w;
    ky_status st = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", 5);
    if (!st) st = gguf_writer_arr_begin(w, "tokenizer.ggml.tokens", KY_GGUF_STRING);
    for (int32_t i = 0; i < n && !st; i++) {
        char text[32];
        ky_gguf_value v;
        memset(&v, 0, sizeof v);
        v.type = KY_GGUF_STRING;
        v.v.str.len = token_text(i, text);
        v.v.str.ptr = text;
        st = gguf_writer_arr_push(w, &v);
    }
    if (!st) st = gguf_writer_arr_end(w);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    if (!scores || !types) {
        free(scores);
        free(types);
        return ky_errf(err, KY_ERR_NOMEM, "synth: out of memory for the vocabulary");
    }
    for (int32_t i = 0; i < n; i++) {
        scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
        types[i] = i == 0 ? 2 /* unknown */ : i < 3 ? 3 /* control */ : i < 259 ? 6 /* byte */ : 1;
    }
    if (!st) st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", KY_GGUF_F32, scores, (uint64_t)n);
    if (!st)
        st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", KY_GGUF_I32, types, (uint64_t)n);
    free(scores);
    free(types);
    if (!st) st = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!st) st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!st) st = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!st) st = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    if (!st) st = gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    if (st) return ky_errf(err, st, "synth: %s", gguf_writer_last_error(w));
    return KY_OK;
}

static ky_status set_u32(ky_synth *s, const char *suffix, uint32_t v) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", s->pr->arch, suffix);
    return gguf_writer_set_u32(s->w, key, v);
}

static ky_status set_f32(ky_synth *s, const char *suffix, float v) {
    char key[96];
    snprintf(key, sizeof key, "%s.%s", s->pr->arch, suffix);
    return gguf_writer_set_f32(s->w, key, v);
}

static ky_status set_metadata(ky_synth *s, ky_error *err) {
    const ky_synth_info *in = &s->info;
    gguf_writer *w = s->w;
    char name[128];
    int nl =
        snprintf(name, sizeof name, "synthetic %s %s (random weights)", s->pr->name, s->ft->name);
    ky_status st = gguf_writer_set_str(w, "general.architecture", s->pr->arch, strlen(s->pr->arch));
    if (!st) st = gguf_writer_set_str(w, "general.name", name, (size_t)nl);
    if (!st) st = gguf_writer_set_u32(w, "general.file_type", s->ft->llama_ftype);
    if (!st) st = gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (!st) st = set_u32(s, "context_length", (uint32_t)in->n_ctx_train);
    if (!st) st = set_u32(s, "embedding_length", (uint32_t)in->n_embd);
    if (!st) st = set_u32(s, "block_count", (uint32_t)in->n_layer);
    if (!st) st = set_u32(s, "feed_forward_length", (uint32_t)in->n_ff);
    if (!st) st = set_u32(s, "attention.head_count", (uint32_t)in->n_head);
    if (!st) st = set_u32(s, "attention.head_count_kv", (uint32_t)in->n_head_kv);
    if (!st) st = set_u32(s, "attention.key_length", (uint32_t)in->head_dim);
    if (!st) st = set_u32(s, "attention.value_length", (uint32_t)in->head_dim);
    if (!st) st = set_u32(s, "rope.dimension_count", (uint32_t)in->head_dim);
    if (!st) st = set_f32(s, "rope.freq_base", in->rope_freq_base);
    if (!st) st = set_f32(s, "attention.layer_norm_rms_epsilon", in->rms_eps);
    if (!st) st = set_u32(s, "vocab_size", (uint32_t)in->n_vocab);
    if (!st && in->n_expert) {
        st = set_u32(s, "expert_count", (uint32_t)in->n_expert);
        if (!st) st = set_u32(s, "expert_used_count", (uint32_t)in->n_expert_used);
        if (!st) st = set_u32(s, "expert_feed_forward_length", (uint32_t)in->n_ff_exp);
    }
    if (st) return ky_errf(err, st, "synth: %s", gguf_writer_last_error(w));
    return set_vocab(s, err);
}

/* ---------------------------------------------------------------------------------------------
 * Planning
 * ------------------------------------------------------------------------------------------- */

static void fill_tensor(void *ctx, int64_t i, void *dst, uint64_t n_bytes);

ky_status ky_synth_plan(const ky_synth_params *params, ky_synth **out, ky_error *err) {
    ky_error_clear(err);
    if (!params || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "ky_synth_plan: NULL argument");
    const char *pn = find_name(params->preset, 0), *tn = find_name(params->type, 1);
    if (!pn) return bad_choice(err, "preset", params->preset, 0);
    if (!tn) return bad_choice(err, "type", params->type, 1);
    const preset *pr = NULL;
    const ftype_desc *ft = NULL;
    for (int32_t i = 0; i < N_PRESETS; i++)
        if (k_presets[i].name == pn) pr = &k_presets[i];
    for (int32_t i = 0; i < N_FTYPES; i++)
        if (k_ftypes[i].name == tn) ft = &k_ftypes[i];
    if (params->n_layer < 0 || params->n_layer > pr->n_layer)
        return ky_errf(err, KY_ERR_INVALID_ARG, "synth: layers %d outside [1, %d] for %s",
                       params->n_layer, pr->n_layer, pr->name);
    if (params->n_vocab != 0 && (params->n_vocab < 260 || params->n_vocab > KY_MAX_VOCAB))
        return ky_errf(err, KY_ERR_INVALID_ARG, "synth: vocabulary %d outside [260, %d]",
                       params->n_vocab, KY_MAX_VOCAB);
    if (params->n_expert != 0 &&
        (!pr->n_expert || params->n_expert < pr->n_expert_used || params->n_expert > pr->n_expert))
        return pr->n_expert
                   ? ky_errf(err, KY_ERR_INVALID_ARG, "synth: experts %d outside [%d, %d] for %s",
                             params->n_expert, pr->n_expert_used, pr->n_expert, pr->name)
                   : ky_errf(err, KY_ERR_INVALID_ARG,
                             "synth: %s is not a mixture-of-experts model: no expert "
                             "count to set",
                             pr->name);

    ky_synth *s = calloc(1, sizeof *s);
    if (!s) return ky_errf(err, KY_ERR_NOMEM, "synth: out of memory");
    s->pr = pr;
    s->ft = ft;
    s->params = *params;
    s->params.preset = pn;
    s->params.type = tn;
    ky_synth_info *in = &s->info;
    in->arch = pr->arch;
    in->n_vocab = params->n_vocab ? params->n_vocab : pr->n_vocab;
    in->n_ctx_train = pr->n_ctx;
    in->n_embd = pr->n_embd;
    in->n_layer = params->n_layer ? params->n_layer : pr->n_layer;
    in->n_head = pr->n_head;
    in->n_head_kv = pr->n_head_kv;
    in->head_dim = pr->head_dim;
    in->n_ff = pr->n_ff;
    in->n_expert = params->n_expert ? params->n_expert : pr->n_expert;
    in->n_expert_used = pr->n_expert_used;
    in->n_ff_exp = pr->n_ff_exp;
    in->rope_freq_base = pr->rope_base;
    in->rms_eps = pr->eps;
    in->tied_output = pr->tied;
    in->file_type = ft->llama_ftype;

    ky_status st = gguf_writer_create(3, 32, &s->w, err);
    if (!st) st = plan_tensors(s, err);
    if (!st) st = set_metadata(s, err);
    for (int64_t i = 0; i < s->n_tensors && !st; i++) {
        const ky_synth_tensor *t = &s->tensors[i];
        if (gguf_writer_add_tensor_fill(s->w, t->name, t->type, t->n_dims, t->ne, fill_tensor, s,
                                        NULL))
            st = ky_errf(err, KY_ERR_INTERNAL, "synth: %s", gguf_writer_last_error(s->w));
    }
    if (st) {
        ky_synth_free(s);
        return st;
    }
    in->file_bytes = gguf_writer_size(s->w);
    *out = s;
    return KY_OK;
}

void ky_synth_free(ky_synth *s) {
    if (!s) return;
    for (int i = 0; i < KY_TYPE_COUNT; i++) free(s->pool[i]);
    gguf_writer_free(s->w);
    free(s->tensors);
    free(s->fill);
    free(s);
}

void ky_synth_get_info(const ky_synth *s, ky_synth_info *out) { *out = s->info; }

const ky_synth_tensor *ky_synth_tensor_at(const ky_synth *s, int64_t i) {
    return i >= 0 && i < s->n_tensors ? &s->tensors[i] : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Weights
 * ------------------------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static float uniform(uint64_t *x) { return (float)(splitmix64(x) >> 40) * (1.0f / 16777216.0f); }

/* Roughly normal with standard deviation 1 (Irwin–Hall sum of four uniforms). */
static float gauss(uint64_t *x) {
    return (uniform(x) + uniform(x) + uniform(x) + uniform(x) - 2.0f) * 1.7320508f;
}

static uint64_t tensor_seed(const ky_synth *s, int64_t i) {
    uint64_t x = s->params.seed ^ ((uint64_t)(i + 1) * 0xD1B54A32D192ED03ull);
    return splitmix64(&x);
}

/* Quantizes POOL_UNITS random units (blocks; 32 elements for float types) of a type once. */
static ky_status make_pool(ky_synth *s, uint32_t type, ky_error *err) {
    if (s->pool[type]) return KY_OK;
    const ky_type_traits *tr = ky_type_get_traits(type);
    uint32_t elems = tr->block_size > 1 ? tr->block_size : 32;
    size_t n = (size_t)POOL_UNITS * elems;
    uint64_t bytes;
    float *x = malloc(n * sizeof *x);
    if (!x || !ky_type_row_bytes(type, (int64_t)n, &bytes) || !(s->pool[type] = malloc(bytes))) {
        free(x);
        return ky_errf(err, KY_ERR_NOMEM, "synth: out of memory for the %s pool", tr->name);
    }
    uint64_t rng = s->params.seed ^ (0xA0761D6478BD642Full * (type + 1));
    for (size_t i = 0; i < n; i++) x[i] = WEIGHT_STD * gauss(&rng);
    bool ok = ky_quantize_row(type, x, s->pool[type], (int64_t)n);
    free(x);
    if (!ok) return ky_errf(err, KY_ERR_UNSUPPORTED, "synth: no quantizer for %s", tr->name);
    s->unit_elems[type] = elems;
    return KY_OK;
}

/* Llama 3 frequency scaling (factor f, low 1, high 4, original context 8192) as the divisors
 * llama.cpp multiplies into the rotation wavelengths. */
static void rope_freqs(const ky_synth *s, float *out, int64_t n) {
    const float f = s->pr->llama3_rope_factor, lo = 1.0f, hi = 4.0f, orig = 8192.0f;
    const float pi = 3.14159265358979f;
    for (int64_t i = 0; i < n; i++) {
        double freq = pow((double)s->info.rope_freq_base, -2.0 * (double)i / (double)(2 * n));
        float wavelen = (float)(2.0 * pi / freq);
        if (wavelen < orig / hi)
            out[i] = 1.0f;
        else if (wavelen > orig / lo)
            out[i] = f;
        else {
            float smooth = (orig / wavelen - lo) / (hi - lo);
            out[i] = 1.0f / ((1.0f - smooth) / f + smooth);
        }
    }
}

static void fill_tensor(void *ctx, int64_t i, void *dst, uint64_t n_bytes) {
    ky_synth *s = ctx;
    const ky_synth_tensor *t = &s->tensors[i];
    uint64_t rng = tensor_seed(s, i);
    float *f = dst; /* vectors are F32 */
    int64_t n = t->ne[0];
    switch ((fill_kind)s->fill[i]) {
    case FILL_NORM:
        for (int64_t k = 0; k < n; k++) f[k] = 1.0f + 0.1f * (2.0f * uniform(&rng) - 1.0f);
        break;
    case FILL_BIAS:
        for (int64_t k = 0; k < n; k++) f[k] = 0.1f * gauss(&rng);
        break;
    case FILL_ROPE_FREQS: rope_freqs(s, f, n); break;
    case FILL_POOL: {
        const ky_type_traits *tr = ky_type_get_traits(t->type);
        size_t unit = (size_t)tr->type_size * (s->unit_elems[t->type] / tr->block_size);
        const uint8_t *pool = s->pool[t->type];
        uint8_t *d = dst;
        uint64_t n_units = n_bytes / unit, k = 0;
        while (k < n_units) {
            uint64_t r = splitmix64(&rng);
            for (int j = 0; j < 5 && k < n_units; j++, k++, r >>= 12)
                memcpy(d + k * unit, pool + (size_t)(r & (POOL_UNITS - 1)) * unit, unit);
        }
        break;
    }
    }
    s->done += n_bytes;
    if (s->params.progress)
        s->params.progress(s->params.progress_user, s->done, s->info.file_bytes);
}

ky_status ky_synth_write(ky_synth *s, const char *path, ky_error *err) {
    ky_error_clear(err);
    if (!s || !path) return ky_errf(err, KY_ERR_INVALID_ARG, "ky_synth_write: NULL argument");
    ky_status st = KY_OK;
    for (int64_t i = 0; i < s->n_tensors && !st; i++)
        if (s->fill[i] == FILL_POOL) st = make_pool(s, s->tensors[i].type, err);
    if (!st) {
        s->done = 0;
        st = gguf_writer_write_file(s->w, path);
        if (st) ky_errf(err, st, "%s", gguf_writer_last_error(s->w));
    }
    for (int i = 0; i < KY_TYPE_COUNT; i++) {
        free(s->pool[i]);
        s->pool[i] = NULL;
    }
    return st;
}
