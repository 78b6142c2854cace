/* test_dispatch.c — KY_KERNELS=generic forces the reference table (set before first use). */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "test.h"

static void test_forced_generic(void) {
    CHECK(strcmp(ky_kernels()->name, "generic") == 0);
    CHECK(ky_kernels() == ky_kernels_generic() ||
          strcmp(ky_kernels()->name, ky_kernels_generic()->name) == 0);
    CHECK(strcmp(ky_kernels_name(), "generic") == 0);
    const ky_kernel_table *tabs[8];
    int n = ky_kernels_available(tabs, 8);
    CHECK(n >= 1 && strcmp(tabs[n - 1]->name, "generic") == 0);
}

int main(void) {
    setenv("KY_KERNELS", "generic", 1);
    RUN(test_forced_generic);
    TEST_EXIT();
}
