/* forecaster: load forecasts with uncertainty (docs/forecaster.md).
 *
 *   forecaster [--config FILE] [--plant FILE] ...   the service: energy.load
 *       and energy.weather in, energy.forecast out, weather files adapter
 *   forecaster backtest --format nl|ontario [--csv FILE]... [--test-from DATE]
 *                       [--test-to DATE] [--out metrics.csv]
 * Both call the same fc_forecaster_issue(). */
#include "forecaster/fc_backtest.h"
#include "forecaster/fc_dataset.h"
#include "forecaster/fc_xgb.h"
#include "forecaster/fc_service.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CSV 8

/* Public holidays of the data sets' regions over their periods. */
static const char *const nl_holidays[] = {
    "2020-01-01", "2020-04-12", "2020-04-13", "2020-04-27", "2020-05-05",
    "2020-05-21", "2020-05-31", "2020-06-01", "2020-12-25", "2020-12-26"};
static const char *const on_holidays[] = {
    "2016-01-01", "2016-02-15", "2016-03-25", "2016-05-23", "2016-07-01", "2016-08-01",
    "2016-09-05", "2016-10-10", "2016-12-25", "2016-12-26", "2016-12-27"};

typedef struct preset {
    const char *tz;
    const char *const *hol;
    size_t nhol;
    const char *csv[3];
    const char *from, *to, *unit;
} preset;

static const preset presets[2] = {
    [FC_FMT_NL] = {"Europe/Amsterdam",
                   nl_holidays,
                   sizeof nl_holidays / sizeof *nl_holidays,
                   {"tests/data/openstef_nl_neerijnen/307-train-data.csv",
                    "tests/data/openstef_nl_neerijnen/307-test-data.csv", NULL},
                   "2020-11-01",
                   "2020-11-29",
                   "MW"},
    [FC_FMT_ONTARIO] = {"America/Toronto",
                        on_holidays,
                        sizeof on_holidays / sizeof *on_holidays,
                        {"tests/data/ontario_2016/load2016.csv",
                         "tests/data/ontario_2016/temperature2016.csv", NULL},
                        "2016-10-01",
                        "2016-12-31",
                        "MW"},
};

typedef struct bt_args {
    const char *csv[MAX_CSV];
    int ncsv;
    int fmt;
    const char *from, *to, *out, *tz;
    double band;
    int holdout_days, cal_days; /* 0: the defaults */
    int cal_pool_days;          /* -1: the default */
} bt_args;

static void usage(FILE *f)
{
    fprintf(f, "usage: forecaster backtest --format nl|ontario [--csv FILE]... "
               "[--test-from YYYY-MM-DD] [--test-to YYYY-MM-DD] [--out metrics.csv] "
               "[--tz ZONE] [--band Q] [--holdout-days N] [--cal-days N]\n"
               "                    [--cal-pool-days N]\n");
}

static int parse_args(int argc, char **argv, bt_args *a)
{
    static const struct option opts[] = {{"csv", required_argument, 0, 'c'},
                                         {"format", required_argument, 0, 'f'},
                                         {"test-from", required_argument, 0, 'a'},
                                         {"test-to", required_argument, 0, 'b'},
                                         {"out", required_argument, 0, 'o'},
                                         {"tz", required_argument, 0, 'z'},
                                         {"band", required_argument, 0, 'q'},
                                         {"holdout-days", required_argument, 0, 'H'},
                                         {"cal-days", required_argument, 0, 'C'},
                                         {"cal-pool-days", required_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    memset(a, 0, sizeof *a);
    a->fmt = -1;
    a->cal_pool_days = -1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (a->ncsv == MAX_CSV)
                return fprintf(stderr, "forecaster: too many --csv files\n"), -1;
            a->csv[a->ncsv++] = optarg;
            break;
        case 'f':
            if ((a->fmt = fc_format_parse(optarg)) < 0)
                return fprintf(stderr, "forecaster: unknown format '%s'\n", optarg), -1;
            break;
        case 'a':
            a->from = optarg;
            break;
        case 'b':
            a->to = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'z':
            a->tz = optarg;
            break;
        case 'q':
            a->band = atof(optarg);
            break;
        case 'H':
            a->holdout_days = atoi(optarg);
            break;
        case 'C':
            a->cal_days = atoi(optarg);
            break;
        case 'P':
            a->cal_pool_days = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (a->fmt < 0)
        return fprintf(stderr, "forecaster: --format nl|ontario is required\n"), -1;
    return 0;
}

static int load_data(const bt_args *a, fc_series *load, fc_weather *wx)
{
    char err[256];
    for (int i = 0; i < a->ncsv; i++) {
        long rows =
            fc_dataset_read((fc_format)a->fmt, a->csv[i], load, wx, err, sizeof err);
        if (rows < 0)
            return fprintf(stderr, "forecaster: %s\n", err), -1;
        fprintf(stderr, "forecaster: read %ld rows from '%s'\n", rows, a->csv[i]);
    }
    if (load->n == 0)
        return fprintf(stderr, "forecaster: no load column in the input\n"), -1;
    return 0;
}

static int write_csv(const char *path, const fc_backtest_result *r, const char *name)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return fprintf(stderr, "forecaster: cannot write '%s'\n", path), -1;
    fc_backtest_csv(f, r, name);
    return fclose(f) == 0 ? 0 : -1;
}

static int cmd_backtest(int argc, char **argv)
{
    bt_args a;
    char err[256];
    int rc = 1;
    int64_t from, to;
    if (parse_args(argc, argv, &a) < 0)
        return 2;
    const preset *p = &presets[a.fmt];
    if (a.ncsv == 0)
        while (p->csv[a.ncsv]) {
            a.csv[a.ncsv] = p->csv[a.ncsv];
            a.ncsv++;
        }
    if (fc_parse_date(a.from ? a.from : p->from, &from) < 0 ||
        fc_parse_date(a.to ? a.to : p->to, &to) < 0 || to < from)
        return fprintf(stderr, "forecaster: bad --test-from/--test-to\n"), 2;
    fc_calendar *cal =
        fc_calendar_new(a.tz ? a.tz : p->tz, p->hol, p->nhol, err, sizeof err);
    if (!cal)
        return fprintf(stderr, "forecaster: %s\n", err), 2;
    fc_series load;
    fc_weather wx;
    fc_params prm;
    fc_backtest_result res;
    int step = fc_format_step((fc_format)a.fmt);
    fc_series_init(&load, step, 0);
    fc_weather_init(&wx);
    fc_params_default(&prm, step);
    if (a.band > 0.5 && a.band < 1.0)
        prm.band_q = a.band;
    if (a.holdout_days > 0)
        prm.holdout_days = a.holdout_days;
    if (a.cal_days > 0)
        prm.cal_days = a.cal_days;
    if (a.cal_pool_days >= 0)
        prm.cal_pool_days = a.cal_pool_days;
    if (prm.cal_days >= prm.holdout_days) {
        fprintf(stderr, "forecaster: --cal-days must be below --holdout-days (%d)\n",
                prm.holdout_days);
        fc_calendar_destroy(cal);
        return 2;
    }
    fc_forecaster *fc = fc_forecaster_new(&prm, cal);
    if (!fc || load_data(&a, &load, &wx) < 0)
        goto done;
    if (fc_backtest_run(fc, cal, &load, &wx, from, to, &res, err, sizeof err) < 0) {
        fprintf(stderr, "forecaster: %s\n", err);
        goto done;
    }
    const char *name = a.fmt == FC_FMT_NL ? "nl" : "ontario";
    printf("backtest %s, day-ahead issued 06:00 %s the day before, %s..%s\n", name,
           fc_calendar_tz(cal), a.from ? a.from : p->from, a.to ? a.to : p->to);
    fc_backtest_print(stdout, &res, p->unit);
    rc = a.out && write_csv(a.out, &res, name) < 0 ? 1 : 0;
done:
    fc_forecaster_destroy(fc);
    fc_series_release(&load);
    fc_weather_release(&wx);
    fc_calendar_destroy(cal);
    return rc;
}

static int run_service(int argc, char **argv)
{
    fc_service *s = fc_service_new();
    if (!s)
        return 1;
    const svc_table_t tables[] = {{fc_service_options, fc_service_conf_of(s)},
                                  {NULL, NULL}};
    const svc_def_t def = {
        .name = "forecaster",
        .summary = "Day-ahead and intraday load forecasts per site (also: forecaster "
                   "backtest --help).",
        .http_port = 18103,
        .tables = tables,
        .init = fc_service_init,
        .step = fc_service_step,
        .shutdown = fc_service_shutdown,
    };
    int rc = svc_main(&def, s, argc, argv);
    fc_service_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    fc_xgb_omp_passive(argv);
    if (argc >= 2 && !strcmp(argv[1], "backtest"))
        return cmd_backtest(argc - 1, argv + 1);
    return run_service(argc, argv);
}
