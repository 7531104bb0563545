/*
 * Unit tests of the ingester's restart recovery (ing_rollup restore API):
 * a stream cut at several points, the state rebuilt from what a database
 * would hold (the stored readings and 15-min rows), the stream continued;
 * the stored rollups must equal those of an uninterrupted run, and nothing
 * the database already holds is republished. Gaps: an ongoing stored gap is
 * taken over and closes under its own id with the next revision. No I/O.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_rollup.h"
#include "support/harness.h"

#define T0 1597449600000LL /* 2020-08-15T00:00:00Z */
#define MIN (60 * 1000LL)
#define QH (15 * MIN)
#define NMIN 240 /* four hours of minute readings */
#define BATCH 10 /* minutes per batch */
#define NREAD (2 * NMIN)
#define STORE_MAX 4096

static const ing_rollup_conf_t conf = {.interval_ms = QH,
                                       .lateness_ms = 5 * MIN,
                                       .horizon_ms = 3600000LL,
                                       .sample_period_ms = MIN,
                                       .accept_unknown = true};

static ing_reading_t readings[NREAD]; /* in event-time order */

static void make_readings(void)
{
    double kwh[2] = {100, 5000};
    for (int k = 0; k < NMIN; k++)
        for (int m = 0; m < 2; m++) {
            ing_reading_t *r = &readings[2 * k + m];
            double kw = m == 0 ? 10 + k % 7 : 5 + (k % 3) * 2.5;
            memset(r, 0, sizeof *r);
            snprintf(r->site_id, sizeof r->site_id, "s");
            snprintf(r->meter_id, sizeof r->meter_id, "%s", m ? "b" : "a");
            r->ts_ms = T0 + k * MIN + 7000 * m;
            r->present = ING_HAS_POWER | ING_HAS_ENERGY;
            r->power_kw = kw;
            r->energy_kwh = kwh[m];
            r->quality = ING_Q_GOOD;
            kwh[m] += kw / 60.0;
        }
}

/* A stand-in for rollup_15m: the row with the highest revision wins. */
typedef struct store {
    ing_interval_t rows[STORE_MAX];
    size_t n;
} store_t;

static ing_interval_t *store_find(store_t *s, const ing_interval_t *o)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->rows[i].scope == o->scope && s->rows[i].start_ms == o->start_ms &&
            strcmp(s->rows[i].meter_id, o->meter_id) == 0)
            return &s->rows[i];
    return NULL;
}

static void store_outputs(store_t *s, ing_rollup_t *r)
{
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;

    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    for (size_t i = 0; i < niv; i++) {
        ing_interval_t *row = store_find(s, &iv[i]);
        if (!row) {
            ck_assert_uint_lt(s->n, STORE_MAX);
            s->rows[s->n++] = iv[i];
        } else {
            ck_assert_msg(iv[i].revision > row->revision,
                          "revision %d republished (stored %d) at %lld", iv[i].revision,
                          row->revision, (long long)(iv[i].start_ms - T0) / MIN);
            *row = iv[i];
        }
    }
}

/* Feeds minutes [from, to) as batches of BATCH minutes; outputs of each
 * batch go to s unless it is the batch ending at lose_at. Returns the
 * number of intervals lost that way. */
static size_t run(ing_rollup_t *r, store_t *s, int from, int to, int lose_at)
{
    char reason[200];
    size_t lost = 0;
    for (int b = from; b < to; b += BATCH) {
        ing_rollup_clear(r);
        for (int i = 2 * b; i < 2 * (b + BATCH) && i < 2 * to; i++) {
            ck_assert_msg(ing_rollup_check(r, &readings[i], reason, sizeof reason) == 0,
                          "%s", reason);
            ck_assert_int_eq(ing_rollup_add(r, &readings[i]), ING_ADD_USED);
        }
        ck_assert_int_eq(ing_rollup_advance(r), 0);
        if (b + BATCH != lose_at) {
            store_outputs(s, r);
        } else {
            const ing_interval_t *iv;
            const ing_gap_t *g;
            size_t ng;
            ing_rollup_outputs(r, &iv, &lost, &g, &ng);
        }
    }
    ing_rollup_clear(r);
    return lost;
}

/* What the service does at a start: readings of the window, then the
 * stored rows. Returns how many intervals the restore emitted. */
static size_t restore(ing_rollup_t *r, store_t *s, int upto)
{
    int64_t max_ts = readings[2 * upto - 1].ts_ms;
    int64_t from = max_ts - (conf.lateness_ms + conf.horizon_ms + 2 * QH);
    static ing_interval_t copy[STORE_MAX];
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng;

    for (int i = 0; i < 2 * upto; i++)
        if (readings[i].ts_ms >= from)
            ck_assert_int_eq(ing_rollup_restore_reading(r, &readings[i]), 0);
    memcpy(copy, s->rows, s->n * sizeof *copy);
    ck_assert_int_eq(ing_rollup_restore_finish(r, "s", copy, s->n), 0);
    ck_assert(ing_rollup_restored(r, "s"));
    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    store_outputs(s, r);
    ing_rollup_clear(r);
    return niv;
}

/* got holds every row of ref with the same values. */
static void assert_same_store(store_t *got, store_t *ref)
{
    ck_assert_uint_eq(got->n, ref->n);
    for (size_t i = 0; i < ref->n; i++) {
        const ing_interval_t *e = &ref->rows[i], *o = store_find(got, e);
        ck_assert_msg(o != NULL, "interval %lld of '%s' missing",
                      (long long)(e->start_ms - T0) / MIN, e->meter_id);
        ck_assert_int_eq(o->sample_count, e->sample_count);
        ck_assert_msg(
            fabs(o->energy_kwh - e->energy_kwh) < 1e-9 * fmax(1, e->energy_kwh),
            "'%s' %lld: %.9f != %.9f", e->meter_id, (long long)(e->start_ms - T0) / MIN,
            o->energy_kwh, e->energy_kwh);
        ck_assert_double_eq_tol(o->peak_kw, e->peak_kw, 1e-9);
    }
}

static const struct {
    int cut;  /* minutes stored before the crash */
    int lose; /* 1: the last batch's rollups were not stored */
} cuts[] = {
    {10, 0}, {20, 1}, {30, 1}, {60, 0}, {70, 1}, {130, 0}, {140, 1}, {200, 0}, {230, 1},
};

START_TEST(test_restart_matches_uninterrupted)
{
    static store_t ref, got;
    ing_rollup_t *a = ing_rollup_new(&conf), *b, *c = ing_rollup_new(&conf);
    int cut = cuts[_i].cut;
    size_t emitted, lost;

    make_readings();
    memset(&ref, 0, sizeof ref);
    memset(&got, 0, sizeof got);
    run(c, &ref, 0, NMIN, -1);
    lost = run(a, &got, 0, cut, cuts[_i].lose ? cut : -1);
    ing_rollup_destroy(a); /* the crash */
    b = ing_rollup_new(&conf);
    ck_assert(!ing_rollup_restored(b, "s"));
    emitted = restore(b, &got, cut);
    /* only what the database lacks is emitted again */
    ck_assert_uint_eq(emitted, lost);
    if (cuts[_i].cut == 30 || cuts[_i].cut == 70)
        ck_assert_uint_gt(lost, 0);
    run(b, &got, cut, NMIN, -1);
    assert_same_store(&got, &ref);
    ing_rollup_destroy(b);
    ing_rollup_destroy(c);
}
END_TEST

/* One batch of minutes 60..200 (more than the 1-h correction horizon) is
 * stored but its rollups are lost (a crash before the rollup transaction,
 * as after a long replay consumed in large batches). The restore feeds the
 * stored readings from just after the latest stored site interval on
 * (ing_rollup_restore_from, as ing_recover does): every lost interval is
 * published again, also those past the horizon, and nothing stored is. */
START_TEST(test_restart_after_long_lost_batch)
{
    static store_t ref, got;
    static ing_interval_t copy[STORE_MAX];
    ing_rollup_t *a = ing_rollup_new(&conf), *b, *c = ing_rollup_new(&conf);
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng, lost;
    int64_t last = INT64_MIN, from;
    char reason[200];

    make_readings();
    memset(&ref, 0, sizeof ref);
    memset(&got, 0, sizeof got);
    run(c, &ref, 0, NMIN, -1);
    run(a, &got, 0, 60, -1);
    ing_rollup_clear(a);
    for (int i = 2 * 60; i < 2 * 200; i++) {
        ck_assert_msg(ing_rollup_check(a, &readings[i], reason, sizeof reason) == 0,
                      "%s", reason);
        ck_assert_int_eq(ing_rollup_add(a, &readings[i]), ING_ADD_USED);
    }
    ck_assert_int_eq(ing_rollup_advance(a), 0);
    ing_rollup_outputs(a, &iv, &lost, &g, &ng);
    ck_assert_uint_ge(lost, 3 * 8); /* 8 quarter-hours, 2 meters and the site */
    ing_rollup_destroy(a);          /* the crash */

    for (size_t i = 0; i < got.n; i++)
        if (got.rows[i].scope == ING_SCOPE_SITE && got.rows[i].start_ms > last)
            last = got.rows[i].start_ms;
    from = last + 1;
    b = ing_rollup_new(&conf);
    ck_assert_int_eq(ing_rollup_restore_from(b, "s", from), 0);
    for (int i = 0; i < 2 * 200; i++)
        if (readings[i].ts_ms >= from)
            ck_assert_int_eq(ing_rollup_restore_reading(b, &readings[i]), 0);
    memcpy(copy, got.rows, got.n * sizeof *copy);
    ck_assert_int_eq(ing_rollup_restore_finish(b, "s", copy, got.n), 0);
    ing_rollup_outputs(b, &iv, &niv, &g, &ng);
    ck_assert_uint_eq(niv, lost);
    store_outputs(&got, b);
    ing_rollup_clear(b);
    run(b, &got, 200, NMIN, -1);
    assert_same_store(&got, &ref);
    ing_rollup_destroy(b);
    ing_rollup_destroy(c);
}
END_TEST

/* b reports every quarter-hour, a in quarter-hours 0 and 1, then from 6 on.
 * The restart happens while a's gap is open. */
START_TEST(test_restart_keeps_open_gap)
{
    ing_rollup_conf_t gc = {.interval_ms = QH,
                            .sample_period_ms = QH,
                            .horizon_ms = 6 * 3600000LL,
                            .accept_unknown = true};
    ing_rollup_t *r = ing_rollup_new(&gc);
    ing_reading_t rd[16];
    ing_gap_t stored;
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng, n = 0;
    char reason[200];

    for (int k = 0; k <= 5; k++) {
        rd[n] = (ing_reading_t){.site_id = "s",
                                .meter_id = "b",
                                .ts_ms = T0 + k * QH,
                                .present = ING_HAS_POWER,
                                .power_kw = 10};
        ck_assert_int_eq(ing_rollup_check(r, &rd[n], reason, sizeof reason), 0);
        ing_rollup_add(r, &rd[n++]);
        if (k <= 1) {
            rd[n] = rd[n - 1];
            snprintf(rd[n].meter_id, sizeof rd[n].meter_id, "a");
            ck_assert_int_eq(ing_rollup_check(r, &rd[n], reason, sizeof reason), 0);
            ing_rollup_add(r, &rd[n++]);
        }
        ing_rollup_advance(r);
    }
    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    ck_assert_uint_ge(ng, 1);
    stored = g[ng - 1];
    ck_assert(stored.ongoing);
    ck_assert_int_eq(stored.missing_intervals, 3);
    ing_rollup_destroy(r);

    r = ing_rollup_new(&gc);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(ing_rollup_restore_reading(r, &rd[i]), 0);
    ck_assert_int_eq(ing_rollup_restore_gap(r, &stored), 0);
    ck_assert_int_eq(ing_rollup_restore_finish(r, "s", NULL, 0), 0);
    ck_assert_uint_eq(ing_rollup_open_gaps(r), 1);
    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    ck_assert_uint_eq(ng, 0); /* unchanged since stored */
    ing_rollup_clear(r);

    rd[0].ts_ms = T0 + 6 * QH;
    rd[1] = rd[0];
    snprintf(rd[1].meter_id, sizeof rd[1].meter_id, "a");
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(ing_rollup_check(r, &rd[i], reason, sizeof reason), 0);
        ing_rollup_add(r, &rd[i]);
    }
    ing_rollup_advance(r);
    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    ck_assert_uint_eq(ng, 1);
    ck_assert_str_eq(g[0].gap_id, stored.gap_id);
    ck_assert_int_eq(g[0].revision, stored.revision + 1);
    ck_assert(!g[0].ongoing);
    ck_assert_int_eq(g[0].missing_intervals, 4);
    ck_assert_int_eq(g[0].end_ms, T0 + 6 * QH);
    ck_assert_uint_eq(ing_rollup_open_gaps(r), 0);
    ing_rollup_destroy(r);
}
END_TEST

/* a reports at minutes 0 and 31 (lateness 5 min): quarter-hour 1 is
 * skipped, and its gap waits for the watermark to pass 00:30. case 0 and 1:
 * the restart comes before that; the gap is rebuilt from the stored
 * readings, not published by the restore, and then published when minute
 * 36 moves the watermark past it (case 0), or never when the missing
 * minute 20 arrives first (case 1). case 2: the restart comes after minute
 * 36, when the gap was published and stored; it is taken over from the
 * gaps table, not published again, and minute 20 recovers it. */
static ing_reading_t reading_a(int min)
{
    return (ing_reading_t){.site_id = "s",
                           .meter_id = "a",
                           .ts_ms = T0 + min * MIN,
                           .present = ING_HAS_POWER,
                           .power_kw = 10,
                           .quality = ING_Q_GOOD};
}

static size_t feed_gaps(ing_rollup_t *r, int min, const ing_gap_t **g)
{
    ing_reading_t rd = reading_a(min);
    const ing_interval_t *iv;
    size_t niv, ng;
    char reason[200];

    ing_rollup_clear(r);
    ck_assert_int_eq(ing_rollup_check(r, &rd, reason, sizeof reason), 0);
    ck_assert_int_eq(ing_rollup_add(r, &rd), ING_ADD_USED);
    ck_assert_int_eq(ing_rollup_advance(r), 0);
    ing_rollup_outputs(r, &iv, &niv, g, &ng);
    return ng;
}

START_TEST(test_restart_keeps_pending_gap)
{
    ing_rollup_conf_t gc = {.interval_ms = QH,
                            .lateness_ms = 5 * MIN,
                            .sample_period_ms = QH,
                            .horizon_ms = 6 * 3600000LL,
                            .accept_unknown = true};
    static const int before[] = {0, 31, 36};
    int nbefore = _i == 2 ? 3 : 2;
    ing_rollup_t *r = ing_rollup_new(&gc);
    ing_gap_t stored = {0};
    const ing_interval_t *iv;
    const ing_gap_t *g;
    size_t niv, ng, published = 0;

    for (int k = 0; k < nbefore; k++)
        if ((ng = feed_gaps(r, before[k], &g)) > 0) {
            stored = g[0];
            published += ng;
        }
    ck_assert_uint_eq(published, (_i == 2 ? 1u : 0u)); /* at minute 36 only */
    ing_rollup_destroy(r);                             /* the restart */

    r = ing_rollup_new(&gc);
    for (int k = 0; k < nbefore; k++) {
        ing_reading_t rd = reading_a(before[k]);
        ck_assert_int_eq(ing_rollup_restore_reading(r, &rd), 0);
    }
    if (_i == 2)
        ck_assert_int_eq(ing_rollup_restore_gap(r, &stored), 0);
    ck_assert_int_eq(ing_rollup_restore_finish(r, "s", NULL, 0), 0);
    ing_rollup_outputs(r, &iv, &niv, &g, &ng);
    ck_assert_uint_eq(ng, 0);

    if (_i == 0) {
        ck_assert_uint_eq(feed_gaps(r, 36, &g), 1);
        ck_assert_str_eq(g[0].gap_id, "a@2020-08-15T00:15:00Z");
        ck_assert_int_eq(g[0].revision, 0);
        ck_assert_int_eq(g[0].end_ms, T0 + 2 * QH);
        ck_assert_int_eq(g[0].missing_intervals, 1);
        ck_assert(!g[0].ongoing && !g[0].recovered);
    } else if (_i == 1) {
        ck_assert_uint_eq(feed_gaps(r, 20, &g), 0);
        ck_assert_uint_eq(feed_gaps(r, 36, &g), 0);
        ck_assert_uint_eq(feed_gaps(r, 50, &g), 0);
    } else {
        ck_assert_uint_eq(feed_gaps(r, 40, &g), 0);
        ck_assert_uint_eq(feed_gaps(r, 20, &g), 1);
        ck_assert_str_eq(g[0].gap_id, stored.gap_id);
        ck_assert_int_eq(g[0].revision, 1);
        ck_assert(g[0].recovered);
    }
    ing_rollup_destroy(r);
}
END_TEST

/* A failed write forgets the site; a second restore starts from scratch. */
START_TEST(test_forget_site)
{
    ing_rollup_t *r = ing_rollup_new(&conf);
    make_readings();
    ck_assert_int_eq(ing_rollup_restore_reading(r, &readings[0]), 0);
    ck_assert_int_eq(ing_rollup_restore_finish(r, "s", NULL, 0), 0);
    ck_assert(ing_rollup_restored(r, "s"));
    ing_rollup_forget_site(r, "s");
    ck_assert(!ing_rollup_restored(r, "s"));
    ck_assert_int_eq(ing_rollup_watermark(r, "s"), INT64_MIN);
    ing_rollup_forget_site(r, "unknown"); /* no-op */
    ing_rollup_destroy(r);
}
END_TEST

/* A rebalance forgets every site: each is restored again when it comes. */
START_TEST(test_forget_all)
{
    ing_rollup_t *r = ing_rollup_new(&conf);
    ing_reading_t other;

    make_readings();
    other = readings[0];
    snprintf(other.site_id, sizeof other.site_id, "t");
    snprintf(other.meter_id, sizeof other.meter_id, "t-m1");
    ck_assert_int_eq(ing_rollup_restore_reading(r, &readings[0]), 0);
    ck_assert_int_eq(ing_rollup_restore_finish(r, "s", NULL, 0), 0);
    ck_assert_int_eq(ing_rollup_restore_reading(r, &other), 0);
    ck_assert_int_eq(ing_rollup_restore_finish(r, "t", NULL, 0), 0);
    ck_assert(ing_rollup_restored(r, "s") && ing_rollup_restored(r, "t"));
    ck_assert_int_ne(ing_rollup_watermark(r, "t"), INT64_MIN);
    ing_rollup_forget_all(r);
    ck_assert(!ing_rollup_restored(r, "s"));
    ck_assert(!ing_rollup_restored(r, "t"));
    ck_assert_int_eq(ing_rollup_watermark(r, "s"), INT64_MIN);
    ck_assert_int_eq(ing_rollup_watermark(r, "t"), INT64_MIN);
    /* restored again from scratch */
    ck_assert_int_eq(ing_rollup_restore_reading(r, &other), 0);
    ck_assert_int_eq(ing_rollup_restore_finish(r, "t", NULL, 0), 0);
    ck_assert(ing_rollup_restored(r, "t"));
    ck_assert(!ing_rollup_restored(r, "s"));
    ing_rollup_destroy(r);
}
END_TEST

/* Restores site id from one stored reading (readings[0] renamed). */
static void restore_site(ing_rollup_t *r, const char *id)
{
    ing_reading_t rd = readings[0];

    snprintf(rd.site_id, sizeof rd.site_id, "%s", id);
    snprintf(rd.meter_id, sizeof rd.meter_id, "%s-m1", id);
    ck_assert_int_eq(ing_rollup_restore_reading(r, &rd), 0);
    ck_assert_int_eq(ing_rollup_restore_finish(r, id, NULL, 0), 0);
    ck_assert(ing_rollup_restored(r, id));
}

/* The partitions a rebalance took away (ctx: a bit per partition). */
static bool moved_bit(int32_t partition, void *ctx)
{
    return (*(unsigned *)ctx >> partition) & 1u;
}

/* A rebalance forgets the sites seen on a partition taken away (one seen
 * on several partitions if any of them was taken, one whose partitions are
 * unknown too) and keeps the others as they are. */
START_TEST(test_forget_moved)
{
    ing_rollup_t *r = ing_rollup_new(&conf);
    unsigned moved = 1u << 1;

    make_readings();
    restore_site(r, "kept");
    restore_site(r, "moved");
    restore_site(r, "both");
    restore_site(r, "unknown");
    ck_assert_int_eq(ing_rollup_note_partition(r, "kept", 0), 0);
    ck_assert_int_eq(ing_rollup_note_partition(r, "kept", 0), 0);
    ck_assert_int_eq(ing_rollup_note_partition(r, "kept", 2), 0);
    ck_assert_int_eq(ing_rollup_note_partition(r, "moved", 1), 0);
    ck_assert_int_eq(ing_rollup_note_partition(r, "both", 0), 0);
    ck_assert_int_eq(ing_rollup_note_partition(r, "both", 1), 0);
    ck_assert_uint_eq(ing_rollup_forget_moved(r, moved_bit, &moved), 3);
    ck_assert(ing_rollup_restored(r, "kept"));
    ck_assert_int_ne(ing_rollup_watermark(r, "kept"), INT64_MIN);
    ck_assert(!ing_rollup_restored(r, "moved"));
    ck_assert(!ing_rollup_restored(r, "both"));
    ck_assert(!ing_rollup_restored(r, "unknown"));
    ck_assert_int_eq(ing_rollup_watermark(r, "moved"), INT64_MIN);
    /* nothing moved: nothing forgotten */
    moved = 0;
    restore_site(r, "moved");
    ck_assert_uint_eq(ing_rollup_forget_moved(r, moved_bit, &moved), 0);
    ck_assert(ing_rollup_restored(r, "moved"));
    ing_rollup_destroy(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ingester-restore");
    TCase *tc = tcase_create("restore");
    tcase_add_loop_test(tc, test_restart_matches_uninterrupted, 0,
                        sizeof cuts / sizeof cuts[0]);
    tcase_add_test(tc, test_restart_after_long_lost_batch);
    tcase_add_test(tc, test_restart_keeps_open_gap);
    tcase_add_loop_test(tc, test_restart_keeps_pending_gap, 0, 3);
    tcase_add_test(tc, test_forget_site);
    tcase_add_test(tc, test_forget_all);
    tcase_add_test(tc, test_forget_moved);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
