/* gguf_write.c — GGUF writer (layer: gguf; uses tensor/ type traits).
 *
 * Each metadata pair is kept encoded (key + u32 type + payload) so that copies from a file stay
 * bit-exact and replacing a value keeps its position. Tensors are laid out in insertion order at
 * aligned offsets. Output goes through one routine that emits the header and then, per tensor,
 * either copies borrowed bytes or lets the fill callback write in place (into the output buffer,
 * or into a MAP_SHARED window of the output file).
 */
#define _GNU_SOURCE
#include "gguf/gguf_write.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/limits.h"
#include "gguf/gguf.h"
#include "tensor/types.h"

/* Growable byte buffer; allocation failure is sticky (checked once by the caller). */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} bytes;

static void b_put(bytes *b, const void *src, size_t n) {
    if (b->failed) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}

/* Writes v as n little-endian bytes at dst. */
static void store_le(uint8_t *dst, uint64_t v, int n) {
    for (int i = 0; i < n; i++) dst[i] = (uint8_t)(v >> (8 * i));
}

static void b_le(bytes *b, uint64_t v, int n) {
    uint8_t tmp[8];
    store_le(tmp, v, n);
    b_put(b, tmp, (size_t)n);
}

static void b_str(bytes *b, const void *s, uint64_t len) {
    b_le(b, len, 8);
    b_put(b, s, (size_t)len);
}

typedef struct wkv {
    char *key; /* NUL-terminated copy */
    size_t key_len;
    uint8_t *val; /* u32 type + payload, exactly as written */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name;
    size_t name_len;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t n_bytes;
    const void *data; /* borrowed, or NULL when fill is set */
    gguf_fill_fn fill;
    void *fill_ctx;
    uint64_t offset; /* in the data section; set by layout() */
} wtensor;

typedef struct open_array {
    size_t count_pos; /* position of the u64 count in arr_buf */
    uint32_t elem_type;
    uint64_t n;
} open_array;

struct gguf_writer {
    uint32_t version;
    uint32_t alignment;
    bool pad_empty;
    wkv *kvs;
    int64_t n_kv, cap_kv;
    wtensor *tensors;
    int64_t n_tensors, cap_tensors;
    /* array under construction (arr_depth > 0) */
    int arr_depth;
    open_array arr[KY_GGUF_MAX_ARRAY_DEPTH];
    char *arr_key;
    bytes arr_buf;
    char error[KY_ERROR_MAX];
};

static ky_status fail(gguf_writer *w, ky_status st, const char *fmt, ...) KY_PRINTF(3, 4);
static ky_status fail(gguf_writer *w, ky_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
    return st;
}

static ky_status ok(gguf_writer *w) {
    w->error[0] = '\0';
    return KY_OK;
}

static bool valid_alignment(uint64_t a) {
    return a != 0 && (a & (a - 1)) == 0 && a <= KY_GGUF_MAX_ALIGNMENT;
}

ky_status gguf_writer_create(uint32_t version, uint32_t alignment, gguf_writer **out,
                             ky_error *err) {
    if (!out) return ky_errf(err, KY_ERR_INVALID_ARG, "gguf_writer_create: NULL argument");
    if (version == 0) version = 3;
    if (alignment == 0) alignment = KY_GGUF_DEFAULT_ALIGNMENT;
    if (version != 2 && version != 3)
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "gguf_writer_create: version %" PRIu32 " (only 2 and 3 are written)",
                       version);
    if (!valid_alignment(alignment))
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "gguf_writer_create: alignment %" PRIu32 " is not a power of two in [1, %u]",
                       alignment, KY_GGUF_MAX_ALIGNMENT);
    gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return ky_errf(err, KY_ERR_NOMEM, "gguf_writer_create: out of memory");
    w->version = version;
    w->alignment = KY_GGUF_DEFAULT_ALIGNMENT;
    if (alignment != KY_GGUF_DEFAULT_ALIGNMENT &&
        gguf_writer_set_u32(w, "general.alignment", alignment) != KY_OK) {
        gguf_writer_free(w);
        return ky_errf(err, KY_ERR_NOMEM, "gguf_writer_create: out of memory");
    }
    *out = w;
    return KY_OK;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].val);
    }
    for (int64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w->arr_key);
    free(w->arr_buf.p);
    free(w);
}

const char *gguf_writer_last_error(const gguf_writer *w) { return w->error; }
void gguf_writer_set_pad_empty(gguf_writer *w, bool pad) { w->pad_empty = pad; }
uint32_t gguf_writer_alignment(const gguf_writer *w) { return w->alignment; }
int64_t gguf_writer_n_kv(const gguf_writer *w) { return w->n_kv; }
int64_t gguf_writer_n_tensors(const gguf_writer *w) { return w->n_tensors; }

/* ----------------------------------------------------------------------------------------------
 * Metadata
 * -------------------------------------------------------------------------------------------- */

static int64_t find_kv(const gguf_writer *w, const char *key) {
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kvs[i].key, key) == 0) return i;
    return -1;
}

static ky_status check_key(gguf_writer *w, const char *key) {
    if (!key) return fail(w, KY_ERR_INVALID_ARG, "metadata key is NULL");
    size_t n = strlen(key);
    if (n == 0) return fail(w, KY_ERR_INVALID_ARG, "metadata key is empty");
    if (n > KY_GGUF_MAX_KEY_LEN)
        return fail(w, KY_ERR_INVALID_ARG, "key '%.80s...': longer than %d bytes", key,
                    KY_GGUF_MAX_KEY_LEN);
    return KY_OK;
}

static ky_status check_idle(gguf_writer *w) {
    if (w->arr_depth)
        return fail(w, KY_ERR_INVALID_ARG, "key '%s': array still open (call gguf_writer_arr_end)",
                    w->arr_key);
    return KY_OK;
}

/* The alignment a general.alignment value (type + payload) requests, or 0 when invalid. */
static uint64_t alignment_of(const uint8_t *val, size_t len) {
    if (len != 8 || val[0] != KY_GGUF_U32 || val[1] || val[2] || val[3]) return 0;
    uint64_t a =
        (uint64_t)val[4] | (uint64_t)val[5] << 8 | (uint64_t)val[6] << 16 | (uint64_t)val[7] << 24;
    return valid_alignment(a) ? a : 0;
}

/* Stores an encoded value under key (replacing in place or appending); takes ownership of val
 * (freed on failure). */
static ky_status put_kv(gguf_writer *w, const char *key, uint8_t *val, size_t val_len) {
    bool is_align = strcmp(key, "general.alignment") == 0;
    uint64_t align = 0;
    if (is_align && (align = alignment_of(val, val_len)) == 0) {
        free(val);
        return fail(w, KY_ERR_INVALID_ARG,
                    "key 'general.alignment': must be a u32 power of two in [1, %u]",
                    KY_GGUF_MAX_ALIGNMENT);
    }
    int64_t i = find_kv(w, key);
    if (i >= 0) {
        free(w->kvs[i].val);
        w->kvs[i].val = val;
        w->kvs[i].val_len = val_len;
    } else {
        if (w->n_kv == w->cap_kv) {
            int64_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
            wkv *p = realloc(w->kvs, (size_t)cap * sizeof *p);
            if (!p) {
                free(val);
                return fail(w, KY_ERR_NOMEM, "key '%s': out of memory", key);
            }
            w->kvs = p;
            w->cap_kv = cap;
        }
        size_t klen = strlen(key);
        char *k = malloc(klen + 1);
        if (!k) {
            free(val);
            return fail(w, KY_ERR_NOMEM, "key '%s': out of memory", key);
        }
        memcpy(k, key, klen + 1);
        w->kvs[w->n_kv++] = (wkv){k, klen, val, val_len};
    }
    if (is_align) w->alignment = (uint32_t)align;
    return ok(w);
}

/* Appends the payload of a scalar or string value of type v->type to b after range checks. */
static ky_status encode_scalar(gguf_writer *w, const char *what, const ky_gguf_value *v, bytes *b) {
    uint64_t u = v->v.u64;
    int64_t s = v->v.i64;
    switch (v->type) {
    case KY_GGUF_U8:
    case KY_GGUF_U16:
    case KY_GGUF_U32:
    case KY_GGUF_U64: {
        int n = (int)gguf_type_size(v->type);
        if (n < 8 && u >> (8 * n))
            return fail(w, KY_ERR_INVALID_ARG, "%s: value %" PRIu64 " does not fit in %s", what, u,
                        ky_gguf_type_name(v->type));
        b_le(b, u, n);
        return KY_OK;
    }
    case KY_GGUF_BOOL:
        if (u > 1) return fail(w, KY_ERR_INVALID_ARG, "%s: bool value %" PRIu64, what, u);
        b_le(b, u, 1);
        return KY_OK;
    case KY_GGUF_I8:
    case KY_GGUF_I16:
    case KY_GGUF_I32:
    case KY_GGUF_I64: {
        int n = (int)gguf_type_size(v->type);
        if (n < 8) {
            int64_t lim = (int64_t)1 << (8 * n - 1);
            if (s < -lim || s >= lim)
                return fail(w, KY_ERR_INVALID_ARG, "%s: value %" PRId64 " does not fit in %s", what,
                            s, ky_gguf_type_name(v->type));
        }
        b_le(b, (uint64_t)s, n);
        return KY_OK;
    }
    case KY_GGUF_F32: {
        float f = (float)v->v.f64;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        b_le(b, bits, 4);
        return KY_OK;
    }
    case KY_GGUF_F64: {
        uint64_t bits;
        memcpy(&bits, &v->v.f64, 8);
        b_le(b, bits, 8);
        return KY_OK;
    }
    case KY_GGUF_STRING:
        if (!v->v.str.ptr && v->v.str.len)
            return fail(w, KY_ERR_INVALID_ARG, "%s: NULL string", what);
        if (v->v.str.len > SIZE_MAX / 2)
            return fail(w, KY_ERR_INVALID_ARG, "%s: string too long", what);
        b_str(b, v->v.str.ptr, v->v.str.len);
        return KY_OK;
    default:
        return fail(w, KY_ERR_INVALID_ARG, "%s: value type %" PRIu32 " is not a scalar or string",
                    what, v->type);
    }
}

/* Stores a finished encoded value held in b (freed on failure). */
static ky_status put_bytes(gguf_writer *w, const char *key, bytes *b) {
    if (b->failed) {
        free(b->p);
        return fail(w, KY_ERR_NOMEM, "key '%s': out of memory", key);
    }
    return put_kv(w, key, b->p, b->len);
}

ky_status gguf_writer_set(gguf_writer *w, const char *key, const ky_gguf_value *v) {
    ky_status st;
    if ((st = check_idle(w)) || (st = check_key(w, key))) return st;
    if (!v) return fail(w, KY_ERR_INVALID_ARG, "key '%s': NULL value", key);
    char what[128];
    snprintf(what, sizeof what, "key '%s'", key);
    bytes b = {0};
    b_le(&b, v->type, 4);
    if ((st = encode_scalar(w, what, v, &b))) {
        free(b.p);
        return st;
    }
    return put_bytes(w, key, &b);
}

#define SETTER(name, T, gtype, field, cast)                                  \
    ky_status gguf_writer_set_##name(gguf_writer *w, const char *key, T x) { \
        ky_gguf_value v;                                                     \
        memset(&v, 0, sizeof v);                                             \
        v.type = gtype;                                                      \
        v.v.field = (cast)x;                                                 \
        return gguf_writer_set(w, key, &v);                                  \
    }
SETTER(u8, uint8_t, KY_GGUF_U8, u64, uint64_t)
SETTER(i8, int8_t, KY_GGUF_I8, i64, int64_t)
SETTER(u16, uint16_t, KY_GGUF_U16, u64, uint64_t)
SETTER(i16, int16_t, KY_GGUF_I16, i64, int64_t)
SETTER(u32, uint32_t, KY_GGUF_U32, u64, uint64_t)
SETTER(i32, int32_t, KY_GGUF_I32, i64, int64_t)
SETTER(f32, float, KY_GGUF_F32, f64, double)
SETTER(bool, bool, KY_GGUF_BOOL, u64, uint64_t)
SETTER(u64, uint64_t, KY_GGUF_U64, u64, uint64_t)
SETTER(i64, int64_t, KY_GGUF_I64, i64, int64_t)
SETTER(f64, double, KY_GGUF_F64, f64, double)
#undef SETTER

ky_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, size_t len) {
    ky_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = KY_GGUF_STRING;
    v.v.str.ptr = s;
    v.v.str.len = len;
    return gguf_writer_set(w, key, &v);
}

/* Encodes element i of a native C array of a fixed-size type. */
static void encode_native(bytes *b, uint32_t type, const void *data, uint64_t i) {
    switch (type) {
    case KY_GGUF_U8: b_le(b, ((const uint8_t *)data)[i], 1); break;
    case KY_GGUF_I8: b_le(b, (uint8_t)((const int8_t *)data)[i], 1); break;
    case KY_GGUF_BOOL: b_le(b, ((const bool *)data)[i] ? 1 : 0, 1); break;
    case KY_GGUF_U16: b_le(b, ((const uint16_t *)data)[i], 2); break;
    case KY_GGUF_I16: b_le(b, (uint16_t)((const int16_t *)data)[i], 2); break;
    case KY_GGUF_U32: b_le(b, ((const uint32_t *)data)[i], 4); break;
    case KY_GGUF_I32: b_le(b, (uint32_t)((const int32_t *)data)[i], 4); break;
    case KY_GGUF_F32: {
        uint32_t bits;
        memcpy(&bits, (const float *)data + i, 4);
        b_le(b, bits, 4);
        break;
    }
    case KY_GGUF_U64: b_le(b, ((const uint64_t *)data)[i], 8); break;
    case KY_GGUF_I64: b_le(b, (uint64_t)((const int64_t *)data)[i], 8); break;
    case KY_GGUF_F64: {
        uint64_t bits;
        memcpy(&bits, (const double *)data + i, 8);
        b_le(b, bits, 8);
        break;
    }
    default: break;
    }
}

ky_status gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t elem_type, const void *data,
                              uint64_t n) {
    ky_status st;
    if ((st = check_idle(w)) || (st = check_key(w, key))) return st;
    uint64_t esz = gguf_type_size(elem_type), total;
    if (!esz)
        return fail(w, KY_ERR_INVALID_ARG,
                    "key '%s': element type %s is not fixed-size (use set_arr_str or arr_begin)",
                    key, ky_gguf_type_name(elem_type));
    if (!data && n) return fail(w, KY_ERR_INVALID_ARG, "key '%s': NULL array data", key);
    if (ky_mul_overflow_u64(n, esz, &total) || total > SIZE_MAX / 2)
        return fail(w, KY_ERR_INVALID_ARG, "key '%s': array of %" PRIu64 " elements too large", key,
                    n);
    bytes b = {0};
    b_le(&b, KY_GGUF_ARRAY, 4);
    b_le(&b, elem_type, 4);
    b_le(&b, n, 8);
    for (uint64_t i = 0; i < n && !b.failed; i++) encode_native(&b, elem_type, data, i);
    return put_bytes(w, key, &b);
}

ky_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                  const size_t *lens, uint64_t n) {
    ky_status st;
    if ((st = check_idle(w)) || (st = check_key(w, key))) return st;
    if (!strs && n) return fail(w, KY_ERR_INVALID_ARG, "key '%s': NULL string array", key);
    bytes b = {0};
    b_le(&b, KY_GGUF_ARRAY, 4);
    b_le(&b, KY_GGUF_STRING, 4);
    b_le(&b, n, 8);
    for (uint64_t i = 0; i < n && !b.failed; i++) {
        if (!strs[i] && (!lens || lens[i])) {
            free(b.p);
            return fail(w, KY_ERR_INVALID_ARG, "key '%s': string %" PRIu64 " is NULL", key, i);
        }
        size_t len = lens ? lens[i] : strlen(strs[i]);
        b_str(&b, strs[i], len);
    }
    return put_bytes(w, key, &b);
}

static bool valid_elem_type(uint32_t t) {
    return gguf_type_size(t) || t == KY_GGUF_STRING || t == KY_GGUF_ARRAY;
}

ky_status gguf_writer_arr_begin(gguf_writer *w, const char *key, uint32_t elem_type) {
    ky_status st;
    if (key) {
        if ((st = check_idle(w)) || (st = check_key(w, key))) return st;
    } else {
        if (!w->arr_depth)
            return fail(w, KY_ERR_INVALID_ARG, "nested array begun outside of an array");
        const open_array *top = &w->arr[w->arr_depth - 1];
        if (top->elem_type != KY_GGUF_ARRAY)
            return fail(w, KY_ERR_INVALID_ARG, "key '%s': array of %s cannot hold an array",
                        w->arr_key, ky_gguf_type_name(top->elem_type));
    }
    const char *name = key ? key : w->arr_key;
    if (!valid_elem_type(elem_type))
        return fail(w, KY_ERR_INVALID_ARG, "key '%s': unknown array element type %" PRIu32, name,
                    elem_type);
    /* The new array sits at depth arr_depth + 1; at the deepest level the reader accepts
     * (KY_GGUF_MAX_ARRAY_DEPTH) it may not hold arrays. */
    if (elem_type == KY_GGUF_ARRAY && w->arr_depth + 1 >= KY_GGUF_MAX_ARRAY_DEPTH)
        return fail(w, KY_ERR_INVALID_ARG, "key '%s': arrays nested deeper than %d", name,
                    KY_GGUF_MAX_ARRAY_DEPTH);
    if (key) {
        size_t klen = strlen(key);
        w->arr_key = malloc(klen + 1);
        if (!w->arr_key) return fail(w, KY_ERR_NOMEM, "key '%s': out of memory", key);
        memcpy(w->arr_key, key, klen + 1);
        b_le(&w->arr_buf, KY_GGUF_ARRAY, 4);
    } else {
        w->arr[w->arr_depth - 1].n++;
    }
    b_le(&w->arr_buf, elem_type, 4);
    assert(w->arr_depth < KY_GGUF_MAX_ARRAY_DEPTH);
    open_array *a = &w->arr[w->arr_depth++];
    a->count_pos = w->arr_buf.len;
    a->elem_type = elem_type;
    a->n = 0;
    b_le(&w->arr_buf, 0, 8); /* count, patched by arr_end */
    return ok(w);
}

ky_status gguf_writer_arr_push(gguf_writer *w, const ky_gguf_value *v) {
    if (!w->arr_depth)
        return fail(w, KY_ERR_INVALID_ARG, "array element pushed with no open array");
    open_array *top = &w->arr[w->arr_depth - 1];
    if (!v) return fail(w, KY_ERR_INVALID_ARG, "key '%s': NULL array element", w->arr_key);
    if (v->type != top->elem_type)
        return fail(w, KY_ERR_INVALID_ARG, "key '%s': %s element pushed to an array of %s",
                    w->arr_key, ky_gguf_type_name(v->type), ky_gguf_type_name(top->elem_type));
    char what[128];
    snprintf(what, sizeof what, "key '%s' element %" PRIu64, w->arr_key, top->n);
    size_t before = w->arr_buf.len;
    ky_status st = encode_scalar(w, what, v, &w->arr_buf);
    if (st) {
        w->arr_buf.len = before;
        return st;
    }
    top->n++;
    return ok(w);
}

ky_status gguf_writer_arr_end(gguf_writer *w) {
    if (!w->arr_depth) return fail(w, KY_ERR_INVALID_ARG, "arr_end with no open array");
    open_array *a = &w->arr[--w->arr_depth];
    if (!w->arr_buf.failed) store_le(w->arr_buf.p + a->count_pos, a->n, 8);
    if (w->arr_depth) return ok(w);
    char *key = w->arr_key;
    bytes b = w->arr_buf;
    w->arr_key = NULL;
    memset(&w->arr_buf, 0, sizeof w->arr_buf);
    ky_status st = put_bytes(w, key, &b);
    free(key);
    return st;
}

ky_status gguf_writer_copy_kv(gguf_writer *w, const ky_gguf *g, int64_t kv) {
    ky_status st;
    if ((st = check_idle(w))) return st;
    if (!g || kv < 0 || kv >= ky_gguf_n_kv(g))
        return fail(w, KY_ERR_INVALID_ARG, "copy_kv: pair %" PRId64 " does not exist", kv);
    const char *key = ky_gguf_kv_key(g, kv);
    if ((st = check_key(w, key))) return st;
    const uint8_t *raw;
    uint64_t len;
    gguf_kv_raw(g, kv, &raw, &len);
    uint8_t *val = malloc(len ? (size_t)len : 1);
    if (!val) return fail(w, KY_ERR_NOMEM, "key '%s': out of memory", key);
    memcpy(val, raw, (size_t)len);
    return put_kv(w, key, val, (size_t)len);
}

ky_status gguf_writer_remove_key(gguf_writer *w, const char *key) {
    ky_status st;
    if ((st = check_idle(w)) || (st = check_key(w, key))) return st;
    int64_t i = find_kv(w, key);
    if (i < 0) return fail(w, KY_ERR_NOT_FOUND, "key '%s' not found", key);
    free(w->kvs[i].key);
    free(w->kvs[i].val);
    memmove(w->kvs + i, w->kvs + i + 1, (size_t)(w->n_kv - i - 1) * sizeof *w->kvs);
    w->n_kv--;
    if (strcmp(key, "general.alignment") == 0) w->alignment = KY_GGUF_DEFAULT_ALIGNMENT;
    return ok(w);
}

/* ----------------------------------------------------------------------------------------------
 * Tensors
 * -------------------------------------------------------------------------------------------- */

static ky_status add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data, gguf_fill_fn fill, void *ctx,
                            int64_t *index) {
    ky_status st;
    if ((st = check_idle(w))) return st;
    if (!name) return fail(w, KY_ERR_INVALID_ARG, "tensor name is NULL");
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > KY_GGUF_MAX_NAME_LEN)
        return fail(w, KY_ERR_INVALID_ARG, "tensor '%.80s': name length %zu outside [1, %d]", name,
                    nlen, KY_GGUF_MAX_NAME_LEN);
    for (int64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return fail(w, KY_ERR_INVALID_ARG, "tensor '%s': duplicate name", name);
    const ky_type_traits *tr = ky_type_get_traits(type);
    if (!tr)
        return fail(w, KY_ERR_INVALID_ARG, "tensor '%s': unknown type id %" PRIu32, name, type);
    if (n_dims < 1 || n_dims > KY_MAX_DIMS || !ne)
        return fail(w, KY_ERR_INVALID_ARG, "tensor '%s': n_dims %" PRIu32 " outside [1, %d]", name,
                    n_dims, KY_MAX_DIMS);
    if (!data && !fill) return fail(w, KY_ERR_INVALID_ARG, "tensor '%s': no data", name);
    wtensor t;
    memset(&t, 0, sizeof t);
    uint64_t n_elems = 1;
    for (uint32_t d = 0; d < 4; d++) t.ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || ky_mul_overflow_u64(n_elems, (uint64_t)ne[d], &n_elems) ||
            n_elems > (uint64_t)INT64_MAX)
            return fail(w, KY_ERR_INVALID_ARG,
                        "tensor '%s': dimension %" PRIu32 " = %" PRId64
                        " is not positive or overflows",
                        name, d, ne[d]);
        t.ne[d] = ne[d];
    }
    uint64_t row_bytes;
    if (!ky_type_row_bytes(type, t.ne[0], &row_bytes))
        return fail(w, KY_ERR_INVALID_ARG,
                    "tensor '%s': row size %" PRId64 " not a multiple of block size %" PRIu32
                    " (type %s)",
                    name, t.ne[0], tr->block_size, tr->name);
    uint64_t n_rows = (uint64_t)t.ne[1] * (uint64_t)t.ne[2] * (uint64_t)t.ne[3];
    if (ky_mul_overflow_u64(row_bytes, n_rows, &t.n_bytes) || t.n_bytes > (uint64_t)INT64_MAX)
        return fail(w, KY_ERR_INVALID_ARG, "tensor '%s': byte size overflows", name);
    if (w->n_tensors == w->cap_tensors) {
        int64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        wtensor *p = realloc(w->tensors, (size_t)cap * sizeof *p);
        if (!p) return fail(w, KY_ERR_NOMEM, "tensor '%s': out of memory", name);
        w->tensors = p;
        w->cap_tensors = cap;
    }
    t.name = malloc(nlen + 1);
    if (!t.name) return fail(w, KY_ERR_NOMEM, "tensor '%s': out of memory", name);
    memcpy(t.name, name, nlen + 1);
    t.name_len = nlen;
    t.type = type;
    t.n_dims = n_dims;
    t.data = data;
    t.fill = fill;
    t.fill_ctx = ctx;
    if (index) *index = w->n_tensors;
    w->tensors[w->n_tensors++] = t;
    return ok(w);
}

ky_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                 const int64_t *ne, const void *data, int64_t *index) {
    if (!data) return fail(w, KY_ERR_INVALID_ARG, "tensor '%s': NULL data", name ? name : "?");
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL, index);
}

ky_status gguf_writer_add_tensor_fill(gguf_writer *w, const char *name, uint32_t type,
                                      uint32_t n_dims, const int64_t *ne, gguf_fill_fn fill,
                                      void *ctx, int64_t *index) {
    if (!fill)
        return fail(w, KY_ERR_INVALID_ARG, "tensor '%s': NULL fill callback", name ? name : "?");
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, ctx, index);
}

ky_status gguf_writer_copy_tensor(gguf_writer *w, const ky_gguf *g, int64_t i, int64_t *index) {
    ky_gguf_tensor_info t;
    if (!g || ky_gguf_tensor(g, i, &t) != KY_OK)
        return fail(w, KY_ERR_INVALID_ARG, "copy_tensor: tensor %" PRId64 " does not exist", i);
    return add_tensor(w, t.name, t.type, t.n_dims, t.ne, t.data, NULL, NULL, index);
}

/* ----------------------------------------------------------------------------------------------
 * Output
 * -------------------------------------------------------------------------------------------- */

typedef struct layout {
    uint64_t header_size; /* bytes before the padding of the data section */
    uint64_t data_offset; /* file offset of the data section */
    uint64_t total;       /* file size */
} layout;

/* Assigns tensor offsets and computes sizes; false when the file would not be addressable. */
static bool compute_layout(gguf_writer *w, layout *L) {
    uint64_t h = 4 + 4 + 8 + 8, off = 0;
    for (int64_t i = 0; i < w->n_kv; i++)
        if (ky_add_overflow_u64(h, 8 + (uint64_t)w->kvs[i].key_len + w->kvs[i].val_len, &h))
            return false;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        wtensor *t = &w->tensors[i];
        if (ky_add_overflow_u64(h, 8 + (uint64_t)t->name_len + 4 + 8ull * t->n_dims + 4 + 8, &h))
            return false;
        t->offset = off;
        if (ky_add_overflow_u64(off, t->n_bytes, &off) || ky_align_up_u64(off, w->alignment, &off))
            return false;
    }
    L->header_size = h;
    L->data_offset = h;
    if ((w->n_tensors > 0 || w->pad_empty) && ky_align_up_u64(h, w->alignment, &L->data_offset))
        return false;
    if (ky_add_overflow_u64(L->data_offset, off, &L->total) || L->total > (uint64_t)INT64_MAX ||
        L->total > SIZE_MAX)
        return false;
    return true;
}

/* Encodes header and tensor infos (without the padding) into b. */
static void encode_header(const gguf_writer *w, bytes *b) {
    b_put(b, "GGUF", 4);
    b_le(b, w->version, 4);
    b_le(b, (uint64_t)w->n_tensors, 8);
    b_le(b, (uint64_t)w->n_kv, 8);
    for (int64_t i = 0; i < w->n_kv; i++) {
        b_str(b, w->kvs[i].key, w->kvs[i].key_len);
        b_put(b, w->kvs[i].val, w->kvs[i].val_len);
    }
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        b_str(b, t->name, t->name_len);
        b_le(b, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) b_le(b, (uint64_t)t->ne[d], 8);
        b_le(b, t->type, 4);
        b_le(b, t->offset, 8);
    }
}

static ky_status prepare(gguf_writer *w, layout *L, bytes *hdr) {
    ky_status st;
    if ((st = check_idle(w))) return st;
    if (!compute_layout(w, L)) return fail(w, KY_ERR_INVALID_ARG, "file size overflows");
    memset(hdr, 0, sizeof *hdr);
    encode_header(w, hdr);
    if (hdr->failed) {
        free(hdr->p);
        return fail(w, KY_ERR_NOMEM, "out of memory for a %" PRIu64 "-byte header", L->header_size);
    }
    return KY_OK;
}

uint64_t gguf_writer_size(const gguf_writer *w) {
    layout L;
    if (w->arr_depth || !compute_layout((gguf_writer *)w, &L)) return 0;
    return L.total;
}

ky_status gguf_writer_write_memory(gguf_writer *w, uint8_t **data, size_t *size) {
    if (!data || !size) return fail(w, KY_ERR_INVALID_ARG, "write_memory: NULL argument");
    layout L;
    bytes hdr;
    ky_status st = prepare(w, &L, &hdr);
    if (st) return st;
    uint8_t *buf = calloc(L.total ? (size_t)L.total : 1, 1);
    if (!buf) {
        free(hdr.p);
        return fail(w, KY_ERR_NOMEM, "out of memory for a %" PRIu64 "-byte file", L.total);
    }
    memcpy(buf, hdr.p, hdr.len);
    free(hdr.p);
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        uint8_t *dst = buf + L.data_offset + t->offset;
        if (t->data)
            memcpy(dst, t->data, (size_t)t->n_bytes);
        else
            t->fill(t->fill_ctx, i, dst, t->n_bytes);
    }
    *data = buf;
    *size = (size_t)L.total;
    return ok(w);
}

static bool pwrite_all(int fd, const void *src, uint64_t n, uint64_t off) {
    const uint8_t *p = src;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t k = pwrite(fd, p, chunk, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return false;
        }
        p += k;
        n -= (uint64_t)k;
        off += (uint64_t)k;
    }
    return true;
}

/* Runs fill for tensor i straight into a shared mapping of [off, off + n) of the file. */
static bool fill_mapped(int fd, const wtensor *t, int64_t i, uint64_t off) {
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = off - off % page, len = off + t->n_bytes - start;
    void *m = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
    if (m == MAP_FAILED) return false;
    t->fill(t->fill_ctx, i, (uint8_t *)m + (off - start), t->n_bytes);
    return munmap(m, (size_t)len) == 0;
}

/* Creates a fresh temporary file next to path ("<path>.tmp-<pid>-<n>", mode 0666 & ~umask).
 * Returns the fd and the malloc'd name in *tmp, or -1 with errno set. */
static int create_sibling(const char *path, char **tmp) {
    static unsigned counter;
    size_t cap = strlen(path) + 48;
    char *name = malloc(cap);
    if (!name) {
        errno = ENOMEM;
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(name, cap, "%s.tmp-%ld-%u", path, (long)getpid(), counter++);
        int fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp = name;
            return fd;
        }
        if (errno != EEXIST) break;
    }
    int e = errno;
    free(name);
    errno = e;
    return -1;
}

/* Writes the whole file to fd (sized total); *step names the failing stage. */
static bool write_all_to(gguf_writer *w, int fd, const layout *L, const bytes *hdr,
                         const char **step) {
    *step = "cannot resize";
    if (ftruncate(fd, (off_t)L->total) != 0) return false;
    /* Reserve the blocks now so that writes through the mapping cannot hit a full disk (which
     * would raise SIGBUS); file systems without fallocate are written regardless. */
    int e = L->total ? posix_fallocate(fd, 0, (off_t)L->total) : 0;
    if (e && e != EINVAL && e != EOPNOTSUPP && e != ENOSYS) {
        errno = e;
        *step = "cannot allocate";
        return false;
    }
    *step = "write failed";
    if (!pwrite_all(fd, hdr->p, hdr->len, 0)) return false;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        uint64_t off = L->data_offset + t->offset;
        *step = t->data ? "write failed" : "cannot map for writing";
        if (!(t->data ? pwrite_all(fd, t->data, t->n_bytes, off) : fill_mapped(fd, t, i, off)))
            return false;
    }
    return true;
}

ky_status gguf_writer_write_file(gguf_writer *w, const char *path) {
    if (!path || !*path) return fail(w, KY_ERR_INVALID_ARG, "write_file: no path");
    struct stat st_path;
    if (stat(path, &st_path) == 0 && !S_ISREG(st_path.st_mode))
        return fail(w, KY_ERR_IO, "%s: exists and is not a regular file", path);
    layout L;
    bytes hdr;
    ky_status st = prepare(w, &L, &hdr);
    if (st) return st;
    /* Write a sibling and rename it over path: readers never see a partial file, and path may
     * be the very file whose mapping supplies borrowed tensor data. */
    char *tmp = NULL;
    int fd = create_sibling(path, &tmp);
    if (fd < 0) {
        int e = errno;
        free(hdr.p);
        return fail(w, KY_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    const char *step = "";
    bool good = write_all_to(w, fd, &L, &hdr, &step);
    int e = errno;
    free(hdr.p);
    if (close(fd) != 0 && good) {
        e = errno;
        good = false;
        step = "write failed";
    }
    if (good && rename(tmp, path) != 0) {
        e = errno;
        good = false;
        step = "cannot rename the temporary file into place";
    }
    if (!good) unlink(tmp);
    free(tmp);
    if (!good) return fail(w, KY_ERR_IO, "%s: %s: %s", path, step, strerror(e));
    return ok(w);
}
