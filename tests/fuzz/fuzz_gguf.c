/* fuzz_gguf.c — libFuzzer target for the GGUF reader and writer (tests/fuzz; built by fuzz.mk).
 *
 * Each input is parsed in memory by gguf_open_memory (the same parser as ky_gguf_open, no I/O).
 * Rejected inputs must carry a message naming the file. Accepted inputs are walked through every
 * accessor (touching the first and last byte of each string, array and tensor so ASan checks the
 * bounds), then copied through the writer; the copy must re-open with the same directory, and
 * copying the copy must reproduce it byte for byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "tensor/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.gguf"

static void require(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_gguf: property violated: %s\n", what);
        abort();
    }
}

static volatile uint8_t g_sink;

static void touch(const void *p, uint64_t n) {
    if (n == 0) return;
    const uint8_t *b = p;
    g_sink ^= b[0];
    g_sink ^= b[n - 1];
}

/* Walks element `i` of a nested array down to the deepest level along a path of first or last
 * elements. */
static void walk_nested(const ky_gguf *g, int64_t kv, uint64_t *path, size_t depth) {
    ky_gguf_value e;
    ky_status st = ky_gguf_array_get_nested(g, kv, path, depth, &e);
    require(st == KY_OK, "nested element of a validated array readable");
    if (e.type == KY_GGUF_STRING) touch(e.v.str.ptr, e.v.str.len);
    if (e.type != KY_GGUF_ARRAY || depth >= 8) return;
    if (e.v.arr.n == 0) {
        path[depth] = 0;
        require(ky_gguf_array_get_nested(g, kv, path, depth + 1, &e) == KY_ERR_INVALID_ARG,
                "index past an empty nested array rejected");
        return;
    }
    path[depth] = 0;
    walk_nested(g, kv, path, depth + 1);
    path[depth] = e.v.arr.n - 1;
    walk_nested(g, kv, path, depth + 1);
}

static void exercise_kv(const ky_gguf *g, int64_t i) {
    const char *key = ky_gguf_kv_key(g, i);
    require(key && *key, "key present");
    require(ky_gguf_find_key(g, key) == i, "key lookup finds its own pair");
    ky_gguf_value v = ky_gguf_kv_value(g, i);
    const uint8_t *raw;
    uint64_t raw_len;
    gguf_kv_raw(g, i, &raw, &raw_len);
    require(raw_len >= 5 && raw[0] == (uint8_t)v.type, "raw value starts with its type");
    touch(raw, raw_len);
    ky_error err;
    int64_t iv;
    double dv;
    bool bv;
    const char *sp;
    uint64_t sl, n;
    uint32_t et;
    int64_t kvi;
    ky_status st = gguf_get_int(g, key, &iv, &err);
    require(st == KY_OK || st == KY_ERR_TYPE || st == KY_ERR_FORMAT, "get_int status");
    (void)gguf_get_int_range(g, key, -5, 5, &iv, &err);
    st = gguf_get_float(g, key, &dv, &err);
    require((st == KY_OK) == (v.type == KY_GGUF_F32 || v.type == KY_GGUF_F64), "get_float");
    st = gguf_get_bool(g, key, &bv, &err);
    require((st == KY_OK) == (v.type == KY_GGUF_BOOL), "get_bool");
    st = gguf_get_str(g, key, &sp, &sl, &err);
    require((st == KY_OK) == (v.type == KY_GGUF_STRING), "get_str");
    if (st == KY_OK) touch(sp, sl);
    st = gguf_get_arr(g, key, &et, &n, &kvi, &err);
    require((st == KY_OK) == (v.type == KY_GGUF_ARRAY), "get_arr");
    if (st != KY_OK) return;
    require(kvi == i && et == v.v.arr.elem_type && n == v.v.arr.n, "get_arr agrees");
    ky_gguf_value e;
    require(ky_gguf_array_get(g, i, n, &e) == KY_ERR_INVALID_ARG, "index n rejected");
    if (n == 0) return;
    uint64_t esz = gguf_type_size(et);
    if (esz) touch(gguf_arr_data(g, i), n * esz);
    if (et == KY_GGUF_STRING) {
        gguf_arr_str(g, i, 0, &sp, &sl);
        touch(sp, sl);
        gguf_arr_str(g, i, n - 1, &sp, &sl);
        touch(sp, sl);
    }
    uint64_t path[9] = {0};
    walk_nested(g, i, path, 1);
    path[0] = n - 1;
    walk_nested(g, i, path, 1);
}

static void exercise_tensor(const ky_gguf *g, int64_t i) {
    ky_gguf_tensor_info t;
    require(ky_gguf_tensor(g, i, &t) == KY_OK, "tensor readable");
    require(ky_gguf_find_tensor(g, t.name) == i, "tensor lookup finds itself");
    require(t.n_dims >= 1 && t.n_dims <= 4, "n_dims");
    require(t.offset % ky_gguf_alignment(g) == 0, "aligned offset");
    uint64_t row;
    require(ky_type_row_bytes(t.type, t.ne[0], &row), "row size");
    require(t.n_bytes == row * (uint64_t)(t.ne[1] * t.ne[2] * t.ne[3]), "byte size");
    require(ky_gguf_data_offset(g) + t.offset + t.n_bytes <= ky_gguf_file_size(g), "in file");
    touch(t.data, t.n_bytes);
    touch(t.name, t.name_len);
}

static gguf_writer *copy_all(const ky_gguf *g) {
    gguf_writer *w = NULL;
    ky_error err;
    require(gguf_writer_create(ky_gguf_version(g), 32, &w, &err) == KY_OK, "writer created");
    if (ky_gguf_n_tensors(g) == 0 && ky_gguf_file_size(g) > gguf_header_end(g))
        gguf_writer_set_pad_empty(w, true);
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++)
        require(gguf_writer_copy_kv(w, g, i) == KY_OK, "every valid pair copies");
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++)
        require(gguf_writer_copy_tensor(w, g, i, NULL) == KY_OK, "every valid tensor copies");
    return w;
}

static void roundtrip(const ky_gguf *g) {
    gguf_writer *w = copy_all(g);
    uint8_t *out = NULL;
    size_t n = 0;
    require(gguf_writer_write_memory(w, &out, &n) == KY_OK, "write_memory");
    gguf_writer_free(w);
    ky_gguf *g2 = NULL;
    ky_error err;
    ky_status st = gguf_open_memory(out, n, "copy.gguf", &g2, &err);
    if (st) fprintf(stderr, "reopen: %s\n", err.message);
    require(st == KY_OK, "the writer's output is accepted");
    require(ky_gguf_n_kv(g2) == ky_gguf_n_kv(g) && ky_gguf_n_tensors(g2) == ky_gguf_n_tensors(g),
            "same counts");
    require(ky_gguf_alignment(g2) == ky_gguf_alignment(g), "same alignment");
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const uint8_t *a, *b;
        uint64_t la, lb;
        gguf_kv_raw(g, i, &a, &la);
        gguf_kv_raw(g2, i, &b, &lb);
        require(!strcmp(ky_gguf_kv_key(g, i), ky_gguf_kv_key(g2, i)), "same key");
        require(la == lb && !memcmp(a, b, la), "same value bytes");
    }
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
        ky_gguf_tensor_info a, b;
        ky_gguf_tensor(g, i, &a);
        ky_gguf_tensor(g2, i, &b);
        require(a.name_len == b.name_len && !memcmp(a.name, b.name, a.name_len) &&
                    a.type == b.type && a.n_dims == b.n_dims && !memcmp(a.ne, b.ne, sizeof a.ne) &&
                    a.n_bytes == b.n_bytes && !memcmp(a.data, b.data, a.n_bytes),
                "same tensor");
    }
    /* the writer's layout is canonical: copying the copy changes nothing */
    w = copy_all(g2);
    uint8_t *out2 = NULL;
    size_t n2 = 0;
    require(gguf_writer_write_memory(w, &out2, &n2) == KY_OK, "write_memory again");
    require(n2 == n && !memcmp(out, out2, n), "copy of a copy is identical");
    gguf_writer_free(w);
    free(out2);
    ky_gguf_close(g2);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ky_gguf *g = NULL;
    ky_error err;
    memset(&err, 0, sizeof err);
    ky_status st = gguf_open_memory(data, size, NAME, &g, &err);
    if (st != KY_OK) {
        require(g == NULL, "no handle on failure");
        require(err.status == st, "err.status set");
        require(st == KY_ERR_FORMAT || st == KY_ERR_UNSUPPORTED || st == KY_ERR_NOMEM,
                "failure status is format/unsupported");
        require(strncmp(err.message, NAME ": ", sizeof NAME + 1) == 0, "message names the file");
        return 0;
    }
    require(ky_gguf_version(g) == 2 || ky_gguf_version(g) == 3, "version");
    require(ky_gguf_file_size(g) == size, "size");
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) exercise_kv(g, i);
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) exercise_tensor(g, i);
    require(ky_gguf_kv_key(g, ky_gguf_n_kv(g)) == NULL, "key past the end");
    ky_gguf_tensor_info t;
    require(ky_gguf_tensor(g, ky_gguf_n_tensors(g), &t) == KY_ERR_INVALID_ARG, "tensor past end");
    require(ky_gguf_find_key(g, "") == -1, "empty key never found");
    roundtrip(g);
    ky_gguf_close(g);
    return 0;
}
