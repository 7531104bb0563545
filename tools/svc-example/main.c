/*
 * svc-example: the smallest service built on the skeleton. It consumes
 * nothing and only serves /healthz, /readyz and /metrics (and writes the
 * service.start/stop audit events). It is the idle service whose RSS the
 * benchmark reports, and the example to copy when writing a new service.
 */
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "log/log.h"
#include "svc/svc.h"

typedef struct example_conf {
    const char *greeting;
    const char *token; /* a secret: masked by --dump-config */
    int64_t tick_ms;
} example_conf_t;

static const cfg_option_t example_options[] = {
    {.section = "example",
     .key = "greeting",
     .type = CFG_STRING,
     .def = "hello",
     .offset = offsetof(example_conf_t, greeting),
     .desc = "Word logged once at start-up."},
    {.section = "example",
     .key = "token",
     .type = CFG_SECRET,
     .offset = offsetof(example_conf_t, token),
     .desc = "An example secret (\"file:/path\" reads it from a file)."},
    {.section = "example",
     .key = "tick",
     .type = CFG_DURATION_MS,
     .def = "200ms",
     .min = 10,
     .max = 5000,
     .offset = offsetof(example_conf_t, tick_ms),
     .desc = "Loop period of the idle service."},
    CFG_END,
};

typedef struct example {
    example_conf_t conf;
    obs_counter_t *ticks;
} example_t;

static int example_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size)
{
    example_t *ex = ctx;
    (void)errstr;
    (void)errstr_size;
    ex->ticks = obs_counter(svc_metrics(svc), "ems_example_ticks_total",
                            "Loop iterations of the example service.", NULL);
    log_info("example", "%s (token %s)", ex->conf.greeting,
             ex->conf.token ? "set" : "unset");
    return 0;
}

static int example_step(svc_t *svc, void *ctx)
{
    example_t *ex = ctx;
    struct timespec ts = {ex->conf.tick_ms / 1000,
                          (long)(ex->conf.tick_ms % 1000) * 1000000L};
    (void)svc;
    nanosleep(&ts, NULL);
    obs_counter_inc(ex->ticks);
    return 0;
}

int main(int argc, char **argv)
{
    static example_t ex;
    const svc_table_t tables[] = {{example_options, &ex.conf}, {NULL, NULL}};
    const svc_def_t def = {
        .name = "svc-example",
        .summary = "Idle example service: serves health, readiness and metrics only.",
        .tables = tables,
        .no_plant = 0,
        .init = example_init,
        .step = example_step,
    };
    return svc_main(&def, &ex, argc, argv);
}
