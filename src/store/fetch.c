/* fetch.c — HTTP with libcurl: small GETs (listings) and file downloads that resume from a
 * .partial file with a Range request, verify size and SHA-256, and rename into place under a lock
 * file (layer: store). libcurl does HTTP, redirects (the hubs send downloads to a CDN), TLS and
 * proxies (its usual http_proxy / https_proxy / no_proxy variables); this file does the states.
 *
 * Every byte from the network is untrusted: a body larger than asked for, a server that ignores
 * Range, an answer that runs past the listed size, are all handled as errors or restarts.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/limits.h"
#include "store/sha256.h"
#include "store/store.h"

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Host part of url ("huggingface.co") into buf. */
static const char *url_host(const char *url, char *buf, size_t cap) {
    const char *s = strstr(url, "://");
    s = s ? s + 3 : url;
    size_t n = strcspn(s, "/?#");
    snprintf(buf, cap, "%.*s", (int)(n < 200 ? n : 200), s);
    return buf;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* Collected response headers we act on. */
typedef struct resp_headers {
    char error_code[64]; /* X-Error-Code (Hugging Face: RepoNotFound, GatedRepo, ...) */
    char error_msg[200]; /* X-Error-Message */
    int64_t range_start; /* Content-Range: bytes START-END/TOTAL; -1 when absent */
} resp_headers;

static size_t on_header(char *data, size_t size, size_t n, void *user) {
    resp_headers *h = user;
    size_t len = size * n;
    static const char cr[] = "content-range:";
    if (len > sizeof cr && !strncasecmp(data, cr, sizeof cr - 1)) {
        const char *v = data + sizeof cr - 1;
        size_t vn = len - (sizeof cr - 1);
        while (vn && *v == ' ') v++, vn--;
        if (vn > 6 && !strncasecmp(v, "bytes ", 6)) {
            int64_t x = 0;
            size_t i = 6;
            for (; i < vn && v[i] >= '0' && v[i] <= '9' && x < (INT64_MAX - 9) / 10; i++)
                x = x * 10 + (v[i] - '0');
            h->range_start = i > 6 && i < vn && v[i] == '-' ? x : -1;
        }
        return len;
    }
    static const struct {
        const char *name;
        size_t off, cap;
    } keep[] = {{"x-error-code:", offsetof(resp_headers, error_code), 64},
                {"x-error-message:", offsetof(resp_headers, error_msg), 200}};
    for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
        size_t m = strlen(keep[k].name);
        if (len <= m || strncasecmp(data, keep[k].name, m)) continue;
        const char *v = data + m;
        size_t vn = len - m;
        while (vn && (*v == ' ' || *v == '\t')) v++, vn--;
        while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' ')) vn--;
        char *dst = (char *)h + keep[k].off;
        size_t c = vn < keep[k].cap - 1 ? vn : keep[k].cap - 1;
        for (size_t i = 0; i < c; i++) {
            unsigned char ch = (unsigned char)v[i];
            dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
        }
        dst[c] = '\0';
    }
    return len;
}

static CURL *new_handle(const store_http_ctx *h, const char *url, struct curl_slist **hdrs,
                        char *errbuf, resp_headers *rh) {
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) return NULL;
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)KY_STORE_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)KY_STORE_CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)KY_STORE_STALL_SECONDS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kaiyuan/" KY_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rh);
    /* Only http and https, also across redirects. */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    *hdrs = NULL;
    if (h->token) {
        /* A custom Authorization header is not sent on to another host after a redirect (curl
         * >= 7.58), so the CDN never sees the token. */
        char auth[1024];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", h->token);
        struct curl_slist *l = curl_slist_append(NULL, auth);
        if (!l) {
            curl_easy_cleanup(c);
            return NULL;
        }
        *hdrs = l;
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
    }
    return c;
}

/* The actionable message for a failed request (transport error rc, or HTTP status http). */
static ky_status request_error(const store_http_ctx *h, const char *url, CURLcode rc, long http,
                               const char *errbuf, const resp_headers *rh, ky_error *err) {
    char host[256];
    url_host(url, host, sizeof host);
    const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
        rc == CURLE_COULDNT_CONNECT || (rc == CURLE_OPERATION_TIMEDOUT && http == 0))
        return ky_errf(
            err, KY_ERR_NETWORK,
            "cannot reach %s (%s): no network connection or DNS failure? Check the "
            "connection; a mirror can be set with %s%s, a local file runs with "
            "-m path/to/model.gguf",
            host, detail, h->mirror_var,
            !strcmp(h->mirror_var, "HF_ENDPOINT")
                ? " (e.g. HF_ENDPOINT=https://hf-mirror.com) or KAIYUAN_SOURCE=modelscope"
                : "");
    if (rc != CURLE_OK && rc != CURLE_HTTP_RETURNED_ERROR)
        return ky_errf(err, KY_ERR_NETWORK, "request to %s failed: %s", host, detail);
    bool repo_missing = !strcasecmp(rh->error_code, "RepoNotFound") ||
                        !strcasecmp(rh->error_code, "EntryNotFound") ||
                        !strcasecmp(rh->error_code, "RevisionNotFound");
    if ((http == 401 || http == 403) && !repo_missing) {
        if (h->token)
            return ky_errf(err, KY_ERR_DENIED,
                           "%s refused access (HTTP %ld%s%s): the token in %s was not accepted "
                           "for this repository; check that it is valid and that you accepted the "
                           "repository's terms on its page",
                           h->hub, http, rh->error_msg[0] ? ": " : "", rh->error_msg, h->token_var);
        return ky_errf(err, KY_ERR_DENIED,
                       "%s refused access (HTTP %ld%s%s): the repository is gated or private; "
                       "accept its terms on its page, then set %s to an access token",
                       h->hub, http, rh->error_msg[0] ? ": " : "", rh->error_msg, h->token_var);
    }
    if (http == 404 || http == 410 || repo_missing)
        return ky_errf(err, KY_ERR_NOT_FOUND,
                       "not found on %s (HTTP %ld): %s: check the repository name (and quant)",
                       h->hub, http, url);
    if (http == 429 || http >= 500)
        return ky_errf(err, KY_ERR_NETWORK, "%s answered HTTP %ld for %s: try again later", h->hub,
                       http, url);
    return ky_errf(err, KY_ERR_NETWORK, "%s answered HTTP %ld for %s", h->hub, http, url);
}

/* ---- small GETs ----------------------------------------------------------------------------- */

typedef struct mem_sink {
    char *buf;
    size_t len, cap, max;
    bool too_big, nomem;
} mem_sink;

static size_t on_mem(char *data, size_t size, size_t n, void *user) {
    mem_sink *m = user;
    size_t len = size * n;
    if (len > m->max - m->len) {
        m->too_big = true;
        return 0;
    }
    if (m->len + len + 1 > m->cap) {
        size_t nc = m->cap ? m->cap : 4096;
        while (nc < m->len + len + 1) nc *= 2;
        char *g = realloc(m->buf, nc);
        if (!g) {
            m->nomem = true;
            return 0;
        }
        m->buf = g;
        m->cap = nc;
    }
    memcpy(m->buf + m->len, data, len);
    m->len += len;
    m->buf[m->len] = '\0';
    return len;
}

ky_status store_http_get(const store_http_ctx *h, const char *url, size_t max, char **body,
                         size_t *len, ky_error *err) {
    char errbuf[CURL_ERROR_SIZE] = "";
    resp_headers rh = {"", "", -1};
    struct curl_slist *hdrs;
    CURL *c = new_handle(h, url, &hdrs, errbuf, &rh);
    if (!c) return ky_errf(err, KY_ERR_NOMEM, "cannot start libcurl for %s", url);
    mem_sink m = {NULL, 0, 0, max, false, false};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    CURLcode rc = curl_easy_perform(c);
    long http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    ky_status st = KY_OK;
    if (m.too_big)
        st = ky_errf(err, KY_ERR_FORMAT, "%s: the answer is larger than %zu bytes", url, max);
    else if (m.nomem)
        st = ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", url);
    else if (rc != CURLE_OK || http >= 400)
        st = request_error(h, url, rc, http, errbuf, &rh, err);
    else if (http < 200 || http >= 300)
        st = ky_errf(err, KY_ERR_NETWORK, "%s answered HTTP %ld for %s", h->hub, http, url);
    if (st) {
        free(m.buf);
        return st;
    }
    if (!m.buf) {
        m.buf = malloc(1);
        if (!m.buf) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", url);
        m.buf[0] = '\0';
    }
    *body = m.buf;
    *len = m.len;
    return KY_OK;
}

/* ---- directories ---------------------------------------------------------------------------- */

ky_status store_mkdirs_for(const char *path, ky_error *err) {
    char buf[KY_STORE_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf) return ky_errf(err, KY_ERR_IO, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return KY_OK;
    *slash = '\0';
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            char keep = *p;
            *p = '\0';
            struct stat sb;
            if (stat(buf, &sb) != 0) {
                if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                    return ky_errf(err, KY_ERR_IO,
                                   "cannot create the store directory %s: %s (set KAIYUAN_HOME to "
                                   "a writable directory)",
                                   buf, strerror(errno));
            } else if (!S_ISDIR(sb.st_mode)) {
                return ky_errf(err, KY_ERR_IO,
                               "cannot create the store directory %s: a file is in the way (set "
                               "KAIYUAN_HOME to a writable directory)",
                               buf);
            }
            *p = keep;
            if (end) break;
        }
    }
    return KY_OK;
}

/* ---- downloads ------------------------------------------------------------------------------ */

typedef struct dl_state {
    const store_http_ctx *h;
    const ky_store_params *p;
    store_fetch *f;
    CURL *curl;
    const resp_headers *rh; /* of the current request */
    int fd;
    uint64_t have;         /* bytes in the partial file */
    uint64_t resumed_from; /* at the start of this transfer */
    uint64_t asked_from;   /* the Range start of this request */
    store_sha256 sha;
    double t0, last_report;
    bool started_body, restarted;
    int write_errno;
    bool too_much, cancelled, bad_status;
} dl_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool report(dl_state *s, ky_pull_event ev) {
    if (!s->p->progress) return true;
    ky_pull_progress pr = {ev,      s->f->repo_path, s->f->index,     s->f->count,
                           s->have, s->f->size,      s->resumed_from, now_s() - s->t0};
    return s->p->progress(s->p->progress_user, &pr);
}

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    dl_state *s = user;
    size_t len = size * n;
    if (!s->started_body) {
        s->started_body = true;
        long http = 0;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &http);
        /* A 206 for another range than ours is restarted from byte 0 like a 200. */
        bool wrong_range = http == 206 && s->rh->range_start != (int64_t)s->asked_from;
        if (wrong_range && s->asked_from == 0) {
            s->bad_status = true;
            return 0;
        }
        if ((http == 200 || wrong_range) && s->asked_from > 0) {
            /* The server ignored Range: start over from byte 0. */
            if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0) {
                s->write_errno = errno;
                return 0;
            }
            s->have = 0;
            s->resumed_from = 0;
            store_sha256_init(&s->sha);
            s->restarted = true;
            if (wrong_range) {
                s->bad_status = true;
                return 0;
            }
        } else if (http != 200 && http != 206) {
            s->bad_status = true;
            return 0;
        }
    }
    if (len > s->f->size - s->have) {
        s->too_much = true;
        return 0;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(s->fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            s->write_errno = errno;
            return 0;
        }
        off += (size_t)w;
    }
    store_sha256_update(&s->sha, data, len);
    s->have += len;
    return len;
}

static int on_xfer(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    dl_state *s = user;
    double t = now_s();
    if (t - s->last_report < 0.1) return 0;
    s->last_report = t;
    if (!report(s, KY_PULL_DATA)) {
        s->cancelled = true;
        return 1;
    }
    return 0;
}

/* Hashes the first n bytes of fd into sha. */
static ky_status hash_fd(int fd, uint64_t n, store_sha256 *sha, const char *path, ky_error *err) {
    static const size_t chunk = 1u << 20;
    char *buf = malloc(chunk);
    if (!buf) return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    uint64_t off = 0;
    while (off < n) {
        size_t want = n - off < chunk ? (size_t)(n - off) : chunk;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            return ky_errf(err, KY_ERR_IO, "cannot read %s: %s", path,
                           r < 0 ? strerror(errno) : "file shrank");
        }
        store_sha256_update(sha, buf, (size_t)r);
        off += (uint64_t)r;
    }
    free(buf);
    return KY_OK;
}

/* Verifies a complete file already at final_path (size checked by the caller). */
static ky_status verify_existing(store_fetch *f, ky_error *err) {
    int fd = open(f->final_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ky_errf(err, KY_ERR_IO, "cannot open %s: %s", f->final_path, strerror(errno));
    store_sha256 sha;
    store_sha256_init(&sha);
    ky_status st = hash_fd(fd, f->size, &sha, f->final_path, err);
    close(fd);
    if (st) return st;
    char hex[65];
    store_sha256_final_hex(&sha, hex);
    if (f->sha256[0] && strcmp(hex, f->sha256)) {
        unlink(f->final_path);
        return ky_errf(err, KY_ERR_FORMAT,
                       "%s: checksum mismatch (expected sha256 %s, the file has %s): the file was "
                       "deleted; run the command again to download it again",
                       f->repo_path, f->sha256, hex);
    }
    memcpy(f->sha256_out, hex, sizeof hex);
    return KY_OK;
}

static bool is_file_of_size(const char *path, uint64_t size) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == size;
}

/* Takes path.lock (an flock on a file that exists only while held). Returns the fd or -1. */
static int take_lock(const char *lock_path, dl_state *s, ky_error *err) {
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(lock_path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
        if (fd < 0) {
            ky_errf(err, KY_ERR_IO,
                    "cannot create %s: %s (set KAIYUAN_HOME to a writable directory)", lock_path,
                    strerror(errno));
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            report(s, KY_PULL_WAIT);
            while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
            }
        }
        /* The holder unlinks the lock file before releasing it: ours must still be the one at
         * lock_path, else retry with the new one. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lock_path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            return fd;
        close(fd);
    }
    ky_errf(err, KY_ERR_IO, "%s: cannot take the lock", lock_path);
    return -1;
}

static void drop_lock(const char *lock_path, int fd) {
    unlink(lock_path);
    close(fd);
}

static bool transient(CURLcode rc) {
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
           rc == CURLE_GOT_NOTHING || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_HTTP2_STREAM ||
           rc == CURLE_HTTP2 || rc == CURLE_SSL_CONNECT_ERROR;
}

/* One attempt: GET from s->have. Returns the curl code and the HTTP status in *http. */
static CURLcode attempt(dl_state *s, long *http, char *errbuf, resp_headers *rh, ky_error *err,
                        bool *setup_failed) {
    struct curl_slist *hdrs;
    *setup_failed = false;
    s->curl = new_handle(s->h, s->f->url, &hdrs, errbuf, rh);
    s->rh = rh;
    if (!s->curl) {
        *setup_failed = true;
        ky_errf(err, KY_ERR_NOMEM, "cannot start libcurl for %s", s->f->url);
        return CURLE_FAILED_INIT;
    }
    char range[64];
    s->asked_from = s->have;
    if (s->have > 0) {
        snprintf(range, sizeof range, "%" PRIu64 "-", s->have);
        curl_easy_setopt(s->curl, CURLOPT_RANGE, range);
    }
    s->started_body = false;
    s->resumed_from = s->have;
    s->t0 = now_s();
    s->last_report = 0;
    curl_easy_setopt(s->curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
    if (!report(s, KY_PULL_START)) s->cancelled = true;
    CURLcode rc = s->cancelled ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(s->curl);
    *http = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, http);
    curl_easy_cleanup(s->curl);
    s->curl = NULL;
    curl_slist_free_all(hdrs);
    return rc;
}

static void human(uint64_t n, char buf[32]) {
    if (n < 1024)
        snprintf(buf, 32, "%" PRIu64 " B", n);
    else if (n < (1u << 20))
        snprintf(buf, 32, "%.1f KiB", (double)n / 1024);
    else if (n < (1u << 30))
        snprintf(buf, 32, "%.1f MiB", (double)n / (1 << 20));
    else
        snprintf(buf, 32, "%.2f GiB", (double)n / (1 << 30));
}

static ky_status download(dl_state *s, const char *partial, ky_error *err) {
    store_fetch *f = s->f;
    for (int32_t tries = 0;; tries++) {
        if (s->have == f->size) return KY_OK;
        char errbuf[CURL_ERROR_SIZE] = "";
        resp_headers rh = {"", "", -1};
        long http;
        bool setup_failed;
        uint64_t before = s->have;
        CURLcode rc = attempt(s, &http, errbuf, &rh, err, &setup_failed);
        if (setup_failed) return KY_ERR_NOMEM;
        if (s->write_errno) {
            close(s->fd);
            s->fd = -1;
            unlink(partial);
            return ky_errf(err, KY_ERR_IO,
                           "cannot write %s: %s; the partial download was deleted (free some "
                           "space, or set KAIYUAN_HOME to a directory with room)",
                           partial, strerror(s->write_errno));
        }
        if (s->too_much) {
            close(s->fd);
            s->fd = -1;
            unlink(partial);
            return ky_errf(err, KY_ERR_FORMAT,
                           "%s: the server sent more than the %" PRIu64 " bytes the listing gives; "
                           "the download was deleted: run the command again to retry",
                           f->repo_path, f->size);
        }
        char b1[32], b2[32];
        human(s->have, b1);
        human(f->size, b2);
        if (s->cancelled)
            return ky_errf(err, KY_ERR_CANCELLED,
                           "pull interrupted: %s has %s of %s; run the same command again to "
                           "resume",
                           f->repo_path, b1, b2);
        if (rc == CURLE_OK && s->have == f->size) return KY_OK;
        if (rc == CURLE_HTTP_RETURNED_ERROR && http == 416) {
            /* Our partial file does not fit the server's file: start over. */
            if (ftruncate(s->fd, 0) != 0)
                return ky_errf(err, KY_ERR_IO, "cannot truncate %s: %s", partial, strerror(errno));
            s->have = 0;
            store_sha256_init(&s->sha);
            if (tries < s->p->n_retries) continue;
        }
        bool broke = rc == CURLE_OK || transient(rc) || s->bad_status;
        if (rc == CURLE_HTTP_RETURNED_ERROR && (http == 429 || http >= 500)) broke = true;
        if (!broke) return request_error(s->h, f->url, rc, http, errbuf, &rh, err);
        s->bad_status = false;
        if (tries < s->p->n_retries) {
            if (s->have == before) sleep_ms(KY_STORE_RETRY_DELAY_MS);
            continue;
        }
        const char *why = rc == CURLE_OK                    ? "the connection closed early"
                          : rc == CURLE_HTTP_RETURNED_ERROR ? "the server answered an error"
                          : errbuf[0]                       ? errbuf
                                                            : curl_easy_strerror(rc);
        return ky_errf(err, KY_ERR_NETWORK,
                       "download of %s broke off at %s of %s (%s); the partial file is kept: run "
                       "the same command again to resume",
                       f->repo_path, b1, b2, why);
    }
}

ky_status store_fetch_file(const store_http_ctx *h, const ky_store_params *p, store_fetch *f,
                           ky_error *err) {
    f->sha256_out[0] = '\0';
    if (is_file_of_size(f->final_path, f->size)) return verify_existing(f, err);
    ky_status st = store_mkdirs_for(f->final_path, err);
    if (st) return st;
    char partial[KY_STORE_PATH_MAX + 16], lock[KY_STORE_PATH_MAX + 16];
    snprintf(partial, sizeof partial, "%s.partial", f->final_path);
    snprintf(lock, sizeof lock, "%s.lock", f->final_path);
    dl_state s;
    memset(&s, 0, sizeof s);
    s.h = h;
    s.p = p;
    s.f = f;
    s.fd = -1;
    int lock_fd = take_lock(lock, &s, err);
    if (lock_fd < 0) return KY_ERR_IO;
    /* Another process may have finished it while we waited. */
    if (is_file_of_size(f->final_path, f->size)) {
        drop_lock(lock, lock_fd);
        return verify_existing(f, err);
    }
    s.fd = open(partial, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (s.fd < 0) {
        st = ky_errf(err, KY_ERR_IO,
                     "cannot create %s: %s (set KAIYUAN_HOME to a writable directory)", partial,
                     strerror(errno));
        drop_lock(lock, lock_fd);
        return st;
    }
    struct stat sb;
    store_sha256_init(&s.sha);
    if (fstat(s.fd, &sb) != 0) {
        st = ky_errf(err, KY_ERR_IO, "cannot stat %s: %s", partial, strerror(errno));
        goto out;
    }
    s.have = (uint64_t)sb.st_size;
    if (s.have > f->size) {
        if (ftruncate(s.fd, 0) != 0) {
            st = ky_errf(err, KY_ERR_IO, "cannot truncate %s: %s", partial, strerror(errno));
            goto out;
        }
        s.have = 0;
    }
    if (s.have > 0 && (st = hash_fd(s.fd, s.have, &s.sha, partial, err))) goto out;
    if (lseek(s.fd, (off_t)s.have, SEEK_SET) < 0) {
        st = ky_errf(err, KY_ERR_IO, "cannot seek %s: %s", partial, strerror(errno));
        goto out;
    }
    if ((st = download(&s, partial, err))) goto out;
    char hex[65];
    store_sha256_final_hex(&s.sha, hex);
    if (f->sha256[0] && strcmp(hex, f->sha256)) {
        close(s.fd);
        s.fd = -1;
        unlink(partial);
        st = ky_errf(err, KY_ERR_FORMAT,
                     "%s: checksum mismatch (expected sha256 %s, got %s): the download was "
                     "deleted; run the command again to retry",
                     f->repo_path, f->sha256, hex);
        goto out;
    }
    if (fsync(s.fd) != 0) {
        int e = errno;
        close(s.fd);
        s.fd = -1;
        unlink(partial);
        st = ky_errf(err, KY_ERR_IO, "cannot write %s: %s; the partial download was deleted",
                     partial, strerror(e));
        goto out;
    }
    close(s.fd);
    s.fd = -1;
    if (rename(partial, f->final_path) != 0) {
        st = ky_errf(err, KY_ERR_IO, "cannot rename %s into place: %s", partial, strerror(errno));
        unlink(partial);
        goto out;
    }
    memcpy(f->sha256_out, hex, sizeof hex);
    report(&s, KY_PULL_DONE);
out:
    if (s.fd >= 0) close(s.fd);
    drop_lock(lock, lock_fd);
    return st;
}
