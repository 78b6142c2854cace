/* test_malformed.c — the GGUF reader turns bad input into KY_ERR_* plus a message naming the file
 * and the offending key/tensor, never a crash, hang or out-of-bounds read.
 *
 * (a) Every truncation of the header region of stories260K.gguf and of a writer-made file that
 *     holds every value type, nested arrays and several tensor types, plus a sample of truncations
 *     in their data regions. Each truncated image is placed so that it ends exactly at a
 *     PROT_NONE guard page: a read past its end faults in the plain build too, not only under ASan.
 * (b) Hand-made malformed files from a small byte generator below, opened both from a file and
 *     from memory: absurd counts, lengths past EOF, bad dims, unknown types, bad offsets, overlap,
 *     block-size violations, duplicates, v1, bad magic, bad general.alignment, hostile names.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "test.h"

/* ----------------------------------------------------------------------------------------------
 * Guarded buffers: data placed to end right before an inaccessible page
 * -------------------------------------------------------------------------------------------- */

typedef struct guarded {
    uint8_t *base;
    size_t usable; /* bytes before the guard page */
    size_t page;
} guarded;

static bool guarded_init(guarded *g, size_t max_size) {
    g->page = (size_t)sysconf(_SC_PAGESIZE);
    g->usable = (max_size + g->page - 1) / g->page * g->page;
    void *p =
        mmap(NULL, g->usable + g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    g->base = p;
    return mprotect(g->base + g->usable, g->page, PROT_NONE) == 0;
}

static void guarded_free(guarded *g) { munmap(g->base, g->usable + g->page); }

/* Copies n bytes so that they end at the guard page; returns their start. */
static const uint8_t *guarded_place(guarded *g, const void *src, size_t n) {
    uint8_t *dst = g->base + g->usable - n;
    memcpy(dst, src, n);
    return dst;
}

/* Opens a prefix of len bytes from memory; returns status and fills err. */
static ky_status open_prefix(guarded *gb, const uint8_t *file, size_t len, const char *name,
                             ky_error *err) {
    const uint8_t *p = guarded_place(gb, file, len);
    ky_gguf *g = NULL;
    ky_status st = gguf_open_memory(len ? p : NULL, len, name, &g, err);
    if (st == KY_OK) {
        /* accepted: every accessor must stay in bounds */
        for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
            ky_gguf_tensor_info t;
            if (ky_gguf_tensor(g, i, &t) == KY_OK && t.n_bytes)
                (void)*(volatile const uint8_t *)((const uint8_t *)t.data + t.n_bytes - 1);
        }
        ky_gguf_close(g);
    }
    return st;
}

/* Truncates `file` (size n, valid) at every offset below `dense_end` and at `n_samples` offsets
 * spread over [dense_end, n) plus the edges of every tensor; every prefix shorter than `min_ok`
 * must fail with KY_ERR_FORMAT and a message naming `name`. Returns the number tried. */
static int truncation_sweep(const uint8_t *file, size_t n, size_t dense_end, int n_samples,
                            size_t min_ok, const char *name) {
    guarded gb;
    if (!guarded_init(&gb, n)) {
        CHECK(!"mmap failed");
        return 0;
    }
    /* offsets to try */
    size_t cap = dense_end + (size_t)n_samples + 4096, count = 0;
    size_t *offs = malloc(cap * sizeof *offs);
    for (size_t i = 0; i < dense_end && i < n; i++) offs[count++] = i;
    for (int s = 0; s < n_samples && n > dense_end; s++)
        offs[count++] = dense_end + (size_t)((double)(n - dense_end) * s / n_samples);
    ky_gguf *g = NULL;
    ky_error err;
    if (gguf_open_memory(file, n, name, &g, &err) == KY_OK) {
        for (int64_t i = 0; i < ky_gguf_n_tensors(g) && count + 3 < cap; i++) {
            ky_gguf_tensor_info t;
            ky_gguf_tensor(g, i, &t);
            size_t start = (size_t)(ky_gguf_data_offset(g) + t.offset), end = start + t.n_bytes;
            offs[count++] = start + 1;
            offs[count++] = end - 1;
            offs[count++] = end;
        }
        ky_gguf_close(g);
    }
    int failures = 0;
    for (size_t k = 0; k < count; k++) {
        size_t len = offs[k];
        if (len > n) continue;
        ky_status st = open_prefix(&gb, file, len, name, &err);
        if (len < min_ok) {
            bool good = st == KY_ERR_FORMAT && strstr(err.message, name) != NULL;
            if (!good && failures++ < 5)
                CHECKF(good, "%s truncated to %zu bytes: status %d: %s", name, len, (int)st,
                       st ? err.message : "(accepted)");
        } else {
            CHECKF(st == KY_OK, "%s truncated to %zu bytes (>= %zu) rejected: %s", name, len,
                   min_ok, err.message);
        }
    }
    CHECKF(failures == 0, "%d truncations misbehaved", failures);
    free(offs);
    guarded_free(&gb);
    return (int)count;
}

static void test_truncations_stories(void) {
    const char *path = ky_test_shared("models/stories260K.gguf");
    size_t n = 0;
    uint8_t *file = (uint8_t *)ky_test_read_file(path, &n);
    REQUIRE(file);
    ky_gguf *g = NULL;
    ky_error err;
    REQUIRE(ky_gguf_open(path, &g, &err) == KY_OK);
    size_t data_offset = (size_t)ky_gguf_data_offset(g);
    size_t end = data_offset; /* end of the last tensor's bytes */
    for (int64_t i = 0; i < ky_gguf_n_tensors(g); i++) {
        ky_gguf_tensor_info t;
        ky_gguf_tensor(g, i, &t);
        if (data_offset + t.offset + t.n_bytes > end) end = data_offset + t.offset + t.n_bytes;
    }
    ky_gguf_close(g);
    int tried = truncation_sweep(file, n, data_offset + 1, ky_test_sanitized() ? 300 : 2000, end,
                                 "stories260K.gguf");
    printf("# stories260K: %d truncations (header region %zu bytes, every offset)\n", tried,
           data_offset);
    /* the real-file path too, at a sample of offsets */
    const char *tmp = ky_test_tmpfile("trunc.gguf");
    for (size_t len = 0; len < n; len = len < 64 ? len + 1 : len * 2 + 17) {
        REQUIRE(ky_test_write_file(tmp, file, len) == 0);
        ky_status st = ky_gguf_open(tmp, &g, &err);
        CHECKF(st == KY_ERR_FORMAT && strstr(err.message, tmp), "file truncated to %zu: %s", len,
               err.message);
        if (st == KY_OK) ky_gguf_close(g);
    }
    free(file);
}

/* A writer-made file with every value type, strings, nested arrays, alignment 64 and tensors of
 * several types and ranks. */
static uint8_t *rich_file(size_t *n) {
    gguf_writer *w = NULL;
    ky_error err;
    if (gguf_writer_create(3, 64, &w, &err)) return NULL;
    gguf_writer_set_u8(w, "a.u8", 1);
    gguf_writer_set_i8(w, "a.i8", -1);
    gguf_writer_set_u16(w, "a.u16", 2);
    gguf_writer_set_i16(w, "a.i16", -2);
    gguf_writer_set_u32(w, "a.u32", 3);
    gguf_writer_set_i32(w, "a.i32", -3);
    gguf_writer_set_f32(w, "a.f32", 0.5f);
    gguf_writer_set_bool(w, "a.bool", true);
    gguf_writer_set_str(w, "a.str", "text", 4);
    gguf_writer_set_u64(w, "a.u64", 4);
    gguf_writer_set_i64(w, "a.i64", -4);
    gguf_writer_set_f64(w, "a.f64", 0.25);
    const char *s[] = {"x", "", "yz"};
    gguf_writer_set_arr_str(w, "a.strs", s, NULL, 3);
    const int16_t v[] = {1, -2, 3};
    gguf_writer_set_arr(w, "a.i16s", KY_GGUF_I16, v, 3);
    gguf_writer_arr_begin(w, "a.nested", KY_GGUF_ARRAY);
    gguf_writer_arr_begin(w, NULL, KY_GGUF_STRING);
    ky_gguf_value e = {.type = KY_GGUF_STRING, .v.str = {"ab", 2}};
    gguf_writer_arr_push(w, &e);
    gguf_writer_arr_end(w);
    gguf_writer_arr_begin(w, NULL, KY_GGUF_ARRAY);
    gguf_writer_arr_begin(w, NULL, KY_GGUF_F64);
    e = (ky_gguf_value){.type = KY_GGUF_F64, .v.f64 = 1.5};
    gguf_writer_arr_push(w, &e);
    gguf_writer_arr_end(w);
    gguf_writer_arr_end(w);
    gguf_writer_arr_end(w);
    static uint8_t data[4096];
    for (int i = 0; i < (int)sizeof data; i++) data[i] = (uint8_t)(i * 7);
    int64_t ne_a[1] = {40}, ne_b[2] = {64, 3}, ne_c[3] = {256, 2, 2}, ne_d[4] = {2, 2, 2, 2};
    gguf_writer_add_tensor(w, "t.f32", KY_TYPE_F32, 1, ne_a, data, NULL);
    gguf_writer_add_tensor(w, "t.q8_0", KY_TYPE_Q8_0, 2, ne_b, data, NULL);
    gguf_writer_add_tensor(w, "t.q4_K", KY_TYPE_Q4_K, 3, ne_c, data, NULL);
    gguf_writer_add_tensor(w, "t.f16", KY_TYPE_F16, 4, ne_d, data, NULL);
    uint8_t *out = NULL;
    if (gguf_writer_n_tensors(w) != 4 || gguf_writer_n_kv(w) != 16 ||
        gguf_writer_write_memory(w, &out, n) != KY_OK)
        out = NULL;
    gguf_writer_free(w);
    return out;
}

static void test_truncations_rich(void) {
    size_t n = 0;
    uint8_t *file = rich_file(&n);
    REQUIRE(file);
    /* The last tensor (t.f16, 32 bytes) is followed by padding to 64: prefixes that keep its
     * bytes are valid files. */
    size_t min_ok = n - 32;
    int tried = truncation_sweep(file, n, n, 0, min_ok, "rich.gguf");
    printf("# rich file: %d truncations (all %zu offsets)\n", tried, n);
    free(file);
}

/* ----------------------------------------------------------------------------------------------
 * Byte generator for hand-made files
 * -------------------------------------------------------------------------------------------- */

typedef struct gen {
    uint8_t b[1 << 17];
    size_t n;
} gen;

static void g_bytes(gen *g, const void *p, size_t n) {
    if (g->n + n > sizeof g->b) abort(); /* test bug */
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void g_le(gen *g, uint64_t v, int n) {
    for (int i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        g_bytes(g, &c, 1);
    }
}
static void g_u32(gen *g, uint32_t v) { g_le(g, v, 4); }
static void g_u64(gen *g, uint64_t v) { g_le(g, v, 8); }
static void g_strn(gen *g, const char *s, size_t n) {
    g_u64(g, n);
    g_bytes(g, s, n);
}
static void g_str(gen *g, const char *s) { g_strn(g, s, strlen(s)); }
static void g_header(gen *g, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    g->n = 0;
    g_bytes(g, "GGUF", 4);
    g_u32(g, version);
    g_u64(g, n_tensors);
    g_u64(g, n_kv);
}
static void g_kv_u32(gen *g, const char *key, uint32_t v) {
    g_str(g, key);
    g_u32(g, KY_GGUF_U32);
    g_u32(g, v);
}
/* tensor info with up to 4 dims */
static void g_tensor(gen *g, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                     uint64_t offset) {
    g_str(g, name);
    g_u32(g, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) g_u64(g, ne[d]);
    g_u32(g, type);
    g_u64(g, offset);
}
static void g_pad(gen *g, size_t align) {
    while (g->n % align) g_le(g, 0, 1);
}
static void g_zeros(gen *g, size_t n) {
    for (size_t i = 0; i < n; i++) g_le(g, 0, 1);
}

/* Opens the generated bytes from a file and from a guarded buffer; both must fail with `want`
 * and a message containing the file name and every string in `needles` (NULL-terminated). */
static void expect_fail(gen *g, const char *label, ky_status want, const char *const *needles) {
    char name[128];
    snprintf(name, sizeof name, "bad-%s.gguf", label);
    const char *path = ky_test_tmpfile(name);
    REQUIRE(ky_test_write_file(path, g->b, g->n) == 0);
    ky_gguf *gg = NULL;
    ky_error err;
    ky_status st = ky_gguf_open(path, &gg, &err);
    CHECKF(st == want, "%s: status %s, want %s: %s", label, ky_status_name(st),
           ky_status_name(want), st ? err.message : "(accepted)");
    if (st == KY_OK) {
        ky_gguf_close(gg);
        return;
    }
    printf("# %-18s %s\n", label, err.message + strlen(ky_test_tmpdir()) + 1);
    CHECKF(strstr(err.message, path) != NULL, "%s: message lacks the path: %s", label, err.message);
    for (const char *const *s = needles; *s; s++)
        CHECKF(strstr(err.message, *s) != NULL, "%s: message lacks \"%s\": %s", label, *s,
               err.message);
    for (const char *c = err.message; *c; c++)
        CHECKF((unsigned char)*c >= 0x20 && *c != 0x7F, "%s: control byte in message", label);
    /* same verdict from memory, with the image ending at a guard page */
    guarded gb;
    REQUIRE(guarded_init(&gb, g->n ? g->n : 1));
    ky_error err2;
    ky_status st2 = open_prefix(&gb, g->b, g->n, name, &err2);
    CHECKF(st2 == want && strstr(err2.message, name), "%s (memory): %s", label, err2.message);
    guarded_free(&gb);
}

#define FAILS(g, label, status, ...)                  \
    do {                                              \
        const char *needles_[] = {__VA_ARGS__, NULL}; \
        expect_fail(g, label, status, needles_);      \
    } while (0)

static gen G; /* 128 KiB: static */

/* One valid tensor 'w' f32 {8, 2} at offset 0 after the given pairs; used as a base. */
static void g_one_tensor(gen *g, const char *name, uint32_t n_dims, const uint64_t *ne,
                         uint32_t type, uint64_t offset, size_t data_bytes) {
    g_header(g, 3, 1, 0);
    g_tensor(g, name, n_dims, ne, type, offset);
    g_pad(g, 32);
    g_zeros(g, data_bytes);
}

static void test_sanity_of_generator(void) {
    /* the generator's baseline files are valid: failures below come from the one change */
    uint64_t ne[2] = {8, 2};
    g_one_tensor(&G, "w", 2, ne, KY_TYPE_F32, 0, 64);
    ky_gguf *g = NULL;
    ky_error err;
    CHECKF(gguf_open_memory(G.b, G.n, "base", &g, &err) == KY_OK, "%s", err.message);
    ky_gguf_close(g);
    g_header(&G, 2, 0, 2);
    g_kv_u32(&G, "a", 1);
    g_kv_u32(&G, "b", 2);
    CHECKF(gguf_open_memory(G.b, G.n, "base2", &g, &err) == KY_OK, "%s", err.message);
    ky_gguf_close(g);
}

static void test_bad_header(void) {
    g_header(&G, 3, 0, 0);
    G.b[3] = 'X';
    FAILS(&G, "magic", KY_ERR_FORMAT, "not a GGUF file");
    /* v1: u32 counts */
    G.n = 0;
    g_bytes(&G, "GGUF", 4);
    g_u32(&G, 1);
    g_u32(&G, 0);
    g_u32(&G, 1);
    g_kv_u32(&G, "a", 1);
    FAILS(&G, "v1", KY_ERR_UNSUPPORTED, "version 1");
    g_header(&G, 0x03000000, 0, 0);
    FAILS(&G, "big-endian", KY_ERR_UNSUPPORTED, "big-endian");
    g_header(&G, 7, 0, 0);
    FAILS(&G, "version7", KY_ERR_UNSUPPORTED, "version 7");
    g_header(&G, 3, 0, 1ull << 60);
    FAILS(&G, "kv-count", KY_ERR_FORMAT, "metadata count 1152921504606846976");
    g_header(&G, 3, 1ull << 60, 0);
    FAILS(&G, "tensor-count", KY_ERR_FORMAT, "tensor count 1152921504606846976");
    g_header(&G, 3, UINT64_MAX, UINT64_MAX);
    FAILS(&G, "counts-max", KY_ERR_FORMAT, "count");
    /* counts that fit separately but not together */
    g_header(&G, 3, 1, 2);
    g_zeros(&G, 40);
    FAILS(&G, "counts-together", KY_ERR_FORMAT, "tensor count 1");
}

static void test_bad_metadata(void) {
    /* key length past EOF */
    g_header(&G, 3, 0, 1);
    g_u64(&G, 1000);
    g_bytes(&G, "abc", 3);
    g_zeros(&G, 20); /* enough bytes for one pair to be plausible */
    FAILS(&G, "key-len", KY_ERR_FORMAT, "metadata pair 0", "string length 1000", "past the end");
    /* string value length past EOF */
    g_header(&G, 3, 0, 2);
    g_kv_u32(&G, "ok", 1);
    g_str(&G, "a.str");
    g_u32(&G, KY_GGUF_STRING);
    g_u64(&G, 1ull << 63);
    g_zeros(&G, 16);
    FAILS(&G, "str-len", KY_ERR_FORMAT, "'a.str'", "past the end");
    /* unknown value type */
    g_header(&G, 3, 0, 1);
    g_str(&G, "k.bad");
    g_u32(&G, 13);
    g_zeros(&G, 16);
    FAILS(&G, "value-type", KY_ERR_FORMAT, "'k.bad'", "unknown value type 13");
    /* array: absurd count of fixed elements, of strings, of arrays */
    g_header(&G, 3, 0, 1);
    g_str(&G, "a.arr");
    g_u32(&G, KY_GGUF_ARRAY);
    g_u32(&G, KY_GGUF_U32);
    g_u64(&G, 1ull << 61);
    g_zeros(&G, 16);
    FAILS(&G, "arr-count", KY_ERR_FORMAT, "'a.arr'", "2305843009213693952");
    g_header(&G, 3, 0, 1);
    g_str(&G, "a.sarr");
    g_u32(&G, KY_GGUF_ARRAY);
    g_u32(&G, KY_GGUF_STRING);
    g_u64(&G, UINT64_MAX);
    g_zeros(&G, 16);
    FAILS(&G, "sarr-count", KY_ERR_FORMAT, "'a.sarr'", "cannot fit");
    g_header(&G, 3, 0, 1);
    g_str(&G, "a.aarr");
    g_u32(&G, KY_GGUF_ARRAY);
    g_u32(&G, KY_GGUF_ARRAY);
    g_u64(&G, 1ull << 40);
    g_zeros(&G, 16);
    FAILS(&G, "aarr-count", KY_ERR_FORMAT, "'a.aarr'", "cannot fit");
    /* string element past EOF */
    g_header(&G, 3, 0, 1);
    g_str(&G, "a.sarr");
    g_u32(&G, KY_GGUF_ARRAY);
    g_u32(&G, KY_GGUF_STRING);
    g_u64(&G, 2);
    g_str(&G, "fine");
    g_u64(&G, 50);
    g_bytes(&G, "short", 5);
    FAILS(&G, "sarr-elem", KY_ERR_FORMAT, "'a.sarr'", "string length 50");
    /* unknown element type, also inside a nested array */
    g_header(&G, 3, 0, 1);
    g_str(&G, "k.arr");
    g_u32(&G, KY_GGUF_ARRAY);
    g_u32(&G, 99);
    g_u64(&G, 1);
    g_zeros(&G, 16);
    FAILS(&G, "elem-type", KY_ERR_FORMAT, "'k.arr'", "element type 99");
    g_header(&G, 3, 0, 1);
    g_str(&G, "k.nest");
    g_u32(&G, KY_GGUF_ARRAY);
    g_u32(&G, KY_GGUF_ARRAY);
    g_u64(&G, 1);
    g_u32(&G, 0xFFFFFFFF);
    g_u64(&G, 1);
    g_zeros(&G, 16);
    FAILS(&G, "nested-elem-type", KY_ERR_FORMAT, "'k.nest'", "element type 4294967295");
    /* nesting deeper than the limit: 9 levels */
    g_header(&G, 3, 0, 1);
    g_str(&G, "k.deep");
    g_u32(&G, KY_GGUF_ARRAY);
    for (int d = 0; d < 9; d++) {
        g_u32(&G, KY_GGUF_ARRAY);
        g_u64(&G, 1);
    }
    g_u32(&G, KY_GGUF_U8);
    g_u64(&G, 0);
    FAILS(&G, "deep", KY_ERR_FORMAT, "'k.deep'", "deeper");
    /* duplicate keys (not adjacent) */
    g_header(&G, 3, 0, 3);
    g_kv_u32(&G, "dup.key", 1);
    g_kv_u32(&G, "other", 2);
    g_kv_u32(&G, "dup.key", 3);
    FAILS(&G, "dup-key", KY_ERR_FORMAT, "duplicate key 'dup.key'", "pairs 0 and 2");
    /* empty key, key with a NUL, key too long */
    g_header(&G, 3, 0, 2);
    g_kv_u32(&G, "a", 1);
    g_kv_u32(&G, "", 1);
    FAILS(&G, "empty-key", KY_ERR_FORMAT, "metadata pair 1", "empty key");
    g_header(&G, 3, 0, 1);
    g_strn(&G, "ab\0cd", 5);
    g_u32(&G, KY_GGUF_U8);
    g_zeros(&G, 1);
    FAILS(&G, "nul-key", KY_ERR_FORMAT, "'ab'", "NUL");
    g_header(&G, 3, 0, 1);
    g_u64(&G, 70000); /* over the 65535-byte key limit, and present in the file */
    g_zeros(&G, 70000 + 16);
    memset(G.b + 32, 'k', 70000);
    FAILS(&G, "key-limit", KY_ERR_FORMAT, "metadata pair 0", "length 70000", "limit of 65535");
    /* truncated scalar */
    g_header(&G, 3, 0, 1);
    g_str(&G, "k.u64");
    g_u32(&G, KY_GGUF_U64);
    g_zeros(&G, 3);
    FAILS(&G, "scalar-eof", KY_ERR_FORMAT, "'k.u64'", "truncated");
}

static void test_bad_alignment(void) {
    uint64_t ne[1] = {8};
    /* wrong type */
    g_header(&G, 3, 1, 1);
    g_str(&G, "general.alignment");
    g_u32(&G, KY_GGUF_U64);
    g_u64(&G, 32);
    g_tensor(&G, "w", 1, ne, KY_TYPE_F32, 0);
    g_pad(&G, 32);
    g_zeros(&G, 32);
    FAILS(&G, "align-type", KY_ERR_FORMAT, "'general.alignment'", "type u64");
    g_header(&G, 3, 0, 1);
    g_str(&G, "general.alignment");
    g_u32(&G, KY_GGUF_STRING);
    g_str(&G, "32");
    FAILS(&G, "align-str", KY_ERR_FORMAT, "'general.alignment'", "type string");
    const uint32_t bad[] = {0, 3, 48, 1u << 21, 0x80000000u};
    for (int i = 0; i < 5; i++) {
        g_header(&G, 3, 0, 1);
        g_kv_u32(&G, "general.alignment", bad[i]);
        char label[32], val[32];
        snprintf(label, sizeof label, "align-%u", bad[i]);
        snprintf(val, sizeof val, "= %u ", bad[i]);
        FAILS(&G, label, KY_ERR_FORMAT, "'general.alignment'", val, "power of two");
    }
    /* a good non-default alignment makes a 32-aligned offset misaligned */
    g_header(&G, 3, 2, 1);
    g_kv_u32(&G, "general.alignment", 64);
    g_tensor(&G, "a", 1, ne, KY_TYPE_F32, 0);
    g_tensor(&G, "b", 1, ne, KY_TYPE_F32, 32);
    g_pad(&G, 64);
    g_zeros(&G, 128);
    FAILS(&G, "align-64", KY_ERR_FORMAT, "'b'", "alignment 64");
}

static void test_bad_tensors(void) {
    uint64_t ne2[2] = {8, 2};
    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    g_header(&G, 3, 1, 0);
    g_tensor(&G, "w5", 5, ne5, KY_TYPE_F32, 0);
    g_pad(&G, 32);
    g_zeros(&G, 32);
    FAILS(&G, "ndims5", KY_ERR_FORMAT, "'w5'", "n_dims 5");
    g_header(&G, 3, 1, 0);
    g_tensor(&G, "w0", 0, ne2, KY_TYPE_F32, 0);
    g_pad(&G, 32);
    g_zeros(&G, 32);
    FAILS(&G, "ndims0", KY_ERR_FORMAT, "'w0'", "n_dims 0");
    g_header(&G, 3, 1, 0);
    g_str(&G, "wbig");
    g_u32(&G, 0xFFFFFFFF);
    g_zeros(&G, 64);
    FAILS(&G, "ndims-huge", KY_ERR_FORMAT, "'wbig'", "n_dims 4294967295");
    uint64_t zero[2] = {8, 0};
    g_one_tensor(&G, "wz", 2, zero, KY_TYPE_F32, 0, 64);
    FAILS(&G, "zero-dim", KY_ERR_FORMAT, "'wz'", "dimension 1 is zero");
    uint64_t ovf[3] = {1ull << 32, 1ull << 31, 4};
    g_one_tensor(&G, "wo", 3, ovf, KY_TYPE_F32, 0, 64);
    FAILS(&G, "overflow-dims", KY_ERR_FORMAT, "'wo'", "overflows");
    uint64_t neg[1] = {1ull << 63};
    g_one_tensor(&G, "wn", 1, neg, KY_TYPE_F32, 0, 64);
    FAILS(&G, "dim-2^63", KY_ERR_FORMAT, "'wn'", "overflows");
    uint64_t bytes_ovf[2] = {1ull << 40, 1ull << 22}; /* 2^62 elements, 2^64 bytes of f32 */
    g_one_tensor(&G, "wb", 2, bytes_ovf, KY_TYPE_F32, 0, 64);
    FAILS(&G, "bytes-overflow", KY_ERR_FORMAT, "'wb'", "overflows");
    g_one_tensor(&G, "wt", 2, ne2, 99, 0, 64);
    FAILS(&G, "type-99", KY_ERR_FORMAT, "'wt'", "unknown type id 99");
    g_one_tensor(&G, "wt4", 2, ne2, 4, 0, 64); /* Q4_2, removed from ggml */
    FAILS(&G, "type-4", KY_ERR_FORMAT, "'wt4'", "unknown type id 4");
    g_one_tensor(&G, "wt", 2, ne2, 0x7FFFFFFF, 0, 64);
    FAILS(&G, "type-huge", KY_ERR_FORMAT, "'wt'", "unknown type id 2147483647");
    uint64_t q40[2] = {33, 1};
    g_one_tensor(&G, "blk.3.attn_q.weight", 2, q40, KY_TYPE_Q4_0, 0, 64);
    FAILS(&G, "block-q4_0", KY_ERR_FORMAT, "'blk.3.attn_q.weight'", "row size 33", "block size 32");
    uint64_t q4k[2] = {896, 2};
    g_one_tensor(&G, "wk", 2, q4k, KY_TYPE_Q4_K, 0, 1024);
    FAILS(&G, "block-q4_K", KY_ERR_FORMAT, "'wk'", "row size 896", "block size 256");
    /* offsets */
    g_one_tensor(&G, "wf", 2, ne2, KY_TYPE_F32, 1ull << 40, 64);
    FAILS(&G, "offset-far", KY_ERR_FORMAT, "'wf'", "past the end");
    g_one_tensor(&G, "wf", 2, ne2, KY_TYPE_F32, UINT64_MAX - 31, 64);
    FAILS(&G, "offset-wrap", KY_ERR_FORMAT, "'wf'", "past the end");
    g_one_tensor(&G, "wp", 2, ne2, KY_TYPE_F32, 32, 64); /* [32, 96) but 64 bytes of data */
    FAILS(&G, "offset-partial", KY_ERR_FORMAT, "'wp'", "past the end");
    g_one_tensor(&G, "wm", 2, ne2, KY_TYPE_F32, 16, 128);
    FAILS(&G, "misaligned", KY_ERR_FORMAT, "'wm'", "offset 16", "alignment 32");
    g_one_tensor(&G, "wm", 2, ne2, KY_TYPE_F32, 1, 128);
    FAILS(&G, "misaligned-1", KY_ERR_FORMAT, "'wm'", "offset 1 ");
    /* data section missing entirely */
    g_header(&G, 3, 1, 0);
    g_tensor(&G, "wd", 2, ne2, KY_TYPE_F32, 0);
    FAILS(&G, "no-data", KY_ERR_FORMAT, "'wd'");
    /* overlap: b starts inside a; also two tensors at the same offset */
    uint64_t ne_a[1] = {32}; /* 128 bytes */
    g_header(&G, 3, 3, 0);
    g_tensor(&G, "a", 1, ne_a, KY_TYPE_F32, 0);
    g_tensor(&G, "c", 1, ne_a, KY_TYPE_F32, 256);
    g_tensor(&G, "b", 1, ne_a, KY_TYPE_F32, 96);
    g_pad(&G, 32);
    g_zeros(&G, 512);
    FAILS(&G, "overlap", KY_ERR_FORMAT, "'a'", "overlaps", "'b'");
    g_header(&G, 3, 2, 0);
    g_tensor(&G, "x", 1, ne_a, KY_TYPE_F32, 128);
    g_tensor(&G, "y", 1, ne_a, KY_TYPE_F32, 128);
    g_pad(&G, 32);
    g_zeros(&G, 512);
    FAILS(&G, "same-offset", KY_ERR_FORMAT, "'x'", "overlaps", "'y'");
    /* duplicate names, empty name, NUL in a name, name too long */
    g_header(&G, 3, 2, 0);
    g_tensor(&G, "w", 2, ne2, KY_TYPE_F32, 0);
    g_tensor(&G, "w", 2, ne2, KY_TYPE_F32, 64);
    g_pad(&G, 32);
    g_zeros(&G, 128);
    FAILS(&G, "dup-tensor", KY_ERR_FORMAT, "duplicate tensor name 'w'", "tensors 0 and 1");
    g_header(&G, 3, 2, 0);
    g_tensor(&G, "w", 2, ne2, KY_TYPE_F32, 0);
    g_tensor(&G, "", 2, ne2, KY_TYPE_F32, 64);
    g_pad(&G, 32);
    g_zeros(&G, 128);
    FAILS(&G, "empty-name", KY_ERR_FORMAT, "tensor 1", "empty name");
    g_header(&G, 3, 1, 0);
    g_strn(&G, "bad\0name", 8);
    g_zeros(&G, 64);
    FAILS(&G, "nul-name", KY_ERR_FORMAT, "'bad'", "NUL");
    g_header(&G, 3, 1, 0);
    char longname[5000];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    g_str(&G, longname);
    g_zeros(&G, 64);
    FAILS(&G, "long-name", KY_ERR_FORMAT, "tensor 0", "limit of 4096");
    /* truncated tensor info */
    g_header(&G, 3, 1, 0);
    g_str(&G, "wt.with.a.longer.name");
    g_u32(&G, 2);
    g_u64(&G, 8);
    FAILS(&G, "info-eof", KY_ERR_FORMAT, "'wt.with.a.longer.name'", "truncated");
}

/* Names from the file cannot inject terminal control sequences into messages, and very long names
 * are shortened. */
static void test_hostile_names(void) {
    g_header(&G, 3, 0, 2);
    g_kv_u32(&G, "\x1b]0;pwned\x07key", 1);
    g_kv_u32(&G, "\x1b]0;pwned\x07key", 1);
    FAILS(&G, "escape-key", KY_ERR_FORMAT, "?]0;pwned?key");
    g_header(&G, 3, 0, 1);
    char key[3000];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    g_str(&G, key);
    g_u32(&G, 77);
    FAILS(&G, "long-key", KY_ERR_FORMAT, "kkkk");
    /* C1 control (U+009B, CSI) encoded in UTF-8 */
    uint64_t ne[1] = {8};
    g_header(&G, 3, 1, 0);
    g_tensor(&G,
             "t\xc2\x9b"
             "31m",
             1, ne, 99, 0);
    FAILS(&G, "c1-name", KY_ERR_FORMAT, "t??31m");
}

int main(void) {
    RUN(test_sanity_of_generator);
    RUN(test_truncations_stories);
    RUN(test_truncations_rich);
    RUN(test_bad_header);
    RUN(test_bad_metadata);
    RUN(test_bad_alignment);
    RUN(test_bad_tensors);
    RUN(test_hostile_names);
    TEST_EXIT();
}
