/*
 * ing_service_int: the ingester service's state, shared by ing_service.c
 * (the batch pipeline) and ing_outputs.c (publishing and storing the
 * closed intervals and gaps, then committing offsets). Not an API: one
 * service thread uses it.
 */
#ifndef EMS_INGESTER_ING_SERVICE_INT_H
#define EMS_INGESTER_ING_SERVICE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "clock/clock.h"
#include "db/db.h"
#include "ingester/ing_pg.h"
#include "ingester/ing_redis.h"
#include "ingester/ing_results.h"
#include "ingester/ing_rollup.h"
#include "ingester/ing_service.h"
#include "ingester/ing_writer.h"
#include "obs/metrics.h"

/* A batch is polled, decoded, validated and checked on the service thread
 * (its rejects dead-lettered), its offsets taken, and handed to a writer
 * session (ing_writer.h) while the next batches are polled. Stored batches
 * are fed to the rollups in poll order; their outputs are published and
 * held, then stored in one transaction on the service's own session, and
 * only then are the held batches' offsets committed. */

/* Stages whose time is summed in ems_ingester_stage_seconds_total. */
typedef enum {
    ST_IDLE = 0, /* polls that found nothing (caught up, or stopped) */
    ST_POLL,     /* bus poll: fetch (and generic decode of foreign schemas) */
    ST_DECODE,   /* bodies into readings, validation */
    ST_CHECK,    /* site restore and stateful checks */
    ST_COPY,     /* readings COPY and COMMIT, summed over the writer sessions */
    ST_WAIT,     /* the service thread waiting for a writer */
    ST_REDIS,    /* latest values, summed over the writer threads */
    ST_ROLLUP,   /* rollup core: add and advance */
    ST_PUBLISH,  /* energy.load / energy.gaps enqueued and flushed */
    ST_OUTPUTS,  /* rollup and gap transaction */
    ST_ACK,
    ST_N
} ing_stage_t;

/* Most outputs held before they are stored whatever the time. */
#define PENDING_OUTPUTS_MAX 100000

/* One batch between poll and feed. */
typedef struct slot {
    ing_job_t job;
    ing_reading_t *rd;
    unsigned char *is_new;
    size_t n;
    bus_offsets_t *offs; /* its offsets, committed after its outputs */
} slot_t;

struct ing_service {
    ing_conf_t conf;
    svc_t *svc;
    bus_consumer_t *cons;
    db_t *db;
    ing_pg_t *pg; /* the service session: recovery path */
    ing_writer_t *writer;
    ing_redis_t *redis;
    ing_rollup_t *roll;
    slot_t *slots;
    int nslots, head, count;  /* ring of batches handed to the writers */
    bool prep;                /* slots[head + count] polled, not handed over */
    bool recovering;          /* a write failed: batches stored again, then
                               * their sites restored (recover_step) */
    bool rec_sites_forgotten; /* recovery: every batch stored, sites forgotten */
    uint64_t revocations;     /* bus_consumer_revocations() when the sites
                               * were last settled (settle_rebalance) */
    bool rebalanced;          /* partitions were taken away: forget their
                               * sites before the next batch (settle_rebalance) */
    int *rec_of;              /* prepared batch: rd[i] came from recs[rec_of[i]] */
    bus_record_t *recs;       /* the polled records, valid until the next poll */
    bool caught_up;           /* the last poll found nothing (or, waiting,
                               * did not fill a batch) */
    bool pending;             /* fed batches whose outputs and ack are due */
    double pending_t0;        /* mono_s() of the oldest of them */
    bus_offsets_t *held;      /* their offsets */
    /* outputs being stored on their own session (one job at a time), with
     * the offsets committed once they are */
    ing_writer_t *outw;
    ing_job_t ojob;
    bool obusy;
    double ot0;
    ing_interval_t *oiv;
    ing_gap_t *og;
    size_t oivcap, ogcap;
    bus_offsets_t *ooffs;
    size_t pub_iv, pub_gap;     /* outputs enqueued on the bus so far */
    avro_value_t v_load, v_gap; /* reused output values */
    bool v_load_made, v_gap_made;
    bus_consumer_t *rcons; /* result topics */
    bus_record_t *rrecs;   /* held result batch (until stored and acked) */
    int rn;
    ing_result_reject_t *rrej;
    double next_retention; /* mono_s() of the next retention run */
    int db_down;
    obs_counter_t *m_rows, *m_dup, *m_rejected, *m_closed, *m_corr, *m_late,
        *m_redis_err;
    obs_counter_t *m_db_err, *m_results, *m_archived, *m_ret_busy, *m_restores;
    obs_counter_t *m_slow_rd, *m_slow_iv;
    obs_counter_t *m_resets;
    /* records of pending counter resets, for the DLQ of a glitch (ing_held.c) */
    struct ing_held_rec *hrec;
    size_t nhrec, hreccap;
    bool out_recompute; /* the held outputs include intervals a restore rebuilt */
    obs_gauge_t *m_gaps;
    obs_histogram_t *m_batch, *m_latency;
    obs_counter_t *m_stage[ST_N];
};

/* Adds the time since *t to stage st and moves *t to now. */
void ing_stage(ing_service_t *s, ing_stage_t st, double *t);
/* Counts and logs a database failure (once per outage), resets the sink's
 * session state when the server answers, else pauses briefly. */
void ing_db_failed(ing_service_t *s, const char *what, const char *err);

/* ---- ing_outputs.c ---- */

/* Enqueues on the bus the intervals and gaps not enqueued yet. 0, or -1
 * when publishing failed (fatal). */
int ing_out_publish(ing_service_t *s);
/* Outputs held (intervals and gaps of fed batches, not handed over). */
size_t ing_out_held(const ing_service_t *s);
/* Whether held outputs are handed to the (free) outputs session now: the
 * consumer has caught up and every batch is fed (drained), rollup_flush
 * is 0 or has passed since the first was held (held_ms), or at least
 * rollup_batch are held. The last keeps the outputs session busy beside
 * the writers while a backlog is drained (one transaction per about
 * rollup_batch outputs, not per batch: each one recomputes its hourly,
 * daily and monthly buckets), so that little is left to store when the
 * backlog's last batch is written. Pure; any thread. */
bool ing_out_due(bool drained, int64_t flush_ms, double held_ms, size_t held,
                 int64_t batch);
/* ing_out_due() for the service's state. */
bool ing_out_flush_due(ing_service_t *s);
/* Hands the held outputs and offsets to the outputs session. 0, or -1
 * when publishing failed (fatal). */
int ing_out_start(ing_service_t *s);
/* Whether the outputs job (if any) is over. */
bool ing_out_done(ing_service_t *s);
/* The outputs job is over: commits its offsets, or stores it again. */
void ing_out_finish(ing_service_t *s);
/* Shutdown: waits for the outputs job, stores what is still held. */
void ing_out_drain(ing_service_t *s);
/* Refreshes the rollup counters and the open gaps gauge. */
void ing_out_metrics(ing_service_t *s);

/* ---- ing_held.c ---- */

typedef struct ing_held_rec ing_held_rec_t;
/* After the checks kept rd (from rec): keeps a copy of the record of a
 * pending counter reset's reading, forgets the meter's copies when the
 * reset is confirmed, and dead-letters them with reason when it ends as a
 * glitch. Returns how many were dead-lettered. Service thread only. */
size_t ing_held_note(ing_service_t *s, const ing_reading_t *rd, const bus_record_t *rec,
                     const char *reason);
/* After a rebalance: frees the copies of records of the partitions taken
 * away. Their meters' state is forgotten and may be settled by the new
 * owner; kept, a copy outlived its pending reset and a later glitch of the
 * meter here dead-lettered it too. Returns how many were freed. */
size_t ing_held_forget_moved(ing_service_t *s,
                             bool (*moved)(int32_t partition, void *ctx), void *ctx);
/* Frees every copy. */
void ing_held_release(ing_service_t *s);

#endif
