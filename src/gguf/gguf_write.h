/* gguf_write.h — GGUF writer: metadata and tensors to a file or a buffer (layer: gguf).
 *
 * Build a file by setting metadata pairs (kept in insertion order; setting an existing key
 * replaces its value in place) and adding tensors (kept in order, laid out back to back, each at
 * the next multiple of the alignment, padding zero-filled), then write it. Tensor bytes come from
 * borrowed pointers or from a fill callback invoked at write time, so multi-GB files are written
 * without holding their data in memory. Copying every pair and tensor of an open ky_gguf into a
 * fresh writer reproduces a llama.cpp / gguf-py file byte for byte.
 *
 * Every function returns a ky_status; on failure the writer keeps a message (naming the key or
 * tensor at fault) readable with gguf_writer_last_error(), and its content is unchanged.
 * The writer never writes a file its own reader would reject.
 */
#ifndef KY_GGUF_GGUF_WRITE_H
#define KY_GGUF_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct gguf_writer gguf_writer;

/* Produces the bytes of tensor tensor_index (its index in the writer) into dst, which holds
 * n_bytes zero bytes on entry. Called exactly once per fill tensor, in tensor order, from within
 * gguf_writer_write_*; dst is only valid during the call. */
typedef void (*gguf_fill_fn)(void *ctx, int64_t tensor_index, void *dst, uint64_t n_bytes);

/* Creates an empty writer for GGUF version 2 or 3 (0 = 3) with the given data alignment (a power
 * of two in [1, KY_GGUF_MAX_ALIGNMENT]; 0 = 32); an alignment other than 32 adds a
 * general.alignment u32 pair.
 * Errors: KY_ERR_INVALID_ARG (bad version/alignment), KY_ERR_NOMEM. The caller owns *out and
 * frees it with gguf_writer_free(). */
ky_status gguf_writer_create(uint32_t version, uint32_t alignment, gguf_writer **out,
                             ky_error *err);
void gguf_writer_free(gguf_writer *w);

/* Message of the last failed call ("" when none). Owned by the writer. */
const char *gguf_writer_last_error(const gguf_writer *w);

/* Files without tensors: when pad is true the header is still zero-padded to the alignment (as
 * ggml's gguf writer does); by default it is not (as gguf-py does for vocab-only files). Files
 * with tensors always pad the header and every tensor. */
void gguf_writer_set_pad_empty(gguf_writer *w, bool pad);

uint32_t gguf_writer_alignment(const gguf_writer *w);
int64_t gguf_writer_n_kv(const gguf_writer *w);
int64_t gguf_writer_n_tensors(const gguf_writer *w);

/* ---- metadata ------------------------------------------------------------------------------
 * Keys are NUL-terminated, non-empty, at most KY_GGUF_MAX_KEY_LEN bytes; they are copied.
 * Setting "general.alignment" (u32, power of two in [1, KY_GGUF_MAX_ALIGNMENT]) changes the
 * alignment of the data section; any other type or value for it is KY_ERR_INVALID_ARG. While an
 * array is open (gguf_writer_arr_begin) only arr_* calls are accepted. */

/* Sets a scalar or string value (v->type any type but ARRAY). Integer values are taken from
 * v->v.u64 (unsigned types, bool) or v->v.i64 (signed) and must fit the type; f32 and f64 from
 * v->v.f64 (f32 rounds); strings (any bytes, len may be 0) are copied. */
ky_status gguf_writer_set(gguf_writer *w, const char *key, const ky_gguf_value *v);
ky_status gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
ky_status gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
ky_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
ky_status gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
ky_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
ky_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
ky_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
ky_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
ky_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
ky_status gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
ky_status gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
/* String of len bytes (copied; not NUL-terminated in the file). */
ky_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, size_t len);

/* Array of n fixed-size elements of elem_type (u8..f64, bool) read from data as native C values
 * (uint8_t, int8_t, uint16_t, ..., float, bool, uint64_t, int64_t, double); copied. */
ky_status gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t elem_type,
                              const void *data, uint64_t n);
/* Array of n strings; lens[i] gives each length, or lens == NULL for NUL-terminated strings. */
ky_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                  const size_t *lens, uint64_t n);

/* Element-wise array building, for nested arrays and long arrays:
 *   arr_begin(w, "key", ARRAY); arr_begin(w, NULL, U32); arr_push(..)...; arr_end(w); ...;
 *   arr_end(w)
 * arr_begin with a key opens a top-level array pair; with key NULL it opens an array as the next
 * element of the innermost open array (whose element type must be ARRAY), up to
 * KY_GGUF_MAX_ARRAY_DEPTH levels. arr_push appends one element (v->type must equal the innermost
 * array's element type; rules as gguf_writer_set). arr_end closes the innermost array; closing
 * the top level stores the pair. */
ky_status gguf_writer_arr_begin(gguf_writer *w, const char *key, uint32_t elem_type);
ky_status gguf_writer_arr_push(gguf_writer *w, const ky_gguf_value *v);
ky_status gguf_writer_arr_end(gguf_writer *w);

/* Copies pair kv of an open file with its exact encoding (same type, same bytes, nested arrays
 * included). The bytes are copied: g may be closed afterwards. */
ky_status gguf_writer_copy_kv(gguf_writer *w, const ky_gguf *g, int64_t kv);

/* Removes a pair (KY_ERR_NOT_FOUND when absent). Removing general.alignment restores 32. */
ky_status gguf_writer_remove_key(gguf_writer *w, const char *key);

/* ---- tensors -------------------------------------------------------------------------------
 * name: NUL-terminated, non-empty, at most KY_GGUF_MAX_NAME_LEN bytes, unique (copied). type: a
 * known ky_type; n_dims in [1, 4]; ne[0..n_dims-1] > 0 with ne[0] a multiple of the type's block
 * size and the byte size representable. Violations are KY_ERR_INVALID_ARG naming the tensor.
 * On success *index (if not NULL) receives the tensor's index. */

/* data (the tensor's n_bytes) is borrowed: it must stay valid until the last write call. */
ky_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                 const int64_t *ne, const void *data, int64_t *index);
/* The bytes are produced by fill(ctx, index, dst, n_bytes) when the file is written. */
ky_status gguf_writer_add_tensor_fill(gguf_writer *w, const char *name, uint32_t type,
                                      uint32_t n_dims, const int64_t *ne, gguf_fill_fn fill,
                                      void *ctx, int64_t *index);
/* Adds tensor i of an open file (same name, type, dims) with its data borrowed from g's
 * mapping: g must stay open until the last write call. */
ky_status gguf_writer_copy_tensor(gguf_writer *w, const ky_gguf *g, int64_t i, int64_t *index);

/* ---- output --------------------------------------------------------------------------------- */

/* Total bytes the written file will have (header, padding, data), or 0 when an array is open. */
uint64_t gguf_writer_size(const gguf_writer *w);

/* Writes the file to path (mode 0666 & ~umask for a new file). The bytes go to a sibling
 * "<path>.tmp-*" that is renamed over path on success and removed on failure, so path may be
 * the file that borrowed tensor data comes from, and nobody sees a partial file. Fill tensors are
 * produced straight into a shared mapping of the file (page cache, not heap). Errors:
 * KY_ERR_IO (naming path, the step and the system error; also when path exists and is not a
 * regular file), KY_ERR_INVALID_ARG (array open). */
ky_status gguf_writer_write_file(gguf_writer *w, const char *path);

/* Writes the file into a malloc'd buffer; the caller owns *data (free()). */
ky_status gguf_writer_write_memory(gguf_writer *w, uint8_t **data, size_t *size);

#endif
