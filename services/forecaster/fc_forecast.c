#include "forecaster/fc_forecast.h"

#include "forecaster/fc_baseline.h"
#include "forecaster/fc_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Days of served residuals in the pooled calibration (ADR 0011). */
#define FC_CAL_POOL_DAYS 14

/* The trees need most of their lags: days of known load in the last 4 weeks. */
#define FC_SERVE_MIN_DAYS 14.0

static const char *const model_names[FC_NMODELS] = {"seasonal_naive", "weekly_profile",
                                                    "xgboost"};

const char *fc_model_name(fc_model_id m)
{
    return m >= 0 && m < FC_NMODELS ? model_names[m] : "auto";
}

const char *fc_kind_name(fc_kind k)
{
    return k == FC_DAY_AHEAD ? "day-ahead" : "intraday";
}

const char *fc_kind_label(fc_kind k)
{
    return k == FC_DAY_AHEAD ? "day_ahead" : "intraday";
}

const char *fc_fallback_name(fc_fallback_id f)
{
    static const char *const names[FC_NFALLBACKS] = {"not_trained", "short_history",
                                                     "model_failed", "no_history"};
    return f >= 0 && f < FC_NFALLBACKS ? names[f] : "unknown";
}

/* Records why the winner was not served. */
static void set_fallback(fc_forecast *out, fc_fallback_id f)
{
    snprintf(out->fallback, sizeof out->fallback, "%s", fc_fallback_name(f));
}

int fc_kind_parse(const char *s)
{
    if (!strcmp(s, "day-ahead"))
        return FC_DAY_AHEAD;
    if (!strcmp(s, "intraday"))
        return FC_INTRADAY;
    return -1;
}

void fc_params_default(fc_params *p, int step)
{
    memset(p, 0, sizeof *p);
    p->step = step;
    p->issue_sec = 6 * 3600;
    p->intraday_hours = 24;
    p->window_days = 365;
    p->holdout_days = 21;
    p->retrain_days = 7;
    p->min_history_days = 21;
    p->profile_alpha = 0.3;
    p->profile_days = 365;
    p->hdd_base = 18.0;
    p->cdd_base = 22.0;
    p->band_q = 0.9;
    p->band_target = 0.8;
    p->cal_days = 7;
    p->cal_pool_days = FC_CAL_POOL_DAYS;
    p->xgb = (fc_xgb_params){.rounds = 150,
                             .max_depth = 6,
                             .nthread = 2,
                             .max_bin = 64,
                             .eta = 0.08,
                             .subsample = 0.8,
                             .min_child_weight = 5,
                             .lambda = 1.0};
}

void fc_forecast_init(fc_forecast *f)
{
    memset(f, 0, sizeof *f);
}

void fc_forecast_release(fc_forecast *f)
{
    free(f->slots);
    fc_forecast_init(f);
}

fc_forecaster *fc_forecaster_new(const fc_params *p, const fc_calendar *cal)
{
    fc_forecaster *fc = calloc(1, sizeof *fc);
    if (!fc)
        return NULL;
    fc->p = *p;
    fc->cal = cal;
    for (int k = 0; k < FC_NKINDS; k++) {
        for (int m = 0; m < FC_NMODELS; m++)
            fc->ks[k].mae[m] = NAN;
        fc->ks[k].winner = FC_MODEL_PROFILE;
        snprintf(fc->ks[k].version, sizeof fc->ks[k].version, "untrained");
    }
    return fc;
}

void fc_forecaster_destroy(fc_forecaster *fc)
{
    if (!fc)
        return;
    for (int k = 0; k < FC_NKINDS; k++) {
        fc_xgb_free(fc->ks[k].booster);
        fc_pool_release(&fc->ks[k].pool);
    }
    free(fc);
}

int64_t *fc_targets(const fc_forecaster *fc, fc_kind k, int64_t issue, size_t *n)
{
    int step = fc->p.step;
    int64_t from, to;
    if (k == FC_DAY_AHEAD) {
        int64_t d = fc_cal_local_day(fc->cal, issue) + 1;
        from = fc_cal_day_start(fc->cal, d);
        to = fc_cal_day_start(fc->cal, d + 1);
    } else {
        from = issue + ((step - issue % step) % step);
        to = from + (int64_t)fc->p.intraday_hours * 3600;
    }
    *n = (size_t)((to - from) / step);
    int64_t *t = malloc((*n ? *n : 1) * sizeof *t);
    for (size_t i = 0; t && i < *n; i++)
        t[i] = from + (int64_t)i * step;
    return t;
}

/* Binds c to the model's weather columns (by name, in the model's order);
 * the feature count, or -1 with err naming a column wx lacks. */
static int bind_columns(fc_issue_ctx *c, const fc_wxcols *cols, int *map, char *err,
                        size_t errn)
{
    if (!cols)
        return fc_features_count(c->wx);
    int missing = fc_wxcols_map(cols, c->wx, map);
    if (missing >= 0) {
        snprintf(err, errn, "weather column '%s' of the model is missing",
                 cols->names[missing]);
        return -1;
    }
    c->wxmap = map;
    c->nwx = cols->n;
    return FCF_BASE + (int)cols->n;
}

/* The booster's points at t[0..n) into out (left as they are when it
 * fails, with err); -1 out of memory. */
static int predict(fc_booster b, const fc_issue_ctx *c, int nfeat, const int64_t *t,
                   size_t n, double *out, char *err, size_t errn)
{
    float *x = malloc(n * nfeat * sizeof *x);
    float *y = malloc(n * sizeof *y);
    int rc = x && y ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        fc_features_row(c, t[i], x + i * nfeat);
    if (rc == 0 && fc_xgb_predict(b, x, n, nfeat, y, err, errn) == 0) {
        double base = isnan(c->mean_7d) ? 0.0 : c->mean_7d;
        for (size_t i = 0; i < n; i++)
            out[i] = y[i] + base;
    }
    free(x);
    free(y);
    return rc;
}

static int tree_points(fc_booster b, const fc_wxcols *cols, fc_issue_ctx *c,
                       const int64_t *t, size_t n, double *out, char *err, size_t errn)
{
    int map[FC_MAX_WX];
    for (size_t i = 0; i < n; i++)
        out[i] = NAN;
    if (!b) {
        snprintf(err, errn, "no trained model");
        return 0;
    }
    int nfeat = bind_columns(c, cols, map, err, errn);
    int rc = nfeat < 0 ? 0 : predict(b, c, nfeat, t, n, out, err, errn);
    c->wxmap = NULL; /* map dies with this frame; c outlives it */
    c->nwx = 0;
    return rc;
}

int fc_points(const fc_forecaster *fc, fc_booster booster, const fc_wxcols *wxcols,
              const fc_series *load, const fc_weather *wx, int64_t issue,
              const int64_t *t, size_t n, double *pt[FC_NMODELS], char *xgb_err,
              size_t xgb_err_size)
{
    fc_issue_ctx c;
    fc_profile prof;
    fc_issue_ctx_init(&c, load, wx, fc->cal, issue, fc->p.hdd_base, fc->p.cdd_base);
    if (fc_profile_build(&prof, &c, fc->p.profile_alpha, fc->p.profile_days) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        pt[FC_MODEL_NAIVE][i] = fc_naive_point(&c, t[i]);
        pt[FC_MODEL_PROFILE][i] = fc_profile_point(&prof, fc->cal, t[i]);
    }
    fc_profile_release(&prof);
    xgb_err[0] = '\0';
    return tree_points(booster, wxcols, &c, t, n, pt[FC_MODEL_XGB], xgb_err,
                       xgb_err_size);
}

int fc_forecaster_due(const fc_forecaster *fc, fc_kind k, int64_t now)
{
    const fc_kstate *ks = &fc->ks[k];
    return !ks->trained || now - ks->trained_at >= (int64_t)fc->p.retrain_days * 86400;
}

static void add_quality(fc_forecast *f, const char *what)
{
    size_t len = strlen(f->quality);
    snprintf(f->quality + len, sizeof f->quality - len, "%s%s", len ? ";" : "", what);
}

/* Chooses the model to serve and says why when it is not the winner. */
static fc_model_id choose(const fc_forecaster *fc, fc_kind k, const fc_series *load,
                          int64_t issue, fc_model_id want, const char *xgb_err,
                          fc_forecast *out)
{
    const fc_kstate *ks = &fc->ks[k];
    fc_model_id m = want == FC_MODEL_AUTO ? ks->winner : want;
    if (!ks->trained && want == FC_MODEL_AUTO) {
        set_fallback(out, FC_FALLBACK_NOT_TRAINED);
        m = FC_MODEL_PROFILE;
    }
    double days =
        (double)fc_series_count(load, issue - 28 * 86400, issue) * fc->p.step / 86400.0;
    if (m == FC_MODEL_XGB && days < FC_SERVE_MIN_DAYS) {
        set_fallback(out, FC_FALLBACK_SHORT_HISTORY);
        m = FC_MODEL_PROFILE;
    } else if (m == FC_MODEL_XGB && xgb_err[0]) {
        set_fallback(out, FC_FALLBACK_MODEL_FAILED);
        add_quality(out, xgb_err);
        m = FC_MODEL_PROFILE;
    }
    if (m == FC_MODEL_PROFILE && out->fallback[0] &&
        ks->mae[FC_MODEL_NAIVE] < ks->mae[FC_MODEL_PROFILE])
        m = FC_MODEL_NAIVE;
    return m;
}

/* Fills slots the chosen model left NaN: profile, then the recent mean. */
static void fill_gaps(const fc_forecaster *fc, const fc_series *load, int64_t issue,
                      double *pt[FC_NMODELS], fc_model_id m, size_t n, fc_forecast *out)
{
    size_t filled = 0, blind = 0;
    double level = fc_series_mean(load, issue - 7 * 86400, issue - fc->p.step + 1);
    if (isnan(level))
        level = fc_series_mean(load, load->t0, issue - fc->p.step + 1);
    for (size_t i = 0; i < n; i++) {
        if (!isnan(pt[m][i]))
            continue;
        filled++;
        pt[m][i] = pt[FC_MODEL_PROFILE][i];
        if (isnan(pt[m][i]))
            pt[m][i] = level;
        if (isnan(pt[m][i])) {
            pt[m][i] = 0.0;
            blind++;
        }
    }
    char msg[64];
    if (blind) {
        add_quality(out, fc_fallback_name(FC_FALLBACK_NO_HISTORY));
        if (!out->fallback[0])
            set_fallback(out, FC_FALLBACK_NO_HISTORY);
    } else if (filled) {
        snprintf(msg, sizeof msg, "gaps_filled=%zu", filled);
        add_quality(out, msg);
    }
}

static void set_bands(const fc_forecaster *fc, fc_kind k, fc_model_id m, int64_t issue,
                      const double *p, int served, fc_forecast *out)
{
    const fc_kstate *ks = &fc->ks[k];
    /* the winner, served as such, has the band calibrated on the served
     * residuals too; a model asked for by name or a fallback its own */
    const fc_qtable *q =
        served && m == ks->winner && ks->served.fitted ? &ks->served : &ks->q[m];
    if (!q->fitted)
        add_quality(out, "uncalibrated");
    for (size_t i = 0; i < out->n; i++) {
        double lo = 0, mid = 0, hi = 0;
        int64_t t = out->slots[i].t;
        if (q->fitted)
            fc_qtable_get(q, (double)(t - issue) / 3600.0,
                          fc_cal_sec_of_day(fc->cal, t), &lo, &mid, &hi);
        out->slots[i].p50 = p[i];
        out->slots[i].p10 = p[i] + fmin(lo, 0.0);
        out->slots[i].p90 = p[i] + fmax(hi, 0.0);
    }
}

static void check_weather(const fc_weather *wx, const fc_forecast *f, fc_forecast *out)
{
    if (!wx || !wx->has_temp) {
        add_quality(out, "no_temperature");
        return;
    }
    for (size_t i = 0; i < f->n; i++)
        if (isnan(fc_weather_temp(wx, f->slots[i].t))) {
            add_quality(out, "weather_missing");
            return;
        }
}

int fc_forecast_run(fc_forecaster *fc, const fc_series *load, const fc_weather *wx,
                    fc_kind k, int64_t issue, fc_model_id want, fc_forecast *out)
{
    size_t n;
    char xgb_err[96] = "";
    fc_forecast_release(out);
    int64_t *t = fc_targets(fc, k, issue, &n);
    double *buf = t ? malloc(FC_NMODELS * n * sizeof *buf) : NULL;
    out->slots = buf ? calloc(n ? n : 1, sizeof *out->slots) : NULL;
    if (!out->slots) {
        free(t);
        free(buf);
        return -1;
    }
    double *pt[FC_NMODELS];
    for (int m = 0; m < FC_NMODELS; m++)
        pt[m] = buf + m * n;
    const fc_kstate *ks = &fc->ks[k];
    int need_trees =
        want == FC_MODEL_XGB || (want == FC_MODEL_AUTO && ks->winner == FC_MODEL_XGB);
    int rc = fc_points(fc, need_trees ? ks->booster : NULL, &ks->wxcols, load, wx,
                       issue, t, n, pt, xgb_err, sizeof xgb_err);
    if (rc < 0) { /* out of memory: pt may not have been filled */
        free(t);
        free(buf);
        fc_forecast_release(out);
        return -1;
    }
    out->kind = k;
    out->issue_time = issue;
    out->step = fc->p.step;
    out->n = n;
    for (size_t i = 0; i < n; i++)
        out->slots[i].t = t[i];
    fc_model_id m = choose(fc, k, load, issue, want, xgb_err, out);
    fill_gaps(fc, load, issue, pt, m, n, out);
    set_bands(fc, k, m, issue, pt[m], want == FC_MODEL_AUTO && !out->fallback[0], out);
    if (m == FC_MODEL_XGB || want == FC_MODEL_AUTO)
        check_weather(wx, out, out);
    snprintf(out->model, sizeof out->model, "%s", fc_model_name(m));
    snprintf(out->version, sizeof out->version, "%s", ks->version);
    free(t);
    free(buf);
    return rc;
}

int fc_forecaster_issue(fc_forecaster *fc, const fc_series *load, const fc_weather *wx,
                        fc_kind k, int64_t issue, fc_model_id m, fc_forecast *out)
{
    char err[128];
    if (fc_forecaster_due(fc, k, issue))
        fc_forecaster_train(fc, load, wx, k, issue, err, sizeof err);
    return fc_forecast_run(fc, load, wx, k, issue, m, out);
}

void fc_pool_release(fc_pool *p)
{
    free(p->t);
    free(p->r);
    free(p->cell);
    memset(p, 0, sizeof *p);
}

int fc_pool_add(fc_pool *p, int64_t t, int cell, double r)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        int64_t *tt = realloc(p->t, cap * sizeof *tt);
        if (!tt)
            return -1;
        p->t = tt;
        double *rr = realloc(p->r, cap * sizeof *rr);
        if (!rr)
            return -1;
        p->r = rr;
        unsigned char *cc = realloc(p->cell, cap);
        if (!cc)
            return -1;
        p->cell = cc;
        p->cap = cap;
    }
    p->t[p->n] = t;
    p->r[p->n] = r;
    p->cell[p->n] = (unsigned char)cell;
    p->n++;
    return 0;
}

void fc_pool_trim(fc_pool *p, int64_t t0)
{
    size_t j = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->t[i] >= t0) {
            p->t[j] = p->t[i];
            p->r[j] = p->r[i];
            p->cell[j] = p->cell[i];
            j++;
        }
    p->n = j;
}

fc_model_id fc_forecaster_winner(const fc_forecaster *fc, fc_kind k)
{
    return fc->ks[k].winner;
}

double fc_forecaster_holdout_mae(const fc_forecaster *fc, fc_kind k, fc_model_id m)
{
    return fc->ks[k].mae[m];
}

const char *fc_forecaster_version(const fc_forecaster *fc, fc_kind k)
{
    return fc->ks[k].version;
}

const fc_qtable *fc_forecaster_qtable(const fc_forecaster *fc, fc_kind k, fc_model_id m)
{
    return &fc->ks[k].q[m];
}

const fc_qtable *fc_forecaster_served_qtable(const fc_forecaster *fc, fc_kind k)
{
    return &fc->ks[k].served;
}

size_t fc_forecaster_pool_size(const fc_forecaster *fc, fc_kind k)
{
    return fc->ks[k].pool.n;
}

const fc_params *fc_forecaster_params(const fc_forecaster *fc)
{
    return &fc->p;
}
