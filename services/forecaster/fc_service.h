/* fc_service: the forecaster's loop on the service skeleton.
 *
 * At start the service rebuilds its state from the topics: a consumer in a
 * throw-away group (never committed) reads energy.load, energy.weather and
 * energy.forecast from the earliest offset until they are idle, so every
 * site's history is back in memory and runs already published are not
 * issued again. Then the live consumer (forecaster.group_id) reads
 * energy.load and energy.weather; each batch is applied (bad records to the
 * DLQ with the reason), the runs the batch made due on event time are issued
 * and published on energy.forecast, the producer is flushed, and only then
 * is the batch acknowledged. Retraining models are saved under
 * forecaster.model_dir. The weather adapter (fc_wxdir.c) scans weather.dir
 * between polls and publishes energy.weather.
 */
#ifndef FC_SERVICE_H
#define FC_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "svc/svc.h"

typedef struct fc_service_conf {
    const char *group_id;
    const char *day_ahead_time; /* "HH:MM" site time */
    int64_t slot_ms, retrain_ms, window_ms, warmup_ms, backfill_ms, weather_wait_ms;
    int64_t intraday_hours;
    double band_q;
    int64_t xgb_threads;
    const char *model_dir;
    bool save_models;
    int64_t batch, poll_ms, restore_idle_ms, restore_max_ms;
    const char *wx_dir;
    const char *wx_site;
    int64_t wx_scan_ms, wx_max_bytes;
} fc_service_conf;

/* The option tables (sections forecaster and weather). */
extern const cfg_option_t fc_service_options[];

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

/* Publishes every weather file in dir (not in its subdirectories) on
 * energy.weather, keyed by the site named by the file name ("<site>_*.csv",
 * "<site>.json"; else default_site), in chunks of at most a month of slots,
 * then moves it to dir/done/; a file that does not parse, names no known
 * site or is larger than max_bytes moves to dir/rejected/ with the reason
 * logged. Files are taken in name order. Returns 0, or -1 when publishing
 * failed (the file stays for the next scan). */
int fc_wxdir_scan(svc_t *svc, const char *dir, const char *default_site,
                  int64_t max_bytes, fc_wxdir_stats *st);

#endif
