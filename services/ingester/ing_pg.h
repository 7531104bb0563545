/*
 * ing_pg: the PostgreSQL sink. Readings go in with COPY into a session-local
 * staging table, then INSERT ... ON CONFLICT DO NOTHING into measurements, in
 * one transaction that also reports which readings were new (a replay or a
 * redelivered batch adds nothing). Closed intervals and gaps are upserted
 * where a newer revision wins, and the 15-min rows are rolled up into the
 * hourly, daily and monthly tables in the same transaction.
 *
 * The readings go in as COPY binary. Optimistically a batch is copied
 * straight into measurements under a savepoint: when no reading was stored
 * before (the normal case) that is the whole cost. A duplicate fails that
 * COPY (unique_violation); the savepoint is rolled back and the batch takes
 * the staging path, which later batches keep taking until one has no
 * duplicate (a replay does not pay twice per batch).
 *
 * Threads: one thread at a time (it drives one db_t).
 */
#ifndef EMS_INGESTER_ING_PG_H
#define EMS_INGESTER_ING_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "ingester/ing_types.h"

typedef struct ing_pg ing_pg_t;

/* Borrows db (must outlive the sink). Returns NULL on allocation failure. */
ing_pg_t *ing_pg_new(db_t *db);
void ing_pg_destroy(ing_pg_t *p);

/* Stores n readings in one transaction. On success returns 0, sets
 * is_new[i] to 1 for each reading that was not stored before (0 for
 * duplicates) and *inserted. On error (nothing stored) -1 with errstr. */
int ing_pg_store_readings(ing_pg_t *p, const ing_reading_t *rd, size_t n,
                          unsigned char *is_new, int64_t *inserted, char *errstr,
                          size_t errstr_size);

/* Stores intervals and gaps and refreshes the coarser rollups touched, in
 * one transaction. Intervals none of which was stored before are inserted
 * and added to their hourly, daily and monthly buckets; otherwise, or with
 * recompute (intervals a restore rebuilt: their buckets may hold them
 * already), they are upserted (higher revision wins) and the buckets
 * recomputed from their children. 0, or -1 with errstr (nothing stored). */
int ing_pg_store_outputs(ing_pg_t *p, const ing_interval_t *iv, size_t niv,
                         const ing_gap_t *gaps, size_t ngaps, bool recompute,
                         char *errstr, size_t errstr_size);

/* The columns of measurements a COPY fills, in the order of the encoding. */
#define ING_PG_NCOLS 13
extern const char *const ing_pg_measurement_columns[ING_PG_NCOLS];

/* Encodes n readings as a whole COPY binary stream (header, rows, trailer)
 * in the sink's buffer, valid until the next call: with_n prepends the row
 * index as an integer column (the staging table). 0, or -1 (out of memory). */
int ing_pg_encode(ing_pg_t *p, const ing_reading_t *rd, size_t n, bool with_n,
                  const char **out, size_t *len);

/* Batches that fell back from the direct COPY to the staging path. */
int64_t ing_pg_fallbacks(const ing_pg_t *p);

/* Outputs transactions in which an interval had been stored before: it was
 * upserted and its coarse buckets recomputed from their children. */
int64_t ing_pg_recomputes(const ing_pg_t *p);

/* Forgets cached state tied to the session (after a reconnect). */
void ing_pg_reset(ing_pg_t *p);

#endif
