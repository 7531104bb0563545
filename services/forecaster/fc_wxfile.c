/* fc_wxfile: CSV and Open-Meteo JSON weather parsers (see fc_wxfile.h). */
#include "forecaster/fc_wxfile.h"

#include "forecaster/fc_calendar.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fc_wxdata_init(fc_wxdata *d)
{
    memset(d, 0, sizeof *d);
}

void fc_wxdata_release(fc_wxdata *d)
{
    free(d->t);
    free(d->v);
    free(d->observed);
    fc_wxdata_init(d);
}

int fc_wxdata_find(const fc_wxdata *d, const char *name)
{
    for (size_t j = 0; j < d->nvar; j++)
        if (!strcmp(d->names[j], name))
            return (int)j;
    return -1;
}

#define WX_MIN_T 946684800LL /* 2000-01-01 */
#define WX_MAX_ISSUE_AHEAD_S 86400LL

int fc_wxdata_check_times(const fc_wxdata *d, int64_t issued, int64_t now, char *errstr,
                          size_t errstr_size)
{
    if (issued < WX_MIN_T)
        return snprintf(errstr, errstr_size, "issued before 2000"), -1;
    if (issued > now + WX_MAX_ISSUE_AHEAD_S)
        return snprintf(errstr, errstr_size, "issued %lld s ahead of the clock",
                        (long long)(issued - now)),
               -1;
    for (size_t i = 0; i < d->n; i++) {
        if (d->t[i] < WX_MIN_T)
            return snprintf(errstr, errstr_size, "slot %zu starts before 2000", i + 1),
                   -1;
        if (d->t[i] - issued > FC_WX_MAX_LEAD_S)
            return snprintf(errstr, errstr_size,
                            "slot %zu starts %lld days after the issue (at most %lld)",
                            i + 1, (long long)((d->t[i] - issued) / 86400),
                            FC_WX_MAX_LEAD_S / 86400),
                   -1;
    }
    return 0;
}

/* Whether s holds a digit at each position of pat marked 'd' and pat's
 * other characters at the others (' ' in pat also takes 'T'). */
static int shaped(const char *s, const char *pat)
{
    for (; *pat; pat++, s++) {
        if (*pat == 'd'   ? !isdigit((unsigned char)*s)
            : *pat == ' ' ? (*s != ' ' && *s != 'T')
                          : *s != *pat)
            return 0;
    }
    return 1;
}

static int days_in_month(int y, int mo)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return dm[mo - 1] + (mo == 2 && leap);
}

int fc_wx_parse_time(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec = 0, n = 16;
    /* two-digit fields, digits only: sscanf alone took "T-1:30" for 23:30
     * the day before and 31 February for 2 March */
    if (!shaped(s, "dddd-dd-dd dd:dd") ||
        sscanf(s, "%4d-%2d-%2d%*1[ T]%2d:%2d", &y, &mo, &d, &h, &mi) != 5)
        return -1;
    if (s[n] == ':') {
        if (!shaped(s + n, ":dd"))
            return -1;
        sec = (s[n + 1] - '0') * 10 + (s[n + 2] - '0');
        n += 3;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    const char *z = s + n;
    int off = 0;
    if (*z == '+' || *z == '-') {
        int oh, om;
        if (!shaped(z + 1, "dd:dd") || strlen(z) != 6 ||
            sscanf(z + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59)
            return -1;
        off = (oh * 3600 + om * 60) * (*z == '-' ? -1 : 1);
    } else if (strcmp(z, "Z") != 0 && *z != '\0') {
        return -1;
    }
    *out = fc_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    return 0;
}

static int is_temp_name(const char *s)
{
    return !strcmp(s, "temperature") || !strcmp(s, "temp") ||
           !strcmp(s, "temperature_c") || !strcmp(s, "temperature_2m");
}

/* Grows d to hold `n` slots of nvar variables. */
static int reserve(fc_wxdata *d, size_t n)
{
    int64_t *t = realloc(d->t, (n ? n : 1) * sizeof *t);
    if (!t)
        return -1;
    d->t = t;
    double *v = realloc(d->v, (n ? n : 1) * (d->nvar ? d->nvar : 1) * sizeof *v);
    if (!v)
        return -1;
    d->v = v;
    return 0;
}

static int add_name(fc_wxdata *d, const char *name, char *errstr, size_t errstr_size)
{
    const char *use = is_temp_name(name) ? FC_WX_TEMP : name;
    if (!*use || strlen(use) >= sizeof d->names[0])
        return snprintf(errstr, errstr_size, "bad column name '%s'", name), -1;
    if (d->nvar == FC_WX_MAXVAR)
        return snprintf(errstr, errstr_size, "more than %d variables", FC_WX_MAXVAR),
               -1;
    if (fc_wxdata_find(d, use) >= 0)
        return snprintf(errstr, errstr_size, "variable '%s' twice", use), -1;
    snprintf(d->names[d->nvar++], sizeof d->names[0], "%s", use);
    return 0;
}

/* Checks the grid: strictly increasing, one step of 15 or 60 minutes. */
static int check_grid(fc_wxdata *d, char *errstr, size_t errstr_size)
{
    if (d->n == 0)
        return snprintf(errstr, errstr_size, "no data rows"), -1;
    int64_t step = d->n > 1 ? d->t[1] - d->t[0] : 3600;
    if (step != 900 && step != 3600)
        return snprintf(errstr, errstr_size,
                        "slot length %lld s (expected 900 or 3600)", (long long)step),
               -1;
    for (size_t i = 0; i < d->n; i++) {
        if (d->t[i] % step != 0 ||
            (i > 0 && (d->t[i] <= d->t[i - 1] || (d->t[i] - d->t[i - 1]) % step != 0)))
            return snprintf(errstr, errstr_size,
                            "slot %zu is off the %lld-s grid or out of order", i + 1,
                            (long long)step),
                   -1;
    }
    d->slot_sec = (int)step;
    return 0;
}

/* ---- CSV ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static int split(char *line, char **cols, int max)
{
    int n = 0;
    for (char *p = line; n < max;) {
        cols[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    for (int i = 0; i < n; i++)
        cols[i] = trim(cols[i]);
    return n;
}

static int parse_cell(const char *s, double *v)
{
    char *end;
    if (!*s || !strcasecmp(s, "nan") || !strcmp(s, "null") || !strcmp(s, "NA")) {
        *v = NAN;
        return 0;
    }
    errno = 0;
    *v = strtod(s, &end);
    return end == s || *end || errno || !isfinite(*v) ? -1 : 0;
}

static int csv_header(fc_wxdata *d, char *line, char *errstr, size_t errstr_size)
{
    char *cols[FC_WX_MAXVAR + 2];
    int nc = split(line, cols, FC_WX_MAXVAR + 2);
    if (nc < 2)
        return snprintf(errstr, errstr_size, "line 1: need a timestamp and a variable"),
               -1;
    if (nc > FC_WX_MAXVAR + 1)
        return snprintf(errstr, errstr_size, "more than %d variables", FC_WX_MAXVAR),
               -1;
    for (int i = 1; i < nc; i++)
        if (add_name(d, cols[i], errstr, errstr_size) < 0)
            return -1;
    return 0;
}

static int csv_row(fc_wxdata *d, char *line, int lineno, size_t *cap, char *errstr,
                   size_t errstr_size)
{
    char *cols[FC_WX_MAXVAR + 2];
    int nc = split(line, cols, FC_WX_MAXVAR + 2);
    if (nc != (int)d->nvar + 1)
        return snprintf(errstr, errstr_size, "line %d: %d columns, header has %zu",
                        lineno, nc, d->nvar + 1),
               -1;
    if (d->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        if (reserve(d, *cap) < 0)
            return snprintf(errstr, errstr_size, "out of memory"), -1;
    }
    if (fc_wx_parse_time(cols[0], &d->t[d->n]) < 0)
        return snprintf(errstr, errstr_size, "line %d: bad timestamp '%.40s'", lineno,
                        cols[0]),
               -1;
    for (size_t j = 0; j < d->nvar; j++)
        if (parse_cell(cols[j + 1], &d->v[d->n * d->nvar + j]) < 0)
            return snprintf(errstr, errstr_size,
                            "line %d: '%s' is not a number '%.40s'", lineno,
                            d->names[j], cols[j + 1]),
                   -1;
    d->n++;
    return 0;
}

static int parse_csv(char *text, fc_wxdata *d, char *errstr, size_t errstr_size)
{
    size_t cap = 0;
    int lineno = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        if (!*trim(line) && lineno > 1)
            continue;
        rc = lineno == 1 ? csv_header(d, line, errstr, errstr_size)
                         : csv_row(d, line, lineno, &cap, errstr, errstr_size);
    }
    if (rc == 0 && lineno == 0)
        return snprintf(errstr, errstr_size, "empty file"), -1;
    return rc;
}

/* ---- Open-Meteo JSON ---- */

/* "W/m²" -> "wm2", "°C" -> "c", "%" -> "pct", "km/h" -> "kmh". */
static void unit_suffix(const char *unit, char *out, size_t size)
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)unit; *p && k + 4 < size;
         p++) {
        if (isalnum(*p))
            out[k++] = (char)tolower(*p);
        else if (*p == '%') {
            memcpy(out + k, "pct", 3);
            k += 3;
        } else if (*p == 0xC2 && p[1] == 0xB2) { /* ² */
            out[k++] = '2';
            p++;
        } else if (*p == 0xC2 && p[1] == 0xB3) { /* ³ */
            out[k++] = '3';
            p++;
        }
    }
    out[k] = '\0';
}

static int json_var_name(const char *key, json_t *units, char *out, size_t size)
{
    if (is_temp_name(key))
        return snprintf(out, size, "%s", FC_WX_TEMP), 0;
    const char *unit = json_string_value(json_object_get(units, key));
    char suf[24] = "";
    if (unit)
        unit_suffix(unit, suf, sizeof suf);
    int n = snprintf(out, size, "%s%s%s", key, *suf ? "_" : "", suf);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Unix times of the years a timestamp text can name (0000-9999), so that
 * differences of times and offsets cannot overflow. */
#define WX_UNIX_MIN (-62167219200LL)
#define WX_UNIX_MAX 253402300799LL

static int json_times(json_t *times, int64_t off, fc_wxdata *d, char *errstr,
                      size_t errstr_size)
{
    size_t i;
    json_t *e;
    json_array_foreach(times, i, e)
    {
        int64_t t;
        if (json_is_integer(e)) {
            t = (int64_t)json_integer_value(e);
            if (t < WX_UNIX_MIN || t > WX_UNIX_MAX)
                return snprintf(errstr, errstr_size, "time[%zu]: out of range", i), -1;
        } else if (!json_is_string(e) || fc_wx_parse_time(json_string_value(e), &t) < 0)
            return snprintf(errstr, errstr_size, "time[%zu]: not a timestamp", i), -1;
        else
            t -= off;
        d->t[i] = t;
    }
    return 0;
}

static int json_column(json_t *arr, size_t col, fc_wxdata *d, char *errstr,
                       size_t errstr_size)
{
    size_t i;
    json_t *e;
    if (json_array_size(arr) != d->n)
        return snprintf(errstr, errstr_size, "'%s' has %zu values for %zu times",
                        d->names[col], json_array_size(arr), d->n),
               -1;
    json_array_foreach(arr, i, e)
    {
        if (json_is_null(e))
            d->v[i * d->nvar + col] = NAN;
        else if (json_is_number(e))
            d->v[i * d->nvar + col] = json_number_value(e);
        else
            return snprintf(errstr, errstr_size, "'%s'[%zu] is not a number",
                            d->names[col], i),
                   -1;
    }
    return 0;
}

static int json_series(json_t *root, json_t *block, json_t *units, fc_wxdata *d,
                       char *errstr, size_t errstr_size)
{
    json_t *times = json_object_get(block, "time"), *val;
    const char *key;
    char name[48];
    if (!json_is_array(times) || json_array_size(times) == 0)
        return snprintf(errstr, errstr_size, "no time array"), -1;
    json_object_foreach(block, key, val)
    {
        if (!strcmp(key, "time") || !json_is_array(val))
            continue;
        if (json_var_name(key, units, name, sizeof name) < 0 ||
            add_name(d, name, errstr, errstr_size) < 0)
            return -1;
    }
    if (d->nvar == 0)
        return snprintf(errstr, errstr_size, "no weather variables"), -1;
    d->n = json_array_size(times);
    if (reserve(d, d->n) < 0)
        return snprintf(errstr, errstr_size, "out of memory"), -1;
    json_t *offj = json_object_get(root, "utc_offset_seconds");
    json_int_t off = json_is_integer(offj) ? json_integer_value(offj) : 0;
    if (off < -86400 || off > 86400)
        return snprintf(errstr, errstr_size, "utc_offset_seconds %lld out of range",
                        (long long)off),
               -1;
    if (json_times(times, off, d, errstr, errstr_size) < 0)
        return -1;
    size_t col = 0;
    json_object_foreach(block, key, val)
    {
        if (strcmp(key, "time") != 0 && json_is_array(val) &&
            json_column(val, col++, d, errstr, errstr_size) < 0)
            return -1;
    }
    return 0;
}

static int parse_json(const char *text, size_t len, fc_wxdata *d, char *errstr,
                      size_t errstr_size)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return snprintf(errstr, errstr_size, "line %d: %s", je.line, je.text), -1;
    const char *bname = "hourly";
    json_t *block = json_object_get(root, bname);
    if (!json_is_object(block)) {
        bname = "minutely_15";
        block = json_object_get(root, bname);
    }
    char units_key[32];
    snprintf(units_key, sizeof units_key, "%s_units", bname);
    int rc = -1;
    if (!json_is_object(block))
        snprintf(errstr, errstr_size, "no 'hourly' or 'minutely_15' object");
    else
        rc = json_series(root, block, json_object_get(root, units_key), d, errstr,
                         errstr_size);
    json_t *lat = json_object_get(root, "latitude"),
           *lon = json_object_get(root, "longitude");
    if (rc == 0 && json_is_number(lat) && json_is_number(lon)) {
        d->has_pos = 1;
        d->lat = json_number_value(lat);
        d->lon = json_number_value(lon);
    }
    json_decref(root);
    return rc;
}

int fc_wxfile_parse(const char *text, size_t len, fc_wxdata *out, char *errstr,
                    size_t errstr_size)
{
    size_t i = 0;
    int rc;
    fc_wxdata_release(out);
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i < len && text[i] == '{') {
        rc = parse_json(text, len, out, errstr, errstr_size);
    } else {
        char *copy = malloc(len + 1);
        if (!copy)
            return snprintf(errstr, errstr_size, "out of memory"), -1;
        memcpy(copy, text, len);
        copy[len] = '\0';
        if (memchr(copy, '\0', len))
            rc = -1, snprintf(errstr, errstr_size, "binary data");
        else
            rc = parse_csv(copy, out, errstr, errstr_size);
        free(copy);
    }
    if (rc == 0)
        rc = check_grid(out, errstr, errstr_size);
    if (rc < 0)
        fc_wxdata_release(out);
    return rc;
}

int fc_wxfile_cut_off(const char *text, size_t len)
{
    size_t i = 0, end = len;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i == len)
        return 1;
    if (text[i] != '{') /* CSV: every line, the last one too, ends in a line end */
        return text[len - 1] != '\n';
    while (end > i && isspace((unsigned char)text[end - 1]))
        end--;
    return text[end - 1] != '}';
}

/* ---- fc_wxseen ---- */

typedef struct seen_file {
    char *name;
    int64_t size, mtime_ns;
    int noted, cut_off;
} seen_file;

struct fc_wxseen {
    seen_file *f;
    size_t n, cap;
};

fc_wxseen *fc_wxseen_new(void)
{
    return calloc(1, sizeof(fc_wxseen));
}

void fc_wxseen_destroy(fc_wxseen *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->f[i].name);
    free(s->f);
    free(s);
}

static seen_file *seen_find(fc_wxseen *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->f[i].name, name))
            return &s->f[i];
    return NULL;
}

static seen_file *seen_add(fc_wxseen *s, const char *name)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        seen_file *f = realloc(s->f, cap * sizeof *f);
        if (!f)
            return NULL;
        s->f = f;
        s->cap = cap;
    }
    seen_file *e = &s->f[s->n];
    *e = (seen_file){.name = strdup(name), .size = -1};
    if (!e->name)
        return NULL;
    s->n++;
    return e;
}

void fc_wxseen_begin(fc_wxseen *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->f[i].noted = 0;
}

void fc_wxseen_end(fc_wxseen *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->f[i].noted)
            s->f[k++] = s->f[i];
        else
            free(s->f[i].name);
    }
    s->n = k;
}

fc_wxseen_state fc_wxseen_note(fc_wxseen *s, const char *name, int64_t size,
                               int64_t mtime_ns)
{
    seen_file *e = seen_find(s, name);
    if (!e && !(e = seen_add(s, name)))
        return FC_WXSEEN_CHANGED;
    e->noted = 1;
    if (e->size != size || e->mtime_ns != mtime_ns) {
        e->size = size;
        e->mtime_ns = mtime_ns;
        e->cut_off = 0;
        return FC_WXSEEN_CHANGED;
    }
    return e->cut_off ? FC_WXSEEN_CUT_OFF : FC_WXSEEN_STABLE;
}

void fc_wxseen_mark_cut_off(fc_wxseen *s, const char *name)
{
    seen_file *e = seen_find(s, name);
    if (e)
        e->cut_off = 1;
}
