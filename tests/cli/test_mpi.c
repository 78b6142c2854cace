/* test_mpi.c — a model's layers split across Open MPI ranks (`logits --mpi`, `serve --mpi`):
 * logits bit-identical to one process, the same greedy text from the server, clear errors for a
 * bad --layer-split, fail-fast on a dead rank and a clean SIGTERM. Ranks run on loopback under
 * `mpirun --oversubscribe --allow-run-as-root` (CI runs as root). Under the sanitizer build the
 * MPI ranks run with detect_leaks=0: Open MPI leaves allocations of its dlopen'ed components
 * unfreed, and their stacks (unloaded modules) cannot be matched by a suppressions file. ASan
 * and UBSan errors still fail the ranks; the single-process runs keep the leak check.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/srv_util.h"
#include "support.h"
#include "test.h"

#define MPIRUN "/usr/bin/mpirun"

typedef struct proc {
    pid_t pid;
    char out[600], err[600]; /* files holding stdout / stderr */
} proc;

/* Starts `mpirun --oversubscribe --allow-run-as-root -n n_ranks KAIYUAN args...` (or the CLI
 * alone when n_ranks is 0), stdout and stderr to files. */
static bool start(proc *p, int n_ranks, const char *const *args) {
    static int counter;
    memset(p, 0, sizeof *p);
    snprintf(p->out, sizeof p->out, "%s/mpi-%d.out", ky_test_tmpdir(), counter);
    snprintf(p->err, sizeof p->err, "%s/mpi-%d.err", ky_test_tmpdir(), counter++);
    const char *argv[80];
    int n = 0;
    char nr[16];
    snprintf(nr, sizeof nr, "%d", n_ranks);
    if (n_ranks > 0) {
        const char *pre[] = {MPIRUN,
                             "--oversubscribe",
                             "--allow-run-as-root",
                             "--mca",
                             "mpi_yield_when_idle",
                             "1",
                             "-n",
                             nr};
        for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) argv[n++] = pre[i];
    }
    argv[n++] = ky_test_cli_binary();
    for (int i = 0; args[i] && n < 78; i++) argv[n++] = args[i];
    argv[n] = NULL;
    /* ranks only: the single-process runs keep the runner's leak check */
    char *saved = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    if (ky_test_sanitized() && n_ranks > 0)
        setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0", 1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, p->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&p->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    return rc == 0;
}

/* Waits at most seconds for the exit: the exit status, 128 + signal when killed by one, -1 on a
 * timeout (then the process is killed). *took: seconds waited. */
static int finish(proc *p, double seconds, double *took) {
    double t0 = tsrv_now(), end = t0 + seconds;
    int status = 0;
    while (tsrv_now() < end) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            if (took) *took = tsrv_now() - t0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        tsrv_sleep(0.02);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    if (took) *took = tsrv_now() - t0;
    return -1;
}

/* Runs to the end (at most seconds); the exit status as finish(). */
static int run(proc *p, int n_ranks, const char *const *args, double seconds) {
    if (!start(p, n_ranks, args)) return -2;
    return finish(p, seconds, NULL);
}

static double limit(double s) { return ky_test_sanitized() ? 6 * s : s; }

/* ------------------------------------------------------------------------------------------ */

/* `logits` of one prompt with --steps decode calls: one process vs 2 (and 3) ranks, compared
 * byte for byte (%.9g round-trips a float exactly, so equal text is equal bits). */
static void compare_logits(const char *model, const char *ids, const char *steps,
                           const char *const *mpi_extra, int n_ranks) {
    char path[4096];
    snprintf(path, sizeof path, "%s", ky_test_shared(model));
    const char *one[] = {"logits", "-m", path, "--ids",   ids, "--steps",
                         steps,    "-t", "1",  "--quiet", NULL};
    proc a, b;
    int rc = run(&a, 0, one, limit(60));
    CHECKF(rc == 0, "%s: single process exit %d", model, rc);
    const char *args[32] = {"logits",  "--mpi", "-m", path, "--ids",   ids,
                            "--steps", steps,   "-t", "1",  "--quiet", "--pipe-stats"};
    int n = 12;
    for (int i = 0; mpi_extra && mpi_extra[i]; i++) args[n++] = mpi_extra[i];
    args[n] = NULL;
    rc = run(&b, n_ranks, args, limit(90));
    size_t na = 0, nb = 0;
    char *ta = ky_test_read_file(a.out, &na), *tb = ky_test_read_file(b.out, &nb);
    char *eb = ky_test_read_file(b.err, NULL);
    CHECKF(rc == 0, "%s: mpirun -n %d exit %d: %s", model, n_ranks, rc, eb ? eb : "");
    REQUIRE(ta && tb);
    CHECKF(na > 100 && strstr(ta, "\"logits\""), "%s: no logits from one process", model);
    CHECKF(na == nb && !memcmp(ta, tb, na),
           "%s ids %s: logits of %d ranks (%s %s) differ from "
           "one process (%zu vs %zu bytes)",
           model, ids, n_ranks, mpi_extra && mpi_extra[0] ? mpi_extra[0] : "",
           mpi_extra && mpi_extra[0] ? mpi_extra[1] : "", nb, na);
    /* --pipe-stats: every rank reports, with the micro-batches it ran. */
    for (int r = 0; r < n_ranks && eb; r++) {
        char needle[32];
        snprintf(needle, sizeof needle, "pipe rank %d layers", r);
        CHECKF(strstr(eb, needle) != NULL, "%s: no stats line from rank %d: %s", model, r, eb);
    }
    free(ta);
    free(tb);
    free(eb);
}

static const char *const k_prompts[][2] = {
    /* prefill ids, then the decode steps taken from the end */
    {"1,400,50,60,70,80,90,100,110,120,130", "4"},
    {"1,32,7,255,3,9,200", "2"},
};

static void test_logits_stories(void) {
    /* 5 layers: 2 ranks even (3+2), an uneven split, 1 token per micro-batch (many in flight),
     * and 3 ranks. */
    const char *const ub1[] = {"--pipe-ubatch", "1", NULL};
    const char *const uneven[] = {"--layer-split", "1,4", "--pipe-ubatch", "3", NULL};
    const char *const three[] = {"--layer-split", "2,2,1", "--pipe-ubatch", "2", NULL};
    for (size_t i = 0; i < sizeof k_prompts / sizeof k_prompts[0]; i++) {
        compare_logits("models/stories260K.gguf", k_prompts[i][0], k_prompts[i][1], NULL, 2);
        compare_logits("models/stories260K.gguf", k_prompts[i][0], k_prompts[i][1], ub1, 2);
    }
    compare_logits("models/stories260K.gguf", k_prompts[0][0], k_prompts[0][1], uneven, 2);
    compare_logits("models/stories260K.gguf", k_prompts[0][0], k_prompts[0][1], three, 3);
}

static void test_logits_llama(void) {
    const char *const ub2[] = {"--pipe-ubatch", "2", NULL};
    compare_logits("models/tiny-llama-q8_0.gguf", k_prompts[0][0], k_prompts[0][1], ub2, 2);
    compare_logits("models/tiny-llama-q4_k_m.gguf", k_prompts[1][0], k_prompts[1][1], NULL, 2);
}

static void test_logits_qwen3(void) {
    /* Qwen3 chat ids: <|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\n I */
    const char *ids = "151644,872,198,9707,11,1246,525,498,30,151645,198,151644,77091,198,40,2776";
    const char *const ub3[] = {"--pipe-ubatch", "3", NULL};
    compare_logits("models/chat-qwen3-q8_0.gguf", ids, "4", ub3, 2);
    compare_logits("models/chat-qwen3-q8_0.gguf", ids, "1", NULL, 2);
    compare_logits("models/tiny-qwen3moe-q8_0.gguf", k_prompts[0][0], k_prompts[0][1], ub3, 2);
}

/* ------------------------------------------------------------------------------------------ */

/* A bad --layer-split (or rank count) exits 2 on every rank, promptly, naming the problem. */
static void expect_usage(int n_ranks, const char *split, const char *needle) {
    char path[4096];
    snprintf(path, sizeof path, "%s", ky_test_shared("models/stories260K.gguf"));
    const char *args[] = {"logits", "--mpi", "-m",      path,
                          "--ids",  "1,2,3", "--quiet", split ? "--layer-split" : NULL,
                          split,    NULL};
    proc p;
    double took = 0;
    REQUIRE(start(&p, n_ranks, args));
    int rc = finish(&p, limit(30), &took);
    char *err = ky_test_read_file(p.err, NULL);
    CHECKF(rc == 2, "-n %d --layer-split %s: exit %d (%.1f s): %s", n_ranks, split ? split : "-",
           rc, took, err ? err : "");
    CHECKF(err && strstr(err, needle), "-n %d --layer-split %s: stderr lacks '%s': %s", n_ranks,
           split ? split : "-", needle, err ? err : "");
    free(err);
}

static void test_bad_layer_split(void) {
    expect_usage(2, "1,1,3", "gives 3 layer counts but mpirun started 2 ranks");
    expect_usage(2, "2,2", "covers 4 layers but the model has 5");
    expect_usage(2, "0,5", "expected positive layer counts");
    expect_usage(2, "3,x", "expected positive layer counts");
    expect_usage(2, "3,2,", "expected positive layer counts");
    expect_usage(6, NULL, "6 ranks but the model has only 5 layers");
    /* without --mpi the pipeline options are usage errors too */
    const char *args[] = {"logits", "-m", "x.gguf", "--ids", "1", "--layer-split", "1,1", NULL};
    proc p;
    CHECK(run(&p, 0, args, limit(20)) == 2);
    /* --mpi with a single rank */
    expect_usage(1, NULL, "--mpi needs 2 to");
}

/* Ranks started with different options (here: different ids, so a different n_ctx) fail the
 * creation handshake: the job ends promptly with a message naming the field. */
static void test_handshake_mismatch(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s", ky_test_shared("models/stories260K.gguf"));
    const char *bin = ky_test_cli_binary();
    const char *argv[] = {MPIRUN,
                          "--oversubscribe",
                          "--allow-run-as-root",
                          "-n",
                          "1",
                          bin,
                          "logits",
                          "--mpi",
                          "-m",
                          path,
                          "--ids",
                          "1,2,3",
                          "--quiet",
                          ":",
                          "-n",
                          "1",
                          bin,
                          "logits",
                          "--mpi",
                          "-m",
                          path,
                          "--ids",
                          "1,2,3,4",
                          "--quiet",
                          NULL};
    const char *env[] = {
        ky_test_sanitized() ? "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0" : NULL, NULL};
    ky_cli_result r;
    double t0 = tsrv_now();
    REQUIRE(ky_test_spawn(argv, env, &r) == 0);
    double took = tsrv_now() - t0;
    CHECKF(r.exit_code != 0 && took < limit(20), "exit %d after %.1f s", r.exit_code, took);
    CHECKF(strstr(r.err, "pipeline rank 1 does not match rank 0: n_ctx 4 here, 3 there"),
           "stderr: %s", r.err);
    ky_test_cli_free(&r);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct mpi_server {
    proc p;
    int port;
} mpi_server;

/* Starts `serve` (n_ranks 0: one process) on a free port and waits for /health 200. */
static bool serve_start(mpi_server *s, int n_ranks, const char *const *extra) {
    char path[4096];
    snprintf(path, sizeof path, "%s", ky_test_shared("models/chat-qwen3-q8_0.gguf"));
    const char *args[32] = {"serve", "-m",         path, "--port",        "0", "-t",
                            "1",     "--parallel", "2",  "--cache-slots", "1"};
    int n = 11;
    if (n_ranks) args[n++] = "--mpi";
    for (int i = 0; extra && extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    s->port = 0;
    if (!start(&s->p, n_ranks, args)) return false;
    double end = tsrv_now() + limit(60);
    while (tsrv_now() < end) {
        int status;
        if (waitpid(s->p.pid, &status, WNOHANG) == s->p.pid) return false;
        if (!s->port) {
            char *log = ky_test_read_file(s->p.err, NULL);
            const char *q = log ? strstr(log, "listening on http://127.0.0.1:") : NULL;
            if (q) s->port = atoi(q + strlen("listening on http://127.0.0.1:"));
            free(log);
        }
        if (s->port) {
            http_resp r;
            int st = http_do(s->port, "GET", "/health", NULL, NULL, &r);
            http_resp_free(&r);
            if (st == 200) return true;
        }
        tsrv_sleep(0.05);
    }
    return false;
}

/* The assistant text of a greedy chat completion (malloc'd) or NULL. */
static char *chat(int port, const char *user, int max_tokens) {
    char body[1024];
    snprintf(body, sizeof body,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":%d,"
             "\"temperature\":0}",
             user, max_tokens);
    http_resp r;
    int st = http_post(port, "/v1/chat/completions", body, &r);
    char *text = NULL;
    const char *c = st == 200 && r.body ? strstr(r.body, "\"content\":\"") : NULL;
    if (c) {
        c += strlen("\"content\":\"");
        const char *e = c;
        while (*e && !(*e == '"' && e[-1] != '\\')) e++;
        text = strndup(c, (size_t)(e - c));
    }
    http_resp_free(&r);
    return text;
}

static void test_serve_same_text(void) {
    static const char *const users[] = {"Hello, who are you?", "Write a haiku about the sea."};
    char *want[2] = {0}, *got[2] = {0};
    mpi_server one, two;
    REQUIRE(serve_start(&one, 0, NULL));
    for (int i = 0; i < 2; i++) want[i] = chat(one.port, users[i], 24);
    kill(one.p.pid, SIGTERM);
    CHECK(finish(&one.p, limit(20), NULL) == 0);
    const char *const extra[] = {"--pipe-ubatch", "2", NULL};
    REQUIRE(serve_start(&two, 2, extra));
    for (int i = 0; i < 2; i++) got[i] = chat(two.port, users[i], 24);
    /* a repeated prompt reuses the prefix cache: KV copies must reach rank 1 too */
    char *again = chat(two.port, users[0], 24);
    for (int i = 0; i < 2; i++) {
        CHECKF(want[i] && got[i] && !strcmp(want[i], got[i]),
               "prompt %d: one process '%s', 2 "
               "ranks '%s'",
               i, want[i] ? want[i] : "(none)", got[i] ? got[i] : "(none)");
        CHECKF(want[i] && strlen(want[i]) > 10, "prompt %d: short answer '%s'", i,
               want[i] ? want[i] : "");
    }
    CHECKF(again && want[0] && !strcmp(again, want[0]), "repeated prompt: '%s'",
           again ? again : "(none)");
    /* SIGTERM to mpirun: a clean shutdown — rank 0 drains, then ends rank 1 through the
     * pipeline (each rank prints its counters on the way out). */
    double took = 0;
    kill(two.p.pid, SIGTERM);
    int rc = finish(&two.p, limit(20), &took);
    char *err = ky_test_read_file(two.p.err, NULL);
    CHECKF(rc != -1 && took < limit(10), "SIGTERM: mpirun exit %d after %.1f s", rc, took);
    CHECKF(err && strstr(err, "pipe rank 0 layers") && strstr(err, "pipe rank 1 layers"),
           "SIGTERM: not both ranks shut down cleanly: %s", err ? err : "");
    free(err);
    free(again);
    for (int i = 0; i < 2; i++) {
        free(want[i]);
        free(got[i]);
    }
}

/* pid of the rank-r child of mpirun (its environment holds OMPI_COMM_WORLD_RANK=r), or 0. */
static pid_t rank_pid(pid_t mpirun, int r) {
    char cmd[128], want[64];
    snprintf(cmd, sizeof cmd, "ps -o pid= --ppid %d", (int)mpirun);
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", r);
    FILE *f = popen(cmd, "r");
    if (!f) return 0;
    int pid, found = 0;
    while (!found && fscanf(f, "%d", &pid) == 1) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/environ", pid);
        size_t n = 0;
        char *env = ky_test_read_file(path, &n);
        for (size_t i = 0; env && i < n; i += strlen(env + i) + 1)
            if (!strcmp(env + i, want)) found = pid;
        free(env);
    }
    pclose(f);
    return found;
}

static void test_rank_death(void) {
    /* Rank 1 dies (SIGKILL) while a long generation is under way: the whole group ends within
     * seconds with a message naming the rank, nothing hangs. */
    mpi_server s;
    REQUIRE(serve_start(&s, 2, NULL));
    pid_t r1 = rank_pid(s.p.pid, 1);
    REQUIRE(r1 > 0);
    int fd = tsrv_connect(s.port);
    REQUIRE(fd >= 0);
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell a long story\"}],"
                       "\"max_tokens\":3000,\"temperature\":0,\"stream\":true}";
    CHECK(tsrv_send_request(fd, "POST", "/v1/chat/completions", NULL, body, strlen(body)) == 0);
    CHECK(tsrv_read_until(fd, "data: ", limit(20))); /* tokens are flowing */
    double took = 0;
    kill(r1, SIGKILL);
    int rc = finish(&s.p, limit(15), &took);
    close(fd);
    char *err = ky_test_read_file(s.p.err, NULL);
    CHECKF(rc > 0 && took < limit(5), "after rank 1 died: mpirun exit %d after %.1f s", rc, took);
    CHECKF(err && strstr(err, "rank 1") && strstr(err, "signal 9"),
           "no message naming the dead rank: %s", err ? err : "");
    free(err);
}

/* Two network namespaces joined by a veth pair, rank 0 in one and rank 1 in the other, MPI over
 * TCP only (btl tcp,self: no shared memory): logits still equal one process. Needs root and
 * ip(8); skipped (reported as passing with a note) where namespaces cannot be made. */
static void test_netns_tcp(void) {
    char a[32], b[32], cmd[1024];
    snprintf(a, sizeof a, "kyA%d", (int)getpid());
    snprintf(b, sizeof b, "kyB%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "ip netns add %s && ip netns add %s && ip link add v%s type veth peer name v%s && "
             "ip link set v%s netns %s && ip link set v%s netns %s && "
             "ip -n %s addr add 10.77.0.1/24 dev v%s && ip -n %s addr add 10.77.0.2/24 dev v%s && "
             "ip -n %s link set v%s up && ip -n %s link set v%s up && "
             "ip -n %s link set lo up && ip -n %s link set lo up",
             a, b, a, b, a, a, b, b, a, a, b, b, a, a, b, b, a, b);
    if (geteuid() != 0 || system(cmd) != 0) {
        printf("# test_netns_tcp skipped: cannot create network namespaces\n");
        snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", a, b);
        (void)!system(cmd);
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", ky_test_shared("models/stories260K.gguf"));
    const char *ids = k_prompts[0][0], *steps = k_prompts[0][1];
    const char *one[] = {"logits", "-m", path, "--ids",   ids, "--steps",
                         steps,    "-t", "1",  "--quiet", NULL};
    proc p1;
    CHECK(run(&p1, 0, one, limit(60)) == 0);
    /* mpirun in namespace a; rank 1 enters namespace b. PMIx's own TCP listener must be on the
     * veth address (its default, loopback, is not shared between namespaces). */
    const char *bin = ky_test_cli_binary();
    const char *argv[] = {"/usr/bin/ip",
                          "netns",
                          "exec",
                          a,
                          MPIRUN,
                          "--oversubscribe",
                          "--allow-run-as-root",
                          "--mca",
                          "btl",
                          "tcp,self",
                          "--mca",
                          "btl_tcp_if_include",
                          "10.77.0.0/24",
                          "--mca",
                          "oob_tcp_if_include",
                          "10.77.0.0/24",
                          "-x",
                          "PMIX_MCA_ptl_tcp_if_include=10.77.0.0/24",
                          "-n",
                          "1",
                          bin,
                          "logits",
                          "--mpi",
                          "-m",
                          path,
                          "--ids",
                          ids,
                          "--steps",
                          steps,
                          "-t",
                          "1",
                          "--quiet",
                          ":",
                          "-n",
                          "1",
                          "/usr/bin/ip",
                          "netns",
                          "exec",
                          b,
                          bin,
                          "logits",
                          "--mpi",
                          "-m",
                          path,
                          "--ids",
                          ids,
                          "--steps",
                          steps,
                          "-t",
                          "1",
                          "--quiet",
                          NULL};
    const char *env[] = {
        "PMIX_MCA_ptl_tcp_if_include=10.77.0.0/24",
        ky_test_sanitized() ? "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0" : NULL, NULL};
    ky_cli_result r;
    int st = ky_test_spawn(argv, env, &r);
    CHECK(st == 0);
    size_t n1 = 0;
    char *t1 = ky_test_read_file(p1.out, &n1);
    CHECKF(st == 0 && r.exit_code == 0, "netns mpirun exit %d: %s", r.exit_code,
           r.err ? r.err : "");
    CHECKF(t1 && st == 0 && r.n_out == n1 && !memcmp(r.out, t1, n1),
           "logits over TCP between namespaces differ from one process (%zu vs %zu bytes)",
           st == 0 ? r.n_out : 0, n1);
    free(t1);
    if (st == 0) ky_test_cli_free(&r);
    snprintf(cmd, sizeof cmd, "ip netns del %s; ip netns del %s", a, b);
    CHECK(system(cmd) == 0);
}

int main(void) {
    if (access(MPIRUN, X_OK) != 0) {
        printf("not ok - mpirun missing: run scripts/deps.sh (openmpi-bin)\n");
        return 1;
    }
    RUN(test_logits_stories);
    RUN(test_logits_llama);
    RUN(test_logits_qwen3);
    RUN(test_bad_layer_split);
    RUN(test_handshake_mismatch);
    RUN(test_serve_same_text);
    RUN(test_rank_death);
    RUN(test_netns_tcp);
    TEST_EXIT();
}
