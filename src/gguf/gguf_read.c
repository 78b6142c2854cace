/* gguf_read.c — validating, zero-copy GGUF reader (layer: gguf; uses tensor/ type traits).
 *
 * The whole header is parsed and checked at open time against the mapped size with
 * overflow-checked arithmetic; afterwards every accessor is a bounds-safe table lookup. Strings and
 * tensor data are views into the mapping. Errors name the file and the key, tensor or byte offset;
 * names taken from the file are shortened and stripped of control bytes before they reach a
 * message. Name lookups use sorted tables (O(log n) worst case, no hash flooding).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/limits.h"
#include "gguf/gguf.h"
#include "os/file.h"
#include "tensor/types.h"

/* An array value: fixed-size elements are read from `data`; string and nested-array elements are
 * located through `offsets` (file offset of each element), filled at parse time. */
typedef struct gguf_array {
    uint32_t elem_type;
    uint64_t n;
    const uint8_t *data;
    uint64_t *offsets; /* [n] string / array elements only; malloc'd */
} gguf_array;

typedef struct gguf_kv {
    char *key; /* NUL-terminated copy (keys may not contain NUL; checked) */
    ky_gguf_value value;
    gguf_array arr;   /* when value.type == ARRAY */
    uint64_t raw_off; /* file offset of the value's u32 type */
    uint64_t raw_len; /* bytes of type + payload */
} gguf_kv;

typedef struct gguf_tensor {
    char *name; /* NUL-terminated copy */
    size_t name_len;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t offset;
    uint64_t n_bytes;
} gguf_tensor;

/* A name → entry index table sorted by name (ties by index). */
typedef struct name_entry {
    const char *name;
    int64_t index;
} name_entry;

struct ky_gguf {
    char *path;
    ky_mapping map;
    bool borrowed; /* map came from gguf_open_memory: not ours to unmap */
    uint32_t version;
    uint64_t alignment;
    uint64_t header_end;
    uint64_t data_offset;
    int64_t n_kv;
    gguf_kv *kvs;
    int64_t n_tensors;
    gguf_tensor *tensors;
    name_entry *key_index;    /* [n_kv] */
    name_entry *tensor_index; /* [n_tensors] */
};

typedef struct reader {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
    ky_error *err;
} reader;

/* Names from the file appear in messages through "%.*s" with this cap (messages are short). */
#define NAME_IN_MSG 160

/* ----------------------------------------------------------------------------------------------
 * Primitive reads (all bounds-checked)
 * -------------------------------------------------------------------------------------------- */

static ky_status truncated(reader *r, const char *what, const char *ctx) {
    return ky_errf(r->err, KY_ERR_FORMAT,
                   "%s: truncated file: %s%s%s at byte %" PRIu64 " (file has %" PRIu64 " bytes)",
                   r->path, what, ctx ? " of " : "", ctx ? ctx : "", r->pos, r->size);
}

static uint32_t le32(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static ky_status read_u32(reader *r, uint32_t *v, const char *what, const char *ctx) {
    if (r->size - r->pos < 4) return truncated(r, what, ctx);
    *v = le32(r->base + r->pos);
    r->pos += 4;
    return KY_OK;
}

static ky_status read_u64(reader *r, uint64_t *v, const char *what, const char *ctx) {
    if (r->size - r->pos < 8) return truncated(r, what, ctx);
    *v = le64(r->base + r->pos);
    r->pos += 8;
    return KY_OK;
}

/* Reads a GGUF string header and skips its bytes; returns a view. */
static ky_status read_str(reader *r, const char **p, uint64_t *len, uint64_t max_len,
                          const char *what, const char *ctx) {
    uint64_t n;
    ky_status st = read_u64(r, &n, what, ctx);
    if (st) return st;
    if (n > r->size - r->pos)
        return ky_errf(r->err, KY_ERR_FORMAT,
                       "%s: %s%s%s: string length %" PRIu64 " at byte %" PRIu64
                       " runs past the end of the file (%" PRIu64 " bytes)",
                       r->path, what, ctx ? " of " : "", ctx ? ctx : "", n, r->pos - 8, r->size);
    if (n > max_len)
        return ky_errf(r->err, KY_ERR_FORMAT,
                       "%s: %s%s%s: length %" PRIu64 " exceeds the limit of %" PRIu64, r->path,
                       what, ctx ? " of " : "", ctx ? ctx : "", n, max_len);
    *p = (const char *)r->base + r->pos;
    *len = n;
    r->pos += n;
    return KY_OK;
}

/* Replaces bytes a terminal could act on (C0 controls, DEL, UTF-8-encoded C1 controls) with '?'
 * in a finished message: names in messages come from untrusted files. */
static void sanitize_message(ky_error *err) {
    if (!err) return;
    unsigned char *s = (unsigned char *)err->message;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] < 0x20 || s[i] == 0x7F) {
            s[i] = '?';
        } else if (s[i] == 0xC2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F) {
            s[i] = '?';
            s[i + 1] = '?';
        }
    }
}

uint64_t gguf_type_size(uint32_t type) {
    switch (type) {
    case KY_GGUF_U8:
    case KY_GGUF_I8:
    case KY_GGUF_BOOL: return 1;
    case KY_GGUF_U16:
    case KY_GGUF_I16: return 2;
    case KY_GGUF_U32:
    case KY_GGUF_I32:
    case KY_GGUF_F32: return 4;
    case KY_GGUF_U64:
    case KY_GGUF_I64:
    case KY_GGUF_F64: return 8;
    default: return 0;
    }
}

const char *ky_gguf_type_name(uint32_t type) {
    static const char *names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                  "bool", "string", "array", "u64", "i64", "f64"};
    return type < sizeof names / sizeof names[0] ? names[type] : "?";
}

/* Decodes a fixed-size scalar of `type` at p into a ky_gguf_value. */
static ky_gguf_value decode_scalar(uint32_t type, const uint8_t *p) {
    ky_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    switch (type) {
    case KY_GGUF_U8: v.v.u64 = p[0]; break;
    case KY_GGUF_BOOL: v.v.u64 = p[0] != 0; break;
    case KY_GGUF_I8: v.v.i64 = (int8_t)p[0]; break;
    case KY_GGUF_U16: v.v.u64 = (uint16_t)(p[0] | p[1] << 8); break;
    case KY_GGUF_I16: v.v.i64 = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case KY_GGUF_U32: v.v.u64 = le32(p); break;
    case KY_GGUF_I32: v.v.i64 = (int32_t)le32(p); break;
    case KY_GGUF_F32: {
        uint32_t bits = le32(p);
        float f;
        memcpy(&f, &bits, 4);
        v.v.f64 = f;
        break;
    }
    case KY_GGUF_U64: v.v.u64 = le64(p); break;
    case KY_GGUF_I64: v.v.i64 = (int64_t)le64(p); break;
    case KY_GGUF_F64: {
        uint64_t bits = le64(p);
        memcpy(&v.v.f64, &bits, 8);
        break;
    }
    default: break;
    }
    return v;
}

/* ----------------------------------------------------------------------------------------------
 * Values
 * -------------------------------------------------------------------------------------------- */

/* Validates (and skips) an array body whose u32 type and u64 count have been read, recursively;
 * when out is not NULL, records element offsets for string/array elements. */
static ky_status parse_array(reader *r, uint32_t elem_type, uint64_t n, int depth,
                             const char *where, gguf_array *out) {
    if (out) {
        out->elem_type = elem_type;
        out->n = n;
        out->data = r->base + r->pos;
    }
    uint64_t esz = gguf_type_size(elem_type);
    if (esz) {
        uint64_t bytes;
        if (ky_mul_overflow_u64(n, esz, &bytes) || bytes > r->size - r->pos)
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: %s: array of %" PRIu64 " %s elements at byte %" PRIu64
                           " runs past the end of the file (%" PRIu64 " bytes)",
                           r->path, where, n, ky_gguf_type_name(elem_type), r->pos, r->size);
        r->pos += bytes;
        return KY_OK;
    }
    if (elem_type != KY_GGUF_STRING && elem_type != KY_GGUF_ARRAY)
        return ky_errf(r->err, KY_ERR_FORMAT,
                       "%s: %s: unknown array element type %" PRIu32 " at byte %" PRIu64, r->path,
                       where, elem_type, r->pos - 12);
    if (elem_type == KY_GGUF_ARRAY && depth >= KY_GGUF_MAX_ARRAY_DEPTH)
        return ky_errf(r->err, KY_ERR_FORMAT, "%s: %s: arrays nested deeper than %d", r->path,
                       where, KY_GGUF_MAX_ARRAY_DEPTH);
    /* Every string or array element takes at least 8 (string) or 12 (array) bytes. */
    uint64_t min_each = elem_type == KY_GGUF_STRING ? 8 : 12;
    if (n > (r->size - r->pos) / min_each)
        return ky_errf(r->err, KY_ERR_FORMAT,
                       "%s: %s: array count %" PRIu64 " at byte %" PRIu64
                       " cannot fit in the file (%" PRIu64 " bytes)",
                       r->path, where, n, r->pos - 8, r->size);
    if (out && n) {
        out->offsets = malloc((size_t)n * sizeof *out->offsets);
        if (!out->offsets)
            return ky_errf(r->err, KY_ERR_NOMEM,
                           "%s: %s: out of memory for %" PRIu64 " array elements", r->path, where,
                           n);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (out) out->offsets[i] = r->pos;
        ky_status st;
        if (elem_type == KY_GGUF_STRING) {
            const char *s;
            uint64_t len;
            st = read_str(r, &s, &len, UINT64_MAX, "array string element", where);
        } else {
            uint32_t t;
            uint64_t m;
            st = read_u32(r, &t, "nested array type", where);
            if (!st) st = read_u64(r, &m, "nested array count", where);
            if (!st) st = parse_array(r, t, m, depth + 1, where, NULL);
        }
        if (st) return st;
    }
    return KY_OK;
}

/* Parses the value of pair kv; `where` ("key '...'") names it in messages. */
static ky_status parse_value(reader *r, gguf_kv *kv, const char *where) {
    uint32_t type;
    kv->raw_off = r->pos;
    ky_status st = read_u32(r, &type, "value type", where);
    if (st) return st;
    memset(&kv->value, 0, sizeof kv->value);
    kv->value.type = type;
    uint64_t esz = gguf_type_size(type);
    if (esz) {
        if (esz > r->size - r->pos) return truncated(r, "value", where);
        kv->value = decode_scalar(type, r->base + r->pos);
        r->pos += esz;
    } else if (type == KY_GGUF_STRING) {
        st = read_str(r, &kv->value.v.str.ptr, &kv->value.v.str.len, UINT64_MAX, "string value",
                      where);
    } else if (type == KY_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        st = read_u32(r, &et, "array element type", where);
        if (!st) st = read_u64(r, &n, "array count", where);
        if (!st) {
            kv->value.v.arr.elem_type = et;
            kv->value.v.arr.n = n;
            st = parse_array(r, et, n, 1, where, &kv->arr);
        }
    } else {
        return ky_errf(r->err, KY_ERR_FORMAT,
                       "%s: %s: unknown value type %" PRIu32 " at byte %" PRIu64, r->path, where,
                       type, r->pos - 4);
    }
    kv->raw_len = r->pos - kv->raw_off;
    return st;
}

/* ----------------------------------------------------------------------------------------------
 * Name index
 * -------------------------------------------------------------------------------------------- */

static int cmp_name_entry(const void *a, const void *b) {
    const name_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts n names into *out (malloc'd). *dup receives the pair of indices of the first duplicated
 * name in sorted order (earlier index first), or {-1, -1}. */
static ky_status index_build(name_entry **out, int64_t n, const char *(*name_of)(void *, int64_t),
                             void *ctx, int64_t dup[2]) {
    dup[0] = dup[1] = -1;
    name_entry *ix = malloc((size_t)(n ? n : 1) * sizeof *ix);
    if (!ix) return KY_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) ix[i] = (name_entry){name_of(ctx, i), i};
    qsort(ix, (size_t)n, sizeof *ix, cmp_name_entry);
    for (int64_t i = 0; i + 1 < n; i++)
        if (strcmp(ix[i].name, ix[i + 1].name) == 0) {
            dup[0] = ix[i].index;
            dup[1] = ix[i + 1].index;
            break;
        }
    *out = ix;
    return KY_OK;
}

static int64_t index_find(const name_entry *ix, int64_t n, const char *name) {
    if (!ix || !name) return -1;
    int64_t lo = 0, hi = n; /* search [lo, hi) */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix[mid].name, name);
        if (c == 0) return ix[mid].index;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static const char *kv_name_of(void *ctx, int64_t i) { return ((ky_gguf *)ctx)->kvs[i].key; }
static const char *tensor_name_of(void *ctx, int64_t i) {
    return ((ky_gguf *)ctx)->tensors[i].name;
}

/* ----------------------------------------------------------------------------------------------
 * Open
 * -------------------------------------------------------------------------------------------- */

static char *dup_n(const char *s, uint64_t n) {
    char *p = malloc((size_t)n + 1);
    if (p) {
        memcpy(p, s, (size_t)n);
        p[n] = '\0';
    }
    return p;
}

static ky_status parse_kvs(ky_gguf *g, reader *r) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        const char *k;
        uint64_t klen;
        char where[64];
        snprintf(where, sizeof where, "metadata pair %" PRId64, i);
        ky_status st = read_str(r, &k, &klen, KY_GGUF_MAX_KEY_LEN, "key", where);
        if (st) return st;
        if (klen == 0)
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: %s at byte %" PRIu64 " has an empty key",
                           r->path, where, r->pos - 8);
        if (memchr(k, '\0', (size_t)klen))
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: key '%.*s' (%s) contains a NUL byte",
                           r->path, NAME_IN_MSG, k, where);
        g->kvs[i].key = dup_n(k, klen);
        if (!g->kvs[i].key) return ky_errf(r->err, KY_ERR_NOMEM, "%s: out of memory", r->path);
        char kwhere[NAME_IN_MSG + 16];
        snprintf(kwhere, sizeof kwhere, "key '%.*s'", NAME_IN_MSG, g->kvs[i].key);
        st = parse_value(r, &g->kvs[i], kwhere);
        if (st) return st;
    }
    return KY_OK;
}

static ky_status parse_tensor_infos(ky_gguf *g, reader *r) {
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        const char *nm;
        uint64_t nlen;
        char where[64];
        snprintf(where, sizeof where, "tensor %" PRId64, i);
        ky_status st = read_str(r, &nm, &nlen, KY_GGUF_MAX_NAME_LEN, "name", where);
        if (st) return st;
        if (nlen == 0)
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: %s at byte %" PRIu64 " has an empty name",
                           r->path, where, r->pos - 8);
        if (memchr(nm, '\0', (size_t)nlen))
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%.*s' (%s): name contains a NUL byte", r->path, NAME_IN_MSG,
                           nm, where);
        t->name = dup_n(nm, nlen);
        if (!t->name) return ky_errf(r->err, KY_ERR_NOMEM, "%s: out of memory", r->path);
        t->name_len = (size_t)nlen;
        char twhere[NAME_IN_MSG + 16];
        snprintf(twhere, sizeof twhere, "tensor '%.*s'", NAME_IN_MSG, t->name);
        if ((st = read_u32(r, &t->n_dims, "n_dims", twhere))) return st;
        if (t->n_dims < 1 || t->n_dims > KY_MAX_DIMS)
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%.*s': n_dims %" PRIu32 " outside [1, %d]", r->path,
                           NAME_IN_MSG, t->name, t->n_dims, KY_MAX_DIMS);
        uint64_t n_elems = 1;
        for (uint32_t d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne;
            if ((st = read_u64(r, &ne, "dimension", twhere))) return st;
            if (ne == 0)
                return ky_errf(r->err, KY_ERR_FORMAT,
                               "%s: tensor '%.*s': dimension %" PRIu32 " is zero", r->path,
                               NAME_IN_MSG, t->name, d);
            if (ne > (uint64_t)INT64_MAX || ky_mul_overflow_u64(n_elems, ne, &n_elems) ||
                n_elems > (uint64_t)INT64_MAX)
                return ky_errf(r->err, KY_ERR_FORMAT,
                               "%s: tensor '%.*s': dimension %" PRIu32 " = %" PRIu64
                               " overflows the element count",
                               r->path, NAME_IN_MSG, t->name, d, ne);
            t->ne[d] = (int64_t)ne;
        }
        if ((st = read_u32(r, &t->type, "type", twhere))) return st;
        const ky_type_traits *tr = ky_type_get_traits(t->type);
        if (!tr)
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: tensor '%.*s': unknown type id %" PRIu32,
                           r->path, NAME_IN_MSG, t->name, t->type);
        uint64_t row_bytes;
        if (!ky_type_row_bytes(t->type, t->ne[0], &row_bytes))
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%.*s': row size %" PRId64
                           " not a multiple of block size %" PRIu32 " (type %s)",
                           r->path, NAME_IN_MSG, t->name, t->ne[0], tr->block_size, tr->name);
        /* ne[1..3] multiply to at most n_elems, which fits in int64 */
        uint64_t n_rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        if (ky_mul_overflow_u64(row_bytes, n_rows, &t->n_bytes))
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: tensor '%.*s': byte size overflows", r->path,
                           NAME_IN_MSG, t->name);
        if ((st = read_u64(r, &t->offset, "offset", twhere))) return st;
    }
    return KY_OK;
}

typedef struct offset_entry {
    uint64_t offset;
    int64_t index;
} offset_entry;

static int cmp_offset_entry(const void *a, const void *b) {
    const offset_entry *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static ky_status check_tensor_data(ky_gguf *g, reader *r) {
    uint64_t data_size = g->map.size > g->data_offset ? g->map.size - g->data_offset : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%.*s': offset %" PRIu64
                           " not a multiple of alignment %" PRIu64,
                           r->path, NAME_IN_MSG, t->name, t->offset, g->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%.*s': data [%" PRIu64 ", +%" PRIu64
                           ") runs past the end of the data section (%" PRIu64
                           " bytes at file offset %" PRIu64 "): truncated file or bad offset",
                           r->path, NAME_IN_MSG, t->name, t->offset, t->n_bytes, data_size,
                           g->data_offset);
    }
    if (g->n_tensors < 2) return KY_OK;
    offset_entry *order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return ky_errf(r->err, KY_ERR_NOMEM, "%s: out of memory", r->path);
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = (offset_entry){g->tensors[i].offset, i};
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_offset_entry);
    ky_status st = KY_OK;
    for (int64_t k = 0; k + 1 < g->n_tensors; k++) {
        const gguf_tensor *a = &g->tensors[order[k].index], *b = &g->tensors[order[k + 1].index];
        if (a->offset + a->n_bytes > b->offset) { /* both within the file: no overflow */
            st = ky_errf(r->err, KY_ERR_FORMAT,
                         "%s: tensor '%.*s' [%" PRIu64 ", +%" PRIu64
                         ") overlaps tensor '%.*s' at %" PRIu64,
                         r->path, NAME_IN_MSG, a->name, a->offset, a->n_bytes, NAME_IN_MSG, b->name,
                         b->offset);
            break;
        }
    }
    free(order);
    return st;
}

static ky_status parse_header(ky_gguf *g, reader *r) {
    ky_error *err = r->err;
    if (r->size < 4) return truncated(r, "magic", NULL);
    const uint8_t *m = r->base;
    if (memcmp(m, "GGUF", 4) != 0)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")",
                       g->path, m[0], m[1], m[2], m[3]);
    r->pos = 4;
    ky_status st = read_u32(r, &g->version, "version", NULL);
    if (st) return st;
    uint32_t v = g->version;
    if (v == 1)
        return ky_errf(err, KY_ERR_UNSUPPORTED,
                       "%s: GGUF version 1 is obsolete and not supported; re-convert the model "
                       "with a current llama.cpp (versions 2 and 3 are read)",
                       g->path);
    if (v != 2 && v != 3) {
        uint32_t swapped = v >> 24 | (v >> 8 & 0xFF00) | (v << 8 & 0xFF0000) | v << 24;
        if (swapped >= 1 && swapped <= 3)
            return ky_errf(err, KY_ERR_UNSUPPORTED,
                           "%s: big-endian GGUF (version %" PRIu32 ") is not supported", g->path,
                           swapped);
        return ky_errf(err, KY_ERR_UNSUPPORTED,
                       "%s: unsupported GGUF version %" PRIu32 " (2 and 3 are read)", g->path, v);
    }
    uint64_t n_tensors, n_kv;
    if ((st = read_u64(r, &n_tensors, "tensor count", NULL))) return st;
    if ((st = read_u64(r, &n_kv, "metadata count", NULL))) return st;
    /* A KV pair needs >= 8+1+4+1 bytes, a tensor info >= 8+1+4+8+4+8: bound the counts by the
     * file size before allocating anything. */
    uint64_t rest = r->size - r->pos;
    if (n_kv > rest / 14)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: metadata count %" PRIu64 " is impossible for a file of %" PRIu64
                       " bytes",
                       g->path, n_kv, r->size);
    if (n_tensors > (rest - n_kv * 14) / 33)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: tensor count %" PRIu64 " is impossible for a file of %" PRIu64 " bytes",
                       g->path, n_tensors, r->size);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kvs);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kvs || !g->tensors) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", g->path);
    return KY_OK;
}

static ky_status parse_alignment(ky_gguf *g, ky_error *err) {
    g->alignment = KY_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = ky_gguf_find_key(g, "general.alignment");
    if (ai < 0) return KY_OK;
    const ky_gguf_value *v = &g->kvs[ai].value;
    if (v->type != KY_GGUF_U32)
        return ky_errf(err, KY_ERR_FORMAT, "%s: key 'general.alignment' has type %s, expected u32",
                       g->path, ky_gguf_type_name(v->type));
    if (v->v.u64 == 0 || (v->v.u64 & (v->v.u64 - 1)) || v->v.u64 > KY_GGUF_MAX_ALIGNMENT)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: key 'general.alignment' = %" PRIu64 " is not a power of two in [1, %u]",
                       g->path, v->v.u64, KY_GGUF_MAX_ALIGNMENT);
    g->alignment = v->v.u64;
    return KY_OK;
}

static ky_status parse(ky_gguf *g, ky_error *err) {
    reader r = {g->map.data, g->map.size, 0, g->path, err};
    ky_status st = parse_header(g, &r);
    if (st) return st;
    if ((st = parse_kvs(g, &r))) return st;
    int64_t dup[2];
    if (index_build(&g->key_index, g->n_kv, kv_name_of, g, dup))
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", g->path);
    if (dup[0] >= 0)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: duplicate key '%.*s' (metadata pairs %" PRId64 " and %" PRId64 ")",
                       g->path, NAME_IN_MSG, g->kvs[dup[0]].key, dup[0], dup[1]);
    if ((st = parse_alignment(g, err))) return st;

    if ((st = parse_tensor_infos(g, &r))) return st;
    if (index_build(&g->tensor_index, g->n_tensors, tensor_name_of, g, dup))
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", g->path);
    if (dup[0] >= 0)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: duplicate tensor name '%.*s' (tensors %" PRId64 " and %" PRId64 ")",
                       g->path, NAME_IN_MSG, g->tensors[dup[0]].name, dup[0], dup[1]);
    g->header_end = r.pos;
    if (ky_align_up_u64(r.pos, g->alignment, &g->data_offset))
        return ky_errf(err, KY_ERR_FORMAT, "%s: data offset overflows", g->path);
    /* Files without tensors may end right after the header, unpadded; with tensors, a missing
     * data section is reported by check_tensor_data on the first tensor. */
    if (g->data_offset > g->map.size && g->n_tensors == 0) return KY_OK;
    return check_tensor_data(g, &r);
}

/* Takes ownership of g (with path and map set): parses, and on failure frees it. */
static ky_status finish_open(ky_gguf *g, ky_gguf **out, ky_error *err) {
    ky_status st = parse(g, err);
    if (st) {
        sanitize_message(err);
        ky_gguf_close(g);
        return st;
    }
    *out = g;
    return KY_OK;
}

static ky_gguf *new_handle(const char *path, ky_error *err) {
    ky_gguf *g = calloc(1, sizeof *g);
    if (g) g->path = dup_n(path, strlen(path));
    if (!g || !g->path) {
        free(g);
        ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    return g;
}

ky_status ky_gguf_open(const char *path, ky_gguf **out, ky_error *err) {
    if (!path || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "ky_gguf_open: NULL argument");
    ky_gguf *g = new_handle(path, err);
    if (!g) return KY_ERR_NOMEM;
    ky_status st = ky_file_map(path, &g->map, err);
    if (st) {
        sanitize_message(err);
        ky_gguf_close(g);
        return st;
    }
    return finish_open(g, out, err);
}

ky_status gguf_open_memory(const void *data, size_t size, const char *name, ky_gguf **out,
                           ky_error *err) {
    if ((!data && size) || !name || !out)
        return ky_errf(err, KY_ERR_INVALID_ARG, "gguf_open_memory: NULL argument");
    ky_gguf *g = new_handle(name, err);
    if (!g) return KY_ERR_NOMEM;
    g->map.data = data;
    g->map.size = size;
    g->borrowed = true;
    return finish_open(g, out, err);
}

void ky_gguf_close(ky_gguf *g) {
    if (!g) return;
    if (g->kvs)
        for (int64_t i = 0; i < g->n_kv; i++) {
            free(g->kvs[i].key);
            free(g->kvs[i].arr.offsets);
        }
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    free(g->key_index);
    free(g->tensor_index);
    if (!g->borrowed) ky_file_unmap(&g->map);
    free(g->path);
    free(g);
}

/* ----------------------------------------------------------------------------------------------
 * Accessors
 * -------------------------------------------------------------------------------------------- */

const char *gguf_path(const ky_gguf *g) { return g->path; }
uint32_t ky_gguf_version(const ky_gguf *g) { return g->version; }
uint64_t ky_gguf_alignment(const ky_gguf *g) { return g->alignment; }
uint64_t ky_gguf_data_offset(const ky_gguf *g) { return g->data_offset; }
uint64_t gguf_header_end(const ky_gguf *g) { return g->header_end; }
uint64_t ky_gguf_file_size(const ky_gguf *g) { return g->map.size; }
int64_t ky_gguf_n_kv(const ky_gguf *g) { return g->n_kv; }
int64_t ky_gguf_n_tensors(const ky_gguf *g) { return g->n_tensors; }

const char *ky_gguf_kv_key(const ky_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_kv) ? g->kvs[i].key : NULL;
}

ky_gguf_value ky_gguf_kv_value(const ky_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) {
        ky_gguf_value none;
        memset(&none, 0, sizeof none);
        none.type = UINT32_MAX;
        return none;
    }
    return g->kvs[i].value;
}

void gguf_kv_raw(const ky_gguf *g, int64_t kv, const uint8_t **ptr, uint64_t *len) {
    *ptr = g->map.data + g->kvs[kv].raw_off;
    *len = g->kvs[kv].raw_len;
}

int64_t ky_gguf_find_key(const ky_gguf *g, const char *key) {
    return index_find(g->key_index, g->n_kv, key);
}

int64_t ky_gguf_find_tensor(const ky_gguf *g, const char *name) {
    return index_find(g->tensor_index, g->n_tensors, name);
}

ky_status ky_gguf_tensor(const ky_gguf *g, int64_t i, ky_gguf_tensor_info *out) {
    if (i < 0 || i >= g->n_tensors || !out) return KY_ERR_INVALID_ARG;
    const gguf_tensor *t = &g->tensors[i];
    out->name = t->name;
    out->name_len = t->name_len;
    out->type = t->type;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->offset = t->offset;
    out->n_bytes = t->n_bytes;
    out->data = g->map.data + g->data_offset + t->offset;
    return KY_OK;
}

/* Decodes the element of type `type` at p (validated at open) into out. */
static void decode_element(uint32_t type, const uint8_t *p, ky_gguf_value *out) {
    if (gguf_type_size(type)) {
        *out = decode_scalar(type, p);
        return;
    }
    memset(out, 0, sizeof *out);
    out->type = type;
    if (type == KY_GGUF_STRING) {
        out->v.str.len = le64(p);
        out->v.str.ptr = (const char *)p + 8;
    } else {
        out->v.arr.elem_type = le32(p);
        out->v.arr.n = le64(p + 4);
    }
}

ky_status ky_gguf_array_get(const ky_gguf *g, int64_t kv, uint64_t i, ky_gguf_value *out) {
    return ky_gguf_array_get_nested(g, kv, &i, 1, out);
}

/* Bytes of the element of type `type` at p, which lies in [p, end); 0 when it does not fit
 * (cannot happen for data validated at open, checked anyway). */
static uint64_t element_size(uint32_t type, const uint8_t *p, const uint8_t *end, int depth) {
    uint64_t avail = (uint64_t)(end - p);
    uint64_t esz = gguf_type_size(type);
    if (esz) return esz <= avail ? esz : 0;
    if (type == KY_GGUF_STRING) {
        if (avail < 8) return 0;
        uint64_t n = le64(p);
        return n <= avail - 8 ? n + 8 : 0;
    }
    if (type != KY_GGUF_ARRAY || avail < 12 || depth > KY_GGUF_MAX_ARRAY_DEPTH) return 0;
    uint32_t et = le32(p);
    uint64_t n = le64(p + 4), off = 12;
    uint64_t fixed = gguf_type_size(et);
    if (fixed) {
        uint64_t bytes;
        if (ky_mul_overflow_u64(n, fixed, &bytes) || bytes > avail - off) return 0;
        return off + bytes;
    }
    for (uint64_t k = 0; k < n; k++) {
        uint64_t s = element_size(et, p + off, end, depth + 1);
        if (s == 0) return 0;
        off += s;
    }
    return off;
}

ky_status ky_gguf_array_get_nested(const ky_gguf *g, int64_t kv, const uint64_t *path, size_t depth,
                                   ky_gguf_value *out) {
    if (kv < 0 || kv >= g->n_kv || !path || depth == 0 || !out) return KY_ERR_INVALID_ARG;
    const gguf_kv *p = &g->kvs[kv];
    if (p->value.type != KY_GGUF_ARRAY) return KY_ERR_TYPE;
    if (path[0] >= p->arr.n) return KY_ERR_INVALID_ARG;
    uint32_t type = p->arr.elem_type;
    uint64_t esz = gguf_type_size(type);
    const uint8_t *e = esz ? p->arr.data + path[0] * esz : g->map.data + p->arr.offsets[path[0]];
    const uint8_t *end = g->map.data + g->header_end;
    for (size_t level = 1; level < depth; level++) {
        if (type != KY_GGUF_ARRAY) return KY_ERR_TYPE;
        type = le32(e);
        uint64_t n = le64(e + 4);
        if (path[level] >= n) return KY_ERR_INVALID_ARG;
        e += 12;
        esz = gguf_type_size(type);
        if (esz) {
            e += path[level] * esz;
        } else {
            for (uint64_t k = 0; k < path[level]; k++) {
                uint64_t s = element_size(type, e, end, (int)level + 2);
                if (s == 0) return KY_ERR_INTERNAL;
                e += s;
            }
        }
    }
    decode_element(type, e, out);
    return KY_OK;
}

void gguf_arr_str(const ky_gguf *g, int64_t kv, uint64_t i, const char **ptr, uint64_t *len) {
    const uint8_t *e = g->map.data + g->kvs[kv].arr.offsets[i];
    *len = le64(e);
    *ptr = (const char *)e + 8;
}

const uint8_t *gguf_arr_data(const ky_gguf *g, int64_t kv) { return g->kvs[kv].arr.data; }

/* Typed getters ------------------------------------------------------------------------------ */

static ky_status find_typed(const ky_gguf *g, const char *key, const gguf_kv **kv, ky_error *err) {
    int64_t i = ky_gguf_find_key(g, key);
    if (i < 0)
        return ky_errf(err, KY_ERR_NOT_FOUND, "%s: key '%s' not found", g->path,
                       key ? key : "(null)");
    *kv = &g->kvs[i];
    return KY_OK;
}

static ky_status wrong_type(const ky_gguf *g, const gguf_kv *kv, const char *expected,
                            ky_error *err) {
    return ky_errf(err, KY_ERR_TYPE, "%s: key '%s' has type %s, expected %s", g->path, kv->key,
                   ky_gguf_type_name(kv->value.type), expected);
}

ky_status gguf_get_int(const ky_gguf *g, const char *key, int64_t *out, ky_error *err) {
    const gguf_kv *kv = NULL;
    ky_status st = find_typed(g, key, &kv, err);
    if (st) return st;
    switch (kv->value.type) {
    case KY_GGUF_U8:
    case KY_GGUF_U16:
    case KY_GGUF_U32:
    case KY_GGUF_U64:
        if (kv->value.v.u64 > (uint64_t)INT64_MAX)
            return ky_errf(err, KY_ERR_FORMAT, "%s: key '%s' = %" PRIu64 " is too large", g->path,
                           key, kv->value.v.u64);
        *out = (int64_t)kv->value.v.u64;
        return KY_OK;
    case KY_GGUF_I8:
    case KY_GGUF_I16:
    case KY_GGUF_I32:
    case KY_GGUF_I64: *out = kv->value.v.i64; return KY_OK;
    default: return wrong_type(g, kv, "an integer", err);
    }
}

ky_status gguf_get_int_range(const ky_gguf *g, const char *key, int64_t lo, int64_t hi,
                             int64_t *out, ky_error *err) {
    int64_t v;
    ky_status st = gguf_get_int(g, key, &v, err);
    if (st) return st;
    if (v < lo || v > hi)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: key '%s' = %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", g->path,
                       key, v, lo, hi);
    *out = v;
    return KY_OK;
}

ky_status gguf_get_float(const ky_gguf *g, const char *key, double *out, ky_error *err) {
    const gguf_kv *kv = NULL;
    ky_status st = find_typed(g, key, &kv, err);
    if (st) return st;
    if (kv->value.type != KY_GGUF_F32 && kv->value.type != KY_GGUF_F64)
        return wrong_type(g, kv, "f32 or f64", err);
    *out = kv->value.v.f64;
    return KY_OK;
}

ky_status gguf_get_bool(const ky_gguf *g, const char *key, bool *out, ky_error *err) {
    const gguf_kv *kv = NULL;
    ky_status st = find_typed(g, key, &kv, err);
    if (st) return st;
    if (kv->value.type != KY_GGUF_BOOL) return wrong_type(g, kv, "bool", err);
    *out = kv->value.v.u64 != 0;
    return KY_OK;
}

ky_status gguf_get_str(const ky_gguf *g, const char *key, const char **ptr, uint64_t *len,
                       ky_error *err) {
    const gguf_kv *kv = NULL;
    ky_status st = find_typed(g, key, &kv, err);
    if (st) return st;
    if (kv->value.type != KY_GGUF_STRING) return wrong_type(g, kv, "string", err);
    *ptr = kv->value.v.str.ptr;
    *len = kv->value.v.str.len;
    return KY_OK;
}

ky_status gguf_get_arr(const ky_gguf *g, const char *key, uint32_t *elem_type, uint64_t *n,
                       int64_t *kv_index, ky_error *err) {
    const gguf_kv *kv = NULL;
    ky_status st = find_typed(g, key, &kv, err);
    if (st) return st;
    if (kv->value.type != KY_GGUF_ARRAY) return wrong_type(g, kv, "array", err);
    *elem_type = kv->arr.elem_type;
    *n = kv->arr.n;
    *kv_index = kv - g->kvs;
    return KY_OK;
}
