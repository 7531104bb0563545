/* Settings of the scada-gateway under test; see gateway.h. */
#include "gateway.h"

#include <stdio.h>

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

FILE *tgw_plant_open(const char *dir, int contracted_import_kw)
{
    char path[512];
    FILE *f = fopen(th_path(path, sizeof path, dir, "plant.yaml"), "w");
    ck_assert_msg(f != NULL, "cannot create '%s'", path);
    fprintf(f,
            "sites:\n  - id: s1\n    timezone: Europe/Amsterdam\n    market: NL\n"
            "    contracted_import_kw: %d\nmeters:\n",
            contracted_import_kw);
    return f;
}

pid_t tgw_start_sim(const char *dir, int port, const char *const *args)
{
    char bin[512], plant[512], data[512], port_s[16];
    const char *argv[20] = {bin, "--plant", plant, "--port", port_s, "--data", data};
    int n = 7;
    th_bin(bin, sizeof bin, "meter-sim");
    th_path(plant, sizeof plant, dir, "plant.yaml");
    th_root(data, sizeof data, "tests/data/openstef_nl_neerijnen/307-test-data.csv");
    snprintf(port_s, sizeof port_s, "%d", port);
    for (int i = 0; args && args[i]; i++) {
        ck_assert_int_lt(n, 19);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return th_spawn_logged(dir, "sim.log", argv, NULL);
}

int tgw_meter_index(const char *id, int n)
{
    int i;
    return sscanf(id, "meter-%d", &i) == 1 && i >= 0 && i < n ? i : -1;
}

void tgw_reader_open(tgw_reader *r, const char *bootstrap, const char *prefix,
                     const char *client)
{
    char stem[64], group[128];
    snprintf(stem, sizeof stem, "%s-", client);
    r->bus = th_bus_new(&(bus_conf_t){
        .bootstrap = bootstrap, .topic_prefix = prefix, .client_id = client});
    th_unique(group, sizeof group, stem, "");
    r->c = th_consumer(r->bus, group, "energy.telemetry");
}

void tgw_reader_close(tgw_reader *r)
{
    bus_consumer_destroy(r->c);
    bus_destroy(r->bus);
    r->c = NULL;
    r->bus = NULL;
}
