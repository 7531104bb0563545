/*
 * spool: the gateway's on-disk store and forward, a write-ahead log of
 * readings. Every reading is appended here first (append-only, fsync'd in
 * batches by sg_spool_sync()), then read back in order, published, and
 * committed once the broker confirmed delivery. A broker outage therefore
 * only makes the spool grow; a restart drains what it holds.
 *
 * Files in dir: spool.dat (records: magic, length, CRC-32, payload) and
 * spool.head (byte offset of the first unconfirmed record, replaced
 * atomically, its directory fsync'd). A torn record at the end (crash
 * during append) is cut off at open; a damaged record before intact ones
 * is skipped when read, and counted. When everything is confirmed the data file is
 * truncated to zero; when confirmations lag behind appends, a commit that leaves 1 MiB
 * confirmed at the front moves the unconfirmed records to the start.
 *
 * Bounded: an append that would take the unconfirmed bytes beyond max_bytes
 * is refused (returns 1) and counted; the caller reports it as a metric.
 *
 * Two cursors: head (confirmed) <= send (read for publishing) <= end.
 * Not thread-safe: one thread owns a spool.
 */
#ifndef EMS_SCADA_SPOOL_H
#define EMS_SCADA_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "scada-gateway/sg_types.h"

typedef struct sg_spool sg_spool_t;

/* Opens (creating dir and files as needed) and recovers the spool. Returns
 * it, or NULL with errstr naming the path. */
sg_spool_t *sg_spool_open(const char *dir, int64_t max_bytes, char *errstr,
                          size_t errstr_size);
/* Closes (after a final sync). NULL is a no-op. */
void sg_spool_close(sg_spool_t *s);

/* Appends one reading (buffered). Returns 0, 1 when the spool is full (the
 * reading is dropped and counted), -1 with errstr on an I/O error. */
int sg_spool_append(sg_spool_t *s, const sg_reading_t *r, char *errstr,
                    size_t errstr_size);
/* Writes buffered records and fsyncs the data file. Returns 0 or -1. */
int sg_spool_sync(sg_spool_t *s, char *errstr, size_t errstr_size);

/* Reads up to max records after the send cursor into out and advances it,
 * over damaged records too (skipped, counted once in sg_spool_corrupt()).
 * Returns the number read (0: nothing unsent, or only damaged records),
 * or -1 with errstr. */
int sg_spool_read(sg_spool_t *s, sg_reading_t *out, int max, char *errstr,
                  size_t errstr_size);
/* Moves the send cursor back to head (the sent records were not delivered). */
void sg_spool_rewind(sg_spool_t *s);
/* Confirms everything up to the send cursor: head = send, persisted. When
 * nothing is left, truncates the data file. Returns 0 or -1. */
int sg_spool_commit(sg_spool_t *s, char *errstr, size_t errstr_size);

int64_t sg_spool_pending(const sg_spool_t *s); /* unconfirmed records */
int64_t sg_spool_unsent(const sg_spool_t *s);  /* records after the send cursor */
int64_t sg_spool_bytes(const sg_spool_t *s);   /* unconfirmed bytes */
int64_t sg_spool_dropped(const sg_spool_t *s); /* refused because full */
int64_t sg_spool_corrupt(const sg_spool_t *s); /* damaged records skipped */
/* 1 when the next append would be refused (no room for one record). */
int sg_spool_full(const sg_spool_t *s);

/* mkdir -p (the spool and the state file may live under directories not
 * made yet). Returns 0 or -1 with errno set. */
int sg_make_dirs(const char *dir);

/* CRC-32 (IEEE, as zlib's crc32 and gzip), exported for tests; every spool
 * record carries it. */
uint32_t sg_crc32(const void *data, size_t len);

#endif
