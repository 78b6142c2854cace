/* gguf_split.c — split GGUF models: one model in several files named
 * PREFIX-00001-of-0000N.gguf ... PREFIX-0000N-of-0000N.gguf, as llama.cpp's gguf-split writes
 * them (layer: gguf). Every part carries split.no (u16, 0-based), split.count (u16) and the first
 * split.tensors.count (total tensors); the first part holds the metadata, each part its share of
 * the tensors. Each part is a complete, validated GGUF file of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "gguf/gguf.h"

void gguf_split_close(ky_gguf **parts, int n) {
    if (!parts) return;
    for (int i = 0; i < n; i++) ky_gguf_close(parts[i]);
    free(parts);
}

/* "-00001-of-00003.gguf" at the end of path: *no 1, *count 3, *prefix_len. */
static bool split_suffix(const char *path, int *no, int *count, size_t *prefix_len) {
    size_t n = strlen(path);
    if (n < 20 || strcmp(path + n - 5, ".gguf")) return false;
    const char *s = path + n - 20;
    if (s[0] != '-' || strncmp(s + 6, "-of-", 4)) return false;
    int a = 0, b = 0;
    for (int i = 0; i < 5; i++) {
        if (s[1 + i] < '0' || s[1 + i] > '9' || s[10 + i] < '0' || s[10 + i] > '9') return false;
        a = a * 10 + (s[1 + i] - '0');
        b = b * 10 + (s[10 + i] - '0');
    }
    *no = a;
    *count = b;
    *prefix_len = n - 20;
    return true;
}

ky_status gguf_split_open(const char *path, ky_gguf ***out, int *n_out, ky_error *err) {
    ky_gguf *first;
    ky_status st = ky_gguf_open(path, &first, err);
    if (st) return st;
    int64_t count = 1, no = 0, total = -1;
    ky_error e;
    st = gguf_get_int_range(first, "split.count", 1, KY_GGUF_MAX_SPLITS, &count, &e);
    if (st == KY_ERR_NOT_FOUND) {
        count = 1;
    } else if (st) {
        ky_gguf_close(first);
        return ky_errf(err, st, "%s", e.message);
    }
    if (count > 1) {
        if ((st = gguf_get_int_range(first, "split.no", 0, count - 1, &no, &e)) ||
            (st = gguf_get_int_range(first, "split.tensors.count", 0, INT32_MAX, &total, &e))) {
            ky_gguf_close(first);
            return ky_errf(err, st == KY_ERR_NOT_FOUND ? KY_ERR_FORMAT : st, "%s", e.message);
        }
    }
    int sn = 0, sc = 0;
    size_t plen = 0;
    bool named = split_suffix(path, &sn, &sc, &plen);
    if (count > 1 && no != 0) {
        ky_gguf_close(first);
        return ky_errf(err, KY_ERR_INVALID_ARG,
                       "%s: this is part %d of a %d-part split model; open its first part "
                       "(-00001-of-%05d.gguf)",
                       path, (int)no + 1, (int)count, (int)count);
    }
    if (count > 1 && (!named || sn != 1 || sc != count)) {
        ky_gguf_close(first);
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: split.count is %d but the file is not named PREFIX-00001-of-%05d.gguf, "
                       "so its other parts cannot be found",
                       path, (int)count, (int)count);
    }
    ky_gguf **parts = calloc((size_t)count, sizeof *parts);
    if (!parts) {
        ky_gguf_close(first);
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    }
    parts[0] = first;
    int64_t n_tensors = ky_gguf_n_tensors(first);
    size_t cap = strlen(path) + 1;
    char *name = malloc(cap);
    if (!name) {
        gguf_split_close(parts, 1);
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int k = 1; k < (int)count; k++) {
        memcpy(name, path, plen);
        snprintf(name + plen, cap - plen, "-%05d-of-%05d.gguf", k + 1, (int)count);
        if ((st = ky_gguf_open(name, &parts[k], err))) {
            if (st == KY_ERR_IO)
                ky_errf(err, st, "%s: part %d of %d of the split model %s is missing or unreadable",
                        name, k + 1, (int)count, path);
            gguf_split_close(parts, k);
            free(name);
            return st;
        }
        int64_t pno = -1, pcount = -1;
        if (gguf_get_int(parts[k], "split.no", &pno, NULL) != KY_OK || pno != k ||
            gguf_get_int(parts[k], "split.count", &pcount, NULL) != KY_OK || pcount != count) {
            st = ky_errf(err, KY_ERR_FORMAT,
                         "%s: expected split.no %d and split.count %d (part %d of %s)", name, k,
                         (int)count, k + 1, path);
            gguf_split_close(parts, k + 1);
            free(name);
            return st;
        }
        n_tensors += ky_gguf_n_tensors(parts[k]);
    }
    free(name);
    if (count > 1 && n_tensors != total) {
        gguf_split_close(parts, (int)count);
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: split.tensors.count is %lld but the %d parts hold %lld tensors", path,
                       (long long)total, (int)count, (long long)n_tensors);
    }
    *out = parts;
    *n_out = (int)count;
    return KY_OK;
}
