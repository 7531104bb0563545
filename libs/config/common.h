/*
 * config/common: the settings every service shares (log, http, bus, plant),
 * as option tables for config.h. A service adds these tables, then its own:
 *
 *   cfg_common_t common;
 *   cfg_t *cfg = cfg_new();
 *   cfg_common_add(cfg, &common, errstr, sizeof errstr);
 *   cfg_add_table(cfg, my_options, &my_conf, errstr, sizeof errstr);
 *   if (cfg_load(cfg, path, errstr, sizeof errstr) < 0) { ...exit 2... }
 *
 * Strings in the struct belong to the cfg handle (see config.h).
 */
#ifndef EMS_CONFIG_COMMON_H
#define EMS_CONFIG_COMMON_H

#include "config/config.h"

typedef struct cfg_log {
    const char *level; /* debug|info|warn|error */
} cfg_log_t;

typedef struct cfg_http {
    const char *listen; /* bind address */
    int64_t port;       /* health/readiness/metrics port */
} cfg_http_t;

typedef struct cfg_bus {
    const char *bootstrap;    /* Kafka bootstrap servers */
    const char *registry_url; /* schema registry base URL */
    const char *schema_dir;   /* directory holding <topic>.avsc */
    const char *topic_prefix; /* "" or e.g. "plant1." */
    const char *client_id;
    cfg_strmap_t kafka;       /* librdkafka properties passed through */
    int64_t flush_timeout_ms; /* bus.flush_timeout: producer flush on shutdown */
} cfg_bus_t;

typedef struct cfg_plant {
    const char *path; /* plant model YAML */
} cfg_plant_t;

typedef struct cfg_common {
    cfg_log_t log;
    cfg_http_t http;
    cfg_bus_t bus;
    cfg_plant_t plant;
} cfg_common_t;

/* The tables, exported so docs can be generated from them. Offsets are into
 * cfg_common_t. */
extern const cfg_option_t cfg_common_options[];

/* Zeroes common and registers cfg_common_options on it. Returns 0 or -1
 * with errstr. */
int cfg_common_add(cfg_t *cfg, cfg_common_t *common, char *errstr, size_t errstr_size);

#endif
