/*
 * Unit tests for the ingester core (services/ingester): record validation,
 * energy counter checks, event-time rollups with watermark and lateness,
 * corrections, gap detection and classification. Hand-made sequences with
 * answers worked out by hand; no I/O.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_pg.h"
#include "ingester/ing_rollup.h"
#include "ingester/ing_validate.h"
#include "support/harness.h"

#define T0 1597449600000LL /* 2020-08-15T00:00:00Z */
#define MIN (60 * 1000LL)
#define QH (15 * MIN)

static ing_reading_t mk(const char *site, const char *meter, int64_t ts, double power,
                        double energy, ing_quality_t q)
{
    ing_reading_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.site_id, sizeof r.site_id, "%s", site);
    snprintf(r.meter_id, sizeof r.meter_id, "%s", meter);
    r.ts_ms = ts;
    r.quality = q;
    if (!isnan(power)) {
        r.present |= ING_HAS_POWER;
        r.power_kw = power;
    }
    if (!isnan(energy)) {
        r.present |= ING_HAS_ENERGY;
        r.energy_kwh = energy;
    }
    return r;
}

/* Checks and adds in one go, as the service does for a stored reading. */
static ing_add_result_t feed(ing_rollup_t *r, ing_reading_t *rd)
{
    char reason[200];
    ck_assert_msg(ing_rollup_check(r, rd, reason, sizeof reason) == 0, "%s", reason);
    return ing_rollup_add(r, rd);
}

static const ing_interval_t *find_iv(ing_rollup_t *r, ing_scope_t scope,
                                     const char *meter, int64_t start)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;
    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    for (size_t i = niv; i-- > 0;)
        if (iv[i].scope == scope && iv[i].start_ms == start &&
            strcmp(iv[i].meter_id, meter) == 0)
            return &iv[i];
    return NULL;
}

static size_t n_out_iv(ing_rollup_t *r)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;
    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    return niv;
}

static const ing_gap_t *last_gap(ing_rollup_t *r, size_t *ngaps)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;
    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    *ngaps = ng;
    return ng ? &g[ng - 1] : NULL;
}

/* Quarter-hour intervals with the lateness and sample period given;
 * meters not registered are accepted. */
static ing_rollup_t *qh_rollup(int lateness_min, int64_t sample_period_ms)
{
    ing_rollup_conf_t conf = {.interval_ms = QH,
                              .lateness_ms = lateness_min * MIN,
                              .sample_period_ms = sample_period_ms,
                              .accept_unknown = true};

    return ing_rollup_new(&conf);
}

/* One reading of meter at minute min (power only), then an advance.
 * Returns the gaps the advance published. */
static size_t feed_at(ing_rollup_t *r, const char *meter, int min, const ing_gap_t **g)
{
    ing_reading_t rd = mk("s", meter, T0 + min * MIN, 20, NAN, ING_Q_GOOD);
    size_t ng;

    ing_rollup_clear(r);
    ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
    ck_assert_int_eq(ing_rollup_advance(r), 0);
    *g = last_gap(r, &ng);
    return ng;
}

static size_t feed_a(ing_rollup_t *r, int min, const ing_gap_t **g)
{
    return feed_at(r, "a", min, g);
}

/* Meter b drives the watermark while a is silent. */
static size_t feed_b(ing_rollup_t *r, int min, const ing_gap_t **g)
{
    return feed_at(r, "b", min, g);
}

/* Quarter-hour k: b reports at its start (it drives the watermark), a too
 * when a_reports; then one advance. Returns the gaps it published. */
static size_t feed_qh(ing_rollup_t *r, int k, bool a_reports, const ing_gap_t **g)
{
    ing_reading_t rd = mk("s", "b", T0 + k * QH, 10, NAN, ING_Q_GOOD);
    size_t ng;

    ing_rollup_clear(r);
    feed(r, &rd);
    if (a_reports) {
        rd = mk("s", "a", T0 + k * QH, 20, NAN, ING_Q_GOOD);
        feed(r, &rd);
    }
    ck_assert_int_eq(ing_rollup_advance(r), 0);
    *g = last_gap(r, &ng);
    return ng;
}

/* ---- validation (table) ---- */

static const struct {
    const char *name;
    int field; /* 0 none, 1 power, 2 voltage, 3 pf, 4 energy, 5 meter, 6 freq */
    double value;
    int64_t ts;
    const char *reason; /* NULL = valid */
} val_cases[] = {
    {"good", 0, 0, T0, NULL},
    {"power NaN", 1, NAN, T0, "power_kw is NaN"},
    {"voltage inf", 2, INFINITY, T0, "voltage_v is infinite"},
    {"pf 1.5", 3, 1.5, T0, "power_factor 1.5 outside"},
    {"negative counter", 4, -3, T0, "energy_kwh -3 outside"},
    {"empty meter", 5, 0, T0, "empty meter_id"},
    {"negative frequency", 6, -50, T0, "frequency_hz"},
    {"10 years ahead", 0, 0, T0 + 3650LL * 86400000LL, "ahead of the clock"},
    {"one hour ahead ok", 0, 0, T0 + 3600000LL, NULL},
    {"before 2000", 0, 0, 900000000000LL, "before"},
    /* the reason formats the time: no overflow at the int64 limits */
    {"ts INT64_MIN", 0, 0, INT64_MIN, "before the earliest"},
    {"ts INT64_MIN + 1", 0, 0, INT64_MIN + 1, "before the earliest"},
    {"ts INT64_MAX", 0, 0, INT64_MAX, "ahead of the clock"},
    {"negative power ok (export)", 1, -250, T0, NULL},
    {"meter_id not UTF-8", 7, 0, T0, "meter_id is not valid UTF-8"},
    {"detail not UTF-8", 8, 0, T0, "quality_detail is not valid UTF-8"},
    {"detail in UTF-8 ok", 9, 0, T0, NULL},
};

/* COPY binary: signature, one row of 13 (or 14 with the row index) fields,
 * big-endian values, timestamps on the 2000 epoch, NULL as -1, trailer. */
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(test_copy_binary_encoding)
{
    ing_pg_t *p = ing_pg_new(NULL);
    ing_reading_t r;
    const char *out;
    size_t len;
    const unsigned char *u;
    uint64_t ts = 0, bits;
    double kw = 12.5;

    memset(&r, 0, sizeof r);
    strcpy(r.meter_id, "m1");
    strcpy(r.site_id, "s");
    r.ts_ms = 946684800000LL + 1500; /* 2000-01-01 00:00:01.5 UTC */
    r.seq = 7;
    r.present = ING_HAS_POWER;
    r.power_kw = kw;
    r.quality = ING_Q_STALE;
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(ing_pg_encode(p, &r, 1, false, &out, &len), 0);
    ck_assert_int_eq(memcmp(out, "PGCOPY\n\377\r\n\0", 11), 0);
    u = (const unsigned char *)out + 19;
    ck_assert_int_eq(u[0] << 8 | u[1], ING_PG_NCOLS);
    u += 2;
    ck_assert_uint_eq(be32(u), 2); /* meter_id */
    ck_assert_int_eq(memcmp(u + 4, "m1", 2), 0);
    u += 6;
    ck_assert_uint_eq(be32(u), 1); /* site_id */
    u += 5;
    ck_assert_uint_eq(be32(u), 8); /* ts: microseconds since 2000 */
    for (int i = 0; i < 8; i++)
        ts = ts << 8 | u[4 + i];
    ck_assert_uint_eq(ts, 1500000);
    u += 12 + 12 + 6;              /* ts, seq, source */
    ck_assert_uint_eq(be32(u), 8); /* power_kw */
    bits = 0;
    for (int i = 0; i < 8; i++)
        bits = bits << 8 | u[4 + i];
    memcpy(&kw, &bits, sizeof kw);
    ck_assert_double_eq(kw, 12.5);
    u += 12;
    for (int i = 0; i < 5; i++, u += 4) /* energy .. power_factor: NULL */
        ck_assert_uint_eq(be32(u), UINT32_MAX);
    ck_assert_uint_eq(be32(u), 5); /* quality */
    ck_assert_int_eq(memcmp(u + 4, "stale", 5), 0);
    u += 9;
    ck_assert_uint_eq(be32(u), UINT32_MAX); /* quality_detail */
    u += 4;
    ck_assert_int_eq(u[0], 0xff); /* trailer -1 */
    ck_assert_int_eq(u[1], 0xff);
    ck_assert_uint_eq((size_t)(u + 2 - (const unsigned char *)out), len);

    ck_assert_int_eq(ing_pg_encode(p, &r, 1, true, &out, &len), 0);
    u = (const unsigned char *)out + 19;
    ck_assert_int_eq(u[0] << 8 | u[1], ING_PG_NCOLS + 1);
    ck_assert_uint_eq(be32(u + 2), 4); /* row index first */
    ck_assert_uint_eq(be32(u + 6), 0);
    ing_pg_destroy(p);
}
END_TEST

START_TEST(test_validate)
{
    ing_validate_conf_t conf = {.min_ts_ms = ING_MIN_TS_DEFAULT,
                                .max_future_ms = 86400000LL};
    ing_reading_t r = mk("s", "m", val_cases[_i].ts, 10, 5, ING_Q_GOOD);
    char reason[200] = "";
    int rc;

    switch (val_cases[_i].field) {
    case 1:
        r.power_kw = val_cases[_i].value;
        break;
    case 2:
        r.present |= ING_HAS_VOLTAGE;
        r.voltage_v = val_cases[_i].value;
        break;
    case 3:
        r.present |= ING_HAS_PF;
        r.power_factor = val_cases[_i].value;
        break;
    case 4:
        r.energy_kwh = val_cases[_i].value;
        break;
    case 5:
        r.meter_id[0] = '\0';
        break;
    case 6:
        r.present |= ING_HAS_FREQUENCY;
        r.frequency_hz = val_cases[_i].value;
        break;
    case 7:
        snprintf(r.meter_id, sizeof r.meter_id, "m\xff");
        break;
    case 8:
        snprintf(r.detail, sizeof r.detail, "cut in \xc3");
        break;
    case 9:
        snprintf(r.detail, sizeof r.detail, "r\xc3\xa9gulation, 5 \xe2\x82\xac");
        break;
    default:
        break;
    }
    rc = ing_validate_reading(&r, &conf, T0, reason, sizeof reason);
    if (!val_cases[_i].reason) {
        ck_assert_msg(rc == 0, "%s: unexpected reject '%s'", val_cases[_i].name,
                      reason);
    } else {
        ck_assert_msg(rc == -1, "%s: accepted", val_cases[_i].name);
        ck_assert_msg(strstr(reason, val_cases[_i].reason), "%s: reason '%s'",
                      val_cases[_i].name, reason);
    }
}
END_TEST

START_TEST(test_null_quantities_are_not_checked)
{
    ing_validate_conf_t conf = {.min_ts_ms = ING_MIN_TS_DEFAULT, .max_future_ms = 1000};
    ing_reading_t r = mk("s", "m", T0, NAN, NAN, ING_Q_COMM_ERROR);
    char reason[100];
    r.power_kw = NAN; /* not present: a null on the wire */
    ck_assert_int_eq(ing_validate_reading(&r, &conf, T0, reason, sizeof reason), 0);
}
END_TEST

/* ---- energy counter (table: one sequence, verdict per step; a falling
 * counter is a reset candidate, see test_counter_reset_*) ---- */

static const struct {
    int64_t ts;
    double kwh;
    int ok;
    const char *reason;
} ctr_steps[] = {
    {T0, 100.0, 1, NULL},
    {T0 + MIN, 101.0, 1, NULL},
    {T0 + 2 * MIN, 101.0, 1, NULL},               /* flat counter is fine */
    {T0 + 2 * MIN, 101.0, 1, NULL},               /* a duplicate (replay) */
    {T0 + 2 * MIN, 101.2, 0, "at the same time"}, /* conflicting duplicate */
    {T0 + 30 * 1000, 100.4, 1, NULL},             /* late, consistent */
    {T0 + 30 * 1000, 105.0, 0, "above a later"},  /* late, impossible */
    {T0 + 3 * MIN, 102.0, 1, NULL},
};

START_TEST(test_counter_sequence)
{
    ing_rollup_conf_t conf = {.accept_unknown = true};
    ing_rollup_t *r = ing_rollup_new(&conf);
    char reason[200];

    for (size_t i = 0; i < sizeof ctr_steps / sizeof ctr_steps[0]; i++) {
        ing_reading_t rd =
            mk("s", "m", ctr_steps[i].ts, NAN, ctr_steps[i].kwh, ING_Q_GOOD);
        int rc = ing_rollup_check(r, &rd, reason, sizeof reason);
        ck_assert_msg((rc == 0) == ctr_steps[i].ok, "step %zu: rc %d (%s)", i, rc,
                      rc ? reason : "");
        if (!ctr_steps[i].ok)
            ck_assert_msg(strstr(reason, ctr_steps[i].reason), "step %zu: '%s'", i,
                          reason);
    }
    ing_rollup_destroy(r);
}
END_TEST

START_TEST(test_unknown_and_wrong_site)
{
    ing_rollup_conf_t conf = {.accept_unknown = false};
    ing_rollup_t *r = ing_rollup_new(&conf);
    ing_reading_t rd = mk("s1", "x", T0, 1, NAN, ING_Q_GOOD);
    char reason[200];

    ck_assert_int_eq(ing_rollup_check(r, &rd, reason, sizeof reason), -1);
    ck_assert_ptr_nonnull(strstr(reason, "unknown meter 'x'"));
    ck_assert_int_eq(ing_rollup_set_meter(r, "x", "s1", true, 0), 0);
    ck_assert_int_eq(ing_rollup_set_meter(r, "x", "s2", true, 0), -1);
    ck_assert_int_eq(ing_rollup_check(r, &rd, reason, sizeof reason), 0);
    snprintf(rd.site_id, sizeof rd.site_id, "s2");
    ck_assert_int_eq(ing_rollup_check(r, &rd, reason, sizeof reason), -1);
    ck_assert_ptr_nonnull(strstr(reason, "belongs to site 's1'"));
    ing_rollup_destroy(r);
}
END_TEST

/* ---- rollups ---- */

/* Two meters, one reading a minute: m1 draws 100 kW in the first quarter-hour
 * and 200 kW in the second with a counter, m2 50 kW with power only. */
START_TEST(test_rollup_two_intervals)
{
    ing_rollup_t *r = qh_rollup(5, MIN);
    double e1 = 1000;
    const ing_interval_t *o;

    for (int k = 0; k < 36; k++) {
        double p1 = k < 15 ? 100 : 200;
        ing_reading_t a = mk("s", "m1", T0 + k * MIN, p1, e1, ING_Q_GOOD);
        ing_reading_t b = mk("s", "m2", T0 + k * MIN, 50, NAN, ING_Q_GOOD);
        ck_assert_int_eq(feed(r, &a), ING_ADD_USED);
        ck_assert_int_eq(feed(r, &b), ING_ADD_USED);
        e1 += p1 / 60.0;
        ck_assert_int_eq(ing_rollup_advance(r), 0);
        if (k == 19) /* watermark 14 min: nothing closed yet */
            ck_assert_uint_eq(n_out_iv(r), 0);
        if (k == 20) /* watermark 15 min: the first quarter-hour closes */
            ck_assert_uint_eq(n_out_iv(r), 3);
    }
    ck_assert_int_eq(ing_rollup_watermark(r, "s"), T0 + 30 * MIN);
    ck_assert_uint_eq(n_out_iv(r), 6);
    o = find_iv(r, ING_SCOPE_METER, "m1", T0);
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 25.0, 1e-9);
    ck_assert_double_eq_tol(o->mean_kw, 100.0, 1e-9);
    ck_assert_double_eq_tol(o->peak_kw, 100.0, 1e-12);
    ck_assert_int_eq(o->sample_count, 15);
    ck_assert_double_eq_tol(o->completeness, 1.0, 1e-12);
    ck_assert_int_eq(o->revision, 0);
    ck_assert_int_eq(o->end_ms, T0 + QH);
    o = find_iv(r, ING_SCOPE_METER, "m1", T0 + QH);
    ck_assert_double_eq_tol(o->energy_kwh, 50.0, 1e-9); /* from the counter */
    o = find_iv(r, ING_SCOPE_METER, "m2", T0 + QH);
    ck_assert_double_eq_tol(o->energy_kwh, 12.5, 1e-9); /* from power */
    ck_assert(o->has_min);
    o = find_iv(r, ING_SCOPE_SITE, "", T0 + QH);
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 62.5, 1e-9);
    ck_assert_double_eq_tol(o->mean_kw, 250.0, 1e-9);
    ck_assert_int_eq(o->sample_count, 30);
    ck_assert_double_eq_tol(o->completeness, 1.0, 1e-12);
    ing_rollup_destroy(r);
}
END_TEST

/* Within the lateness a reading joins its open interval; beyond it, it
 * corrects the closed interval with revision 1 (meter and site). */
START_TEST(test_lateness_and_correction)
{
    ing_rollup_t *r = qh_rollup(5, MIN);
    static const int order[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 16, 12};
    const ing_interval_t *o;
    ing_reading_t rd;
    int64_t closed, corrected, too_late;

    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        rd = mk("s", "m", T0 + order[i] * MIN, 40 + order[i], NAN, ING_Q_GOOD);
        ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
        ck_assert_int_eq(ing_rollup_advance(r), 0);
    }
    ck_assert_uint_eq(n_out_iv(r), 0); /* minute 12 came 4 min late: in time */
    rd = mk("s", "m", T0 + 20 * MIN, 60, NAN, ING_Q_GOOD);
    feed(r, &rd);
    ing_rollup_advance(r);
    o = find_iv(r, ING_SCOPE_METER, "m", T0);
    ck_assert_int_eq(o->sample_count, 14);
    ck_assert_double_eq_tol(o->completeness, 14.0 / 15.0, 1e-12);
    ck_assert_double_eq_tol(o->peak_kw, 53, 1e-12);
    ck_assert_double_eq_tol(o->min_kw, 40, 1e-12);
    ing_rollup_clear(r);

    rd = mk("s", "m", T0 + 14 * MIN, 54, NAN, ING_Q_GOOD); /* 6 min late */
    ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
    ing_rollup_advance(r);
    ck_assert_uint_eq(n_out_iv(r), 2);
    o = find_iv(r, ING_SCOPE_METER, "m", T0);
    ck_assert_int_eq(o->revision, 1);
    ck_assert_int_eq(o->sample_count, 15);
    ck_assert_double_eq_tol(o->energy_kwh, 47.0 * 0.25, 1e-9); /* mean of 40..54 */
    ck_assert_double_eq_tol(o->peak_kw, 54, 1e-12);
    o = find_iv(r, ING_SCOPE_SITE, "", T0);
    ck_assert_int_eq(o->revision, 1);
    ck_assert_double_eq_tol(o->energy_kwh, 47.0 * 0.25, 1e-9);
    ing_rollup_stats(r, &closed, &corrected, &too_late);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(corrected, 1);
    ck_assert_int_eq(too_late, 0);
    ing_rollup_destroy(r);
}
END_TEST

START_TEST(test_too_late_and_bad_quality)
{
    ing_rollup_conf_t conf = {.interval_ms = QH,
                              .lateness_ms = 0,
                              .horizon_ms = 3600000LL,
                              .accept_unknown = true};
    ing_rollup_t *r = ing_rollup_new(&conf);
    ing_reading_t rd = mk("s", "m", T0, 1, NAN, ING_Q_GOOD);
    int64_t closed, corrected, too_late;

    ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
    rd = mk("s", "m", T0 + 3 * 3600000LL, NAN, NAN, ING_Q_COMM_ERROR);
    ck_assert_int_eq(feed(r, &rd), ING_ADD_IGNORED); /* still moves event time */
    ck_assert_int_eq(ing_rollup_watermark(r, "s"), T0 + 3 * 3600000LL);
    rd = mk("s", "m", T0 + 5 * MIN, 1, NAN, ING_Q_GOOD);
    ck_assert_int_eq(feed(r, &rd), ING_ADD_TOO_LATE);
    ing_rollup_stats(r, &closed, &corrected, &too_late);
    ck_assert_int_eq(too_late, 1);
    rd = mk("nowhere", "nobody", T0, 1, NAN, ING_Q_GOOD);
    ck_assert_int_eq(ing_rollup_add(r, &rd), ING_ADD_UNKNOWN);
    ing_rollup_destroy(r);
}
END_TEST

/* A reading dated ahead of the clock (allowed by ingester.max_future)
 * moves the site's watermark only to the clock: it closes none of the
 * intervals before it, publishes no gap, and the site's readings that
 * follow are not late (before, the watermark jumped to it: every meter's
 * intervals up to then closed at once, and a reading half an hour late
 * was past a one-hour horizon). */
START_TEST(test_future_reading_stops_at_clock)
{
    ing_rollup_conf_t conf = {.interval_ms = QH,
                              .lateness_ms = 5 * MIN,
                              .horizon_ms = 3600000LL,
                              .accept_unknown = true};
    ing_rollup_t *r = ing_rollup_new(&conf);
    const ing_interval_t *o;
    ing_reading_t rd;
    size_t ng;

    ing_rollup_set_clock(r, T0 + 10 * MIN);
    for (int min = 0; min < 10; min++) {
        rd = mk("s", "a", T0 + min * MIN, 20, NAN, ING_Q_GOOD);
        if (min != 3) /* comes half an hour late */
            ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
    }
    rd = mk("s", "b", T0 + 23 * 3600000LL, 5, NAN, ING_Q_GOOD);
    ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
    ck_assert_int_eq(ing_rollup_advance(r), 0);
    ck_assert_int_eq(ing_rollup_watermark(r, "s"), T0 + 5 * MIN);
    ck_assert_uint_eq(n_out_iv(r), 0);
    ck_assert_ptr_null(last_gap(r, &ng));

    ing_rollup_set_clock(r, T0 + 40 * MIN);
    for (int min = 10; min < 36; min++) {
        rd = mk("s", "a", T0 + min * MIN, 20, NAN, ING_Q_GOOD);
        ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
    }
    ck_assert_int_eq(ing_rollup_advance(r), 0);
    o = find_iv(r, ING_SCOPE_METER, "a", T0 + QH);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->sample_count, 15);
    ck_assert_ptr_null(find_iv(r, ING_SCOPE_METER, "b", T0 + 23 * 3600000LL));
    ing_rollup_clear(r);

    rd = mk("s", "a", T0 + 3 * MIN, 20, NAN, ING_Q_GOOD);
    ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
    ck_assert_int_eq(ing_rollup_advance(r), 0);
    o = find_iv(r, ING_SCOPE_METER, "a", T0);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->sample_count, 15);
    ck_assert_int_eq(o->revision, 1);
    ing_rollup_destroy(r);
}
END_TEST

/* Meters not counted (sub-meters) are emitted but left out of the site sum. */
START_TEST(test_site_counts_only_counted_meters)
{
    ing_rollup_conf_t conf = {.interval_ms = QH, .sample_period_ms = QH};
    ing_rollup_t *r = ing_rollup_new(&conf);
    ing_reading_t rd;
    const ing_interval_t *o;

    ck_assert_int_eq(ing_rollup_set_meter(r, "main", "s", true, 0), 0);
    ck_assert_int_eq(ing_rollup_set_meter(r, "sub", "s", false, 0), 0);
    ck_assert_int_eq(ing_rollup_set_meter(r, "main2", "s", true, 0), 0);
    for (int k = 0; k < 2; k++) {
        rd = mk("s", "main", T0 + k * QH, 1000, NAN, ING_Q_GOOD);
        feed(r, &rd);
        rd = mk("s", "sub", T0 + k * QH, 400, NAN, ING_Q_GOOD);
        feed(r, &rd);
    }
    ing_rollup_advance(r);
    o = find_iv(r, ING_SCOPE_SITE, "", T0);
    ck_assert_double_eq_tol(o->energy_kwh, 250, 1e-9);
    ck_assert_double_eq_tol(o->completeness, 0.5, 1e-12); /* main2 is silent */
    ck_assert_ptr_nonnull(find_iv(r, ING_SCOPE_METER, "sub", T0));
    ing_rollup_destroy(r);
}
END_TEST

/* ---- gaps ---- */

static const struct {
    int64_t ms;
    ing_gap_class_t cls;
} class_cases[] = {
    {15 * MIN, ING_GAP_MINOR},
    {2 * 3600000LL, ING_GAP_MINOR},
    {2 * 3600000LL + 1, ING_GAP_MODERATE},
    {12 * 3600000LL, ING_GAP_MODERATE},
    {12 * 3600000LL + 1, ING_GAP_CRITICAL},
    {3 * 86400000LL, ING_GAP_CRITICAL},
};

START_TEST(test_gap_classify)
{
    ck_assert_int_eq(ing_gap_classify(class_cases[_i].ms), class_cases[_i].cls);
}
END_TEST

/* Meter a reports in quarter-hours 0, 1 and 12; b in every quarter-hour and
 * drives the watermark (lateness 0). a's gap covers quarter-hours 2..11. */
START_TEST(test_gap_open_grow_close_recover)
{
    ing_rollup_t *r = qh_rollup(0, QH);
    const ing_gap_t *g;
    size_t ng;

    for (int k = 0; k <= 12; k++) {
        ng = feed_qh(r, k, k <= 1 || k == 12, &g);
        if (k <= 2) {
            ck_assert_uint_eq(ng, 0);
            continue;
        }
        ck_assert_uint_eq(ng, 1);
        ck_assert_str_eq(g->gap_id, "a@2020-08-15T00:30:00Z");
        ck_assert_int_eq(g->start_ms, T0 + 2 * QH);
        ck_assert_int_eq(g->revision, k - 3);
        if (k < 12) {
            ck_assert(g->ongoing);
            ck_assert_int_eq(g->missing_intervals, k - 2);
            ck_assert_int_eq(g->end_ms, T0 + k * QH);
            ck_assert_int_eq(g->gap_class, k <= 10 ? ING_GAP_MINOR : ING_GAP_MODERATE);
            ck_assert_uint_eq(ing_rollup_open_gaps(r), 1);
        }
    }
    ck_assert(!g->ongoing);
    ck_assert(!g->recovered);
    ck_assert_int_eq(g->missing_intervals, 10);
    ck_assert_int_eq(g->end_ms, T0 + 12 * QH);
    ck_assert_int_eq(g->gap_class, ING_GAP_MODERATE);
    ck_assert_uint_eq(ing_rollup_open_gaps(r), 0);

    for (int k = 2; k <= 11; k++) { /* the gateway's spool arrives late */
        ck_assert_uint_eq(feed_a(r, 15 * k + 1, &g), 1);
        ck_assert_int_eq(g->recovered, k == 11);
        ck_assert_int_eq(g->revision, 10 + (k - 2));
        ck_assert_int_eq(find_iv(r, ING_SCOPE_METER, "a", T0 + k * QH)->revision, 0);
        ck_assert_int_eq(find_iv(r, ING_SCOPE_SITE, "", T0 + k * QH)->revision, 1);
    }
    ing_rollup_destroy(r);
}
END_TEST

/* Meter a misses quarter-hours 2..4 while b drives the watermark (lateness
 * 0), so an ongoing gap from 2 is published; then a's spooled readings come
 * in order from 2 on. The gap closes with the span it was reported with and
 * becomes recovered once 2..4 are in; it does not stay ongoing. With
 * stop_after 3 a's catch-up stops after quarter-hour 3: the gap stays not
 * recovered and the new ongoing gap starts after its span (4 is already
 * reported missing), never overlapping it. */
static const int catch_up_stop[] = {4, 3};

START_TEST(test_gap_first_interval_late)
{
    ing_rollup_t *r = qh_rollup(0, QH);
    int stop_after = catch_up_stop[_i];
    const ing_gap_t *g;
    size_t ng = 0;

    for (int k = 0; k <= 5; k++)
        ng = feed_qh(r, k, k <= 1, &g);
    ck_assert_uint_eq(ng, 1);
    ck_assert(g->ongoing);
    ck_assert_int_eq(g->missing_intervals, 3);
    ck_assert_uint_eq(ing_rollup_open_gaps(r), 1);

    for (int k = 2; k <= stop_after; k++) {
        ck_assert_uint_eq(feed_a(r, 15 * k + 1, &g), 1);
        ck_assert_str_eq(g->gap_id, "a@2020-08-15T00:30:00Z");
        ck_assert(!g->ongoing);
        ck_assert_int_eq(g->end_ms, T0 + 5 * QH);
        ck_assert_int_eq(g->missing_intervals, 3);
        ck_assert_int_eq(g->recovered, k == 4);
        ck_assert_uint_eq(ing_rollup_open_gaps(r), 0);
    }
    for (int k = 6; k <= 8; k++) /* b goes on, a stays silent */
        ng = feed_qh(r, k, false, &g);
    ck_assert_uint_eq(ng, 1);
    ck_assert(g->ongoing);
    ck_assert_str_eq(g->gap_id, "a@2020-08-15T01:15:00Z");
    ck_assert_int_eq(g->missing_intervals, 3);
    ck_assert_uint_eq(ing_rollup_open_gaps(r), 1);

    /* a resumes at 9: the new gap closes at 9 */
    ck_assert_uint_eq(feed_a(r, 9 * 15, &g), 1);
    ck_assert_str_eq(g->gap_id, "a@2020-08-15T01:15:00Z");
    ck_assert(!g->ongoing);
    ck_assert_int_eq(g->end_ms, T0 + 9 * QH);
    ck_assert_int_eq(g->missing_intervals, 4);
    ck_assert_uint_eq(ing_rollup_open_gaps(r), 0);
    ing_rollup_destroy(r);
}
END_TEST

/* Lateness 5 min. a reports at minutes 0 and 31, skipping quarter-hour 1
 * (00:15-00:30), whose end the watermark (00:26) has not passed: no gap yet.
 * With late 1 the missing minute 20 comes within the lateness and no gap is
 * ever published; without it the gap is published once, when the watermark
 * passes 00:30, and minute 20 arriving after that recovers it. */
START_TEST(test_gap_waits_for_watermark)
{
    ing_rollup_t *r = qh_rollup(5, QH);
    const ing_gap_t *g;

    ck_assert_uint_eq(feed_a(r, 0, &g), 0);
    ck_assert_uint_eq(feed_a(r, 31, &g), 0);
    ck_assert_uint_eq(ing_rollup_open_gaps(r), 0);
    if (_i == 1) {
        ck_assert_uint_eq(feed_a(r, 20, &g), 0);
        ck_assert_uint_eq(feed_a(r, 36, &g), 0); /* watermark 00:31 */
        ck_assert_int_eq(find_iv(r, ING_SCOPE_METER, "a", T0 + QH)->revision, 0);
        ck_assert_uint_eq(feed_a(r, 50, &g), 0);
        ing_rollup_destroy(r);
        return;
    }
    ck_assert_uint_eq(feed_a(r, 34, &g), 0); /* watermark 00:29 */
    ck_assert_uint_eq(feed_a(r, 36, &g), 1); /* watermark 00:31 */
    ck_assert_str_eq(g->gap_id, "a@2020-08-15T00:15:00Z");
    ck_assert_int_eq(g->revision, 0);
    ck_assert(!g->ongoing && !g->recovered);
    ck_assert_int_eq(g->start_ms, T0 + QH);
    ck_assert_int_eq(g->end_ms, T0 + 2 * QH);
    ck_assert_int_eq(g->missing_intervals, 1);
    ck_assert_uint_eq(feed_a(r, 20, &g), 1); /* after the close: recovered */
    ck_assert_int_eq(g->revision, 1);
    ck_assert(g->recovered);
    ing_rollup_destroy(r);
}
END_TEST

/* Lateness 40 min. a reports at minute 0, then 61: quarter-hours 1..3 are
 * skipped and none is closed (watermark 00:21). Minute 71 closes 1 (00:31).
 * Late minute 16 fills 1 (closed: it was missing); late minute 35 is in 2,
 * still open, so 2 is taken out: the gap splits into 1, whose end the
 * watermark has passed (published at once, recovered), and 3, published
 * when the watermark passes 01:00. 2 never was missing. */
START_TEST(test_gap_split_by_late_reading)
{
    ing_rollup_t *r = qh_rollup(40, QH);
    const ing_gap_t *g;

    ck_assert_uint_eq(feed_a(r, 0, &g), 0);
    ck_assert_uint_eq(feed_a(r, 61, &g), 0);
    ck_assert_uint_eq(feed_a(r, 71, &g), 0);
    ck_assert_uint_eq(feed_a(r, 16, &g), 0);
    ck_assert_uint_eq(feed_a(r, 35, &g), 1);
    ck_assert_str_eq(g->gap_id, "a@2020-08-15T00:15:00Z");
    ck_assert_int_eq(g->end_ms, T0 + 2 * QH);
    ck_assert_int_eq(g->missing_intervals, 1);
    ck_assert_int_eq(g->revision, 0);
    ck_assert(g->recovered && !g->ongoing);
    ck_assert_uint_eq(feed_a(r, 99, &g), 0); /* watermark 00:59 */
    ck_assert_uint_eq(feed_a(r, 101, &g), 1);
    ck_assert_str_eq(g->gap_id, "a@2020-08-15T00:45:00Z");
    ck_assert_int_eq(g->start_ms, T0 + 3 * QH);
    ck_assert_int_eq(g->end_ms, T0 + 4 * QH);
    ck_assert_int_eq(g->missing_intervals, 1);
    ck_assert_int_eq(g->revision, 0);
    ck_assert(!g->recovered && !g->ongoing);
    ing_rollup_destroy(r);
}
END_TEST

/* Lateness 5 min. a reports at minute 0 and falls silent; b moves the
 * watermark, so a's ongoing gap from 00:15 is published (1, 2, then 3
 * missing quarter-hours, up to 01:00). a resumes at minute 76 (watermark 01:11):
 * the gap ends at 01:15 but is held, since quarter-hour 01:00 is still
 * open; a's minute 65 then arrives within the lateness and takes it out,
 * and the gap, now ending at 01:00, which the watermark has passed, is
 * closed once with 3 missing quarter-hours: no revision said 4, none says
 * recovered. */
START_TEST(test_gap_ongoing_end_waits_for_watermark)
{
    ing_rollup_t *r = qh_rollup(5, QH);
    const ing_gap_t *g;

    ck_assert_uint_eq(feed_a(r, 0, &g), 0);
    ck_assert_uint_eq(feed_b(r, 15, &g), 0);
    ck_assert_uint_eq(feed_b(r, 30, &g), 0);
    for (int k = 1; k <= 3; k++) { /* watermarks 00:40, 00:55, 01:05 */
        ck_assert_uint_eq(feed_b(r, k < 3 ? 30 + 15 * k : 70, &g), 1);
        ck_assert(g->ongoing);
        ck_assert_int_eq(g->missing_intervals, k);
    }
    ck_assert_uint_eq(feed_a(r, 76, &g), 0);
    ck_assert_uint_eq(feed_a(r, 65, &g), 1); /* the gap now ends before 01:11 */
    ck_assert_str_eq(g->gap_id, "a@2020-08-15T00:15:00Z");
    ck_assert_int_eq(g->revision, 3);
    ck_assert(!g->ongoing && !g->recovered);
    ck_assert_int_eq(g->end_ms, T0 + 4 * QH);
    ck_assert_int_eq(g->missing_intervals, 3);
    ck_assert_uint_eq(ing_rollup_open_gaps(r), 0);
    ck_assert_uint_eq(feed_b(r, 81, &g), 0);
    ck_assert_uint_eq(feed_a(r, 95, &g), 0);
    ing_rollup_destroy(r);
}
END_TEST

/* ---- counter resets (a meter reset or replaced, reported with its raw
 * counter) ----
 *
 * Meter m draws 60 kW (1 kWh a minute), one reading a minute. Its counter
 * reads 1000 + k at minute k up to minute 5; at minute 6 the new counter
 * reads new0 and goes on by 1 kWh a minute. */

static double reset_kwh(int min, double new0)
{
    return min < 6 ? 1000.0 + min : new0 + (min - 6);
}

static const struct {
    double new0;
    double qh0_kwh; /* energy of the first quarter-hour, worked out by hand */
} reset_cases[] = {
    /* a counter from zero: 1 kWh since the reset, continuous 1000..1014 over
     * 14 minutes of span scaled to 15 */
    {1.0, 15.0},
    /* 0.5 kWh since the reset is plausible at 60 kW: continuous 1000 ..
     * 1005 + 0.5 + 8, (13.5 kWh over 14 min) * 15/14 */
    {0.5, 13.5 * 15.0 / 14.0},
    /* a used meter at 900 kWh: not counted in one minute at 60 kW, so the
     * minute between is the mean power's 1 kWh */
    {900.0, 15.0},
};

static ing_rollup_t *reset_rollup(void)
{
    ing_rollup_conf_t conf = {.interval_ms = QH,
                              .lateness_ms = 5 * MIN,
                              .sample_period_ms = MIN,
                              .accept_unknown = true,
                              .reset_confirm = 3};
    return ing_rollup_new(&conf);
}

/* Checks and adds minutes [from, to) of the reset sequence. */
static void feed_reset(ing_rollup_t *r, int from, int to, double new0)
{
    for (int k = from; k < to; k++) {
        ing_reading_t rd =
            mk("s", "m", T0 + k * MIN, 60, reset_kwh(k, new0), ING_Q_GOOD);
        ing_add_result_t res = feed(r, &rd);
        ing_reset_t want = k < 6    ? ING_RESET_NONE
                           : k < 9  ? ING_RESET_PENDING
                           : k == 9 ? ING_RESET_CONFIRM
                                    : ING_RESET_NONE;
        ck_assert_msg(rd.reset == want, "minute %d: verdict %d", k, rd.reset);
        ck_assert_int_eq(res, want == ING_RESET_PENDING ? ING_ADD_HELD : ING_ADD_USED);
        ck_assert_int_eq(ing_rollup_advance(r), 0);
    }
}

START_TEST(test_counter_reset_confirmed)
{
    ing_rollup_t *r = reset_rollup();
    double new0 = reset_cases[_i].new0;
    const ing_interval_t *o;
    int64_t resets, glitches;

    feed_reset(r, 0, 36, new0);
    o = find_iv(r, ING_SCOPE_METER, "m", T0);
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, reset_cases[_i].qh0_kwh, 1e-9);
    ck_assert_int_eq(o->sample_count, 15); /* the held readings count too */
    ck_assert_int_eq(o->revision, 0);
    o = find_iv(r, ING_SCOPE_METER, "m", T0 + QH); /* all on the new counter */
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 15.0, 1e-9);
    ing_rollup_reset_stats(r, &resets, &glitches);
    ck_assert_int_eq(resets, 1);
    ck_assert_int_eq(glitches, 0);
    ing_rollup_destroy(r);
}
END_TEST

/* One low reading, then back on the old counter: a glitch, never rolled
 * up; the meter goes on with its old counter. */
START_TEST(test_counter_glitch_refused)
{
    ing_rollup_t *r = reset_rollup();
    const ing_interval_t *o;
    int64_t resets, glitches;
    char reason[200];

    for (int k = 0; k < 36; k++) {
        ing_reading_t rd =
            mk("s", "m", T0 + k * MIN, 60, k == 6 ? 3.0 : 1000.0 + k, ING_Q_GOOD);
        ing_add_result_t res = feed(r, &rd);
        ck_assert_int_eq(rd.reset, k == 6   ? ING_RESET_PENDING
                                   : k == 7 ? ING_RESET_GLITCH
                                            : ING_RESET_NONE);
        ck_assert_int_eq(res, k == 6 ? ING_ADD_HELD : ING_ADD_USED);
        ck_assert_int_eq(ing_rollup_advance(r), 0);
    }
    o = find_iv(r, ING_SCOPE_METER, "m", T0);
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 15.0, 1e-9); /* 1000..1014 */
    ck_assert_int_eq(o->sample_count, 14);              /* the glitch left out */
    ing_rollup_reset_stats(r, &resets, &glitches);
    ck_assert_int_eq(resets, 0);
    ck_assert_int_eq(glitches, 1);
    /* the glitch's reason names it */
    {
        ing_rollup_t *r2 = reset_rollup();
        ing_reading_t a = mk("s", "m", T0, NAN, 100.0, ING_Q_GOOD);
        ing_reading_t b = mk("s", "m", T0 + MIN, NAN, 3.0, ING_Q_GOOD);
        ing_reading_t c = mk("s", "m", T0 + 2 * MIN, NAN, 101.0, ING_Q_GOOD);
        ck_assert_int_eq(ing_rollup_check(r2, &a, reason, sizeof reason), 0);
        ck_assert_int_eq(ing_rollup_check(r2, &b, reason, sizeof reason), 0);
        ck_assert_int_eq(ing_rollup_check(r2, &c, reason, sizeof reason), 0);
        ck_assert_int_eq(c.reset, ING_RESET_GLITCH);
        ck_assert_ptr_nonnull(strstr(reason, "energy counter glitch: 3.000000 kWh"));
        ing_rollup_destroy(r2);
    }
    ing_rollup_destroy(r);
}
END_TEST

/* What stays refused around a reset: a counter falling again while the
 * reset is pending, a late reading between the old counter and the
 * candidate below the old one, and after the reset a late reading of the
 * old counter above its last value. A late reading of the old counter
 * below it is accepted. */
/* One reading given to ing_rollup_check() and what it must answer. */
typedef struct check_step {
    int64_t ts;
    double kwh;
    const char *reason; /* NULL: accepted; else a part of the refusal */
} check_step;

/* Checks step i's reading against r: accepted, or refused with its reason. */
static void expect_check(ing_rollup_t *r, const check_step *steps, size_t i)
{
    ing_reading_t rd = mk("s", "m", steps[i].ts, NAN, steps[i].kwh, ING_Q_GOOD);
    char reason[200];
    int rc = ing_rollup_check(r, &rd, reason, sizeof reason);

    ck_assert_msg((rc == 0) == !steps[i].reason, "step %zu: rc %d (%s)", i, rc,
                  rc ? reason : "");
    if (rc)
        ck_assert_msg(strstr(reason, steps[i].reason), "step %zu: '%s'", i, reason);
}

static const check_step reset_refusals[] = {
    {T0, 1000.0, NULL},
    {T0 + MIN, 1001.0, NULL},
    {T0 + 2 * MIN, 1.0, NULL},                              /* candidate */
    {T0 + 3 * MIN, 0.5, "negative energy counter delta"},   /* falls again */
    {T0 + 90 * 1000, 2.0, "negative energy counter delta"}, /* between */
    {T0 + 3 * MIN, 2.0, NULL},
    {T0 + 4 * MIN, 3.0, NULL},
    {T0 + 5 * MIN, 4.0, NULL},                                 /* confirms */
    {T0 + 30 * 1000, 1000.5, NULL},                            /* late, old counter */
    {T0 + 40 * 1000, 1002.0, "last before the counter reset"}, /* late, impossible */
    {T0 + 6 * MIN, 5.0, NULL},
};

START_TEST(test_counter_reset_refusals)
{
    ing_rollup_t *r = reset_rollup();

    for (size_t i = 0; i < sizeof reset_refusals / sizeof reset_refusals[0]; i++)
        expect_check(r, reset_refusals, i);
    ing_rollup_destroy(r);
}
END_TEST

/* The stream stops while the reset is pending: its readings are held (not
 * rolled up). A restart rebuilds the pending state from the stored
 * readings, and the continued stream gives the uninterrupted run's
 * intervals. */
START_TEST(test_counter_reset_pending_at_end)
{
    ing_rollup_t *r = reset_rollup(), *r2 = reset_rollup();
    const ing_interval_t *a, *b;

    feed_reset(r, 0, 8, 1.0); /* the candidate and one follower */
    ck_assert_uint_eq(n_out_iv(r), 0);
    for (int k = 0; k < 8; k++) { /* the restart: the stored readings */
        ing_reading_t rd =
            mk("s", "m", T0 + k * MIN, 60, reset_kwh(k, 1.0), ING_Q_GOOD);
        ck_assert_int_eq(ing_rollup_restore_reading(r2, &rd), 0);
    }
    ck_assert_int_eq(ing_rollup_restore_finish(r2, "s", NULL, 0), 0);
    feed_reset(r, 8, 36, 1.0);
    feed_reset(r2, 8, 36, 1.0);
    for (int q = 0; q < 2; q++) {
        a = find_iv(r, ING_SCOPE_METER, "m", T0 + q * QH);
        b = find_iv(r2, ING_SCOPE_METER, "m", T0 + q * QH);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_double_eq_tol(a->energy_kwh, 15.0, 1e-9);
        ck_assert_double_eq_tol(b->energy_kwh, a->energy_kwh, 1e-9);
        ck_assert_int_eq(b->sample_count, a->sample_count);
    }
    ing_rollup_destroy(r);
    ing_rollup_destroy(r2);
}
END_TEST

/* ---- two resets, and late readings in each counter segment ----
 *
 * Meter m draws 60 kW, one reading a minute. Its counter reads 1000 + k up
 * to minute 5; the new counter from minute 6 reads 0.5 + (k - 6) (0.5 kWh
 * since the reset: plausible at 60 kW, so it is the energy between); the
 * counter from minute 20 reads 10 + (k - 20) (below minute 19's 13.5, but
 * a used meter: 10 kWh cannot be counted in a minute at 60 kW, so the
 * minute between counts the mean power's 1 kWh). On the continuous scale minute
 * 14 is 1013.5, minute 15 1014.5, minute 19 1018.5, minute 20 1019.5. */

static double resets2_kwh(int min)
{
    return min < 6 ? 1000.0 + min : min < 20 ? 0.5 + (min - 6) : 10.0 + (min - 20);
}

static ing_reset_t resets2_verdict(int min)
{
    bool held = (min >= 6 && min < 9) || (min >= 20 && min < 23);
    return held                    ? ING_RESET_PENDING
           : min == 9 || min == 23 ? ING_RESET_CONFIRM
                                   : ING_RESET_NONE;
}

/* Minutes 0..59 but 0 and 15, which come late; _i = 1 restores them into
 * a new handle first, as a restart does. */
START_TEST(test_counter_two_resets_late)
{
    ing_rollup_t *r = reset_rollup();
    const ing_interval_t *o;
    int64_t resets, glitches;

    for (int k = 1; k < 60; k++) {
        ing_reading_t rd = mk("s", "m", T0 + k * MIN, 60, resets2_kwh(k), ING_Q_GOOD);
        if (k == 15)
            continue;
        if (_i) {
            ck_assert_int_eq(ing_rollup_restore_reading(r, &rd), 0);
            continue;
        }
        feed(r, &rd);
        ck_assert_msg(rd.reset == resets2_verdict(k), "minute %d: verdict %d", k,
                      rd.reset);
        ck_assert_int_eq(ing_rollup_advance(r), 0);
    }
    if (_i)
        ck_assert_int_eq(ing_rollup_restore_finish(r, "s", NULL, 0), 0);
    o = find_iv(r, ING_SCOPE_METER, "m", T0); /* 1001 .. 1013.5 over 13 min */
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 12.5 * 15.0 / 13.0, 1e-9);
    ing_rollup_clear(r);
    for (int k = 0; k <= 15; k += 15) {
        ing_reading_t rd = mk("s", "m", T0 + k * MIN, 60, resets2_kwh(k), ING_Q_GOOD);
        ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
        ck_assert_int_eq(rd.reset, ING_RESET_NONE);
    }
    ck_assert_int_eq(ing_rollup_advance(r), 0);
    o = find_iv(r, ING_SCOPE_METER, "m", T0); /* 1000 .. 1013.5 over 14 min */
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 13.5 * 15.0 / 14.0, 1e-9);
    ck_assert_int_eq(o->sample_count, 15);
    ck_assert_int_eq(o->revision, 1);
    o = find_iv(r, ING_SCOPE_METER, "m", T0 + QH); /* 1014.5 .. 1028.5 */
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 15.0, 1e-9);
    ck_assert_int_eq(o->sample_count, 15);
    ing_rollup_reset_stats(r, &resets, &glitches);
    ck_assert_int_eq(resets, 2);
    ing_rollup_destroy(r);
}
END_TEST

/* Eight resets, as many as a meter keeps: 1000 + k up to minute 4, then
 * from each fifth minute 5j (j = 1..8) a counter from 0.5 (0.5 kWh since
 * the reset, plausible at 60 kW), so the continuous counter at minute k is
 * 1000 + k - 0.5 j. Minute 0 comes late, after the eighth reset. */
static double resets8_kwh(int min)
{
    int j = min / 5 < 8 ? min / 5 : 8;
    return j == 0 ? 1000.0 + min : 0.5 + (min - 5 * j);
}

START_TEST(test_counter_eight_resets_late)
{
    ing_rollup_t *r = reset_rollup();
    ing_reading_t rd;
    const ing_interval_t *o;
    int64_t resets, glitches;

    for (int k = 1; k < 60; k++) {
        rd = mk("s", "m", T0 + k * MIN, 60, resets8_kwh(k), ING_Q_GOOD);
        feed(r, &rd);
        ck_assert_int_eq(ing_rollup_advance(r), 0);
    }
    ing_rollup_reset_stats(r, &resets, &glitches);
    ck_assert_int_eq(resets, 8);
    ing_rollup_clear(r);
    rd = mk("s", "m", T0, 60, resets8_kwh(0), ING_Q_GOOD);
    ck_assert_int_eq(feed(r, &rd), ING_ADD_USED);
    ck_assert_int_eq(ing_rollup_advance(r), 0);
    o = find_iv(r, ING_SCOPE_METER, "m", T0); /* 1000 .. 1013 over 14 min */
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 13.0 * 15.0 / 14.0, 1e-9);
    ck_assert_int_eq(o->sample_count, 15);
    ing_rollup_destroy(r);
}
END_TEST

/* Regression (found by test_ingester_props): the old counter's last
 * readings arrive after the reset is confirmed. Meter m draws 60 kW: 1000
 * + k up to minute 5, then a counter from zero, 1 kWh at minute 6 (the
 * energy since minute 5). Minutes 4 and 5 come in one batch after minute
 * 9 confirmed the reset, within the 5-min lateness (_i = 0), or after
 * minute 22 closed the quarter-hour (_i = 1, a correction): the new
 * counter must continue from minute 5's 1005 kWh, not from minute 3's, so
 * the quarter-hour is 1000 .. 1014 over 14 minutes, 15 kWh. Before, the
 * offset stayed on minute 3 and minute 6 counted 1004 on the continuous
 * scale (12.86 kWh). */
static const int late_old_after[] = {9, 22};

static void feed_reset_minute(ing_rollup_t *r, int min)
{
    ing_reading_t rd =
        mk("s", "m", T0 + min * MIN, 60, reset_kwh(min, 1.0), ING_Q_GOOD);
    feed(r, &rd);
}

START_TEST(test_counter_reset_late_old_reading)
{
    ing_rollup_t *r = reset_rollup();
    const ing_interval_t *o;

    for (int min = 0; min < 36; min++) {
        if (min == 4 || min == 5)
            continue;
        feed_reset_minute(r, min);
        if (min == late_old_after[_i]) {
            feed_reset_minute(r, 4);
            feed_reset_minute(r, 5);
        }
        ck_assert_int_eq(ing_rollup_advance(r), 0);
    }
    o = find_iv(r, ING_SCOPE_METER, "m", T0);
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq_tol(o->energy_kwh, 15.0, 1e-9);
    ck_assert_int_eq(o->sample_count, 15);
    ck_assert_int_eq(o->revision, _i);
    ing_rollup_destroy(r);
}
END_TEST

/* A late reading is checked against its neighbours in time within its
 * counter segment, not only against the newest reading. */
static const check_step nb_steps[] = {
    {T0, 100.0, NULL},
    {T0 + MIN, 101.0, NULL},
    {T0 + 2 * MIN, 102.0, NULL},
    {T0 + 4 * MIN, 104.0, NULL},
    {T0 + 5 * MIN, 105.0, NULL},
    {T0 + 3 * MIN, 101.5, "below an earlier reading's 102.000000 kWh"},
    {T0 + 3 * MIN, 104.5, "above a later reading's 104.000000 kWh"},
    {T0 + 3 * MIN, 103.0, NULL},
    {T0 + 6 * MIN, 1.0, NULL}, /* candidate */
    {T0 + 7 * MIN, 2.0, NULL},
    {T0 + 9 * MIN, 4.0, NULL},
    {T0 + 10 * MIN, 5.0, NULL}, /* confirms */
    /* the old counter's segment, below its newest (105) */
    {T0 + 90 * 1000, 100.9, "below an earlier reading's 101.000000 kWh"},
    {T0 + 90 * 1000, 101.2, NULL},
    /* after the old counter's last reading: nothing after it in its segment */
    {T0 + 5 * MIN + 30 * 1000, 105.5, NULL},
    /* the new counter's segment, below its newest (5) */
    {T0 + 8 * MIN, 1.5, "below an earlier reading's 2.000000 kWh"},
    {T0 + 8 * MIN, 4.5, "above a later reading's 4.000000 kWh"},
    {T0 + 8 * MIN, 3.0, NULL},
    {T0 + 11 * MIN, 6.0, NULL},
};

static int nb_ts_cmp(const void *a, const void *b)
{
    const ing_reading_t *x = a, *y = b;
    return x->ts_ms < y->ts_ms ? -1 : x->ts_ms > y->ts_ms;
}

/* The checks in stream order; then the accepted readings restored in time
 * order into a new handle (a restart), which refuses the same late
 * readings. */
START_TEST(test_counter_late_neighbours)
{
    enum { N = sizeof nb_steps / sizeof nb_steps[0] };
    ing_rollup_t *r = reset_rollup(), *r2 = reset_rollup();
    ing_reading_t stored[N];
    size_t n = 0;

    for (size_t i = 0; i < N; i++) {
        expect_check(r, nb_steps, i);
        if (!nb_steps[i].reason)
            stored[n++] =
                mk("s", "m", nb_steps[i].ts, NAN, nb_steps[i].kwh, ING_Q_GOOD);
    }
    /* cppcheck-suppress uninitvar ; stored[0..n) was filled above */
    qsort(stored, n, sizeof *stored, nb_ts_cmp);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(ing_rollup_restore_reading(r2, &stored[i]), 0);
    ck_assert_int_eq(ing_rollup_restore_finish(r2, "s", NULL, 0), 0);
    for (size_t i = 0; i < N; i++)
        if (nb_steps[i].reason)
            expect_check(r2, nb_steps, i);
    ing_rollup_destroy(r);
    ing_rollup_destroy(r2);
}
END_TEST

static Suite *ingester_suite(void)
{
    Suite *s = suite_create("ingester");
    TCase *tc = tcase_create("validate");
    tcase_add_loop_test(tc, test_validate, 0, sizeof val_cases / sizeof val_cases[0]);
    tcase_add_test(tc, test_null_quantities_are_not_checked);
    tcase_add_test(tc, test_copy_binary_encoding);
    tcase_add_test(tc, test_counter_sequence);
    tcase_add_test(tc, test_unknown_and_wrong_site);
    suite_add_tcase(s, tc);
    tc = tcase_create("rollup");
    tcase_add_test(tc, test_rollup_two_intervals);
    tcase_add_test(tc, test_lateness_and_correction);
    tcase_add_test(tc, test_too_late_and_bad_quality);
    tcase_add_test(tc, test_site_counts_only_counted_meters);
    tcase_add_test(tc, test_future_reading_stops_at_clock);
    suite_add_tcase(s, tc);
    tc = tcase_create("reset");
    tcase_add_loop_test(tc, test_counter_reset_confirmed, 0,
                        sizeof reset_cases / sizeof reset_cases[0]);
    tcase_add_test(tc, test_counter_glitch_refused);
    tcase_add_test(tc, test_counter_reset_refusals);
    tcase_add_test(tc, test_counter_reset_pending_at_end);
    tcase_add_loop_test(tc, test_counter_two_resets_late, 0, 2);
    tcase_add_test(tc, test_counter_eight_resets_late);
    tcase_add_test(tc, test_counter_late_neighbours);
    tcase_add_loop_test(tc, test_counter_reset_late_old_reading, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("gaps");
    tcase_add_loop_test(tc, test_gap_classify, 0,
                        sizeof class_cases / sizeof class_cases[0]);
    tcase_add_test(tc, test_gap_open_grow_close_recover);
    tcase_add_loop_test(tc, test_gap_first_interval_late, 0,
                        sizeof catch_up_stop / sizeof catch_up_stop[0]);
    tcase_add_loop_test(tc, test_gap_waits_for_watermark, 0, 2);
    tcase_add_test(tc, test_gap_split_by_late_reading);
    tcase_add_test(tc, test_gap_ongoing_end_waits_for_watermark);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(ingester_suite(), 0);
}
