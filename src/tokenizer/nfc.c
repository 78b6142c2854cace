/* nfc.c — Unicode NFC normalization of tokenizer input (layer: tokenizer).
 *
 * Qwen's Hugging Face tokenizer normalizes text to NFC before splitting it. Most text already
 * is NFC, so a quick check runs first: a code point is "inert" when it is a starter (combining
 * class 0), cannot be the second half of a canonical composition and is unchanged by NFC. Only
 * the stretches between inert code points that contain anything else are normalized; invalid
 * UTF-8 bytes are copied through unchanged and delimit stretches. A stretch is decomposed and
 * canonically ordered here in linear time (utf8proc_map's reordering is quadratic in the length
 * of a run of combining marks), then composed by utf8proc: the result equals utf8proc_NFC.
 */
#include <pthread.h>
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

/* Canonical ordering (UAX #15): every run of non-starters is sorted stably by combining class.
 * Elements are ccc << 24 | code point (code points fit in 21 bits). Short runs use insertion
 * sort, long ones a counting sort over the 256 classes: O(k) for a run of k, where utf8proc's
 * own reordering is a bubble sort, O(k^2). Returns false on allocation failure. */
static bool canonical_order(tok_sess *s, uint32_t *cp, size_t n) {
    for (size_t i = 0; i < n;) {
        if ((cp[i] >> 24) == 0) {
            i++;
            continue;
        }
        size_t j = i + 1;
        bool sorted = true;
        for (; j < n && (cp[j] >> 24) != 0; j++)
            if ((cp[j] >> 24) < (cp[j - 1] >> 24)) sorted = false;
        size_t k = j - i;
        if (sorted) {
            i = j;
            continue;
        }
        if (k <= 32) {
            for (size_t a = i + 1; a < j; a++) {
                uint32_t e = cp[a];
                size_t b = a;
                for (; b > i && (cp[b - 1] >> 24) > (e >> 24); b--) cp[b] = cp[b - 1];
                cp[b] = e;
            }
        } else {
            if (!tok_reserve(s, (void **)&s->cps_tmp, &s->cps_tmp_cap, k, sizeof(uint32_t)))
                return false;
            size_t start[256] = {0};
            for (size_t a = i; a < j; a++) start[cp[a] >> 24]++;
            for (size_t c = 0, sum = 0; c < 256; c++) {
                size_t m = start[c];
                start[c] = sum;
                sum += m;
            }
            for (size_t a = i; a < j; a++) s->cps_tmp[start[cp[a] >> 24]++] = cp[a];
            memcpy(cp + i, s->cps_tmp, k * sizeof *cp);
        }
        i = j;
    }
    return true;
}

/* Normalizes the valid UTF-8 stretch t[0, n) and appends it: canonical decomposition of every
 * code point, canonical ordering, then utf8proc's composition (linear) and UTF-8 encoding. The
 * result is utf8proc_NFC's (composition exclusions included, no stream-safe limit on runs). */
static bool append_nfc(tok_sess *s, size_t *len, const uint8_t *t, size_t n) {
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t l = tok_utf8_len(t + i, n - i);
        int32_t c = decode(t + i, l);
        i += l;
        for (size_t room = 8;;) {
            if (!tok_reserve(s, (void **)&s->cps, &s->cps_cap, m + room, sizeof(uint32_t)))
                return false;
            utf8proc_ssize_t k =
                utf8proc_decompose_char(c, (utf8proc_int32_t *)(s->cps + m), (utf8proc_ssize_t)room,
                                        UTF8PROC_DECOMPOSE, NULL);
            if (k < 0) { /* cannot happen for a valid code point: keep it */
                s->cps[m++] = (uint32_t)c;
                break;
            }
            if ((size_t)k <= room) {
                m += (size_t)k;
                break;
            }
            room = (size_t)k;
        }
    }
    uint32_t *cp = s->cps;
    for (size_t k = 0; k < m; k++) {
        uint32_t cls = (uint32_t)utf8proc_get_property((int32_t)cp[k])->combining_class;
        cp[k] |= (cls & 0xFF) << 24;
    }
    if (!canonical_order(s, cp, m)) return false;
    for (size_t k = 0; k < m; k++) cp[k] &= 0xFFFFFF;
    utf8proc_ssize_t r = utf8proc_normalize_utf32((utf8proc_int32_t *)cp, (utf8proc_ssize_t)m,
                                                  UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    if (r < 0) return append(s, len, t, n); /* cannot happen on valid input; keep the text */
    if (!tok_reserve(s, (void **)&s->buf, &s->buf_cap, *len + 4 * (size_t)r, 1)) return false;
    for (utf8proc_ssize_t k = 0; k < r; k++)
        *len += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp[k], s->buf + *len);
    return true;
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
