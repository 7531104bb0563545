/*
 * ing_archive: measurement partitions to gzip CSV archives and back (see
 * ing_archive.h).
 */
#include "ingester/ing_archive.h"
#include "file/file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- files ---- */

int ing_archive_sha256(const char *path, char hex[65], char *errstr, size_t errstr_size)
{
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rb");
    size_t n;
    int rc = -1;

    if (!f || !ctx) {
        snprintf(errstr, errstr_size, "cannot read '%s': %s", path, strerror(errno));
        goto out;
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    if (ferror(f)) {
        snprintf(errstr, errstr_size, "reading '%s' failed", path);
        goto out;
    }
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (unsigned int i = 0; i < mdlen && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    if (f)
        fclose(f);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY), rc;
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* The first free "<dir>/<table>[.N].csv.gz" into path. */
static void free_name(const char *dir, const char *table, char *path, size_t size)
{
    struct stat st;
    snprintf(path, size, "%s/%s.csv.gz", dir, table);
    for (int i = 1; stat(path, &st) == 0; i++)
        snprintf(path, size, "%s/%s.%d.csv.gz", dir, table, i);
}

/* Writes "<hex>  <basename>\n" to path.sha256, durably and whole
 * (ems_file_write_atomic_n: a crash leaves no partial checksum beside a
 * complete archive); mode 0666 before the umask, as the archive's. */
static int write_checksum(const char *path, char *errstr, size_t errstr_size)
{
    char hex[65], sum[4200], line[4400];
    const char *base = strrchr(path, '/');

    if (ing_archive_sha256(path, hex, errstr, errstr_size))
        return -1;
    snprintf(sum, sizeof sum, "%s.sha256", path);
    int len = snprintf(line, sizeof line, "%s  %s\n", hex, base ? base + 1 : path);
    return ems_file_write_atomic_n(sum, line, (size_t)len, 0666, errstr, errstr_size);
}

/* ---- export ---- */

/* Streams "COPY (SELECT * FROM table ORDER BY ...) TO STDOUT" into gz. */
static int copy_out(PGconn *pg, const char *table, gzFile gz, int64_t *rows,
                    char *errstr, size_t errstr_size)
{
    char *ident = PQescapeIdentifier(pg, table, strlen(table)), *sql, *line;
    PGresult *res;
    int len, rc = 0;

    if (!ident || asprintf(&sql,
                           "COPY (SELECT * FROM %s ORDER BY 1, 3) TO STDOUT WITH "
                           "(FORMAT csv, HEADER)",
                           ident) < 0) {
        PQfreemem(ident);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    PQfreemem(ident);
    res = PQexec(pg, sql);
    free(sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        snprintf(errstr, errstr_size, "export of '%s': %s", table, PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    *rows = -1; /* the header line */
    while ((len = PQgetCopyData(pg, &line, 0)) > 0) {
        if (rc == 0 && gzwrite(gz, line, (unsigned)len) != len) {
            snprintf(errstr, errstr_size, "compressing '%s' failed", table);
            rc = -1; /* keep draining so the connection stays usable */
        }
        (*rows)++;
        PQfreemem(line);
    }
    while ((res = PQgetResult(pg))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            snprintf(errstr, errstr_size, "export of '%s': %s", table,
                     PQerrorMessage(pg));
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

/* ing_archive_table() of table into a file named after name. */
static int archive_as(db_t *db, const char *table, const char *name, const char *dir,
                      char *path, size_t path_size, int64_t *rows, char *errstr,
                      size_t errstr_size)
{
    char file[4096], tmp[4200];
    int64_t n = 0;
    gzFile gz;
    int rc;

    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(errstr, errstr_size, "cannot create '%s': %s", dir, strerror(errno));
        return -1;
    }
    free_name(dir, name, file, sizeof file);
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    if (!(gz = gzopen(tmp, "wb6"))) {
        snprintf(errstr, errstr_size, "cannot create '%s': %s", tmp, strerror(errno));
        return -1;
    }
    rc = copy_out(db_pg(db), table, gz, &n, errstr, errstr_size);
    if (gzclose(gz) != Z_OK && rc == 0) {
        snprintf(errstr, errstr_size, "cannot write '%s'", tmp);
        rc = -1;
    }
    if (rc == 0 && (fsync_path(tmp) != 0 || rename(tmp, file) != 0)) {
        snprintf(errstr, errstr_size, "cannot write '%s': %s", file, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && (write_checksum(file, errstr, errstr_size) || fsync_path(dir))) {
        unlink(file);
        rc = -1;
    }
    if (rc) {
        unlink(tmp);
        return -1;
    }
    if (path)
        snprintf(path, path_size, "%s", file);
    if (rows)
        *rows = n;
    return 0;
}

int ing_archive_table(db_t *db, const char *table, const char *dir, char *path,
                      size_t path_size, int64_t *rows, char *errstr, size_t errstr_size)
{
    return archive_as(db, table, table, dir, path, path_size, rows, errstr,
                      errstr_size);
}

/* ---- retention ---- */

/* 1 when taken, 0 when another session holds it, -1 on error. */
static int retention_lock(db_t *db, char *errstr, size_t errstr_size)
{
    PGresult *res = db_query(db, "SELECT pg_try_advisory_lock(" ING_RETENTION_LOCK ")",
                             0, NULL, errstr, errstr_size);
    int got;

    if (!res)
        return -1;
    got = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return got;
}

static int archive_due(db_t *db, int64_t retention_days, const char *dir,
                       int64_t now_ms, int *dropped, char *errstr, size_t errstr_size);

int ing_retention_run(db_t *db, int64_t retention_days, const char *dir, int64_t now_ms,
                      int *dropped, char *errstr, size_t errstr_size)
{
    char unlock_err[256];
    int rc;

    if (dropped)
        *dropped = 0;
    rc = retention_lock(db, errstr, errstr_size);
    if (rc <= 0)
        return rc < 0 ? -1 : 1;
    rc = archive_due(db, retention_days, dir, now_ms, dropped, errstr, errstr_size);
    /* an unlock fails only with the session gone, which frees the lock */
    if (db_exec(db, "SELECT pg_advisory_unlock(" ING_RETENTION_LOCK ")", unlock_err,
                sizeof unlock_err) &&
        rc == 0) {
        snprintf(errstr, errstr_size, "%s", unlock_err);
        rc = -1;
    }
    return rc;
}

/*
 * Why a month is detached before it is exported. Several ingesters share the
 * database, and any of them may store a late reading for an old month at any
 * time. Exporting the attached partition and then dropping it lost a reading
 * committed in between (after the export's snapshot, before the DROP: in
 * neither the archive nor the table). So the partition is first taken out of
 * measurements, in a short transaction of its own: DETACH PARTITION takes
 * ACCESS EXCLUSIVE locks on measurements and the partition, so it waits for
 * every transaction inserting into them to end (their rows are then in the
 * partition), and no later insert can reach the detached table (it is
 * renamed <partition>_retired, which frees the month's name). A later
 * reading of that month is refused by measurements ("no partition ... found
 * for row"): the writer's batch fails, is held and stored again, and
 * ems_ensure_partition() creates a new partition for it, which a later check
 * archives under the next free name. The retired table, which nothing writes
 * any more, is then exported with no lock held against the ingest, and
 * dropped. Locks are taken in the writers' order (measurements, then the
 * partition), so the detach cannot deadlock with them; a lock held on the
 * partition across the export would have to be raised to one on measurements
 * for the DROP while writers wait on the partition. A retired table left by
 * a crash or a failed export is archived by the next check before anything
 * else is detached.
 */
#define RETIRED_SUFFIX "_retired"

/* Archives the retired table (named after its month) and drops it. */
static int archive_retired(db_t *db, const char *retired, const char *dir, int *dropped,
                           char *errstr, size_t errstr_size)
{
    char month[32], sql[160];

    /* the name matched ^measurements_[0-9]{6}_retired$: no quoting needed */
    snprintf(month, sizeof month, "%.*s",
             (int)(strlen(retired) - strlen(RETIRED_SUFFIX)), retired);
    if (archive_as(db, retired, month, dir, NULL, 0, NULL, errstr, errstr_size))
        return -1;
    snprintf(sql, sizeof sql, "DROP TABLE %s", retired);
    if (db_exec(db, sql, errstr, errstr_size))
        return -1;
    if (dropped)
        (*dropped)++;
    return 0;
}

/* Detaches the partition from measurements and renames it retired (one
 * transaction); see above. */
static int retire(db_t *db, const char *part, char *retired, size_t retired_size,
                  char *errstr, size_t errstr_size)
{
    char sql[256];

    snprintf(retired, retired_size, "%s" RETIRED_SUFFIX, part);
    snprintf(sql, sizeof sql,
             "ALTER TABLE measurements DETACH PARTITION %s;"
             " ALTER TABLE %s RENAME TO %s",
             part, part, retired);
    if (db_begin(db, errstr, errstr_size))
        return -1;
    if (db_exec(db, sql, errstr, errstr_size) || db_commit(db, errstr, errstr_size)) {
        db_rollback(db, NULL, 0);
        return -1;
    }
    return 0;
}

/* Runs a query of one text column and calls fn on each value, in order,
 * until one fails. */
typedef int (*name_fn)(db_t *db, const char *name, const char *dir, int *dropped,
                       char *errstr, size_t errstr_size);

static int for_each_name(db_t *db, const char *sql, int nparams,
                         const char *const *params, name_fn fn, const char *dir,
                         int *dropped, char *errstr, size_t errstr_size)
{
    PGresult *res = db_query(db, sql, nparams, params, errstr, errstr_size);
    int rc = 0;

    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = fn(db, PQgetvalue(res, i, 0), dir, dropped, errstr, errstr_size);
    PQclear(res);
    return rc;
}

static int archive_partition(db_t *db, const char *part, const char *dir, int *dropped,
                             char *errstr, size_t errstr_size)
{
    char retired[64];

    /* the name matched ^measurements_[0-9]{6}$: no quoting needed */
    if (retire(db, part, retired, sizeof retired, errstr, errstr_size))
        return -1;
    return archive_retired(db, retired, dir, dropped, errstr, errstr_size);
}

static int archive_due(db_t *db, int64_t retention_days, const char *dir,
                       int64_t now_ms, int *dropped, char *errstr, size_t errstr_size)
{
    char cutoff[32];
    const char *params[] = {cutoff};

    snprintf(cutoff, sizeof cutoff, "%" PRId64,
             (int64_t)(now_ms - retention_days * 86400000));
    /* first what an earlier check retired but did not drop */
    if (for_each_name(db,
                      "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND "
                      "c.relnamespace = (SELECT relnamespace FROM pg_class WHERE "
                      "oid = 'measurements'::regclass) AND "
                      "c.relname ~ '^measurements_[0-9]{6}" RETIRED_SUFFIX "$' "
                      "ORDER BY 1",
                      0, NULL, archive_retired, dir, dropped, errstr, errstr_size))
        return -1;
    return for_each_name(
        db,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = "
        "i.inhrelid WHERE i.inhparent = 'measurements'::regclass AND "
        "c.relname ~ '^measurements_[0-9]{6}$' AND (to_date(substr("
        "c.relname, 14, 6), 'YYYYMM') + interval '1 month')::timestamp "
        "AT TIME ZONE 'UTC' <= ems_ms($1::bigint) ORDER BY 1",
        1, params, archive_partition, dir, dropped, errstr, errstr_size);
}

/* ---- restore ---- */

/* Compares path with the digest in path.sha256. */
static int verify(const char *path, char *errstr, size_t errstr_size)
{
    char sum[4200], want[65] = "", got[65];
    FILE *f;

    snprintf(sum, sizeof sum, "%s.sha256", path);
    if (!(f = fopen(sum, "r"))) {
        snprintf(errstr, errstr_size, "cannot read checksum '%s': %s", sum,
                 strerror(errno));
        return -1;
    }
    if (fscanf(f, "%64s", want) != 1)
        want[0] = 0;
    fclose(f);
    if (ing_archive_sha256(path, got, errstr, errstr_size))
        return -1;
    if (strlen(want) != 64 || strcmp(want, got) != 0) {
        snprintf(errstr, errstr_size,
                 "checksum mismatch for '%s': '%s' says %.64s, file is %s", path, sum,
                 want, got);
        return -1;
    }
    return 0;
}

/* Reads the CSV header line of gz into cols (checked to be plain column
 * names separated by commas). */
static int read_header(gzFile gz, char *cols, size_t size, char *errstr,
                       size_t errstr_size)
{
    size_t n;

    if (!gzgets(gz, cols, (int)size) || !(n = strcspn(cols, "\r\n")) || n >= size - 1 ||
        strspn(cols, "abcdefghijklmnopqrstuvwxyz0123456789_,") != n) {
        snprintf(errstr, errstr_size, "archive has no valid CSV header line");
        return -1;
    }
    cols[n] = 0;
    return 0;
}

static int copy_in(PGconn *pg, gzFile gz, char *errstr, size_t errstr_size)
{
    char buf[65536];
    int n;
    PGresult *res;
    int rc = 0;

    while ((n = gzread(gz, buf, sizeof buf)) > 0)
        if (PQputCopyData(pg, buf, n) != 1) {
            snprintf(errstr, errstr_size, "restore: %s", PQerrorMessage(pg));
            return -1;
        }
    if (n < 0) {
        PQputCopyEnd(pg, "archive is not valid gzip");
        snprintf(errstr, errstr_size, "archive is not valid gzip");
        rc = -1;
    } else if (PQputCopyEnd(pg, NULL) != 1) {
        snprintf(errstr, errstr_size, "restore: %s", PQerrorMessage(pg));
        return -1;
    }
    while ((res = PQgetResult(pg))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            snprintf(errstr, errstr_size, "restore: %s", PQerrorMessage(pg));
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

/* Runs sql (printf-style, one %s per argument); 0 or -1 with errstr. For
 * commands whose result is only a status. */
static int exec_fmt(db_t *db, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int exec_fmt(db_t *db, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    char *sql;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vasprintf(&sql, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    rc = db_exec(db, sql, errstr, errstr_size);
    free(sql);
    return rc;
}

/* Staging table, COPY, partitions, insert; inside the caller's transaction. */
static int load(db_t *db, gzFile gz, const char *ident, const char *table,
                int64_t *rows, char *errstr, size_t errstr_size)
{
    char cols[1024], *sql;
    PGresult *res;
    int rc;

    if (read_header(gz, cols, sizeof cols, errstr, errstr_size) ||
        exec_fmt(db, errstr, errstr_size,
                 "CREATE TEMP TABLE ems_restore (LIKE %s) ON COMMIT DROP", ident))
        return -1;
    if (asprintf(&sql, "COPY ems_restore (%s) FROM STDIN WITH (FORMAT csv)", cols) < 0)
        return -1;
    res = PQexec(db_pg(db), sql);
    free(sql);
    rc = PQresultStatus(res) == PGRES_COPY_IN ? 0 : -1;
    if (rc)
        snprintf(errstr, errstr_size, "restore into '%s': %s", table,
                 PQerrorMessage(db_pg(db)));
    PQclear(res);
    if (rc || copy_in(db_pg(db), gz, errstr, errstr_size))
        return -1;
    /* restored readings get their partitions and are findable by site */
    if (strcmp(table, "measurements") == 0 &&
        (db_exec(db,
                 "SELECT ems_ensure_partition(m) FROM (SELECT DISTINCT date_trunc("
                 "'month', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m FROM "
                 "ems_restore) x",
                 errstr, errstr_size) ||
         db_exec(db,
                 "INSERT INTO meters (meter_id, site_id) SELECT DISTINCT ON (meter_id)"
                 " meter_id, site_id FROM ems_restore ORDER BY meter_id, ts DESC"
                 " ON CONFLICT (meter_id) DO NOTHING",
                 errstr, errstr_size)))
        return -1;
    if (asprintf(
            &sql,
            "INSERT INTO %s (%s) SELECT %s FROM ems_restore ON CONFLICT DO NOTHING",
            ident, cols, cols) < 0)
        return -1;
    res = db_query(db, sql, 0, NULL, errstr, errstr_size);
    free(sql);
    if (!res)
        return -1;
    *rows = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

int ing_archive_restore(db_t *db, const char *path, const char *table, int64_t *rows,
                        char *errstr, size_t errstr_size)
{
    char *ident;
    gzFile gz;
    int64_t n = 0;
    int rc = -1;

    if (verify(path, errstr, errstr_size))
        return -1;
    if (!(gz = gzopen(path, "rb"))) {
        snprintf(errstr, errstr_size, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    if (!(ident = PQescapeIdentifier(db_pg(db), table, strlen(table)))) {
        snprintf(errstr, errstr_size, "bad table name '%s'", table);
        goto out;
    }
    if (db_begin(db, errstr, errstr_size))
        goto out;
    if (load(db, gz, ident, table, &n, errstr, errstr_size) ||
        db_commit(db, errstr, errstr_size)) {
        db_rollback(db, NULL, 0);
        goto out;
    }
    if (rows)
        *rows = n;
    rc = 0;
out:
    PQfreemem(ident);
    gzclose(gz);
    return rc;
}

/* ---- the restore-archive command ---- */

int ing_restore_command(int argc, char **argv)
{
    const char *file = NULL, *table = NULL, *conninfo = getenv("EMS_DB_CONNINFO");
    char err[512];
    int64_t rows = 0;
    db_t *db;
    int rc;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
            table = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            conninfo = argv[++i];
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else {
            fprintf(stderr, "ingester: restore-archive: unexpected argument '%s'\n",
                    argv[i]);
            return 2;
        }
    }
    if (!file || !table || !conninfo || !*conninfo) {
        fprintf(stderr, "usage: ingester restore-archive FILE --table TABLE "
                        "[--db CONNINFO] (default EMS_DB_CONNINFO)\n");
        return 2;
    }
    db_conf_t dc = {.conninfo = conninfo, .attempts = 3};
    if (!(db = db_connect(&dc, err, sizeof err))) {
        fprintf(stderr, "ingester: restore-archive: %s\n", err);
        return 1;
    }
    rc = ing_archive_restore(db, file, table, &rows, err, sizeof err);
    db_close(db);
    if (rc) {
        fprintf(stderr, "ingester: restore-archive: %s\n", err);
        return 1;
    }
    printf("restored %lld row(s) from '%s' into '%s'\n", (long long)rows, file, table);
    return 0;
}
