/* PostgreSQL of the test stack for the integration tests; see pg.h. */
#include "pg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The formatted SQL, allocated; fails the test when out of memory. */
static char *format_sql(const char *fmt, va_list ap)
{
    char *sql = NULL;
    ck_assert_msg(vasprintf(&sql, fmt, ap) >= 0, "out of memory formatting '%s'", fmt);
    return sql;
}

PGconn *th_pg_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo ? conninfo : th_env("EMS_TEST_PG"));
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

void th_pg_exec_ok(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = format_sql(fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQerrorMessage(c));
    PQclear(r);
    free(sql);
}

static double num_of(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    double v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        !PQgetisnull(r, 0, 0))
        v = atof(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

double th_pg_num(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = format_sql(fmt, ap);
    va_end(ap);
    double v = num_of(c, sql);
    free(sql);
    return v;
}

const char *th_pg_str(PGconn *c, const char *fmt, ...)
{
    static char out[4096];
    va_list ap;
    va_start(ap, fmt);
    char *sql = format_sql(fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQerrorMessage(c));
    const char *v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "";
    size_t n = strlen(v);
    ck_assert_msg(n < sizeof out, "%s: a value of %zu bytes", sql, n);
    memcpy(out, v, n + 1);
    PQclear(r);
    free(sql);
    return out;
}

static int matches(double got, th_cmp cmp, double want)
{
    return got >= 0 && (cmp == TH_AT_LEAST ? got >= want : got == want);
}

/* The polling of th_pg_poll_num() on formatted SQL; what names the wait
 * when pid exits. */
static double poll_sql(PGconn *c, th_cmp cmp, double want, pid_t pid, double timeout_s,
                       const char *sql, const char *what)
{
    double end = th_mono_s() + timeout_s, got;
    while (!matches(got = num_of(c, sql), cmp, want) && th_mono_s() < end) {
        if (pid > 0)
            ck_assert_msg(th_alive(pid), "the service exited while waiting for %s",
                          what);
        th_sleep_ms(50);
    }
    return got;
}

double th_pg_poll_num(PGconn *c, th_cmp cmp, double want, pid_t pid, double timeout_s,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = format_sql(fmt, ap);
    va_end(ap);
    double got = poll_sql(c, cmp, want, pid, timeout_s, sql, sql);
    free(sql);
    return got;
}

double th_pg_wait_num(PGconn *c, double want, pid_t pid, double timeout_s,
                      const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = format_sql(fmt, ap);
    va_end(ap);
    double got = poll_sql(c, TH_EXACTLY, want, pid, timeout_s, sql, what);
    free(sql);
    ck_assert_msg(got == want, "%s: %g after %.0f s, expected %g", what, got, timeout_s,
                  want);
    return got;
}
