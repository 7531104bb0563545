/*
 * The config loader on any file: YAML parsed, every key checked against a
 * service's option tables (the common ones, then the service's own), values
 * converted and range-checked, then the effective config dumped, as a
 * service does at start-up and for --dump-config. Input: a selector byte
 * (ingester, scada-gateway, schedule-optimizer, forecaster), then the YAML.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config/common.h"
#include "config/config.h"
#include "forecaster/fc_service.h"
#include "fz.h"
#include "ingester/ing_service.h"
#include "scada-gateway/gw.h"
#include "schedule-optimizer/opt_service.h"

/* One struct per service, so a table fills a struct of its own type. */
static union {
    ing_conf_t ing;
    sg_conf_t sg;
    opt_svc_conf_t opt;
    fc_service_conf fc;
} conf;

static const cfg_option_t *service_table(int which)
{
    switch (which) {
    case 0:
        return ing_options;
    case 1:
        return sg_conf_options;
    case 2:
        return opt_svc_options;
    default:
        return fc_service_options;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_common_t common;
    char err[1024];
    cfg_t *cfg;
    FILE *sink;

    if (size < 1)
        return 0;
    if (!(cfg = cfg_new()))
        abort();
    if (cfg_common_add(cfg, &common, err, sizeof err) ||
        cfg_add_table(cfg, service_table(data[0] % 4), &conf, err, sizeof err))
        fz_fail("the option tables", err);
    if (cfg_load_string(cfg, "fuzz.yaml", (const char *)data + 1, size - 1, err,
                        sizeof err) == 0 &&
        (sink = fopen("/dev/null", "w"))) {
        cfg_dump(cfg, sink);
        fclose(sink);
    }
    cfg_destroy(cfg);
    return 0;
}
