/* The forecaster's replay of the Dutch data set; see fc_replay.h. */
#include "fc_replay.h"

#include <check.h>
#include <math.h>
#include <stdio.h>

#include "forecaster/fc_dataset.h"
#include "plant/plant.h"

#define DAY 86400

/* The data set's column of each replayed variable. */
static const char *const wx_src[TFC_NWX] = {"temp", "radiation", "windspeed"};
const char *const tfc_wx_names[TFC_NWX] = {"temperature", "radiation_wm2",
                                           "windspeed_ms"};

void tfc_data_read(tfc_data *d)
{
    char path[1024], err[256];
    fc_series_init(&d->load, 900, 0);
    fc_weather_init(&d->wx);
    th_root(path, sizeof path, "tests/data/openstef_nl_neerijnen/307-train-data.csv");
    ck_assert_msg(fc_dataset_read(FC_FMT_NL, path, &d->load, &d->wx, err, sizeof err) >
                      0,
                  "%s", err);
    d->day0 = (d->load.t0 / DAY + 1) * DAY;
}

void tfc_data_release(tfc_data *d)
{
    fc_series_release(&d->load);
    fc_weather_release(&d->wx);
}

double tfc_load_kw(const tfc_data *d, int64_t t)
{
    return fc_series_at(&d->load, t) * 1000.0;
}

double tfc_wx(const tfc_data *d, int j, int64_t t)
{
    int c = fc_weather_find(&d->wx, wx_src[j]);
    ck_assert_int_ge(c, 0);
    return fc_weather_at(&d->wx, (size_t)c, t);
}

void tfc_produce_interval(bus_t *b, bus_producer_t *p, const char *site, int64_t t,
                          double kw)
{
    avro_value_t v, f;
    char err[512];
    ck_assert(bus_value_new(b, "energy.load", &v, err, sizeof err) == 0);
    th_field(&v, "site_id", &f), avro_value_set_string(&f, site);
    th_field(&v, "scope", &f), avro_value_set_enum(&f, 1);
    th_field(&v, "interval_start", &f), avro_value_set_long(&f, t * 1000);
    th_field(&v, "interval_end", &f), avro_value_set_long(&f, (t + 900) * 1000);
    th_field(&v, "energy_kwh", &f), avro_value_set_double(&f, kw * 0.25);
    th_field(&v, "mean_kw", &f), avro_value_set_double(&f, kw);
    th_field(&v, "peak_kw", &f), avro_value_set_double(&f, kw);
    th_set_opt_double(&v, "min_kw", 0, 0);
    th_field(&v, "sample_count", &f), avro_value_set_int(&f, 15);
    th_field(&v, "completeness", &f), avro_value_set_double(&f, 1.0);
    th_field(&v, "revision", &f), avro_value_set_int(&f, 0);
    th_field(&v, "watermark_ts", &f), avro_value_set_long(&f, (t + 900) * 1000);
    ck_assert_msg(
        bus_produce(p, "energy.load", site, &v, (t + 900) * 1000, err, sizeof err) == 0,
        "%s", err);
    avro_value_decref(&v);
}

static void put_slot(avro_value_t *arr, const tfc_data *d, int64_t t, int bad)
{
    avro_value_t e, f, m, x;
    double temp = bad ? NAN : tfc_wx(d, 0, t);
    ck_assert(avro_value_append(arr, &e, NULL) == 0);
    th_field(&e, "slot_start", &f), avro_value_set_long(&f, t * 1000);
    th_field(&e, "kind", &f), avro_value_set_enum(&f, 1);
    th_set_opt_double(&e, "temperature_c", bad || !isnan(temp), temp);
    th_field(&e, "variables", &m);
    for (int j = 1; j < TFC_NWX; j++)
        if (!isnan(tfc_wx(d, j, t)))
            avro_value_add(&m, tfc_wx_names[j], &x, NULL, NULL),
                avro_value_set_double(&x, tfc_wx(d, j, t));
}

void tfc_produce_weather_day(bus_t *b, bus_producer_t *p, const tfc_data *d,
                             const char *site, int64_t day, int nan_at)
{
    avro_value_t v, f, arr;
    char err[512];
    ck_assert(bus_value_new(b, "energy.weather", &v, err, sizeof err) == 0);
    th_field(&v, "site_id", &f), avro_value_set_string(&f, site);
    th_field(&v, "provider", &f), avro_value_set_string(&f, "test:openstef-nwp");
    th_field(&v, "issued_at", &f), avro_value_set_long(&f, (day - DAY) * 1000);
    th_field(&v, "slot_minutes", &f), avro_value_set_int(&f, 15);
    th_field(&v, "slots", &arr);
    for (int q = 0; q < 96; q++)
        put_slot(&arr, d, day + q * 900, q == nan_at);
    ck_assert_msg(bus_produce(p, "energy.weather", site, &v, (day - DAY) * 1000, err,
                              sizeof err) == 0,
                  "%s", err);
    avro_value_decref(&v);
}

/* A site of the stack's plant model, as the service configures it. */
static fc_site *new_site(const char *site, const fc_params *p, const fc_site_conf *sc)
{
    char err[256], path[1024], days[64][16];
    const char *hol[64];
    th_root(path, sizeof path, "tools/stack/plant.yaml");
    plant_t *plant = plant_load(path, err, sizeof err);
    ck_assert_msg(plant != NULL, "%s", err);
    const plant_site_t *ps = plant_site(plant, site);
    ck_assert(ps != NULL);
    ck_assert_uint_le(ps->nholidays, 64);
    for (size_t h = 0; h < ps->nholidays; h++) {
        int d = ps->holidays[h];
        snprintf(days[h], sizeof days[h], "%04d-%02d-%02d", d / 10000, d / 100 % 100,
                 d % 100);
        hol[h] = days[h];
    }
    fc_site *s =
        fc_site_new(site, ps->timezone, hol, ps->nholidays, p, sc, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    plant_destroy(plant);
    return s;
}

fc_site *tfc_local_site(const tfc_data *d, const char *site, int rounds, int depth,
                        int64_t warmup, int load_days)
{
    char why[128];
    fc_params p;
    fc_site_conf sc;
    fc_params_default(&p, 900);
    p.xgb.rounds = rounds;
    p.xgb.max_depth = depth;
    fc_site_conf_default(&sc, 900);
    if (warmup > 0)
        sc.warmup = warmup;
    fc_site *s = new_site(site, &p, &sc);
    for (int64_t t = d->day0; t < d->day0 + (load_days + 3) * DAY; t += 900)
        for (int j = 0; j < TFC_NWX; j++)
            if (!isnan(tfc_wx(d, j, t)))
                fc_site_put_weather(s, tfc_wx_names[j], t, 900, tfc_wx(d, j, t), why,
                                    sizeof why);
    for (int64_t t = d->day0; t < d->day0 + load_days * DAY; t += 900)
        if (!isnan(tfc_load_kw(d, t)))
            ck_assert_int_eq(
                fc_site_put_load(s, t, t + 900, tfc_load_kw(d, t), 0, why, sizeof why),
                FC_PUT_STORED);
    return s;
}

pid_t tfc_start_forecaster(const char *prefix, int port, const char *group,
                           const char *dir, const th_env_list *extra)
{
    char bin[1024];
    th_env_list e = {0};
    th_env_add_bus(&e, NULL, prefix);
    th_env_add(&e, "EMS_HTTP_PORT=%d", port);
    th_env_add(&e, "EMS_LOG_LEVEL=warn");
    th_env_add(&e, "EMS_FORECASTER_GROUP_ID=%s", group);
    th_env_add(&e, "EMS_FORECASTER_MODEL_DIR=%s/models", dir);
    th_env_add(&e, "EMS_FORECASTER_BACKFILL=0");
    th_env_add(&e, "EMS_FORECASTER_RESTORE_MAX=10m");
    for (int i = 0; extra && i < extra->n; i++)
        th_env_add(&e, "%s", extra->v[i]);
    th_bin(bin, sizeof bin, "forecaster");
    const char *argv[] = {bin, "--config", "tools/stack/conf/forecaster.yaml", NULL};
    pid_t pid = th_spawn(
        &(th_spawn_opts){.argv = argv, .env = &e, .cwd = th_env("EMS_TEST_ROOT")});
    th_env_release(&e);
    return pid;
}
