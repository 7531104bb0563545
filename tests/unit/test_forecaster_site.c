/* Site state of the forecaster service: revisions, validation, weather
 * columns, and the event-time schedule of day-ahead and intraday runs. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecaster/fc_codec.h"
#include "forecaster/fc_site.h"
#include "support/harness.h"

#define H 3600
#define DAY 86400

static fc_site *site;
static fc_site_conf sc;

static int64_t utc(int y, int m, int d, int h, int mi)
{
    return fc_days_from_civil(y, m, d) * DAY + h * H + mi * 60;
}

static fc_site *make(int64_t warmup, int64_t backfill)
{
    static const char *const hol[] = {"2020-12-25"};
    fc_params p;
    char err[128];
    fc_params_default(&p, 900);
    fc_site_conf_default(&sc, 900);
    sc.warmup = warmup;
    sc.backfill = backfill;
    fc_site *s =
        fc_site_new("s1", "Europe/Amsterdam", hol, 1, &p, &sc, err, sizeof err);
    ck_assert_msg(s != NULL, "%s", err);
    return s;
}

static void teardown(void)
{
    fc_site_destroy(site);
    site = NULL;
}

/* Weekly pattern in kW over [from, to). */
static void fill(fc_site *s, int64_t from, int64_t to)
{
    char why[128];
    for (int64_t t = from; t < to; t += 900) {
        double kw = 100.0 + 50.0 * sin((double)(t % (7 * DAY)) / DAY);
        ck_assert_int_eq(fc_site_put_load(s, t, t + 900, kw, 0, why, sizeof why),
                         FC_PUT_STORED);
    }
}

START_TEST(revisions_keep_the_highest)
{
    char why[128];
    int64_t t = utc(2020, 11, 2, 10, 0);
    site = make(0, 0);
    ck_assert_int_eq(fc_site_put_load(site, t, t + 900, 10.0, 1, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert_int_eq(fc_site_put_load(site, t, t + 900, 5.0, 0, why, sizeof why),
                     FC_PUT_STALE);
    ck_assert_double_eq(fc_series_at(fc_site_load(site), t), 10.0);
    ck_assert_int_eq(fc_site_put_load(site, t, t + 900, 12.0, 2, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert_double_eq(fc_series_at(fc_site_load(site), t), 12.0);
    ck_assert_int_eq(fc_site_put_load(site, t, t + 900, 13.0, 2, why, sizeof why),
                     FC_PUT_STORED); /* a replay of the same revision */
    ck_assert_int_eq(fc_site_clock(site), t + 900);
}
END_TEST

static const struct {
    int64_t start_off, len;
    double kw;
} bad_load[] = {
    {0, 900, NAN}, {0, 900, INFINITY}, {0, 1800, 1.0}, {60, 900, 1.0}, {0, 0, 1.0},
};

START_TEST(bad_load_is_invalid)
{
    char why[128] = "";
    int64_t t = utc(2020, 11, 2, 10, 0) + bad_load[_i].start_off;
    site = make(0, 0);
    ck_assert_int_eq(fc_site_put_load(site, t, t + bad_load[_i].len, bad_load[_i].kw, 0,
                                      why, sizeof why),
                     FC_PUT_INVALID);
    ck_assert(why[0] != '\0');
    ck_assert_int_eq(fc_site_clock(site), 0);
}
END_TEST

START_TEST(hourly_weather_fills_quarter_hours)
{
    char why[128];
    int64_t t = utc(2020, 11, 2, 10, 0);
    site = make(0, 0);
    ck_assert_int_eq(
        fc_site_put_weather(site, "wind_speed_ms", t, 3600, 4.0, why, sizeof why),
        FC_PUT_STORED);
    ck_assert_int_eq(
        fc_site_put_weather(site, "temperature", t, 3600, 7.5, why, sizeof why),
        FC_PUT_STORED);
    ck_assert_int_eq(
        fc_site_put_weather(site, "temperature", t, 3600, NAN, why, sizeof why),
        FC_PUT_INVALID);
    const fc_weather *w = fc_site_weather(site);
    ck_assert(w->has_temp);
    ck_assert_str_eq(w->names[0], "temperature"); /* temperature stays column 0 */
    for (int q = 0; q < 4; q++)
        ck_assert_double_eq(fc_weather_temp(w, t + q * 900), 7.5);
    ck_assert(isnan(fc_weather_temp(w, t + 3600)));
    ck_assert_double_eq(fc_weather_at(w, 1, t + 2700), 4.0);
}
END_TEST

/* Collects every due run; returns how many, kinds and times in order. */
static int drain(fc_site *s, fc_kind *k, int64_t *at, int max)
{
    fc_forecast f;
    int n = 0;
    fc_forecast_init(&f);
    while (n < max && fc_site_due(s, &k[n], &at[n], NULL)) {
        ck_assert_int_eq(fc_site_issue(s, k[n], at[n], &f, NULL), 0);
        ck_assert_int_eq(f.issue_time, at[n]);
        ck_assert(f.n > 0);
        n++;
    }
    fc_forecast_release(&f);
    return n;
}

/* Per slot and variable: an observation beats any forecast, a newer
 * forecast an older one, whatever the order of arrival. */
static const struct {
    const char *what;
    int obs1;
    int64_t iss1;
    double v1;
    int obs2;
    int64_t iss2;
    double v2;
    int rc2;
    double want;
} wx_order[] = {
    {"newer forecast replaces older", 0, 1000, 5.0, 0, 2000, 6.0, FC_PUT_STORED, 6.0},
    {"older forecast is stale", 0, 2000, 6.0, 0, 1000, 5.0, FC_PUT_STALE, 6.0},
    {"observation replaces forecast", 0, 2000, 6.0, 1, 1000, 4.0, FC_PUT_STORED, 4.0},
    {"forecast after observation is stale", 1, 1000, 4.0, 0, 9000, 7.0, FC_PUT_STALE,
     4.0},
    {"newer observation replaces older", 1, 1000, 4.0, 1, 2000, 4.5, FC_PUT_STORED,
     4.5},
    {"redelivery of the same issue", 0, 1000, 5.0, 0, 1000, 5.5, FC_PUT_STORED, 5.5},
    {"unknown origin ranks lowest", 0, INT64_MIN, 3.0, 0, 1000, 5.0, FC_PUT_STORED,
     5.0},
};

START_TEST(observation_beats_forecast)
{
    char why[128];
    int64_t t = utc(2020, 11, 2, 10, 0);
    site = make(0, 0);
    /* a forecast of both variables, then the case on the temperature only:
     * the other variable keeps its value */
    ck_assert_int_eq(fc_site_put_weather_from(site, "wind_speed_ms", t, 900, 3.0, 0,
                                              wx_order[_i].iss1, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert_int_eq(fc_site_put_weather_from(site, "temperature", t, 900,
                                              wx_order[_i].v1, wx_order[_i].obs1,
                                              wx_order[_i].iss1, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert_int_eq(fc_site_put_weather_from(site, "temperature", t, 900,
                                              wx_order[_i].v2, wx_order[_i].obs2,
                                              wx_order[_i].iss2, why, sizeof why),
                     wx_order[_i].rc2);
    const fc_weather *w = fc_site_weather(site);
    ck_assert_msg(fc_weather_temp(w, t) == wx_order[_i].want, "%s: %g",
                  wx_order[_i].what, fc_weather_temp(w, t));
    ck_assert_double_eq(
        fc_weather_at(w, (size_t)fc_weather_find(w, "wind_speed_ms"), t), 3.0);
}
END_TEST

/* An hourly observation over four quarter-hours of which one already holds
 * a (quarter-hourly) observation of a later issue: only that one stays. */
START_TEST(ranks_are_per_slot)
{
    char why[128];
    int64_t t = utc(2020, 11, 2, 10, 0);
    site = make(0, 0);
    ck_assert_int_eq(fc_site_put_weather_from(site, "temperature", t + 1800, 900, 9.0,
                                              1, 5000, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert_int_eq(fc_site_put_weather_from(site, "temperature", t, 3600, 8.0, 1,
                                              4000, why, sizeof why),
                     FC_PUT_STORED);
    const fc_weather *w = fc_site_weather(site);
    ck_assert_double_eq(fc_weather_temp(w, t), 8.0);
    ck_assert_double_eq(fc_weather_temp(w, t + 900), 8.0);
    ck_assert_double_eq(fc_weather_temp(w, t + 1800), 9.0);
    ck_assert_double_eq(fc_weather_temp(w, t + 2700), 8.0);
}
END_TEST

START_TEST(runs_follow_event_time)
{
    fc_kind k[64];
    int64_t at[64];
    int64_t t0 = utc(2020, 10, 1, 0, 0);
    site = make(14 * DAY, 0);
    fill(site, t0, t0 + 14 * DAY);               /* up to 2020-10-15 00:00 UTC */
    ck_assert_int_eq(drain(site, k, at, 64), 1); /* intraday at the clock itself */
    ck_assert_int_eq(k[0], FC_INTRADAY);
    ck_assert_int_eq(at[0], t0 + 14 * DAY);
    /* 06:00 Amsterdam (CEST) = 04:00 UTC: the day-ahead goes before that
     * hour's intraday run. */
    fill(site, t0 + 14 * DAY, t0 + 14 * DAY + 5 * H);
    int n = drain(site, k, at, 64);
    ck_assert_int_eq(n, 6);
    ck_assert_int_eq(k[2], FC_INTRADAY);
    ck_assert_int_eq(at[2], utc(2020, 10, 15, 3, 0));
    ck_assert_int_eq(k[3], FC_DAY_AHEAD);
    ck_assert_int_eq(at[3], utc(2020, 10, 15, 4, 0));
    ck_assert_int_eq(k[4], FC_INTRADAY);
    ck_assert_int_eq(at[4], utc(2020, 10, 15, 4, 0));
    ck_assert_int_eq(at[5], utc(2020, 10, 15, 5, 0));
    ck_assert_int_eq(drain(site, k, at, 64), 0); /* nothing twice */
}
END_TEST

START_TEST(day_ahead_time_follows_the_site_clock)
{
    site = make(0, 0);
    /* CET in winter: 06:00 local = 05:00 UTC; CEST in summer: 04:00 UTC. */
    ck_assert_int_eq(
        fc_site_issue_at_or_after(site, FC_DAY_AHEAD, utc(2020, 11, 2, 5, 1)),
        utc(2020, 11, 3, 5, 0));
    ck_assert_int_eq(
        fc_site_issue_at_or_after(site, FC_DAY_AHEAD, utc(2020, 7, 1, 0, 0)),
        utc(2020, 7, 1, 4, 0));
    ck_assert_int_eq(
        fc_site_issue_at_or_after(site, FC_INTRADAY, utc(2020, 7, 1, 0, 1)),
        utc(2020, 7, 1, 1, 0));
    /* The day-ahead before the autumn DST change covers 100 quarter-hours. */
    int64_t end = fc_site_horizon_end(site, FC_DAY_AHEAD, utc(2020, 10, 24, 4, 0));
    ck_assert_int_eq(end - utc(2020, 10, 24, 22, 0), 100 * 900);
}
END_TEST

START_TEST(published_runs_are_not_repeated)
{
    fc_kind k[64];
    int64_t at[64];
    int64_t t0 = utc(2020, 10, 1, 0, 0);
    site = make(7 * DAY, 0);
    fc_site_published(site, FC_DAY_AHEAD, utc(2020, 10, 9, 4, 0));
    fc_site_published(site, FC_INTRADAY, utc(2020, 10, 9, 6, 0));
    fill(site, t0, utc(2020, 10, 9, 7, 0));
    int n = drain(site, k, at, 64);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(k[0], FC_INTRADAY);
    ck_assert_int_eq(at[0], utc(2020, 10, 9, 7, 0));
}
END_TEST

/* Backfill is for a service that starts late: after fc_site_catch_up()
 * runs more than backfill behind the newest interval are skipped, the
 * others issued; history that came in while running skips nothing. */
START_TEST(backfill_skips_old_runs)
{
    fc_kind k[64];
    int64_t at[64];
    size_t skipped = 0;
    int64_t t0 = utc(2020, 10, 1, 0, 0);
    site = make(0, 6 * H);
    fill(site, t0, t0 + 8 * DAY);
    fc_site_catch_up(site);
    ck_assert(fc_site_due(site, &k[0], &at[0], &skipped));
    ck_assert_uint_gt(skipped, 8 * 24 - 8);
    ck_assert_int_ge(at[0], t0 + 8 * DAY - 6 * H);
}
END_TEST

START_TEST(backfill_skips_nothing_live)
{
    fc_kind k;
    int64_t at;
    size_t skipped = 0;
    char why[128];
    int64_t t0 = utc(2020, 10, 1, 0, 0);
    site = make(0, 6 * H);
    for (int64_t t = t0; t < t0 + 2 * DAY; t += 900)
        ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, 5.0, 0, why, sizeof why),
                         FC_PUT_STORED);
    ck_assert(fc_site_due(site, &k, &at, &skipped));
    ck_assert_int_eq(at, t0); /* the first run, as the clock passed it */
    ck_assert_int_eq(fc_site_clock(site), t0 + 900);
    ck_assert_uint_eq(fc_site_pending(site), 2 * 96 - 1);
    ck_assert_uint_eq(skipped, 0);
}
END_TEST

/* At start, the queued history before the first run still to be issued
 * (the next after those published) is applied at once: saved models are
 * checked against that state; the rest waits for fc_site_due(). */
START_TEST(catch_up_applies_history_before_open_runs)
{
    char why[128];
    int64_t t0 = utc(2020, 10, 1, 0, 0), pub = utc(2020, 10, 7, 12, 0);
    site = make(2 * DAY, 0);
    fc_site_published(site, FC_DAY_AHEAD, utc(2020, 10, 7, 4, 0));
    fc_site_published(site, FC_INTRADAY, pub);
    for (int64_t t = t0; t < t0 + 8 * DAY; t += 900)
        ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, 5.0, 0, why, sizeof why),
                         FC_PUT_STORED);
    fc_site_catch_up(site);
    ck_assert_int_eq(fc_site_clock(site), pub + 2700); /* before 13:00 */
    ck_assert_int_eq(fc_site_newest(site), t0 + 8 * DAY);
    fc_kind k;
    int64_t at;
    ck_assert(fc_site_due(site, &k, &at, NULL));
    ck_assert_int_eq(k, FC_INTRADAY);
    ck_assert_int_eq(at, pub + H);
}
END_TEST

/* Regression: a stop in the middle of a backlog left the runs the backlog
 * had made due behind the skip limit of the next start (newest interval
 * minus backfill): they were skipped, not issued late. Runs up to what the
 * previous instance had when it stopped (fc_site_keep_runs) are issued;
 * those that only later records made due are still skipped past backfill. */
START_TEST(runs_kept_from_before_a_stop_are_not_skipped)
{
    char why[128];
    fc_forecast f;
    fc_kind k;
    int64_t at, t0 = utc(2020, 10, 1, 0, 0), pub = utc(2020, 10, 3, 6, 0),
                keep = t0 + 5 * DAY;
    size_t skipped = 0;
    int issued = 0;
    site = make(0, 6 * H);
    fc_site_published(site, FC_DAY_AHEAD, utc(2020, 10, 3, 4, 0));
    fc_site_published(site, FC_INTRADAY, pub);
    for (int64_t t = t0; t < t0 + 8 * DAY; t += 900)
        ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, 5.0, 0, why, sizeof why),
                         FC_PUT_STORED);
    fc_site_keep_runs(site, keep);
    fc_site_catch_up(site);
    fc_forecast_init(&f);
    /* every run after the published ones up to keep, in order: the
     * intraday runs hour by hour, the day-ahead runs of 4 and 5 October */
    int64_t da[2];
    int nda = 0;
    for (int64_t want = pub + H; want <= keep; want += H) {
        ck_assert(fc_site_due(site, &k, &at, &skipped));
        if (k == FC_DAY_AHEAD) {
            ck_assert_int_lt(nda, 2);
            da[nda++] = at;
            ck_assert_int_eq(fc_site_issue(site, k, at, &f, NULL), 0);
            ck_assert(fc_site_due(site, &k, &at, &skipped));
        }
        ck_assert_int_eq(k, FC_INTRADAY);
        ck_assert_int_eq(at, want);
        ck_assert_int_eq(fc_site_issue(site, k, at, &f, NULL), 0);
        issued++;
    }
    ck_assert_int_eq(issued, 2 * 24 + 18);
    ck_assert_int_eq(nda, 2);
    ck_assert_int_eq(da[0], utc(2020, 10, 4, 4, 0));
    ck_assert_int_eq(da[1], utc(2020, 10, 5, 4, 0));
    /* after keep, backfill applies as before: the day-ahead runs of 6 to 8
     * October (before newest - 6 h) were skipped, the intraday runs go on
     * at newest - 6 h */
    ck_assert_uint_eq(skipped, 3);
    ck_assert(fc_site_due(site, &k, &at, &skipped));
    ck_assert_uint_gt(skipped, 3);
    ck_assert_int_ge(at, t0 + 8 * DAY - 6 * H);
    fc_forecast_release(&f);
}
END_TEST

/* Queued weather issued after the newest interval waits for the clock; a
 * revision found stale only when applied is counted. */
START_TEST(queued_records_keep_event_time)
{
    fc_kind k;
    int64_t at;
    char why[128];
    int64_t t = utc(2020, 11, 2, 10, 0), tt[1] = {t};
    double v[1] = {7.0};
    fc_wxdata w;
    fc_wxdata_init(&w);
    w.slot_sec = 900, w.n = 1, w.nvar = 1, w.t = tt, w.v = v, w.issued = t + H;
    strcpy(w.names[0], "temperature");
    site = make(30 * DAY, 0);
    ck_assert_int_eq(fc_site_queue_weather(site, &w, why, sizeof why), FC_PUT_STORED);
    ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, 10.0, 1, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, 9.0, 0, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert(!fc_site_due(site, &k, &at, NULL));
    ck_assert_double_eq(fc_series_at(fc_site_load(site), t), 10.0);
    ck_assert_uint_eq(fc_site_pending(site), 1); /* the weather waits */
    ck_assert(isnan(fc_weather_temp(fc_site_weather(site), t)));
    ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, 8.0, 0, why, sizeof why),
                     FC_PUT_STALE); /* against what is applied */
    ck_assert_int_eq(
        fc_site_queue_load(site, t + H, t + H + 900, 11.0, 0, why, sizeof why),
        FC_PUT_STORED);
    ck_assert(!fc_site_due(site, &k, &at, NULL));
    ck_assert_double_eq(fc_weather_temp(fc_site_weather(site), t), 7.0);
    size_t stale_load = 9, stale_wx = 9;
    fc_site_take_stale(site, &stale_load, &stale_wx);
    ck_assert_uint_eq(stale_load, 1);
    ck_assert_uint_eq(stale_wx, 0);
    /* a name as long as the adapter publishes (Open-Meteo's longest) */
    strcpy(w.names[0], "direct_normal_irradiance_instant_wm2");
    w.issued = t + 2 * H;
    ck_assert_msg(fc_site_queue_weather(site, &w, why, sizeof why) == FC_PUT_STORED,
                  "%s", why);
    strcpy(w.names[0], "temperature");
    w.slot_sec = 0;
    ck_assert_int_eq(fc_site_queue_weather(site, &w, why, sizeof why), FC_PUT_INVALID);
    ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, NAN, 0, why, sizeof why),
                     FC_PUT_INVALID);
}
END_TEST

/* Weather issued every quarter-hour, half an hour ahead of the load behind
 * it, as a forecast fetched as soon as it is issued is: some weather always
 * waits for the clock, so the queue never drains. The room of the records
 * applied is used again; it once grew by one record per interval for as
 * long as the service ran. */
START_TEST(queue_room_is_reused_while_weather_waits)
{
    fc_kind k;
    int64_t at;
    char why[128];
    int64_t t0 = utc(2020, 11, 2, 0, 0), tt[1];
    double v[1] = {7.0};
    fc_wxdata w;
    fc_wxdata_init(&w);
    w.slot_sec = 900, w.n = 1, w.nvar = 1, w.t = tt, w.v = v;
    strcpy(w.names[0], "temperature");
    site = make(400 * DAY, 0); /* no run: only the queue is looked at */
    for (int64_t t = t0; t < t0 + 100 * DAY; t += 900) {
        tt[0] = t + DAY;
        w.issued = t + 1800;
        ck_assert_int_eq(fc_site_queue_weather(site, &w, why, sizeof why),
                         FC_PUT_STORED);
        ck_assert_int_eq(fc_site_queue_load(site, t - 900, t, 10.0, 0, why, sizeof why),
                         FC_PUT_STORED);
        ck_assert(!fc_site_due(site, &k, &at, NULL));
    }
    ck_assert_uint_eq(fc_site_pending(site), 2); /* two wait at every step */
    ck_assert_double_eq(fc_weather_temp(fc_site_weather(site), t0 + 99 * DAY), 7.0);
    ck_assert_msg(fc_site_queue_room(site) <= 256, "room for %zu queued records",
                  fc_site_queue_room(site));
}
END_TEST

/* Two weather records queued together whose new variables do not fit in
 * the site's columns together: the second is refused when queued, as it
 * is when the first was applied before it came (a smaller batch). Once,
 * both were queued and the second lost some of its variables silently. */
START_TEST(weather_room_counts_queued_records)
{
    fc_kind k;
    int64_t at;
    char why[128] = "";
    int64_t t = utc(2020, 11, 2, 10, 0), tt[1] = {t};
    double v[FC_WX_MAXVAR];
    fc_wxdata a, b;
    fc_wxdata_init(&a);
    fc_wxdata_init(&b);
    a.slot_sec = b.slot_sec = 900, a.n = b.n = 1, a.t = b.t = tt, a.v = b.v = v;
    a.issued = b.issued = t + H;
    for (int j = 0; j < FC_WX_MAXVAR; j++)
        v[j] = j;
    a.nvar = 20, b.nvar = 10;
    for (int j = 0; j < 20; j++)
        snprintf(a.names[j], sizeof a.names[j], "a%d", j);
    for (int j = 0; j < 10; j++)
        snprintf(b.names[j], sizeof b.names[j], "b%d", j);
    site = make(30 * DAY, 0);
    ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, 10.0, 0, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert_int_eq(fc_site_queue_weather(site, &a, why, sizeof why), FC_PUT_STORED);
    ck_assert_int_eq(fc_site_queue_weather(site, &b, why, sizeof why), FC_PUT_INVALID);
    ck_assert_str_eq(why, "no room for weather variable 'b4'");
    /* a record of the same variables still fits */
    ck_assert_int_eq(fc_site_queue_weather(site, &a, why, sizeof why), FC_PUT_STORED);
    ck_assert_int_eq(
        fc_site_queue_load(site, t + H, t + H + 900, 11.0, 0, why, sizeof why),
        FC_PUT_STORED);
    ck_assert(!fc_site_due(site, &k, &at, NULL));
    ck_assert_uint_eq(fc_site_pending(site), 0);
    const fc_weather *w = fc_site_weather(site);
    ck_assert_uint_eq(w->ncol, 20);
    ck_assert_int_lt(fc_weather_find(w, "b0"), 0);
    /* the same two in separate batches: the same answer */
    ck_assert_int_eq(fc_site_queue_weather(site, &b, why, sizeof why), FC_PUT_INVALID);
}
END_TEST

/* A variable "temp" beside the temperature: the site's columns take "temp"
 * for the temperature too, so it could never have a column of its own and
 * its values were dropped when applied, with no dead letter and no count.
 * It is refused when queued. */
START_TEST(weather_variable_temp_is_refused)
{
    fc_kind k;
    int64_t at;
    char why[128] = "";
    int64_t t = utc(2020, 11, 2, 10, 0), tt[1] = {t};
    double v[2] = {7.0, 8.0};
    fc_wxdata w;
    fc_wxdata_init(&w);
    w.slot_sec = 900, w.n = 1, w.nvar = 2, w.t = tt, w.v = v, w.issued = t;
    strcpy(w.names[0], "temperature");
    strcpy(w.names[1], "temp");
    site = make(30 * DAY, 0);
    ck_assert_int_eq(fc_site_queue_weather(site, &w, why, sizeof why), FC_PUT_INVALID);
    ck_assert_str_eq(why, "weather variable 'temp' would be a second temperature");
    ck_assert_int_eq(fc_site_queue_load(site, t, t + 900, 10.0, 0, why, sizeof why),
                     FC_PUT_STORED);
    ck_assert(!fc_site_due(site, &k, &at, NULL));
    ck_assert_uint_eq(fc_site_weather(site)->ncol, 0);
}
END_TEST

START_TEST(runs_wait_for_weather)
{
    fc_kind k;
    int64_t at;
    char why[128];
    int64_t t0 = utc(2020, 10, 1, 0, 0);
    site = make(7 * DAY, 0);
    /* weather known only until the first run's horizon minus one slot */
    for (int64_t t = t0; t < t0 + 8 * DAY - 900; t += 900)
        fc_site_put_weather(site, "temperature", t, 900, 10.0, why, sizeof why);
    fill(site, t0, t0 + 7 * DAY);
    ck_assert(!fc_site_due(site, &k, &at, NULL));
    fill(site, t0 + 7 * DAY, t0 + 7 * DAY + H); /* weather_wait (1 h) passed */
    ck_assert(fc_site_due(site, &k, &at, NULL));
    ck_assert_int_eq(at, t0 + 7 * DAY);
}
END_TEST

START_TEST(quality_symbols)
{
    fc_forecast f;
    fc_forecast_init(&f);
    ck_assert_str_eq(fc_codec_quality(&f), "ok");
    strcpy(f.quality, "gaps_filled=3");
    ck_assert_str_eq(fc_codec_quality(&f), "history_gaps");
    strcpy(f.quality, "gaps_filled=3;weather_missing");
    ck_assert_str_eq(fc_codec_quality(&f), "missing_weather");
    strcpy(f.fallback, "short_history");
    ck_assert_str_eq(fc_codec_quality(&f), "short_history");
    strcpy(f.fallback, "model_failed");
    ck_assert_str_eq(fc_codec_quality(&f), "model_failed");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecaster_site");
    TCase *tc = tcase_create("site");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, revisions_keep_the_highest);
    tcase_add_loop_test(tc, bad_load_is_invalid, 0, sizeof bad_load / sizeof *bad_load);
    tcase_add_test(tc, hourly_weather_fills_quarter_hours);
    tcase_add_loop_test(tc, observation_beats_forecast, 0,
                        (int)(sizeof wx_order / sizeof *wx_order));
    tcase_add_test(tc, ranks_are_per_slot);
    tcase_add_test(tc, runs_follow_event_time);
    tcase_add_test(tc, day_ahead_time_follows_the_site_clock);
    tcase_add_test(tc, published_runs_are_not_repeated);
    tcase_add_test(tc, backfill_skips_old_runs);
    tcase_add_test(tc, backfill_skips_nothing_live);
    tcase_add_test(tc, catch_up_applies_history_before_open_runs);
    tcase_add_test(tc, runs_kept_from_before_a_stop_are_not_skipped);
    tcase_add_test(tc, queued_records_keep_event_time);
    tcase_add_test(tc, runs_wait_for_weather);
    tcase_add_test(tc, queue_room_is_reused_while_weather_waits);
    tcase_add_test(tc, weather_room_counts_queued_records);
    tcase_add_test(tc, weather_variable_temp_is_refused);
    tcase_add_test(tc, quality_symbols);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
