/* test_roundtrip.c — the GGUF writer reproduces every shared GGUF file byte for byte.
 *
 * For each .gguf in ../shared/models and under ../shared/tokenizer (recursively): open, copy every
 * pair (same order, same encoding) and every tensor (same order) into a fresh writer, write it to
 * a temp file and compare with the original; re-read the copy and compare directories.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    RUN(test_memory_equals_file);
    ky_test_free_files(g_files, g_n_files);
    TEST_EXIT();
}
