/*
 * svc: the skeleton every service's main() runs.
 *
 *   static const svc_def_t def = {.name = "ingester", .http_port = 18102,
 *                                 .init = my_init, .step = my_step,
 *                                 .shutdown = my_shutdown};
 *   int main(int argc, char **argv) { struct my_ctx ctx = {0};
 *                                     return svc_main(&def, &ctx, argc, argv); }
 *
 * svc_main() is a straight line: parse arguments (--config FILE, --plant
 * FILE, --dump-config, --version, --help), load the config (common tables,
 * the audit table, the service's tables), init the JSON log, load the plant
 * model, start the metrics registry and the HTTP listener, create the bus,
 * check the broker and the registry, create the shared producer and the
 * audit publisher on audit.events, install SIGTERM/SIGINT handlers that only
 * set a flag, call def->init, then loop: step, serve producer reports,
 * refresh readiness about once a second. On the flag: /healthz and /readyz
 * turn 503, def->shutdown, audit "service.stop", flush the producer, and
 * destroy everything in reverse order.
 *
 * Exit codes: 0 after an orderly stop (and for --help, --version,
 * --dump-config); 2 for a usage or configuration error (one line on stderr,
 * naming the file and line or the key); 1 when a dependency is unreachable at
 * start-up or the service fails at run time (one log line naming the
 * endpoint). A dependency that goes away later is the service's to retry:
 * /readyz reports it through the registered checks.
 *
 * Threads: everything here runs on the main thread; svc_stopping() may be
 * read from any thread.
 */
#ifndef EMS_SVC_SVC_H
#define EMS_SVC_SVC_H

#include <stddef.h>

#include "audit/audit.h"
#include "bus/bus.h"
#include "config/common.h"
#include "config/config.h"
#include "obs/http.h"
#include "obs/metrics.h"
#include "plant/plant.h"

#ifndef EMS_VERSION
#define EMS_VERSION "0.1.0"
#endif

typedef struct svc_s svc_t;

/* One extra option table of the service and the struct it fills. */
typedef struct svc_table {
    const cfg_option_t *options;
    void *base;
} svc_table_t;

typedef struct svc_def {
    const char *name;          /* "ingester": log service, audit service, client.id */
    const char *summary;       /* one line for --help */
    int http_port;             /* default of http.port; 0 keeps the common default */
    const svc_table_t *tables; /* the service's own tables, ended by {NULL} */
    int no_plant;              /* 1: the service needs no plant model */
    int no_bus;                /* 1: no bus, producer or audit topic (tools) */
    int poll_ms;               /* loop sleep when step is NULL; 0 = 200 */
    /* After start-up, before the loop: create consumers, register readiness
     * checks (svc_add_check). Returns 0, or -1 with errstr (exit 1); on
     * failure it frees what it made itself, as shutdown will not run. */
    int (*init)(svc_t *svc, void *ctx, char *errstr, size_t errstr_size);
    /* One loop iteration; should block at most a few hundred ms (a consumer
     * poll timeout). Returns 0 to go on, or -1 to stop with exit 1 (after
     * logging why). */
    int (*step)(svc_t *svc, void *ctx);
    /* On stop, before the skeleton flushes and destroys the bus: ack, close
     * consumers, free the service's state. May be NULL. */
    void (*shutdown)(svc_t *svc, void *ctx);
} svc_def_t;

/* Runs the service; returns the process exit code. */
int svc_main(const svc_def_t *def, void *ctx, int argc, char **argv);

/* Accessors; pointers are borrowed and valid until svc_main() returns. The
 * bus, producer and audit handles are NULL when def->no_bus, the plant when
 * def->no_plant. */
const char *svc_name(const svc_t *svc);
const cfg_common_t *svc_common(const svc_t *svc);
obs_metrics_t *svc_metrics(svc_t *svc);
const plant_t *svc_plant(const svc_t *svc);
bus_t *svc_bus(svc_t *svc);
bus_producer_t *svc_producer(svc_t *svc);
obs_http_t *svc_http(svc_t *svc);

/* Registers a readiness check (see obs/http.h); call from init. */
int svc_add_check(svc_t *svc, const char *name, obs_check_fn fn, void *ctx,
                  char *errstr, size_t errstr_size);
/* Records an audit event (service and chain fields are filled in); a publish
 * failure is counted in ems_audit_publish_failures_total and logged, since
 * the ECS line is already written. Returns 0 or -1 with errstr. Main
 * thread only (it uses the shared producer). */
int svc_audit(svc_t *svc, const audit_event_t *ev, char *errstr, size_t errstr_size);

/* The configuration a service starts with, for its commands that run
 * beside it (a CLI that publishes one record with the service's bus
 * settings, bus.kafka's TLS and SASL properties included): def's tables
 * (common, audit and the service's own, whose bases it fills) loaded as
 * svc_main() loads them, from the file at path (NULL: none), then the
 * EMS_* environment. Returns the handle owning the strings, or NULL with a
 * one-line errstr ("FILE:LINE: section.key: reason"). */
typedef struct svc_config svc_config_t;
svc_config_t *svc_config_load(const svc_def_t *def, const char *path, char *errstr,
                              size_t errstr_size);
const cfg_common_t *svc_config_common(const svc_config_t *c);
/* NULL is a no-op. */
void svc_config_free(svc_config_t *c);

/* 1 once SIGTERM/SIGINT arrived or svc_request_stop() was called. */
int svc_stopping(const svc_t *svc);
/* Asks the loop to stop after the current step (exit code 0). */
void svc_request_stop(svc_t *svc);

#endif
