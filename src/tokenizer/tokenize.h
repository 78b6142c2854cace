/* tokenize.h — the tokenizer's internal API: text → ids, ids → text, streaming decode
 * (layer: tokenizer).
 *
 * The engine's public functions (ky_tokenize, ky_detokenize, ky_detok_stream_*) are thin
 * wrappers over these. A ky_vocab is read-only here: every function may be called from several
 * threads at once on the same vocab (scratch memory is per call or per stream).
 */
#ifndef KY_TOKENIZER_TOKENIZE_H
#define KY_TOKENIZER_TOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

/* Tokenizes len bytes of text (any bytes; NUL and invalid UTF-8 included). flags:
 * KY_TOKENIZE_ADD_BOS prepends BOS when the vocab has one; KY_TOKENIZE_PARSE_SPECIAL matches
 * control / user-defined / unknown token texts as single tokens (leftmost-longest), otherwise
 * they are plain text. SPM vocabularies prefix every text fragment that starts the input or
 * follows a special token with ▁; byte-level BPE vocabularies apply their pre-tokenizer
 * (tokenizer.ggml.pre) and NFC where the reference tokenizer does (Qwen).
 * Writes min(cap, count) ids to out and the full count to *n_out. Errors: KY_ERR_INVALID_ARG
 * when cap is too small (*n_out still set) or text is NULL with len > 0 or len is above
 * KY_MAX_TOKENIZE_BYTES; KY_ERR_NOMEM; KY_ERR_INTERNAL when a regex match fails. */
ky_status ky_vocab_tokenize(const ky_vocab *v, const char *text, size_t len, unsigned flags,
                            ky_token *out, size_t cap, size_t *n_out);

/* ky_vocab_tokenize where data_mask (len bytes, or NULL for none) marks caller data: with
 * KY_TOKENIZE_PARSE_SPECIAL a special token matches only where all its bytes are unmarked
 * (template text), so text a user typed never becomes a control token. The text between two
 * matched special tokens is one fragment whatever its marks, so the ids equal those of
 * ky_vocab_tokenize whenever no marked byte range holds special-token text. Same contract. */
ky_status ky_vocab_tokenize_masked(const ky_vocab *v, const char *text, size_t len,
                                   const uint8_t *data_mask, unsigned flags, ky_token *out,
                                   size_t cap, size_t *n_out);

/* Bytes of token t as printed: SPM ▁ → space and <0xXX> → the byte, byte-level BPE characters
 * → bytes; user-defined tokens print their text; control and unknown tokens print their text
 * only with KY_DETOK_SPECIAL; unused tokens print nothing. Returns a view into the vocab
 * (valid while it lives) and sets *len; an id out of range gives NULL. */
const char *ky_vocab_piece(const ky_vocab *v, ky_token t, unsigned flags, size_t *len);

/* Decodes n ids into out (at most cap bytes; *n_out = full length). SPM vocabularies drop one
 * leading space of the first printed piece (the ▁ prefix added by tokenization) unless
 * KY_DETOK_KEEP_LEADING. KY_ERR_INVALID_ARG for an id out of range or cap too small (*n_out
 * still set). */
ky_status ky_vocab_detokenize(const ky_vocab *v, const ky_token *ids, size_t n, unsigned flags,
                              char *out, size_t cap, size_t *n_out);

/* Streaming decoder state: bytes of an incomplete UTF-8 character are held back until the
 * token that completes them arrives. */
typedef struct ky_vocab_stream {
    const ky_vocab *v;
    unsigned flags;
    bool started;          /* a piece with text was printed (SPM leading-space rule) */
    unsigned char hold[4]; /* incomplete character */
    size_t n_hold;
    char *buf; /* output of the last push */
    size_t buf_cap;
} ky_vocab_stream;

/* Initializes a stream over v (flags as for ky_vocab_detokenize). Never fails. */
void ky_vocab_stream_init(ky_vocab_stream *st, const ky_vocab *v, unsigned flags);
void ky_vocab_stream_free(ky_vocab_stream *st);
/* Decodes one token; *text and *len receive the newly completed text (a view into the stream,
 * valid until the next call). Bytes that can never complete a character (invalid UTF-8) are
 * passed through as they are. KY_ERR_INVALID_ARG for an id out of range, KY_ERR_NOMEM. */
ky_status ky_vocab_stream_push(ky_vocab_stream *st, ky_token t, const char **text, size_t *len);
/* Returns the held bytes (an incomplete character at the end of generation) and resets. */
ky_status ky_vocab_stream_flush(ky_vocab_stream *st, const char **text, size_t *len);

#endif
