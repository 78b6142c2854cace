/* manifest.c — the store's manifests: one JSON file per pulled model naming its files, and the
 * local operations on them: find, list, remove (layer: store).
 *
 * HOME/manifests/<hf.co|modelscope.cn>/OWNER/REPO/QUANT.json:
 *   {"kaiyuan_manifest": 1, "name": "hf.co/O/R:Q4_K_M", "alias": "qwen2.5:0.5b",
 *    "source": "huggingface", "quant": "Q4_K_M", "origin": "https://huggingface.co/O/R",
 *    "pulled_at": 1700000000,
 *    "files": [{"repo_path": "x-q4_k_m.gguf", "path": "models/hf.co/O/R/x-q4_k_m.gguf",
 *               "size": 123, "sha256": "..."}]}
 * File paths are relative to HOME so the store can move. Manifests are untrusted input too (a
 * user may edit them): paths are validated to stay below HOME/models.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/limits.h"
#include "store/store.h"

bool store_pathf(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return w >= 0 && (size_t)w < cap;
}

ky_status store_read_json(const char *path, json_t **root, ky_error *err) {
    char *text;
    size_t len;
    ky_status st = store_read_small(path, KY_STORE_MAX_MANIFEST, &text, &len, err);
    if (st) return st;
    *root = json_loadb(text, len, 0, NULL);
    free(text);
    return KY_OK;
}

ky_status store_read_small(const char *path, size_t max, char **out, size_t *len, ky_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ky_errf(err, errno == ENOENT || errno == ENOTDIR ? KY_ERR_NOT_FOUND : KY_ERR_IO,
                       "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ky_errf(err, KY_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > max) {
        close(fd);
        return ky_errf(err, KY_ERR_FORMAT, "%s: larger than %zu bytes", path, max);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return ky_errf(err, KY_ERR_IO, "cannot read %s", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return KY_OK;
}

static void manifest_dir(const ky_store_params *p, const ky_model_ref *r, char *buf, size_t cap) {
    store_pathf(buf, cap, "%s/manifests/%s/%s/%s", p->home, store_source_dir(r->source), r->owner,
                r->repo);
}

ky_status store_manifest_write(const ky_store_params *p, const ky_model_ref *ref,
                               const ky_store_entry *e, const store_file *files,
                               const char *const *local_paths, size_t n, ky_error *err) {
    char path[KY_STORE_PATH_MAX], tmp[KY_STORE_PATH_MAX + 32];
    char dir[KY_STORE_PATH_MAX];
    manifest_dir(p, ref, dir, sizeof dir);
    if (!store_pathf(path, sizeof path, "%s/%s.json", dir, e->quant) ||
        !store_pathf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()))
        return ky_errf(err, KY_ERR_IO, "%s: path too long", dir);
    ky_status st = store_mkdirs_for(path, err);
    if (st) return st;
    json_t *root = json_object(), *arr = json_array();
    if (!root || !arr) {
        json_decref(root);
        json_decref(arr);
        return ky_errf(err, KY_ERR_NOMEM, "out of memory");
    }
    json_object_set_new(root, "kaiyuan_manifest", json_integer(1));
    json_object_set_new(root, "name", json_string(e->name));
    json_object_set_new(root, "alias", json_string(e->alias));
    json_object_set_new(root, "source", json_string(ky_source_name(e->source)));
    json_object_set_new(root, "quant", json_string(e->quant));
    json_object_set_new(root, "origin", json_string(e->origin));
    json_object_set_new(root, "pulled_at", json_integer((json_int_t)e->pulled_at));
    size_t home_len = strlen(p->home);
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_object();
        if (!f) break;
        json_object_set_new(f, "repo_path", json_string(files[i].path));
        json_object_set_new(f, "path", json_string(local_paths[i] + home_len + 1));
        json_object_set_new(f, "size", json_integer((json_int_t)files[i].size));
        json_object_set_new(f, "sha256", json_string(files[i].sha256));
        json_array_append_new(arr, f);
    }
    json_object_set_new(root, "files", arr);
    int rc = json_dump_file(root, tmp, JSON_INDENT(1));
    json_decref(root);
    if (rc != 0 || rename(tmp, path) != 0) {
        int e2 = errno;
        unlink(tmp);
        return ky_errf(err, KY_ERR_IO, "cannot write the manifest %s: %s", path, strerror(e2));
    }
    return KY_OK;
}

/* Reads the manifest at path into *out (checking every file); files_out (may be NULL) receives
 * the relative paths of its files as a malloc'd array of n strings. */
static ky_status read_manifest(const ky_store_params *p, const char *path, ky_store_entry *out,
                               char ***files_out, size_t *n_files_out, bool check_files,
                               ky_error *err) {
    json_t *root;
    ky_status st = store_read_json(path, &root, err);
    if (st) return st;
    if (!json_is_object(root)) {
        json_decref(root);
        return ky_errf(err, KY_ERR_FORMAT, "%s: not a kaiyuan manifest (remove it and pull again)",
                       path);
    }
    ky_store_entry e;
    memset(&e, 0, sizeof e);
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *alias = json_string_value(json_object_get(root, "alias"));
    const char *quant = json_string_value(json_object_get(root, "quant"));
    const char *origin = json_string_value(json_object_get(root, "origin"));
    const char *source = json_string_value(json_object_get(root, "source"));
    json_t *files = json_object_get(root, "files");
    st = KY_OK;
    if (!name || !quant || !json_is_array(files) || json_array_size(files) == 0 ||
        json_array_size(files) > KY_STORE_MAX_PARTS || strlen(name) >= sizeof e.name ||
        strlen(quant) >= sizeof e.quant)
        st = ky_errf(err, KY_ERR_FORMAT, "%s: malformed manifest (remove it and pull again)", path);
    char **rels = NULL;
    size_t n = st ? 0 : json_array_size(files);
    if (!st && !(rels = calloc(n, sizeof *rels))) st = ky_errf(err, KY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        json_t *f = json_array_get(files, i);
        const char *rel = json_string_value(json_object_get(f, "path"));
        json_t *size = json_object_get(f, "size");
        const char *sha = json_string_value(json_object_get(f, "sha256"));
        if (!rel || strncmp(rel, "models/", 7) || !store_valid_repo_path(rel, strlen(rel)) ||
            !json_is_integer(size) || json_integer_value(size) < 0 ||
            (uint64_t)json_integer_value(size) > KY_STORE_MAX_FILE_BYTES) {
            st = ky_errf(err, KY_ERR_FORMAT, "%s: malformed file entry %zu", path, i);
            break;
        }
        if (!(rels[i] = strdup(rel))) {
            st = ky_errf(err, KY_ERR_NOMEM, "out of memory");
            break;
        }
        char full[KY_STORE_PATH_MAX];
        snprintf(full, sizeof full, "%s/%s", p->home, rel);
        uint64_t sz = (uint64_t)json_integer_value(size);
        if (check_files) {
            struct stat sb;
            if (stat(full, &sb) != 0 || (uint64_t)sb.st_size != sz) {
                st = ky_errf(err, KY_ERR_NOT_FOUND,
                             "%s is incomplete in the store (%s is %s): pull it again", name, full,
                             errno == ENOENT ? "missing" : "of the wrong size");
                break;
            }
        }
        e.size += sz;
        if (i == 0) {
            snprintf(e.path, sizeof e.path, "%s", full);
            snprintf(e.sha256, sizeof e.sha256, "%s", sha && strlen(sha) == 64 ? sha : "");
        }
    }
    if (!st) {
        snprintf(e.name, sizeof e.name, "%s", name);
        snprintf(e.alias, sizeof e.alias, "%s", alias ? alias : "");
        snprintf(e.quant, sizeof e.quant, "%s", quant);
        snprintf(e.origin, sizeof e.origin, "%s", origin ? origin : "");
        e.source = source && !strcmp(source, "modelscope") ? KY_SOURCE_MODELSCOPE : KY_SOURCE_HF;
        e.n_files = (int32_t)n;
        e.pulled_at = (int64_t)json_integer_value(json_object_get(root, "pulled_at"));
    }
    json_decref(root);
    if (st || !files_out) {
        for (size_t i = 0; rels && i < n; i++) free(rels[i]);
        free(rels);
    } else {
        *files_out = rels;
        *n_files_out = n;
    }
    if (!st) *out = e;
    return st;
}

/* Path of the manifest of r (a REF without quant: Q4_K_M, else the only one there). */
static ky_status find_manifest(const ky_store_params *p, const ky_model_ref *r, char *path,
                               size_t cap, ky_error *err) {
    char dir[KY_STORE_PATH_MAX], name[KY_REF_NAME_MAX];
    manifest_dir(p, r, dir, sizeof dir);
    ky_model_ref_format(r, name, sizeof name);
    struct stat sb;
    if (r->quant[0]) {
        store_pathf(path, cap, "%s/%s.json", dir, r->quant);
        if (stat(path, &sb) == 0) return KY_OK;
        return ky_errf(err, KY_ERR_NOT_FOUND, "%s is not in the store (%s)", name, p->home);
    }
    store_pathf(path, cap, "%s/Q4_K_M.json", dir);
    if (stat(path, &sb) == 0) return KY_OK;
    DIR *d = opendir(dir);
    int n = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (len > 5 && !strcmp(de->d_name + len - 5, ".json") && de->d_name[0] != '.') {
                if (n++ == 0) store_pathf(path, cap, "%s/%s", dir, de->d_name);
            }
        }
        closedir(d);
    }
    if (n == 1) return KY_OK;
    if (n > 1)
        return ky_errf(err, KY_ERR_NOT_FOUND,
                       "%s: several quants are in the store; name one as %s:QUANT (see kaiyuan "
                       "list)",
                       name, name);
    return ky_errf(err, KY_ERR_NOT_FOUND, "%s is not in the store (%s)", name, p->home);
}

ky_status ky_store_find(const ky_store_params *params, const char *ref, ky_store_entry *out,
                        ky_error *err) {
    ky_error_clear(err);
    if (!params || !ref || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "NULL argument");
    ky_model_ref r;
    ky_status st = ky_model_ref_parse(ref, params->short_source, &r, err);
    if (st) return st;
    if (r.source == KY_SOURCE_OLLAMA) return store_ollama_find(params, &r, out, err);
    char path[KY_STORE_PATH_MAX];
    if ((st = find_manifest(params, &r, path, sizeof path, err))) return st;
    return read_manifest(params, path, out, NULL, NULL, true, err);
}

/* ---- listing ------------------------------------------------------------------------------ */

static ky_status push(ky_store_entry **list, size_t *n, size_t *cap, const ky_store_entry *e,
                      ky_error *err) {
    if (*n >= KY_STORE_MAX_MODELS) return KY_OK;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        ky_store_entry *g = realloc(*list, nc * sizeof *g);
        if (!g) return ky_errf(err, KY_ERR_NOMEM, "out of memory");
        *list = g;
        *cap = nc;
    }
    (*list)[(*n)++] = *e;
    return KY_OK;
}

/* Calls fn for each entry name of dir that is not hidden. */
static ky_status each_dir(const char *dir, ky_status (*fn)(void *, const char *), void *ctx) {
    DIR *d = opendir(dir);
    if (!d) return KY_OK;
    struct dirent *de;
    ky_status st = KY_OK;
    while (!st && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char sub[KY_STORE_PATH_MAX];
        int w = snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        if (w < 0 || (size_t)w >= sizeof sub) continue;
        st = fn(ctx, sub);
    }
    closedir(d);
    return st;
}

typedef struct walk {
    const ky_store_params *p;
    ky_store_entry **list;
    size_t *n, *cap;
    ky_error *err;
    int depth;
    /* For rm: count manifests (other than skip) that use rel. */
    const char *skip, *rel;
    int uses;
} walk;

static ky_status walk_fn(void *ctx, const char *path) {
    walk *w = ctx;
    if (w->depth < 3) {
        w->depth++;
        ky_status st = each_dir(path, walk_fn, w);
        w->depth--;
        return st;
    }
    size_t len = strlen(path);
    if (len < 5 || strcmp(path + len - 5, ".json")) return KY_OK;
    ky_store_entry e;
    char **rels = NULL;
    size_t n_rels = 0;
    if (w->rel) {
        if (w->skip && !strcmp(path, w->skip)) return KY_OK;
        if (read_manifest(w->p, path, &e, &rels, &n_rels, false, NULL) == KY_OK) {
            for (size_t i = 0; i < n_rels; i++) {
                if (!strcmp(rels[i], w->rel)) w->uses++;
                free(rels[i]);
            }
            free(rels);
        }
        return KY_OK;
    }
    if (read_manifest(w->p, path, &e, NULL, NULL, true, NULL) != KY_OK) return KY_OK;
    return push(w->list, w->n, w->cap, &e, w->err);
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const ky_store_entry *)a)->name, ((const ky_store_entry *)b)->name);
}

ky_status ky_store_list(const ky_store_params *params, ky_store_entry **out, size_t *n,
                        ky_error *err) {
    ky_error_clear(err);
    if (!params || !out || !n) return ky_errf(err, KY_ERR_INVALID_ARG, "NULL argument");
    ky_store_entry *list = NULL;
    size_t cnt = 0, cap = 0;
    char dir[KY_STORE_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/manifests", params->home);
    walk w = {params, &list, &cnt, &cap, err, 0, NULL, NULL, 0};
    ky_status st = each_dir(dir, walk_fn, &w);
    if (!st) st = store_ollama_list(params, &list, &cnt, &cap, err);
    if (st) {
        free(list);
        return st;
    }
    if (cnt) qsort(list, cnt, sizeof *list, cmp_entry);
    *out = list;
    *n = cnt;
    return KY_OK;
}

/* ---- removal -------------------------------------------------------------------------------- */

/* Removes dir and its parents up to (not including) stop while they are empty. */
static void prune_dirs(const char *dir, const char *stop) {
    char buf[KY_STORE_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    size_t stop_len = strlen(stop);
    while (strlen(buf) > stop_len && !strncmp(buf, stop, stop_len)) {
        if (rmdir(buf) != 0) break;
        char *slash = strrchr(buf, '/');
        if (!slash) break;
        *slash = '\0';
    }
}

ky_status ky_store_remove(const ky_store_params *params, const char *ref, ky_store_entry *removed,
                          ky_error *err) {
    ky_error_clear(err);
    if (!params || !ref) return ky_errf(err, KY_ERR_INVALID_ARG, "NULL argument");
    ky_model_ref r;
    ky_status st = ky_model_ref_parse(ref, params->short_source, &r, err);
    if (st) return st;
    if (r.source == KY_SOURCE_OLLAMA)
        return ky_errf(err, KY_ERR_UNSUPPORTED,
                       "%s belongs to ollama's store, which kaiyuan never writes to (remove it "
                       "with ollama rm)",
                       ref);
    char path[KY_STORE_PATH_MAX];
    if ((st = find_manifest(params, &r, path, sizeof path, err))) return st;
    ky_store_entry e;
    char **rels = NULL;
    size_t n = 0;
    if ((st = read_manifest(params, path, &e, &rels, &n, false, err))) return st;
    if (unlink(path) != 0) {
        st = ky_errf(err, KY_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    }
    char top[KY_STORE_PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        if (!st) {
            char dir[KY_STORE_PATH_MAX];
            snprintf(dir, sizeof dir, "%s/manifests", params->home);
            walk w = {params, NULL, NULL, NULL, NULL, 0, path, rels[i], 0};
            each_dir(dir, walk_fn, &w);
            if (w.uses == 0) {
                char full[KY_STORE_PATH_MAX], partial[KY_STORE_PATH_MAX + 16];
                snprintf(full, sizeof full, "%s/%s", params->home, rels[i]);
                snprintf(partial, sizeof partial, "%s.partial", full);
                if (unlink(full) != 0 && errno != ENOENT)
                    st = ky_errf(err, KY_ERR_IO, "cannot remove %s: %s", full, strerror(errno));
                unlink(partial);
                char *slash = strrchr(full, '/');
                if (slash) *slash = '\0';
                snprintf(top, sizeof top, "%s/models", params->home);
                prune_dirs(full, top);
            }
        }
        free(rels[i]);
    }
    free(rels);
    char *slash = strrchr(path, '/');
    if (slash) *slash = '\0';
    snprintf(top, sizeof top, "%s/manifests", params->home);
    prune_dirs(path, top);
    if (!st && removed) *removed = e;
    return st;
}
