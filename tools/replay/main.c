/*
 * replay: publishes the Dutch substation data set (OpenSTEF, job 307) through
 * the bus as the suite's own records, in event-time order:
 *   energy.telemetry  one reading of the main meter per quarter-hour
 *   energy.prices     one day-ahead curve per delivery day (UTC day, or the
 *                     site-local day with --tz), issued at 12:00 the day
 *                     before (UTC, or site time with --tz)
 *   energy.weather    one weather series per UTC day, issued at 00:00 UTC the
 *                     day before (before a 06:00 day-ahead load forecast)
 * Each record's Kafka timestamp is its own event time. See docs/data.md.
 *
 * usage: replay [--bootstrap H:P] [--registry URL] [--schemas DIR]
 *               [--prefix P] [--data DIR] [--site ID] [--meter ID]
 *               [--market M] [--tz ZONE]
 *               [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--speed X]
 *               [--limit N] [--effective-prices] [--dry-run]
 *               [--gate-from YYYY-MM-DD] [--gate-timeout S]
 *
 * With --gate-from, the replay holds each price curve issued at T (from that
 * day on) until energy.forecast holds a forecast of the site issued at
 * T - 6 h or later (the day-ahead load forecast of the curve's day is out),
 * and after publishing it holds the rest until energy.schedule holds a plan
 * of the site made at T or later (the optimizer has planned with that pair).
 * So the schedule-optimizer, which keeps only the latest forecast and curve,
 * meets each day's pair as it would live, although the replay runs at full
 * speed and topics are not ordered among each other.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "clock/clock.h"
#include "dataset/dataset.h"
#include "records.h"

/* The curve of day D is issued at 12:00 on D-1, about when the day-ahead
 * auction results are out; the weather of day D at 00:00 UTC on D-1 (the
 * night's weather model run), so a 06:00 day-ahead load forecast has it. */
#define ISSUE_LEAD_MS (12 * 3600 * 1000LL)
#define WEATHER_LEAD_MS DATASET_DAY_MS
/* Most quarter-hours of one delivery day (a 25-hour DST day). */
#define MAX_DAY_SLOTS 100
/* A curve issued at T waits for a forecast issued at T - GATE_LAG_MS or later
 * (the 06:00 day-ahead run is 6 h before a 12:00 curve, site time). */
#define GATE_LAG_MS (6 * 3600 * 1000LL)

typedef struct opts {
    const char *bootstrap, *registry, *schemas, *prefix, *data;
    const char *tz; /* curves per site-local day in this zone; NULL = UTC days */
    int64_t from_ms, to_ms;
    double speed;
    long limit;
    bool dry_run;
    int64_t gate_from_ms; /* 0 = no gate */
    double gate_timeout_s;
    replay_site_t site;
} opts_t;

typedef enum { EV_PRICES = 0, EV_WEATHER, EV_TELEMETRY } ev_kind_t;

typedef struct event {
    int64_t ts_ms; /* event time */
    ev_kind_t kind;
    size_t row;     /* telemetry: row index */
    int64_t day_ms; /* prices, weather: start of the delivery day */
    int64_t end_ms; /* prices: its end (a local day has 23, 24 or 25 hours) */
} event_t;

typedef struct counts {
    long sent[3];
    long skipped_days;
    long gate_timeouts[2]; /* waits for a forecast, for a plan */
} counts_t;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static const char *const topic_of[] = {"energy.prices", "energy.weather",
                                       "energy.telemetry"};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: replay [options]\n"
        "  --bootstrap H:P     Kafka bootstrap (default 127.0.0.1:19092)\n"
        "  --registry URL      schema registry (default http://127.0.0.1:18081)\n"
        "  --schemas DIR       directory of <topic>.avsc (default schemas)\n"
        "  --prefix P          topic prefix (default none)\n"
        "  --data DIR          OpenSTEF data directory\n"
        "                      (default tests/data/openstef_nl_neerijnen)\n"
        "  --site ID           site id (default nl-neerijnen)\n"
        "  --meter ID          main meter id (default main)\n"
        "  --market M          market of the price curves (default NL)\n"
        "  --tz ZONE           curves per site-local day of ZONE, issued at\n"
        "                      12:00 site time (default: UTC days, 12:00 UTC)\n"
        "  --from YYYY-MM-DD   first day replayed, UTC, inclusive\n"
        "  --to YYYY-MM-DD     end day, UTC, exclusive\n"
        "  --speed X           event-time seconds per wall second; 0 = as fast\n"
        "                      as possible (default 0)\n"
        "  --limit N           replay at most N quarter-hours\n"
        "  --effective-prices  publish site curves instead of market curves\n"
        "  --dry-run           build and encode the records, publish nothing\n"
        "  --gate-from DAY     from this UTC day on, hold a curve issued at T until\n"
        "                      energy.forecast has a forecast of the site issued\n"
        "                      at T - 6 h or later, and then the rest until\n"
        "                      energy.schedule has a plan of the site made at T\n"
        "  --gate-timeout S    longest hold per wait, seconds (default 120)\n");
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option longopts[] = {{"bootstrap", 1, 0, 'b'},
                                             {"registry", 1, 0, 'r'},
                                             {"schemas", 1, 0, 's'},
                                             {"prefix", 1, 0, 'p'},
                                             {"data", 1, 0, 'd'},
                                             {"site", 1, 0, 'S'},
                                             {"meter", 1, 0, 'm'},
                                             {"market", 1, 0, 'M'},
                                             {"tz", 1, 0, 'z'},
                                             {"from", 1, 0, 'f'},
                                             {"to", 1, 0, 't'},
                                             {"speed", 1, 0, 'x'},
                                             {"limit", 1, 0, 'l'},
                                             {"effective-prices", 0, 0, 'e'},
                                             {"dry-run", 0, 0, 'n'},
                                             {"gate-from", 1, 0, 'g'},
                                             {"gate-timeout", 1, 0, 'G'},
                                             {"help", 0, 0, 'h'},
                                             {0, 0, 0, 0}};
    char *end;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->bootstrap = optarg;
            break;
        case 'r':
            o->registry = optarg;
            break;
        case 's':
            o->schemas = optarg;
            break;
        case 'p':
            o->prefix = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'S':
            o->site.site_id = optarg;
            break;
        case 'm':
            o->site.meter_id = optarg;
            break;
        case 'M':
            o->site.market = optarg;
            break;
        case 'z':
            o->tz = optarg;
            break;
        case 'e':
            o->site.effective_prices = true;
            break;
        case 'n':
            o->dry_run = true;
            break;
        case 'g':
            if (dataset_parse_date(optarg, &o->gate_from_ms) < 0) {
                fprintf(stderr, "replay: --gate-from '%s': want YYYY-MM-DD\n", optarg);
                return -1;
            }
            break;
        case 'G':
            o->gate_timeout_s = strtod(optarg, &end);
            if (*end || !(o->gate_timeout_s > 0) || isinf(o->gate_timeout_s)) {
                fprintf(stderr, "replay: --gate-timeout '%s': want seconds > 0\n",
                        optarg);
                return -1;
            }
            break;
        case 'f':
        case 't':
            if (dataset_parse_date(optarg, c == 'f' ? &o->from_ms : &o->to_ms) < 0) {
                fprintf(stderr, "replay: --%s '%s': want YYYY-MM-DD\n",
                        c == 'f' ? "from" : "to", optarg);
                return -1;
            }
            break;
        case 'x':
            o->speed = strtod(optarg, &end);
            if (*end || !(o->speed >= 0) || isinf(o->speed)) {
                fprintf(stderr, "replay: --speed '%s': want a number >= 0\n", optarg);
                return -1;
            }
            break;
        case 'l':
            errno = 0;
            o->limit = strtol(optarg, &end, 10);
            if (*end || errno || o->limit < 1) {
                fprintf(stderr, "replay: --limit '%s': want a count >= 1\n", optarg);
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "replay: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->from_ms && o->to_ms && o->to_ms <= o->from_ms) {
        fprintf(stderr, "replay: --to must be after --from\n");
        return -1;
    }
    return 0;
}

static int event_cmp(const void *a, const void *b)
{
    const event_t *x = a, *y = b;
    if (x->ts_ms != y->ts_ms)
        return (x->ts_ms > y->ts_ms) - (x->ts_ms < y->ts_ms);
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    return (x->row > y->row) - (x->row < y->row);
}

/* The quarter-hour prices of [start, end) into out (at most MAX_DAY_SLOTS).
 * Returns the slot count, or -1 when a UTC day it touches has no complete
 * curve in the data. */
static int curve_prices(const dataset_nl_row_t *rows, size_t n, int64_t start,
                        int64_t end, double out[MAX_DAY_SLOTS])
{
    double day[DATASET_DAY_SLOTS];
    int64_t held = -1;
    int k = 0;
    for (int64_t t = start; t < end; t += DATASET_QH_MS, k++) {
        int64_t d = t - t % DATASET_DAY_MS;
        if (k >= MAX_DAY_SLOTS)
            return -1;
        if (d != held) {
            if (dataset_nl_day_prices(rows, n, d, day) < 0)
                return -1;
            held = d;
        }
        out[k] = day[(t - d) / DATASET_QH_MS];
    }
    return k;
}

/* Local midnight starting the local day that holds ts (shifted by add_days
 * days) in the process time zone, plus hour hours. */
static int64_t local_day(int64_t ts, int add_days, int hour)
{
    time_t t = (time_t)(ts / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday += add_days;
    tm.tm_hour = hour;
    tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

/* Adds the price events: one per delivery day (UTC, or local with --tz) of
 * the rows; a day without a complete curve is counted in skipped_days. */
static size_t price_events(const opts_t *o, const dataset_nl_row_t *rows, size_t n,
                           event_t *ev, size_t k, counts_t *cnt)
{
    double prices[MAX_DAY_SLOTS];
    int64_t day = o->tz ? local_day(rows[0].ts_ms, 0, 0)
                        : rows[0].ts_ms - rows[0].ts_ms % DATASET_DAY_MS;
    while (day <= rows[n - 1].ts_ms) {
        int64_t end = o->tz ? local_day(day, 1, 0) : day + DATASET_DAY_MS;
        int64_t issued = o->tz ? local_day(day, -1, 12) : day - ISSUE_LEAD_MS;
        if (curve_prices(rows, n, day, end, prices) > 0)
            ev[k++] = (event_t){
                .ts_ms = issued, .kind = EV_PRICES, .day_ms = day, .end_ms = end};
        else
            cnt->skipped_days++;
        day = end;
    }
    return k;
}

/* Builds the time-ordered event list: one telemetry event per row, one
 * weather event per UTC day touched by the rows, and the price events. */
static event_t *build_events(const opts_t *o, const dataset_nl_row_t *rows, size_t n,
                             size_t *nev, counts_t *cnt)
{
    int64_t first_day = rows[0].ts_ms - rows[0].ts_ms % DATASET_DAY_MS;
    size_t ndays = (size_t)((rows[n - 1].ts_ms - first_day) / DATASET_DAY_MS) + 1;
    event_t *ev = calloc(n + 2 * ndays + 2, sizeof *ev);
    size_t k = 0;
    if (!ev)
        return NULL;
    for (size_t i = 0; i < n; i++)
        ev[k++] = (event_t){.ts_ms = rows[i].ts_ms, .kind = EV_TELEMETRY, .row = i};
    for (size_t d = 0; d < ndays; d++) {
        int64_t day = first_day + (int64_t)d * DATASET_DAY_MS;
        ev[k++] = (event_t){
            .ts_ms = day - WEATHER_LEAD_MS, .kind = EV_WEATHER, .day_ms = day};
    }
    k = price_events(o, rows, n, ev, k, cnt);
    qsort(ev, k, sizeof *ev, event_cmp);
    *nev = k;
    return ev;
}

/* Sleeps until the wall clock reaches the event's place at the given speed. */
static void pace(const opts_t *o, const struct timespec *t0, int64_t ev0, int64_t ts)
{
    if (o->speed <= 0)
        return;
    double due = (double)(ts - ev0) / 1000.0 / o->speed;
    while (!stop) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (double)(now.tv_sec - t0->tv_sec) +
                         (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
        if (elapsed >= due)
            return;
        double wait = fmin(due - elapsed, 0.2); /* wake up to see a signal */
        struct timespec ts_wait = {(time_t)wait, (long)((wait - floor(wait)) * 1e9)};
        nanosleep(&ts_wait, NULL);
    }
}

typedef struct replay {
    const opts_t *o;
    bus_t *bus;
    bus_producer_t *prod; /* NULL in a dry run */
    const dataset_nl_row_t *rows;
    size_t n;
    bus_consumer_t *gate; /* energy.forecast and energy.schedule, --gate-from */
    int64_t gate_seen[2]; /* newest forecast issue, plan time of the site */
    double energy_kwh;    /* import counter of the main meter */
    int64_t prev_ts;
    double prev_kw;
    long bytes; /* encoded sizes, for the dry run */
} replay_t;

/* Fills v for event e. Returns 0 or -1 with errstr. */
static int fill(replay_t *r, const event_t *e, avro_value_t *v, char *err, size_t es)
{
    const replay_site_t *s = &r->o->site;
    double prices[MAX_DAY_SLOTS];
    int nslots;
    switch (e->kind) {
    case EV_TELEMETRY: {
        const dataset_nl_row_t *row = &r->rows[e->row];
        /* Import only: the counter grows by the previous reading's power held
         * until this reading (a meter counts through a lost reading); export
         * (negative power) leaves it unchanged. */
        if (r->prev_ts)
            r->energy_kwh += dataset_import_kwh(r->prev_kw, row->ts_ms - r->prev_ts);
        r->prev_ts = row->ts_ms;
        r->prev_kw = row->load_mw * 1000.0;
        return rec_telemetry(v, s, row, r->energy_kwh, err, es);
    }
    case EV_PRICES:
        if ((nslots = curve_prices(r->rows, r->n, e->day_ms, e->end_ms, prices)) < 0) {
            snprintf(err, es, "no complete price curve for the day");
            return -1;
        }
        return rec_prices(v, s, e->day_ms, nslots, prices, e->ts_ms, err, es);
    case EV_WEATHER:
        return rec_weather(v, s, e->day_ms, r->rows, r->n, e->ts_ms, err, es) < 0 ? -1
                                                                                  : 0;
    }
    return -1;
}

static const char *key_of(const replay_t *r, ev_kind_t kind)
{
    const replay_site_t *s = &r->o->site;
    if (kind == EV_PRICES && !s->effective_prices)
        return s->market; /* a market curve is keyed by its market */
    return s->site_id;
}

static int publish(replay_t *r, const event_t *e, char *err, size_t es)
{
    avro_value_t v;
    const char *topic = topic_of[e->kind];
    int rc = -1;
    if (bus_value_new(r->bus, topic, &v, err, es) < 0)
        return -1;
    if (fill(r, e, &v, err, es) < 0)
        goto cleanup;
    if (r->prod) {
        rc = bus_produce(r->prod, topic, key_of(r, e->kind), &v, e->ts_ms, err, es);
        bus_producer_poll(r->prod);
    } else {
        size_t size;
        rc = avro_value_sizeof(&v, &size) == 0 ? 0 : -1;
        if (rc < 0)
            snprintf(err, es, "%s: cannot encode: %s", topic, avro_strerror());
        r->bytes += (long)size;
    }
cleanup:
    avro_value_decref(&v);
    return rc;
}

static bus_t *open_bus(const opts_t *o, char *err, size_t es)
{
    bus_conf_t conf = {.bootstrap = o->bootstrap,
                       .registry_url = o->registry,
                       .schema_dir = o->schemas,
                       .topic_prefix = o->prefix,
                       .client_id = "replay"};
    bus_t *bus = bus_new(&conf, err, es);
    if (!bus || o->dry_run)
        return bus;
    for (int k = 0; k < 3; k++) {
        int32_t id;
        if (bus_schema_id(bus, topic_of[k], &id, err, es) < 0) {
            bus_destroy(bus);
            return NULL;
        }
    }
    return bus;
}

static int load_rows(const opts_t *o, dataset_nl_row_t **rows, size_t *n, char *err,
                     size_t es)
{
    char train[4096], test[4096];
    snprintf(train, sizeof train, "%s/307-train-data.csv", o->data);
    snprintf(test, sizeof test, "%s/307-test-data.csv", o->data);
    const char *paths[] = {train, test};
    if (dataset_nl_load(paths, 2, o->from_ms, o->to_ms, rows, n, err, es) < 0)
        return -1;
    if (o->limit > 0 && *n > (size_t)o->limit)
        *n = (size_t)o->limit;
    if (*n == 0) {
        snprintf(err, es, "no rows in the chosen period");
        free(*rows);
        return -1;
    }
    return 0;
}

/* Waits until the site's newest record on energy.forecast (which = 0) or
 * energy.schedule (which = 1) has a timestamp (its event time: issue time,
 * plan time) of at least ts. What was produced so far is flushed first, so
 * the pipeline can get there. A timeout is counted and the replay goes on.
 * Returns 0 or -1 with errstr. */
static int gate_wait(replay_t *r, int which, int64_t ts, counts_t *cnt, char *err,
                     size_t es)
{
    const char *site = r->o->site.site_id;
    size_t klen = strlen(site);
    double deadline = ems_mono_s() + r->o->gate_timeout_s;
    if (r->gate_seen[which] >= ts)
        return 0;
    if (bus_producer_flush(r->prod, 30000, err, es) < 0)
        return -1;
    while (!stop && r->gate_seen[which] < ts) {
        bus_record_t *batch;
        if (ems_mono_s() > deadline) {
            cnt->gate_timeouts[which]++;
            return 0;
        }
        int n = bus_consumer_poll(r->gate, &batch, 500, 200, err, es);
        if (n < 0)
            return -1;
        for (int i = 0; i < n; i++) {
            int k = strcmp(batch[i].topic, "energy.schedule") == 0;
            if (batch[i].key_len == klen && !memcmp(batch[i].key, site, klen) &&
                batch[i].timestamp_ms > r->gate_seen[k])
                r->gate_seen[k] = batch[i].timestamp_ms;
        }
    }
    return 0;
}

static int run(replay_t *r, const event_t *ev, size_t nev, counts_t *cnt, char *err,
               size_t es)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < nev && !stop; i++) {
        pace(r->o, &t0, ev[0].ts_ms, ev[i].ts_ms);
        if (stop)
            break;
        bool gated =
            r->gate && ev[i].kind == EV_PRICES && ev[i].ts_ms >= r->o->gate_from_ms;
        if (gated && gate_wait(r, 0, ev[i].ts_ms - GATE_LAG_MS, cnt, err, es) < 0)
            return -1;
        if (publish(r, &ev[i], err, es) < 0)
            return -1;
        if (gated && gate_wait(r, 1, ev[i].ts_ms, cnt, err, es) < 0)
            return -1;
        cnt->sent[ev[i].kind]++;
    }
    if (r->prod && bus_producer_flush(r->prod, 30000, err, es) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o = {.bootstrap = "127.0.0.1:19092",
                .registry = "http://127.0.0.1:18081",
                .schemas = "schemas",
                .prefix = "",
                .data = "tests/data/openstef_nl_neerijnen",
                .gate_timeout_s = 120,
                .site = {.site_id = "nl-neerijnen",
                         .meter_id = "main",
                         .market = "NL",
                         .source = "openstef-dataset",
                         .latitude = 51.834,
                         .longitude = 5.214}};
    char err[1024] = "", from[32], to[32];
    dataset_nl_row_t *rows = NULL;
    event_t *ev = NULL;
    size_t n, nev;
    counts_t cnt = {{0}, 0, {0, 0}};
    replay_t r = {.o = &o};
    int status = 1;

    if (parse_args(argc, argv, &o) < 0)
        return 2;
    if (o.tz) { /* local days are computed with the C library's time zone */
        setenv("TZ", o.tz, 1);
        tzset();
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (load_rows(&o, &rows, &n, err, sizeof err) < 0) {
        fprintf(stderr, "replay: %s\n", err);
        return 1;
    }
    r.rows = rows;
    r.n = n;
    if (!(ev = build_events(&o, rows, n, &nev, &cnt))) {
        fprintf(stderr, "replay: out of memory\n");
        goto cleanup;
    }
    if (!(r.bus = open_bus(&o, err, sizeof err)) ||
        (!o.dry_run && !(r.prod = bus_producer_new(r.bus, err, sizeof err)))) {
        fprintf(stderr, "replay: %s\n", err);
        goto cleanup;
    }
    if (o.gate_from_ms && !o.dry_run) {
        static const char *const gate_topics[] = {"energy.forecast", "energy.schedule"};
        char group[96];
        snprintf(group, sizeof group, "replay.gate.%ld.%ld", (long)getpid(),
                 (long)time(NULL));
        if (!(r.gate =
                  bus_consumer_new(r.bus, group, gate_topics, 2, err, sizeof err))) {
            fprintf(stderr, "replay: %s\n", err);
            goto cleanup;
        }
    }
    if (run(&r, ev, nev, &cnt, err, sizeof err) < 0) {
        fprintf(stderr, "replay: %s\n", err);
        goto cleanup;
    }
    printf("replay: %s site %s %s..%s: telemetry %ld, prices %ld, weather %ld "
           "(%ld day(s) without a complete price curve), energy import %.1f kWh%s%s\n",
           o.dry_run ? "encoded (dry run)" : "published", o.site.site_id,
           rec_iso8601(rows[0].ts_ms, from, sizeof from),
           rec_iso8601(rows[n - 1].ts_ms, to, sizeof to), cnt.sent[EV_TELEMETRY],
           cnt.sent[EV_PRICES], cnt.sent[EV_WEATHER], cnt.skipped_days, r.energy_kwh,
           cnt.gate_timeouts[0] + cnt.gate_timeouts[1] ? ", gate timeouts" : "",
           stop ? ", interrupted" : "");
    if (cnt.gate_timeouts[0] + cnt.gate_timeouts[1])
        fprintf(stderr,
                "replay: gate: %ld curve(s) went out without their day-ahead forecast, "
                "%ld without a plan following within --gate-timeout\n",
                cnt.gate_timeouts[0], cnt.gate_timeouts[1]);
    status = stop ? 130 : 0;
cleanup:
    bus_consumer_destroy(r.gate);
    bus_producer_destroy(r.prod);
    bus_destroy(r.bus);
    free(ev);
    free(rows);
    return status;
}
