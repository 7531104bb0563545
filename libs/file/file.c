/* file: small file-system helpers (see file.h). */
#include "file/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Writes all len bytes of buf to fd. 0 or -1 (errno set). */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int ems_file_write_atomic(const char *path, const char *text, char *errstr,
                          size_t errstr_size)
{
    char tmp[4096], dir[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(dir, sizeof dir, "%s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        goto err;
    if (write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
        close(fd);
        goto err;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0)
        goto err;
    fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* the rename itself made durable */
        close(fd);
    }
    return 0;
err:
    snprintf(errstr, errstr_size, "cannot write '%s': %s", tmp, strerror(errno));
    unlink(tmp);
    return -1;
}
