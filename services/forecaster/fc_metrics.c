#include "forecaster/fc_metrics.h"

#include "forecaster/fc_quantile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fc_metrics_acc_init(fc_metrics_acc *a)
{
    memset(a, 0, sizeof *a);
}

void fc_metrics_acc_release(fc_metrics_acc *a)
{
    free(a->actual);
    free(a->p10);
    free(a->p50);
    free(a->p90);
    fc_metrics_acc_init(a);
}

static int grow(double **p, size_t cap)
{
    double *q = realloc(*p, cap * sizeof *q);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

int fc_metrics_add(fc_metrics_acc *a, double actual, double p10, double p50, double p90)
{
    if (isnan(actual) || isnan(p50))
        return 0;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        if (grow(&a->actual, cap) || grow(&a->p10, cap) || grow(&a->p50, cap) ||
            grow(&a->p90, cap))
            return -1;
        a->cap = cap;
    }
    a->actual[a->n] = actual;
    a->p10[a->n] = isnan(p10) ? p50 : p10;
    a->p50[a->n] = p50;
    a->p90[a->n] = isnan(p90) ? p50 : p90;
    a->n++;
    return 0;
}

double fc_pinball(double y, double q, double tau)
{
    double d = y - q;
    return d >= 0 ? tau * d : (tau - 1) * d;
}

static double p1_p99_range(const fc_metrics_acc *a)
{
    double *v = malloc(a->n * sizeof *v);
    if (!v)
        return NAN;
    memcpy(v, a->actual, a->n * sizeof *v);
    double lo = fc_quantile_of(v, a->n, 0.01);
    double hi = fc_quantile_of(v, a->n, 0.99); /* already sorted */
    free(v);
    return hi - lo;
}

void fc_metrics_compute(const fc_metrics_acc *a, fc_metrics *m)
{
    m->n = a->n;
    if (a->n == 0) {
        m->mae = m->rmse = m->mape = m->rmae = m->pinball = m->coverage = NAN;
        m->below = m->above = NAN;
        return;
    }
    double sae = 0, sse = 0, spin = 0, mean_abs = 0, sape = 0;
    size_t cover = 0, below = 0, above = 0, nape = 0;
    for (size_t i = 0; i < a->n; i++)
        mean_abs += fabs(a->actual[i]);
    mean_abs /= (double)a->n;
    for (size_t i = 0; i < a->n; i++) {
        double y = a->actual[i], e = y - a->p50[i];
        sae += fabs(e);
        sse += e * e;
        spin += (fc_pinball(y, a->p10[i], 0.1) + fc_pinball(y, a->p50[i], 0.5) +
                 fc_pinball(y, a->p90[i], 0.9)) /
                3.0;
        cover += y >= a->p10[i] && y <= a->p90[i];
        below += y < a->p10[i];
        above += y > a->p90[i];
        if (fabs(y) >= 0.1 * mean_abs && y != 0) {
            sape += fabs(e / y);
            nape++;
        }
    }
    double n = (double)a->n;
    m->mae = sae / n;
    m->rmse = sqrt(sse / n);
    m->mape = nape ? 100.0 * sape / (double)nape : NAN;
    double range = p1_p99_range(a);
    m->rmae = range > 0 ? m->mae / range : NAN;
    m->pinball = spin / n;
    m->coverage = (double)cover / n;
    m->below = (double)below / n;
    m->above = (double)above / n;
}
