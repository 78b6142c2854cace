/* tok_util.h — helpers shared by the tokenizer tests: loading a vocabulary from ../shared,
 * tokenizing into a growable array, printing id lists and checking round trips.
 */
#ifndef KY_TESTS_TOK_UTIL_H
#define KY_TESTS_TOK_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "test.h"
#include "tokenizer/tokenize.h"
#include "tokenizer/vocab.h"

typedef struct tu_vocab {
    ky_gguf *g;
    ky_vocab *v;
} tu_vocab;

/* Opens ../shared/<rel> and loads its vocabulary; prints the error and returns false on
 * failure. */
static inline bool tu_load(tu_vocab *tv, const char *rel) {
    ky_error err;
    tv->g = NULL;
    tv->v = NULL;
    if (ky_gguf_open(ky_test_shared(rel), &tv->g, &err) != KY_OK) {
        fprintf(stderr, "open %s: %s\n", rel, err.message);
        return false;
    }
    if (ky_vocab_load(tv->g, &tv->v, &err) != KY_OK) {
        fprintf(stderr, "vocab %s: %s\n", rel, err.message);
        ky_gguf_close(tv->g);
        tv->g = NULL;
        return false;
    }
    return true;
}

static inline void tu_free(tu_vocab *tv) {
    ky_vocab_free(tv->v);
    ky_gguf_close(tv->g);
}

/* Tokenizes into a malloc'd array (*n ids); NULL on error (status in *st when st != NULL). */
static inline ky_token *tu_tokenize(const ky_vocab *v, const char *s, size_t len, unsigned flags,
                                    size_t *n, ky_status *st) {
    size_t need = 0;
    if (st) *st = KY_OK;
    ky_status r = ky_vocab_tokenize(v, s, len, flags, NULL, 0, &need);
    if (r != KY_OK && r != KY_ERR_INVALID_ARG) {
        if (st) *st = r;
        return NULL;
    }
    ky_token *ids = malloc((need ? need : 1) * sizeof *ids);
    if (!ids) return NULL;
    r = ky_vocab_tokenize(v, s, len, flags, ids, need, n);
    if (st) *st = r;
    if (r != KY_OK || *n != need) {
        free(ids);
        return NULL;
    }
    return ids;
}

/* Detokenizes into a malloc'd NUL-terminated buffer (*len bytes); NULL on error. */
static inline char *tu_detokenize(const ky_vocab *v, const ky_token *ids, size_t n, unsigned flags,
                                  size_t *len) {
    size_t need = 0;
    ky_status r = ky_vocab_detokenize(v, ids, n, flags, NULL, 0, &need);
    if (r != KY_OK && r != KY_ERR_INVALID_ARG) return NULL;
    char *out = malloc(need + 1);
    if (!out) return NULL;
    if (ky_vocab_detokenize(v, ids, n, flags, out, need + 1, len) != KY_OK || *len != need) {
        free(out);
        return NULL;
    }
    out[need] = '\0';
    return out;
}

static inline void tu_print_ids(FILE *f, const char *label, const ky_token *ids, size_t n) {
    fprintf(f, "    %s [", label);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", ids[i]);
    fprintf(f, "]\n");
}

/* Prints a string with non-printable bytes escaped (at most 200 bytes). */
static inline void tu_print_str(FILE *f, const char *label, const char *s, size_t n) {
    fprintf(f, "    %s \"", label);
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fprintf(f, "%s\"\n", n > 200 ? "..." : "");
}

static inline bool tu_same(const ky_token *a, size_t na, const ky_token *b, size_t nb) {
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof *a));
}

#endif
