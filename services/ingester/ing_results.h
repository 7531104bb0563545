/*
 * ing_results: the result topics (energy.forecast, energy.prices,
 * energy.purchases, energy.schedule, energy.recommendations, energy.alerts,
 * energy.reports) into their PostgreSQL tables.
 *
 * A decoded record is turned into one JSON document (ing_json_from_avro)
 * and handed as the only parameter to the topic's SQL statements, which
 * unnest its slots with jsonb_to_recordset. Every statement set is
 * idempotent: records with a deterministic id (forecast run_id, plan_id)
 * are inserted once (ON CONFLICT DO NOTHING); records with a revision or a
 * change time (prices by curve_id, purchases, recommendations, alerts,
 * reports) replace the stored row only when they are newer, so a replay
 * changes nothing and an older record arriving late never wins.
 *
 * Threads: one thread at a time per db_t.
 */
#ifndef EMS_INGESTER_ING_RESULTS_H
#define EMS_INGESTER_ING_RESULTS_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>

#include "bus/bus.h"
#include "db/db.h"

/* The logical result topics stored, in a fixed order. */
#define ING_RESULTS_NTOPICS 7
extern const char *const ing_results_topics[ING_RESULTS_NTOPICS];

/* Converts a generic Avro value to JSON: records and maps become objects,
 * arrays arrays, unions their current branch, enums their symbol, longs
 * (timestamp-millis included) integers, non-finite doubles the strings
 * "NaN", "Infinity", "-Infinity" (which PostgreSQL reads back as float8),
 * bytes and fixed lowercase hex. Returns a new reference, or NULL (out of
 * memory, unknown type). Pure. */
json_t *ing_json_from_avro(avro_value_t *v);

/* A record of the batch that cannot be stored (its data breaks a table
 * constraint, or its topic is not a result topic): to the DLQ. */
typedef struct ing_result_reject {
    int idx; /* index in the batch */
    char reason[256];
} ing_result_reject_t;

/* Stores n records of result topics in one transaction, each under a
 * savepoint. A record the database refuses for its data (SQLSTATE class 22
 * or 23) is rolled back alone and listed in rej (caller provides n entries;
 * *nrej set) for the caller to dead-letter once this returned 0. Returns 0
 * when the transaction committed; -1 with errstr on any other database
 * error (nothing stored: retry the whole batch). */
int ing_results_store(db_t *db, const bus_record_t *recs, int n,
                      ing_result_reject_t *rej, int *nrej, char *errstr,
                      size_t errstr_size);

#endif
