/* strbuf.c — growable byte buffer and JSON string escaping (layer: base). */
#include "base/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ky_strbuf_init(ky_strbuf *sb) { memset(sb, 0, sizeof *sb); }

void ky_strbuf_free(ky_strbuf *sb) {
    free(sb->data);
    memset(sb, 0, sizeof *sb);
}

void ky_strbuf_reset(ky_strbuf *sb) {
    sb->len = 0;
    if (sb->data) sb->data[0] = '\0';
}

static bool reserve(ky_strbuf *sb, size_t extra) {
    if (sb->failed) return false;
    if (extra > SIZE_MAX - sb->len - 1) {
        sb->failed = true;
        return false;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return true;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(sb->data, cap);
    if (!p) {
        sb->failed = true;
        return false;
    }
    sb->data = p;
    sb->cap = cap;
    return true;
}

void ky_strbuf_append(ky_strbuf *sb, const void *bytes, size_t n) {
    if (!reserve(sb, n)) return;
    if (n) memcpy(sb->data + sb->len, bytes, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void ky_strbuf_puts(ky_strbuf *sb, const char *s) { ky_strbuf_append(sb, s, strlen(s)); }

void ky_strbuf_printf(ky_strbuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        ky_strbuf_append(sb, small, (size_t)n);
        return;
    }
    if (!reserve(sb, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

size_t ky_utf8_seq_len(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return len;
}

void ky_strbuf_json_string(ky_strbuf *sb, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    ky_strbuf_append(sb, "\"", 1);
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ky_strbuf_append(sb, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\n': ky_strbuf_append(sb, "\\n", 2); break;
            case '\r': ky_strbuf_append(sb, "\\r", 2); break;
            case '\t': ky_strbuf_append(sb, "\\t", 2); break;
            default: ky_strbuf_printf(sb, "\\u%04x", c); break;
            }
            i++;
        } else if (c < 0x80) {
            ky_strbuf_append(sb, p + i, 1);
            i++;
        } else {
            size_t len = ky_utf8_seq_len((const char *)p + i, n - i);
            if (len == 0) {
                ky_strbuf_append(sb, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                ky_strbuf_append(sb, p + i, len);
                i += len;
            }
        }
    }
    ky_strbuf_append(sb, "\"", 1);
}
