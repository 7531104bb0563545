/*
 * Unit tests of the ingester's rollup core (ing_rollup) against the batch
 * size: a month of readings of one site (three counted meters and a
 * sub-meter, 5-min and 15-min periods, counters and power-only, a few
 * readings of bad quality, readings late within the lateness, two gaps of
 * one meter, one of them longer than the correction horizon, and an ongoing
 * gap at the end) is fed in batches of every size from one reading to the
 * whole month. Every batch size must publish the same meter and site
 * intervals (energy, mean, peak, minimum, sample count, completeness,
 * revision) and leave the same gaps as the readings fed one at a time, and
 * every site interval must be the sum of its counted meters. No I/O.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_rollup.h"
#include "support/harness.h"

#define T0 1577836800000LL /* 2020-01-01T00:00:00Z */
#define MIN (60 * 1000LL)
#define QH (15 * MIN)
#define HOUR (60 * MIN)
#define DAYS 30
#define NQH (DAYS * 96)

static const ing_rollup_conf_t conf = {.interval_ms = QH,
                                       .lateness_ms = 5 * MIN,
                                       .horizon_ms = 0, /* the default: 24 h */
                                       .sample_period_ms = QH,
                                       .accept_unknown = true};

/* m2 is silent for 6 h on day 10 (a moderate gap) and for 30 h from day 19
 * (critical, longer than the correction horizon), and stops 3 h before the
 * end (an ongoing gap). */
#define GAP1_FROM (10 * 96 + 20)
#define GAP1_LEN 24
#define GAP2_FROM (19 * 96 + 40)
#define GAP2_LEN 120
#define STOP_FROM (NQH - 12)

static ing_reading_t *readings; /* in arrival order */
static size_t nreadings;

static void add_reading(const char *meter, int64_t ts, double kw, double kwh,
                        ing_quality_t q)
{
    ing_reading_t *r = &readings[nreadings++];

    memset(r, 0, sizeof *r);
    snprintf(r->site_id, sizeof r->site_id, "s");
    snprintf(r->meter_id, sizeof r->meter_id, "%s", meter);
    r->ts_ms = ts;
    r->quality = q;
    if (!isnan(kw)) {
        r->present |= ING_HAS_POWER;
        r->power_kw = kw;
    }
    if (!isnan(kwh)) {
        r->present |= ING_HAS_ENERGY;
        r->energy_kwh = kwh;
    }
}

/* A load shape with a daily cycle, different per meter. */
static double load(int meter, int64_t ts)
{
    double h = (double)((ts - T0) % (24 * HOUR)) / (double)HOUR;
    return 200.0 * (meter + 1) + 80.0 * sin(h / 24.0 * 2 * M_PI + meter) +
           (double)((ts / MIN) % 7);
}

static void make_month(void)
{
    double kwh0 = 1000, kwh3 = 50;

    readings = calloc((size_t)NQH * 8, sizeof *readings);
    ck_assert_ptr_nonnull(readings);
    nreadings = 0;
    for (int q = 0; q < NQH; q++) {
        int64_t t = T0 + q * QH;
        /* m0: every 5 min, power and an import counter */
        for (int k = 0; k < 3; k++) {
            int64_t ts = t + k * 5 * MIN;
            double kw = load(0, ts);
            add_reading("m0", ts, kw, kwh0, ING_Q_GOOD);
            kwh0 += kw / 12.0;
            /* m1: every 15 min at 12 min, power only, arriving after m0's
             * next reading (late within the 5-min lateness); every 50th
             * interval also has a stale reading */
            if (k == 0 && q > 0)
                add_reading("m1", t - 3 * MIN, load(1, t - QH), NAN, ING_Q_GOOD);
            if (k == 0 && q % 50 == 7)
                add_reading("m1", t - 2 * MIN, 9999, NAN, ING_Q_STALE);
        }
        /* m2: every 15 min at +1 min, power only, with gaps */
        if (!(q >= GAP1_FROM && q < GAP1_FROM + GAP1_LEN) &&
            !(q >= GAP2_FROM && q < GAP2_FROM + GAP2_LEN) && q < STOP_FROM)
            add_reading("m2", t + MIN, load(2, t), NAN, ING_Q_GOOD);
        /* m3: a sub-meter (not counted), every 15 min with a counter */
        add_reading("m3", t + 2 * MIN, 40, kwh3, ING_Q_GOOD);
        kwh3 += 10;
    }
    add_reading("m1", T0 + NQH * QH - 3 * MIN, load(1, T0 + (NQH - 1) * QH), NAN,
                ING_Q_GOOD);
    /* a reading at the end moves the watermark past the last interval */
    add_reading("m0", T0 + NQH * QH + 10 * MIN, load(0, T0), kwh0, ING_Q_GOOD);
}

/* The published records of one run. */
typedef struct run {
    ing_interval_t *iv;
    size_t niv, ivcap;
    ing_gap_t *gap;
    size_t ngap, gapcap;
} run_t;

static void collect(run_t *run, ing_rollup_t *r)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;

    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    if (run->niv + niv > run->ivcap) {
        run->ivcap = 2 * (run->niv + niv);
        run->iv = realloc(run->iv, run->ivcap * sizeof *run->iv);
        ck_assert_ptr_nonnull(run->iv);
    }
    if (run->ngap + ng > run->gapcap) {
        run->gapcap = 2 * (run->ngap + ng) + 8;
        run->gap = realloc(run->gap, run->gapcap * sizeof *run->gap);
        ck_assert_ptr_nonnull(run->gap);
    }
    if (niv)
        memcpy(run->iv + run->niv, iv, niv * sizeof *iv);
    run->niv += niv;
    if (ng)
        memcpy(run->gap + run->ngap, g, ng * sizeof *g);
    run->ngap += ng;
    ing_rollup_clear(r);
}

/* Feeds the month batch by batch (each reading checked and added, then one
 * advance per batch, as the service does) and collects everything. */
static void run_batches(run_t *run, size_t batch)
{
    ing_rollup_t *r = ing_rollup_new(&conf);
    char reason[200];

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(ing_rollup_set_meter(r, "m0", "s", true, 5 * MIN), 0);
    ck_assert_int_eq(ing_rollup_set_meter(r, "m3", "s", false, 0), 0);
    memset(run, 0, sizeof *run);
    for (size_t i = 0; i < nreadings; i += batch) {
        size_t end = i + batch < nreadings ? i + batch : nreadings;
        for (size_t j = i; j < end; j++) {
            ck_assert_msg(ing_rollup_check(r, &readings[j], reason, sizeof reason) == 0,
                          "%s", reason);
            ck_assert_int_ne(ing_rollup_add(r, &readings[j]), ING_ADD_ERROR);
        }
        ck_assert_int_eq(ing_rollup_advance(r), 0);
        collect(run, r);
    }
    ing_rollup_destroy(r);
}

static void run_free(run_t *run)
{
    free(run->iv);
    free(run->gap);
}

static int iv_cmp(const void *pa, const void *pb)
{
    const ing_interval_t *a = pa, *b = pb;
    int c;

    if (a->scope != b->scope)
        return a->scope < b->scope ? -1 : 1;
    if ((c = strcmp(a->meter_id, b->meter_id)) != 0)
        return c;
    if (a->start_ms != b->start_ms)
        return a->start_ms < b->start_ms ? -1 : 1;
    return a->revision < b->revision ? -1 : a->revision > b->revision;
}

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1.0, fabs(a));
}

static void assert_same_interval(const ing_interval_t *a, const ing_interval_t *b,
                                 size_t batch)
{
    char what[160];

    snprintf(what, sizeof what, "batch %zu, %s '%s' at +%lld min rev %d", batch,
             a->scope == ING_SCOPE_SITE ? "site" : "meter", a->meter_id,
             (long long)((a->start_ms - T0) / MIN), a->revision);
    ck_assert_msg(a->scope == b->scope && strcmp(a->meter_id, b->meter_id) == 0 &&
                      a->start_ms == b->start_ms && a->end_ms == b->end_ms &&
                      a->revision == b->revision && strcmp(a->site_id, b->site_id) == 0,
                  "%s: key differs", what);
    ck_assert_msg(near(a->energy_kwh, b->energy_kwh), "%s: energy %.6f vs %.6f", what,
                  a->energy_kwh, b->energy_kwh);
    ck_assert_msg(near(a->mean_kw, b->mean_kw), "%s: mean %.6f vs %.6f", what,
                  a->mean_kw, b->mean_kw);
    ck_assert_msg(near(a->peak_kw, b->peak_kw), "%s: peak %.6f vs %.6f", what,
                  a->peak_kw, b->peak_kw);
    ck_assert_msg(a->has_min == b->has_min && near(a->min_kw, b->min_kw),
                  "%s: min %.6f vs %.6f", what, a->min_kw, b->min_kw);
    ck_assert_msg(a->sample_count == b->sample_count, "%s: samples %d vs %d", what,
                  a->sample_count, b->sample_count);
    ck_assert_msg(near(a->completeness, b->completeness),
                  "%s: completeness %.4f vs %.4f", what, a->completeness,
                  b->completeness);
}

/* Every site interval is the sum of the counted meters' intervals of the
 * same start (iv sorted by iv_cmp, one revision each). */
static void assert_site_sums(const run_t *run, size_t batch)
{
    size_t nsite = 0;

    for (size_t i = 0; i < run->niv; i++) {
        const ing_interval_t *s = &run->iv[i];
        double e = 0, peak = 0;
        int32_t n = 0;
        if (s->scope != ING_SCOPE_SITE)
            continue;
        nsite++;
        for (size_t j = 0; j < run->niv; j++) {
            const ing_interval_t *m = &run->iv[j];
            if (m->scope == ING_SCOPE_METER && m->start_ms == s->start_ms &&
                strcmp(m->meter_id, "m3") != 0) {
                e += m->energy_kwh;
                peak += m->peak_kw;
                n += m->sample_count;
            }
        }
        ck_assert_msg(e > 100 && near(s->energy_kwh, e) && near(s->peak_kw, peak) &&
                          s->sample_count == n,
                      "batch %zu: site at +%lld min: %.3f kWh / %d samples, meters "
                      "%.3f kWh / %d samples",
                      batch, (long long)((s->start_ms - T0) / MIN), s->energy_kwh,
                      s->sample_count, e, n);
    }
    ck_assert_uint_eq(nsite, NQH);
}

/* The last state of each gap (by id), published revisions counted. */
static const ing_gap_t *final_gap(const run_t *run, const char *gap_id)
{
    const ing_gap_t *last = NULL;
    for (size_t i = 0; i < run->ngap; i++)
        if (strcmp(run->gap[i].gap_id, gap_id) == 0 &&
            (!last || run->gap[i].revision > last->revision))
            last = &run->gap[i];
    return last;
}

static const size_t batch_sizes[] = {90, 1000, 20000, NQH * 8};

START_TEST(test_batch_equals_one_at_a_time)
{
    size_t batch = batch_sizes[_i];
    run_t one, big;

    make_month();
    run_batches(&one, 1);
    run_batches(&big, batch);
    /* 4 meters and the site, every interval closed once (revision 0) */
    ck_assert_uint_eq(one.niv,
                      5 * (size_t)NQH - GAP1_LEN - GAP2_LEN - (NQH - STOP_FROM));
    ck_assert_uint_eq(big.niv, one.niv);
    qsort(one.iv, one.niv, sizeof *one.iv, iv_cmp);
    qsort(big.iv, big.niv, sizeof *big.iv, iv_cmp);
    for (size_t i = 0; i < one.niv; i++)
        assert_same_interval(&big.iv[i], &one.iv[i], batch);
    assert_site_sums(&one, 1);
    assert_site_sums(&big, batch);

    /* gaps: the same ids end in the same state (a long batch publishes fewer
     * intermediate revisions of a gap it opens and closes itself) */
    {
        static const struct {
            int from, len;
            bool ongoing;
            ing_gap_class_t cls;
        } want[] = {
            {GAP1_FROM, GAP1_LEN, false, ING_GAP_MODERATE},
            {GAP2_FROM, GAP2_LEN, false, ING_GAP_CRITICAL},
            {STOP_FROM, NQH - STOP_FROM, true, ING_GAP_MODERATE},
        };
        size_t ids = 0;
        for (size_t i = 0; i < one.ngap; i++)
            ids += final_gap(&one, one.gap[i].gap_id) == &one.gap[i];
        ck_assert_uint_eq(ids, 3);
        for (size_t k = 0; k < 3; k++) {
            const ing_gap_t *a, *b;
            size_t j;
            for (j = 0; j < one.ngap; j++)
                if (one.gap[j].start_ms == T0 + want[k].from * QH)
                    break;
            ck_assert_uint_lt(j, one.ngap);
            a = final_gap(&one, one.gap[j].gap_id);
            b = final_gap(&big, one.gap[j].gap_id);
            ck_assert_msg(b != NULL, "batch %zu: gap %s not published", batch,
                          a->gap_id);
            ck_assert_str_eq(a->meter_id, "m2");
            ck_assert_int_eq(a->ongoing, want[k].ongoing);
            ck_assert_int_eq(a->missing_intervals, want[k].len);
            ck_assert_int_eq(a->gap_class, want[k].cls);
            ck_assert(!a->recovered);
            if (!want[k].ongoing)
                ck_assert_int_eq(a->end_ms, T0 + (want[k].from + want[k].len) * QH);
            ck_assert_int_eq(b->start_ms, a->start_ms);
            ck_assert_int_eq(b->end_ms, a->end_ms);
            ck_assert_int_eq(b->missing_intervals, a->missing_intervals);
            ck_assert_int_eq(b->gap_class, a->gap_class);
            ck_assert_int_eq(b->ongoing, a->ongoing);
            ck_assert_int_eq(b->recovered, a->recovered);
        }
        for (size_t i = 0; i < big.ngap; i++)
            ck_assert_ptr_nonnull(final_gap(&one, big.gap[i].gap_id));
    }
    run_free(&one);
    run_free(&big);
    free(readings);
}
END_TEST

static Suite *ingester_batch_suite(void)
{
    Suite *s = suite_create("ingester_batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_batch_equals_one_at_a_time, 0,
                        sizeof batch_sizes / sizeof batch_sizes[0]);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(ingester_batch_suite(), 0);
}
