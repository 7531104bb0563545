#include "forecaster/fc_backtest.h"
#include "clock/clock.h"

#include "forecaster/fc_quantile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *fc_backtest_row_name(int i)
{
    return i == FC_BT_SERVED ? "served" : fc_model_name((fc_model_id)i);
}

static int score(const fc_forecast *f, const fc_series *load, fc_metrics_acc *acc)
{
    for (size_t i = 0; i < f->n; i++) {
        const fc_slot *s = &f->slots[i];
        if (fc_metrics_add(acc, fc_series_at(load, s->t), s->p10, s->p50, s->p90) < 0)
            return -1;
    }
    return 0;
}

typedef struct cal_stats {
    double smin, smax, ssum, csum;
    int n;
} cal_stats;

static void note_calibration(const fc_forecaster *fc, cal_stats *cs)
{
    const fc_qtable *q = fc_forecaster_served_qtable(fc, FC_DAY_AHEAD);
    if (!q->fitted || q->cal_n == 0)
        return;
    cs->smin = cs->n ? fmin(cs->smin, q->scale) : q->scale;
    cs->smax = cs->n ? fmax(cs->smax, q->scale) : q->scale;
    cs->ssum += q->scale;
    cs->csum += q->cal_cover;
    cs->n++;
}

static int run_day(fc_forecaster *fc, const fc_series *load, const fc_weather *wx,
                   int64_t issue, fc_metrics_acc *acc, fc_backtest_result *res,
                   cal_stats *cs)
{
    fc_forecast f;
    fc_forecast_init(&f);
    int rc = 0;
    if (fc_forecaster_due(fc, FC_DAY_AHEAD, issue)) {
        char err[128];
        double t0 = ems_mono_s();
        fc_forecaster_train(fc, load, wx, FC_DAY_AHEAD, issue, err, sizeof err);
        if (acc) {
            res->train_seconds += ems_mono_s() - t0;
            res->trainings++;
            note_calibration(fc, cs);
        }
    }
    if (!acc) /* warm-up: the service's run, not scored */
        rc = fc_forecaster_issue(fc, load, wx, FC_DAY_AHEAD, issue, FC_MODEL_AUTO, &f);
    for (int m = 0; acc && m < FC_BT_ROWS && rc == 0; m++) {
        fc_model_id id = m == FC_BT_SERVED ? FC_MODEL_AUTO : (fc_model_id)m;
        rc = fc_forecaster_issue(fc, load, wx, FC_DAY_AHEAD, issue, id, &f);
        if (rc == 0)
            rc = score(&f, load, &acc[m]);
        if (m == FC_BT_SERVED) {
            for (int k = 0; k < FC_NMODELS; k++)
                res->served_count[k] += !strcmp(f.model, fc_model_name((fc_model_id)k));
            res->fallbacks += f.fallback[0] != '\0';
        }
    }
    fc_forecast_release(&f);
    return rc;
}

static void load_range(const fc_metrics_acc *a, fc_backtest_result *res)
{
    double *v = malloc((a->n ? a->n : 1) * sizeof *v);
    res->load_p1 = res->load_p99 = NAN;
    if (!v)
        return;
    memcpy(v, a->actual, a->n * sizeof *v);
    res->load_p1 = fc_quantile_of(v, a->n, 0.01);
    res->load_p99 = fc_quantile_of(v, a->n, 0.99);
    free(v);
}

int fc_backtest_run(fc_forecaster *fc, const fc_calendar *cal, const fc_series *load,
                    const fc_weather *wx, int64_t from_day, int64_t to_day,
                    fc_backtest_result *res, char *errstr, size_t errstr_size)
{
    fc_metrics_acc acc[FC_BT_ROWS];
    cal_stats cs = {0};
    int rc = 0;
    memset(res, 0, sizeof *res);
    for (int m = 0; m < FC_BT_ROWS; m++)
        fc_metrics_acc_init(&acc[m]);
    const fc_params *p = fc_forecaster_params(fc);
    /* a service issues runs before the test period too: they fill the
     * pooled calibration (ADR 0011) */
    int64_t warm = p->cal_pool_days > 0 ? p->cal_pool_days : 0;
    for (int64_t d = from_day - warm; d <= to_day && rc == 0; d++) {
        int64_t issue = fc_cal_local_to_utc(cal, d - 1, p->issue_sec);
        rc = run_day(fc, load, wx, issue, d >= from_day ? acc : NULL, res, &cs);
        res->days += d >= from_day;
    }
    if (rc < 0)
        snprintf(errstr, errstr_size, "out of memory during backtest");
    res->scale_min = cs.n ? cs.smin : NAN;
    res->scale_max = cs.n ? cs.smax : NAN;
    res->scale_mean = cs.n ? cs.ssum / cs.n : NAN;
    res->cal_cover_mean = cs.n ? cs.csum / cs.n : NAN;
    for (int m = 0; m < FC_BT_ROWS; m++) {
        fc_metrics_compute(&acc[m], &res->m[m]);
        if (m == FC_BT_SERVED)
            load_range(&acc[m], res);
        fc_metrics_acc_release(&acc[m]);
    }
    return rc;
}

void fc_backtest_print(FILE *out, const fc_backtest_result *r, const char *unit)
{
    double naive = r->m[FC_MODEL_NAIVE].mae;
    fprintf(out, "%-15s %6s %9s %9s %8s %7s %9s %8s %9s\n", "model", "slots", "MAE",
            "RMSE", "MAPE%", "rMAE", "pinball", "P10-P90", "vs naive");
    for (int i = 0; i < FC_BT_ROWS; i++) {
        const fc_metrics *m = &r->m[i];
        fprintf(out, "%-15s %6zu %9.4f %9.4f %8.2f %7.4f %9.4f %7.1f%% %+8.1f%%\n",
                fc_backtest_row_name(i), m->n, m->mae, m->rmse, m->mape, m->rmae,
                m->pinball, 100.0 * m->coverage, 100.0 * (m->mae / naive - 1.0));
    }
    fprintf(out, "units: %s; %d test days; load p1..p99 %.3f..%.3f %s; served:", unit,
            r->days, r->load_p1, r->load_p99, unit);
    for (int k = 0; k < FC_NMODELS; k++)
        fprintf(out, " %s=%d", fc_model_name((fc_model_id)k), r->served_count[k]);
    fprintf(out, "; fallbacks=%d; %d trainings, %.2f s\n", r->fallbacks, r->trainings,
            r->train_seconds);
    fprintf(out,
            "served misses: %.1f%% below P10, %.1f%% above P90 (nominal 10%% each)\n",
            100.0 * r->m[FC_BT_SERVED].below, 100.0 * r->m[FC_BT_SERVED].above);
    fprintf(out,
            "band calibration (served): unscaled band covered %.1f%% of the "
            "calibration sets on average; scale %.3f..%.3f, mean %.3f\n",
            100.0 * r->cal_cover_mean, r->scale_min, r->scale_max, r->scale_mean);
}

void fc_backtest_csv(FILE *out, const fc_backtest_result *r, const char *dataset)
{
    fprintf(out, "dataset,model,slots,mae,rmse,mape_pct,rmae,pinball,coverage_p10_p90,"
                 "mae_vs_naive_pct\n");
    for (int i = 0; i < FC_BT_ROWS; i++) {
        const fc_metrics *m = &r->m[i];
        fprintf(out, "%s,%s,%zu,%.6f,%.6f,%.4f,%.6f,%.6f,%.4f,%.2f\n", dataset,
                fc_backtest_row_name(i), m->n, m->mae, m->rmse, m->mape, m->rmae,
                m->pinball, m->coverage,
                100.0 * (m->mae / r->m[FC_MODEL_NAIVE].mae - 1.0));
    }
}
