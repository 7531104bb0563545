/* The ingester of the integration tests (prefix th_ing_): its child process
 * on the test stack and the energy.telemetry records the tests produce for
 * it. Like harness.h, every function calls Check's ck_assert and belongs
 * inside a Check test or fixture.
 */
#ifndef EMS_TESTS_INGESTER_H
#define EMS_TESTS_INGESTER_H

#include <libpq-fe.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus/bus.h"
#include "harness.h"

/* Sizes of the names th_ing_names() writes: a site id leaves room for
 * meter ids "<site>-m00" well under the ingester's limit (ING_ID_MAX). */
#define TH_ING_SITE_SIZE 40
#define TH_ING_GROUP_SIZE 64
#define TH_ING_PREFIX_SIZE 48

/* Fresh names for a test's ingester: site "<stem><unique>" (th_unique()),
 * its consumer group "ingester-<site>" and its topic prefix "<site>.", so
 * that its topics hold only this run's records. A stem too long for the
 * site aborts the process (th_unique()). */
void th_ing_names(const char *stem, char site[static TH_ING_SITE_SIZE],
                  char group[static TH_ING_GROUP_SIZE],
                  char prefix[static TH_ING_PREFIX_SIZE]);

/* Adds to e what every test's ingester gets: the test stack's bus (with
 * topic prefix prefix), PostgreSQL (conninfo; NULL: EMS_TEST_PG) and Redis,
 * its consumer group, its HTTP port and log level warn. The test adds its
 * own settings after these (a later variable of the same name wins). */
void th_ing_env(th_env_list *e, const char *conninfo, const char *group,
                const char *prefix, int port);

/* Starts the built ingester in EMS_TEST_ROOT with the stack's configuration
 * (tools/stack/conf/ingester.yaml), no inherited EMS_* variable but e, and
 * stdout and stderr appended to log (NULL: inherited). Returns its pid. */
pid_t th_ing_start(const th_env_list *e, const char *log);

/* One energy.telemetry record. Power and energy are sent when has_power /
 * has_energy; grid adds 10.5 kV and 50 Hz; source is the enum's index
 * (2: replay). Quality good, no quality detail. */
typedef struct th_reading {
    const char *site, *meter;
    int64_t ts_ms, seq;
    double power_kw, energy_kwh;
    int has_power, has_energy, grid, source;
} th_reading;

/* Produces r keyed by its site, with its event time as the record's
 * timestamp. Fails the test when the record cannot be enqueued. */
void th_ing_produce(bus_t *b, bus_producer_t *p, const th_reading *r);

/* Fails the test unless every hourly, daily and monthly rollup row of the
 * site equals the aggregate of its stored children (energy, mean, peak,
 * minimum, sample count, completeness): whichever way the ingester kept
 * them (added to, or recomputed), they must agree with the finer table. */
void th_ing_expect_coarse_consistent(PGconn *c, const char *site);

/* ---- the ingester's outputs read back ---- */

#define TH_ING_MAX_OUTS 4096

/* One energy.load interval (of a meter, or of the site when meter is "")
 * or energy.gaps record, as read back. */
typedef struct th_ing_out {
    int is_gap;
    char meter[64], gap_id[96];
    int64_t start; /* interval_start, or gap_start */
    int32_t revision, sample_count, missing;
    double energy;
    int ongoing, recovered;
} th_ing_out;

/* The records a test read back, in the order read. */
typedef struct th_ing_outs {
    th_ing_out v[TH_ING_MAX_OUTS];
    int n;
} th_ing_outs;

/* Polls c (600 polls of up to 100 ms at the most), adding every record to
 * o and acking every batch, until done(o) holds. Fails the test naming
 * what when it never does, or when o is full. */
void th_ing_read_until(bus_consumer_t *c, th_ing_outs *o,
                       int (*done)(const th_ing_outs *o), const char *what);
/* The interval of meter ("" = the site) starting at start with revision
 * rev; NULL when none was read. */
const th_ing_out *th_ing_interval(const th_ing_outs *o, const char *meter,
                                  int64_t start, int32_t rev);
/* The newest revision of an interval (meter "" = the site); NULL when none
 * was read. */
const th_ing_out *th_ing_latest(const th_ing_outs *o, const char *meter, int64_t start);
/* The newest revision of gap gap_id; NULL when none was read. */
const th_ing_out *th_ing_last_gap(const th_ing_outs *o, const char *gap_id);

#endif
