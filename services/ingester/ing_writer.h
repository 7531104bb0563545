/*
 * ing_writer: a pool of threads, each with its own PostgreSQL connection,
 * that store batches of readings (ing_pg_store_readings: COPY binary and
 * COMMIT) while the service thread polls and decodes the next batches.
 * Several batches are copied at once, one per connection: PostgreSQL then
 * works on more than one core. After the COMMIT the same thread writes the
 * batch's new readings to Redis on its own connection (the Redis scripts
 * keep the newest reading whatever the order, so batches need no order
 * there). Jobs finish in any order; the caller feeds their readings to the
 * rollups in its own order.
 *
 * Threads: submit, done, wait and destroy are called by one (the service)
 * thread; the pool's threads touch a job only between submit and done.
 */
#ifndef EMS_INGESTER_ING_WRITER_H
#define EMS_INGESTER_ING_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "ingester/ing_types.h"

typedef struct ing_writer ing_writer_t;

/* One job: a batch of readings to store (outputs NULL), or closed
 * intervals and gaps to store (ing_pg_store_outputs). The caller owns it
 * and its arrays; the pool writes is_new, inserted, rc, err and the
 * times. */
typedef struct ing_job {
    const ing_interval_t *iv; /* outputs job when iv or gaps is set */
    size_t niv;
    const ing_gap_t *gaps;
    size_t ngaps;
    bool recompute; /* outputs: recompute the coarse buckets whatever happens */
    const ing_reading_t *rd;
    size_t n;
    unsigned char *is_new; /* n entries: 1 = not stored before */
    int64_t inserted;
    int rc; /* 0 stored and committed, -1 nothing stored (err) */
    char err[512];
    double seconds; /* time spent storing */
    double redis_seconds;
    bool slow_path;      /* a row stored before: staging path or recompute */
    char redis_err[256]; /* "" unless the Redis write failed */
    /* pool state */
    int state;
    struct ing_job *next;
} ing_job_t;

/* Where the writers put the latest values; NULL addr = no Redis. */
typedef struct ing_writer_redis {
    const char *addr, *password, *prefix; /* password NULL: no AUTH */
    int64_t ttl_ms;
} ing_writer_redis_t;

/* Connects nthreads sessions (each with dbc's retry) and starts the
 * threads; redis may be NULL. Returns NULL with errstr (nothing left
 * running). */
ing_writer_t *ing_writer_new(const db_conf_t *dbc, const ing_writer_redis_t *redis,
                             int nthreads, char *errstr, size_t errstr_size);
/* Queues job (its arrays must stay valid until it is done). */
void ing_writer_submit(ing_writer_t *w, ing_job_t *job);
/* True once job was stored or failed. */
bool ing_writer_done(ing_writer_t *w, const ing_job_t *job);
/* Waits up to timeout_ms for job to be done; returns ing_writer_done(). */
bool ing_writer_wait(ing_writer_t *w, const ing_job_t *job, int timeout_ms);
/* Finishes the queued jobs, stops the threads, closes the sessions. NULL
 * is a no-op. */
void ing_writer_destroy(ing_writer_t *w);

#endif
