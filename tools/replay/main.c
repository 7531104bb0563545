/*
 * replay: publishes the Dutch substation data set (OpenSTEF, job 307) through
 * the bus as the suite's own records, in event-time order:
 *   energy.telemetry  one reading of the main meter per quarter-hour
 *   energy.prices     one day-ahead curve per UTC day, issued the day before
 *   energy.weather    one weather series per UTC day, issued the day before
 * Each record's Kafka timestamp is its own event time. See docs/data.md.
 *
 * usage: replay [--bootstrap H:P] [--registry URL] [--schemas DIR]
 *               [--prefix P] [--data DIR] [--site ID] [--meter ID]
 *               [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--speed X]
 *               [--limit N] [--effective-prices] [--dry-run]
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

#include "bus/bus.h"
#include "dataset/dataset.h"
#include "records.h"

/* Curves and weather of day D are issued at 12:00 UTC on D-1, about when the
 * day-ahead auction results and the morning weather runs are out. */
#define ISSUE_LEAD_MS (12 * 3600 * 1000LL)

typedef struct opts {
    const char *bootstrap, *registry, *schemas, *prefix, *data;
    int64_t from_ms, to_ms;
    double speed;
    long limit;
    bool dry_run;
    replay_site_t site;
} opts_t;

typedef enum { EV_PRICES = 0, EV_WEATHER, EV_TELEMETRY } ev_kind_t;

typedef struct event {
    int64_t ts_ms; /* event time */
    ev_kind_t kind;
    size_t row;     /* telemetry: row index */
    int64_t day_ms; /* prices, weather: the delivery day */
} event_t;

typedef struct counts {
    long sent[3];
    long skipped_days;
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
    fprintf(out,
            "usage: replay [options]\n"
            "  --bootstrap H:P     Kafka bootstrap (default 127.0.0.1:19092)\n"
            "  --registry URL      schema registry (default http://127.0.0.1:18081)\n"
            "  --schemas DIR       directory of <topic>.avsc (default schemas)\n"
            "  --prefix P          topic prefix (default none)\n"
            "  --data DIR          OpenSTEF data directory\n"
            "                      (default tests/data/openstef_nl_neerijnen)\n"
            "  --site ID           site id (default nl-neerijnen)\n"
            "  --meter ID          main meter id (default main)\n"
            "  --from YYYY-MM-DD   first day replayed, UTC, inclusive\n"
            "  --to YYYY-MM-DD     end day, UTC, exclusive\n"
            "  --speed X           event-time seconds per wall second; 0 = as fast\n"
            "                      as possible (default 0)\n"
            "  --limit N           replay at most N quarter-hours\n"
            "  --effective-prices  publish site curves instead of market curves\n"
            "  --dry-run           build and encode the records, publish nothing\n");
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
                                             {"from", 1, 0, 'f'},
                                             {"to", 1, 0, 't'},
                                             {"speed", 1, 0, 'x'},
                                             {"limit", 1, 0, 'l'},
                                             {"effective-prices", 0, 0, 'e'},
                                             {"dry-run", 0, 0, 'n'},
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
        case 'e':
            o->site.effective_prices = true;
            break;
        case 'n':
            o->dry_run = true;
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

/* Builds the time-ordered event list: one telemetry event per row, one
 * prices and one weather event per UTC day touched by the rows (a day without
 * a complete price curve is counted in skipped_days). */
static event_t *build_events(const dataset_nl_row_t *rows, size_t n, size_t *nev,
                             counts_t *cnt)
{
    int64_t first_day = rows[0].ts_ms - rows[0].ts_ms % DATASET_DAY_MS;
    size_t ndays = (size_t)((rows[n - 1].ts_ms - first_day) / DATASET_DAY_MS) + 1;
    double prices[DATASET_DAY_SLOTS];
    event_t *ev = calloc(n + 2 * ndays, sizeof *ev);
    size_t k = 0;
    if (!ev)
        return NULL;
    for (size_t i = 0; i < n; i++)
        ev[k++] = (event_t){.ts_ms = rows[i].ts_ms, .kind = EV_TELEMETRY, .row = i};
    for (size_t d = 0; d < ndays; d++) {
        int64_t day = first_day + (int64_t)d * DATASET_DAY_MS;
        int64_t issued = day - ISSUE_LEAD_MS;
        if (dataset_nl_day_prices(rows, n, day, prices) >= 0)
            ev[k++] = (event_t){.ts_ms = issued, .kind = EV_PRICES, .day_ms = day};
        else
            cnt->skipped_days++;
        ev[k++] = (event_t){.ts_ms = issued, .kind = EV_WEATHER, .day_ms = day};
    }
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
    double energy_kwh; /* import counter of the main meter */
    int64_t prev_ts;
    double prev_kw;
    long bytes; /* encoded sizes, for the dry run */
} replay_t;

/* Fills v for event e. Returns 0 or -1 with errstr. */
static int fill(replay_t *r, const event_t *e, avro_value_t *v, char *err, size_t es)
{
    const replay_site_t *s = &r->o->site;
    double prices[DATASET_DAY_SLOTS];
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
        if (dataset_nl_day_prices(r->rows, r->n, e->day_ms, prices) < 0) {
            snprintf(err, es, "no complete price curve for the day");
            return -1;
        }
        return rec_prices(v, s, e->day_ms, prices, e->ts_ms, err, es);
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

static int run(replay_t *r, const event_t *ev, size_t nev, counts_t *cnt, char *err,
               size_t es)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < nev && !stop; i++) {
        pace(r->o, &t0, ev[0].ts_ms, ev[i].ts_ms);
        if (stop)
            break;
        if (publish(r, &ev[i], err, es) < 0)
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
                .site = {.site_id = "nl-neerijnen",
                         .meter_id = "main",
                         .market = "EPEX-NL-DA",
                         .source = "openstef-dataset",
                         .latitude = 51.834,
                         .longitude = 5.214}};
    char err[1024] = "", from[32], to[32];
    dataset_nl_row_t *rows = NULL;
    event_t *ev = NULL;
    size_t n, nev;
    counts_t cnt = {{0}, 0};
    replay_t r = {.o = &o};
    int status = 1;

    if (parse_args(argc, argv, &o) < 0)
        return 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (load_rows(&o, &rows, &n, err, sizeof err) < 0) {
        fprintf(stderr, "replay: %s\n", err);
        return 1;
    }
    r.rows = rows;
    r.n = n;
    if (!(ev = build_events(rows, n, &nev, &cnt))) {
        fprintf(stderr, "replay: out of memory\n");
        goto cleanup;
    }
    if (!(r.bus = open_bus(&o, err, sizeof err)) ||
        (!o.dry_run && !(r.prod = bus_producer_new(r.bus, err, sizeof err)))) {
        fprintf(stderr, "replay: %s\n", err);
        goto cleanup;
    }
    if (run(&r, ev, nev, &cnt, err, sizeof err) < 0) {
        fprintf(stderr, "replay: %s\n", err);
        goto cleanup;
    }
    printf("replay: %s site %s %s..%s: telemetry %ld, prices %ld, weather %ld "
           "(%ld day(s) without a complete price curve), energy import %.1f kWh%s\n",
           o.dry_run ? "encoded (dry run)" : "published", o.site.site_id,
           rec_iso8601(rows[0].ts_ms, from, sizeof from),
           rec_iso8601(rows[n - 1].ts_ms, to, sizeof to), cnt.sent[EV_TELEMETRY],
           cnt.sent[EV_PRICES], cnt.sent[EV_WEATHER], cnt.skipped_days, r.energy_kwh,
           stop ? ", interrupted" : "");
    status = stop ? 130 : 0;
cleanup:
    bus_producer_destroy(r.prod);
    bus_destroy(r.bus);
    free(ev);
    free(rows);
    return status;
}
