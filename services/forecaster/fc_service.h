/* fc_service: the forecaster's loop on the service skeleton.
 *
 * At start the service rebuilds its state from the topics: a consumer in a
 * throw-away group (never committed) reads energy.load, energy.weather and
 * energy.forecast from the earliest offset up to the end offsets read when
 * it starts (until they are idle when those cannot be read), so every
 * site's history is back in memory and runs already published are not
 * issued again. Then the live consumer (forecaster.group_id) reads
 * energy.load and energy.weather; each batch is applied (bad records to the
 * DLQ with the reason), the runs the batch made due on event time are issued
 * and published on energy.forecast, the producer is flushed, and only then
 * is the batch acknowledged. Retraining models are saved under
 * forecaster.model_dir, and after the replay the newest valid ones are
 * loaded (fc_modeldir.c), so a restart neither repeats a run nor retrains
 * early. The weather adapter scans weather.dir (fc_wxdir.c) and fetches
 * weather.url (fc_wxhttp.c) between polls and publishes energy.weather.
 */
#ifndef FC_SERVICE_H
#define FC_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "forecaster/fc_site.h"
#include "forecaster/fc_wxfile.h"
#include "svc/svc.h"

typedef struct fc_service_conf {
    const char *group_id;
    const char *day_ahead_time; /* "HH:MM" site time */
    int64_t slot_ms, retrain_ms, window_ms, warmup_ms, backfill_ms, weather_wait_ms;
    int64_t intraday_hours;
    double band_q, band_target;
    int64_t xgb_threads;
    int64_t xgb_rounds, xgb_depth; /* boosting rounds, tree depth */
    const char *model_dir;
    bool save_models, load_models;
    int64_t batch, poll_ms, restore_idle_ms, restore_empty_ms, restore_max_ms;
    const char *wx_dir;
    const char *wx_site;
    int64_t wx_scan_ms, wx_max_bytes, wx_unfinished_ms;
    const char *wx_url, *wx_url_site;
    int64_t wx_poll_ms, wx_timeout_ms, wx_retries, wx_backoff_ms, wx_backoff_max_ms;
} fc_service_conf;

/* The option tables (sections forecaster and weather). */
extern const cfg_option_t fc_service_options[];

/* Copies in to out replacing "${NAME}" by the environment variable NAME and
 * "${NAME:-default}" by it or, when unset or empty, by default (so the
 * stack's config can say "${EMS_STACK_VAR:-var}/forecaster/models"). Used
 * for forecaster.model_dir and weather.dir. Returns 0, or -1 when the
 * result does not fit or a name is empty or too long. */
int fc_expand_env(const char *in, char *out, size_t out_size);

typedef struct fc_service fc_service;

fc_service *fc_service_new(void);
void fc_service_free(fc_service *s);
fc_service_conf *fc_service_conf_of(fc_service *s);

/* svc_def_t callbacks; ctx is the fc_service. */
int fc_service_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size);
int fc_service_step(svc_t *svc, void *ctx);
void fc_service_shutdown(svc_t *svc, void *ctx);

/* ---- weather adapter (fc_wxdir.c) ---- */

typedef struct fc_wxdir_stats {
    int64_t done, rejected, records;
} fc_wxdir_stats;

typedef struct fc_wxdir_conf {
    const char *dir, *default_site;
    int64_t max_bytes;
    int64_t unfinished_ms; /* how long a cut-off file may still be written to */
    fc_wxseen *seen;       /* what the previous scans saw (owned by the caller) */
} fc_wxdir_conf;

/* Publishes every weather file in c->dir (not in its subdirectories) on
 * energy.weather, keyed by the site named by the file name ("<site>_*.csv",
 * "<site>.json"; else default_site), in chunks of at most a month of slots,
 * then moves it to dir/done/; a file that does not parse, names no known
 * site or is larger than max_bytes moves to dir/rejected/ with the reason
 * logged. Files are taken in name order; dot-files are left alone. A file
 * is read only once its size and modification time are those the previous
 * scan saw, so one still being written is not read half; one that does not
 * parse and looks cut off (fc_wxfile_cut_off) stays until it changes, and
 * is rejected once not written to for unfinished_ms. Returns 0, or -1 when
 * publishing failed (the file stays for the next scan). */
int fc_wxdir_scan(svc_t *svc, const fc_wxdir_conf *c, fc_wxdir_stats *st);

/* Publishes wx on energy.weather for site in records of at most a month of
 * slots (slots ending by issued_ms are "observed", later ones "forecast"),
 * then flushes. Counts records in st->records. Returns 0, or -1 (logged). */
int fc_wx_publish(svc_t *svc, const char *site, const char *provider, int64_t issued_ms,
                  const fc_wxdata *wx, fc_wxdir_stats *st);

/* ---- how far energy.load was the service's at the last stop (fc_stopmark.c) ----
 *
 * A stop in the middle of a backlog leaves runs due in records the service
 * already had on the topic; the next start issues them however far behind
 * the newest interval they are (fc_site_keep_runs), which backfill alone
 * would skip. The mark is kept in <model_dir>/<topic>.stop, named by the
 * topic on the wire (with the bus's prefix), which each of its lines names
 * too: while running, the offsets committed after each batch (every
 * FC_MARK_EVERY_S at most), so a crash leaves the records the service had
 * processed; at a stop (SIGTERM), the end offsets of energy.load, the
 * records that were on the topic while the service ran. A mark only grows
 * (per partition the higher offset wins). */
#define FC_STOPMARK_MAX 256 /* partitions */
#define FC_MARK_EVERY_S 5.0 /* least time between two writes while running */
typedef struct fc_stopmark {
    size_t n;
    int32_t partition[FC_STOPMARK_MAX];
    int64_t offset[FC_STOPMARK_MAX]; /* one past the last record covered */
} fc_stopmark;

/* Raises the offset of partition in m to offset when higher (adds the
 * partition when m has room). 1 when m changed, else 0. */
int fc_stopmark_raise(fc_stopmark *m, int32_t partition, int64_t offset);
/* Raises m to the end offsets of the logical topic (c must read it; up to
 * timeout_ms per answer). The number of partitions raised, or -1 with
 * errstr (m unchanged). */
int fc_stopmark_raise_to_end(fc_stopmark *m, bus_consumer_t *c, const char *topic,
                             int timeout_ms, char *errstr, size_t errstr_size);
/* Writes m as the mark of wire (the topic's name on the wire) to
 * <dir>/<wire>.stop, atomically (ems_file_write_atomic). 0, or -1 with
 * errstr (the previous mark stays). */
int fc_stopmark_write(const char *dir, const char *wire, const fc_stopmark *m,
                      char *errstr, size_t errstr_size);
/* Reads <dir>/<wire>.stop into *m: 0 (m->n is 0 when there is none), or -1
 * with errstr when the file is malformed or is the mark of another topic
 * (m->n is 0). */
int fc_stopmark_load(const char *dir, const char *wire, fc_stopmark *m, char *errstr,
                     size_t errstr_size);
/* 1 when the energy.load record at partition and offset is before the
 * mark. */
int fc_stopmark_before(const fc_stopmark *m, int32_t partition, int64_t offset);

/* ---- weather over HTTP (fc_wxhttp.c) ---- */

typedef struct fc_wxhttp_conf {
    const char *url;  /* Open-Meteo forecast API URL (or any URL giving its shape) */
    const char *site; /* plant site the weather is for */
    int64_t period_ms, timeout_ms, backoff_ms, backoff_max_ms, retries, max_bytes;
} fc_wxhttp_conf;

typedef struct fc_wxhttp fc_wxhttp;

/* Copies the configuration (strings too). NULL on ENOMEM. */
fc_wxhttp *fc_wxhttp_new(const fc_wxhttp_conf *c);
void fc_wxhttp_destroy(fc_wxhttp *h);

/* Delay before retry number `failures` (1, 2, ...): backoff_ms doubled per
 * failure, at most backoff_max_ms. Pure. */
int64_t fc_wxhttp_backoff(int64_t backoff_ms, int64_t backoff_max_ms, int failures);

/* Called every loop step with the monotonic time (s). When a fetch is due it
 * makes one attempt (blocking at most timeout_ms): the body is parsed as the
 * Open-Meteo JSON (or weather CSV) and published on energy.weather. A failed
 * attempt (connection, HTTP status >= 400, a body that does not parse) is
 * logged, counted in st->rejected and retried after fc_wxhttp_backoff();
 * when `retries` retries failed too the source is degraded until a fetch
 * succeeds, and the next try is at the next period. A success counts in
 * st->done and the next fetch is one period after the first attempt of the
 * cycle. Returns 1 when it fetched and published, 0 when nothing was due,
 * -1 when the attempt failed. */
int fc_wxhttp_step(fc_wxhttp *h, svc_t *svc, double now, fc_wxdir_stats *st);

/* 1 while degraded, with the last error in why. */
int fc_wxhttp_degraded(const fc_wxhttp *h, char *why, size_t why_size);

/* ---- saved models (fc_modeldir.c) ---- */

/* Loads into the site's forecaster the newest model of kind k in dir
 * ("<topic_prefix><site>.<da|id>.<version>.model", newest version by name:
 * a model_dir shared by deployments with other topic prefixes keeps their
 * models apart, as their data) that is of this
 * build's file format and kind, is complete, has the feature count of the
 * site's weather columns and was trained no later than the site's clock
 * (a model saved on the way to that clock). Refused files are counted in *refused
 * (may be NULL), the last reason is left in errstr. Returns 1 when one was
 * loaded, 0 when none was (the forecaster is unchanged). */
int fc_modeldir_load(const char *dir, const char *topic_prefix, fc_site *site,
                     fc_kind k, size_t *refused, char *errstr, size_t errstr_size);

/* Saved models kept per site and kind: a restart loads the newest trained
 * no later than its first open run, one of the last two saved. */
#define FC_MODELS_KEPT 4

/* Removes the saved models of site_id and kind k in dir (named as
 * fc_modeldir_load reads them, with a version as this build writes it)
 * whose version sorts below `saved` (the one just saved), all but the
 * keep - 1 newest of them, so the directory does not grow by a model per
 * training for ever. Files sorting above `saved` are left alone. Returns
 * the number removed, or -1 with errstr when one could not be removed. */
int fc_modeldir_prune(const char *dir, const char *topic_prefix, const char *site_id,
                      fc_kind k, const char *saved, size_t keep, char *errstr,
                      size_t errstr_size);

#endif
