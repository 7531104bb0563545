/*
 * ing_recover: rebuilds one site's rollup and gap state from PostgreSQL
 * (the I/O side of the ing_rollup restore API). Used when the service first
 * sees a site after a start, and again after a write whose outcome is
 * unknown (the connection broke around a COMMIT), so a restart or an outage
 * neither loses the readings of open intervals nor counts one twice.
 *
 * Threads: one thread at a time (it drives the caller's db_t).
 */
#ifndef EMS_INGESTER_ING_RECOVER_H
#define EMS_INGESTER_ING_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "ingester/ing_rollup.h"

/* Loads the site's readings of the last window_ms of event time (the
 * lateness plus the correction horizon plus an interval or two), its open
 * and recent gaps and its 15-min rows, and restores them into r. Returns 0
 * (the site is restored; outputs the database lacked are in r's outputs)
 * and the number of readings loaded in *loaded (optional), or -1 with errstr
 * (the site's state is cleared; call again later). */
int ing_recover_site(db_t *db, ing_rollup_t *r, const char *site_id, int64_t window_ms,
                     int64_t *loaded, char *errstr, size_t errstr_size);

#endif
