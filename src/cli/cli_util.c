/* cli_util.c — argument parsing and formatting helpers shared by the subcommands (layer: cli). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
