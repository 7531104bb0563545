/* The Grafana dashboards of helm/ems/dashboards against what they read.
 *
 * - Structure: unique uids, every panel on a data source variable of its
 *   dashboard, every target with its query.
 * - PostgreSQL panels: the ingester's migrations are applied to a schema of
 *   the test's own, a few rows of one site are stored in the tables the
 *   dashboards read (synthetic rows: the shape matters here, not the
 *   values), and every query, with Grafana's macros expanded as the data
 *   source does, runs as the read-only role Grafana uses and returns rows;
 *   a time-series query returns a "time" column first and numbers (or a
 *   metric name and a value) after it.
 * - Prometheus panels: every ems_* metric an expression names is one the
 *   services register (histograms with their _bucket/_sum/_count series).
 */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "ingester/ing_migrate.h"
#include "support/harness.h"
#include "support/pg.h"

#define MAX_DASH 16
#define SITE "dash-site"
/* the dashboards' time range in the test */
#define FROM "2020-11-09T00:00:00Z"
#define TO "2020-11-11T00:00:00Z"

/* PostgreSQL type oids (pg_type.dat) */
#define OID_INT4 23
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701
#define OID_NUMERIC 1700
#define OID_TIMESTAMPTZ 1184

static json_t *dash[MAX_DASH];
static char dash_name[MAX_DASH][256];
static int ndash;

static void load_dashboards(void)
{
    char dir[512], path[1024];
    struct dirent *e;
    json_error_t jerr;

    snprintf(dir, sizeof dir, "%s/helm/ems/dashboards", th_env("EMS_TEST_ROOT"));
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    ndash = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
            continue;
        ck_assert_int_lt(ndash, MAX_DASH);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        dash[ndash] = json_load_file(path, 0, &jerr);
        ck_assert_msg(dash[ndash] != NULL, "%s:%d: %s", e->d_name, jerr.line,
                      jerr.text);
        snprintf(dash_name[ndash], sizeof dash_name[ndash], "%s", e->d_name);
        ndash++;
    }
    closedir(d);
    ck_assert_int_ge(ndash, 2);
}

static void free_dashboards(void)
{
    for (int i = 0; i < ndash; i++)
        json_decref(dash[i]);
    ndash = 0;
}

static const char *str_at(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The data source type of the variable a "${var}" uid names, or NULL. */
static const char *ds_var_type(json_t *d, const char *uid)
{
    json_t *vars = json_object_get(json_object_get(d, "templating"), "list"), *v;
    size_t i;
    char want[80];

    json_array_foreach(vars, i, v)
    {
        snprintf(want, sizeof want, "${%s}", str_at(v, "name"));
        if (!strcmp(str_at(v, "type"), "datasource") && !strcmp(uid, want))
            return str_at(v, "query");
    }
    return NULL;
}

/* Calls fn for every target of every panel (and the query variables). */
typedef void (*target_fn)(const char *dash, const char *panel, const char *type,
                          json_t *target, void *ctx);

static void each_target(target_fn fn, void *ctx)
{
    for (int k = 0; k < ndash; k++) {
        json_t *panels = json_object_get(dash[k], "panels"), *p, *t;
        size_t i, j;
        json_array_foreach(panels, i, p)
        {
            json_t *targets = json_object_get(p, "targets");
            json_array_foreach(targets, j, t)
            {
                const char *uid = str_at(json_object_get(t, "datasource"), "uid");
                const char *type = ds_var_type(dash[k], uid);
                ck_assert_msg(type != NULL,
                              "%s: panel '%s': data source '%s' is no variable",
                              dash_name[k], str_at(p, "title"), uid);
                fn(dash_name[k], str_at(p, "title"), type, t, ctx);
            }
        }
    }
}

/* ---- structure ---- */

START_TEST(test_structure)
{
    const char *uids[MAX_DASH];

    load_dashboards();
    for (int k = 0; k < ndash; k++) {
        json_t *d = dash[k], *panels = json_object_get(d, "panels"), *p;
        size_t i;
        uids[k] = str_at(d, "uid");
        ck_assert_msg(uids[k][0] && str_at(d, "title")[0], "%s: no uid or title",
                      dash_name[k]);
        for (int m = 0; m < k; m++)
            ck_assert_msg(strcmp(uids[m], uids[k]), "uid '%s' twice", uids[k]);
        ck_assert_msg(json_array_size(panels) > 0, "%s: no panels", dash_name[k]);
        json_array_foreach(panels, i, p)
        {
            const char *title = str_at(p, "title");
            json_t *targets = json_object_get(p, "targets"), *t;
            size_t j;
            ck_assert_msg(title[0] && str_at(p, "description")[0],
                          "%s: panel %zu without title or description", dash_name[k],
                          i);
            ck_assert_msg(json_is_object(json_object_get(p, "gridPos")), "%s: '%s'",
                          dash_name[k], title);
            ck_assert_msg(
                ds_var_type(d, str_at(json_object_get(p, "datasource"), "uid")),
                "%s: '%s' on no data source variable", dash_name[k], title);
            ck_assert_msg(json_array_size(targets) > 0, "%s: '%s' has no query",
                          dash_name[k], title);
            json_array_foreach(targets, j, t)
            {
                ck_assert_msg(str_at(t, "refId")[0], "%s: '%s'", dash_name[k], title);
                ck_assert_msg(str_at(t, "rawSql")[0] || str_at(t, "expr")[0],
                              "%s: '%s' target %s without a query", dash_name[k], title,
                              str_at(t, "refId"));
            }
        }
    }
    free_dashboards();
}
END_TEST

/* ---- Prometheus: metric names ---- */

/* Every C source of libs/ and services/, concatenated. */
static char *all_sources(void)
{
    const char *dirs[] = {"libs", "services"};
    size_t len = 0;
    char *all = calloc(1, 1);

    for (size_t i = 0; i < 2; i++) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "find '%s/%s' -name '*.c'", th_env("EMS_TEST_ROOT"),
                 dirs[i]);
        FILE *f = popen(cmd, "r");
        char path[1024];
        ck_assert(f != NULL);
        while (fgets(path, sizeof path, f)) {
            path[strcspn(path, "\n")] = 0;
            char *text = th_read_file(path);
            ck_assert_msg(text != NULL, "%s", path);
            size_t n = strlen(text);
            char *grown = realloc(all, len + n + 1);
            ck_assert_ptr_nonnull(grown);
            all = grown;
            memcpy(all + len, text, n + 1);
            len += n;
            free(text);
        }
        pclose(f);
    }
    return all;
}

/* Is "name" (as a C string literal) in the sources, or, for a histogram's
 * series, its base name? */
static int registered(const char *src, const char *name)
{
    static const char *const series[] = {"_bucket", "_sum", "_count"};
    char quoted[160];
    size_t n = strlen(name);

    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    if (strstr(src, quoted))
        return 1;
    for (size_t i = 0; i < 3; i++) {
        size_t s = strlen(series[i]);
        if (n > s && !strcmp(name + n - s, series[i])) {
            snprintf(quoted, sizeof quoted, "\"%.*s\"", (int)(n - s), name);
            if (strstr(src, quoted))
                return 1;
        }
    }
    return 0;
}

typedef struct prom_ctx {
    const char *src;
    int names;
} prom_ctx_t;

static void check_prom(const char *d, const char *panel, const char *type, json_t *t,
                       void *arg)
{
    prom_ctx_t *c = arg;
    const char *expr = str_at(t, "expr"), *p = expr;

    if (strcmp(type, "prometheus"))
        return;
    ck_assert_msg(expr[0], "%s: '%s': no expr", d, panel);
    while ((p = strstr(p, "ems_"))) {
        char name[128];
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        ck_assert_msg(registered(c->src, name), "%s: '%s': no service registers %s", d,
                      panel, name);
        c->names++;
        p += n;
    }
}

START_TEST(test_prometheus_metrics_exist)
{
    prom_ctx_t c = {.src = all_sources()};

    load_dashboards();
    each_target(check_prom, &c);
    ck_assert_int_ge(c.names, 10);
    /* the check itself: a name no service registers is found */
    ck_assert(!registered(c.src, "ems_no_such_metric_total"));
    ck_assert(registered(c.src, "ems_optimizer_solve_seconds_bucket"));
    free((void *)c.src);
    free_dashboards();
}
END_TEST

/* ---- PostgreSQL: the queries against the migrated schema ---- */

static char schema[64];
static PGconn *rw, *ro;

static void migrate_schema(void)
{
    char conninfo[1024], dir[512], err[512];
    int applied = 0;

    th_unique(schema, sizeof schema, "dash", "");
    for (char *c = schema; *c; c++)
        if (*c == '-')
            *c = '_';
    rw = th_pg_connect(NULL);
    th_pg_exec_ok(rw, "CREATE SCHEMA %s", schema);
    snprintf(conninfo, sizeof conninfo, "%s options='-c search_path=%s'",
             th_env("EMS_TEST_PG"), schema);
    snprintf(dir, sizeof dir, "%s/services/ingester/migrations",
             th_env("EMS_TEST_ROOT"));
    db_conf_t conf = {.conninfo = conninfo, .attempts = 3};
    db_t *db = db_connect(&conf, err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert_msg(ing_migrate(db, dir, &applied, err, sizeof err) == 0, "%s", err);
    ck_assert_int_ge(applied, 5);
    db_close(db);
    th_pg_exec_ok(rw, "SET search_path = %s", schema);
    th_pg_exec_ok(rw, "GRANT USAGE ON SCHEMA %s TO ems_ro", schema);
    th_pg_exec_ok(rw, "GRANT SELECT ON ALL TABLES IN SCHEMA %s TO ems_ro", schema);
    snprintf(conninfo, sizeof conninfo, "%s options='-c search_path=%s'",
             th_env("EMS_TEST_PG_RO"), schema);
    ro = th_pg_connect(conninfo);
}

/* A day of one site in every table the dashboards read. */
static void store_rows(void)
{
    th_pg_exec_ok(
        rw, "INSERT INTO rollup_15m (scope, site_id, meter_id, interval_start, "
            "interval_end, energy_kwh, mean_kw, peak_kw, sample_count, completeness) "
            "SELECT 'site', '" SITE
            "', '', t, t + interval '15 min', 250, 1000, 1100, 15, 1 "
            "FROM generate_series(timestamptz '2020-11-10', '2020-11-10 23:45', '15 "
            "min') t");
    th_pg_exec_ok(
        rw, "INSERT INTO rollup_1h (scope, site_id, meter_id, interval_start, "
            "interval_end, energy_kwh, mean_kw, peak_kw, sample_count, completeness) "
            "SELECT 'meter', '" SITE "', 'm1', t, t + interval '1 hour', 1000, 1000, "
            "1100, 60, 0.95 FROM generate_series(timestamptz '2020-11-10', "
            "'2020-11-10 23:00', '1 hour') t");
    th_pg_exec_ok(rw,
                  "INSERT INTO rollup_1d (scope, site_id, meter_id, interval_start, "
                  "interval_end, energy_kwh, mean_kw, peak_kw, sample_count, "
                  "completeness) VALUES ('site', '" SITE "', '', '2020-11-10', "
                  "'2020-11-11', 24000, 1000, 1100, 1440, 1)");
    th_pg_exec_ok(rw,
                  "INSERT INTO forecasts (site_id, run_id, issued_at, slot_start, "
                  "slot_end, p10_kw, p50_kw, p90_kw, model) "
                  "SELECT '" SITE "', r, i, t, t + interval '15 min', 900, 1000, 1100, "
                  "'xgboost' FROM generate_series(timestamptz '2020-11-10', "
                  "'2020-11-10 23:45', '15 min') t, (VALUES ('run-1', timestamptz "
                  "'2020-11-09 11:00'), ('run-2', '2020-11-09 12:00')) AS v(r, i)");
    th_pg_exec_ok(
        rw, "INSERT INTO schedule_runs (site_id, plan_id, created_at, solver_status, "
            "cost_eur, baseline_cost_eur, savings_eur, binding_constraints, trigger, "
            "mip_gap, solve_time_ms, demand_charge_eur, peak_kw, relaxed_constraints) "
            "VALUES ('" SITE "', 'plan-1', '2020-11-09 11:00', 'optimal', 900, 1000, "
            "100, ARRAY['capacity 1500 kW in slot 3'], 'forecast', 0, 812, 200, 1400, "
            "'[]')");
    th_pg_exec_ok(rw,
                  "INSERT INTO schedule_site_slots (site_id, plan_id, slot_start, "
                  "slot_end, base_load_kw, flexible_kw, import_kw, price_eur_mwh, "
                  "created_at) SELECT '" SITE "', 'plan-1', t, t + interval '15 min', "
                  "1000, 200, 1200, 40, '2020-11-09 11:00' FROM generate_series("
                  "timestamptz '2020-11-10', '2020-11-10 23:45', '15 min') t");
    th_pg_exec_ok(rw,
                  "INSERT INTO schedules (site_id, plan_id, equipment_id, slot_start, "
                  "slot_end, power_kw, created_at) SELECT '" SITE "', 'plan-1', e, t, "
                  "t + interval '15 min', 100, '2020-11-09 11:00' FROM generate_series("
                  "timestamptz '2020-11-10', '2020-11-10 23:45', '15 min') t, "
                  "(VALUES ('pump-1'), ('battery-1')) AS v(e)");
    th_pg_exec_ok(rw,
                  "INSERT INTO prices (market, site_id, slot_start, slot_end, "
                  "price_eur_mwh, source, kind, published_at, curve_id, curve_kind) "
                  "SELECT 'EPEX-NL-DA', '" SITE "', t, t + interval '15 min', 40, "
                  "'test', 'published', '2020-11-09 12:00', 'effective/" SITE
                  "/2020-11-10', 'effective' FROM generate_series(timestamptz "
                  "'2020-11-10', '2020-11-10 23:45', '15 min') t");
    th_pg_exec_ok(rw,
                  "INSERT INTO gaps (gap_id, site_id, meter_id, gap_start, gap_end, "
                  "duration_s, missing_intervals, gap_class, ongoing, recovered, "
                  "revision, detected_at) VALUES ('m1@2020-11-10T03:00:00Z', '" SITE
                  "', 'm1', '2020-11-10 03:00', '2020-11-10 03:15', 900, 1, 'minor', "
                  "false, true, 1, '2020-11-10 03:20')");
}

static void drop_schema(void)
{
    if (ro)
        PQfinish(ro);
    th_pg_exec_ok(rw, "SET client_min_messages = warning");
    th_pg_exec_ok(rw, "DROP SCHEMA %s CASCADE", schema);
    PQfinish(rw);
    ro = rw = NULL;
}

/* Appends s[0..n) to out (size cap). */
static void put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    ck_assert_msg(*len + n < cap, "expanded query too long");
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = 0;
}

/* Grafana's PostgreSQL macros and the dashboards' variables, expanded the
 * way the data source does; an unknown one fails the test. */
static void expand(const char *sql, char *out, size_t cap)
{
    size_t len = 0;
    const char *p = sql;

    out[0] = 0;
    while (*p) {
        if (*p != '$') {
            put(out, cap, &len, p++, 1);
            continue;
        }
        if (!strncmp(p, "$__timeFilter(", 14)) {
            const char *col = p + 14, *end = strchr(col, ')');
            ck_assert_msg(end != NULL, "unclosed $__timeFilter in %s", sql);
            char buf[256];
            int n = snprintf(buf, sizeof buf, "%.*s BETWEEN '" FROM "' AND '" TO "'",
                             (int)(end - col), col);
            put(out, cap, &len, buf, (size_t)n);
            p = end + 1;
        } else if (!strncmp(p, "${site}", 7) || !strncmp(p, "$site", 5)) {
            put(out, cap, &len, SITE, strlen(SITE));
            p += p[1] == '{' ? 7 : 5;
        } else {
            ck_abort_msg("unknown macro or variable at '%.30s' in %s", p, sql);
        }
    }
}

typedef struct sql_ctx {
    int queries;
} sql_ctx_t;

static int is_number(Oid t)
{
    return t == OID_FLOAT8 || t == OID_INT4 || t == OID_INT8 || t == OID_NUMERIC;
}

static void check_sql(const char *d, const char *panel, const char *type, json_t *t,
                      void *arg)
{
    sql_ctx_t *c = arg;
    char sql[8192];
    const char *fmt = str_at(t, "format");

    if (strcmp(type, "grafana-postgresql-datasource"))
        return;
    expand(str_at(t, "rawSql"), sql, sizeof sql);
    PGresult *r = PQexec(ro, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: '%s': %s\n%s", d, panel,
                  PQresultErrorMessage(r), sql);
    ck_assert_msg(PQntuples(r) > 0, "%s: '%s' returns no row\n%s", d, panel, sql);
    if (!strcmp(fmt, "time_series")) {
        int nf = PQnfields(r), metric = -1;
        ck_assert_msg(
            !strcmp(PQfname(r, 0), "time") && PQftype(r, 0) == OID_TIMESTAMPTZ,
            "%s: '%s': the first column is not a timestamptz 'time'", d, panel);
        for (int f = 1; f < nf; f++) {
            if (!strcmp(PQfname(r, f), "metric") && PQftype(r, f) == OID_TEXT)
                metric = f;
            else
                ck_assert_msg(is_number(PQftype(r, f)),
                              "%s: '%s': column '%s' is no number", d, panel,
                              PQfname(r, f));
        }
        ck_assert_msg(metric < 0 || nf == 3, "%s: '%s': metric needs one value column",
                      d, panel);
    } else {
        ck_assert_msg(!strcmp(fmt, "table"), "%s: '%s': format '%s'", d, panel, fmt);
    }
    PQclear(r);
    c->queries++;
}

/* The query variables (the site picker) return the site. */
static void check_variables(void)
{
    char sql[2048];

    for (int k = 0; k < ndash; k++) {
        json_t *vars = json_object_get(json_object_get(dash[k], "templating"), "list"),
               *v;
        size_t i;
        json_array_foreach(vars, i, v)
        {
            if (strcmp(str_at(v, "type"), "query"))
                continue;
            expand(str_at(v, "query"), sql, sizeof sql);
            PGresult *r = PQexec(ro, sql);
            ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: variable %s: %s",
                          dash_name[k], str_at(v, "name"), PQresultErrorMessage(r));
            ck_assert_int_eq(PQntuples(r), 1);
            ck_assert_str_eq(PQgetvalue(r, 0, 0), SITE);
            PQclear(r);
        }
    }
}

START_TEST(test_postgres_queries_run_read_only)
{
    sql_ctx_t c = {0};

    load_dashboards();
    migrate_schema();
    store_rows();
    each_target(check_sql, &c);
    ck_assert_int_ge(c.queries, 8);
    check_variables();
    /* the check itself: a column the schema lacks fails, and the role
     * Grafana uses cannot write */
    PGresult *r = PQexec(ro, "SELECT no_such_column FROM schedule_runs");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    r = PQexec(ro, "DELETE FROM schedule_runs");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    drop_schema();
    free_dashboards();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dashboards");
    TCase *tc = tcase_create("dashboards");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_structure);
    tcase_add_test(tc, test_prometheus_metrics_exist);
    tcase_add_test(tc, test_postgres_queries_run_read_only);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
