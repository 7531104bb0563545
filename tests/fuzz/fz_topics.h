/*
 * fz_topics: the topics each bus-fed harness reads, in the order of its
 * selector byte (the input's first byte, modulo the count), shared by the
 * harnesses and the seed generator (mkseeds/).
 */
#ifndef EMS_TESTS_FUZZ_FZ_TOPICS_H
#define EMS_TESTS_FUZZ_FZ_TOPICS_H

#define FZ_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every topic a service consumes (ingester, forecaster, optimizer,
 * scada-gateway). */
static const char *const fz_bus_topics[] = {
    "energy.telemetry", "energy.load",     "energy.weather",
    "energy.forecast",  "energy.prices",   "energy.schedule.requests",
    "energy.purchases", "energy.schedule", "energy.recommendations",
    "energy.alerts",    "energy.reports",  "energy.control.commands",
};
/* The schedule-optimizer's inputs. */
static const char *const fz_opt_topics[] = {"energy.forecast", "energy.prices",
                                            "energy.load", "energy.schedule.requests"};
/* The forecaster's inputs. */
static const char *const fz_fc_topics[] = {"energy.load", "energy.weather",
                                           "energy.forecast"};
/* The ingester's result topics, stored as JSON (ing_results.h). */
static const char *const fz_results_topics[] = {
    "energy.forecast",        "energy.prices", "energy.purchases", "energy.schedule",
    "energy.recommendations", "energy.alerts", "energy.reports"};

#endif
