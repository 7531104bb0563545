/* The forecaster's replay of the Dutch data set; see fc_replay.h. */
#include "fc_replay.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "forecaster/fc_codec.h"
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
    th_set_str(&v, "site_id", site);
    th_field(&v, "scope", &f);
    ck_assert_int_eq(avro_value_set_enum(&f, 1), 0);
    th_set_long(&v, "interval_start", t * 1000);
    th_set_long(&v, "interval_end", (t + 900) * 1000);
    th_set_dbl(&v, "energy_kwh", kw * 0.25);
    th_set_dbl(&v, "mean_kw", kw);
    th_set_dbl(&v, "peak_kw", kw);
    th_set_opt_double(&v, "min_kw", 0, 0);
    th_set_int(&v, "sample_count", 15);
    th_set_dbl(&v, "completeness", 1.0);
    th_set_int(&v, "revision", 0);
    th_set_long(&v, "watermark_ts", (t + 900) * 1000);
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
    th_set_long(&e, "slot_start", t * 1000);
    th_field(&e, "kind", &f);
    ck_assert_int_eq(avro_value_set_enum(&f, 1), 0);
    th_set_opt_double(&e, "temperature_c", bad || !isnan(temp), temp);
    th_field(&e, "variables", &m);
    for (int j = 1; j < TFC_NWX; j++)
        if (!isnan(tfc_wx(d, j, t))) {
            ck_assert_int_eq(avro_value_add(&m, tfc_wx_names[j], &x, NULL, NULL), 0);
            ck_assert_int_eq(avro_value_set_double(&x, tfc_wx(d, j, t)), 0);
        }
}

void tfc_produce_weather_day(bus_t *b, bus_producer_t *p, const tfc_data *d,
                             const char *site, int64_t day, int nan_at)
{
    avro_value_t v, arr;
    char err[512];
    ck_assert(bus_value_new(b, "energy.weather", &v, err, sizeof err) == 0);
    th_set_str(&v, "site_id", site);
    th_set_str(&v, "provider", "test:openstef-nwp");
    th_set_long(&v, "issued_at", (day - DAY) * 1000);
    th_set_int(&v, "slot_minutes", 15);
    th_field(&v, "slots", &arr);
    for (int q = 0; q < 96; q++)
        put_slot(&arr, d, day + q * 900, q == nan_at);
    ck_assert_msg(bus_produce(p, "energy.weather", site, &v, (day - DAY) * 1000, err,
                              sizeof err) == 0,
                  "%s", err);
    avro_value_decref(&v);
}

void tfc_pub_open(tfc_pub *pub, const char *prefix)
{
    char err[512];
    pub->bus = th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
    pub->p = bus_producer_new(pub->bus, err, sizeof err);
    ck_assert_msg(pub->p != NULL, "%s", err);
}

void tfc_pub_close(tfc_pub *pub)
{
    char err[512];
    ck_assert_msg(bus_producer_flush(pub->p, 60000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(pub->p);
    bus_destroy(pub->bus);
    pub->p = NULL;
    pub->bus = NULL;
}

void tfc_produce_weather_days(tfc_pub *pub, const tfc_data *d, const char *site,
                              int from, int to)
{
    for (int k = from; k < to; k++)
        tfc_produce_weather_day(pub->bus, pub->p, d, site, d->day0 + k * DAY, -1);
}

void tfc_produce_load(tfc_pub *pub, const tfc_data *d, const char *site, int64_t from,
                      int64_t to)
{
    for (int64_t t = from; t < to; t += 900)
        if (!isnan(tfc_load_kw(d, t)))
            tfc_produce_interval(pub->bus, pub->p, site, t, tfc_load_kw(d, t));
}

int tfc_produce_sine_load(const char *prefix, const char *site, int64_t from,
                          int64_t to)
{
    tfc_pub pub;
    int n = 0;

    tfc_pub_open(&pub, prefix);
    for (int64_t t = from; t < to; t += 900, n++)
        tfc_produce_interval(pub.bus, pub.p, site, t,
                             1000.0 + 300.0 * sin((double)(t % DAY) / DAY * 6.283));
    tfc_pub_close(&pub);
    return n;
}

fc_site *tfc_new_site(const char *site, const fc_params *p, const fc_site_conf *sc)
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

void tfc_conf(fc_params *p, fc_site_conf *sc, int rounds, int depth, int64_t warmup)
{
    fc_params_default(p, 900);
    p->xgb.rounds = rounds;
    p->xgb.max_depth = depth;
    fc_site_conf_default(sc, 900);
    if (warmup > 0)
        sc->warmup = warmup;
}

fc_site *tfc_local_site(const tfc_data *d, const char *site, int rounds, int depth,
                        int64_t warmup, int load_days)
{
    char why[128];
    fc_params p;
    fc_site_conf sc;
    tfc_conf(&p, &sc, rounds, depth, warmup);
    fc_site *s = tfc_new_site(site, &p, &sc);
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

/* ---- forecast runs ---- */

void tfc_run_decode(avro_value_t *v, tfc_run *r)
{
    char site[64], reason[128];
    avro_value_t f, arr, e;
    const char *str;
    size_t len, n = 0;
    memset(r, 0, sizeof *r);
    ck_assert_msg(fc_codec_forecast_head(v, site, sizeof site, &r->kind, &r->issued,
                                         reason, sizeof reason) == 0,
                  "%s", reason);
    th_field(v, "model_name", &f);
    ck_assert_int_eq(avro_value_get_string(&f, &str, &len), 0);
    snprintf(r->model, sizeof r->model, "%s", str);
    th_field(v, "model_version", &f);
    ck_assert_int_eq(avro_value_get_string(&f, &str, &len), 0);
    snprintf(r->version, sizeof r->version, "%s", str);
    th_field(v, "fallback", &f);
    ck_assert_int_eq(avro_value_get_boolean(&f, &r->fallback), 0);
    th_field(v, "slots", &arr);
    ck_assert_int_eq(avro_value_get_size(&arr, &n), 0);
    ck_assert_uint_le(n, TFC_MAX_SLOTS);
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        int64_t t;
        ck_assert_int_eq(avro_value_get_by_index(&arr, i, &e, NULL), 0);
        th_field(&e, "slot_start", &f);
        ck_assert_int_eq(avro_value_get_long(&f, &t), 0);
        r->t[i] = t / 1000;
        th_field(&e, "p10_kw", &f);
        ck_assert_int_eq(avro_value_get_double(&f, &r->p10[i]), 0);
        th_field(&e, "p50_kw", &f);
        ck_assert_int_eq(avro_value_get_double(&f, &r->p50[i]), 0);
        th_field(&e, "p90_kw", &f);
        ck_assert_int_eq(avro_value_get_double(&f, &r->p90[i]), 0);
    }
}

void tfc_run_from(const fc_forecast *f, tfc_run *r)
{
    memset(r, 0, sizeof *r);
    r->kind = (int)f->kind;
    r->issued = f->issue_time;
    snprintf(r->model, sizeof r->model, "%s", f->model);
    snprintf(r->version, sizeof r->version, "%s", f->version);
    r->fallback = f->fallback[0] != '\0';
    ck_assert_uint_le(f->n, TFC_MAX_SLOTS);
    r->n = f->n;
    for (size_t i = 0; i < f->n; i++) {
        r->t[i] = f->slots[i].t;
        r->p10[i] = f->slots[i].p10;
        r->p50[i] = f->slots[i].p50;
        r->p90[i] = f->slots[i].p90;
    }
}

void tfc_runs_assert_eq(const tfc_run *want, const tfc_run *got, tfc_cmp cmp, int i)
{
    ck_assert_int_eq(got->kind, want->kind);
    ck_assert_int_eq(got->issued, want->issued);
    ck_assert_str_eq(got->model, want->model);
    ck_assert_str_eq(got->version, want->version);
    ck_assert_int_eq(got->fallback, want->fallback);
    ck_assert_uint_eq(got->n, want->n);
    for (size_t k = 0; k < want->n; k++) {
        const int bands = cmp == TFC_BANDS;
        ck_assert_int_eq(got->t[k], want->t[k]);
        ck_assert_msg(got->p50[k] == want->p50[k] &&
                          (!bands || (got->p10[k] == want->p10[k] &&
                                      got->p90[k] == want->p90[k])),
                      "run %d (kind %d, %lld) slot %zu: %.17g/%.17g/%.17g published, "
                      "%.17g/%.17g/%.17g by the core%s",
                      i, want->kind, (long long)want->issued, k, got->p10[k],
                      got->p50[k], got->p90[k], want->p10[k], want->p50[k],
                      want->p90[k], bands ? "" : " (P50 compared)");
    }
}

void tfc_assert_core_run(fc_site *local, const tfc_run *got, int i)
{
    fc_forecast f;
    static tfc_run want; /* a few kB: off the stack */
    fc_forecast_init(&f);
    ck_assert_int_eq(fc_forecaster_issue(fc_site_forecaster(local), fc_site_load(local),
                                         fc_site_weather(local), (fc_kind)got->kind,
                                         got->issued, FC_MODEL_AUTO, &f),
                     0);
    tfc_run_from(&f, &want);
    fc_forecast_release(&f);
    tfc_runs_assert_eq(&want, got, TFC_P50, i);
}

void tfc_reader_open(tfc_reader *r, const char *prefix, const char *group)
{
    char g[160];
    snprintf(g, sizeof g, "%s-reader", group);
    r->bus = th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
    r->c = th_consumer(r->bus, g, "energy.forecast");
}

void tfc_reader_close(tfc_reader *r)
{
    bus_consumer_destroy(r->c);
    bus_destroy(r->bus);
    r->c = NULL;
    r->bus = NULL;
}

static int take_record(bus_record_t *rec, void *ctx)
{
    const tfc_read_opts *o = ctx;
    static tfc_run r;
    tfc_run_decode(&rec->value, &r);
    o->take(&r, o->ctx);
    return 0;
}

static int read_done(int got, void *ctx)
{
    const tfc_read_opts *o = ctx;
    return o->done && o->done(got, o->ctx);
}

int tfc_read_runs(tfc_reader *r, const tfc_read_opts *opts)
{
    return th_consume(r->c, &(th_consume_opts){.timeout_s = opts->timeout_s,
                                               .alive = opts->alive,
                                               .each = take_record,
                                               .done = read_done,
                                               .ctx = (void *)opts});
}

void tfc_fixture_setup(tfc_fixture *fx, const char *stem, const char *group_stem)
{
    memset(fx, 0, sizeof *fx);
    th_unique(fx->prefix, sizeof fx->prefix, stem, ".");
    th_unique(fx->group, sizeof fx->group, group_stem, "");
    fx->port = th_free_port();
    th_tmpdir(fx->tmpdir, sizeof fx->tmpdir, stem);
}

void tfc_fixture_teardown(tfc_fixture *fx)
{
    th_stop(&fx->child);
    th_rmtree(fx->tmpdir);
    tfc_data_release(&fx->nl);
}

int tfc_main(char **argv, const char *name, const TTest *test, void (*setup)(void),
             void (*teardown)(void))
{
    th_reexec_with(argv, "OMP_WAIT_POLICY", "PASSIVE");
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("main");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}

void tfc_env_add_replay(th_env_list *e, int warmup_days, int rounds, int depth,
                        const char *restore_empty)
{
    th_env_add(e, "EMS_FORECASTER_WARMUP=%dh", warmup_days * 24);
    th_env_add(e, "EMS_FORECASTER_RESTORE_IDLE=4s");
    th_env_add(e, "EMS_FORECASTER_RESTORE_EMPTY=%s", restore_empty);
    th_env_add(e, "EMS_FORECASTER_TREE_ROUNDS=%d", rounds);
    th_env_add(e, "EMS_FORECASTER_TREE_DEPTH=%d", depth);
}

/* Appends "name=value" to e unless over sets name: the environment takes
 * the first of two settings of one name, so a test's own must be the only
 * one. */
static void add_default(th_env_list *e, const th_env_list *over, const char *name,
                        const char *value)
{
    size_t n = strlen(name);
    for (int i = 0; over && i < over->n; i++)
        if (strncmp(over->v[i], name, n) == 0 && over->v[i][n] == '=')
            return;
    th_env_add(e, "%s=%s", name, value);
}

pid_t tfc_start_forecaster(const char *prefix, int port, const char *group,
                           const char *dir, const th_env_list *extra)
{
    char bin[1024], port_s[16], models[1024];
    th_env_list e = {0};
    snprintf(port_s, sizeof port_s, "%d", port);
    th_path(models, sizeof models, dir, "models");
    th_env_add_bus(&e, NULL, prefix);
    add_default(&e, extra, "EMS_HTTP_PORT", port_s);
    add_default(&e, extra, "EMS_LOG_LEVEL", "warn");
    add_default(&e, extra, "EMS_FORECASTER_GROUP_ID", group);
    add_default(&e, extra, "EMS_FORECASTER_MODEL_DIR", models);
    add_default(&e, extra, "EMS_FORECASTER_BACKFILL", "0");
    add_default(&e, extra, "EMS_FORECASTER_RESTORE_MAX", "10m");
    for (int i = 0; extra && i < extra->n; i++)
        th_env_add(&e, "%s", extra->v[i]);
    th_bin(bin, sizeof bin, "forecaster");
    const char *argv[] = {bin, "--config", "tools/stack/conf/forecaster.yaml", NULL};
    pid_t pid = th_spawn(
        &(th_spawn_opts){.argv = argv, .env = &e, .cwd = th_env("EMS_TEST_ROOT")});
    th_env_release(&e);
    return pid;
}
