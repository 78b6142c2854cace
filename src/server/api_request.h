/* api_request.h — OpenAI request bodies → a validated, typed request (layer: server).
 *
 * The one place that knows the request field names, their defaults and the errors for bad
 * values. Parsing uses jansson; unknown fields are ignored. Nothing here needs a model: token
 * ids (prompt arrays, logit_bias keys) are checked against n_vocab passed by the caller.
 */
#ifndef KY_SERVER_API_REQUEST_H
#define KY_SERVER_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaiyuan.h"

typedef enum api_kind {
    API_COMPLETION = 0, /* POST /v1/completions */
    API_CHAT = 1,       /* POST /v1/chat/completions */
    API_TOKENIZE = 2,   /* POST /tokenize {"content", "add_special"?, "with_pieces"?} */
    API_DETOKENIZE = 3, /* POST /detokenize {"tokens"} */
} api_kind;

/* An OpenAI-style error: HTTP status and the four fields of {"error": {...}}. type/param/code
 * point to static strings (param/code may be NULL: JSON null). */
typedef struct api_error {
    int status;
    char message[512];
    const char *type;
    const char *param;
    const char *code;
} api_error;

typedef enum api_tool_choice {
    API_TOOLS_AUTO = 0,     /* the model may call a tool (a started call is constrained) */
    API_TOOLS_NONE = 1,     /* never parse calls */
    API_TOOLS_REQUIRED = 2, /* constrained to one or more valid calls */
    API_TOOLS_NAMED = 3,    /* constrained to calls of tool_name */
} api_tool_choice;

typedef struct api_request {
    api_kind kind;
    char *model; /* requested model name, NULL when absent */
    /* Completions / tokenize: the prompt as text (prompt_text, NUL-terminated, may hold any
     * valid UTF-8) or as token ids (prompt_ids). Exactly one is set for completions. */
    char *prompt_text;
    size_t prompt_len;
    ky_token *prompt_ids;
    size_t n_prompt_ids;
    bool add_special; /* tokenize: add BOS (default false, as llama.cpp) */
    bool with_pieces; /* tokenize: return {"id","piece"} objects */
    /* Chat: the template context as JSON text {"messages", "tools"?, "add_generation_prompt",
     * chat_template_kwargs merged at top level}. */
    char *chat_context;
    int64_t max_tokens; /* -1: until the context ends */
    double temperature, top_p, min_p;
    int32_t top_k;
    double presence_penalty, frequency_penalty, repetition_penalty;
    bool has_seed;
    uint64_t seed;
    char **stop; /* n_stop NUL-terminated, non-empty strings */
    size_t n_stop;
    ky_logit_bias *logit_bias;
    size_t n_logit_bias;
    int32_t n;
    bool stream, include_usage;
    /* Constrained output: GBNF of response_format json_object / json_schema (NULL: free). With
     * tool_choice required or named the turn is a tool call and this is not applied. */
    char *grammar;
    /* Chat tools: the "tools" array as compact JSON (NULL: none), tool_choice, its function
     * name (API_TOOLS_NAMED) and parallel_tool_calls (default true). */
    char *tools_json;
    api_tool_choice tool_choice;
    char *tool_name;
    bool parallel_tool_calls;
    /* Chat with a thinking template: tokens the model may sample inside <think> before the
     * engine closes the block itself (-1: unlimited, the default). */
    int32_t max_reasoning_tokens;
    bool logprobs;        /* chat: logprobs:true; completions: logprobs given (0..5) */
    int32_t top_logprobs; /* alternatives per position (0..20 chat, 0..5 completions) */
} api_request;

/* Parses and validates body (len bytes, any bytes) for an endpoint of kind. n_vocab bounds token
 * ids. On success fills *out (caller frees with api_request_free) and returns true. On failure
 * returns false with *err set (status 400, type "invalid_request_error", param naming the field)
 * and *out left freeable (zeroed). */
bool api_request_parse(api_kind kind, const char *body, size_t len, int32_t n_vocab,
                       api_request *out, api_error *err);

/* Releases everything api_request_parse allocated; safe on a zeroed struct. */
void api_request_free(api_request *r);

/* Fills err with status, type, param and code and a printf-formatted message. Returns false
 * (so validators can `return api_errorf(...)`). */
bool api_errorf(api_error *err, int status, const char *type, const char *param, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
