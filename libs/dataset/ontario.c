/*
 * dataset: the Ontario 2016 reader. Three hourly files share the key
 * (date DD/MM/YYYY, hour 1..24); each is read into a sorted array of
 * (time, value) and the price and temperature are joined onto the load rows.
 */
#include "dataset/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/dataset_int.h"

#define ON_MAX_COLS 16
#define EST_OFFSET_MS (5 * 3600 * 1000LL)

typedef struct keyed {
    dataset_ontario_row_t key; /* ts, date and hour; values unused */
    double value;
} keyed_t;

typedef struct keyed_vec {
    keyed_t *v;
    size_t n, cap;
} keyed_vec_t;

struct dataset_ontario {
    dataset_ontario_row_t *rows;
    size_t n;
};

int dataset_ontario_parse_key(const char *date, const char *hour,
                              dataset_ontario_row_t *row)
{
    int d, m, y, h, used = 0;
    if (sscanf(date, "%2d/%2d/%4d%n", &d, &m, &y, &used) != 3 || date[used] != '\0')
        return -1;
    used = 0;
    if (sscanf(hour, "%2d%n", &h, &used) != 1 || hour[used] != '\0')
        return -1;
    if (m < 1 || m > 12 || d < 1 || d > 31 || h < 1 || h > 24 || y < 1900)
        return -1;
    int64_t days = dataset_days_from_civil(y, (unsigned)m, (unsigned)d);
    /* a day past the month's end (31/02) lands in the next month */
    if (m < 12 && days >= dataset_days_from_civil(y, (unsigned)m + 1, 1))
        return -1;
    row->year = y;
    row->month = m;
    row->day = d;
    row->hour = h;
    row->ts_ms = (days * 24 + (h - 1)) * 3600000LL + EST_OFFSET_MS;
    return 0;
}

static int keyed_cmp(const void *a, const void *b)
{
    int64_t x = ((const keyed_t *)a)->key.ts_ms, y = ((const keyed_t *)b)->key.ts_ms;
    return (x > y) - (x < y);
}

static int keyed_push(keyed_vec_t *kv, const keyed_t *k)
{
    if (kv->n == kv->cap) {
        size_t ncap = kv->cap ? kv->cap * 2 : 1024;
        keyed_t *p = realloc(kv->v, ncap * sizeof *p);
        if (!p)
            return -1;
        kv->v = p;
        kv->cap = ncap;
    }
    kv->v[kv->n++] = *k;
    return 0;
}

/* Finds column name in the header fields; -1 when absent. */
static int find_col(char **f, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(f[i], name) == 0)
            return i;
    return -1;
}

/* Parses one data line of a keyed file into k. Returns 0 or -1 with msg. */
static int keyed_line(char *line, int ncols, int cdate, int chour, int cval, keyed_t *k,
                      char *msg, size_t msize)
{
    char *f[ON_MAX_COLS];
    int n = ds_split(line, f, ON_MAX_COLS);
    if (n != ncols) {
        ds_err(msg, msize, "%d columns, header has %d", n, ncols);
        return -1;
    }
    if (dataset_ontario_parse_key(f[cdate], f[chour], &k->key) < 0) {
        ds_err(msg, msize, "bad key '%s','%s'", f[cdate], f[chour]);
        return -1;
    }
    if (ds_number(f[cval], &k->value) < 0) {
        ds_err(msg, msize, "'%s' is not a number", f[cval]);
        return -1;
    }
    return 0;
}

/* Reads dir/file's column col into kv, sorted by time, keys unique. */
static int read_keyed(const char *dir, const char *file, const char *col,
                      keyed_vec_t *kv, char *errstr, size_t errstr_size)
{
    char path[4096], msg[256], *line = NULL, *f[ON_MAX_COLS];
    size_t cap = 0;
    long lineno = 1;
    int rc = -1, n, cdate, chour, cval;
    keyed_t k;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        ds_err(errstr, errstr_size, "unable to open '%s': %s", path, strerror(errno));
        return -1;
    }
    if (getline(&line, &cap, fp) < 0 || (n = ds_split(line, f, ON_MAX_COLS)) < 0) {
        ds_err(errstr, errstr_size, "%s:1: missing or too wide header", path);
        goto cleanup;
    }
    cdate = find_col(f, n, "date");
    chour = find_col(f, n, "hour");
    cval = find_col(f, n, col);
    if (cdate < 0 || chour < 0 || cval < 0) {
        ds_err(errstr, errstr_size, "%s:1: needs columns date, hour and %s", path, col);
        goto cleanup;
    }
    while (getline(&line, &cap, fp) >= 0) {
        lineno++;
        if (line[strspn(line, "\r\n")] == '\0')
            continue;
        if (keyed_line(line, n, cdate, chour, cval, &k, msg, sizeof msg) < 0) {
            ds_err(errstr, errstr_size, "%s:%ld: %s", path, lineno, msg);
            goto cleanup;
        }
        if (keyed_push(kv, &k) < 0) {
            ds_err(errstr, errstr_size, "out of memory");
            goto cleanup;
        }
    }
    if (kv->n) /* qsort() must not be given a NULL array, even empty */
        qsort(kv->v, kv->n, sizeof *kv->v, keyed_cmp);
    for (size_t i = 1; i < kv->n; i++)
        if (kv->v[i].key.ts_ms == kv->v[i - 1].key.ts_ms) {
            ds_err(errstr, errstr_size, "%s: duplicate key %02d/%02d/%04d hour %d",
                   path, kv->v[i].key.day, kv->v[i].key.month, kv->v[i].key.year,
                   kv->v[i].key.hour);
            goto cleanup;
        }
    rc = 0;
cleanup:
    free(line);
    fclose(fp);
    return rc;
}

static double lookup(const keyed_vec_t *kv, int64_t ts)
{
    keyed_t k = {.key.ts_ms = ts};
    if (!kv->n) /* bsearch() must not be given a NULL array, even empty */
        return NAN;
    const keyed_t *hit = bsearch(&k, kv->v, kv->n, sizeof *kv->v, keyed_cmp);
    return hit ? hit->value : NAN;
}

dataset_ontario_t *dataset_ontario_open(const char *dir, char *errstr,
                                        size_t errstr_size)
{
    keyed_vec_t load = {0}, price = {0}, temp = {0};
    dataset_ontario_t *ds = calloc(1, sizeof *ds);
    if (!ds) {
        ds_err(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (read_keyed(dir, "load2016.csv", "OntDemand", &load, errstr, errstr_size) ||
        read_keyed(dir, "price2016.csv", "HOEP", &price, errstr, errstr_size) ||
        read_keyed(dir, "temperature2016.csv", "Temperature", &temp, errstr,
                   errstr_size))
        goto err;
    if (load.n && !(ds->rows = calloc(load.n, sizeof *ds->rows))) {
        ds_err(errstr, errstr_size, "out of memory");
        goto err;
    }
    for (size_t i = 0; i < load.n; i++) {
        dataset_ontario_row_t *r = &ds->rows[i];
        *r = load.v[i].key;
        r->demand_mw = load.v[i].value;
        r->price_cad_mwh = lookup(&price, r->ts_ms) * 1000.0; /* CAD/kWh -> /MWh */
        r->temp_c = lookup(&temp, r->ts_ms);
    }
    ds->n = load.n;
    free(load.v);
    free(price.v);
    free(temp.v);
    return ds;
err:
    free(load.v);
    free(price.v);
    free(temp.v);
    dataset_ontario_destroy(ds);
    return NULL;
}

size_t dataset_ontario_count(const dataset_ontario_t *ds)
{
    return ds->n;
}

const dataset_ontario_row_t *dataset_ontario_row(const dataset_ontario_t *ds, size_t i)
{
    return i < ds->n ? &ds->rows[i] : NULL;
}

void dataset_ontario_destroy(dataset_ontario_t *ds)
{
    if (!ds)
        return;
    free(ds->rows);
    free(ds);
}
