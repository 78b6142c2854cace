/* test_seeds.c — generates the GGUF fuzzer's seed corpus (tests/fuzz/corpus/gguf/) with the writer
 * and checks that the committed seeds are exactly what the generator produces today.
 *
 * Run with KY_WRITE_SEEDS=1 from the repository root to (re)write the seed files. The seeds are
 * small valid files covering every value type, nested arrays, every supported tensor type, v2,
 * non-default alignments, a vocabulary-only file and model-shaped files (< 50 KB in total).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"

#define SEED_DIR "tests/fuzz/corpus/gguf"

static int g_fail; /* a seed builder call failed */
#define S(call) g_fail |= (call) != KY_OK

/* Deterministic tensor contents: a byte pattern from the tensor index. */
static void fill_bytes(void *ctx, int64_t index, void *dst, uint64_t n) {
    (void)ctx; /* gguf_fill_fn's context: the pattern needs none */
    uint8_t *p = dst;
    uint32_t x = 2166136261u ^ (uint32_t)index;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 16777619u + 1u;
        p[i] = (uint8_t)(x >> 24);
    }
}

static gguf_writer *writer(uint32_t version, uint32_t alignment) {
    gguf_writer *w = NULL;
    ky_error err;
    if (gguf_writer_create(version, alignment, &w, &err) != KY_OK) return NULL;
    return w;
}

static gguf_writer *seed_empty(void) { return writer(3, 32); }

static gguf_writer *seed_scalars_v2(void) {
    gguf_writer *w = writer(2, 32);
    S(gguf_writer_set_u8(w, "s.u8", 200));
    S(gguf_writer_set_i8(w, "s.i8", -100));
    S(gguf_writer_set_u16(w, "s.u16", 60000));
    S(gguf_writer_set_i16(w, "s.i16", -30000));
    S(gguf_writer_set_u32(w, "s.u32", 3000000000u));
    S(gguf_writer_set_i32(w, "s.i32", -2000000000));
    S(gguf_writer_set_f32(w, "s.f32", 1e-6f));
    S(gguf_writer_set_bool(w, "s.bool", true));
    S(gguf_writer_set_str(w, "s.str", "text", 4));
    S(gguf_writer_set_u64(w, "s.u64", 1ull << 40));
    S(gguf_writer_set_i64(w, "s.i64", -(1ll << 40)));
    S(gguf_writer_set_f64(w, "s.f64", 3.25));
    return w;
}

static gguf_writer *seed_arrays(void) {
    gguf_writer *w = writer(3, 32);
    const uint8_t u8[] = {1, 2, 255};
    const int8_t i8[] = {-1, 0, 1};
    const uint16_t u16[] = {1, 65535};
    const int16_t i16[] = {-32768, 5};
    const uint32_t u32[] = {7, 8, 9};
    const int32_t i32[] = {-7, 8};
    const float f32[] = {0.5f, -2.0f, 1e-5f};
    const bool b[] = {true, false};
    const uint64_t u64[] = {UINT64_MAX};
    const int64_t i64[] = {INT64_MIN, 0};
    const double f64[] = {1e300, -0.0};
    S(gguf_writer_set_arr(w, "a.u8", KY_GGUF_U8, u8, 3));
    S(gguf_writer_set_arr(w, "a.i8", KY_GGUF_I8, i8, 3));
    S(gguf_writer_set_arr(w, "a.u16", KY_GGUF_U16, u16, 2));
    S(gguf_writer_set_arr(w, "a.i16", KY_GGUF_I16, i16, 2));
    S(gguf_writer_set_arr(w, "a.u32", KY_GGUF_U32, u32, 3));
    S(gguf_writer_set_arr(w, "a.i32", KY_GGUF_I32, i32, 2));
    S(gguf_writer_set_arr(w, "a.f32", KY_GGUF_F32, f32, 3));
    S(gguf_writer_set_arr(w, "a.bool", KY_GGUF_BOOL, b, 2));
    S(gguf_writer_set_arr(w, "a.u64", KY_GGUF_U64, u64, 1));
    S(gguf_writer_set_arr(w, "a.i64", KY_GGUF_I64, i64, 2));
    S(gguf_writer_set_arr(w, "a.f64", KY_GGUF_F64, f64, 2));
    S(gguf_writer_set_arr(w, "a.empty", KY_GGUF_U32, NULL, 0));
    const char *s[] = {"<unk>", "", "\xe2\x96\x81the", "a\0b"};
    const size_t lens[] = {5, 0, 6, 3};
    S(gguf_writer_set_arr_str(w, "a.str", s, lens, 4));
    /* [[1, 2], [], [[...]]] style nesting: arrays of arrays of u32, of strings, 4 levels */
    S(gguf_writer_arr_begin(w, "a.nested", KY_GGUF_ARRAY));
    for (int r = 0; r < 3; r++) {
        S(gguf_writer_arr_begin(w, NULL, KY_GGUF_U32));
        for (int c = 0; c < r; c++) {
            ky_gguf_value v = {.type = KY_GGUF_U32, .v.u64 = (uint64_t)(r * 10 + c)};
            S(gguf_writer_arr_push(w, &v));
        }
        S(gguf_writer_arr_end(w));
    }
    S(gguf_writer_arr_end(w));
    S(gguf_writer_arr_begin(w, "a.deep", KY_GGUF_ARRAY));
    S(gguf_writer_arr_begin(w, NULL, KY_GGUF_ARRAY));
    S(gguf_writer_arr_begin(w, NULL, KY_GGUF_ARRAY));
    S(gguf_writer_arr_begin(w, NULL, KY_GGUF_STRING));
    ky_gguf_value sv = {.type = KY_GGUF_STRING, .v.str = {"deep", 4}};
    S(gguf_writer_arr_push(w, &sv));
    S(gguf_writer_arr_push(w, &sv));
    S(gguf_writer_arr_end(w));
    S(gguf_writer_arr_end(w));
    S(gguf_writer_arr_begin(w, NULL, KY_GGUF_F64));
    S(gguf_writer_arr_end(w));
    S(gguf_writer_arr_end(w));
    S(gguf_writer_arr_end(w));
    return w;
}

/* One small tensor of every type kaiyuan supports (and two it only reads). */
static gguf_writer *seed_types(uint32_t alignment) {
    gguf_writer *w = writer(3, alignment);
    static const struct {
        const char *name;
        uint32_t type;
        int64_t ne0;
    } k[] = {
        {"t.f32", KY_TYPE_F32, 8},     {"t.f16", KY_TYPE_F16, 8},     {"t.bf16", KY_TYPE_BF16, 8},
        {"t.q4_0", KY_TYPE_Q4_0, 32},  {"t.q4_1", KY_TYPE_Q4_1, 32},  {"t.q5_0", KY_TYPE_Q5_0, 32},
        {"t.q5_1", KY_TYPE_Q5_1, 32},  {"t.q8_0", KY_TYPE_Q8_0, 32},  {"t.q2_K", KY_TYPE_Q2_K, 256},
        {"t.q3_K", KY_TYPE_Q3_K, 256}, {"t.q4_K", KY_TYPE_Q4_K, 256}, {"t.q5_K", KY_TYPE_Q5_K, 256},
        {"t.q6_K", KY_TYPE_Q6_K, 256}, {"t.q8_K", KY_TYPE_Q8_K, 256}, {"t.iq4_nl", 20, 32},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        int64_t ne[2] = {k[i].ne0, 1};
        S(gguf_writer_add_tensor_fill(w, k[i].name, k[i].type, i % 2 ? 2 : 1, ne, fill_bytes, NULL,
                                      NULL));
    }
    return w;
}

static gguf_writer *seed_align1(void) {
    gguf_writer *w = writer(3, 1);
    int64_t a[1] = {3}, b[3] = {2, 3, 1}, c[4] = {1, 1, 1, 5};
    S(gguf_writer_add_tensor_fill(w, "x", KY_TYPE_F32, 1, a, fill_bytes, NULL, NULL));
    S(gguf_writer_add_tensor_fill(w, "y", KY_TYPE_F16, 3, b, fill_bytes, NULL, NULL));
    S(gguf_writer_add_tensor_fill(w, "z", 24 /* i8 */, 4, c, fill_bytes, NULL, NULL));
    return w;
}

static void add_vocab(gguf_writer *w, int n, bool merges) {
    const char *tokens[16];
    char buf[16][8];
    float scores[16];
    int32_t types[16];
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], i < 3 ? "<%d>" : "t%d", i);
        tokens[i] = buf[i];
        scores[i] = -(float)i;
        types[i] = i < 3 ? 3 : 1;
    }
    S(gguf_writer_set_str(w, "tokenizer.ggml.model", merges ? "gpt2" : "llama", merges ? 4 : 5));
    if (merges) gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2", 5);
    S(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, (uint64_t)n));
    if (!merges) gguf_writer_set_arr(w, "tokenizer.ggml.scores", KY_GGUF_F32, scores, (uint64_t)n);
    S(gguf_writer_set_arr(w, "tokenizer.ggml.token_type", KY_GGUF_I32, types, (uint64_t)n));
    if (merges) {
        const char *m[] = {"t3 t4", "t5 t6", "t3t4 t7"};
        S(gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", m, NULL, 3));
    }
    S(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1));
    S(gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2));
    S(gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", !merges));
}

static gguf_writer *seed_vocab_only(void) {
    gguf_writer *w = writer(3, 32);
    S(gguf_writer_set_str(w, "general.architecture", "qwen3", 5));
    add_vocab(w, 16, true);
    const char tmpl[] =
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}{% endfor %}";
    S(gguf_writer_set_str(w, "tokenizer.chat_template", tmpl, sizeof tmpl - 1));
    gguf_writer_set_pad_empty(w, true);
    return w;
}

/* A llama-shaped model: n_embd 32, ff 32, 1 layer, 16-token vocab, f32 norms, q8_0 matrices. */
static gguf_writer *seed_llama(void) {
    gguf_writer *w = writer(3, 32);
    S(gguf_writer_set_str(w, "general.architecture", "llama", 5));
    S(gguf_writer_set_str(w, "general.name", "seed", 4));
    S(gguf_writer_set_u32(w, "general.file_type", 7));
    S(gguf_writer_set_u32(w, "llama.context_length", 64));
    S(gguf_writer_set_u32(w, "llama.embedding_length", 32));
    S(gguf_writer_set_u32(w, "llama.block_count", 1));
    S(gguf_writer_set_u32(w, "llama.feed_forward_length", 32));
    S(gguf_writer_set_u32(w, "llama.attention.head_count", 2));
    S(gguf_writer_set_u32(w, "llama.attention.head_count_kv", 1));
    S(gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f));
    S(gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f));
    add_vocab(w, 16, false);
    static const struct {
        const char *name;
        uint32_t type;
        int64_t ne0, ne1;
    } t[] = {
        {"token_embd.weight", KY_TYPE_Q8_0, 32, 16},
        {"output_norm.weight", KY_TYPE_F32, 32, 1},
        {"blk.0.attn_norm.weight", KY_TYPE_F32, 32, 1},
        {"blk.0.attn_q.weight", KY_TYPE_Q8_0, 32, 32},
        {"blk.0.attn_k.weight", KY_TYPE_Q8_0, 32, 16},
        {"blk.0.attn_v.weight", KY_TYPE_Q8_0, 32, 16},
        {"blk.0.attn_output.weight", KY_TYPE_Q8_0, 32, 32},
        {"blk.0.ffn_norm.weight", KY_TYPE_F32, 32, 1},
        {"blk.0.ffn_gate.weight", KY_TYPE_Q8_0, 32, 32},
        {"blk.0.ffn_up.weight", KY_TYPE_Q8_0, 32, 32},
        {"blk.0.ffn_down.weight", KY_TYPE_Q8_0, 32, 32},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        S(gguf_writer_add_tensor_fill(w, t[i].name, t[i].type, t[i].ne1 > 1 ? 2 : 1, ne, fill_bytes,
                                      NULL, NULL));
    }
    return w;
}

/* A qwen3moe-shaped model with 3-D expert tensors, alignment 64, v2. */
static gguf_writer *seed_moe(void) {
    gguf_writer *w = writer(2, 64);
    S(gguf_writer_set_str(w, "general.architecture", "qwen3moe", 8));
    S(gguf_writer_set_u32(w, "qwen3moe.embedding_length", 32));
    S(gguf_writer_set_u32(w, "qwen3moe.expert_feed_forward_length", 4));
    S(gguf_writer_set_u32(w, "qwen3moe.expert_count", 4));
    S(gguf_writer_set_u32(w, "qwen3moe.expert_used_count", 2));
    S(gguf_writer_set_u32(w, "qwen3moe.attention.key_length", 16));
    S(gguf_writer_set_f32(w, "qwen3moe.rope.freq_base", 1e6f));
    int64_t gate[3] = {32, 4, 4}, down[3] = {4, 32, 4}, inp[2] = {32, 4}, qn[1] = {16};
    S(gguf_writer_add_tensor_fill(w, "blk.0.ffn_gate_inp.weight", KY_TYPE_F32, 2, inp, fill_bytes,
                                  NULL, NULL));
    S(gguf_writer_add_tensor_fill(w, "blk.0.ffn_gate_exps.weight", KY_TYPE_F16, 3, gate, fill_bytes,
                                  NULL, NULL));
    S(gguf_writer_add_tensor_fill(w, "blk.0.ffn_down_exps.weight", KY_TYPE_F16, 3, down, fill_bytes,
                                  NULL, NULL));
    S(gguf_writer_add_tensor_fill(w, "blk.0.attn_q_norm.weight", KY_TYPE_F32, 1, qn, fill_bytes,
                                  NULL, NULL));
    return w;
}

/* Arrays nested to the reader's limit of 8 levels, with strings at the bottom. */
static gguf_writer *seed_nested8(void) {
    gguf_writer *w = writer(3, 32);
    S(gguf_writer_arr_begin(w, "n.deep", KY_GGUF_ARRAY));
    for (int d = 2; d < 8; d++) S(gguf_writer_arr_begin(w, NULL, KY_GGUF_ARRAY));
    S(gguf_writer_arr_begin(w, NULL, KY_GGUF_STRING));
    ky_gguf_value v = {.type = KY_GGUF_STRING, .v.str = {"bottom", 6}};
    S(gguf_writer_arr_push(w, &v));
    for (int d = 0; d < 8; d++) S(gguf_writer_arr_end(w));
    S(gguf_writer_set_u32(w, "n.after", 1));
    return w;
}

static const struct seed {
    const char *file;
    gguf_writer *(*make)(void);
} k_seeds[] = {
    {"empty.gguf", seed_empty},
    {"scalars-v2.gguf", seed_scalars_v2},
    {"arrays.gguf", seed_arrays},
    {"align1.gguf", seed_align1},
    {"vocab-only.gguf", seed_vocab_only},
    {"llama.gguf", seed_llama},
    {"moe-v2.gguf", seed_moe},
    {"nested8.gguf", seed_nested8},
};

static gguf_writer *seed_types32(void) { return seed_types(32); }
static gguf_writer *seed_types128(void) { return seed_types(128); }

static void check_seed(const char *file, gguf_writer *(*make)(void), size_t *total) {
    g_fail = 0;
    gguf_writer *w = make();
    REQUIRE(w != NULL);
    CHECKF(!g_fail, "%s: a builder call failed: %s", file, gguf_writer_last_error(w));
    uint8_t *mem = NULL;
    size_t n = 0;
    ky_status st = gguf_writer_write_memory(w, &mem, &n);
    CHECKF(st == KY_OK && gguf_writer_last_error(w)[0] == '\0', "%s: %s", file,
           gguf_writer_last_error(w));
    gguf_writer_free(w);
    REQUIRE(st == KY_OK);
    *total += n;
    /* the seed is a valid file */
    ky_gguf *g = NULL;
    ky_error err;
    CHECKF(gguf_open_memory(mem, n, file, &g, &err) == KY_OK, "%s", err.message);
    ky_gguf_close(g);
    char path[256];
    snprintf(path, sizeof path, SEED_DIR "/%s", file);
    if (getenv("KY_WRITE_SEEDS")) {
        CHECKF(ky_test_write_file(path, mem, n) == 0, "cannot write %s", path);
    } else {
        size_t have = 0;
        char *committed = ky_test_read_file(path, &have);
        CHECKF(committed && have == n && !memcmp(committed, mem, n),
               "%s differs from the generator (run KY_WRITE_SEEDS=1 build/tests/gguf/test_seeds)",
               path);
        free(committed);
    }
    free(mem);
}

static void test_seed_corpus(void) {
    size_t total = 0;
    for (size_t i = 0; i < sizeof k_seeds / sizeof k_seeds[0]; i++)
        check_seed(k_seeds[i].file, k_seeds[i].make, &total);
    check_seed("types.gguf", seed_types32, &total);
    check_seed("types-align128.gguf", seed_types128, &total);
    printf("# %zu bytes of seeds\n", total);
    CHECK(total < 50 * 1024);
}

int main(void) {
    RUN(test_seed_corpus);
    TEST_EXIT();
}
