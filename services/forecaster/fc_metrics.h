/* fc_metrics: forecast error measures, accumulated slot by slot.
 *
 * MAE, RMSE, MAPE (only slots where |actual| >= 10% of the mean |actual|),
 * rMAE (MAE over the 1st-99th percentile range of the actuals, as OpenSTEF
 * reports it), mean pinball loss over P10/P50/P90, P10-P90 coverage and the
 * shares of actuals below P10 and above P90 (where the misses fall).
 * Slots with a NaN actual or NaN P50 are skipped. */
#ifndef FC_METRICS_H
#define FC_METRICS_H

#include <stddef.h>

typedef struct fc_metrics_acc {
    double *actual, *p10, *p50, *p90;
    size_t n, cap;
} fc_metrics_acc;

typedef struct fc_metrics {
    size_t n;
    double mae, rmse, mape, rmae, pinball, coverage;
    double below, above; /* shares under P10 and over P90 */
} fc_metrics;

void fc_metrics_acc_init(fc_metrics_acc *a);
void fc_metrics_acc_release(fc_metrics_acc *a);
/* Returns -1 on ENOMEM, 0 otherwise (skipped slots included). */
int fc_metrics_add(fc_metrics_acc *a, double actual, double p10, double p50,
                   double p90);
/* Computes every measure; fields are NaN when no slot counted. */
void fc_metrics_compute(const fc_metrics_acc *a, fc_metrics *m);

/* Pinball loss of one quantile forecast q at level tau for actual y. */
double fc_pinball(double y, double q, double tau);

#endif
