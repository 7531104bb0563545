#include "forecaster/fc_history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fc_series_init(fc_series *s, int step, size_t max_slots)
{
    memset(s, 0, sizeof *s);
    s->step = step > 0 ? step : 900;
    s->max_slots = max_slots;
}

void fc_series_release(fc_series *s)
{
    free(s->values);
    s->values = NULL;
    s->n = s->cap = 0;
}

static int64_t slot_floor(int64_t t, int step)
{
    int64_t q = t / step;
    if (t % step != 0 && t < 0)
        q--;
    return q * step;
}

static int reserve(fc_series *s, size_t want)
{
    if (want <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < want)
        cap *= 2;
    double *v = realloc(s->values, cap * sizeof *v);
    if (!v)
        return -1;
    s->values = v;
    s->cap = cap;
    return 0;
}

static void trim(fc_series *s)
{
    if (!s->max_slots || s->n <= s->max_slots)
        return;
    size_t drop = s->n - s->max_slots;
    memmove(s->values, s->values + drop, s->max_slots * sizeof *s->values);
    s->n = s->max_slots;
    s->t0 += (int64_t)drop * s->step;
}

static int prepend(fc_series *s, int64_t ts)
{
    size_t add = (size_t)((s->t0 - ts) / s->step);
    if (s->max_slots && s->n + add > s->max_slots)
        return 1; /* older than the window */
    if (reserve(s, s->n + add) < 0)
        return -1;
    memmove(s->values + add, s->values, s->n * sizeof *s->values);
    for (size_t i = 0; i < add; i++)
        s->values[i] = NAN;
    s->n += add;
    s->t0 = ts;
    return 0;
}

int fc_series_put(fc_series *s, int64_t t, double v)
{
    int64_t ts = slot_floor(t, s->step);
    if (s->n == 0) {
        if (reserve(s, 1) < 0)
            return -1;
        s->t0 = ts;
        s->values[0] = v;
        s->n = 1;
        return 0;
    }
    if (ts < s->t0) {
        int rc = prepend(s, ts);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    size_t i = (size_t)((ts - s->t0) / s->step);
    if (i >= s->n) {
        if (reserve(s, i + 1) < 0)
            return -1;
        for (size_t k = s->n; k < i; k++)
            s->values[k] = NAN;
        s->n = i + 1;
    }
    s->values[i] = v;
    trim(s);
    return 0;
}

double fc_series_at(const fc_series *s, int64_t t)
{
    if (s->n == 0 || t < s->t0)
        return NAN;
    size_t i = (size_t)((t - s->t0) / s->step);
    return i < s->n ? s->values[i] : NAN;
}

int64_t fc_series_end(const fc_series *s)
{
    return s->t0 + (int64_t)s->n * s->step;
}

static void clamp_range(const fc_series *s, int64_t from, int64_t to, size_t *a,
                        size_t *b)
{
    int64_t end = fc_series_end(s);
    if (from < s->t0)
        from = s->t0;
    if (to > end)
        to = end;
    if (s->n == 0 || to <= from) {
        *a = *b = 0;
        return;
    }
    *a = (size_t)((slot_floor(from, s->step) - s->t0) / s->step);
    *b = (size_t)((to - s->t0 + s->step - 1) / s->step);
}

size_t fc_series_count(const fc_series *s, int64_t from, int64_t to)
{
    size_t a, b, c = 0;
    clamp_range(s, from, to, &a, &b);
    for (size_t i = a; i < b; i++)
        c += !isnan(s->values[i]);
    return c;
}

double fc_series_mean(const fc_series *s, int64_t from, int64_t to)
{
    size_t a, b, c = 0;
    double sum = 0;
    clamp_range(s, from, to, &a, &b);
    for (size_t i = a; i < b; i++) {
        if (!isnan(s->values[i])) {
            sum += s->values[i];
            c++;
        }
    }
    return c ? sum / (double)c : NAN;
}

void fc_weather_init(fc_weather *w)
{
    memset(w, 0, sizeof *w);
}

void fc_weather_release(fc_weather *w)
{
    for (size_t i = 0; i < w->ncol; i++)
        fc_series_release(&w->col[i]);
    w->ncol = 0;
    w->has_temp = 0;
}

int fc_weather_add(fc_weather *w, const char *name, int step, size_t max_slots)
{
    int is_temp = !strcmp(name, "temp") || !strcmp(name, "temperature");
    if (w->ncol == FC_MAX_WX || strlen(name) >= sizeof w->names[0] ||
        (is_temp && w->has_temp))
        return -1;
    size_t c = w->ncol;
    if (is_temp && c > 0) { /* keep the temperature in column 0 */
        w->col[c] = w->col[0];
        memcpy(w->names[c], w->names[0], sizeof w->names[0]);
        c = 0;
    }
    fc_series_init(&w->col[c], step, max_slots);
    strcpy(w->names[c], name);
    w->has_temp |= is_temp;
    w->ncol++;
    return (int)c;
}

int fc_weather_find(const fc_weather *w, const char *name)
{
    for (size_t i = 0; i < w->ncol; i++)
        if (!strcmp(w->names[i], name))
            return (int)i;
    return -1;
}

double fc_weather_at(const fc_weather *w, size_t c, int64_t t)
{
    return c < w->ncol ? fc_series_at(&w->col[c], t) : NAN;
}

double fc_weather_temp(const fc_weather *w, int64_t t)
{
    return w && w->has_temp ? fc_series_at(&w->col[0], t) : NAN;
}
