/* db internals shared by db.c and copy.c. */
#ifndef EMS_DB_DB_INT_H
#define EMS_DB_DB_INT_H

#include "db/db.h"

typedef struct db_stmt {
    char *name;
    char *sql;
    int nparams;
    long generation; /* db generation it was prepared in; -1 = never */
    int backend_pid; /* server process it was prepared in */
} db_stmt_t;

struct db_s {
    db_conf_t conf;
    PGconn *conn;
    char *conninfo;     /* conf.conninfo plus connect_timeout */
    char *user;         /* conf.user, owned; NULL = conninfo's */
    char *password;     /* conf.password, owned; NULL = conninfo's */
    char endpoint[256]; /* user@host:port/db */
    long generation;    /* bumped on every (re)connect */
    int in_tx;          /* inside BEGIN..COMMIT: no silent reset */
    int in_copy;        /* a COPY owns the connection */
    db_stmt_t *stmts;
    size_t nstmts;
};

/* "postgres <endpoint>: <what>: <libpq message>" into errstr. */
void db_err(db_t *db, char *errstr, size_t errstr_size, const char *what);
/* Returns r when COMMAND_OK/TUPLES_OK, else clears it, fills errstr, NULL. */
PGresult *db_result_ok(db_t *db, PGresult *r, const char *what, char *errstr,
                       size_t errstr_size);
/* 0 when the connection is usable (resetting a broken one outside a
 * transaction), else -1 with errstr. */
int db_ensure(db_t *db, char *errstr, size_t errstr_size);

#endif
