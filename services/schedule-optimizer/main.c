/*
 * schedule-optimizer: the service (energy.forecast and energy.prices in,
 * energy.schedule out; docs/schedule-optimizer.md) and two commands around
 * the same core:
 *
 *   schedule-optimizer [--config FILE] [--plant FILE] [--dump-config] ...
 *   schedule-optimizer solve-case NAME [--time-limit S]
 *   schedule-optimizer --dump-lp FILE --case NAME   (FILE.mps writes MPS)
 *   schedule-optimizer replan --site ID [--config FILE] [--bootstrap H:P]
 *                      [--registry URL] [--prefix P] [--schemas DIR]
 *                      [--at TIME] [--by WHO] [--reason TEXT] [--id REQUEST_ID]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "dataset/dataset.h"
#include "schedule-optimizer/opt_codec.h"
#include "schedule-optimizer/opt_model.h"
#include "schedule-optimizer/opt_service.h"
#include "schedule-optimizer/opt_solve.h"

#define DEMO_T 96

typedef struct demo {
    double price[DEMO_T], base[DEMO_T];
    opt_equipment_t eq[4];
    opt_problem_t pb;
} demo_t;

/* A day in quarter-hours: cheap night, evening peak, a 1 MW site. */
static void demo_build(demo_t *d)
{
    memset(d, 0, sizeof *d);
    for (int t = 0; t < DEMO_T; t++) {
        double h = t / 4.0;
        d->price[t] = 40 + 30 * sin((h - 9) * M_PI / 12) + (h >= 17 && h < 20 ? 40 : 0);
        d->base[t] = 600 + 200 * sin((h - 8) * M_PI / 12);
    }
    d->eq[0] = (opt_equipment_t){.name = "dryer-1",
                                 .kind = OPT_TASK_BLOCK,
                                 .p_max_kw = 250,
                                 .energy_kwh = 750,
                                 .earliest = 24,
                                 .deadline = 88,
                                 .habitual_start = 32};
    d->eq[1] = (opt_equipment_t){.name = "chiller",
                                 .kind = OPT_TASK_FLEX,
                                 .p_min_kw = 50,
                                 .p_max_kw = 150,
                                 .energy_kwh = 1200,
                                 .earliest = 0,
                                 .deadline = 96,
                                 .habitual_start = -1,
                                 .min_run = 4,
                                 .min_rest = 4,
                                 .max_starts_day = 3,
                                 .startup_eur = 2};
    d->eq[2] = (opt_equipment_t){.name = "battery",
                                 .kind = OPT_STORAGE,
                                 .cap_kwh = 500,
                                 .soc0_kwh = 250,
                                 .soc_min_kwh = 50,
                                 .soc_max_kwh = 500,
                                 .charge_max_kw = 200,
                                 .discharge_max_kw = 200,
                                 .eta_charge = 0.95,
                                 .eta_discharge = 0.95,
                                 .loss_per_slot = 0.0005};
    d->eq[3] = (opt_equipment_t){.name = "mill",
                                 .kind = OPT_TASK_FLEX,
                                 .p_max_kw = 120,
                                 .earliest = 0,
                                 .deadline = 96,
                                 .habitual_start = -1,
                                 .specific_kwh = 40,
                                 .n_shifts = 2,
                                 .shifts = {{24, 56, 20}, {56, 88, 20}}};
    d->pb = (opt_problem_t){.site = {.n_slots = DEMO_T,
                                     .slot_h = 0.25,
                                     .price = d->price,
                                     .base_kw = d->base,
                                     .import_cap_kw = 1300,
                                     .export_cap_kw = 0,
                                     .demand_eur_kw = 4,
                                     .peak_so_far_kw = 700},
                            .n_eq = 4,
                            .eq = d->eq};
}

static void print_result(const opt_problem_t *pb, const opt_result_t *r)
{
    printf("status %s (%s), gap %.4f%%, %.3f s\n", opt_status_name(r->status),
           r->source ? r->source : "-", 100 * r->gap, r->solve_s);
    printf("cost %.2f EUR (energy %.2f, demand %.2f, start-up %.2f, CO2 %.2f), "
           "peak %.1f kW\n",
           r->cost.total_eur, r->cost.energy_eur, r->cost.demand_eur,
           r->cost.startup_eur, r->cost.co2_eur, r->cost.peak_kw);
    printf("baseline %.2f EUR, savings %.2f EUR (%.2f%%), violations %d\n",
           r->baseline_cost.total_eur, r->savings_eur, r->savings_pct, r->violations);
    for (int i = 0; i < r->binding.n; i++)
        printf("binding: %s\n", r->binding.v[i]);
    for (int i = 0; i < r->explain.n; i++)
        printf("explain: %s\n", r->explain.v[i]);
    for (int i = 0; i < r->problems.n; i++)
        printf("problem: %s\n", r->problems.v[i]);
    for (int e = 0; e < pb->n_eq; e++) {
        printf("%-10s", pb->eq[e].name);
        for (int t = 0; t < pb->site.n_slots; t += 4)
            printf(" %4.0f", r->plan.power[(size_t)e * pb->site.n_slots + t]);
        printf("\n");
    }
}

static int usage(void)
{
    fprintf(stderr,
            "usage: schedule-optimizer [--config FILE] [--plant FILE] [--dump-config]\n"
            "       schedule-optimizer solve-case demo [--time-limit S]\n"
            "       schedule-optimizer --dump-lp FILE[.mps|.lp] --case demo\n"
            "       schedule-optimizer replan --site ID [--config FILE] "
            "[--bootstrap HOST:PORT]\n"
            "                          [--registry URL]"
            " [--prefix P] [--schemas DIR] [--at TIME] "
            "[--by WHO]\n"
            "                          [--reason TEXT] [--id REQUEST_ID]\n");
    return 2;
}

/* The service's definition over its option table at conf (one for the
 * service, one for its commands that read the service's configuration). */
static svc_def_t service_def(const svc_table_t *tables)
{
    return (svc_def_t){
        .name = "schedule-optimizer",
        .summary = "Plans flexible equipment per site from forecasts and prices.",
        .http_port = 18105,
        .tables = tables,
        .init = opt_service_init,
        .step = opt_service_step,
        .shutdown = opt_service_shutdown,
    };
}

static int run_service(int argc, char **argv)
{
    opt_service_t *s = opt_service_new();
    int rc;

    if (!s)
        return 1;
    const svc_table_t tables[] = {{opt_svc_options, opt_service_conf(s)}, {NULL, NULL}};
    const svc_def_t def = service_def(tables);
    rc = svc_main(&def, s, argc, argv);
    opt_service_free(s);
    return rc;
}

/* ---- replan: one request record on energy.schedule.requests ---- */

typedef struct replan_args {
    const char *config; /* the service's config file; NULL: none */
    const char *bootstrap, *registry, *prefix, *schemas, *at; /* NULL: config's */
    opt_request_t q;
} replan_args_t;

static int replan_parse(int argc, char **argv, replan_args_t *a)
{
    const char *user = getenv("USER");

    memset(a, 0, sizeof *a);
    snprintf(a->q.requested_by, sizeof a->q.requested_by, "%s",
             user && *user ? user : "operator");
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        i++;
        if (!strcmp(o, "--site"))
            snprintf(a->q.site_id, sizeof a->q.site_id, "%s", v);
        else if (!strcmp(o, "--config"))
            a->config = v;
        else if (!strcmp(o, "--bootstrap"))
            a->bootstrap = v;
        else if (!strcmp(o, "--registry"))
            a->registry = v;
        else if (!strcmp(o, "--prefix"))
            a->prefix = v;
        else if (!strcmp(o, "--schemas"))
            a->schemas = v;
        else if (!strcmp(o, "--at"))
            a->at = v;
        else if (!strcmp(o, "--by"))
            snprintf(a->q.requested_by, sizeof a->q.requested_by, "%s", v);
        else if (!strcmp(o, "--reason"))
            snprintf(a->q.reason, sizeof a->q.reason, "%s", v);
        else if (!strcmp(o, "--id"))
            snprintf(a->q.request_id, sizeof a->q.request_id, "%s", v);
        else
            return -1;
    }
    return a->q.site_id[0] ? 0 : -1;
}

static int replan_fill(replan_args_t *a)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    a->q.requested_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (a->at && dataset_parse_iso8601(a->at, &a->q.requested_ms)) {
        fprintf(stderr, "schedule-optimizer: --at '%s' is not an ISO 8601 UTC time\n",
                a->at);
        return -1;
    }
    if (!a->q.request_id[0])
        snprintf(a->q.request_id, sizeof a->q.request_id, "%.100s/%lld/%ld-%ld",
                 a->q.site_id, (long long)a->q.requested_ms, (long)getpid(),
                 (long)ts.tv_nsec);
    return 0;
}

/* The bus as the service would open it (its config file and EMS_*
 * environment: broker, registry, prefix, and bus.kafka's TLS and SASL
 * properties), with the flags given on top. */
static bus_t *replan_bus(const replan_args_t *a, const cfg_bus_t *b, char *err,
                         size_t errsz)
{
    bus_conf_t bc = {.bootstrap = a->bootstrap ? a->bootstrap : b->bootstrap,
                     .registry_url = a->registry ? a->registry : b->registry_url,
                     .schema_dir = a->schemas ? a->schemas : b->schema_dir,
                     .topic_prefix = a->prefix ? a->prefix : b->topic_prefix,
                     .client_id = "schedule-optimizer-replan",
                     .kafka_props = b->kafka.kv};
    return bus_new(&bc, err, errsz);
}

static int replan_publish(const replan_args_t *a, const cfg_bus_t *b, char *err,
                          size_t errsz)
{
    bus_t *bus = NULL;
    bus_producer_t *p = NULL;
    avro_value_t v;
    int rc = -1, have_v = 0;

    if (!(bus = replan_bus(a, b, err, errsz)) ||
        !(p = bus_producer_new(bus, err, errsz)))
        goto out;
    if (bus_value_new(bus, "energy.schedule.requests", &v, err, errsz))
        goto out;
    have_v = 1;
    if (opt_codec_request_value(&v, &a->q, err, errsz) ||
        bus_produce(p, "energy.schedule.requests", a->q.site_id, &v, a->q.requested_ms,
                    err, errsz) ||
        bus_producer_flush(p, 30000, err, errsz))
        goto out;
    rc = 0;
out:
    if (have_v)
        avro_value_decref(&v);
    bus_producer_destroy(p);
    bus_destroy(bus);
    return rc;
}

static int run_replan(int argc, char **argv)
{
    replan_args_t a;
    opt_svc_conf_t oc;
    char err[512];

    if (replan_parse(argc, argv, &a))
        return usage();
    if (replan_fill(&a))
        return 2;
    const svc_table_t tables[] = {{opt_svc_options, &oc}, {NULL, NULL}};
    const svc_def_t def = service_def(tables);
    svc_config_t *conf = svc_config_load(&def, a.config, err, sizeof err);
    if (!conf) {
        fprintf(stderr, "schedule-optimizer: replan: %s\n", err);
        return 2;
    }
    int rc = replan_publish(&a, &svc_config_common(conf)->bus, err, sizeof err);
    svc_config_free(conf);
    if (rc) {
        fprintf(stderr, "schedule-optimizer: replan of site '%s': %s\n", a.q.site_id,
                err);
        return 1;
    }
    printf("%s\n", a.q.request_id);
    return 0;
}

/* The commands are recognised by their words; anything else is the service. */
static int is_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "solve-case") || !strcmp(argv[i], "--dump-lp") ||
            !strcmp(argv[i], "--case"))
            return 1;
    return 0;
}

static int run_command(int argc, char **argv)
{
    const char *dump = NULL, *cas = NULL;
    opt_options_t o;
    char err[256];
    demo_t d;

    opt_options_init(&o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dump-lp") && i + 1 < argc)
            dump = argv[++i];
        else if ((!strcmp(argv[i], "--case") || !strcmp(argv[i], "solve-case")) &&
                 i + 1 < argc)
            cas = argv[++i];
        else if (!strcmp(argv[i], "--time-limit") && i + 1 < argc)
            o.time_limit_s = atof(argv[++i]);
        else
            return usage();
    }
    if (!cas || strcmp(cas, "demo"))
        return usage();
    demo_build(&d);
    if (dump) {
        opt_model_t *m = opt_model_new(&d.pb, 0, err, sizeof err);
        if (!m || opt_model_write(m, dump, err, sizeof err) < 0) {
            fprintf(stderr, "schedule-optimizer: %s\n", err);
            opt_model_destroy(m);
            return 1;
        }
        opt_model_destroy(m);
        return 0;
    }
    opt_result_t r;
    opt_result_init(&r);
    if (opt_solve(&d.pb, &o, &r, err, sizeof err) < 0) {
        fprintf(stderr, "schedule-optimizer: %s\n", err);
        opt_result_release(&r);
        return 1;
    }
    print_result(&d.pb, &r);
    opt_result_release(&r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "replan"))
        return run_replan(argc, argv);
    return is_command(argc, argv) ? run_command(argc, argv) : run_service(argc, argv);
}
