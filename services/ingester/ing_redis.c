/*
 * ing_redis: latest values in Redis.
 */
#include "ingester/ing_redis.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ing_redis {
    char host[256];
    int port;
    char prefix[64];
    int64_t ttl_ms;
    redisContext *c;
    char sha_meter[48], sha_site[48]; /* SCRIPT LOAD of this connection */
    size_t *idx;                      /* scratch: reading order */
    size_t cap;
};

/* KEYS: latest, site hash. ARGV: ts, site, power|"", energy|"", quality,
 * meter, ttl_ms. Returns 1 when stored, 0 when a newer reading is there. */
static const char LUA_METER[] =
    "local t = redis.call('HGET', KEYS[1], 'ts')\n"
    "if t and tonumber(t) > tonumber(ARGV[1]) then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'ts', ARGV[1], 'site_id', ARGV[2], 'power_kw', "
    "ARGV[3], 'energy_kwh', ARGV[4], 'quality', ARGV[5])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[7])\n"
    "if ARGV[3] ~= '' then\n"
    "  redis.call('HSET', KEYS[2], ARGV[6], ARGV[3])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[7])\n"
    "end\n"
    "return 1\n";

/* KEYS: site hash, site power. ARGV: ttl_ms. Sums the site's meters. */
static const char LUA_SITE[] =
    "local sum = 0\n"
    "for _, v in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(v) "
    "end\n"
    "redis.call('SET', KEYS[2], tostring(sum), 'PX', ARGV[1])\n"
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
    free(r->idx);
    free(r);
}

static int load_script(redisContext *c, const char *lua, char *sha, size_t size)
{
    redisReply *reply = redisCommand(c, "SCRIPT LOAD %s", lua);
    int ok = reply && reply->type == REDIS_REPLY_STRING && reply->len < size;

    if (ok)
        memcpy(sha, reply->str, reply->len + 1);
    if (reply)
        freeReplyObject(reply);
    return ok ? 0 : -1;
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
    if (load_script(r->c, LUA_METER, r->sha_meter, sizeof r->sha_meter) ||
        load_script(r->c, LUA_SITE, r->sha_site, sizeof r->sha_site)) {
        snprintf(errstr, errstr_size, "redis %s:%d: SCRIPT LOAD failed", r->host,
                 r->port);
        redisFree(r->c);
        r->c = NULL;
        return -1;
    }
    return 0;
}

static void drop(ing_redis_t *r, char *errstr, size_t errstr_size, const char *why)
{
    snprintf(errstr, errstr_size, "redis %s:%d: %s", r->host, r->port, why);
    redisFree(r->c);
    r->c = NULL;
}

/* qsort_r order: site, meter, newest first (ctx: the readings). */
static int by_site_meter_newest(const void *a, const void *b, void *ctx)
{
    const ing_reading_t *rd = ctx;
    const ing_reading_t *x = &rd[*(const size_t *)a];
    const ing_reading_t *y = &rd[*(const size_t *)b];
    int c = strcmp(x->site_id, y->site_id);

    if (!c)
        c = strcmp(x->meter_id, y->meter_id);
    if (!c)
        c = (x->ts_ms < y->ts_ms) - (x->ts_ms > y->ts_ms);
    return c;
}

int ing_redis_write(ing_redis_t *r, const ing_reading_t *rd, const unsigned char *use,
                    size_t n, char *errstr, size_t errstr_size)
{
    static const char *const q[] = {"good", "stale", "comm_error", "out_of_range",
                                    "substituted"};
    size_t sent = 0, m = 0;
    char ttl[32];
    int rc = 0;

    if (ensure_conn(r, errstr, errstr_size))
        return -1;
    if (n > r->cap) {
        size_t *p = realloc(r->idx, n * sizeof *p);
        if (!p) {
            snprintf(errstr, errstr_size, "redis: out of memory");
            return -1;
        }
        r->idx = p, r->cap = n;
    }
    for (size_t i = 0; i < n; i++)
        if (!use || use[i])
            r->idx[m++] = i;
    /* only each meter's newest reading of the batch, then one sum per site */
    qsort_r(r->idx, m, sizeof *r->idx, by_site_meter_newest, (void *)rd);
    snprintf(ttl, sizeof ttl, "%lld", (long long)r->ttl_ms);
    for (size_t j = 0; j < m; j++) {
        const ing_reading_t *x = &rd[r->idx[j]];
        const ing_reading_t *prev = j ? &rd[r->idx[j - 1]] : NULL;
        char k1[160], k2[160], k3[160], ts[32], p[40] = "", e[40] = "";
        bool new_site = !prev || strcmp(prev->site_id, x->site_id) != 0;

        snprintf(k2, sizeof k2, "%ssite:%s", r->prefix, x->site_id);
        if (prev && !new_site && strcmp(prev->meter_id, x->meter_id) == 0)
            continue; /* an older reading of the same meter */
        snprintf(k1, sizeof k1, "%slatest:%s", r->prefix, x->meter_id);
        snprintf(ts, sizeof ts, "%lld", (long long)x->ts_ms);
        if (x->present & ING_HAS_POWER)
            snprintf(p, sizeof p, "%.17g", x->power_kw);
        if (x->present & ING_HAS_ENERGY)
            snprintf(e, sizeof e, "%.17g", x->energy_kwh);
        if (redisAppendCommand(r->c, "EVALSHA %s 2 %s %s %s %s %s %s %s %s %s",
                               r->sha_meter, k1, k2, ts, x->site_id, p, e,
                               q[(unsigned)x->quality % 5], x->meter_id,
                               ttl) != REDIS_OK)
            break;
        sent++;
        if (j + 1 == m || strcmp(rd[r->idx[j + 1]].site_id, x->site_id) != 0) {
            snprintf(k3, sizeof k3, "%ssite_power:%s", r->prefix, x->site_id);
            if (redisAppendCommand(r->c, "EVALSHA %s 2 %s %s %s", r->sha_site, k2, k3,
                                   ttl) != REDIS_OK)
                break;
            sent++;
        }
    }
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
    if (rc) { /* e.g. NOSCRIPT after a SCRIPT FLUSH: reconnect and reload */
        redisFree(r->c);
        r->c = NULL;
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
