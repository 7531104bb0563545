/*
 * Integration test of measurement retention (test stack, EMS_TEST_*). The
 * ingester runs against its own schema of the test database (search_path
 * in the conninfo), so dropping old months cannot touch other tests' data.
 * Months of 2016 and 2020 are filled; with a 30-day retention the ingester
 * archives each to a gzip CSV with a sha256sum file and drops it (not while
 * another session holds the retention lock, as a second ingester would), keeps the
 * current month and the rollups; `ingester restore-archive` verifies the
 * checksum and loads an archive back (into another table and into
 * measurements), a second restore adds nothing, and a corrupted archive is
 * refused with nothing loaded. A late reading committed by another session
 * while a month is archived ends up in the archive or in the table, and a
 * reading of an archived month from the bus recreates its partition, which
 * the next check archives under the next name.
 */
#include <check.h>
#include <glob.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ingester/ing_archive.h"
#include "support/harness.h"
#include "support/ingester.h"
#include "support/pg.h"

#define WAIT_S 30 /* deadline of a wait for the ingester's work */
#define SKIPPED "ems_ingester_retention_skipped_total"

static char schema[48], conninfo[1024], dir[256], group[64];
static int port; /* the child's HTTP port */
static pid_t child;
static PGconn *pg;

/* The number of migration files the ingester applies. */
static int migration_files(void)
{
    char pattern[1024];
    glob_t g;
    int n;

    snprintf(pattern, sizeof pattern, "%s/services/ingester/migrations/*.sql",
             th_env("EMS_TEST_ROOT"));
    ck_assert(glob(pattern, 0, NULL, &g) == 0);
    n = (int)g.gl_pathc;
    globfree(&g);
    return n;
}

static void start_ingester(void)
{
    th_env_list e = {0};

    th_ing_env(&e, conninfo, group, schema, port);
    th_env_add(&e, "EMS_INGESTER_RETENTION_DAYS=30");
    th_env_add(&e, "EMS_INGESTER_RETENTION_CHECK=1s");
    th_env_add(&e, "EMS_INGESTER_ARCHIVE_DIR=%s", dir);
    /* one writer session: the one that knows the partitions of the months
     * it stored (test_retention_concurrent_insert) */
    th_env_add(&e, "EMS_INGESTER_WRITERS=1");
    child = th_ing_start(&e, NULL);
    th_env_release(&e);
}

/* A schema of its own (name starting with tag), the archive directory, and
 * the ingester started on them with its migrations applied. */
static void start_in_own_schema(const char *tag)
{
    snprintf(schema, sizeof schema, "%s%d_%ld", tag, (int)getpid(),
             (long)time(NULL) % 100000);
    snprintf(conninfo, sizeof conninfo, "%s options='-c search_path=%s'",
             th_env("EMS_TEST_PG"), schema);
    snprintf(dir, sizeof dir, "/tmp/ems-%s", schema);
    snprintf(group, sizeof group, "ingester-%s", schema);
    port = th_free_port();
    ck_assert(mkdir(dir, 0700) == 0);
    pg = th_pg_connect(NULL);
    th_pg_exec_ok(pg, "CREATE SCHEMA %s", schema);
    th_pg_exec_ok(pg, "SET search_path = %s", schema);

    start_ingester();
    th_pg_wait_num(pg, 1, child, WAIT_S, "the migrations table",
                   "SELECT count(*) FROM pg_tables WHERE schemaname = '%s' AND "
                   "tablename = 'schema_migrations'",
                   schema);
    th_pg_wait_num(pg, migration_files(), child, WAIT_S, "applied migrations",
                   "SELECT count(*) FROM schema_migrations");
}

static void drop_own_schema(void)
{
    char cmd[400];

    th_pg_exec_ok(pg, "SET search_path = public");
    th_pg_exec_ok(pg, "SET client_min_messages = warning");
    th_pg_exec_ok(pg, "DROP SCHEMA %s CASCADE", schema);
    PQfinish(pg);
    pg = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void stop_ingester(void)
{
    th_stop(&child);
}

/* `ingester restore-archive FILE --table T` (conninfo from the
 * environment); returns the exit code, output in dir/restore.out. */
static int restore(const char *file, const char *table)
{
    char cmd[2048];
    int st;

    setenv("EMS_DB_CONNINFO", conninfo, 1);
    snprintf(cmd, sizeof cmd,
             "'%s/ingester' restore-archive '%s' --table %s >'%s/restore.out' 2>&1",
             th_env("EMS_TEST_BIN"), file, table, dir);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *restore_output(void)
{
    static char out[1024];
    char path[512];
    FILE *f;
    size_t n = 0;

    snprintf(path, sizeof path, "%s/restore.out", dir);
    if ((f = fopen(path, "r"))) {
        n = fread(out, 1, sizeof out - 1, f);
        fclose(f);
    }
    out[n] = 0;
    return out;
}

/* Lines of a gzip file that contain needle ("" = every line). */
static int gz_grep(const char *path, const char *needle)
{
    gzFile gz = gzopen(path, "rb");
    char buf[4096];
    int n = 0;

    ck_assert_msg(gz != NULL, "cannot read '%s'", path);
    while (gzgets(gz, buf, sizeof buf))
        n += strstr(buf, needle) != NULL;
    gzclose(gz);
    return n;
}

static int gz_lines(const char *path)
{
    return gz_grep(path, "");
}

/* Fills a month with one reading per meter and hour, in one transaction
 * (the partition and its rows appear together). */
/* Runs inside the caller's transaction. */
static void fill_month(const char *month, int meters, int hours)
{
    th_pg_exec_ok(pg, "SELECT ems_ensure_partition('%s-01 00:00+00')", month);
    th_pg_exec_ok(
        pg,
        "INSERT INTO measurements (meter_id, site_id, ts, seq, source, power_kw, "
        "energy_kwh, quality, quality_detail) SELECT 'm' || m, 'site, \"a\"', "
        "'%s-01 00:00+00'::timestamptz + h * interval '1 hour', h, 1, "
        "100.0 / 3 + m, h * 33.3, 'good', CASE WHEN h %% 2 = 0 THEN NULL "
        "ELSE 'line1\nline2' END FROM generate_series(1, %d) m, "
        "generate_series(0, %d) h",
        month, meters, hours - 1);
}

#define OLD_ROWS                                                                       \
    "SELECT md5(string_agg(t::text, '|' ORDER BY meter_id, ts)) FROM %s t WHERE ts < " \
    "'2021-01-01'"

START_TEST(test_retention_archive_restore)
{
    char md5_old[64], file16[300], file20[300], bad[300], cmd[2000];

    start_in_own_schema("ret");
    /* One transaction up to the checksum: the ingester's retention check
     * runs on its own clock and must not archive a month before the
     * checksum of what it will archive is taken (it sees nothing until
     * the COMMIT). */
    /* Another ingester archiving: this session holds the retention lock
     * (the ingester's key, on this schema's table). */
    th_pg_exec_ok(pg, "SELECT pg_advisory_lock(" ING_RETENTION_LOCK ")");
    th_pg_exec_ok(pg, "BEGIN");
    fill_month("2016-01", 3, 48);
    fill_month("2020-02", 2, 24);
    th_pg_exec_ok(
        pg, "INSERT INTO rollup_1d (scope, site_id, interval_start, interval_end, "
            "energy_kwh, mean_kw, peak_kw, sample_count, completeness) VALUES "
            "('site', 's', '2016-01-02', '2016-01-03', 100, 4, 5, 96, 1)");
    th_pg_exec_ok(pg, "SELECT ems_ensure_partition(now())");
    th_pg_exec_ok(
        pg, "INSERT INTO measurements (meter_id, site_id, ts, seq, source, quality) "
            "VALUES ('m-now', 's', now(), 1, 1, 'good')");
    snprintf(md5_old, sizeof md5_old, "%s", th_pg_str(pg, OLD_ROWS, "measurements"));
    th_pg_exec_ok(pg, "COMMIT");

    /* while the lock is held, checks that see the old months skip them */
    double skipped = th_metric(port, SKIPPED);
    th_wait_metric(port, SKIPPED, skipped + 1, child, WAIT_S);
    ck_assert_str_eq(th_pg_str(pg,
                               "SELECT count(*) FROM pg_tables WHERE schemaname = "
                               "'%s' AND tablename IN ('measurements_201601', "
                               "'measurements_202002')",
                               schema),
                     "2");
    ck_assert_double_eq(th_metric(port, "ems_ingester_partitions_archived_total"), 0);
    th_pg_exec_ok(pg, "SELECT pg_advisory_unlock(" ING_RETENTION_LOCK ")");

    /* the ingester's next check archives and drops both old months */
    th_pg_wait_num(pg, 0, child, WAIT_S, "old month partitions",
                   "SELECT count(*) FROM pg_tables WHERE schemaname = '%s' AND "
                   "tablename IN ('measurements_201601', 'measurements_202002')",
                   schema);
    stop_ingester();
    ck_assert_str_eq(
        th_pg_str(pg, "SELECT count(*) FROM measurements WHERE ts < '2021-01-01'"),
        "0");
    ck_assert_str_eq(
        th_pg_str(pg, "SELECT count(*) FROM measurements WHERE meter_id = 'm-now'"),
        "1");
    ck_assert_str_eq(th_pg_str(pg, "SELECT count(*) FROM rollup_1d"), "1");
    snprintf(file16, sizeof file16, "%s/measurements_201601.csv.gz", dir);
    snprintf(file20, sizeof file20, "%s/measurements_202002.csv.gz", dir);
    ck_assert_int_eq(gz_lines(file16), 1 + 3 * 48 + 3 * 24); /* quoted newlines */
    ck_assert_int_eq(gz_lines(file20), 1 + 2 * 24 + 2 * 12);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && sha256sum --check --status "
             "measurements_201601.csv.gz.sha256 measurements_202002.csv.gz.sha256",
             dir);
    ck_assert_int_eq(system(cmd), 0);

    /* restore into a table of the same shape, then into measurements */
    th_pg_exec_ok(pg, "CREATE TABLE restored (LIKE measurements INCLUDING ALL)");
    ck_assert_int_eq(restore(file16, "restored"), 0);
    ck_assert_int_eq(restore(file20, "restored"), 0);
    ck_assert_str_eq(th_pg_str(pg, OLD_ROWS, "restored"), md5_old);
    ck_assert_int_eq(restore(file16, "measurements"), 0);
    ck_assert_int_eq(restore(file20, "measurements"), 0);
    ck_assert_str_eq(th_pg_str(pg, OLD_ROWS, "measurements"), md5_old);
    /* the restored meters are findable by their site (the restore's path) */
    ck_assert_double_eq(
        th_pg_num(pg, "SELECT count(*) FROM meters WHERE site_id = 'site, \"a\"' AND "
                      "meter_id IN (SELECT meter_id FROM measurements WHERE ts < "
                      "'2021-01-01')"),
        th_pg_num(pg, "SELECT count(DISTINCT meter_id) FROM measurements WHERE ts < "
                      "'2021-01-01' AND site_id = 'site, \"a\"'"));
    ck_assert_int_eq(restore(file16, "measurements"), 0); /* again: nothing added */
    ck_assert_msg(strstr(restore_output(), "restored 0 row(s)") != NULL, "%s",
                  restore_output());

    /* a corrupted archive is refused before anything is loaded */
    snprintf(bad, sizeof bad, "%s/bad.csv.gz", dir);
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s' && cp '%s.sha256' '%s.sha256' && printf 'x' | dd of='%s' "
             "bs=1 seek=100 conv=notrunc status=none",
             file16, bad, file16, bad, bad);
    ck_assert_int_eq(system(cmd), 0);
    th_pg_exec_ok(pg, "TRUNCATE restored");
    ck_assert_int_eq(restore(bad, "restored"), 1);
    ck_assert_msg(strstr(restore_output(), "checksum mismatch") != NULL, "%s",
                  restore_output());
    ck_assert_str_eq(th_pg_str(pg, "SELECT count(*) FROM restored"), "0");
    drop_own_schema();
}
END_TEST

/* One reading of 2016-01 through the bus (site "bus"). */
static void produce_2016(const char *meter, int64_t ts_ms)
{
    bus_conf_t bc = {.topic_prefix = schema};
    bus_t *b = th_bus_new(&bc);
    char err[512];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    th_ing_produce(b, p,
                   &(th_reading){.site = "bus",
                                 .meter = meter,
                                 .ts_ms = ts_ms,
                                 .seq = 1,
                                 .power_kw = 5,
                                 .has_power = 1});
    ck_assert_msg(bus_producer_flush(p, 30000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

#define JAN_2016_MS 1451606400000LL /* 2016-01-01T00:00:00Z */
#define LOCK_WAITS                                                                     \
    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation IN (SELECT oid "     \
    "FROM pg_class WHERE relname LIKE 'measurements%%' AND "                           \
    "relnamespace = '%s'::regnamespace)"

/* Another ingester commits a late reading of a month while this one
 * archives it: the reading must end up in the archive or in measurements.
 * The test's session plays the other ingester: its transaction inserting
 * into January 2016 is open when the check starts, the check waits for it
 * (a lock), then it commits. Before, the export did not see the row (not
 * committed yet) and the DROP TABLE that waited for it dropped it. Then a
 * reading of that month comes through the bus to the ingester's writer,
 * which stored one before (it knows the partition): its batch fails, is
 * stored again into a recreated partition, and the next check archives
 * that one under the next name. A retired month left by a check that
 * stopped before its DROP is archived first. */
START_TEST(test_retention_concurrent_insert)
{
    char file[300], file1[300];
    PGconn *other;
    double in_table, in_archive;

    start_in_own_schema("retc");
    th_pg_exec_ok(pg, "SELECT pg_advisory_lock(" ING_RETENTION_LOCK ")");
    /* a month detached by a check that stopped before dropping it */
    th_pg_exec_ok(pg, "CREATE TABLE measurements_201512_retired (LIKE measurements)");
    th_pg_exec_ok(pg, "INSERT INTO measurements_201512_retired (meter_id, site_id, ts, "
                      "seq, source, quality) VALUES ('m-dec', 's', '2015-12-31 "
                      "23:00+00', 1, 1, 'good')");
    fill_month("2016-01", 2, 24);
    produce_2016("bus-a", JAN_2016_MS + 3600000LL);
    th_pg_wait_num(pg, 1, child, WAIT_S, "the reading from the bus",
                   "SELECT count(*) FROM measurements WHERE meter_id = 'bus-a'");

    other = th_pg_connect(conninfo);
    th_pg_exec_ok(other, "BEGIN");
    th_pg_exec_ok(other,
                  "INSERT INTO measurements (meter_id, site_id, ts, seq, source, "
                  "quality) VALUES ('m-late', 's', '2016-01-20 12:00+00', 1, 1, "
                  "'good')");
    th_pg_exec_ok(pg, "SELECT pg_advisory_unlock(" ING_RETENTION_LOCK ")");
    th_pg_wait_num(pg, 1, child, WAIT_S, "the retention check waiting for the insert",
                   LOCK_WAITS, schema);
    th_pg_exec_ok(other, "COMMIT");
    PQfinish(other);
    th_wait_metric(port, "ems_ingester_partitions_archived_total", 2, child, WAIT_S);
    snprintf(file, sizeof file, "%s/measurements_201512.csv.gz", dir);
    ck_assert_int_eq(gz_grep(file, "m-dec"), 1);

    snprintf(file, sizeof file, "%s/measurements_201601.csv.gz", dir);
    in_table =
        th_pg_num(pg, "SELECT count(*) FROM measurements WHERE meter_id = 'm-late'");
    in_archive = gz_grep(file, "m-late");
    ck_assert_msg(in_table + in_archive == 1,
                  "the late reading is %g time(s) in the table and %g in the archive",
                  in_table, in_archive);
    /* header, the month (quoted newlines in half its rows), bus-a */
    ck_assert_int_eq(gz_lines(file), 1 + 2 * 24 + 2 * 12 + 1 + (int)in_archive);

    /* the writer's partition is gone: the next reading recreates it */
    double db_errors = th_metric(port, "ems_ingester_db_errors_total");
    produce_2016("bus-b", JAN_2016_MS + 7200000LL);
    th_wait_metric(port, "ems_ingester_partitions_archived_total", 3, child, WAIT_S);
    snprintf(file1, sizeof file1, "%s/measurements_201601.1.csv.gz", dir);
    ck_assert_int_eq(gz_grep(file1, "bus-b"), 1);
    ck_assert_int_eq(gz_lines(file1), 2);
    ck_assert_double_gt(th_metric(port, "ems_ingester_db_errors_total"), db_errors);
    ck_assert_double_eq(th_pg_num(pg, "SELECT count(*) FROM measurements"), 0);
    ck_assert_double_eq(th_pg_num(pg,
                                  "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                  "'%s' AND tablename LIKE '%%retired'",
                                  schema),
                        0);
    stop_ingester();
    drop_own_schema();
}
END_TEST

static void teardown(void)
{
    stop_ingester();
}

int main(void)
{
    Suite *s = suite_create("ingester-retention");
    TCase *tc = tcase_create("retention");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_retention_archive_restore);
    tcase_add_test(tc, test_retention_concurrent_insert);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
