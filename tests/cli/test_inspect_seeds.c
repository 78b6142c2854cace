/* test_inspect_seeds.c — generates the seed corpus of the inspect fuzzer
 * (tests/fuzz/corpus/inspect/) with the writer and checks that the committed seeds are exactly
 * what the generator produces today, and that each is accepted or rejected by the reader as
 * intended.
 *
 * Run with KY_WRITE_SEEDS=1 from the repository root to (re)write the seed files. Valid seeds
 * reach every part of the report: hyper-parameters of a long architecture name, a NUL in the
 * architecture, control bytes and invalid UTF-8 in keys and tensor names, long keys and names,
 * the tokenizer summary, the chat template, every value type with long strings and nested
 * arrays, NaN/inf, several tensor types. Invalid seeds (cut, bad magic, v1, overlapping tensors,
 * huge counts) reach the error path. All of them together stay far below 100 KB.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"

#define SEED_DIR "tests/fuzz/corpus/inspect"

static int g_fail; /* a seed builder call failed */
#define S(call) g_fail |= (call) != KY_OK

static uint8_t g_data[8192]; /* tensor bytes: a fixed pattern */

static gguf_writer *writer(uint32_t version) {
    gguf_writer *w = NULL;
    ky_error err;
    if (gguf_writer_create(version, 32, &w, &err) != KY_OK) return NULL;
    return w;
}

/* A model-shaped file: 72-byte architecture with its hyper-parameters, tokenizer summary keys, a
 * chat template, awkward keys and tensor names, f32/f16/q8_0/q4_K tensors. */
static gguf_writer *seed_model(void) {
    gguf_writer *w = writer(3);
    char arch[73], key[160];
    memset(arch, 'x', 72);
    memcpy(arch, "longarch-", 9);
    arch[72] = '\0';
    S(gguf_writer_set_str(w, "general.architecture", arch, 72));
    S(gguf_writer_set_str(w, "general.name", "seed \xe6\xa8\xa1\xe5\x9e\x8b", 11));
    S(gguf_writer_set_u32(w, "general.file_type", 15));
    static const char *const suffixes[] = {"context_length", "embedding_length", "block_count",
                                           "attention.head_count", "expert_count"};
    for (uint32_t i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, suffixes[i]);
        S(gguf_writer_set_u32(w, key, 64 << i));
    }
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    S(gguf_writer_set_f32(w, key, 1e-6f));
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    S(gguf_writer_set_f64(w, key, 1e6));
    S(gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4));
    S(gguf_writer_set_str(w, "tokenizer.ggml.pre", "qwen2", 5));
    const char *toks[] = {"<|endoftext|>", "\xc4\xa0the", "a\nb", "\xff\xfe"};
    S(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4));
    const char *merges[] = {"\xc4\xa0 t", "h e"};
    S(gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2));
    S(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 0));
    S(gguf_writer_set_i32(w, "tokenizer.ggml.eos_token_id", -1));
    S(gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true));
    const char tmpl[] = "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
                        "<|im_end|>\n{%- endfor %}";
    S(gguf_writer_set_str(w, "tokenizer.chat_template", tmpl, sizeof tmpl - 1));
    S(gguf_writer_set_u8(w, "ctl\x1b[2Jkey\x7f", 1));
    S(gguf_writer_set_u8(w, "c1\xc2\x9bkey and bad \xc3", 2));
    char longkey[90];
    memset(longkey, 'k', 89);
    longkey[89] = '\0';
    S(gguf_writer_set_str(w, longkey, "", 0));
    int64_t ne1[1] = {32}, ne2[2] = {256, 2};
    char longname[100];
    memset(longname, 'n', 99);
    memcpy(longname, "blk.0.", 6);
    longname[99] = '\0';
    S(gguf_writer_add_tensor(w, "output_norm.weight", KY_TYPE_F32, 1, ne1, g_data, NULL));
    S(gguf_writer_add_tensor(w, longname, KY_TYPE_F16, 2, ne2, g_data, NULL));
    S(gguf_writer_add_tensor(w, "t\x01\xc2\x85\xe2\x96\x81", KY_TYPE_Q8_0, 2, ne2, g_data, NULL));
    S(gguf_writer_add_tensor(w, "blk.0.ffn.weight", KY_TYPE_Q4_K, 2, ne2, g_data, NULL));
    return w;
}

/* An architecture with a NUL byte and the keys its prefix would name. */
static gguf_writer *seed_nul_arch(void) {
    gguf_writer *w = writer(3);
    S(gguf_writer_set_str(w, "general.architecture", "llama\0x", 7));
    S(gguf_writer_set_u32(w, "llama.context_length", 128));
    S(gguf_writer_set_u32(w, "tokenizer.chat_template", 5)); /* not a string: "absent" */
    return w;
}

/* Every value type, long strings, special floats and nested arrays (v2). */
static gguf_writer *seed_values(void) {
    gguf_writer *w = writer(2);
    S(gguf_writer_set_i8(w, "v.i8", -128));
    S(gguf_writer_set_u16(w, "v.u16", 65535));
    S(gguf_writer_set_i16(w, "v.i16", -1));
    S(gguf_writer_set_u64(w, "v.u64", UINT64_MAX));
    S(gguf_writer_set_i64(w, "v.i64", INT64_MIN));
    S(gguf_writer_set_f32(w, "v.nan", NAN));
    S(gguf_writer_set_f32(w, "v.inf", -INFINITY));
    S(gguf_writer_set_f64(w, "v.neg0", -0.0));
    S(gguf_writer_set_f64(w, "v.tiny", 5e-324));
    char long_str[200];
    for (int i = 0; i < 200; i++) long_str[i] = (char)(i % 5 == 0 ? '\\' : 'a' + i % 26);
    long_str[59] = '\xe4'; /* a character cut at the 60-byte limit */
    long_str[60] = '\xb8';
    long_str[61] = '\x80';
    S(gguf_writer_set_str(w, "v.long", long_str, sizeof long_str));
    const float f[] = {NAN, INFINITY, 1e-45f, 3.4e38f, 0.1f};
    S(gguf_writer_set_arr(w, "a.f32", KY_GGUF_F32, f, 5));
    const double d[] = {-0.0, 1e308};
    S(gguf_writer_set_arr(w, "a.f64", KY_GGUF_F64, d, 2));
    const bool b[] = {true, false, true, true, false};
    S(gguf_writer_set_arr(w, "a.bool", KY_GGUF_BOOL, b, 5));
    const char *strs[] = {long_str, "", "\"q\""};
    const size_t lens[] = {100, 0, 3};
    S(gguf_writer_set_arr_str(w, "a.str", strs, lens, 3));
    S(gguf_writer_arr_begin(w, "a.nested", KY_GGUF_ARRAY));
    S(gguf_writer_arr_begin(w, NULL, KY_GGUF_ARRAY));
    S(gguf_writer_arr_begin(w, NULL, KY_GGUF_STRING));
    ky_gguf_value v = {.type = KY_GGUF_STRING, .v.str = {"deep", 4}};
    S(gguf_writer_arr_push(w, &v));
    S(gguf_writer_arr_end(w));
    S(gguf_writer_arr_end(w));
    S(gguf_writer_arr_begin(w, NULL, KY_GGUF_U32));
    S(gguf_writer_arr_end(w));
    S(gguf_writer_arr_end(w));
    return w;
}

static gguf_writer *seed_empty_v2(void) { return writer(2); }

/* Serializes a builder; NULL when a call failed (reported). */
static uint8_t *build(gguf_writer *(*make)(void), size_t *n, const char *what) {
    g_fail = 0;
    gguf_writer *w = make();
    if (!w) return NULL;
    uint8_t *mem = NULL;
    ky_status st = gguf_writer_write_memory(w, &mem, n);
    CHECKF(!g_fail && st == KY_OK, "%s: %s", what, gguf_writer_last_error(w));
    gguf_writer_free(w);
    return st == KY_OK ? mem : NULL;
}

/* Writes or compares one seed; valid says whether the reader must accept it. */
static void check_seed(const char *file, const uint8_t *mem, size_t n, bool valid, size_t *total) {
    ky_gguf *g = NULL;
    ky_error err;
    bool ok = gguf_open_memory(mem, n, file, &g, &err) == KY_OK;
    CHECKF(ok == valid, "%s: reader %s it: %s", file, ok ? "accepts" : "rejects",
           ok ? "" : err.message);
    ky_gguf_close(g);
    *total += n;
    char path[256];
    snprintf(path, sizeof path, SEED_DIR "/%s", file);
    if (getenv("KY_WRITE_SEEDS")) {
        CHECKF(ky_test_write_file(path, mem, n) == 0, "cannot write %s", path);
        return;
    }
    size_t have = 0;
    char *committed = ky_test_read_file(path, &have);
    CHECKF(
        committed && have == n && !memcmp(committed, mem, n),
        "%s differs from the generator (run KY_WRITE_SEEDS=1 build/tests/cli/test_inspect_seeds)",
        path);
    free(committed);
}

static void test_inspect_seed_corpus(void) {
    for (size_t i = 0; i < sizeof g_data; i++) g_data[i] = (uint8_t)(i * 37 + (i >> 5));
    size_t total = 0, n_model = 0, n;
    uint8_t *model = build(seed_model, &n_model, "model.gguf");
    REQUIRE(model);
    check_seed("model.gguf", model, n_model, true, &total);
    static const struct {
        const char *file;
        gguf_writer *(*make)(void);
    } k_valid[] = {
        {"nul-arch.gguf", seed_nul_arch},
        {"values-v2.gguf", seed_values},
        {"empty-v2.gguf", seed_empty_v2},
    };
    for (size_t i = 0; i < sizeof k_valid / sizeof k_valid[0]; i++) {
        uint8_t *mem = build(k_valid[i].make, &n, k_valid[i].file);
        CHECK(mem != NULL);
        if (mem) check_seed(k_valid[i].file, mem, n, true, &total);
        free(mem);
    }
    /* invalid: derived from model.gguf */
    ky_gguf *g = NULL;
    ky_error err;
    REQUIRE(gguf_open_memory(model, n_model, "model", &g, &err) == KY_OK);
    size_t header_end = (size_t)gguf_header_end(g);
    ky_gguf_tensor_info t;
    REQUIRE(ky_gguf_tensor(g, 1, &t) == KY_OK);
    ky_gguf_close(g);
    uint8_t *bad = malloc(n_model);
    REQUIRE(bad);
    check_seed("cut-header.gguf", model, header_end - 13, false, &total);
    check_seed("cut-data.gguf", model, n_model - 100, false, &total);
    memcpy(bad, model, n_model);
    memcpy(bad, "GGML", 4);
    check_seed("bad-magic.gguf", bad, 512, false, &total);
    memcpy(bad, model, n_model);
    bad[4] = 1;
    check_seed("v1.gguf", bad, 512, false, &total);
    memcpy(bad, model, n_model);
    bad[16 + 5] = 0x10; /* n_kv (u64 at byte 16) += 2^44 */
    check_seed("huge-n-kv.gguf", bad, n_model, false, &total);
    memcpy(bad, model, n_model);
    /* the last tensor's offset (the last 8 bytes of the tensor infos) := tensor 1's offset */
    for (int k = 0; k < 8; k++) bad[header_end - 8 + k] = (uint8_t)(t.offset >> (8 * k));
    check_seed("overlap.gguf", bad, n_model, false, &total);
    free(bad);
    free(model);
    printf("# %zu bytes of inspect seeds\n", total);
    CHECK(total < 100 * 1024);
}

int main(void) {
    RUN(test_inspect_seed_corpus);
    TEST_EXIT();
}
