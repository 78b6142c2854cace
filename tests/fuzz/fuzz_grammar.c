/* fuzz_grammar.c — libFuzzer target for the grammar engine (tests/fuzz; built by fuzz.mk).
 *
 * The first byte picks the input kind, the rest is the input:
 *   0  GBNF text          1  JSON Schema          2  model output for the chat parser
 *   3  an OpenAI tools array (tool-call grammar)
 * Properties: every call returns a status (never crash, hang or leak: limits bound every input)
 * and a failure carries a message; a schema or tools array that compiles gives GBNF that parses
 * (or hits a size limit); for grammars that parse, masks over a small fixed vocabulary equal
 * brute force (each token's bytes fed through the matcher) along a walk; the chat parser gives
 * the same events whether its input comes whole or in two chunks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/strbuf.h"
#include "grammar/grammar.h"
#include "grammar/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_grammar: property violated: %s\n", what);
        abort();
    }
}

static const char *const PIECES[] = {"a",
                                     "b",
                                     "ab",
                                     "{",
                                     "}",
                                     "\"",
                                     "\":",
                                     "\",",
                                     "[",
                                     "]",
                                     ",",
                                     ":",
                                     " ",
                                     "\n",
                                     "  ",
                                     "0",
                                     "1",
                                     "12",
                                     "-",
                                     ".",
                                     "e",
                                     "null",
                                     "true",
                                     "false",
                                     "\xC3",
                                     "\xA9",
                                     "\xC3\xA9",
                                     "\xE4\xBD\xA0",
                                     "x\"}",
                                     "<tool_call>",
                                     "</tool_call>",
                                     "\\",
                                     "\\n",
                                     "name",
                                     "\"name\"",
                                     "",
                                     "<|end|>"};
#define N_PIECES ((int32_t)(sizeof PIECES / sizeof *PIECES))

static const uint8_t *piece(void *user, int32_t t, size_t *len) {
    (void)user;
    *len = strlen(PIECES[t]);
    return (const uint8_t *)PIECES[t];
}

static bool eog(void *user, int32_t t) {
    (void)user;
    return t == N_PIECES - 1;
}

static void check_masks(const gram *g) {
    static gvocab *v;
    if (!v) require(gvocab_build(N_PIECES, piece, eog, NULL, &v, NULL) == KY_OK, "vocab");
    gmask *m = NULL;
    if (gmask_build(g, v, &m, NULL) != KY_OK) return; /* a limit: fine */
    gmask_scratch *sc = NULL;
    gadv a;
    require(gmask_scratch_create(m, &sc) == KY_OK && gadv_init(&a, g) == KY_OK, "alloc");
    uint32_t *buf[3];
    for (int i = 0; i < 3; i++) buf[i] = malloc(KY_GRAMMAR_MAX_STATE_WORDS * 4);
    gadv_begin(&a, buf[0], KY_GRAMMAR_MAX_STATE_WORDS);
    gadv_start(&a);
    gstate st = gadv_end(&a);
    int cur = 0;
    for (int step = 0; step < 12 && !a.overflow; step++) {
        uint32_t mask[2];
        if (!gmask_fill(m, sc, &st, mask)) break;
        int32_t pick = -1;
        for (int32_t t = 0; t < N_PIECES; t++) {
            bool ok;
            if (eog(NULL, t)) {
                ok = st.can_end;
            } else if (!*PIECES[t]) {
                ok = false;
            } else {
                gstate s = st;
                int b = (cur + 1) % 3;
                ok = true;
                bool over = false;
                for (const char *p = PIECES[t]; *p && ok; p++) {
                    gadv_begin(&a, buf[b], KY_GRAMMAR_MAX_STATE_WORDS);
                    gadv_step(&a, &s, (uint8_t)*p);
                    over |= a.overflow;
                    s = gadv_end(&a);
                    ok = s.n_stacks > 0 || (s.can_end && !p[1]);
                    b = b == (cur + 1) % 3 ? (cur + 2) % 3 : (cur + 1) % 3;
                }
                if (over) goto done;
            }
            require(ok == (bool)((mask[t >> 5] >> (t & 31)) & 1u), "mask equals brute force");
            if (ok && !eog(NULL, t) && (pick < 0 || (step * 7 + t) % 3 == 0)) pick = t;
        }
        if (pick < 0) break;
        for (const char *p = PIECES[pick]; *p; p++) {
            int b = (cur + 1) % 3;
            gadv_begin(&a, buf[b], KY_GRAMMAR_MAX_STATE_WORDS);
            gadv_step(&a, &st, (uint8_t)*p);
            st = gadv_end(&a);
            cur = b;
        }
    }
done:
    for (int i = 0; i < 3; i++) free(buf[i]);
    gadv_free(&a);
    gmask_scratch_free(sc);
    gmask_free(m);
}

static void check_gbnf(const char *text, size_t n, bool generated) {
    gram *g = NULL;
    ky_error err = {0};
    ky_status st = gram_parse_gbnf(text, n, &g, &err);
    if (st != KY_OK) {
        require(err.message[0] != 0, "an error has a message");
        /* generated GBNF may only fail on limits or an impossible schema */
        if (generated)
            require(st == KY_ERR_UNSUPPORTED || strstr(err.message, "can never match"),
                    "generated GBNF parses");
        return;
    }
    check_masks(g);
    gram_free(g);
}

typedef struct sink {
    ky_strbuf text[2], calls;
} sink;

static void on_sink(void *user, const ky_chat_event *ev) {
    sink *k = user;
    if (ev->type == KY_CHAT_EVENT_TOOL_CALL) {
        ky_strbuf_printf(&k->calls, "%d|", ev->index);
        ky_strbuf_append(&k->calls, ev->name, ev->name_len);
        ky_strbuf_puts(&k->calls, "|");
        ky_strbuf_append(&k->calls, ev->arguments, ev->arguments_len);
        ky_strbuf_puts(&k->calls, "\n");
    } else if (ev->type == KY_CHAT_EVENT_TOOL_CALL_BEGIN) { /* stream_arguments */
        ky_strbuf_printf(&k->calls, "%d<", ev->index);
        ky_strbuf_append(&k->calls, ev->name, ev->name_len);
        ky_strbuf_puts(&k->calls, ">");
    } else if (ev->type == KY_CHAT_EVENT_TOOL_CALL_ARGS) {
        require(ev->arguments_len > 0, "argument fragments are not empty");
        ky_strbuf_append(&k->calls, ev->arguments, ev->arguments_len);
    } else {
        ky_strbuf_append(&k->text[ev->type == KY_CHAT_EVENT_REASONING], ev->text, ev->len);
    }
}

static void run_sink(const ky_chat_parser_params *p, const char *s, size_t n, size_t cut, sink *k) {
    memset(k, 0, sizeof *k);
    ky_chat_parser *ps = NULL;
    require(ky_chat_parser_create(p, &ps, NULL) == KY_OK, "parser");
    ky_chat_parser_feed(ps, s, cut, on_sink, k);
    ky_chat_parser_feed(ps, s + cut, n - cut, on_sink, k);
    ky_chat_parser_finish(ps, on_sink, k);
    ky_chat_parser_free(ps);
}

static bool same_buf(const ky_strbuf *a, const ky_strbuf *b) {
    return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

static void free_sink(sink *k) {
    ky_strbuf_free(&k->text[0]);
    ky_strbuf_free(&k->text[1]);
    ky_strbuf_free(&k->calls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    unsigned kind = data[0] % 4, opt = data[1];
    if (kind == 0) {
        check_gbnf(s, n, false);
    } else if (kind == 1) {
        ky_strbuf out;
        ky_strbuf_init(&out);
        ky_error err = {0};
        ky_status st = schema_to_gbnf(s, n, &out, &err);
        if (st == KY_OK && !out.failed)
            check_gbnf(out.data, out.len, true);
        else if (st != KY_OK)
            require(err.message[0] != 0, "a schema error has a message");
        ky_strbuf_free(&out);
    } else if (kind == 2) {
        ky_chat_parser_params p = {(ky_tool_format)(opt % 5), (opt >> 3) & 1, (opt >> 4) & 1,
                                   (opt >> 5) & 1};
        size_t cut = n ? (size_t)opt * 31 % (n + 1) : 0;
        sink a, b;
        run_sink(&p, s, n, n, &a);
        run_sink(&p, s, n, cut, &b);
        require(same_buf(&a.text[0], &b.text[0]) && same_buf(&a.text[1], &b.text[1]) &&
                    same_buf(&a.calls, &b.calls),
                "chunking does not change the result");
        free_sink(&a);
        free_sink(&b);
    } else {
        ky_tool_grammar_params p = {(ky_tool_format)(opt % 5), NULL, (opt >> 3) & 1,
                                    (opt >> 4) & 1 ? "</think>" : NULL};
        char *g = NULL;
        ky_error err = {0};
        ky_status st = ky_grammar_tools_gbnf(s, n, &p, &g, &err);
        if (st == KY_OK)
            check_gbnf(g, strlen(g), true);
        else
            require(err.message[0] != 0, "a tools error has a message");
        free(g);
    }
    return 0;
}
