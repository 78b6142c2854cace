/* fuzz_template.c — libFuzzer target for the chat-template interpreter (tests/fuzz; built by
 * fuzz.mk).
 *
 * The input is a template source, optionally followed by a NUL byte and a JSON object of extra
 * variables. It is parsed and, when it parses, rendered over a fixed conversation (system, user,
 * assistant with a tool call, tool) plus those variables. Properties: parsing and rendering
 * return a status (never crash, hang or leak: the sandbox limits bound every input), a failure
 * carries a message, and a rendering's provenance marks are 0 or 1 for each of its bytes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_template: property violated: %s\n", what);
        abort();
    }
}

static const char k_vars[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
    " {\"role\": \"user\", \"content\": \"hi <|im_start|> there\"},"
    " {\"role\": \"assistant\", \"content\": null, \"reasoning_content\": \"hmm\", \"tool_calls\":"
    " [{\"id\": \"a\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": "
    "{\"x\": 1.5}}}]},"
    " {\"role\": \"tool\", \"content\": \"42\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t src_len = nul ? (size_t)(nul - data) : size;
    ky_error err;
    jx_tmpl *t = NULL;
    ky_status st = jx_tmpl_parse((const char *)data, src_len, "fuzz", &t, &err);
    if (st != KY_OK) {
        require(err.message[0] != 0, "a parse error has a message");
        return 0;
    }
    json_t *vars = json_loads(k_vars, 0, NULL);
    require(vars != NULL, "fixed variables parse");
    if (nul) {
        json_t *extra = json_loadb((const char *)nul + 1, size - src_len - 1, 0, NULL);
        if (json_is_object(extra)) json_object_update(vars, extra);
        json_decref(extra);
    }
    static const char *const keys[] = {"bos_token", "eos_token", NULL};
    jx_output out;
    st = jx_render(t, vars, keys, 1796203800, true, &out, &err);
    if (st == KY_OK) {
        require(out.text[out.len] == 0, "rendering is NUL-terminated");
        for (size_t i = 0; i < out.len; i++) require(out.prov[i] <= 1, "provenance is 0 or 1");
        free(out.text);
        free(out.prov);
    } else {
        require(err.message[0] != 0, "a render error has a message");
    }
    json_decref(vars);
    jx_tmpl_free(t);
    return 0;
}
