/* Internal state shared by fc_forecast.c and fc_train.c; not a public API. */
#ifndef FC_INTERNAL_H
#define FC_INTERNAL_H

#include "forecaster/fc_features.h"
#include "forecaster/fc_forecast.h"

/* Out-of-sample residuals of the served forecasts (ADR 0011): actual minus
 * the served P50 of past issues, each with its target slot time and its
 * quantile cell; the latest cal_pool_days of them calibrate the served band. */
typedef struct fc_pool {
    int64_t *t;
    double *r;
    unsigned char *cell;
    size_t n, cap;
} fc_pool;

void fc_pool_release(fc_pool *p);
/* Appends one residual; -1 on ENOMEM. */
int fc_pool_add(fc_pool *p, int64_t t, int cell, double r);
/* Drops the residuals of target slots before t0. */
void fc_pool_trim(fc_pool *p, int64_t t0);

typedef struct fc_kstate {
    int trained;        /* fc_forecaster_train ran (trees may still be absent) */
    int64_t trained_at; /* the `now` of that run */
    char version[64];
    fc_booster booster; /* NULL when the trees are not usable */
    fc_wxcols wxcols;   /* the weather columns the trees were trained on */
    fc_qtable q[FC_NMODELS];
    fc_qtable served;       /* band of the winner when served: pooled calibration */
    fc_pool pool;           /* served residuals since the earlier trainings */
    double mae[FC_NMODELS]; /* held-back MAE, NaN when not measured */
    fc_model_id winner;
    char train_err[96];
} fc_kstate;

struct fc_forecaster {
    fc_params p;
    const fc_calendar *cal;
    fc_kstate ks[FC_NKINDS];
};

/* Target slot starts for an issue: malloc'd array the caller frees. */
int64_t *fc_targets(const fc_forecaster *fc, fc_kind k, int64_t issue, size_t *n);

/* Point forecasts of every model for targets t[0..n) into pt[m][0..n).
 * The trees read the weather columns named in wxcols (NULL: every column of
 * wx in its order); they are skipped (NaN, *xgb_err filled) when booster is
 * NULL, a column is missing, or they fail. Returns -1 on ENOMEM. */
int fc_points(const fc_forecaster *fc, fc_booster booster, const fc_wxcols *wxcols,
              const fc_series *load, const fc_weather *wx, int64_t issue,
              const int64_t *t, size_t n, double *pt[FC_NMODELS], char *xgb_err,
              size_t xgb_err_size);

#endif
