/* Settings of the scada-gateway under test; see gateway.h. */
#include "gateway.h"

void tgw_env_add(th_env_list *e, const char *bootstrap, const char *prefix,
                 const char *dir, int plant, int http_port)
{
    th_env_add_bus(e, bootstrap, prefix);
    if (plant)
        th_env_add(e, "EMS_PLANT_PATH=%s/plant.yaml", dir);
    th_env_add(e, "EMS_HTTP_PORT=%d", http_port);
    th_env_add(e, "EMS_SCADA_SPOOL_DIR=%s/spool", dir);
    th_env_add(e, "EMS_SCADA_STATE_FILE=%s/state.json", dir);
}
