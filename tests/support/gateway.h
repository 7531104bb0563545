/* The scada-gateway's integration tests (prefix tgw_): the settings every
 * test gives the gateway binary. Like harness.h, belongs inside a Check
 * test or fixture. */
#ifndef EMS_TESTS_GATEWAY_H
#define EMS_TESTS_GATEWAY_H

#include "harness.h"

/* Appends to e the gateway's settings on the test stack: the bus
 * (bootstrap, or EMS_TEST_BOOTSTRAP when NULL; topic prefix), the plant
 * model <dir>/plant.yaml unless plant is 0 (the test then passes
 * --plant), the HTTP port, and its spool and state file below dir. */
void tgw_env_add(th_env_list *e, const char *bootstrap, const char *prefix,
                 const char *dir, int plant, int http_port);

#endif
