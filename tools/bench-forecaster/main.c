/* bench-forecaster: training and forecast run times of the forecaster core.
 *
 * Uses the Dutch substation data (15-min). The data cover about 3.5 months,
 * so the year of history is made by repeating the real series in whole
 * weeks (the output says so). Prints the day-ahead training time on that
 * year and the time of one forecast run per model, baselines beside trees,
 * then one run of the service path (fc_site_issue on a site holding the
 * same year, the run the service publishes).
 *   bench-forecaster [--train FILE --test FILE] [--runs N] [--rounds N] [--max-bin N]
 *                    [--nthread N] */
#include "forecaster/fc_dataset.h"
#include "clock/clock.h"
#include "forecaster/fc_forecast.h"
#include "forecaster/fc_site.h"
#include "forecaster/fc_xgb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

/* Copies src into dst `copies` times, each shifted by `period` seconds. */
static int repeat(const fc_series *src, fc_series *dst, int64_t period, int copies,
                  int64_t limit)
{
    for (int k = 0; k < copies; k++)
        for (size_t i = 0; i < src->n; i++) {
            int64_t t = src->t0 + (int64_t)i * src->step;
            if (t >= src->t0 + period)
                break;
            t += (int64_t)k * period;
            if (t >= limit)
                return 0;
            if (fc_series_put(dst, t, src->values[i]) < 0)
                return -1;
        }
    return 0;
}

static int make_year(const fc_series *load, const fc_weather *wx, fc_series *yl,
                     fc_weather *yw)
{
    int64_t weeks = (int64_t)(load->n * load->step) / (7 * 86400);
    int64_t period = weeks * 7 * 86400, limit = load->t0 + 365LL * 86400;
    int copies = (int)(365 * 86400 / period) + 1;
    if (repeat(load, yl, period, copies, limit) < 0)
        return -1;
    for (size_t c = 0; c < wx->ncol; c++) {
        int k = fc_weather_add(yw, wx->names[c], wx->col[c].step, 0);
        if (k < 0 || repeat(&wx->col[c], &yw->col[k], period, copies, limit) < 0)
            return -1;
    }
    printf(
        "history: one year of 15-min slots (%zu) made by repeating the real %lld-week "
        "Dutch series %d times; %zu weather columns\n",
        yl->n, (long long)weeks, copies, yw->ncol);
    return 0;
}

static double time_run(fc_forecaster *fc, const fc_series *l, const fc_weather *w,
                       int64_t issue, fc_model_id m, int runs, char *model, size_t msz)
{
    fc_forecast f;
    fc_forecast_init(&f);
    double t0 = ems_mono_s();
    for (int i = 0; i < runs; i++)
        fc_forecast_run(fc, l, w, FC_DAY_AHEAD, issue, m, &f);
    double dt = (ems_mono_s() - t0) / runs;
    snprintf(model, msz, "%s", f.model);
    fc_forecast_release(&f);
    return dt;
}

/* The service path: a site fed slot by slot as the service feeds it, its
 * first day-ahead run (trains), then `runs` runs at that issue time. */
static int bench_site(const fc_series *yl, const fc_weather *yw, const fc_params *p,
                      int64_t issue, int runs)
{
    char err[256], why[128];
    fc_site_conf sc;
    fc_site_conf_default(&sc, 900);
    fc_site *s =
        fc_site_new("bench", "Europe/Amsterdam", NULL, 0, p, &sc, err, sizeof err);
    if (!s)
        return fprintf(stderr, "bench-forecaster: %s\n", err), -1;
    for (size_t c = 0; c < yw->ncol; c++)
        for (size_t i = 0; i < yw->col[c].n; i++) {
            int64_t t = yw->col[c].t0 + (int64_t)i * yw->col[c].step;
            double v = yw->col[c].values[i];
            if (!isnan(v))
                fc_site_put_weather_from(s, yw->names[c], t, yw->col[c].step, v, 0, 0,
                                         why, sizeof why);
        }
    for (size_t i = 0; i < yl->n; i++) {
        int64_t t = yl->t0 + (int64_t)i * yl->step;
        if (t + 900 <= issue && !isnan(yl->values[i]))
            fc_site_put_load(s, t, t + 900, yl->values[i], 0, why, sizeof why);
    }
    fc_forecast f;
    fc_forecast_init(&f);
    int trained = 0;
    double t0 = ems_mono_s();
    int rc = fc_site_issue(s, FC_DAY_AHEAD, issue, &f, &trained);
    double dt = ems_mono_s() - t0;
    printf("service path, first day-ahead run (fc_site_issue, trains: %s): %.3f s\n",
           trained ? "yes" : "no", dt);
    t0 = ems_mono_s();
    for (int i = 0; rc == 0 && i < runs; i++)
        rc = fc_site_issue(s, FC_DAY_AHEAD, issue, &f, &trained);
    dt = (ems_mono_s() - t0) / runs;
    printf("service path, one day-ahead run (fc_site_issue, %-8s): %8.3f ms (mean of "
           "%d)\n",
           f.model, dt * 1e3, runs);
    fc_forecast_release(&f);
    fc_site_destroy(s);
    return rc;
}

int main(int argc, char **argv)
{
    fc_xgb_omp_passive(argv);
    const char *train = "tests/data/openstef_nl_neerijnen/307-train-data.csv";
    const char *test = "tests/data/openstef_nl_neerijnen/307-test-data.csv";
    int runs = 20, rounds = 0, max_bin = 0, nthread = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--train"))
            train = argv[i + 1];
        else if (!strcmp(argv[i], "--test"))
            test = argv[i + 1];
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--nthread"))
            nthread = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-bin"))
            max_bin = atoi(argv[i + 1]);
    }
    char err[256];
    fc_series load, yl;
    fc_weather wx, yw;
    fc_series_init(&load, 900, 0);
    fc_series_init(&yl, 900, 0);
    fc_weather_init(&wx);
    fc_weather_init(&yw);
    fc_calendar *cal = fc_calendar_new("Europe/Amsterdam", NULL, 0, err, sizeof err);
    if (!cal || fc_dataset_read(FC_FMT_NL, train, &load, &wx, err, sizeof err) < 0 ||
        fc_dataset_read(FC_FMT_NL, test, &load, &wx, err, sizeof err) < 0 ||
        make_year(&load, &wx, &yl, &yw) < 0) {
        fprintf(stderr, "bench-forecaster: %s\n", err);
        return 1;
    }
    fc_params p;
    fc_params_default(&p, 900);
    if (rounds > 0)
        p.xgb.rounds = rounds;
    if (nthread > 0)
        p.xgb.nthread = nthread;
    if (max_bin > 0)
        p.xgb.max_bin = max_bin;
    fc_forecaster *fc = fc_forecaster_new(&p, cal);
    int64_t now = fc_cal_local_to_utc(
        cal, fc_cal_local_day(cal, fc_series_end(&yl)) - 2, p.issue_sec);
    double t0 = ems_mono_s();
    int rc = fc_forecaster_train(fc, &yl, &yw, FC_DAY_AHEAD, now, err, sizeof err);
    double dt = ems_mono_s() - t0;
    printf("day-ahead training (hold-out trees + residuals + served trees, %d rounds, "
           "depth %d, "
           "%d threads): %.3f s%s%s\n",
           p.xgb.rounds, p.xgb.max_depth, p.xgb.nthread, dt, rc ? " FAILED: " : "",
           rc ? err : "");
    for (int m = 0; m < FC_NMODELS; m++) {
        char model[32];
        double r =
            time_run(fc, &yl, &yw, now, (fc_model_id)m, runs, model, sizeof model);
        printf("one day-ahead forecast run, %-15s: %8.3f ms (mean of %d)\n", model,
               r * 1e3, runs);
    }
    if (bench_site(&yl, &yw, &p, now, runs) < 0)
        rc = -1;
    fc_forecaster_destroy(fc);
    fc_calendar_destroy(cal);
    fc_series_release(&load);
    fc_series_release(&yl);
    fc_weather_release(&wx);
    fc_weather_release(&yw);
    return rc ? 1 : 0;
}
