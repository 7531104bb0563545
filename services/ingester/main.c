/*
 * ingester: energy.telemetry into PostgreSQL and Redis, 15-min rollups on
 * energy.load, data gaps on energy.gaps (docs/ingester.md).
 */
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_archive.h"
#include "ingester/ing_service.h"

int main(int argc, char **argv)
{
    ing_service_t *s = ing_service_new();
    int rc;

    if (argc > 1 && strcmp(argv[1], "restore-archive") == 0) {
        ing_service_free(s);
        return ing_restore_command(argc, argv);
    }
    if (!s)
        return 1;
    const svc_table_t tables[] = {{ing_options, ing_service_conf(s)}, {NULL, NULL}};
    const svc_def_t def = {
        .name = "ingester",
        .summary = "Stores telemetry, computes rollups and gaps, keeps latest values.",
        .http_port = 18102,
        .tables = tables,
        .init = ing_service_init,
        .step = ing_service_step,
        .shutdown = ing_service_shutdown,
    };
    rc = svc_main(&def, s, argc, argv);
    ing_service_free(s);
    return rc;
}
