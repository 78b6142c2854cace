/* nfc.c — Unicode NFC normalization of tokenizer input (layer: tokenizer).
 *
 * Qwen's Hugging Face tokenizer normalizes text to NFC before splitting it. Most text already
 * is NFC, so a quick check runs first: a code point is "inert" when it is a starter (combining
 * class 0), cannot be the second half of a canonical composition and is unchanged by NFC. Only
 * the stretches between inert code points that contain anything else are normalized, with
 * utf8proc; invalid UTF-8 bytes are copied through unchanged and delimit stretches.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_impl.h"

/* Inert flags for the BMP, computed once per process. */
static uint8_t g_inert[0x10000 / 8];
static pthread_once_t g_inert_once = PTHREAD_ONCE_INIT;

static bool compute_inert(int32_t c) {
    /* Hangul composes algorithmically: vowel and trailing jamo are second halves of a pair. */
    if ((c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2)) return false;
    const utf8proc_property_t *p = utf8proc_get_property(c);
    if (p->combining_class != 0) return false;
    if (p->comb_index != UINT16_MAX && p->comb_index >= 0x8000) return false; /* 2nd of a pair */
    if (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) {
        /* canonical decomposition: inert only if NFC composes it back to itself */
        utf8proc_int32_t buf[16];
        utf8proc_int32_t last = 0;
        utf8proc_ssize_t n =
            utf8proc_decompose_char(c, buf, 16, UTF8PROC_DECOMPOSE | UTF8PROC_STABLE, &last);
        if (n <= 0 || n > 16) return false;
        n = utf8proc_normalize_utf32(buf, n, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
        return n == 1 && buf[0] == c;
    }
    return true;
}

static void inert_init(void) {
    for (int32_t c = 0; c < 0x10000; c++)
        if (compute_inert(c)) g_inert[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static bool inert(int32_t c) {
    if (c < 0x300) return true;
    if (c < 0x10000) return g_inert[c >> 3] >> (c & 7) & 1;
    if (c >= 0x20000 && c < 0x2F800) return true; /* CJK extension planes: plain starters */
    return compute_inert(c);
}

static int32_t decode(const uint8_t *s, size_t l) {
    switch (l) {
    case 1: return s[0];
    case 2: return (int32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    case 3: return (int32_t)(s[0] & 0x0F) << 12 | (int32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    default:
        return (int32_t)(s[0] & 0x07) << 18 | (int32_t)(s[1] & 0x3F) << 12 |
               (int32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    }
}

/* Appends n bytes to s->buf at *len. */
static bool append(tok_sess *s, size_t *len, const void *p, size_t n) {
    if (n == 0) return true;
    if (!tok_reserve(s, (void **)&s->buf, &s->buf_cap, *len + n, 1)) return false;
    memcpy(s->buf + *len, p, n);
    *len += n;
    return true;
}

/* Normalizes the valid UTF-8 stretch t[0, n) and appends it. */
static bool append_nfc(tok_sess *s, size_t *len, const uint8_t *t, size_t n) {
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t rn =
        utf8proc_map(t, (utf8proc_ssize_t)n, &r, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (rn < 0) { /* cannot happen on valid UTF-8; keep the text */
        free(r);
        return append(s, len, t, n);
    }
    bool ok = append(s, len, r, (size_t)rn);
    free(r);
    return ok;
}

const uint8_t *tok_nfc(tok_sess *s, const uint8_t *t, size_t n, size_t *out_n) {
    pthread_once(&g_inert_once, inert_init);
    size_t i = 0, copied = 0, len = 0;
    bool changed = false;
    size_t last_inert = 0; /* start of the last inert code point (or of the text) */
    while (i < n) {
        if (t[i] < 0x80) {
            last_inert = i++;
            continue;
        }
        size_t l = tok_utf8_len(t + i, n - i);
        if (l == 1) { /* invalid byte: a boundary, copied as is */
            last_inert = ++i;
            continue;
        }
        int32_t c = decode(t + i, l);
        if (inert(c)) {
            last_inert = i;
            i += l;
            continue;
        }
        /* Normalize from the last inert starter up to the next inert code point. */
        size_t a = last_inert, b = i + l;
        while (b < n) {
            if (t[b] < 0x80) break;
            size_t m = tok_utf8_len(t + b, n - b);
            if (m == 1 || inert(decode(t + b, m))) break;
            b += m;
        }
        if (a < copied) a = copied;
        if (!changed) {
            len = 0;
            changed = true;
        }
        if (!append(s, &len, t + copied, a - copied) || !append_nfc(s, &len, t + a, b - a))
            return NULL;
        copied = b;
        i = b;
        last_inert = b;
    }
    if (!changed) {
        *out_n = n;
        return t;
    }
    if (!append(s, &len, t + copied, n - copied)) return NULL;
    *out_n = len;
    return s->buf;
}
