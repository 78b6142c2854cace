/* hub.c — repository listings of Hugging Face and ModelScope, GGUF quant names, split sets and
 * the choice of the files to pull (layer: store). Everything here parses untrusted bytes from the
 * network: sizes are bounded, paths validated, and a malformed listing is an error, never a crash.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/limits.h"
#include "store/store.h"

bool store_valid_repo_path(const char *p, size_t len) {
    if (!p || len == 0 || len > KY_STORE_MAX_REPO_PATH) return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == '/') {
            size_t n = i - start;
            if (n == 0 || n > 255) return false;
            if (n == 1 && p[start] == '.') return false;
            if (n == 2 && p[start] == '.' && p[start + 1] == '.') return false;
            start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f || c == '\\') return false;
    }
    return true;
}

void store_listing_free(store_listing *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->files[i].path);
    free(l->files);
    l->files = NULL;
    l->n = 0;
}

static void copy_sha(char out[65], const char *s) {
    out[0] = '\0';
    if (!s || strlen(s) != 64) return;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i])) return;
    for (int i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)s[i]);
    out[64] = '\0';
}

/* Appends one entry; silently skips invalid paths and sizes (the hub's business, not ours). */
static ky_status add_file(store_listing *l, size_t *cap, json_t *path, json_t *size,
                          const char *sha, const char *what, ky_error *err) {
    if (!json_is_string(path) || !json_is_integer(size)) return KY_OK;
    const char *p = json_string_value(path);
    size_t plen = json_string_length(path);
    json_int_t sz = json_integer_value(size);
    if (strlen(p) != plen || !store_valid_repo_path(p, plen)) return KY_OK;
    if (sz < 0 || (unsigned long long)sz > KY_STORE_MAX_FILE_BYTES) return KY_OK;
    if (l->n >= KY_STORE_MAX_FILES)
        return ky_errf(err, KY_ERR_FORMAT, "%s: the listing has more than %d files", what,
                       KY_STORE_MAX_FILES);
    if (l->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        store_file *g = realloc(l->files, nc * sizeof *g);
        if (!g) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", what);
        l->files = g;
        *cap = nc;
    }
    store_file *f = &l->files[l->n];
    f->path = malloc(plen + 1);
    if (!f->path) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", what);
    memcpy(f->path, p, plen + 1);
    f->size = (uint64_t)sz;
    copy_sha(f->sha256, sha);
    l->n++;
    return KY_OK;
}

static ky_status parse_json(const char *json, size_t len, const char *what, json_t **out,
                            ky_error *err) {
    if (len > KY_STORE_MAX_LISTING)
        return ky_errf(err, KY_ERR_FORMAT, "%s: the listing is larger than %u bytes", what,
                       KY_STORE_MAX_LISTING);
    json_error_t je;
    *out = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!*out)
        return ky_errf(err, KY_ERR_FORMAT, "%s: the hub's listing is not valid JSON (%s)", what,
                       je.text);
    return KY_OK;
}

ky_status store_parse_hf_listing(const char *json, size_t len, const char *what, store_listing *out,
                                 ky_error *err) {
    json_t *root;
    ky_status st = parse_json(json, len, what, &root, err);
    if (st) return st;
    store_listing l = {0};
    size_t cap = 0;
    json_t *arr = json_is_array(root) ? root : json_object_get(root, "siblings");
    if (!json_is_array(arr)) {
        json_decref(root);
        return ky_errf(err, KY_ERR_FORMAT, "%s: the hub's answer is not a file listing", what);
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (!json_is_object(e)) continue;
        json_t *lfs = json_object_get(e, "lfs");
        json_t *path = json_object_get(e, "rfilename");
        const char *sha = NULL;
        if (!path) {
            /* tree API: {type, path, size, lfs: {oid, size}} */
            json_t *type = json_object_get(e, "type");
            if (json_is_string(type) && strcmp(json_string_value(type), "file")) continue;
            path = json_object_get(e, "path");
            if (json_is_object(lfs)) sha = json_string_value(json_object_get(lfs, "oid"));
        } else if (json_is_object(lfs)) {
            sha = json_string_value(json_object_get(lfs, "sha256"));
        }
        json_t *size = json_object_get(e, "size");
        if (json_is_object(lfs) && json_is_integer(json_object_get(lfs, "size")))
            size = json_object_get(lfs, "size");
        if ((st = add_file(&l, &cap, path, size, sha, what, err))) break;
    }
    json_decref(root);
    if (st) {
        store_listing_free(&l);
        return st;
    }
    *out = l;
    return KY_OK;
}

ky_status store_parse_ms_listing(const char *json, size_t len, const char *what, store_listing *out,
                                 ky_error *err) {
    json_t *root;
    ky_status st = parse_json(json, len, what, &root, err);
    if (st) return st;
    if (!json_is_object(root)) {
        json_decref(root);
        return ky_errf(err, KY_ERR_FORMAT, "%s: the hub's answer is not a file listing", what);
    }
    json_t *code = json_object_get(root, "Code");
    if (json_is_integer(code) && json_integer_value(code) != 200) {
        const char *msg = json_string_value(json_object_get(root, "Message"));
        st = ky_errf(err, KY_ERR_NOT_FOUND, "%s: ModelScope answered code %lld: %.200s", what,
                     (long long)json_integer_value(code), msg ? msg : "(no message)");
        json_decref(root);
        return st;
    }
    json_t *arr = json_object_get(json_object_get(root, "Data"), "Files");
    if (!json_is_array(arr)) {
        json_decref(root);
        return ky_errf(err, KY_ERR_FORMAT, "%s: the hub's answer has no Data.Files list", what);
    }
    store_listing l = {0};
    size_t cap = 0, i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (!json_is_object(e)) continue;
        json_t *type = json_object_get(e, "Type");
        if (json_is_string(type) && !strcmp(json_string_value(type), "tree")) continue;
        if ((st = add_file(&l, &cap, json_object_get(e, "Path"), json_object_get(e, "Size"),
                           json_string_value(json_object_get(e, "Sha256")), what, err)))
            break;
    }
    json_decref(root);
    if (st) {
        store_listing_free(&l);
        return st;
    }
    *out = l;
    return KY_OK;
}

/* ---- file names ------------------------------------------------------------------------- */

static bool ends_with_ci(const char *s, size_t n, const char *suffix) {
    size_t m = strlen(suffix);
    return n >= m && !strncasecmp(s + n - m, suffix, m);
}

bool store_split_name(const char *path, int *part, int *count, size_t *prefix_len) {
    size_t n = strlen(path);
    /* "-00001-of-00003.gguf": 1 + 5 + 4 + 5 + 5 = 20 bytes */
    if (n < 21 || !ends_with_ci(path, n, ".gguf")) return false;
    const char *s = path + n - 20;
    if (s[0] != '-' || strncmp(s + 6, "-of-", 4)) return false;
    int a = 0, b = 0;
    for (int i = 0; i < 5; i++) {
        if (!isdigit((unsigned char)s[1 + i]) || !isdigit((unsigned char)s[10 + i])) return false;
        a = a * 10 + (s[1 + i] - '0');
        b = b * 10 + (s[10 + i] - '0');
    }
    if (a < 1 || a > b || b > KY_STORE_MAX_PARTS) return false;
    *part = a;
    *count = b;
    *prefix_len = n - 20;
    return true;
}

/* A quant token: f16 f32 bf16 fp16 fp32, or (i|t)?q<digits>(_<alnum>+)*. */
static bool is_quant_token(const char *t, size_t n) {
    static const char *const plain[] = {"f16", "f32", "bf16", "fp16", "fp32"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (n == strlen(plain[i]) && !strncasecmp(t, plain[i], n)) return true;
    size_t i = 0;
    if (i < n && (tolower((unsigned char)t[i]) == 'i' || tolower((unsigned char)t[i]) == 't')) i++;
    if (i >= n || tolower((unsigned char)t[i]) != 'q') return false;
    i++;
    if (i >= n || !isdigit((unsigned char)t[i])) return false;
    while (i < n && isdigit((unsigned char)t[i])) i++;
    while (i < n) {
        if (t[i] != '_' || i + 1 >= n) return false;
        i++;
        if (!isalnum((unsigned char)t[i])) return false;
        while (i < n && isalnum((unsigned char)t[i])) i++;
    }
    return true;
}

bool store_file_quant(const char *path, char quant[KY_REF_QUANT_MAX]) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (!ends_with_ci(base, n, ".gguf")) return false;
    if (!strncasecmp(base, "mmproj", 6)) return false;
    int part, count;
    size_t plen;
    if (store_split_name(base, &part, &count, &plen))
        n = plen;
    else
        n -= 5;
    /* Tokens separated by '-' or '.', scanned from the end. */
    size_t end = n;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && base[start - 1] != '-' && base[start - 1] != '.') start--;
        size_t len = end - start;
        if (len > 0 && len < KY_REF_QUANT_MAX && is_quant_token(base + start, len)) {
            for (size_t i = 0; i < len; i++)
                quant[i] = (char)toupper((unsigned char)base[start + i]);
            quant[len] = '\0';
            return true;
        }
        if (start == 0) break;
        end = start - 1;
    }
    return false;
}

/* ---- choosing files ------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct quants of the listing, sorted, as a comma-separated list into buf. Returns the count. */
static size_t list_quants(const store_listing *l, char *buf, size_t cap) {
    size_t n_q = 0;
    char(*q)[KY_REF_QUANT_MAX] = malloc((l->n ? l->n : 1) * sizeof *q);
    const char **sorted = malloc((l->n ? l->n : 1) * sizeof *sorted);
    buf[0] = '\0';
    if (!q || !sorted) {
        free(q);
        free(sorted);
        snprintf(buf, cap, "(out of memory)");
        return 0;
    }
    for (size_t i = 0; i < l->n; i++) {
        char one[KY_REF_QUANT_MAX];
        if (!store_file_quant(l->files[i].path, one)) continue;
        bool seen = false;
        for (size_t j = 0; j < n_q && !seen; j++) seen = !strcmp(q[j], one);
        if (!seen) {
            memcpy(q[n_q], one, sizeof one);
            sorted[n_q] = q[n_q];
            n_q++;
        }
    }
    qsort(sorted, n_q, sizeof *sorted, cmp_str);
    size_t used = 0;
    for (size_t i = 0; i < n_q && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", sorted[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    free(q);
    free(sorted);
    return n_q;
}

ky_status store_select(const store_listing *l, const char *quant, const char *what, size_t *idx,
                       size_t *n_idx, char chosen[KY_REF_QUANT_MAX], ky_error *err) {
    char avail[400];
    size_t n_q = list_quants(l, avail, sizeof avail);
    if (n_q == 0)
        return ky_errf(err, KY_ERR_NOT_FOUND,
                       "%s: the repository has no GGUF model files (is it a GGUF repository? "
                       "their names usually end in -GGUF)",
                       what);
    char want[KY_REF_QUANT_MAX];
    if (quant && quant[0]) {
        snprintf(want, sizeof want, "%s", quant);
    } else if (n_q == 1) {
        snprintf(want, sizeof want, "%.*s", (int)sizeof want - 1, avail);
    } else {
        snprintf(want, sizeof want, "Q4_K_M");
    }
    /* The best candidate: a single file, or part 1 of a split set; ties go to the shorter path. */
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < l->n; i++) {
        char q[KY_REF_QUANT_MAX];
        if (!store_file_quant(l->files[i].path, q) || strcmp(q, want)) continue;
        int part, count;
        size_t plen;
        if (store_split_name(l->files[i].path, &part, &count, &plen) && part != 1) continue;
        if (best == SIZE_MAX || strlen(l->files[i].path) < strlen(l->files[best].path) ||
            (strlen(l->files[i].path) == strlen(l->files[best].path) &&
             strcmp(l->files[i].path, l->files[best].path) < 0))
            best = i;
    }
    if (best == SIZE_MAX)
        return ky_errf(err, KY_ERR_NOT_FOUND,
                       "%s: no GGUF file of quant %s; available quants: %s (add one as :QUANT)",
                       what, want, avail);
    int part, count;
    size_t plen;
    const char *first = l->files[best].path;
    if (!store_split_name(first, &part, &count, &plen)) {
        idx[0] = best;
        *n_idx = 1;
    } else {
        for (int k = 1; k <= count; k++) {
            char name[KY_STORE_MAX_REPO_PATH + 32];
            snprintf(name, sizeof name, "%.*s-%05d-of-%05d%s", (int)plen, first, k, count,
                     first + strlen(first) - 5);
            size_t found = SIZE_MAX;
            for (size_t i = 0; i < l->n && found == SIZE_MAX; i++)
                if (!strcmp(l->files[i].path, name)) found = i;
            if (found == SIZE_MAX)
                return ky_errf(err, KY_ERR_FORMAT,
                               "%s: split model %s lacks part %d of %d (%s) in the listing", what,
                               first, k, count, name);
            idx[k - 1] = found;
        }
        *n_idx = (size_t)count;
    }
    snprintf(chosen, KY_REF_QUANT_MAX, "%s", want);
    return KY_OK;
}
