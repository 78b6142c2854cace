/* support.c — implementation of the test helpers and the harness counters. */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ky_test_cur_failures, ky_test_n_pass, ky_test_n_fail;

void ky_test_run(const char *name, void (*fn)(void)) {
    ky_test_cur_failures = 0;
    fn();
    if (ky_test_cur_failures) {
        printf("not ok - %s\n", name);
        ky_test_n_fail++;
    } else {
        printf("ok - %s\n", name);
        ky_test_n_pass++;
    }
    fflush(stdout);
}

const char *ky_test_shared(const char *relative) {
    static char buf[4096];
    const char *root = getenv("KY_SHARED");
    if (!root || !*root) root = "../shared";
    snprintf(buf, sizeof buf, "%s/%s", root, relative);
    return buf;
}

static char g_tmpdir[256];

static void remove_tmpdir(void) {
    if (!g_tmpdir[0] || getenv("KY_TEST_KEEP")) return;
    DIR *d = opendir(g_tmpdir);
    if (d) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", g_tmpdir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(g_tmpdir);
}

const char *ky_test_tmpdir(void) {
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/kytest-XXXXXX");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(remove_tmpdir);
    }
    return g_tmpdir;
}

const char *ky_test_tmpfile(const char *name) {
    static char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", ky_test_tmpdir(), name);
    return buf;
}

char *ky_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0) break;
        len += n;
    }
    fclose(f);
    if (buf) {
        buf[len] = '\0';
        if (size) *size = len;
    }
    return buf;
}

int ky_test_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, size, f);
    int rc = (n == size) ? 0 : -1;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

int ky_test_sanitized(void) { return getenv("KY_TEST_SAN") != NULL; }

extern char **environ;

const char *ky_test_cli_binary(void) {
    const char *b = getenv("KY_KAIYUAN_BIN");
    return b && *b ? b : "build/kaiyuan";
}

/* Number of bytes of "NAME=" in an environment entry (0 when it has no '='). */
static size_t env_name_len(const char *e) {
    const char *eq = strchr(e, '=');
    return eq ? (size_t)(eq - e) + 1 : 0;
}

/* Waits for pid; with seconds > 0, kills it once that much time has passed (sets *killed). */
static int wait_child(pid_t pid, double seconds, int *status, int *killed) {
    *killed = 0;
    if (seconds <= 0) return waitpid(pid, status, 0) == pid ? 0 : -1;
    struct timespec start, now, nap = {0, 5 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid) return 0;
        if (got < 0) return -1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double t =
            (double)(now.tv_sec - start.tv_sec) + 1e-9 * (double)(now.tv_nsec - start.tv_nsec);
        if (t >= seconds) {
            kill(pid, SIGKILL);
            *killed = 1;
            return waitpid(pid, status, 0) == pid ? 0 : -1;
        }
        nanosleep(&nap, NULL);
    }
}

/* ky_test_spawn with a time limit (seconds <= 0: none). */
static int spawn_timed(const char *const *argv, const char *const *env, double seconds,
                       const char *stdin_path, ky_cli_result *r) {
    memset(r, 0, sizeof *r);
    char out_path[600], err_path[600];
    snprintf(out_path, sizeof out_path, "%s", ky_test_tmpfile("cli-stdout"));
    snprintf(err_path, sizeof err_path, "%s", ky_test_tmpfile("cli-stderr"));
    size_t n_env = 0, n_add = 0;
    while (environ[n_env]) n_env++;
    while (env && env[n_add]) n_add++;
    char **envp = malloc((n_env + n_add + 1) * sizeof *envp);
    if (!envp) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        size_t len = env_name_len(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < n_add && len; j++) replaced |= !strncmp(environ[i], env[j], len);
        if (!replaced) envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_add; j++) envp[k++] = (char *)env[j];
    envp[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (rc != 0) {
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    int status = 0;
    if (wait_child(pid, seconds, &status, &r->timed_out) != 0) return -1;
    r->exit_code = WIFEXITED(status) && !r->timed_out ? WEXITSTATUS(status) : -1;
    r->out = ky_test_read_file(out_path, &r->n_out);
    r->err = ky_test_read_file(err_path, &r->n_err);
    return r->out && r->err ? 0 : -1;
}

int ky_test_spawn(const char *const *argv, const char *const *env, ky_cli_result *r) {
    return spawn_timed(argv, env, 0, NULL, r);
}

int ky_test_cli_timed(const char *const *args, double seconds, ky_cli_result *r) {
    const char *argv[64];
    int n = 0;
    argv[n++] = ky_test_cli_binary();
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    return spawn_timed(argv, NULL, seconds, NULL, r);
}

int ky_test_cli_full(const char *const *args, const char *const *env, const char *stdin_path,
                     double seconds, ky_cli_result *r) {
    const char *argv[64];
    int n = 0;
    argv[n++] = ky_test_cli_binary();
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    return spawn_timed(argv, env, seconds, stdin_path, r);
}

int ky_test_cli(const char *const *args, ky_cli_result *r) { return ky_test_cli_timed(args, 0, r); }

void ky_test_cli_free(ky_cli_result *r) {
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static int cmp_path(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(const char *dir, const char *suffix, int recurse, char **files, int *n,
                    int cap) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    size_t ls = strlen(suffix);
    while ((e = readdir(d)) && *n < cap) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        size_t len = strlen(e->d_name);
        if (S_ISDIR(st.st_mode) && recurse)
            collect(path, suffix, recurse, files, n, cap);
        else if (S_ISREG(st.st_mode) && len > ls && !strcmp(e->d_name + len - ls, suffix))
            files[(*n)++] = strdup(path);
    }
    closedir(d);
}

void ky_test_collect_files(const char *dir, const char *suffix, int recurse, char **files, int *n,
                           int cap) {
    collect(dir, suffix, recurse, files, n, cap);
    qsort(files, (size_t)*n, sizeof *files, cmp_path);
}

void ky_test_free_files(char **files, int n) {
    for (int i = 0; i < n; i++) free(files[i]);
}
