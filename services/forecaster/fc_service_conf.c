/* fc_service_conf: the forecaster's option tables (sections forecaster and
 * weather); keys and defaults are documented in docs/forecaster.md. */
#include "forecaster/fc_service.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(fc_service_conf, f)
#define DAY_MS 86400000.0

const cfg_option_t fc_service_options[] = {
    {.section = "forecaster",
     .key = "group_id",
     .type = CFG_STRING,
     .def = "forecaster",
     .offset = OFF(group_id),
     .desc = "Kafka consumer group of the live consumer."},
    {.section = "forecaster",
     .key = "day_ahead_time",
     .type = CFG_STRING,
     .def = "06:00",
     .offset = OFF(day_ahead_time),
     .desc =
         "Site-local time (HH:MM) of the day-ahead run for the next site-local day."},
    {.section = "forecaster",
     .key = "slot",
     .type = CFG_DURATION_MS,
     .def = "15m",
     .min = 900000,
     .max = 3600000,
     .offset = OFF(slot_ms),
     .desc = "Slot length of load history and forecasts (15m or 1h)."},
    {.section = "forecaster",
     .key = "intraday_hours",
     .type = CFG_INT,
     .def = "24",
     .min = 1,
     .max = 72,
     .offset = OFF(intraday_hours),
     .desc = "Horizon of the hourly intraday run."},
    {.section = "forecaster",
     .key = "retrain_every",
     .type = CFG_DURATION_MS,
     .def = "168h",
     .min = DAY_MS,
     .max = 90 * DAY_MS,
     .offset = OFF(retrain_ms),
     .desc = "Retraining cadence on event time (whole days)."},
    {.section = "forecaster",
     .key = "window",
     .type = CFG_DURATION_MS,
     .def = "8760h",
     .min = 28 * DAY_MS,
     .max = 1100 * DAY_MS,
     .offset = OFF(window_ms),
     .desc = "Rolling training window (whole days); history is kept a bit longer."},
    {.section = "forecaster",
     .key = "band_quantile",
     .type = CFG_DOUBLE,
     .def = "0.9",
     .min = 0.55,
     .max = 0.995,
     .offset = OFF(band_q),
     .desc = "Residual quantile behind P90 (1 minus it: P10) before the band is "
             "calibrated; see ADR 0011."},
    {.section = "forecaster",
     .key = "band_coverage",
     .type = CFG_DOUBLE,
     .def = "0.8",
     .min = 0.5,
     .max = 0.98,
     .offset = OFF(band_target),
     .desc = "P10-P90 coverage the band is scaled to on the latest held-back week "
             "(ADR 0011)."},
    {.section = "forecaster",
     .key = "threads",
     .type = CFG_INT,
     .def = "2",
     .min = 1,
     .max = 64,
     .offset = OFF(xgb_threads),
     .desc = "Threads of the tree training."},
    {.section = "forecaster",
     .key = "warmup",
     .type = CFG_DURATION_MS,
     .def = "168h",
     .min = 0,
     .max = 365 * DAY_MS,
     .offset = OFF(warmup_ms),
     .desc = "Load history a site needs before its first run."},
    {.section = "forecaster",
     .key = "backfill",
     .type = CFG_DURATION_MS,
     .def = "48h",
     .min = 0,
     .max = 3650 * DAY_MS,
     .offset = OFF(backfill_ms),
     .desc = "Runs further than this behind the event clock are skipped (0: none)."},
    {.section = "forecaster",
     .key = "weather_wait",
     .type = CFG_DURATION_MS,
     .def = "1h",
     .min = 0,
     .max = 2 * DAY_MS,
     .offset = OFF(weather_wait_ms),
     .desc = "Event time a run waits for weather covering its horizon."},
    {.section = "forecaster",
     .key = "model_dir",
     .type = CFG_STRING,
     .def = "var/forecaster/models",
     .offset = OFF(model_dir),
     .desc = "Directory of the saved models (<site>.<da|id>.<version>.model)."},
    {.section = "forecaster",
     .key = "save_models",
     .type = CFG_BOOL,
     .def = "true",
     .offset = OFF(save_models),
     .desc = "Save every retrained model to model_dir."},
    {.section = "forecaster",
     .key = "load_models",
     .type = CFG_BOOL,
     .def = "true",
     .offset = OFF(load_models),
     .desc = "At start, serve the newest valid saved model of each site and kind "
             "instead of retraining."},
    {.section = "forecaster",
     .key = "batch",
     .type = CFG_INT,
     .def = "2000",
     .min = 1,
     .max = 100000,
     .offset = OFF(batch),
     .desc = "Most records per consumed batch."},
    {.section = "forecaster",
     .key = "poll_time",
     .type = CFG_DURATION_MS,
     .def = "200ms",
     .min = 1,
     .max = 5000,
     .offset = OFF(poll_ms),
     .desc = "Longest wait for a batch."},
    {.section = "forecaster",
     .key = "restore_idle",
     .type = CFG_DURATION_MS,
     .def = "2s",
     .min = 100,
     .max = 600000,
     .offset = OFF(restore_idle_ms),
     .desc = "The start-up replay ends after the topics were idle this long."},
    {.section = "forecaster",
     .key = "restore_empty",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 100,
     .max = 600000,
     .offset = OFF(restore_empty_ms),
     .desc = "The start-up replay ends when nothing at all arrived this long (empty "
             "topics; it covers the consumer group's join)."},
    {.section = "forecaster",
     .key = "restore_max",
     .type = CFG_DURATION_MS,
     .def = "10m",
     .min = 1000,
     .max = 3600000,
     .offset = OFF(restore_max_ms),
     .desc = "Longest start-up replay (also when the topics are empty)."},
    {.section = "weather",
     .key = "dir",
     .type = CFG_STRING,
     .def = "",
     .offset = OFF(wx_dir),
     .desc = "Directory of dropped weather files (\"\": off)."},
    {.section = "weather",
     .key = "default_site",
     .type = CFG_STRING,
     .def = "",
     .offset = OFF(wx_site),
     .desc = "Site of weather files whose name does not start with a site id."},
    {.section = "weather",
     .key = "scan_interval",
     .type = CFG_DURATION_MS,
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .offset = OFF(wx_scan_ms),
     .desc = "How often the weather directory is scanned."},
    {.section = "weather",
     .key = "max_file_size",
     .type = CFG_INT,
     .def = "67108864",
     .min = 1024,
     .max = 1073741824.0,
     .offset = OFF(wx_max_bytes),
     .desc = "Larger weather files are rejected (bytes)."},
    {.section = "weather",
     .key = "url",
     .type = CFG_STRING,
     .def = "",
     .offset = OFF(wx_url),
     .desc = "HTTP endpoint giving the Open-Meteo forecast API JSON (\"\": off)."},
    {.section = "weather",
     .key = "url_site",
     .type = CFG_STRING,
     .def = "",
     .offset = OFF(wx_url_site),
     .desc = "Plant site of the endpoint's weather (\"\": weather.default_site)."},
    {.section = "weather",
     .key = "poll_interval",
     .type = CFG_DURATION_MS,
     .def = "1h",
     .min = 1000,
     .max = 86400000,
     .offset = OFF(wx_poll_ms),
     .desc = "How often the endpoint is fetched."},
    {.section = "weather",
     .key = "timeout",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 100,
     .max = 120000,
     .offset = OFF(wx_timeout_ms),
     .desc = "Longest wait for one fetch (the service loop waits with it)."},
    {.section = "weather",
     .key = "retries",
     .type = CFG_INT,
     .def = "3",
     .min = 0,
     .max = 20,
     .offset = OFF(wx_retries),
     .desc = "Retries of a failed fetch before the source counts as degraded."},
    {.section = "weather",
     .key = "backoff",
     .type = CFG_DURATION_MS,
     .def = "2s",
     .min = 10,
     .max = 600000,
     .offset = OFF(wx_backoff_ms),
     .desc = "Wait before the first retry; doubled for each further one."},
    {.section = "weather",
     .key = "backoff_max",
     .type = CFG_DURATION_MS,
     .def = "5m",
     .min = 10,
     .max = 3600000,
     .offset = OFF(wx_backoff_max_ms),
     .desc = "Longest wait between retries."},
    CFG_END,
};

int fc_expand_env(const char *in, char *out, size_t out_size)
{
    size_t n = 0;
    for (const char *p = in; *p;) {
        const char *val = NULL, *def = NULL, *end;
        size_t vlen = 0, dlen = 0;
        if (p[0] != '$' || p[1] != '{' || !(end = strchr(p, '}'))) {
            if (n + 1 >= out_size)
                return -1;
            out[n++] = *p++;
            continue;
        }
        char name[128];
        const char *colon = strstr(p, ":-");
        size_t nlen = (colon && colon < end ? colon : end) - (p + 2);
        if (nlen == 0 || nlen >= sizeof name)
            return -1;
        memcpy(name, p + 2, nlen);
        name[nlen] = '\0';
        if (colon && colon < end)
            def = colon + 2, dlen = (size_t)(end - def);
        val = getenv(name);
        if (val && *val)
            vlen = strlen(val);
        else
            val = def, vlen = dlen;
        if (n + vlen + 1 > out_size)
            return -1;
        if (vlen)
            memcpy(out + n, val, vlen);
        n += vlen;
        p = end + 1;
    }
    if (n >= out_size)
        return -1;
    out[n] = '\0';
    return 0;
}
