/*
 * The ingester of the integration tests (see ingester.h).
 */
#include "ingester.h"
#include "bus/field.h"
#include "pg.h"

#include <check.h>
#include <string.h>

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

static void set_enum(avro_value_t *v, const char *name, int x)
{
    avro_value_t f;
    ck_assert(avro_value_get_by_name(v, name, &f, NULL) == 0);
    ck_assert_int_eq(avro_value_set_enum(&f, x), 0);
}

void th_ing_produce(bus_t *b, bus_producer_t *p, const th_reading *r)
{
    avro_value_t v;
    char err[512];

    ck_assert_msg(bus_value_new(b, "energy.telemetry", &v, err, sizeof err) == 0, "%s",
                  err);
    th_set_str(&v, "site_id", r->site);
    th_set_str(&v, "meter_id", r->meter);
    th_set_long(&v, "ts", r->ts_ms);
    th_set_long(&v, "seq", r->seq);
    set_enum(&v, "source", r->source);
    set_enum(&v, "quality", 0);
    th_set_opt_double(&v, "power_kw", r->has_power, r->power_kw);
    th_set_opt_double(&v, "energy_kwh", r->has_energy, r->energy_kwh);
    th_set_opt_double(&v, "voltage_v", r->grid, 10500.0);
    th_set_opt_double(&v, "current_a", 0, 0);
    th_set_opt_double(&v, "frequency_hz", r->grid, 50.0);
    th_set_opt_double(&v, "power_factor", 0, 0);
    th_set_null(&v, "quality_detail");
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

/* The string of a field, or of an optional field ("" when null), into dst. */
static void get_str(avro_value_t *v, const char *name, char *dst, size_t size)
{
    avro_value_t f, b;
    const char *s = NULL;
    size_t n = 0;

    dst[0] = 0;
    th_field(v, name, &f);
    if (avro_value_get_type(&f) == AVRO_UNION) {
        int disc = 0;
        ck_assert_int_eq(avro_value_get_discriminant(&f, &disc), 0);
        if (disc == 0)
            return;
        ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
        f = b;
    }
    ck_assert_int_eq(avro_value_get_string(&f, &s, &n), 0);
    snprintf(dst, size, "%s", s ? s : "");
}

static int64_t get_long(avro_value_t *v, const char *name)
{
    int64_t x = 0;
    ck_assert_msg(bus_field_get_long(v, name, &x) == 0, "no long field '%s'", name);
    return x;
}

static int32_t get_int(avro_value_t *v, const char *name)
{
    int x = 0;
    ck_assert_msg(bus_field_get_int(v, name, &x) == 0, "no int field '%s'", name);
    return x;
}

static int get_bool(avro_value_t *v, const char *name)
{
    avro_value_t f;
    int x = 0;
    th_field(v, name, &f);
    ck_assert_int_eq(avro_value_get_boolean(&f, &x), 0);
    return x;
}

static void read_out(const bus_record_t *rec, th_ing_out *o)
{
    avro_value_t v = rec->value, f;

    memset(o, 0, sizeof *o);
    o->is_gap = strcmp(rec->topic, "energy.gaps") == 0;
    get_str(&v, "meter_id", o->meter, sizeof o->meter);
    o->revision = get_int(&v, "revision");
    if (o->is_gap) {
        get_str(&v, "gap_id", o->gap_id, sizeof o->gap_id);
        o->start = get_long(&v, "gap_start");
        o->missing = get_int(&v, "missing_intervals");
        o->ongoing = get_bool(&v, "ongoing");
        o->recovered = get_bool(&v, "recovered");
    } else {
        o->start = get_long(&v, "interval_start");
        o->sample_count = get_int(&v, "sample_count");
        th_field(&v, "energy_kwh", &f);
        ck_assert_int_eq(avro_value_get_double(&f, &o->energy), 0);
    }
}

void th_ing_read_until(bus_consumer_t *c, th_ing_outs *o,
                       int (*done)(const th_ing_outs *o), const char *what)
{
    for (int i = 0; i < 600 && !done(o); i++) {
        bus_record_t *recs;
        char err[512];
        int n = bus_consumer_poll(c, &recs, 1000, 100, err, sizeof err);
        ck_assert_msg(n >= 0, "%s", err);
        for (int k = 0; k < n; k++) {
            ck_assert_int_lt(o->n, TH_ING_MAX_OUTS);
            read_out(&recs[k], &o->v[o->n++]);
        }
        ck_assert(bus_consumer_ack(c, err, sizeof err) == 0);
    }
    ck_assert_msg(done(o), "%s never arrived (%d records seen)", what, o->n);
}

const th_ing_out *th_ing_interval(const th_ing_outs *o, const char *meter,
                                  int64_t start, int32_t rev)
{
    for (int i = 0; i < o->n; i++) {
        const th_ing_out *r = &o->v[i];
        if (!r->is_gap && r->start == start && r->revision == rev &&
            strcmp(r->meter, meter) == 0)
            return r;
    }
    return NULL;
}

const th_ing_out *th_ing_latest(const th_ing_outs *o, const char *meter, int64_t start)
{
    const th_ing_out *latest = NULL;
    for (int i = 0; i < o->n; i++) {
        const th_ing_out *r = &o->v[i];
        if (!r->is_gap && r->start == start && strcmp(r->meter, meter) == 0 &&
            (!latest || r->revision > latest->revision))
            latest = r;
    }
    return latest;
}

const th_ing_out *th_ing_last_gap(const th_ing_outs *o, const char *gap_id)
{
    const th_ing_out *last = NULL;
    for (int i = 0; i < o->n; i++) {
        const th_ing_out *r = &o->v[i];
        if (r->is_gap && strcmp(r->gap_id, gap_id) == 0 &&
            (!last || r->revision > last->revision))
            last = r;
    }
    return last;
}
