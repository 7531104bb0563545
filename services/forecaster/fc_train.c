/* Training: simulated issues over the window, exactly like live ones. */
#include "forecaster/fc_baseline.h"
#include "forecaster/fc_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct issue_list {
    int64_t *t;
    size_t n, cap;
} issue_list;

static int issues_push(issue_list *l, int64_t t)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int64_t *p = realloc(l->t, cap * sizeof *p);
        if (!p)
            return -1;
        l->t = p;
        l->cap = cap;
    }
    l->t[l->n++] = t;
    return 0;
}

static int64_t target_end(const fc_forecaster *fc, fc_kind k, int64_t issue)
{
    if (k == FC_DAY_AHEAD)
        return fc_cal_day_start(fc->cal, fc_cal_local_day(fc->cal, issue) + 2);
    return issue + (int64_t)fc->p.intraday_hours * 3600;
}

/* Issues whose targets all ended by `now`, from a week after the window
 * start (so weekly lags exist). Intraday issues rotate through the hours. */
static int list_issues(const fc_forecaster *fc, fc_kind k, int64_t start, int64_t now,
                       issue_list *l)
{
    const fc_calendar *cal = fc->cal;
    int step = fc->p.step;
    for (int64_t d = fc_cal_local_day(cal, start);; d++) {
        int64_t cand[2];
        int nc = 1;
        if (k == FC_DAY_AHEAD) {
            cand[0] = fc_cal_local_to_utc(cal, d, fc->p.issue_sec);
        } else {
            int h = (int)((d * 5) % 24);
            cand[0] = fc_cal_local_to_utc(cal, d, h * 3600);
            cand[1] = fc_cal_local_to_utc(cal, d, ((h + 12) % 24) * 3600);
            nc = 2;
        }
        if (cand[0] > now)
            break;
        for (int i = 0; i < nc; i++) {
            int64_t is = cand[i] - ((cand[i] % step) + step) % step;
            if (is < start + 7 * 86400 || target_end(fc, k, is) > now)
                continue;
            if (issues_push(l, is) < 0)
                return -1;
        }
    }
    return 0;
}

typedef struct mat {
    float *x, *y;
    size_t n, cap;
    int nfeat;
} mat;

static int mat_rows(const fc_forecaster *fc, fc_kind k, const fc_series *load,
                    const fc_weather *wx, int64_t issue, mat *m)
{
    size_t nt;
    int64_t *t = fc_targets(fc, k, issue, &nt);
    if (!t)
        return -1;
    fc_issue_ctx c;
    fc_issue_ctx_init(&c, load, wx, fc->cal, issue, fc->p.hdd_base, fc->p.cdd_base);
    double base = isnan(c.mean_7d) ? 0.0 : c.mean_7d;
    for (size_t i = 0; i < nt; i++) {
        double y = fc_series_at(load, t[i]);
        if (isnan(y))
            continue;
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 4096;
            float *x = realloc(m->x, cap * m->nfeat * sizeof *x);
            if (x)
                m->x = x;
            float *yy = realloc(m->y, cap * sizeof *yy);
            if (yy)
                m->y = yy;
            if (!x || !yy) {
                free(t);
                return -1;
            }
            m->cap = cap;
        }
        fc_features_row(&c, t[i], m->x + m->n * m->nfeat);
        m->y[m->n++] = (float)(y - base);
    }
    free(t);
    return 0;
}

static int train_trees(const fc_forecaster *fc, fc_kind k, const fc_series *load,
                       const fc_weather *wx, const int64_t *iss, size_t n,
                       fc_booster *out, char *err, size_t errn)
{
    mat m = {.nfeat = fc_features_count(wx)};
    int rc = -1;
    *out = NULL;
    if (n < (size_t)fc->p.min_history_days) {
        snprintf(err, errn, "short_history: %zu training days, need %d", n,
                 fc->p.min_history_days);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (mat_rows(fc, k, load, wx, iss[i], &m) < 0) {
            snprintf(err, errn, "out of memory building features");
            goto done;
        }
    if (m.n == 0) {
        snprintf(err, errn, "short_history: no observed targets");
        goto done;
    }
    rc = fc_xgb_train(m.x, m.y, m.n, m.nfeat, &fc->p.xgb, out, err, errn);
done:
    free(m.x);
    free(m.y);
    return rc;
}

/* Forecast runs behind n residuals of kind k: a run's errors move together
 * (one weather surprise, one level shift), so the run, not the slot, is the
 * exchangeable unit of the calibration (ADR 0011). */
static double runs_of(const fc_forecaster *fc, fc_kind k, size_t n)
{
    double run_s = k == FC_DAY_AHEAD ? 86400.0 : (double)fc->p.intraday_hours * 3600.0;
    return (double)n * (double)fc->p.step / run_s;
}

/* Scales the fitted table t (copied to out) to cover band_target of the
 * residuals in cal at the finite-sample level of their forecast runs. */
static void calibrate_into(const fc_forecaster *fc, fc_kind k, fc_qtable *out,
                           const fc_qtable *t, const fc_qacc *cal)
{
    double cover = fc_qtable_coverage(t, cal, 1.0);
    double scale =
        fc_qtable_calibrate_runs(t, cal, fc->p.band_target, runs_of(fc, k, cal->n));
    *out = *t;
    fc_qtable_scale(out, scale, (int)cal->n, cover);
}

/* Band of one model (split-conformal, ADR 0011): residual quantiles fitted
 * on the earlier held-back issues (also returned unscaled in *fitted), their
 * P10/P90 offsets scaled by the smallest factor that covers band_target of
 * the later issues' residuals (the calibration window) at the level of its
 * runs. The scaled table is the one checked there. With fewer than FC_QMIN
 * residuals on either side the table is fitted on all held-back residuals,
 * unscaled (cal_n 0). */
static void fit_band(const fc_forecaster *fc, fc_kind k, fc_qtable *out,
                     fc_qtable *fitted, const fc_qacc *fit, const fc_qacc *cal,
                     const fc_qacc *all)
{
    if (fit->n < FC_QMIN || cal->n < FC_QMIN) {
        fc_qtable_fit(out, all, fc->p.band_q);
        *fitted = *out;
        return;
    }
    fc_qtable_fit(fitted, fit, fc->p.band_q);
    calibrate_into(fc, k, out, fitted, cal);
}

/* Residuals and MAE of every model over the held-back issues; issues from
 * index ncal0 on form the calibration window of the band. */
static int holdout_eval(fc_forecaster *fc, fc_kind k, const fc_series *load,
                        const fc_weather *wx, const int64_t *iss, size_t n,
                        size_t ncal0, fc_booster trees, fc_qtable fitted[FC_NMODELS],
                        fc_qacc cal_out[FC_NMODELS])
{
    fc_kstate *ks = &fc->ks[k];
    fc_qacc acc[FC_NMODELS], part[2][FC_NMODELS];
    double sum[FC_NMODELS] = {0};
    size_t cnt[FC_NMODELS] = {0};
    int rc = 0;
    char err[96];
    for (int m = 0; m < FC_NMODELS; m++) {
        fc_qacc_init(&acc[m]);
        fc_qacc_init(&part[0][m]);
        fc_qacc_init(&part[1][m]);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t nt;
        int64_t *t = fc_targets(fc, k, iss[i], &nt);
        double *buf = t ? malloc(FC_NMODELS * nt * sizeof *buf) : NULL;
        double *pt[FC_NMODELS];
        for (int m = 0; m < FC_NMODELS && buf; m++)
            pt[m] = buf + m * nt;
        if (!buf || fc_points(fc, trees, NULL, load, wx, iss[i], t, nt, pt, err,
                              sizeof err) < 0)
            rc = -1;
        for (size_t j = 0; j < nt && rc == 0; j++) {
            double y = fc_series_at(load, t[j]);
            double lead = (double)(t[j] - iss[i]) / 3600.0;
            int sod = fc_cal_sec_of_day(fc->cal, t[j]);
            for (int m = 0; m < FC_NMODELS; m++) {
                double r = y - pt[m][j];
                if (isnan(r))
                    continue;
                sum[m] += fabs(r);
                cnt[m]++;
                if (fc_qacc_add(&acc[m], lead, sod, r) < 0 ||
                    fc_qacc_add(&part[i >= ncal0][m], lead, sod, r) < 0)
                    rc = -1;
            }
        }
        free(buf);
        free(t);
    }
    for (int m = 0; m < FC_NMODELS; m++) {
        fit_band(fc, k, &ks->q[m], &fitted[m], &part[0][m], &part[1][m], &acc[m]);
        ks->mae[m] = cnt[m] ? sum[m] / (double)cnt[m] : NAN;
        fc_qacc_release(&acc[m]);
        fc_qacc_release(&part[0][m]);
        cal_out[m] = part[1][m]; /* the caller releases it */
    }
    return rc;
}

static void pick_winner(fc_kstate *ks)
{
    fc_model_id best = FC_MODEL_PROFILE;
    double best_mae = INFINITY;
    for (int m = 0; m < FC_NMODELS; m++) {
        if (isnan(ks->mae[m]) || (m == FC_MODEL_XGB && !ks->booster))
            continue;
        if (ks->mae[m] < best_mae) {
            best_mae = ks->mae[m];
            best = (fc_model_id)m;
        }
    }
    ks->winner = best;
}

static void set_version(fc_kstate *ks, fc_kind k, int64_t now)
{
    time_t tt = (time_t)now;
    struct tm tm;
    char ts[24];
    gmtime_r(&tt, &tm);
    strftime(ts, sizeof ts, "%Y%m%dT%H%MZ", &tm);
    snprintf(ks->version, sizeof ks->version, "fc1-%s-%s",
             k == FC_DAY_AHEAD ? "da" : "id", ts);
}

/* Adds to the pool the residuals of the forecasts the current state served
 * (FC_MODEL_AUTO) for the issues since its training whose targets all ended
 * by `now`: out of sample for that state, model choice included. Then
 * drops residuals older than cal_pool_days. -1 on ENOMEM. */
static int pool_served(fc_forecaster *fc, fc_kind k, const fc_series *load,
                       const fc_weather *wx, int64_t now)
{
    fc_kstate *ks = &fc->ks[k];
    issue_list l = {0};
    fc_forecast f;
    int rc = 0;
    if (fc->p.cal_pool_days <= 0 || !ks->trained || ks->trained_at >= now)
        return 0;
    if (list_issues(fc, k, ks->trained_at - 7 * 86400, now, &l) < 0)
        rc = -1;
    fc_forecast_init(&f);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        if (l.t[i] < ks->trained_at)
            continue;
        rc = fc_forecast_run(fc, load, wx, k, l.t[i], FC_MODEL_AUTO, &f);
        for (size_t j = 0; rc == 0 && j < f.n; j++) {
            double r = fc_series_at(load, f.slots[j].t) - f.slots[j].p50;
            double lead = (double)(f.slots[j].t - l.t[i]) / 3600.0;
            int cell = fc_q_cell(lead, fc_cal_sec_of_day(fc->cal, f.slots[j].t));
            if (!isnan(r))
                rc = fc_pool_add(&ks->pool, f.slots[j].t, cell, r);
        }
    }
    fc_forecast_release(&f);
    free(l.t);
    fc_pool_trim(&ks->pool, now - (int64_t)fc->p.cal_pool_days * 86400);
    return rc;
}

/* The band served with the winner: its fitted table scaled to cover
 * band_target of the held-back calibration week's residuals together with
 * the pooled residuals of the forecasts served before, at the level of the
 * runs behind them (ADR 0011). Without a calibration week (short history)
 * or a pool, the winner's own band. */
static void served_band(const fc_forecaster *fc, fc_kind k, fc_kstate *ks,
                        const fc_qtable fitted[FC_NMODELS],
                        const fc_qacc cal[FC_NMODELS])
{
    fc_model_id w = ks->winner;
    const fc_qtable *own = &ks->q[w];
    ks->served = *own;
    if (!own->fitted || own->cal_n == 0 || ks->pool.n == 0)
        return;
    fc_qacc set;
    fc_qacc_init(&set);
    int ok = 1;
    for (size_t i = 0; ok && i < cal[w].n; i++)
        ok = fc_qacc_add_cell(&set, cal[w].cell[i], cal[w].r[i]) == 0;
    for (size_t i = 0; ok && i < ks->pool.n; i++)
        ok = fc_qacc_add_cell(&set, ks->pool.cell[i], ks->pool.r[i]) == 0;
    if (ok)
        calibrate_into(fc, k, &ks->served, &fitted[w], &set);
    fc_qacc_release(&set);
}

int fc_forecaster_train(fc_forecaster *fc, const fc_series *load, const fc_weather *wx,
                        fc_kind k, int64_t now, char *errstr, size_t errstr_size)
{
    fc_kstate *ks = &fc->ks[k];
    issue_list all = {0};
    fc_qtable fitted[FC_NMODELS];
    fc_qacc cal[FC_NMODELS];
    int64_t start = now - (int64_t)fc->p.window_days * 86400;
    if (start < load->t0)
        start = load->t0;
    if (pool_served(fc, k, load, wx, now) < 0 ||
        list_issues(fc, k, start, now, &all) < 0) {
        snprintf(errstr, errstr_size, "out of memory listing issues");
        free(all.t);
        return -1;
    }
    int64_t cut = now - (int64_t)fc->p.holdout_days * 86400;
    size_t ntrain = 0;
    while (ntrain < all.n && target_end(fc, k, all.t[ntrain]) <= cut)
        ntrain++;
    int64_t cal_cut = now - (int64_t)fc->p.cal_days * 86400;
    size_t ncal0 = ntrain;
    while (ncal0 < all.n && target_end(fc, k, all.t[ncal0]) <= cal_cut)
        ncal0++;
    fc_booster probe = NULL;
    char err[96] = "";
    train_trees(fc, k, load, wx, all.t, ntrain, &probe, err, sizeof err);
    fc_xgb_free(ks->booster);
    ks->booster = NULL;
    fc_wxcols_of(&ks->wxcols, wx);
    int rc = holdout_eval(fc, k, load, wx, all.t + ntrain, all.n - ntrain,
                          ncal0 - ntrain, probe, fitted, cal);
    fc_xgb_free(probe);
    if (rc == 0 &&
        train_trees(fc, k, load, wx, all.t, all.n, &ks->booster, err, sizeof err) < 0)
        rc = -1;
    snprintf(ks->train_err, sizeof ks->train_err, "%s", rc == 0 ? "" : err);
    if (rc < 0)
        snprintf(errstr, errstr_size, "%s", err[0] ? err : "out of memory");
    pick_winner(ks);
    served_band(fc, k, ks, fitted, cal);
    for (int m = 0; m < FC_NMODELS; m++)
        fc_qacc_release(&cal[m]);
    ks->trained = 1;
    ks->trained_at = now;
    set_version(ks, k, now);
    free(all.t);
    return rc;
}
