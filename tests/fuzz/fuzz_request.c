/* fuzz_request.c — libFuzzer target for the server's request path (tests/fuzz; built by fuzz.mk):
 * HTTP body → JSON (jansson) → validated api_request (src/server/api_request.c), and for accepted
 * requests the response formatter over the request's own values (api_response.c).
 *
 * The first byte picks the endpoint (completions, chat, tokenize, detokenize); the rest is the
 * body. Properties: parsing never crashes or leaks; a rejection is a 4xx/5xx with a message and
 * an error type; an accepted request has every field in its documented range (n in [1, 16],
 * max_tokens -1 or in [1, KY_MAX_CTX], temperature in [0, 2], ids below the vocabulary, stop
 * strings non-empty, top_logprobs bounded) and its strings format into valid JSON again.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "server/api_request.h"
#include "server/api_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_VOCAB 151936

static void require(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_request: property violated: %s\n", what);
        abort();
    }
}

static size_t piece(void *user, ky_token t, char *buf, size_t cap) {
    (void)user;
    char tmp[16];
    int n = snprintf(tmp, sizeof tmp, "<%d>", t);
    if ((size_t)n <= cap) memcpy(buf, tmp, (size_t)n);
    return (size_t)n;
}

static void check_json(char *s) {
    require(s != NULL, "formatter returned NULL");
    json_t *v = json_loads(s, 0, NULL);
    require(v != NULL, "formatter output is not JSON");
    json_decref(v);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    api_kind kind = (api_kind)(data[0] % 4);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    api_request r;
    api_error e;
    if (!api_request_parse(kind, body, len, N_VOCAB, &r, &e)) {
        require(e.status >= 400 && e.status < 600, "error status");
        require(e.message[0] != 0 && e.type != NULL, "error message and type");
        check_json(api_error_json(&e));
        api_request_free(&r);
        return 0;
    }
    require(r.kind == kind, "kind");
    for (size_t i = 0; i < r.n_prompt_ids; i++)
        require(r.prompt_ids[i] >= 0 && r.prompt_ids[i] < N_VOCAB, "prompt id in range");
    if (kind == API_COMPLETION)
        require((r.prompt_text != NULL) != (r.prompt_ids != NULL), "one prompt");
    if (kind == API_CHAT) {
        json_t *ctx = json_loads(r.chat_context, 0, NULL);
        require(json_is_array(json_object_get(ctx, "messages")), "chat context has messages");
        json_decref(ctx);
    }
    if (kind == API_COMPLETION || kind == API_CHAT) {
        require(r.n >= 1 && r.n <= KY_SRV_MAX_N, "n range");
        require(r.max_tokens == -1 || (r.max_tokens >= 1 && r.max_tokens <= KY_MAX_CTX),
                "max_tokens");
        require(r.temperature >= 0 && r.temperature <= 2, "temperature");
        require(r.top_p >= 0 && r.top_p <= 1 && r.min_p >= 0 && r.min_p <= 1, "top_p/min_p");
        require(r.top_logprobs >= 0 && r.top_logprobs <= KY_SRV_MAX_TOP_LOGPROBS, "top_logprobs");
        require(r.n_stop <= KY_SRV_MAX_STOP, "stop count");
        for (size_t i = 0; i < r.n_stop; i++) require(r.stop[i][0] != 0, "stop non-empty");
        for (size_t i = 0; i < r.n_logit_bias; i++)
            require(r.logit_bias[i].token >= 0 && r.logit_bias[i].token < N_VOCAB, "bias token");
        /* The request's own strings through the formatter. */
        api_meta m = {.kind = kind == API_CHAT ? API_CHAT : API_COMPLETION,
                      .id = "x",
                      .created = 1,
                      .model = r.model ? r.model : "m",
                      .include_usage = r.include_usage,
                      .piece = piece};
        const char *text = r.n_stop ? r.stop[0] : (r.prompt_text ? r.prompt_text : "");
        api_lp_entry lp = {
            .token = r.n_prompt_ids ? r.prompt_ids[0] : 0, .logprob = -1, .n_top = 1};
        api_choice c = {.text = text,
                        .len = strlen(text),
                        .finish_reason = "stop",
                        .lp = r.logprobs ? &lp : NULL,
                        .n_lp = r.logprobs ? 1 : 0};
        api_usage u = {.prompt_tokens = 1, .completion_tokens = 2};
        check_json(api_response_final(&m, &c, 1, &u));
        check_json(api_chunk_text(&m, 0, text, strlen(text), c.lp, c.n_lp));
    }
    api_request_free(&r);
    return 0;
}
