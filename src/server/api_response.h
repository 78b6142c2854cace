/* api_response.h — OpenAI response shapes as JSON text (layer: server).
 *
 * The one place that knows the response field names: chat.completion, chat.completion.chunk,
 * text_completion (whole and streamed), usage, logprobs, errors, models, tokenize. Every function
 * returns a malloc'ed NUL-terminated compact JSON text (caller frees), or NULL when out of memory.
 * Text arguments must be valid UTF-8 (the engine sanitizes detokenized text).
 */
#ifndef KY_SERVER_API_RESPONSE_H
#define KY_SERVER_API_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "kaiyuan.h"
#include "server/api_request.h"

/* One candidate token with its log-probability. */
typedef struct api_lp_top {
    ky_token token;
    float logprob;
} api_lp_top;

/* Log-probabilities of one generated position. */
typedef struct api_lp_entry {
    ky_token token;
    float logprob;
    int32_t n_top; /* 0..KY_SRV_MAX_TOP_LOGPROBS */
    api_lp_top top[KY_SRV_MAX_TOP_LOGPROBS];
    uint32_t text_offset; /* completions: byte offset of this token's text in the choice text */
} api_lp_entry;

/* Writes token t's bytes (as printed, no special tokens) to buf (cap bytes) and returns the full
 * length; the formatter calls it for every token it prints. */
typedef size_t (*api_piece_fn)(void *user, ky_token t, char *buf, size_t cap);

/* What every response of one request shares. */
typedef struct api_meta {
    api_kind kind; /* API_CHAT or API_COMPLETION */
    const char *id;
    int64_t created;
    const char *model;
    bool include_usage; /* streams: "usage": null in every chunk but the last */
    api_piece_fn piece;
    void *piece_user;
} api_meta;

typedef struct api_usage {
    int64_t prompt_tokens, completion_tokens, cached_tokens;
    int64_t reasoning_tokens; /* completion tokens sampled inside <think> blocks */
} api_usage;

/* One finished choice of a non-streamed response. */
typedef struct api_choice {
    const char *text;
    size_t len;
    const char *reasoning; /* chat: message.reasoning_content (and .reasoning); NULL: none */
    size_t reasoning_len;
    const char *tool_calls; /* chat: JSON array text of message.tool_calls; NULL: none (then
                               content is null when empty) */
    const char *finish_reason; /* "stop", "length" or "tool_calls" */
    const api_lp_entry *lp;    /* NULL: "logprobs": null */
    size_t n_lp;
} api_choice;

/* The fingerprint every response carries. */
#define API_SYSTEM_FINGERPRINT "kaiyuan-" KY_VERSION_STRING

/* Whole response: chat.completion or text_completion with choices[0..n) and usage. */
char *api_response_final(const api_meta *m, const api_choice *choices, size_t n,
                         const api_usage *u);
/* Chat stream: first chunk of choice index, delta {"role":"assistant","content":""}. */
char *api_chunk_role(const api_meta *m, int32_t index);
/* Stream chunk with a text delta (chat: delta.content; completions: text) and, when lp is not
 * NULL, the logprobs of the n_lp tokens it carries. */
char *api_chunk_text(const api_meta *m, int32_t index, const char *text, size_t len,
                     const api_lp_entry *lp, size_t n_lp);
/* Chat stream chunk with delta {"reasoning_content": text, "reasoning": text}. */
char *api_chunk_reasoning(const api_meta *m, int32_t index, const char *text, size_t len);
/* Chat stream chunks of one tool call: the first has delta.tool_calls [{index, id, type:
 * "function", function: {name, arguments: ""}}] (header), the next {index, function:
 * {arguments}}. */
char *api_chunk_tool_header(const api_meta *m, int32_t index, int32_t call, const char *id,
                            const char *name, size_t name_len);
char *api_chunk_tool_args(const api_meta *m, int32_t index, int32_t call, const char *args,
                          size_t len);
/* One element of message.tool_calls: {"id", "type": "function", "function": {"name",
 * "arguments"}} appended to the JSON array text in *arr (a strbuf-like malloc'ed string:
 * NULL or "[...]"). Returns false when out of memory. */
bool api_tool_call_append(char **arr, const char *id, const char *name, size_t name_len,
                          const char *args, size_t args_len);
/* Finish chunk: chat delta {}, completions text "", and finish_reason. */
char *api_chunk_finish(const api_meta *m, int32_t index, const char *finish_reason);
/* The include_usage chunk: "choices": [] and the usage. */
char *api_chunk_usage(const api_meta *m, const api_usage *u);
/* {"error": {"message", "type", "param", "code"}}. */
char *api_error_json(const api_error *e);
/* GET /v1/models: {"object":"list","data":[{"id", "object":"model", "created", "owned_by"}]}. */
char *api_models_json(const char *model, int64_t created);
/* POST /tokenize: {"tokens": [ids]} or, with pieces, [{"id", "piece"}]. */
char *api_tokenize_json(const ky_token *ids, size_t n, bool with_pieces, api_piece_fn piece,
                        void *user);
/* POST /detokenize: {"content": text}. */
char *api_detokenize_json(const char *text, size_t len);

/* Replaces every invalid UTF-8 sequence in s[0..n) by U+FFFD, appending the result to a
 * malloc'ed buffer *out (*out_len bytes, NUL-terminated). Returns false when out of memory. */
bool api_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_len);

#endif
