/*
 * devbroker control: a line protocol on a loopback TCP port through which a
 * test makes the mock cluster fail requests (docs/adr/0002). Test stacks
 * only: anyone who can connect can make the broker fail.
 */
#ifndef EMS_DEVBROKER_CONTROL_H
#define EMS_DEVBROKER_CONTROL_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

typedef struct db_control db_control;

/* Writes one JSON log line on stderr (main.c); msg must not need JSON
 * escaping. */
void db_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Listens on 127.0.0.1:port. NULL after logging why. */
db_control *db_control_new(rd_kafka_mock_cluster_t *mc, int port);
/* Waits up to timeout_ms for a connection or a command line and serves
 * it. Each command gets one reply line. */
void db_control_serve(db_control *ctl, int timeout_ms);
void db_control_destroy(db_control *ctl);

/* Runs one command line (no newline) against mc, writing the reply (no
 * newline) into reply. Returns 0 when the command was applied. */
int db_control_run(rd_kafka_mock_cluster_t *mc, const char *line, char *reply,
                   size_t reply_size);

#endif
