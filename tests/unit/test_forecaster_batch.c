/* Regression test 1 of the forecaster's event time: the runs of a site do
 * not depend on how its records are batched.
 *
 * Ten weeks of 15-min load and weather (a forecast of each UTC day issued at
 * 00:00 the day before, the observation of each day issued at 00:00 the day
 * after) go into a site one record at a time, each followed by the runs it
 * made due, and as one batch. Every run, day-ahead and intraday, must come
 * out with the same issue time, model, version and P10/P50/P90: a batch
 * spanning weeks of event time neither skips runs that fell due inside it
 * nor lets them see data issued after them (the observations would). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecaster/fc_codec.h"
#include "forecaster/fc_site.h"
#include "forecaster/fc_wxfile.h"
#include "support/harness.h"

#define H 3600
#define DAY 86400
#define WEEKS 10
#define NSLOT 96

static int64_t day0;

/* Deterministic noise in [-1, 1). */
static double noise(int64_t t, unsigned salt)
{
    uint64_t x = (uint64_t)t * 6364136223846793005ULL + salt * 1442695040888963407ULL;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (double)(x >> 11) / (double)(1ULL << 52) - 1.0;
}

static double temp_true(int64_t t)
{
    double d = (double)(t - day0) / DAY;
    return 16.0 - 0.12 * d + 5.0 * sin(2 * M_PI * (d - 0.375)) +
           5.0 * noise(t / DAY, 3) + 0.5 * noise(t, 1);
}

static double load_kw(int64_t t)
{
    double d = (double)(t - day0) / DAY;
    int wd = (int)((t / DAY + 4) % 7); /* 0 = Sunday */
    double day_shape = sin(M_PI * fmod(d, 1.0));
    double work = wd == 0 || wd == 6 ? 0.55 : 1.0;
    return 400.0 + 300.0 * work * day_shape + 25.0 * (18.0 - temp_true(t)) +
           8.0 * noise(t, 2);
}

/* ---- records in event-time order ---- */

typedef struct rec {
    int is_load;
    int64_t t; /* load: interval start; weather: first slot */
    int observed;
    int64_t issued;
} rec;

static rec *recs;
static size_t nrec;

static void add(int is_load, int64_t t, int observed, int64_t issued)
{
    recs[nrec++] = (rec){is_load, t, observed, issued};
}

/* At every day boundary X: the observation of X-1 and the forecast of X+1
 * (both issued at X) go before the interval that ends at X. */
static void make_records(void)
{
    int64_t end = day0 + WEEKS * 7 * DAY;
    recs = calloc((size_t)(WEEKS * 7 * (NSLOT + 2) + 4), sizeof *recs);
    ck_assert_ptr_nonnull(recs);
    nrec = 0;
    add(0, day0, 0, day0 - DAY); /* forecast of the first day */
    add(0, day0 + DAY, 0, day0);
    for (int64_t t = day0; t < end; t += 900) {
        int64_t e = t + 900;
        if (e % DAY == 0 && e < end) {
            add(0, e - DAY, 1, e);
            add(0, e + DAY, 0, e);
        }
        add(1, t, 0, 0);
    }
}

static void wx_of(const rec *r, fc_wxdata *w, int64_t *tt, double *vv,
                  unsigned char *obs)
{
    fc_wxdata_init(w);
    w->slot_sec = 900;
    w->n = NSLOT;
    w->nvar = 2;
    strcpy(w->names[0], FC_WX_TEMP);
    strcpy(w->names[1], "wind_speed_ms");
    w->t = tt;
    w->v = vv;
    w->observed = obs;
    w->issued = r->issued;
    for (int i = 0; i < NSLOT; i++) {
        int64_t t = r->t + i * 900;
        double err = r->observed ? 0.0 : 1.5 * sin((double)t / 20000.0);
        tt[i] = t;
        vv[2 * i] = temp_true(t) + err;
        vv[2 * i + 1] =
            4.0 + 2.0 * sin((double)t / 50000.0) + (r->observed ? 0.3 : 0.0);
        obs[i] = (unsigned char)r->observed;
    }
}

/* ---- feeding a site ---- */

enum { FEED_EACH_PUT, FEED_EACH_QUEUED, FEED_BATCH, FEED_BATCH_SHUFFLED };

static void put(fc_site *s, const rec *r, int queued)
{
    char why[128];
    if (r->is_load) {
        int rc = queued ? fc_site_queue_load(s, r->t, r->t + 900, load_kw(r->t), 0, why,
                                             sizeof why)
                        : fc_site_put_load(s, r->t, r->t + 900, load_kw(r->t), 0, why,
                                           sizeof why);
        ck_assert_int_eq(rc, FC_PUT_STORED);
        return;
    }
    fc_wxdata w;
    int64_t tt[NSLOT];
    double vv[2 * NSLOT];
    unsigned char obs[NSLOT];
    wx_of(r, &w, tt, vv, obs);
    if (queued) {
        ck_assert_int_eq(fc_site_queue_weather(s, &w, why, sizeof why), FC_PUT_STORED);
        return;
    }
    for (size_t i = 0; i < w.n; i++)
        for (size_t j = 0; j < w.nvar; j++)
            ck_assert_int_ne(fc_site_put_weather_from(
                                 s, w.names[j], w.t[i], w.slot_sec, w.v[i * w.nvar + j],
                                 w.observed[i], w.issued, why, sizeof why),
                             FC_PUT_INVALID);
}

typedef struct runs {
    fc_forecast *f;
    size_t n, cap;
} runs;

static void drain(fc_site *s, runs *out)
{
    fc_kind k;
    int64_t at;
    size_t skipped = 0;
    while (fc_site_due(s, &k, &at, &skipped)) {
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 1024;
            out->f = realloc(out->f, out->cap * sizeof *out->f);
            ck_assert_ptr_nonnull(out->f);
        }
        fc_forecast *f = &out->f[out->n++];
        fc_forecast_init(f);
        ck_assert_int_eq(fc_site_issue(s, k, at, f, NULL), 0);
    }
    ck_assert_uint_eq(skipped, 0);
}

static fc_site *make_site(void)
{
    static const char *const hol[] = {"2020-12-25"};
    fc_params p;
    fc_site_conf sc;
    char err[128];
    fc_params_default(&p, 900);
    p.xgb.rounds = 50;
    p.xgb.max_depth = 4;
    p.xgb.nthread = 1;
    fc_site_conf_default(&sc, 900); /* backfill 48 h, weather_wait 1 h */
    sc.warmup = 42 * DAY;
    fc_site *s =
        fc_site_new("s1", "Europe/Amsterdam", hol, 1, &p, &sc, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

static runs feed(int how)
{
    runs out = {0};
    fc_site *s = make_site();
    if (how == FEED_EACH_PUT || how == FEED_EACH_QUEUED) {
        for (size_t i = 0; i < nrec; i++) {
            put(s, &recs[i], how == FEED_EACH_QUEUED);
            drain(s, &out);
        }
    } else {
        /* shuffled: all weather first, then all load, as a consumer may
         * hand out two topics */
        for (int pass = 0; pass < (how == FEED_BATCH ? 1 : 2); pass++)
            for (size_t i = 0; i < nrec; i++)
                if (how == FEED_BATCH || recs[i].is_load == pass)
                    put(s, &recs[i], 1);
        drain(s, &out);
    }
    fc_site_destroy(s);
    return out;
}

static void runs_release(runs *r)
{
    for (size_t i = 0; i < r->n; i++)
        fc_forecast_release(&r->f[i]);
    free(r->f);
}

static void assert_same(const runs *a, const runs *b)
{
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const fc_forecast *x = &a->f[i], *y = &b->f[i];
        ck_assert_int_eq(x->kind, y->kind);
        ck_assert_int_eq(x->issue_time, y->issue_time);
        ck_assert_str_eq(x->model, y->model);
        ck_assert_str_eq(x->version, y->version);
        ck_assert_str_eq(x->fallback, y->fallback);
        ck_assert_str_eq(x->quality, y->quality);
        ck_assert_uint_eq(x->n, y->n);
        for (size_t j = 0; j < x->n; j++) {
            ck_assert_int_eq(x->slots[j].t, y->slots[j].t);
            ck_assert_msg(x->slots[j].p10 == y->slots[j].p10 &&
                              x->slots[j].p50 == y->slots[j].p50 &&
                              x->slots[j].p90 == y->slots[j].p90,
                          "run %zu (%lld) slot %zu: %.17g/%.17g/%.17g vs "
                          "%.17g/%.17g/%.17g",
                          i, (long long)x->issue_time, j, x->slots[j].p10,
                          x->slots[j].p50, x->slots[j].p90, y->slots[j].p10,
                          y->slots[j].p50, y->slots[j].p90);
        }
    }
}

static runs ref;

static void setup(void)
{
    day0 = fc_days_from_civil(2020, 9, 1) * DAY;
    make_records();
    ref = feed(FEED_EACH_PUT);
}

static void teardown(void)
{
    runs_release(&ref);
    free(recs);
}

START_TEST(reference_issues_every_run)
{
    /* 4 weeks of runs after 6 weeks of warm-up, trees served at the end,
     * the 100-slot day-ahead of 25 October included */
    size_t da = 0, trees = 0, long_day = 0;
    for (size_t i = 0; i < ref.n; i++) {
        da += ref.f[i].kind == FC_DAY_AHEAD;
        trees += !strcmp(ref.f[i].model, "xgboost");
        long_day += ref.f[i].kind == FC_DAY_AHEAD && ref.f[i].n == 100;
    }
    ck_assert_uint_eq(da, 28);
    ck_assert_uint_eq(ref.n,
                      28 + 28 * 24 + 1); /* and the one at the last interval end */
    ck_assert_uint_gt(trees, 0);
    ck_assert_uint_eq(long_day, 1);
}
END_TEST

static const struct {
    const char *what;
    int how;
} feeds[] = {
    {"one record per batch, queued", FEED_EACH_QUEUED},
    {"one batch", FEED_BATCH},
    {"one batch, weather before load", FEED_BATCH_SHUFFLED},
};

START_TEST(batch_size_does_not_change_runs)
{
    runs got = feed(feeds[_i].how);
    assert_same(&ref, &got);
    runs_release(&got);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecaster_batch");
    TCase *tc = tcase_create("batch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, reference_issues_every_run);
    tcase_add_loop_test(tc, batch_size_does_not_change_runs, 0,
                        (int)(sizeof feeds / sizeof *feeds));
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
