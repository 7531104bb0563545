/*
 * db: connection with retry/backoff, queries, prepared statements and
 * transactions. COPY lives in copy.c.
 */
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_int.h"

/* ---- endpoint and connect ---- */

/* "user@host:port/dbname" from the conninfo (defaults filled by libpq);
 * user_override, when set, is the role connected as instead. */
static void endpoint_of(const char *conninfo, const char *user_override, char *out,
                        size_t size)
{
    const char *user = "", *host = "", *port = "", *dbname = "";
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    PQconninfoOption *defs = PQconndefaults();
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        const char *v = o->val;
        for (PQconninfoOption *d = defs; !v && d && d->keyword; d++)
            if (strcmp(d->keyword, o->keyword) == 0)
                v = d->val;
        if (!v)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = v;
        else if (strcmp(o->keyword, "host") == 0 ||
                 (strcmp(o->keyword, "hostaddr") == 0 && !*host))
            host = v;
        else if (strcmp(o->keyword, "port") == 0)
            port = v;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = v;
    }
    if (user_override)
        user = user_override;
    if (!opts)
        snprintf(out, size, "(unparsable conninfo)");
    else
        snprintf(out, size, "%s@%s:%s/%s", user, *host ? host : "localhost",
                 *port ? port : "5432", dbname);
    PQconninfoFree(opts);
    PQconninfoFree(defs);
    PQfreemem(err);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

/* libpq messages end with a newline; keep one line. */
static void pq_reason(PGconn *c, char *out, size_t size)
{
    snprintf(out, size, "%s", c ? PQerrorMessage(c) : "out of memory");
    out[strcspn(out, "\n")] = '\0';
}

void db_err(db_t *db, char *errstr, size_t errstr_size, const char *what)
{
    char reason[512];
    pq_reason(db->conn, reason, sizeof reason);
    snprintf(errstr, errstr_size, "postgres %s: %s: %s", db->endpoint, what, reason);
}

/* Sets the session's time zone to UTC. The suite computes in UTC: month
 * partitions are bounded by date_trunc('month', ...) + interval '1 month',
 * rollups bucket by date_trunc, and both follow the session's TimeZone,
 * which a server, a role or PGTZ may set to local time (Amsterdam: March's
 * partition would end at 23:00 UTC and November's overlap October's). */
static int session_utc(PGconn *c)
{
    PGresult *r = PQexec(c, "SET TIME ZONE 'UTC'");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* Opens a connection from the conninfo, with the role and password given
 * apart overriding the conninfo's (libpq: in a parameter list the last
 * value of a keyword wins, the conninfo being expanded in dbname's place). */
static PGconn *open_conn(const db_t *db)
{
    const char *keys[] = {"dbname", "user", "password", NULL};
    const char *vals[] = {db->conninfo, db->user, db->password, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* Retries fn (connect or reset) with doubling waits. */
static int with_backoff(db_t *db, int reset, char *errstr, size_t errstr_size)
{
    int wait = db->conf.backoff_initial_ms;
    for (int i = 1;; i++) {
        if (reset) {
            PQreset(db->conn);
        } else {
            PQfinish(db->conn);
            db->conn = open_conn(db);
        }
        if (db->conn && PQstatus(db->conn) == CONNECTION_OK && session_utc(db->conn)) {
            db->generation++;
            return 0;
        }
        if (i >= db->conf.attempts || (db->conf.stop && *db->conf.stop))
            break;
        sleep_ms(wait);
        wait = wait * 2 > db->conf.backoff_max_ms ? db->conf.backoff_max_ms : wait * 2;
    }
    char reason[512];
    pq_reason(db->conn, reason, sizeof reason);
    snprintf(errstr, errstr_size, "postgres %s: cannot connect after %d attempt(s): %s",
             db->endpoint, db->conf.attempts, reason);
    return -1;
}

db_t *db_connect(const db_conf_t *conf, char *errstr, size_t errstr_size)
{
    if (!conf || !conf->conninfo) {
        snprintf(errstr, errstr_size, "postgres: conninfo is required");
        return NULL;
    }
    db_t *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(errstr, errstr_size, "postgres: out of memory");
        return NULL;
    }
    db->conf = *conf;
    db->conf.attempts = conf->attempts > 0 ? conf->attempts : 5;
    db->conf.backoff_initial_ms =
        conf->backoff_initial_ms > 0 ? conf->backoff_initial_ms : 200;
    db->conf.backoff_max_ms = conf->backoff_max_ms > 0 ? conf->backoff_max_ms : 5000;
    int timeout = conf->connect_timeout_s > 0 ? conf->connect_timeout_s : 5;
    endpoint_of(conf->conninfo, conf->user, db->endpoint, sizeof db->endpoint);
    /* A URI cannot take " key=value" appended; pass the timeout through the
     * environment-free way only for keyword strings without one. */
    int uri =
        strncmp(conf->conninfo, "postgres", 8) == 0 && strstr(conf->conninfo, "://");
    if (uri || strstr(conf->conninfo, "connect_timeout"))
        db->conninfo = strdup(conf->conninfo);
    else if (asprintf(&db->conninfo, "%s connect_timeout=%d", conf->conninfo, timeout) <
             0)
        db->conninfo = NULL;
    db->conf.conninfo = db->conninfo;
    db->user = conf->user ? strdup(conf->user) : NULL;
    db->password = conf->password ? strdup(conf->password) : NULL;
    db->conf.user = db->user;
    db->conf.password = db->password;
    if (!db->conninfo || (conf->user && !db->user) ||
        (conf->password && !db->password)) {
        snprintf(errstr, errstr_size, "postgres: out of memory");
        db_close(db);
        return NULL;
    }
    if (with_backoff(db, 0, errstr, errstr_size) < 0) {
        db_close(db);
        return NULL;
    }
    return db;
}

void db_close(db_t *db)
{
    if (!db)
        return;
    PQfinish(db->conn);
    for (size_t i = 0; i < db->nstmts; i++) {
        free(db->stmts[i].name);
        free(db->stmts[i].sql);
    }
    free(db->stmts);
    free(db->conninfo);
    free(db->user);
    if (db->password)
        explicit_bzero(db->password, strlen(db->password));
    free(db->password);
    free(db);
}

PGconn *db_pg(db_t *db)
{
    return db->conn;
}

const char *db_endpoint(const db_t *db)
{
    return db->endpoint;
}

int db_reconnect(db_t *db, char *errstr, size_t errstr_size)
{
    return with_backoff(db, 1, errstr, errstr_size);
}

/* Before a call: a connection that broke since is reset once (no backoff),
 * so a restarted server is picked up by the next statement. Inside a
 * transaction the reset would silently drop the transaction's work, so the
 * call fails instead and the caller redoes the transaction. */
int db_ensure(db_t *db, char *errstr, size_t errstr_size)
{
    if (db->in_copy) {
        snprintf(errstr, errstr_size, "postgres %s: a COPY is in progress",
                 db->endpoint);
        return -1;
    }
    if (PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    if (db->in_tx) {
        db->in_tx = 0;
        db_err(db, errstr, errstr_size, "connection lost inside a transaction");
        return -1;
    }
    PQreset(db->conn);
    if (PQstatus(db->conn) == CONNECTION_OK && session_utc(db->conn)) {
        db->generation++;
        return 0;
    }
    db_err(db, errstr, errstr_size, "connection lost");
    return -1;
}

/* ---- queries ---- */

/* Takes r; returns it when its status is OK, else clears it and fills
 * errstr. */
PGresult *db_result_ok(db_t *db, PGresult *r, const char *what, char *errstr,
                       size_t errstr_size)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    char reason[512];
    snprintf(reason, sizeof reason, "%s",
             r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
    reason[strcspn(reason, "\n")] = '\0';
    snprintf(errstr, errstr_size, "postgres %s: %s: %s", db->endpoint, what, reason);
    PQclear(r);
    return NULL;
}

int db_exec(db_t *db, const char *sql, char *errstr, size_t errstr_size)
{
    if (db_ensure(db, errstr, errstr_size) < 0)
        return -1;
    PGresult *r = db_result_ok(db, PQexec(db->conn, sql), "exec", errstr, errstr_size);
    PQclear(r);
    return r ? 0 : -1;
}

PGresult *db_query(db_t *db, const char *sql, int nparams, const char *const *params,
                   char *errstr, size_t errstr_size)
{
    if (db_ensure(db, errstr, errstr_size) < 0)
        return NULL;
    PGresult *r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    return db_result_ok(db, r, "query", errstr, errstr_size);
}

int db_check(db_t *db, char *errstr, size_t errstr_size)
{
    PGresult *r = db_query(db, "SELECT 1", 0, NULL, errstr, errstr_size);
    PQclear(r);
    return r ? 0 : -1;
}

/* ---- prepared statements ---- */

static db_stmt_t *stmt_find(db_t *db, const char *name)
{
    for (size_t i = 0; i < db->nstmts; i++)
        if (strcmp(db->stmts[i].name, name) == 0)
            return &db->stmts[i];
    return NULL;
}

static int stmt_prepare(db_t *db, db_stmt_t *s, char *errstr, size_t errstr_size)
{
    char what[160];
    snprintf(what, sizeof what, "prepare '%s'", s->name);
    PGresult *r =
        db_result_ok(db, PQprepare(db->conn, s->name, s->sql, s->nparams, NULL), what,
                     errstr, errstr_size);
    PQclear(r);
    if (!r)
        return -1;
    s->generation = db->generation;
    s->backend_pid = PQbackendPID(db->conn);
    return 0;
}

int db_prepare(db_t *db, const char *name, const char *sql, int nparams, char *errstr,
               size_t errstr_size)
{
    db_stmt_t *s = stmt_find(db, name);
    if (s) {
        if (strcmp(s->sql, sql) == 0)
            return 0;
        snprintf(errstr, errstr_size,
                 "postgres: statement '%s' already prepared with other SQL", name);
        return -1;
    }
    if (db_ensure(db, errstr, errstr_size) < 0)
        return -1;
    db_stmt_t *ns = realloc(db->stmts, (db->nstmts + 1) * sizeof *ns);
    if (!ns) {
        snprintf(errstr, errstr_size, "postgres: out of memory");
        return -1;
    }
    db->stmts = ns;
    s = &db->stmts[db->nstmts];
    *s = (db_stmt_t){
        .name = strdup(name), .sql = strdup(sql), .nparams = nparams, .generation = -1};
    if (!s->name || !s->sql || stmt_prepare(db, s, errstr, errstr_size) < 0) {
        if (!s->name || !s->sql)
            snprintf(errstr, errstr_size, "postgres: out of memory");
        free(s->name);
        free(s->sql);
        return -1;
    }
    db->nstmts++;
    return 0;
}

PGresult *db_exec_prepared(db_t *db, const char *name, const char *const *params,
                           char *errstr, size_t errstr_size)
{
    db_stmt_t *s = stmt_find(db, name);
    if (!s) {
        snprintf(errstr, errstr_size, "postgres: statement '%s' was never prepared",
                 name);
        return NULL;
    }
    if (db_ensure(db, errstr, errstr_size) < 0)
        return NULL;
    /* A new session (ours or a PQreset() by the caller) forgets statements. */
    int stale =
        s->generation != db->generation || s->backend_pid != PQbackendPID(db->conn);
    if (stale && stmt_prepare(db, s, errstr, errstr_size) < 0)
        return NULL;
    char what[160];
    snprintf(what, sizeof what, "execute '%s'", name);
    PGresult *r = PQexecPrepared(db->conn, name, s->nparams, params, NULL, NULL, 0);
    return db_result_ok(db, r, what, errstr, errstr_size);
}

/* ---- transactions ---- */

int db_begin(db_t *db, char *errstr, size_t errstr_size)
{
    int rc = db_exec(db, "BEGIN", errstr, errstr_size);
    db->in_tx = rc == 0;
    return rc;
}

/* A COMMIT of a transaction that already failed "succeeds" with the tag
 * ROLLBACK; that is reported as the failure it is. */
int db_commit(db_t *db, char *errstr, size_t errstr_size)
{
    if (db_ensure(db, errstr, errstr_size) < 0)
        return -1;
    db->in_tx = 0;
    PGresult *r =
        db_result_ok(db, PQexec(db->conn, "COMMIT"), "commit", errstr, errstr_size);
    if (r && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        snprintf(errstr, errstr_size,
                 "postgres %s: commit: transaction was rolled back", db->endpoint);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return r ? 0 : -1;
}

int db_rollback(db_t *db, char *errstr, size_t errstr_size)
{
    int rc = db_exec(db, "ROLLBACK", errstr, errstr_size);
    db->in_tx = 0;
    return rc;
}
