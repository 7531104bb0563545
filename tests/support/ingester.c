/*
 * The ingester of the integration tests (see ingester.h).
 */
#include "ingester.h"
#include "pg.h"

#include <check.h>

void th_ing_names(const char *stem, char site[static TH_ING_SITE_SIZE],
                  char group[static TH_ING_GROUP_SIZE],
                  char prefix[static TH_ING_PREFIX_SIZE])
{
    /* group and prefix hold any site th_unique() lets through */
    _Static_assert(TH_ING_GROUP_SIZE >= sizeof "ingester-" - 1 + TH_ING_SITE_SIZE,
                   "group too small");
    _Static_assert(TH_ING_PREFIX_SIZE >= TH_ING_SITE_SIZE + 1, "prefix too small");

    th_unique(site, TH_ING_SITE_SIZE, stem, "");
    snprintf(group, TH_ING_GROUP_SIZE, "ingester-%s", site);
    snprintf(prefix, TH_ING_PREFIX_SIZE, "%s.", site);
}

void th_ing_env(th_env_list *e, const char *conninfo, const char *group,
                const char *prefix, int port)
{
    th_env_add_bus(e, NULL, prefix);
    th_env_add(e, "EMS_DB_CONNINFO=%s", conninfo ? conninfo : th_env("EMS_TEST_PG"));
    th_env_add(e, "EMS_REDIS_ADDR=%s", th_env("EMS_TEST_REDIS"));
    th_env_add(e, "EMS_INGESTER_GROUP_ID=%s", group);
    th_env_add(e, "EMS_HTTP_PORT=%d", port);
    th_env_add(e, "EMS_LOG_LEVEL=warn");
}

pid_t th_ing_start(const th_env_list *e, const char *log)
{
    char bin[1024];
    const char *const argv[] = {th_bin(bin, sizeof bin, "ingester"), "--config",
                                "tools/stack/conf/ingester.yaml", NULL};

    return th_spawn(&(th_spawn_opts){.argv = argv,
                                     .env = e,
                                     .clean_ems = 1,
                                     .cwd = th_env("EMS_TEST_ROOT"),
                                     .out = log});
}

static void set_long(avro_value_t *v, const char *name, int64_t x)
{
    avro_value_t f;
    ck_assert(avro_value_get_by_name(v, name, &f, NULL) == 0);
    avro_value_set_long(&f, x);
}

static void set_string(avro_value_t *v, const char *name, const char *s)
{
    avro_value_t f;
    ck_assert(avro_value_get_by_name(v, name, &f, NULL) == 0);
    avro_value_set_string(&f, s);
}

static void set_enum(avro_value_t *v, const char *name, int x)
{
    avro_value_t f;
    ck_assert(avro_value_get_by_name(v, name, &f, NULL) == 0);
    avro_value_set_enum(&f, x);
}

void th_ing_produce(bus_t *b, bus_producer_t *p, const th_reading *r)
{
    avro_value_t v, f;
    char err[512];

    ck_assert_msg(bus_value_new(b, "energy.telemetry", &v, err, sizeof err) == 0, "%s",
                  err);
    set_string(&v, "site_id", r->site);
    set_string(&v, "meter_id", r->meter);
    set_long(&v, "ts", r->ts_ms);
    set_long(&v, "seq", r->seq);
    set_enum(&v, "source", r->source);
    set_enum(&v, "quality", 0);
    th_set_opt_double(&v, "power_kw", r->has_power, r->power_kw);
    th_set_opt_double(&v, "energy_kwh", r->has_energy, r->energy_kwh);
    th_set_opt_double(&v, "voltage_v", r->grid, 10500.0);
    th_set_opt_double(&v, "current_a", 0, 0);
    th_set_opt_double(&v, "frequency_hz", r->grid, 50.0);
    th_set_opt_double(&v, "power_factor", 0, 0);
    ck_assert(avro_value_get_by_name(&v, "quality_detail", &f, NULL) == 0);
    avro_value_set_branch(&f, 0, &f);
    avro_value_set_null(&f);
    ck_assert_msg(
        bus_produce(p, "energy.telemetry", r->site, &v, r->ts_ms, err, sizeof err) == 0,
        "%s", err);
    avro_value_decref(&v);
}

/* Rows of coarse table dst of the site that differ from the aggregate of
 * their children in src. */
static double coarse_mismatches(PGconn *c, const char *site, const char *dst,
                                const char *src)
{
    return th_pg_num(
        c,
        "SELECT count(*) FROM %s d CROSS JOIN LATERAL ("
        " SELECT sum(energy_kwh) e, sum(sample_count) n, max(peak_kw) p,"
        "  min(min_kw) mn, sum(completeness * extract(epoch FROM interval_end -"
        "  interval_start)) cs FROM %s k WHERE k.scope = d.scope AND k.site_id ="
        "  d.site_id AND k.meter_id = d.meter_id AND k.interval_start >="
        "  d.interval_start AND k.interval_start < d.interval_end) a"
        " WHERE d.site_id = '%s' AND (a.e IS NULL"
        "  OR abs(d.energy_kwh - a.e) > 1e-9 * greatest(1, abs(a.e))"
        "  OR abs(d.mean_kw * extract(epoch FROM d.interval_end - d.interval_start)"
        "   / 3600 - a.e) > 1e-9 * greatest(1, abs(a.e))"
        "  OR d.sample_count <> a.n OR d.peak_kw <> a.p"
        "  OR d.min_kw IS DISTINCT FROM a.mn"
        "  OR abs(d.completeness * extract(epoch FROM d.interval_end -"
        "   d.interval_start) - a.cs) > 1e-6)",
        dst, src, site);
}

void th_ing_expect_coarse_consistent(PGconn *c, const char *site)
{
    static const char *const pairs[][2] = {{"rollup_1h", "rollup_15m"},
                                           {"rollup_1d", "rollup_1h"},
                                           {"rollup_1mo", "rollup_1d"}};

    ck_assert_msg(
        th_pg_num(c, "SELECT count(*) FROM rollup_1mo WHERE site_id = '%s'", site) > 0,
        "site %s has no monthly rollup", site);
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        ck_assert_msg(coarse_mismatches(c, site, pairs[i][0], pairs[i][1]) == 0,
                      "%s rows of site %s differ from the sums of %s", pairs[i][0],
                      site, pairs[i][1]);
}
