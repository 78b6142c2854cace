/* strbuf.h — growable byte buffer for building text (layer: base).
 *
 * Used off the hot path (CLI output, JSON, messages). The buffer is always NUL-terminated once
 * anything was appended. Allocation failure is sticky: `failed` is set and later appends are
 * ignored, so callers check once at the end.
 */
#ifndef KY_BASE_STRBUF_H
#define KY_BASE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"

typedef struct ky_strbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} ky_strbuf;

void ky_strbuf_init(ky_strbuf *sb);
void ky_strbuf_free(ky_strbuf *sb);
void ky_strbuf_reset(ky_strbuf *sb);
void ky_strbuf_append(ky_strbuf *sb, const void *bytes, size_t n);
void ky_strbuf_puts(ky_strbuf *sb, const char *s);
void ky_strbuf_printf(ky_strbuf *sb, const char *fmt, ...) KY_PRINTF(2, 3);
/* Appends s (n bytes) as a JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD. */
void ky_strbuf_json_string(ky_strbuf *sb, const char *s, size_t n);
/* Length (1..4) of the valid UTF-8 sequence at s with n bytes available, or 0 when s starts with
 * an invalid, overlong, surrogate or truncated sequence (or n is 0). */
size_t ky_utf8_seq_len(const char *s, size_t n);

#endif
