/* gguf_read.c — validating, zero-copy GGUF reader (layer: gguf; uses tensor/ type traits).
 *
 * The whole header is parsed and checked at open time against the mapped file size with
 * overflow-checked arithmetic; afterwards every accessor is a bounds-safe table lookup. Strings and
 * tensor data are views into the mapping. Errors name the file and the key, tensor or byte offset.
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
    uint64_t *offsets; /* string / array elements only; malloc'd */
} gguf_array;

typedef struct gguf_kv {
    char *key; /* NUL-terminated copy (keys may not contain NUL; checked) */
    ky_gguf_value value;
    gguf_array arr; /* when value.type == ARRAY */
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

/* Open-addressing index from names to entry numbers (-1 = empty). */
typedef struct name_index {
    int64_t *slots;
    uint64_t mask;
} name_index;

struct ky_gguf {
    char *path;
    ky_mapping map;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    gguf_kv *kvs;
    int64_t n_tensors;
    gguf_tensor *tensors;
    name_index key_index;
    name_index tensor_index;
};

typedef struct reader {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
    ky_error *err;
} reader;

/* ----------------------------------------------------------------------------------------------
 * Primitive reads (all bounds-checked)
 * -------------------------------------------------------------------------------------------- */

static ky_status truncated(reader *r, const char *what, const char *ctx) {
    return ky_errf(r->err, KY_ERR_FORMAT,
                   "%s: truncated file: %s%s%s at byte %" PRIu64 " (file has %" PRIu64 " bytes)",
                   r->path, what, ctx ? " of " : "", ctx ? ctx : "", r->pos, r->size);
}

static ky_status read_bytes(reader *r, void *dst, uint64_t n, const char *what, const char *ctx) {
    if (n > r->size - r->pos) return truncated(r, what, ctx);
    memcpy(dst, r->base + r->pos, (size_t)n);
    r->pos += n;
    return KY_OK;
}

static uint32_t le32(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static ky_status read_u32(reader *r, uint32_t *v, const char *what, const char *ctx) {
    uint8_t b[4] = {0};
    ky_status st = read_bytes(r, b, 4, what, ctx);
    if (st) return st;
    *v = le32(b);
    return KY_OK;
}

static uint64_t le64(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static ky_status read_u64(reader *r, uint64_t *v, const char *what, const char *ctx) {
    uint8_t b[8] = {0};
    ky_status st = read_bytes(r, b, 8, what, ctx);
    if (st) return st;
    *v = le64(b);
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

/* Copies up to 80 bytes of s into buf with non-printable bytes shown as '?', for messages. */
static const char *printable(const char *s, uint64_t n, char buf[96]) {
    size_t m = n > 80 ? 80 : (size_t)n, j = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[j++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    if (n > m) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
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
static ky_status parse_array(reader *r, uint32_t elem_type, uint64_t n, int depth, const char *key,
                             gguf_array *out) {
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
                           "%s: key '%s': array of %" PRIu64 " %s elements at byte %" PRIu64
                           " runs past the end of the file",
                           r->path, key, n, ky_gguf_type_name(elem_type), r->pos);
        r->pos += bytes;
        return KY_OK;
    }
    if (elem_type != KY_GGUF_STRING && elem_type != KY_GGUF_ARRAY)
        return ky_errf(r->err, KY_ERR_FORMAT, "%s: key '%s': unknown array element type %" PRIu32,
                       r->path, key, elem_type);
    if (elem_type == KY_GGUF_ARRAY && depth >= KY_GGUF_MAX_ARRAY_DEPTH)
        return ky_errf(r->err, KY_ERR_FORMAT, "%s: key '%s': arrays nested deeper than %d", r->path,
                       key, KY_GGUF_MAX_ARRAY_DEPTH);
    /* Every string or array element takes at least 8 (string) or 12 (array) bytes. */
    uint64_t min_each = elem_type == KY_GGUF_STRING ? 8 : 12;
    if (n > (r->size - r->pos) / min_each)
        return ky_errf(r->err, KY_ERR_FORMAT,
                       "%s: key '%s': array count %" PRIu64 " at byte %" PRIu64
                       " cannot fit in the file",
                       r->path, key, n, r->pos);
    if (out && n) {
        out->offsets = malloc((size_t)n * sizeof *out->offsets);
        if (!out->offsets)
            return ky_errf(r->err, KY_ERR_NOMEM,
                           "%s: key '%s': out of memory for %" PRIu64 " array elements", r->path,
                           key, n);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (out) out->offsets[i] = r->pos;
        ky_status st;
        if (elem_type == KY_GGUF_STRING) {
            const char *s;
            uint64_t len;
            st = read_str(r, &s, &len, UINT64_MAX, "array string element", key);
        } else {
            uint32_t t;
            uint64_t m;
            st = read_u32(r, &t, "nested array type", key);
            if (!st) st = read_u64(r, &m, "nested array count", key);
            if (!st) st = parse_array(r, t, m, depth + 1, key, NULL);
        }
        if (st) return st;
    }
    return KY_OK;
}

static ky_status parse_value(reader *r, gguf_kv *kv) {
    uint32_t type;
    ky_status st = read_u32(r, &type, "value type", kv->key);
    if (st) return st;
    memset(&kv->value, 0, sizeof kv->value);
    kv->value.type = type;
    uint64_t esz = gguf_type_size(type);
    if (esz) {
        if (esz > r->size - r->pos) return truncated(r, "value", kv->key);
        kv->value = decode_scalar(type, r->base + r->pos);
        r->pos += esz;
        return KY_OK;
    }
    if (type == KY_GGUF_STRING) {
        return read_str(r, &kv->value.v.str.ptr, &kv->value.v.str.len, UINT64_MAX, "string value",
                        kv->key);
    }
    if (type == KY_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        st = read_u32(r, &et, "array element type", kv->key);
        if (!st) st = read_u64(r, &n, "array count", kv->key);
        if (st) return st;
        kv->value.v.arr.elem_type = et;
        kv->value.v.arr.n = n;
        return parse_array(r, et, n, 1, kv->key, &kv->arr);
    }
    return ky_errf(r->err, KY_ERR_FORMAT, "%s: key '%s': unknown value type %" PRIu32, r->path,
                   kv->key, type);
}

/* ----------------------------------------------------------------------------------------------
 * Name index
 * -------------------------------------------------------------------------------------------- */

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Builds an index over n names; returns the index of an earlier duplicate in *dup (else -1). */
static ky_status index_build(name_index *ix, int64_t n, const char *(*name_of)(void *, int64_t),
                             void *ctx, int64_t *dup_first, int64_t *dup_second) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    ix->slots = malloc(cap * sizeof *ix->slots);
    if (!ix->slots) return KY_ERR_NOMEM;
    ix->mask = cap - 1;
    for (uint64_t i = 0; i < cap; i++) ix->slots[i] = -1;
    *dup_first = *dup_second = -1;
    for (int64_t i = 0; i < n; i++) {
        const char *name = name_of(ctx, i);
        uint64_t h = hash_name(name) & ix->mask;
        while (ix->slots[h] >= 0) {
            if (strcmp(name_of(ctx, ix->slots[h]), name) == 0) {
                *dup_first = ix->slots[h];
                *dup_second = i;
                return KY_OK;
            }
            h = (h + 1) & ix->mask;
        }
        ix->slots[h] = i;
    }
    return KY_OK;
}

static int64_t index_find(const name_index *ix, const char *name,
                          const char *(*name_of)(void *, int64_t), void *ctx) {
    if (!ix->slots) return -1;
    uint64_t h = hash_name(name) & ix->mask;
    while (ix->slots[h] >= 0) {
        if (strcmp(name_of(ctx, ix->slots[h]), name) == 0) return ix->slots[h];
        h = (h + 1) & ix->mask;
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
        char pbuf[96];
        if (klen == 0)
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: %s has an empty key", r->path, where);
        if (memchr(k, '\0', (size_t)klen))
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: key '%s' contains a NUL byte", r->path,
                           printable(k, klen, pbuf));
        g->kvs[i].key = dup_n(k, klen);
        if (!g->kvs[i].key) return ky_errf(r->err, KY_ERR_NOMEM, "%s: out of memory", r->path);
        st = parse_value(r, &g->kvs[i]);
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
        char pbuf[96];
        if (nlen == 0)
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: tensor %" PRId64 " has an empty name",
                           r->path, i);
        if (memchr(nm, '\0', (size_t)nlen))
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: tensor '%s': name contains a NUL byte",
                           r->path, printable(nm, nlen, pbuf));
        t->name = dup_n(nm, nlen);
        if (!t->name) return ky_errf(r->err, KY_ERR_NOMEM, "%s: out of memory", r->path);
        t->name_len = (size_t)nlen;
        if ((st = read_u32(r, &t->n_dims, "n_dims", t->name))) return st;
        if (t->n_dims < 1 || t->n_dims > KY_MAX_DIMS)
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%s': n_dims %" PRIu32 " outside [1, %d]", r->path, t->name,
                           t->n_dims, KY_MAX_DIMS);
        uint64_t n_elems = 1;
        for (uint32_t d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne;
            if ((st = read_u64(r, &ne, "dimension", t->name))) return st;
            if (ne == 0 || ne > (uint64_t)INT64_MAX || ky_mul_overflow_u64(n_elems, ne, &n_elems) ||
                n_elems > (uint64_t)INT64_MAX)
                return ky_errf(r->err, KY_ERR_FORMAT,
                               "%s: tensor '%s': dimension %" PRIu32 " = %" PRIu64
                               " is zero or overflows the element count",
                               r->path, t->name, d, ne);
            t->ne[d] = (int64_t)ne;
        }
        if ((st = read_u32(r, &t->type, "type", t->name))) return st;
        const ky_type_traits *tr = ky_type_get_traits(t->type);
        if (!tr)
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: tensor '%s': unknown type id %" PRIu32,
                           r->path, t->name, t->type);
        uint64_t row_bytes;
        if (!ky_type_row_bytes(t->type, t->ne[0], &row_bytes))
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%s': row size %" PRId64
                           " not a multiple of block size %" PRIu32 " (type %s)",
                           r->path, t->name, t->ne[0], tr->block_size, tr->name);
        uint64_t n_rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        if (ky_mul_overflow_u64(row_bytes, n_rows, &t->n_bytes))
            return ky_errf(r->err, KY_ERR_FORMAT, "%s: tensor '%s': byte size overflows", r->path,
                           t->name);
        if ((st = read_u64(r, &t->offset, "offset", t->name))) return st;
    }
    return KY_OK;
}

typedef struct offset_entry {
    uint64_t offset;
    int64_t index;
} offset_entry;

static int cmp_offset_entry(const void *a, const void *b) {
    const offset_entry *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static ky_status check_tensor_data(ky_gguf *g, reader *r) {
    uint64_t data_size = g->map.size >= g->data_offset ? g->map.size - g->data_offset : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%s': offset %" PRIu64
                           " not a multiple of alignment %" PRIu64,
                           r->path, t->name, t->offset, g->alignment);
        if (g->data_offset > g->map.size || t->offset > data_size ||
            t->n_bytes > data_size - t->offset)
            return ky_errf(r->err, KY_ERR_FORMAT,
                           "%s: tensor '%s': data [%" PRIu64 ", +%" PRIu64
                           ") lies outside the file's data section (%" PRIu64 " bytes)",
                           r->path, t->name, t->offset, t->n_bytes, data_size);
    }
    if (g->n_tensors < 2) return KY_OK;
    offset_entry *order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return ky_errf(r->err, KY_ERR_NOMEM, "%s: out of memory", r->path);
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = (offset_entry){g->tensors[i].offset, i};
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_offset_entry);
    ky_status st = KY_OK;
    for (int64_t k = 0; k + 1 < g->n_tensors; k++) {
        const gguf_tensor *a = &g->tensors[order[k].index], *b = &g->tensors[order[k + 1].index];
        if (a->offset + a->n_bytes > b->offset) {
            st = ky_errf(r->err, KY_ERR_FORMAT,
                         "%s: tensor '%s' [%" PRIu64 ", +%" PRIu64
                         ") overlaps tensor '%s' at %" PRIu64,
                         r->path, a->name, a->offset, a->n_bytes, b->name, b->offset);
            break;
        }
    }
    free(order);
    return st;
}

static ky_status parse(ky_gguf *g, ky_error *err) {
    reader r = {g->map.data, g->map.size, 0, g->path, err};
    uint8_t magic[4] = {0};
    ky_status st = read_bytes(&r, magic, 4, "magic", NULL);
    if (st) return st;
    if (memcmp(magic, "GGUF", 4) != 0)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")",
                       g->path, magic[0], magic[1], magic[2], magic[3]);
    if ((st = read_u32(&r, &g->version, "version", NULL))) return st;
    if (g->version == 1)
        return ky_errf(err, KY_ERR_UNSUPPORTED,
                       "%s: GGUF version 1 is obsolete and not supported; re-convert the model "
                       "with a current llama.cpp (versions 2 and 3 are read)",
                       g->path);
    if (g->version != 2 && g->version != 3)
        return ky_errf(err, KY_ERR_UNSUPPORTED,
                       "%s: unsupported GGUF version %" PRIu32 " (2 and 3 are read)", g->path,
                       g->version);
    uint64_t n_tensors, n_kv;
    if ((st = read_u64(&r, &n_tensors, "tensor count", NULL))) return st;
    if ((st = read_u64(&r, &n_kv, "metadata count", NULL))) return st;
    /* A KV pair needs >= 8+1+4+1 bytes, a tensor info >= 8+1+4+8+4+8: bound the counts by the
     * file size before allocating anything. */
    uint64_t rest = r.size - r.pos;
    if (n_kv > rest / 14)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: metadata count %" PRIu64 " is impossible for a file of %" PRIu64
                       " bytes",
                       g->path, n_kv, r.size);
    if (n_tensors > rest / 33)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: tensor count %" PRIu64 " is impossible for a file of %" PRIu64 " bytes",
                       g->path, n_tensors, r.size);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kvs);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kvs || !g->tensors) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", g->path);

    if ((st = parse_kvs(g, &r))) return st;
    int64_t d1, d2;
    if (index_build(&g->key_index, g->n_kv, kv_name_of, g, &d1, &d2))
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", g->path);
    if (d1 >= 0)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: duplicate key '%s' (pairs %" PRId64 " and %" PRId64 ")", g->path,
                       g->kvs[d1].key, d1, d2);

    g->alignment = KY_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = ky_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        const ky_gguf_value *v = &g->kvs[ai].value;
        if (v->type != KY_GGUF_U32)
            return ky_errf(err, KY_ERR_FORMAT,
                           "%s: key 'general.alignment' has type %s, "
                           "expected u32",
                           g->path, ky_gguf_type_name(v->type));
        if (v->v.u64 == 0 || (v->v.u64 & (v->v.u64 - 1)) || v->v.u64 > KY_GGUF_MAX_ALIGNMENT)
            return ky_errf(err, KY_ERR_FORMAT,
                           "%s: key 'general.alignment' = %" PRIu64
                           " is not a power of two in [1, %u]",
                           g->path, v->v.u64, KY_GGUF_MAX_ALIGNMENT);
        g->alignment = v->v.u64;
    }

    if ((st = parse_tensor_infos(g, &r))) return st;
    if (index_build(&g->tensor_index, g->n_tensors, tensor_name_of, g, &d1, &d2))
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", g->path);
    if (d1 >= 0)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: duplicate tensor name '%s' (tensors %" PRId64 " and %" PRId64 ")",
                       g->path, g->tensors[d1].name, d1, d2);
    if (ky_align_up_u64(r.pos, g->alignment, &g->data_offset))
        return ky_errf(err, KY_ERR_FORMAT, "%s: data offset overflows", g->path);
    if (g->n_tensors > 0 && g->data_offset > g->map.size)
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: truncated file: data section would start at "
                       "byte %" PRIu64 " but the file has %" PRIu64 " bytes",
                       g->path, g->data_offset, (uint64_t)g->map.size);
    return check_tensor_data(g, &r);
}

ky_status ky_gguf_open(const char *path, ky_gguf **out, ky_error *err) {
    if (!path || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "ky_gguf_open: NULL argument");
    ky_gguf *g = calloc(1, sizeof *g);
    if (!g) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    g->path = dup_n(path, strlen(path));
    if (!g->path) {
        free(g);
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    }
    ky_status st = ky_file_map(path, &g->map, err);
    if (!st) st = parse(g, err);
    if (st) {
        ky_gguf_close(g);
        return st;
    }
    *out = g;
    return KY_OK;
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
    free(g->key_index.slots);
    free(g->tensor_index.slots);
    ky_file_unmap(&g->map);
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

int64_t ky_gguf_find_key(const ky_gguf *g, const char *key) {
    return index_find(&g->key_index, key, kv_name_of, (void *)g);
}

int64_t ky_gguf_find_tensor(const ky_gguf *g, const char *name) {
    return index_find(&g->tensor_index, name, tensor_name_of, (void *)g);
}

ky_status ky_gguf_tensor(const ky_gguf *g, int64_t i, ky_gguf_tensor_info *out) {
    if (i < 0 || i >= g->n_tensors) return KY_ERR_INVALID_ARG;
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

ky_status ky_gguf_array_get(const ky_gguf *g, int64_t kv, uint64_t i, ky_gguf_value *out) {
    if (kv < 0 || kv >= g->n_kv) return KY_ERR_INVALID_ARG;
    const gguf_kv *p = &g->kvs[kv];
    if (p->value.type != KY_GGUF_ARRAY) return KY_ERR_TYPE;
    if (i >= p->arr.n) return KY_ERR_INVALID_ARG;
    uint64_t esz = gguf_type_size(p->arr.elem_type);
    if (esz) {
        *out = decode_scalar(p->arr.elem_type, p->arr.data + i * esz);
        return KY_OK;
    }
    const uint8_t *e = g->map.data + p->arr.offsets[i];
    memset(out, 0, sizeof *out);
    out->type = p->arr.elem_type;
    if (p->arr.elem_type == KY_GGUF_STRING) {
        out->v.str.len = le64(e);
        out->v.str.ptr = (const char *)e + 8;
    } else {
        out->v.arr.elem_type = le32(e);
        out->v.arr.n = le64(e + 4);
    }
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
    if (i < 0) return ky_errf(err, KY_ERR_NOT_FOUND, "%s: key '%s' not found", g->path, key);
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

ky_status gguf_get_float(const ky_gguf *g, const char *key, double *out, ky_error *err) {
    const gguf_kv *kv = NULL;
    ky_status st = find_typed(g, key, &kv, err);
    if (st) return st;
    if (kv->value.type != KY_GGUF_F32 && kv->value.type != KY_GGUF_F64)
        return wrong_type(g, kv, "f32", err);
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
