/*
 * db: a PostgreSQL connection (libpq) for the ingester and the reporter.
 *
 * - Connecting retries with bounded exponential backoff; errors name the
 *   endpoint as user@host:port/dbname, never the password.
 * - Prepared statements are prepared once by name and re-prepared lazily
 *   after a reconnect (a new session forgets them).
 * - COPY ... FROM STDIN in text or CSV format, with each field escaped for
 *   its format, buffered, and checked at the end (row count).
 *
 * Threads: a db_t is used by one thread at a time.
 */
#ifndef EMS_DB_DB_H
#define EMS_DB_DB_H

#include <libpq-fe.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db_s db_t;
typedef struct db_copy_s db_copy_t;

typedef struct db_conf {
    const char *conninfo; /* libpq keyword/value string or URI (required) */
    /* Optional: role and password given apart from conninfo (a Kubernetes
     * Secret's "username" and "password" keys), overriding conninfo's. */
    const char *user;
    const char *password;
    int attempts;           /* connection attempts; 0 = 5 */
    int backoff_initial_ms; /* first wait; doubles per attempt; 0 = 200 */
    int backoff_max_ms;     /* cap on one wait; 0 = 5000 */
    int connect_timeout_s;  /* per attempt, when conninfo sets none; 0 = 5 */
    /* Optional: when it becomes non-zero (SIGTERM), retrying stops. */
    const volatile sig_atomic_t *stop;
} db_conf_t;

/* Connects, retrying with backoff. Returns a handle, or NULL with errstr
 * ("postgres user@host:port/db: <libpq reason>"). Copies conf. */
db_t *db_connect(const db_conf_t *conf, char *errstr, size_t errstr_size);
/* Closes and frees. NULL is a no-op. */
void db_close(db_t *db);

/* The libpq connection, borrowed (for calls this API does not wrap). */
PGconn *db_pg(db_t *db);
/* "user@host:port/dbname", never the password. Borrowed. */
const char *db_endpoint(const db_t *db);

/* Resets the session (PQreset) with the same backoff as db_connect. Returns 0,
 * or -1 with errstr. Prepared statements are re-prepared on next use. */
int db_reconnect(db_t *db, char *errstr, size_t errstr_size);
/* Health check for /readyz: runs "SELECT 1"; on a broken connection tries
 * one reset first. Returns 0 or -1 with errstr. */
int db_check(db_t *db, char *errstr, size_t errstr_size);

/* Runs one or more SQL commands without parameters. 0 or -1 with errstr. */
int db_exec(db_t *db, const char *sql, char *errstr, size_t errstr_size);
/* Runs a parameterised query (text parameters, NULL = SQL NULL). Returns the
 * result (COMMAND_OK or TUPLES_OK) for the caller to PQclear(), or NULL with
 * errstr. */
PGresult *db_query(db_t *db, const char *sql, int nparams, const char *const *params,
                   char *errstr, size_t errstr_size);

/* Registers a statement under name (sql copied). It is prepared now and
 * again after any reconnect. Registering the same name with the same SQL is
 * a no-op; with different SQL an error. Returns 0 or -1 with errstr. */
int db_prepare(db_t *db, const char *name, const char *sql, int nparams, char *errstr,
               size_t errstr_size);
/* Executes a registered statement. Returns the result for the caller to
 * PQclear(), or NULL with errstr (unknown name, SQL error). */
PGresult *db_exec_prepared(db_t *db, const char *name, const char *const *params,
                           char *errstr, size_t errstr_size);

/* Transactions. 0 or -1 with errstr. */
int db_begin(db_t *db, char *errstr, size_t errstr_size);
int db_commit(db_t *db, char *errstr, size_t errstr_size);
int db_rollback(db_t *db, char *errstr, size_t errstr_size);

/* ---- COPY FROM STDIN ---- */
typedef enum { DB_COPY_TEXT = 0, DB_COPY_CSV } db_copy_format_t;

/* Starts "COPY table (columns) FROM STDIN" in fmt. table is SQL text from
 * the caller's code (may be schema-qualified); column names are quoted
 * here. Returns a copy handle or NULL with errstr. Until db_copy_end() or
 * db_copy_abort(), the connection serves only this COPY. */
db_copy_t *db_copy_begin(db_t *db, const char *table, const char *const *columns,
                         size_t ncolumns, db_copy_format_t fmt, char *errstr,
                         size_t errstr_size);
/* Appends one row of ncolumns values (NULL = SQL NULL), escaped for the
 * format. Returns 0 or -1 with errstr. */
int db_copy_row(db_copy_t *c, const char *const *values, char *errstr,
                size_t errstr_size);
/* Ends the COPY, waits for the server's verdict and frees c. Returns 0 and
 * the number of rows the server stored in *rows (optional), or -1 with
 * errstr (the whole COPY was rolled back by the server). */
int db_copy_end(db_copy_t *c, int64_t *rows, char *errstr, size_t errstr_size);
/* Cancels the COPY (nothing is stored) and frees c. NULL is a no-op. */
void db_copy_abort(db_copy_t *c, const char *reason);

/* Escapes one value into buf for fmt (without delimiter); for tests.
 * Returns the malloc'd text, or NULL on allocation failure. */
char *db_copy_escape(const char *value, db_copy_format_t fmt);

#endif
