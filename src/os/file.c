/* file.c — POSIX file mapping and whole-file I/O (layer: os). */
#define _GNU_SOURCE
#include "os/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a non-regular file is, for messages. */
static const char *file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

ky_status ky_file_map(const char *path, ky_mapping *out, ky_error *err) {
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever, before
     * fstat could tell us it is not a regular file. It has no effect on regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return ky_errf(err, KY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ky_errf(err, KY_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ky_errf(err, KY_ERR_IO, "%s: not a regular file (%s)", path, file_kind(st.st_mode));
    }
    ky_mapping m = {NULL, (size_t)st.st_size};
    if (m.size > 0) {
        void *p = mmap(NULL, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ky_errf(err, KY_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, m.size,
                           strerror(e));
        }
        m.data = p;
    }
    close(fd);
    *out = m;
    return KY_OK;
}

void ky_file_unmap(ky_mapping *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

void ky_file_prefetch(const ky_mapping *m) {
    if (m->data) madvise((void *)m->data, m->size, MADV_WILLNEED);
}

ky_status ky_file_read_all(const char *path, char **data, size_t *size, ky_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ky_errf(err, KY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return ky_errf(err, KY_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ky_errf(err, KY_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    *data = buf;
    *size = len;
    return KY_OK;
}

ky_status ky_file_write_all(const char *path, const void *data, size_t size, ky_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return ky_errf(err, KY_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t n = size ? fwrite(data, 1, size, f) : 0;
    int bad = n != size || fflush(f) != 0;
    if (fclose(f) != 0) bad = 1;
    if (bad) return ky_errf(err, KY_ERR_IO, "%s: write failed", path);
    return KY_OK;
}
