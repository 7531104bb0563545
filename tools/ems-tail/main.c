/*
 * ems-tail: consumes logical topics through the bus and prints each record
 * as one JSON line: {"topic":..,"partition":..,"offset":..,"key":..,
 * "schema_id":..,"value":<avro_value_to_json>}. For demos and debugging.
 *
 *   ems-tail --bootstrap H:P --registry URL [--schemas DIR] [--prefix P]
 *            [--group G] [--commit] [-n MAX] TOPIC...
 *
 * Without --commit it never commits, so it can be run again from the start.
 * Stops after MAX records (default: never) or on SIGINT/SIGTERM.
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

typedef struct opts {
    bus_conf_t conf;
    const char *group;
    char group_buf[64];
    int commit;
    long max;
} opts_t;

static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"bootstrap", required_argument, 0, 'b'},
                                       {"registry", required_argument, 0, 'r'},
                                       {"schemas", required_argument, 0, 's'},
                                       {"prefix", required_argument, 0, 'p'},
                                       {"group", required_argument, 0, 'g'},
                                       {"commit", no_argument, 0, 'c'},
                                       {"max", required_argument, 0, 'n'},
                                       {0, 0, 0, 0}};
    int ch;

    memset(o, 0, sizeof(*o));
    o->conf.bootstrap = "127.0.0.1:19092";
    o->conf.registry_url = "http://127.0.0.1:18081";
    o->conf.schema_dir = "schemas";
    o->conf.client_id = "ems-tail";
    while ((ch = getopt_long(argc, argv, "b:r:s:p:g:cn:", lo, NULL)) != -1) {
        switch (ch) {
        case 'b':
            o->conf.bootstrap = optarg;
            break;
        case 'r':
            o->conf.registry_url = optarg;
            break;
        case 's':
            o->conf.schema_dir = optarg;
            break;
        case 'p':
            o->conf.topic_prefix = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case 'c':
            o->commit = 1;
            break;
        case 'n':
            o->max = strtol(optarg, NULL, 10);
            break;
        default:
            return -1;
        }
    }
    if (optind >= argc)
        return -1;
    if (!o->group) {
        snprintf(o->group_buf, sizeof(o->group_buf), "ems-tail-%d-%ld", (int)getpid(),
                 (long)time(NULL));
        o->group = o->group_buf;
    }
    return 0;
}

/* Prints one record as a JSON line. */
static void print_record(const bus_record_t *r)
{
    char *value = NULL;
    json_t *line = json_pack("{ss si sI sI ss# si}", "topic", r->topic, "partition",
                             (int)r->partition, "offset", (json_int_t)r->offset,
                             "timestamp_ms", (json_int_t)r->timestamp_ms, "key",
                             r->key ? (const char *)r->key : "", (int)r->key_len,
                             "schema_id", (int)r->schema_id);
    char *head;

    if (!line || avro_value_to_json(&r->value, 1, &value) != 0) {
        fprintf(stderr, "ems-tail: cannot render offset %lld\n", (long long)r->offset);
        json_decref(line);
        return;
    }
    head = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (head) { /* splice the Avro JSON in as "value" */
        head[strlen(head) - 1] = '\0';
        printf("%s,\"value\":%s}\n", head, value);
    }
    free(head);
    free(value);
    json_decref(line);
}

int main(int argc, char **argv)
{
    char err[512];
    opts_t o;
    bus_t *bus;
    bus_consumer_t *c;
    bus_record_t *b;
    long seen = 0;
    int i, n = 0;

    if (parse_opts(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: ems-tail [--bootstrap H:P] [--registry URL] [--schemas DIR]"
                " [--prefix P] [--group G] [--commit] [-n MAX] TOPIC...\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!(bus = bus_new(&o.conf, err, sizeof(err))) ||
        !(c = bus_consumer_new(bus, o.group, (const char *const *)argv + optind,
                               (size_t)(argc - optind), err, sizeof(err)))) {
        fprintf(stderr, "ems-tail: %s\n", err);
        bus_destroy(bus);
        return 1;
    }
    while (!stop && (o.max <= 0 || seen < o.max) &&
           (n = bus_consumer_poll(c, &b, 500, 200, err, sizeof(err))) >= 0) {
        for (i = 0; i < n && (o.max <= 0 || seen < o.max); i++, seen++)
            print_record(&b[i]);
        fflush(stdout);
        if (o.commit && n > 0 && bus_consumer_ack(c, err, sizeof(err)) != 0)
            fprintf(stderr, "ems-tail: %s\n", err);
    }
    if (n < 0)
        fprintf(stderr, "ems-tail: %s\n", err);
    bus_consumer_destroy(c);
    bus_destroy(bus);
    return n < 0 ? 1 : 0;
}
