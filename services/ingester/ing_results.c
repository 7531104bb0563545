/*
 * ing_results: result topics into PostgreSQL, one JSON parameter per record
 * (see ing_results.h).
 */
#include "ingester/ing_results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ing_results_topics[ING_RESULTS_NTOPICS] = {
    "energy.forecast",        "energy.prices", "energy.purchases", "energy.schedule",
    "energy.recommendations", "energy.alerts", "energy.reports"};

/* ---- Avro to JSON ---- */

static json_t *json_double(double x)
{
    if (isnan(x))
        return json_string("NaN");
    if (isinf(x))
        return json_string(x > 0 ? "Infinity" : "-Infinity");
    return json_real(x);
}

static json_t *json_hex(const void *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = buf;
    char *s = malloc(2 * len + 1);
    json_t *j;

    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = hex[b[i] >> 4];
        s[2 * i + 1] = hex[b[i] & 15];
    }
    s[2 * len] = 0;
    j = json_string(s);
    free(s);
    return j;
}

/* Records and maps: an object of their named children. */
static json_t *json_object_of(avro_value_t *v)
{
    json_t *o = json_object();
    size_t n = 0;

    avro_value_get_size(v, &n);
    for (size_t i = 0; o && i < n; i++) {
        avro_value_t child;
        const char *name = NULL;
        json_t *c;
        if (avro_value_get_by_index(v, i, &child, &name) || !name ||
            !(c = ing_json_from_avro(&child)) || json_object_set_new(o, name, c)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *json_array_of(avro_value_t *v)
{
    json_t *a = json_array();
    size_t n = 0;

    avro_value_get_size(v, &n);
    for (size_t i = 0; a && i < n; i++) {
        avro_value_t child;
        json_t *c;
        if (avro_value_get_by_index(v, i, &child, NULL) ||
            !(c = ing_json_from_avro(&child)) || json_array_append_new(a, c)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *json_scalar_of(avro_value_t *v)
{
    int32_t i32 = 0;
    int64_t i64 = 0;
    float f = 0;
    double d = 0;
    int b = 0;
    const char *s = NULL;
    const void *buf = NULL;
    size_t len = 0;

    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        avro_value_get_string(v, &s, &len);
        return json_stringn(s ? s : "", len ? len - 1 : 0);
    case AVRO_INT32:
        avro_value_get_int(v, &i32);
        return json_integer(i32);
    case AVRO_INT64:
        avro_value_get_long(v, &i64);
        return json_integer(i64);
    case AVRO_FLOAT:
        avro_value_get_float(v, &f);
        return json_double(f);
    case AVRO_DOUBLE:
        avro_value_get_double(v, &d);
        return json_double(d);
    case AVRO_BOOLEAN:
        avro_value_get_boolean(v, &b);
        return json_boolean(b);
    case AVRO_NULL:
        return json_null();
    case AVRO_BYTES:
        avro_value_get_bytes(v, &buf, &len);
        return json_hex(buf, len);
    case AVRO_FIXED:
        avro_value_get_fixed(v, &buf, &len);
        return json_hex(buf, len);
    default:
        return NULL;
    }
}

json_t *ing_json_from_avro(avro_value_t *v)
{
    avro_value_t branch;
    int idx = 0;
    const char *sym;

    switch (avro_value_get_type(v)) {
    case AVRO_RECORD:
    case AVRO_MAP:
        return json_object_of(v);
    case AVRO_ARRAY:
        return json_array_of(v);
    case AVRO_UNION:
        if (avro_value_get_current_branch(v, &branch))
            return NULL;
        return ing_json_from_avro(&branch);
    case AVRO_ENUM:
        avro_value_get_enum(v, &idx);
        sym = avro_schema_enum_get(avro_value_get_schema(v), idx);
        return sym ? json_string(sym) : NULL;
    default:
        return json_scalar_of(v);
    }
}

/* ---- statements ---- */

/* Every statement takes the record as $1 (jsonb); "j" is that document. */
#define J_FROM " FROM (SELECT $1::jsonb AS j) r"
#define TS(f) " ems_ms((j->>'" f "')::bigint)"
#define DBL(f) " (j->>'" f "')::float8"
#define SLOT_END " ems_ms(s.slot_start + 60000 * (j->>'slot_minutes')::bigint)"

/* clang-format off */
static const char *const sql_forecast[] = {
    "INSERT INTO forecasts (site_id, run_id, run_kind, issued_at, horizon_start,"
    " horizon_end, slot_start, slot_end, p10_kw, p50_kw, p90_kw, model,"
    " model_version, fallback, quality, quality_reason)"
    " SELECT j->>'site_id', j->>'run_id', j->>'run_kind',"
    TS("issued_at") "," TS("horizon_start") "," TS("horizon_end") ","
    " ems_ms(s.slot_start)," SLOT_END ", s.p10_kw, s.p50_kw, s.p90_kw,"
    " j->>'model_name', j->>'model_version', (j->>'fallback')::boolean,"
    " j->>'quality', j->>'quality_reason'"
    J_FROM ", jsonb_to_recordset(r.j->'slots') AS s(slot_start bigint,"
    " p10_kw float8, p50_kw float8, p90_kw float8)"
    " ON CONFLICT (site_id, run_id, slot_start) DO NOTHING",
    NULL};

/* A newer revision of a curve drops the older one's rows first; the insert
 * then happens only when no row of this or a newer revision is stored. */
static const char *const sql_prices[] = {
    "DELETE FROM prices WHERE curve_id = $1::jsonb->>'curve_id'"
    " AND revision < ($1::jsonb->>'revision')::int",
    "INSERT INTO prices (curve_id, curve_kind, revision, market, site_id,"
    " slot_start, slot_end, price_eur_mwh, source, kind, tariff_period,"
    " price_class, published_at, energy_eur_mwh, network_eur_mwh,"
    " taxes_eur_mwh, co2_g_kwh)"
    " SELECT j->>'curve_id', j->>'curve_kind', (j->>'revision')::int,"
    " j->>'market', coalesce(j->>'site_id', ''), ems_ms(s.slot_start)," SLOT_END ","
    " s.price_eur_mwh, j->>'source', s.origin, s.tariff_period, s.price_class,"
    TS("issued_at") ", s.energy_eur_mwh, s.network_eur_mwh, s.taxes_eur_mwh,"
    " s.co2_g_kwh"
    J_FROM ", jsonb_to_recordset(r.j->'slots') AS s(slot_start bigint,"
    " price_eur_mwh float8, origin text, tariff_period text, price_class text,"
    " energy_eur_mwh float8, network_eur_mwh float8, taxes_eur_mwh float8,"
    " co2_g_kwh float8)"
    " WHERE NOT EXISTS (SELECT 1 FROM prices p WHERE p.curve_id = j->>'curve_id'"
    " AND p.revision >= (j->>'revision')::int)"
    " ON CONFLICT (curve_id, slot_start) DO NOTHING",
    NULL};

static const char *const sql_purchases[] = {
    "INSERT INTO purchases AS t (contract_id, revision, supplier, period_start,"
    " period_end, volume_mwh, price_kind, price_eur_mwh, payload, changed_at,"
    " status, supplier_id, site_id, volume_kwh, capacity_kw, index_name,"
    " index_markup_eur_mwh, currency)"
    " SELECT j->>'contract_id', (j->>'revision')::int, j->>'supplier_name',"
    TS("period_start") "," TS("period_end") "," DBL("volume_kwh") " / 1000,"
    " j->>'pricing'," DBL("fixed_price_eur_mwh") ", j," TS("changed_at") ","
    " j->>'status', j->>'supplier_id', j->>'site_id'," DBL("volume_kwh") ","
    DBL("capacity_kw") ", j->>'index_name'," DBL("index_markup_eur_mwh") ","
    " j->>'currency'"
    J_FROM
    " ON CONFLICT (contract_id) DO UPDATE SET revision = EXCLUDED.revision,"
    " supplier = EXCLUDED.supplier, period_start = EXCLUDED.period_start,"
    " period_end = EXCLUDED.period_end, volume_mwh = EXCLUDED.volume_mwh,"
    " price_kind = EXCLUDED.price_kind, price_eur_mwh = EXCLUDED.price_eur_mwh,"
    " payload = EXCLUDED.payload, changed_at = EXCLUDED.changed_at,"
    " status = EXCLUDED.status, supplier_id = EXCLUDED.supplier_id,"
    " site_id = EXCLUDED.site_id, volume_kwh = EXCLUDED.volume_kwh,"
    " capacity_kw = EXCLUDED.capacity_kw, index_name = EXCLUDED.index_name,"
    " index_markup_eur_mwh = EXCLUDED.index_markup_eur_mwh,"
    " currency = EXCLUDED.currency, updated_at = now()"
    " WHERE t.revision < EXCLUDED.revision",
    NULL};

/* plan_id is deterministic: a plan is stored once, whole. */
static const char *const sql_schedule[] = {
    "INSERT INTO schedule_runs (site_id, plan_id, created_at, solver_status,"
    " cost_eur, baseline_cost_eur, savings_eur, binding_constraints, trigger,"
    " forecast_run_id, price_curve_id, horizon_start, horizon_end, slot_minutes,"
    " heuristic, mip_gap, solve_time_ms, energy_cost_eur, demand_charge_eur,"
    " startup_cost_eur, co2_cost_eur, peak_kw, equipment, relaxed_constraints)"
    " SELECT j->>'site_id', j->>'plan_id'," TS("created_at") ", j->>'solver_status',"
    DBL("total_cost_eur") "," DBL("baseline_cost_eur") "," DBL("savings_eur") ","
    " ARRAY(SELECT jsonb_array_elements_text(j->'binding_constraints')),"
    " j->>'trigger', j->>'forecast_run_id', j->>'price_curve_id',"
    TS("horizon_start") "," TS("horizon_end") ", (j->>'slot_minutes')::int,"
    " (j->>'heuristic')::boolean," DBL("mip_gap") ", (j->>'solve_time_ms')::bigint,"
    DBL("energy_cost_eur") "," DBL("demand_charge_eur") "," DBL("startup_cost_eur") ","
    DBL("co2_cost_eur") "," DBL("peak_kw") ","
    " (SELECT jsonb_agg(e - 'slots') FROM jsonb_array_elements(j->'equipment') e),"
    " j->'relaxed_constraints'"
    J_FROM
    " ON CONFLICT (site_id, plan_id) DO NOTHING",
    "INSERT INTO schedules (site_id, plan_id, equipment_id, slot_start, slot_end,"
    " power_kw, state, soc_kwh, created_at)"
    " SELECT j->>'site_id', j->>'plan_id', e->>'equipment_id',"
    " ems_ms(s.slot_start)," SLOT_END ", s.power_kw, s.state, s.soc_kwh,"
    TS("created_at")
    J_FROM ", jsonb_array_elements(r.j->'equipment') AS e,"
    " jsonb_to_recordset(e->'slots') AS s(slot_start bigint, power_kw float8,"
    " state text, soc_kwh float8)"
    " ON CONFLICT (site_id, plan_id, equipment_id, slot_start) DO NOTHING",
    "INSERT INTO schedule_site_slots (site_id, plan_id, slot_start, slot_end,"
    " base_load_kw, flexible_kw, import_kw, price_eur_mwh, created_at)"
    " SELECT j->>'site_id', j->>'plan_id', ems_ms(s.slot_start)," SLOT_END ","
    " s.base_load_kw, s.flexible_kw, s.import_kw, s.price_eur_mwh,"
    TS("created_at")
    J_FROM ", jsonb_to_recordset(r.j->'site_slots') AS s(slot_start bigint,"
    " base_load_kw float8, flexible_kw float8, import_kw float8,"
    " price_eur_mwh float8)"
    " ON CONFLICT (site_id, plan_id, slot_start) DO NOTHING",
    NULL};

static const char *const sql_recommendations[] = {
    "INSERT INTO recommendations AS t (recommendation_id, site_id, equipment_id,"
    " action, expected_saving_eur, valid_from, valid_to, state, revision, plan_id,"
    " setpoint_kw, title, detail, created_at, expected_shift_kwh,"
    " requires_approval, decided_by, decided_at, decision_reason)"
    " SELECT j->>'recommendation_id', j->>'site_id', j->>'equipment_id',"
    " j->>'action'," DBL("expected_saving_eur") "," TS("valid_from") ","
    TS("valid_until") ", j->>'state', (j->>'revision')::int, j->>'plan_id',"
    DBL("setpoint_kw") ", j->>'title', j->>'detail'," TS("created_at") ","
    DBL("expected_shift_kwh") ", (j->>'requires_approval')::boolean,"
    " j->>'decided_by'," TS("decided_at") ", j->>'decision_reason'"
    J_FROM
    " ON CONFLICT (recommendation_id) DO UPDATE SET site_id = EXCLUDED.site_id,"
    " equipment_id = EXCLUDED.equipment_id, action = EXCLUDED.action,"
    " expected_saving_eur = EXCLUDED.expected_saving_eur,"
    " valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,"
    " state = EXCLUDED.state, revision = EXCLUDED.revision,"
    " plan_id = EXCLUDED.plan_id, setpoint_kw = EXCLUDED.setpoint_kw,"
    " title = EXCLUDED.title, detail = EXCLUDED.detail,"
    " created_at = EXCLUDED.created_at,"
    " expected_shift_kwh = EXCLUDED.expected_shift_kwh,"
    " requires_approval = EXCLUDED.requires_approval,"
    " decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at,"
    " decision_reason = EXCLUDED.decision_reason, updated_at = now()"
    " WHERE t.revision < EXCLUDED.revision",
    NULL};

/* No revision on the wire: the later state change wins, and at the same
 * instant resolved beats firing. */
static const char *const sql_alerts[] = {
    "INSERT INTO alerts AS t (alert_id, site_id, rule, severity, state,"
    " started_at, resolved_at, message, changed_at, value, threshold, unit,"
    " labels)"
    " SELECT j->>'alert_id', j->>'site_id', j->>'rule', j->>'severity',"
    " j->>'state'," TS("started_at") "," TS("resolved_at") ", j->>'summary',"
    TS("ts") "," DBL("value") "," DBL("threshold") ", j->>'unit', j->'labels'"
    J_FROM
    " ON CONFLICT (alert_id) DO UPDATE SET site_id = EXCLUDED.site_id,"
    " rule = EXCLUDED.rule, severity = EXCLUDED.severity, state = EXCLUDED.state,"
    " started_at = EXCLUDED.started_at, resolved_at = EXCLUDED.resolved_at,"
    " message = EXCLUDED.message, changed_at = EXCLUDED.changed_at,"
    " value = EXCLUDED.value, threshold = EXCLUDED.threshold,"
    " unit = EXCLUDED.unit, labels = EXCLUDED.labels,"
    " revision = t.revision + 1, updated_at = now()"
    " WHERE (t.changed_at, t.state = 'resolved') <"
    " (EXCLUDED.changed_at, EXCLUDED.state = 'resolved')",
    NULL};

/* report_id is deterministic: a re-run (later generated_at) replaces it. */
static const char *const sql_reports[] = {
    "INSERT INTO reports AS t (report_id, site_id, kind, format, period_start,"
    " period_end, location, sha256, size_bytes, headline, created_at)"
    " SELECT j->>'report_id', j->>'site_id', j->>'kind', j->>'format',"
    TS("period_start") "," TS("period_end") ", j->>'uri', j->>'sha256',"
    " (j->>'size_bytes')::bigint, j->'headline'," TS("generated_at")
    J_FROM
    " ON CONFLICT (report_id) DO UPDATE SET site_id = EXCLUDED.site_id,"
    " kind = EXCLUDED.kind, format = EXCLUDED.format,"
    " period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,"
    " location = EXCLUDED.location, sha256 = EXCLUDED.sha256,"
    " size_bytes = EXCLUDED.size_bytes, headline = EXCLUDED.headline,"
    " created_at = EXCLUDED.created_at"
    " WHERE t.created_at < EXCLUDED.created_at",
    NULL};
/* clang-format on */

static const char *const *const topic_sql[ING_RESULTS_NTOPICS] = {
    sql_forecast,        sql_prices, sql_purchases, sql_schedule,
    sql_recommendations, sql_alerts, sql_reports};

/* ---- the batch ---- */

static const char *const *statements_of(const char *topic)
{
    for (int i = 0; i < ING_RESULTS_NTOPICS; i++)
        if (strcmp(topic, ing_results_topics[i]) == 0)
            return topic_sql[i];
    return NULL;
}

/* Runs sql with one text parameter. 0; 1 when the server refused the data
 * (SQLSTATE class 22 data exception, 23 constraint violation or 54 program
 * limit, e.g. an id too long for its index: retrying the record cannot
 * help, it is dead-lettered), message in errstr; -1 on any other error
 * (the batch is retried). */
static int run(PGconn *pg, const char *sql, const char *param, char *errstr,
               size_t errstr_size)
{
    PGresult *res = PQexecParams(pg, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    const char *code;
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(errstr, errstr_size, "%s", PQerrorMessage(pg));
        errstr[strcspn(errstr, "\n")] = 0;
        rc = code && (strncmp(code, "22", 2) == 0 || strncmp(code, "23", 2) == 0 ||
                      strncmp(code, "54", 2) == 0)
                 ? 1
                 : -1;
    }
    PQclear(res);
    return rc;
}

/* One record under a savepoint. 0 stored, 1 refused (reason filled), -1. */
static int store_one(PGconn *pg, const bus_record_t *rec, char *reason,
                     size_t reason_size, char *errstr, size_t errstr_size)
{
    const char *const *sql = statements_of(rec->topic);
    avro_value_t v = rec->value;
    json_t *j;
    char *doc;
    int rc = 0;

    if (!sql) {
        snprintf(reason, reason_size, "topic '%s' is not a result topic", rec->topic);
        return 1;
    }
    if (!(j = ing_json_from_avro(&v)) || !(doc = json_dumps(j, JSON_COMPACT))) {
        json_decref(j);
        snprintf(errstr, errstr_size, "out of memory converting a %s record",
                 rec->topic);
        return -1;
    }
    json_decref(j);
    if (run(pg, "SAVEPOINT rec", NULL, errstr, errstr_size)) {
        free(doc);
        return -1;
    }
    for (int i = 0; sql[i] && rc == 0; i++)
        rc = run(pg, sql[i], doc, reason, reason_size);
    free(doc);
    if (rc < 0)
        snprintf(errstr, errstr_size, "%s: %s", rec->topic, reason);
    else if (run(pg, rc ? "ROLLBACK TO SAVEPOINT rec" : "RELEASE SAVEPOINT rec", NULL,
                 errstr, errstr_size))
        return -1;
    return rc;
}

int ing_results_store(db_t *db, const bus_record_t *recs, int n,
                      ing_result_reject_t *rej, int *nrej, char *errstr,
                      size_t errstr_size)
{
    PGconn *pg = db_pg(db);

    *nrej = 0;
    if (db_begin(db, errstr, errstr_size))
        return -1;
    for (int i = 0; i < n; i++) {
        ing_result_reject_t *r = &rej[*nrej];
        int rc =
            store_one(pg, &recs[i], r->reason, sizeof r->reason, errstr, errstr_size);
        if (rc < 0)
            goto fail;
        if (rc > 0)
            r->idx = i, (*nrej)++;
    }
    if (db_commit(db, errstr, errstr_size) == 0)
        return 0;
fail:
    db_rollback(db, NULL, 0); /* best effort: the connection may be gone */
    return -1;
}
