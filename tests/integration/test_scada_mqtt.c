/* Integration test of the scada-gateway's MQTT input against a real
 * mosquitto broker started here on a free loopback port, with the test
 * stack's broker and registry (EMS_TEST_BOOTSTRAP, EMS_TEST_REGISTRY).
 *
 * Two edge meters push JSON: edge-1 on a fixed topic, edge-2 through a
 * topic level naming the meter. Their readings arrive on energy.telemetry
 * in canonical units with the payload's time, in order; a counter going
 * backwards is a replacement (the total continues, flagged substituted);
 * power outside the meter's range is flagged out_of_range. Garbage (not
 * JSON, a field that is no number, unmapped topics) is counted in
 * ems_scada_mqtt_rejected_total with the reason in the log, and the
 * readings sent after it still arrive.
 *
 * With a short stale_after and mqtt_timeout, a meter that stops publishing
 * gets stale readings repeating its last values, then comm_error readings;
 * a meter never heard of gets comm_error readings only.
 *
 * Over TLS (a CA and a broker certificate made here with openssl), readings
 * arrive when the gateway trusts the CA that signed the broker's
 * certificate; trusting another CA, it refuses the broker, says why and
 * keeps running. A broker that starts listening only after the gateway
 * has started (and failed to reach it) is connected to once it listens.
 * After each test the gateway must exit 0 on SIGTERM: in
 * the sanitizer pass a leak on any of these paths fails the test. */
#include <check.h>
#include <math.h>
#include <mosquitto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "support/gateway.h"
#include "support/harness.h"

#define NGOOD 20
#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static char dir[64], prefix[64];
static int mqtt_port, http_port;
static pid_t mosq_pid, gw_pid;
static bool silence_mode; /* short stale_after and mqtt_timeout */
/* TLS: the broker's listener, the publisher and the gateway (which trusts
 * the CA in gw_ca: "ca.crt", or "other-ca.crt" that did not sign it) */
static bool tls_mode;
static const char *gw_ca;

static void path_in(char *buf, size_t size, const char *name)
{
    th_path(buf, size, dir, name);
}

static void write_file(const char *name, const char *text)
{
    char path[128];
    th_write_file(th_path(path, sizeof path, dir, name), text);
}

/* A test CA, a broker certificate it signed for 127.0.0.1, and a second CA
 * that signed nothing here (openssl, in the test's directory). */
static void make_certs(void)
{
    char cmd[2048];
    snprintf(
        cmd, sizeof cmd,
        "cd '%s' && exec >openssl.log 2>&1 && "
        "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt "
        "-days 2 -subj /CN=ems-test-ca && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key "
        "-out other-ca.crt -days 2 -subj /CN=ems-other-ca && "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
        "-subj /CN=127.0.0.1 && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "-out server.crt -days 2 -extfile san.ext && "
        /* run as root, mosquitto reads them as its own user: a test
         * key, readable */
        "chmod 755 . && chmod 644 server.key",
        dir);
    ck_assert_msg(system(cmd) == 0, "openssl failed: see %s/openssl.log", dir);
}

static void start_mosquitto(void)
{
    char conf[128], text[1024];
    int n = snprintf(text, sizeof text,
                     "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n",
                     mqtt_port);
    if (tls_mode)
        snprintf(text + n, sizeof text - (size_t)n,
                 "cafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n",
                 dir, dir, dir);
    write_file("mosquitto.conf", text);
    path_in(conf, sizeof conf, "mosquitto.conf");
    const char *bin =
        access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto" : "mosquitto";
    const char *argv[] = {bin, "-c", conf, NULL};
    mosq_pid = th_spawn_logged(dir, "mosquitto.log", argv, NULL);
}

static void start_gateway(void)
{
    char bin[512], conf[128];
    th_env_list e = {0};
    th_bin(bin, sizeof bin, "scada-gateway");
    tgw_env_add(&e, NULL, prefix, dir, 1, http_port);
    th_env_add(&e, "EMS_SCADA_CONTROL=false");
    th_env_add(&e, "EMS_SCADA_MQTT_PORT=%d", mqtt_port);
    if (tls_mode)
        th_env_add(&e, "EMS_SCADA_MQTT_TLS_CA=%s/%s", dir, gw_ca);
    if (silence_mode) {
        th_env_add(&e, "EMS_SCADA_STALE_AFTER=1s");
        /* stale from 1 s, comm_error from 6 s: a stall of the gateway's
         * 1-s silence tick cannot skip the stale phase */
        th_env_add(&e, "EMS_SCADA_MQTT_TIMEOUT=6s");
    }
    write_file("gateway.yaml", "scada:\n"
                               "  mqtt_host: 127.0.0.1\n"
                               "  backoff_base: 1s\n"
                               "  backoff_max: 2s\n"
                               "  mqtt_topics:\n"
                               "    \"plant/line1/press\": edge-1\n"
                               "    \"edge/+/data\": \"$2\"\n"
                               "  mqtt_meters: [edge-2]\n"
                               "  mqtt_fields:\n"
                               "    power_kw: \"P:W\"\n"
                               "    energy_kwh: \"meter.E:Wh\"\n"
                               "    voltage_v: U\n");
    path_in(conf, sizeof conf, "gateway.yaml");
    const char *argv[] = {bin, "--config", conf, NULL};
    gw_pid = th_spawn_logged(dir, "gateway.log", argv, &e);
    th_env_release(&e);
}

static void write_plant(void)
{
    FILE *f = tgw_plant_open(dir, 1000);
    for (int i = 1; i <= 2; i++)
        fprintf(f,
                "  - id: edge-%d\n    site: s1\n    kind: sub\n"
                "    device: {host: 127.0.0.1, port: 1502, unit_id: %d}\n"
                "    poll_period_ms: 1000\n    power_range_kw: [0, 500]\n"
                "    registers:\n"
                "      - {quantity: power_kw, type: holding, address: 0, "
                "data_type: float32}\n",
                i, i);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- /metrics and the gateway log ---- */

static double metric(const char *name)
{
    return th_metric(http_port, name);
}

static bool log_has(const char *needle)
{
    char path[128];
    path_in(path, sizeof path, "gateway.log");
    return th_file_has(path, needle);
}

/* ---- publishing ---- */

static struct mosquitto *pub_open(void)
{
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    ck_assert_ptr_nonnull(m);
    int rc = MOSQ_ERR_UNKNOWN;
    if (tls_mode) {
        char ca[128];
        path_in(ca, sizeof ca, "ca.crt");
        ck_assert_int_eq(mosquitto_tls_set(m, ca, NULL, NULL, NULL, NULL),
                         MOSQ_ERR_SUCCESS);
    }
    for (int i = 0; i < 100 && rc != MOSQ_ERR_SUCCESS; i++) {
        rc = mosquitto_connect(m, "127.0.0.1", mqtt_port, 30);
        if (rc != MOSQ_ERR_SUCCESS)
            th_sleep_ms(100);
    }
    ck_assert_msg(rc == MOSQ_ERR_SUCCESS, "mosquitto: %s", mosquitto_strerror(rc));
    ck_assert_int_eq(mosquitto_loop_start(m), MOSQ_ERR_SUCCESS);
    return m;
}

static void pub_close(struct mosquitto *m)
{
    th_sleep_ms(300); /* let QoS 1 acknowledgements come back */
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
}

static void publish(struct mosquitto *m, const char *topic, const char *payload)
{
    ck_assert_int_eq(
        mosquitto_publish(m, NULL, topic, (int)strlen(payload), payload, 1, false),
        MOSQ_ERR_SUCCESS);
}

/* Reading k of a meter: power 100 + k kW (as W), energy 5000 + k kWh (as
 * Wh), 230 V, at T0 + k s; meter 2 also under the replacement test below. */
static void publish_good(struct mosquitto *m, const char *topic, int k)
{
    char p[256];
    snprintf(p, sizeof p,
             "{\"P\": %d, \"meter\": {\"E\": %lld}, \"U\": 230, \"ts\": %lld}",
             (100 + k) * 1000, (5000LL + k) * 1000, T0 + k * 1000LL);
    publish(m, topic, p);
}

/* ---- reading the telemetry ---- */

typedef struct got {
    int n[2];
    int64_t ts[2][64];
    double power[2][64], energy[2][64];
    int quality[2][64];
    int64_t last_seq[2];
    int bad_seq;
    int warm; /* edge-1's warm-up readings (before T0) */
} got_t;

static void take(got_t *g, avro_value_t *v)
{
    avro_value_t f;
    const char *id;
    size_t len;
    int64_t seq, ts;
    int src, q;
    ck_assert_int_eq(avro_value_get_by_name(v, "meter_id", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_string(&f, &id, &len), 0);
    int i = strcmp(id, "edge-1") == 0 ? 0 : strcmp(id, "edge-2") == 0 ? 1 : -1;
    ck_assert_msg(i >= 0, "unexpected meter '%s'", id);
    ck_assert_int_eq(avro_value_get_by_name(v, "source", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_enum(&f, &src), 0);
    ck_assert_int_eq(src, 1); /* mqtt */
    ck_assert_int_eq(avro_value_get_by_name(v, "seq", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_long(&f, &seq), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "ts", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_long(&f, &ts), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "quality", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_enum(&f, &q), 0);
    if (seq <= g->last_seq[i])
        g->bad_seq++;
    g->last_seq[i] = seq;
    if (ts < T0) { /* a warm-up reading */
        g->warm += i == 0;
        return;
    }
    if (g->n[i] >= 64)
        return;
    int k = g->n[i]++;
    g->ts[i][k] = ts;
    g->power[i][k] = th_opt_double(v, "power_kw", NULL);
    g->energy[i][k] = th_opt_double(v, "energy_kwh", NULL);
    g->quality[i][k] = q;
}

static void reader_open(tgw_reader *r)
{
    tgw_reader_open(r, NULL, prefix, "test-scada-mqtt");
}

/* Polls for up to ms; returns the number of records taken. */
static int read_some(tgw_reader *r, got_t *g, int ms)
{
    char err[512];
    bus_record_t *batch;
    int n = bus_consumer_poll(r->c, &batch, 500, ms, err, sizeof err);
    ck_assert_msg(n >= 0, "%s", err);
    for (int i = 0; i < n; i++)
        take(g, &batch[i].value);
    if (n > 0)
        bus_consumer_ack(r->c, err, sizeof err);
    return n;
}

/* ---- fixture ---- */

/* The test's directory (and certificates), prefix, ports and plant. */
static void prepare(void)
{
    th_tmpdir(dir, sizeof dir, "mqtt");
    if (tls_mode)
        make_certs();
    th_unique(prefix, sizeof prefix, "mqtt", ".");
    mqtt_port = th_free_port();
    http_port = th_free_port();
    mosquitto_lib_init();
    write_plant();
}

static void setup(void)
{
    prepare();
    start_mosquitto();
    start_gateway();
}

static void setup_silence(void)
{
    silence_mode = true;
    setup();
}

static void setup_tls(const char *ca)
{
    tls_mode = true;
    gw_ca = ca;
    setup();
}

/* The gateway first, the broker only once the gateway is up and has tried
 * it: a broker that is not listening yet at start-up. */
static void setup_late_broker(void)
{
    prepare();
    start_gateway();
    th_reply r = th_wait_http(http_port, "/readyz", 200, NULL, gw_pid, 60);
    th_reply_release(&r);
    ck_assert_double_eq(metric("ems_scada_mqtt_connected"), 0);
    start_mosquitto();
}

static void setup_tls_good(void)
{
    setup_tls("ca.crt");
}

static void setup_tls_wrong_ca(void)
{
    setup_tls("other-ca.crt");
}

/* The last part of a log in the test's directory, for failure messages:
 * into tail (size bytes). */
static const char *log_tail(const char *name, char *tail, size_t size)
{
    char path[128];
    path_in(path, sizeof path, name);
    char *text = th_read_file(path);
    size_t n = text ? strlen(text) : 0;
    size_t keep = size - 1;
    snprintf(tail, size, "%s", !text ? "(none)" : text + (n > keep ? n - keep : 0));
    free(text);
    return tail;
}

/* Stops both; the gateway must exit 0 on SIGTERM (under ASan a leak makes
 * it exit non-zero, so the MQTT and TLS paths are leak-checked too). */
static void teardown(void)
{
    static char tail[3000];
    int rc = th_stop(&gw_pid);
    log_tail("gateway.log", tail, sizeof tail);
    th_stop(&mosq_pid);
    silence_mode = tls_mode = false;
    mosquitto_lib_cleanup();
    th_rmtree(dir);
    ck_assert_msg(rc == 0, "gateway exit %d on SIGTERM; its log ends: %s", rc, tail);
}

/* Publishes warm-up readings (before T0) until one arrives: the gateway is
 * subscribed and the telemetry topic exists. Any other record (a silent
 * meter's comm_error) proves neither. */
static void warm_up(struct mosquitto *m, tgw_reader *r, got_t *g)
{
    char p[128];
    for (int i = 0; i < 300; i++) {
        snprintf(p, sizeof p, "{\"P\": 1000, \"ts\": %lld}", T0 - 100000 + i);
        publish(m, "plant/line1/press", p);
        read_some(r, g, 200);
        if (g->warm > 0)
            return;
    }
    static char gw[3000], mq[1000];
    ck_abort_msg("no MQTT reading reached energy.telemetry (gateway %s)\n"
                 "gateway.log ends: %s\nmosquitto.log ends: %s",
                 th_alive(gw_pid) ? "running" : "gone",
                 log_tail("gateway.log", gw, sizeof gw),
                 log_tail("mosquitto.log", mq, sizeof mq));
}

/* Opens the telemetry reader (g emptied) and a publisher, and warms up:
 * the publisher to use. */
static struct mosquitto *open_warm(tgw_reader *r, got_t *g)
{
    memset(g, 0, sizeof *g);
    reader_open(r);
    struct mosquitto *m = pub_open();
    warm_up(m, r, g);
    return m;
}

START_TEST(mqtt_readings_normalised_and_garbage_rejected)
{
    static got_t g;
    tgw_reader r;
    struct mosquitto *m = open_warm(&r, &g);
    double rejected0 = metric("ems_scada_mqtt_rejected_total");
    ck_assert_double_eq(rejected0, 0);

    for (int k = 0; k < NGOOD; k++) {
        publish_good(m, "plant/line1/press", k);
        publish_good(m, "edge/edge-2/data", k);
        if (k == 5) { /* garbage in between */
            publish(m, "plant/line1/press", "\x01\x02 not json");
            publish(m, "edge/edge-2/data", "{\"P\": \"many\"}");
            publish(m, "edge/nobody/data", "{\"P\": 1}");
            publish(m, "plant/line2/press", "{\"P\": 1}"); /* not subscribed */
            publish(m, "plant/line1/press", "[1, 2, 3]");
            publish_good(m, "plant/line1/press", 3); /* a redelivery of reading 3 */
        }
    }
    /* edge-2 replaced: its counter starts again at 10 kWh; then a power
     * outside its range */
    publish(
        m, "edge/edge-2/data",
        "{\"P\": 50000, \"meter\": {\"E\": 10000}, \"ts\": \"2026-01-01T00:00:30Z\"}");
    publish(
        m, "edge/edge-2/data",
        "{\"P\": 900000, \"meter\": {\"E\": 12000}, \"ts\": \"2026-01-01T00:00:31Z\"}");
    pub_close(m);

    time_t end = time(NULL) + 60;
    while ((g.n[0] < NGOOD || g.n[1] < NGOOD + 2) && time(NULL) < end)
        read_some(&r, &g, 200);
    read_some(&r, &g, 1000); /* anything twice would show now */
    tgw_reader_close(&r);

    ck_assert_int_eq(g.n[0], NGOOD);
    ck_assert_int_eq(g.n[1], NGOOD + 2);
    ck_assert_int_eq(g.bad_seq, 0);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < NGOOD; k++) {
            ck_assert_int_eq(g.ts[i][k], T0 + k * 1000LL);
            ck_assert_double_eq_tol(g.power[i][k], 100 + k, 1e-9);
            ck_assert_double_eq_tol(g.energy[i][k], 5000 + k, 1e-9);
            ck_assert_int_eq(g.quality[i][k], 0);
        }
    /* the replacement: flagged substituted, the total continues from
     * 5019 kWh; the power out of range is flagged and kept */
    ck_assert_int_eq(g.quality[1][NGOOD], 4);
    ck_assert_double_eq_tol(g.energy[1][NGOOD], 5000 + NGOOD - 1, 1e-9);
    ck_assert_int_eq(g.quality[1][NGOOD + 1], 3);
    ck_assert_double_eq_tol(g.power[1][NGOOD + 1], 900, 1e-9);
    ck_assert_double_eq_tol(g.energy[1][NGOOD + 1], 5000 + NGOOD - 1 + 2, 1e-9);

    /* five rejected (the unsubscribed topic never reaches the gateway), with
     * their reasons in the log, and the gateway still running; the
     * redelivered reading added nothing to the energy total (checked above:
     * 5000 + k kWh throughout) */
    ck_assert_double_eq(metric("ems_scada_mqtt_rejected_total"), 5);
    ck_assert(log_has("is not newer than the meter's last"));
    ck_assert(log_has("rejected: payload is not JSON"));
    ck_assert(log_has("field 'P' (power_kw) is not a number"));
    ck_assert(log_has("no meter 'nobody' in the plant model"));
    ck_assert(log_has("payload is not a JSON object"));
    th_assert_alive(gw_pid, "the gateway");
    ck_assert_double_eq(metric("ems_scada_mqtt_connected"), 1);
}
END_TEST

/* Reading k pushed without a time: the gateway's receive time is used. */
static void publish_untimed(struct mosquitto *m, const char *topic, int k)
{
    char p[256];
    snprintf(p, sizeof p, "{\"P\": %d, \"meter\": {\"E\": %lld}, \"U\": 230}",
             (100 + k) * 1000, (5000LL + k) * 1000);
    publish(m, topic, p);
}

static int count_quality(const got_t *g, int i, int q)
{
    int n = 0;
    for (int k = 0; k < g->n[i]; k++)
        n += g->quality[i][k] == q;
    return n;
}

START_TEST(silent_meter_stale_then_comm_error)
{
    static got_t g;
    tgw_reader r;
    struct mosquitto *m = open_warm(&r, &g);
    memset(&g, 0, sizeof g); /* edge-2 may have had comm_error readings already */
    for (int k = 0; k < 3; k++)
        publish_untimed(m, "plant/line1/press", k);
    pub_close(m); /* edge-1 now silent; edge-2 never said anything */

    time_t end = time(NULL) + 60;
    while ((count_quality(&g, 0, 2) < 2 || count_quality(&g, 1, 2) < 1) &&
           time(NULL) < end)
        read_some(&r, &g, 200);
    tgw_reader_close(&r);

    /* edge-1: its three readings, then stale ones repeating the last values,
     * then comm_error ones without values, and nothing else */
    ck_assert_int_ge(g.n[0], 3 + 1 + 2);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(g.quality[0][k], 0);
        ck_assert_double_eq_tol(g.power[0][k], 100 + k, 1e-9);
    }
    int k = 3;
    for (; k < g.n[0] && g.quality[0][k] == 1; k++) {
        ck_assert_double_eq_tol(g.power[0][k], 102, 1e-9);
        ck_assert_double_eq_tol(g.energy[0][k], 5002, 1e-9);
    }
    ck_assert_msg(k > 3, "no stale reading before comm_error (quality %d)",
                  g.quality[0][3]);
    ck_assert_int_ge(g.n[0] - k, 2);
    for (; k < g.n[0]; k++) {
        ck_assert_int_eq(g.quality[0][k], 2);
        ck_assert(isnan(g.power[0][k]));
        ck_assert(isnan(g.energy[0][k]));
    }
    /* edge-2: comm_error only (no values to call stale) */
    ck_assert_int_ge(g.n[1], 1);
    ck_assert_int_eq(count_quality(&g, 1, 2), g.n[1]);
    ck_assert(isnan(g.power[1][0]));
    ck_assert_int_eq(g.bad_seq, 0);
    th_assert_alive(gw_pid, "the gateway");
}
END_TEST

/* A broker that came up after the gateway: the gateway connects once it
 * listens (libmosquitto's thread gave up for good when the first connect
 * had failed before it started), and readings arrive. */
START_TEST(mqtt_broker_up_after_gateway)
{
    static got_t g;
    tgw_reader r;
    struct mosquitto *m = open_warm(&r, &g);
    pub_close(m);
    tgw_reader_close(&r);
    ck_assert_double_eq(metric("ems_scada_mqtt_connected"), 1);
}
END_TEST

/* Over TLS: the broker's certificate chains to the CA the gateway trusts
 * and names 127.0.0.1, so readings arrive as over plain MQTT. */
START_TEST(mqtt_over_tls)
{
    static got_t g;
    tgw_reader r;
    struct mosquitto *m = open_warm(&r, &g);
    publish_good(m, "plant/line1/press", 0);
    pub_close(m);
    time_t end = time(NULL) + 30;
    while (g.n[0] < 1 && time(NULL) < end)
        read_some(&r, &g, 200);
    tgw_reader_close(&r);
    ck_assert_int_eq(g.n[0], 1);
    ck_assert_double_eq(metric("ems_scada_mqtt_connected"), 1);
}
END_TEST

/* A broker whose certificate the trusted CA did not sign is refused: the
 * gateway says why in its log, stays disconnected and keeps running. */
START_TEST(mqtt_tls_untrusted_broker_refused)
{
    double end = th_mono_s() + 30;
    while (!log_has("certificate verify failed") && th_mono_s() < end)
        th_sleep_ms(200);
    ck_assert_msg(log_has("certificate verify failed"), "no TLS refusal in the log");
    ck_assert(th_alive(gw_pid));
    ck_assert_double_eq(metric("ems_scada_mqtt_connected"), 0);
}
END_TEST

/* A test case of its own fixture. */
static void add_case(Suite *s, const char *name, void (*fixture)(void),
                     const TTest *test)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 200);
    tcase_add_checked_fixture(tc, fixture, teardown);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("scada_mqtt");
    add_case(s, "mqtt", setup, mqtt_readings_normalised_and_garbage_rejected);
    add_case(s, "silence", setup_silence, silent_meter_stale_then_comm_error);
    add_case(s, "late-broker", setup_late_broker, mqtt_broker_up_after_gateway);
    add_case(s, "tls", setup_tls_good, mqtt_over_tls);
    add_case(s, "tls-untrusted", setup_tls_wrong_ca, mqtt_tls_untrusted_broker_refused);
    /* One process: teardown stops and reaps the children whatever happens. */
    return th_run_suite(s, 1);
}
