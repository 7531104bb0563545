/*
 * ing_service: batch pipeline of the ingester (see ing_service.h and
 * ing_service_int.h).
 */
#include "ingester/ing_service.h"
#include "clock/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/wire.h"
#include "db/db.h"
#include "ingester/ing_archive.h"
#include "ingester/ing_codec.h"
#include "ingester/ing_migrate.h"
#include "ingester/ing_pg.h"
#include "ingester/ing_recover.h"
#include "ingester/ing_redis.h"
#include "ingester/ing_results.h"
#include "ingester/ing_fastdec.h"
#include "ingester/ing_rollup.h"
#include "ingester/ing_service_int.h"
#include "ingester/ing_validate.h"
#include "ingester/ing_writer.h"
#include "log/log.h"

static const char *const stage_names[ST_N] = {"idle",    "poll",    "decode", "check",
                                              "copy",    "wait",    "redis",  "rollup",
                                              "publish", "outputs", "ack"};

/* Poll wait while batches are being written. */
#define POLL_BUSY_MS 5
/* The topic of the readings (logical name). */
#define ING_TOPIC_TELEMETRY "energy.telemetry"

ing_service_t *ing_service_new(void)
{
    return calloc(1, sizeof(ing_service_t));
}

void ing_service_free(ing_service_t *s)
{
    free(s);
}

ing_conf_t *ing_service_conf(ing_service_t *s)
{
    return &s->conf;
}

static int db_ready(void *ctx, char *errstr, size_t errstr_size)
{
    return db_check(ctx, errstr, errstr_size);
}

/* Registers the plant's meters: main meters count in their site's sum; a
 * site without a main meter counts all of its meters. */
static int register_meters(ing_service_t *s, const plant_t *plant)
{
    for (size_t i = 0; plant && i < plant_meter_count(plant); i++) {
        const plant_meter_t *m = plant_meter_at(plant, i), *o = NULL;
        bool has_main = false, counted;
        while ((o = plant_site_meter_next(plant, m->site_id, o)))
            has_main = has_main || o->kind == PLANT_METER_MAIN;
        counted = m->kind == PLANT_METER_MAIN || !has_main;
        if (ing_rollup_set_meter(s->roll, m->id, m->site_id, counted,
                                 m->poll_period_ms))
            return -1;
    }
    return 0;
}

static void init_metrics(ing_service_t *s, obs_metrics_t *m)
{
    static const double sizes[] = {1, 10, 100, 1000, 5000, 20000, 100000};
    static const double secs[] = {0.001, 0.005, 0.02, 0.05, 0.1, 0.5, 1, 5};

    s->m_rows = obs_counter(m, "ems_ingester_rows_written_total",
                            "Readings stored in measurements (new rows).", NULL);
    s->m_dup = obs_counter(m, "ems_ingester_duplicates_total",
                           "Readings already stored (replays, redeliveries).", NULL);
    s->m_rejected = obs_counter(m, "ems_ingester_rejected_total",
                                "Records sent to the DLQ by validation, and counter "
                                "glitches left out of the rollups.",
                                NULL);
    s->m_resets =
        obs_counter(m, "ems_ingester_meter_resets_total",
                    "Energy counter resets or meter replacements confirmed.", NULL);
    s->m_closed = obs_counter(m, "ems_ingester_rollups_closed_total",
                              "Intervals closed (revision 0), meter and site.", NULL);
    s->m_corr = obs_counter(m, "ems_ingester_rollups_corrected_total",
                            "Intervals republished after late data.", NULL);
    s->m_late =
        obs_counter(m, "ems_ingester_too_late_total",
                    "Readings beyond the correction horizon (stored only).", NULL);
    s->m_redis_err =
        obs_counter(m, "ems_ingester_redis_errors_total", "Failed Redis writes.", NULL);
    s->m_db_err = obs_counter(m, "ems_ingester_db_errors_total",
                              "Failed database transactions (retried).", NULL);
    s->m_results = obs_counter(m, "ems_ingester_results_stored_total",
                               "Result records stored (or already stored).", NULL);
    s->m_archived =
        obs_counter(m, "ems_ingester_partitions_archived_total",
                    "Measurement partitions archived and dropped by retention.", NULL);
    s->m_ret_busy = obs_counter(m, "ems_ingester_retention_skipped_total",
                                "Retention checks skipped because another ingester "
                                "of the database was archiving.",
                                NULL);
    s->m_restores = obs_counter(m, "ems_ingester_site_restores_total",
                                "Sites whose rollup state was rebuilt from PostgreSQL "
                                "(first seen after a start, a failed write or a "
                                "rebalance).",
                                NULL);
    s->m_slow_rd = obs_counter(m, "ems_ingester_slow_path_total",
                               "Transactions that met a row stored before: "
                               "readings through the staging table, or intervals "
                               "upserted with their coarse buckets recomputed.",
                               "kind=readings");
    s->m_slow_iv = obs_counter(m, "ems_ingester_slow_path_total",
                               "Transactions that met a row stored before: "
                               "readings through the staging table, or intervals "
                               "upserted with their coarse buckets recomputed.",
                               "kind=rollups");
    s->m_gaps = obs_gauge(m, "ems_ingester_gaps_open", "Gaps currently ongoing.", NULL);
    s->m_batch = obs_histogram(m, "ems_ingester_batch_rows", "Records per batch.", NULL,
                               sizes, 7);
    s->m_latency =
        obs_histogram(m, "ems_ingester_batch_seconds",
                      "Time to store, publish and ack one batch.", NULL, secs, 8);
    for (int i = 0; i < ST_N; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "stage=%s", stage_names[i]);
        s->m_stage[i] = obs_counter(
            m, "ems_ingester_stage_seconds_total",
            "Seconds spent per pipeline stage (copy is summed over the writer "
            "sessions, which run concurrently).",
            labels);
    }
}

/* Adds the time since *t to stage st and moves *t to now. */
void ing_stage(ing_service_t *s, ing_stage_t st, double *t)
{
    double now = ems_mono_s();
    obs_counter_add(s->m_stage[st], now - *t);
    *t = now;
}

/* The ring of batches, each with arrays for batch_rows readings. */
static int alloc_slots(ing_service_t *s)
{
    size_t rows = (size_t)s->conf.batch_rows;

    /* two batches ahead of the writers: they keep copying while this
     * thread stores the rollups */
    s->nslots = (int)s->conf.writers + 2;
    if (!(s->slots = calloc((size_t)s->nslots, sizeof *s->slots)) ||
        !(s->rec_of = calloc(rows, sizeof *s->rec_of)))
        return -1;
    for (int i = 0; i < s->nslots; i++)
        if (!(s->slots[i].rd = calloc(rows, sizeof *s->slots[i].rd)) ||
            !(s->slots[i].is_new = calloc(rows, 1)))
            return -1;
    return 0;
}

static void free_slots(ing_service_t *s)
{
    for (int i = 0; s->slots && i < s->nslots; i++) {
        free(s->slots[i].rd);
        free(s->slots[i].is_new);
        bus_offsets_destroy(s->slots[i].offs);
    }
    free(s->slots);
    free(s->rec_of);
    s->slots = NULL, s->rec_of = NULL, s->nslots = 0;
}

static int open_results(ing_service_t *s, char *errstr, size_t errstr_size)
{
    char group[256];

    if (s->conf.results_group_id && *s->conf.results_group_id)
        snprintf(group, sizeof group, "%s", s->conf.results_group_id);
    else
        snprintf(group, sizeof group, "%s-results", s->conf.group_id);
    if (!(s->rrej = calloc((size_t)s->conf.results_batch, sizeof *s->rrej))) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    s->rcons = bus_consumer_new(svc_bus(s->svc), group, ing_results_topics,
                                ING_RESULTS_NTOPICS, errstr, errstr_size);
    return s->rcons ? 0 : -1;
}

int ing_service_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size)
{
    ing_service_t *s = ctx;
    /* intervals are aligned to the epoch and rolled up by the hour: one
     * that does not divide an hour (7m, 40m) would straddle two hours and
     * count wholly in one */
    if (3600000 % s->conf.interval_ms != 0) {
        snprintf(errstr, errstr_size,
                 "ingester.interval: %lld ms does not divide an hour (1m, 5m, 15m, "
                 "30m, 1h...)",
                 (long long)s->conf.interval_ms);
        return -1;
    }
    const char *topics[] = {ING_TOPIC_TELEMETRY};
    db_conf_t dbc = {.conninfo = s->conf.db_conninfo,
                     .user = s->conf.db_user,
                     .password = s->conf.db_password,
                     .attempts = (int)s->conf.db_attempts};
    ing_rollup_conf_t rc = {.interval_ms = s->conf.interval_ms,
                            .lateness_ms = s->conf.lateness_ms,
                            .horizon_ms = s->conf.horizon_ms,
                            .sample_period_ms = s->conf.sample_period_ms,
                            .accept_unknown = s->conf.accept_unknown,
                            .reset_confirm = (int)s->conf.reset_confirm};
    ing_writer_redis_t wr = {.addr = s->conf.redis_addr,
                             .password = s->conf.redis_password,
                             .prefix = s->conf.redis_prefix,
                             .ttl_ms = s->conf.redis_ttl_ms};
    char err[512], sql[96];
    int applied = 0;

    s->svc = svc;
    init_metrics(s, svc_metrics(svc));
    if (!(s->db = db_connect(&dbc, errstr, errstr_size)))
        return -1;
    if (ing_migrate(s->db, s->conf.migrations_dir, &applied, errstr, errstr_size))
        goto fail;
    log_info("migrate", "%d migration(s) applied", applied);
    snprintf(sql, sizeof sql, "SELECT ems_ensure_partitions_ahead(%d)",
             (int)s->conf.partitions_ahead);
    if (db_exec(s->db, sql, errstr, errstr_size))
        goto fail;
    s->pg = ing_pg_new(s->db);
    s->roll = ing_rollup_new(&rc);
    if (!s->pg || !s->roll || alloc_slots(s) || register_meters(s, svc_plant(svc))) {
        snprintf(errstr, errstr_size, "out of memory (or a meter in two sites)");
        goto fail;
    }
    if (s->conf.redis_enabled &&
        !(s->redis = ing_redis_new(s->conf.redis_addr, s->conf.redis_password,
                                   s->conf.redis_prefix, s->conf.redis_ttl_ms))) {
        snprintf(errstr, errstr_size, "redis.addr '%s': expected host:port",
                 s->conf.redis_addr);
        goto fail;
    }
    if (!(s->writer = ing_writer_new(&dbc, s->redis ? &wr : NULL, (int)s->conf.writers,
                                     errstr, errstr_size)) ||
        !(s->outw = ing_writer_new(&dbc, NULL, 1, errstr, errstr_size)))
        goto fail;
    if (!(s->cons = bus_consumer_new(svc_bus(svc), s->conf.group_id, topics, 1, errstr,
                                     errstr_size)))
        goto fail;
    bus_consumer_export_lag(s->cons);
    if (s->conf.results_enabled && open_results(s, errstr, errstr_size))
        goto fail;
    if (s->rcons)
        bus_consumer_export_lag(s->rcons);
    if (svc_add_check(svc, "postgres", db_ready, s->db, errstr, errstr_size) ||
        (s->redis &&
         svc_add_check(svc, "redis", ing_redis_check, s->redis, err, sizeof err)))
        goto fail;
    return 0;
fail:
    ing_service_shutdown(svc, s);
    return -1;
}

void ing_db_failed(ing_service_t *s, const char *what, const char *err)
{
    char e2[256];
    obs_counter_inc(s->m_db_err);
    if (!s->db_down)
        log_error("ingester", "%s: %s (holding the batch, retrying)", what, err);
    s->db_down = 1;
    if (db_check(s->db, e2, sizeof e2) == 0)
        ing_pg_reset(s->pg);
    else {
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void reject(ing_service_t *s, bus_consumer_t *c, const bus_record_t *rec,
                   const char *reason)
{
    char err[256];

    obs_counter_inc(s->m_rejected);
    if (bus_consumer_reject(c, rec, reason, err, sizeof err))
        log_error("ingester", "dead-lettering a record failed: %s", err);
    log_debug("ingester", "rejected %s[%d]@%lld: %s", rec->topic, rec->partition,
              (long long)rec->offset, reason);
}

/* Decodes and validates one record into b; 0 = kept, -1 = rejected.
 * Records of the local schema are read by the hand-written decoder, any
 * other writer schema through the generic value the bus decoded. */
static int take_record(ing_service_t *s, slot_t *b, const bus_record_t *rec, int idx,
                       int64_t now)
{
    ing_validate_conf_t vc = {.min_ts_ms = ING_MIN_TS_DEFAULT,
                              .max_future_ms = s->conf.max_future_ms};
    ing_reading_t *r = &b->rd[b->n];
    char reason[256];
    avro_value_t v = rec->value;
    int rc;

    if (rec->native)
        rc = ing_fastdec_reading((const char *)rec->raw + BUS_WIRE_HEADER_LEN,
                                 rec->raw_len - BUS_WIRE_HEADER_LEN, r, reason,
                                 sizeof reason);
    else
        rc = ing_codec_reading(&v, r, reason, sizeof reason);
    if (rc == 0 && ing_validate_reading(r, &vc, now, reason, sizeof reason) == 0) {
        s->rec_of[b->n++] = idx;
        return 0;
    }
    reject(s, s->cons, rec, reason);
    return -1;
}

/* Logs and counts what the counter check decided about a fallen counter.
 * A glitch's readings are stored already (what the meter sent) and are
 * never rolled up: they count as rejected, and the records kept since the
 * candidate (ing_held.c) are dead-lettered. */
static void note_reset(ing_service_t *s, const ing_reading_t *rd,
                       const bus_record_t *rec, const char *what)
{
    size_t sent = ing_held_note(s, rd, rec, what);

    if (rd->reset == ING_RESET_CONFIRM) {
        obs_counter_inc(s->m_resets);
        log_info("ingester", "meter '%s' of site '%s': %s", rd->meter_id, rd->site_id,
                 what);
    } else if (rd->reset == ING_RESET_GLITCH) {
        obs_counter_add(s->m_rejected,
                        (double)ing_rollup_glitch_readings(s->roll, rd->meter_id));
        log_warn("ingester", "meter '%s' of site '%s': %s; %zu dead-lettered",
                 rd->meter_id, rd->site_id, what, sent);
    }
}

/* The checks that need the meters' state (known meter, its site, counter
 * monotonicity), once the batch's sites are restored. Batches are checked
 * in poll order, before the earlier ones are stored: the check keeps its
 * own counter state. */
static void check_batch(ing_service_t *s, slot_t *b)
{
    char reason[256];
    size_t keep = 0;

    for (size_t i = 0; i < b->n; i++) {
        if (ing_rollup_check(s->roll, &b->rd[i], reason, sizeof reason)) {
            reject(s, s->cons, &s->recs[s->rec_of[i]], reason);
            continue;
        }
        note_reset(s, &b->rd[i], &s->recs[s->rec_of[i]], reason);
        if (keep != i)
            b->rd[keep] = b->rd[i];
        keep++;
    }
    b->n = keep;
}

/* Restores from the database every site of the batch the rollups do not
 * hold yet. 0, or -1 (database error, logged; retry later). A site new to
 * this batch is in no batch still being written. */
static int restore_sites(ing_service_t *s, const slot_t *b)
{
    int64_t window = s->conf.lateness_ms + s->conf.horizon_ms + 2 * s->conf.interval_ms;
    const char *prev = "";
    char err[512];

    for (size_t i = 0; i < b->n; i++) {
        const char *site = b->rd[i].site_id;
        int64_t loaded = 0;
        size_t held;
        if (strcmp(site, prev) == 0 || ing_rollup_restored(s->roll, site))
            continue;
        prev = site;
        held = ing_out_held(s);
        if (ing_recover_site(s->db, s->roll, site, window, &loaded, err, sizeof err)) {
            ing_db_failed(s, "restoring rollups", err);
            return -1;
        }
        /* intervals the database lacked: rebuilt, so their coarse buckets
         * are recomputed from the children rather than added to */
        if (ing_out_held(s) > held)
            s->out_recompute = true;
        obs_counter_inc(s->m_restores);
        log_info("ingester", "site '%s' restored from %lld stored readings", site,
                 (long long)loaded);
    }
    return 0;
}

/* After a failed write the outcome is unknown (a COMMIT may have landed):
 * the batch's sites are rebuilt from the database before the retry. */
static void forget_batch_sites(ing_service_t *s, const slot_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (ing_rollup_restored(s->roll, b->rd[i].site_id))
            ing_rollup_forget_site(s->roll, b->rd[i].site_id);
}

static slot_t *slot_at(ing_service_t *s, int k)
{
    return &s->slots[(s->head + k) % s->nslots];
}

/* Notes the partition each site of the polled batch arrived on, so that a
 * rebalance forgets only the sites of the partitions it took away. Before
 * the checks, which compact the batch (rec_of no longer matches then). */
static void note_partitions(ing_service_t *s, const slot_t *b)
{
    const char *prev = NULL;
    int32_t prev_part = -1;

    for (size_t i = 0; i < b->n; i++) {
        int32_t part = s->recs[s->rec_of[i]].partition;
        if (prev && part == prev_part && strcmp(b->rd[i].site_id, prev) == 0)
            continue;
        prev = b->rd[i].site_id;
        prev_part = part;
        if (ing_rollup_note_partition(s->roll, prev, part))
            log_error("ingester", "out of memory in the rollups");
    }
}

typedef struct revoked_ctx {
    const bus_consumer_t *cons;
    uint64_t since; /* the revocation count when the sites were last settled */
} revoked_ctx_t;

static bool partition_revoked(int32_t partition, void *ctx)
{
    const revoked_ctx_t *rc = ctx;
    return bus_consumer_revoked_since(rc->cons, rc->since, ING_TOPIC_TELEMETRY,
                                      partition) != 0;
}

/* Partitions were taken away in a rebalance: another instance may have
 * consumed the sites of those partitions meanwhile, and the in-memory state
 * of such a site (open intervals, watermark, gaps, counters) would then
 * close intervals without the readings it did not see. Once every batch in
 * flight is fed and the held outputs are stored, the sites seen on a
 * partition taken away are forgotten: each is restored from PostgreSQL
 * when it next comes. The sites of the partitions kept were consumed here
 * only and stay in memory. Returns true while batches are still being
 * written. */
static bool settle_rebalance(ing_service_t *s)
{
    revoked_ctx_t ctx = {.cons = s->cons, .since = s->revocations};
    size_t n;

    if (s->count > 0) {
        ing_writer_wait(s->writer, &slot_at(s, 0)->job, 100);
        return true;
    }
    ing_out_drain(s);
    s->revocations = bus_consumer_revocations(s->cons);
    n = ing_rollup_forget_moved(s->roll, partition_revoked, &ctx);
    ing_held_forget_moved(s, partition_revoked, &ctx);
    s->rebalanced = false;
    log_info("ingester",
             "partitions were taken away: %zu site(s) seen on them are restored from "
             "PostgreSQL when they next come",
             n);
    return false;
}

/* Offsets of fed batches wait with the outputs and are committed once
 * those are stored (ing_out_start, ing_out_finish). NULL is a no-op. */
static void hold_offsets(ing_service_t *s, bus_offsets_t *o)
{
    if (!o)
        return;
    if (!s->held)
        s->held = o;
    else {
        bus_offsets_merge(s->held, o);
        bus_offsets_destroy(o);
    }
    if (!s->pending)
        s->pending_t0 = ems_mono_s();
    s->pending = true;
}

/* The polled batch: sites restored, checked (rejects dead-lettered), its
 * offsets taken, then handed to a writer. While the database cannot
 * restore, it stays prepared and is retried without polling. */
static void submit_prepared(ing_service_t *s)
{
    slot_t *b = slot_at(s, s->count);
    double t = ems_mono_s();

    if (s->rebalanced && settle_rebalance(s))
        return;
    if (restore_sites(s, b))
        return;
    note_partitions(s, b);
    check_batch(s, b);
    b->job.n = b->n; /* the readings the checks kept, no more */
    b->offs = bus_consumer_take_offsets(s->cons);
    ing_stage(s, ST_CHECK, &t);
    ing_writer_submit(s->writer, &b->job);
    s->prep = false;
    s->count++;
}

static int poll_batch(ing_service_t *s)
{
    slot_t *b = slot_at(s, s->count);
    bus_record_t *recs = NULL;
    char err[512];
    double t = ems_mono_s();
    bool wait = s->count == 0 && !s->obusy;
    /* while batches or outputs are being written a short wait: no
     * spinning on an empty queue, and finished writes are collected (and
     * offsets committed) soon */
    int got = bus_consumer_poll_lazy(s->cons, &recs, (int)s->conf.batch_rows,
                                     wait ? (int)s->conf.batch_ms : POLL_BUSY_MS, err,
                                     sizeof err);
    int64_t now = ems_wall_ms();

    ing_stage(s, got > 0 ? ST_POLL : ST_IDLE, &t);
    /* s->revocations moves on when the sites are settled: the revocations
     * since tell which partitions were taken away */
    if (bus_consumer_revocations(s->cons) != s->revocations)
        s->rebalanced = true;
    if (got < 0) {
        log_error("ingester", "consume: %s", err);
        return -1;
    }
    /* caught up: nothing more was fetched, or a waiting poll did not
     * fill a batch; a short poll that found records means more may come */
    s->caught_up = got == 0 || (wait && got < (int)s->conf.batch_rows);
    if (got == 0) {
        /* everything fetched was dead-lettered: with no batch in flight
         * (whose offsets come first) its offsets are held like a stored
         * batch's, so a restart does not dead-letter it again */
        if (s->count == 0 && !s->prep && bus_consumer_unacked(s->cons))
            hold_offsets(s, bus_consumer_take_offsets(s->cons));
        return 0;
    }
    s->recs = recs;
    b->n = 0;
    for (int i = 0; i < got; i++)
        take_record(s, b, &recs[i], i, now);
    b->job = (ing_job_t){.rd = b->rd, .n = b->n, .is_new = b->is_new};
    ing_stage(s, ST_DECODE, &t);
    obs_histogram_observe(s->m_batch, got);
    s->prep = true;
    submit_prepared(s);
    return 0;
}

/* A stored batch (readings committed, latest values in Redis): the
 * rollups (new readings only), its outputs published, its offsets held
 * until the outputs are stored. Returns -1 only when publishing failed
 * (fatal). */
static int feed(ing_service_t *s, slot_t *b)
{
    double t = ems_mono_s();

    obs_counter_add(s->m_rows, (double)b->job.inserted);
    obs_counter_add(s->m_dup, (double)((int64_t)b->n - b->job.inserted));
    obs_counter_add(s->m_stage[ST_COPY], b->job.seconds);
    if (b->job.slow_path)
        obs_counter_inc(s->m_slow_rd);
    obs_counter_add(s->m_stage[ST_REDIS], b->job.redis_seconds);
    if (b->job.redis_err[0]) {
        obs_counter_inc(s->m_redis_err);
        log_warn("ingester", "%s", b->job.redis_err);
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->is_new[i] && ing_rollup_add(s->roll, &b->rd[i]) == ING_ADD_ERROR)
            log_error("ingester", "out of memory in the rollups");
    if (ing_rollup_advance(s->roll))
        log_error("ingester", "out of memory in the rollups");
    ing_stage(s, ST_ROLLUP, &t);
    if (ing_out_publish(s))
        return -1;
    ing_stage(s, ST_PUBLISH, &t);
    hold_offsets(s, b->offs);
    b->offs = NULL;
    s->head = (s->head + 1) % s->nslots;
    s->count--;
    return 0;
}

/* A write failed: wait for the other writers, store the outputs held, and
 * recover the batches not fed yet (recover_step). */
static void enter_recovery(ing_service_t *s, const char *err)
{
    ing_db_failed(s, "storing readings", err);
    for (int k = 0; k < s->count; k++)
        while (!ing_writer_wait(s->writer, &slot_at(s, k)->job, 1000))
            ;
    /* The restore reads the stored rollups, so the outputs of the batches
     * fed so far are stored first, the held ones too: forgetting a site
     * drops its held outputs, and the restore would then start after
     * them (their intervals were missing for good). */
    ing_out_drain(s);
    s->recovering = true;
    s->rec_sites_forgotten = false;
}

/* Stores again, in order, every batch of the ring whose write failed (the
 * staging path tells which readings are new). 0, or -1 (database error,
 * logged; retry later). */
static int store_failed_batches(ing_service_t *s)
{
    char err[512];

    for (int k = 0; k < s->count; k++) {
        slot_t *b = slot_at(s, k);
        if (b->job.rc == 0)
            continue;
        if (ing_pg_store_readings(s->pg, b->rd, b->n, b->is_new, &b->job.inserted, err,
                                  sizeof err)) {
            ing_db_failed(s, "storing readings", err);
            return -1;
        }
        b->job.rc = 0, b->job.seconds = 0, b->job.redis_seconds = 0;
        b->job.redis_err[0] = '\0';
        if (s->redis && b->job.inserted &&
            ing_redis_write(s->redis, b->rd, b->is_new, b->n, b->job.redis_err,
                            sizeof b->job.redis_err))
            log_debug("ingester", "redis during recovery: %s", b->job.redis_err);
    }
    return 0;
}

/* The batches of a failed write. Any of them may or may not have landed (a
 * COMMIT whose answer was lost), and with several writer sessions a later
 * batch may be stored before an earlier one failed. So every batch is
 * stored first; then their sites are forgotten and restored from the
 * database, which now holds every reading of the ring, and the batches are
 * fed without adding their readings again (the restore has them). Restoring
 * before a failed batch is stored would take its readings as late ones
 * behind a watermark set by the later batches, and drop those beyond the
 * correction horizon. Returns -1 only on a fatal publishing error. */
static int recover_step(ing_service_t *s)
{
    if (store_failed_batches(s))
        return 0;
    if (!s->rec_sites_forgotten) {
        for (int k = 0; k < s->count; k++)
            forget_batch_sites(s, slot_at(s, k));
        s->rec_sites_forgotten = true;
    }
    for (int k = 0; k < s->count; k++)
        if (restore_sites(s, slot_at(s, k)))
            return 0;
    while (s->count > 0) {
        slot_t *b = slot_at(s, 0);
        memset(b->is_new, 0, b->n); /* in the restored state already */
        if (feed(s, b))
            return -1;
    }
    s->recovering = false;
    log_info("ingester", "database back: held batches stored");
    return 0;
}

/* Feeds the stored batches at the head of the ring, in order. Returns -1
 * on a fatal error; enters recovery on a failed write. */
static int collect(ing_service_t *s)
{
    while (s->count > 0 && ing_writer_done(s->writer, &slot_at(s, 0)->job)) {
        slot_t *b = slot_at(s, 0);
        if (b->job.rc) {
            enter_recovery(s, b->job.err);
            return 0;
        }
        if (feed(s, b))
            return -1;
    }
    return 0;
}

/* One batch of result records: polled without waiting, stored, then the
 * refused ones dead-lettered and the batch acked. Held and retried while
 * the database fails. */
static int results_step(ing_service_t *s)
{
    char err[512];
    int nrej = 0;

    if (!s->rn) {
        int got = bus_consumer_poll(s->rcons, &s->rrecs, (int)s->conf.results_batch, 0,
                                    err, sizeof err);
        if (got < 0) {
            log_error("ingester", "consume results: %s", err);
            return -1;
        }
        s->rn = got;
    }
    if (!s->rn) {
        /* all dead-lettered: acked now, not again after a restart */
        if (bus_consumer_unacked(s->rcons) &&
            bus_consumer_ack(s->rcons, err, sizeof err))
            log_warn("ingester", "ack results: %s", err);
        return 0;
    }
    if (ing_results_store(s->db, s->rrecs, s->rn, s->rrej, &nrej, err, sizeof err)) {
        ing_db_failed(s, "storing results", err);
        return 0;
    }
    for (int i = 0; i < nrej; i++)
        reject(s, s->rcons, &s->rrecs[s->rrej[i].idx], s->rrej[i].reason);
    obs_counter_add(s->m_results, (double)(s->rn - nrej));
    if (bus_consumer_ack(s->rcons, err, sizeof err))
        log_warn("ingester", "ack results: %s", err);
    s->rn = 0;
    return 0;
}

/* Archives and drops the partitions past the retention, when due. A
 * failure is logged and retried at the next check. */
static void retention_step(ing_service_t *s)
{
    char err[512];
    int dropped = 0, rc;

    if (!s->conf.retention_days || ems_mono_s() < s->next_retention)
        return;
    s->next_retention = ems_mono_s() + (double)s->conf.retention_check_ms / 1000.0;
    rc = ing_retention_run(s->db, s->conf.retention_days, s->conf.archive_dir,
                           ems_wall_ms(), &dropped, err, sizeof err);
    if (rc == 1) { /* another instance holds the retention lock */
        obs_counter_add(s->m_ret_busy, 1);
        log_debug("retention", "another ingester is archiving; next check later");
        return;
    }
    if (dropped) {
        ing_pg_reset(s->pg); /* its partition cache names dropped months */
        obs_counter_add(s->m_archived, dropped);
        log_info("retention",
                 "%d measurement partition(s) archived to '%s' and dropped", dropped,
                 s->conf.archive_dir);
    }
    if (rc)
        log_error("retention", "%s (retrying at the next check)", err);
}

/* Nothing is being written: results and retention may use the session. */
static int idle_work(ing_service_t *s)
{
    if (s->count || s->prep || s->pending || s->obusy)
        return 0;
    retention_step(s);
    return s->rcons ? results_step(s) : 0;
}

int ing_service_step(svc_t *svc, void *ctx)
{
    ing_service_t *s = ctx;
    double t;
    (void)svc;

    /* before any restore or feed: the watermarks stop at the clock */
    ing_rollup_set_clock(s->roll, ems_wall_ms());
    if (s->obusy && ing_out_done(s))
        ing_out_finish(s);
    if (s->recovering)
        return recover_step(s);
    if (collect(s))
        return -1;
    if (s->recovering)
        return 0;
    if (s->pending && !s->obusy && ing_out_flush_due(s) && ing_out_start(s))
        return -1;
    if (s->obusy && ing_out_held(s) >= PENDING_OUTPUTS_MAX) {
        /* the outputs store is behind: no more batches until it is done */
        t = ems_mono_s();
        ing_writer_wait(s->outw, &s->ojob, 100);
        ing_stage(s, ST_WAIT, &t);
        return 0;
    }
    if (s->prep) {
        submit_prepared(s);
        return 0;
    }
    if (idle_work(s))
        return -1;
    if (s->count < s->nslots)
        return poll_batch(s);
    t = ems_mono_s();
    ing_writer_wait(s->writer, &slot_at(s, 0)->job, 100);
    ing_stage(s, ST_WAIT, &t);
    return 0;
}

void ing_service_shutdown(svc_t *svc, void *ctx)
{
    ing_service_t *s = ctx;
    (void)svc;

    /* batches being written: wait, feed the stored ones in order, then
     * store the held outputs and ack */
    for (int k = 0; s->writer && k < s->count; k++)
        while (!ing_writer_wait(s->writer, &slot_at(s, k)->job, 1000))
            ;
    if (s->writer && !s->recovering)
        collect(s);
    if (s->outw && s->cons && !s->recovering)
        ing_out_drain(s);
    ing_writer_destroy(s->writer);
    ing_writer_destroy(s->outw);
    bus_offsets_destroy(s->ooffs);
    free(s->oiv);
    free(s->og);
    s->outw = NULL, s->ooffs = NULL, s->oiv = NULL, s->og = NULL, s->obusy = false;
    s->oivcap = s->ogcap = 0;
    bus_offsets_destroy(s->held);
    if (s->v_load_made)
        avro_value_decref(&s->v_load);
    if (s->v_gap_made)
        avro_value_decref(&s->v_gap);
    s->v_load_made = s->v_gap_made = false;
    bus_consumer_destroy(s->cons); /* unacked offsets stay uncommitted */
    bus_consumer_destroy(s->rcons);
    free(s->rrej);
    ing_held_release(s);
    s->rcons = NULL, s->rrej = NULL, s->rn = 0, s->held = NULL, s->writer = NULL;
    ing_redis_destroy(s->redis);
    ing_rollup_destroy(s->roll);
    ing_pg_destroy(s->pg);
    db_close(s->db);
    free_slots(s);
    s->cons = NULL, s->redis = NULL, s->roll = NULL, s->pg = NULL, s->db = NULL;
}
