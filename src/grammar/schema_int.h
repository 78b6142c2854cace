/* schema_int.h — helpers shared by the JSON Schema compiler's files (layer: grammar). */
#ifndef KY_GRAMMAR_SCHEMA_INT_H
#define KY_GRAMMAR_SCHEMA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

typedef struct cpr {
    uint32_t lo, hi; /* inclusive code-point range */
} cpr;

/* Sorts and merges r[0..n); with neg, replaces it by its complement over the Unicode scalar
 * values (r needs room for n + 2 ranges, at most 128 are kept). Returns the new count. */
size_t schema_cp_normalize(cpr *r, size_t n, bool neg);
/* Appends a GBNF group matching one character of the set as JSON string content. */
void schema_emit_cpset(ky_strbuf *b, const cpr *r, size_t n);
/* Appends the GBNF of pattern pat[0..n) (without its ^ / $ anchors). On failure *why names
 * the problem ("... in") and false is returned. */
bool schema_regex_gbnf(const char *pat, size_t n, ky_strbuf *b, const char **why);
/* Decodes the UTF-8 character at s (n bytes available) into *cp and its length *len; false when
 * the bytes are not valid UTF-8. */
bool schema_utf8_cp(const char *s, size_t n, uint32_t *cp, size_t *len);

/* Appends GBNF for the integers in [lo, hi] (|lo|, |hi| < 10^15) written without leading zeros. */
void schema_range_int(ky_strbuf *b, long long lo, long long hi);
/* Appends GBNF for the decimals x (no exponent, at most 15 digits in all, |x| < 10^15) with
 * lo <= x <= hi, an end exclusive when flagged; fractional bounds are compared digit by digit.
 * Returns false when no such decimal exists (b then holds garbage the caller discards). */
bool schema_number_range(ky_strbuf *b, double lo, bool exlo, double hi, bool exhi);

#endif
