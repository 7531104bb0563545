/* svc internals shared by svc.c and audit_pub.c. */
#ifndef EMS_SVC_SVC_INT_H
#define EMS_SVC_SVC_INT_H

#include <signal.h>

#include "svc/svc.h"

typedef struct svc_audit_conf {
    const char *state_file; /* persists the audit chain across restarts */
    const char *instance;   /* chain id within the service; default host name */
} svc_audit_conf_t;

struct svc_s {
    const svc_def_t *def;
    void *ctx;
    cfg_t *cfg;
    cfg_common_t common;
    svc_audit_conf_t audit_conf;
    const char *config_path;
    const char *plant_path; /* --plant, overrides plant.path */
    int dump_config;
    plant_t *plant;
    obs_metrics_t *metrics;
    obs_http_t *http;
    bus_t *bus;
    bus_producer_t *producer;
    audit_t *audit;
    obs_counter_t *audit_events, *audit_failures;
    volatile sig_atomic_t *stop;
    int started; /* init succeeded: shutdown and service.stop are due */
};

/* audit_publish_fn wiring audit events to the producer on audit.events;
 * ctx is the svc_t. */
int svc_audit_publish(void *ctx, const audit_event_t *ev, char *err, size_t err_size);

#endif
