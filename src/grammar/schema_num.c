/* schema_num.c — integer and number ranges of JSON Schema as GBNF digit automata (layer: grammar).
 *
 * Integers in [lo, hi] become alternatives per digit count (range_fixed splits on the leading
 * digit). Numbers with bounds, fractional or not, are split the same way on the integer part; the
 * fraction is a digit-by-digit comparison with the bound's decimal digits (frac_ne), so "0.15"
 * passes minimum 0.125 and "0.1249" does not. A bounded number has at most NUM_SIG digits in all
 * (integer part plus fraction, no exponent): two different such decimals are different doubles,
 * so an exclusive bound stays exclusive after a validator parses the text into a double.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/schema_int.h"

#define NUM_SIG 15 /* digits of a bounded number (DBL_DIG: distinct decimals stay distinct) */

/* Decimal naturals in [lo, hi] of exactly n digits (leading zeros allowed inside). */
static void range_fixed(ky_strbuf *b, long long lo, long long hi, int n) {
    if (n == 1) {
        if (lo == hi)
            ky_strbuf_printf(b, "\"%lld\"", lo);
        else
            ky_strbuf_printf(b, "[%lld-%lld]", lo, hi);
        return;
    }
    long long p = 1;
    for (int i = 1; i < n; i++) p *= 10;
    long long dl = lo / p, dh = hi / p, rl = lo % p, rh = hi % p;
    if (dl == dh) {
        ky_strbuf_printf(b, "\"%lld\" ", dl);
        ky_strbuf_puts(b, "( ");
        range_fixed(b, rl, rh, n - 1);
        ky_strbuf_puts(b, " )");
        return;
    }
    ky_strbuf_puts(b, "( ");
    bool first = true;
    long long mid_lo = dl + 1, mid_hi = dh - 1;
    if (rl == 0)
        mid_lo = dl;
    else {
        ky_strbuf_printf(b, "\"%lld\" ( ", dl);
        range_fixed(b, rl, p - 1, n - 1);
        ky_strbuf_puts(b, " )");
        first = false;
    }
    if (rh == p - 1) mid_hi = dh;
    if (mid_lo <= mid_hi) {
        ky_strbuf_printf(b, "%s[%lld-%lld] [0-9]{%d}", first ? "" : " | ", mid_lo, mid_hi, n - 1);
        first = false;
    }
    if (rh != p - 1) {
        ky_strbuf_printf(b, "%s\"%lld\" ( ", first ? "" : " | ", dh);
        range_fixed(b, 0, rh, n - 1);
        ky_strbuf_puts(b, " )");
    }
    ky_strbuf_puts(b, " )");
}

static int n_digits(long long v) {
    int n = 1;
    while (v >= 10) v /= 10, n++;
    return n;
}

static long long pow10ll(int n) {
    long long p = 1;
    while (n-- > 0) p *= 10;
    return p;
}

/* Naturals in [a, b] (0 <= a <= b) without leading zeros, as alternatives in parentheses. */
static void range_nat(ky_strbuf *b, long long a, long long hi) {
    ky_strbuf_puts(b, "( ");
    bool first = true;
    if (a == 0) {
        ky_strbuf_puts(b, "\"0\"");
        first = false;
        a = 1;
    }
    if (a <= hi) {
        for (int n = n_digits(a); n <= n_digits(hi); n++) {
            long long p = pow10ll(n - 1);
            long long lo = a > p ? a : p, top = p * 10 - 1 < hi ? p * 10 - 1 : hi;
            if (lo > top) continue;
            if (!first) ky_strbuf_puts(b, " | ");
            range_fixed(b, lo, top, n);
            first = false;
        }
    }
    ky_strbuf_puts(b, " )");
}

void schema_range_int(ky_strbuf *b, long long lo, long long hi) {
    if (hi < 0) {
        ky_strbuf_puts(b, "\"-\" ");
        range_nat(b, -hi, -lo);
    } else if (lo >= 0) {
        range_nat(b, lo, hi);
    } else {
        ky_strbuf_puts(b, "( \"-\" ");
        range_nat(b, 1, -lo);
        ky_strbuf_puts(b, " | ");
        range_nat(b, 0, hi);
        ky_strbuf_puts(b, " )");
    }
}

/* ---------------------------------------------------------------------------------------------
 * Fractions: a fraction digit string F (value 0.F) compared with a bound's digits.
 * ------------------------------------------------------------------------------------------- */

/* A bound on the rest of a fraction: its digits d (no trailing zeros; "" is 0), inclusive or not;
 * on false: no bound on this side. */
typedef struct fb {
    const char *d;
    bool on, ex;
} fb;

static fb fb_next(fb x) { return (fb){x.d[0] ? x.d + 1 : x.d, true, x.ex}; }

/* The empty rest (value 0) satisfies both bounds. */
static bool frac_empty_ok(fb lo, fb hi) {
    return (!lo.on || (!lo.d[0] && !lo.ex)) && (!hi.on || !hi.ex || hi.d[0]);
}

static bool frac_ne(ky_strbuf *b, fb lo, fb hi, int rem);

/* Appends " <rest>" for the digits after one fixed digit: empty or 1..rem digits within the
 * bounds. false (nothing appended) when no rest is allowed. */
static bool frac_rest(ky_strbuf *b, fb lo, fb hi, int rem) {
    ky_strbuf t;
    ky_strbuf_init(&t);
    bool ne = frac_ne(&t, lo, hi, rem), em = frac_empty_ok(lo, hi);
    if (ne) ky_strbuf_printf(b, em ? " ( %s )?" : " %s", t.data);
    if (t.failed) b->failed = true;
    ky_strbuf_free(&t);
    return ne || em;
}

/* Appends a group matching digit strings of 1..rem digits whose value 0.F is within lo / hi.
 * false (group left empty, the caller discards the buffer) when there is none. */
static bool frac_ne(ky_strbuf *b, fb lo, fb hi, int rem) {
    if (rem <= 0) return false;
    if (!lo.on && !hi.on) {
        ky_strbuf_printf(b, "[0-9]{1,%d}", rem);
        return true;
    }
    int l1 = lo.on ? (lo.d[0] ? lo.d[0] - '0' : 0) : -1;
    int u1 = hi.on ? (hi.d[0] ? hi.d[0] - '0' : 0) : 10;
    if (l1 > u1) return false;
    bool any = false;
    ky_strbuf alt;
    ky_strbuf_init(&alt);
    ky_strbuf_puts(b, "( ");
    fb none = {"", false, false};
    if (lo.on) { /* first digit equal to the lower bound's (and maybe the upper's) */
        ky_strbuf_printf(&alt, "\"%d\"", l1);
        if (frac_rest(&alt, fb_next(lo), hi.on && l1 == u1 ? fb_next(hi) : none, rem - 1)) {
            ky_strbuf_printf(b, "%s%s", any ? " | " : "", alt.data);
            any = true;
        }
        ky_strbuf_reset(&alt);
    }
    if (l1 + 1 <= u1 - 1) { /* strictly between: the rest is free */
        ky_strbuf_printf(b, "%s[%d-%d]", any ? " | " : "", l1 + 1, u1 - 1);
        if (rem > 1) ky_strbuf_printf(b, " [0-9]{0,%d}", rem - 1);
        any = true;
    }
    if (hi.on && !(lo.on && l1 == u1)) { /* first digit equal to the upper bound's */
        ky_strbuf_printf(&alt, "\"%d\"", u1);
        if (frac_rest(&alt, none, fb_next(hi), rem - 1)) {
            ky_strbuf_printf(b, "%s%s", any ? " | " : "", alt.data);
            any = true;
        }
    }
    if (alt.failed) b->failed = true;
    ky_strbuf_free(&alt);
    ky_strbuf_puts(b, " )");
    return any;
}

/* Appends the optional fraction ("" or "." digits) of a number whose integer part has k
 * significant digits, within lo / hi. false when neither is allowed. */
static bool frac_part(ky_strbuf *b, fb lo, fb hi, int k) {
    ky_strbuf t;
    ky_strbuf_init(&t);
    bool ne = frac_ne(&t, lo, hi, NUM_SIG - k), em = frac_empty_ok(lo, hi);
    if (ne) ky_strbuf_printf(b, em ? " ( \".\" %s )?" : " \".\" %s", t.data);
    if (t.failed) b->failed = true;
    ky_strbuf_free(&t);
    return ne || em;
}

/* ---------------------------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------------------------- */

/* A non-negative bound as decimal digits: integer part ip (at most NUM_SIG digits) and fraction
 * digits fp without trailing zeros (the double's shortest round-trip representation). */
typedef struct dec {
    long long ip;
    char fp[400];
} dec;

static void to_dec(double v, dec *d) {
    char buf[64];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v) break;
    }
    snprintf(buf, sizeof buf, "%.*e", p - 1, v);
    char digits[32];
    size_t nd = 0;
    const char *s = buf;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && nd + 1 < sizeof digits) digits[nd++] = *s;
    digits[nd] = '\0';
    int e = *s == 'e' ? atoi(s + 1) : 0; /* value = d0.d1d2... x 10^e */
    d->ip = 0;
    size_t nf = 0;
    if (e < 0) {
        for (int i = 0; i < -e - 1 && nf + 1 < sizeof d->fp; i++) d->fp[nf++] = '0';
        for (size_t i = 0; i < nd && nf + 1 < sizeof d->fp; i++) d->fp[nf++] = digits[i];
    } else {
        for (int i = 0; i <= e; i++) d->ip = d->ip * 10 + ((size_t)i < nd ? digits[i] - '0' : 0);
        for (size_t i = (size_t)e + 1; i < nd && nf + 1 < sizeof d->fp; i++)
            d->fp[nf++] = digits[i];
    }
    while (nf && d->fp[nf - 1] == '0') nf--;
    d->fp[nf] = '\0';
}

static int sig_int(long long ip) { return ip ? n_digits(ip) : 0; }

/* Appends non-negative decimals x with A <= x <= B (ends exclusive as flagged). false when there
 * is none. */
static bool num_nonneg(ky_strbuf *b, double A, bool exA, double B, bool exB) {
    dec a, z;
    to_dec(A, &a);
    to_dec(B, &z);
    fb lo = {a.fp, true, exA}, hi = {z.fp, true, exB}, none = {"", false, false};
    bool any = false;
    ky_strbuf alt;
    ky_strbuf_init(&alt);
    ky_strbuf_puts(b, "( ");
    if (a.ip == z.ip) {
        ky_strbuf_printf(&alt, "\"%lld\"", a.ip);
        if (frac_part(&alt, lo, hi, sig_int(a.ip))) {
            ky_strbuf_puts(b, alt.data);
            any = true;
        }
    } else {
        ky_strbuf_printf(&alt, "\"%lld\"", a.ip);
        if (frac_part(&alt, lo, none, sig_int(a.ip))) {
            ky_strbuf_puts(b, alt.data);
            any = true;
        }
        ky_strbuf_reset(&alt);
        for (int n = n_digits(a.ip + 1); a.ip + 1 <= z.ip - 1 && n <= n_digits(z.ip - 1); n++) {
            long long p = pow10ll(n - 1), from = a.ip + 1 > p ? a.ip + 1 : p;
            long long to = z.ip - 1 < p * 10 - 1 ? z.ip - 1 : p * 10 - 1;
            if (from > to) continue;
            ky_strbuf_puts(b, any ? " | " : "");
            range_fixed(b, from, to, n);
            if (NUM_SIG - n > 0) ky_strbuf_printf(b, " ( \".\" [0-9]{1,%d} )?", NUM_SIG - n);
            any = true;
        }
        ky_strbuf_printf(&alt, "\"%lld\"", z.ip);
        if (frac_part(&alt, none, hi, sig_int(z.ip))) {
            ky_strbuf_printf(b, "%s%s", any ? " | " : "", alt.data);
            any = true;
        }
    }
    if (alt.failed) b->failed = true;
    ky_strbuf_free(&alt);
    ky_strbuf_puts(b, " )");
    return any;
}

bool schema_number_range(ky_strbuf *b, double lo, bool exlo, double hi, bool exhi) {
    if (lo == 0) lo = 0; /* -0.0 */
    if (hi == 0) hi = 0;
    if (lo > hi || (lo == hi && (exlo || exhi))) return false;
    if (lo >= 0) return num_nonneg(b, lo, exlo, hi, exhi);
    if (hi <= 0) {
        ky_strbuf_puts(b, "\"-\" ");
        return num_nonneg(b, -hi, exhi, -lo, exlo);
    }
    ky_strbuf_puts(b, "( \"-\" ");
    bool ok = num_nonneg(b, 0, false, -lo, exlo);
    ky_strbuf_puts(b, " | ");
    ok = num_nonneg(b, 0, false, hi, exhi) && ok;
    ky_strbuf_puts(b, " )");
    return ok;
}
