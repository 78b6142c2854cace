/* pretok.c — byte-level BPE pre-tokenizers: the split regexes per tokenizer.ggml.pre, compiled
 * with PCRE2 (JIT, UTF + Unicode properties), and the splitting loop (layer: tokenizer).
 *
 * The regexes are those of the models' Hugging Face tokenizer.json files ("default", which has
 * none, follows llama.cpp). A pre-tokenizer is a sequence of regexes; each one splits every
 * current piece into its matches and the gaps between them (Split with behavior "Isolated"),
 * each piece being matched as its own subject.
 * \s is spelled out as the Unicode White_Space set (what Hugging Face's regex engine uses;
 * PCRE2's \s lacks U+0085). Invalid UTF-8 never matches (PCRE2_MATCH_INVALID_UTF), so such bytes
 * end up in gap pieces and still reach the byte-level BPE.
 */
#include <string.h>

#include "tokenizer/tok_impl.h"

/* White_Space: TAB..CR, SPACE, NEL, NBSP, OGHAM, EN QUAD..HAIR SPACE, LS, PS, NNBSP, MMSP,
 * IDEOGRAPHIC SPACE. */
#define WS                                                                                \
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}" \
    "\\x{205F}\\x{3000}"
#define S  "[" WS "]"
#define NS "[^" WS "]"

/* Qwen2 / Qwen2.5 / Qwen3 / DeepSeek-R1-Distill-Qwen: digits one at a time. */
#define RE_QWEN2                                                                \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS \
    "\\p{L}\\p{N}]+[\\r\\n]*|" S "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"
/* Llama 3: digits in groups of up to three. */
#define RE_LLAMA3                                                                    \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS \
    "\\p{L}\\p{N}]+[\\r\\n]*|" S "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"
/* GPT-2 (the ByteLevel pre-tokenizer's own regex). llama.cpp writes it without the final "\s+";
 * under Isolated splitting that changes nothing on valid UTF-8 (the one whitespace character
 * it would match becomes a gap piece of its own). */
#define RE_GPT2_CORE \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|" S "+(?!" NS ")"
#define RE_GPT2 RE_GPT2_CORE "|" S "+"
/* CJK ideographs U+4E00–U+9FA5, U+0800–U+4E00 and Hangul U+AC00–U+D7FF (DeepSeek). */
#define RE_DS_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* DeepSeek LLM's letter class (cased letters of an older Unicode, as in its tokenizer.json). */
#define DS_LETTERS                                                                             \
    "\\x{41}-\\x{5A}\\x{61}-\\x{7A}\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"      \
    "\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}"     \
    "\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-"     \
    "\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-" \
    "\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"    \
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-"   \
    "\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-"     \
    "\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-"    \
    "\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"    \
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}"     \
    "\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-"     \
    "\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-"     \
    "\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}"     \
    "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-"   \
    "\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"  \
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"     \
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"

static const tok_pretok k_pretoks[] = {
    {"qwen2|deepseek-r1-qwen", {RE_QWEN2, NULL}, true, false},
    {"llama-bpe|llama3|llama-v3", {RE_LLAMA3, NULL}, false, true},
    {"deepseek-llm",
     {"[\\r\\n]", S "?[" DS_LETTERS "]+",
      S "?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
      /* "\s+$"; the look-behind only skips starts inside a run (same matches, linear time) */
      "(?<!" S ")" S "+$", RE_DS_CJK, "\\p{N}+", NULL},
     false,
     false},
    {"deepseek-coder",
     {"[\\r\\n]", S "?\\p{L}+", S "?\\p{P}+", RE_DS_CJK, "\\p{N}", NULL},
     false,
     false},
    {"gpt-2", {RE_GPT2, NULL}, false, false},
    /* "default" (also used when tokenizer.ggml.pre is missing: old conversions, unrecognised
     * tokenizers) has no Hugging Face counterpart; it is llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT
     * split (src/llama-vocab.cpp), so such files tokenize as they do there: punctuation and
     * $+<=>^~| runs isolated, then GPT-2's regex, digit runs, and digits in groups of three
     * from the left. */
    {"default",
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2_CORE, "\\p{N}+", "[0-9][0-9][0-9]", NULL},
     false,
     false},
};

/* true when name (NUL-terminated) is one of the '|'-separated names. */
static bool name_in(const char *names, const char *name) {
    size_t n = strlen(name);
    for (const char *p = names; *p;) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !memcmp(p, name, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

ky_status pretok_build(ky_vocab *v, const char *path, ky_error *err) {
    struct ky_vocab_impl *im = v->impl;
    const tok_pretok *pt = NULL;
    for (size_t i = 0; i < sizeof k_pretoks / sizeof k_pretoks[0]; i++)
        if (name_in(k_pretoks[i].names, v->pre)) pt = &k_pretoks[i];
    if (!pt)
        return ky_errf(err, KY_ERR_UNSUPPORTED,
                       "%s: pre-tokenizer '%s' (key 'tokenizer.ggml.pre') is not supported "
                       "(supported: qwen2, deepseek-r1-qwen, llama-bpe, deepseek-llm, "
                       "deepseek-coder, gpt-2, default)",
                       path, v->pre);
    im->pretok = pt;
    im->max_capture = 1;
    for (int i = 0; pt->regex[i]; i++) {
        int code;
        PCRE2_SIZE where;
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)pt->regex[i], PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &where, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            return ky_errf(err, KY_ERR_INTERNAL, "%s: pre-tokenizer '%s' regex %d: %s at %zu", path,
                           v->pre, i, (const char *)msg, (size_t)where);
        }
        im->re[i] = re;
        im->n_re = i + 1;
        im->re_jit[i] = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
        uint32_t cap = 0;
        pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &cap);
        if (cap + 1 > im->max_capture) im->max_capture = cap + 1;
    }
    return KY_OK;
}

void pretok_free(struct ky_vocab_impl *im) {
    for (int i = 0; i < im->n_re; i++) pcre2_code_free(im->re[i]);
    im->n_re = 0;
}

/* One regex match at or after off. Returns 1 with [*ms, *me), 0 for no match, -1 on error
 * (s->st set). Grows the JIT stack or lifts the match limit when a long input needs it. */
static int match_at(tok_sess *s, int k, const uint8_t *t, size_t n, size_t off, size_t *ms,
                    size_t *me) {
    const struct ky_vocab_impl *im = s->v->impl;
    if (!s->md) {
        s->md = pcre2_match_data_create(im->max_capture, NULL);
        if (!s->md) {
            s->st = KY_ERR_NOMEM;
            return -1;
        }
    }
    for (int attempt = 0;; attempt++) {
        int rc = im->re_jit[k] ? pcre2_jit_match(im->re[k], t, n, off, 0, s->md, s->mctx)
                               : pcre2_match(im->re[k], t, n, off, 0, s->md, s->mctx);
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
            *ms = ov[0];
            *me = ov[1];
            return 1;
        }
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        bool retry =
            attempt < 3 && (rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_MATCHLIMIT ||
                            rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT);
        if (!retry) {
            s->st = KY_ERR_INTERNAL;
            return -1;
        }
        if (!s->mctx && !(s->mctx = pcre2_match_context_create(NULL))) {
            s->st = KY_ERR_NOMEM;
            return -1;
        }
        pcre2_set_match_limit(s->mctx, UINT32_MAX);
        pcre2_set_depth_limit(s->mctx, UINT32_MAX);
        pcre2_set_heap_limit(s->mctx, UINT32_MAX);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
            if (s->jit_stack) pcre2_jit_stack_free(s->jit_stack);
            s->jit_stack = pcre2_jit_stack_create(32 * 1024, (size_t)64 << 20, NULL);
            if (!s->jit_stack) {
                s->st = KY_ERR_NOMEM;
                return -1;
            }
            pcre2_jit_stack_assign(s->mctx, NULL, s->jit_stack);
        }
    }
}

/* Splits t[0, n) with regex k and passes every piece on to regex k + 1 (or to the word
 * callback after the last one). */
static void split(tok_sess *s, int k, const uint8_t *t, size_t n,
                  void (*word)(tok_sess *, const uint8_t *, size_t)) {
    if (n == 0 || s->st) return;
    if (k == s->v->impl->n_re) {
        word(s, t, n);
        return;
    }
    size_t off = 0, gap = 0, ms, me;
    while (off < n && !s->st) {
        int r = match_at(s, k, t, n, off, &ms, &me);
        if (r <= 0) break;
        if (me == ms) { /* empty match: step over one character, keep it in the gap */
            off = ms + tok_utf8_len(t + ms, n - ms);
            continue;
        }
        if (ms > gap) split(s, k + 1, t + gap, ms - gap, word);
        split(s, k + 1, t + ms, me - ms, word);
        gap = off = me;
    }
    if (gap < n && !s->st) split(s, k + 1, t + gap, n - gap, word);
}

void pretok_split(tok_sess *s, const uint8_t *t, size_t n,
                  void (*word)(tok_sess *, const uint8_t *, size_t)) {
    split(s, 0, t, n, word);
}
