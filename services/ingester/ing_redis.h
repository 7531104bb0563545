/*
 * ing_redis: the latest reading per meter and the current power per site in
 * Redis (hiredis), with a TTL, for fast reads:
 *   <prefix>latest:<meter_id>   hash ts, site_id, power_kw, energy_kwh, quality
 *   <prefix>site:<site_id>      hash meter_id -> power_kw of its latest reading
 *   <prefix>site_power:<site_id> string: sum of that hash, kW
 * An older reading never overwrites a newer one (checked in a Lua script).
 * Redis being down is not fatal: writes fail, are counted, and the
 * connection is retried on the next batch.
 */
#ifndef EMS_INGESTER_ING_REDIS_H
#define EMS_INGESTER_ING_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "ingester/ing_types.h"

typedef struct ing_redis ing_redis_t;

/* addr "host:port"; password: sent with AUTH on every connection (NULL or
 * "": none); prefix e.g. "ems:ingester:"; ttl_ms > 0. Does not connect yet.
 * NULL on allocation failure or a malformed addr. */
ing_redis_t *ing_redis_new(const char *addr, const char *password, const char *prefix,
                           int64_t ttl_ms);
void ing_redis_destroy(ing_redis_t *r);

/* Writes readings i with use[i] != 0 (all when use is NULL), pipelined. Returns 0, or
 * -1 with errstr (the connection is dropped and retried next time). */
int ing_redis_write(ing_redis_t *r, const ing_reading_t *rd, const unsigned char *use,
                    size_t n, char *errstr, size_t errstr_size);
/* PING with a short timeout; for /readyz. */
int ing_redis_check(void *ctx, char *errstr, size_t errstr_size);

#endif
