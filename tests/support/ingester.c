/*
 * The ingester of the integration tests (see ingester.h).
 */
#include "ingester.h"

#include <check.h>

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
