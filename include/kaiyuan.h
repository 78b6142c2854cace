/* kaiyuan.h — the public C API of the kaiyuan inference engine.
 *
 * Everything the CLI (and later the HTTP server) does goes through this header: GGUF inspection,
 * model loading, contexts with a multi-sequence KV cache, batched decoding, tokenization and
 * sampling. Handles are opaque. Functions return a ky_status; results are written through
 * out-parameters only on success. Error messages come from exactly two places:
 *   - functions that take a ky_error* (may be NULL): ky_gguf_open, ky_model_load,
 *     ky_context_create, ky_sampler_create, ky_synth_plan, ky_synth_write and the model store
 *     functions (ky_model_ref_parse, ky_store_*, ky_pull). On failure it
 *     receives the status and a message naming the file/tensor/key/field at fault.
 *   - a ky_context keeps the message of its last failed call (ky_context_last_error): ky_decode,
 *     ky_kv_seq_keep, ky_kv_seq_copy, and on a pipeline ky_kv_clear, ky_pipe_serve and
 *     ky_pipe_shutdown.
 * Every other function (ky_gguf_tensor, ky_gguf_array_get*, ky_tokenize, ky_token_to_piece,
 * ky_detokenize, ky_detok_stream_*, ky_batch_*) has no message: its comment lists the statuses it
 * returns and what each means. A ky_model, ky_gguf or ky_sampler holds no error state (a loaded
 * model is never written to, so calls on it leave nothing behind).
 *
 * Threading: a handle may be used by one thread at a time. A ky_model is read-only after loading
 * and may be shared by several contexts.
 */
#ifndef KAIYUAN_H
#define KAIYUAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KY_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------------------------------------
 * Status and errors
 * ------------------------------------------------------------------------------------------- */

typedef enum ky_status {
    KY_OK = 0,
    KY_ERR_INVALID_ARG = 1,  /* the caller passed a value out of range */
    KY_ERR_IO = 2,           /* open/read/write/mmap failed */
    KY_ERR_FORMAT = 3,       /* malformed input (file bytes, text) */
    KY_ERR_UNSUPPORTED = 4,  /* well-formed but not supported (version, arch, type) */
    KY_ERR_NOMEM = 5,        /* allocation failed or a size overflowed */
    KY_ERR_NOT_FOUND = 6,    /* a key, tensor or token is missing */
    KY_ERR_TYPE = 7,         /* a metadata value has another type than asked for */
    KY_ERR_CONTEXT_FULL = 8, /* the KV cache cannot hold the tokens */
    KY_ERR_INTERNAL = 9,     /* a bug: please report */
    KY_ERR_NETWORK = 10,     /* a host cannot be reached, or a transfer broke off */
    KY_ERR_DENIED = 11,      /* the server refused access (HTTP 401/403: token needed) */
    KY_ERR_CANCELLED = 12,   /* the caller's progress callback asked to stop */
} ky_status;

/* Short stable name of a status ("ok", "format", ...). Never NULL. */
const char *ky_status_name(ky_status status);

/* Error detail for the functions that take a ky_error* (listed at the top). Written only on
 * failure: status is the returned status and message a NUL-terminated sentence. */
#define KY_ERROR_MAX 512
typedef struct ky_error {
    ky_status status;
    char message[KY_ERROR_MAX];
} ky_error;

/* ---------------------------------------------------------------------------------------------
 * Tensor types (ids are the GGUF/ggml type ids)
 * ------------------------------------------------------------------------------------------- */

typedef enum ky_type {
    KY_TYPE_F32 = 0,
    KY_TYPE_F16 = 1,
    KY_TYPE_Q4_0 = 2,
    KY_TYPE_Q4_1 = 3,
    KY_TYPE_Q5_0 = 6,
    KY_TYPE_Q5_1 = 7,
    KY_TYPE_Q8_0 = 8,
    KY_TYPE_Q8_1 = 9,
    KY_TYPE_Q2_K = 10,
    KY_TYPE_Q3_K = 11,
    KY_TYPE_Q4_K = 12,
    KY_TYPE_Q5_K = 13,
    KY_TYPE_Q6_K = 14,
    KY_TYPE_Q8_K = 15,
    KY_TYPE_BF16 = 30,
    KY_TYPE_COUNT = 40, /* upper bound of ids; not every id below it is a type */
} ky_type;

/* llama.cpp's name of a type ("f32", "q4_K", ...), or NULL for an unknown id. */
const char *ky_type_name(uint32_t type);
/* true when kaiyuan can store, dequantize and multiply tensors of this type. */
bool ky_type_is_supported(uint32_t type);

/* ---------------------------------------------------------------------------------------------
 * GGUF files (read-only inspection). Strings returned point into the file mapping and are valid
 * until ky_gguf_close(); they are NOT NUL-terminated, use the returned length.
 * ------------------------------------------------------------------------------------------- */

typedef struct ky_gguf ky_gguf;

typedef enum ky_gguf_type {
    KY_GGUF_U8 = 0,
    KY_GGUF_I8 = 1,
    KY_GGUF_U16 = 2,
    KY_GGUF_I16 = 3,
    KY_GGUF_U32 = 4,
    KY_GGUF_I32 = 5,
    KY_GGUF_F32 = 6,
    KY_GGUF_BOOL = 7,
    KY_GGUF_STRING = 8,
    KY_GGUF_ARRAY = 9,
    KY_GGUF_U64 = 10,
    KY_GGUF_I64 = 11,
    KY_GGUF_F64 = 12,
} ky_gguf_type;

/* Name of a GGUF value type ("u32", "string", "array", ...), or "?" for unknown ids. */
const char *ky_gguf_type_name(uint32_t type);

typedef struct ky_gguf_tensor_info {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    uint32_t type;   /* ky_type */
    uint32_t n_dims; /* 1..4 */
    int64_t ne[4];   /* ne[0] is contiguous; unused dims are 1 */
    uint64_t offset; /* relative to the data section */
    uint64_t n_bytes;
    const void *data; /* into the mapping */
} ky_gguf_tensor_info;

/* A metadata value as a view into the mapping. Scalars are decoded; arrays are described by their
 * element type and count and read element-wise with ky_gguf_array_*. */
typedef struct ky_gguf_value {
    uint32_t type; /* ky_gguf_type */
    union {
        uint64_t u64; /* u8, u16, u32, u64, bool */
        int64_t i64;  /* i8, i16, i32, i64 */
        double f64;   /* f32, f64 */
        struct {
            const char *ptr;
            uint64_t len;
        } str;
        struct {
            uint32_t elem_type;
            uint64_t n;
        } arr;
    } v;
} ky_gguf_value;

/* Opens and fully validates a GGUF file (v2 or v3) by memory-mapping it. On failure *out is
 * untouched and err (if not NULL) names the file and the offending key/tensor/byte offset:
 * KY_ERR_INVALID_ARG (NULL path/out), KY_ERR_IO (cannot open/stat/map; not a regular file),
 * KY_ERR_FORMAT (malformed bytes), KY_ERR_UNSUPPORTED (GGUF version other than 2 and 3,
 * big-endian), KY_ERR_NOMEM.
 * The caller owns *out and frees it with ky_gguf_close(). */
ky_status ky_gguf_open(const char *path, ky_gguf **out, ky_error *err);
void ky_gguf_close(ky_gguf *gguf);

uint32_t ky_gguf_version(const ky_gguf *gguf);
uint64_t ky_gguf_alignment(const ky_gguf *gguf);
uint64_t ky_gguf_data_offset(const ky_gguf *gguf); /* file offset of the data section */
uint64_t ky_gguf_file_size(const ky_gguf *gguf);

int64_t ky_gguf_n_kv(const ky_gguf *gguf);
/* Key i as a NUL-terminated string owned by the handle; NULL when i is outside [0, n_kv). */
const char *ky_gguf_kv_key(const ky_gguf *gguf, int64_t i);
/* Value of pair i (see ky_gguf_value); type is UINT32_MAX (no ky_gguf_type) when i is outside
 * [0, n_kv), so a missing ky_gguf_find_key result (-1) reads as "no such value". */
ky_gguf_value ky_gguf_kv_value(const ky_gguf *gguf, int64_t i);
/* Index of key, or -1. */
int64_t ky_gguf_find_key(const ky_gguf *gguf, const char *key);

/* Element i of the array value of pair kv. Scalar elements are widened like ky_gguf_value
 * scalars; string elements give pointer/length; an element that is itself an array gives its
 * element type and count (read its elements with ky_gguf_array_get_nested). No message.
 * Returns KY_OK; KY_ERR_INVALID_ARG when kv is outside [0, n_kv), i >= the array's length or out
 * is NULL; KY_ERR_TYPE when pair kv is not an array. */
ky_status ky_gguf_array_get(const ky_gguf *gguf, int64_t kv, uint64_t i, ky_gguf_value *out);
/* Element of a nested array: path[0] indexes the array of pair kv, path[1] the array found there,
 * and so on (depth >= 1; depth 1 is ky_gguf_array_get). No message. Returns KY_OK;
 * KY_ERR_TYPE when pair kv or any level but the last is not an array; KY_ERR_INVALID_ARG when kv
 * is outside [0, n_kv), an index is past its array's length, path/out is NULL or depth is 0.
 * Elements of variable size (strings, arrays) below the first level are found by walking their
 * array, so the cost grows with the index. */
ky_status ky_gguf_array_get_nested(const ky_gguf *gguf, int64_t kv, const uint64_t *path,
                                   size_t depth, ky_gguf_value *out);

int64_t ky_gguf_n_tensors(const ky_gguf *gguf);
/* Describes tensor i (in file order; pointers into the handle and the mapping). No message.
 * Returns KY_OK, or KY_ERR_INVALID_ARG when i is outside [0, n_tensors) or out is NULL. Every
 * tensor was validated at open, so a valid index never fails. */
ky_status ky_gguf_tensor(const ky_gguf *gguf, int64_t i, ky_gguf_tensor_info *out);
/* Index of the tensor named name, or -1. */
int64_t ky_gguf_find_tensor(const ky_gguf *gguf, const char *name);

/* ---------------------------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------------------------- */

typedef struct ky_model ky_model;
typedef int32_t ky_token;

typedef struct ky_model_params {
    bool vocab_only; /* load metadata and tokenizer only (works on vocab-only GGUF files) */
    /* Pipeline stage (see "Pipeline stages" below): bind only the layers [layer_begin,
     * layer_end), the token embeddings when layer_begin is 0 and the output norm and head when
     * layer_end is the model's layer count; no other tensor is bound or read. 0, 0 = all. A
     * range outside the model's layers is KY_ERR_INVALID_ARG. */
    int32_t layer_begin, layer_end;
} ky_model_params;

ky_model_params ky_model_default_params(void);

/* Loads a model (llama, qwen2, qwen3, qwen3moe) from a GGUF file. Weights stay in the mapping in
 * their file type. A split model (llama.cpp's gguf-split: PREFIX-00001-of-0000N.gguf and its
 * sibling parts, split.count > 1) loads as one model from the path of its first part;
 * file_bytes then counts every part. On failure err names the file and the missing/mis-shaped tensor, unsupported
 * architecture or type: ky_gguf_open's statuses, KY_ERR_NOT_FOUND (missing key or tensor),
 * KY_ERR_FORMAT (bad shape or value), KY_ERR_UNSUPPORTED (architecture, tensor type, tokenizer),
 * KY_ERR_NOMEM. The caller owns *out (ky_model_free). */
ky_status ky_model_load(const char *path, const ky_model_params *params, ky_model **out,
                        ky_error *err);
void ky_model_free(ky_model *model);

typedef struct ky_model_info {
    const char *arch; /* "llama", "qwen2", ... (owned by the model) */
    const char *name; /* general.name or "" */
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim; /* key/value length per head */
    int32_t n_ff;     /* dense FFN width, or expert FFN width for MoE */
    int32_t n_expert; /* 0 for dense models */
    int32_t n_expert_used;
    float rope_freq_base;
    float rms_eps;
    bool tied_output;  /* output projection shares token_embd */
    uint64_t n_params; /* number of weights */
    uint64_t file_bytes;
    uint64_t weight_bytes;          /* bytes of tensor data */
    const char *file_type;          /* dominant weight type name, e.g. "q4_K" */
    int32_t layer_begin, layer_end; /* layers loaded ([0, n_layer) unless a pipeline stage) */
} ky_model_info;

void ky_model_get_info(const ky_model *model, ky_model_info *out);

/* The model's chat template (tokenizer.chat_template) or NULL; owned by the model, NUL-terminated. */
const char *ky_model_chat_template(const ky_model *model);

/* ---------------------------------------------------------------------------------------------
 * Vocabulary and tokenization
 * ------------------------------------------------------------------------------------------- */

#define KY_TOKEN_NULL (-1)

typedef enum ky_token_attr {
    KY_TOKEN_NORMAL = 1,
    KY_TOKEN_UNKNOWN = 2,
    KY_TOKEN_CONTROL = 3,
    KY_TOKEN_USER_DEFINED = 4,
    KY_TOKEN_UNUSED = 5,
    KY_TOKEN_BYTE = 6,
} ky_token_attr;

int32_t ky_vocab_n_tokens(const ky_model *model);
ky_token ky_vocab_bos(const ky_model *model); /* KY_TOKEN_NULL when absent */
ky_token ky_vocab_eos(const ky_model *model);
ky_token ky_vocab_eot(const ky_model *model);
bool ky_vocab_add_bos(const ky_model *model);            /* metadata says prepend BOS */
bool ky_vocab_is_eog(const ky_model *model, ky_token t); /* end of generation (EOS, EOT, ...) */
/* Type of token t; 0 when t is out of range or the model has no tokenizer. */
ky_token_attr ky_vocab_token_attr(const ky_model *model, ky_token t);
/* "llama" (SentencePiece) or "gpt2" (byte-level BPE) etc.; "none" when the file has none. */
const char *ky_vocab_kind(const ky_model *model);
/* Token t's text as stored in the vocabulary ("▁He", "<0x0A>", "Ġhello", "<|im_start|>"): a view
 * into the model (not NUL-terminated, *len bytes), or NULL when t is out of range. */
const char *ky_vocab_token_text(const ky_model *model, ky_token t, size_t *len);

enum {
    KY_TOKENIZE_ADD_BOS = 1u << 0,       /* prepend BOS (when the vocabulary has one) */
    KY_TOKENIZE_PARSE_SPECIAL = 1u << 1, /* match control/user-defined tokens in the text */
};

/* Tokenizes len bytes of text (any bytes; invalid UTF-8 is handled, never read past len).
 * Semantics are Hugging Face's: SentencePiece vocabularies add the ▁ prefix, byte-level BPE uses
 * the pre-tokenizer named by tokenizer.ggml.pre (and NFC for Qwen). Without PARSE_SPECIAL,
 * control and user-defined token texts (e.g. "<|im_start|>", "<think>") are plain text.
 * Writes at most cap ids to out (out may be NULL with cap 0 to count) and the full count to
 * *n_out. No message. Returns KY_OK; KY_ERR_INVALID_ARG with *n_out set to the needed count when
 * cap is too small, and with *n_out 0 for a NULL model or n_out (then untouched), NULL text with
 * len > 0, or len above 256 MiB; KY_ERR_UNSUPPORTED when the model has no usable tokenizer;
 * KY_ERR_NOMEM; KY_ERR_INTERNAL when the pre-tokenizer's regular expression fails to match. */
ky_status ky_tokenize(const ky_model *model, const char *text, size_t len, unsigned flags,
                      ky_token *out, size_t cap, size_t *n_out);

enum {
    KY_DETOK_SPECIAL = 1u << 0,     /* print control tokens' text */
    KY_DETOK_KEEP_LEADING = 1u << 1 /* SPM: do not strip the leading space of the first piece */
};

/* Bytes of one token as they would be printed (SPM ▁ → space, byte tokens → raw byte, BPE bytes
 * decoded). Control and unknown tokens print only with KY_DETOK_SPECIAL, user-defined tokens
 * always, unused tokens never; no leading space is stripped. Writes at most cap bytes, sets
 * *n_out to the full length. No message. Returns KY_OK; KY_ERR_INVALID_ARG when the length is
 * larger than cap (*n_out still set), and with *n_out 0 for an id out of range or a NULL model
 * or n_out (then untouched); KY_ERR_UNSUPPORTED when the model has no tokenizer. */
ky_status ky_token_to_piece(const ky_model *model, ky_token t, unsigned flags, char *out,
                            size_t cap, size_t *n_out);

/* Decodes n ids to text (flags as above). SPM vocabularies drop the leading space of the first
 * printed piece (the ▁ prefix tokenization added) unless KY_DETOK_KEEP_LEADING, so
 * ky_detokenize(ky_tokenize(s)) == s for text the vocabulary can represent (Qwen: NFC of s).
 * Same buffer contract and statuses as ky_token_to_piece (an id out of range anywhere in ids, or
 * ids NULL with n > 0, is KY_ERR_INVALID_ARG), plus KY_ERR_NOMEM when the length overflows. */
ky_status ky_detokenize(const ky_model *model, const ky_token *ids, size_t n, unsigned flags,
                        char *out, size_t cap, size_t *n_out);

/* Streaming decoder: feed tokens one at a time and get back only complete UTF-8 text; partial
 * characters are held until the next token completes them (or flushed as-is by _flush). None of
 * these functions keeps a message. */
typedef struct ky_detok_stream ky_detok_stream;
/* flags as for ky_detokenize. The caller owns *out (ky_detok_stream_free); the model must outlive
 * it. KY_ERR_INVALID_ARG (NULL model/out), KY_ERR_UNSUPPORTED (no tokenizer), KY_ERR_NOMEM. */
ky_status ky_detok_stream_create(const ky_model *model, unsigned flags, ky_detok_stream **out);
void ky_detok_stream_free(ky_detok_stream *stream);
/* Decodes token t: *text and *len receive the newly completed text (a view valid until the next
 * call; may be empty). KY_ERR_INVALID_ARG for an id out of range or a NULL argument,
 * KY_ERR_NOMEM. */
ky_status ky_detok_stream_push(ky_detok_stream *stream, ky_token t, const char **text, size_t *len);
/* Returns the held bytes (an incomplete character) as-is and empties the stream.
 * KY_ERR_INVALID_ARG for a NULL argument, KY_ERR_NOMEM. */
ky_status ky_detok_stream_flush(ky_detok_stream *stream, const char **text, size_t *len);

/* ---------------------------------------------------------------------------------------------
 * Contexts, batches and the KV cache
 * ------------------------------------------------------------------------------------------- */

typedef struct ky_context ky_context;

typedef struct ky_context_params {
    int32_t n_ctx;     /* positions per sequence; 0 = the model's trained length (capped 4096) */
    int32_t n_seq_max; /* sequences the KV cache holds at once (>= 1) */
    int32_t n_batch;   /* most tokens one ky_decode call may carry */
    int32_t n_threads; /* 0 = number of physical cores */
    uint32_t kv_type;  /* KY_TYPE_F16 (default) or KY_TYPE_F32 */
    /* Pipeline stage (see "Pipeline stages"): NULL for a context that runs the whole model.
     * Copied at creation; the transport's user state must outlive the context. */
    const struct ky_pipe_transport *pipe;
    int32_t pipe_ubatch; /* tokens per pipeline micro-batch (at most 256); 0 = split a batch in
                            which a sequence has several tokens into 2 × n_ranks micro-batches,
                            and keep a decode batch (one token per sequence) whole */
} ky_context_params;

ky_context_params ky_context_default_params(void);

/* Creates a context over a model: allocates the KV cache and all scratch memory (nothing is
 * allocated per token afterwards). n_ctx above the model's trained length is capped to it.
 * The model must outlive the context. The caller owns *out (ky_context_free). Errors (message in
 * err): KY_ERR_INVALID_ARG (NULL argument, vocab-only model, parameter out of range naming it),
 * KY_ERR_NOMEM. */
ky_status ky_context_create(ky_model *model, const ky_context_params *params, ky_context **out,
                            ky_error *err);
void ky_context_free(ky_context *ctx);

/* Message of the last failed ky_decode / ky_kv_seq_keep / ky_kv_seq_copy on this context ("" when
 * the last ky_decode succeeded and nothing failed since). Owned by the context; valid until the
 * next call on it. */
const char *ky_context_last_error(const ky_context *ctx);
int32_t ky_context_n_ctx(const ky_context *ctx);
int32_t ky_context_n_batch(const ky_context *ctx);
int32_t ky_context_n_threads(const ky_context *ctx);
uint64_t ky_context_kv_bytes(const ky_context *ctx);

/* A batch: n_tokens entries of (token, position, sequence id, want logits). */
typedef struct ky_batch {
    int32_t n_tokens;
    int32_t capacity;
    ky_token *token;
    int32_t *pos;
    int32_t *seq_id;
    bool *logits;
} ky_batch;

/* Allocates a batch with room for capacity tokens. Free with ky_batch_free. No message:
 * KY_ERR_INVALID_ARG when capacity < 1, KY_ERR_NOMEM; *batch is empty (freeable) on failure. */
ky_status ky_batch_init(ky_batch *batch, int32_t capacity);
void ky_batch_free(ky_batch *batch);
void ky_batch_clear(ky_batch *batch);
/* Appends one entry (values are checked by ky_decode). No message: KY_ERR_INVALID_ARG when the
 * batch is full. */
ky_status ky_batch_add(ky_batch *batch, ky_token token, int32_t pos, int32_t seq_id, bool logits);

/* Runs one forward pass over the batch. For each sequence, the batch's positions must continue
 * that sequence's cached positions without gaps (pos == ky_kv_seq_len for the first one).
 * Afterwards logits are available for entries with logits=true. Errors (message in
 * ky_context_last_error): KY_ERR_INVALID_ARG (token/pos/seq out of range, empty batch, > n_batch
 * tokens), KY_ERR_CONTEXT_FULL; on these the cache is unchanged. KY_ERR_NOMEM when the logits
 * buffer cannot grow. */
ky_status ky_decode(ky_context *ctx, const ky_batch *batch);

/* Logits (n_vocab floats) of batch entry i of the last ky_decode, or NULL when that entry did not
 * ask for logits. Valid until the next ky_decode. */
const float *ky_get_logits(const ky_context *ctx, int32_t i);

/* Number of cached positions of a sequence (its next position). */
int32_t ky_kv_seq_len(const ky_context *ctx, int32_t seq_id);
/* Keeps the first n_keep positions of a sequence and drops the rest (0 drops all; n_keep past
 * the sequence's length keeps it whole). KY_ERR_INVALID_ARG (message in ky_context_last_error)
 * for a sequence id outside [0, n_seq_max) or n_keep < 0. */
ky_status ky_kv_seq_keep(ky_context *ctx, int32_t seq_id, int32_t n_keep);
/* Copies the first n positions of sequence src into dst (dst's previous content is dropped).
 * KY_ERR_INVALID_ARG (message in ky_context_last_error) for a sequence id outside
 * [0, n_seq_max) or n outside [0, ky_kv_seq_len(src)]. */
ky_status ky_kv_seq_copy(ky_context *ctx, int32_t src, int32_t dst, int32_t n);
/* Drops every sequence. On rank 0 of a pipeline these three calls also reach the other ranks;
 * a transport failure is then KY_ERR_NETWORK (for ky_kv_clear only in ky_context_last_error). */
void ky_kv_clear(ky_context *ctx);

/* ---------------------------------------------------------------------------------------------
 * Pipeline stages: one model's layers split across R processes (ranks), e.g. on several hosts.
 *
 * Rank r loads its contiguous range of layers (ky_model_params.layer_begin/end; rank 0 from
 * layer 0, the last rank up to the model's last layer, each range starting where the previous
 * one ends) and creates its context with the same parameters as every other rank plus a
 * transport. Rank 0 is used like any context: ky_decode splits the batch into micro-batches in
 * token order, runs its layers on each and sends the hidden states (with positions, sequence ids
 * and logit flags) to rank 1 while it computes the next one; rank r runs its layers and passes
 * them on; the last rank computes the logits of the entries that asked for them and sends them
 * back, so ky_get_logits on rank 0 returns exactly what one process would (kernels are
 * batch-exact and every rank processes the micro-batches in order, so causal attention across
 * them is exact). ky_kv_seq_keep, ky_kv_seq_copy and ky_kv_clear on rank 0 reach every rank, in
 * order with the batches. The other ranks call ky_pipe_serve, which runs until rank 0's
 * ky_pipe_shutdown (also done by ky_context_free on rank 0).
 *
 * ky_context_create on every rank exchanges a handshake along the chain (rank 0 → 1 → ... →
 * last → 0) that checks that the ranks agree on the model's shape, the context parameters and
 * the layer ranges; a mismatch fails the create on the rank that sees it (KY_ERR_INVALID_ARG,
 * message naming the field). The transport moves opaque byte messages; failures it reports
 * (KY_ERR_NETWORK with a message) end the decode or the serve loop with that status.
 * ------------------------------------------------------------------------------------------- */

typedef struct ky_pipe_transport {
    int32_t rank;    /* this process's stage, 0..n_ranks-1 */
    int32_t n_ranks; /* stages (>= 2) */
    void *user;      /* passed to the callbacks */
    /* Sends n bytes to rank `to`; returns once buf may be reused. Messages between two ranks
     * arrive in the order they were sent. On failure returns a status and fills err. */
    ky_status (*send)(void *user, int32_t to, const void *buf, size_t n, ky_error *err);
    /* Receives the next message from rank `from` into buf (at most cap bytes; a longer message
     * is an error) and stores its length in *n. Blocks until it arrives. */
    ky_status (*recv)(void *user, int32_t from, void *buf, size_t cap, size_t *n, ky_error *err);
} ky_pipe_transport;

/* Where a rank's time went, per kind of batch: [0] batches in which some sequence has more than
 * one token (prefill), [1] the others (decode steps). busy_s is time in this rank's layers (and
 * head), wait_s time blocked in the transport while a batch was under way — on ranks > 0 from
 * the end of the previous batch, so idle time between batches counts as waiting. The bubble of
 * a rank is wait_s / (busy_s + wait_s). */
typedef struct ky_pipe_stats {
    int32_t rank, layer_begin, layer_end;
    int64_t n_batches[2];
    int64_t n_ubatches[2];
    int64_t n_tokens[2];
    double busy_s[2];
    double wait_s[2];
    uint64_t bytes_sent[2]; /* bytes this rank sent (hidden states, logits) */
} ky_pipe_stats;

/* Runs the stage loop of rank > 0 until rank 0 shuts the pipeline down (KY_OK). Errors (message
 * in ky_context_last_error): KY_ERR_INVALID_ARG when ctx is not a pipeline rank > 0, the
 * transport's status when it fails, KY_ERR_FORMAT for a malformed message. */
ky_status ky_pipe_serve(ky_context *ctx);
/* Rank 0: tells every other rank to leave ky_pipe_serve. Later calls (and ky_context_free) do
 * nothing. No-op on a context that is not rank 0 of a pipeline. Errors as the transport's. */
ky_status ky_pipe_shutdown(ky_context *ctx);
/* This rank's counters since creation or the last reset (zeroed for a plain context). */
void ky_pipe_get_stats(const ky_context *ctx, ky_pipe_stats *out);
void ky_pipe_reset_stats(ky_context *ctx);

/* ---------------------------------------------------------------------------------------------
 * Sampling
 * ------------------------------------------------------------------------------------------- */

typedef struct ky_logit_bias {
    ky_token token;
    float bias; /* added to the logit; -INFINITY bans the token */
} ky_logit_bias;

typedef struct ky_sampler_params {
    float temperature;       /* 0: greedy (argmax, ties to the lowest id); < 0 invalid */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* in (0, 1]; 1: off */
    float min_p;             /* in [0, 1]; 0: off */
    float repeat_penalty;    /* 1: off */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    int32_t penalty_last_n;  /* window of recent accepted tokens the penalties look at;
                                -1 = all since the last reset, 0 = penalties off */
    uint64_t seed;
    const ky_logit_bias *logit_bias; /* copied at creation */
    size_t n_logit_bias;
} ky_sampler_params;

typedef struct ky_sampler ky_sampler;

ky_sampler_params ky_sampler_default_params(void);
/* Validates params and sizes every buffer for n_vocab (nothing is allocated per call later).
 * KY_ERR_INVALID_ARG with a message naming the field for: negative or non-finite temperature,
 * top_p outside (0,1], min_p outside [0,1], repeat_penalty <= 0, non-finite penalties,
 * penalty_last_n < -1, a logit-bias token outside [0, n_vocab) or a NaN/+inf bias, n_vocab out of
 * range. params NULL means the defaults. The caller owns *out (ky_sampler_free). */
ky_status ky_sampler_create(const ky_sampler_params *params, int32_t n_vocab, ky_sampler **out,
                            ky_error *err);
void ky_sampler_free(ky_sampler *sampler);
/* Picks a token from n_vocab logits (not modified; NaN counts as banned). Chain: logit bias,
 * penalties, top-k, top-p, min-p, temperature, softmax, draw. Deterministic given seed, params and
 * the history of accept/sample calls. Does not accept the token. KY_TOKEN_NULL when every token is
 * banned (-inf). */
ky_token ky_sampler_sample(ky_sampler *sampler, const float *logits);
/* Records a token (prompt or generated) in the penalty history; out-of-range ids are ignored. */
void ky_sampler_accept(ky_sampler *sampler, ky_token token);
/* Clears the history and reseeds the generator with the creation seed. */
void ky_sampler_reset(ky_sampler *sampler);

/* Speculative decoding: samples from the same distribution as ky_sampler_sample, given a drafted
 * token. Greedy (temperature 0): returns the argmax, *accepted = (argmax == draft), so output is
 * identical to decoding without drafts. Otherwise it uses the speculative-sampling rule for a
 * point-mass draft: accept the draft with its target probability p(draft), else draw from p with
 * the draft removed and renormalised; the result is distributed exactly as p. Consumes two
 * uniform draws per call. Does not accept the token. accepted may be NULL. */
ky_token ky_sampler_sample_draft(ky_sampler *sampler, const float *logits, ky_token draft,
                                 bool *accepted);

/* Prompt-lookup drafting: finds the most recent earlier occurrence in hist[0..n) of its longest
 * suffix of n_max down to n_min tokens and copies up to cap of the tokens that followed it into
 * out. Returns their count (0: no match, or bad arguments). O(n · n_max). */
size_t ky_draft_ngram(const ky_token *hist, size_t n, int32_t n_min, int32_t n_max, ky_token *out,
                      size_t cap);

/* ---------------------------------------------------------------------------------------------
 * Chat templates: the model's own Jinja template (tokenizer.chat_template) rendered exactly as
 * Hugging Face transformers renders it, in a sandbox (every template is untrusted input: steps,
 * recursion, output and memory are bounded and exceeding a bound is an error naming the line).
 * A rendering remembers which bytes came from the template and which from the caller's data
 * (message contents, names, tool definitions), and ky_chat_prompt_tokenize matches special
 * tokens only in template bytes: a user who types "<|im_start|>" gets plain text.
 * ------------------------------------------------------------------------------------------- */

typedef struct ky_chat_template ky_chat_template;
typedef struct ky_chat_prompt ky_chat_prompt;

/* Parses a template (len bytes; name is used in messages, may be NULL). Errors (message names
 * the template and line): KY_ERR_FORMAT (syntax), KY_ERR_UNSUPPORTED (source over the limit),
 * KY_ERR_INVALID_ARG, KY_ERR_NOMEM. The caller owns *out (ky_chat_template_free). */
ky_status ky_chat_template_parse(const char *source, size_t len, const char *name,
                                 ky_chat_template **out, ky_error *err);
/* The model's tokenizer.chat_template, parsed. KY_ERR_NOT_FOUND when the model has none; the
 * statuses of ky_chat_template_parse otherwise. */
ky_status ky_chat_template_from_model(const ky_model *model, ky_chat_template **out, ky_error *err);
/* The generic ChatML template (<|im_start|>role\ncontent<|im_end|>), the fallback for models
 * without a usable template. */
ky_status ky_chat_template_chatml(ky_chat_template **out, ky_error *err);
void ky_chat_template_free(ky_chat_template *tmpl);

enum {
    /* Normalise OpenAI-style messages before rendering: content given as an array of
     * {"type":"text","text":...} parts becomes their texts joined with "\n" (other part types
     * are KY_ERR_UNSUPPORTED), null content becomes "", and tool-call "arguments" given as a
     * JSON string holding an object become that object. Without it the variables are passed
     * exactly as given (as transformers does). */
    KY_CHAT_OPENAI = 1u << 0,
};

/* Renders a conversation. vars_json (len bytes) is a JSON object with the template variables
 * exactly as transformers passes them: "messages" (role system/user/assistant/tool, content,
 * tool_calls, reasoning_content, ...), "tools", "add_generation_prompt", and any others
 * ("enable_thinking", ...). Missing "tools" and "documents" are null, a missing
 * "add_generation_prompt" is false, and with a model missing "bos_token" / "eos_token" are the
 * model's token texts; bos_token and eos_token count as template text. strftime_now formats
 * the local time, or UTC SOURCE_DATE_EPOCH when that variable is set. Errors (message names the
 * template and line; raise_exception's text is the message): KY_ERR_INVALID_ARG (vars not a
 * JSON object, raise_exception, a type error in the template), KY_ERR_UNSUPPORTED (a sandbox
 * limit, an unknown filter), KY_ERR_FORMAT, KY_ERR_NOMEM. model may be NULL. The caller owns
 * *out (ky_chat_prompt_free). */
ky_status ky_chat_render(const ky_chat_template *tmpl, const ky_model *model, const char *vars_json,
                         size_t len, unsigned flags, ky_chat_prompt **out, ky_error *err);
/* The rendered text (NUL-terminated, *len bytes; len may be NULL), owned by the prompt. */
const char *ky_chat_prompt_text(const ky_chat_prompt *prompt, size_t *len);
/* Whether byte i of the text came from caller data (false for template text or i out of range). */
bool ky_chat_prompt_is_data(const ky_chat_prompt *prompt, size_t i);
/* Token ids of the rendering: special tokens are matched only in template text, no BOS is added
 * (templates write it). *ids is malloc'ed (caller frees with free()), *n its count. Errors:
 * KY_ERR_UNSUPPORTED (model without tokenizer), KY_ERR_INVALID_ARG, KY_ERR_NOMEM. */
ky_status ky_chat_prompt_tokenize(const ky_chat_prompt *prompt, const ky_model *model,
                                  ky_token **ids, size_t *n, ky_error *err);
void ky_chat_prompt_free(ky_chat_prompt *prompt);

/* The tokens that end an assistant turn: EOS, EOT and every end-of-generation token of the
 * vocabulary, plus <|im_end|>, <|eot_id|>, <|end|>, <|endoftext|> and DeepSeek's end of sentence
 * when the vocabulary has them. Writes at most cap ids (ascending, no duplicates) and returns
 * the full count. */
size_t ky_chat_stop_tokens(const ky_model *model, ky_token *out, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * Constrained decoding: grammars over bytes (GBNF text, JSON Schema, any JSON), a matcher bound
 * to a model's vocabulary that masks every token whose bytes would leave the grammar (a token may
 * end mid-character), and parsers that split model output into content, reasoning and tool
 * calls. Grammars, schemas and model output are untrusted: sizes, nesting and matcher states are
 * bounded (base/limits.h), and a bound turns into an error, never a crash.
 * ------------------------------------------------------------------------------------------- */

typedef struct ky_grammar ky_grammar;
typedef struct ky_grammar_vocab ky_grammar_vocab;
typedef struct ky_grammar_matcher ky_grammar_matcher;

/* Parses a GBNF grammar (llama.cpp syntax; the start rule is `root`). Errors (message
 * "grammar:LINE:COL: ..." for syntax): KY_ERR_FORMAT (syntax, undefined rule, left recursion, a
 * rule that can never finish), KY_ERR_UNSUPPORTED (a size limit), KY_ERR_INVALID_ARG,
 * KY_ERR_NOMEM. The caller owns *out (ky_grammar_free). */
ky_status ky_grammar_from_gbnf(const char *text, size_t len, ky_grammar **out, ky_error *err);
/* Compiles a JSON Schema (len bytes of JSON) to a grammar of the JSON texts it accepts, with
 * properties in the schema's order and bounded whitespace. Supported: type (also lists), const,
 * enum, properties, required, additionalProperties (false, true, schema; absent means false),
 * items, prefixItems, minItems, maxItems, anyOf, oneOf (as anyOf), allOf (of objects), local
 * $ref with $defs/definitions, minLength, maxLength, pattern (a regex subset without lookaround;
 * unanchored ends match any text), format (date, time, date-time, uuid, email), minimum,
 * maximum, exclusiveMinimum, exclusiveMaximum (integer bounds for numbers). Annotations (title,
 * description, default, examples, $schema, $id, $comment, ...) are ignored. Errors:
 * KY_ERR_UNSUPPORTED whose message names the unsupported keyword and its JSON pointer
 * ("unsupported JSON Schema keyword 'not' at /properties/a"), KY_ERR_FORMAT (not JSON, bad
 * values, unknown $ref), KY_ERR_NOMEM. The caller owns *out. */
ky_status ky_grammar_from_json_schema(const char *schema, size_t len, ky_grammar **out,
                                      ky_error *err);
/* The JSON Schema's grammar as GBNF text (what ky_grammar_from_json_schema parses); *gbnf is
 * malloc'ed and NUL-terminated (caller frees), *gbnf_len may be NULL. Errors as above. */
ky_status ky_json_schema_to_gbnf(const char *schema, size_t len, char **gbnf, size_t *gbnf_len,
                                 ky_error *err);
/* Any JSON object (OpenAI's response_format json_object), nesting bounded by
 * KY_GRAMMAR_JSON_MAX_DEPTH. The caller owns *out. */
ky_status ky_grammar_json(ky_grammar **out, ky_error *err);
/* ky_grammar_json's grammar as GBNF text (*gbnf malloc'ed, caller frees). KY_ERR_NOMEM. */
ky_status ky_json_object_gbnf(char **gbnf);
void ky_grammar_free(ky_grammar *grammar);

/* The byte trie of a model's token pieces (ky_token_to_piece without flags), built once per model
 * (~0.1 s for 150k tokens) and shared read-only by any number of matchers, also across threads.
 * Tokens with empty pieces (control tokens) are never allowed by a matcher; end-of-generation
 * tokens (ky_vocab_is_eog and ky_chat_stop_tokens) are allowed exactly where the grammar may end.
 * Errors: KY_ERR_UNSUPPORTED (no tokenizer), KY_ERR_INVALID_ARG, KY_ERR_NOMEM. The model must
 * outlive *out (ky_grammar_vocab_free). */
ky_status ky_grammar_vocab_create(const ky_model *model, ky_grammar_vocab **out, ky_error *err);
void ky_grammar_vocab_free(ky_grammar_vocab *vocab);

typedef struct ky_grammar_matcher_params {
    /* Lazy mode when n_triggers > 0: every token is allowed until the generated text contains a
     * trigger (e.g. "<tool_call>"); from the trigger's first byte on, the grammar constrains
     * the output (so the grammar must start with the trigger). When the grammar has finished
     * (nothing may follow), the matcher waits for a trigger again. Strings are copied. */
    const char *const *triggers;
    size_t n_triggers;
} ky_grammar_matcher_params;

/* Binds a grammar to a vocabulary: precomputes per grammar position which tokens are valid
 * whatever the surrounding context is (the cost grows with the grammar; ~10-300 ms on a 150k
 * vocabulary) and sizes every buffer, so accepting tokens and computing masks allocate nothing.
 * grammar and vocab must outlive the matcher; params may be NULL. Errors: KY_ERR_UNSUPPORTED (the
 * grammar is too ambiguous for the matcher limits, more than KY_TOOLCALL_MAX_TRIGGERS
 * triggers), KY_ERR_INVALID_ARG, KY_ERR_NOMEM. The caller owns *out. */
ky_status ky_grammar_matcher_create(const ky_grammar *grammar, const ky_grammar_vocab *vocab,
                                    const ky_grammar_matcher_params *params,
                                    ky_grammar_matcher **out, ky_error *err);
/* A new matcher at the start of the same grammar, vocabulary and triggers that shares the
 * precomputed token sets of src (no precomputation: the cost of sizing its buffers). src may be
 * freed before the clone; the grammar and vocabulary must outlive both. Matchers sharing tables
 * may be used from different threads. Errors: KY_ERR_INVALID_ARG, KY_ERR_NOMEM. */
ky_status ky_grammar_matcher_clone(const ky_grammar_matcher *src, ky_grammar_matcher **out,
                                   ky_error *err);
void ky_grammar_matcher_free(ky_grammar_matcher *matcher);
/* Back to the start of the grammar (lazy mode: waiting for a trigger). */
void ky_grammar_matcher_reset(ky_grammar_matcher *matcher);
/* Advances by token t. KY_OK; KY_ERR_INVALID_ARG when the grammar does not allow t here (the
 * state is then unchanged) or t is out of range; KY_ERR_UNSUPPORTED when a matcher limit was
 * hit. An end-of-generation token is allowed only where the grammar may end and finishes it. */
ky_status ky_grammar_matcher_accept_token(ky_grammar_matcher *matcher, ky_token t);
/* Advances by n raw bytes (for text forced into the output, tests). Statuses as above. */
ky_status ky_grammar_matcher_accept_bytes(ky_grammar_matcher *matcher, const char *bytes, size_t n);
/* Number of 32-bit words of a mask: ceil(n_vocab / 32). */
size_t ky_grammar_mask_words(const ky_grammar_matcher *matcher);
/* Writes the allowed tokens as a bit mask (bit t%32 of word t/32; n_words >= mask words).
 * Lazy mode before a trigger: every token. KY_ERR_INVALID_ARG (small buffer, NULL),
 * KY_ERR_UNSUPPORTED when a limit was hit (only tokens proven valid are set). */
ky_status ky_grammar_matcher_fill_mask(ky_grammar_matcher *matcher, uint32_t *mask, size_t n_words);
/* Sets logits[t] = -INFINITY for every token the grammar does not allow (n_vocab logits, in
 * place: pass a copy when the context's logits must stay intact). Statuses as fill_mask. */
ky_status ky_grammar_matcher_apply(ky_grammar_matcher *matcher, float *logits, int32_t n_vocab);
/* The grammar may end here (end-of-generation tokens are allowed). */
bool ky_grammar_matcher_can_end(const ky_grammar_matcher *matcher);
/* The grammar has ended: an end-of-generation token was accepted, or nothing may follow. */
bool ky_grammar_matcher_is_finished(const ky_grammar_matcher *matcher);
/* Lazy mode: a trigger was seen and the grammar constrains the output now (always true
 * without triggers). */
bool ky_grammar_matcher_is_active(const ky_grammar_matcher *matcher);
/* Seconds ky_grammar_matcher_create spent precomputing (benchmarks). */
double ky_grammar_matcher_build_seconds(const ky_grammar_matcher *matcher);

/* Tool-call formats of chat models. */
typedef enum ky_tool_format {
    KY_TOOL_FORMAT_NONE = 0,   /* no tool calls: content and reasoning only */
    KY_TOOL_FORMAT_HERMES = 1, /* Qwen2.5/3, QwQ: <tool_call>{"name", "arguments"}</tool_call> */
    KY_TOOL_FORMAT_QWEN3_CODER = 2, /* <tool_call><function=NAME><parameter=K>V</parameter>... */
    KY_TOOL_FORMAT_DEEPSEEK_R1 =
        3, /* <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
                                       ```json ARGS ```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜> */
    KY_TOOL_FORMAT_LLAMA3 = 4, /* Llama 3.1/3.2: the message is {"name", "parameters"} (optionally
                                       after <|python_tag|>, several separated by ';') */
} ky_tool_format;

/* The format a chat template's source uses (KY_TOOL_FORMAT_NONE when it has no tool markup). */
ky_tool_format ky_tool_format_detect(const char *template_source);
/* The text that opens a tool call in format f (the lazy-grammar trigger), or NULL. Static. */
const char *ky_tool_format_trigger(ky_tool_format f);

typedef enum ky_chat_event_type {
    KY_CHAT_EVENT_CONTENT = 0,   /* text / len: a piece of the answer */
    KY_CHAT_EVENT_REASONING = 1, /* text / len: a piece of the <think> block */
    KY_CHAT_EVENT_TOOL_CALL = 2, /* index, name, arguments (compact JSON object text) */
    /* With stream_arguments: a call's start (index, name), then its arguments as they arrive
     * (index, arguments: a fragment; the fragments of one call concatenate to its compact JSON
     * object text). A call streamed this way gets no KY_CHAT_EVENT_TOOL_CALL. */
    KY_CHAT_EVENT_TOOL_CALL_BEGIN = 3,
    KY_CHAT_EVENT_TOOL_CALL_ARGS = 4,
} ky_chat_event_type;

typedef struct ky_chat_event {
    ky_chat_event_type type;
    const char *text; /* views valid during the callback only; not NUL-terminated */
    size_t len;
    int32_t index; /* 0-based tool-call number in this output; -1 for text */
    const char *name;
    size_t name_len;
    const char *arguments;
    size_t arguments_len;
} ky_chat_event;

typedef void (*ky_chat_event_fn)(void *user, const ky_chat_event *event);

typedef struct ky_chat_parser_params {
    ky_tool_format format;
    bool reasoning;      /* split <think>...</think> into reasoning events */
    bool reasoning_open; /* the prompt already opened <think> (output starts inside it) */
    /* Hermes and DeepSeek-R1 formats: stream each call as TOOL_CALL_BEGIN + TOOL_CALL_ARGS
     * fragments (whitespace outside strings dropped) instead of one TOOL_CALL at its end. Meant
     * for constrained generation: a streamed call is not validated, so malformed arguments are
     * not turned back into content. A call whose text does not start as the format's header
     * (Hermes {"name": "...", "arguments": {, R1 <｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME
     * ```json {) is buffered and parsed whole as without this flag. */
    bool stream_arguments;
} ky_chat_parser_params;

typedef struct ky_chat_parser ky_chat_parser;

/* A streaming parser of model output (the detokenized text). Feeding the same text split in any
 * way gives the same concatenated content, reasoning and calls; markup never reaches content,
 * except that a tool call that does not parse is returned as content exactly as generated.
 * Content and reasoning are trimmed of leading and trailing whitespace. Errors:
 * KY_ERR_INVALID_ARG. The caller owns *out (ky_chat_parser_free). */
ky_status ky_chat_parser_create(const ky_chat_parser_params *params, ky_chat_parser **out,
                                ky_error *err);
void ky_chat_parser_free(ky_chat_parser *parser);
/* Back to the start of an output. */
void ky_chat_parser_reset(ky_chat_parser *parser);
/* Feeds len bytes; fn is called for each event decided so far (text that could still be markup
 * is held). KY_ERR_INVALID_ARG, KY_ERR_NOMEM. */
ky_status ky_chat_parser_feed(ky_chat_parser *parser, const char *text, size_t len,
                              ky_chat_event_fn fn, void *user);
/* Ends the output: held text and an unclosed call are decided (a complete call parses, anything
 * else becomes content). Statuses as feed. */
ky_status ky_chat_parser_finish(ky_chat_parser *parser, ky_chat_event_fn fn, void *user);
/* Tool calls emitted so far (for finish_reason "tool_calls"). */
int32_t ky_chat_parser_n_tool_calls(const ky_chat_parser *parser);
/* Text is held because it is or may be tool-call markup (stream nothing yet). */
bool ky_chat_parser_in_markup(const ky_chat_parser *parser);

typedef struct ky_tool_grammar_params {
    ky_tool_format format; /* KY_TOOL_FORMAT_NONE is taken as HERMES */
    const char *name;      /* only this function (tool_choice naming one); NULL: any listed */
    bool parallel;         /* one or more calls (parallel_tool_calls) instead of exactly one */
    const char *prefix;    /* literal before the calls and 0-2 newlines ("</think>"), or NULL */
} ky_tool_grammar_params;

/* GBNF of "valid calls of these tools" in the given format: each call names a listed function
 * and its arguments match that function's parameters schema (OpenAI tools array: [{"type":
 * "function", "function": {"name", "parameters"}}]). *gbnf is malloc'ed (caller frees). Use
 * with ky_grammar_from_gbnf; for tool_choice "auto", create the matcher lazily with
 * ky_tool_format_trigger as trigger. Errors: the schema compiler's (message prefixed with the
 * tool's path), KY_ERR_NOT_FOUND (params->name not listed), KY_ERR_FORMAT, KY_ERR_NOMEM. */
ky_status ky_grammar_tools_gbnf(const char *tools_json, size_t len,
                                const ky_tool_grammar_params *params, char **gbnf, ky_error *err);
/* ky_grammar_tools_gbnf parsed into a grammar. The caller owns *out. */
ky_status ky_grammar_from_tools(const char *tools_json, size_t len,
                                const ky_tool_grammar_params *params, ky_grammar **out,
                                ky_error *err);

/* As ky_sampler_sample, but tokens whose bit is clear in mask (a ky_grammar_matcher_fill_mask
 * mask over n_vocab) are banned; no copy of the logits is made. mask NULL: ky_sampler_sample. */
ky_token ky_sampler_sample_masked(ky_sampler *sampler, const float *logits, const uint32_t *mask);

/* ---------------------------------------------------------------------------------------------
 * Synthetic models: random weights with the exact tensor shapes, vocabulary size and per-tensor
 * type mixture of real models (llama.cpp's quantizer rules, including its fallbacks for rows not
 * divisible by 256), for benchmarks that need no download. The files load in llama.cpp too.
 * ------------------------------------------------------------------------------------------- */

/* Preset i ("qwen2.5-0.5b", "qwen3-30b-a3b", "llama-3.2-1b", ...) and file type i ("f16", "q8_0",
 * "q4_0", "q4_k_m", "q5_k_m", "q6_k"); NULL when i is out of range. Static strings. */
const char *ky_synth_preset(int32_t i);
const char *ky_synth_type(int32_t i);

typedef struct ky_synth_params {
    const char *preset; /* a ky_synth_preset name */
    const char *type;   /* a ky_synth_type name */
    uint64_t seed;      /* same seed, same parameters: byte-identical file */
    /* Scaled variants for tests and quick runs (0 = the preset's value). Tensor widths never
     * change, so the type mixture of each tensor stays the real one. */
    int32_t n_layer;  /* 1..preset's count */
    int32_t n_vocab;  /* 260..16777216 tokens */
    int32_t n_expert; /* MoE presets only: n_expert_used..preset's count */
    /* Called after each tensor is written with the bytes done so far and the file size. */
    void (*progress)(void *user, uint64_t done, uint64_t total);
    void *progress_user;
} ky_synth_params;

ky_synth_params ky_synth_default_params(void);

/* One planned tensor. */
typedef struct ky_synth_tensor {
    char name[64];
    uint32_t type; /* ky_type */
    uint32_t n_dims;
    int64_t ne[4]; /* unused dims are 1 */
    uint64_t n_bytes;
} ky_synth_tensor;

/* Summary of a planned file: what ky_model_get_info will report once it is written. */
typedef struct ky_synth_info {
    const char *arch; /* static string */
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim;
    int32_t n_ff; /* dense FFN width (MoE: the file's feed_forward_length key) */
    int32_t n_expert, n_expert_used, n_ff_exp;
    float rope_freq_base, rms_eps;
    bool tied_output;
    uint32_t file_type; /* llama.cpp's general.file_type (LLAMA_FTYPE_MOSTLY_*) */
    int64_t n_tensors;
    uint64_t n_params;
    uint64_t tensor_bytes; /* sum of tensor data */
    uint64_t file_bytes;   /* exact size of the written file */
} ky_synth_info;

typedef struct ky_synth ky_synth;

/* Plans a file: hyper-parameters, vocabulary, every tensor with its type and size. Nothing is
 * written and no weight is generated. Errors: KY_ERR_INVALID_ARG naming the unknown preset/type
 * or the out-of-range override (with the valid choices), KY_ERR_NOMEM. The caller owns *out
 * (ky_synth_free). */
ky_status ky_synth_plan(const ky_synth_params *params, ky_synth **out, ky_error *err);
void ky_synth_free(ky_synth *synth);
void ky_synth_get_info(const ky_synth *synth, ky_synth_info *out);
/* Tensor i of the plan in file order (i in [0, n_tensors)), or NULL. Owned by the plan. */
const ky_synth_tensor *ky_synth_tensor_at(const ky_synth *synth, int64_t i);

/* Writes the planned file (atomically: a sibling temporary renamed into place). Weights are
 * random blocks drawn from a small pool quantized once per type with the reference quantizers,
 * so multi-GB files take seconds and little memory; norms are near 1, so forward passes give
 * finite logits. Errors: KY_ERR_IO naming the path, KY_ERR_NOMEM. May be called again. */
ky_status ky_synth_write(ky_synth *synth, const char *path, ky_error *err);

/* ---------------------------------------------------------------------------------------------
 * Model store: models by name. A REF names a GGUF model on a hub or in ollama's store:
 *   hf.co/OWNER/REPO[:QUANT]  or  OWNER/REPO[:QUANT]          Hugging Face
 *   ms://OWNER/REPO[:QUANT]   or  modelscope.cn/OWNER/REPO[:QUANT]   ModelScope
 *   NAME:SIZE[:QUANT]         a short name of the built-in catalogue ("qwen2.5:0.5b", "qwen3:4b")
 *   ollama:NAME[:TAG]         a model ollama already downloaded (read-only)
 * ky_pull lists the repository through the hub's API, picks the GGUF file(s) of QUANT (Q4_K_M by
 * default; split files -00001-of-0000N.gguf are fetched whole), downloads them with resume and
 * verifies size and SHA-256 before an atomic rename into the store ($KAIYUAN_HOME, default
 * ~/.cache/kaiyuan), and writes a manifest per model. The store layout:
 *   HOME/models/<hf.co|modelscope.cn>/OWNER/REPO/FILE      downloaded files (FILE.partial while
 *                                                           incomplete, FILE.lock while pulled)
 *   HOME/manifests/<hf.co|modelscope.cn>/OWNER/REPO/QUANT.json
 * ------------------------------------------------------------------------------------------- */

typedef enum ky_source {
    KY_SOURCE_NONE = 0, /* not a valid source (an unknown KAIYUAN_SOURCE value) */
    KY_SOURCE_HF = 1,
    KY_SOURCE_MODELSCOPE = 2,
    KY_SOURCE_OLLAMA = 3,
} ky_source;

/* Short stable name of a source ("huggingface", "modelscope", "ollama", "none"). */
const char *ky_source_name(ky_source source);

#define KY_REF_PART_MAX   97 /* owner, repository (96 bytes + NUL) */
#define KY_REF_QUANT_MAX  33
#define KY_REF_NAME_MAX   256
#define KY_STORE_PATH_MAX 4096

typedef struct ky_model_ref {
    ky_source source;
    char owner[KY_REF_PART_MAX];  /* ollama: namespace ("library") */
    char repo[KY_REF_PART_MAX];   /* ollama: model name */
    char quant[KY_REF_QUANT_MAX]; /* upper case ("Q4_K_M"), "" = the default; ollama: the tag */
    char host[KY_REF_PART_MAX];   /* ollama: registry host ("registry.ollama.ai"), else "" */
    char alias[KY_REF_PART_MAX];  /* the catalogue short name it was given as, or "" */
} ky_model_ref;

/* Progress of one file of a pull (see ky_store_params.progress). */
typedef enum ky_pull_event {
    KY_PULL_LISTING = 0, /* listing the repository (file is the repository) */
    KY_PULL_START = 1,   /* a transfer starts (resumed_from > 0: resuming) */
    KY_PULL_DATA = 2,    /* bytes arrived */
    KY_PULL_WAIT = 3,    /* another process holds the file's lock; waiting for it */
    KY_PULL_DONE = 4,    /* the file is verified and in place */
} ky_pull_event;

typedef struct ky_pull_progress {
    ky_pull_event event;
    const char *file;      /* path of the file in the repository (NUL-terminated) */
    int32_t index, count;  /* file index (1-based) of count files */
    uint64_t done, total;  /* bytes of this file on disk / its size */
    uint64_t resumed_from; /* bytes already on disk when this transfer started */
    double seconds;        /* since this transfer started */
} ky_pull_progress;

/* Returns false to cancel the pull (it then fails with KY_ERR_CANCELLED, keeping the partial
 * file for a later resume). Called from the pulling thread. */
typedef bool (*ky_pull_progress_fn)(void *user, const ky_pull_progress *p);

typedef struct ky_store_params {
    const char *home;        /* store root */
    const char *hf_endpoint; /* "https://huggingface.co" or a mirror, no trailing slash needed */
    const char *hf_token;    /* NULL: none */
    const char *ms_endpoint; /* "https://www.modelscope.cn" */
    const char *ms_token;    /* NULL: none */
    const char *ollama_dir;  /* ollama's models directory (manifests/, blobs/) */
    ky_source short_source;  /* where catalogue short names resolve (HF or MODELSCOPE) */
    int32_t n_retries;       /* automatic resumes after a broken transfer (default 2) */
    ky_pull_progress_fn progress; /* may be NULL */
    void *progress_user;
} ky_store_params;

/* Defaults from the environment: KAIYUAN_HOME (else $XDG_CACHE_HOME/kaiyuan, else
 * $HOME/.cache/kaiyuan), HF_ENDPOINT, HF_TOKEN, MODELSCOPE_ENDPOINT, MODELSCOPE_API_TOKEN,
 * OLLAMA_MODELS (else $HOME/.ollama/models) and KAIYUAN_SOURCE ("huggingface"/"hf" or
 * "modelscope"/"ms"; any other value gives KY_SOURCE_NONE, which short names then report).
 * Strings point into the environment or a static buffer overwritten by the next call. */
ky_store_params ky_store_default_params(void);

/* Parses a REF (forms above). Short names resolve through the catalogue to short_source's
 * repository (alias keeps the short name). Errors: KY_ERR_INVALID_ARG with a message naming the
 * REF and what is wrong (bad character, unknown short name with the catalogue's names, bad
 * quant, KAIYUAN_SOURCE unknown). Writes *out only on success. */
ky_status ky_model_ref_parse(const char *text, ky_source short_source, ky_model_ref *out,
                             ky_error *err);
/* Formats ref canonically ("hf.co/Qwen/Qwen3-4B-GGUF:Q4_K_M", "ms://O/R", "ollama:qwen3:4b")
 * into buf (cap bytes, truncated). Returns buf. */
const char *ky_model_ref_format(const ky_model_ref *ref, char *buf, size_t cap);
/* Catalogue entry i ("qwen2.5:0.5b", ...) or NULL past the end. Static strings. */
const char *ky_catalog_name(int32_t i);

/* A model in the store (or in ollama's). */
typedef struct ky_store_entry {
    char name[KY_REF_NAME_MAX];  /* canonical REF */
    char alias[KY_REF_PART_MAX]; /* short name it was pulled as, or "" */
    ky_source source;
    char quant[KY_REF_QUANT_MAX];
    char path[KY_STORE_PATH_MAX];   /* the file to load (the first part of a split model) */
    char origin[KY_STORE_PATH_MAX]; /* URL it came from (ollama: the manifest file) */
    char sha256[65];                /* of the file at path ("" when unknown) */
    uint64_t size;                  /* bytes of all its files */
    int32_t n_files;
    int64_t pulled_at; /* Unix time of the pull; 0 for ollama models */
} ky_store_entry;

/* Looks a REF up locally (no network): the store's manifest, or ollama's for ollama: refs; a REF
 * without quant finds Q4_K_M or the repository's only pulled quant. Every file must be present
 * with its recorded size. Errors: ky_model_ref_parse's, KY_ERR_NOT_FOUND ("not in the store"),
 * KY_ERR_FORMAT (a corrupt manifest, naming it), KY_ERR_IO. */
ky_status ky_store_find(const ky_store_params *params, const char *ref, ky_store_entry *out,
                        ky_error *err);

/* Pulls a REF into the store (see the top of this section) and describes it in *out. A model
 * already complete in the store is returned without network access. Errors, each message saying
 * what to do: KY_ERR_NETWORK (host unreachable or DNS failure, naming the host and the mirror
 * variables; a transfer cut off: the partial file is kept and rerunning resumes), KY_ERR_DENIED
 * (401/403: set HF_TOKEN / MODELSCOPE_API_TOKEN), KY_ERR_NOT_FOUND (no such repository, or no
 * GGUF of QUANT: the message lists the quants there are), KY_ERR_FORMAT (a bad listing, or a
 * size or SHA-256 mismatch: the file is deleted and a retry suggested), KY_ERR_IO (the store is
 * not writable or the disk is full: nothing half-written is left), KY_ERR_CANCELLED,
 * KY_ERR_UNSUPPORTED (ollama refs: they are never written to), KY_ERR_NOMEM. */
ky_status ky_pull(const ky_store_params *params, const char *ref, ky_store_entry *out,
                  ky_error *err);

/* Every model of the store plus every model in ollama's store, sorted by name, as a malloc'd
 * array (*out, caller frees; NULL when *n is 0). Unreadable manifests are skipped. Errors:
 * KY_ERR_NOMEM, KY_ERR_IO. */
ky_status ky_store_list(const ky_store_params *params, ky_store_entry **out, size_t *n,
                        ky_error *err);

/* Removes a model from the store: its manifest and the files no other manifest uses (and its
 * partial downloads). *removed (may be NULL) receives what was removed. Errors: ky_store_find's,
 * KY_ERR_UNSUPPORTED for ollama refs, KY_ERR_IO. */
ky_status ky_store_remove(const ky_store_params *params, const char *ref, ky_store_entry *removed,
                          ky_error *err);

/* ---------------------------------------------------------------------------------------------
 * Misc
 * ------------------------------------------------------------------------------------------- */

/* Physical core count of this machine (>= 1). */
int32_t ky_physical_cores(void);
/* Names of the kernel set chosen at startup ("avx512-vnni", "avx2", "neon", "generic"). */
const char *ky_kernels_name(void);
/* Monotonic time in seconds. */
double ky_time_now(void);

#ifdef __cplusplus
}
#endif

#endif /* KAIYUAN_H */
