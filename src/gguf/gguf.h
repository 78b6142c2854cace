/* gguf.h — internal interface of the validating GGUF reader (layer: gguf).
 *
 * File layout (little-endian; v3 and v2 are encoded identically, v1 is rejected):
 *
 *   "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv ×      { str key | u32 type | value }          str = u64 len | bytes (no NUL)
 *   n_tensors × { str name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   zero padding to general.alignment (default 32)
 *   data section: tensor bytes at aligned offsets relative to its start
 *
 *   value = scalar (u8 i8 u16 i16 u32 i32 f32 bool u64 i64 f64: 1/2/4/8 bytes)
 *         | str
 *         | array = u32 elem_type | u64 n | n × element (elements may be strings or arrays)
 *
 * ky_gguf_open() parses and validates everything up front (sizes against the file, overflow,
 * duplicates, alignment, overlap), so later accesses cannot fail or read out of bounds. The public
 * part of the API is in kaiyuan.h; this header adds an in-memory entry point, typed getters for
 * the model and tokenizer, and raw access for the writer.
 */
#ifndef KY_GGUF_GGUF_H
#define KY_GGUF_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define KY_GGUF_DEFAULT_ALIGNMENT 32

/* Opens and validates a GGUF image held in memory (same parser and checks as ky_gguf_open).
 * data/size are borrowed: they must stay valid and unchanged until ky_gguf_close(); tensor data
 * pointers are only as aligned as data itself. name (copied) stands for the file in messages and
 * gguf_path(). Errors as ky_gguf_open. */
ky_status gguf_open_memory(const void *data, size_t size, const char *name, ky_gguf **out,
                           ky_error *err);

/* Path of the file as given to ky_gguf_open (NUL-terminated, owned by the handle). */
const char *gguf_path(const ky_gguf *g);

/* Typed getters. Missing key → KY_ERR_NOT_FOUND; other type → KY_ERR_TYPE; value not
 * representable → KY_ERR_FORMAT. Each message names the file and the key. *out is written only
 * on success. */
/* Any integer type (u8..i64) whose value fits in int64. */
ky_status gguf_get_int(const ky_gguf *g, const char *key, int64_t *out, ky_error *err);
/* As gguf_get_int, and the value must lie in [lo, hi] (else KY_ERR_FORMAT naming the range). */
ky_status gguf_get_int_range(const ky_gguf *g, const char *key, int64_t lo, int64_t hi,
                             int64_t *out, ky_error *err);
/* f32 or f64. */
ky_status gguf_get_float(const ky_gguf *g, const char *key, double *out, ky_error *err);
ky_status gguf_get_bool(const ky_gguf *g, const char *key, bool *out, ky_error *err);
/* String as pointer + length into the mapping (not NUL-terminated). */
ky_status gguf_get_str(const ky_gguf *g, const char *key, const char **ptr, uint64_t *len,
                       ky_error *err);
/* Array: element type and count; *kv_index receives the pair index for ky_gguf_array_get. */
ky_status gguf_get_arr(const ky_gguf *g, const char *key, uint32_t *elem_type, uint64_t *n,
                       int64_t *kv_index, ky_error *err);

/* Fast element access for arrays validated at open. Caller guarantees kv is an array of the
 * named element type and i < n. Strings: pointer + length into the mapping. */
void gguf_arr_str(const ky_gguf *g, int64_t kv, uint64_t i, const char **ptr, uint64_t *len);
/* Pointer to the raw little-endian elements of a fixed-size-element array (may be unaligned). */
const uint8_t *gguf_arr_data(const ky_gguf *g, int64_t kv);

/* The encoded value of pair kv exactly as stored in the file: u32 type followed by the payload
 * (for arrays: element type, count and every element). Points into the mapping. kv must be in
 * [0, n_kv). Used by the writer to copy pairs bit for bit. */
void gguf_kv_raw(const ky_gguf *g, int64_t kv, const uint8_t **ptr, uint64_t *len);

/* File offset just past the last tensor info (where the padding before the data section
 * starts). */
uint64_t gguf_header_end(const ky_gguf *g);

/* Opens a model file that may be the first part of a split model (gguf_split.c): when its
 * split.count is above 1, also its parts PREFIX-0000K-of-0000N.gguf beside it, each checked
 * (split.no, split.count, the total split.tensors.count). *out receives a malloc'd array of *n
 * handles (first the given file); free with gguf_split_close. Errors: ky_gguf_open's for any part
 * (message naming the part), KY_ERR_INVALID_ARG when path is not the first part, KY_ERR_FORMAT
 * for inconsistent split keys or a name that does not follow the pattern, KY_ERR_NOMEM. */
ky_status gguf_split_open(const char *path, ky_gguf ***out, int *n, ky_error *err);
void gguf_split_close(ky_gguf **parts, int n);

/* Bytes of one element of a fixed-size GGUF type, 0 for string/array/unknown. */
uint64_t gguf_type_size(uint32_t type);

#endif
