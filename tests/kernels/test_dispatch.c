/* test_dispatch.c — KY_KERNELS selection: "generic" forces the reference table (set before first
 * use); an unknown tier, or one this CPU lacks, falls back to the best table with a warning
 * (checked in child processes, since the choice is made once per process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "test.h"

static char g_self[4096];

static void test_forced_generic(void) {
    CHECK(strcmp(ky_kernels()->name, "generic") == 0);
    CHECK(ky_kernels() == ky_kernels_generic() ||
          strcmp(ky_kernels()->name, ky_kernels_generic()->name) == 0);
    CHECK(strcmp(ky_kernels_name(), "generic") == 0);
    const ky_kernel_table *tabs[8];
    int n = ky_kernels_available(tabs, 8);
    CHECK(n >= 1 && strcmp(tabs[n - 1]->name, "generic") == 0);
}

/* Runs this program with KY_KERNELS=value and returns the table name it printed. */
static int child_choice(const char *value, char *name, size_t cap, char *warn, size_t wcap) {
    char cmd[4096 + 512];
    snprintf(cmd, sizeof cmd, "KY_KERNELS='%s' '%s' --print-name 2>&1", value, g_self);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    name[0] = warn[0] = 0;
    char line[512];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "name=", 5) == 0)
            snprintf(name, cap, "%s", line + 5);
        else
            snprintf(warn, wcap, "%s", line);
    }
    int rc = pclose(p);
    return name[0] ? rc : -2; /* -2: the child did not run (e.g. under qemu-user without binfmt) */
}

static void test_fallbacks(void) {
    const ky_kernel_table *tabs[8];
    ky_kernels_available(tabs, 8);
    const char *best = tabs[0]->name;
    char name[512], warn[512];
    if (child_choice("nosuchtier", name, sizeof name, warn, sizeof warn) == -2) {
        fprintf(stderr, "cannot run %s as a child process; fallback checks skipped\n", g_self);
        return;
    }
    REQUIRE(child_choice("nosuchtier", name, sizeof name, warn, sizeof warn) == 0);
    CHECKF(strcmp(name, best) == 0, "unknown tier chose %s, best is %s", name, best);
    CHECKF(strstr(warn, "unknown tier") != NULL, "warning: '%s'", warn);
    /* a tier of the other architecture is never runnable here */
#if defined(__x86_64__)
    const char *foreign = "dotprod";
#else
    const char *foreign = "vnni";
#endif
    REQUIRE(child_choice(foreign, name, sizeof name, warn, sizeof warn) == 0);
    CHECKF(strcmp(name, best) == 0, "%s chose %s, best is %s", foreign, name, best);
    CHECKF(warn[0] != 0, "no warning for %s", foreign);
    REQUIRE(child_choice("generic", name, sizeof name, warn, sizeof warn) == 0);
    CHECK(strcmp(name, "generic") == 0);
}

/* Every table this CPU has is selectable by the name bench and the load summary print (e.g.
 * avx512-vnni), without a warning, as well as by its short spelling. */
static void test_select_by_printed_name(void) {
    const ky_kernel_table *tabs[8];
    int n = ky_kernels_available(tabs, 8);
    char name[512], warn[512];
    if (child_choice("generic", name, sizeof name, warn, sizeof warn) == -2) return;
    for (int i = 0; i < n; i++) {
        REQUIRE(child_choice(tabs[i]->name, name, sizeof name, warn, sizeof warn) == 0);
        CHECKF(strcmp(name, tabs[i]->name) == 0, "KY_KERNELS=%s chose %s", tabs[i]->name, name);
        CHECKF(warn[0] == 0, "KY_KERNELS=%s warned: %s", tabs[i]->name, warn);
    }
#if defined(__x86_64__)
    if (strcmp(tabs[0]->name, "avx512-vnni") == 0) {
        REQUIRE(child_choice("vnni", name, sizeof name, warn, sizeof warn) == 0);
        CHECK(strcmp(name, "avx512-vnni") == 0 && warn[0] == 0);
    }
#endif
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print-name") == 0) {
        printf("name=%s\n", ky_kernels_name());
        return 0;
    }
    ssize_t len = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    g_self[len > 0 ? len : 0] = 0;
    setenv("KY_KERNELS", "generic", 1);
    RUN(test_forced_generic);
    if (len > 0) RUN(test_fallbacks);
    if (len > 0) RUN(test_select_by_printed_name);
    TEST_EXIT();
}
