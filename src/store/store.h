/* store.h — internal interface of the model store (layer: store; above os/ and base/, used by
 * engine-level callers only through kaiyuan.h).
 *
 * The public functions (ky_model_ref_parse, ky_pull, ky_store_*) are in kaiyuan.h. Inside, a pull is a
 * state machine whose every state can be resumed from disk:
 *   list (hub.c parses the hub's JSON) → choose (quant, split parts) → fetch ranges (fetch.c,
 *   libcurl) → verify (size, sha256.c) → rename into place → manifest (manifest.c).
 * ref.c parses REFs and holds the catalogue; ollama.c reads ollama's manifests.
 */
#ifndef KY_STORE_STORE_H
#define KY_STORE_STORE_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* ---- hub listings (hub.c) ----------------------------------------------------------------- */

typedef struct store_file {
    char *path;      /* validated repository path (malloc'd) */
    uint64_t size;   /* bytes, <= KY_STORE_MAX_FILE_BYTES */
    char sha256[65]; /* lowercase hex, "" when the hub gave none */
} store_file;

typedef struct store_listing {
    store_file *files;
    size_t n;
} store_listing;

/* Parses a Hugging Face listing: the model API object (`siblings[]` with `rfilename`, `size`,
 * `lfs.sha256`/`lfs.size`) or the tree API array (`path`, `size`, `lfs.oid`). Entries with bad
 * paths (absolute, "..", control bytes) or sizes are skipped; directories are skipped. Errors:
 * KY_ERR_FORMAT (not JSON / not a listing; message names `what`), KY_ERR_NOMEM. The caller frees
 * *out with store_listing_free. len is at most KY_STORE_MAX_LISTING. */
ky_status store_parse_hf_listing(const char *json, size_t len, const char *what, store_listing *out,
                                 ky_error *err);
/* Parses a ModelScope listing: {"Code":200,"Data":{"Files":[{"Path","Size","Sha256","Type"}]}}
 * (Type "tree" entries skipped). A "Code" other than 200 is KY_ERR_NOT_FOUND (message with the
 * hub's "Message"). Otherwise as store_parse_hf_listing. */
ky_status store_parse_ms_listing(const char *json, size_t len, const char *what, store_listing *out,
                                 ky_error *err);
void store_listing_free(store_listing *l);

/* true when p (len bytes) is a safe relative repository path: '/'-separated components of 1..255
 * bytes, none "." or "..", no backslash, no control byte, at most KY_STORE_MAX_REPO_PATH. */
bool store_valid_repo_path(const char *p, size_t len);

/* The quantization named in a GGUF file name ("qwen2.5-0.5b-instruct-q4_k_m.gguf" → "Q4_K_M",
 * "Model-BF16-00001-of-00002.gguf" → "BF16"), upper case into quant. false when the name is not
 * a .gguf file, is a vision projector (mmproj*) or carries no recognisable quant. */
bool store_file_quant(const char *path, char quant[KY_REF_QUANT_MAX]);

/* Split-file suffix: "X-00002-of-00005.gguf" gives *part 2, *count 5 and *prefix_len (bytes of
 * "X"). false when path has no such suffix or the numbers are out of range (1 <= part <= count
 * <= KY_STORE_MAX_PARTS). */
bool store_split_name(const char *path, int *part, int *count, size_t *prefix_len);

/* Chooses the files of quant (upper case; "" = the only quant of the repository, else Q4_K_M):
 * one file, or every part of a split set in order. idx receives up to KY_STORE_MAX_PARTS listing
 * indexes, *n_idx their count, chosen the quant picked. Errors (message names `what`):
 * KY_ERR_NOT_FOUND when the repository has no GGUF file, or none of quant — then the message
 * lists the quants there are; KY_ERR_FORMAT when a split set lacks parts. */
ky_status store_select(const store_listing *l, const char *quant, const char *what, size_t *idx,
                       size_t *n_idx, char chosen[KY_REF_QUANT_MAX], ky_error *err);

/* ---- references (ref.c) ------------------------------------------------------------------- */

/* Directory of a REF's source below HOME/models and HOME/manifests ("hf.co", "modelscope.cn"). */
const char *store_source_dir(ky_source source);

/* ---- downloads (fetch.c) ------------------------------------------------------------------ */

typedef struct store_http_ctx {
    const char *token;      /* bearer token or NULL */
    const char *hub;        /* "Hugging Face", "ModelScope": for messages */
    const char *token_var;  /* "HF_TOKEN", "MODELSCOPE_API_TOKEN" */
    const char *mirror_var; /* "HF_ENDPOINT", "MODELSCOPE_ENDPOINT" */
} store_http_ctx;

/* GETs url into a malloc'd NUL-terminated buffer of at most max bytes. Errors carry the actionable
 * messages of kaiyuan.h's ky_pull (network, 401/403, 404, other HTTP statuses, too large). */
ky_status store_http_get(const store_http_ctx *h, const char *url, size_t max, char **body,
                         size_t *len, ky_error *err);

/* One file to fetch into final_path (via final_path.partial, locked by final_path.lock). */
typedef struct store_fetch {
    const char *url;
    const char *final_path;
    const char *repo_path; /* for messages and progress */
    uint64_t size;
    const char *sha256; /* expected hex or "" */
    int32_t index, count;
    char sha256_out[65]; /* the verified hash of the file in place */
} store_fetch;

/* Makes final_path hold the file: returns at once when it is already there with the right size
 * (hashing it when the expected hash is known and sha256_out is needed), otherwise downloads with
 * resume from the .partial file, verifies and renames. Errors as ky_pull. */
ky_status store_fetch_file(const store_http_ctx *h, const ky_store_params *p, store_fetch *f,
                           ky_error *err);

/* Creates every missing directory of path's parent (0755). Errors: KY_ERR_IO naming the
 * directory and telling to set KAIYUAN_HOME to a writable directory. */
ky_status store_mkdirs_for(const char *path, ky_error *err);

/* ---- manifests (manifest.c) and ollama (ollama.c) ------------------------------------------ */

/* Writes e's manifest atomically to HOME/manifests/<source>/OWNER/REPO/QUANT.json with the list
 * of files (repository path, store path, size, sha256). Errors: KY_ERR_IO, KY_ERR_NOMEM. */
ky_status store_manifest_write(const ky_store_params *p, const ky_model_ref *ref, const ky_store_entry *e,
                               const store_file *files, const char *const *local_paths, size_t n,
                               ky_error *err);

/* Reads an ollama manifest of ref (ref->source == KY_SOURCE_OLLAMA) into *out. Errors:
 * KY_ERR_NOT_FOUND (no such model in ollama's store, naming the directory searched),
 * KY_ERR_FORMAT (no model layer, bad digest), KY_ERR_IO. */
ky_status store_ollama_find(const ky_store_params *p, const ky_model_ref *ref, ky_store_entry *out,
                            ky_error *err);
/* Appends every model of ollama's store to *list (grown with realloc; *n entries, *cap room).
 * A missing directory adds nothing. Errors: KY_ERR_NOMEM. */
ky_status store_ollama_list(const ky_store_params *p, ky_store_entry **list, size_t *n, size_t *cap,
                            ky_error *err);

/* snprintf into a path buffer; false when the result did not fit (buf then holds a truncated,
 * NUL-terminated string that names no file of ours). */
bool store_pathf(char *buf, size_t cap, const char *fmt, ...) KY_PRINTF(3, 4);

/* Reads a whole small file (at most max bytes) into a malloc'd NUL-terminated buffer. Errors:
 * KY_ERR_NOT_FOUND (ENOENT), KY_ERR_IO, KY_ERR_FORMAT (larger than max), KY_ERR_NOMEM. */
ky_status store_read_small(const char *path, size_t max, char **out, size_t *len, ky_error *err);
/* store_read_small of a manifest (at most KY_STORE_MAX_MANIFEST bytes) parsed as JSON: *root is
 * the parsed value (the caller owns it: json_decref), or NULL when the bytes are not JSON. Only
 * reading fails (the statuses of store_read_small). */
ky_status store_read_json(const char *path, json_t **root, ky_error *err);

#endif
