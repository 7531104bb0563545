#include "forecaster/fc_dataset.h"

#include "forecaster/fc_calendar.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 64
#define LINE_MAX_LEN 8192

int fc_format_parse(const char *s)
{
    if (!strcmp(s, "nl"))
        return FC_FMT_NL;
    if (!strcmp(s, "ontario"))
        return FC_FMT_ONTARIO;
    return -1;
}

int fc_format_step(fc_format f)
{
    return f == FC_FMT_NL ? 900 : 3600;
}

int fc_parse_iso(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) <
        6)
        return -1;
    const char *z = s + n;
    int off = 0;
    if (*z == '+' || *z == '-') {
        int oh, om;
        if (sscanf(z + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        off = (oh * 3600 + om * 60) * (*z == '-' ? -1 : 1);
    } else if (*z != 'Z' && *z != '\0') {
        return -1;
    }
    *out = fc_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    return 0;
}

static int split(char *line, char **cols)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < MAX_COLS;) {
        cols[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static double cell(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno)
        return NAN;
    return v;
}

static int is_price(const char *name)
{
    return strstr(name, "price") || !strcmp(name, "HOEP") || !strcmp(name, "TOU");
}

static const char *weather_name(const char *name)
{
    return !strcmp(name, "Temperature") ? "temp" : name;
}

static int is_temp(const char *name)
{
    return !strcmp(weather_name(name), "temp") || !strcmp(name, "temperature");
}

/* Maps header columns to roles: -2 skip, -1 load, >= 0 weather column.
 * Temperature goes first: fc_weather keeps it in column 0. */
static int map_header(fc_format fmt, char **cols, int n, int *role, fc_series *load,
                      fc_weather *wx, char *errstr, size_t errn)
{
    int first = fmt == FC_FMT_NL ? 1 : 2;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            const char *name = cols[i];
            if (pass == 0)
                role[i] = -2;
            if (i < first || is_price(name) || is_temp(name) != (pass == 0))
                continue;
            if (!strcmp(name, fmt == FC_FMT_NL ? "load" : "OntDemand")) {
                role[i] = -1;
                continue;
            }
            int c = fc_weather_find(wx, weather_name(name));
            if (c < 0)
                c = fc_weather_add(wx, weather_name(name), load->step, 0);
            if (c < 0) {
                snprintf(errstr, errn, "too many weather columns at '%s'", name);
                return -1;
            }
            role[i] = c;
        }
    }
    return 0;
}

static int row_time(fc_format fmt, char **cols, int n, int64_t *t)
{
    if (fmt == FC_FMT_NL)
        return fc_parse_iso(cols[0], t);
    int d, m, y, h;
    if (n < 2 || sscanf(cols[0], "%2d/%2d/%4d", &d, &m, &y) != 3 ||
        sscanf(cols[1], "%d", &h) != 1 || h < 1 || h > 24)
        return -1;
    /* Hour ending h in EST covers (h-1):00-h:00 EST = UTC-5. */
    *t = fc_days_from_civil(y, m, d) * 86400 + (int64_t)(h - 1) * 3600 + 5 * 3600;
    return 0;
}

long fc_dataset_read(fc_format fmt, const char *path, fc_series *load, fc_weather *wx,
                     char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    char *line = malloc(LINE_MAX_LEN);
    char *cols[MAX_COLS];
    int role[MAX_COLS];
    long rows = 0, lineno = 1;
    if (!f || !line) {
        snprintf(errstr, errstr_size, "cannot open '%s'", path);
        goto err;
    }
    if (!fgets(line, LINE_MAX_LEN, f)) {
        snprintf(errstr, errstr_size, "'%s' is empty", path);
        goto err;
    }
    int ncol = split(line, cols);
    if (map_header(fmt, cols, ncol, role, load, wx, errstr, errstr_size) < 0)
        goto err;
    while (fgets(line, LINE_MAX_LEN, f)) {
        lineno++;
        int n = split(line, cols);
        int64_t t;
        if (n == 1 && cols[0][0] == '\0')
            continue;
        if (row_time(fmt, cols, n, &t) < 0) {
            snprintf(errstr, errstr_size, "'%s' line %ld: bad timestamp '%s'", path,
                     lineno, cols[0]);
            goto err;
        }
        for (int i = 0; i < n && i < ncol; i++) {
            if (role[i] == -2)
                continue;
            fc_series *s = role[i] == -1 ? load : &wx->col[role[i]];
            if (fc_series_put(s, t, cell(cols[i])) < 0) {
                snprintf(errstr, errstr_size, "out of memory reading '%s'", path);
                goto err;
            }
        }
        rows++;
    }
    fclose(f);
    free(line);
    return rows;
err:
    if (f)
        fclose(f);
    free(line);
    return -1;
}
