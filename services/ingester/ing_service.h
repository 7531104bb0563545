/*
 * ing_service: the ingester's loop on the service skeleton. One step polls a
 * batch of energy.telemetry (bounded by rows and milliseconds), decodes and
 * validates it (bad records to the DLQ with the reason), checks it against
 * the meters' state, takes its offsets and hands it to a writer session
 * (ing_writer.h: COPY, COMMIT, then Redis) while the next batches are
 * polled. Stored batches are fed to the rollup core in poll order; the
 * closed intervals (energy.load) and gaps (energy.gaps) are published, held
 * (until the consumer has caught up, ingester.rollup_batch of them are
 * held, or ingester.rollup_flush has passed) and stored in one transaction
 * on their own session while later batches are written; only then are the
 * held batches' offsets committed. A site's rollup state is restored from
 * PostgreSQL the first time the site appears (ing_recover.h). A failed
 * write stops the pipeline and retries the unfed batches one by one after
 * restoring their sites; /readyz reports the database check as failed.
 *
 * A second consumer (its own group) stores the result topics in their
 * tables (ing_results.h) when no batch is in flight, with the same
 * hold-and-retry on database errors and the ack after the commit.
 *
 * Retention (ing_archive.h) runs at start and then every
 * ingester.retention_check, when no batch is in flight.
 *
 * Threads: the callbacks run on the service thread; the writer and outputs
 * threads only run jobs handed to them (ing_writer.h).
 */
#ifndef EMS_INGESTER_ING_SERVICE_H
#define EMS_INGESTER_ING_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "svc/svc.h"

typedef struct ing_conf {
    const char *group_id;
    int64_t interval_ms, lateness_ms, horizon_ms, sample_period_ms, max_future_ms;
    int64_t batch_rows, batch_ms, rollup_flush_ms, rollup_batch, writers;
    int64_t reset_confirm;
    bool accept_unknown;
    const char *migrations_dir;
    int64_t partitions_ahead;
    const char *db_conninfo;
    const char *db_user;     /* NULL: the conninfo's */
    const char *db_password; /* NULL: the conninfo's */
    int64_t db_attempts;
    const char *redis_addr;
    const char *redis_password; /* NULL: no AUTH */
    const char *redis_prefix;
    int64_t redis_ttl_ms;
    bool redis_enabled;
    bool results_enabled;
    const char *results_group_id;
    int64_t results_batch;
    int64_t retention_days;
    const char *archive_dir;
    int64_t retention_check_ms;
} ing_conf_t;

/* The option tables (sections ingester, db, redis); offsets into ing_conf_t. */
extern const cfg_option_t ing_options[];

typedef struct ing_service ing_service_t;

/* Allocates the service state (conf is filled later by the config). */
ing_service_t *ing_service_new(void);
void ing_service_free(ing_service_t *s);
ing_conf_t *ing_service_conf(ing_service_t *s);

/* svc_def_t callbacks; ctx is the ing_service_t. */
int ing_service_init(svc_t *svc, void *ctx, char *errstr, size_t errstr_size);
int ing_service_step(svc_t *svc, void *ctx);
void ing_service_shutdown(svc_t *svc, void *ctx);

#endif
