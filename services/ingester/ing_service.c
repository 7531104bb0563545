/*
 * ing_service: batch pipeline of the ingester (see ing_service.h).
 */
#include "ingester/ing_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "ingester/ing_archive.h"
#include "ingester/ing_codec.h"
#include "ingester/ing_migrate.h"
#include "ingester/ing_pg.h"
#include "ingester/ing_recover.h"
#include "ingester/ing_redis.h"
#include "ingester/ing_results.h"
#include "ingester/ing_rollup.h"
#include "ingester/ing_validate.h"
#include "log/log.h"

#define OFF(f) offsetof(ing_conf_t, f)

const cfg_option_t ing_options[] = {
    {.section = "ingester",
     .key = "group_id",
     .type = CFG_STRING,
     .def = "ingester",
     .offset = OFF(group_id),
     .desc = "Kafka consumer group of the ingesters."},
    {.section = "ingester",
     .key = "interval",
     .type = CFG_DURATION_MS,
     .def = "15m",
     .min = 60000,
     .max = 3600000,
     .offset = OFF(interval_ms),
     .desc = "Rollup interval published on energy.load."},
    {.section = "ingester",
     .key = "lateness",
     .type = CFG_DURATION_MS,
     .def = "5m",
     .min = 0,
     .max = 86400000,
     .offset = OFF(lateness_ms),
     .desc = "Allowed lateness: the watermark is the latest event time minus this."},
    {.section = "ingester",
     .key = "correction_horizon",
     .type = CFG_DURATION_MS,
     .def = "24h",
     .min = 900000,
     .max = 7 * 86400000.0,
     .offset = OFF(horizon_ms),
     .desc = "How long closed intervals stay correctable by late readings."},
    {.section = "ingester",
     .key = "sample_period",
     .type = CFG_DURATION_MS,
     .def = "1m",
     .min = 100,
     .max = 3600000,
     .offset = OFF(sample_period_ms),
     .desc =
         "Expected reading period of meters not in the plant model (completeness)."},
    {.section = "ingester",
     .key = "max_future",
     .type = CFG_DURATION_MS,
     .def = "24h",
     .min = 1000,
     .max = 365 * 86400000.0,
     .offset = OFF(max_future_ms),
     .desc = "Readings further ahead of the clock are rejected to the DLQ."},
    {.section = "ingester",
     .key = "batch_rows",
     .type = CFG_INT,
     .def = "20000",
     .min = 1,
     .max = 200000,
     .offset = OFF(batch_rows),
     .desc = "Most records per database batch."},
    {.section = "ingester",
     .key = "batch_time",
     .type = CFG_DURATION_MS,
     .def = "200ms",
     .min = 1,
     .max = 10000,
     .offset = OFF(batch_ms),
     .desc = "Longest wait for a batch to fill."},
    {.section = "ingester",
     .key = "rollup_flush",
     .type = CFG_DURATION_MS,
     .def = "1s",
     .min = 0,
     .max = 60000,
     .offset = OFF(rollup_flush_ms),
     .desc = "While the consumer is behind (full batches), closed intervals and "
             "gaps of several batches are stored in one transaction at most this "
             "often (0 = after every batch); offsets are acked after it."},
    {.section = "ingester",
     .key = "accept_unknown_meters",
     .type = CFG_BOOL,
     .def = "true",
     .offset = OFF(accept_unknown),
     .desc = "Accept meters missing from the plant model (counted in their site)."},
    {.section = "ingester",
     .key = "migrations_dir",
     .type = CFG_STRING,
     .def = "services/ingester/migrations",
     .offset = OFF(migrations_dir),
     .desc = "Directory of the versioned SQL migrations applied at start."},
    {.section = "ingester",
     .key = "partitions_ahead",
     .type = CFG_INT,
     .def = "3",
     .min = 0,
     .max = 36,
     .offset = OFF(partitions_ahead),
     .desc = "Monthly measurement partitions created ahead of the current month."},
    {.section = "db",
     .key = "conninfo",
     .type = CFG_SECRET,
     .required = true,
     .offset = OFF(db_conninfo),
     .desc = "libpq connection string of the writer role (\"file:/path\" reads it)."},
    {.section = "db",
     .key = "attempts",
     .type = CFG_INT,
     .def = "10",
     .min = 1,
     .max = 1000,
     .offset = OFF(db_attempts),
     .desc = "Connection attempts at start-up and per reconnect."},
    {.section = "redis",
     .key = "addr",
     .type = CFG_STRING,
     .def = "127.0.0.1:16379",
     .offset = OFF(redis_addr),
     .desc = "Redis host:port for latest values."},
    {.section = "redis",
     .key = "prefix",
     .type = CFG_STRING,
     .def = "ems:ingester:",
     .offset = OFF(redis_prefix),
     .desc = "Key prefix of the ingester in Redis."},
    {.section = "redis",
     .key = "ttl",
     .type = CFG_DURATION_MS,
     .def = "15m",
     .min = 1000,
     .max = 30 * 86400000.0,
     .offset = OFF(redis_ttl_ms),
     .desc = "Time to live of the latest values."},
    {.section = "redis",
     .key = "enabled",
     .type = CFG_BOOL,
     .def = "true",
     .offset = OFF(redis_enabled),
     .desc = "Write latest values to Redis."},
    {.section = "ingester",
     .key = "results",
     .type = CFG_BOOL,
     .def = "true",
     .offset = OFF(results_enabled),
     .desc = "Store the result topics (forecast, prices, purchases, schedule, "
             "recommendations, alerts, reports) in their tables."},
    {.section = "ingester",
     .key = "results_group_id",
     .type = CFG_STRING,
     .def = "",
     .offset = OFF(results_group_id),
     .desc = "Consumer group of the result topics; empty = <group_id>-results."},
    {.section = "ingester",
     .key = "results_batch",
     .type = CFG_INT,
     .def = "500",
     .min = 1,
     .max = 10000,
     .offset = OFF(results_batch),
     .desc = "Most result records per database transaction."},
    {.section = "ingester",
     .key = "retention_days",
     .type = CFG_INT,
     .def = "1095",
     .min = 0,
     .max = 36500,
     .offset = OFF(retention_days),
     .desc = "Measurement months that ended more than this many days ago are "
             "archived and dropped (rollups are kept); 0 keeps everything."},
    {.section = "ingester",
     .key = "archive_dir",
     .type = CFG_STRING,
     .def = "var/archive",
     .offset = OFF(archive_dir),
     .desc = "Directory of the measurement archives (gzip CSV and .sha256)."},
    {.section = "ingester",
     .key = "retention_check",
     .type = CFG_DURATION_MS,
     .def = "1h",
     .min = 1000,
     .max = 7 * 86400000.0,
     .offset = OFF(retention_check_ms),
     .desc = "How often retention looks for partitions to archive."},
    CFG_END,
};

/* A batch goes IDLE -> READINGS (stored) -> PUBLISH (its new intervals and
 * gaps enqueued) -> IDLE with its outputs pending, or -> OUTPUTS (producer
 * flushed, the pending outputs of every batch since the last ack stored,
 * then the ack) -> IDLE. */
typedef enum { PH_IDLE = 0, PH_READINGS, PH_PUBLISH, PH_OUTPUTS } phase_t;

/* Most outputs held before they are stored whatever the time. */
#define PENDING_OUTPUTS_MAX 100000

struct ing_service {
    ing_conf_t conf;
    svc_t *svc;
    bus_consumer_t *cons;
    db_t *db;
    ing_pg_t *pg;
    ing_redis_t *redis;
    ing_rollup_t *roll;
    ing_reading_t *batch;
    unsigned char *is_new;
    int *rec_of;        /* batch[i] came from recs[rec_of[i]] */
    bus_record_t *recs; /* the polled records, valid until the next poll */
    size_t n;
    bool checked;          /* stateful checks done for the held batch */
    int got;               /* records of the last poll */
    bool pending;          /* stored batches whose outputs and ack are due */
    double pending_t0;     /* mono_s() of the oldest of them */
    size_t pub_iv, pub_gap; /* outputs enqueued on the bus so far */
    bus_consumer_t *rcons; /* result topics */
    bus_record_t *rrecs;   /* held result batch (until stored and acked) */
    int rn;
    ing_result_reject_t *rrej;
    double next_retention; /* mono_s() of the next retention run */
    phase_t phase;
    int db_down;
    obs_counter_t *m_rows, *m_dup, *m_rejected, *m_closed, *m_corr, *m_late,
        *m_redis_err;
    obs_counter_t *m_db_err, *m_results, *m_archived;
    obs_gauge_t *m_gaps;
    obs_histogram_t *m_batch, *m_latency;
};

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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
                                "Records sent to the DLQ by validation.", NULL);
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
    s->m_gaps = obs_gauge(m, "ems_ingester_gaps_open", "Gaps currently ongoing.", NULL);
    s->m_batch = obs_histogram(m, "ems_ingester_batch_rows", "Records per batch.", NULL,
                               sizes, 7);
    s->m_latency =
        obs_histogram(m, "ems_ingester_batch_seconds",
                      "Time to store, publish and ack one batch.", NULL, secs, 8);
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
    const char *topics[] = {"energy.telemetry"};
    db_conf_t dbc = {.conninfo = s->conf.db_conninfo,
                     .attempts = (int)s->conf.db_attempts};
    ing_rollup_conf_t rc = {.interval_ms = s->conf.interval_ms,
                            .lateness_ms = s->conf.lateness_ms,
                            .horizon_ms = s->conf.horizon_ms,
                            .sample_period_ms = s->conf.sample_period_ms,
                            .accept_unknown = s->conf.accept_unknown};
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
    s->batch = calloc((size_t)s->conf.batch_rows, sizeof *s->batch);
    s->is_new = calloc((size_t)s->conf.batch_rows, 1);
    s->rec_of = calloc((size_t)s->conf.batch_rows, sizeof *s->rec_of);
    if (!s->pg || !s->roll || !s->batch || !s->is_new || !s->rec_of ||
        register_meters(s, svc_plant(svc))) {
        snprintf(errstr, errstr_size, "out of memory (or a meter in two sites)");
        goto fail;
    }
    if (s->conf.redis_enabled &&
        !(s->redis = ing_redis_new(s->conf.redis_addr, s->conf.redis_prefix,
                                   s->conf.redis_ttl_ms))) {
        snprintf(errstr, errstr_size, "redis.addr '%s': expected host:port",
                 s->conf.redis_addr);
        goto fail;
    }
    if (!(s->cons = bus_consumer_new(svc_bus(svc), s->conf.group_id, topics, 1, errstr,
                                     errstr_size)))
        goto fail;
    if (s->conf.results_enabled && open_results(s, errstr, errstr_size))
        goto fail;
    if (svc_add_check(svc, "postgres", db_ready, s->db, errstr, errstr_size) ||
        (s->redis &&
         svc_add_check(svc, "redis", ing_redis_check, s->redis, err, sizeof err)))
        goto fail;
    return 0;
fail:
    ing_service_shutdown(svc, s);
    return -1;
}

static void db_failed(ing_service_t *s, const char *what, const char *err)
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

/* Decodes and validates one record on its own; 0 = kept, -1 = rejected. */
static int take_record(ing_service_t *s, const bus_record_t *rec, int idx, int64_t now)
{
    ing_validate_conf_t vc = {.min_ts_ms = ING_MIN_TS_DEFAULT,
                              .max_future_ms = s->conf.max_future_ms};
    ing_reading_t *r = &s->batch[s->n];
    char reason[256];
    avro_value_t v = rec->value;

    if (ing_codec_reading(&v, r, reason, sizeof reason) == 0 &&
        ing_validate_reading(r, &vc, now, reason, sizeof reason) == 0) {
        s->rec_of[s->n++] = idx;
        return 0;
    }
    reject(s, s->cons, rec, reason);
    return -1;
}

/* The checks that need the meters' state (known meter, its site, counter
 * monotonicity), once the batch's sites are restored. */
static void check_batch(ing_service_t *s)
{
    char reason[256];
    size_t keep = 0;

    for (size_t i = 0; i < s->n; i++) {
        if (ing_rollup_check(s->roll, &s->batch[i], reason, sizeof reason)) {
            reject(s, s->cons, &s->recs[s->rec_of[i]], reason);
            continue;
        }
        if (keep != i) {
            s->batch[keep] = s->batch[i];
            s->rec_of[keep] = s->rec_of[i];
        }
        keep++;
    }
    s->n = keep;
    s->checked = true;
}

/* Restores from the database every site of the batch the rollups do not
 * hold yet. 0, or -1 (database error, logged; retry later). */
static int restore_sites(ing_service_t *s)
{
    int64_t window = s->conf.lateness_ms + s->conf.horizon_ms + 2 * s->conf.interval_ms;
    const char *prev = "";
    char err[512];

    for (size_t i = 0; i < s->n; i++) {
        const char *site = s->batch[i].site_id;
        int64_t loaded = 0;
        if (strcmp(site, prev) == 0 || ing_rollup_restored(s->roll, site))
            continue;
        prev = site;
        if (ing_recover_site(s->db, s->roll, site, window, &loaded, err, sizeof err)) {
            db_failed(s, "restoring rollups", err);
            return -1;
        }
        log_info("ingester", "site '%s' restored from %lld stored readings", site,
                 (long long)loaded);
    }
    return 0;
}

/* After a failed write the outcome is unknown (a COMMIT may have landed):
 * the batch's sites are rebuilt from the database before the retry. */
static void forget_batch_sites(ing_service_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (ing_rollup_restored(s->roll, s->batch[i].site_id))
            ing_rollup_forget_site(s->roll, s->batch[i].site_id);
}

static int poll_batch(ing_service_t *s)
{
    bus_record_t *recs = NULL;
    char err[512];
    int got = bus_consumer_poll(s->cons, &recs, (int)s->conf.batch_rows,
                                (int)s->conf.batch_ms, err, sizeof err);
    int64_t now = now_ms();

    if (got < 0) {
        log_error("ingester", "consume: %s", err);
        return -1;
    }
    s->n = 0;
    s->recs = recs;
    s->checked = false;
    s->got = got;
    for (int i = 0; i < got; i++)
        take_record(s, &recs[i], i, now);
    if (got > 0) {
        obs_histogram_observe(s->m_batch, got);
        s->phase = PH_READINGS;
    } else if (s->pending)
        s->phase = PH_OUTPUTS; /* caught up: store what is held */
    return 0;
}

static void store_readings(ing_service_t *s)
{
    char err[512];
    int64_t inserted = 0;
    ing_add_result_t res;

    if (restore_sites(s))
        return;
    if (!s->checked)
        check_batch(s);
    if (ing_pg_store_readings(s->pg, s->batch, s->n, s->is_new, &inserted, err,
                              sizeof err)) {
        db_failed(s, "storing readings", err);
        forget_batch_sites(s);
        return;
    }
    obs_counter_add(s->m_rows, (double)inserted);
    obs_counter_add(s->m_dup, (double)((int64_t)s->n - inserted));
    if (s->redis && inserted &&
        ing_redis_write(s->redis, s->batch, s->is_new, s->n, err, sizeof err)) {
        obs_counter_inc(s->m_redis_err);
        log_warn("ingester", "%s", err);
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->is_new[i] &&
            (res = ing_rollup_add(s->roll, &s->batch[i])) == ING_ADD_ERROR)
            log_error("ingester", "out of memory in the rollups");
    if (ing_rollup_advance(s->roll))
        log_error("ingester", "out of memory in the rollups");
    s->phase = PH_PUBLISH;
}

static void ack_batch(ing_service_t *s);

/* Waits for the delivery of the enqueued outputs, stores the outputs of
 * every batch since the last ack in one transaction, then acks them all.
 * Returns -1 only when publishing failed (fatal); a database error holds
 * the outputs and retries at the next step. */
static int store_outputs(ing_service_t *s)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;
    char err[512];

    ing_rollup_outputs(s->roll, &iv, &niv, &g, &ng);
    if ((niv || ng) &&
        bus_producer_flush(svc_producer(s->svc), 30000, err, sizeof err)) {
        log_error("ingester", "publishing rollups: %s", err);
        return -1;
    }
    if (ing_pg_store_outputs(s->pg, iv, niv, g, ng, err, sizeof err)) {
        db_failed(s, "storing rollups", err);
        return 0;
    }
    if (s->db_down)
        log_info("ingester", "database back: batch stored");
    s->db_down = 0;
    ack_batch(s);
    return 0;
}

/* Whether the held outputs are stored (and the batches acked) now: when
 * the consumer has caught up (a partial batch), after rollup_flush, or
 * when many are held. */
static bool flush_due(ing_service_t *s)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;

    ing_rollup_outputs(s->roll, &iv, &niv, &g, &ng);
    return s->got < (int)s->conf.batch_rows || s->conf.rollup_flush_ms == 0 ||
           (mono_s() - s->pending_t0) * 1000.0 >= (double)s->conf.rollup_flush_ms ||
           niv + ng >= PENDING_OUTPUTS_MAX;
}

static int publish_one(ing_service_t *s, const char *topic, const void *rec, int is_gap,
                       const char *key, int64_t ts)
{
    avro_value_t v;
    char err[512];
    int rc = -1;

    if (bus_value_new(svc_bus(s->svc), topic, &v, err, sizeof err))
        goto out;
    if (is_gap ? ing_codec_gap(rec, &v) : ing_codec_interval(rec, &v)) {
        snprintf(err, sizeof err, "record does not fit the schema");
        avro_value_decref(&v);
        goto out;
    }
    rc = bus_produce(svc_producer(s->svc), topic, key, &v, ts, err, sizeof err);
    avro_value_decref(&v);
out:
    if (rc)
        log_error("ingester", "publishing on %s: %s", topic, err);
    return rc;
}

/* Enqueues the intervals and gaps the batch added; their delivery is
 * awaited before they are stored (store_outputs). They are published before
 * they are stored: a crash in between leaves the database without them,
 * and the restore at the next start republishes. */
static int publish(ing_service_t *s)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;

    ing_rollup_outputs(s->roll, &iv, &niv, &g, &ng);
    for (; s->pub_iv < niv; s->pub_iv++)
        if (publish_one(s, "energy.load", &iv[s->pub_iv], 0, iv[s->pub_iv].site_id,
                        iv[s->pub_iv].end_ms))
            return -1;
    for (; s->pub_gap < ng; s->pub_gap++)
        if (publish_one(s, "energy.gaps", &g[s->pub_gap], 1, g[s->pub_gap].site_id,
                        g[s->pub_gap].detected_ms))
            return -1;
    if (!s->pending)
        s->pending_t0 = mono_s();
    s->pending = true;
    s->phase = flush_due(s) ? PH_OUTPUTS : PH_IDLE;
    return 0;
}

/* Everything of the batch is durable: commit its offsets. */
static void ack_batch(ing_service_t *s)
{
    char err[512];
    int64_t closed, corrected, too_late;

    if (bus_consumer_ack(s->cons, err, sizeof err))
        log_warn("ingester", "ack: %s", err);
    ing_rollup_clear(s->roll);
    s->pub_iv = s->pub_gap = 0;
    s->pending = false;
    ing_rollup_stats(s->roll, &closed, &corrected, &too_late);
    obs_counter_add(s->m_closed, (double)closed - obs_counter_value(s->m_closed));
    obs_counter_add(s->m_corr, (double)corrected - obs_counter_value(s->m_corr));
    obs_counter_add(s->m_late, (double)too_late - obs_counter_value(s->m_late));
    obs_gauge_set(s->m_gaps, (double)ing_rollup_open_gaps(s->roll));
    s->phase = PH_IDLE;
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
    if (!s->rn)
        return 0;
    if (ing_results_store(s->db, s->rrecs, s->rn, s->rrej, &nrej, err, sizeof err)) {
        db_failed(s, "storing results", err);
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

    if (!s->conf.retention_days || mono_s() < s->next_retention)
        return;
    s->next_retention = mono_s() + (double)s->conf.retention_check_ms / 1000.0;
    rc = ing_retention_run(s->db, s->conf.retention_days, s->conf.archive_dir, now_ms(),
                           &dropped, err, sizeof err);
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

int ing_service_step(svc_t *svc, void *ctx)
{
    ing_service_t *s = ctx;
    double t0 = mono_s();
    (void)svc;

    if (s->phase == PH_IDLE)
        retention_step(s);
    if (s->phase == PH_IDLE && s->rcons && results_step(s))
        return -1;
    if (s->phase == PH_IDLE && poll_batch(s))
        return -1;
    if (s->phase == PH_IDLE)
        return 0;
    if (s->phase == PH_READINGS)
        store_readings(s);
    if (s->phase == PH_PUBLISH && publish(s))
        return -1;
    if (s->phase == PH_OUTPUTS && store_outputs(s))
        return -1;
    if (s->phase == PH_IDLE)
        obs_histogram_observe(s->m_latency, mono_s() - t0);
    return 0;
}

void ing_service_shutdown(svc_t *svc, void *ctx)
{
    ing_service_t *s = ctx;
    (void)svc;

    if (s->phase == PH_IDLE && s->pending && s->cons)
        store_outputs(s); /* held outputs of stored batches, then their ack */
    bus_consumer_destroy(s->cons); /* unacked offsets stay uncommitted */
    bus_consumer_destroy(s->rcons);
    free(s->rrej);
    s->rcons = NULL, s->rrej = NULL, s->rn = 0;
    ing_redis_destroy(s->redis);
    ing_rollup_destroy(s->roll);
    ing_pg_destroy(s->pg);
    db_close(s->db);
    free(s->batch);
    free(s->is_new);
    free(s->rec_of);
    s->rec_of = NULL;
    s->cons = NULL, s->redis = NULL, s->roll = NULL, s->pg = NULL, s->db = NULL;
    s->batch = NULL, s->is_new = NULL;
}
