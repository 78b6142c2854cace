/* ollama.c — models ollama already downloaded: its manifests
 * (OLLAMA/manifests/HOST/NAMESPACE/NAME/TAG, OCI-style JSON whose layer of media type
 * application/vnd.ollama.image.model is the GGUF file) and blobs (OLLAMA/blobs/sha256-HEX).
 * Read only: kaiyuan never writes there (layer: store). */
#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/limits.h"
#include "store/store.h"

#define OLLAMA_MODEL_MEDIA "application/vnd.ollama.image.model"

static ky_status read_ollama_manifest(const ky_store_params *p, const char *path,
                                      ky_store_entry *out, ky_error *err) {
    json_t *root;
    ky_status st = store_read_json(path, &root, err);
    if (st) return st;
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_array(layers)) {
        json_decref(root);
        return ky_errf(err, KY_ERR_FORMAT, "%s: not an ollama manifest", path);
    }
    size_t i;
    json_t *l;
    const char *digest = NULL;
    json_int_t size = -1;
    json_array_foreach(layers, i, l) {
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        if (mt && !strcmp(mt, OLLAMA_MODEL_MEDIA)) {
            digest = json_string_value(json_object_get(l, "digest"));
            json_t *sz = json_object_get(l, "size");
            size = json_is_integer(sz) ? json_integer_value(sz) : -1;
            break;
        }
    }
    bool ok = digest && strlen(digest) == 71 && !strncmp(digest, "sha256:", 7) && size >= 0;
    for (int k = 0; ok && k < 64; k++) ok = isxdigit((unsigned char)digest[7 + k]) != 0;
    if (!ok) {
        json_decref(root);
        return ky_errf(err, KY_ERR_FORMAT, "%s: no model layer with a sha256 digest", path);
    }
    ky_store_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.path, sizeof e.path, "%s/blobs/sha256-%s", p->ollama_dir, digest + 7);
    snprintf(e.sha256, sizeof e.sha256, "%s", digest + 7);
    json_decref(root);
    struct stat sb;
    if (stat(e.path, &sb) != 0 || (uint64_t)sb.st_size != (uint64_t)size)
        return ky_errf(err, KY_ERR_NOT_FOUND, "%s: its blob %s is missing or incomplete", path,
                       e.path);
    e.size = (uint64_t)size;
    e.n_files = 1;
    e.source = KY_SOURCE_OLLAMA;
    snprintf(e.origin, sizeof e.origin, "%s", path);
    *out = e;
    return KY_OK;
}

/* Quant named in a tag ("7b-instruct-q4_K_M" → Q4_K_M), else "". */
static void tag_quant(const char *tag, char quant[KY_REF_QUANT_MAX]) {
    char name[KY_REF_QUANT_MAX + 8];
    snprintf(name, sizeof name, "%s.gguf", tag);
    if (!store_file_quant(name, quant)) quant[0] = '\0';
}

ky_status store_ollama_find(const ky_store_params *p, const ky_model_ref *r, ky_store_entry *out,
                            ky_error *err) {
    char path[KY_STORE_PATH_MAX], name[KY_REF_NAME_MAX];
    snprintf(path, sizeof path, "%s/manifests/%s/%s/%s/%s", p->ollama_dir, r->host, r->owner,
             r->repo, r->quant);
    ky_model_ref_format(r, name, sizeof name);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ky_errf(err, KY_ERR_NOT_FOUND, "%s is not in ollama's store (%s)", name,
                       p->ollama_dir);
    ky_status st = read_ollama_manifest(p, path, out, err);
    if (st) return st;
    snprintf(out->name, sizeof out->name, "%s", name);
    tag_quant(r->quant, out->quant);
    return KY_OK;
}

ky_status store_ollama_list(const ky_store_params *p, ky_store_entry **list, size_t *n, size_t *cap,
                            ky_error *err) {
    if (!p->ollama_dir) return KY_OK;
    char top[KY_STORE_PATH_MAX];
    snprintf(top, sizeof top, "%s/manifests", p->ollama_dir);
    /* HOST/NAMESPACE/NAME/TAG: four levels of directories, walked with an explicit stack. */
    char paths[4][KY_STORE_PATH_MAX];
    DIR *dirs[4] = {0};
    const char *names[4] = {0};
    int depth = 0;
    snprintf(paths[0], sizeof paths[0], "%s", top);
    dirs[0] = opendir(top);
    if (!dirs[0]) return KY_OK;
    ky_status st = KY_OK;
    while (depth >= 0 && !st) {
        struct dirent *de = readdir(dirs[depth]);
        if (!de) {
            closedir(dirs[depth]);
            dirs[depth--] = NULL;
            continue;
        }
        if (de->d_name[0] == '.') continue;
        char sub[KY_STORE_PATH_MAX];
        int w = snprintf(sub, sizeof sub, "%s/%s", paths[depth], de->d_name);
        if (w < 0 || (size_t)w >= sizeof sub) continue;
        if (depth < 3) {
            DIR *d = opendir(sub);
            if (!d) continue;
            depth++;
            dirs[depth] = d;
            snprintf(paths[depth], sizeof paths[depth], "%s", sub);
            names[depth] = strrchr(paths[depth], '/') + 1;
            continue;
        }
        /* names[1] host, names[2] namespace, names[3] name, de->d_name tag */
        ky_model_ref r;
        memset(&r, 0, sizeof r);
        r.source = KY_SOURCE_OLLAMA;
        if (strlen(names[1]) >= sizeof r.host || strlen(names[2]) >= sizeof r.owner ||
            strlen(names[3]) >= sizeof r.repo || strlen(de->d_name) >= sizeof r.quant)
            continue;
        strcpy(r.host, names[1]);
        strcpy(r.owner, names[2]);
        strcpy(r.repo, names[3]);
        strcpy(r.quant, de->d_name);
        ky_store_entry e;
        if (store_ollama_find(p, &r, &e, NULL) != KY_OK) continue;
        if (*n >= KY_STORE_MAX_MODELS) continue;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            ky_store_entry *g = realloc(*list, nc * sizeof *g);
            if (!g) {
                st = ky_errf(err, KY_ERR_NOMEM, "out of memory");
                break;
            }
            *list = g;
            *cap = nc;
        }
        (*list)[(*n)++] = e;
    }
    for (int i = 0; i < 4; i++)
        if (dirs[i]) closedir(dirs[i]);
    return st;
}
