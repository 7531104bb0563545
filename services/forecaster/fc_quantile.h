/* fc_quantile: residual quantiles per horizon bucket and slot-of-day group,
 * and their calibration.
 *
 * Residuals (actual - point forecast) gathered on held-back data are binned
 * by lead time and wall-clock time of day; each bin keeps its 10th, 50th and
 * 90th percentile. A bin with too few residuals borrows from its horizon
 * bucket, then from all residuals.
 *
 * Calibration (ADR 0011): a table fitted on an earlier held-back window is
 * checked against the residuals of a later one; the band offsets are scaled
 * by the smallest factor that covers the target share of those residuals
 * (split-conformal rank), counting the forecast runs behind them as the
 * exchangeable units. Plain value type, no I/O. */
#ifndef FC_QUANTILE_H
#define FC_QUANTILE_H

#include <stddef.h>

enum { FC_QH = 7, FC_QG = 6, FC_QMIN = 24 };

/* Limits of the calibration scale. */
#define FC_QSCALE_MIN 0.25
#define FC_QSCALE_MAX 4.0

/* Horizon bucket for a lead time in hours: <1, <3, <6, <12, <24, <48, more. */
int fc_q_hbucket(double lead_h);
/* Slot-of-day group: 4-hour blocks of the site wall clock (sec of day). */
int fc_q_group(int sec_of_day);

typedef struct fc_qtable {
    float q[FC_QH][FC_QG][3]; /* P10, P50, P90 offsets added to the point */
    int n[FC_QH][FC_QG];      /* residuals behind each cell (after borrowing) */
    int fitted;               /* 0: no residuals at all, offsets are 0 */
    int cal_n;                /* calibration residuals behind scale (0: none) */
    float scale;              /* factor applied to the P10/P90 offsets (1: none) */
    float cal_cover;          /* coverage of the unscaled band on them (NaN: none) */
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
/* Adds one residual to cell h * FC_QG + g (as fc_qacc_add would have
 * binned it); NaN ignored, a cell out of range is -1. -1 on ENOMEM too. */
int fc_qacc_add_cell(fc_qacc *a, int cell, double residual);
/* Cell of a lead time and second of day, as fc_qacc_add bins them. */
int fc_q_cell(double lead_h, int sec_of_day);

/* Fits the table from the accumulated residuals: the P10 and P90 offsets
 * are the residual quantiles at 1 - band and band (0.5 < band < 1; 0.9 is
 * the textbook choice; drift is left to fc_qtable_calibrate). Scale 1. */
void fc_qtable_fit(fc_qtable *t, const fc_qacc *a, double band);

/* Share of the residuals in a that fall inside the band of t with its
 * P10/P90 offsets multiplied by scale (lower offset taken as min(lo, 0),
 * upper as max(hi, 0), as served). NaN when a is empty or t not fitted. */
double fc_qtable_coverage(const fc_qtable *t, const fc_qacc *a, double scale);

/* The smallest scale of the band offsets of t that covers the target share
 * (0..1) of the residuals in cal: each residual needs r/hi (r > 0) or r/lo
 * (r < 0); the answer is the ceil(target * (n + 1))-th smallest need (the
 * n-th when that is past the end), clamped to [FC_QSCALE_MIN, FC_QSCALE_MAX].
 * 1 when t is not fitted or cal holds fewer than FC_QMIN residuals.
 * Each residual counts as one exchangeable unit: fc_qtable_calibrate_runs()
 * with runs = n. */
double fc_qtable_calibrate(const fc_qtable *t, const fc_qacc *cal, double target);

/* Calibration level when the n residuals of cal come from `runs` forecast
 * runs whose errors move together (ADR 0011): the exchangeable units are
 * the runs, not the slots, so the finite-sample conformal level is
 * target * (runs + 1) / runs (conformal risk control of the share of a
 * run's slots outside the band), at most 1. runs <= 0 is taken as 1. */
double fc_q_run_level(double target, double runs);

/* As fc_qtable_calibrate(), with the ceil(level * n)-th smallest need at
 * level = fc_q_run_level(target, runs): the expected coverage of the next
 * run is at least target when runs are exchangeable, however strongly the
 * slots of one run are correlated. */
double fc_qtable_calibrate_runs(const fc_qtable *t, const fc_qacc *cal, double target,
                                double runs);

/* Multiplies the P10/P90 offsets of every cell by scale (> 0) and records
 * the calibration: scale, cal_n residuals, cal_cover of the unscaled band. */
void fc_qtable_scale(fc_qtable *t, double scale, int cal_n, double cal_cover);

/* Quantile p (0..1) of v[0..n) by linear interpolation between order
 * statistics (type 7); sorts v in place. NaN when n is 0. */
double fc_quantile_of(double *v, size_t n, double p);

/* Offsets for one slot: lo (P10), mid (P50), hi (P90). */
void fc_qtable_get(const fc_qtable *t, double lead_h, int sec_of_day, double *lo,
                   double *mid, double *hi);

#endif
