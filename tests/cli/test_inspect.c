/* test_inspect.c — `kaiyuan inspect` on every shared GGUF file and on malformed files.
 *
 * Runs the binary ($KY_KAIYUAN_BIN, default build/kaiyuan) through ky_test_cli, stdout and stderr
 * captured separately. --json output must be exactly one JSON object whose values agree with the
 * reader (every tensor, every scalar pair, array summaries, known hyper-parameters); the human
 * output must agree with the reader too (every tensor row and metadata row, the tokenizer summary
 * and chat-template lines) and keep its columns aligned, also for keys, tensor names and
 * architecture names far longer than real ones; malformed files must exit 1 with a message on
 * stderr naming the file and nothing on stdout.
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
        CHECKF(name && strlen(name) == t.name_len && !memcmp(name, t.name, t.name_len),
               "%s: tensor %" PRId64 " name", path, i);
        CHECKF(type && !strcmp(type, ky_type_name(t.type)), "%s: tensor %" PRId64 " type", path, i);
        CHECKF(same_shape, "%s: tensor %" PRId64 " shape", path, i);
        CHECKF((uint64_t)json_integer_value(json_object_get(jt, "offset")) == t.offset,
               "%s: tensor %" PRId64 " offset", path, i);
        CHECKF((uint64_t)json_integer_value(json_object_get(jt, "bytes")) == t.n_bytes,
               "%s: tensor %" PRId64 " bytes", path, i);
    }
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

/* ---- the human report, checked against the reader -------------------------------------------- */

/* Code points in s[0..n) (the columns of put_name output without wide characters). */
static size_t cols(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Byte offset of column col in the line s (n bytes), or n when the line is shorter. */
static size_t at_col(const char *s, size_t n, size_t col) {
    size_t i = 0;
    for (size_t c = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (c == col) return i;
            c++;
        }
    }
    return n;
}

/* A name as inspect must print it, for names of printable ASCII, C0 controls and valid UTF-8
 * without C1 controls (what the test files hold): C0 and DEL become '?'. */
static void expect_name(char *dst, size_t cap, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[k++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    dst[k] = '\0';
}

/* cli_human_bytes, written again from its contract. */
static void expect_bytes(char buf[32], uint64_t n) {
    if (n < 1024)
        snprintf(buf, 32, "%llu B", (unsigned long long)n);
    else if (n < (1ull << 20))
        snprintf(buf, 32, "%.2f KiB", (double)n / 1024.0);
    else if (n < (1ull << 30))
        snprintf(buf, 32, "%.2f MiB", (double)n / (1024.0 * 1024.0));
    else
        snprintf(buf, 32, "%.2f GiB", (double)n / (1024.0 * 1024.0 * 1024.0));
}

/* Splits the report into lines (in place: '\n' becomes '\0'); returns the count. */
static int split_lines(char *out, char **lines, int cap) {
    int n = 0;
    for (char *p = out; *p && n < cap;) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

static int find_line(char **lines, int n, int from, const char *exact) {
    for (int i = from; i < n; i++)
        if (!strcmp(lines[i], exact)) return i;
    return -1;
}

/* true when s[from..to) holds only spaces (and from <= to). */
static bool spaces(const char *s, size_t from, size_t to) {
    if (from > to) return false;
    for (size_t i = from; i < to; i++)
        if (s[i] != ' ') return false;
    return true;
}

/* The metadata rows: one per pair in file order, "  KEY<pad> TYPE<pad> VALUE" with TYPE at the
 * same column in every row (the widest key + 3). */
static void check_metadata_rows(const char *path, const ky_gguf *g, char **lines, int n_lines) {
    int m = find_line(lines, n_lines, 0, "metadata");
    REQUIRE(m >= 0 && m + ky_gguf_n_kv(g) < n_lines);
    static char name[70000];
    size_t key_w = 0;
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const char *k = ky_gguf_kv_key(g, i);
        expect_name(name, sizeof name, k, strlen(k));
        size_t c = cols(name, strlen(name));
        if (c > key_w) key_w = c;
    }
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const char *line = lines[m + 1 + i], *k = ky_gguf_kv_key(g, i);
        size_t len = strlen(line);
        expect_name(name, sizeof name, k, strlen(k));
        size_t nl = strlen(name), type_at = at_col(line, len, key_w + 3);
        const char *tn = ky_gguf_type_name(ky_gguf_kv_value(g, i).type);
        bool ok = !strncmp(line, "  ", 2) && !strncmp(line + 2, name, nl) &&
                  spaces(line, 2 + nl, type_at) && type_at < len && line[type_at - 1] == ' ' &&
                  !strncmp(line + type_at, tn, strlen(tn)) &&
                  spaces(line, type_at + strlen(tn), at_col(line, len, key_w + 3 + 7));
        CHECKF(ok, "%s: metadata row %" PRId64 " (%s) not at column %zu: '%.200s'", path, i, name,
               key_w + 3, line);
    }
}

/* The tensor table: a header "  name<pad>  type<pad>  shape<pad> offset bytes" and one row per
 * tensor in file order whose fields start (left-aligned) or end (right-aligned) at the header's
 * columns and hold the reader's name, type, shape, offset and size. */
static void check_tensor_rows(const char *path, const ky_gguf *g, char **lines, int n_lines) {
    int h = find_line(lines, n_lines, 0, "tensors");
    REQUIRE(h >= 0 && h + 1 + ky_gguf_n_tensors(g) < n_lines);
    const char *hdr = lines[h + 1];
    size_t hl = strlen(hdr);
    const char *ptype = strstr(hdr, "  type  "), *pshape = strstr(hdr, "  shape ");
    const char *poff = strstr(hdr, " offset "), *pbytes = strstr(hdr, " bytes");
    REQUIRE(!strncmp(hdr, "  name ", 7) && ptype && pshape && poff && pbytes);
    size_t c_type = cols(hdr, (size_t)(ptype - hdr)) + 2,
           c_shape = cols(hdr, (size_t)(pshape - hdr)) + 2;
    size_t c_off_end = cols(hdr, (size_t)(poff - hdr)) + 7, c_end = cols(hdr, hl);
    static char name[8192];
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
        ky_gguf_tensor_info t;
        REQUIRE(ky_gguf_tensor(g, i, &t) == KY_OK);
        const char *row = lines[h + 2 + i];
        size_t len = strlen(row);
        expect_name(name, sizeof name, t.name, t.name_len);
        char shape[128] = "", num[40], bytes[32];
        for (uint32_t d = 0; d < t.n_dims; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRId64,
                     d ? " × " : "", t.ne[d]);
        snprintf(num, sizeof num, "%" PRIu64, t.offset);
        expect_bytes(bytes, t.n_bytes);
        size_t nl = strlen(name), b_type = at_col(row, len, c_type),
               b_shape = at_col(row, len, c_shape), b_off_end = at_col(row, len, c_off_end);
        const char *tn = ky_type_name(t.type);
        bool ok = cols(row, len) == c_end && !strncmp(row, "  ", 2) &&
                  !strncmp(row + 2, name, nl) && spaces(row, 2 + nl, b_type) &&
                  row[b_type - 2] == ' ' && !strncmp(row + b_type, tn, strlen(tn)) &&
                  spaces(row, b_type + strlen(tn), b_shape) && row[b_shape - 2] == ' ' &&
                  !strncmp(row + b_shape, shape, strlen(shape)) && b_off_end >= strlen(num) + 1 &&
                  !strncmp(row + b_off_end - strlen(num), num, strlen(num)) &&
                  row[b_off_end - strlen(num) - 1] == ' ' && len > strlen(bytes) &&
                  !strcmp(row + len - strlen(bytes), bytes) && row[len - strlen(bytes) - 1] == ' ';
        CHECKF(ok, "%s: tensor row %" PRId64 " (%s %s [%s] @%s %s) misaligned or wrong: '%.300s'",
               path, i, name, tn, shape, num, bytes, row);
    }
}

/* The tokenizer summary ("  LABEL<pad to 24> VALUE" for each key present, nothing for absent
 * ones) and the chat-template line. */
static void check_tokenizer_lines(const char *path, const ky_gguf *g, char **lines, int n_lines) {
    static const struct {
        const char *label, *key;
    } k_tok[] = {
        {"model", "tokenizer.ggml.model"},          {"pre-tokenizer", "tokenizer.ggml.pre"},
        {"tokens", "tokenizer.ggml.tokens"},        {"merges", "tokenizer.ggml.merges"},
        {"bos id", "tokenizer.ggml.bos_token_id"},  {"eos id", "tokenizer.ggml.eos_token_id"},
        {"add bos", "tokenizer.ggml.add_bos_token"}};
    int t = find_line(lines, n_lines, 0, "tokenizer");
    REQUIRE(t >= 0);
    int row = t + 1;
    for (size_t k = 0; k < sizeof k_tok / sizeof k_tok[0]; k++) {
        int64_t kv = ky_gguf_find_key(g, k_tok[k].key);
        if (kv < 0) continue;
        ky_gguf_value v = ky_gguf_kv_value(g, kv);
        char want[256];
        if (v.type == KY_GGUF_STRING && v.v.str.len <= 60)
            snprintf(want, sizeof want, "  %-22s \"%.*s\"", k_tok[k].label, (int)v.v.str.len,
                     v.v.str.ptr);
        else if (v.type == KY_GGUF_ARRAY)
            snprintf(want, sizeof want, "  %-22s [%s × %" PRIu64 "]", k_tok[k].label,
                     ky_gguf_type_name(v.v.arr.elem_type), v.v.arr.n);
        else if (v.type == KY_GGUF_BOOL)
            snprintf(want, sizeof want, "  %-22s %s", k_tok[k].label, v.v.u64 ? "true" : "false");
        else if (v.type == KY_GGUF_U32 || v.type == KY_GGUF_U64)
            snprintf(want, sizeof want, "  %-22s %" PRIu64, k_tok[k].label, v.v.u64);
        else
            snprintf(want, sizeof want, "  %-22s ", k_tok[k].label);
        CHECKF(row < n_lines && !strncmp(lines[row], want, strlen(want)),
               "%s: tokenizer line %s: want '%s', got '%.200s'", path, k_tok[k].key, want,
               row < n_lines ? lines[row] : "(end)");
        row++;
    }
    const char *tmpl;
    uint64_t tlen;
    char want[64], size[32];
    if (gguf_get_str(g, "tokenizer.chat_template", &tmpl, &tlen, NULL) == KY_OK) {
        expect_bytes(size, tlen);
        snprintf(want, sizeof want, "chat template present (%s)", size);
    } else {
        snprintf(want, sizeof want, "chat template absent");
    }
    CHECKF(row < n_lines && !strcmp(lines[row], want), "%s: want '%s', got '%.200s'", path, want,
           row < n_lines ? lines[row] : "(end)");
}

/* Runs the human report on path and checks it against the reader. */
static void check_file_human(const char *path) {
    ky_gguf *g = NULL;
    ky_error e;
    REQUIRE(ky_gguf_open(path, &g, &e) == KY_OK);
    run_result r;
    bool ran = run_inspect(path, NULL, &r);
    CHECKF(ran, "%s: could not run", path);
    if (ran) {
        CHECKF(r.exit_code == 0 && r.n_err == 0, "%s: exit %d: %s", path, r.exit_code, r.err);
        int cap = (int)(ky_gguf_n_kv(g) + ky_gguf_n_tensors(g)) + 100, n = 0;
        char **lines = malloc((size_t)cap * sizeof *lines);
        if (lines) n = split_lines(r.out, lines, cap);
        CHECKF(n > 0 && !strncmp(lines[1], "format      GGUF v", 18), "%s: incomplete output",
               path);
        if (n > 0) {
            check_tokenizer_lines(path, g, lines, n);
            check_metadata_rows(path, g, lines, n);
            check_tensor_rows(path, g, lines, n);
        }
        free(lines);
        run_free(&r);
    }
    ky_gguf_close(g);
}

static void test_human_every_shared_file(void) {
    REQUIRE(g_n_files >= 30);
    for (int k = 0; k < g_n_files; k++) check_file_human(g_files[k]);
    /* compact f32 printing and sizes in binary units */
    run_result r;
    REQUIRE(run_inspect(ky_test_shared("models/tiny-qwen3-q8_0.gguf"), NULL, &r));
    CHECKF(strstr(r.out, "rms eps                1e-06\n"), "%s", r.out);
    CHECK(strstr(r.out, "rope base              1000000\n") != NULL);
    CHECK(strstr(r.out, "file type              7 (Q8_0)\n") != NULL);
    CHECK(strstr(r.out, " MiB)\n") != NULL && strstr(r.out, " KiB\n") != NULL);
    CHECK(strstr(r.out, "9.99999997e-07") == NULL);
    run_free(&r);
    /* known tokenizer and template lines, independent of the reader */
    REQUIRE(run_inspect(ky_test_shared("models/chat-qwen3-q8_0.gguf"), NULL, &r));
    CHECK(strstr(r.out, "\ntokenizer\n  model                  \"gpt2\"\n"
                        "  pre-tokenizer          \"qwen2\"\n"
                        "  tokens                 [string × 151936] ") != NULL);
    CHECK(strstr(r.out, "\n  merges                 [string × 151387] ") != NULL);
    CHECK(strstr(r.out, "\n  eos id                 151645\n") != NULL);
    CHECK(strstr(r.out, "\nchat template present (4.02 KiB)\nmetadata\n") != NULL);
    run_free(&r);
    REQUIRE(run_inspect(ky_test_shared("models/stories260K.gguf"), NULL, &r));
    CHECK(strstr(r.out, "\ntokenizer\n  model                  \"llama\"\n"
                        "  tokens                 [string × 512] ") != NULL);
    CHECK(strstr(r.out, "\nchat template absent\nmetadata\n") != NULL);
    run_free(&r);
}

/* Keys, tensor names and an architecture name far longer than real ones (and names with control
 * bytes): every row stays aligned, nothing is cut, the hyper-parameters of a 200-byte
 * architecture are found. */
static void test_human_long_names(void) {
    gguf_writer *w = NULL;
    ky_error err;
    REQUIRE(gguf_writer_create(3, 32, &w, &err) == KY_OK);
    char arch[201], key[400], name[300];
    memset(arch, 'a', 200);
    memcpy(arch, "arch-", 5);
    arch[200] = '\0';
    CHECK(gguf_writer_set_str(w, "general.architecture", arch, 200) == KY_OK);
    snprintf(key, sizeof key, "%s.context_length", arch);
    CHECK(gguf_writer_set_u32(w, key, 4321) == KY_OK);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    CHECK(gguf_writer_set_f32(w, key, 1e-5f) == KY_OK);
    CHECK(gguf_writer_set_str(w, "k", "short key", 9) == KY_OK);
    CHECK(gguf_writer_set_u8(w,
                             "bell\x07"
                             "and\x1b[31mescape",
                             1) == KY_OK);
    CHECK(gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", 5) == KY_OK);
    CHECK(gguf_writer_set_str(w, "tokenizer.chat_template", "{{ x }}", 7) == KY_OK);
    static float data[4096];
    int64_t ne2[2] = {32, 3}, ne1[1] = {4096};
    memset(name, 'n', 250);
    memcpy(name, "blk.0.", 6);
    name[250] = '\0';
    CHECK(gguf_writer_add_tensor(w, "t", KY_TYPE_F32, 1, ne1, data, NULL) == KY_OK);
    CHECK(gguf_writer_add_tensor(w, name, KY_TYPE_F32, 2, ne2, data, NULL) == KY_OK);
    CHECK(gguf_writer_add_tensor(w, "ctl\x01name", KY_TYPE_Q8_0, 2, ne2, data, NULL) == KY_OK);
    char path[600];
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("long-names.gguf"));
    REQUIRE(gguf_writer_write_file(w, path) == KY_OK);
    gguf_writer_free(w);
    check_file_human(path);
    run_result r;
    REQUIRE(run_inspect(path, NULL, &r));
    char want[400];
    snprintf(want, sizeof want, "\narch        %s\n", arch);
    CHECKF(strstr(r.out, want) != NULL, "full architecture name: %.300s", r.out);
    CHECK(strstr(r.out, "\nhyper-parameters\n  context length         4321\n"
                        "  rms eps                1e-05\ntokenizer\n") != NULL);
    CHECK(strstr(r.out, "\n  bell?and?[31mescape ") != NULL && !strchr(r.out, '\x1b'));
    CHECK(strstr(r.out, "\nchat template present (7 B)\n") != NULL);
    run_free(&r);
    REQUIRE(run_inspect("--json", path, &r));
    json_t *j = json_loadb(r.out, r.n_out, 0, NULL);
    CHECK(j && json_is_string(json_object_get(j, "architecture")) &&
          !strcmp(json_string_value(json_object_get(j, "architecture")), arch));
    json_decref(j);
    run_free(&r);
}

/* An architecture holding a NUL byte is shown whole (JSON-escaped / '?'), and is not mistaken for
 * its prefix when looking up hyper-parameters. */
static void test_arch_with_nul(void) {
    gguf_writer *w = NULL;
    ky_error err;
    REQUIRE(gguf_writer_create(3, 32, &w, &err) == KY_OK);
    CHECK(gguf_writer_set_str(w, "general.architecture", "llama\0evil\"", 11) == KY_OK);
    CHECK(gguf_writer_set_u32(w, "llama.context_length", 77) == KY_OK);
    char path[600];
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("nul-arch.gguf"));
    REQUIRE(gguf_writer_write_file(w, path) == KY_OK);
    gguf_writer_free(w);
    check_file_human(path);
    run_result r;
    REQUIRE(run_inspect(path, NULL, &r));
    CHECKF(strstr(r.out, "\narch        llama?evil\"\nhyper-parameters\ntokenizer\n") != NULL,
           "%.300s", r.out);
    run_free(&r);
    REQUIRE(run_inspect("--json", path, &r));
    CHECKF(strstr(r.out, "\"architecture\": \"llama\\u0000evil\\\"\"") != NULL, "%.300s", r.out);
    json_error_t jerr;
    json_t *j = json_loadb(r.out, r.n_out, JSON_ALLOW_NUL, &jerr);
    json_t *a = json_object_get(j, "architecture");
    CHECKF(j && json_is_string(a) && json_string_length(a) == 11 &&
               !memcmp(json_string_value(a), "llama\0evil\"", 11),
           "%s", jerr.text);
    json_decref(j);
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
    RUN(test_human_long_names);
    RUN(test_arch_with_nul);
    RUN(test_malformed_files);
    RUN(test_fifo_refused);
    RUN(test_usage_errors);
    ky_test_free_files(g_files, g_n_files);
    TEST_EXIT();
}
