/* support.h — helpers shared by test programs: paths into ../shared, temp files, JSON. */
#ifndef KY_TEST_SUPPORT_H
#define KY_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Path of a file under the shared data directory ($KY_SHARED, default "../shared").
 * Returns a static buffer valid until the next call. */
const char *ky_test_shared(const char *relative);

/* Creates (once per process) and returns a fresh temporary directory; files are left for
 * inspection only when KY_TEST_KEEP is set. */
const char *ky_test_tmpdir(void);
/* tmpdir + "/" + name in a static buffer valid until the next call. */
const char *ky_test_tmpfile(const char *name);

/* Reads a whole file into a malloc'd buffer (NUL-terminated). Returns NULL on failure. */
char *ky_test_read_file(const char *path, size_t *size);
/* Writes a buffer to a file. Returns 0 on success. */
int ky_test_write_file(const char *path, const void *data, size_t size);

/* Result of running the kaiyuan CLI: exit status (-1 when killed by a signal) and the captured
 * stdout/stderr (malloc'd, NUL-terminated). Free with ky_test_cli_free. */
typedef struct ky_cli_result {
    int exit_code;
    int timed_out; /* ky_test_cli_timed killed the process */
    char *out, *err;
    size_t n_out, n_err;
} ky_cli_result;

/* The CLI under test: $KY_KAIYUAN_BIN, default "build/kaiyuan". */
const char *ky_test_cli_binary(void);
/* Runs the CLI with args (NULL-terminated, without argv[0]), stdin from /dev/null. Returns 0 when
 * it ran (whatever its exit status), -1 when it could not be started. */
int ky_test_cli(const char *const *args, ky_cli_result *r);
/* Runs any program: argv[0] is its path (NULL-terminated argv), stdin from /dev/null, with the
 * environment of this process plus env (NULL-terminated "NAME=value" strings, replacing
 * variables of the same name; NULL for none). Returns as ky_test_cli. */
int ky_test_spawn(const char *const *argv, const char *const *env, ky_cli_result *r);
/* As ky_test_cli, but kills the process (SIGKILL) when it has not exited after seconds (> 0);
 * then r->timed_out is 1 and r->exit_code -1. */
int ky_test_cli_timed(const char *const *args, double seconds, ky_cli_result *r);
/* The CLI with args, extra environment env (as ky_test_spawn; may be NULL), stdin from the file
 * stdin_path (NULL: /dev/null) and a time limit (seconds <= 0: none). Returns as ky_test_cli. */
int ky_test_cli_full(const char *const *args, const char *const *env, const char *stdin_path,
                     double seconds, ky_cli_result *r);
void ky_test_cli_free(ky_cli_result *r);

/* Appends to files[*n] (capacity cap) the paths of regular files under dir whose names end with
 * suffix, descending into subdirectories when recurse; then sorts the whole list. Strings are
 * malloc'd; release with ky_test_free_files. */
void ky_test_collect_files(const char *dir, const char *suffix, int recurse, char **files, int *n,
                           int cap);
void ky_test_free_files(char **files, int n);

/* true when running under the sanitizer build (KY_TEST_SAN set by the runner). Slow tests
 * may use a smaller sample then. */
int ky_test_sanitized(void);

#endif
