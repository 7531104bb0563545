/* fc_forecast: the forecaster core. Plain structs in, plain structs out.
 *
 * A forecaster owns the trained state of one site: per forecast kind a
 * gradient-boosted tree model, residual quantile tables for every model, and
 * the held-back error that decides which model is served. The service and
 * the backtest both call fc_forecaster_issue(), which retrains when the
 * cadence says so (only on data before the issue time) and then forecasts.
 * One forecaster per site; not thread-safe. */
#ifndef FC_FORECAST_H
#define FC_FORECAST_H

#include "forecaster/fc_calendar.h"
#include "forecaster/fc_history.h"
#include "forecaster/fc_quantile.h"
#include "forecaster/fc_xgb.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { FC_DAY_AHEAD = 0, FC_INTRADAY = 1, FC_NKINDS = 2 } fc_kind;

typedef enum {
    FC_MODEL_AUTO = -1, /* serve the held-back winner */
    FC_MODEL_NAIVE = 0, /* weekly seasonal naive */
    FC_MODEL_PROFILE,   /* exponentially weighted weekly profile */
    FC_MODEL_XGB,       /* gradient-boosted trees */
    FC_NMODELS
} fc_model_id;

const char *fc_model_name(fc_model_id m);
const char *fc_kind_name(fc_kind k);
/* The kind as a metric label value: "day_ahead" or "intraday". */
const char *fc_kind_label(fc_kind k);

/* Why a run served a baseline instead of the selected model: the values of
 * fc_forecast.fallback and of the reason label of
 * ems_forecaster_fallbacks_total, whose series start at 0 for each. */
typedef enum {
    FC_FALLBACK_NOT_TRAINED = 0,
    FC_FALLBACK_SHORT_HISTORY,
    FC_FALLBACK_MODEL_FAILED,
    FC_FALLBACK_NO_HISTORY,
    FC_NFALLBACKS
} fc_fallback_id;
const char *fc_fallback_name(fc_fallback_id f);
/* Parses "day-ahead"/"intraday"; -1 on anything else. */
int fc_kind_parse(const char *s);

typedef struct fc_params {
    int step;             /* slot seconds (900 or 3600) */
    int issue_sec;        /* day-ahead issue time, seconds after local midnight */
    int intraday_hours;   /* intraday horizon */
    int window_days;      /* rolling training window */
    int holdout_days;     /* held back for residuals and model choice */
    int retrain_days;     /* cadence */
    int min_history_days; /* below this the trees are not trained/served */
    double profile_alpha; /* weight of the newest week in the profile */
    int profile_days;     /* how far back the profile looks */
    double hdd_base, cdd_base;
    double band_q;      /* nominal residual quantile behind P90 (1 - band_q: P10) */
    double band_target; /* P10-P90 coverage the band promises; calibrated
                           at the level of its runs (fc_q_run_level) */
    int cal_days;       /* latest held-back days that calibrate the band */
    int cal_pool_days;  /* served residuals of this many past days also
                           calibrate the served band (0: off; ADR 0011) */
    fc_xgb_params xgb;
} fc_params;

void fc_params_default(fc_params *p, int step);

typedef struct fc_slot {
    int64_t t; /* UTC slot start, seconds */
    double p10, p50, p90;
} fc_slot;

typedef struct fc_forecast {
    fc_kind kind;
    int64_t issue_time; /* UTC seconds */
    int step;
    size_t n;
    fc_slot *slots;
    char model[32];    /* served model */
    char version[64];  /* version of the trained state behind it */
    char fallback[48]; /* "" or why the winner was not served */
    char quality[160]; /* "" or what was wrong with the inputs */
} fc_forecast;

void fc_forecast_init(fc_forecast *f);
void fc_forecast_release(fc_forecast *f);

typedef struct fc_forecaster fc_forecaster;

/* The calendar is borrowed and must outlive the forecaster. Returns NULL on
 * ENOMEM. */
fc_forecaster *fc_forecaster_new(const fc_params *p, const fc_calendar *cal);
void fc_forecaster_destroy(fc_forecaster *fc);

/* Trains kind k on data complete before `now`: first the state being
 * replaced adds the residuals of its served forecasts since its training to
 * the pool (cal_pool_days); then trees on the window minus the hold-out,
 * residuals of every model on the hold-out (their bands), the served trees
 * on the whole window, and the served band (winner's table calibrated on
 * its held-back week plus the pool; ADR 0011). Returns 0; -1 with errstr when the trees
 * failed (the baselines stay usable and their quantiles are still fitted). */
int fc_forecaster_train(fc_forecaster *fc, const fc_series *load, const fc_weather *wx,
                        fc_kind k, int64_t now, char *errstr, size_t errstr_size);

/* 1 when kind k has never been trained or the cadence has elapsed at `now`. */
int fc_forecaster_due(const fc_forecaster *fc, fc_kind k, int64_t now);

/* Forecasts kind k as of `issue` with model m (FC_MODEL_AUTO for the served
 * one), reading only data complete before `issue`. Day-ahead covers the
 * next site-local day, intraday the next intraday_hours from the issue.
 * Always fills *out (fallback and quality say what went wrong); returns -1
 * only on ENOMEM. */
int fc_forecast_run(fc_forecaster *fc, const fc_series *load, const fc_weather *wx,
                    fc_kind k, int64_t issue, fc_model_id m, fc_forecast *out);

/* What the service and the backtest call: retrain if due, then forecast. */
int fc_forecaster_issue(fc_forecaster *fc, const fc_series *load, const fc_weather *wx,
                        fc_kind k, int64_t issue, fc_model_id m, fc_forecast *out);

/* The parameters the forecaster was made with. */
const fc_params *fc_forecaster_params(const fc_forecaster *fc);

/* Trained state introspection. */
fc_model_id fc_forecaster_winner(const fc_forecaster *fc, fc_kind k);
double fc_forecaster_holdout_mae(const fc_forecaster *fc, fc_kind k, fc_model_id m);
const char *fc_forecaster_version(const fc_forecaster *fc, fc_kind k);
const fc_qtable *fc_forecaster_qtable(const fc_forecaster *fc, fc_kind k,
                                      fc_model_id m);
/* The band served with the winner (FC_MODEL_AUTO, no fallback): its table
 * calibrated on the held-back week and the pooled served residuals. */
const fc_qtable *fc_forecaster_served_qtable(const fc_forecaster *fc, fc_kind k);
/* Served residuals held for the pooled calibration. */
size_t fc_forecaster_pool_size(const fc_forecaster *fc, fc_kind k);

/* Saves / loads kind k's trained state with its version string and the
 * names of its weather columns. Loading refuses a file of another format
 * version (format 3, without the names, included) or kind, or a truncated one, and
 * leaves the forecaster unchanged then. 0 or -1 with errstr filled. */
int fc_forecaster_save(const fc_forecaster *fc, fc_kind k, const char *path,
                       char *errstr, size_t errstr_size);
int fc_forecaster_load(fc_forecaster *fc, fc_kind k, const char *path, char *errstr,
                       size_t errstr_size);
/* As fc_forecaster_load(), and also refuses a model trained on a weather
 * column that wx (the weather it will see; NULL: any) does not have, or
 * trained after not_after (UTC seconds; INT64_MAX: any). The model reads
 * its columns by name in its own order, whatever their order in wx. */
int fc_forecaster_load_checked(fc_forecaster *fc, fc_kind k, const char *path,
                               const fc_weather *wx, int64_t not_after, char *errstr,
                               size_t errstr_size);
/* The `now` kind k was trained at (INT64_MIN when untrained). */
int64_t fc_forecaster_trained_at(const fc_forecaster *fc, fc_kind k);

#endif
