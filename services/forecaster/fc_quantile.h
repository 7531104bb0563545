/* fc_quantile: residual quantiles per horizon bucket and slot-of-day group.
 *
 * Residuals (actual - point forecast) gathered on held-back data are binned
 * by lead time and wall-clock time of day; each bin keeps its 10th, 50th and
 * 90th percentile. A bin with too few residuals borrows from its horizon
 * bucket, then from all residuals. Plain value type, no I/O. */
#ifndef FC_QUANTILE_H
#define FC_QUANTILE_H

#include <stddef.h>

enum { FC_QH = 7, FC_QG = 6, FC_QMIN = 24 };

/* Horizon bucket for a lead time in hours: <1, <3, <6, <12, <24, <48, more. */
int fc_q_hbucket(double lead_h);
/* Slot-of-day group: 4-hour blocks of the site wall clock (sec of day). */
int fc_q_group(int sec_of_day);

typedef struct fc_qtable {
    float q[FC_QH][FC_QG][3]; /* P10, P50, P90 offsets added to the point */
    int n[FC_QH][FC_QG];      /* residuals behind each cell (after borrowing) */
    int fitted;               /* 0: no residuals at all, offsets are 0 */
} fc_qtable;

/* Accumulates residuals before fitting. */
typedef struct fc_qacc {
    double *r;
    unsigned char *cell; /* h * FC_QG + g */
    size_t n, cap;
} fc_qacc;

void fc_qacc_init(fc_qacc *a);
void fc_qacc_release(fc_qacc *a);
/* Adds one residual; NaN residuals are ignored. Returns -1 on ENOMEM. */
int fc_qacc_add(fc_qacc *a, double lead_h, int sec_of_day, double residual);

/* Fits the table from the accumulated residuals: the P10 and P90 offsets
 * are the residual quantiles at 1 - band and band (0.5 < band < 1; 0.9 is
 * the textbook choice, larger widens the band to allow for drift between
 * the held-back period and the forecast). */
void fc_qtable_fit(fc_qtable *t, const fc_qacc *a, double band);

/* Quantile p (0..1) of v[0..n) by linear interpolation between order
 * statistics (type 7); sorts v in place. NaN when n is 0. */
double fc_quantile_of(double *v, size_t n, double p);

/* Offsets for one slot: lo (P10), mid (P50), hi (P90). */
void fc_qtable_get(const fc_qtable *t, double lead_h, int sec_of_day, double *lo,
                   double *mid, double *hi);

#endif
