/* pull.c — ky_pull: list the repository, choose the files of the quant, fetch each (fetch.c),
 * then write the manifest (layer: store). Each step can be resumed: a rerun finds the verified
 * files in place and the partial one on disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/limits.h"
#include "store/store.h"

/* Endpoint without trailing slashes into buf. */
static const char *endpoint(const char *ep, char *buf, size_t cap) {
    size_t n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/') n--;
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), ep);
    return buf;
}

/* Percent-encodes a repository path (keeping '/') into buf; false when it does not fit. */
static bool url_path(const char *p, char *buf, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)p; *s; s++) {
        bool plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                     (*s >= '0' && *s <= '9') || strchr("-._~/", *s);
        if (o + 4 >= cap) return false;
        if (plain) {
            buf[o++] = (char)*s;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[*s >> 4];
            buf[o++] = hex[*s & 15];
        }
    }
    buf[o] = '\0';
    return true;
}

ky_status ky_pull(const ky_store_params *params, const char *ref, ky_store_entry *out,
                  ky_error *err) {
    ky_error_clear(err);
    if (!params || !ref || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "NULL argument");
    ky_model_ref r;
    ky_status st = ky_model_ref_parse(ref, params->short_source, &r, err);
    if (st) return st;
    if (r.source == KY_SOURCE_OLLAMA) {
        ky_error e;
        st = store_ollama_find(params, &r, out, &e);
        if (st == KY_ERR_NOT_FOUND)
            return ky_errf(err, KY_ERR_UNSUPPORTED,
                           "%s: kaiyuan reads ollama's store but never writes to it; pull it "
                           "with ollama (or pull the GGUF repository by name)",
                           e.message);
        return st ? ky_errf(err, st, "%s", e.message) : KY_OK;
    }
    if (ky_store_find(params, ref, out, NULL) == KY_OK) return KY_OK;

    char name[KY_REF_NAME_MAX], ep[1024], what[KY_REF_NAME_MAX + 32];
    bool hf = r.source == KY_SOURCE_HF;
    store_http_ctx h = {
        hf ? params->hf_token : params->ms_token, hf ? "Hugging Face" : "ModelScope",
        hf ? "HF_TOKEN" : "MODELSCOPE_API_TOKEN", hf ? "HF_ENDPOINT" : "MODELSCOPE_ENDPOINT"};
    endpoint(hf ? params->hf_endpoint : params->ms_endpoint, ep, sizeof ep);
    snprintf(what, sizeof what, "%s/%s", r.owner, r.repo);
    char url[KY_STORE_PATH_MAX];
    if (hf)
        snprintf(url, sizeof url, "%s/api/models/%s/%s?blobs=true", ep, r.owner, r.repo);
    else
        snprintf(url, sizeof url,
                 "%s/api/v1/models/%s/%s/repo/files?Revision=master&Recursive=true", ep, r.owner,
                 r.repo);
    if (params->progress) {
        ky_pull_progress pr = {KY_PULL_LISTING, what, 0, 0, 0, 0, 0, 0};
        if (!params->progress(params->progress_user, &pr))
            return ky_errf(err, KY_ERR_CANCELLED, "pull of %s cancelled", ref);
    }
    char *body;
    size_t len;
    ky_error he;
    if ((st = store_http_get(&h, url, KY_STORE_MAX_LISTING, &body, &len, &he))) {
        if (st == KY_ERR_NOT_FOUND)
            return ky_errf(err, st, "%s: no such repository on %s (%s)", what, h.hub, he.message);
        return ky_errf(err, st, "%s", he.message);
    }
    store_listing l = {0};
    st = hf ? store_parse_hf_listing(body, len, what, &l, err)
            : store_parse_ms_listing(body, len, what, &l, err);
    free(body);
    if (st) return st;
    size_t idx[KY_STORE_MAX_PARTS], n_idx = 0;
    char quant[KY_REF_QUANT_MAX];
    if ((st = store_select(&l, r.quant, what, idx, &n_idx, quant, err))) {
        store_listing_free(&l);
        return st;
    }
    snprintf(r.quant, sizeof r.quant, "%s", quant);
    ky_model_ref_format(&r, name, sizeof name);

    store_file *files = calloc(n_idx, sizeof *files);
    char **local = calloc(n_idx, sizeof *local);
    if (!files || !local) {
        st = ky_errf(err, KY_ERR_NOMEM, "out of memory");
        goto out;
    }
    ky_store_entry e;
    memset(&e, 0, sizeof e);
    for (size_t k = 0; k < n_idx; k++) {
        const store_file *lf = &l.files[idx[k]];
        files[k] = *lf;
        char enc[KY_STORE_MAX_REPO_PATH * 3 + 1];
        char file_url[KY_STORE_PATH_MAX];
        local[k] = malloc(KY_STORE_PATH_MAX);
        if (!local[k]) {
            st = ky_errf(err, KY_ERR_NOMEM, "out of memory");
            goto out;
        }
        int w1 = snprintf(local[k], KY_STORE_PATH_MAX, "%s/models/%s/%s/%s/%s", params->home,
                          store_source_dir(r.source), r.owner, r.repo, lf->path);
        int w2 = url_path(lf->path, enc, sizeof enc)
                     ? snprintf(file_url, sizeof file_url, "%s/%s%s/%s/resolve/%s/%s", ep,
                                hf ? "" : "models/", r.owner, r.repo, hf ? "main" : "master", enc)
                     : -1;
        if (w1 < 0 || w1 >= KY_STORE_PATH_MAX || w2 < 0 || (size_t)w2 >= sizeof file_url) {
            st = ky_errf(err, KY_ERR_IO, "%s: path too long for the store", lf->path);
            goto out;
        }
        store_fetch f = {file_url,   local[k],       lf->path,       lf->size,
                         lf->sha256, (int32_t)k + 1, (int32_t)n_idx, ""};
        if ((st = store_fetch_file(&h, params, &f, err))) goto out;
        memcpy(files[k].sha256, f.sha256_out, sizeof f.sha256_out);
        e.size += lf->size;
    }
    snprintf(e.name, sizeof e.name, "%s", name);
    snprintf(e.alias, sizeof e.alias, "%s", r.alias);
    e.source = r.source;
    snprintf(e.quant, sizeof e.quant, "%s", quant);
    snprintf(e.path, sizeof e.path, "%s", local[0]);
    snprintf(e.origin, sizeof e.origin, "%s/%s%s/%s", ep, hf ? "" : "models/", r.owner, r.repo);
    snprintf(e.sha256, sizeof e.sha256, "%s", files[0].sha256);
    e.n_files = (int32_t)n_idx;
    e.pulled_at = (int64_t)time(NULL);
    if ((st = store_manifest_write(params, &r, &e, files, (const char *const *)local, n_idx, err)))
        goto out;
    *out = e;
out:
    for (size_t k = 0; local && k < n_idx; k++) free(local[k]);
    free(local);
    free(files); /* paths belong to the listing */
    store_listing_free(&l);
    return st;
}
