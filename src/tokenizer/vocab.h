/* vocab.h — the vocabulary loaded from GGUF tokenizer metadata (layer: tokenizer).
 *
 * Token texts point into the GGUF mapping (the ky_gguf must outlive the vocab). The tokenizer
 * algorithms (SentencePiece BPE, byte-level BPE) and the detokenizer build on this struct.
 */
#ifndef KY_TOKENIZER_VOCAB_H
#define KY_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"

typedef enum ky_vocab_type {
    KY_VOCAB_SPM = 1, /* tokenizer.ggml.model = "llama": SentencePiece BPE with scores */
    KY_VOCAB_BPE = 2, /* tokenizer.ggml.model = "gpt2": byte-level BPE with ranked merges */
} ky_vocab_type;

typedef struct ky_vocab {
    ky_vocab_type type;
    char model_name[32]; /* tokenizer.ggml.model */
    char pre[64];        /* tokenizer.ggml.pre, "default" when absent */
    int32_t n_tokens;
    const char **text;  /* [n_tokens] token bytes, into the mapping, not NUL-terminated */
    uint32_t *text_len; /* [n_tokens] */
    float *scores;      /* [n_tokens] SPM merge scores (0 when absent) */
    uint8_t *attr;      /* [n_tokens] ky_token_attr (tokenizer.ggml.token_type; NORMAL if absent) */
    bool *is_eog;       /* [n_tokens] end-of-generation tokens */
    ky_token bos, eos, eot, unk, pad, nl; /* KY_TOKEN_NULL when absent */
    bool add_bos, add_eos;
    struct ky_vocab_impl *impl; /* algorithm-specific state (merges, tries), owned */
} ky_vocab;

/* Loads the vocabulary of an open GGUF and builds the tokenizer's lookup structures (token map,
 * merge table, compiled pre-tokenizer, special-token matcher, decoded pieces). KY_ERR_NOT_FOUND
 * when the file has no tokenizer.ggml.model; KY_ERR_UNSUPPORTED for other tokenizer models or an
 * unknown tokenizer.ggml.pre; KY_ERR_FORMAT for inconsistent arrays or missing merges (messages
 * name the file and key). The result is read-only: any number of threads may tokenize with it.
 * The caller owns *out (ky_vocab_free). */
ky_status ky_vocab_load(const ky_gguf *g, ky_vocab **out, ky_error *err);
void ky_vocab_free(ky_vocab *vocab);

#endif
