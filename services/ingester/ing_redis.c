/*
 * ing_redis: latest values in Redis.
 */
#include "ingester/ing_redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ing_redis {
    char host[256];
    int port;
    char prefix[64];
    int64_t ttl_ms;
    redisContext *c;
};

/* KEYS: latest, site hash, site power. ARGV: ts, site, power|"" , energy|"",
 * quality, meter, ttl_ms. */
static const char LUA_LATEST[] =
    "local t = redis.call('HGET', KEYS[1], 'ts')\n"
    "if t and tonumber(t) > tonumber(ARGV[1]) then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'ts', ARGV[1], 'site_id', ARGV[2], 'power_kw', "
    "ARGV[3],"
    " 'energy_kwh', ARGV[4], 'quality', ARGV[5])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[7])\n"
    "if ARGV[3] ~= '' then\n"
    "  redis.call('HSET', KEYS[2], ARGV[6], ARGV[3])\n"
    "  local sum = 0\n"
    "  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do sum = sum + tonumber(v) "
    "end\n"
    "  redis.call('SET', KEYS[3], tostring(sum), 'PX', ARGV[7])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[7])\n"
    "end\n"
    "return 1\n";

ing_redis_t *ing_redis_new(const char *addr, const char *prefix, int64_t ttl_ms)
{
    ing_redis_t *r;
    const char *colon = addr ? strrchr(addr, ':') : NULL;

    if (!colon || colon == addr || (size_t)(colon - addr) >= 256)
        return NULL;
    if (!(r = calloc(1, sizeof *r)))
        return NULL;
    memcpy(r->host, addr, (size_t)(colon - addr));
    r->port = atoi(colon + 1);
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix ? prefix : "");
    r->ttl_ms = ttl_ms > 0 ? ttl_ms : 900000;
    return r;
}

void ing_redis_destroy(ing_redis_t *r)
{
    if (!r)
        return;
    if (r->c)
        redisFree(r->c);
    free(r);
}

static int ensure_conn(ing_redis_t *r, char *errstr, size_t errstr_size)
{
    struct timeval tv = {1, 0};

    if (r->c && !r->c->err)
        return 0;
    if (r->c)
        redisFree(r->c);
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->c || r->c->err) {
        snprintf(errstr, errstr_size, "redis %s:%d: %s", r->host, r->port,
                 r->c ? r->c->errstr : "out of memory");
        if (r->c)
            redisFree(r->c);
        r->c = NULL;
        return -1;
    }
    redisSetTimeout(r->c, tv);
    return 0;
}

static void drop(ing_redis_t *r, char *errstr, size_t errstr_size, const char *why)
{
    snprintf(errstr, errstr_size, "redis %s:%d: %s", r->host, r->port, why);
    redisFree(r->c);
    r->c = NULL;
}

int ing_redis_write(ing_redis_t *r, const ing_reading_t *rd, const unsigned char *use,
                    size_t n, char *errstr, size_t errstr_size)
{
    static const char *const q[] = {"good", "stale", "comm_error", "out_of_range",
                                    "substituted"};
    size_t sent = 0;

    if (ensure_conn(r, errstr, errstr_size))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char k1[160], k2[160], k3[160], ts[32], p[40] = "", e[40] = "", ttl[32];
        if (use && !use[i])
            continue;
        snprintf(k1, sizeof k1, "%slatest:%s", r->prefix, rd[i].meter_id);
        snprintf(k2, sizeof k2, "%ssite:%s", r->prefix, rd[i].site_id);
        snprintf(k3, sizeof k3, "%ssite_power:%s", r->prefix, rd[i].site_id);
        snprintf(ts, sizeof ts, "%lld", (long long)rd[i].ts_ms);
        snprintf(ttl, sizeof ttl, "%lld", (long long)r->ttl_ms);
        if (rd[i].present & ING_HAS_POWER)
            snprintf(p, sizeof p, "%.17g", rd[i].power_kw);
        if (rd[i].present & ING_HAS_ENERGY)
            snprintf(e, sizeof e, "%.17g", rd[i].energy_kwh);
        if (redisAppendCommand(r->c, "EVAL %s 3 %s %s %s %s %s %s %s %s %s %s",
                               LUA_LATEST, k1, k2, k3, ts, rd[i].site_id, p, e,
                               q[(unsigned)rd[i].quality % 5], rd[i].meter_id,
                               ttl) != REDIS_OK)
            break;
        sent++;
    }
    int rc = 0;
    for (size_t i = 0; i < sent; i++) {
        redisReply *reply = NULL;
        if (redisGetReply(r->c, (void **)&reply) != REDIS_OK) {
            drop(r, errstr, errstr_size, r->c->errstr);
            return -1;
        }
        if (reply->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(errstr, errstr_size, "redis: %s", reply->str);
            rc = -1;
        }
        freeReplyObject(reply);
    }
    return rc;
}

int ing_redis_check(void *ctx, char *errstr, size_t errstr_size)
{
    ing_redis_t *r = ctx;
    redisReply *reply;

    if (ensure_conn(r, errstr, errstr_size))
        return -1;
    reply = redisCommand(r->c, "PING");
    if (!reply) {
        drop(r, errstr, errstr_size, r->c->errstr);
        return -1;
    }
    freeReplyObject(reply);
    return 0;
}
