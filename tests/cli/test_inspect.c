/* test_inspect.c — `kaiyuan inspect` on every shared GGUF file and on malformed files.
 *
 * Runs the binary ($KY_KAIYUAN_BIN, default build/kaiyuan) through ky_test_cli, stdout and stderr
 * captured separately. --json output must be exactly one JSON object whose values agree with the
 * reader (every tensor, every scalar pair, array summaries, known hyper-parameters); the human
 * output must be complete; malformed files must exit 1 with a message on stderr naming the file
 * and nothing on stdout.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"

typedef ky_cli_result run_result;

/* Runs `kaiyuan inspect [a1 [a2]]` capturing stdout and stderr. */
static bool run_inspect(const char *a1, const char *a2, run_result *r) {
    const char *args[] = {"inspect", a1, a2, NULL};
    return ky_test_cli(args, r) == 0;
}

static void run_free(run_result *r) { ky_test_cli_free(r); }

#define MAX_FILES 256
static char *g_files[MAX_FILES];
static int g_n_files;

/* Checks one scalar metadata value in the JSON against the reader's value. */
static void check_scalar(const char *path, const char *key, const ky_gguf_value *v,
                         const json_t *j) {
    switch (v->type) {
    case KY_GGUF_U8:
    case KY_GGUF_U16:
    case KY_GGUF_U32:
    case KY_GGUF_BOOL:
        if (v->type == KY_GGUF_BOOL)
            CHECKF(json_is_boolean(j) && json_is_true(j) == (v->v.u64 != 0), "%s: %s", path, key);
        else
            CHECKF(json_is_integer(j) && (uint64_t)json_integer_value(j) == v->v.u64, "%s: %s",
                   path, key);
        break;
    case KY_GGUF_U64:
        /* jansson integers are int64: values above INT64_MAX do not round-trip through it */
        if (v->v.u64 <= (uint64_t)INT64_MAX)
            CHECKF(json_is_integer(j) && (uint64_t)json_integer_value(j) == v->v.u64, "%s: %s",
                   path, key);
        break;
    case KY_GGUF_I8:
    case KY_GGUF_I16:
    case KY_GGUF_I32:
    case KY_GGUF_I64:
        CHECKF(json_is_integer(j) && json_integer_value(j) == v->v.i64, "%s: %s", path, key);
        break;
    case KY_GGUF_F32:
    case KY_GGUF_F64:
        if (!isfinite(v->v.f64)) {
            CHECKF(json_is_null(j), "%s: %s", path, key);
        } else {
            CHECKF(json_is_number(j), "%s: %s", path, key);
            double d = json_number_value(j);
            if (v->type == KY_GGUF_F32)
                CHECKF((float)d == (float)v->v.f64, "%s: %s: %.9g vs %.9g", path, key, d, v->v.f64);
            else
                CHECKF(d == v->v.f64, "%s: %s: %.17g vs %.17g", path, key, d, v->v.f64);
        }
        break;
    case KY_GGUF_STRING:
        CHECKF(json_is_string(j) && json_string_length(j) == v->v.str.len &&
                   !memcmp(json_string_value(j), v->v.str.ptr, (size_t)v->v.str.len),
               "%s: %s", path, key);
        break;
    default: CHECKF(0, "%s: %s: unexpected type", path, key);
    }
}

/* Runs --json on path and checks the object against the reader. */
static void check_file_json(const char *path) {
    ky_gguf *g = NULL;
    ky_error e;
    REQUIRE(ky_gguf_open(path, &g, &e) == KY_OK);
    run_result r;
    if (!run_inspect("--json", path, &r)) {
        CHECKF(0, "%s: could not run", path);
        ky_gguf_close(g);
        return;
    }
    CHECKF(r.exit_code == 0 && r.n_err == 0, "%s: exit %d, stderr: %s", path, r.exit_code, r.err);
    json_error_t jerr;
    /* json_loadb rejects trailing data: the output is exactly one JSON value */
    json_t *j = json_loadb(r.out, r.n_out, JSON_REJECT_DUPLICATES, &jerr);
    CHECKF(j && json_is_object(j), "%s: bad JSON: %s (line %d)", path, jerr.text, jerr.line);
    if (!j || !json_is_object(j)) goto done;
    CHECK(json_integer_value(json_object_get(j, "file_bytes")) == (json_int_t)ky_gguf_file_size(g));
    CHECK(json_integer_value(json_object_get(j, "version")) == ky_gguf_version(g));
    CHECK(json_integer_value(json_object_get(j, "alignment")) == (json_int_t)ky_gguf_alignment(g));
    const char *arch = NULL;
    uint64_t alen = 0;
    json_t *ja = json_object_get(j, "architecture");
    if (gguf_get_str(g, "general.architecture", &arch, &alen, NULL) == KY_OK)
        CHECKF(json_is_string(ja) && json_string_length(ja) == alen &&
                   !memcmp(json_string_value(ja), arch, alen),
               "%s: architecture", path);
    else
        CHECK(json_is_null(ja));
    /* metadata: every pair, in any order, scalars by value and arrays as summaries */
    json_t *meta = json_object_get(j, "metadata");
    CHECKF(json_is_object(meta) && (int64_t)json_object_size(meta) == ky_gguf_n_kv(g), "%s", path);
    for (int64_t i = 0; meta && i < ky_gguf_n_kv(g); i++) {
        const char *key = ky_gguf_kv_key(g, i);
        ky_gguf_value v = ky_gguf_kv_value(g, i);
        json_t *jv = json_object_get(meta, key);
        CHECKF(jv != NULL, "%s: metadata lacks %s", path, key);
        if (!jv) continue;
        if (v.type == KY_GGUF_ARRAY) {
            CHECKF(json_is_object(jv) &&
                       !strcmp(json_string_value(json_object_get(jv, "type")), "array") &&
                       !strcmp(json_string_value(json_object_get(jv, "element_type")),
                               ky_gguf_type_name(v.v.arr.elem_type)) &&
                       (uint64_t)json_integer_value(json_object_get(jv, "length")) == v.v.arr.n,
                   "%s: %s array summary", path, key);
        } else {
            check_scalar(path, key, &v, jv);
        }
    }
    /* tensors: same order, names, llama.cpp type names, shapes, offsets, sizes */
    json_t *ts = json_object_get(j, "tensors");
    CHECKF(json_is_array(ts) && (int64_t)json_array_size(ts) == ky_gguf_n_tensors(g), "%s", path);
    uint64_t sum = 0, sum_json = 0;
    for (int64_t i = 0; ts && i < ky_gguf_n_tensors(g) && i < (int64_t)json_array_size(ts); i++) {
        ky_gguf_tensor_info t;
        ky_gguf_tensor(g, i, &t);
        json_t *jt = json_array_get(ts, (size_t)i);
        json_t *shape = json_object_get(jt, "shape");
        bool same_shape = json_is_array(shape) && json_array_size(shape) == t.n_dims;
        for (uint32_t d = 0; same_shape && d < t.n_dims; d++)
            same_shape = json_integer_value(json_array_get(shape, d)) == t.ne[d];
        const char *name = json_string_value(json_object_get(jt, "name"));
        const char *type = json_string_value(json_object_get(jt, "type"));
        CHECKF(name && strlen(name) == t.name_len && !memcmp(name, t.name, t.name_len) && type &&
                   !strcmp(type, ky_type_name(t.type)) && same_shape &&
                   (uint64_t)json_integer_value(json_object_get(jt, "offset")) == t.offset,
               "%s: tensor %" PRId64, path, i);
        sum += t.n_bytes;
        sum_json += (uint64_t)json_integer_value(json_object_get(jt, "bytes"));
    }
    CHECKF(sum == sum_json, "%s: bytes %" PRIu64 " vs %" PRIu64, path, sum_json, sum);
    json_decref(j);
done:
    run_free(&r);
    ky_gguf_close(g);
}

static void test_json_every_shared_file(void) {
    REQUIRE(g_n_files >= 30);
    for (int k = 0; k < g_n_files; k++) check_file_json(g_files[k]);
}

static json_t *json_of(const char *path) {
    run_result r;
    if (!run_inspect("--json", path, &r)) return NULL;
    json_t *j = r.exit_code == 0 ? json_loadb(r.out, r.n_out, 0, NULL) : NULL;
    run_free(&r);
    return j;
}

static json_int_t meta_int(json_t *j, const char *key) {
    return json_integer_value(json_object_get(json_object_get(j, "metadata"), key));
}

/* Known values, independent of the reader. */
static void test_known_values(void) {
    json_t *j = json_of(ky_test_shared("models/stories260K.gguf"));
    REQUIRE(j);
    CHECK(!strcmp(json_string_value(json_object_get(j, "architecture")), "llama"));
    CHECK(meta_int(j, "llama.embedding_length") == 64);
    CHECK(meta_int(j, "llama.block_count") == 5);
    CHECK(meta_int(j, "llama.attention.head_count") == 8);
    CHECK(meta_int(j, "llama.attention.head_count_kv") == 4);
    json_t *eps =
        json_object_get(json_object_get(j, "metadata"), "llama.attention.layer_norm_rms_epsilon");
    CHECK(json_is_real(eps) && (float)json_real_value(eps) == 1e-5f);
    json_t *tok = json_object_get(json_object_get(j, "metadata"), "tokenizer.ggml.tokens");
    CHECK(json_integer_value(json_object_get(tok, "length")) == 512);
    CHECK(!strcmp(json_string_value(json_object_get(tok, "element_type")), "string"));
    CHECK(json_array_size(json_object_get(j, "tensors")) == 48);
    json_decref(j);

    j = json_of(ky_test_shared("models/tiny-qwen3moe-q4_k_m.gguf"));
    REQUIRE(j);
    CHECK(!strcmp(json_string_value(json_object_get(j, "architecture")), "qwen3moe"));
    CHECK(meta_int(j, "qwen3moe.expert_count") == 8);
    CHECK(meta_int(j, "qwen3moe.expert_used_count") == 2);
    CHECK(meta_int(j, "qwen3moe.embedding_length") == 256);
    json_t *ts = json_object_get(j, "tensors");
    bool found = false;
    for (size_t i = 0; i < json_array_size(ts); i++) {
        json_t *t = json_array_get(ts, i);
        if (strcmp(json_string_value(json_object_get(t, "name")), "blk.0.ffn_gate_exps.weight"))
            continue;
        json_t *shape = json_object_get(t, "shape");
        found = !strcmp(json_string_value(json_object_get(t, "type")), "q4_K") &&
                json_array_size(shape) == 3 &&
                json_integer_value(json_array_get(shape, 0)) == 256 &&
                json_integer_value(json_array_get(shape, 2)) == 8 &&
                json_integer_value(json_object_get(t, "bytes")) == 256 * 256 * 8 / 256 * 144;
    }
    CHECK(found);
    json_decref(j);

    j = json_of(ky_test_shared("models/chat-qwen3-q8_0.gguf"));
    REQUIRE(j);
    json_t *merges = json_object_get(json_object_get(j, "metadata"), "tokenizer.ggml.merges");
    CHECK(json_integer_value(json_object_get(merges, "length")) == 151387);
    CHECK(meta_int(j, "tokenizer.ggml.eos_token_id") == 151645);
    json_t *tmpl = json_object_get(json_object_get(j, "metadata"), "tokenizer.chat_template");
    CHECK(json_is_string(tmpl) && strstr(json_string_value(tmpl), "<|im_start|>"));
    json_decref(j);
}

static void test_human_every_shared_file(void) {
    for (int k = 0; k < g_n_files; k++) {
        run_result r;
        REQUIRE(run_inspect(g_files[k], NULL, &r));
        CHECKF(r.exit_code == 0 && r.n_err == 0, "%s: exit %d: %s", g_files[k], r.exit_code, r.err);
        CHECKF(strstr(r.out, "format      GGUF v3") && strstr(r.out, "\nmetadata\n") &&
                   strstr(r.out, " tensors\n"),
               "%s: incomplete output", g_files[k]);
        run_free(&r);
    }
    /* compact f32 printing and sizes in binary units */
    run_result r;
    REQUIRE(run_inspect(ky_test_shared("models/tiny-qwen3-q8_0.gguf"), NULL, &r));
    CHECKF(strstr(r.out, "rms eps                1e-06\n"), "%s", r.out);
    CHECK(strstr(r.out, "rope base              1000000\n") != NULL);
    CHECK(strstr(r.out, "file type              7 (Q8_0)\n") != NULL);
    CHECK(strstr(r.out, " MiB)\n") != NULL && strstr(r.out, " KiB\n") != NULL);
    CHECK(strstr(r.out, "9.99999997e-07") == NULL);
    run_free(&r);
}

/* Runs inspect (both modes) on a malformed file: exit 1, stdout empty, message on stderr. */
static void expect_rejected(const char *path, const char *needle) {
    for (int json = 0; json < 2; json++) {
        run_result r;
        REQUIRE(run_inspect(json ? "--json" : path, json ? path : NULL, &r));
        CHECKF(r.exit_code == 1, "%s: exit %d", path, r.exit_code);
        CHECKF(r.n_out == 0, "%s: stdout not empty: %.200s", path, r.out);
        CHECKF(!strncmp(r.err, "kaiyuan inspect: ", 17) && strstr(r.err, path) &&
                   strstr(r.err, needle) && r.err[r.n_err - 1] == '\n',
               "%s: stderr: %s", path, r.err);
        run_free(&r);
    }
}

static void test_malformed_files(void) {
    size_t n = 0;
    char *model = ky_test_read_file(ky_test_shared("models/stories260K.gguf"), &n);
    REQUIRE(model);
    const size_t cuts[] = {0, 3, 7, 23, 100, 5000, 14175, 14177, 700000, 1185375};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "cut-%zu.gguf", cuts[i]);
        const char *path = ky_test_tmpfile(name);
        char copy[600];
        snprintf(copy, sizeof copy, "%s", path);
        REQUIRE(ky_test_write_file(copy, model, cuts[i]) == 0);
        expect_rejected(copy, cuts[i] < 4 ? "truncated" : cuts[i] > 14176 ? "past the end" : "");
    }
    /* bad magic, v1, overlapping tensors (made by patching a valid writer file) */
    char path[600];
    memcpy(model, "GGML", 4);
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("magic.gguf"));
    REQUIRE(ky_test_write_file(path, model, 4096) == 0);
    expect_rejected(path, "not a GGUF file");
    memcpy(model, "GGUF\1\0\0\0", 8);
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("v1.gguf"));
    REQUIRE(ky_test_write_file(path, model, 4096) == 0);
    expect_rejected(path, "version 1");
    free(model);

    gguf_writer *w = NULL;
    ky_error err;
    REQUIRE(gguf_writer_create(3, 32, &w, &err) == KY_OK);
    float data[64] = {0};
    int64_t ne[1] = {64};
    REQUIRE(gguf_writer_add_tensor(w, "first", KY_TYPE_F32, 1, ne, data, NULL) == KY_OK);
    REQUIRE(gguf_writer_add_tensor(w, "second", KY_TYPE_F32, 1, ne, data, NULL) == KY_OK);
    uint8_t *mem = NULL;
    REQUIRE(gguf_writer_write_memory(w, &mem, &n) == KY_OK);
    gguf_writer_free(w);
    /* second tensor's offset (last 8 bytes of its info, just before the padding) := 128 */
    ky_gguf *g = NULL;
    REQUIRE(gguf_open_memory(mem, n, "x", &g, &err) == KY_OK);
    size_t off_pos = (size_t)gguf_header_end(g) - 8;
    ky_gguf_close(g);
    CHECK(mem[off_pos] == 0 && mem[off_pos + 1] == 1); /* 256 */
    mem[off_pos] = 128;
    mem[off_pos + 1] = 0;
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("overlap.gguf"));
    REQUIRE(ky_test_write_file(path, mem, n) == 0);
    expect_rejected(path, "overlaps tensor 'second'");
    free(mem);

    snprintf(path, sizeof path, "%s", ky_test_tmpfile("does-not-exist.gguf"));
    expect_rejected(path, "cannot open");
    expect_rejected(ky_test_tmpdir(), "not a regular file");
}

/* A FIFO is refused at once with a message naming it (opening it for reading would otherwise
 * wait for a writer forever). */
static void test_fifo_refused(void) {
    char path[600];
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("pipe.gguf"));
    unlink(path);
    REQUIRE(mkfifo(path, 0600) == 0);
    for (int json = 0; json < 2; json++) {
        const char *args[] = {"inspect", json ? "--json" : path, json ? path : NULL, NULL};
        run_result r;
        REQUIRE(ky_test_cli_timed(args, 10, &r) == 0);
        CHECKF(!r.timed_out, "inspect %s did not return within 10 s", path);
        CHECKF(r.exit_code == 1 && r.n_out == 0, "exit %d, stdout %.200s", r.exit_code, r.out);
        CHECKF(strstr(r.err, path) && strstr(r.err, "not a regular file (a FIFO)"), "stderr: %s",
               r.err);
        run_free(&r);
    }
    unlink(path);
}

static void test_usage_errors(void) {
    run_result r;
    REQUIRE(run_inspect(NULL, NULL, &r));
    CHECK(r.exit_code == 2 && r.n_out == 0 && strstr(r.err, "usage"));
    run_free(&r);
    REQUIRE(run_inspect("--frobnicate", NULL, &r));
    CHECK(r.exit_code == 2 && r.n_out == 0 && strstr(r.err, "--frobnicate"));
    run_free(&r);
    REQUIRE(run_inspect("--help", NULL, &r));
    CHECK(r.exit_code == 0 && strstr(r.out, "usage"));
    run_free(&r);
}

int main(void) {
    ky_test_collect_files(ky_test_shared("models"), ".gguf", 0, g_files, &g_n_files, MAX_FILES);
    ky_test_collect_files(ky_test_shared("tokenizer"), ".gguf", 1, g_files, &g_n_files, MAX_FILES);
    RUN(test_json_every_shared_file);
    RUN(test_known_values);
    RUN(test_human_every_shared_file);
    RUN(test_malformed_files);
    RUN(test_fifo_refused);
    RUN(test_usage_errors);
    ky_test_free_files(g_files, g_n_files);
    TEST_EXIT();
}
