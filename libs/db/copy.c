/*
 * db COPY FROM STDIN: rows are escaped for the chosen format into a buffer
 * that is handed to libpq in chunks of about 64 KiB.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/db_int.h"

#define COPY_CHUNK (64 * 1024)

struct db_copy_s {
    db_t *db;
    db_copy_format_t fmt;
    size_t ncolumns;
    char *buf;
    size_t len, cap;
    int64_t rows;
};

static int buf_put(db_copy_t *c, const char *s, size_t n)
{
    if (c->len + n > c->cap) {
        size_t ncap = c->cap ? c->cap : COPY_CHUNK * 2;
        while (c->len + n > ncap)
            ncap *= 2;
        char *nb = realloc(c->buf, ncap);
        if (!nb)
            return -1;
        c->buf = nb;
        c->cap = ncap;
    }
    memcpy(c->buf + c->len, s, n);
    c->len += n;
    return 0;
}

/* Text format: backslash escapes for '\', tab, newline and CR; NULL = \N. */
static int put_text(db_copy_t *c, const char *v)
{
    if (!v)
        return buf_put(c, "\\N", 2);
    for (const char *p = v; *p; p++) {
        const char *esc = *p == '\\'   ? "\\\\"
                          : *p == '\t' ? "\\t"
                          : *p == '\n' ? "\\n"
                          : *p == '\r' ? "\\r"
                                       : NULL;
        if (esc ? buf_put(c, esc, 2) : buf_put(c, p, 1))
            return -1;
    }
    return 0;
}

/* CSV: NULL is an unquoted empty field; any value that is empty or holds a
 * delimiter, quote, CR, LF or looks like the end marker is quoted, with
 * quotes doubled, so "" stays distinct from NULL. */
static int put_csv(db_copy_t *c, const char *v)
{
    if (!v)
        return 0;
    int quote = !*v || strpbrk(v, ",\"\r\n") || strcmp(v, "\\.") == 0;
    if (!quote)
        return buf_put(c, v, strlen(v));
    if (buf_put(c, "\"", 1))
        return -1;
    for (const char *p = v; *p; p++)
        if ((*p == '"' && buf_put(c, "\"", 1)) || buf_put(c, p, 1))
            return -1;
    return buf_put(c, "\"", 1);
}

char *db_copy_escape(const char *value, db_copy_format_t fmt)
{
    db_copy_t c = {.fmt = fmt};
    if ((fmt == DB_COPY_CSV ? put_csv(&c, value) : put_text(&c, value)) < 0 ||
        buf_put(&c, "", 1) < 0) {
        free(c.buf);
        return NULL;
    }
    return c.buf;
}

static int flush(db_copy_t *c, char *errstr, size_t errstr_size)
{
    if (!c->len)
        return 0;
    if (PQputCopyData(c->db->conn, c->buf, (int)c->len) != 1) {
        db_err(c->db, errstr, errstr_size, "copy data");
        return -1;
    }
    c->len = 0;
    return 0;
}

static char *copy_sql(db_t *db, const char *table, const char *const *columns,
                      size_t ncolumns, db_copy_format_t fmt)
{
    size_t cap = strlen(table) + 96, len;
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    len = (size_t)snprintf(sql, cap, "COPY %s (", table);
    for (size_t i = 0; i < ncolumns; i++) {
        char *q = PQescapeIdentifier(db->conn, columns[i], strlen(columns[i]));
        char *ns = q ? realloc(sql, cap += strlen(q) + 2) : NULL;
        if (!ns) {
            PQfreemem(q);
            free(sql);
            return NULL;
        }
        sql = ns;
        len += (size_t)snprintf(sql + len, cap - len, "%s%s", i ? "," : "", q);
        PQfreemem(q);
    }
    snprintf(sql + len, cap - len, ") FROM STDIN WITH (FORMAT %s)",
             fmt == DB_COPY_CSV ? "csv" : "text");
    return sql;
}

db_copy_t *db_copy_begin(db_t *db, const char *table, const char *const *columns,
                         size_t ncolumns, db_copy_format_t fmt, char *errstr,
                         size_t errstr_size)
{
    if (!ncolumns) {
        snprintf(errstr, errstr_size, "postgres: copy into '%s' needs columns", table);
        return NULL;
    }
    if (db_ensure(db, errstr, errstr_size) < 0)
        return NULL;
    db_copy_t *c = calloc(1, sizeof *c);
    char *sql = copy_sql(db, table, columns, ncolumns, fmt);
    if (!c || !sql) {
        snprintf(errstr, errstr_size, "postgres: out of memory");
        goto fail;
    }
    PGresult *r = PQexec(db->conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        db_result_ok(db, r, "copy begin", errstr, errstr_size); /* clears r */
        goto fail;
    }
    PQclear(r);
    free(sql);
    *c = (db_copy_t){.db = db, .fmt = fmt, .ncolumns = ncolumns};
    db->in_copy = 1;
    return c;
fail:
    free(sql);
    free(c);
    return NULL;
}

int db_copy_row(db_copy_t *c, const char *const *values, char *errstr,
                size_t errstr_size)
{
    const char *sep = c->fmt == DB_COPY_CSV ? "," : "\t";
    for (size_t i = 0; i < c->ncolumns; i++) {
        if ((i && buf_put(c, sep, 1)) ||
            (c->fmt == DB_COPY_CSV ? put_csv(c, values[i]) : put_text(c, values[i]))) {
            snprintf(errstr, errstr_size, "postgres: out of memory");
            return -1;
        }
    }
    if (buf_put(c, "\n", 1)) {
        snprintf(errstr, errstr_size, "postgres: out of memory");
        return -1;
    }
    c->rows++;
    return c->len >= COPY_CHUNK ? flush(c, errstr, errstr_size) : 0;
}

/* Drains the results after the end of the COPY; 0 when the server
 * accepted it, with the stored row count. */
static int finish(db_copy_t *c, int64_t *rows, char *errstr, size_t errstr_size)
{
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(c->db->conn)) != NULL) {
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            if (rows)
                *rows = strtoll(PQcmdTuples(r), NULL, 10);
            PQclear(r);
        } else if (rc == 0) {
            rc = db_result_ok(c->db, r, "copy", errstr, errstr_size) ? 0 : -1;
        } else {
            PQclear(r);
        }
    }
    return rc;
}

int db_copy_end(db_copy_t *c, int64_t *rows, char *errstr, size_t errstr_size)
{
    int rc = flush(c, errstr, errstr_size);
    if (PQputCopyEnd(c->db->conn, rc == 0 ? NULL : "client failed to send data") != 1 &&
        rc == 0) {
        db_err(c->db, errstr, errstr_size, "copy end");
        rc = -1;
    }
    c->db->in_copy = 0;
    char ignore[8];
    int frc = rc == 0 ? finish(c, rows, errstr, errstr_size)
                      : finish(c, NULL, ignore, sizeof ignore);
    if (rc == 0)
        rc = frc;
    free(c->buf);
    free(c);
    return rc;
}

void db_copy_abort(db_copy_t *c, const char *reason)
{
    if (!c)
        return;
    char ignore[8];
    PQputCopyEnd(c->db->conn, reason ? reason : "aborted by client");
    c->db->in_copy = 0;
    finish(c, NULL, ignore, sizeof ignore);
    free(c->buf);
    free(c);
}
