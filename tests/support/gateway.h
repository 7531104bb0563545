/* The scada-gateway's integration tests (prefix tgw_): the settings every
 * test gives the gateway binary, the plant model and meter simulator they
 * start it against, and a reader of what it publishes. Like harness.h,
 * belongs inside a Check test or fixture. */
#ifndef EMS_TESTS_GATEWAY_H
#define EMS_TESTS_GATEWAY_H

#include <stdio.h>

#include "bus/bus.h"
#include "harness.h"

/* Appends to e the gateway's settings on the test stack: the bus
 * (bootstrap, or EMS_TEST_BOOTSTRAP when NULL; topic prefix), the plant
 * model <dir>/plant.yaml unless plant is 0 (the test then passes
 * --plant), the HTTP port, and its spool and state file below dir. */
void tgw_env_add(th_env_list *e, const char *bootstrap, const char *prefix,
                 const char *dir, int plant, int http_port);

/* Creates <dir>/plant.yaml holding site s1 (Europe/Amsterdam, market NL,
 * contracted import kw) and the "meters:" key; the caller writes the
 * meters (and any equipment) and closes the file. Fails the test when it
 * cannot be created. */
FILE *tgw_plant_open(const char *dir, int contracted_import_kw);

/* Starts meter-sim serving <dir>/plant.yaml on loopback port with the
 * Dutch test load (307-test-data.csv), plus args (NULL-terminated, at most
 * 12; may be NULL), its output in <dir>/sim.log. Returns its pid. */
pid_t tgw_start_sim(const char *dir, int port, const char *const *args);

/* i of meter id "meter-<i>" when 0 <= i < n, else -1. */
int tgw_meter_index(const char *id, int n);

/* A reader of energy.telemetry in a fresh consumer group. */
typedef struct tgw_reader {
    bus_t *bus;
    bus_consumer_t *c;
} tgw_reader;

/* Opens r on bootstrap (NULL: EMS_TEST_BOOTSTRAP) under topic prefix, as
 * client id client, in the group "<client>-<unique>". Fails the test on
 * error. */
void tgw_reader_open(tgw_reader *r, const char *bootstrap, const char *prefix,
                     const char *client);
void tgw_reader_close(tgw_reader *r);

#endif
