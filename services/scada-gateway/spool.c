/*
 * spool: on-disk write-ahead log of readings (see spool.h).
 */
#include "scada-gateway/spool.h"
#include "file/file.h"
#include "scada-gateway/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SPOOL_MAGIC 0x31524753u /* "SGR1" */
#define REC_HDR 12
#define REC_SIZE ((int64_t)(REC_HDR + sizeof(sg_reading_t)))
#define WBUF_RECS 256
/* Confirmed bytes at the front of the file worth reclaiming (compact()) */
#define SPOOL_COMPACT_MIN (1 << 20)

struct sg_spool {
    char *dat_path, *head_path;
    int fd;
    int64_t max_bytes;
    int64_t head, send, end; /* byte offsets; end includes buffered records */
    int64_t flushed;         /* bytes written to the file */
    int64_t saved_head;      /* the offset the head file holds */
    int64_t dropped;
    int64_t corrupt; /* damaged records skipped */
    int64_t checked; /* records before this offset were counted if damaged */
    unsigned char *wbuf;
    size_t wlen;
};

/* zlib's table-driven CRC-32: the same values as the bitwise loop the
 * spool was first written with (IEEE, reflected), so files written before
 * stay readable, at a tenth of the cost per record. */
uint32_t sg_crc32(const void *data, size_t len)
{
    return (uint32_t)crc32(0L, data, (uInt)len);
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int fail(char *errstr, size_t n, const char *what, const char *path)
{
    snprintf(errstr, n, "spool: %s '%s': %s", what, path, strerror(errno));
    return -1;
}

static int read_head(sg_spool_t *s)
{
    FILE *f = fopen(s->head_path, "r");
    long long v = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lld", &v) != 1 || v < 0)
        v = 0;
    fclose(f);
    s->head = s->saved_head = v;
    return 0;
}

static int write_head(sg_spool_t *s, char *errstr, size_t n);

/* 1 when buf (REC_SIZE bytes) holds an intact record. */
static int record_intact(const unsigned char *buf)
{
    uint32_t magic, len, crc;
    memcpy(&magic, buf, 4);
    memcpy(&len, buf + 4, 4);
    memcpy(&crc, buf + 8, 4);
    return magic == SPOOL_MAGIC && len == sizeof(sg_reading_t) &&
           crc == sg_crc32(buf + REC_HDR, len);
}

/* Checks the record at off; returns 1 when it is complete and intact. */
static int record_ok(int fd, int64_t off, int64_t size)
{
    unsigned char buf[REC_SIZE];
    if (off + REC_SIZE > size || pread(fd, buf, REC_SIZE, off) != REC_SIZE)
        return 0;
    return record_intact(buf);
}

/* Finds the end of the intact records and cuts a torn tail. Records are
 * of one size, so a damaged one (a flipped bit, a page the disk lost) is
 * stepped over: the log ends after the last intact record, not at the
 * first damaged one, which cut every reading after it. sg_spool_read()
 * skips and counts the damaged ones. */
static int recover(sg_spool_t *s, char *errstr, size_t n)
{
    struct stat st;
    int64_t off = 0;
    if (fstat(s->fd, &st) < 0)
        return fail(errstr, n, "cannot stat", s->dat_path);
    if (s->head > st.st_size || (s->head % REC_SIZE) != 0)
        s->head = 0;
    for (int64_t at = s->head; at + REC_SIZE <= st.st_size; at += REC_SIZE)
        if (record_ok(s->fd, at, st.st_size))
            off = at + REC_SIZE;
    if (off < s->head)
        off = s->head;
    if (off < st.st_size && ftruncate(s->fd, off) < 0)
        return fail(errstr, n, "cannot truncate", s->dat_path);
    s->send = s->head;
    s->end = s->flushed = off;
    /* A head reset to 0 is written at once: left in the head file, it
     * would point into the records appended from now on as soon as they
     * reach it, and the next open would skip those before it. */
    return s->saved_head != s->head ? write_head(s, errstr, n) : 0;
}

int sg_make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

sg_spool_t *sg_spool_open(const char *dir, int64_t max_bytes, char *errstr,
                          size_t errstr_size)
{
    sg_spool_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = -1;
    s->max_bytes = max_bytes;
    if (sg_make_dirs(dir) < 0) {
        fail(errstr, errstr_size, "cannot create directory", dir);
        goto err;
    }
    s->dat_path = path_join(dir, "spool.dat");
    s->head_path = path_join(dir, "spool.head");
    s->wbuf = malloc(WBUF_RECS * REC_SIZE);
    if (!s->dat_path || !s->head_path || !s->wbuf) {
        snprintf(errstr, errstr_size, "spool: out of memory");
        goto err;
    }
    s->fd = open(s->dat_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (s->fd < 0) {
        fail(errstr, errstr_size, "cannot open", s->dat_path);
        goto err;
    }
    if (read_head(s) < 0 || recover(s, errstr, errstr_size) < 0)
        goto err;
    return s;
err:
    sg_spool_close(s);
    return NULL;
}

/* Records written past the offset the head file holds, while the file
 * starts over below it (after a truncation or a compaction whose head
 * write failed), would be taken for the unconfirmed ones at the next open
 * and those before them skipped: the head is written first, and while it
 * cannot be, nothing is. */
static int head_allows_write(sg_spool_t *s, char *errstr, size_t n)
{
    if (s->saved_head <= s->head || s->flushed + (int64_t)s->wlen < s->saved_head)
        return 0;
    return write_head(s, errstr, n);
}

static int flush_buf(sg_spool_t *s, char *errstr, size_t n)
{
    size_t done = 0;
    if (head_allows_write(s, errstr, n) < 0)
        return -1;
    while (done < s->wlen) {
        ssize_t w =
            pwrite(s->fd, s->wbuf + done, s->wlen - done, s->flushed + (int64_t)done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return fail(errstr, n, "cannot write", s->dat_path);
        }
        done += (size_t)w;
    }
    s->flushed += (int64_t)s->wlen;
    s->wlen = 0;
    return 0;
}

int sg_spool_append(sg_spool_t *s, const sg_reading_t *r, char *errstr,
                    size_t errstr_size)
{
    unsigned char *p;
    uint32_t magic = SPOOL_MAGIC, len = sizeof *r, crc = sg_crc32(r, sizeof *r);
    if (s->max_bytes > 0 && s->end - s->head + REC_SIZE > s->max_bytes) {
        s->dropped++;
        return 1;
    }
    if (s->wlen + REC_SIZE > WBUF_RECS * REC_SIZE &&
        flush_buf(s, errstr, errstr_size) < 0)
        return -1;
    p = s->wbuf + s->wlen;
    memcpy(p, &magic, 4);
    memcpy(p + 4, &len, 4);
    memcpy(p + 8, &crc, 4);
    memcpy(p + REC_HDR, r, sizeof *r);
    s->wlen += REC_SIZE;
    s->end += REC_SIZE;
    return 0;
}

int sg_spool_sync(sg_spool_t *s, char *errstr, size_t errstr_size)
{
    if (s->wlen == 0)
        return 0;
    if (flush_buf(s, errstr, errstr_size) < 0)
        return -1;
    if (fdatasync(s->fd) < 0)
        return fail(errstr, errstr_size, "cannot fsync", s->dat_path);
    return 0;
}

int sg_spool_read(sg_spool_t *s, sg_reading_t *out, int max, char *errstr,
                  size_t errstr_size)
{
    int n = 0;
    unsigned char rec[REC_SIZE];
    if (s->wlen && sg_spool_sync(s, errstr, errstr_size) < 0)
        return -1;
    while (n < max && s->send < s->flushed) {
        if (pread(s->fd, rec, REC_SIZE, s->send) != REC_SIZE)
            return fail(errstr, errstr_size, "cannot read", s->dat_path);
        if (record_intact(rec))
            memcpy(&out[n++], rec + REC_HDR, sizeof *out);
        else if (s->send >= s->checked)
            s->corrupt++; /* once, though a rewind reads it again */
        s->send += REC_SIZE;
        if (s->send > s->checked)
            s->checked = s->send;
    }
    return n;
}

void sg_spool_rewind(sg_spool_t *s)
{
    s->send = s->head;
}

/* Replaces the head file like the state file (ems_file_write_atomic: the
 * directory is fsync'd after the rename), so a crash after a commit cannot
 * bring back the old head and send confirmed readings again. */
static int write_head(sg_spool_t *s, char *errstr, size_t n)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%lld\n", (long long)s->head);
    if (ems_file_write_atomic(s->head_path, buf, errstr, n) < 0)
        return -1;
    s->saved_head = s->head;
    return 0;
}

/* Moves the unconfirmed records [head, end) to the start of the file.
 * The file is truncated only once all is confirmed, and when confirmations
 * keep lagging behind appends (the broker slower than the poll, or a
 * delivery_wait of 0) that never happens: the file grew without bound
 * while the unconfirmed bytes stayed small, until the disk was full. Only
 * done when the records fit before head with room to spare, so the copy
 * never overwrites them and the truncated file ends before head. The head
 * file already holds head (sg_spool_commit() writes it first), so this
 * order is crash-safe: copy and sync (the head file points at the
 * originals), truncate (a head past the end is reset to 0 at open, where
 * the copies now are), then the new head. Had the head file still held
 * the previous commit's head, which may point into the copies, a crash or
 * a failed head write after the truncation skipped unconfirmed records. */
static int compact(sg_spool_t *s, char *errstr, size_t n)
{
    int64_t live = s->end - s->head, done = 0;
    unsigned char buf[64 * 1024];

    if (s->head < SPOOL_COMPACT_MIN || live >= s->head)
        return 0;
    if (sg_spool_sync(s, errstr, n) < 0)
        return -1;
    while (done < live) {
        size_t k =
            live - done < (int64_t)sizeof buf ? (size_t)(live - done) : sizeof buf;
        ssize_t r = pread(s->fd, buf, k, s->head + done);
        if (r <= 0)
            return fail(errstr, n, "cannot read", s->dat_path);
        if (pwrite(s->fd, buf, (size_t)r, done) != r)
            return fail(errstr, n, "cannot write", s->dat_path);
        done += r;
    }
    if (fdatasync(s->fd) < 0)
        return fail(errstr, n, "cannot fsync", s->dat_path);
    if (ftruncate(s->fd, live) < 0)
        return fail(errstr, n, "cannot truncate", s->dat_path);
    s->send -= s->head;
    s->end -= s->head;
    s->flushed -= s->head;
    s->checked = s->checked > s->head ? s->checked - s->head : 0;
    s->head = 0;
    return 0;
}

int sg_spool_commit(sg_spool_t *s, char *errstr, size_t errstr_size)
{
    if (s->send == s->head)
        return 0;
    s->head = s->send;
    if (s->head == s->end) {
        /* Everything confirmed: restart the file from zero. The data is
         * cut first: a crash before the head is rewritten leaves a head past
         * the end, which sg_spool_open() resets to zero. */
        if (ftruncate(s->fd, 0) < 0)
            return fail(errstr, errstr_size, "cannot truncate", s->dat_path);
        s->head = s->send = s->end = s->flushed = s->checked = 0;
        return write_head(s, errstr, errstr_size);
    }
    if (write_head(s, errstr, errstr_size) < 0)
        return -1;
    if (compact(s, errstr, errstr_size) < 0)
        return -1;
    return s->head == 0 ? write_head(s, errstr, errstr_size) : 0;
}

int64_t sg_spool_pending(const sg_spool_t *s)
{
    return (s->end - s->head) / REC_SIZE;
}

int64_t sg_spool_unsent(const sg_spool_t *s)
{
    return (s->end - s->send) / REC_SIZE;
}

int64_t sg_spool_bytes(const sg_spool_t *s)
{
    return s->end - s->head;
}

int64_t sg_spool_dropped(const sg_spool_t *s)
{
    return s->dropped;
}

int64_t sg_spool_corrupt(const sg_spool_t *s)
{
    return s->corrupt;
}

int sg_spool_full(const sg_spool_t *s)
{
    return s->max_bytes > 0 && s->end - s->head + REC_SIZE > s->max_bytes;
}

void sg_spool_close(sg_spool_t *s)
{
    char err[256];
    if (!s)
        return;
    if (s->fd >= 0) {
        sg_spool_sync(s, err, sizeof err);
        close(s->fd);
    }
    free(s->dat_path);
    free(s->head_path);
    free(s->wbuf);
    free(s);
}
