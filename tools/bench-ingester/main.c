/*
 * bench-ingester: end-to-end telemetry throughput of the ingester binary
 * (records produced to the broker, consumed, stored in PostgreSQL and their
 * offsets committed) for 1,000 meters, beside a raw COPY of the same rows
 * into the same table (measurements) in the same run, and the ingester's
 * peak RSS (VmHWM).
 *
 *   bench-ingester [-m METERS] [-k READINGS_PER_METER] [-b BATCH_ROWS]
 *                  [-w WRITERS] [-c CONFIG] [-s CHUNK] [-L LOG_LEVEL]
 *
 * Endpoints come from EMS_TEST_BOOTSTRAP, EMS_TEST_REGISTRY, EMS_TEST_PG,
 * EMS_TEST_REDIS, EMS_TEST_ROOT and EMS_TEST_BIN (`make bench` sets them);
 * the ingester's HTTP port is EMS_TEST_HTTP_BASE (default 28100) + 92.
 * -w sets ingester.writers (default: the config's), -c the ingester's
 * config file (default tools/stack/conf/ingester.yaml), -L the ingester's
 * log level (default warn; debug shows each outputs hand-over). Prints:
 *   ingester_seconds=... ingester_cpu_seconds=...   (the timed backlog)
 *   ingester_rps=... raw_copy_rps=... ratio=... readings=... rss_peak_mb=...
 *   stage_seconds ... (ems_ingester_stage_seconds_total over the backlog)
 *   chunked_rps=... (second measurement, see below; -s 0 skips it)
 *
 * Each run uses its own topic prefix, consumer group and meter ids, so it
 * starts from empty topics and never collides with stored rows; its rows,
 * rollups and gaps are deleted at the end.
 *
 * The raw half encodes the rows beforehand with the ingester's own encoder
 * (COPY binary) and sends them with one COPY straight into measurements,
 * committed: the floor any writer of that table pays. The ingester half
 * starts the binary and lets it join its group and restore the sites on a
 * warm-up minute (not timed). Then it stops the ingester (SIGSTOP),
 * produces the whole backlog (its rate is printed: produce_rps), checks
 * that the broker still holds all of it (every partition's log start
 * offset still 0: the development broker silently drops the oldest
 * batches beyond 5 MiB per partition, so the bench's producer compresses
 * its batches with lz4), lets the ingester go (SIGCONT) and times until
 * the group's committed offsets cover every record: consumed, decoded,
 * validated, stored, rolled up, published and committed; the way it
 * drains a backlog after an outage. The same amount of later readings is
 * then produced and drained in chunks of CHUNK records (default 50,000),
 * each while the ingester is stopped, for the second figure (chunked_rps:
 * one end-of-burst tail per chunk). The stored row count is checked at
 * the end (a record the broker dropped would be missing).
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/field.h"
#include "clock/clock.h"
#include "db/db.h"
#include "ingester/ing_migrate.h"
#include "ingester/ing_pg.h"

#define TOPIC "energy.telemetry"
#define METERS_PER_SITE 10
#define CHUNK 50000 /* default records per chunk of the chunked figure */
#define MIN_MS ((int64_t)60000)
#define WAIT_S 300

typedef struct opts {
    int meters;
    int per_meter;
    const char *batch_rows;
    const char *writers;
    const char *config;
    int chunk;             /* records per chunk of the second figure; 0 = skip it */
    const char *log_level; /* the ingester's (stderr) */
} opts_t;

/* Pipeline stages of ems_ingester_stage_seconds_total, as the ingester
 * names them. */
#define NSTAGES 11
static const char *const stages[NSTAGES] = {"idle",    "poll",    "decode", "check",
                                            "copy",    "wait",    "redis",  "rollup",
                                            "publish", "outputs", "ack"};

static char tag[48], prefix[64], group[80], http_port[16];
static int64_t t0_ms;
static pid_t child;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "bench-ingester: %s is not set (run it through make bench)\n",
                name);
        exit(1);
    }
    return v;
}

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "bench-ingester: %s: %s\n", what, why);
    return -1;
}

/* ---- the rows ---- */

typedef struct reading {
    int meter, k;
    double kw, kwh;
} reading_t;

static double kw_of(int m, int k)
{
    return 80.0 + 40.0 * sin((double)k / 30.0 + m) + (double)(m % 7);
}

static void meter_name(char *buf, size_t size, const char *who, int m)
{
    snprintf(buf, size, "%s%s-m%04d", who, tag, m);
}

static void site_name(char *buf, size_t size, const char *who, int m)
{
    snprintf(buf, size, "%s%s-s%02d", who, tag, m / METERS_PER_SITE);
}

/* ---- raw COPY ---- */
static PGconn *pg(void)
{
    PGconn *c = PQconnectdb(env("EMS_TEST_PG"));
    if (PQstatus(c) != CONNECTION_OK) {
        fail("postgres", PQerrorMessage(c));
        exit(1);
    }
    return c;
}

/* Applies the ingester's migrations (a no-op when they are applied). */
static int apply_migrations(void)
{
    char err[512], dir[1024];
    db_t *db =
        db_connect(&(db_conf_t){.conninfo = env("EMS_TEST_PG")}, err, sizeof err);
    int rc;

    if (!db) {
        fail("postgres", err);
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/services/ingester/migrations", env("EMS_TEST_ROOT"));
    rc = ing_migrate(db, dir, NULL, err, sizeof err);
    if (rc)
        fail("migrations", err);
    db_close(db);
    return rc;
}

static int pg_exec(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int pg_exec(PGconn *c, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    PGresult *r;
    int ok;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fail(sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static int64_t pg_count(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int64_t pg_count(PGconn *c, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    PGresult *r;
    int64_t v = -1;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* The rows in COPY text format, as the ingester writes them. */
/* The readings as the ingester holds them (who: "raw" or "ing" ids). */
static void to_reading(const reading_t *r, const char *who, ing_reading_t *out)
{
    memset(out, 0, sizeof *out);
    meter_name(out->meter_id, sizeof out->meter_id, who, r->meter);
    site_name(out->site_id, sizeof out->site_id, who, r->meter);
    out->ts_ms = t0_ms + (int64_t)r->k * MIN_MS;
    out->seq = r->k;
    out->source = 2;
    out->present = ING_HAS_POWER | ING_HAS_ENERGY | ING_HAS_VOLTAGE | ING_HAS_CURRENT |
                   ING_HAS_FREQUENCY | ING_HAS_PF;
    out->power_kw = r->kw, out->energy_kwh = r->kwh, out->voltage_v = 400.0;
    out->current_a = r->kw / 0.66, out->frequency_hz = 50.0, out->power_factor = 0.95;
    out->quality = ING_Q_GOOD;
}

/* One COPY of every row into measurements, committed; readings/s. The rows
 * are encoded beforehand with the ingester's own encoder (COPY binary). */
static double raw_copy(const opts_t *o, const reading_t *rd, size_t n)
{
    PGconn *c = pg();
    ing_pg_t *enc = ing_pg_new(NULL);
    ing_reading_t *rows = calloc(n, sizeof *rows);
    const char *buf = NULL;
    size_t len = 0, chunk = 1 << 18;
    double t, rps = -1;
    PGresult *r;

    if (!enc || !rows)
        goto out;
    for (size_t i = 0; i < n; i++)
        to_reading(&rd[i], "raw", &rows[i]);
    if (ing_pg_encode(enc, rows, n, false, &buf, &len))
        goto out;
    /* partitions exist before the clock starts, as for the ingester */
    if (pg_exec(c,
                "SELECT ems_ensure_partition(to_timestamp(%" PRId64 ")),"
                " ems_ensure_partition(to_timestamp(%" PRId64 "))",
                t0_ms / 1000, (t0_ms + (int64_t)o->per_meter * MIN_MS) / 1000))
        goto out;
    t = ems_mono_s();
    if (pg_exec(c, "BEGIN"))
        goto out;
    r = PQexec(c, "COPY measurements (meter_id, site_id, ts, seq, source, power_kw,"
                  " energy_kwh, voltage_v, current_a, frequency_hz, power_factor,"
                  " quality, quality_detail) FROM STDIN (FORMAT binary)");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fail("raw COPY", PQresultErrorMessage(r));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    for (size_t off = 0; off < len; off += chunk)
        if (PQputCopyData(c, buf + off, (int)(len - off < chunk ? len - off : chunk)) !=
            1)
            break;
    PQputCopyEnd(c, NULL);
    r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail("raw COPY", PQresultErrorMessage(r));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    while ((r = PQgetResult(c)))
        PQclear(r);
    if (pg_exec(c, "COMMIT"))
        goto out;
    rps = (double)n / (ems_mono_s() - t);
    if (pg_count(c, "SELECT count(*) FROM measurements WHERE meter_id LIKE 'raw%s-%%'",
                 tag) != (int64_t)n) {
        fail("raw COPY", "row count differs");
        rps = -1;
    }
out:
    ing_pg_destroy(enc);
    free(rows);
    PQfinish(c);
    return rps;
}

/* ---- producing ---- */

static bus_t *bench_bus(void)
{
    /* The bench's producer only. Compressed batches let the whole backlog
     * fit the development broker's 5 MiB per partition (the ingester's
     * consumer decompresses whatever it fetches). Large batches (a long
     * linger, up to 100,000 records) because the development broker
     * answers a fetch with one producer batch per partition, where a Kafka
     * broker fills the fetch with as many as fit: with 20 ms batches of
     * about 4,000 records the consumer ran dry for 0.2-0.4 s in the middle
     * of a backlog (docs/ingester.md, third round). */
    static const char *const props[] = {
        "compression.type", "lz4",        "linger.ms", "1000", "batch.num.messages",
        "100000",           "batch.size", "10000000",  NULL};
    char schemas[1024], err[512];
    snprintf(schemas, sizeof schemas, "%s/schemas", env("EMS_TEST_ROOT"));
    bus_conf_t bc = {.bootstrap = env("EMS_TEST_BOOTSTRAP"),
                     .registry_url = env("EMS_TEST_REGISTRY"),
                     .schema_dir = schemas,
                     .topic_prefix = prefix,
                     .kafka_props = props};
    bus_t *b = bus_new(&bc, err, sizeof err);
    if (!b)
        fail("bus", err);
    return b;
}

static int produce(bus_producer_t *p, avro_value_t *v, const reading_t *r)
{
    ing_reading_t x;
    char err[512];

    to_reading(r, "ing", &x);
    if (bus_field_set_string(v, "site_id", x.site_id) ||
        bus_field_set_string(v, "meter_id", x.meter_id) ||
        bus_field_set_long(v, "ts", x.ts_ms) || bus_field_set_long(v, "seq", x.seq) ||
        bus_field_set_enum(v, "source", x.source) ||
        bus_field_set_enum(v, "quality", 0) ||
        bus_field_set_opt_double(v, "power_kw", true, x.power_kw) ||
        bus_field_set_opt_double(v, "energy_kwh", true, x.energy_kwh) ||
        bus_field_set_opt_double(v, "voltage_v", true, x.voltage_v) ||
        bus_field_set_opt_double(v, "current_a", true, x.current_a) ||
        bus_field_set_opt_double(v, "frequency_hz", true, x.frequency_hz) ||
        bus_field_set_opt_double(v, "power_factor", true, x.power_factor))
        return fail("produce", "a field of the reading does not fit the schema");
    if (bus_produce(p, TOPIC, x.site_id, v, x.ts_ms, err, sizeof err))
        return fail("produce", err);
    return 0;
}

/* ---- committed offsets of the ingester's group ---- */

typedef struct watch {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts;
    char topic[128];
} watch_t;

static int watch_open(watch_t *w)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;

    snprintf(w->topic, sizeof w->topic, "%s%s", prefix, TOPIC);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", env("EMS_TEST_BOOTSTRAP"), err,
                          sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return fail("watch", err);
    }
    if (!(w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err)))
        return fail("watch", err);
    rkt = rd_kafka_topic_new(w->rk, w->topic, NULL);
    if (rd_kafka_metadata(w->rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].partition_cnt < 1) {
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return fail("watch", "no metadata for the bench topic");
    }
    w->parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(w->parts, w->topic,
                                          md->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return 0;
}

static void watch_close(watch_t *w)
{
    if (w->parts)
        rd_kafka_topic_partition_list_destroy(w->parts);
    if (w->rk)
        rd_kafka_destroy(w->rk);
}

/* Records the group committed (sum of committed offsets: the topic is
 * fresh, so offsets count records); -1 on error. */
static int64_t watch_committed(watch_t *w)
{
    int64_t sum = 0;

    if (rd_kafka_committed(w->rk, w->parts, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    for (int i = 0; i < w->parts->cnt; i++)
        if (w->parts->elems[i].offset > 0)
            sum += w->parts->elems[i].offset;
    return sum;
}

/* Whether the broker still holds every record of the topic: each
 * partition's log start offset is 0 (the development broker deletes the
 * oldest batches of a partition beyond 5 MiB without telling anyone).
 * Prints the records per partition; 0, or -1 when records were dropped. */
static int watch_all_kept(watch_t *w)
{
    int rc = 0;

    printf("backlog per partition:");
    for (int i = 0; i < w->parts->cnt; i++) {
        int64_t lo = -1, hi = -1;
        int p = w->parts->elems[i].partition;
        if (rd_kafka_query_watermark_offsets(w->rk, w->topic, p, &lo, &hi, 5000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            return fail("watch", "watermarks not available");
        printf(" p%d=%" PRId64, p, hi);
        if (lo != 0) {
            fprintf(stderr,
                    "bench-ingester: the broker dropped the oldest %" PRId64
                    " records of partition %d: the backlog does not fit its 5 MiB"
                    " log; use fewer readings (-k) or meters (-m)\n",
                    lo, p);
            rc = -1;
        }
    }
    printf("\n");
    return rc;
}

/* ---- the ingester child ---- */

static void start_ingester(const opts_t *o)
{
    child = fork();
    if (child < 0) {
        perror("fork");
        exit(1);
    }
    if (child == 0) {
        char bin[1024];
        if (chdir(env("EMS_TEST_ROOT")) || !freopen("/dev/null", "w", stdout))
            _exit(127);
        setenv("EMS_BUS_BOOTSTRAP", env("EMS_TEST_BOOTSTRAP"), 1);
        setenv("EMS_BUS_REGISTRY_URL", env("EMS_TEST_REGISTRY"), 1);
        setenv("EMS_DB_CONNINFO", env("EMS_TEST_PG"), 1);
        setenv("EMS_REDIS_ADDR", env("EMS_TEST_REDIS"), 1);
        setenv("EMS_REDIS_TTL", "2m", 1);
        setenv("EMS_INGESTER_GROUP_ID", group, 1);
        setenv("EMS_BUS_TOPIC_PREFIX", prefix, 1);
        setenv("EMS_HTTP_PORT", http_port, 1);
        setenv("EMS_LOG_LEVEL", o->log_level, 1);
        if (o->batch_rows)
            setenv("EMS_INGESTER_BATCH_ROWS", o->batch_rows, 1);
        if (o->writers)
            setenv("EMS_INGESTER_WRITERS", o->writers, 1);
        snprintf(bin, sizeof bin, "%s/ingester", env("EMS_TEST_BIN"));
        execl(bin, bin, "--config", o->config, (char *)NULL);
        _exit(127);
    }
}

static long peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* CPU seconds (user + system, all threads) the process used so far. */
static double cpu_s(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    p = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!p || !(p = strrchr(buf, ')')) ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
               &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void stop_ingester(void)
{
    int st;
    if (child > 0) {
        kill(child, SIGCONT);
        kill(child, SIGTERM);
        waitpid(child, &st, 0);
        child = 0;
    }
}

/* ---- the ingester's per-stage seconds, from its /metrics ---- */

typedef struct body {
    char *p;
    size_t len;
} body_t;

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    body_t *b = ctx;
    char *q = realloc(b->p, b->len + size * n + 1);
    if (!q)
        return 0;
    memcpy(q + b->len, data, size * n);
    b->p = q;
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

/* Reads the stage counters into sec[]; 0 or -1. */
static int scrape_stages(double sec[NSTAGES])
{
    char url[64], key[96];
    body_t b = {0};
    CURL *h = curl_easy_init();
    int rc = -1;

    snprintf(url, sizeof url, "http://127.0.0.1:%s/metrics", http_port);
    if (h) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
        rc = curl_easy_perform(h) == CURLE_OK && b.p ? 0 : -1;
        curl_easy_cleanup(h);
    }
    for (int i = 0; rc == 0 && i < NSTAGES; i++) {
        const char *at;
        snprintf(key, sizeof key, "ems_ingester_stage_seconds_total{stage=\"%s\"} ",
                 stages[i]);
        at = strstr(b.p, key);
        sec[i] = at ? strtod(at + strlen(key), NULL) : 0.0;
    }
    free(b.p);
    return rc;
}

/* Waits until the group committed `produced` records; 0 or -1. */
static int drain(watch_t *w, int64_t produced, int timeout_s)
{
    double until = ems_mono_s() + timeout_s;
    int64_t got;

    while ((got = watch_committed(w)) < produced) {
        int st;
        if (ems_mono_s() > until)
            return fail("ingester", "did not commit everything in time");
        if (waitpid(child, &st, WNOHANG) == child) {
            child = 0;
            return fail("ingester", "exited");
        }
        sleep_ms(got < 0 ? 200 : 5);
    }
    return 0;
}

/* What the ingester half measured. */
typedef struct result {
    double rps;         /* the backlog drained in one burst */
    double chunked_rps; /* the later readings, chunk by chunk; 0 = not run */
    double produce_rps, seconds, cpu_seconds;
    long rss_kb;
    double stage_s[NSTAGES];
} result_t;

/* Produces rd[from..to) and waits for their delivery; the seconds it took
 * are added to *t_prod. 0 or -1. */
static int produce_range(bus_producer_t *p, avro_value_t *v, const reading_t *rd,
                         size_t from, size_t to, double *t_prod)
{
    char err[512] = "";
    double t = ems_mono_s();

    for (size_t i = from; i < to; i++)
        if (produce(p, v, &rd[i]))
            return -1;
    if (bus_producer_flush(p, 60000, err, sizeof err))
        return fail("flush", err);
    *t_prod += ems_mono_s() - t;
    return 0;
}

/* Lets the stopped ingester go and times until the group committed
 * `total` records; seconds, or -1. */
static double timed_drain(watch_t *w, int64_t total)
{
    double t = ems_mono_s();

    kill(child, SIGCONT);
    if (drain(w, total, WAIT_S))
        return -1;
    return ems_mono_s() - t;
}

/* The whole backlog rd[0..n) produced while the ingester is stopped, then
 * drained in one burst (timed); 0 or -1 (also when the broker did not keep
 * all of it). */
static int backlog(watch_t *w, bus_producer_t *p, avro_value_t *v, const opts_t *o,
                   const reading_t *rd, size_t n, result_t *res)
{
    double st0[NSTAGES] = {0}, cpu0, t_prod = 0;

    scrape_stages(st0);
    cpu0 = cpu_s(child);
    kill(child, SIGSTOP);
    if (produce_range(p, v, rd, 0, n, &t_prod) || watch_all_kept(w))
        return -1;
    res->produce_rps = (double)n / t_prod;
    if ((res->seconds = timed_drain(w, (int64_t)(o->meters + n))) <= 0)
        return -1;
    res->rps = (double)n / res->seconds;
    res->cpu_seconds = cpu_s(child) - cpu0;
    if (scrape_stages(res->stage_s) == 0)
        for (int k = 0; k < NSTAGES; k++)
            res->stage_s[k] -= st0[k];
    return 0;
}

/* The later readings rd[n..2n), chunk by chunk, each produced while the
 * ingester is stopped and then drained (timed); 0 or -1. */
static int chunked(watch_t *w, bus_producer_t *p, avro_value_t *v, const opts_t *o,
                   const reading_t *rd, size_t n, result_t *res)
{
    double t_prod = 0, t_ing = 0, dt;

    for (size_t i = n; i < 2 * n; i += (size_t)o->chunk) {
        size_t end = i + (size_t)o->chunk < 2 * n ? i + (size_t)o->chunk : 2 * n;
        kill(child, SIGSTOP);
        if (produce_range(p, v, rd, i, end, &t_prod) ||
            (dt = timed_drain(w, (int64_t)(o->meters + end))) <= 0)
            return -1;
        t_ing += dt;
    }
    res->chunked_rps = (double)n / t_ing;
    return 0;
}

/* Warm-up, then the backlog in one burst, then (unless -s 0) the chunked
 * figure; 0 or -1. */
static int ingest(const opts_t *o, const reading_t *rd, size_t n, result_t *res)
{
    bus_t *b = bench_bus();
    char err[512] = "";
    bus_producer_t *p = b ? bus_producer_new(b, err, sizeof err) : NULL;
    watch_t w = {0};
    avro_value_t v;
    int rc = -1;

    if (!p || bus_value_new(b, TOPIC, &v, err, sizeof err)) {
        fail("producer", p ? err : "bus");
        goto out_bus;
    }
    /* warm-up: the minute before the timed rows, so the group has joined
     * and the sites are restored before the clock starts */
    for (int m = 0; m < o->meters; m++) {
        reading_t r0 = {.meter = m, .k = -1, .kw = kw_of(m, -1), .kwh = 1000.0 * m};
        if (produce(p, &v, &r0))
            goto out;
    }
    if (bus_producer_flush(p, 30000, err, sizeof err)) {
        fail("flush", err);
        goto out;
    }
    if (watch_open(&w))
        goto out;
    start_ingester(o);
    if (drain(&w, o->meters, 120) || backlog(&w, p, &v, o, rd, n, res))
        goto out;
    printf("ingester_seconds=%.3f ingester_cpu_seconds=%.3f\n", res->seconds,
           res->cpu_seconds);
    if (o->chunk > 0 && chunked(&w, p, &v, o, rd, n, res))
        goto out;
    res->rss_kb = peak_rss_kb(child);
    rc = 0;
out:
    avro_value_decref(&v);
out_bus:
    stop_ingester();
    watch_close(&w);
    bus_producer_destroy(p);
    bus_destroy(b);
    return rc;
}

static void cleanup(void)
{
    PGconn *c = pg();
    const char *tables[] = {"measurements", "rollup_15m", "rollup_1h", "rollup_1d",
                            "rollup_1mo",   "gaps",       "meters"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        pg_exec(
            c,
            "DELETE FROM %s WHERE site_id LIKE 'raw%s-%%' OR site_id LIKE 'ing%s-%%'",
            tables[i], tag, tag);
    PQfinish(c);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-ingester [-m METERS] [-k READINGS_PER_METER] "
                    "[-b BATCH_ROWS] [-w WRITERS] [-c CONFIG] [-s CHUNK] "
                    "[-L LOG_LEVEL]\n");
}

/* Readings of every meter, minute by minute in time order (as gateways
 * send): 2 * per_meter minutes when the chunked figure runs (its readings
 * follow the backlog's), else per_meter. NULL when out of memory. */
static reading_t *make_readings(const opts_t *o, size_t *total)
{
    int minutes = o->per_meter * (o->chunk > 0 ? 2 : 1);
    reading_t *rd;

    *total = (size_t)o->meters * (size_t)minutes;
    if (!(rd = calloc(*total, sizeof *rd)))
        return NULL;
    for (int k = 0, i = 0; k < minutes; k++)
        for (int m = 0; m < o->meters; m++, i++) {
            rd[i].meter = m, rd[i].k = k, rd[i].kw = kw_of(m, k);
            rd[i].kwh =
                (i >= o->meters ? rd[i - o->meters].kwh : 1000.0 * m) + rd[i].kw / 60.0;
        }
    return rd;
}

static void report(const opts_t *o, const result_t *res, double raw, size_t n)
{
    double ing = res->rps;

    printf("ingester_rps=%.0f raw_copy_rps=%.0f ratio=%.2f readings=%zu meters=%d "
           "rss_peak_mb=%.1f produce_rps=%.0f (one backlog; targets: ratio >= 0.7, "
           ">= 250000/s, rss < 150 MB)\n",
           ing, raw, raw > 0 && ing > 0 ? ing / raw : 0.0, n, o->meters,
           (double)res->rss_kb / 1024.0, res->produce_rps);
    if (o->chunk > 0)
        printf("chunked_rps=%.0f chunked_ratio=%.2f chunk=%d (later readings, one "
               "backlog of %d records at a time)\n",
               res->chunked_rps,
               raw > 0 && res->chunked_rps > 0 ? res->chunked_rps / raw : 0.0, o->chunk,
               o->chunk);
    printf("stage_seconds (backlog; copy summed over the writer sessions):");
    for (int k = 0; k < NSTAGES; k++)
        printf(" %s=%.3f", stages[k], res->stage_s[k]);
    printf("\n");
}

int main(int argc, char **argv)
{
    /* the ingester's default batch, whatever the stack's config says */
    opts_t o = {.meters = 1000,
                .per_meter = 250,
                .batch_rows = "20000",
                .writers = NULL,
                .config = "tools/stack/conf/ingester.yaml",
                .chunk = CHUNK,
                .log_level = "warn"};
    result_t res = {.rss_kb = -1};
    reading_t *rd;
    size_t n, total;
    double raw;
    int64_t stored;
    int opt, rc;
    PGconn *c;

    while ((opt = getopt(argc, argv, "m:k:b:w:c:s:L:")) != -1) {
        if (opt == 'm')
            o.meters = atoi(optarg);
        else if (opt == 'k')
            o.per_meter = atoi(optarg);
        else if (opt == 'b')
            o.batch_rows = optarg;
        else if (opt == 'w')
            o.writers = optarg;
        else if (opt == 'c')
            o.config = optarg;
        else if (opt == 's')
            o.chunk = atoi(optarg);
        else if (opt == 'L')
            o.log_level = optarg;
        else {
            usage();
            return 2;
        }
    }
    if (o.meters < 1 || o.per_meter < 1 || o.chunk < 0) {
        usage();
        return 2;
    }
    snprintf(tag, sizeof tag, "b%dx%ld", (int)getpid(), (long)time(NULL) % 100000);
    snprintf(prefix, sizeof prefix, "bench%s.", tag);
    snprintf(group, sizeof group, "bench-ingester-%s", tag);
    const char *http_base = getenv("EMS_TEST_HTTP_BASE");
    snprintf(http_port, sizeof http_port, "%d",
             (http_base ? atoi(http_base) : 28100) + 92);
    /* two days back, on a 15-minute boundary: the rollups close as it goes */
    t0_ms = ((int64_t)time(NULL) * 1000 - 2 * 86400000LL) / 900000 * 900000;
    n = (size_t)o.meters * (size_t)o.per_meter;
    if (!(rd = make_readings(&o, &total)))
        return 1;

    /* the schema the ingester would create, so the raw half can run on a
     * database no ingester has started on yet */
    if (apply_migrations()) {
        free(rd);
        return 1;
    }
    raw = raw_copy(&o, rd, n);
    rc = ingest(&o, rd, n, &res);
    c = pg();
    stored = pg_count(
        c, "SELECT count(*) FROM measurements WHERE meter_id LIKE 'ing%s-%%'", tag);
    PQfinish(c);
    cleanup();
    free(rd);
    if (rc == 0 && stored != (int64_t)total + o.meters) {
        fprintf(stderr, "bench-ingester: %" PRId64 " rows stored, expected %zu\n",
                stored, total + (size_t)o.meters);
        rc = -1;
    }
    if (rc == 0)
        report(&o, &res, raw, n);
    else
        printf("raw_copy_rps=%.0f (ingester not measured)\n", raw);
    return raw > 0 && rc == 0 ? 0 : 1;
}
