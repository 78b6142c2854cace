/* cli_util.c — argument parsing and formatting helpers shared by the subcommands (layer: cli).
 * Nothing here touches a model, so it links without the engine (tests/fuzz/fuzz_inspect.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

bool cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                   long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0') {
        fprintf(stderr, "kaiyuan %s: %s: '%s' is not an integer\n", cmd, opt, s);
        return false;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "kaiyuan %s: %s: %lld is outside [%lld, %lld]\n", cmd, opt, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) {
        fprintf(stderr, "kaiyuan %s: %s: '%s' is not a finite number\n", cmd, opt, s);
        return false;
    }
    *out = v;
    return true;
}

const char *cli_human_bytes(uint64_t n, char buf[32]) {
    if (n < 1024)
        snprintf(buf, 32, "%llu B", (unsigned long long)n);
    else if (n < (1ull << 20))
        snprintf(buf, 32, "%.2f KiB", (double)n / 1024.0);
    else if (n < (1ull << 30))
        snprintf(buf, 32, "%.2f MiB", (double)n / (1024.0 * 1024.0));
    else
        snprintf(buf, 32, "%.2f GiB", (double)n / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

bool cli_parse_ids(const char *cmd, const char *opt, const char *s, ky_token **ids, size_t *n) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    ky_token *out = malloc(cap * sizeof *out);
    if (!out) {
        fprintf(stderr, "kaiyuan %s: out of memory\n", cmd);
        return false;
    }
    size_t count = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ') p++;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p) {
            fprintf(stderr, "kaiyuan %s: %s: '%s' is not a list of token ids (item %zu)\n", cmd,
                    opt, s, count + 1);
            free(out);
            return false;
        }
        if (errno == ERANGE || v < 0 || v > INT32_MAX) {
            fprintf(stderr,
                    "kaiyuan %s: %s: item %zu: token id %.*s is out of range (ids are 0 to %d)\n",
                    cmd, opt, count + 1, (int)(end - p), p, INT32_MAX);
            free(out);
            return false;
        }
        out[count++] = (ky_token)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == '\0') break;
        if (*p != ',') {
            fprintf(stderr, "kaiyuan %s: %s: unexpected '%c' in '%s'\n", cmd, opt, *p, s);
            free(out);
            return false;
        }
        p++;
    }
    *ids = out;
    *n = count;
    return true;
}

bool cli_check_ids(const char *cmd, const ky_token *ids, size_t n, int32_t n_vocab) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) {
            fprintf(
                stderr,
                "kaiyuan %s: prompt token %zu of %zu: id %d is outside the vocabulary [0, %d)\n",
                cmd, i + 1, n, ids[i], n_vocab);
            return false;
        }
    return true;
}

bool cli_parse_kv_type(const char *cmd, const char *s, uint32_t *out) {
    if (!strcmp(s, "f32"))
        *out = KY_TYPE_F32;
    else if (!strcmp(s, "f16"))
        *out = KY_TYPE_F16;
    else {
        fprintf(stderr, "kaiyuan %s: --kv-type: '%s' must be f32 or f16\n", cmd, s);
        return false;
    }
    return true;
}

char *cli_read_file(const char *cmd, const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "kaiyuan %s: cannot open '%s'\n", cmd, path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf || err) {
        fprintf(stderr, "kaiyuan %s: cannot read '%s'\n", cmd, path);
        free(buf);
        return NULL;
    }
    buf[n] = 0; /* n < cap: the loop grows the buffer before every read */
    *len = n;
    return buf;
}
