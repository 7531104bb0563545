/*
 * opt_peak: billing-period peak per site from energy.load (see opt_peak.h).
 */
#include "schedule-optimizer/opt_peak.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct interval {
    int64_t start_ms, end_ms;
    int64_t key; /* billing period of the start */
    double kw;
    int revision;
} interval_t;

struct opt_peak {
    opt_billing_t period;
    interval_t *v; /* sorted by start_ms */
    size_t n, cap;
    int64_t newest; /* newest period seen */
    int any;
};

int opt_load_check(const opt_load_t *l, int64_t now_ms, char *reason,
                   size_t reason_size)
{
    if (l->end_ms <= l->start_ms) {
        snprintf(reason, reason_size, "interval ends at or before its start");
        return -1;
    }
    /* in unsigned: the end may lie anywhere in the int64_t range */
    if ((uint64_t)l->end_ms - (uint64_t)l->start_ms > OPT_LOAD_MAX_LENGTH_MS) {
        uint64_t len = (uint64_t)l->end_ms - (uint64_t)l->start_ms;
        snprintf(reason, reason_size, "interval of %llu.%03llu s is longer than a day",
                 (unsigned long long)(len / 1000), (unsigned long long)(len % 1000));
        return -1;
    }
    if (!isfinite(l->mean_kw)) {
        snprintf(reason, reason_size, "mean_kw is not finite");
        return -1;
    }
    if (l->revision < 0) {
        snprintf(reason, reason_size, "revision %d is negative", l->revision);
        return -1;
    }
    if (l->start_ms > now_ms + OPT_LOAD_MAX_FUTURE_MS) {
        snprintf(reason, reason_size, "interval starts %lld s ahead of the clock",
                 (long long)((l->start_ms - now_ms) / 1000));
        return -1;
    }
    return 0;
}

opt_billing_t opt_billing_parse(const char *name)
{
    return name && !strcmp(name, "year") ? OPT_BILL_YEAR : OPT_BILL_MONTH;
}

/* Civil date of a day count from 1970-01-01 (proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, int *m)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int64_t opt_billing_key(opt_billing_t period, const opt_local_t *local)
{
    int64_t y;
    int m;

    civil_from_days(local->day, &y, &m);
    return period == OPT_BILL_YEAR ? y : y * 12 + m - 1;
}

int opt_billing_next_slot(opt_billing_t period, const opt_local_t *slots, int n)
{
    for (int t = 1; t < n; t++)
        if (opt_billing_key(period, &slots[t]) != opt_billing_key(period, &slots[0]))
            return t;
    return 0;
}

opt_peak_t *opt_peak_new(opt_billing_t period)
{
    opt_peak_t *p = calloc(1, sizeof *p);

    if (p)
        p->period = period;
    return p;
}

void opt_peak_destroy(opt_peak_t *p)
{
    if (!p)
        return;
    free(p->v);
    free(p);
}

size_t opt_peak_count(const opt_peak_t *p)
{
    return p->n;
}

/* First index whose start is >= start_ms. */
static size_t lower_bound(const opt_peak_t *p, int64_t start_ms)
{
    size_t lo = 0, hi = p->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->v[mid].start_ms < start_ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Drops the intervals of periods before the one preceding the newest. */
static void prune(opt_peak_t *p)
{
    size_t k = 0;

    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].key >= p->newest - 1)
            p->v[k++] = p->v[i];
    p->n = k;
}

static int insert_at(opt_peak_t *p, size_t i, const interval_t *iv)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        interval_t *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -1;
        p->v = v, p->cap = cap;
    }
    memmove(&p->v[i + 1], &p->v[i], (p->n - i) * sizeof *p->v);
    p->v[i] = *iv;
    p->n++;
    return 0;
}

int opt_peak_add(opt_peak_t *p, const opt_load_t *l, opt_local_fn local,
                 void *local_ctx)
{
    opt_local_t lt;
    interval_t iv = {.start_ms = l->start_ms,
                     .end_ms = l->end_ms,
                     .kw = l->mean_kw,
                     .revision = l->revision};
    size_t i;

    local(local_ctx, l->start_ms, &lt);
    iv.key = opt_billing_key(p->period, &lt);
    if (p->any && iv.key < p->newest - 1)
        return 0;
    i = lower_bound(p, l->start_ms);
    if (i < p->n && p->v[i].start_ms == l->start_ms) {
        if (l->revision < p->v[i].revision)
            return 0;
        p->v[i] = iv;
        return 1;
    }
    if (insert_at(p, i, &iv))
        return -1;
    if (!p->any || iv.key > p->newest) {
        p->newest = iv.key, p->any = 1;
        prune(p);
    }
    return 1;
}

double opt_peak_floor(const opt_peak_t *p, int64_t at_ms, int64_t cutoff_ms,
                      opt_local_fn local, void *local_ctx)
{
    opt_local_t lt;
    int64_t key;
    double peak = 0;

    if (!p || !p->n)
        return 0;
    local(local_ctx, at_ms, &lt);
    key = opt_billing_key(p->period, &lt);
    for (size_t i = 0; i < p->n && p->v[i].start_ms < cutoff_ms; i++)
        if (p->v[i].key == key && p->v[i].end_ms <= cutoff_ms && p->v[i].kw > peak)
            peak = p->v[i].kw;
    return peak;
}
