/* fc_backtest: day-ahead backtest over a test period.
 *
 * For every site-local day D in [from_day, to_day] the day-ahead forecast is
 * issued at issue_sec on D-1 through fc_forecaster_issue(), the function the
 * service calls, once per model and once for the served choice; the trees
 * are retrained on the forecaster's cadence. Errors are measured against
 * the load series (which may hold the future: the core never reads past the
 * issue time). */
#ifndef FC_BACKTEST_H
#define FC_BACKTEST_H

#include "forecaster/fc_forecast.h"
#include "forecaster/fc_metrics.h"

#include <stdio.h>

enum { FC_BT_SERVED = FC_NMODELS, FC_BT_ROWS = FC_NMODELS + 1 };

typedef struct fc_backtest_result {
    fc_metrics m[FC_BT_ROWS]; /* per model, then the served forecast */
    int days;
    int served_count[FC_NMODELS];
    int fallbacks; /* served forecasts that named a fallback */
    int trainings;
    double train_seconds;     /* total CPU-wall time spent retraining */
    double load_p1, load_p99; /* actuals over the test period */
    /* calibration of the served band over the trainings (ADR 0011): the
     * scale applied, and the coverage of the unscaled band on the
     * calibration set; NaN when never calibrated */
    double scale_min, scale_max, scale_mean, cal_cover_mean;
} fc_backtest_result;

/* Runs the backtest. Returns 0, or -1 with errstr on ENOMEM. */
int fc_backtest_run(fc_forecaster *fc, const fc_calendar *cal, const fc_series *load,
                    const fc_weather *wx, int64_t from_day, int64_t to_day,
                    fc_backtest_result *res, char *errstr, size_t errstr_size);

/* Row label for row i of the result ("seasonal_naive", ..., "served"). */
const char *fc_backtest_row_name(int i);

/* Prints a table; unit names the load unit (e.g. "MW"). */
void fc_backtest_print(FILE *out, const fc_backtest_result *r, const char *unit);

/* Writes the metrics as CSV with a header line. */
void fc_backtest_csv(FILE *out, const fc_backtest_result *r, const char *dataset);

#endif
