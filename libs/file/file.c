/* file: small file-system helpers (see file.h). */
#include "file/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes all len bytes of data to fd. 0 or -1 (errno set). */
static int write_all(int fd, const void *data, size_t len)
{
    const char *buf = data;
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = EIO; /* no progress and no error: do not spin */
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int ems_file_write_atomic_n(const char *path, const void *data, size_t len, mode_t mode,
                            char *errstr, size_t errstr_size)
{
    char tmp[4096], dir[4096];
    int err;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(dir, sizeof dir, "%s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        goto fail;
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        err = errno;
        close(fd);
        errno = err;
        goto fail;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0)
        goto fail;
    fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* the rename itself made durable */
        close(fd);
    }
    return 0;
fail:
    err = errno; /* callers may report it; unlink() must not replace it */
    snprintf(errstr, errstr_size, "cannot write '%s': %s", tmp, strerror(err));
    unlink(tmp);
    errno = err;
    return -1;
}

int ems_file_write_atomic(const char *path, const char *text, char *errstr,
                          size_t errstr_size)
{
    return ems_file_write_atomic_n(path, text, strlen(text), 0640, errstr, errstr_size);
}

char **ems_file_dir_names(DIR *d, int (*keep)(const char *name, const void *ctx),
                          const void *ctx, int (*cmp)(const void *, const void *),
                          size_t *n)
{
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!keep(e->d_name, ctx))
            continue;
        if (*n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *p);
            if (!p)
                break;
            names = p;
        }
        if (!(names[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
    if (*n)
        qsort(names, *n, sizeof *names, cmp);
    return names;
}
