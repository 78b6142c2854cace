/* tokenize.c — text → ids: special-token partition, BOS, dispatch to SentencePiece or byte-level
 * BPE (layer: tokenizer).
 *
 * With KY_TOKENIZE_PARSE_SPECIAL the text is cut at every control / user-defined / unknown
 * token text (leftmost-longest), which become single ids; the fragments between them are
 * tokenized by the vocabulary's algorithm. Without it the whole text is one fragment, so typed
 * "<|im_start|>" is plain text. All scratch memory belongs to this call (tok_sess).
 */
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/tokenize.h"

bool tok_reserve(tok_sess *s, void **p, size_t *cap, size_t n, size_t elem) {
    if (n <= *cap) return true;
    if (s->st) return false;
    size_t c = *cap ? *cap : 64;
    while (c < n) {
        if (c > SIZE_MAX / 2 / elem) {
            s->st = KY_ERR_NOMEM;
            return false;
        }
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) {
        s->st = KY_ERR_NOMEM;
        return false;
    }
    *p = q;
    *cap = c;
    return true;
}

void tok_sess_free(tok_sess *s) {
    free(s->buf);
    free(s->cps);
    free(s->cps_tmp);
    free(s->wbuf);
    free(s->sym);
    free(s->heap);
    free(s->aux);
    free(s->stk);
    bpe_sess_free(s);
    if (s->md) pcre2_match_data_free(s->md);
    if (s->mctx) pcre2_match_context_free(s->mctx);
    if (s->jit_stack) pcre2_jit_stack_free(s->jit_stack);
}

static void fragment(tok_sess *s, const uint8_t *t, size_t n, bool after_special) {
    if (n == 0 || s->st) return;
    if (s->v->type == KY_VOCAB_SPM) {
        spm_tokenize(s, t, n, after_special && s->v->impl->add_space_prefix);
    } else {
        bpe_tokenize(s, t, n);
    }
}

ky_status ky_vocab_tokenize_masked(const ky_vocab *v, const char *text, size_t len,
                                   const uint8_t *data_mask, unsigned flags, ky_token *out,
                                   size_t cap, size_t *n_out) {
    *n_out = 0;
    if ((!text && len) || len > KY_MAX_TOKENIZE_BYTES) return KY_ERR_INVALID_ARG;
    if (!out) cap = 0;
    tok_sess s = {0};
    s.v = v;
    s.out = out;
    s.cap = cap;
    if ((flags & KY_TOKENIZE_ADD_BOS) && v->bos != KY_TOKEN_NULL) tok_emit(&s, v->bos);
    const uint8_t *t = (const uint8_t *)text;
    bool after_special = true; /* the start counts as "after a special token" (SPM prefix) */
    size_t frag = 0, pos = 0;  /* the pending fragment starts at frag; the scan is at pos */
    bool parse = (flags & KY_TOKENIZE_PARSE_SPECIAL) != 0;
    while (parse && pos < len && !s.st) {
        if (data_mask && data_mask[pos]) { /* caller data: never a special token */
            while (pos < len && data_mask[pos]) pos++;
            continue;
        }
        size_t run = pos; /* a run of template bytes [pos, run) */
        if (data_mask)
            while (run < len && !data_mask[run]) run++;
        else
            run = len;
        size_t ms, ml;
        ky_token id;
        if (special_find(&v->impl->special, t + pos, run - pos, &ms, &ml, &id)) {
            fragment(&s, t + frag, pos + ms - frag, after_special);
            tok_emit(&s, id);
            after_special = true;
            pos += ms + ml;
            frag = pos;
        } else {
            pos = run;
        }
    }
    fragment(&s, t + frag, len - frag, after_special);
    tok_sess_free(&s);
    if (s.st) return s.st;
    *n_out = s.n;
    return s.n <= cap ? KY_OK : KY_ERR_INVALID_ARG;
}

ky_status ky_vocab_tokenize(const ky_vocab *v, const char *text, size_t len, unsigned flags,
                            ky_token *out, size_t cap, size_t *n_out) {
    return ky_vocab_tokenize_masked(v, text, len, NULL, flags, out, cap, n_out);
}
