/* detok.c — ids → text: decoded token pieces, detokenization and the streaming decoder
 * (layer: tokenizer).
 *
 * At load time every token's printed bytes are computed once (pieces_build): SPM replaces ▁ by
 * a space and turns <0xXX> into the byte; byte-level BPE maps each character of the token back
 * through GPT-2's byte ↔ unicode table; control / user-defined / unknown tokens keep their text.
 * Decoding is then a copy per token. The streaming decoder holds back the bytes of a character
 * that is not complete yet, so callers never print half of a UTF-8 sequence.
 */
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/tokenize.h"

/* GPT-2's byte → code point table: printable Latin-1 bytes map to themselves, the other 68
 * bytes to U+0100.. in byte order. */
static uint32_t byte_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    uint32_t k = 0;
    for (uint32_t c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) k++;
    return 256 + k;
}

static size_t put_utf8(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    o[0] = (uint8_t)(0xC0 | (cp >> 6));
    o[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2; /* the table only reaches U+0143 */
}

size_t tok_utf8_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 1;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 1;
    return len;
}

/* true when s[0, n) (n >= 1) is a proper prefix of a valid UTF-8 sequence: more bytes may still
 * complete it. */
static bool utf8_incomplete(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return false;
    }
    if (n >= len) return false;
    if (n >= 2 && (s[1] < lo || s[1] > hi)) return false;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return false;
    return true;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Byte of a "<0xXX>" text, or -1. */
static int byte_text_value(const char *s, uint32_t n) {
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    int h = hexval(s[3]), l = hexval(s[4]);
    return (h < 0 || l < 0) ? -1 : h * 16 + l;
}

/* Decodes byte-level BPE text s[0, n) into o. A character outside GPT-2's table is copied as
 * is, unless strict, where it makes the whole decode fail (returns -1). */
static int64_t byte_level_decode(const uint8_t *s, uint32_t n, uint8_t *o, const int16_t *cp_byte,
                                 bool strict) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < n;) {
        size_t l = tok_utf8_len(s + i, n - i);
        uint32_t cp = s[i];
        if (l == 2) cp = ((uint32_t)(s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F);
        if ((l == 1 && cp < 0x80 && cp_byte[cp] >= 0) || (l == 2 && cp < 324 && cp_byte[cp] >= 0)) {
            o[k++] = (uint8_t)cp_byte[cp];
        } else if (strict) {
            return -1;
        } else {
            memcpy(o + k, s + i, l);
            k += (uint32_t)l;
        }
        i += (uint32_t)l;
    }
    return k;
}

ky_status pieces_build(ky_vocab *v, const char *path, ky_error *err) {
    struct ky_vocab_impl *im = v->impl;
    bool spm = v->type == KY_VOCAB_SPM;
    int16_t cp_byte[324]; /* byte-level code point → byte */
    for (int i = 0; i < 324; i++) cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = byte_cp((uint8_t)b);
        cp_byte[cp] = (int16_t)b;
        uint8_t u[2];
        size_t n = put_utf8(cp, u);
        int32_t t = -1;
        if (spm) {
            static const char hex[] = "0123456789ABCDEF";
            char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            t = tok_map_find(v, name, 6);
            if (t < 0) t = tok_map_find(v, &(char){(char)b}, 1);
        } else {
            t = tok_map_find(v, u, n);
        }
        im->byte_token[b] = t;
    }

    /* Pieces are never longer than the token text (each decoded unit shrinks or keeps its
     * size: ▁ is 3 bytes → 1, byte-level chars are 1–2 bytes → 1), so the text total bounds
     * the arena. */
    uint64_t total = 0;
    for (int32_t t = 0; t < v->n_tokens; t++) total += v->text_len[t];
    if (total > UINT32_MAX - 1)
        return ky_errf(err, KY_ERR_FORMAT, "%s: token texts total %llu bytes (too large)", path,
                       (unsigned long long)total);
    im->piece_off = malloc(((size_t)v->n_tokens + 1) * sizeof *im->piece_off);
    im->piece = malloc((size_t)total + 1);
    if (!im->piece_off || !im->piece)
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory for token pieces", path);
    uint32_t off = 0;
    for (int32_t t = 0; t < v->n_tokens; t++) {
        im->piece_off[t] = off;
        const uint8_t *s = (const uint8_t *)v->text[t];
        uint32_t n = v->text_len[t];
        uint8_t *o = (uint8_t *)im->piece + off;
        uint8_t a = v->attr[t];
        int bv = byte_text_value(v->text[t], n);
        if (a == KY_TOKEN_BYTE && bv >= 0) {
            o[0] = (uint8_t)bv;
            off += 1;
        } else if (a == KY_TOKEN_CONTROL || a == KY_TOKEN_USER_DEFINED || a == KY_TOKEN_UNKNOWN) {
            /* Added tokens print their text; in byte-level vocabularies Hugging Face's decoder
             * maps them through the byte table when every character is in it (DeepSeek's
             * added "õ"-style byte tokens), which leaves ASCII texts unchanged. */
            int64_t k = spm ? -1 : byte_level_decode(s, n, o, cp_byte, true);
            if (k < 0) {
                memcpy(o, s, n);
                k = n;
            }
            off += (uint32_t)k;
        } else if (spm) {
            uint32_t k = 0;
            for (uint32_t i = 0; i < n;) {
                if (i + 3 <= n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
                    o[k++] = ' ';
                    i += 3;
                } else {
                    o[k++] = s[i++];
                }
            }
            off += k;
        } else {
            off += (uint32_t)byte_level_decode(s, n, o, cp_byte, false);
        }
    }
    im->piece_off[v->n_tokens] = off;
    return KY_OK;
}

const char *ky_vocab_piece(const ky_vocab *v, ky_token t, unsigned flags, size_t *len) {
    if (t < 0 || t >= v->n_tokens) {
        *len = 0;
        return NULL;
    }
    uint8_t a = v->attr[t];
    const struct ky_vocab_impl *im = v->impl;
    if (a == KY_TOKEN_UNUSED ||
        ((a == KY_TOKEN_CONTROL || a == KY_TOKEN_UNKNOWN) && !(flags & KY_DETOK_SPECIAL))) {
        *len = 0;
        return im->piece + im->piece_off[t];
    }
    *len = im->piece_off[t + 1] - im->piece_off[t];
    return im->piece + im->piece_off[t];
}

/* true when the leading space of the first printed piece is dropped. */
static bool strips_leading(const ky_vocab *v, unsigned flags) {
    return v->type == KY_VOCAB_SPM && v->impl->add_space_prefix && !(flags & KY_DETOK_KEEP_LEADING);
}

ky_status ky_vocab_detokenize(const ky_vocab *v, const ky_token *ids, size_t n, unsigned flags,
                              char *out, size_t cap, size_t *n_out) {
    size_t total = 0;
    bool strip = strips_leading(v, flags);
    if (!ids && n) return KY_ERR_INVALID_ARG;
    if (!out) cap = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = ky_vocab_piece(v, ids[i], flags, &len);
        if (!p) {
            *n_out = total;
            return KY_ERR_INVALID_ARG;
        }
        if (len == 0) continue;
        if (strip) {
            strip = false;
            if (p[0] == ' ') {
                p++;
                len--;
            }
        }
        if (total < cap) memcpy(out + total, p, len < cap - total ? len : cap - total);
        if (ky_add_overflow_size(total, len, &total)) return KY_ERR_NOMEM;
    }
    *n_out = total;
    return total <= cap ? KY_OK : KY_ERR_INVALID_ARG;
}

void ky_vocab_stream_init(ky_vocab_stream *st, const ky_vocab *v, unsigned flags) {
    memset(st, 0, sizeof *st);
    st->v = v;
    st->flags = flags;
}

void ky_vocab_stream_free(ky_vocab_stream *st) {
    free(st->buf);
    st->buf = NULL;
    st->buf_cap = 0;
}

ky_status ky_vocab_stream_push(ky_vocab_stream *st, ky_token t, const char **text, size_t *len) {
    size_t plen;
    const char *p = ky_vocab_piece(st->v, t, st->flags, &plen);
    *text = "";
    *len = 0;
    if (!p) return KY_ERR_INVALID_ARG;
    if (plen && !st->started) {
        st->started = true;
        if (strips_leading(st->v, st->flags) && p[0] == ' ') {
            p++;
            plen--;
        }
    }
    size_t need = st->n_hold + plen;
    if (need > st->buf_cap) {
        size_t cap = st->buf_cap ? st->buf_cap : 64;
        while (cap < need) cap *= 2;
        char *b = realloc(st->buf, cap);
        if (!b) return KY_ERR_NOMEM;
        st->buf = b;
        st->buf_cap = cap;
    }
    if (need == 0) return KY_OK;
    memcpy(st->buf, st->hold, st->n_hold);
    memcpy(st->buf + st->n_hold, p, plen);
    /* Emit everything up to the last character start if that character is incomplete. */
    const uint8_t *b = (const uint8_t *)st->buf;
    size_t keep = need;
    size_t start = need > 4 ? need - 4 : 0;
    for (size_t i = need; i-- > start;) {
        if ((b[i] & 0xC0) != 0x80) { /* a lead (or ASCII / invalid) byte */
            if (utf8_incomplete(b + i, need - i)) keep = i;
            break;
        }
    }
    st->n_hold = need - keep;
    memcpy(st->hold, b + keep, st->n_hold);
    *text = st->buf;
    *len = keep;
    return KY_OK;
}

ky_status ky_vocab_stream_flush(ky_vocab_stream *st, const char **text, size_t *len) {
    if (st->n_hold > st->buf_cap) {
        char *b = realloc(st->buf, 64);
        if (!b) return KY_ERR_NOMEM;
        st->buf = b;
        st->buf_cap = 64;
    }
    if (st->n_hold) memcpy(st->buf, st->hold, st->n_hold);
    *text = st->n_hold ? st->buf : "";
    *len = st->n_hold;
    st->n_hold = 0;
    return KY_OK;
}
