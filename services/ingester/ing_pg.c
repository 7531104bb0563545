/*
 * ing_pg: COPY-to-staging write path into measurements, rollups and gaps.
 */
#include "ingester/ing_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingester/ing_rollup.h"

#define MAX_MONTHS 256

struct ing_pg {
    db_t *db;
    int64_t months[MAX_MONTHS]; /* month numbers (y*12+m) with a partition */
    size_t nmonths;
};

static const char *const quality_names[] = {"good", "stale", "comm_error",
                                            "out_of_range", "substituted"};

ing_pg_t *ing_pg_new(db_t *db)
{
    ing_pg_t *p = calloc(1, sizeof *p);
    if (p)
        p->db = db;
    return p;
}

void ing_pg_destroy(ing_pg_t *p)
{
    free(p);
}

void ing_pg_reset(ing_pg_t *p)
{
    p->nmonths = 0;
}

static int64_t month_of(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
}

/* Makes sure every month of the batch has its partition (autocommit). */
static int ensure_partitions(ing_pg_t *p, const ing_reading_t *rd, size_t n,
                             char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++) {
        int64_t mo = month_of(rd[i].ts_ms);
        size_t k = 0;
        char ts[32];
        const char *params[1] = {ts};
        PGresult *res;

        while (k < p->nmonths && p->months[k] != mo)
            k++;
        if (k < p->nmonths)
            continue;
        snprintf(ts, sizeof ts, "%.3f", (double)rd[i].ts_ms / 1000.0);
        res = db_query(p->db, "SELECT ems_ensure_partition(to_timestamp($1::float8))",
                       1, params, errstr, errstr_size);
        if (!res)
            return -1;
        PQclear(res);
        if (p->nmonths < MAX_MONTHS)
            p->months[p->nmonths++] = mo;
    }
    return 0;
}

static const char *fmt_opt(char *buf, size_t size, unsigned present, unsigned bit,
                           double v)
{
    if (!(present & bit))
        return NULL;
    snprintf(buf, size, "%.17g", v);
    return buf;
}

static int copy_readings(ing_pg_t *p, const ing_reading_t *rd, size_t n, char *errstr,
                         size_t errstr_size)
{
    static const char *const cols[] = {"n",         "meter_id",      "site_id",
                                       "ts_ms",     "seq",           "source",
                                       "power_kw",  "energy_kwh",    "voltage_v",
                                       "current_a", "frequency_hz",  "power_factor",
                                       "quality",   "quality_detail"};
    db_copy_t *c = db_copy_begin(p->db, "stg_measurements", cols, 14, DB_COPY_TEXT,
                                 errstr, errstr_size);
    char b[14][40];

    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const ing_reading_t *r = &rd[i];
        const char *v[14];
        snprintf(b[0], 40, "%zu", i);
        snprintf(b[3], 40, "%" PRId64, r->ts_ms);
        snprintf(b[4], 40, "%" PRId64, r->seq);
        snprintf(b[5], 40, "%d", r->source);
        v[0] = b[0], v[1] = r->meter_id, v[2] = r->site_id, v[3] = b[3], v[4] = b[4];
        v[5] = b[5];
        v[6] = fmt_opt(b[6], 40, r->present, ING_HAS_POWER, r->power_kw);
        v[7] = fmt_opt(b[7], 40, r->present, ING_HAS_ENERGY, r->energy_kwh);
        v[8] = fmt_opt(b[8], 40, r->present, ING_HAS_VOLTAGE, r->voltage_v);
        v[9] = fmt_opt(b[9], 40, r->present, ING_HAS_CURRENT, r->current_a);
        v[10] = fmt_opt(b[10], 40, r->present, ING_HAS_FREQUENCY, r->frequency_hz);
        v[11] = fmt_opt(b[11], 40, r->present, ING_HAS_PF, r->power_factor);
        v[12] = (unsigned)r->quality < 5 ? quality_names[r->quality] : "good";
        v[13] = r->detail[0] ? r->detail : NULL;
        if (db_copy_row(c, v, errstr, errstr_size)) {
            db_copy_abort(c, "row failed");
            return -1;
        }
    }
    return db_copy_end(c, NULL, errstr, errstr_size);
}

static const char STG_MEASUREMENTS[] =
    "SET LOCAL client_min_messages = warning;"
    "CREATE TEMP TABLE IF NOT EXISTS stg_measurements ("
    " n integer, meter_id text, site_id text, ts_ms bigint, seq bigint,"
    " source smallint, power_kw float8, energy_kwh float8, voltage_v float8,"
    " current_a float8, frequency_hz float8, power_factor float8, quality text,"
    " quality_detail text) ON COMMIT DELETE ROWS";

static const char INSERT_MEASUREMENTS[] =
    "WITH ins AS (INSERT INTO measurements (meter_id, site_id, ts, seq, source,"
    " power_kw, energy_kwh, voltage_v, current_a, frequency_hz, power_factor, quality,"
    " quality_detail)"
    " SELECT meter_id, site_id, to_timestamp(ts_ms / 1000.0), seq, source, power_kw,"
    " energy_kwh, voltage_v, current_a, frequency_hz, power_factor, quality,"
    " quality_detail FROM stg_measurements ORDER BY n"
    " ON CONFLICT DO NOTHING RETURNING meter_id, ts)"
    " SELECT DISTINCT ON (s.meter_id, s.ts_ms) s.n FROM stg_measurements s"
    " JOIN ins ON ins.meter_id = s.meter_id AND ins.ts = to_timestamp(s.ts_ms / 1000.0)"
    " ORDER BY s.meter_id, s.ts_ms, s.n";

int ing_pg_store_readings(ing_pg_t *p, const ing_reading_t *rd, size_t n,
                          unsigned char *is_new, int64_t *inserted, char *errstr,
                          size_t errstr_size)
{
    PGresult *res = NULL;

    memset(is_new, 0, n);
    *inserted = 0;
    if (n == 0)
        return 0;
    if (ensure_partitions(p, rd, n, errstr, errstr_size) ||
        db_begin(p->db, errstr, errstr_size))
        return -1;
    if (db_exec(p->db, STG_MEASUREMENTS, errstr, errstr_size) ||
        copy_readings(p, rd, n, errstr, errstr_size) ||
        !(res = db_query(p->db, INSERT_MEASUREMENTS, 0, NULL, errstr, errstr_size)))
        goto fail;
    for (int i = 0; i < PQntuples(res); i++) {
        long k = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (k >= 0 && (size_t)k < n) {
            is_new[k] = 1;
            (*inserted)++;
        }
    }
    PQclear(res);
    if (db_commit(p->db, errstr, errstr_size))
        goto fail_nores;
    return 0;
fail:
    PQclear(res);
fail_nores:
    db_rollback(p->db, NULL, 0);
    memset(is_new, 0, n);
    *inserted = 0;
    return -1;
}

/* ---- intervals and gaps ---- */

static const char STG_ROLLUP[] = "SET LOCAL client_min_messages = warning;"
                                 "CREATE TEMP TABLE IF NOT EXISTS stg_rollup (LIKE "
                                 "rollup_15m) ON COMMIT DELETE ROWS";

static const char UPSERT_15M[] =
    "INSERT INTO rollup_15m SELECT DISTINCT ON (scope, site_id, meter_id, "
    "interval_start) *"
    " FROM stg_rollup ORDER BY scope, site_id, meter_id, interval_start, revision DESC"
    " ON CONFLICT (scope, site_id, meter_id, interval_start) DO UPDATE SET"
    " interval_end = EXCLUDED.interval_end, energy_kwh = EXCLUDED.energy_kwh,"
    " mean_kw = EXCLUDED.mean_kw, peak_kw = EXCLUDED.peak_kw, min_kw = EXCLUDED.min_kw,"
    " sample_count = EXCLUDED.sample_count, completeness = EXCLUDED.completeness,"
    " revision = EXCLUDED.revision, watermark_ts = EXCLUDED.watermark_ts,"
    " updated_at = now()"
    " WHERE EXCLUDED.revision > rollup_15m.revision OR"
    " (EXCLUDED.revision = rollup_15m.revision AND"
    "  EXCLUDED.sample_count >= rollup_15m.sample_count)";

/* Rolls table src (child buckets) into dst (buckets of unit) for the buckets
 * overlapping [$1, $2). Completeness is normalised by the bucket length. */
#define ROLL_UP(dst, src, unit)                                                        \
    "INSERT INTO " dst " (scope, site_id, meter_id, interval_start, interval_end,"     \
    " energy_kwh, mean_kw, peak_kw, min_kw, sample_count, completeness, revision,"     \
    " watermark_ts)"                                                                   \
    " SELECT scope, site_id, meter_id, b, b + interval '1 " unit "', sum(energy_kwh)," \
    " sum(energy_kwh) / (extract(epoch FROM (b + interval '1 " unit                    \
    "') - b) / 3600.0),"                                                               \
    " max(peak_kw), min(min_kw), sum(sample_count),"                                   \
    " sum(completeness * extract(epoch FROM interval_end - interval_start))"           \
    "   / extract(epoch FROM (b + interval '1 " unit "') - b),"                        \
    " max(revision), max(watermark_ts)"                                                \
    " FROM (SELECT *, date_trunc('" unit "', interval_start) AS b FROM " src           \
    "  WHERE interval_start >= date_trunc('" unit "', $1::timestamptz)"                \
    "    AND interval_start < date_trunc('" unit "', $2::timestamptz)"                 \
    "        + interval '1 " unit "') c"                                               \
    " GROUP BY scope, site_id, meter_id, b"                                            \
    " ON CONFLICT (scope, site_id, meter_id, interval_start) DO UPDATE SET"            \
    " energy_kwh = EXCLUDED.energy_kwh, mean_kw = EXCLUDED.mean_kw,"                   \
    " peak_kw = EXCLUDED.peak_kw, min_kw = EXCLUDED.min_kw,"                           \
    " sample_count = EXCLUDED.sample_count, completeness = EXCLUDED.completeness,"     \
    " revision = EXCLUDED.revision, watermark_ts = EXCLUDED.watermark_ts,"             \
    " updated_at = now()"

/* "YYYY-MM-DD HH:MM:SS.mmm+00", a timestamptz literal. */
static char *fmt_ts(int64_t ms, char *buf, size_t size)
{
    int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    time_t t = (time_t)sec;
    struct tm tm;
    char d[32];

    gmtime_r(&t, &tm);
    strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03d+00", d, (int)(ms - sec * 1000));
    return buf;
}

static int copy_intervals(ing_pg_t *p, const ing_interval_t *iv, size_t n, int64_t *lo,
                          int64_t *hi, char *errstr, size_t errstr_size)
{
    static const char *const cols[] = {
        "scope",        "site_id",  "meter_id",     "interval_start", "interval_end",
        "energy_kwh",   "mean_kw",  "peak_kw",      "min_kw",         "sample_count",
        "completeness", "revision", "watermark_ts", "updated_at"};
    db_copy_t *c =
        db_copy_begin(p->db, "stg_rollup", cols, 14, DB_COPY_TEXT, errstr, errstr_size);
    char b[14][48];

    if (!c)
        return -1;
    *lo = INT64_MAX;
    *hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const ing_interval_t *o = &iv[i];
        const char *v[14];
        if (o->start_ms < *lo)
            *lo = o->start_ms;
        if (o->end_ms > *hi)
            *hi = o->end_ms;
        fmt_ts(o->start_ms, b[3], 48);
        fmt_ts(o->end_ms, b[4], 48);
        snprintf(b[5], 48, "%.17g", o->energy_kwh);
        snprintf(b[6], 48, "%.17g", o->mean_kw);
        snprintf(b[7], 48, "%.17g", o->peak_kw);
        snprintf(b[8], 48, "%.17g", o->min_kw);
        snprintf(b[9], 48, "%d", o->sample_count);
        snprintf(b[10], 48, "%.17g", o->completeness);
        snprintf(b[11], 48, "%d", o->revision);
        fmt_ts(o->watermark_ms, b[12], 48);
        v[0] = o->scope == ING_SCOPE_SITE ? "site" : "meter";
        v[1] = o->site_id, v[2] = o->scope == ING_SCOPE_SITE ? "" : o->meter_id;
        for (int k = 3; k < 13; k++)
            v[k] = b[k];
        v[8] = o->has_min ? b[8] : NULL;
        v[13] = "now";
        if (db_copy_row(c, v, errstr, errstr_size)) {
            db_copy_abort(c, "row failed");
            return -1;
        }
    }
    return db_copy_end(c, NULL, errstr, errstr_size);
}

static const char STG_GAPS[] =
    "SET LOCAL client_min_messages = warning;"
    "CREATE TEMP TABLE IF NOT EXISTS stg_gaps (LIKE gaps) ON COMMIT DELETE ROWS";

static const char UPSERT_GAPS[] =
    "INSERT INTO gaps SELECT DISTINCT ON (gap_id) * FROM stg_gaps"
    " ORDER BY gap_id, revision DESC"
    " ON CONFLICT (gap_id) DO UPDATE SET gap_end = EXCLUDED.gap_end,"
    " duration_s = EXCLUDED.duration_s, missing_intervals = EXCLUDED.missing_intervals,"
    " gap_class = EXCLUDED.gap_class, ongoing = EXCLUDED.ongoing,"
    " recovered = EXCLUDED.recovered, revision = EXCLUDED.revision,"
    " detected_at = EXCLUDED.detected_at, updated_at = now()"
    " WHERE EXCLUDED.revision >= gaps.revision";

static int copy_gaps(ing_pg_t *p, const ing_gap_t *g, size_t n, char *errstr,
                     size_t errstr_size)
{
    static const char *const cols[] = {
        "gap_id",     "site_id",           "meter_id",  "gap_start", "gap_end",
        "duration_s", "missing_intervals", "gap_class", "ongoing",   "recovered",
        "revision",   "detected_at",       "updated_at"};
    db_copy_t *c =
        db_copy_begin(p->db, "stg_gaps", cols, 13, DB_COPY_TEXT, errstr, errstr_size);
    char b[13][48];

    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *v[13] = {g[i].gap_id,
                             g[i].site_id,
                             g[i].meter_id,
                             b[3],
                             b[4],
                             b[5],
                             b[6],
                             ing_gap_class_name(g[i].gap_class),
                             g[i].ongoing ? "t" : "f",
                             g[i].recovered ? "t" : "f",
                             b[10],
                             b[11],
                             "now"};
        fmt_ts(g[i].start_ms, b[3], 48);
        fmt_ts(g[i].end_ms, b[4], 48);
        snprintf(b[5], 48, "%" PRId64, (g[i].end_ms - g[i].start_ms) / 1000);
        snprintf(b[6], 48, "%d", g[i].missing_intervals);
        snprintf(b[10], 48, "%d", g[i].revision);
        fmt_ts(g[i].detected_ms, b[11], 48);
        if (db_copy_row(c, v, errstr, errstr_size)) {
            db_copy_abort(c, "row failed");
            return -1;
        }
    }
    return db_copy_end(c, NULL, errstr, errstr_size);
}

/* Refreshes the hourly, daily and monthly buckets overlapping [lo, hi). */
static int roll_up(ing_pg_t *p, int64_t lo, int64_t hi, char *errstr,
                   size_t errstr_size)
{
    static const char *const sql[] = {
        ROLL_UP("rollup_1h", "rollup_15m", "hour"),
        ROLL_UP("rollup_1d", "rollup_1h", "day"),
        ROLL_UP("rollup_1mo", "rollup_1d", "month"),
    };
    char a[48], b[48];
    const char *params[2] = {a, b};

    fmt_ts(lo, a, sizeof a);
    fmt_ts(hi - 1, b, sizeof b); /* the last instant touched */
    for (size_t i = 0; i < 3; i++) {
        PGresult *res;
        res = db_query(p->db, sql[i], 2, params, errstr, errstr_size);
        if (!res)
            return -1;
        PQclear(res);
    }
    return 0;
}

int ing_pg_store_outputs(ing_pg_t *p, const ing_interval_t *iv, size_t niv,
                         const ing_gap_t *gaps, size_t ngaps, char *errstr,
                         size_t errstr_size)
{
    int64_t lo = 0, hi = 0;

    if (niv == 0 && ngaps == 0)
        return 0;
    if (db_begin(p->db, errstr, errstr_size))
        return -1;
    /* UTC buckets whatever the server's zone */
    if (db_exec(p->db, "SET LOCAL TIME ZONE 'UTC'", errstr, errstr_size))
        goto fail;
    if (niv && (db_exec(p->db, STG_ROLLUP, errstr, errstr_size) ||
                copy_intervals(p, iv, niv, &lo, &hi, errstr, errstr_size) ||
                db_exec(p->db, UPSERT_15M, errstr, errstr_size) ||
                roll_up(p, lo, hi, errstr, errstr_size)))
        goto fail;
    if (ngaps && (db_exec(p->db, STG_GAPS, errstr, errstr_size) ||
                  copy_gaps(p, gaps, ngaps, errstr, errstr_size) ||
                  db_exec(p->db, UPSERT_GAPS, errstr, errstr_size)))
        goto fail;
    if (db_commit(p->db, errstr, errstr_size))
        goto fail;
    return 0;
fail:
    db_rollback(p->db, NULL, 0);
    return -1;
}
