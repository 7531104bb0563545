/* fc_features: the feature row for one target slot of one forecast issue.
 *
 * Every history value a row reads must be complete before the issue time
 * (slot end <= issue); later values are treated as missing, so training rows
 * built from the past see exactly what a live forecast would have seen.
 * Missing features are NaN (XGBoost treats them as missing). */
#ifndef FC_FEATURES_H
#define FC_FEATURES_H

#include "forecaster/fc_calendar.h"
#include "forecaster/fc_history.h"

#include <stdint.h>

enum {
    FCF_LEAD_H,  /* hours from issue to target slot start */
    FCF_HOUR,    /* wall-clock hour of day, fractional */
    FCF_DOW,     /* Monday = 0 */
    FCF_HOLIDAY, /* 1 on a public holiday */
    FCF_LAG_1D,  /* same wall-clock slot 1 day before, if known at issue */
    FCF_LAG_2D,
    FCF_LAG_7D,
    FCF_LAG_14D,
    FCF_SAME_SLOT_4W, /* mean of lags 7, 14, 21, 28 days */
    FCF_LAST,         /* last known value before issue (recent level) */
    FCF_MEAN_3H,      /* rolling means ending at the issue time */
    FCF_MEAN_24H,
    FCF_MEAN_7D,
    FCF_HDD, /* heating degrees: max(0, hdd_base - T) */
    FCF_CDD, /* cooling degrees: max(0, T - cdd_base) */
    FCF_BASE /* weather columns follow, in fc_weather order */
};

typedef struct fc_issue_ctx {
    const fc_series *load;
    const fc_weather *wx; /* may be NULL */
    /* The weather features in a model's order: feature FCF_BASE + i is
     * column wxmap[i] of wx. NULL (fc_issue_ctx_init): every column of wx
     * in its own order. */
    const int *wxmap;
    size_t nwx;
    const fc_calendar *cal;
    int64_t issue; /* UTC seconds */
    double hdd_base, cdd_base;
    /* summaries computed once per issue by fc_issue_ctx_init */
    double last, mean_3h, mean_24h, mean_7d;
} fc_issue_ctx;

void fc_issue_ctx_init(fc_issue_ctx *c, const fc_series *load, const fc_weather *wx,
                       const fc_calendar *cal, int64_t issue, double hdd_base,
                       double cdd_base);

/* Number of features for a weather set (wx may be NULL). */
int fc_features_count(const fc_weather *wx);

/* The weather columns a model was trained on, by name, in its feature
 * order: a site's columns come in the order its variables first arrived,
 * which a restart may change, so a model finds its columns by name. */
typedef struct fc_wxcols {
    size_t n;
    char names[FC_MAX_WX][FC_WX_NAME_SIZE];
} fc_wxcols;

/* The columns of wx (NULL: none) in their order. */
void fc_wxcols_of(fc_wxcols *cols, const fc_weather *wx);

/* Fills map[0..cols->n) with the index in wx of each named column. Returns
 * -1 when all are found, else the index in cols of the first one wx lacks
 * (wx NULL lacks every column). */
int fc_wxcols_map(const fc_wxcols *cols, const fc_weather *wx, int *map);

/* Load at slot t if it was complete before the issue time, else NaN. */
double fc_known(const fc_issue_ctx *c, int64_t t);

/* Fills row[0..FCF_BASE + weather features) for target slot start t. */
void fc_features_row(const fc_issue_ctx *c, int64_t t, float *row);

/* Name of feature i (for docs and model dumps); weather columns by name. */
const char *fc_feature_name(const fc_weather *wx, int i);

#endif
