/* test_roundtrip.c — the GGUF writer reproduces every shared GGUF file byte for byte.
 *
 * For each .gguf in ../shared/models and under ../shared/tokenizer (recursively): open, copy every
 * pair (same order, same encoding) and every tensor (same order) into a fresh writer, write it to
 * a temp file and compare with the original; re-read the copy and compare directories.
 * A second round trip re-encodes every metadata value from its DECODED value through the typed
 * writer API (set_<type>, set_str, set_arr, set_arr_str, and arr_begin/arr_push/arr_end for
 * nested arrays — or for every array and gguf_writer_set for scalars), on the shared files and on
 * the generated fuzz seeds (tests/fuzz/corpus/gguf: nested arrays, every value type, v2).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/limits.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"

#define MAX_FILES 256
static char *g_files[MAX_FILES];
static int g_n_files;

/* Copies g into a writer the way a pass-through tool would. */
static gguf_writer *copy_all(const ky_gguf *g) {
    gguf_writer *w = NULL;
    ky_error err;
    if (gguf_writer_create(ky_gguf_version(g), 32, &w, &err) != KY_OK) return NULL;
    /* Without tensors, ggml's writer pads the header and gguf-py's does not: keep the layout. */
    if (ky_gguf_n_tensors(g) == 0 && ky_gguf_file_size(g) > gguf_header_end(g))
        gguf_writer_set_pad_empty(w, true);
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++)
        if (gguf_writer_copy_kv(w, g, i) != KY_OK) {
            fprintf(stderr, "copy_kv %" PRId64 ": %s\n", i, gguf_writer_last_error(w));
            gguf_writer_free(w);
            return NULL;
        }
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++)
        if (gguf_writer_copy_tensor(w, g, i, NULL) != KY_OK) {
            fprintf(stderr, "copy_tensor %" PRId64 ": %s\n", i, gguf_writer_last_error(w));
            gguf_writer_free(w);
            return NULL;
        }
    return w;
}

/* How re-encode() writes decoded values: typed bulk calls where they exist, or one generic call
 * per scalar and element-wise arr_* for every array. */
typedef enum { ENC_TYPED, ENC_ELEMENTWISE } enc_mode;

/* Sets scalar or string value v under key with the typed setter of its type. */
static ky_status set_typed(gguf_writer *w, const char *key, const ky_gguf_value *v) {
    switch (v->type) {
    case KY_GGUF_U8: return gguf_writer_set_u8(w, key, (uint8_t)v->v.u64);
    case KY_GGUF_I8: return gguf_writer_set_i8(w, key, (int8_t)v->v.i64);
    case KY_GGUF_U16: return gguf_writer_set_u16(w, key, (uint16_t)v->v.u64);
    case KY_GGUF_I16: return gguf_writer_set_i16(w, key, (int16_t)v->v.i64);
    case KY_GGUF_U32: return gguf_writer_set_u32(w, key, (uint32_t)v->v.u64);
    case KY_GGUF_I32: return gguf_writer_set_i32(w, key, (int32_t)v->v.i64);
    case KY_GGUF_F32: return gguf_writer_set_f32(w, key, (float)v->v.f64);
    case KY_GGUF_BOOL: return gguf_writer_set_bool(w, key, v->v.u64 != 0);
    case KY_GGUF_U64: return gguf_writer_set_u64(w, key, v->v.u64);
    case KY_GGUF_I64: return gguf_writer_set_i64(w, key, v->v.i64);
    case KY_GGUF_F64: return gguf_writer_set_f64(w, key, v->v.f64);
    case KY_GGUF_STRING: return gguf_writer_set_str(w, key, v->v.str.ptr, (size_t)v->v.str.len);
    default: return KY_ERR_INVALID_ARG;
    }
}

/* Stores decoded element e of a fixed-size type as native C value i of buf. */
static void put_native(void *buf, uint64_t i, const ky_gguf_value *e) {
    switch (e->type) {
    case KY_GGUF_U8: ((uint8_t *)buf)[i] = (uint8_t)e->v.u64; break;
    case KY_GGUF_I8: ((int8_t *)buf)[i] = (int8_t)e->v.i64; break;
    case KY_GGUF_U16: ((uint16_t *)buf)[i] = (uint16_t)e->v.u64; break;
    case KY_GGUF_I16: ((int16_t *)buf)[i] = (int16_t)e->v.i64; break;
    case KY_GGUF_U32: ((uint32_t *)buf)[i] = (uint32_t)e->v.u64; break;
    case KY_GGUF_I32: ((int32_t *)buf)[i] = (int32_t)e->v.i64; break;
    case KY_GGUF_F32: ((float *)buf)[i] = (float)e->v.f64; break;
    case KY_GGUF_BOOL: ((bool *)buf)[i] = e->v.u64 != 0; break;
    case KY_GGUF_U64: ((uint64_t *)buf)[i] = e->v.u64; break;
    case KY_GGUF_I64: ((int64_t *)buf)[i] = e->v.i64; break;
    case KY_GGUF_F64: ((double *)buf)[i] = e->v.f64; break;
    default: break;
    }
}

/* Size of one native C element of a fixed-size GGUF type (bool is a C bool). */
static size_t native_size(uint32_t type) {
    return type == KY_GGUF_BOOL ? sizeof(bool) : (size_t)gguf_type_size(type);
}

/* Pushes the n elements of the array at path[0..depth-1] of pair kv (depth 0: the pair's own
 * array) one by one, opening a nested writer array for each element that is an array. */
static ky_status push_elements(gguf_writer *w, const ky_gguf *g, int64_t kv, uint64_t *path,
                               size_t depth, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        path[depth] = i;
        ky_gguf_value e;
        ky_status st = ky_gguf_array_get_nested(g, kv, path, depth + 1, &e);
        if (st) return st;
        if (e.type == KY_GGUF_ARRAY) {
            if ((st = gguf_writer_arr_begin(w, NULL, e.v.arr.elem_type)) ||
                (st = push_elements(w, g, kv, path, depth + 1, e.v.arr.n)) ||
                (st = gguf_writer_arr_end(w)))
                return st;
        } else if ((st = gguf_writer_arr_push(w, &e))) {
            return st;
        }
    }
    return KY_OK;
}

/* Sets the array pair kv of g under key from its decoded elements. */
static ky_status set_array(gguf_writer *w, const ky_gguf *g, int64_t kv, const char *key,
                           const ky_gguf_value *v, enc_mode mode) {
    uint32_t et = v->v.arr.elem_type;
    uint64_t n = v->v.arr.n;
    ky_status st = KY_OK;
    if (mode == ENC_TYPED && gguf_type_size(et)) {
        void *buf = malloc((size_t)n * native_size(et) + 1);
        if (!buf) return KY_ERR_NOMEM;
        for (uint64_t i = 0; i < n && !st; i++) {
            ky_gguf_value e;
            if (!(st = ky_gguf_array_get(g, kv, i, &e))) put_native(buf, i, &e);
        }
        if (!st) st = gguf_writer_set_arr(w, key, et, buf, n);
        free(buf);
        return st;
    }
    if (mode == ENC_TYPED && et == KY_GGUF_STRING) {
        const char **strs = malloc((size_t)n * sizeof *strs + 1);
        size_t *lens = malloc((size_t)n * sizeof *lens + 1);
        if (!strs || !lens) st = KY_ERR_NOMEM;
        for (uint64_t i = 0; i < n && !st; i++) {
            ky_gguf_value e;
            if (!(st = ky_gguf_array_get(g, kv, i, &e))) {
                strs[i] = e.v.str.ptr;
                lens[i] = (size_t)e.v.str.len;
            }
        }
        if (!st) st = gguf_writer_set_arr_str(w, key, strs, lens, n);
        free(strs);
        free(lens);
        return st;
    }
    uint64_t path[KY_GGUF_MAX_ARRAY_DEPTH + 1];
    if ((st = gguf_writer_arr_begin(w, key, et)) || (st = push_elements(w, g, kv, path, 0, n)))
        return st;
    return gguf_writer_arr_end(w);
}

/* A writer holding g's pairs re-encoded from their decoded values and g's tensors (copied). */
static gguf_writer *re_encode(const ky_gguf *g, enc_mode mode, const char *path) {
    gguf_writer *w = NULL;
    ky_error err;
    if (gguf_writer_create(ky_gguf_version(g), 32, &w, &err) != KY_OK) return NULL;
    if (ky_gguf_n_tensors(g) == 0 && ky_gguf_file_size(g) > gguf_header_end(g))
        gguf_writer_set_pad_empty(w, true);
    for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
        const char *key = ky_gguf_kv_key(g, i);
        ky_gguf_value v = ky_gguf_kv_value(g, i);
        ky_status st = v.type == KY_GGUF_ARRAY ? set_array(w, g, i, key, &v, mode)
                       : mode == ENC_TYPED     ? set_typed(w, key, &v)
                                               : gguf_writer_set(w, key, &v);
        if (st != KY_OK) {
            fprintf(stderr, "%s: key %s: %s: %s\n", path, key, ky_status_name(st),
                    gguf_writer_last_error(w));
            gguf_writer_free(w);
            return NULL;
        }
    }
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++)
        if (gguf_writer_copy_tensor(w, g, i, NULL) != KY_OK) {
            gguf_writer_free(w);
            return NULL;
        }
    return w;
}

/* Compares the directories (pairs and tensors) of two open files. */
static void check_same_directory(const ky_gguf *a, const ky_gguf *b, const char *path) {
    CHECKF(ky_gguf_n_kv(a) == ky_gguf_n_kv(b), "%s", path);
    CHECKF(ky_gguf_n_tensors(a) == ky_gguf_n_tensors(b), "%s", path);
    CHECKF(ky_gguf_alignment(a) == ky_gguf_alignment(b), "%s", path);
    CHECKF(ky_gguf_data_offset(a) == ky_gguf_data_offset(b), "%s", path);
    for (int64_t i = 0; i < ky_gguf_n_kv(a) && i < ky_gguf_n_kv(b); i++) {
        CHECKF(!strcmp(ky_gguf_kv_key(a, i), ky_gguf_kv_key(b, i)), "%s pair %" PRId64, path, i);
        const uint8_t *ra, *rb;
        uint64_t la, lb;
        gguf_kv_raw(a, i, &ra, &la);
        gguf_kv_raw(b, i, &rb, &lb);
        CHECKF(la == lb && !memcmp(ra, rb, (size_t)la), "%s pair %" PRId64, path, i);
    }
    for (int64_t i = 0; i < ky_gguf_n_tensors(a) && i < ky_gguf_n_tensors(b); i++) {
        ky_gguf_tensor_info ta, tb;
        REQUIRE(ky_gguf_tensor(a, i, &ta) == KY_OK && ky_gguf_tensor(b, i, &tb) == KY_OK);
        CHECKF(ta.name_len == tb.name_len && !memcmp(ta.name, tb.name, ta.name_len) &&
                   ta.type == tb.type && ta.n_dims == tb.n_dims &&
                   !memcmp(ta.ne, tb.ne, sizeof ta.ne) && ta.offset == tb.offset &&
                   ta.n_bytes == tb.n_bytes && !memcmp(ta.data, tb.data, (size_t)ta.n_bytes),
               "%s tensor %s", path, ta.name);
    }
}

static void test_roundtrip_every_shared_file(void) {
    REQUIRE(g_n_files >= 30); /* 28 models + 5 vocab files today */
    int n_identical = 0;
    for (int k = 0; k < g_n_files; k++) {
        const char *path = g_files[k];
        ky_gguf *g = NULL;
        ky_error err;
        ky_status st = ky_gguf_open(path, &g, &err);
        CHECKF(st == KY_OK, "%s: %s", path, err.message);
        if (st) continue;
        gguf_writer *w = copy_all(g);
        CHECKF(w != NULL, "%s: copy failed", path);
        if (!w) {
            ky_gguf_close(g);
            continue;
        }
        CHECKF(gguf_writer_size(w) == ky_gguf_file_size(g), "%s: size %" PRIu64 " vs %" PRIu64,
               path, gguf_writer_size(w), ky_gguf_file_size(g));
        const char *tmp = ky_test_tmpfile("roundtrip.gguf");
        st = gguf_writer_write_file(w, tmp);
        CHECKF(st == KY_OK, "%s: %s", path, gguf_writer_last_error(w));
        size_t n_orig = 0, n_copy = 0;
        char *orig = ky_test_read_file(path, &n_orig);
        char *copy = st == KY_OK ? ky_test_read_file(tmp, &n_copy) : NULL;
        REQUIRE(orig != NULL);
        if (copy) {
            size_t first = 0;
            while (first < n_orig && first < n_copy && orig[first] == copy[first]) first++;
            CHECKF(n_orig == n_copy && first == n_orig,
                   "%s: copy differs at byte %zu (sizes %zu and %zu)", path, first, n_orig, n_copy);
            if (n_orig == n_copy && first == n_orig) n_identical++;
            ky_gguf *g2 = NULL;
            st = ky_gguf_open(tmp, &g2, &err);
            CHECKF(st == KY_OK, "%s: reopen: %s", path, err.message);
            if (!st) {
                check_same_directory(g, g2, path);
                ky_gguf_close(g2);
            }
        }
        free(orig);
        free(copy);
        gguf_writer_free(w);
        ky_gguf_close(g);
    }
    printf("# %d of %d files reproduced byte for byte\n", n_identical, g_n_files);
    CHECK(n_identical == g_n_files);
}

/* Re-encodes path in both modes and checks the output is the original file byte for byte. */
static int check_re_encoded(const char *path) {
    ky_gguf *g = NULL;
    ky_error err;
    ky_status st = ky_gguf_open(path, &g, &err);
    CHECKF(st == KY_OK, "%s: %s", path, err.message);
    if (st) return 0;
    size_t n_orig = 0;
    char *orig = ky_test_read_file(path, &n_orig);
    CHECKF(orig != NULL, "%s: cannot read", path);
    int n_same = 0;
    for (int mode = ENC_TYPED; orig && mode <= ENC_ELEMENTWISE; mode++) {
        const char *mode_name = mode == ENC_TYPED ? "typed" : "element-wise";
        gguf_writer *w = re_encode(g, (enc_mode)mode, path);
        CHECKF(w != NULL, "%s: %s re-encoding failed", path, mode_name);
        if (!w) continue;
        uint8_t *mem = NULL;
        size_t n = 0;
        st = gguf_writer_write_memory(w, &mem, &n);
        CHECKF(st == KY_OK, "%s: %s", path, gguf_writer_last_error(w));
        if (st == KY_OK) {
            size_t first = 0;
            while (first < n && first < n_orig && mem[first] == (uint8_t)orig[first]) first++;
            CHECKF(n == n_orig && first == n, "%s: %s re-encoding differs at byte %zu (%zu vs %zu)",
                   path, mode_name, first, n, n_orig);
            n_same += n == n_orig && first == n;
        }
        free(mem);
        gguf_writer_free(w);
    }
    free(orig);
    ky_gguf_close(g);
    return n_same;
}

static void test_re_encode_every_shared_file(void) {
    REQUIRE(g_n_files >= 30);
    int n_same = 0;
    for (int k = 0; k < g_n_files; k++) n_same += check_re_encoded(g_files[k]);
    printf("# %d of %d re-encodings reproduced byte for byte\n", n_same, 2 * g_n_files);
    CHECK(n_same == 2 * g_n_files);
}

/* The generated seeds hold what the shared files lack: nested arrays (8 levels, strings and
 * arrays inside arrays), every scalar type in arrays, empty arrays, v2, other alignments. */
static void test_re_encode_seeds(void) {
    char *seeds[64];
    int n_seeds = 0;
    ky_test_collect_files("tests/fuzz/corpus/gguf", ".gguf", 0, seeds, &n_seeds, 64);
    REQUIRE(n_seeds >= 8);
    int n_same = 0, n_nested = 0;
    for (int k = 0; k < n_seeds; k++) {
        n_same += check_re_encoded(seeds[k]);
        ky_gguf *g = NULL;
        ky_error err;
        if (ky_gguf_open(seeds[k], &g, &err) != KY_OK) continue;
        for (int64_t i = 0; i < ky_gguf_n_kv(g); i++) {
            ky_gguf_value v = ky_gguf_kv_value(g, i);
            n_nested += v.type == KY_GGUF_ARRAY && v.v.arr.elem_type == KY_GGUF_ARRAY;
        }
        ky_gguf_close(g);
    }
    CHECKF(n_nested >= 3, "only %d nested arrays in the seeds", n_nested);
    CHECK(n_same == 2 * n_seeds);
    ky_test_free_files(seeds, n_seeds);
}

/* The in-memory path gives the same bytes as the file path. */
static void test_memory_equals_file(void) {
    const char *path = ky_test_shared("models/stories260K.gguf");
    ky_gguf *g = NULL;
    ky_error err;
    REQUIRE(ky_gguf_open(path, &g, &err) == KY_OK);
    gguf_writer *w = copy_all(g);
    REQUIRE(w != NULL);
    uint8_t *mem = NULL;
    size_t n = 0;
    CHECK(gguf_writer_write_memory(w, &mem, &n) == KY_OK);
    size_t n_orig = 0;
    char *orig = ky_test_read_file(path, &n_orig);
    CHECK(orig && mem && n == n_orig && !memcmp(orig, mem, n));
    free(orig);
    free(mem);
    gguf_writer_free(w);
    ky_gguf_close(g);
}

int main(void) {
    ky_test_collect_files(ky_test_shared("models"), ".gguf", 0, g_files, &g_n_files, MAX_FILES);
    ky_test_collect_files(ky_test_shared("tokenizer"), ".gguf", 1, g_files, &g_n_files, MAX_FILES);
    RUN(test_roundtrip_every_shared_file);
    RUN(test_re_encode_every_shared_file);
    RUN(test_re_encode_seeds);
    RUN(test_memory_equals_file);
    ky_test_free_files(g_files, g_n_files);
    TEST_EXIT();
}
