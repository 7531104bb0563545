/* PostgreSQL of the test stack for the integration tests (prefix th_pg_):
 * a connection, statements that must succeed, one-value queries and bounded
 * polling of a count until the service under test has stored what the test
 * expects.
 *
 * Like harness.h: every function runs in the test's own thread and calls
 * Check's ck_assert, so it belongs inside a Check test or fixture; "fails
 * the test" says when it aborts the test. SQL is printf-formatted (a '%'
 * of the SQL itself is written "%%"). Every wait is bounded by a deadline
 * the caller gives.
 */
#ifndef EMS_TESTS_PG_H
#define EMS_TESTS_PG_H

#include <libpq-fe.h>
#include <sys/types.h>

#include "harness.h"

/* A connection to conninfo (NULL: EMS_TEST_PG). Fails the test when it
 * cannot connect; the caller closes it with PQfinish(). */
PGconn *th_pg_connect(const char *conninfo);

/* Runs the statement(s); fails the test, naming the SQL and the server's
 * message, unless the (last) result is a command's or a query's success. */
void th_pg_exec_ok(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The first column of a one-row query as a number; -1 when the query
 * fails (e.g. a table not migrated yet), returns other than one row, or
 * the value is NULL. Never fails the test. */
double th_pg_num(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first column of the query's first row as text, "" when there is no
 * row or the value is NULL. The string is this module's: valid until the
 * next th_pg_str(), so one call per expression. Fails the test when the
 * query fails or the value is longer than 4095 bytes. */
const char *th_pg_str(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Runs th_pg_num() every 50 ms until its value is at least / exactly want
 * (a failing query, -1, never matches) or timeout_s passed; returns the
 * last value. While waiting, pid (if > 0) must run, else the test fails;
 * the deadline itself does not fail the test (the caller asserts). */
double th_pg_poll_num(PGconn *c, th_cmp cmp, double want, pid_t pid, double timeout_s,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* th_pg_poll_num(TH_EXACTLY) that fails the test at the deadline with
 * "<what>: <last value>, expected <want>", or when pid (if > 0) exits
 * first. Returns want. */
double th_pg_wait_num(PGconn *c, double want, pid_t pid, double timeout_s,
                      const char *what, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
