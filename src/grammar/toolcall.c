/* toolcall.c — streaming split of model output into content, reasoning and tool calls, and the
 * grammars of valid tool calls (layer: grammar; uses jansson).
 *
 * The parser is a small state machine over bytes: CONTENT, REASONING (inside <think>), CALL
 * (inside a tool-call block, buffered until its closing marker, then parsed as a whole) and
 * TRAILING (Llama 3: a message that starts with '{' is buffered to the end). Bytes that could be
 * the start of a marker are held back, so the accumulated result does not depend on how the
 * text was split into chunks, and no marker ever reaches content. Leading and trailing
 * whitespace of content and reasoning are trimmed (held until non-space text follows). A call
 * that does not parse becomes content, markup included, exactly as generated.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/limits.h"
#include "base/status.h"
#include "base/strbuf.h"
#include "grammar/schema.h"

#define R1_CALLS_BEGIN              \
    "<\xEF\xBD\x9Ctool\xE2\x96\x81" \
    "calls\xE2\x96\x81"             \
    "begin\xEF\xBD\x9C>"
#define R1_CALLS_END                \
    "<\xEF\xBD\x9Ctool\xE2\x96\x81" \
    "calls\xE2\x96\x81"             \
    "end\xEF\xBD\x9C>"
#define R1_CALL_BEGIN               \
    "<\xEF\xBD\x9Ctool\xE2\x96\x81" \
    "call\xE2\x96\x81"              \
    "begin\xEF\xBD\x9C>"
#define R1_CALL_END                 \
    "<\xEF\xBD\x9Ctool\xE2\x96\x81" \
    "call\xE2\x96\x81"              \
    "end\xEF\xBD\x9C>"
#define R1_SEP                      \
    "<\xEF\xBD\x9Ctool\xE2\x96\x81" \
    "sep\xEF\xBD\x9C>"

enum { M_CONTENT, M_REASONING, M_CALL, M_TRAILING };
/* Sub-states of a streamed Hermes call: buffering (not streamed: parsed whole at its end), its
 * header, its arguments object, the text after the arguments up to the close marker. */
enum { S_WHOLE, S_HEAD, S_ARGS, S_TAIL };

typedef struct marker {
    const char *open, *close; /* close NULL: to the end of the output */
} marker;

typedef struct chan {
    bool started;
    ky_strbuf ws; /* trailing whitespace held back */
} chan;

struct ky_chat_parser {
    ky_chat_parser_params p;
    ky_strbuf buf;  /* bytes not yet classified */
    ky_strbuf call; /* open marker + body of the current call */
    int mode;
    const marker *cur;
    marker markers[4];
    size_t n_markers;
    chan content, reasoning;
    int32_t n_calls;
    /* Hermes streaming (stream_arguments) of the current call: sub-state, JSON scanner of the
     * arguments object (depth, inside a string, after a backslash). */
    int sub;
    int32_t block_calls; /* calls streamed in the current block (R1 blocks hold several) */
    int32_t depth;
    bool in_str, esc;
    bool failed;
    ky_chat_event_fn fn;
    void *user;
};

static const char THINK_OPEN[] = "<think>", THINK_CLOSE[] = "</think>";
static const char PY_TAG[] = "<|python_tag|>";

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

static void emit(ky_chat_parser *p, ky_chat_event_type t, const char *s, size_t n) {
    if (!n) return;
    ky_chat_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t;
    ev.text = s;
    ev.len = n;
    ev.index = -1;
    p->fn(p->user, &ev);
}

/* Appends text to a channel: leading whitespace dropped, trailing whitespace held. */
static void chan_put(ky_chat_parser *p, chan *c, ky_chat_event_type t, const char *s, size_t n) {
    size_t i = 0;
    if (!c->started) {
        while (i < n && is_ws(s[i])) i++;
        if (i == n) return;
        c->started = true;
    }
    size_t end = n;
    while (end > i && is_ws(s[end - 1])) end--;
    if (end > i) {
        if (c->ws.len) {
            emit(p, t, c->ws.data, c->ws.len);
            ky_strbuf_reset(&c->ws);
        }
        emit(p, t, s + i, end - i);
    }
    ky_strbuf_append(&c->ws, s + end, n - end);
    if (c->ws.failed) p->failed = true;
}

static void chan_drop_ws(chan *c) { ky_strbuf_reset(&c->ws); }

/* ---------------------------------------------------------------------------------------------
 * Call bodies
 * ------------------------------------------------------------------------------------------- */

static bool emit_call(ky_chat_parser *p, const char *name, json_t *args) {
    char *a = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!a) return false;
    ky_chat_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = KY_CHAT_EVENT_TOOL_CALL;
    ev.index = p->n_calls++;
    ev.name = name;
    ev.name_len = strlen(name);
    ev.arguments = a;
    ev.arguments_len = strlen(a);
    p->fn(p->user, &ev);
    free(a);
    return true;
}

/* {"name": ..., "arguments"|"parameters": {...} or a string holding an object} → (name, args);
 * returns a new reference to args or NULL. */
static json_t *call_from_json(json_t *o, const char **name) {
    if (!json_is_object(o)) return NULL;
    *name = json_string_value(json_object_get(o, "name"));
    if (!*name || !**name) return NULL;
    json_t *a = json_object_get(o, "arguments");
    if (!a) a = json_object_get(o, "parameters");
    if (!a) return json_object();
    if (json_is_string(a)) {
        json_t *x = json_loads(json_string_value(a), 0, NULL);
        if (!json_is_object(x)) {
            json_decref(x);
            return NULL;
        }
        return x;
    }
    return json_is_object(a) ? json_incref(a) : NULL;
}

/* Parses one or more JSON calls separated by whitespace or ';' (Hermes: exactly one). */
static bool parse_json_calls(ky_chat_parser *p, const char *s, size_t n, bool many) {
    /* validate everything first, emit afterwards, so a bad call makes the whole block content */
    json_t *calls = json_array();
    size_t i = 0;
    bool ok = calls != NULL;
    while (ok) {
        while (i < n && (is_ws(s[i]) || (many && s[i] == ';'))) i++;
        if (i == n) break;
        json_error_t je;
        json_t *o = json_loadb(s + i, n - i, JSON_DISABLE_EOF_CHECK, &je);
        const char *name;
        json_t *args = o ? call_from_json(o, &name) : NULL;
        if (!args) {
            json_decref(o);
            ok = false;
            break;
        }
        json_t *pair = json_pack("{s:s, s:o}", "name", name, "args", args);
        json_decref(o);
        if (!pair) {
            ok = false;
            break;
        }
        json_array_append_new(calls, pair);
        i += (size_t)je.position;
        if (!many) {
            while (i < n && is_ws(s[i])) i++;
            ok = i == n;
            break;
        }
    }
    ok = ok && json_array_size(calls) > 0;
    for (size_t k = 0; ok && k < json_array_size(calls); k++) {
        json_t *c = json_array_get(calls, k);
        ok =
            emit_call(p, json_string_value(json_object_get(c, "name")), json_object_get(c, "args"));
    }
    json_decref(calls);
    return ok;
}

static const char *find(const char *s, size_t n, const char *w) {
    size_t wl = strlen(w);
    for (size_t i = 0; i + wl <= n; i++)
        if (!memcmp(s + i, w, wl)) return s + i;
    return NULL;
}

/* Qwen3-Coder: <function=NAME> (<parameter=K> V </parameter>)* </function> */
static bool parse_xml_call(ky_chat_parser *p, const char *s, size_t n) {
    const char *e = s + n;
    while (s < e && is_ws(*s)) s++;
    while (e > s && is_ws(e[-1])) e--;
    if ((size_t)(e - s) < 11 || memcmp(s, "<function=", 10)) return false;
    const char *gt = memchr(s, '>', (size_t)(e - s));
    if (!gt || gt == s + 10) return false;
    char name[256];
    size_t nl = (size_t)(gt - (s + 10));
    if (nl >= sizeof name) return false;
    memcpy(name, s + 10, nl);
    name[nl] = '\0';
    const char *q = gt + 1;
    const char *fend = find(q, (size_t)(e - q), "</function>");
    if (!fend)
        fend = e; /* unterminated function: accepted at the end of the block */
    else {
        const char *r = fend + 11;
        while (r < e && is_ws(*r)) r++;
        if (r != e) return false;
    }
    json_t *args = json_object();
    bool ok = args != NULL;
    while (ok) {
        while (q < fend && is_ws(*q)) q++;
        if (q == fend) break;
        if ((size_t)(fend - q) < 12 || memcmp(q, "<parameter=", 11)) {
            ok = false;
            break;
        }
        const char *kgt = memchr(q, '>', (size_t)(fend - q));
        const char *vend = kgt ? find(kgt, (size_t)(fend - kgt), "</parameter>") : NULL;
        if (!kgt || !vend || kgt == q + 11) {
            ok = false;
            break;
        }
        char key[256];
        size_t kl = (size_t)(kgt - (q + 11));
        if (kl >= sizeof key) {
            ok = false;
            break;
        }
        memcpy(key, q + 11, kl);
        key[kl] = '\0';
        const char *v = kgt + 1, *ve = vend;
        if (v < ve && *v == '\n') v++;
        if (ve > v && ve[-1] == '\n') ve--;
        json_t *val = json_loadb(v, (size_t)(ve - v), JSON_DECODE_ANY, NULL);
        if (!val || json_is_string(val)) {
            json_decref(val);
            val = json_stringn(v, (size_t)(ve - v));
        }
        ok = val && json_object_set_new(args, key, val) == 0;
        q = vend + 12;
    }
    ok = ok && emit_call(p, name, args);
    json_decref(args);
    return ok;
}

/* DeepSeek-R1: (<｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>)+ */
static bool parse_r1_calls(ky_chat_parser *p, const char *s, size_t n) {
    json_t *calls = json_array();
    const char *e = s + n;
    bool ok = calls != NULL;
    size_t lb = strlen(R1_CALL_BEGIN), ls = strlen(R1_SEP), le = strlen(R1_CALL_END);
    while (ok) {
        while (s < e && is_ws(*s)) s++;
        if (s == e) break;
        if ((size_t)(e - s) < lb || memcmp(s, R1_CALL_BEGIN, lb)) {
            ok = false;
            break;
        }
        s += lb;
        const char *sep = find(s, (size_t)(e - s), R1_SEP);
        const char *end = sep ? find(sep, (size_t)(e - sep), R1_CALL_END) : NULL;
        if (!sep || !end) {
            ok = false;
            break;
        }
        const char *nm = sep + ls, *nl = memchr(nm, '\n', (size_t)(end - nm));
        if (!nl || nl == nm) {
            ok = false;
            break;
        }
        const char *body = nl + 1, *be = end;
        if ((size_t)(be - body) >= 7 && !memcmp(body, "```json", 7)) body += 7;
        while (be > body && is_ws(be[-1])) be--;
        if ((size_t)(be - body) >= 3 && !memcmp(be - 3, "```", 3)) be -= 3;
        json_t *args = json_loadb(body, (size_t)(be - body), 0, NULL);
        if (!json_is_object(args)) {
            json_decref(args);
            ok = false;
            break;
        }
        json_t *pair = json_pack("{s:s%, s:o}", "name", nm, (size_t)(nl - nm), "args", args);
        ok = pair && json_array_append_new(calls, pair) == 0;
        s = end + le;
    }
    ok = ok && json_array_size(calls) > 0;
    for (size_t k = 0; ok && k < json_array_size(calls); k++) {
        json_t *c = json_array_get(calls, k);
        ok =
            emit_call(p, json_string_value(json_object_get(c, "name")), json_object_get(c, "args"));
    }
    json_decref(calls);
    return ok;
}

/* Parses the body of the current block; on failure the raw text becomes content. */
static void finish_call(ky_chat_parser *p, const char *body, size_t n, bool closed) {
    bool ok;
    int32_t before = p->n_calls;
    switch (p->p.format) {
    case KY_TOOL_FORMAT_QWEN3_CODER:
        if (!strcmp(p->cur->open, "<function=")) {
            ky_strbuf t;
            ky_strbuf_init(&t);
            ky_strbuf_puts(&t, "<function=");
            ky_strbuf_append(&t, body, n);
            if (closed) ky_strbuf_puts(&t, "</function>");
            ok = !t.failed && parse_xml_call(p, t.data, t.len);
            ky_strbuf_free(&t);
        } else {
            ok = parse_xml_call(p, body, n);
        }
        break;
    case KY_TOOL_FORMAT_DEEPSEEK_R1: ok = parse_r1_calls(p, body, n); break;
    case KY_TOOL_FORMAT_LLAMA3: ok = parse_json_calls(p, body, n, true); break;
    default: ok = parse_json_calls(p, body, n, false); break;
    }
    if (ok) {
        chan_drop_ws(&p->content);
        return;
    }
    p->n_calls = before;
    /* malformed: the markup as generated, as content */
    chan_put(p, &p->content, KY_CHAT_EVENT_CONTENT, p->call.data, p->call.len);
    if (closed && p->cur->close)
        chan_put(p, &p->content, KY_CHAT_EVENT_CONTENT, p->cur->close, strlen(p->cur->close));
}

/* ---------------------------------------------------------------------------------------------
 * The scanner
 * ------------------------------------------------------------------------------------------- */

/* Longest suffix of s[0..n) that is a proper prefix of w. */
static size_t partial(const char *s, size_t n, const char *w) {
    size_t wl = strlen(w);
    for (size_t k = wl - 1 < n ? wl - 1 : n; k > 0; k--)
        if (!memcmp(s + n - k, w, k)) return k;
    return 0;
}

static void consume(ky_strbuf *b, size_t n) {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Streamed calls: Hermes <tool_call> {"name": "N", "arguments": { ... } } </tool_call>, and
 * DeepSeek-R1 blocks of <｜tool▁call▁begin｜>function<｜tool▁sep｜>N ```json { ... } ``` calls
 * ------------------------------------------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t i, size_t n) {
    while (i < n && is_ws(s[i])) i++;
    return i;
}

/* Matches the header of a call body s[0..n): 1 with the name's JSON string at s[*ns..*ne) and
 * *args at the arguments' '{'; 0 when more text is needed; -1 when it does not match. */
static int head_match(const char *s, size_t n, size_t *ns, size_t *ne, size_t *args) {
    static const char *const lits[] = {"{", "\"name\"", ":", NULL, ",", "\"arguments\"", ":", "{"};
    size_t i = 0;
    for (int k = 0; k < 8; k++) {
        i = skip_ws(s, i, n);
        if (i == n) return 0;
        if (!lits[k]) { /* the name: a JSON string */
            if (s[i] != '"') return -1;
            *ns = i++;
            for (bool esc = false; i < n; i++) {
                if (esc)
                    esc = false;
                else if (s[i] == '\\')
                    esc = true;
                else if (s[i] == '"')
                    break;
            }
            if (i == n) return 0;
            *ne = ++i;
            continue;
        }
        size_t l = strlen(lits[k]), m = n - i < l ? n - i : l;
        if (memcmp(s + i, lits[k], m)) return -1;
        if (m < l) return 0;
        if (k == 7) *args = i;
        i += l;
    }
    return 1;
}

static void emit_stream_event(ky_chat_parser *p, ky_chat_event_type t, const char *s, size_t n) {
    ky_chat_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t;
    ev.index = p->n_calls - 1;
    if (t == KY_CHAT_EVENT_TOOL_CALL_BEGIN) {
        ev.name = s;
        ev.name_len = n;
    } else {
        ev.arguments = s;
        ev.arguments_len = n;
    }
    p->fn(p->user, &ev);
}

/* Bytes at the end of s[0..n) that start a UTF-8 character not complete yet (0-3). */
static size_t utf8_tail(const char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte */
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return want > k ? k : 0;
    }
    return 0;
}

/* Feeds arguments text s[0..n) (S_ARGS): emits it without whitespace outside strings and
 * returns the bytes consumed; the state becomes S_TAIL after the object's closing brace, or at
 * a '<' outside a string (not JSON: the close marker of a broken call). Unless final, a
 * character split at the end is left for the next feed, so fragments are whole UTF-8. */
static size_t args_feed(ky_chat_parser *p, const char *s, size_t n, bool final) {
    ky_strbuf frag;
    ky_strbuf_init(&frag);
    size_t i = 0;
    if (!final) n -= utf8_tail(s, n);
    for (; i < n && p->sub == S_ARGS; i++) {
        char ch = s[i];
        if (p->in_str) {
            if (p->esc)
                p->esc = false;
            else if (ch == '\\')
                p->esc = true;
            else if (ch == '"')
                p->in_str = false;
        } else if (ch == '<') {
            p->sub = S_TAIL;
            break;
        } else if (is_ws(ch)) {
            continue;
        } else if (ch == '"') {
            p->in_str = true;
        } else if (ch == '{' || ch == '[') {
            p->depth++;
        } else if (ch == '}' || ch == ']') {
            if (--p->depth <= 0) p->sub = S_TAIL;
        }
        ky_strbuf_append(&frag, &ch, 1);
    }
    if (frag.failed) p->failed = true;
    if (frag.len) emit_stream_event(p, KY_CHAT_EVENT_TOOL_CALL_ARGS, frag.data, frag.len);
    ky_strbuf_free(&frag);
    return i;
}

/* DeepSeek-R1: matches <｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME\n```json {  as head_match
 * does (the name is raw text up to the newline). */
static int head_match_r1(const char *s, size_t n, size_t *ns, size_t *ne, size_t *args) {
    size_t i = skip_ws(s, 0, n), l = strlen(R1_CALL_BEGIN), m = n - i < l ? n - i : l;
    if (memcmp(s + i, R1_CALL_BEGIN, m)) return -1;
    if (m < l) return 0;
    i += l;
    /* TYPE has no '<' or newline: the first '<' must open the separator (decided on a prefix,
     * so every chunking decides the same) */
    while (i < n && s[i] != '<' && s[i] != '\n') i++;
    if (i == n) return 0;
    l = strlen(R1_SEP), m = n - i < l ? n - i : l;
    if (s[i] == '\n' || memcmp(s + i, R1_SEP, m)) return -1;
    if (m < l) return 0;
    i += l;
    const char *nl = memchr(s + i, '\n', n - i);
    if (!nl) return 0;
    *ns = i;
    *ne = (size_t)(nl - s);
    i = *ne + 1;
    static const char fence[] = "```json";
    m = n - i < 7 ? n - i : 7;
    if (memcmp(s + i, fence, m)) return -1;
    if (m < 7) return 0;
    i = skip_ws(s, i + 7, n);
    if (i == n) return 0;
    if (s[i] != '{') return -1;
    *args = i;
    return 1;
}

/* After the call's body grew (S_HEAD): starts streaming once the header is complete, or falls
 * back to whole-call parsing when it cannot be one. Text after what the arguments took goes back
 * to the front of the input buffer. */
static void head_step(ky_chat_parser *p) {
    size_t ol = strlen(p->cur->open), ns = 0, ne = 0, at = 0;
    const char *b = p->call.data + ol;
    size_t n = p->call.len - ol;
    bool r1 = p->p.format == KY_TOOL_FORMAT_DEEPSEEK_R1;
    int m = r1 ? head_match_r1(b, n, &ns, &ne, &at) : head_match(b, n, &ns, &ne, &at);
    if (m == 0 && n > KY_TOOLCALL_MAX_HEAD_BYTES) m = -1;
    if (m == 0) return;
    json_t *nm = m > 0 && !r1 ? json_loadb(b + ns, ne - ns, JSON_DECODE_ANY, NULL) : NULL;
    const char *name = r1 ? (m > 0 ? b + ns : NULL) : json_string_value(nm);
    size_t name_len = r1 ? ne - ns : name ? strlen(name) : 0;
    if (!name || !name_len) {
        json_decref(nm);
        p->sub = S_WHOLE;
        return;
    }
    p->n_calls++;
    p->block_calls++;
    chan_drop_ws(&p->content);
    emit_stream_event(p, KY_CHAT_EVENT_TOOL_CALL_BEGIN, name, name_len);
    json_decref(nm);
    p->sub = S_ARGS;
    p->depth = 0;
    p->in_str = p->esc = false;
    size_t used = at + args_feed(p, b + at, n - at, false);
    ky_strbuf rest;
    ky_strbuf_init(&rest);
    ky_strbuf_append(&rest, b + used, n - used);
    ky_strbuf_append(&rest, p->buf.data ? p->buf.data : "", p->buf.len);
    ky_strbuf_reset(&p->buf);
    ky_strbuf_append(&p->buf, rest.data ? rest.data : "", rest.len);
    if (rest.failed || p->buf.failed) p->failed = true;
    ky_strbuf_free(&rest);
    ky_strbuf_reset(&p->call);
}

/* One step of a streamed call (mode M_CALL, sub != S_WHOLE) over the buffer; returns false when
 * it needs more input. */
static bool stream_call(ky_chat_parser *p, bool final) {
    char *s = p->buf.data;
    size_t n = p->buf.len;
    if (p->sub == S_ARGS) {
        size_t used = args_feed(p, s, n, final);
        consume(&p->buf, used);
        return (used > 0 || p->sub != S_ARGS) && p->buf.len > 0;
    }
    const char *close = p->cur->close;
    const char *f = find(s, n, close);
    size_t take = f ? (size_t)(f - s) : n - (final ? 0 : partial(s, n, close));
    bool r1 = p->p.format == KY_TOOL_FORMAT_DEEPSEEK_R1;
    if (p->sub == S_HEAD) {
        ky_strbuf_append(&p->call, s, take);
        consume(&p->buf, take);
        head_step(p);
        if (p->sub != S_HEAD) return true;
        if (!f && !final) return false;
        size_t ol = strlen(p->cur->open);
        if (r1 && p->block_calls && skip_ws(p->call.data, ol, p->call.len) == p->call.len) {
            /* R1: the block closes after its last streamed call */
            consume(&p->buf, f ? strlen(close) : 0);
            p->mode = M_CONTENT;
            p->sub = S_WHOLE;
            ky_strbuf_reset(&p->call);
            return true;
        }
        p->sub = S_WHOLE; /* ended before its header: parsed whole (as content) */
        return true;
    }
    if (r1) { /* S_TAIL: dropped up to the call's end marker; another call may follow */
        const char *g = find(s, f ? (size_t)(f - s) : n, R1_CALL_END);
        if (g) {
            consume(&p->buf, (size_t)(g - s) + strlen(R1_CALL_END));
            p->sub = S_HEAD;
            ky_strbuf_reset(&p->call);
            ky_strbuf_puts(&p->call, p->cur->open);
            return true;
        }
        if (!f && !final) {
            size_t h = partial(s, n, R1_CALL_END), h2 = partial(s, n, close);
            consume(&p->buf, n - (h > h2 ? h : h2));
            return false;
        }
    }
    /* S_TAIL: the rest of the call up to its close marker is dropped */
    consume(&p->buf, f ? take + strlen(close) : take);
    if (f || final) {
        p->mode = M_CONTENT;
        p->sub = S_WHOLE;
        ky_strbuf_reset(&p->call);
        return true;
    }
    return false;
}

static void process(ky_chat_parser *p, bool final) {
    for (;;) {
        char *s = p->buf.data;
        size_t n = p->buf.len;
        if (p->mode == M_CALL && p->sub != S_WHOLE && (n || final)) {
            if (stream_call(p, final)) continue;
            return;
        }
        if (!n && final && p->mode == M_CALL) {
            size_t ol = strlen(p->cur->open);
            finish_call(p, p->call.data + ol, p->call.len - ol, false);
            ky_strbuf_reset(&p->call);
            p->mode = M_CONTENT;
        }
        if (!n) return;
        if (p->mode == M_CONTENT) {
            if (p->p.format == KY_TOOL_FORMAT_LLAMA3 && !p->content.started && p->n_calls == 0) {
                size_t i = 0;
                while (i < n && is_ws(s[i])) i++;
                if (i < n && s[i] == '{') {
                    p->mode = M_TRAILING;
                    p->cur = &p->markers[p->n_markers - 1]; /* python tag: to the end */
                    ky_strbuf_reset(&p->call);
                    continue;
                }
                if (i == n && !final) return;
            }
            /* earliest marker: think open, stray think close, tool opens */
            size_t best = n, which = SIZE_MAX, blen = 0;
            const char *cand[6];
            size_t nc = 0;
            if (p->p.reasoning) cand[nc++] = THINK_OPEN, cand[nc++] = THINK_CLOSE;
            for (size_t k = 0; k < p->n_markers; k++) cand[nc++] = p->markers[k].open;
            for (size_t k = 0; k < nc; k++) {
                const char *f = find(s, n, cand[k]);
                if (f && (size_t)(f - s) < best)
                    best = (size_t)(f - s), which = k, blen = strlen(cand[k]);
            }
            if (which == SIZE_MAX) {
                size_t hold = 0;
                for (size_t k = 0; !final && k < nc; k++) {
                    size_t h = partial(s, n, cand[k]);
                    if (h > hold) hold = h;
                }
                chan_put(p, &p->content, KY_CHAT_EVENT_CONTENT, s, n - hold);
                consume(&p->buf, n - hold);
                if (final && p->buf.len) continue;
                return;
            }
            chan_put(p, &p->content, KY_CHAT_EVENT_CONTENT, s, best);
            size_t k0 = p->p.reasoning ? 2 : 0;
            if (p->p.reasoning && which == 0) {
                p->mode = M_REASONING;
            } else if (which >= k0) {
                p->cur = &p->markers[which - k0];
                p->mode = p->cur->close ? M_CALL : M_TRAILING;
                p->sub = p->p.stream_arguments && p->mode == M_CALL &&
                                 (p->p.format == KY_TOOL_FORMAT_HERMES ||
                                  p->p.format == KY_TOOL_FORMAT_DEEPSEEK_R1)
                             ? S_HEAD
                             : S_WHOLE;
                p->block_calls = 0;
                ky_strbuf_reset(&p->call);
                ky_strbuf_append(&p->call, cand[which], blen);
            } /* else: a stray </think> is dropped */
            consume(&p->buf, best + blen);
            continue;
        }
        if (p->mode == M_REASONING) {
            const char *f = find(s, n, THINK_CLOSE);
            if (!f) {
                size_t hold = final ? 0 : partial(s, n, THINK_CLOSE);
                chan_put(p, &p->reasoning, KY_CHAT_EVENT_REASONING, s, n - hold);
                consume(&p->buf, n - hold);
                return;
            }
            chan_put(p, &p->reasoning, KY_CHAT_EVENT_REASONING, s, (size_t)(f - s));
            chan_drop_ws(&p->reasoning);
            consume(&p->buf, (size_t)(f - s) + strlen(THINK_CLOSE));
            p->mode = M_CONTENT;
            continue;
        }
        if (p->mode == M_CALL) {
            /* the body is copied into call as it comes; look for the close marker */
            const char *f = find(s, n, p->cur->close);
            if (!f) {
                size_t hold = final ? 0 : partial(s, n, p->cur->close);
                ky_strbuf_append(&p->call, s, n - hold);
                consume(&p->buf, n - hold);
                if (p->call.len > KY_TOOLCALL_MAX_CALL_BYTES) { /* give up: content */
                    chan_put(p, &p->content, KY_CHAT_EVENT_CONTENT, p->call.data, p->call.len);
                    ky_strbuf_reset(&p->call);
                    p->mode = M_CONTENT;
                    continue;
                }
                if (final) continue; /* the buffer is empty now: decided above */
                return;
            }
            ky_strbuf_append(&p->call, s, (size_t)(f - s));
            consume(&p->buf, (size_t)(f - s) + strlen(p->cur->close));
            size_t ol = strlen(p->cur->open);
            finish_call(p, p->call.data + ol, p->call.len - ol, true);
            ky_strbuf_reset(&p->call);
            p->mode = M_CONTENT;
            continue;
        }
        /* M_TRAILING: everything to the end */
        ky_strbuf_append(&p->call, s, n);
        consume(&p->buf, n);
        if (p->call.len > KY_TOOLCALL_MAX_CALL_BYTES) {
            chan_put(p, &p->content, KY_CHAT_EVENT_CONTENT, p->call.data, p->call.len);
            ky_strbuf_reset(&p->call);
            p->mode = M_CONTENT;
        }
        return;
    }
}

ky_status ky_chat_parser_create(const ky_chat_parser_params *params, ky_chat_parser **out,
                                ky_error *err) {
    if (!params || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "chat parser: NULL argument");
    if (params->format < KY_TOOL_FORMAT_NONE || params->format > KY_TOOL_FORMAT_LLAMA3)
        return ky_errf(err, KY_ERR_INVALID_ARG, "chat parser: unknown tool format %d",
                       (int)params->format);
    ky_chat_parser *p = calloc(1, sizeof *p);
    if (!p) return ky_errf(err, KY_ERR_NOMEM, "chat parser: out of memory");
    p->p = *params;
    switch (params->format) {
    case KY_TOOL_FORMAT_HERMES:
        p->markers[p->n_markers++] = (marker){"<tool_call>", "</tool_call>"};
        break;
    case KY_TOOL_FORMAT_QWEN3_CODER:
        p->markers[p->n_markers++] = (marker){"<tool_call>", "</tool_call>"};
        p->markers[p->n_markers++] = (marker){"<function=", "</function>"};
        break;
    case KY_TOOL_FORMAT_DEEPSEEK_R1:
        p->markers[p->n_markers++] = (marker){R1_CALLS_BEGIN, R1_CALLS_END};
        break;
    case KY_TOOL_FORMAT_LLAMA3: p->markers[p->n_markers++] = (marker){PY_TAG, NULL}; break;
    default: break;
    }
    ky_chat_parser_reset(p);
    *out = p;
    return KY_OK;
}

void ky_chat_parser_reset(ky_chat_parser *p) {
    if (!p) return;
    ky_strbuf_reset(&p->buf);
    ky_strbuf_reset(&p->call);
    ky_strbuf_reset(&p->content.ws);
    ky_strbuf_reset(&p->reasoning.ws);
    p->content.started = p->reasoning.started = false;
    p->mode = p->p.reasoning && p->p.reasoning_open ? M_REASONING : M_CONTENT;
    p->n_calls = 0;
    p->sub = S_WHOLE;
    p->failed = false;
}

void ky_chat_parser_free(ky_chat_parser *p) {
    if (!p) return;
    ky_strbuf_free(&p->buf);
    ky_strbuf_free(&p->call);
    ky_strbuf_free(&p->content.ws);
    ky_strbuf_free(&p->reasoning.ws);
    free(p);
}

ky_status ky_chat_parser_feed(ky_chat_parser *p, const char *text, size_t len, ky_chat_event_fn fn,
                              void *user) {
    if (!p || !fn || (!text && len)) return KY_ERR_INVALID_ARG;
    p->fn = fn;
    p->user = user;
    ky_strbuf_append(&p->buf, text, len);
    if (p->buf.failed) return KY_ERR_NOMEM;
    process(p, false);
    return p->failed || p->call.failed ? KY_ERR_NOMEM : KY_OK;
}

ky_status ky_chat_parser_finish(ky_chat_parser *p, ky_chat_event_fn fn, void *user) {
    if (!p || !fn) return KY_ERR_INVALID_ARG;
    p->fn = fn;
    p->user = user;
    process(p, true);
    if (p->mode == M_TRAILING) {
        size_t ol = strlen(p->cur->open);
        bool tag = p->call.len >= ol && !memcmp(p->call.data, p->cur->open, ol);
        size_t skip = tag ? ol : 0;
        int32_t before = p->n_calls;
        if (!parse_json_calls(p, p->call.data + skip, p->call.len - skip, true)) {
            p->n_calls = before;
            chan_put(p, &p->content, KY_CHAT_EVENT_CONTENT, p->call.data, p->call.len);
        }
        ky_strbuf_reset(&p->call);
    }
    p->mode = M_CONTENT;
    chan_drop_ws(&p->content);
    chan_drop_ws(&p->reasoning);
    return p->failed ? KY_ERR_NOMEM : KY_OK;
}

int32_t ky_chat_parser_n_tool_calls(const ky_chat_parser *p) { return p ? p->n_calls : 0; }

bool ky_chat_parser_in_markup(const ky_chat_parser *p) {
    return p && (p->mode == M_CALL || p->mode == M_TRAILING || p->buf.len > 0);
}

/* ---------------------------------------------------------------------------------------------
 * Formats and grammars
 * ------------------------------------------------------------------------------------------- */

ky_tool_format ky_tool_format_detect(const char *tmpl) {
    if (!tmpl) return KY_TOOL_FORMAT_NONE;
    if (strstr(tmpl, "<function=") && strstr(tmpl, "<parameter="))
        return KY_TOOL_FORMAT_QWEN3_CODER;
    if (strstr(tmpl, "tool\xE2\x96\x81"
                     "calls\xE2\x96\x81"
                     "begin"))
        return KY_TOOL_FORMAT_DEEPSEEK_R1;
    if (strstr(tmpl, "<tool_call>")) return KY_TOOL_FORMAT_HERMES;
    if (strstr(tmpl, "<|python_tag|>") ||
        (strstr(tmpl, "\"parameters\"") && strstr(tmpl, "<|eot_id|>")))
        return KY_TOOL_FORMAT_LLAMA3;
    return KY_TOOL_FORMAT_NONE;
}

const char *ky_tool_format_trigger(ky_tool_format f) {
    switch (f) {
    case KY_TOOL_FORMAT_HERMES:
    case KY_TOOL_FORMAT_QWEN3_CODER: return "<tool_call>";
    case KY_TOOL_FORMAT_DEEPSEEK_R1: return R1_CALLS_BEGIN;
    case KY_TOOL_FORMAT_LLAMA3: return "{\"name\"";
    default: return NULL;
    }
}

static ky_status tools_fail(ky_error *err, ky_status st, const char *msg, size_t i) {
    return ky_errf(err, st, "tools[%zu]: %s", i, msg);
}

/* Qwen3-Coder parameters of one function: required in order, optional ones skippable. */
static ky_status xml_params(schema_ctx *sc, json_t *params, ky_strbuf *b, size_t ti,
                            ky_error *err) {
    json_t *props = json_object_get(params, "properties"),
           *req = json_object_get(params, "required");
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v) {
        bool required = false;
        for (size_t r = 0; r < json_array_size(req); r++)
            if (json_is_string(json_array_get(req, r)) &&
                !strcmp(json_string_value(json_array_get(req, r)), k))
                required = true;
        ky_strbuf_puts(b, " ( \"<parameter=\" ");
        schema_gbnf_literal(b, k, strlen(k));
        ky_strbuf_puts(b, " \">\\n\" ");
        const char *t = json_string_value(json_object_get(v, "type"));
        if (t && !strcmp(t, "string") && json_object_size(v) <= 3 && !json_object_get(v, "enum")) {
            ky_strbuf_puts(b, "[^<]{0,2000}");
        } else {
            char name[32], path[64];
            snprintf(path, sizeof path, "/tools/%zu/parameters/%s", ti, k);
            if (schema_ctx_add(sc, v, path, name) != KY_OK) return err->status;
            ky_strbuf_puts(b, name);
        }
        ky_strbuf_printf(b, " \"\\n</parameter>\\n\" )%s", required ? "" : "?");
    }
    return KY_OK;
}

ky_status ky_grammar_tools_gbnf(const char *tools_json, size_t len,
                                const ky_tool_grammar_params *params, char **gbnf, ky_error *err) {
    ky_error local;
    if (!err) err = &local;
    if (!params || !gbnf || (!tools_json && len))
        return ky_errf(err, KY_ERR_INVALID_ARG, "tools: NULL argument");
    json_error_t je;
    json_t *tools = json_loadb(tools_json ? tools_json : "", len, 0, &je);
    if (!json_is_array(tools) || !json_array_size(tools)) {
        json_decref(tools);
        return ky_errf(err, KY_ERR_FORMAT, "tools: not a non-empty JSON array");
    }
    ky_strbuf out, alts;
    ky_strbuf_init(&out);
    ky_strbuf_init(&alts);
    schema_ctx *sc = schema_ctx_new(&out, err);
    ky_status st = sc ? KY_OK : ky_errf(err, KY_ERR_NOMEM, "tools: out of memory");
    size_t n_alts = 0;
    for (size_t i = 0; st == KY_OK && i < json_array_size(tools); i++) {
        json_t *t = json_array_get(tools, i), *fn = json_object_get(t, "function");
        if (!fn) fn = t;
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name || !*name) {
            st = tools_fail(err, KY_ERR_FORMAT, "no function name", i);
            break;
        }
        if (params->name && strcmp(params->name, name)) continue;
        json_t *ps = json_object_get(fn, "parameters");
        json_t *empty = NULL;
        if (!ps) ps = empty = json_pack("{s:s}", "type", "object");
        char pr[32] = "", path[64];
        snprintf(path, sizeof path, "/tools/%zu/function/parameters", i);
        if (params->format != KY_TOOL_FORMAT_QWEN3_CODER) st = schema_ctx_add(sc, ps, path, pr);
        if (st != KY_OK) {
            json_decref(empty);
            break;
        }
        if (n_alts++) ky_strbuf_puts(&alts, " | ");
        json_t *js = json_string(name);
        char *q = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL; /* "name" with quotes */
        json_decref(js);
        if (!q) {
            json_decref(empty);
            st = ky_errf(err, KY_ERR_NOMEM, "tools: out of memory");
            break;
        }
        switch (params->format) {
        case KY_TOOL_FORMAT_QWEN3_CODER:
            ky_strbuf_puts(&alts, "( \"<function=\" ");
            schema_gbnf_literal(&alts, name, strlen(name));
            ky_strbuf_puts(&alts, " \">\\n\"");
            st = xml_params(sc, ps, &alts, i, err);
            ky_strbuf_puts(&alts, " \"</function>\" )");
            break;
        case KY_TOOL_FORMAT_DEEPSEEK_R1:
            ky_strbuf_puts(&alts, "( \"function\" ");
            schema_gbnf_literal(&alts, R1_SEP, strlen(R1_SEP));
            ky_strbuf_puts(&alts, " ");
            schema_gbnf_literal(&alts, name, strlen(name));
            ky_strbuf_printf(&alts, " \"\\n```json\\n\" %s \"\\n```\" )", pr);
            break;
        case KY_TOOL_FORMAT_LLAMA3:
            ky_strbuf_puts(&alts, "( \"{\\\"name\\\": \" ");
            schema_gbnf_literal(&alts, q, strlen(q));
            ky_strbuf_printf(&alts, " \", \\\"parameters\\\": \" %s \"}\" )", pr);
            break;
        default:
            ky_strbuf_puts(&alts, "( \"{\\\"name\\\": \" ");
            schema_gbnf_literal(&alts, q, strlen(q));
            ky_strbuf_printf(&alts, " \", \\\"arguments\\\": \" %s \"}\" )", pr);
            break;
        }
        free(q);
        json_decref(empty);
    }
    if (st == KY_OK && n_alts == 0)
        st = ky_errf(err, KY_ERR_NOT_FOUND, "tools: no function named '%s'",
                     params->name ? params->name : "");
    if (sc) {
        ky_status fst = schema_ctx_finish(sc);
        if (st == KY_OK) st = fst;
    }
    if (st == KY_OK) {
        const char *rep = params->parallel ? "+" : "";
        ky_strbuf_printf(&out, "tool-fn ::= %s\n", alts.data);
        ky_strbuf_puts(&out, "root ::= ");
        if (params->prefix && *params->prefix) {
            schema_gbnf_literal(&out, params->prefix, strlen(params->prefix));
            ky_strbuf_puts(&out, " \"\\n\"{0,2} ");
        }
        switch (params->format) {
        case KY_TOOL_FORMAT_DEEPSEEK_R1:
            schema_gbnf_literal(&out, R1_CALLS_BEGIN, strlen(R1_CALLS_BEGIN));
            ky_strbuf_puts(&out, " ( ");
            schema_gbnf_literal(&out, R1_CALL_BEGIN, strlen(R1_CALL_BEGIN));
            ky_strbuf_puts(&out, " tool-fn ");
            schema_gbnf_literal(&out, R1_CALL_END, strlen(R1_CALL_END));
            ky_strbuf_printf(&out, " )%s ", rep);
            schema_gbnf_literal(&out, R1_CALLS_END, strlen(R1_CALLS_END));
            ky_strbuf_puts(&out, "\n");
            break;
        case KY_TOOL_FORMAT_LLAMA3:
            ky_strbuf_printf(&out, "tool-fn ( \"; \" tool-fn )%s\n",
                             params->parallel ? "*" : "{0}");
            break;
        default:
            ky_strbuf_printf(
                &out,
                "\"<tool_call>\\n\" tool-fn \"\\n</tool_call>\" ( \"\\n<tool_call>\\n\" "
                "tool-fn \"\\n</tool_call>\" )%s\n",
                params->parallel ? "*" : "{0}");
            break;
        }
        (void)rep;
    }
    ky_strbuf_free(&alts);
    json_decref(tools);
    if (st == KY_OK && out.failed) st = ky_errf(err, KY_ERR_NOMEM, "tools: out of memory");
    if (st != KY_OK) {
        ky_strbuf_free(&out);
        return st;
    }
    *gbnf = out.data;
    return KY_OK;
}
