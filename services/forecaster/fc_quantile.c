#include "forecaster/fc_quantile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int fc_q_hbucket(double lead_h)
{
    static const double edge[FC_QH - 1] = {1, 3, 6, 12, 24, 48};
    for (int i = 0; i < FC_QH - 1; i++)
        if (lead_h < edge[i])
            return i;
    return FC_QH - 1;
}

int fc_q_group(int sec_of_day)
{
    int g = sec_of_day / (4 * 3600);
    return g < 0 ? 0 : g >= FC_QG ? FC_QG - 1 : g;
}

void fc_qacc_init(fc_qacc *a)
{
    memset(a, 0, sizeof *a);
}

void fc_qacc_release(fc_qacc *a)
{
    free(a->r);
    free(a->cell);
    fc_qacc_init(a);
}

int fc_q_cell(double lead_h, int sec_of_day)
{
    return fc_q_hbucket(lead_h) * FC_QG + fc_q_group(sec_of_day);
}

int fc_qacc_add_cell(fc_qacc *a, int cell, double residual)
{
    if (isnan(residual))
        return 0;
    if (cell < 0 || cell >= FC_QH * FC_QG)
        return -1;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        double *r = realloc(a->r, cap * sizeof *r);
        if (!r)
            return -1;
        a->r = r;
        unsigned char *c = realloc(a->cell, cap);
        if (!c)
            return -1;
        a->cell = c;
        a->cap = cap;
    }
    a->r[a->n] = residual;
    a->cell[a->n] = (unsigned char)cell;
    a->n++;
    return 0;
}

int fc_qacc_add(fc_qacc *a, double lead_h, int sec_of_day, double residual)
{
    return fc_qacc_add_cell(a, fc_q_cell(lead_h, sec_of_day), residual);
}

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double fc_quantile_of(double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_d);
    double h = (double)(n - 1) * p;
    size_t i = (size_t)floor(h);
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] + (h - (double)i) * (v[i + 1] - v[i]);
}

/* Collects residuals whose cell matches (h, g); g < 0 or h < 0 match all. */
static size_t gather(const fc_qacc *a, int h, int g, double *buf)
{
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        int ch = a->cell[i] / FC_QG, cg = a->cell[i] % FC_QG;
        if ((h < 0 || ch == h) && (g < 0 || cg == g))
            buf[k++] = a->r[i];
    }
    return k;
}

static void set_cell(fc_qtable *t, int h, int g, double *buf, size_t k, double band)
{
    const double p[3] = {1.0 - band, 0.5, band};
    for (int j = 0; j < 3; j++)
        t->q[h][g][j] = (float)fc_quantile_of(buf, k, p[j]);
    t->n[h][g] = (int)k;
}

void fc_qtable_fit(fc_qtable *t, const fc_qacc *a, double band)
{
    memset(t, 0, sizeof *t);
    t->scale = 1.0f;
    t->cal_cover = NAN;
    if (a->n == 0)
        return;
    double *buf = malloc(a->n * sizeof *buf);
    if (!buf)
        return;
    for (int h = 0; h < FC_QH; h++) {
        for (int g = 0; g < FC_QG; g++) {
            size_t k = gather(a, h, g, buf);
            if (k < FC_QMIN)
                k = gather(a, h, -1, buf);
            if (k < FC_QMIN)
                k = gather(a, -1, -1, buf);
            set_cell(t, h, g, buf, k, band);
        }
    }
    t->fitted = 1;
    free(buf);
}

void fc_qtable_get(const fc_qtable *t, double lead_h, int sec_of_day, double *lo,
                   double *mid, double *hi)
{
    int h = fc_q_hbucket(lead_h), g = fc_q_group(sec_of_day);
    *lo = t->q[h][g][0];
    *mid = t->q[h][g][1];
    *hi = t->q[h][g][2];
}

/* The scale residual i of a needs to fall inside the band of t. */
static double need(const fc_qtable *t, const fc_qacc *a, size_t i)
{
    int h = a->cell[i] / FC_QG, g = a->cell[i] % FC_QG;
    double r = a->r[i];
    double lo = fmin(t->q[h][g][0], 0.0), hi = fmax(t->q[h][g][2], 0.0);
    if (r > 0)
        return hi > 0 ? r / hi : INFINITY;
    if (r < 0)
        return lo < 0 ? r / lo : INFINITY;
    return 0.0;
}

double fc_qtable_coverage(const fc_qtable *t, const fc_qacc *a, double scale)
{
    if (!t->fitted || a->n == 0)
        return NAN;
    size_t in = 0;
    for (size_t i = 0; i < a->n; i++)
        in += need(t, a, i) <= scale;
    return (double)in / (double)a->n;
}

double fc_q_run_level(double target, double runs)
{
    if (runs < 1.0)
        runs = 1.0;
    double level = target * (runs + 1.0) / runs;
    return level > 1.0 ? 1.0 : level;
}

double fc_qtable_calibrate_runs(const fc_qtable *t, const fc_qacc *cal, double target,
                                double runs)
{
    if (!t->fitted || cal->n < FC_QMIN)
        return 1.0;
    double *s = malloc(cal->n * sizeof *s);
    if (!s)
        return 1.0;
    for (size_t i = 0; i < cal->n; i++)
        s[i] = need(t, cal, i);
    qsort(s, cal->n, sizeof *s, cmp_d);
    /* the epsilon keeps an exact product (0.8 * 25) from rounding up */
    double rank = ceil(fc_q_run_level(target, runs) * (double)cal->n - 1e-9);
    size_t k = rank < 1 ? 0 : rank > (double)cal->n ? cal->n - 1 : (size_t)rank - 1;
    double v = s[k];
    free(s);
    return v < FC_QSCALE_MIN ? FC_QSCALE_MIN : v > FC_QSCALE_MAX ? FC_QSCALE_MAX : v;
}

double fc_qtable_calibrate(const fc_qtable *t, const fc_qacc *cal, double target)
{
    return fc_qtable_calibrate_runs(t, cal, target, (double)cal->n);
}

void fc_qtable_scale(fc_qtable *t, double scale, int cal_n, double cal_cover)
{
    for (int h = 0; h < FC_QH; h++)
        for (int g = 0; g < FC_QG; g++) {
            t->q[h][g][0] = (float)(t->q[h][g][0] * scale);
            t->q[h][g][2] = (float)(t->q[h][g][2] * scale);
        }
    t->scale = (float)scale;
    t->cal_n = cal_n;
    t->cal_cover = (float)cal_cover;
}
