/*
 * Integration test of the latest values in Redis (test stack, EMS_TEST_*):
 * after a batch, a meter's key holds its newest reading with the configured
 * TTL set, and the site's power is the sum of its meters' latest power; an
 * older reading stored later (new to the database) does not overwrite the
 * newer value. The older reading is followed by a sentinel reading of
 * another meter on the same key (same partition): once the sentinel is in
 * Redis, the older reading was processed.
 */
#include <check.h>
#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "support/harness.h"
#include "ingester/ing_redis.h"
#include "support/ingester.h"

#define DAY0 1598918400000LL /* 2020-09-01T00:00:00Z */
#define MIN_MS 60000LL

static char site[TH_ING_SITE_SIZE], group[TH_ING_GROUP_SIZE];
static char prefix[TH_ING_PREFIX_SIZE], rprefix[64], m0[64], m1[64];
static int port; /* the child's HTTP port */
static pid_t child;
static redisContext *rc;

/* A reading of meter at minute k with power kw. */
static void produce(bus_t *b, bus_producer_t *p, const char *meter, int k, double kw)
{
    th_ing_produce(b, p,
                   &(th_reading){.site = site,
                                 .meter = meter,
                                 .ts_ms = DAY0 + k * MIN_MS,
                                 .seq = k + 100,
                                 .power_kw = kw,
                                 .has_power = 1});
}

/* A field of the meter's latest hash ("" when missing). */
static const char *latest(const char *meter, const char *fieldname)
{
    static char out[128];
    redisReply *r = redisCommand(rc, "HGET %slatest:%s %s", rprefix, meter, fieldname);
    ck_assert_ptr_nonnull(r);
    snprintf(out, sizeof out, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return out;
}

static long long redis_int(const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(rc, fmt, a, b);
    long long v;
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

static void wait_latest_ts(const char *meter, int64_t ts)
{
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)ts);
    for (int i = 0; i < 600 && strcmp(latest(meter, "ts"), want) != 0; i++)
        usleep(100000);
    ck_assert_str_eq(latest(meter, "ts"), want);
}

static void start_ingester(void)
{
    th_env_list e = {0};

    th_ing_env(&e, NULL, group, prefix, port);
    th_env_add(&e, "EMS_REDIS_PREFIX=%s", rprefix);
    th_env_add(&e, "EMS_REDIS_TTL=10m");
    child = th_ing_start(&e, NULL);
    th_env_release(&e);
}

static void stop_ingester(void)
{
    th_stop(&child);
}

START_TEST(test_latest_values)
{
    char err[512], host[64];
    const char *addr = th_env("EMS_TEST_REDIS"), *colon = strrchr(addr, ':');
    long long pttl;

    th_ing_names("rds", site, group, prefix);
    snprintf(rprefix, sizeof rprefix, "ems:test:%s:", site);
    port = th_free_port();
    snprintf(m0, sizeof m0, "%s-m00", site);
    snprintf(m1, sizeof m1, "%s-m01", site);
    ck_assert_ptr_nonnull(colon);
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    rc = redisConnect(host, atoi(colon + 1));
    ck_assert_msg(rc && !rc->err, "redis %s: %s", addr, rc ? rc->errstr : "");
    bus_t *b = th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    start_ingester();

    /* m00 minutes 0..4 (the newest is 104 kW), m01 minute 0 */
    for (int k = 0; k < 5; k++)
        produce(b, p, m0, k, 100.0 + k);
    produce(b, p, m1, 0, 50.0);
    ck_assert(bus_producer_flush(p, 30000, err, sizeof err) == 0);
    wait_latest_ts(m0, DAY0 + 4 * MIN_MS);
    wait_latest_ts(m1, DAY0);
    ck_assert_str_eq(latest(m0, "power_kw"), "104");
    ck_assert_str_eq(latest(m0, "site_id"), site);
    ck_assert_str_eq(latest(m0, "quality"), "good");
    pttl = redis_int("PTTL %slatest:%s", rprefix, m0);
    ck_assert_msg(pttl > 0 && pttl <= 600000, "PTTL %lld", pttl);
    pttl = redis_int("PTTL %ssite_power:%s", rprefix, site);
    ck_assert_msg(pttl > 0 && pttl <= 600000, "PTTL %lld", pttl);
    redisReply *r = redisCommand(rc, "GET %ssite_power:%s", rprefix, site);
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    ck_assert_double_eq_tol(atof(r->str), 154.0, 1e-9);
    freeReplyObject(r);

    /* an older m00 reading (new to the database), then the sentinel */
    produce(b, p, m0, -3, 999.0);
    produce(b, p, m1, 5, 60.0);
    ck_assert(bus_producer_flush(p, 30000, err, sizeof err) == 0);
    wait_latest_ts(m1, DAY0 + 5 * MIN_MS);
    ck_assert_str_eq(latest(m0, "power_kw"), "104");
    {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)(DAY0 + 4 * MIN_MS));
        ck_assert_str_eq(latest(m0, "ts"), want);
    }
    r = redisCommand(rc, "GET %ssite_power:%s", rprefix, site);
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    ck_assert_double_eq_tol(atof(r->str), 164.0, 1e-9);
    freeReplyObject(r);

    stop_ingester();
    bus_producer_destroy(p);
    bus_destroy(b);
    redisFree(rc);
}
END_TEST

static void teardown(void)
{
    stop_ingester();
}

/* ---- a Redis that requires a password (redis.password) ---- */

#define AUTH_PASSWORD "s3cret-of-the-test"
static pid_t redis_child;

static void stop_redis(void)
{
    th_stop(&redis_child);
}

/* Starts a redis-server of this test on a free port, requiring
 * AUTH_PASSWORD, and waits until it accepts connections; returns its port. */
static int start_redis_with_password(void)
{
    char dir[128], portstr[16];
    int rport = th_free_port();
    th_tmpdir(dir, sizeof dir, "redis-auth");
    snprintf(portstr, sizeof portstr, "%d", rport);
    const char *argv[] = {
        "redis-server", "--bind", "127.0.0.1", "--port", portstr, "--requirepass",
        AUTH_PASSWORD,  "--dir",  dir,         "--save", "",      NULL};
    redis_child = th_spawn_logged(dir, "redis.log", argv, NULL);
    double deadline = th_mono_s() + 30;
    for (;;) {
        redisContext *c = redisConnect("127.0.0.1", rport);
        int up = c && !c->err;
        if (c)
            redisFree(c);
        if (up)
            return rport;
        th_assert_alive(redis_child, "redis-server");
        ck_assert_msg(th_mono_s() < deadline, "redis-server did not listen on %d",
                      rport);
        th_sleep_ms(50);
    }
}

/* With the password the latest value is stored; a wrong one is refused
 * with Redis' reason, and the error does not repeat it. */
START_TEST(test_password_sent_with_auth)
{
    char addr[64], err[256];
    int rport = start_redis_with_password();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rport);
    ing_reading_t rd = {.site_id = "auth-site",
                        .meter_id = "auth-meter",
                        .ts_ms = DAY0,
                        .seq = 1,
                        .present = ING_HAS_POWER,
                        .power_kw = 42.5};

    ing_redis_t *r = ing_redis_new(addr, AUTH_PASSWORD, "auth:", 600000);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(ing_redis_check(r, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(ing_redis_write(r, &rd, NULL, 1, err, sizeof err) == 0, "%s", err);
    ing_redis_destroy(r);

    redisContext *c = redisConnect("127.0.0.1", rport);
    ck_assert(c && !c->err);
    freeReplyObject(redisCommand(c, "AUTH %s", AUTH_PASSWORD));
    redisReply *v = redisCommand(c, "HGET auth:latest:auth-meter power_kw");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->type, REDIS_REPLY_STRING);
    ck_assert_double_eq_tol(atof(v->str), 42.5, 1e-9);
    freeReplyObject(v);
    redisFree(c);

    r = ing_redis_new(addr, "not-the-password", "auth:", 600000);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(ing_redis_check(r, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "AUTH refused") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "not-the-password"));
    ing_redis_destroy(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ingester-redis");
    TCase *tc = tcase_create("redis");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_latest_values);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("auth");
    tcase_set_timeout(ta, 60);
    tcase_add_checked_fixture(ta, NULL, stop_redis);
    tcase_add_test(ta, test_password_sent_with_auth);
    suite_add_tcase(s, ta);
    return th_run_suite(s, 1);
}
