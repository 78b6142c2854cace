/* test_chat.c — `kaiyuan chat` end to end with the Qwen3 chat model: piped turns (one message a
 * line, --single), the answer equals `run` on the same rendered prompt, the KV prefix is reused
 * across turns, /commands, the ChatML fallback warning, the context limit, and the interactive
 * REPL under a pseudo-terminal: streamed output, Ctrl-C stops an answer and the next line is
 * still answered, Ctrl-C twice at the prompt exits. */
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaiyuan.h"
#include "test.h"

static char g_model[600], g_stories[600], g_input[600];

static int run_chat(const char *input, const char *const *extra, ky_cli_result *r) {
    ky_test_write_file(g_input, input, strlen(input));
    const char *args[40] = {"chat", "-m", g_model, "--temp", "0", "-n", "12", "-t", "2"};
    int n = 9;
    for (int i = 0; extra && extra[i] && n < 38; i++) args[n++] = extra[i];
    args[n] = NULL;
    return ky_test_cli_full(args, NULL, g_input, 120, r);
}

static int count_lines_with(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_piped_turns_reuse_the_prefix(void) {
    ky_cli_result r;
    REQUIRE(run_chat("Hello there!\nAnd a second question?\nA third one.\n", NULL, &r) == 0);
    CHECKF(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
    CHECKF(count_lines_with(r.err, "kaiyuan: turn ") == 3, "%s", r.err);
    int p1 = 0, u1 = 0, f1 = 0, p3 = 0, u3 = 0, f3 = 0;
    const char *t1 = strstr(r.err, "turn 1: "), *t3 = strstr(r.err, "turn 3: ");
    REQUIRE(t1 && t3);
    CHECK(sscanf(t1, "turn 1: prompt %d tokens (reused %d, prefilled %d)", &p1, &u1, &f1) == 3);
    CHECK(sscanf(t3, "turn 3: prompt %d tokens (reused %d, prefilled %d)", &p3, &u3, &f3) == 3);
    printf("# turn 1: prompt %d reused %d prefilled %d; turn 3: prompt %d reused %d prefilled %d\n",
           p1, u1, f1, p3, u3, f3);
    CHECK(u1 == 0 && f1 == p1 && p1 > 5);
    CHECK(p3 > p1 && u3 > p1 && f3 < p3 - p1);
    ky_test_cli_free(&r);
}

/* The first answer is exactly `run --special --no-bos --temp 0` on the template's rendering. */
static void test_answer_equals_run(void) {
    ky_cli_result r;
    REQUIRE(run_chat("What is the capital of France?\n", NULL, &r) == 0);
    CHECK(r.exit_code == 0);
    char *chat_out = strdup(r.out);
    ky_test_cli_free(&r);
    const char *prompt =
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    const char *a[] = {"run",    "-m", g_model, "-p", prompt,    "--special", "--no-bos",
                       "--temp", "0",  "-n",    "12", "--quiet", NULL};
    REQUIRE(ky_test_cli(a, &r) == 0);
    CHECKF(r.exit_code == 0, "%s", r.err);
    /* run stops at -n 12 or an end-of-generation token, as chat does */
    CHECKF(!strcmp(chat_out, r.out), "chat '%s' vs run '%s'", chat_out, r.out);
    free(chat_out);
    ky_test_cli_free(&r);
}

static void test_commands_single_and_system(void) {
    ky_cli_result r;
    REQUIRE(run_chat("hi\n/reset\nhi\n/system Be terse.\nhi\n/nonsense\n/exit\nnever answered\n",
                     NULL, &r) == 0);
    CHECK(r.exit_code == 0);
    CHECK(strstr(r.out, "(conversation cleared)") && strstr(r.out, "(system prompt set") &&
          strstr(r.out, "unknown command /nonsense"));
    CHECKF(count_lines_with(r.err, "kaiyuan: turn ") == 3, "%s", r.err);
    /* after /reset the second "hi" is the same prompt as the first: fully reused but the last */
    CHECKF(strstr(r.err, "turn 2: prompt 9 tokens (reused 8, prefilled 1)") != NULL, "%s", r.err);
    ky_test_cli_free(&r);
    const char *single[] = {"--single", NULL};
    REQUIRE(run_chat("line one\nline two\n", single, &r) == 0);
    CHECK(r.exit_code == 0 && count_lines_with(r.err, "kaiyuan: turn ") == 1);
    ky_test_cli_free(&r);
}

static void test_fallback_and_limits(void) {
    ky_test_write_file(g_input, "Once upon a time\n", 17);
    const char *a[] = {"chat", "-m", g_stories, "--temp", "0", "-n", "8", NULL};
    ky_cli_result r;
    REQUIRE(ky_test_cli_full(a, NULL, g_input, 60, &r) == 0);
    CHECKF(r.exit_code == 0, "%s", r.err);
    CHECKF(strstr(r.err, "warning") && strstr(r.err, "ChatML"), "%s", r.err);
    ky_test_cli_free(&r);
    const char *tiny_ctx[] = {"-c", "16", NULL};
    REQUIRE(
        run_chat(
            "This message is long enough that with the template it cannot fit sixteen positions.\n",
            tiny_ctx, &r) == 0);
    CHECK(r.exit_code == 0);
    CHECKF(strstr(r.err, "more than the context of 16 positions") != NULL, "%s", r.err);
    ky_test_cli_free(&r);
    const char *bad[] = {"chat", NULL};
    REQUIRE(ky_test_cli(bad, &r) == 0);
    CHECK(r.exit_code == 2 && strstr(r.err, "-m MODEL"));
    ky_test_cli_free(&r);
}

/* ---- pseudo-terminal -------------------------------------------------------------------- */

typedef struct pty_session {
    int fd;
    pid_t pid;
    char buf[1 << 16];
    size_t n;
} pty_session;

/* Reads until needle appears after offset *from (then *from moves past it) or timeout. */
static bool expect(pty_session *s, size_t *from, const char *needle, double timeout) {
    double end = ky_time_now() + timeout;
    for (;;) {
        s->buf[s->n] = 0;
        char *hit = strstr(s->buf + *from, needle);
        if (hit) {
            *from = (size_t)(hit - s->buf) + strlen(needle);
            return true;
        }
        double left = end - ky_time_now();
        if (left <= 0) return false;
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0) continue;
        if (s->n + 1 >= sizeof s->buf) { /* keep the tail */
            memmove(s->buf, s->buf + sizeof s->buf / 2, s->n - sizeof s->buf / 2);
            s->n -= sizeof s->buf / 2;
            *from = *from > sizeof s->buf / 2 ? *from - sizeof s->buf / 2 : 0;
        }
        ssize_t got = read(s->fd, s->buf + s->n, sizeof s->buf - 1 - s->n);
        if (got <= 0) return false;
        s->n += (size_t)got;
    }
}

static void send_str(pty_session *s, const char *str) {
    if (write(s->fd, str, strlen(str)) < 0) perror("write");
}

static bool start_pty(pty_session *s) {
    memset(s, 0, sizeof *s);
    s->pid = forkpty(&s->fd, NULL, NULL, NULL);
    if (s->pid < 0) return false;
    if (s->pid == 0) {
        setenv("TERM", "xterm", 1);
        execl(ky_test_cli_binary(), ky_test_cli_binary(), "chat", "-m", g_model, "--temp", "1",
              "--seed", "3", "-n", "1000000", "-t", "2", "--quiet", (char *)NULL);
        _exit(127);
    }
    return true;
}

static int finish_pty(pty_session *s, double timeout) {
    double end = ky_time_now() + timeout;
    int status = 0;
    while (ky_time_now() < end) {
        pid_t w = waitpid(s->pid, &status, WNOHANG);
        if (w == s->pid) {
            close(s->fd);
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        char tmp[4096];
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0 && read(s->fd, tmp, sizeof tmp) < 0) (void)0;
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    close(s->fd);
    return -2;
}

static void test_pty_ctrl_c(void) {
    pty_session s;
    REQUIRE(start_pty(&s));
    size_t at = 0;
    double slow = ky_test_sanitized() ? 6 : 1;
    CHECK(expect(&s, &at, "> ", 30 * slow));
    send_str(&s, "hello\r");
    CHECK(expect(&s, &at, "hello", 10 * slow));
    size_t before = s.n;
    usleep((useconds_t)(400000 * slow)); /* let it stream */
    size_t dummy = at;
    expect(&s, &dummy, "\x01never\x01", 0.5);
    CHECKF(s.n > before + 4, "no streamed output (%zu bytes)", s.n - before);
    send_str(&s, "\x03");
    CHECK(expect(&s, &at, "[stopped]", 10 * slow));
    CHECK(expect(&s, &at, "> ", 10 * slow));
    send_str(&s, "again\r");
    CHECK(expect(&s, &at, "again", 10 * slow));
    usleep((useconds_t)(300000 * slow));
    send_str(&s, "\x03");
    CHECK(expect(&s, &at, "[stopped]", 10 * slow));
    CHECK(expect(&s, &at, "> ", 10 * slow));
    send_str(&s, "/exit\r");
    CHECK(finish_pty(&s, 10 * slow) == 0);

    REQUIRE(start_pty(&s));
    at = 0;
    CHECK(expect(&s, &at, "> ", 30 * slow));
    send_str(&s, "\x03");
    CHECK(expect(&s, &at, "Ctrl-C again", 10 * slow));
    send_str(&s, "\x03");
    CHECK(finish_pty(&s, 10 * slow) == 0);
}

/* --spec ngram (the default) gives the same greedy answers as --spec none over two turns of a
 * copy-like conversation, with drafts accepted (the random-weight model repeats itself), and the
 * second turn reuses the same prefix either way. */
static void test_speculation(void) {
    const char *in = "The order 4471 shipped on Monday from Hangzhou. The order 4471 shipped on "
                     "Monday from Hangzhou.\nRepeat that please.\n";
    const char *with[] = {"-n", "60", "--spec", "ngram", NULL};
    const char *without[] = {"-n", "60", "--spec", "none", NULL};
    ky_cli_result a, b;
    REQUIRE(run_chat(in, with, &a) == 0);
    REQUIRE(run_chat(in, without, &b) == 0);
    CHECKF(a.exit_code == 0 && b.exit_code == 0, "%s %s", a.err, b.err);
    CHECKF(a.out && b.out && !strcmp(a.out, b.out), "with drafts:\n%s\nwithout:\n%s", a.out, b.out);
    long long d1 = 0, a1 = 0, d2 = 0, a2 = 0;
    const char *t1 = strstr(a.err, "turn 1: "), *t2 = strstr(a.err, "turn 2: ");
    REQUIRE(t1 && t2);
    CHECK(sscanf(strstr(t1, "drafted"), "drafted %lld, accepted %lld", &d1, &a1) == 2);
    CHECK(sscanf(strstr(t2, "drafted"), "drafted %lld, accepted %lld", &d2, &a2) == 2);
    printf("# speculation: turn 1 drafted %lld accepted %lld, turn 2 drafted %lld accepted %lld\n",
           d1, a1, d2, a2);
    CHECK(a1 + a2 > 0 && a1 <= d1 && a2 <= d2);
    const char *r2a = strstr(a.err, "turn 2: prompt"), *r2b = strstr(b.err, "turn 2: prompt");
    REQUIRE(r2a && r2b);
    CHECKF(!strncmp(r2a, r2b, strcspn(r2a, ")")), "%.60s vs %.60s", r2a, r2b);
    ky_test_cli_free(&a);
    ky_test_cli_free(&b);
}

int main(void) {
    snprintf(g_model, sizeof g_model, "%s", ky_test_shared("models/chat-qwen3-q8_0.gguf"));
    snprintf(g_stories, sizeof g_stories, "%s", ky_test_shared("models/stories260K.gguf"));
    snprintf(g_input, sizeof g_input, "%s", ky_test_tmpfile("chat-input.txt"));
    RUN(test_piped_turns_reuse_the_prefix);
    RUN(test_answer_equals_run);
    RUN(test_commands_single_and_system);
    RUN(test_fallback_and_limits);
    RUN(test_pty_ctrl_c);
    RUN(test_speculation);
    TEST_EXIT();
}
