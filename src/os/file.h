/* file.h — read-only file mappings and whole-file reads (layer: os). */
#ifndef KY_OS_FILE_H
#define KY_OS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct ky_mapping {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
} ky_mapping;

/* Maps path read-only (MAP_PRIVATE). An empty file maps to {NULL, 0}. Errors (KY_ERR_IO) name
 * the path and the failing system call; anything but a regular file (directory, FIFO, device,
 * socket) is refused without blocking or reading from it. Release with ky_file_unmap. */
ky_status ky_file_map(const char *path, ky_mapping *out, ky_error *err);
void ky_file_unmap(ky_mapping *m);
/* Asks the kernel to read the mapping ahead (best effort). */
void ky_file_prefetch(const ky_mapping *m);

/* Reads a whole file into a malloc'd NUL-terminated buffer (*data, owned by the caller). */
ky_status ky_file_read_all(const char *path, char **data, size_t *size, ky_error *err);

/* Writes size bytes to path (created/truncated). */
ky_status ky_file_write_all(const char *path, const void *data, size_t size, ky_error *err);

#endif
