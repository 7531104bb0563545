/*
 * ing_redis: latest values in Redis.
 */
#include "ingester/ing_redis.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_idmap.h"

struct ing_redis {
    char host[256];
    int port;
    char prefix[64];
    char *password; /* NULL: no AUTH */
    int64_t ttl_ms;
    redisContext *c;
    char sha_meter[48], sha_site[48]; /* SCRIPT LOAD of this connection */
    size_t *idx;                      /* scratch: the readings sent */
    size_t cap, nidx;
    ing_idmap_t *newest; /* scratch: meter -> its newest reading of the batch */
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

ing_redis_t *ing_redis_new(const char *addr, const char *password, const char *prefix,
                           int64_t ttl_ms)
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
    if (password && *password && !(r->password = strdup(password))) {
        free(r);
        return NULL;
    }
    if (!(r->newest = ing_idmap_new())) {
        free(r->password);
        free(r);
        return NULL;
    }
    return r;
}

void ing_redis_destroy(ing_redis_t *r)
{
    if (!r)
        return;
    if (r->c)
        redisFree(r->c);
    free(r->idx);
    ing_idmap_destroy(r->newest);
    if (r->password)
        explicit_bzero(r->password, strlen(r->password));
    free(r->password);
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

/* AUTH with the configured password; the error names Redis' reason, never
 * the password. 0, or -1 with errstr. */
static int authenticate(ing_redis_t *r, char *errstr, size_t errstr_size)
{
    redisReply *reply = redisCommand(r->c, "AUTH %s", r->password);
    int ok = reply && reply->type == REDIS_REPLY_STATUS;

    if (!ok)
        snprintf(errstr, errstr_size, "redis %s:%d: AUTH refused: %s", r->host, r->port,
                 !reply                             ? r->c->errstr
                 : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                    : "unexpected reply");
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
    if (r->password && authenticate(r, errstr, errstr_size)) {
        redisFree(r->c);
        r->c = NULL;
        return -1;
    }
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
static int by_site_meter(const void *a, const void *b, void *ctx)
{
    const ing_reading_t *rd = ctx;
    const ing_reading_t *x = &rd[*(const size_t *)a];
    const ing_reading_t *y = &rd[*(const size_t *)b];
    int c = strcmp(x->site_id, y->site_id);

    return c ? c : strcmp(x->meter_id, y->meter_id);
}

/* r->idx[0..r->nidx): each meter's newest reading among the used ones,
 * by site and meter. 0, or -1 out of memory. */
static int pick_newest(ing_redis_t *r, const ing_reading_t *rd,
                       const unsigned char *use, size_t n)
{
    size_t k;

    ing_idmap_clear(r->newest);
    for (size_t i = 0; i < n; i++)
        if ((!use || use[i]) &&
            (!ing_idmap_get(r->newest, rd[i].meter_id, &k) ||
             rd[i].ts_ms > rd[k].ts_ms) &&
            ing_idmap_put(r->newest, rd[i].meter_id, i))
            return -1;
    if (ing_idmap_count(r->newest) > r->cap) {
        size_t *p = realloc(r->idx, ing_idmap_count(r->newest) * sizeof *p);
        if (!p)
            return -1;
        r->idx = p, r->cap = ing_idmap_count(r->newest);
    }
    r->nidx = ing_idmap_values(r->newest, r->idx);
    qsort_r(r->idx, r->nidx, sizeof *r->idx, by_site_meter, (void *)rd);
    return 0;
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
    /* only each meter's newest reading of the batch, then one sum per site */
    if (pick_newest(r, rd, use, n)) {
        snprintf(errstr, errstr_size, "redis: out of memory");
        return -1;
    }
    m = r->nidx;
    snprintf(ttl, sizeof ttl, "%lld", (long long)r->ttl_ms);
    for (size_t j = 0; j < m; j++) {
        const ing_reading_t *x = &rd[r->idx[j]];
        char k1[160], k2[160], k3[160], ts[32], p[40] = "", e[40] = "";

        snprintf(k2, sizeof k2, "%ssite:%s", r->prefix, x->site_id);
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
