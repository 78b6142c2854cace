/* ref.c — model REFs: parsing, canonical names, the built-in catalogue of short names, and the
 * store parameters read from the environment (layer: store). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/limits.h"
#include "store/store.h"

/* Short names → the official (or best-known) GGUF repository on each hub, and the quant used
 * when the name carries none. Qwen3-0.6B's official repository only has Q8_0. */
static const struct {
    const char *name, *hf, *ms, *quant;
} k_catalog[] = {
    {"qwen2.5:0.5b", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
     "Q4_K_M"},
    {"qwen2.5:1.5b", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
     "Q4_K_M"},
    {"qwen2.5:7b", "Qwen/Qwen2.5-7B-Instruct-GGUF", "Qwen/Qwen2.5-7B-Instruct-GGUF", "Q4_K_M"},
    {"qwen3:0.6b", "Qwen/Qwen3-0.6B-GGUF", "Qwen/Qwen3-0.6B-GGUF", "Q8_0"},
    {"qwen3:4b", "Qwen/Qwen3-4B-GGUF", "Qwen/Qwen3-4B-GGUF", "Q4_K_M"},
    {"qwen3:8b", "Qwen/Qwen3-8B-GGUF", "Qwen/Qwen3-8B-GGUF", "Q4_K_M"},
    {"qwen3:30b-a3b", "Qwen/Qwen3-30B-A3B-GGUF", "Qwen/Qwen3-30B-A3B-GGUF", "Q4_K_M"},
    {"deepseek-r1:1.5b", "unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
     "unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF", "Q4_K_M"},
    {"deepseek-r1:7b", "unsloth/DeepSeek-R1-Distill-Qwen-7B-GGUF",
     "unsloth/DeepSeek-R1-Distill-Qwen-7B-GGUF", "Q4_K_M"},
    {"llama3.2:1b", "bartowski/Llama-3.2-1B-Instruct-GGUF", "unsloth/Llama-3.2-1B-Instruct-GGUF",
     "Q4_K_M"},
    {"llama3.2:3b", "bartowski/Llama-3.2-3B-Instruct-GGUF", "unsloth/Llama-3.2-3B-Instruct-GGUF",
     "Q4_K_M"},
};
#define N_CATALOG ((int32_t)(sizeof k_catalog / sizeof k_catalog[0]))

const char *ky_catalog_name(int32_t i) {
    return i >= 0 && i < N_CATALOG ? k_catalog[i].name : NULL;
}

const char *ky_source_name(ky_source source) {
    switch (source) {
    case KY_SOURCE_HF: return "huggingface";
    case KY_SOURCE_MODELSCOPE: return "modelscope";
    case KY_SOURCE_OLLAMA: return "ollama";
    case KY_SOURCE_NONE: break;
    }
    return "none";
}

const char *store_source_dir(ky_source source) {
    return source == KY_SOURCE_MODELSCOPE ? "modelscope.cn" : "hf.co";
}

ky_store_params ky_store_default_params(void) {
    static char home[KY_STORE_PATH_MAX], ollama[KY_STORE_PATH_MAX];
    ky_store_params p;
    memset(&p, 0, sizeof p);
    const char *h = getenv("HOME");
    const char *v = getenv("KAIYUAN_HOME");
    if (v && *v) {
        snprintf(home, sizeof home, "%s", v);
    } else if ((v = getenv("XDG_CACHE_HOME")) && *v) {
        snprintf(home, sizeof home, "%s/kaiyuan", v);
    } else {
        snprintf(home, sizeof home, "%s/.cache/kaiyuan", h && *h ? h : ".");
    }
    p.home = home;
    v = getenv("OLLAMA_MODELS");
    if (v && *v)
        snprintf(ollama, sizeof ollama, "%s", v);
    else
        snprintf(ollama, sizeof ollama, "%s/.ollama/models", h && *h ? h : ".");
    p.ollama_dir = ollama;
    v = getenv("HF_ENDPOINT");
    p.hf_endpoint = v && *v ? v : "https://huggingface.co";
    v = getenv("HF_TOKEN");
    p.hf_token = v && *v ? v : NULL;
    v = getenv("MODELSCOPE_ENDPOINT");
    p.ms_endpoint = v && *v ? v : "https://www.modelscope.cn";
    v = getenv("MODELSCOPE_API_TOKEN");
    p.ms_token = v && *v ? v : NULL;
    p.short_source = KY_SOURCE_HF;
    v = getenv("KAIYUAN_SOURCE");
    if (v && *v) {
        if (!strcasecmp(v, "modelscope") || !strcasecmp(v, "ms"))
            p.short_source = KY_SOURCE_MODELSCOPE;
        else if (!strcasecmp(v, "huggingface") || !strcasecmp(v, "hf"))
            p.short_source = KY_SOURCE_HF;
        else
            p.short_source = KY_SOURCE_NONE;
    }
    p.n_retries = 2;
    return p;
}

/* [A-Za-z0-9._-]{1,96}, not starting with '.' or '-', no "..". */
static bool valid_part(const char *s, size_t n) {
    if (n == 0 || n >= KY_REF_PART_MAX || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return false;
        if (c == '.' && i + 1 < n && s[i + 1] == '.') return false;
    }
    return true;
}

static bool valid_quant(const char *s, size_t n) {
    if (n == 0 || n >= KY_REF_QUANT_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return false;
    return true;
}

static void copy_part(char *dst, const char *s, size_t n) {
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void copy_upper(char *dst, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (char)toupper((unsigned char)s[i]);
    dst[n] = '\0';
}

static ky_status bad(ky_error *err, const char *text, const char *why) {
    return ky_errf(err, KY_ERR_INVALID_ARG, "'%.300s' is not a model REF: %s", text, why);
}

/* OWNER/REPO[:QUANT] into r. */
static ky_status parse_repo(const char *text, const char *s, ky_model_ref *r, ky_error *err) {
    const char *slash = strchr(s, '/');
    if (!slash) return bad(err, text, "expected OWNER/REPO");
    const char *colon = strchr(slash + 1, ':');
    size_t n_repo = colon ? (size_t)(colon - slash - 1) : strlen(slash + 1);
    if (!valid_part(s, (size_t)(slash - s)))
        return bad(err, text, "the owner may hold letters, digits, '.', '_' and '-' (at most 96)");
    if (memchr(slash + 1, '/', n_repo))
        return bad(err, text, "expected OWNER/REPO[:QUANT] (one '/'; for a file use its path)");
    if (!valid_part(slash + 1, n_repo))
        return bad(err, text,
                   "the repository may hold letters, digits, '.', '_' and '-' (at most 96)");
    copy_part(r->owner, s, (size_t)(slash - s));
    copy_part(r->repo, slash + 1, n_repo);
    if (colon) {
        if (!valid_quant(colon + 1, strlen(colon + 1)))
            return bad(err, text, "QUANT after ':' may hold letters, digits and '_' (Q4_K_M)");
        copy_upper(r->quant, colon + 1, strlen(colon + 1));
    }
    return KY_OK;
}

/* ollama:[HOST/][NAMESPACE/]NAME[:TAG] */
static ky_status parse_ollama(const char *text, const char *s, ky_model_ref *r, ky_error *err) {
    const char *colon = strrchr(s, ':');
    const char *last_slash = strrchr(s, '/');
    if (colon && last_slash && colon < last_slash) colon = NULL;
    size_t n_path = colon ? (size_t)(colon - s) : strlen(s);
    const char *parts[3];
    size_t lens[3];
    int n = 0;
    for (size_t start = 0, i = 0; i <= n_path; i++) {
        if (i == n_path || s[i] == '/') {
            if (n == 3) return bad(err, text, "expected ollama:[HOST/][NAMESPACE/]NAME[:TAG]");
            parts[n] = s + start;
            lens[n++] = i - start;
            start = i + 1;
        }
    }
    for (int i = 0; i < n; i++)
        if (!valid_part(parts[i], lens[i]))
            return bad(err, text, "ollama names hold letters, digits, '.', '_' and '-'");
    snprintf(r->host, sizeof r->host, "registry.ollama.ai");
    snprintf(r->owner, sizeof r->owner, "library");
    if (n == 3) copy_part(r->host, parts[0], lens[0]);
    if (n >= 2) copy_part(r->owner, parts[n - 2], lens[n - 2]);
    copy_part(r->repo, parts[n - 1], lens[n - 1]);
    const char *tag = colon ? colon + 1 : "latest";
    if (!valid_part(tag, strlen(tag)) || strlen(tag) >= KY_REF_QUANT_MAX)
        return bad(err, text, "the tag after ':' holds letters, digits, '.', '_' and '-'");
    copy_part(r->quant, tag, strlen(tag));
    return KY_OK;
}

static const char *strip_prefix(const char *s, const char *prefix) {
    size_t n = strlen(prefix);
    return strncasecmp(s, prefix, n) ? NULL : s + n;
}

ky_status ky_model_ref_parse(const char *text, ky_source short_source, ky_model_ref *out,
                             ky_error *err) {
    ky_error_clear(err);
    if (!text || !out) return ky_errf(err, KY_ERR_INVALID_ARG, "ky_model_ref_parse: NULL argument");
    if (!*text) return ky_errf(err, KY_ERR_INVALID_ARG, "empty model REF");
    if (strlen(text) > KY_STORE_MAX_REF_LEN)
        return ky_errf(err, KY_ERR_INVALID_ARG, "model REF longer than %d bytes",
                       KY_STORE_MAX_REF_LEN);
    ky_model_ref r;
    memset(&r, 0, sizeof r);
    const char *rest;
    ky_status st;
    static const char *const hf_prefixes[] = {"https://huggingface.co/", "huggingface.co/",
                                              "hf.co/", "hf://"};
    static const char *const ms_prefixes[] = {"https://www.modelscope.cn/models/",
                                              "https://modelscope.cn/models/", "modelscope.cn/",
                                              "ms://", "modelscope://"};
    for (size_t i = 0; i < sizeof hf_prefixes / sizeof hf_prefixes[0]; i++)
        if ((rest = strip_prefix(text, hf_prefixes[i]))) {
            r.source = KY_SOURCE_HF;
            if ((st = parse_repo(text, rest, &r, err))) return st;
            *out = r;
            return KY_OK;
        }
    for (size_t i = 0; i < sizeof ms_prefixes / sizeof ms_prefixes[0]; i++)
        if ((rest = strip_prefix(text, ms_prefixes[i]))) {
            r.source = KY_SOURCE_MODELSCOPE;
            if ((st = parse_repo(text, rest, &r, err))) return st;
            *out = r;
            return KY_OK;
        }
    if ((rest = strip_prefix(text, "ollama:"))) {
        r.source = KY_SOURCE_OLLAMA;
        if ((st = parse_ollama(text, rest, &r, err))) return st;
        *out = r;
        return KY_OK;
    }
    if (strchr(text, '/')) {
        r.source = KY_SOURCE_HF;
        if ((st = parse_repo(text, text, &r, err))) return st;
        *out = r;
        return KY_OK;
    }
    /* A short name, optionally followed by :QUANT. */
    for (int32_t i = 0; i < N_CATALOG; i++) {
        size_t n = strlen(k_catalog[i].name);
        if (strncasecmp(text, k_catalog[i].name, n) || (text[n] && text[n] != ':')) continue;
        if (short_source != KY_SOURCE_HF && short_source != KY_SOURCE_MODELSCOPE)
            return ky_errf(err, KY_ERR_INVALID_ARG,
                           "KAIYUAN_SOURCE must be 'huggingface' or 'modelscope' to resolve '%s'",
                           k_catalog[i].name);
        r.source = short_source;
        const char *repo = short_source == KY_SOURCE_HF ? k_catalog[i].hf : k_catalog[i].ms;
        if ((st = parse_repo(text, repo, &r, err))) return KY_ERR_INTERNAL;
        if (text[n] == ':') {
            if (!valid_quant(text + n + 1, strlen(text + n + 1)))
                return bad(err, text, "QUANT after ':' may hold letters, digits and '_'");
            copy_upper(r.quant, text + n + 1, strlen(text + n + 1));
        } else {
            snprintf(r.quant, sizeof r.quant, "%s", k_catalog[i].quant);
        }
        snprintf(r.alias, sizeof r.alias, "%s", k_catalog[i].name);
        *out = r;
        return KY_OK;
    }
    char names[600];
    size_t used = 0;
    for (int32_t i = 0; i < N_CATALOG && used < sizeof names; i++) {
        int w =
            snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", k_catalog[i].name);
        if (w < 0) break;
        used += (size_t)w;
    }
    return ky_errf(err, KY_ERR_INVALID_ARG,
                   "'%.200s' is neither a file nor a model REF (OWNER/REPO[:QUANT], "
                   "hf.co/OWNER/REPO, ms://OWNER/REPO, ollama:NAME[:TAG] or a short name: %s)",
                   text, names);
}

const char *ky_model_ref_format(const ky_model_ref *r, char *buf, size_t cap) {
    if (!cap) return buf;
    switch (r->source) {
    case KY_SOURCE_OLLAMA: {
        bool host = strcmp(r->host, "registry.ollama.ai") != 0;
        bool ns = host || strcmp(r->owner, "library") != 0;
        snprintf(buf, cap, "ollama:%s%s%s%s%s:%s", host ? r->host : "", host ? "/" : "",
                 ns ? r->owner : "", ns ? "/" : "", r->repo, r->quant);
        break;
    }
    case KY_SOURCE_HF:
    case KY_SOURCE_MODELSCOPE:
        snprintf(buf, cap, "%s%s/%s%s%s", r->source == KY_SOURCE_HF ? "hf.co/" : "ms://", r->owner,
                 r->repo, r->quant[0] ? ":" : "", r->quant);
        break;
    case KY_SOURCE_NONE: snprintf(buf, cap, "?"); break;
    }
    return buf;
}
