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

/* true when running under the sanitizer build (KY_TEST_SAN set by the runner). Slow tests
 * may use a smaller sample then. */
int ky_test_sanitized(void);

#endif
