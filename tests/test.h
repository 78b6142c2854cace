/* test.h — the minimal test harness every tests/ program uses.
 *
 * A test program is a main() that calls RUN(fn) for each test function. CHECK records a failure
 * (file:line and the expression) and continues; a test passes when none of its checks failed.
 * Output is one "ok - name" / "not ok - name" line per test, which scripts/run-tests.sh counts.
 */
#ifndef KY_TEST_H
#define KY_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "support.h"

extern int ky_test_cur_failures;
extern int ky_test_n_pass, ky_test_n_fail;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ky_test_cur_failures++;                                                  \
        }                                                                            \
    } while (0)

#define CHECKF(cond, ...)                                                            \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            ky_test_cur_failures++;                                                  \
        }                                                                            \
    } while (0)

/* Fails the test and returns from the test function (for checks later code depends on). */
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            ky_test_cur_failures++;                                                    \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define RUN(fn)     ky_test_run(#fn, fn)
#define TEST_EXIT() return ky_test_n_fail ? 1 : 0

void ky_test_run(const char *name, void (*fn)(void));

#endif
