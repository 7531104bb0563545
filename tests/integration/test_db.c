/* Integration tests for db against the test stack's PostgreSQL
 * (EMS_TEST_PG, a libpq conninfo). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "support/harness.h"

#define NROWS 10000

static db_t *db;

static const char *pg(void)
{
    return th_env("EMS_TEST_PG");
}

static void setup(void)
{
    char err[512];
    db_conf_t conf = {.conninfo = pg(), .attempts = 3, .backoff_initial_ms = 50};
    db = db_connect(&conf, err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert_msg(db_exec(db,
                          "CREATE TEMP TABLE t (id bigint PRIMARY KEY, name text, "
                          "v double precision)",
                          err, sizeof err) == 0,
                  "%s", err);
}

static void teardown(void)
{
    db_close(db);
}

/* Values that need escaping in one format or the other. */
static const char *tricky[] = {
    "plain",       "",         NULL,     "tab\there", "line\nbreak", "cr\rhere",
    "back\\slash", "quote\"d", "com,ma", "\\.",       "\\N",         "é unicode °C",
    "  spaces  ",
};
#define NTRICKY (sizeof tricky / sizeof tricky[0])

static void copy_rows(db_copy_format_t fmt)
{
    char err[512], id[32], v[32];
    const char *cols[] = {"id", "name", "v"};
    db_copy_t *c = db_copy_begin(db, "t", cols, 3, fmt, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    for (int i = 0; i < NROWS; i++) {
        snprintf(id, sizeof id, "%d", i);
        snprintf(v, sizeof v, "%.3f", i * 0.25);
        const char *row[] = {id, tricky[i % NTRICKY], v};
        ck_assert_msg(db_copy_row(c, row, err, sizeof err) == 0, "%s", err);
    }
    int64_t rows = -1;
    ck_assert_msg(db_copy_end(c, &rows, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(rows, NROWS);
}

static void check_rows(void)
{
    char err[512];
    PGresult *r =
        db_query(db, "SELECT id, name, v FROM t ORDER BY id", 0, NULL, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(PQntuples(r), NROWS);
    for (int i = 0; i < NROWS; i++) {
        ck_assert_int_eq(atoi(PQgetvalue(r, i, 0)), i);
        const char *want = tricky[i % NTRICKY];
        if (!want) {
            ck_assert_msg(PQgetisnull(r, i, 1), "row %d: want NULL", i);
        } else {
            ck_assert_msg(!PQgetisnull(r, i, 1), "row %d: got NULL for '%s'", i, want);
            ck_assert_str_eq(PQgetvalue(r, i, 1), want);
        }
        ck_assert(strtod(PQgetvalue(r, i, 2), NULL) == i * 0.25);
    }
    PQclear(r);
}

START_TEST(test_copy_text_roundtrip)
{
    copy_rows(DB_COPY_TEXT);
    check_rows();
}
END_TEST

START_TEST(test_copy_csv_roundtrip)
{
    copy_rows(DB_COPY_CSV);
    check_rows();
}
END_TEST

START_TEST(test_copy_bad_row_stores_nothing)
{
    char err[512];
    const char *cols[] = {"id", "name", "v"};
    db_copy_t *c = db_copy_begin(db, "t", cols, 3, DB_COPY_CSV, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    const char *good[] = {"1", "a", "1.5"}, *bad[] = {"2", "b", "not-a-number"};
    ck_assert_int_eq(db_copy_row(c, good, err, sizeof err), 0);
    ck_assert_int_eq(db_copy_row(c, bad, err, sizeof err), 0);
    ck_assert_int_eq(db_copy_end(c, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "not-a-number") != NULL, "%s", err);
    /* The connection is usable again and nothing was stored. */
    PGresult *r = db_query(db, "SELECT count(*) FROM t", 0, NULL, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    /* Abort discards what was sent. */
    c = db_copy_begin(db, "t", cols, 3, DB_COPY_TEXT, err, sizeof err);
    ck_assert_int_eq(db_copy_row(c, good, err, sizeof err), 0);
    db_copy_abort(c, "test abort");
    ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES (5, 'x', 1)", err, sizeof err),
                     0);
    ck_assert(db_copy_begin(db, "no_such_table", cols, 3, DB_COPY_TEXT, err,
                            sizeof err) == NULL);
    ck_assert_msg(strstr(err, "no_such_table") != NULL, "%s", err);
}
END_TEST

START_TEST(test_prepared_and_reconnect)
{
    char err[512];
    ck_assert_int_eq(db_prepare(db, "ins",
                                "INSERT INTO t (id, name, v) VALUES ($1, $2, $3)", 3,
                                err, sizeof err),
                     0);
    ck_assert_int_eq(db_prepare(db, "ins",
                                "INSERT INTO t (id, name, v) VALUES ($1, $2, $3)", 3,
                                err, sizeof err),
                     0);
    ck_assert_int_eq(db_prepare(db, "ins", "SELECT 1", 0, err, sizeof err), -1);
    ck_assert_int_eq(
        db_prepare(db, "get", "SELECT name FROM t WHERE id = $1", 1, err, sizeof err),
        0);
    const char *p1[] = {"1", "one", "1.0"};
    PGresult *r = db_exec_prepared(db, "ins", p1, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    PQclear(r);
    const char *dup[] = {"1", "again", "2.0"};
    ck_assert_ptr_null(db_exec_prepared(db, "ins", dup, err, sizeof err));
    ck_assert_msg(strstr(err, "duplicate key") != NULL, "%s", err);
    ck_assert_ptr_null(db_exec_prepared(db, "nope", dup, err, sizeof err));

    /* A new session forgets prepared statements (and temp tables). */
    int pid = PQbackendPID(db_pg(db));
    PQreset(db_pg(db));
    ck_assert_int_ne(PQbackendPID(db_pg(db)), pid);
    ck_assert_int_eq(db_exec(db,
                             "CREATE TEMP TABLE t (id bigint PRIMARY KEY, name text, "
                             "v double precision)",
                             err, sizeof err),
                     0);
    const char *p2[] = {"2", "two", "2.0"}, *k[] = {"2"};
    r = db_exec_prepared(db, "ins", p2, err, sizeof err);
    ck_assert_msg(r != NULL, "after reset: %s", err);
    PQclear(r);
    r = db_exec_prepared(db, "get", k, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "two");
    PQclear(r);

    /* The server drops the session: the next call fails, the one after
     * reconnects by itself. */
    db_conf_t conf = {.conninfo = pg()};
    db_t *admin = db_connect(&conf, err, sizeof err);
    ck_assert_ptr_nonnull(admin);
    char pidtxt[16];
    snprintf(pidtxt, sizeof pidtxt, "%d", PQbackendPID(db_pg(db)));
    const char *pp[] = {pidtxt};
    r = db_query(admin, "SELECT pg_terminate_backend($1::int)", 1, pp, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    PQclear(r);
    db_close(admin);
    if (db_check(db, err, sizeof err) < 0)
        ck_assert_msg(db_check(db, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(db_reconnect(db, err, sizeof err), 0);
    ck_assert_int_eq(db_check(db, err, sizeof err), 0);
}
END_TEST

/* Sessions compute in UTC whatever the server, role or PGTZ says: month
 * partitions and rollup buckets depend on it. */
START_TEST(test_session_is_utc)
{
    char err[512];
    db_conf_t conf = {.conninfo = pg()};
    setenv("PGTZ", "Europe/Amsterdam", 1);
    db_t *d = db_connect(&conf, err, sizeof err);
    unsetenv("PGTZ");
    ck_assert_msg(d != NULL, "%s", err);
    PGresult *r = db_query(d,
                           "SELECT current_setting('TimeZone'), "
                           "(date_trunc('month', timestamptz '2024-03-15 12:00Z') + "
                           "interval '1 month')::text",
                           0, NULL, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "UTC");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "2024-04-01 00:00:00+00");
    PQclear(r);
    db_close(d);
}
END_TEST

START_TEST(test_transactions)
{
    char err[512];
    ck_assert_int_eq(db_begin(db, err, sizeof err), 0);
    ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES (1, 'a', 1)", err, sizeof err),
                     0);
    ck_assert_int_eq(db_rollback(db, err, sizeof err), 0);
    ck_assert_int_eq(db_begin(db, err, sizeof err), 0);
    ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES (2, 'b', 1)", err, sizeof err),
                     0);
    ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES (2, 'b', 1)", err, sizeof err),
                     -1);
    ck_assert_int_eq(db_commit(db, err, sizeof err), -1); /* the server rolled back */
    ck_assert_msg(strstr(err, "rolled back") != NULL, "%s", err);
    ck_assert_int_eq(db_begin(db, err, sizeof err), 0);
    ck_assert_int_eq(db_exec(db, "INSERT INTO t VALUES (3, 'c', 1)", err, sizeof err),
                     0);
    ck_assert_int_eq(db_commit(db, err, sizeof err), 0);
    PGresult *r = db_query(db, "SELECT string_agg(id::text, ',') FROM t", 0, NULL, err,
                           sizeof err);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "3");
    PQclear(r);
}
END_TEST

START_TEST(test_unreachable_names_endpoint_not_password)
{
    char err[512];
    db_conf_t conf = {.conninfo =
                          "host=127.0.0.1 port=1 user=ems_u password=sekret dbname=x",
                      .attempts = 2,
                      .backoff_initial_ms = 10};
    ck_assert_ptr_null(db_connect(&conf, err, sizeof err));
    ck_assert_msg(strstr(err, "ems_u@127.0.0.1:1/x") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "2 attempt") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "sekret"));
    conf.conninfo = "postgresql://ems_u:sekret@127.0.0.1:1/y";
    ck_assert_ptr_null(db_connect(&conf, err, sizeof err));
    ck_assert_msg(strstr(err, "ems_u@127.0.0.1:1/y") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "sekret"));
}
END_TEST

/* The password of role ems, from the passfile named in EMS_TEST_PG (lines
 * host:port:db:user:password). The caller frees it. */
static char *ems_password(void)
{
    char path[512] = "";
    const char *pf = strstr(pg(), "passfile=");
    ck_assert_msg(pf != NULL, "EMS_TEST_PG names no passfile: %s", pg());
    snprintf(path, sizeof path, "%.*s", (int)strcspn(pf + 9, " "), pf + 9);
    char *text = th_read_file(path);
    char *line = strstr(text, ":ems:ems:");
    ck_assert_msg(line != NULL, "no line of role ems in %s", path);
    line += strlen(":ems:ems:");
    char *password = strndup(line, strcspn(line, "\n"));
    free(text);
    return password;
}

/* A role and password given apart (a Kubernetes Secret's username and
 * password keys) override those of the conninfo, also on reconnect. */
START_TEST(test_user_and_password_apart_override_conninfo)
{
    char err[512], conninfo[1024];
    char *password = ems_password();
    snprintf(conninfo, sizeof conninfo, "%s user=nobody passfile=/nonexistent", pg());
    db_conf_t conf = {
        .conninfo = conninfo, .user = "ems", .password = password, .attempts = 1};
    db_t *d = db_connect(&conf, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_msg(!strncmp(db_endpoint(d), "ems@", 4), "%s", db_endpoint(d));
    ck_assert_msg(db_reconnect(d, err, sizeof err) == 0, "%s", err);
    PGresult *r = db_query(d, "SELECT current_user", 0, NULL, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "ems");
    PQclear(r);
    db_close(d);
    free(password);
}
END_TEST

static const struct {
    const char *in;
    db_copy_format_t fmt;
    const char *out;
} esc_cases[] = {
    {"a\tb\\c\nd\re", DB_COPY_TEXT, "a\\tb\\\\c\\nd\\re"},
    {NULL, DB_COPY_TEXT, "\\N"},
    {"", DB_COPY_TEXT, ""},
    {"plain", DB_COPY_CSV, "plain"},
    {"", DB_COPY_CSV, "\"\""},
    {NULL, DB_COPY_CSV, ""},
    {"a,\"b\"", DB_COPY_CSV, "\"a,\"\"b\"\"\""},
    {"\\.", DB_COPY_CSV, "\"\\.\""},
};

START_TEST(test_escape_table)
{
    char *s = db_copy_escape(esc_cases[_i].in, esc_cases[_i].fmt);
    ck_assert_str_eq(s, esc_cases[_i].out);
    free(s);
}
END_TEST

static Suite *db_suite(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("postgres");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_copy_text_roundtrip);
    tcase_add_test(tc, test_copy_csv_roundtrip);
    tcase_add_test(tc, test_copy_bad_row_stores_nothing);
    tcase_add_test(tc, test_prepared_and_reconnect);
    tcase_add_test(tc, test_transactions);
    tcase_add_test(tc, test_session_is_utc);
    tcase_add_test(tc, test_user_and_password_apart_override_conninfo);
    suite_add_tcase(s, tc);
    TCase *tn = tcase_create("offline");
    tcase_add_test(tn, test_unreachable_names_endpoint_not_password);
    tcase_add_loop_test(tn, test_escape_table, 0,
                        (int)(sizeof esc_cases / sizeof esc_cases[0]));
    suite_add_tcase(s, tn);
    return s;
}

int main(void)
{
    return th_run_suite(db_suite(), 0);
}
