/* test_nfc.c — the tokenizer's NFC normalization (tokenizer/nfc.c) against utf8proc_NFC (tests
 * of the tokenizer layer): the Qwen3 reference strings, thousands of random strings of starters,
 * combining marks, Hangul jamo and composition exclusions, invalid UTF-8 (copied through, a
 * boundary for normalization), and a 400 KB run of combining marks with its value worked out by
 * hand (utf8proc itself is quadratic there).
 */
#include <jansson.h>
#include <utf8proc.h>

#include "tok_util.h"
#include "tokenizer/tok_impl.h"

/* Code points that exercise NFC: plain starters, precomposed letters, singletons, composition
 * exclusions, non-starters of many classes (out of order), starters that compose with a
 * following starter (Indic vowel signs), Hangul L/V/T jamo and LV/LVT syllables, a compatibility
 * character (left alone by NFC) and supplementary-plane cases. */
static const int32_t k_alphabet[] = {
    'a',     'e',    'o',    'A',    's',    ' ',    0x00E9, 0x00C5, 0x212B,  0x2126,  0x1E69,
    0x1E0B,  0x0958, 0x0915, 0x0CC6, 0x0CC2, 0x0CD5, 0x0CCB, 0x0CBF, 0x09C7,  0x09BE,  0x09CB,
    0x0B47,  0x0B3E, 0x0B57, 0x0F73, 0x0F75, 0x0F71, 0x0F72, 0x0F74, 0x0F80,  0x1D15E, 0x1D165,
    0x1D157, 0xFB2C, 0x05E9, 0x05BC, 0x05C1, 0x0344, 0x0340, 0x0341, 0x0343,  0x0374,  0x0387,
    0x1100,  0x1112, 0x1161, 0x1175, 0x11A8, 0x11C2, 0xAC00, 0xAC01, 0xD7A3,  0x3131,  0x0300,
    0x0301,  0x0307, 0x0308, 0x0313, 0x0314, 0x0316, 0x031B, 0x0323, 0x0327,  0x0334,  0x0345,
    0x05B0,  0x093C, 0x03B1, 0x03B9, 0x1F00, 0x1FB3, 0x01A1, 0xF900, 0x2F800, 0x11099, 0x110BA,
    0x1109A, 0x0CD6, 0x3099, 0x304B, 0x309A, 0x1E36, 0x0304,
};
#define N_ALPHABET (sizeof k_alphabet / sizeof k_alphabet[0])

/* Non-starters of many combining classes (1 to 240), for long runs. */
static const int32_t k_marks[] = {0x0300, 0x0301, 0x0307, 0x0308,  0x0313,  0x0314, 0x0316, 0x031B,
                                  0x0323, 0x0327, 0x0334, 0x0345,  0x05B0,  0x05BC, 0x05C1, 0x093C,
                                  0x0F71, 0x0F72, 0x0F74, 0x1D165, 0x110BA, 0x3099};
#define N_MARKS (sizeof k_marks / sizeof k_marks[0])

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* utf8proc_NFC of t[0, n) with invalid UTF-8 bytes (tok_utf8_len's definition) copied through
 * and acting as boundaries: each valid stretch is normalized on its own. t holds no NUL. Returns
 * a malloc'd string (*out_n bytes), NULL when utf8proc rejects a stretch. */
static uint8_t *ref_nfc(const uint8_t *t, size_t n, size_t *out_n) {
    uint8_t *out = malloc(3 * n + 1), *seg = malloc(n + 1);
    size_t m = 0;
    bool ok = out && seg;
    for (size_t i = 0; ok && i < n;) {
        size_t j = i;
        while (j < n && (t[j] < 0x80 || tok_utf8_len(t + j, n - j) > 1))
            j += tok_utf8_len(t + j, n - j);
        memcpy(seg, t + i, j - i);
        seg[j - i] = 0;
        uint8_t *r = utf8proc_NFC(seg);
        size_t rl = r ? strlen((const char *)r) : 0;
        if (!r || m + rl + 1 > 3 * n + 1) ok = false;
        if (ok) {
            memcpy(out + m, r, rl);
            m += rl;
            if (j < n) out[m++] = t[j++]; /* the invalid byte */
        }
        free(r);
        i = j;
    }
    free(seg);
    if (!ok) {
        free(out);
        return NULL;
    }
    *out_n = m;
    return out;
}

/* tok_nfc(t) == ref_nfc(t)? Prints the input and both results on a mismatch. */
static bool same_as_utf8proc(tok_sess *s, const uint8_t *t, size_t n, bool *changed) {
    size_t m, rn;
    const uint8_t *got = tok_nfc(s, t, n, &m);
    uint8_t *want = ref_nfc(t, n, &rn);
    bool ok = got && want && m == rn && !memcmp(got, want, m);
    if (!ok) {
        tu_print_str(stderr, "input", (const char *)t, n);
        if (got) tu_print_str(stderr, "ours ", (const char *)got, m);
        if (want) tu_print_str(stderr, "utf8proc", (const char *)want, rn);
    }
    if (changed) *changed = got && (m != n || memcmp(got, t, n));
    free(want);
    return ok;
}

static size_t put_utf8(uint8_t *d, int32_t c) { return (size_t)utf8proc_encode_char(c, d); }

static void qwen3_cases(void) {
    size_t size;
    char *data = ky_test_read_file(ky_test_shared("tokenizer/qwen3/cases.jsonl"), &size);
    REQUIRE(data);
    tok_sess s = {0};
    int n_cases = 0, n_changed = 0, bad = 0;
    for (char *line = data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) continue;
        json_t *jt = json_object_get(j, "text");
        const uint8_t *t = (const uint8_t *)json_string_value(jt);
        size_t len = json_string_length(jt);
        bool changed = false;
        if (t && memchr(t, 0, len) == NULL) {
            n_cases++;
            if (!same_as_utf8proc(&s, t, len, &changed)) bad++;
            n_changed += changed;
        }
        json_decref(j);
    }
    printf("# qwen3 cases: %d strings, %d changed by NFC\n", n_cases, n_changed);
    CHECKF(bad == 0, "%d of %d cases differ from utf8proc_NFC", bad, n_cases);
    CHECK(n_cases >= 200);
    CHECKF(n_changed == 5, "%d cases changed by NFC (expected 5)", n_changed);
    tok_sess_free(&s);
    free(data);
}

/* Random strings over k_alphabet, short enough for utf8proc's quadratic reordering. */
static void random_strings(void) {
    tok_sess s = {0};
    uint64_t seed = 0x2545F4914F6CDD1Dull;
    int n_strings = 6000, bad = 0, n_changed = 0;
    uint8_t t[4 * 400];
    for (int i = 0; i < n_strings && bad < 5; i++) {
        /* mostly short strings; every 50th is a long run of marks (insertion vs counting sort) */
        size_t n_cp = i % 50 == 49 ? 100 + rng_next(&seed) % 300 : rng_next(&seed) % 40;
        size_t n = 0;
        for (size_t k = 0; k < n_cp; k++) {
            uint64_t r = rng_next(&seed);
            int32_t c = k_alphabet[r % N_ALPHABET];
            if (i % 50 == 49 && (r >> 32) % 8 != 0) /* long strings: 7/8 combining marks */
                c = k_marks[(r >> 40) % N_MARKS];
            n += put_utf8(t + n, c);
        }
        bool changed;
        if (!same_as_utf8proc(&s, t, n, &changed)) bad++;
        n_changed += changed;
    }
    printf("# %d random strings, %d changed by NFC\n", n_strings, n_changed);
    CHECK(bad == 0);
    CHECKF(n_changed > n_strings / 4, "only %d strings changed (test is not testing)", n_changed);
    tok_sess_free(&s);
}

/* Invalid UTF-8 is copied through unchanged and blocks composition across it. */
static void invalid_utf8(void) {
    static const char *const bad_seqs[] = {
        "\xFF",     "\x80",     "\xC3",    "\xED\xA0\x80", "\xF4\x90\x80\x80",
        "\xC0\xAF", "\xE4\xB8", "\xF0\x9F"};
    tok_sess s = {0};
    size_t m;
    const uint8_t *r = tok_nfc(&s, (const uint8_t *)"e\xFF\xCC\x81", 4, &m);
    CHECK(r && m == 4 && !memcmp(r, "e\xFF\xCC\x81", 4));
    r = tok_nfc(&s, (const uint8_t *)"e\xCC\x81\xFF", 4, &m);
    CHECK(r && m == 3 && !memcmp(r, "\xC3\xA9\xFF", 3));
    const uint8_t plain[] = "plain \xE4\xB8\xAD\xE6\x96\x87 \xFF text";
    r = tok_nfc(&s, plain, sizeof plain - 1, &m);
    CHECK(r == plain && m == sizeof plain - 1); /* already NFC: the input itself */

    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int n_strings = 3000, bad = 0;
    uint8_t t[4 * 40 + 4 * 8];
    for (int i = 0; i < n_strings && bad < 5; i++) {
        size_t n_cp = rng_next(&seed) % 40, n = 0;
        for (size_t k = 0; k < n_cp; k++) {
            uint64_t r2 = rng_next(&seed);
            if (r2 % 6 == 0) {
                const char *b = bad_seqs[(r2 >> 8) % (sizeof bad_seqs / sizeof bad_seqs[0])];
                memcpy(t + n, b, strlen(b));
                n += strlen(b);
            } else {
                n += put_utf8(t + n, k_alphabet[(r2 >> 8) % N_ALPHABET]);
            }
        }
        if (!same_as_utf8proc(&s, t, n, NULL)) bad++;
    }
    CHECK(bad == 0);
    tok_sess_free(&s);
}

/* "e" + (U+0301 U+0316) x 100000: canonical ordering moves every U+0316 (class 220) before every
 * U+0301 (230); the first U+0301 is then unblocked and composes with "e" into U+00E9, the others
 * are blocked by it. Linear here; utf8proc_NFC takes minutes on it. */
static void long_run_of_marks(void) {
    size_t n_pairs = 100000, n = 1 + 4 * n_pairs;
    uint8_t *t = malloc(n), *want = malloc(n);
    REQUIRE(t && want);
    t[0] = 'e';
    for (size_t k = 0; k < n_pairs; k++) memcpy(t + 1 + 4 * k, "\xCC\x81\xCC\x96", 4);
    size_t w = 0;
    memcpy(want, "\xC3\xA9", 2);
    w = 2;
    for (size_t k = 0; k < n_pairs; k++, w += 2) memcpy(want + w, "\xCC\x96", 2);
    for (size_t k = 1; k < n_pairs; k++, w += 2) memcpy(want + w, "\xCC\x81", 2);
    tok_sess s = {0};
    size_t m;
    const uint8_t *r = tok_nfc(&s, t, n, &m);
    CHECK(r && m == w && !memcmp(r, want, w));
    tok_sess_free(&s);
    free(t);
    free(want);
}

int main(void) {
    RUN(qwen3_cases);
    RUN(random_strings);
    RUN(invalid_utf8);
    RUN(long_run_of_marks);
    TEST_EXIT();
}
