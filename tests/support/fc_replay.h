/* The forecaster's integration tests (prefix tfc_): the real Dutch substation
 * data set (tests/data/openstef_nl_neerijnen/307-train-data.csv, 15-min load
 * in MW with its NWP weather) replayed through the bus as energy.load site
 * intervals (kW) and energy.weather days, the same inputs put into a local
 * fc_site (what the service should compute, by the core's own code path),
 * and the forecaster binary started as a child on the test stack.
 *
 * Like harness.h, functions that assert belong inside a Check test or
 * fixture; all run in the test's thread.
 */
#ifndef EMS_TESTS_FC_REPLAY_H
#define EMS_TESTS_FC_REPLAY_H

#include <stdint.h>
#include <sys/types.h>

#include "bus/bus.h"
#include "forecaster/fc_history.h"
#include "forecaster/fc_site.h"
#include "harness.h"

typedef struct tfc_data {
    fc_series load; /* MW, as in the file */
    fc_weather wx;
    int64_t day0; /* the first whole UTC day of the data */
} tfc_data;

/* Weather variables replayed, by index: 0 temperature, 1 radiation, 2 wind
 * speed (the names the service stores them under). */
#define TFC_NWX 3
extern const char *const tfc_wx_names[TFC_NWX];

/* Reads the data set below EMS_TEST_ROOT into d (released by
 * tfc_data_release()). Fails the test when it cannot be read. */
void tfc_data_read(tfc_data *d);
void tfc_data_release(tfc_data *d);
/* The load at t in kW; NaN where the data set has none. */
double tfc_load_kw(const tfc_data *d, int64_t t);
/* Weather variable j (see tfc_wx_names) at t; NaN where missing. */
double tfc_wx(const tfc_data *d, int j, int64_t t);

/* Produces one energy.load site interval [t, t + 900) of mean kw for site,
 * keyed by site, stamped at its end. Fails the test on error. */
void tfc_produce_interval(bus_t *b, bus_producer_t *p, const char *site, int64_t t,
                          double kw);
/* Produces the 96 quarter-hour weather slots of the UTC day from day,
 * issued the day before; nan_at >= 0 puts NaN in that slot's temperature
 * (a bad record), a temperature missing in the data is sent as null. */
void tfc_produce_weather_day(bus_t *b, bus_producer_t *p, const tfc_data *d,
                             const char *site, int64_t day, int nan_at);

/* A local fc_site of site (time zone and holidays from
 * tools/stack/plant.yaml) with trees of the given rounds and depth and
 * warmup seconds (0: the default), fed as the service is: the weather of
 * load_days + 3 days first, then the load of load_days days from day0.
 * The caller destroys it. Fails the test on error. */
fc_site *tfc_local_site(const tfc_data *d, const char *site, int rounds, int depth,
                        int64_t warmup, int load_days);

/* Starts the forecaster binary (EMS_TEST_BIN) in EMS_TEST_ROOT with its
 * stack configuration, on topic prefix, HTTP port, consumer group and
 * model directory <dir>/models, warnings only, no backfill, a restore
 * bounded by 10 minutes; extra (may be NULL) adds the test's own settings.
 * Returns its pid (see th_spawn()). */
pid_t tfc_start_forecaster(const char *prefix, int port, const char *group,
                           const char *dir, const th_env_list *extra);

#endif
