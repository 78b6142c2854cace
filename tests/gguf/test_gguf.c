/* test_gguf.c — GGUF reader and writer API: typed getters, every value type, arrays (strings,
 * nested), v2 files, v1 rejection, alignment handling, tensors (borrowed and filled), writer
 * argument errors, and the accessors on a real model.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"

static bool contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* Writes w to a temp file and opens it; NULL on failure (reported). */
static ky_gguf *write_and_open(gguf_writer *w, const char *name) {
    const char *path = ky_test_tmpfile(name);
    if (gguf_writer_write_file(w, path) != KY_OK) {
        fprintf(stderr, "write: %s\n", gguf_writer_last_error(w));
        return NULL;
    }
    ky_gguf *g = NULL;
    ky_error err;
    if (ky_gguf_open(path, &g, &err) != KY_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        return NULL;
    }
    return g;
}

static gguf_writer *new_writer(uint32_t version, uint32_t alignment) {
    gguf_writer *w = NULL;
    ky_error err;
    if (gguf_writer_create(version, alignment, &w, &err) != KY_OK) {
        fprintf(stderr, "create: %s\n", err.message);
        return NULL;
    }
    return w;
}

/* A file with one pair of every scalar type (edge values), strings and arrays. */
static gguf_writer *typed_writer(uint32_t version) {
    gguf_writer *w = new_writer(version, 32);
    if (!w) return NULL;
    ky_status st = KY_OK;
    st |= gguf_writer_set_u8(w, "t.u8", 255);
    st |= gguf_writer_set_i8(w, "t.i8", -128);
    st |= gguf_writer_set_u16(w, "t.u16", 65535);
    st |= gguf_writer_set_i16(w, "t.i16", -32768);
    st |= gguf_writer_set_u32(w, "t.u32", 4000000000u);
    st |= gguf_writer_set_i32(w, "t.i32", -2000000000);
    st |= gguf_writer_set_f32(w, "t.f32", 1e-6f);
    st |= gguf_writer_set_bool(w, "t.bool", true);
    st |= gguf_writer_set_str(w, "t.str", "hello", 5);
    st |= gguf_writer_set_str(w, "t.empty", "", 0);
    st |= gguf_writer_set_u64(w, "t.u64", UINT64_MAX);
    st |= gguf_writer_set_i64(w, "t.i64", INT64_MIN);
    st |= gguf_writer_set_f64(w, "t.f64", -2.5e300);
    st |= gguf_writer_set_u64(w, "t.u64small", 42);
    const int32_t i32s[] = {7, -1, 2147483647};
    st |= gguf_writer_set_arr(w, "a.i32", KY_GGUF_I32, i32s, 3);
    const float f32s[] = {0.5f, -1.25f};
    st |= gguf_writer_set_arr(w, "a.f32", KY_GGUF_F32, f32s, 2);
    const bool bools[] = {true, false, true};
    st |= gguf_writer_set_arr(w, "a.bool", KY_GGUF_BOOL, bools, 3);
    const uint64_t u64s[] = {1, UINT64_MAX};
    st |= gguf_writer_set_arr(w, "a.u64", KY_GGUF_U64, u64s, 2);
    st |= gguf_writer_set_arr(w, "a.empty", KY_GGUF_U8, NULL, 0);
    const char *strs[] = {"alpha", "", "g\0mma"};
    const size_t lens[] = {5, 0, 5};
    st |= gguf_writer_set_arr_str(w, "a.str", strs, lens, 3);
    /* a.nested = [[1, 2, 3], [], [4]] of u32 */
    st |= gguf_writer_arr_begin(w, "a.nested", KY_GGUF_ARRAY);
    uint64_t rows[3][3] = {{1, 2, 3}, {0}, {4}};
    int counts[3] = {3, 0, 1};
    for (int r = 0; r < 3; r++) {
        st |= gguf_writer_arr_begin(w, NULL, KY_GGUF_U32);
        for (int c = 0; c < counts[r]; c++) {
            ky_gguf_value v = {.type = KY_GGUF_U32, .v.u64 = rows[r][c]};
            st |= gguf_writer_arr_push(w, &v);
        }
        st |= gguf_writer_arr_end(w);
    }
    st |= gguf_writer_arr_end(w);
    /* a.deep = [[["x", "yz"]], [[], ["w"]]] of strings, three levels */
    st |= gguf_writer_arr_begin(w, "a.deep", KY_GGUF_ARRAY);
    st |= gguf_writer_arr_begin(w, NULL, KY_GGUF_ARRAY);
    st |= gguf_writer_arr_begin(w, NULL, KY_GGUF_STRING);
    ky_gguf_value sx = {.type = KY_GGUF_STRING, .v.str = {"x", 1}};
    ky_gguf_value syz = {.type = KY_GGUF_STRING, .v.str = {"yz", 2}};
    ky_gguf_value sw = {.type = KY_GGUF_STRING, .v.str = {"w", 1}};
    st |= gguf_writer_arr_push(w, &sx);
    st |= gguf_writer_arr_push(w, &syz);
    st |= gguf_writer_arr_end(w);
    st |= gguf_writer_arr_end(w);
    st |= gguf_writer_arr_begin(w, NULL, KY_GGUF_ARRAY);
    st |= gguf_writer_arr_begin(w, NULL, KY_GGUF_STRING);
    st |= gguf_writer_arr_end(w);
    st |= gguf_writer_arr_begin(w, NULL, KY_GGUF_STRING);
    st |= gguf_writer_arr_push(w, &sw);
    st |= gguf_writer_arr_end(w);
    st |= gguf_writer_arr_end(w);
    st |= gguf_writer_arr_end(w);
    if (st) {
        fprintf(stderr, "typed_writer: %s\n", gguf_writer_last_error(w));
        gguf_writer_free(w);
        return NULL;
    }
    return w;
}

static void test_scalar_values(void) {
    gguf_writer *w = typed_writer(3);
    REQUIRE(w);
    ky_gguf *g = write_and_open(w, "typed.gguf");
    gguf_writer_free(w);
    REQUIRE(g);
    CHECK(ky_gguf_version(g) == 3);
    CHECK(ky_gguf_n_tensors(g) == 0);
    CHECK(ky_gguf_n_kv(g) == 22);
    CHECK(!strcmp(ky_gguf_kv_key(g, 0), "t.u8"));
    CHECK(ky_gguf_kv_key(g, -1) == NULL && ky_gguf_kv_key(g, 22) == NULL);
    CHECK(ky_gguf_kv_value(g, 99).type == UINT32_MAX);
    ky_gguf_value v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.u8"));
    CHECK(v.type == KY_GGUF_U8 && v.v.u64 == 255);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.i8"));
    CHECK(v.type == KY_GGUF_I8 && v.v.i64 == -128);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.u16"));
    CHECK(v.type == KY_GGUF_U16 && v.v.u64 == 65535);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.i16"));
    CHECK(v.type == KY_GGUF_I16 && v.v.i64 == -32768);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.u32"));
    CHECK(v.type == KY_GGUF_U32 && v.v.u64 == 4000000000u);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.i32"));
    CHECK(v.type == KY_GGUF_I32 && v.v.i64 == -2000000000);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.f32"));
    CHECK(v.type == KY_GGUF_F32 && v.v.f64 == (double)1e-6f);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.bool"));
    CHECK(v.type == KY_GGUF_BOOL && v.v.u64 == 1);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.str"));
    CHECK(v.type == KY_GGUF_STRING && v.v.str.len == 5 && !memcmp(v.v.str.ptr, "hello", 5));
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.empty"));
    CHECK(v.type == KY_GGUF_STRING && v.v.str.len == 0);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.u64"));
    CHECK(v.type == KY_GGUF_U64 && v.v.u64 == UINT64_MAX);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.i64"));
    CHECK(v.type == KY_GGUF_I64 && v.v.i64 == INT64_MIN);
    v = ky_gguf_kv_value(g, ky_gguf_find_key(g, "t.f64"));
    CHECK(v.type == KY_GGUF_F64 && v.v.f64 == -2.5e300);
    CHECK(ky_gguf_find_key(g, "t.nope") == -1);
    CHECK(ky_gguf_find_key(g, NULL) == -1);
    CHECK(ky_gguf_find_tensor(g, "t.u8") == -1);
    ky_gguf_close(g);
}

static void test_typed_getters(void) {
    gguf_writer *w = typed_writer(3);
    REQUIRE(w);
    ky_gguf *g = write_and_open(w, "getters.gguf");
    gguf_writer_free(w);
    REQUIRE(g);
    ky_error err;
    int64_t i = 0;
    /* every integer type widens */
    CHECK(gguf_get_int(g, "t.u8", &i, &err) == KY_OK && i == 255);
    CHECK(gguf_get_int(g, "t.i8", &i, &err) == KY_OK && i == -128);
    CHECK(gguf_get_int(g, "t.u16", &i, &err) == KY_OK && i == 65535);
    CHECK(gguf_get_int(g, "t.i16", &i, &err) == KY_OK && i == -32768);
    CHECK(gguf_get_int(g, "t.u32", &i, &err) == KY_OK && i == 4000000000);
    CHECK(gguf_get_int(g, "t.i32", &i, &err) == KY_OK && i == -2000000000);
    CHECK(gguf_get_int(g, "t.i64", &i, &err) == KY_OK && i == INT64_MIN);
    CHECK(gguf_get_int(g, "t.u64small", &i, &err) == KY_OK && i == 42);
    /* u64 beyond int64 */
    i = 5;
    CHECK(gguf_get_int(g, "t.u64", &i, &err) == KY_ERR_FORMAT && i == 5);
    CHECK(contains(err.message, "'t.u64'") && contains(err.message, "getters.gguf"));
    /* wrong type: status, message names file, key, both types; output untouched */
    CHECK(gguf_get_int(g, "t.str", &i, &err) == KY_ERR_TYPE && i == 5);
    CHECKF(contains(err.message, "'t.str'") && contains(err.message, "string") &&
               contains(err.message, "integer") && contains(err.message, "getters.gguf"),
           "%s", err.message);
    CHECK(gguf_get_int(g, "t.f32", &i, &err) == KY_ERR_TYPE);
    CHECK(gguf_get_int(g, "a.i32", &i, &err) == KY_ERR_TYPE && contains(err.message, "array"));
    /* missing key */
    CHECK(gguf_get_int(g, "llama.block_count", &i, &err) == KY_ERR_NOT_FOUND);
    CHECKF(contains(err.message, "'llama.block_count'") && contains(err.message, "not found"), "%s",
           err.message);
    CHECK(err.status == KY_ERR_NOT_FOUND);
    /* range */
    CHECK(gguf_get_int_range(g, "t.u8", 0, 255, &i, &err) == KY_OK && i == 255);
    CHECK(gguf_get_int_range(g, "t.u8", 0, 254, &i, &err) == KY_ERR_FORMAT);
    CHECKF(contains(err.message, "'t.u8'") && contains(err.message, "[0, 254]"), "%s", err.message);
    CHECK(gguf_get_int_range(g, "t.missing", 0, 1, &i, &err) == KY_ERR_NOT_FOUND);
    /* float */
    double d = 0;
    CHECK(gguf_get_float(g, "t.f32", &d, &err) == KY_OK && d == (double)1e-6f);
    CHECK(gguf_get_float(g, "t.f64", &d, &err) == KY_OK && d == -2.5e300);
    CHECK(gguf_get_float(g, "t.u32", &d, &err) == KY_ERR_TYPE && contains(err.message, "'t.u32'"));
    /* bool */
    bool b = false;
    CHECK(gguf_get_bool(g, "t.bool", &b, &err) == KY_OK && b);
    CHECK(gguf_get_bool(g, "t.u8", &b, &err) == KY_ERR_TYPE && contains(err.message, "'t.u8'"));
    CHECK(gguf_get_bool(g, "t.none", &b, &err) == KY_ERR_NOT_FOUND);
    /* string */
    const char *p = NULL;
    uint64_t len = 0;
    CHECK(gguf_get_str(g, "t.str", &p, &len, &err) == KY_OK && len == 5 && !memcmp(p, "hello", 5));
    CHECK(gguf_get_str(g, "t.i8", &p, &len, &err) == KY_ERR_TYPE &&
          contains(err.message, "'t.i8'"));
    CHECK(gguf_get_str(g, "t.none", &p, &len, &err) == KY_ERR_NOT_FOUND &&
          contains(err.message, "'t.none'"));
    /* array */
    uint32_t et = 0;
    uint64_t n = 0;
    int64_t kv = -1;
    CHECK(gguf_get_arr(g, "a.i32", &et, &n, &kv, &err) == KY_OK && et == KY_GGUF_I32 && n == 3 &&
          kv == ky_gguf_find_key(g, "a.i32"));
    CHECK(gguf_get_arr(g, "t.u8", &et, &n, &kv, &err) == KY_ERR_TYPE &&
          contains(err.message, "'t.u8'"));
    CHECK(gguf_get_arr(g, "a.none", &et, &n, &kv, NULL) == KY_ERR_NOT_FOUND); /* err optional */
    ky_gguf_close(g);
}

static void test_arrays(void) {
    gguf_writer *w = typed_writer(3);
    REQUIRE(w);
    ky_gguf *g = write_and_open(w, "arrays.gguf");
    gguf_writer_free(w);
    REQUIRE(g);
    ky_gguf_value e;
    int64_t k = ky_gguf_find_key(g, "a.i32");
    ky_gguf_value v = ky_gguf_kv_value(g, k);
    CHECK(v.type == KY_GGUF_ARRAY && v.v.arr.elem_type == KY_GGUF_I32 && v.v.arr.n == 3);
    CHECK(ky_gguf_array_get(g, k, 0, &e) == KY_OK && e.type == KY_GGUF_I32 && e.v.i64 == 7);
    CHECK(ky_gguf_array_get(g, k, 1, &e) == KY_OK && e.v.i64 == -1);
    CHECK(ky_gguf_array_get(g, k, 2, &e) == KY_OK && e.v.i64 == 2147483647);
    CHECK(ky_gguf_array_get(g, k, 3, &e) == KY_ERR_INVALID_ARG);
    CHECK(ky_gguf_array_get(g, -1, 0, &e) == KY_ERR_INVALID_ARG);
    CHECK(ky_gguf_array_get(g, ky_gguf_find_key(g, "t.u8"), 0, &e) == KY_ERR_TYPE);
    const uint8_t *raw = gguf_arr_data(g, k);
    CHECK(raw[0] == 7 && raw[4] == 0xFF && raw[11] == 0x7F);

    k = ky_gguf_find_key(g, "a.f32");
    CHECK(ky_gguf_array_get(g, k, 1, &e) == KY_OK && e.type == KY_GGUF_F32 && e.v.f64 == -1.25);
    k = ky_gguf_find_key(g, "a.bool");
    CHECK(ky_gguf_array_get(g, k, 0, &e) == KY_OK && e.type == KY_GGUF_BOOL && e.v.u64 == 1);
    CHECK(ky_gguf_array_get(g, k, 1, &e) == KY_OK && e.v.u64 == 0);
    k = ky_gguf_find_key(g, "a.u64");
    CHECK(ky_gguf_array_get(g, k, 1, &e) == KY_OK && e.v.u64 == UINT64_MAX);
    k = ky_gguf_find_key(g, "a.empty");
    v = ky_gguf_kv_value(g, k);
    CHECK(v.v.arr.n == 0 && ky_gguf_array_get(g, k, 0, &e) == KY_ERR_INVALID_ARG);

    /* strings, including an empty one and one with a NUL inside */
    k = ky_gguf_find_key(g, "a.str");
    v = ky_gguf_kv_value(g, k);
    CHECK(v.v.arr.elem_type == KY_GGUF_STRING && v.v.arr.n == 3);
    CHECK(ky_gguf_array_get(g, k, 0, &e) == KY_OK && e.type == KY_GGUF_STRING && e.v.str.len == 5 &&
          !memcmp(e.v.str.ptr, "alpha", 5));
    CHECK(ky_gguf_array_get(g, k, 1, &e) == KY_OK && e.v.str.len == 0);
    CHECK(ky_gguf_array_get(g, k, 2, &e) == KY_OK && e.v.str.len == 5 &&
          !memcmp(e.v.str.ptr, "g\0mma", 5));
    const char *p;
    uint64_t len;
    gguf_arr_str(g, k, 2, &p, &len);
    CHECK(len == 5 && p[0] == 'g' && p[1] == '\0');

    /* nested: [[1, 2, 3], [], [4]] */
    k = ky_gguf_find_key(g, "a.nested");
    v = ky_gguf_kv_value(g, k);
    CHECK(v.v.arr.elem_type == KY_GGUF_ARRAY && v.v.arr.n == 3);
    CHECK(ky_gguf_array_get(g, k, 0, &e) == KY_OK && e.type == KY_GGUF_ARRAY &&
          e.v.arr.elem_type == KY_GGUF_U32 && e.v.arr.n == 3);
    CHECK(ky_gguf_array_get(g, k, 1, &e) == KY_OK && e.v.arr.n == 0);
    CHECK(ky_gguf_array_get(g, k, 2, &e) == KY_OK && e.v.arr.n == 1);
    uint64_t path[3] = {0, 2, 0};
    CHECK(ky_gguf_array_get_nested(g, k, path, 2, &e) == KY_OK && e.type == KY_GGUF_U32 &&
          e.v.u64 == 3);
    path[0] = 2;
    path[1] = 0;
    CHECK(ky_gguf_array_get_nested(g, k, path, 2, &e) == KY_OK && e.v.u64 == 4);
    path[1] = 1;
    CHECK(ky_gguf_array_get_nested(g, k, path, 2, &e) == KY_ERR_INVALID_ARG);
    path[0] = 1;
    path[1] = 0;
    CHECK(ky_gguf_array_get_nested(g, k, path, 2, &e) == KY_ERR_INVALID_ARG); /* empty row */
    path[0] = 0;
    CHECK(ky_gguf_array_get_nested(g, k, path, 3, &e) == KY_ERR_TYPE); /* u32 is not an array */
    CHECK(ky_gguf_array_get_nested(g, k, path, 0, &e) == KY_ERR_INVALID_ARG);

    /* three levels of strings: [[["x", "yz"]], [[], ["w"]]] */
    k = ky_gguf_find_key(g, "a.deep");
    uint64_t p3[3] = {0, 0, 1};
    CHECK(ky_gguf_array_get_nested(g, k, p3, 3, &e) == KY_OK && e.type == KY_GGUF_STRING &&
          e.v.str.len == 2 && !memcmp(e.v.str.ptr, "yz", 2));
    uint64_t p4[3] = {1, 1, 0}; /* walks past the empty array at [1][0] */
    CHECK(ky_gguf_array_get_nested(g, k, p4, 3, &e) == KY_OK && e.v.str.len == 1 &&
          e.v.str.ptr[0] == 'w');
    CHECK(ky_gguf_array_get_nested(g, k, p4, 2, &e) == KY_OK && e.type == KY_GGUF_ARRAY &&
          e.v.arr.elem_type == KY_GGUF_STRING && e.v.arr.n == 1);
    uint64_t p5[3] = {1, 0, 0};
    CHECK(ky_gguf_array_get_nested(g, k, p5, 3, &e) == KY_ERR_INVALID_ARG);
    ky_gguf_close(g);
}

/* A v2 file written by the writer reads back with the same content as its v3 twin. */
static void test_v2_files(void) {
    gguf_writer *w2 = typed_writer(2), *w3 = typed_writer(3);
    REQUIRE(w2 && w3);
    float data[64];
    for (int i = 0; i < 64; i++) data[i] = (float)i;
    int64_t ne[2] = {32, 2};
    CHECK(gguf_writer_add_tensor(w2, "w", KY_TYPE_F32, 2, ne, data, NULL) == KY_OK);
    CHECK(gguf_writer_add_tensor(w3, "w", KY_TYPE_F32, 2, ne, data, NULL) == KY_OK);
    uint8_t *b2 = NULL, *b3 = NULL;
    size_t n2 = 0, n3 = 0;
    REQUIRE(gguf_writer_write_memory(w2, &b2, &n2) == KY_OK);
    REQUIRE(gguf_writer_write_memory(w3, &b3, &n3) == KY_OK);
    /* identical but for the version field */
    CHECK(n2 == n3 && b2[4] == 2 && b3[4] == 3 && !memcmp(b2 + 5, b3 + 5, n2 - 5));
    ky_gguf *g = write_and_open(w2, "v2.gguf");
    REQUIRE(g);
    CHECK(ky_gguf_version(g) == 2);
    CHECK(ky_gguf_n_kv(g) == 22 && ky_gguf_n_tensors(g) == 1);
    int64_t i;
    CHECK(gguf_get_int(g, "t.i32", &i, NULL) == KY_OK && i == -2000000000);
    ky_gguf_tensor_info t;
    CHECK(ky_gguf_tensor(g, 0, &t) == KY_OK && !memcmp(t.data, data, sizeof data));
    ky_gguf_close(g);
    free(b2);
    free(b3);
    gguf_writer_free(w2);
    gguf_writer_free(w3);
}

static void test_v1_rejected(void) {
    /* v1: "GGUF" | u32 1 | u32 n_tensors | u32 n_kv — 32-bit counts */
    uint8_t v1[16] = {'G', 'G', 'U', 'F', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const char *path = ky_test_tmpfile("v1.gguf");
    REQUIRE(ky_test_write_file(path, v1, sizeof v1) == 0);
    ky_gguf *g = NULL;
    ky_error err;
    CHECK(ky_gguf_open(path, &g, &err) == KY_ERR_UNSUPPORTED && g == NULL);
    CHECKF(contains(err.message, "v1.gguf") && contains(err.message, "version 1") &&
               contains(err.message, "obsolete"),
           "%s", err.message);
    /* big-endian files say so */
    uint8_t be[24] = {'G', 'G', 'U', 'F', 0, 0, 0, 3};
    CHECK(gguf_open_memory(be, sizeof be, "be.gguf", &g, &err) == KY_ERR_UNSUPPORTED);
    CHECKF(contains(err.message, "big-endian"), "%s", err.message);
    uint8_t v9[24] = {'G', 'G', 'U', 'F', 9};
    CHECK(gguf_open_memory(v9, sizeof v9, "v9.gguf", &g, &err) == KY_ERR_UNSUPPORTED);
    CHECKF(contains(err.message, "version 9"), "%s", err.message);
}

static void test_alignment(void) {
    /* alignment 64 adds the key; the data section and every tensor are aligned to it */
    gguf_writer *w = new_writer(3, 64);
    REQUIRE(w);
    CHECK(gguf_writer_alignment(w) == 64 && gguf_writer_n_kv(w) == 1);
    uint8_t bytes[200];
    for (int i = 0; i < 200; i++) bytes[i] = (uint8_t)i;
    int64_t ne1[1] = {3}, ne2[1] = {200};
    CHECK(gguf_writer_add_tensor(w, "a", KY_TYPE_F32, 1, ne1, bytes, NULL) == KY_OK);
    CHECK(gguf_writer_add_tensor(w, "b", 24 /* i8 */, 1, ne2, bytes, NULL) == KY_OK);
    ky_gguf *g = write_and_open(w, "align64.gguf");
    REQUIRE(g);
    CHECK(ky_gguf_alignment(g) == 64);
    int64_t a = 0;
    CHECK(gguf_get_int(g, "general.alignment", &a, NULL) == KY_OK && a == 64);
    CHECK(ky_gguf_data_offset(g) % 64 == 0);
    ky_gguf_tensor_info t;
    CHECK(ky_gguf_tensor(g, 1, &t) == KY_OK && t.offset == 64 && t.n_bytes == 200);
    CHECK(!memcmp(t.data, bytes, 200));
    CHECK(ky_gguf_file_size(g) == ky_gguf_data_offset(g) + 64 + 256); /* last tensor padded */
    /* padding bytes are zero */
    const uint8_t *d = (const uint8_t *)t.data - 64;
    int zeros = 1;
    for (int i = 12; i < 64; i++) zeros &= d[i] == 0;
    for (int i = 200; i < 256; i++) zeros &= ((const uint8_t *)t.data)[i] == 0;
    CHECK(zeros);
    ky_gguf_close(g);

    /* general.alignment must be a u32 power of two; invalid values leave the writer unchanged */
    CHECK(gguf_writer_set_u64(w, "general.alignment", 64) == KY_ERR_INVALID_ARG);
    CHECK(contains(gguf_writer_last_error(w), "general.alignment"));
    CHECK(gguf_writer_set_u32(w, "general.alignment", 0) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_set_u32(w, "general.alignment", 48) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_set_u32(w, "general.alignment", 1u << 21) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_arr_begin(w, "general.alignment", KY_GGUF_U32) == KY_OK &&
          gguf_writer_arr_end(w) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_alignment(w) == 64 && gguf_writer_n_kv(w) == 1);
    /* alignment 1: tensors packed back to back */
    CHECK(gguf_writer_set_u32(w, "general.alignment", 1) == KY_OK && gguf_writer_alignment(w) == 1);
    g = write_and_open(w, "align1.gguf");
    REQUIRE(g);
    CHECK(ky_gguf_alignment(g) == 1 && ky_gguf_tensor(g, 1, &t) == KY_OK && t.offset == 12);
    ky_gguf_close(g);
    /* removing the key restores the default */
    CHECK(gguf_writer_remove_key(w, "general.alignment") == KY_OK &&
          gguf_writer_alignment(w) == 32);
    CHECK(gguf_writer_remove_key(w, "general.alignment") == KY_ERR_NOT_FOUND);
    g = write_and_open(w, "align32.gguf");
    REQUIRE(g);
    CHECK(ky_gguf_alignment(g) == 32 && ky_gguf_find_key(g, "general.alignment") < 0);
    CHECK(ky_gguf_tensor(g, 1, &t) == KY_OK && t.offset == 32);
    ky_gguf_close(g);
    gguf_writer_free(w);

    ky_error err;
    gguf_writer *bad = NULL;
    CHECK(gguf_writer_create(3, 24, &bad, &err) == KY_ERR_INVALID_ARG && bad == NULL);
    CHECK(gguf_writer_create(1, 32, &bad, &err) == KY_ERR_INVALID_ARG &&
          contains(err.message, "1"));
    /* defaults: version 3, alignment 32 */
    REQUIRE(gguf_writer_create(0, 0, &bad, &err) == KY_OK);
    CHECK(gguf_writer_alignment(bad) == 32 && gguf_writer_n_kv(bad) == 0);
    uint8_t *mem = NULL;
    size_t n = 0;
    CHECK(gguf_writer_write_memory(bad, &mem, &n) == KY_OK && n == 24 && mem[4] == 3);
    free(mem);
    gguf_writer_free(bad);
}

/* Fill callback: each tensor's bytes are (index * 31 + position) mod 251. */
typedef struct fill_log {
    int calls;
    int64_t last_index;
    int nonzero_on_entry;
} fill_log;

static void fill_pattern(void *ctx, int64_t index, void *dst, uint64_t n) {
    fill_log *log = ctx;
    uint8_t *p = dst;
    for (uint64_t i = 0; i < n; i++) {
        log->nonzero_on_entry |= p[i] != 0;
        p[i] = (uint8_t)((uint64_t)(index * 31) + i) % 251;
    }
    log->calls++;
    CHECK(index > log->last_index); /* tensor order */
    log->last_index = index;
}

static void check_pattern(const ky_gguf *g, int64_t i) {
    ky_gguf_tensor_info t;
    REQUIRE(ky_gguf_tensor(g, i, &t) == KY_OK);
    const uint8_t *p = t.data;
    int good = 1;
    for (uint64_t k = 0; k < t.n_bytes; k++)
        good &= p[k] == (uint8_t)((uint64_t)(i * 31) + k) % 251;
    CHECKF(good, "tensor %" PRId64, i);
}

static void test_tensors_borrowed_and_filled(void) {
    /* alignment 4096 puts tensors on page boundaries; odd sizes cross them */
    for (int mode = 0; mode < 2; mode++) {
        gguf_writer *w = new_writer(3, mode ? 4096 : 32);
        REQUIRE(w);
        fill_log log = {0, -1, 0};
        uint8_t q8[34 * 3]; /* 3 q8_0 blocks = one row of 96 */
        for (int i = 0; i < (int)sizeof q8; i++) q8[i] = (uint8_t)((0 * 31 + i) % 251);
        int64_t ne_q8[2] = {96, 1};
        int64_t ne_big[3] = {1000, 7, 3};   /* f16: 42000 bytes */
        int64_t ne_k[2] = {256, 5};         /* q4_K: 5 blocks */
        int64_t ne_small[4] = {5, 1, 1, 1}; /* 4 dims kept */
        int64_t idx = -1;
        CHECK(gguf_writer_add_tensor(w, "q8", KY_TYPE_Q8_0, 2, ne_q8, q8, &idx) == KY_OK &&
              idx == 0);
        CHECK(gguf_writer_add_tensor_fill(w, "big", KY_TYPE_F16, 3, ne_big, fill_pattern, &log,
                                          &idx) == KY_OK &&
              idx == 1);
        CHECK(gguf_writer_add_tensor_fill(w, "k", KY_TYPE_Q4_K, 2, ne_k, fill_pattern, &log,
                                          NULL) == KY_OK);
        CHECK(gguf_writer_add_tensor_fill(w, "small", KY_TYPE_F32, 4, ne_small, fill_pattern, &log,
                                          NULL) == KY_OK);
        CHECK(gguf_writer_n_tensors(w) == 4);
        ky_gguf *g = write_and_open(w, "tensors.gguf");
        REQUIRE(g);
        CHECK(log.calls == 3 && log.nonzero_on_entry == 0);
        CHECK(ky_gguf_n_tensors(g) == 4);
        for (int64_t i = 0; i < 4; i++) check_pattern(g, i);
        ky_gguf_tensor_info t;
        int64_t i = ky_gguf_find_tensor(g, "big");
        CHECK(i == 1 && ky_gguf_tensor(g, i, &t) == KY_OK);
        CHECK(t.type == KY_TYPE_F16 && t.n_dims == 3 && t.ne[0] == 1000 && t.ne[1] == 7 &&
              t.ne[2] == 3 && t.ne[3] == 1 && t.n_bytes == 42000);
        CHECK(t.name_len == 3 && !memcmp(t.name, "big", 3));
        CHECK(ky_gguf_tensor(g, ky_gguf_find_tensor(g, "k"), &t) == KY_OK && t.n_bytes == 5 * 144);
        CHECK(ky_gguf_tensor(g, 3, &t) == KY_OK && t.n_dims == 4 && t.n_bytes == 20);
        CHECK(ky_gguf_tensor(g, 4, &t) == KY_ERR_INVALID_ARG);
        CHECK(ky_gguf_find_tensor(g, "nope") == -1);
        /* the memory path gives the same bytes */
        fill_log log2 = {0, -1, 0};
        uint8_t *mem = NULL;
        size_t n = 0;
        gguf_writer_free(w);
        w = new_writer(3, mode ? 4096 : 32);
        REQUIRE(w);
        CHECK(gguf_writer_add_tensor(w, "q8", KY_TYPE_Q8_0, 2, ne_q8, q8, NULL) == KY_OK);
        CHECK(gguf_writer_add_tensor_fill(w, "big", KY_TYPE_F16, 3, ne_big, fill_pattern, &log2,
                                          NULL) == KY_OK);
        CHECK(gguf_writer_add_tensor_fill(w, "k", KY_TYPE_Q4_K, 2, ne_k, fill_pattern, &log2,
                                          NULL) == KY_OK);
        CHECK(gguf_writer_add_tensor_fill(w, "small", KY_TYPE_F32, 4, ne_small, fill_pattern, &log2,
                                          NULL) == KY_OK);
        CHECK(gguf_writer_write_memory(w, &mem, &n) == KY_OK && log2.calls == 3);
        size_t n_file = 0;
        char *file = ky_test_read_file(ky_test_tmpfile("tensors.gguf"), &n_file);
        CHECK(file && mem && n == n_file && n == gguf_writer_size(w) && !memcmp(file, mem, n));
        free(file);
        free(mem);
        ky_gguf_close(g);
        gguf_writer_free(w);
    }
}

static void test_writer_errors(void) {
    gguf_writer *w = new_writer(3, 32);
    REQUIRE(w);
    uint8_t data[4096] = {0};
    int64_t ne[2] = {32, 2};
    CHECK(gguf_writer_add_tensor(w, "x", KY_TYPE_Q4_0, 2, ne, data, NULL) == KY_OK);
    /* duplicate name */
    CHECK(gguf_writer_add_tensor(w, "x", KY_TYPE_F32, 2, ne, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(contains(gguf_writer_last_error(w), "'x'") &&
          contains(gguf_writer_last_error(w), "duplicate"));
    /* rows not divisible by the block size */
    int64_t ne33[1] = {33};
    CHECK(gguf_writer_add_tensor(w, "y", KY_TYPE_Q4_0, 1, ne33, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(contains(gguf_writer_last_error(w), "'y'") &&
          contains(gguf_writer_last_error(w), "block size 32"));
    /* unknown type, bad dims, zero dim, overflow, empty name, no data */
    CHECK(gguf_writer_add_tensor(w, "z", 4, 1, ne, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_add_tensor(w, "z", 99, 1, ne, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(contains(gguf_writer_last_error(w), "99"));
    CHECK(gguf_writer_add_tensor(w, "z", KY_TYPE_F32, 5, ne, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_add_tensor(w, "z", KY_TYPE_F32, 0, ne, data, NULL) == KY_ERR_INVALID_ARG);
    int64_t ne0[2] = {32, 0}, nebig[3] = {INT64_MAX / 2, 4, 1};
    CHECK(gguf_writer_add_tensor(w, "z", KY_TYPE_F32, 2, ne0, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_add_tensor(w, "z", KY_TYPE_F32, 3, nebig, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_add_tensor(w, "", KY_TYPE_F32, 2, ne, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_add_tensor(w, "z", KY_TYPE_F32, 2, ne, NULL, NULL) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_add_tensor_fill(w, "z", KY_TYPE_F32, 2, ne, NULL, NULL, NULL) ==
          KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_n_tensors(w) == 1);
    /* keys */
    CHECK(gguf_writer_set_u32(w, "", 1) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_set_u32(w, NULL, 1) == KY_ERR_INVALID_ARG);
    ky_gguf_value v = {.type = KY_GGUF_U8, .v.u64 = 300};
    CHECK(gguf_writer_set(w, "k.u8", &v) == KY_ERR_INVALID_ARG &&
          contains(gguf_writer_last_error(w), "'k.u8'"));
    v = (ky_gguf_value){.type = KY_GGUF_I16, .v.i64 = -40000};
    CHECK(gguf_writer_set(w, "k.i16", &v) == KY_ERR_INVALID_ARG);
    v = (ky_gguf_value){.type = KY_GGUF_ARRAY};
    CHECK(gguf_writer_set(w, "k.arr", &v) == KY_ERR_INVALID_ARG);
    v = (ky_gguf_value){.type = 13};
    CHECK(gguf_writer_set(w, "k.bad", &v) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_set_arr(w, "k.sarr", KY_GGUF_STRING, data, 1) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_n_kv(w) == 0);
    /* arrays: wrong element type, nesting into a scalar array, too deep, calls while open */
    CHECK(gguf_writer_arr_push(w, &v) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_arr_end(w) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_arr_begin(w, NULL, KY_GGUF_U8) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_arr_begin(w, "k.a", KY_GGUF_U16) == KY_OK);
    v = (ky_gguf_value){.type = KY_GGUF_U32, .v.u64 = 1};
    CHECK(gguf_writer_arr_push(w, &v) == KY_ERR_INVALID_ARG &&
          contains(gguf_writer_last_error(w), "'k.a'"));
    CHECK(gguf_writer_arr_begin(w, NULL, KY_GGUF_U8) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_set_u32(w, "k.other", 1) == KY_ERR_INVALID_ARG &&
          contains(gguf_writer_last_error(w), "still open"));
    CHECK(gguf_writer_add_tensor(w, "t", KY_TYPE_F32, 2, ne, data, NULL) == KY_ERR_INVALID_ARG);
    CHECK(gguf_writer_size(w) == 0);
    uint8_t *mem = NULL;
    size_t n = 0;
    CHECK(gguf_writer_write_memory(w, &mem, &n) == KY_ERR_INVALID_ARG && mem == NULL);
    v = (ky_gguf_value){.type = KY_GGUF_U16, .v.u64 = 7};
    CHECK(gguf_writer_arr_push(w, &v) == KY_OK);
    CHECK(gguf_writer_arr_end(w) == KY_OK && gguf_writer_n_kv(w) == 1);
    CHECK(gguf_writer_arr_begin(w, "k.deep", KY_GGUF_ARRAY) == KY_OK);
    int depth = 1;
    while (gguf_writer_arr_begin(w, NULL, KY_GGUF_ARRAY) == KY_OK) depth++;
    /* the array at depth 8 may not hold arrays: the reader would reject it */
    CHECK(depth == 7 && contains(gguf_writer_last_error(w), "deeper"));
    CHECK(gguf_writer_arr_begin(w, NULL, KY_GGUF_U8) == KY_OK);
    depth++;
    CHECK(gguf_writer_arr_begin(w, NULL, KY_GGUF_U8) == KY_ERR_INVALID_ARG);
    while (depth--) CHECK(gguf_writer_arr_end(w) == KY_OK);
    CHECK(gguf_writer_n_kv(w) == 2);
    /* replacing a key keeps its position */
    CHECK(gguf_writer_set_u32(w, "k.a", 5) == KY_OK && gguf_writer_n_kv(w) == 2);
    /* unwritable path: I/O error naming the path */
    CHECK(gguf_writer_write_file(w, "/nonexistent-dir/x.gguf") == KY_ERR_IO);
    CHECK(contains(gguf_writer_last_error(w), "/nonexistent-dir/x.gguf"));
    ky_gguf *g = write_and_open(w, "errors.gguf");
    REQUIRE(g);
    CHECK(!strcmp(ky_gguf_kv_key(g, 0), "k.a") && ky_gguf_kv_value(g, 0).type == KY_GGUF_U32);
    /* the 8-deep array is accepted by the reader; elements are reachable */
    ky_gguf_value e;
    uint64_t path[8] = {0};
    CHECK(ky_gguf_array_get_nested(g, 1, path, 1, &e) == KY_OK && e.type == KY_GGUF_ARRAY);
    CHECK(ky_gguf_array_get_nested(g, 1, path, 7, &e) == KY_OK && e.type == KY_GGUF_ARRAY &&
          e.v.arr.elem_type == KY_GGUF_U8 && e.v.arr.n == 0);
    CHECK(ky_gguf_array_get_nested(g, 1, path, 8, &e) == KY_ERR_INVALID_ARG);
    ky_gguf_close(g);
    gguf_writer_free(w);
}

/* copy_kv keeps the exact encoding, including a bool byte other than 0/1 */
static void test_copy_kv_exact(void) {
    gguf_writer *w = typed_writer(3);
    REQUIRE(w);
    uint8_t *mem = NULL;
    size_t n = 0;
    REQUIRE(gguf_writer_write_memory(w, &mem, &n) == KY_OK);
    gguf_writer_free(w);
    ky_gguf *g = NULL;
    ky_error err;
    REQUIRE(gguf_open_memory(mem, n, "mem.gguf", &g, &err) == KY_OK);
    CHECK(!strcmp(gguf_path(g), "mem.gguf"));
    /* patch t.bool's byte to 2 in place: still a valid file */
    int64_t kb = ky_gguf_find_key(g, "t.bool");
    const uint8_t *raw;
    uint64_t len;
    gguf_kv_raw(g, kb, &raw, &len);
    CHECK(len == 5 && raw[0] == KY_GGUF_BOOL && raw[4] == 1);
    mem[(size_t)(raw - mem) + 4] = 2;
    ky_gguf_close(g);
    REQUIRE(gguf_open_memory(mem, n, "mem.gguf", &g, &err) == KY_OK);
    gguf_writer *w2 = new_writer(3, 32);
    REQUIRE(w2);
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) CHECK(gguf_writer_copy_kv(w2, g, i) == KY_OK);
    CHECK(gguf_writer_copy_kv(w2, g, ky_gguf_n_kv(g)) == KY_ERR_INVALID_ARG);
    uint8_t *mem2 = NULL;
    size_t n2 = 0;
    CHECK(gguf_writer_write_memory(w2, &mem2, &n2) == KY_OK);
    CHECK(n2 == n && !memcmp(mem, mem2, n));
    free(mem2);
    gguf_writer_free(w2);
    ky_gguf_close(g);
    free(mem);
}

static void test_pad_empty(void) {
    gguf_writer *w = new_writer(3, 32);
    REQUIRE(w);
    CHECK(gguf_writer_set_u8(w, "k", 1) == KY_OK);
    uint64_t unpadded = gguf_writer_size(w);
    CHECK(unpadded == 24 + 8 + 1 + 4 + 1);
    gguf_writer_set_pad_empty(w, true);
    CHECK(gguf_writer_size(w) == 64);
    ky_gguf *g = write_and_open(w, "pad.gguf");
    REQUIRE(g);
    CHECK(gguf_header_end(g) == unpadded && ky_gguf_data_offset(g) == 64);
    ky_gguf_close(g);
    gguf_writer_free(w);
}

/* Accessors on a real model: known tensors and hyper-parameters of stories260K. */
static void test_real_model(void) {
    ky_gguf *g = NULL;
    ky_error err;
    ky_status st = ky_gguf_open(ky_test_shared("models/stories260K.gguf"), &g, &err);
    CHECKF(st == KY_OK, "%s", err.message);
    REQUIRE(g);
    CHECK(ky_gguf_n_tensors(g) == 48);
    int64_t v;
    CHECK(gguf_get_int(g, "llama.embedding_length", &v, &err) == KY_OK && v == 64);
    CHECK(gguf_get_int(g, "llama.block_count", &v, &err) == KY_OK && v == 5);
    CHECK(gguf_get_int(g, "llama.attention.head_count_kv", &v, &err) == KY_OK && v == 4);
    double eps;
    CHECK(gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &eps, &err) == KY_OK &&
          fabs(eps - 1e-5) < 1e-10);
    CHECK(gguf_get_float(g, "llama.rope.freq_base", &eps, &err) == KY_ERR_NOT_FOUND);
    uint32_t et;
    uint64_t n;
    int64_t kv;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &kv, &err) == KY_OK &&
          et == KY_GGUF_STRING && n == 512);
    const char *p;
    uint64_t len;
    gguf_arr_str(g, kv, 1, &p, &len);
    CHECK(len == 3 && !memcmp(p, "<s>", 3));
    int64_t ti = ky_gguf_find_tensor(g, "blk.4.ffn_down.weight");
    ky_gguf_tensor_info t;
    CHECK(ti >= 0 && ky_gguf_tensor(g, ti, &t) == KY_OK);
    CHECK(t.type == KY_TYPE_F32 && t.ne[0] == 172 && t.ne[1] == 64 && t.n_bytes == 172 * 64 * 4);
    CHECK(ky_gguf_data_offset(g) + t.offset + t.n_bytes <= ky_gguf_file_size(g));
    /* every name resolves to its own index */
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
        CHECK(ky_gguf_tensor(g, i, &t) == KY_OK && ky_gguf_find_tensor(g, t.name) == i);
    }
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++)
        CHECK(ky_gguf_find_key(g, ky_gguf_kv_key(g, i)) == i);
    /* the out-of-range results kaiyuan.h documents (these calls keep no message) */
    memset(&t, 0x5A, sizeof t);
    ky_gguf_tensor_info untouched = t;
    CHECK(ky_gguf_tensor(g, -1, &t) == KY_ERR_INVALID_ARG);
    CHECK(ky_gguf_tensor(g, ky_gguf_n_tensors(g), &t) == KY_ERR_INVALID_ARG);
    CHECK(ky_gguf_tensor(g, 0, NULL) == KY_ERR_INVALID_ARG);
    CHECK(!memcmp(&t, &untouched, sizeof t));
    CHECK(ky_gguf_kv_key(g, -1) == NULL && ky_gguf_kv_key(g, ky_gguf_n_kv(g)) == NULL);
    CHECK(ky_gguf_kv_value(g, -1).type == UINT32_MAX);
    CHECK(ky_gguf_kv_value(g, ky_gguf_n_kv(g)).type == UINT32_MAX);
    ky_gguf_close(g);
    ky_gguf_close(NULL);
}

static void test_open_errors(void) {
    ky_gguf *g = NULL;
    ky_error err;
    CHECK(ky_gguf_open("/nonexistent/file.gguf", &g, &err) == KY_ERR_IO && g == NULL);
    CHECK(contains(err.message, "/nonexistent/file.gguf"));
    CHECK(ky_gguf_open("/tmp", &g, &err) == KY_ERR_IO && contains(err.message, "/tmp"));
    CHECK(ky_gguf_open(NULL, &g, &err) == KY_ERR_INVALID_ARG);
    CHECK(gguf_open_memory(NULL, 0, "empty", &g, &err) == KY_ERR_FORMAT &&
          contains(err.message, "empty"));
}

/* Opening a FIFO fails at once (KY_ERR_IO naming it) instead of waiting for a writer. If the
 * open blocks, the alarm kills the program, which the runner counts as a failure. */
static void test_open_fifo(void) {
    char path[600];
    snprintf(path, sizeof path, "%s", ky_test_tmpfile("pipe.gguf"));
    unlink(path);
    REQUIRE(mkfifo(path, 0600) == 0);
    alarm(10);
    ky_gguf *g = NULL;
    ky_error err;
    CHECK(ky_gguf_open(path, &g, &err) == KY_ERR_IO && g == NULL);
    alarm(0);
    CHECKF(contains(err.message, path) && contains(err.message, "not a regular file (a FIFO)"),
           "%s", err.message);
    unlink(path);
}

/* Writing over the file whose mapping supplies the tensor data works (temp file + rename), and
 * non-regular targets are refused without being touched. */
static void test_write_in_place(void) {
    gguf_writer *w = typed_writer(3);
    REQUIRE(w);
    float data[256];
    for (int i = 0; i < 256; i++) data[i] = (float)i * 0.5f;
    int64_t ne[2] = {64, 4};
    CHECK(gguf_writer_add_tensor(w, "w", KY_TYPE_F32, 2, ne, data, NULL) == KY_OK);
    ky_gguf *g = write_and_open(w, "inplace.gguf");
    gguf_writer_free(w);
    REQUIRE(g);
    const char *path = ky_test_tmpfile("inplace.gguf");
    char saved[600];
    snprintf(saved, sizeof saved, "%s", path);
    gguf_writer *w2 = new_writer(3, 32);
    REQUIRE(w2);
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) CHECK(gguf_writer_copy_kv(w2, g, i) == KY_OK);
    CHECK(gguf_writer_set_str(w2, "t.str", "changed", 7) == KY_OK);
    CHECK(gguf_writer_copy_tensor(w2, g, 0, NULL) == KY_OK);
    CHECKF(gguf_writer_write_file(w2, saved) == KY_OK, "%s", gguf_writer_last_error(w2));
    ky_gguf_tensor_info t;
    CHECK(ky_gguf_tensor(g, 0, &t) == KY_OK && !memcmp(t.data, data, sizeof data)); /* old map */
    ky_gguf_close(g);
    ky_error err;
    REQUIRE(ky_gguf_open(saved, &g, &err) == KY_OK);
    const char *p;
    uint64_t len;
    CHECK(gguf_get_str(g, "t.str", &p, &len, NULL) == KY_OK && len == 7 &&
          !memcmp(p, "changed", 7));
    CHECK(ky_gguf_tensor(g, 0, &t) == KY_OK && !memcmp(t.data, data, sizeof data));
    ky_gguf_close(g);
    /* /dev/null and directories are refused */
    CHECK(gguf_writer_write_file(w2, "/dev/null") == KY_ERR_IO);
    CHECK(strstr(gguf_writer_last_error(w2), "not a regular file") != NULL);
    struct stat st;
    CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    CHECK(gguf_writer_write_file(w2, ky_test_tmpdir()) == KY_ERR_IO);
    gguf_writer_free(w2);
}

int main(void) {
    RUN(test_scalar_values);
    RUN(test_typed_getters);
    RUN(test_arrays);
    RUN(test_v2_files);
    RUN(test_v1_rejected);
    RUN(test_alignment);
    RUN(test_tensors_borrowed_and_filled);
    RUN(test_writer_errors);
    RUN(test_copy_kv_exact);
    RUN(test_pad_empty);
    RUN(test_real_model);
    RUN(test_open_errors);
    RUN(test_open_fifo);
    RUN(test_write_in_place);
    TEST_EXIT();
}
