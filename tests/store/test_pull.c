/* test_pull.c — `kaiyuan pull`, `list`, `show`, `rm` and models by name, against a loopback HTTP
 * server started by this test that imitates both hubs (no internet needed):
 *   Hugging Face  GET /api/models/O/R?blobs=true          siblings with size and lfs.sha256
 *                 GET /O/R/resolve/main/PATH  → 302 → /cdn/h/O/R/PATH   (the redirect hop)
 *   ModelScope    GET /api/v1/models/O/R/repo/files?...  Data.Files[] with Path, Size, Sha256
 *                 GET /models/O/R/resolve/master/PATH
 * Downloads honour Range; a gated repository answers 401 without "Bearer sekret"; unknown
 * repositories 404. The server runs in a fork()ed process (one child per connection) and shares
 * its counters with the test through an anonymous shared mapping: body bytes served, requests,
 * the last Range start, and a switch that drops connections after N body bytes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "store/sha256.h"
#include "test.h"

/* ---- the imitation hubs --------------------------------------------------------------------- */

typedef struct hub_file {
    const char *path; /* in the repository */
    char src[600];    /* file served */
    char sha[65];     /* listed sha256 */
    long long size;
} hub_file;

typedef struct hub_repo {
    char hub; /* 'h' Hugging Face, 'm' ModelScope */
    const char *owner, *name;
    bool gated;
    hub_file files[6];
    int n_files;
} hub_repo;

static hub_repo g_repos[8];
static int g_n_repos;

/* Shared with the server process. */
typedef struct hub_shared {
    long long bytes_served; /* body bytes of file downloads */
    int n_downloads;        /* file GETs answered with a body */
    long long last_range;   /* Range start of the last download, -1 without Range */
    int drop_after;         /* > 0: close after this many body bytes ... */
    int n_drop;             /* ... for this many more downloads */
    int slow_ms;            /* sleep between 64 KiB chunks */
    int active;             /* downloads being served right now */
} hub_shared;

static hub_shared *g_sh;
static pid_t g_server_pid;
static int g_port;
static char g_tmp[256];
static char g_split_prefix[600];

static void add_file(hub_repo *r, const char *path, const char *src, const char *sha_of) {
    hub_file *f = &r->files[r->n_files++];
    f->path = path;
    snprintf(f->src, sizeof f->src, "%s", src);
    size_t n;
    char *data = ky_test_read_file(sha_of ? sha_of : src, &n);
    store_sha256 s;
    store_sha256_init(&s);
    store_sha256_update(&s, data, data ? n : 0);
    store_sha256_final_hex(&s, f->sha);
    free(data);
    struct stat sb;
    f->size = stat(src, &sb) == 0 ? (long long)sb.st_size : -1;
}

static const hub_repo *find_repo(char hub, const char *owner, size_t n_owner, const char *name,
                                 size_t n_name) {
    for (int i = 0; i < g_n_repos; i++)
        if (g_repos[i].hub == hub && strlen(g_repos[i].owner) == n_owner &&
            !strncmp(g_repos[i].owner, owner, n_owner) && strlen(g_repos[i].name) == n_name &&
            !strncmp(g_repos[i].name, name, n_name))
            return &g_repos[i];
    return NULL;
}

/* Sends n bytes; returns how many went out (fewer when the client went away). */
static size_t send_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    size_t sent = 0;
    while (sent < n) {
        ssize_t w = send(fd, p + sent, n - sent, MSG_NOSIGNAL);
        if (w <= 0) break;
        sent += (size_t)w;
    }
    return sent;
}

static void reply(int fd, int status, const char *extra, const char *body) {
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     strlen(body), extra);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

static void serve_file(int fd, const hub_file *f, const char *req) {
    FILE *in = fopen(f->src, "rb");
    if (!in) {
        reply(fd, 500, "", "cannot open");
        return;
    }
    long long start = -1;
    const char *rg = strcasestr(req, "\r\nRange: bytes=");
    if (rg) start = atoll(rg + 15);
    long long from = start > 0 ? start : 0;
    char head[512];
    int n;
    if (start >= f->size) {
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 416 X\r\nContent-Length: 0\r\nContent-Range: bytes */%lld\r\n"
                     "Connection: close\r\n\r\n",
                     f->size);
        send_all(fd, head, (size_t)n);
        fclose(in);
        return;
    }
    if (start >= 0)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 206 X\r\nContent-Length: %lld\r\nContent-Range: bytes %lld-%lld/%lld"
                     "\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                     f->size - from, from, f->size - 1, f->size);
    else
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 X\r\nContent-Length: %lld\r\nAccept-Ranges: bytes\r\n"
                     "Connection: close\r\n\r\n",
                     f->size);
    send_all(fd, head, (size_t)n);
    __atomic_store_n(&g_sh->last_range, start, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&g_sh->n_downloads, 1, __ATOMIC_SEQ_CST);
    long long limit = f->size - from;
    if (__atomic_load_n(&g_sh->n_drop, __ATOMIC_SEQ_CST) > 0) {
        __atomic_sub_fetch(&g_sh->n_drop, 1, __ATOMIC_SEQ_CST);
        if (g_sh->drop_after < limit) limit = g_sh->drop_after;
    }
    __atomic_add_fetch(&g_sh->active, 1, __ATOMIC_SEQ_CST);
    fseek(in, (long)from, SEEK_SET);
    char buf[65536];
    while (limit > 0) {
        size_t want = limit < (long long)sizeof buf ? (size_t)limit : sizeof buf;
        size_t r = fread(buf, 1, want, in);
        if (r == 0) break;
        size_t sent = send_all(fd, buf, r);
        __atomic_add_fetch(&g_sh->bytes_served, (long long)sent, __ATOMIC_SEQ_CST);
        if (sent < r) break; /* the client is gone */
        limit -= (long long)r;
        if (g_sh->slow_ms) usleep((useconds_t)g_sh->slow_ms * 1000);
    }
    __atomic_sub_fetch(&g_sh->active, 1, __ATOMIC_SEQ_CST);
    fclose(in);
}

static void listing(int fd, const hub_repo *r) {
    char body[8192];
    size_t o = 0;
    o += (size_t)snprintf(body + o, sizeof body - o,
                          r->hub == 'h' ? "{\"id\": \"%s/%s\", \"siblings\": ["
                                        : "{\"Code\": 200, \"Data\": {\"Files\": [",
                          r->owner, r->name);
    for (int i = 0; i < r->n_files; i++) {
        const hub_file *f = &r->files[i];
        bool gguf = strstr(f->path, ".gguf") != NULL;
        if (r->hub == 'h')
            o += (size_t)snprintf(
                body + o, sizeof body - o, "%s{\"rfilename\": \"%s\", \"size\": %lld%s%s%s%lld%s}",
                i ? ", " : "", f->path, f->size, gguf ? ", \"lfs\": {\"sha256\": \"" : "",
                gguf ? f->sha : "", gguf ? "\", \"size\": " : "", gguf ? f->size : 0LL,
                gguf ? "}" : "");
        else
            o += (size_t)snprintf(body + o, sizeof body - o,
                                  "%s{\"Name\": \"%s\", \"Path\": \"%s\", \"Size\": %lld, "
                                  "\"Sha256\": \"%s\", \"Type\": \"blob\"}",
                                  i ? ", " : "", f->path, f->path, f->size, f->sha);
    }
    if (r->hub == 'm')
        o += (size_t)snprintf(body + o, sizeof body - o,
                              ", {\"Name\": \"sub\", \"Path\": \"sub\", \"Size\": 0, \"Type\": "
                              "\"tree\"}");
    snprintf(body + o, sizeof body - o, r->hub == 'h' ? "]}" : "]}, \"Success\": true}");
    reply(fd, 200, "Content-Type: application/json\r\n", body);
}

/* Splits "O/R/rest" at the first two slashes. */
static bool owner_repo(const char *s, const char **o, size_t *no, const char **r, size_t *nr,
                       const char **rest) {
    const char *a = strchr(s, '/');
    if (!a) return false;
    const char *b = a + 1 + strcspn(a + 1, "/? ");
    *o = s;
    *no = (size_t)(a - s);
    *r = a + 1;
    *nr = (size_t)(b - a - 1);
    *rest = b;
    return true;
}

static void handle(int fd) {
    char req[8192];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0) return;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    if (strncmp(req, "GET ", 4)) return reply(fd, 405, "", "");
    char *url = req + 4;
    char *sp = strchr(url, ' ');
    if (!sp) return;
    *sp = '\0';
    const char *rest_hdrs = sp + 1;
    bool authed = strcasestr(rest_hdrs, "\r\nAuthorization: Bearer sekret\r\n") != NULL;
    const char *o, *r, *rest;
    size_t no, nr;
    char hub = 0;
    bool is_listing = false, redirect = false;
    const char *path = NULL;
    if (!strncmp(url, "/api/models/", 12) && owner_repo(url + 12, &o, &no, &r, &nr, &rest)) {
        hub = 'h';
        is_listing = !strncmp(rest, "?blobs=true", 11);
    } else if (!strncmp(url, "/api/v1/models/", 15) &&
               owner_repo(url + 15, &o, &no, &r, &nr, &rest)) {
        hub = 'm';
        is_listing = !strcmp(rest, "/repo/files?Revision=master&Recursive=true");
    } else if (!strncmp(url, "/models/", 8) && owner_repo(url + 8, &o, &no, &r, &nr, &rest) &&
               !strncmp(rest, "/resolve/master/", 16)) {
        hub = 'm';
        path = rest + 16;
    } else if (!strncmp(url, "/cdn/h/", 7) && owner_repo(url + 7, &o, &no, &r, &nr, &rest)) {
        hub = 'h';
        path = rest + 1;
    } else if (owner_repo(url + 1, &o, &no, &r, &nr, &rest) &&
               !strncmp(rest, "/resolve/main/", 14)) {
        hub = 'h';
        path = rest + 14;
        redirect = true;
    }
    const hub_repo *repo = hub ? find_repo(hub, o, no, r, nr) : NULL;
    if (!repo || (!is_listing && !path))
        return reply(fd, hub == 'm' && is_listing ? 200 : 404,
                     hub == 'h' ? "X-Error-Code: RepoNotFound\r\n" : "",
                     hub == 'm' && is_listing ? "{\"Code\": 10010205001, \"Message\": \"model not "
                                                "found\", \"Success\": false}"
                                              : "{\"error\": \"Repository not found\"}");
    if (repo->gated && !authed && strncmp(url, "/cdn/", 5))
        return reply(fd, 401,
                     "X-Error-Code: GatedRepo\r\nX-Error-Message: Access to model is restricted."
                     "\r\n",
                     "{\"error\": \"gated\"}");
    if (is_listing) return listing(fd, repo);
    for (int i = 0; i < repo->n_files; i++) {
        if (strcmp(repo->files[i].path, path)) continue;
        if (redirect) {
            char loc[1200];
            snprintf(loc, sizeof loc, "Location: /cdn/h/%s/%s/%s\r\n", repo->owner, repo->name,
                     path);
            return reply(fd, 302, loc, "");
        }
        return serve_file(fd, &repo->files[i], rest_hdrs);
    }
    reply(fd, 404, hub == 'h' ? "X-Error-Code: EntryNotFound\r\n" : "", "no such file");
}

static void server_loop(int lfd) {
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        pid_t p = fork();
        if (p == 0) {
            close(lfd);
            handle(fd);
            shutdown(fd, SHUT_WR);
            char sink[256];
            while (recv(fd, sink, sizeof sink, 0) > 0) {
            }
            close(fd);
            _exit(0);
        }
        close(fd);
    }
}

/* Rewrites src as a 2-part split (metadata in the first part). */
static bool write_split(const char *src, const char *prefix) {
    ky_gguf *g;
    if (ky_gguf_open(src, &g, NULL) != KY_OK) return false;
    int64_t n_t = ky_gguf_n_tensors(g);
    bool ok = true;
    for (int p = 0; p < 2 && ok; p++) {
        gguf_writer *w;
        ok = gguf_writer_create(3, 0, &w, NULL) == KY_OK;
        if (!ok) break;
        for (int64_t k = 0; p == 0 && ok && k < ky_gguf_n_kv(g); k++)
            ok = gguf_writer_copy_kv(w, g, k) == KY_OK;
        ok = ok && gguf_writer_set_u16(w, "split.no", (uint16_t)p) == KY_OK &&
             gguf_writer_set_u16(w, "split.count", 2) == KY_OK &&
             gguf_writer_set_i32(w, "split.tensors.count", (int32_t)n_t) == KY_OK;
        for (int64_t i = n_t * p / 2; ok && i < n_t * (p + 1) / 2; i++)
            ok = gguf_writer_copy_tensor(w, g, i, NULL) == KY_OK;
        char path[700];
        snprintf(path, sizeof path, "%s-%05d-of-00002.gguf", prefix, p + 1);
        ok = ok && gguf_writer_write_file(w, path) == KY_OK;
        gguf_writer_free(w);
    }
    ky_gguf_close(g);
    return ok;
}

static char g_llama_q8[600], g_llama_q4[600], g_llama_f16[600], g_qwen2_q4[600], g_qwen2_q8[600],
    g_qwen3_q8[600];

static bool start_server(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/kypull-XXXXXX");
    if (!mkdtemp(g_tmp)) return false;
    snprintf(g_llama_q8, sizeof g_llama_q8, "%s", ky_test_shared("models/tiny-llama-q8_0.gguf"));
    snprintf(g_llama_q4, sizeof g_llama_q4, "%s", ky_test_shared("models/tiny-llama-q4_k_m.gguf"));
    snprintf(g_llama_f16, sizeof g_llama_f16, "%s", ky_test_shared("models/tiny-llama-f16.gguf"));
    snprintf(g_qwen2_q4, sizeof g_qwen2_q4, "%s", ky_test_shared("models/tiny-qwen2-q4_k_m.gguf"));
    snprintf(g_qwen2_q8, sizeof g_qwen2_q8, "%s", ky_test_shared("models/tiny-qwen2-q8_0.gguf"));
    snprintf(g_qwen3_q8, sizeof g_qwen3_q8, "%s", ky_test_shared("models/tiny-qwen3-q8_0.gguf"));
    snprintf(g_split_prefix, sizeof g_split_prefix, "%s/split-model-Q8_0", g_tmp);
    if (!write_split(g_llama_q8, g_split_prefix)) return false;
    char split1[700], split2[700];
    snprintf(split1, sizeof split1, "%s-00001-of-00002.gguf", g_split_prefix);
    snprintf(split2, sizeof split2, "%s-00002-of-00002.gguf", g_split_prefix);
    char readme[600];
    snprintf(readme, sizeof readme, "%s/README.md", g_tmp);
    ky_test_write_file(readme, "# readme\n", 9);

    hub_repo *r = &g_repos[g_n_repos++];
    *r = (hub_repo){'h', "Qwen", "Qwen2.5-0.5B-Instruct-GGUF", false, {{0}}, 0};
    add_file(r, "README.md", readme, NULL);
    add_file(r, "qwen2.5-0.5b-instruct-q4_k_m.gguf", g_qwen2_q4, NULL);
    add_file(r, "qwen2.5-0.5b-instruct-q8_0.gguf", g_qwen2_q8, NULL);
    r = &g_repos[g_n_repos++];
    *r = (hub_repo){'h', "test", "tiny-llama-GGUF", false, {{0}}, 0};
    add_file(r, "tiny-llama-Q8_0.gguf", g_llama_q8, NULL);
    add_file(r, "tiny-llama-Q4_K_M.gguf", g_llama_q4, NULL);
    add_file(r, "tiny-llama-F16.gguf", g_llama_f16, NULL);
    add_file(r, "mmproj-tiny-llama-F16.gguf", g_llama_f16, NULL);
    r = &g_repos[g_n_repos++];
    *r = (hub_repo){'h', "test", "split-GGUF", false, {{0}}, 0};
    add_file(r, "Q8_0/split-model-Q8_0-00001-of-00002.gguf", split1, NULL);
    add_file(r, "Q8_0/split-model-Q8_0-00002-of-00002.gguf", split2, NULL);
    r = &g_repos[g_n_repos++];
    *r = (hub_repo){'h', "test", "gated-GGUF", true, {{0}}, 0};
    add_file(r, "gated-q8_0.gguf", g_llama_q8, NULL);
    r = &g_repos[g_n_repos++];
    *r = (hub_repo){'h', "test", "corrupt-GGUF", false, {{0}}, 0};
    add_file(r, "corrupt-q8_0.gguf", g_llama_q8, g_llama_q4); /* listed sha256 is another file's */
    r = &g_repos[g_n_repos++];
    *r = (hub_repo){'m', "Qwen", "Qwen2.5-0.5B-Instruct-GGUF", false, {{0}}, 0};
    add_file(r, "qwen2.5-0.5b-instruct-q4_k_m.gguf", g_qwen2_q4, NULL);
    add_file(r, "qwen2.5-0.5b-instruct-q8_0.gguf", g_qwen2_q8, NULL);
    r = &g_repos[g_n_repos++];
    *r = (hub_repo){'m', "test", "tiny-qwen3-GGUF", false, {{0}}, 0};
    add_file(r, "tiny-qwen3-q8_0.gguf", g_qwen3_q8, NULL);

    g_sh = mmap(NULL, sizeof *g_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_sh == MAP_FAILED) return false;
    memset(g_sh, 0, sizeof *g_sh);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
        return false;
    g_port = ntohs(a.sin_port);
    g_server_pid = fork();
    if (g_server_pid == 0) server_loop(lfd);
    close(lfd);
    return g_server_pid > 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

static void stop_server(void) {
    if (g_server_pid > 0) {
        kill(g_server_pid, SIGKILL);
        waitpid(g_server_pid, NULL, 0);
    }
    if (g_tmp[0] && !getenv("KY_TEST_KEEP")) nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Waits for downloads still being served (to a client that went away) to end, then zeroes the
 * counters. */
static void reset_counters(void) {
    for (int i = 0; i < 500 && __atomic_load_n(&g_sh->active, __ATOMIC_SEQ_CST) > 0; i++)
        usleep(10000);
    __atomic_store_n(&g_sh->bytes_served, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_sh->n_downloads, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_sh->last_range, -2, __ATOMIC_SEQ_CST);
    g_sh->n_drop = 0;
    g_sh->drop_after = 0;
    g_sh->slow_ms = 0;
}

/* ---- running the CLI -------------------------------------------------------------------------- */

static char g_env[8][700];

/* The environment of a CLI run: a store of its own (home), both hubs at the loopback server. */
static const char *const *env_for(const char *home, const char *token, const char *source) {
    static const char *env[10];
    snprintf(g_env[0], sizeof g_env[0], "KAIYUAN_HOME=%s/%s", g_tmp, home);
    snprintf(g_env[1], sizeof g_env[1], "HF_ENDPOINT=http://127.0.0.1:%d", g_port);
    snprintf(g_env[2], sizeof g_env[2], "MODELSCOPE_ENDPOINT=http://127.0.0.1:%d/", g_port);
    snprintf(g_env[3], sizeof g_env[3], "HF_TOKEN=%s", token ? token : "");
    snprintf(g_env[4], sizeof g_env[4], "KAIYUAN_SOURCE=%s", source ? source : "");
    snprintf(g_env[5], sizeof g_env[5], "OLLAMA_MODELS=%s/ollama", g_tmp);
    snprintf(g_env[6], sizeof g_env[6], "NO_PROXY=*");
    snprintf(g_env[7], sizeof g_env[7], "MODELSCOPE_API_TOKEN=");
    for (int i = 0; i < 8; i++) env[i] = g_env[i];
    env[8] = "no_proxy=*";
    env[9] = NULL;
    return env;
}

/* Runs `kaiyuan ARGS...` (NULL-terminated) with env. */
static void cli(ky_cli_result *r, const char *const *env, const char *const *args) {
    const char *argv[24];
    int n = 0;
    argv[n++] = ky_test_cli_binary();
    for (int i = 0; args[i] && n < 23; i++) argv[n++] = args[i];
    argv[n] = NULL;
    if (ky_test_spawn(argv, env, r) != 0) {
        memset(r, 0, sizeof *r);
        r->exit_code = -100;
        r->out = calloc(1, 1);
        r->err = calloc(1, 1);
    }
}

#define KY(r, env, ...) cli(r, env, (const char *const[]){__VA_ARGS__, NULL})

static bool same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = ky_test_read_file(a, &na), *y = ky_test_read_file(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static const char *home_path(const char *home, const char *rel) {
    static char buf[2048];
    snprintf(buf, sizeof buf, "%s/%s/%s", g_tmp, home, rel);
    return buf;
}

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

static long long file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Counts regular files below dir. */
static int g_count;
static int count_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)p, (void)f;
    if (flag == FTW_F && S_ISREG(sb->st_mode)) g_count++;
    return 0;
}
static int count_files(const char *dir) {
    g_count = 0;
    if (exists(dir)) nftw(dir, count_entry, 16, FTW_PHYS);
    return g_count;
}

/* ---- tests ------------------------------------------------------------------------------------ */

#define HF_LLAMA "models/hf.co/test/tiny-llama-GGUF/"

static void pull_full_name(void) {
    reset_counters();
    const char *const *env = env_for("full", NULL, NULL);
    ky_cli_result r;
    KY(&r, env, "pull", "hf.co/test/tiny-llama-GGUF:q8_0");
    CHECKF(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
    CHECKF(strstr(r.err, "pulled hf.co/test/tiny-llama-GGUF:Q8_0 (1 file"), "stderr: %s", r.err);
    CHECK(same_file(home_path("full", HF_LLAMA "tiny-llama-Q8_0.gguf"), g_llama_q8));
    CHECK(exists(home_path("full", "manifests/hf.co/test/tiny-llama-GGUF/Q8_0.json")));
    CHECKF(g_sh->bytes_served == file_size(g_llama_q8), "served %lld", g_sh->bytes_served);
    CHECK(g_sh->n_downloads == 1 && g_sh->last_range == -1);
    ky_test_cli_free(&r);
    /* A second pull is answered from the store, without the network. */
    reset_counters();
    KY(&r, env, "pull", "test/tiny-llama-GGUF:Q8_0");
    CHECKF(r.exit_code == 0 && strstr(r.err, "already in the store"), "again: %d %s", r.exit_code,
           r.err);
    CHECK(g_sh->n_downloads == 0);
    ky_test_cli_free(&r);
}

static void pull_short_name(void) {
    reset_counters();
    const char *const *env = env_for("short", NULL, NULL);
    ky_cli_result r;
    KY(&r, env, "pull", "qwen2.5:0.5b");
    CHECKF(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
    CHECK(same_file(home_path("short", "models/hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/"
                                       "qwen2.5-0.5b-instruct-q4_k_m.gguf"),
                    g_qwen2_q4));
    ky_test_cli_free(&r);
    KY(&r, env, "list");
    CHECKF(r.exit_code == 0 && strstr(r.out, "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M") &&
               strstr(r.out, "huggingface"),
           "list: %s %s", r.out, r.err);
    ky_test_cli_free(&r);
    /* The short name finds the pulled model without the network. */
    reset_counters();
    KY(&r, env, "run", "-m", "qwen2.5:0.5b", "--ids", "1", "-n", "4", "--temp", "0", "--quiet");
    CHECKF(r.exit_code == 0 && r.n_out > 0, "run: %d %s", r.exit_code, r.err);
    CHECK(g_sh->n_downloads == 0);
    ky_test_cli_free(&r);
    /* Unknown short names list the catalogue. */
    KY(&r, env, "pull", "qwen9:1b");
    CHECKF(r.exit_code == 2 && strstr(r.err, "qwen3:30b-a3b") && strstr(r.err, "llama3.2:1b"),
           "unknown: %d %s", r.exit_code, r.err);
    ky_test_cli_free(&r);
}

static void pull_modelscope(void) {
    reset_counters();
    const char *const *env = env_for("ms", NULL, NULL);
    ky_cli_result r;
    KY(&r, env, "pull", "ms://test/tiny-qwen3-GGUF");
    CHECKF(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
    CHECK(
        same_file(home_path("ms", "models/modelscope.cn/test/tiny-qwen3-GGUF/tiny-qwen3-q8_0.gguf"),
                  g_qwen3_q8));
    ky_test_cli_free(&r);
    /* KAIYUAN_SOURCE=modelscope sends short names there. */
    env = env_for("ms", NULL, "modelscope");
    KY(&r, env, "pull", "qwen2.5:0.5b:Q8_0");
    CHECKF(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
    CHECK(same_file(home_path("ms", "models/modelscope.cn/Qwen/Qwen2.5-0.5B-Instruct-GGUF/"
                                    "qwen2.5-0.5b-instruct-q8_0.gguf"),
                    g_qwen2_q8));
    ky_test_cli_free(&r);
    KY(&r, env, "list");
    CHECKF(strstr(r.out, "ms://Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0") &&
               strstr(r.out, "ms://test/tiny-qwen3-GGUF:Q8_0") && strstr(r.out, "modelscope"),
           "list: %s", r.out);
    ky_test_cli_free(&r);
    /* A missing ModelScope repository. */
    KY(&r, env, "pull", "modelscope.cn/test/none-GGUF");
    CHECKF(r.exit_code == 1 && strstr(r.err, "model not found"), "missing: %d %s", r.exit_code,
           r.err);
    ky_test_cli_free(&r);
    env = env_for("ms", NULL, "nowhere");
    KY(&r, env, "pull", "qwen3:4b");
    CHECKF(r.exit_code == 2 && strstr(r.err, "KAIYUAN_SOURCE"), "bad source: %s", r.err);
    ky_test_cli_free(&r);
}

static void quant_selection(void) {
    const char *const *env = env_for("quant", NULL, NULL);
    ky_cli_result r;
    KY(&r, env, "pull", "test/tiny-llama-GGUF"); /* no quant: Q4_K_M */
    CHECKF(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
    CHECK(same_file(home_path("quant", HF_LLAMA "tiny-llama-Q4_K_M.gguf"), g_llama_q4));
    CHECK(!exists(home_path("quant", HF_LLAMA "tiny-llama-Q8_0.gguf")));
    ky_test_cli_free(&r);
    KY(&r, env, "pull", "test/tiny-llama-GGUF:f16");
    CHECKF(r.exit_code == 0, "f16: exit %d: %s", r.exit_code, r.err);
    CHECK(same_file(home_path("quant", HF_LLAMA "tiny-llama-F16.gguf"), g_llama_f16));
    CHECK(!exists(home_path("quant", HF_LLAMA "mmproj-tiny-llama-F16.gguf")));
    ky_test_cli_free(&r);
    KY(&r, env, "pull", "test/tiny-llama-GGUF:Q5_K_S");
    CHECKF(r.exit_code == 1 && strstr(r.err, "no GGUF file of quant Q5_K_S") &&
               strstr(r.err, "available quants: F16, Q4_K_M, Q8_0"),
           "missing quant: %d %s", r.exit_code, r.err);
    ky_test_cli_free(&r);
    KY(&r, env, "pull", "test/tiny-llama-GGUF:Q4/K");
    CHECK(r.exit_code == 2);
    ky_test_cli_free(&r);
}

static void cut_off_then_resume(void) {
    const char *const *env = env_for("resume", NULL, NULL);
    const char *final = home_path("resume", HF_LLAMA "tiny-llama-Q8_0.gguf");
    char partial[2100];
    snprintf(partial, sizeof partial, "%s.partial", final);
    long long size = file_size(g_llama_q8), half = size / 2;
    reset_counters();
    g_sh->drop_after = (int)half;
    g_sh->n_drop = 100;
    ky_cli_result r;
    KY(&r, env, "pull", "--retries", "0", "test/tiny-llama-GGUF:Q8_0");
    CHECKF(r.exit_code == 1 && strstr(r.err, "broke off at") &&
               strstr(r.err, "run the same command again to resume"),
           "cut: %d %s", r.exit_code, r.err);
    CHECKF(file_size(partial) == half, "partial %lld, want %lld", file_size(partial), half);
    CHECK(!exists(final));
    ky_test_cli_free(&r);
    /* The rerun asks for the missing bytes only. */
    reset_counters();
    KY(&r, env, "pull", "test/tiny-llama-GGUF:Q8_0");
    CHECKF(r.exit_code == 0 && strstr(r.err, "resuming at"), "resume: %d %s", r.exit_code, r.err);
    CHECKF(g_sh->bytes_served == size - half, "served %lld, want %lld", g_sh->bytes_served,
           size - half);
    CHECK(g_sh->last_range == half && g_sh->n_downloads == 1);
    CHECK(same_file(final, g_llama_q8));
    CHECK(!exists(partial));
    ky_test_cli_free(&r);
    /* With retries (the default) a broken transfer resumes by itself. */
    KY(&r, env, "rm", "test/tiny-llama-GGUF:Q8_0");
    CHECK(r.exit_code == 0);
    ky_test_cli_free(&r);
    reset_counters();
    g_sh->drop_after = (int)(size / 3);
    g_sh->n_drop = 1;
    KY(&r, env, "pull", "test/tiny-llama-GGUF:Q8_0");
    CHECKF(r.exit_code == 0, "auto resume: %d %s", r.exit_code, r.err);
    CHECKF(g_sh->bytes_served == size && g_sh->n_downloads == 2 && g_sh->last_range == size / 3,
           "served %lld in %d downloads, last range %lld", g_sh->bytes_served, g_sh->n_downloads,
           g_sh->last_range);
    CHECK(same_file(final, g_llama_q8));
    ky_test_cli_free(&r);
}

static void checksum_mismatch(void) {
    const char *const *env = env_for("sum", NULL, NULL);
    ky_cli_result r;
    KY(&r, env, "pull", "test/corrupt-GGUF");
    CHECKF(r.exit_code == 1 && strstr(r.err, "checksum mismatch") && strstr(r.err, "deleted") &&
               strstr(r.err, "again"),
           "%d %s", r.exit_code, r.err);
    CHECK(count_files(home_path("sum", "models")) == 0);
    CHECK(!exists(home_path("sum", "manifests/hf.co/test/corrupt-GGUF/Q8_0.json")));
    ky_test_cli_free(&r);
}

static void auth_and_missing(void) {
    ky_cli_result r;
    KY(&r, env_for("auth", NULL, NULL), "pull", "test/gated-GGUF");
    CHECKF(r.exit_code == 1 && strstr(r.err, "refused access (HTTP 401") &&
               strstr(r.err, "gated") && strstr(r.err, "HF_TOKEN"),
           "401: %d %s", r.exit_code, r.err);
    ky_test_cli_free(&r);
    KY(&r, env_for("auth", "wrong", NULL), "pull", "test/gated-GGUF");
    CHECKF(r.exit_code == 1 && strstr(r.err, "token in HF_TOKEN was not accepted"), "bad token: %s",
           r.err);
    ky_test_cli_free(&r);
    KY(&r, env_for("auth", "sekret", NULL), "pull", "test/gated-GGUF");
    CHECKF(r.exit_code == 0, "token: %d %s", r.exit_code, r.err);
    CHECK(same_file(home_path("auth", "models/hf.co/test/gated-GGUF/gated-q8_0.gguf"), g_llama_q8));
    ky_test_cli_free(&r);
    KY(&r, env_for("auth", NULL, NULL), "pull", "test/no-such-GGUF");
    CHECKF(r.exit_code == 1 && strstr(r.err, "no such repository") && strstr(r.err, "404"),
           "404: %d %s", r.exit_code, r.err);
    ky_test_cli_free(&r);
    KY(&r, env_for("auth", NULL, NULL), "run", "-m", "test/no-such-GGUF", "--ids", "1");
    CHECKF(r.exit_code == 1 && strstr(r.err, "kaiyuan run: ") &&
               strstr(r.err, "no such repository"),
           "run 404: %d %s", r.exit_code, r.err);
    ky_test_cli_free(&r);
}

static void no_network(void) {
    const char *const *env = env_for("offline", NULL, NULL);
    snprintf(g_env[1], sizeof g_env[1], "HF_ENDPOINT=http://no-such-host.invalid");
    ky_cli_result r;
    double t0 = ky_time_now();
    KY(&r, env, "pull", "qwen2.5:0.5b");
    CHECKF(r.exit_code == 1 && strstr(r.err, "cannot reach no-such-host.invalid") &&
               strstr(r.err, "HF_ENDPOINT") && strstr(r.err, "-m path/to/model.gguf"),
           "dns: %d %s", r.exit_code, r.err);
    CHECKF(ky_time_now() - t0 < 15, "took %.1f s", ky_time_now() - t0);
    ky_test_cli_free(&r);
    /* Nothing listening: connection refused, the same advice. */
    snprintf(g_env[1], sizeof g_env[1], "HF_ENDPOINT=http://127.0.0.1:1");
    KY(&r, env, "pull", "test/tiny-llama-GGUF");
    CHECKF(r.exit_code == 1 && strstr(r.err, "cannot reach 127.0.0.1:1"), "refused: %s", r.err);
    ky_test_cli_free(&r);
    CHECK(!exists(home_path("offline", "models")));
}

/* Runs the CLI with a file-size limit (as a full disk: writes past it fail with EFBIG). */
static int run_limited(const char *const *env, const char *const *args, long long limit,
                       ky_cli_result *r) {
    char out_path[700], err_path[700];
    snprintf(out_path, sizeof out_path, "%s/limited.out", g_tmp);
    snprintf(err_path, sizeof err_path, "%s/limited.err", g_tmp);
    pid_t p = fork();
    if (p == 0) {
        for (int i = 0; env[i]; i++) putenv((char *)env[i]);
        int o = open(out_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        int e = open(err_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        dup2(o, 1);
        dup2(e, 2);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
        setrlimit(RLIMIT_FSIZE, &rl);
        const char *argv[16];
        int n = 0;
        argv[n++] = ky_test_cli_binary();
        for (int i = 0; args[i]; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(p, &status, 0);
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = ky_test_read_file(out_path, &r->n_out);
    r->err = ky_test_read_file(err_path, &r->n_err);
    return 0;
}

static void unwritable_store(void) {
    /* KAIYUAN_HOME below a regular file cannot be created (works as root too). */
    char blocker[700];
    snprintf(blocker, sizeof blocker, "%s/blocker", g_tmp);
    ky_test_write_file(blocker, "x", 1);
    const char *const *env = env_for("blocker/home", NULL, NULL);
    ky_cli_result r;
    KY(&r, env, "pull", "test/tiny-llama-GGUF:Q8_0");
    CHECKF(r.exit_code == 1 && strstr(r.err, "cannot create the store directory") &&
               strstr(r.err, "KAIYUAN_HOME"),
           "%d %s", r.exit_code, r.err);
    ky_test_cli_free(&r);
    /* A full disk half-way through: the partial file is deleted, nothing is left behind. */
    env = env_for("full-disk", NULL, NULL);
    const char *args[] = {"pull", "test/tiny-llama-GGUF:Q8_0", NULL};
    run_limited(env, args, file_size(g_llama_q8) / 2, &r);
    CHECKF(r.exit_code == 1 && r.err && strstr(r.err, "cannot write") &&
               strstr(r.err, "File too large") && strstr(r.err, "deleted"),
           "full: %d %s", r.exit_code, r.err ? r.err : "");
    CHECKF(count_files(home_path("full-disk", "")) == 0, "%d files left",
           count_files(home_path("full-disk", "")));
    ky_test_cli_free(&r);
}

static void split_model(void) {
    const char *const *env = env_for("split", NULL, NULL);
    ky_cli_result r, want;
    KY(&r, env, "pull", "test/split-GGUF:Q8_0");
    CHECKF(r.exit_code == 0 && strstr(r.err, "(2 files"), "pull: %d %s", r.exit_code, r.err);
    char p1[700], p2[700];
    snprintf(p1, sizeof p1, "%s-00001-of-00002.gguf", g_split_prefix);
    snprintf(p2, sizeof p2, "%s-00002-of-00002.gguf", g_split_prefix);
    CHECK(same_file(home_path("split", "models/hf.co/test/split-GGUF/Q8_0/"
                                       "split-model-Q8_0-00001-of-00002.gguf"),
                    p1));
    CHECK(same_file(home_path("split", "models/hf.co/test/split-GGUF/Q8_0/"
                                       "split-model-Q8_0-00002-of-00002.gguf"),
                    p2));
    ky_test_cli_free(&r);
    KY(&r, env, "run", "-m", "test/split-GGUF", "--ids", "1,403,407", "-n", "6", "--temp", "0",
       "--json");
    KY(&want, env, "run", "-m", g_llama_q8, "--ids", "1,403,407", "-n", "6", "--temp", "0",
       "--json");
    CHECKF(r.exit_code == 0 && want.exit_code == 0, "run: %s %s", r.err, want.err);
    const char *a = strstr(r.out, "\"ids\""), *b = strstr(want.out, "\"ids\"");
    CHECKF(a && b && !strncmp(a, b, 60), "split: %s\nwhole: %s", r.out, want.out);
    ky_test_cli_free(&r);
    ky_test_cli_free(&want);
}

static void list_show_rm(void) {
    const char *const *env = env_for("lsr", NULL, NULL);
    ky_cli_result r;
    KY(&r, env, "list");
    CHECKF(r.exit_code == 0 && r.n_out == 0 && strstr(r.err, "kaiyuan pull qwen2.5:0.5b"),
           "empty: %s", r.err);
    ky_test_cli_free(&r);
    KY(&r, env, "pull", "--quiet", "test/tiny-llama-GGUF:Q8_0", "test/tiny-llama-GGUF:Q4_K_M");
    CHECKF(r.exit_code == 0 && r.n_err == 0, "pull: %d %s", r.exit_code, r.err);
    ky_test_cli_free(&r);
    KY(&r, env, "list", "--json");
    CHECKF(r.exit_code == 0 && strstr(r.out, "\"name\": \"hf.co/test/tiny-llama-GGUF:Q4_K_M\"") &&
               strstr(r.out, "\"name\": \"hf.co/test/tiny-llama-GGUF:Q8_0\""),
           "list: %s", r.out);
    ky_test_cli_free(&r);
    KY(&r, env, "show", "test/tiny-llama-GGUF:Q8_0");
    char origin[200];
    snprintf(origin, sizeof origin, "origin    http://127.0.0.1:%d/test/tiny-llama-GGUF", g_port);
    CHECKF(r.exit_code == 0 && strstr(r.out, "name      hf.co/test/tiny-llama-GGUF:Q8_0") &&
               strstr(r.out, origin) && strstr(r.out, "general.architecture") &&
               strstr(r.out, "blk.0.attn_q.weight"),
           "show: %d %s %s", r.exit_code, r.out, r.err);
    ky_test_cli_free(&r);
    /* Without quant the name is ambiguous once two are pulled... but Q4_K_M is the default. */
    KY(&r, env, "show", "--json", "test/tiny-llama-GGUF");
    CHECKF(r.exit_code == 0 && strstr(r.out, "\"quant\": \"Q4_K_M\"") && strstr(r.out, "\"gguf\""),
           "show json: %s %s", r.out, r.err);
    ky_test_cli_free(&r);
    KY(&r, env, "rm", "test/tiny-llama-GGUF:Q8_0");
    CHECKF(r.exit_code == 0 && strstr(r.out, "removed hf.co/test/tiny-llama-GGUF:Q8_0"), "rm: %s",
           r.err);
    CHECK(!exists(home_path("lsr", HF_LLAMA "tiny-llama-Q8_0.gguf")));
    CHECK(exists(home_path("lsr", HF_LLAMA "tiny-llama-Q4_K_M.gguf")));
    ky_test_cli_free(&r);
    KY(&r, env, "list");
    CHECK(!strstr(r.out, ":Q8_0") && strstr(r.out, ":Q4_K_M"));
    ky_test_cli_free(&r);
    KY(&r, env, "show", "test/tiny-llama-GGUF:Q8_0");
    CHECKF(r.exit_code == 1 && strstr(r.err, "not in the store"), "show gone: %s", r.err);
    ky_test_cli_free(&r);
    KY(&r, env, "rm", "test/tiny-llama-GGUF");
    CHECK(r.exit_code == 0);
    ky_test_cli_free(&r);
    CHECK(count_files(home_path("lsr", "")) == 0);
    CHECK(!exists(home_path("lsr", "models/hf.co")));
}

static void ollama_store(void) {
    /* manifests/registry.ollama.ai/library/tiny/latest + blobs/sha256-HEX */
    char dir[800], path[900];
    snprintf(dir, sizeof dir, "%s/ollama/manifests/registry.ollama.ai/library/tiny", g_tmp);
    const char *parts[] = {"/ollama",
                           "/ollama/manifests",
                           "/ollama/manifests/registry.ollama.ai",
                           "/ollama/manifests/registry.ollama.ai/library",
                           "/ollama/manifests/registry.ollama.ai/library/tiny",
                           "/ollama/blobs"};
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s%s", g_tmp, parts[i]);
        mkdir(path, 0755);
    }
    size_t n;
    char *data = ky_test_read_file(g_llama_q8, &n);
    REQUIRE(data);
    store_sha256 s;
    store_sha256_init(&s);
    store_sha256_update(&s, data, n);
    char hex[65];
    store_sha256_final_hex(&s, hex);
    snprintf(path, sizeof path, "%s/ollama/blobs/sha256-%s", g_tmp, hex);
    ky_test_write_file(path, data, n);
    free(data);
    char manifest[1200];
    int len = snprintf(manifest, sizeof manifest,
                       "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution."
                       "manifest.v2+json\",\"config\":{\"mediaType\":\"application/"
                       "vnd.docker.container.image.v1+json\",\"digest\":\"sha256:%064d\",\"size\":"
                       "10},\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\","
                       "\"digest\":\"sha256:%s\",\"size\":%zu},{\"mediaType\":\"application/"
                       "vnd.ollama.image.license\",\"digest\":\"sha256:%064d\",\"size\":5}]}",
                       0, hex, n, 1);
    snprintf(path, sizeof path, "%s/latest", dir);
    ky_test_write_file(path, manifest, (size_t)len);
    const char *const *env = env_for("ollama-home", NULL, NULL);
    ky_cli_result r, want;
    KY(&r, env, "list");
    CHECKF(r.exit_code == 0 && strstr(r.out, "ollama:tiny:latest") && strstr(r.out, "ollama") &&
               strstr(r.out, hex),
           "list: %s %s", r.out, r.err);
    ky_test_cli_free(&r);
    KY(&r, env, "run", "-m", "ollama:tiny", "--ids", "1", "-n", "4", "--temp", "0", "--json");
    KY(&want, env, "run", "-m", g_llama_q8, "--ids", "1", "-n", "4", "--temp", "0", "--json");
    CHECKF(r.exit_code == 0 && !strcmp(r.out, want.out), "run: %d %s / %s", r.exit_code, r.err,
           want.out);
    ky_test_cli_free(&r);
    ky_test_cli_free(&want);
    KY(&r, env, "rm", "ollama:tiny");
    CHECKF(r.exit_code == 1 && strstr(r.err, "never writes"), "rm: %s", r.err);
    CHECK(exists(path));
    ky_test_cli_free(&r);
    KY(&r, env, "run", "-m", "ollama:absent:7b", "--ids", "1");
    CHECKF(r.exit_code == 1 && strstr(r.err, "not in ollama's store"), "absent: %s", r.err);
    ky_test_cli_free(&r);
    CHECK(!exists(home_path("ollama-home", "models")));
}

static void pulled_runs_by_name(void) {
    const char *const *env = env_for("byname", NULL, NULL);
    ky_cli_result r, want;
    /* Not pulled yet: -m pulls it first (progress on stderr), then runs. */
    KY(&r, env, "run", "-m", "hf.co/test/tiny-llama-GGUF:Q8_0", "--ids", "1", "-n", "4", "--temp",
       "0");
    KY(&want, env, "run", "-m", g_llama_q8, "--ids", "1", "-n", "4", "--temp", "0");
    CHECKF(r.exit_code == 0 && strstr(r.err, "pulling it") && strstr(r.err, "100%"), "run: %d %s",
           r.exit_code, r.err);
    CHECKF(!strcmp(r.out, want.out), "'%s' vs '%s'", r.out, want.out);
    ky_test_cli_free(&r);
    reset_counters();
    KY(&r, env, "run", "-m", "hf.co/test/tiny-llama-GGUF:Q8_0", "--ids", "1", "-n", "4", "--temp",
       "0");
    CHECKF(r.exit_code == 0 && !strcmp(r.out, want.out) && !strstr(r.err, "pulling"), "again: %s",
           r.err);
    CHECK(g_sh->n_downloads == 0);
    ky_test_cli_free(&r);
    ky_test_cli_free(&want);
    /* Every -m takes a REF: tokenize and logits too. */
    KY(&r, env, "tokenize", "-m", "test/tiny-llama-GGUF:Q8_0", "--text", "Once upon a time");
    KY(&want, env, "tokenize", "-m", g_llama_q8, "--text", "Once upon a time");
    CHECKF(r.exit_code == 0 && !strcmp(r.out, want.out), "tokenize: %s %s", r.out, r.err);
    ky_test_cli_free(&r);
    ky_test_cli_free(&want);
    KY(&r, env, "logits", "-m", "test/tiny-llama-GGUF:Q8_0", "--ids", "1,403", "--top", "3");
    KY(&want, env, "logits", "-m", g_llama_q8, "--ids", "1,403", "--top", "3");
    CHECKF(r.exit_code == 0 && !strcmp(r.out, want.out), "logits: %s %s", r.out, r.err);
    ky_test_cli_free(&r);
    ky_test_cli_free(&want);
    /* A missing path stays a missing file, not a REF. */
    KY(&r, env, "run", "-m", "no/such/file.gguf", "--ids", "1");
    CHECKF(r.exit_code == 1 && strstr(r.err, "no/such/file.gguf"), "%s", r.err);
    ky_test_cli_free(&r);
}

static void progress_pipe(void) {
    const char *const *env = env_for("pipe", NULL, NULL);
    ky_cli_result r;
    reset_counters();
    g_sh->slow_ms = 20; /* ~3 MB/s: several progress callbacks */
    KY(&r, env, "pull", "test/tiny-llama-GGUF:Q8_0");
    g_sh->slow_ms = 0;
    CHECKF(r.exit_code == 0, "%d %s", r.exit_code, r.err);
    CHECKF(strstr(r.err, "kaiyuan: pulling tiny-llama-Q8_0.gguf (1/1, 1.88 MiB)") &&
               strstr(r.err, "tiny-llama-Q8_0.gguf: 100%, 1.88 MiB in") &&
               strstr(r.err, "verified"),
           "stderr: %s", r.err);
    CHECKF(!strchr(r.err, '\r') && !strchr(r.err, '\x1b'), "no terminal codes in a pipe: %s",
           r.err);
    ky_test_cli_free(&r);
}

static void progress_pty(void) {
    const char *const *env = env_for("pty", NULL, NULL);
    reset_counters();
    g_sh->slow_ms = 20;
    int master;
    pid_t p = forkpty(&master, NULL, NULL, NULL);
    REQUIRE(p >= 0);
    if (p == 0) {
        for (int i = 0; env[i]; i++) putenv((char *)env[i]);
        execl(ky_test_cli_binary(), ky_test_cli_binary(), "pull", "test/tiny-llama-GGUF:Q8_0",
              (char *)NULL);
        _exit(127);
    }
    char out[65536];
    size_t n = 0;
    for (;;) {
        struct pollfd pf = {master, POLLIN, 0};
        if (poll(&pf, 1, 20000) <= 0) break;
        ssize_t k = read(master, out + n, sizeof out - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        if (n >= sizeof out - 1) break;
    }
    out[n] = '\0';
    int status;
    waitpid(p, &status, 0);
    close(master);
    g_sh->slow_ms = 0;
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, out);
    CHECKF(strstr(out, "\r") && strstr(out, "ETA") && strstr(out, "100% [##############") &&
               strstr(out, "/ 1.88 MiB") && strstr(out, "\x1b[K"),
           "pty output: %s", out);
    CHECK(same_file(home_path("pty", HF_LLAMA "tiny-llama-Q8_0.gguf"), g_llama_q8));
}

/* Ctrl-C during a download: a clean stop that keeps the partial file, and a rerun resumes. */
static void interrupted_by_ctrl_c(void) {
    const char *const *env = env_for("sigint", NULL, NULL);
    const char *final = home_path("sigint", HF_LLAMA "tiny-llama-Q8_0.gguf");
    char partial[2100], errp[700];
    snprintf(partial, sizeof partial, "%s.partial", final);
    snprintf(errp, sizeof errp, "%s/sigint.err", g_tmp);
    reset_counters();
    g_sh->slow_ms = 100; /* 640 KiB/s: the 1.9 MB file takes 3 s */
    pid_t p = fork();
    if (p == 0) {
        for (int k = 0; env[k]; k++) putenv((char *)env[k]);
        int e = open(errp, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        dup2(e, 2);
        execl(ky_test_cli_binary(), ky_test_cli_binary(), "pull", "test/tiny-llama-GGUF:Q8_0",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && __atomic_load_n(&g_sh->bytes_served, __ATOMIC_SEQ_CST) < 200000; i++)
        usleep(20000);
    kill(p, SIGINT);
    int status;
    waitpid(p, &status, 0);
    g_sh->slow_ms = 0;
    char *e = ky_test_read_file(errp, NULL);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 1 && e && strstr(e, "pull interrupted") &&
               strstr(e, "run the same command again to resume"),
           "status %d: %s", status, e ? e : "");
    free(e);
    long long have = file_size(partial);
    CHECKF(have > 0 && !exists(final), "partial %lld", have);
    long long size = file_size(g_llama_q8);
    reset_counters();
    ky_cli_result r;
    KY(&r, env, "pull", "test/tiny-llama-GGUF:Q8_0");
    CHECKF(r.exit_code == 0 && g_sh->bytes_served == size - have && g_sh->last_range == have,
           "resume: %d, served %lld of %lld from %lld: %s", r.exit_code, g_sh->bytes_served, size,
           g_sh->last_range, r.err);
    CHECK(same_file(final, g_llama_q8));
    ky_test_cli_free(&r);
}

/* Two processes pulling the same file: one downloads, the other waits on the lock and finds the
 * file in place. */
static void concurrent_pulls(void) {
    const char *const *env = env_for("lock", NULL, NULL);
    reset_counters();
    g_sh->slow_ms = 20;
    const char *argv[] = {ky_test_cli_binary(), "pull", "test/tiny-llama-GGUF:Q8_0", NULL};
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            for (int k = 0; env[k]; k++) putenv((char *)env[k]);
            char errp[700];
            snprintf(errp, sizeof errp, "%s/lock%d.err", g_tmp, i);
            int e = open(errp, O_CREAT | O_TRUNC | O_WRONLY, 0644);
            dup2(e, 2);
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        usleep(150000);
    }
    int ok = 0;
    for (int i = 0; i < 2; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    g_sh->slow_ms = 0;
    CHECK(ok == 2);
    CHECKF(g_sh->bytes_served == file_size(g_llama_q8), "served %lld", g_sh->bytes_served);
    char errp[700];
    snprintf(errp, sizeof errp, "%s/lock1.err", g_tmp);
    char *e = ky_test_read_file(errp, NULL);
    CHECKF(e && strstr(e, "waiting for another kaiyuan process"), "second: %s", e ? e : "");
    free(e);
    CHECK(same_file(home_path("lock", HF_LLAMA "tiny-llama-Q8_0.gguf"), g_llama_q8));
}

int main(void) {
    if (!start_server()) {
        fprintf(stderr, "test_pull: cannot start the loopback hub server\n");
        stop_server();
        return 1;
    }
    RUN(pull_full_name);
    RUN(pull_short_name);
    RUN(pull_modelscope);
    RUN(quant_selection);
    RUN(cut_off_then_resume);
    RUN(checksum_mismatch);
    RUN(auth_and_missing);
    RUN(no_network);
    RUN(unwritable_store);
    RUN(split_model);
    RUN(list_show_rm);
    RUN(ollama_store);
    RUN(pulled_runs_by_name);
    RUN(progress_pipe);
    RUN(progress_pty);
    RUN(interrupted_by_ctrl_c);
    RUN(concurrent_pulls);
    stop_server();
    TEST_EXIT();
}
