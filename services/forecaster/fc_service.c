/* fc_service: restore, consume, issue on event time, publish, ack (see
 * fc_service.h). */
#include "forecaster/fc_service.h"
#include "clock/clock.h"

#include "forecaster/fc_codec.h"
#include "forecaster/fc_site.h"
#include "log/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longest wait for each answer when the replay reads its end offsets. */
#define RESTORE_END_MS 10000

struct fc_service {
    fc_service_conf conf;
    svc_t *svc;
    bus_consumer_t *restore, *live;
    /* where the replay ends: the end offsets read at its start (NULL when
     * they could not be read: then restore_idle without records ends it) */
    bus_end_offsets_t *restore_end;
    /* how far energy.load was this service's (fc_stopmark.c): at the last
     * stop or crash (what the replay keeps the runs of), and now */
    fc_stopmark stop, mark;
    fc_stopmark polled; /* records handed out live, committed by the next ack */
    int mark_dirty, mark_failing;
    double mark_next;
    char load_wire[256]; /* energy.load on the wire, which names the mark */
    double restore_t0, restore_last;
    int64_t restored;
    fc_site **sites;
    size_t nsites;
    fc_forecast f;
    double next_scan;
    fc_wxdir_stats wx;
    fc_wxhttp *wxh;
    fc_wxseen *wxseen; /* the weather directory's files at the previous scan */
    char model_dir[1024], wx_dir[1024]; /* the configured paths, expanded */
    const char *wxh_site;
    obs_metrics_t *m;
    obs_counter_t *m_load, *m_weather, *m_stale, *m_train, *m_train_fail, *m_skipped;
    obs_counter_t *m_restored, *m_wx_done, *m_wx_rej, *m_wx_rec;
    obs_counter_t *m_model_loaded, *m_model_refused, *m_wx_stale;
    obs_counter_t *m_fetch_ok, *m_fetch_err;
    obs_histogram_t *m_run;
};

fc_service *fc_service_new(void)
{
    fc_service *s = calloc(1, sizeof *s);
    if (s)
        fc_forecast_init(&s->f);
    return s;
}

void fc_service_free(fc_service *s)
{
    if (s)
        fc_forecast_release(&s->f);
    free(s);
}

fc_service_conf *fc_service_conf_of(fc_service *s)
{
    return &s->conf;
}

static int parse_hhmm(const char *s, int *sec)
{
    int h, m, n = 0;
    if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || s[n] || h > 23 || m > 59 || h < 0 ||
        m < 0)
        return -1;
    *sec = h * 3600 + m * 60;
    return 0;
}

static int make_params(const fc_service_conf *c, fc_params *p, fc_site_conf *sc,
                       char *errstr, size_t errstr_size)
{
    int step = (int)(c->slot_ms / 1000);
    if (step != 900 && step != 3600)
        return snprintf(errstr, errstr_size, "forecaster.slot: 15m or 1h"), -1;
    fc_params_default(p, step);
    if (parse_hhmm(c->day_ahead_time, &p->issue_sec) < 0)
        return snprintf(errstr, errstr_size,
                        "forecaster.day_ahead_time: '%s' is not HH:MM",
                        c->day_ahead_time),
               -1;
    p->retrain_days = (int)(c->retrain_ms / 86400000);
    p->window_days = (int)(c->window_ms / 86400000);
    p->intraday_hours = (int)c->intraday_hours;
    p->band_q = c->band_q;
    p->band_target = c->band_target;
    p->xgb.nthread = (int)c->xgb_threads;
    p->xgb.rounds = (int)c->xgb_rounds;
    p->xgb.max_depth = (int)c->xgb_depth;
    fc_site_conf_default(sc, step);
    sc->warmup = c->warmup_ms / 1000;
    sc->backfill = c->backfill_ms / 1000;
    sc->weather_wait = c->weather_wait_ms / 1000;
    sc->max_slots = (size_t)(p->window_days + 35) * (size_t)(86400 / step);
    return 0;
}

/* One fc_site per plant site, with its time zone and holidays. */
static int make_sites(fc_service *s, const plant_t *plant, char *errstr,
                      size_t errstr_size)
{
    fc_params p;
    fc_site_conf sc;
    if (make_params(&s->conf, &p, &sc, errstr, errstr_size) < 0)
        return -1;
    size_t n = plant ? plant_site_count(plant) : 0;
    s->sites = calloc(n ? n : 1, sizeof *s->sites);
    if (!s->sites)
        return snprintf(errstr, errstr_size, "out of memory"), -1;
    for (size_t i = 0; i < n; i++) {
        const plant_site_t *ps = plant_site_at(plant, i);
        char(*days)[16] = calloc(ps->nholidays ? ps->nholidays : 1, sizeof *days);
        const char **hol = calloc(ps->nholidays ? ps->nholidays : 1, sizeof *hol);
        for (size_t h = 0; days && hol && h < ps->nholidays; h++) {
            int32_t d = ps->holidays[h];
            snprintf(days[h], sizeof days[h], "%04d-%02d-%02d",
                     (int)(d / 10000 % 10000), (int)(d / 100 % 100), (int)(d % 100));
            hol[h] = days[h];
        }
        if (days && hol)
            s->sites[s->nsites] = fc_site_new(ps->id, ps->timezone, hol, ps->nholidays,
                                              &p, &sc, errstr, errstr_size);
        free(days);
        free(hol);
        if (!s->sites[s->nsites])
            return -1;
        s->nsites++;
    }
    return 0;
}

static fc_site *find_site(fc_service *s, const char *id)
{
    for (size_t i = 0; i < s->nsites; i++)
        if (!strcmp(fc_site_id(s->sites[i]), id))
            return s->sites[i];
    return NULL;
}

/* ems_forecaster_fallbacks_total at 0 for every kind and reason, so an alert
 * on its increase sees the first fallback (a counter first scraped at 1 has
 * none). */
static void zero_fallbacks(obs_metrics_t *m)
{
    char labels[96];

    for (int k = 0; k < FC_NKINDS; k++)
        for (int f = 0; f < FC_NFALLBACKS; f++) {
            snprintf(labels, sizeof labels, "kind=%s,reason=%s",
                     fc_kind_label((fc_kind)k), fc_fallback_name((fc_fallback_id)f));
            obs_counter(m, "ems_forecaster_fallbacks_total",
                        "Runs that served a baseline instead of the selected model.",
                        labels);
        }
}

static void init_metrics(fc_service *s, obs_metrics_t *m)
{
    static const double secs[] = {0.001, 0.005, 0.02, 0.05, 0.1, 0.5, 1, 5, 30};
    s->m = m;
    s->m_load = obs_counter(m, "ems_forecaster_records_total",
                            "Records applied to the history.", "topic=energy.load");
    s->m_weather =
        obs_counter(m, "ems_forecaster_records_total",
                    "Records applied to the history.", "topic=energy.weather");
    s->m_stale = obs_counter(m, "ems_forecaster_stale_intervals_total",
                             "Load intervals older than the revision held.", NULL);
    s->m_train = obs_counter(m, "ems_forecaster_trainings_total",
                             "Model retrainings (per site and kind).", NULL);
    s->m_train_fail = obs_counter(m, "ems_forecaster_model_save_failures_total",
                                  "Trained models that could not be saved.", NULL);
    s->m_skipped =
        obs_counter(m, "ems_forecaster_skipped_runs_total",
                    "Runs further behind the event clock than the backfill.", NULL);
    s->m_restored = obs_counter(m, "ems_forecaster_restored_records_total",
                                "Records read by the start-up replay.", NULL);
    s->m_wx_done = obs_counter(m, "ems_forecaster_weather_files_total",
                               "Weather files by outcome.", "result=done");
    s->m_wx_rej = obs_counter(m, "ems_forecaster_weather_files_total",
                              "Weather files by outcome.", "result=rejected");
    s->m_wx_rec = obs_counter(m, "ems_forecaster_weather_published_total",
                              "energy.weather records published by the adapter.", NULL);
    s->m_fetch_ok = obs_counter(m, "ems_forecaster_weather_fetches_total",
                                "Fetches of weather.url by outcome.", "result=ok");
    s->m_fetch_err = obs_counter(m, "ems_forecaster_weather_fetches_total",
                                 "Fetches of weather.url by outcome.", "result=error");
    s->m_wx_stale = obs_counter(m, "ems_forecaster_stale_weather_total",
                                "Weather values beaten by an observation or a newer "
                                "forecast already held.",
                                NULL);
    s->m_model_loaded = obs_counter(m, "ems_forecaster_models_loaded_total",
                                    "Saved models loaded at start.", NULL);
    s->m_model_refused = obs_counter(
        m, "ems_forecaster_models_refused_total",
        "Saved models refused at start (format, kind, features, time).", NULL);
    s->m_run = obs_histogram(m, "ems_forecaster_run_seconds",
                             "Time of one run (training included).", NULL, secs, 9);
    zero_fallbacks(m);
}

static int restored_check(void *ctx, char *errstr, size_t errstr_size)
{
    fc_service *s = ctx;
    if (s->live)
        return 0;
    snprintf(errstr, errstr_size, "replaying history (%lld records so far)",
             (long long)s->restored);
    return -1;
}

static int weather_check(void *ctx, char *errstr, size_t errstr_size)
{
    fc_service *s = ctx;
    char why[640];
    if (!fc_wxhttp_degraded(s->wxh, why, sizeof why))
        return 0;
    snprintf(errstr, errstr_size, "degraded: %s", why);
    return -1;
}

/* The HTTP weather source, when weather.url is set. */
static int init_wxhttp(fc_service *s, svc_t *svc, char *errstr, size_t errstr_size)
{
    const fc_service_conf *c = &s->conf;
    if (!c->wx_url || !*c->wx_url)
        return 0;
    s->wxh_site = c->wx_url_site && *c->wx_url_site ? c->wx_url_site : c->wx_site;
    if (!s->wxh_site || !*s->wxh_site || !svc_plant(svc) ||
        !plant_site(svc_plant(svc), s->wxh_site))
        return snprintf(errstr, errstr_size,
                        "weather.url_site (or weather.default_site) '%s' is not a "
                        "plant site",
                        s->wxh_site ? s->wxh_site : ""),
               -1;
    fc_wxhttp_conf hc = {.url = c->wx_url,
                         .site = s->wxh_site,
                         .period_ms = c->wx_poll_ms,
                         .timeout_ms = c->wx_timeout_ms,
                         .backoff_ms = c->wx_backoff_ms,
                         .backoff_max_ms = c->wx_backoff_max_ms,
                         .retries = c->wx_retries,
                         .max_bytes = c->wx_max_bytes};
    if (!(s->wxh = fc_wxhttp_new(&hc)))
        return snprintf(errstr, errstr_size, "out of memory"), -1;
    return svc_add_check(svc, "weather", weather_check, s, errstr, errstr_size);
}

static int mkdirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int mkdirs(const char *path);

/* ${VAR} in model_dir and weather.dir (the stack's var directory). */
static int expand_paths(fc_service *s, char *errstr, size_t errstr_size)
{
    fc_service_conf *c = &s->conf;
    if (fc_expand_env(c->model_dir, s->model_dir, sizeof s->model_dir) < 0)
        return snprintf(errstr, errstr_size, "forecaster.model_dir '%s': bad ${...}",
                        c->model_dir),
               -1;
    if (fc_expand_env(c->wx_dir ? c->wx_dir : "", s->wx_dir, sizeof s->wx_dir) < 0)
        return snprintf(errstr, errstr_size, "weather.dir '%s': bad ${...}", c->wx_dir),
               -1;
    c->model_dir = s->model_dir;
    c->wx_dir = s->wx_dir;
    if (s->wx_dir[0] && mkdirs(s->wx_dir) < 0)
        log_warn("forecaster", "weather.dir '%s': %s", s->wx_dir, strerror(errno));
    log_info("forecaster", "models in '%s', weather files in '%s'", s->model_dir,
             s->wx_dir[0] ? s->wx_dir : "(off)");
    return 0;
}

/* How far energy.load was the service's at the last stop or crash: the
 * runs due in the records before it are issued however far behind
 * (fc_site_keep_runs). The mark written from now on starts from it. */
static int read_stopmark(fc_service *s, char *errstr, size_t errstr_size)
{
    char err[1200];
    if (bus_wire_name(svc_bus(s->svc), "energy.load", s->load_wire,
                      sizeof s->load_wire) < 0)
        return snprintf(errstr, errstr_size, "topic prefix too long"), -1;
    if (fc_stopmark_load(s->conf.model_dir, s->load_wire, &s->stop, err, sizeof err) <
        0)
        log_warn("forecaster", "stop mark ignored: %s", err);
    else if (s->stop.n)
        log_info("forecaster", "%s: %zu partition offset(s) marked at the last stop",
                 s->load_wire, s->stop.n);
    s->mark = s->stop;
    return 0;
}

/* The end offsets the replay reads up to, so that a broker slow to hand
 * the records over does not end it early. */
static void read_restore_end(fc_service *s)
{
    char err[512];
    s->restore_end =
        bus_consumer_end_offsets(s->restore, RESTORE_END_MS, err, sizeof err);
    if (!s->restore_end)
        log_warn("forecaster",
                 "replay: %s; it ends after forecaster.restore_idle without records",
                 err);
}

int fc_service_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size)
{
    fc_service *s = ctx;
    const char *topics[] = {"energy.load", "energy.weather", "energy.forecast"};
    char group[160];
    s->svc = svc;
    init_metrics(s, svc_metrics(svc));
    if (make_sites(s, svc_plant(svc), errstr, errstr_size) < 0)
        goto fail;
    if (expand_paths(s, errstr, errstr_size) < 0)
        goto fail;
    if (!(s->wxseen = fc_wxseen_new())) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (read_stopmark(s, errstr, errstr_size) < 0)
        goto fail;
    if (s->conf.save_models && mkdirs(s->conf.model_dir) < 0) {
        snprintf(errstr, errstr_size, "forecaster.model_dir '%s': %s",
                 s->conf.model_dir, strerror(errno));
        goto fail;
    }
    snprintf(group, sizeof group, "%s.restore.%ld.%lld", s->conf.group_id,
             (long)getpid(), (long long)time(NULL));
    if (!(s->restore =
              bus_consumer_new(svc_bus(svc), group, topics, 3, errstr, errstr_size)))
        goto fail;
    bus_consumer_set_replay(s->restore, 1); /* the live consumer dead-letters */
    read_restore_end(s);
    if (svc_add_check(svc, "history", restored_check, s, errstr, errstr_size))
        goto fail;
    if (init_wxhttp(s, svc, errstr, errstr_size) < 0)
        goto fail;
    s->restore_t0 = s->restore_last = ems_mono_s();
    log_info("forecaster",
             "%zu site(s); replaying energy.load, energy.weather and "
             "energy.forecast",
             s->nsites);
    return 0;
fail:
    fc_service_shutdown(svc, s);
    return -1;
}

/* ---- applying records ---- */

static void reject(fc_service *s, const bus_record_t *rec, const char *reason)
{
    char err[256], labels[96];
    snprintf(labels, sizeof labels, "topic=%s", rec->topic);
    obs_count(s->m, "ems_forecaster_rejected_total", "Records sent to the DLQ.", labels,
              1);
    if (s->live && bus_consumer_reject(s->live, rec, reason, err, sizeof err))
        log_error("forecaster", "dead-lettering a record failed: %s", err);
    log_warn("forecaster", "rejected %s[%d]@%lld: %s", rec->topic, (int)rec->partition,
             (long long)rec->offset, reason);
}

/* Plausible times for a load interval: on whole seconds, from 2000 on and
 * at most a day ahead of the wall clock. An interval's end becomes its
 * site's event clock and every run up to it is issued: one record a year
 * ahead issued thousands of runs in one step and trimmed the history, one
 * at 1970 as a site's first record hundreds of thousands. */
#define FC_LOAD_MIN_MS 946684800000LL /* 2000-01-01 */
#define FC_LOAD_MAX_FUTURE_MS (24LL * 3600 * 1000)

static int load_time_check(const fc_load_rec *r, int64_t now_ms, char *reason,
                           size_t size)
{
    if (r->start_ms % 1000 || r->end_ms % 1000)
        return snprintf(reason, size, "interval bounds are not on whole seconds"), -1;
    if (r->start_ms < FC_LOAD_MIN_MS)
        return snprintf(reason, size, "interval starts before 2000"), -1;
    if (r->start_ms > now_ms + FC_LOAD_MAX_FUTURE_MS)
        return snprintf(reason, size, "interval starts %lld s ahead of the clock",
                        (long long)((r->start_ms - now_ms) / 1000)),
               -1;
    return 0;
}

/* 0 applied or ignored; -1 with reason for the DLQ. */
static int apply_load(fc_service *s, bus_record_t *rec, char *reason, size_t size)
{
    fc_load_rec r;
    if (fc_codec_load(&rec->value, &r, reason, size) < 0)
        return -1;
    if (!r.site_scope)
        return 0; /* meter intervals: the site sum is what is forecast */
    if (load_time_check(&r, ems_wall_ms(), reason, size) < 0)
        return -1;
    fc_site *site = find_site(s, r.site_id);
    if (!site)
        return snprintf(reason, size, "site '%s' is not in the plant model", r.site_id),
               -1;
    int rc = fc_site_queue_load(site, r.start_ms / 1000, r.end_ms / 1000, r.mean_kw,
                                r.revision, reason, size);
    if (rc == FC_PUT_NOMEM)
        return snprintf(reason, size, "out of memory"), -1;
    if (rc == FC_PUT_STALE)
        obs_counter_inc(s->m_stale);
    else if (rc == FC_PUT_STORED)
        obs_counter_inc(s->m_load);
    /* on the topic before the last stop: the service had it, and would have
     * issued the runs it made due had it run on */
    if (rc != FC_PUT_INVALID && s->restore &&
        fc_stopmark_before(&s->stop, rec->partition, rec->offset))
        fc_site_keep_runs(site, r.end_ms / 1000);
    return rc == FC_PUT_INVALID ? -1 : 0;
}

static int apply_weather(fc_service *s, avro_value_t *v, char *reason, size_t size)
{
    char id[64];
    fc_wxdata wx;
    int rc = -1;
    fc_wxdata_init(&wx);
    if (fc_codec_weather(v, id, sizeof id, &wx, reason, size) < 0 ||
        fc_wxdata_check_times(&wx, wx.issued, ems_wall_ms() / 1000, reason, size) < 0)
        goto done;
    fc_site *site = find_site(s, id);
    if (!site) {
        snprintf(reason, size, "site '%s' is not in the plant model", id);
        goto done;
    }
    int put = fc_site_queue_weather(site, &wx, reason, size);
    if (put == FC_PUT_NOMEM)
        snprintf(reason, size, "out of memory");
    if (put != FC_PUT_STORED)
        goto done;
    obs_counter_inc(s->m_weather);
    rc = 0;
done:
    fc_wxdata_release(&wx);
    return rc;
}

static void apply_forecast(fc_service *s, avro_value_t *v)
{
    char id[64], reason[128];
    int kind;
    int64_t at;
    fc_site *site;
    if (fc_codec_forecast_head(v, id, sizeof id, &kind, &at, reason, sizeof reason) ==
            0 &&
        kind >= 0 && (site = find_site(s, id)))
        fc_site_published(site, (fc_kind)kind, at);
}

static int apply(fc_service *s, bus_record_t *rec, char *reason, size_t size)
{
    if (!strcmp(rec->topic, "energy.load"))
        return apply_load(s, rec, reason, size);
    if (!strcmp(rec->topic, "energy.weather"))
        return apply_weather(s, &rec->value, reason, size);
    if (!strcmp(rec->topic, "energy.forecast"))
        apply_forecast(s, &rec->value);
    return 0;
}

/* ---- restore ---- */

/* The newest valid saved model of kind k, so a restart serves the state it
 * served before instead of retraining early (the version and numbers stay
 * those of an uninterrupted run). Called after the replay, once
 * fc_site_catch_up() applied the history before the first run still to be
 * issued: the model's weather columns are looked up by name among the site's
 * and the training time is checked against the clock of that moment. */
/* Saved models carry the topic prefix in their names, as the mark does:
 * another deployment's models were trained on other data. */
static const char *topic_prefix(const fc_service *s)
{
    const char *p = svc_common(s->svc)->bus.topic_prefix;
    return p ? p : "";
}

static void load_models(fc_service *s, fc_site *site, int k)
{
    char err[512];
    size_t refused = 0;
    if (fc_site_clock(site) == 0)
        return;
    int got = fc_modeldir_load(s->conf.model_dir, topic_prefix(s), site, (fc_kind)k,
                               &refused, err, sizeof err);
    obs_counter_add(s->m_model_refused, (double)refused);
    if (refused)
        log_warn("forecaster", "site '%s': %zu saved %s model(s) refused, last: %s",
                 fc_site_id(site), refused, fc_kind_name((fc_kind)k), err);
    if (got) {
        obs_counter_inc(s->m_model_loaded);
        log_info("forecaster", "site '%s': %s model %s loaded from '%s'",
                 fc_site_id(site), fc_kind_name((fc_kind)k),
                 fc_forecaster_version(fc_site_forecaster(site), (fc_kind)k),
                 s->conf.model_dir);
    }
}

static int start_live(fc_service *s)
{
    const char *topics[] = {"energy.load", "energy.weather"};
    char err[512];
    bus_consumer_destroy(s->restore);
    s->restore = NULL;
    bus_end_offsets_destroy(s->restore_end);
    s->restore_end = NULL;
    s->live =
        bus_consumer_new(svc_bus(s->svc), s->conf.group_id, topics, 2, err, sizeof err);
    if (!s->live) {
        log_error("forecaster", "live consumer: %s", err);
        return -1;
    }
    for (size_t i = 0; i < s->nsites; i++) {
        log_info("forecaster", "site '%s': history read up to %lld (%zu records)",
                 fc_site_id(s->sites[i]), (long long)fc_site_newest(s->sites[i]),
                 fc_site_pending(s->sites[i]));
        fc_site_catch_up(s->sites[i]); /* backfill: only for what came before */
        for (int k = 0; s->conf.load_models && k < FC_NKINDS; k++)
            load_models(s, s->sites[i], k);
    }
    log_info("forecaster", "replay done: %lld records in %.1f s",
             (long long)s->restored, ems_mono_s() - s->restore_t0);
    return 0;
}

/* The replay is over once it read up to the end offsets of its start;
 * without them, once idle after records, or after nothing at all (empty
 * topics; covers the join). */
static int restore_done(fc_service *s, double now)
{
    if (s->restore_end)
        return bus_consumer_reached(s->restore, s->restore_end);
    double wait =
        (s->restored > 0 ? s->conf.restore_idle_ms : s->conf.restore_empty_ms) / 1000.0;
    return now - s->restore_last >= wait;
}

static int restore_step(fc_service *s)
{
    bus_record_t *recs = NULL;
    char err[512], reason[256];
    int got = bus_consumer_poll(s->restore, &recs, (int)s->conf.batch,
                                (int)s->conf.poll_ms, err, sizeof err);
    double now = ems_mono_s();
    if (got < 0) {
        log_error("forecaster", "replay: %s", err);
        return -1;
    }
    for (int i = 0; i < got; i++)
        apply(s, &recs[i], reason,
              sizeof reason); /* bad ones were dead-lettered live */
    s->restored += got;
    obs_counter_add(s->m_restored, got);
    if (got > 0)
        s->restore_last = now;
    if (restore_done(s, now) || now - s->restore_t0 >= s->conf.restore_max_ms / 1000.0)
        return start_live(s);
    return 0;
}

/* ---- runs ---- */

static void save_model(fc_service *s, fc_site *site, fc_kind k)
{
    char path[1024], err[256];
    fc_forecaster *fc = fc_site_forecaster(site);
    snprintf(path, sizeof path, "%s/%s%s.%s.%s.model", s->conf.model_dir,
             topic_prefix(s), fc_site_id(site), k == FC_DAY_AHEAD ? "da" : "id",
             fc_forecaster_version(fc, k));
    if (fc_forecaster_save(fc, k, path, err, sizeof err) < 0) {
        obs_counter_inc(s->m_train_fail);
        log_warn("forecaster", "saving model: %s", err);
        return;
    }
    log_info("forecaster", "site '%s': %s model %s saved (served: %s)",
             fc_site_id(site), fc_kind_name(k), fc_forecaster_version(fc, k),
             fc_model_name(fc_forecaster_winner(fc, k)));
    /* one model per training would fill the volume: the older ones go */
    if (fc_modeldir_prune(s->conf.model_dir, topic_prefix(s), fc_site_id(site), k,
                          fc_forecaster_version(fc, k), FC_MODELS_KEPT, err,
                          sizeof err) < 0)
        log_warn("forecaster", "pruning saved models: %s", err);
}

static int publish(fc_service *s, fc_site *site)
{
    avro_value_t v;
    char err[512], labels[96];
    const char *kind = fc_kind_label(s->f.kind);
    if (bus_value_new(svc_bus(s->svc), "energy.forecast", &v, err, sizeof err) < 0)
        goto fail;
    if (fc_codec_forecast(&v, fc_site_id(site), &s->f) < 0) {
        snprintf(err, sizeof err, "forecast does not fit the schema");
        avro_value_decref(&v);
        goto fail;
    }
    int rc = bus_produce(svc_producer(s->svc), "energy.forecast", fc_site_id(site), &v,
                         s->f.issue_time * 1000, err, sizeof err);
    avro_value_decref(&v);
    if (rc < 0)
        goto fail;
    snprintf(labels, sizeof labels, "kind=%s,model=%s", kind, s->f.model);
    obs_count(s->m, "ems_forecaster_forecasts_total", "Forecast runs published.",
              labels, 1);
    if (s->f.fallback[0]) {
        snprintf(labels, sizeof labels, "kind=%s,reason=%s", kind, s->f.fallback);
        obs_count(s->m, "ems_forecaster_fallbacks_total",
                  "Runs that served a baseline instead of the selected model.", labels,
                  1);
    }
    return 0;
fail:
    log_error("forecaster", "publishing on energy.forecast: %s", err);
    return -1;
}

/* While the HTTP weather source is degraded, its site's forecasts say so
 * in their quality list (they went out with what weather there was). */
static void mark_weather_source(fc_service *s, fc_site *site)
{
    char why[256];
    if (!s->wxh || strcmp(fc_site_id(site), s->wxh_site) ||
        !fc_wxhttp_degraded(s->wxh, why, sizeof why))
        return;
    size_t len = strlen(s->f.quality);
    snprintf(s->f.quality + len, sizeof s->f.quality - len, "%sweather_source_degraded",
             len ? ";" : "");
}

/* Issues and publishes every run due on the sites' event clocks. Returns
 * the number published, or -1. */
static int issue_due(fc_service *s)
{
    int published = 0;
    for (size_t i = 0; i < s->nsites; i++) {
        fc_site *site = s->sites[i];
        fc_kind k;
        int64_t at;
        size_t skipped = 0;
        int trained = 0;
        while (!svc_stopping(s->svc) && fc_site_due(site, &k, &at, &skipped)) {
            double t0 = ems_mono_s();
            if (fc_site_issue(site, k, at, &s->f, &trained) < 0)
                return log_error("forecaster", "out of memory in a run"), -1;
            obs_histogram_observe(s->m_run, ems_mono_s() - t0);
            if (trained) {
                if (s->conf.save_models)
                    save_model(s, site, k);
                obs_counter_inc(
                    s->m_train); /* after the save: a reader may rely on it */
            }
            mark_weather_source(s, site);
            if (publish(s, site) < 0)
                return -1;
            published++;
        }
        size_t stale_load = 0, stale_wx = 0;
        fc_site_take_stale(site, &stale_load, &stale_wx);
        obs_counter_add(s->m_skipped, (double)skipped);
        obs_counter_add(s->m_stale, (double)stale_load);
        obs_counter_add(s->m_wx_stale, (double)stale_wx);
    }
    return published;
}

/* ---- the mark of energy.load (fc_stopmark.c) ---- */

static void write_mark(fc_service *s)
{
    char err[1200];
    if (fc_stopmark_write(s->conf.model_dir, s->load_wire, &s->mark, err, sizeof err) <
        0) {
        if (!s->mark_failing) /* once, not at every batch */
            log_warn("forecaster", "stop mark: %s", err);
        s->mark_failing = 1;
        return;
    }
    if (s->mark_failing)
        log_info("forecaster", "stop mark written again");
    s->mark_failing = s->mark_dirty = 0;
}

/* Every record polled so far is committed now: the mark covers them. Only
 * committed records, whose runs were published before the ack (or wait
 * for weather): a crash replays the rest, and what was not the service's
 * follows backfill. */
static void mark_acked(fc_service *s)
{
    for (size_t i = 0; i < s->polled.n; i++)
        s->mark_dirty |=
            fc_stopmark_raise(&s->mark, s->polled.partition[i], s->polled.offset[i]);
}

/* Writes the mark when it grew, at most every FC_MARK_EVERY_S: one small
 * fsync'd file, not one per batch of a backlog. */
static void keep_mark(fc_service *s)
{
    double now = ems_mono_s();
    if (!s->mark_dirty || now < s->mark_next)
        return;
    s->mark_next = now + FC_MARK_EVERY_S;
    write_mark(s);
}

static int live_step(fc_service *s)
{
    bus_record_t *recs = NULL;
    char err[512], reason[256];
    int got = bus_consumer_poll(s->live, &recs, (int)s->conf.batch,
                                (int)s->conf.poll_ms, err, sizeof err);
    if (got < 0) {
        log_error("forecaster", "consume: %s", err);
        return -1;
    }
    for (int i = 0; i < got; i++) {
        if (apply(s, &recs[i], reason, sizeof reason) < 0)
            reject(s, &recs[i], reason);
        if (!strcmp(recs[i].topic, "energy.load"))
            fc_stopmark_raise(&s->polled, recs[i].partition, recs[i].offset + 1);
    }
    int published = issue_due(s);
    if (published < 0)
        return -1;
    if (published > 0 &&
        bus_producer_flush(svc_producer(s->svc), 30000, err, sizeof err) < 0) {
        log_error("forecaster", "flushing forecasts: %s", err);
        return -1;
    }
    /* a batch that was all dead-lettered (got 0) is acked too, so a
     * restart does not dead-letter it again */
    if (got > 0 || bus_consumer_unacked(s->live)) {
        if (bus_consumer_ack(s->live, err, sizeof err) < 0)
            log_warn("forecaster", "ack: %s", err);
        else
            mark_acked(s);
    }
    keep_mark(s);
    return 0;
}

static void fetch_weather(fc_service *s)
{
    fc_wxdir_stats st = {0, 0, 0};
    if (!s->wxh)
        return;
    fc_wxhttp_step(s->wxh, s->svc, ems_mono_s(), &st);
    obs_counter_add(s->m_fetch_ok, (double)st.done);
    obs_counter_add(s->m_fetch_err, (double)st.rejected);
    obs_counter_add(s->m_wx_rec, (double)st.records);
}

static void scan_weather(fc_service *s)
{
    double now = ems_mono_s();
    if (!s->conf.wx_dir || !*s->conf.wx_dir || now < s->next_scan)
        return;
    s->next_scan = now + s->conf.wx_scan_ms / 1000.0;
    fc_wxdir_stats st = {0, 0, 0};
    fc_wxdir_conf wc = {.dir = s->conf.wx_dir,
                        .default_site = s->conf.wx_site,
                        .max_bytes = s->conf.wx_max_bytes,
                        .unfinished_ms = s->conf.wx_unfinished_ms,
                        .seen = s->wxseen};
    fc_wxdir_scan(s->svc, &wc, &st);
    obs_counter_add(s->m_wx_done, (double)st.done);
    obs_counter_add(s->m_wx_rej, (double)st.rejected);
    obs_counter_add(s->m_wx_rec, (double)st.records);
}

int fc_service_step(svc_t *svc, void *ctx)
{
    fc_service *s = ctx;
    (void)svc;
    scan_weather(s);
    fetch_weather(s);
    if (s->restore)
        return restore_step(s);
    return live_step(s);
}

/* The end of energy.load now, for the next start (fc_stopmark.c); when it
 * cannot be read, what was committed. Only once live: a stop during the
 * replay keeps the previous mark. */
static void save_stopmark(fc_service *s)
{
    char err[1200];
    if (!s->live)
        return;
    int raised = fc_stopmark_raise_to_end(&s->mark, s->live, "energy.load",
                                          RESTORE_END_MS, err, sizeof err);
    if (raised < 0)
        log_warn("forecaster", "stop mark: %s; it keeps the committed offsets", err);
    if (raised > 0)
        s->mark_dirty = 1;
    if (s->mark_dirty)
        write_mark(s);
}

void fc_service_shutdown(svc_t *svc, void *ctx)
{
    fc_service *s = ctx;
    (void)svc;
    save_stopmark(s);
    bus_consumer_destroy(s->restore); /* unacked offsets stay uncommitted */
    bus_end_offsets_destroy(s->restore_end);
    s->restore_end = NULL;
    bus_consumer_destroy(s->live);
    s->restore = s->live = NULL;
    fc_wxhttp_destroy(s->wxh);
    s->wxh = NULL;
    fc_wxseen_destroy(s->wxseen);
    s->wxseen = NULL;
    for (size_t i = 0; i < s->nsites; i++)
        fc_site_destroy(s->sites[i]);
    free(s->sites);
    s->sites = NULL;
    s->nsites = 0;
}
