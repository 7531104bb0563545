/*
 * svc: start-up, loop and orderly shutdown shared by every service main.
 */
#include "svc/svc.h"
#include "clock/clock.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "svc/svc_int.h"

#define EXIT_CONFIG 2
#define START_CHECK_MS 5000
#define READY_CHECK_MS 1000
#define REFRESH_EVERY_MS 1000

/* The one process-wide flag a signal handler may touch. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static const cfg_option_t audit_options[] = {
    {.section = "audit",
     .key = "state_file",
     .type = CFG_STRING,
     .offset = offsetof(svc_audit_conf_t, state_file),
     .desc = "File keeping the audit chain's last sequence number and hash, so "
             "the chain continues across restarts; unset starts a new chain."},
    {.section = "audit",
     .key = "instance",
     .type = CFG_STRING,
     .offset = offsetof(svc_audit_conf_t, instance),
     .desc = "Producer instance name of the audit chain; unset means the host "
             "name (the pod name in Kubernetes)."},
    CFG_END,
};

/* ---- arguments ---- */

static void usage(const svc_def_t *def, FILE *out)
{
    fprintf(out,
            "usage: %s [--config FILE] [--plant FILE] [--dump-config] [--version] "
            "[--help]\n"
            "%s%s"
            "  --config FILE   service configuration (YAML); EMS_<SECTION>_<KEY> "
            "overrides\n"
            "  --plant FILE    plant model (overrides plant.path)\n"
            "  --dump-config   print the effective configuration, secrets masked, and "
            "exit\n"
            "  --version       print the version and exit\n",
            def->name, def->summary ? def->summary : "", def->summary ? "\n" : "");
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(svc_t *svc, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"plant", required_argument, NULL, 'p'},
        {"dump-config", no_argument, NULL, 'd'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:p:dVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            svc->config_path = optarg;
            break;
        case 'p':
            svc->plant_path = optarg;
            break;
        case 'd':
            svc->dump_config = 1;
            break;
        case 'V':
            printf("%s %s\n", svc->def->name, EMS_VERSION);
            return 0;
        case 'h':
            usage(svc->def, stdout);
            return 0;
        default:
            fprintf(stderr, "%s: bad option '%s'\n", svc->def->name, argv[optind - 1]);
            usage(svc->def, stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", svc->def->name, argv[optind]);
        return EXIT_CONFIG;
    }
    return -1;
}

/* ---- start-up steps: each returns 0 or logs one line and returns -1 ---- */

/* Registers every table a service's configuration has: the common ones,
 * the audit table and the service's own, with the service's HTTP port as
 * the default of http.port. Returns 0 or -1 with errstr. */
static int add_tables(cfg_t *cfg, const svc_def_t *def, cfg_common_t *common,
                      svc_audit_conf_t *audit_conf, char *errstr, size_t errstr_size)
{
    char port[16];
    if (cfg_common_add(cfg, common, errstr, errstr_size) < 0 ||
        cfg_add_table(cfg, audit_options, audit_conf, errstr, errstr_size) < 0)
        return -1;
    for (const svc_table_t *t = def->tables; t && t->options; t++)
        if (cfg_add_table(cfg, t->options, t->base, errstr, errstr_size) < 0)
            return -1;
    snprintf(port, sizeof port, "%d", def->http_port);
    if (def->http_port &&
        cfg_set_default(cfg, "http", "port", port, errstr, errstr_size) < 0)
        return -1;
    return 0;
}

static int load_config(svc_t *svc)
{
    char err[512];
    svc->cfg = cfg_new();
    if (!svc->cfg ||
        add_tables(svc->cfg, svc->def, &svc->common, &svc->audit_conf, err,
                   sizeof err) < 0 ||
        cfg_load(svc->cfg, svc->config_path, err, sizeof err) < 0)
        goto fail;
    if (svc->plant_path)
        svc->common.plant.path = svc->plant_path;
    return 0;
fail:
    log_error("config", "%s", svc->cfg ? err : "out of memory");
    return -1;
}

struct svc_config {
    cfg_t *cfg;
    cfg_common_t common;
    svc_audit_conf_t audit_conf;
};

svc_config_t *svc_config_load(const svc_def_t *def, const char *path, char *errstr,
                              size_t errstr_size)
{
    svc_config_t *c = calloc(1, sizeof *c);
    if (!c || !(c->cfg = cfg_new())) {
        snprintf(errstr, errstr_size, "out of memory");
        svc_config_free(c);
        return NULL;
    }
    if (add_tables(c->cfg, def, &c->common, &c->audit_conf, errstr, errstr_size) < 0 ||
        cfg_load(c->cfg, path, errstr, errstr_size) < 0) {
        svc_config_free(c);
        return NULL;
    }
    return c;
}

const cfg_common_t *svc_config_common(const svc_config_t *c)
{
    return &c->common;
}

void svc_config_free(svc_config_t *c)
{
    if (!c)
        return;
    cfg_destroy(c->cfg);
    free(c);
}

static int start_obs(svc_t *svc)
{
    char err[512];
    obs_http_conf_t hc = {.addr = svc->common.http.listen,
                          .port = (int)svc->common.http.port,
                          .version = EMS_VERSION};
    svc->metrics = obs_metrics_new();
    hc.metrics = svc->metrics;
    if (!svc->metrics || !(svc->http = obs_http_new(&hc, err, sizeof err)) ||
        obs_http_start(svc->http, err, sizeof err) < 0) {
        log_error("http", "%s", svc->metrics ? err : "out of memory");
        return -1;
    }
    svc->audit_events = obs_counter(svc->metrics, "ems_audit_events_total",
                                    "Audit events recorded.", NULL);
    svc->audit_failures =
        obs_counter(svc->metrics, "ems_audit_publish_failures_total",
                    "Audit events that could not be published.", NULL);
    log_info("http", "serving /healthz /readyz /metrics on %s:%d",
             hc.addr ? hc.addr : "", obs_http_port(svc->http));
    return 0;
}

static int bus_ready(void *ctx, char *errstr, size_t errstr_size)
{
    return bus_check(ctx, READY_CHECK_MS, errstr, errstr_size);
}

static int start_bus(svc_t *svc)
{
    char err[512];
    const cfg_bus_t *b = &svc->common.bus;
    bus_conf_t bc = {.bootstrap = b->bootstrap,
                     .registry_url = b->registry_url,
                     .schema_dir = b->schema_dir,
                     .topic_prefix = b->topic_prefix,
                     .client_id = b->client_id ? b->client_id : svc->def->name,
                     .kafka_props = b->kafka.kv,
                     .metrics = svc->metrics};
    int32_t id;
    if (!(svc->bus = bus_new(&bc, err, sizeof err)) ||
        bus_check(svc->bus, START_CHECK_MS, err, sizeof err) < 0 ||
        bus_schema_id(svc->bus, "audit.events", &id, err, sizeof err) < 0 ||
        !(svc->producer = bus_producer_new(svc->bus, err, sizeof err)) ||
        obs_http_add_check(svc->http, "bus", bus_ready, svc->bus, err, sizeof err) <
            0) {
        log_error("bus", "%s", err);
        return -1;
    }
    log_info("bus", "broker %s and registry %s answer", b->bootstrap, b->registry_url);
    return 0;
}

static int start_audit(svc_t *svc)
{
    char err[512];
    audit_conf_t ac = {.service = svc->def->name,
                       .instance = svc->audit_conf.instance,
                       .state_file = svc->audit_conf.state_file,
                       .publish = svc->bus ? svc_audit_publish : NULL,
                       .publish_ctx = svc};
    if (!(svc->audit = audit_new(&ac, err, sizeof err))) {
        log_error("audit", "%s", err);
        return -1;
    }
    return 0;
}

static void install_signals(svc_t *svc)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    g_stop = 0;
    svc->stop = &g_stop;
}

static int start(svc_t *svc)
{
    char err[512];
    if (!svc->def->no_plant) {
        svc->plant = plant_load(svc->common.plant.path, err, sizeof err);
        if (!svc->plant) {
            log_error("plant", "%s", err);
            return EXIT_CONFIG;
        }
    }
    if (start_obs(svc) < 0 || (!svc->def->no_bus && start_bus(svc) < 0) ||
        start_audit(svc) < 0)
        return 1;
    install_signals(svc);
    if (svc->def->init && svc->def->init(svc, svc->ctx, err, sizeof err) < 0) {
        log_error("init", "%s", err);
        return 1;
    }
    svc->started = 1;
    return 0;
}

/* ---- loop and shutdown ---- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal ends it early: that is the point */
}

static int run_loop(svc_t *svc)
{
    int64_t next_refresh = 0;
    int was_ready = -1;
    while (!*svc->stop) {
        obs_http_heartbeat(svc->http);
        if (svc->def->step) {
            if (svc->def->step(svc, svc->ctx) < 0)
                return 1;
        } else {
            sleep_ms(svc->def->poll_ms > 0 ? svc->def->poll_ms : 200);
        }
        if (svc->producer)
            bus_producer_poll(svc->producer);
        if (ems_mono_ms() >= next_refresh) {
            int ready = obs_http_refresh(svc->http);
            if (ready != was_ready)
                log_info("svc", "%s", ready ? "ready" : "not ready (see /readyz)");
            was_ready = ready;
            next_refresh = ems_mono_ms() + REFRESH_EVERY_MS;
        }
    }
    log_info("svc", "stop requested, shutting down");
    return 0;
}

static void lifecycle_event(svc_t *svc, const char *action)
{
    char actor[128], object[128], after[128], err[256];
    snprintf(actor, sizeof actor, "service:%s", svc->def->name);
    snprintf(object, sizeof object, "service/%s", svc->def->name);
    snprintf(after, sizeof after, "{\"version\":\"%s\"}", EMS_VERSION);
    audit_event_t ev = {.actor = actor,
                        .action = action,
                        .object = object,
                        .outcome = AUDIT_SUCCESS,
                        .after = after};
    if (svc_audit(svc, &ev, err, sizeof err) < 0)
        log_warn("audit", "%s", err);
}

static void teardown(svc_t *svc, int started)
{
    char err[512];
    obs_http_set_stopping(svc->http);
    if (started && svc->def->shutdown)
        svc->def->shutdown(svc, svc->ctx);
    if (started && svc->audit)
        lifecycle_event(svc, "service.stop");
    if (svc->producer &&
        bus_producer_flush(svc->producer, (int)svc->common.bus.flush_timeout_ms, err,
                           sizeof err) < 0)
        log_warn("bus", "flush on shutdown: %s", err);
    audit_destroy(svc->audit);
    bus_producer_destroy(svc->producer);
    bus_destroy(svc->bus);
    obs_http_destroy(svc->http);
    obs_metrics_destroy(svc->metrics);
    plant_destroy(svc->plant);
    cfg_destroy(svc->cfg);
}

int svc_main(const svc_def_t *def, void *ctx, int argc, char **argv)
{
    svc_t svc = {.def = def, .ctx = ctx, .stop = &g_stop};
    log_level_t lvl = LOG_INFO;
    log_init(def->name, LOG_INFO);
    int rc = parse_args(&svc, argc, argv);
    if (rc >= 0)
        return rc;
    if (load_config(&svc) < 0) {
        cfg_destroy(svc.cfg);
        return EXIT_CONFIG;
    }
    if (svc.dump_config) {
        rc = cfg_dump(svc.cfg, stdout) < 0;
        cfg_destroy(svc.cfg);
        return rc;
    }
    log_level_parse(svc.common.log.level, &lvl); /* validated by its choices */
    log_init(def->name, lvl);
    rc = start(&svc);
    if (rc == 0) {
        log_info("svc", "%s %s started", def->name, EMS_VERSION);
        lifecycle_event(&svc, "service.start");
        rc = run_loop(&svc);
    }
    teardown(&svc, svc.started);
    if (rc == 0)
        log_info("svc", "stopped cleanly");
    return rc;
}

/* ---- accessors ---- */

const char *svc_name(const svc_t *svc)
{
    return svc->def->name;
}
const cfg_common_t *svc_common(const svc_t *svc)
{
    return &svc->common;
}
obs_metrics_t *svc_metrics(svc_t *svc)
{
    return svc->metrics;
}
const plant_t *svc_plant(const svc_t *svc)
{
    return svc->plant;
}
bus_t *svc_bus(svc_t *svc)
{
    return svc->bus;
}
bus_producer_t *svc_producer(svc_t *svc)
{
    return svc->producer;
}
obs_http_t *svc_http(svc_t *svc)
{
    return svc->http;
}
int svc_stopping(const svc_t *svc)
{
    return *svc->stop != 0;
}
void svc_request_stop(svc_t *svc)
{
    *svc->stop = 1;
}

int svc_add_check(svc_t *svc, const char *name, obs_check_fn fn, void *ctx,
                  char *errstr, size_t errstr_size)
{
    return obs_http_add_check(svc->http, name, fn, ctx, errstr, errstr_size);
}

int svc_audit(svc_t *svc, const audit_event_t *ev, char *errstr, size_t errstr_size)
{
    if (!svc->audit) {
        snprintf(errstr, errstr_size, "audit: not started");
        return -1;
    }
    int rc = audit_record(svc->audit, ev, NULL, errstr, errstr_size);
    if (rc == -1)
        return -1;
    obs_counter_inc(svc->audit_events);
    if (rc == -2) {
        obs_counter_inc(svc->audit_failures);
        log_warn("audit", "event %s recorded but not published: %s", ev->action,
                 errstr);
    }
    return 0;
}
