/*
 * dataset: time helpers and the Dutch substation (OpenSTEF) reader.
 */
#include "dataset/dataset.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/dataset_int.h"

#define MAX_COLS 64

void ds_err(char *errstr, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (!errstr || size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
}

/* Howard Hinnant's days_from_civil: exact for every Gregorian date. */
int64_t dataset_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dm[m - 1];
}

/* Reads exactly n digits at *p; advances *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_ymd(const char **p, int64_t *days)
{
    int y, m, d;
    if (digits(p, 4, &y) || *(*p)++ != '-' || digits(p, 2, &m) || *(*p)++ != '-' ||
        digits(p, 2, &d))
        return -1;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    *days = dataset_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

static int parse_offset(const char *p, int64_t *off_ms)
{
    int oh, om;
    int sign;
    if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0')) {
        *off_ms = 0;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    sign = *p++ == '-' ? -1 : 1;
    if (digits(&p, 2, &oh))
        return -1;
    if (*p == ':')
        p++;
    if (digits(&p, 2, &om) || *p != '\0' || oh > 23 || om > 59)
        return -1;
    *off_ms = sign * ((int64_t)oh * 3600 + om * 60) * 1000;
    return 0;
}

int dataset_parse_iso8601(const char *s, int64_t *ms)
{
    const char *p = s;
    int64_t days, off;
    int hh, mi, ss = 0, frac = 0;
    if (parse_ymd(&p, &days) || (*p != ' ' && *p != 'T'))
        return -1;
    p++;
    if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mi))
        return -1;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, &ss))
            return -1;
        if (*p == '.') {
            int scale = 100;
            p++;
            if (!isdigit((unsigned char)*p))
                return -1;
            for (; isdigit((unsigned char)*p); p++, scale /= 10)
                frac += (*p - '0') * scale;
        }
    }
    if (hh > 23 || mi > 59 || ss > 60 || parse_offset(p, &off))
        return -1;
    *ms = ((days * 24 + hh) * 60 + mi) * 60000 + (int64_t)ss * 1000 + frac - off;
    return 0;
}

int dataset_parse_date(const char *s, int64_t *ms)
{
    const char *p = s;
    int64_t days;
    if (parse_ymd(&p, &days) || *p != '\0')
        return -1;
    *ms = days * 86400000;
    return 0;
}

int ds_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    for (;;) {
        if (n == max)
            return -1;
        fields[n++] = p;
        p = strchr(p, ',');
        if (!p)
            return n;
        *p++ = '\0';
    }
}

int ds_number(const char *s, double *out)
{
    char *end;
    if (*s == '\0')
        return -1;
    errno = 0;
    *out = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE)
        return -1;
    return 0;
}

/* ---- header ---- */

static const struct {
    const char *name;
    size_t off;
} nl_names[] = {
    {"load", offsetof(dataset_nl_cols_t, load)},
    {"day_ahead_electricity_price", offsetof(dataset_nl_cols_t, price)},
    {"temp", offsetof(dataset_nl_cols_t, temp)},
    {"radiation", offsetof(dataset_nl_cols_t, radiation)},
    {"clouds", offsetof(dataset_nl_cols_t, clouds)},
    {"humidity", offsetof(dataset_nl_cols_t, humidity)},
    {"pressure", offsetof(dataset_nl_cols_t, pressure)},
    {"windspeed", offsetof(dataset_nl_cols_t, wind)},
    {"windspeed_100m", offsetof(dataset_nl_cols_t, wind100)},
    {"winddeg", offsetof(dataset_nl_cols_t, winddeg)},
    {"rain", offsetof(dataset_nl_cols_t, rain)},
};
#define NL_NNAMES (sizeof nl_names / sizeof nl_names[0])

int dataset_nl_parse_header(char *line, dataset_nl_cols_t *cols, char *errstr,
                            size_t errstr_size)
{
    char *f[MAX_COLS];
    int n = ds_split(line, f, MAX_COLS);
    if (n < 2) {
        ds_err(errstr, errstr_size, "header has %s columns",
               n < 0 ? "too many" : "fewer than 2");
        return -1;
    }
    if (f[0][0] != '\0') {
        ds_err(errstr, errstr_size, "first column is '%s', expected unnamed timestamp",
               f[0]);
        return -1;
    }
    cols->ncols = n;
    cols->ts = 0;
    for (size_t k = 0; k < NL_NNAMES; k++) {
        int *slot = (int *)((char *)cols + nl_names[k].off);
        *slot = -1;
        for (int i = 1; i < n; i++)
            if (strcmp(f[i], nl_names[k].name) == 0)
                *slot = i;
    }
    if (cols->load < 0) {
        ds_err(errstr, errstr_size, "no 'load' column");
        return -1;
    }
    return 0;
}

/* Fills the double field at row+off from column col (or NAN when absent). */
static int nl_field(char **f, int col, const char *name, dataset_nl_row_t *row,
                    size_t off, char *errstr, size_t errstr_size)
{
    /* cppcheck-suppress invalidPointerCast ; off is a double field's offset */
    double *dst = (double *)((char *)row + off);
    if (col < 0) {
        *dst = NAN;
        return 0;
    }
    if (ds_number(f[col], dst) < 0) {
        ds_err(errstr, errstr_size, "column '%s': '%s' is not a number", name, f[col]);
        return -1;
    }
    return 0;
}

int dataset_nl_parse_line(const dataset_nl_cols_t *cols, char *line,
                          dataset_nl_row_t *row, char *errstr, size_t errstr_size)
{
    static const size_t row_off[] = {
        offsetof(dataset_nl_row_t, load_mw),
        offsetof(dataset_nl_row_t, price_eur_mwh),
        offsetof(dataset_nl_row_t, temp_c),
        offsetof(dataset_nl_row_t, radiation_j_m2),
        offsetof(dataset_nl_row_t, clouds_pct),
        offsetof(dataset_nl_row_t, humidity),
        offsetof(dataset_nl_row_t, pressure_pa),
        offsetof(dataset_nl_row_t, wind_speed_ms),
        offsetof(dataset_nl_row_t, wind_speed_100m_ms),
        offsetof(dataset_nl_row_t, wind_dir_deg),
        offsetof(dataset_nl_row_t, rain_mm),
    };
    char *f[MAX_COLS];
    int n = ds_split(line, f, MAX_COLS);
    if (n != cols->ncols) {
        ds_err(errstr, errstr_size, "%d columns, header has %d", n < 0 ? MAX_COLS : n,
               cols->ncols);
        return -1;
    }
    if (dataset_parse_iso8601(f[cols->ts], &row->ts_ms) < 0) {
        ds_err(errstr, errstr_size, "timestamp '%s' is not ISO-8601", f[cols->ts]);
        return -1;
    }
    for (size_t k = 0; k < NL_NNAMES; k++) {
        int col = *(const int *)((const char *)cols + nl_names[k].off);
        if (nl_field(f, col, nl_names[k].name, row, row_off[k], errstr, errstr_size))
            return -1;
    }
    if (!isfinite(row->load_mw)) {
        ds_err(errstr, errstr_size, "column 'load': not finite");
        return -1;
    }
    return 0;
}

/* ---- file reader ---- */

struct dataset_nl {
    FILE *f;
    char *path;
    char *line;
    size_t cap;
    long lineno;
    dataset_nl_cols_t cols;
};

dataset_nl_t *dataset_nl_open(const char *path, char *errstr, size_t errstr_size)
{
    char msg[256];
    dataset_nl_t *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->path = strdup(path))) {
        ds_err(errstr, errstr_size, "out of memory");
        goto err;
    }
    if (!(ds->f = fopen(path, "r"))) {
        ds_err(errstr, errstr_size, "unable to open '%s': %s", path, strerror(errno));
        goto err;
    }
    if (getline(&ds->line, &ds->cap, ds->f) < 0) {
        ds_err(errstr, errstr_size, "%s:1: empty file", path);
        goto err;
    }
    ds->lineno = 1;
    if (dataset_nl_parse_header(ds->line, &ds->cols, msg, sizeof msg) < 0) {
        ds_err(errstr, errstr_size, "%s:1: %s", path, msg);
        goto err;
    }
    return ds;
err:
    dataset_nl_destroy(ds);
    return NULL;
}

int dataset_nl_next(dataset_nl_t *ds, dataset_nl_row_t *row, char *errstr,
                    size_t errstr_size)
{
    char msg[256];
    for (;;) {
        errno = 0;
        if (getline(&ds->line, &ds->cap, ds->f) < 0) {
            if (ferror(ds->f)) {
                ds_err(errstr, errstr_size, "%s:%ld: read error: %s", ds->path,
                       ds->lineno + 1, strerror(errno));
                return -1;
            }
            return 0;
        }
        ds->lineno++;
        if (ds->line[strspn(ds->line, "\r\n")] != '\0')
            break; /* skip blank lines */
    }
    if (dataset_nl_parse_line(&ds->cols, ds->line, row, msg, sizeof msg) < 0) {
        ds_err(errstr, errstr_size, "%s:%ld: %s", ds->path, ds->lineno, msg);
        return -1;
    }
    return 1;
}

void dataset_nl_destroy(dataset_nl_t *ds)
{
    if (!ds)
        return;
    if (ds->f)
        fclose(ds->f);
    free(ds->line);
    free(ds->path);
    free(ds);
}

static int rows_push(dataset_nl_row_t **rows, size_t *n, size_t *cap,
                     const dataset_nl_row_t *r)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        dataset_nl_row_t *p = realloc(*rows, ncap * sizeof *p);
        if (!p)
            return -1;
        *rows = p;
        *cap = ncap;
    }
    (*rows)[(*n)++] = *r;
    return 0;
}

int dataset_nl_load(const char *const *paths, size_t npaths, int64_t from_ms,
                    int64_t to_ms, dataset_nl_row_t **rows, size_t *n, char *errstr,
                    size_t errstr_size)
{
    dataset_nl_row_t r;
    size_t cap = 0;
    int64_t last = INT64_MIN;
    *rows = NULL;
    *n = 0;
    for (size_t i = 0; i < npaths; i++) {
        int rc;
        dataset_nl_t *ds = dataset_nl_open(paths[i], errstr, errstr_size);
        if (!ds)
            goto err;
        while ((rc = dataset_nl_next(ds, &r, errstr, errstr_size)) == 1) {
            if (r.ts_ms <= last)
                continue;
            last = r.ts_ms;
            if ((from_ms && r.ts_ms < from_ms) || (to_ms && r.ts_ms >= to_ms))
                continue;
            if (rows_push(rows, n, &cap, &r) < 0) {
                ds_err(errstr, errstr_size, "out of memory");
                rc = -1;
                break;
            }
        }
        dataset_nl_destroy(ds);
        if (rc < 0)
            goto err;
    }
    return 0;
err:
    free(*rows);
    *rows = NULL;
    *n = 0;
    return -1;
}

/* First index of rows with ts_ms >= t (rows sorted). */
static size_t lower_bound(const dataset_nl_row_t *rows, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].ts_ms < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int dataset_nl_day_prices(const dataset_nl_row_t *rows, size_t n, int64_t day_ms,
                          double prices[DATASET_DAY_SLOTS])
{
    int have[DATASET_DAY_SLOTS] = {0}, found = 0;
    for (size_t i = lower_bound(rows, n, day_ms);
         i < n && rows[i].ts_ms < day_ms + DATASET_DAY_MS; i++) {
        int64_t off = rows[i].ts_ms - day_ms;
        if (off % DATASET_QH_MS != 0 || !isfinite(rows[i].price_eur_mwh))
            continue;
        int slot = (int)(off / DATASET_QH_MS);
        found += !have[slot];
        have[slot] = 1;
        prices[slot] = rows[i].price_eur_mwh;
    }
    for (int h = 0; h < 24; h++) {
        int src = -1;
        for (int q = 0; q < 4 && src < 0; q++)
            if (have[h * 4 + q])
                src = h * 4 + q;
        if (src < 0)
            return -1;
        for (int q = 0; q < 4; q++)
            if (!have[h * 4 + q])
                prices[h * 4 + q] = prices[src];
    }
    return found;
}

double dataset_import_kwh(double power_kw, int64_t dt_ms)
{
    if (!(power_kw > 0) || dt_ms <= 0)
        return 0.0;
    return power_kw * (double)dt_ms / 3600000.0;
}
