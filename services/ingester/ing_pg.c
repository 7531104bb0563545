/*
 * ing_pg: COPY-to-staging write path into measurements, rollups and gaps.
 */
#include "ingester/ing_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingester/ing_idmap.h"
#include "ingester/ing_rollup.h"
#include "log/log.h"

#define MAX_MONTHS 256

struct ing_pg {
    db_t *db;
    bool direct_ok; /* the last batch had no duplicate: try COPY directly */
    int64_t fallbacks;
    int64_t recomputes; /* outputs upserted and their coarse buckets recomputed */
    char *buf;          /* COPY binary buffer */
    size_t len, cap;
    int64_t months[MAX_MONTHS]; /* month numbers (y*12+m) with a partition */
    size_t nmonths;
    ing_idmap_t *meters; /* meters known to be in table meters */
    ing_idmap_t *fresh;  /* scratch: the batch's other meters, to a reading */
    size_t *fresh_rd;    /* scratch: those readings */
};

static const char *const quality_names[] = {"good", "stale", "comm_error",
                                            "out_of_range", "substituted"};

ing_pg_t *ing_pg_new(db_t *db)
{
    ing_pg_t *p = calloc(1, sizeof *p);
    if (p) {
        p->db = db;
        p->direct_ok = true;
        p->meters = ing_idmap_new();
        p->fresh = ing_idmap_new();
        if (!p->meters || !p->fresh) {
            ing_pg_destroy(p);
            return NULL;
        }
    }
    return p;
}

void ing_pg_destroy(ing_pg_t *p)
{
    if (p) {
        free(p->buf);
        ing_idmap_destroy(p->meters);
        ing_idmap_destroy(p->fresh);
        free(p->fresh_rd);
    }
    free(p);
}

int64_t ing_pg_fallbacks(const ing_pg_t *p)
{
    return p->fallbacks;
}

int64_t ing_pg_recomputes(const ing_pg_t *p)
{
    return p->recomputes;
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

/* Inserts the meters (and sites) of rd[p->fresh_rd[from..to)] into meters. */
static int insert_meters(ing_pg_t *p, const ing_reading_t *rd, size_t from, size_t to,
                         char *errstr, size_t errstr_size)
{
    /* the statement's text, then ", ($i, $j)" a row (at most 18 characters
     * with CHUNK rows) */
    char *sql = malloc(128 + (to - from) * 32);
    const char **params = malloc(2 * (to - from) * sizeof *params);
    size_t len;
    PGresult *res = NULL;

    if (sql && params) {
        len = (size_t)sprintf(sql, "INSERT INTO meters (meter_id, site_id) VALUES ");
        for (size_t i = from; i < to; i++) {
            size_t k = 2 * (i - from);
            len += (size_t)sprintf(sql + len, "%s($%zu, $%zu)", i > from ? ", " : "",
                                   k + 1, k + 2);
            params[k] = rd[p->fresh_rd[i]].meter_id;
            params[k + 1] = rd[p->fresh_rd[i]].site_id;
        }
        strcpy(sql + len, " ON CONFLICT (meter_id) DO NOTHING");
        res = db_query(p->db, sql, (int)(2 * (to - from)), params, errstr, errstr_size);
    } else
        snprintf(errstr, errstr_size, "out of memory registering meters");
    free(sql);
    free(params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* Every meter of the batch is in table meters (the restore finds a site's
 * readings through it) before its readings are stored: committed on its
 * own, like a partition; a meter registered whose readings then fail is
 * harmless. Each session remembers the meters it saw registered. */
static int ensure_meters(ing_pg_t *p, const ing_reading_t *rd, size_t n, char *errstr,
                         size_t errstr_size)
{
    enum { CHUNK = 500 };
    size_t nfresh, v;
    size_t *arr;

    ing_idmap_clear(p->fresh);
    for (size_t i = 0; i < n; i++)
        if (!ing_idmap_get(p->meters, rd[i].meter_id, &v) &&
            ing_idmap_put(p->fresh, rd[i].meter_id, i))
            goto bad;
    if (!(nfresh = ing_idmap_count(p->fresh)))
        return 0;
    if (!(arr = realloc(p->fresh_rd, nfresh * sizeof *arr)))
        goto bad;
    p->fresh_rd = arr;
    ing_idmap_values(p->fresh, arr);
    for (size_t from = 0; from < nfresh; from += CHUNK)
        if (insert_meters(p, rd, from, from + CHUNK < nfresh ? from + CHUNK : nfresh,
                          errstr, errstr_size))
            return -1;
    for (size_t k = 0; k < nfresh; k++)
        if (ing_idmap_put(p->meters, rd[p->fresh_rd[k]].meter_id, 1))
            goto bad;
    return 0;
bad:
    snprintf(errstr, errstr_size, "out of memory registering meters");
    return -1;
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

/* ---- COPY binary encoding ---- */

static int buf_reserve(ing_pg_t *p, size_t more)
{
    if (p->len + more <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap : 1 << 16;
    while (cap < p->len + more)
        cap *= 2;
    char *b = realloc(p->buf, cap);
    if (!b)
        return -1;
    p->buf = b, p->cap = cap;
    return 0;
}

static void put_u16(ing_pg_t *p, uint16_t v)
{
    p->buf[p->len++] = (char)(v >> 8);
    p->buf[p->len++] = (char)v;
}

static void put_u32(ing_pg_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        p->buf[p->len++] = (char)(v >> (8 * i));
}

static void put_u64(ing_pg_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        p->buf[p->len++] = (char)(v >> (8 * i));
}

static void put_text(ing_pg_t *p, const char *s)
{
    size_t n = strlen(s);
    put_u32(p, (uint32_t)n);
    memcpy(p->buf + p->len, s, n);
    p->len += n;
}

static void put_opt_f8(ing_pg_t *p, unsigned present, unsigned bit, double v)
{
    uint64_t u;
    if (!(present & bit)) {
        put_u32(p, UINT32_MAX); /* -1: NULL */
        return;
    }
    memcpy(&u, &v, sizeof u);
    put_u32(p, 8);
    put_u64(p, u);
}

/* Empties p's buffer and starts a COPY binary stream in it: the signature
 * (11 bytes with its NUL), flags and header extension length (both 0).
 * Room for the trailer is reserved with them. 0, or -1 out of memory. */
static int copy_start(ing_pg_t *p)
{
    static const char signature[] = "PGCOPY\n\377\r\n";

    p->len = 0;
    if (buf_reserve(p, 19 + 2))
        return -1;
    memcpy(p->buf, signature, 11);
    p->len = 11;
    put_u32(p, 0);
    put_u32(p, 0);
    return 0;
}

/* Microseconds between the Unix and the PostgreSQL epoch (2000-01-01). */
#define PG_EPOCH_US INT64_C(946684800000000)

const char *const ing_pg_measurement_columns[ING_PG_NCOLS] = {
    "meter_id",      "site_id",      "ts",           "seq",
    "source",        "power_kw",     "energy_kwh",   "voltage_v",
    "current_a",     "frequency_hz", "power_factor", "quality",
    "quality_detail"};

int ing_pg_encode(ing_pg_t *p, const ing_reading_t *rd, size_t n, bool with_n,
                  const char **out, size_t *len)
{
    if (copy_start(p))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const ing_reading_t *r = &rd[i];
        const char *q = (unsigned)r->quality < 5 ? quality_names[r->quality] : "good";
        if (buf_reserve(p, 2 + 8 + 13 * 4 + 2 * ING_ID_MAX + 5 * 8 + 6 * 8 + 16 +
                               ING_DETAIL_MAX))
            return -1;
        put_u16(p, ING_PG_NCOLS + (with_n ? 1 : 0));
        if (with_n) {
            put_u32(p, 4);
            put_u32(p, (uint32_t)i);
        }
        put_text(p, r->meter_id);
        put_text(p, r->site_id);
        put_u32(p, 8);
        put_u64(p, (uint64_t)(r->ts_ms * 1000 - PG_EPOCH_US));
        put_u32(p, 8);
        put_u64(p, (uint64_t)r->seq);
        put_u32(p, 2);
        put_u16(p, (uint16_t)r->source);
        put_opt_f8(p, r->present, ING_HAS_POWER, r->power_kw);
        put_opt_f8(p, r->present, ING_HAS_ENERGY, r->energy_kwh);
        put_opt_f8(p, r->present, ING_HAS_VOLTAGE, r->voltage_v);
        put_opt_f8(p, r->present, ING_HAS_CURRENT, r->current_a);
        put_opt_f8(p, r->present, ING_HAS_FREQUENCY, r->frequency_hz);
        put_opt_f8(p, r->present, ING_HAS_PF, r->power_factor);
        put_text(p, q);
        if (r->detail[0])
            put_text(p, r->detail);
        else
            put_u32(p, UINT32_MAX);
    }
    put_u16(p, UINT16_MAX); /* trailer: -1 */
    *out = p->buf;
    *len = p->len;
    return 0;
}

/* Runs one COPY ... FROM STDIN (FORMAT binary) of the encoded buffer.
 * 0, or -1 with errstr; *sqlstate gets the server's SQLSTATE ("" if none). */
static int copy_binary(ing_pg_t *p, const char *sql, char *sqlstate, char *errstr,
                       size_t errstr_size)
{
    PGconn *c = db_pg(p->db);
    PGresult *res = PQexec(c, sql);
    const size_t chunk = 1 << 18;
    int rc = 0;

    sqlstate[0] = 0;
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        snprintf(errstr, errstr_size, "%s: %s", db_endpoint(p->db),
                 PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    for (size_t off = 0; off < p->len && rc == 0; off += chunk) {
        size_t n = p->len - off < chunk ? p->len - off : chunk;
        if (PQputCopyData(c, p->buf + off, (int)n) != 1)
            rc = -1;
    }
    if (PQputCopyEnd(c, rc ? "client error" : NULL) != 1)
        rc = -1;
    while ((res = PQgetResult(c))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            snprintf(sqlstate, 6, "%s", st ? st : "");
            snprintf(errstr, errstr_size, "%s: COPY: %s", db_endpoint(p->db),
                     PQresultErrorMessage(res));
            rc = -1;
        } else if (rc && !errstr[0])
            snprintf(errstr, errstr_size, "%s: COPY: %s", db_endpoint(p->db),
                     PQerrorMessage(c));
        PQclear(res);
    }
    return rc;
}

static const char COPY_DIRECT[] =
    "COPY measurements (meter_id, site_id, ts, seq, source, power_kw, energy_kwh,"
    " voltage_v, current_a, frequency_hz, power_factor, quality, quality_detail)"
    " FROM STDIN (FORMAT binary)";

static const char COPY_STAGING[] =
    "COPY stg_measurements (n, meter_id, site_id, ts, seq, source, power_kw,"
    " energy_kwh, voltage_v, current_a, frequency_hz, power_factor, quality,"
    " quality_detail) FROM STDIN (FORMAT binary)";

static const char STG_MEASUREMENTS[] =
    "SET LOCAL client_min_messages = warning;"
    "CREATE TEMP TABLE IF NOT EXISTS stg_measurements ("
    " n integer, meter_id text, site_id text, ts timestamptz, seq bigint,"
    " source smallint, power_kw float8, energy_kwh float8, voltage_v float8,"
    " current_a float8, frequency_hz float8, power_factor float8, quality text,"
    " quality_detail text) ON COMMIT DELETE ROWS";

static const char INSERT_MEASUREMENTS[] =
    "WITH ins AS (INSERT INTO measurements (meter_id, site_id, ts, seq, source,"
    " power_kw, energy_kwh, voltage_v, current_a, frequency_hz, power_factor, quality,"
    " quality_detail)"
    " SELECT meter_id, site_id, ts, seq, source, power_kw,"
    " energy_kwh, voltage_v, current_a, frequency_hz, power_factor, quality,"
    " quality_detail FROM stg_measurements ORDER BY n"
    " ON CONFLICT DO NOTHING RETURNING meter_id, ts)"
    " SELECT DISTINCT ON (s.meter_id, s.ts) s.n FROM stg_measurements s"
    " JOIN ins ON ins.meter_id = s.meter_id AND ins.ts = s.ts"
    " ORDER BY s.meter_id, s.ts, s.n";

/* The staging path: COPY into the temp table, insert what is new, learn
 * which readings that were. Inside the caller's transaction. */
static int store_staged(ing_pg_t *p, const ing_reading_t *rd, size_t n,
                        unsigned char *is_new, int64_t *inserted, char *errstr,
                        size_t errstr_size)
{
    const char *buf;
    size_t len;
    char state[8];
    PGresult *res;

    if (db_exec(p->db, STG_MEASUREMENTS, errstr, errstr_size))
        return -1;
    if (ing_pg_encode(p, rd, n, true, &buf, &len)) {
        snprintf(errstr, errstr_size, "out of memory encoding %zu readings", n);
        return -1;
    }
    if (copy_binary(p, COPY_STAGING, state, errstr, errstr_size) ||
        !(res = db_query(p->db, INSERT_MEASUREMENTS, 0, NULL, errstr, errstr_size)))
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        long k = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (k >= 0 && (size_t)k < n && !is_new[k]) {
            is_new[k] = 1;
            (*inserted)++;
        }
    }
    PQclear(res);
    return 0;
}

int ing_pg_store_readings(ing_pg_t *p, const ing_reading_t *rd, size_t n,
                          unsigned char *is_new, int64_t *inserted, char *errstr,
                          size_t errstr_size)
{
    const char *buf;
    size_t len;
    char state[8];
    bool direct = p->direct_ok;

    memset(is_new, 0, n);
    *inserted = 0;
    if (n == 0)
        return 0;
    if (ensure_partitions(p, rd, n, errstr, errstr_size) ||
        ensure_meters(p, rd, n, errstr, errstr_size) ||
        db_begin(p->db, errstr, errstr_size))
        return -1;
    if (direct) {
        /* Optimistic: straight into measurements. A duplicate (replay,
         * redelivery) fails the COPY with unique_violation; the savepoint
         * takes it back and the staging path sorts out what is new. */
        if (db_exec(p->db, "SAVEPOINT direct", errstr, errstr_size))
            goto fail;
        if (ing_pg_encode(p, rd, n, false, &buf, &len)) {
            snprintf(errstr, errstr_size, "out of memory encoding %zu readings", n);
            goto fail;
        }
        if (copy_binary(p, COPY_DIRECT, state, errstr, errstr_size) == 0) {
            memset(is_new, 1, n);
            *inserted = (int64_t)n;
        } else if (strcmp(state, "23505") == 0) {
            if (db_exec(p->db, "ROLLBACK TO SAVEPOINT direct", errstr, errstr_size))
                goto fail;
            direct = false;
            p->direct_ok = false;
            p->fallbacks++;
        } else
            goto fail;
    }
    if (!direct && store_staged(p, rd, n, is_new, inserted, errstr, errstr_size))
        goto fail;
    if (db_commit(p->db, errstr, errstr_size))
        goto fail;
    /* back to the direct path once a batch had no duplicate */
    if (!p->direct_ok && *inserted == (int64_t)n)
        p->direct_ok = true;
    return 0;
fail:
    db_rollback(p->db, NULL, 0);
    /* another instance's retention may have detached a month this session
     * knew ("no partition ... found for row"): the retry ensures every month
     * of the batch again, which recreates it */
    p->nmonths = 0;
    memset(is_new, 0, n);
    *inserted = 0;
    return -1;
}

/* ---- intervals and gaps ---- */

/* updated_at takes its default (now(), the transaction's time). */
static const char STG_ROLLUP[] = "SET LOCAL client_min_messages = warning;"
                                 "CREATE TEMP TABLE IF NOT EXISTS stg_rollup (LIKE "
                                 "rollup_15m INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";

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

/* Rolls table src (child buckets) into dst (buckets of unit), only for the
 * (scope, site, meter, bucket) keys whose 15-minute intervals are in
 * stg_rollup: the other buckets did not change. Each key reads its child
 * rows through src's primary key. Completeness is normalised by the bucket
 * length. */
#define ROLL_UP(dst, src, unit)                                                        \
    "INSERT INTO " dst " (scope, site_id, meter_id, interval_start, interval_end,"     \
    " energy_kwh, mean_kw, peak_kw, min_kw, sample_count, completeness, revision,"     \
    " watermark_ts)"                                                                   \
    " SELECT c.scope, c.site_id, c.meter_id, k.b, k.b + interval '1 " unit "',"        \
    " sum(c.energy_kwh),"                                                              \
    " sum(c.energy_kwh) / (extract(epoch FROM (k.b + interval '1 " unit                \
    "') - k.b) / 3600.0),"                                                             \
    " max(c.peak_kw), min(c.min_kw), sum(c.sample_count),"                             \
    " sum(c.completeness * extract(epoch FROM c.interval_end - c.interval_start))"     \
    "   / extract(epoch FROM (k.b + interval '1 " unit "') - k.b),"                    \
    " max(c.revision), max(c.watermark_ts)"                                            \
    " FROM (SELECT DISTINCT scope, site_id, meter_id,"                                 \
    "        date_trunc('" unit "', interval_start) AS b FROM stg_rollup) k"           \
    " JOIN " src " c ON c.scope = k.scope AND c.site_id = k.site_id"                   \
    "  AND c.meter_id = k.meter_id AND c.interval_start >= k.b"                        \
    "  AND c.interval_start < k.b + interval '1 " unit "'"                             \
    " GROUP BY c.scope, c.site_id, c.meter_id, k.b"                                    \
    " ON CONFLICT (scope, site_id, meter_id, interval_start) DO UPDATE SET"            \
    " energy_kwh = EXCLUDED.energy_kwh, mean_kw = EXCLUDED.mean_kw,"                   \
    " peak_kw = EXCLUDED.peak_kw, min_kw = EXCLUDED.min_kw,"                           \
    " sample_count = EXCLUDED.sample_count, completeness = EXCLUDED.completeness,"     \
    " revision = EXCLUDED.revision, watermark_ts = EXCLUDED.watermark_ts,"             \
    " updated_at = now()"

/* The fresh path: every staged interval is new (the plain insert raised no
 * unique_violation), so each coarse bucket equals its stored value plus
 * the staged intervals it covers. Sums add up, peak and minimum take the
 * extreme, the mean follows the energy. No child row is read. */
#define ADD_UP(dst, unit)                                                              \
    "INSERT INTO " dst " AS d (scope, site_id, meter_id, interval_start,"              \
    " interval_end, energy_kwh, mean_kw, peak_kw, min_kw, sample_count, completeness," \
    " revision, watermark_ts)"                                                         \
    " SELECT scope, site_id, meter_id, b, b + interval '1 " unit "',"                  \
    " sum(energy_kwh),"                                                                \
    " sum(energy_kwh) / (extract(epoch FROM (b + interval '1 " unit                    \
    "') - b) / 3600.0),"                                                               \
    " max(peak_kw), min(min_kw), sum(sample_count),"                                   \
    " sum(completeness * extract(epoch FROM interval_end - interval_start))"           \
    "   / extract(epoch FROM (b + interval '1 " unit "') - b),"                        \
    " max(revision), max(watermark_ts)"                                                \
    " FROM (SELECT *, date_trunc('" unit "', interval_start) AS b FROM stg_rollup) s"  \
    " GROUP BY scope, site_id, meter_id, b"                                            \
    " ON CONFLICT (scope, site_id, meter_id, interval_start) DO UPDATE SET"            \
    " energy_kwh = d.energy_kwh + EXCLUDED.energy_kwh,"                                \
    " mean_kw = (d.energy_kwh + EXCLUDED.energy_kwh)"                                  \
    "   / (extract(epoch FROM d.interval_end - d.interval_start) / 3600.0),"           \
    " peak_kw = greatest(d.peak_kw, EXCLUDED.peak_kw),"                                \
    " min_kw = least(d.min_kw, EXCLUDED.min_kw),"                                      \
    " sample_count = d.sample_count + EXCLUDED.sample_count,"                          \
    " completeness = d.completeness + EXCLUDED.completeness,"                          \
    " revision = greatest(d.revision, EXCLUDED.revision),"                             \
    " watermark_ts = greatest(d.watermark_ts, EXCLUDED.watermark_ts),"                 \
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

static const char COPY_INTERVALS[] =
    "COPY stg_rollup (scope, site_id, meter_id, interval_start, interval_end,"
    " energy_kwh, mean_kw, peak_kw, min_kw, sample_count, completeness, revision,"
    " watermark_ts) FROM STDIN (FORMAT binary)";

static void put_ts(ing_pg_t *p, int64_t ms)
{
    put_u32(p, 8);
    put_u64(p, (uint64_t)(ms * 1000 - PG_EPOCH_US));
}

static void put_f8(ing_pg_t *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_u32(p, 8);
    put_u64(p, u);
}

static void put_i4(ing_pg_t *p, int32_t v)
{
    put_u32(p, 4);
    put_u32(p, (uint32_t)v);
}

/* The intervals as one COPY binary stream in p's buffer (no float
 * formatting or parsing). 0, or -1 out of memory. */
static int encode_intervals(ing_pg_t *p, const ing_interval_t *iv, size_t n)
{
    if (copy_start(p))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const ing_interval_t *o = &iv[i];
        bool site = o->scope == ING_SCOPE_SITE;
        if (buf_reserve(p, 2 + 13 * 4 + 8 + 2 * ING_ID_MAX + 10 * 8))
            return -1;
        put_u16(p, 13);
        put_text(p, site ? "site" : "meter");
        put_text(p, o->site_id);
        put_text(p, site ? "" : o->meter_id);
        put_ts(p, o->start_ms);
        put_ts(p, o->end_ms);
        put_f8(p, o->energy_kwh);
        put_f8(p, o->mean_kw);
        put_f8(p, o->peak_kw);
        if (o->has_min)
            put_f8(p, o->min_kw);
        else
            put_u32(p, UINT32_MAX);
        put_i4(p, o->sample_count);
        put_f8(p, o->completeness);
        put_i4(p, o->revision);
        put_ts(p, o->watermark_ms);
    }
    put_u16(p, UINT16_MAX);
    return 0;
}

static int copy_intervals(ing_pg_t *p, const ing_interval_t *iv, size_t n, char *errstr,
                          size_t errstr_size)
{
    char state[8];

    if (encode_intervals(p, iv, n)) {
        snprintf(errstr, errstr_size, "out of memory encoding %zu intervals", n);
        return -1;
    }
    return copy_binary(p, COPY_INTERVALS, state, errstr, errstr_size);
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

/* Refreshes the hourly, daily and monthly buckets of the staged intervals. */
static int roll_up(ing_pg_t *p, char *errstr, size_t errstr_size)
{
    static const char *const sql[] = {
        ROLL_UP("rollup_1h", "rollup_15m", "hour"),
        ROLL_UP("rollup_1d", "rollup_1h", "day"),
        ROLL_UP("rollup_1mo", "rollup_1d", "month"),
    };

    for (size_t i = 0; i < 3; i++)
        if (db_exec(p->db, sql[i], errstr, errstr_size))
            return -1;
    return 0;
}

/* Adds the staged intervals to the hourly, daily and monthly buckets. */
static int add_up(ing_pg_t *p, char *errstr, size_t errstr_size)
{
    static const char *const sql[] = {
        ADD_UP("rollup_1h", "hour"),
        ADD_UP("rollup_1d", "day"),
        ADD_UP("rollup_1mo", "month"),
    };

    for (size_t i = 0; i < 3; i++)
        if (db_exec(p->db, sql[i], errstr, errstr_size))
            return -1;
    return 0;
}

/* Runs sql; 0, or -1 with errstr and the server's SQLSTATE in sqlstate. */
static int exec_state(ing_pg_t *p, const char *sql, char *sqlstate, char *errstr,
                      size_t errstr_size)
{
    PGresult *res = PQexec(db_pg(p->db), sql);
    const char *st;
    int rc = 0;

    sqlstate[0] = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(sqlstate, 6, "%s", st ? st : "");
        snprintf(errstr, errstr_size, "%s: %s", db_endpoint(p->db),
                 PQresultErrorMessage(res));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* The slow path: upsert (higher revision wins), then recompute the
 * buckets touched from their children. */
static int upsert_intervals(ing_pg_t *p, char *errstr, size_t errstr_size)
{
    p->recomputes++;
    return db_exec(p->db, UPSERT_15M, errstr, errstr_size) ||
                   roll_up(p, errstr, errstr_size)
               ? -1
               : 0;
}

/* The staged intervals into rollup_15m and the coarse buckets. Usually
 * every one is new: a plain insert (no conflict handling) and the coarse
 * buckets added to. An interval stored before (a correction, a replay, a
 * batch whose COMMIT answer was lost) fails the insert with
 * unique_violation; the savepoint takes it back and the slow path runs.
 * recompute takes the slow path at once. */
static int store_intervals(ing_pg_t *p, bool recompute, char *errstr,
                           size_t errstr_size)
{
    char state[8];

    if (recompute)
        return upsert_intervals(p, errstr, errstr_size);
    if (db_exec(p->db, "SAVEPOINT fresh", errstr, errstr_size))
        return -1;
    if (exec_state(p, "INSERT INTO rollup_15m SELECT * FROM stg_rollup", state, errstr,
                   errstr_size) == 0)
        return add_up(p, errstr, errstr_size);
    if (strcmp(state, "23505") != 0 ||
        db_exec(p->db, "ROLLBACK TO SAVEPOINT fresh", errstr, errstr_size))
        return -1;
    log_debug("ingester", "an interval was stored before, upserting: %s", errstr);
    return upsert_intervals(p, errstr, errstr_size);
}

int ing_pg_store_outputs(ing_pg_t *p, const ing_interval_t *iv, size_t niv,
                         const ing_gap_t *gaps, size_t ngaps, bool recompute,
                         char *errstr, size_t errstr_size)
{
    if (niv == 0 && ngaps == 0)
        return 0;
    if (db_begin(p->db, errstr, errstr_size))
        return -1;
    /* UTC buckets whatever the server's zone */
    if (db_exec(p->db, "SET LOCAL TIME ZONE 'UTC'", errstr, errstr_size))
        goto fail;
    if (niv && (db_exec(p->db, STG_ROLLUP, errstr, errstr_size) ||
                copy_intervals(p, iv, niv, errstr, errstr_size) ||
                store_intervals(p, recompute, errstr, errstr_size)))
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
