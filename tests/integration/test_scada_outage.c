/* Integration test of the scada-gateway's store and forward: the broker goes
 * away for a while and comes back.
 *
 * So as not to disturb the shared test stack, the gateway talks to a private
 * devbroker started here on a free loopback port (the shared devregistry,
 * EMS_TEST_REGISTRY, holds the schemas). meter-sim serves six meters with
 * time running (--speed 600, so every reading differs) and logs every value
 * it serves (--served): one line per meter per Modbus read answered.
 *
 * 1. Some readings are consumed from the first broker: per meter, they are
 *    the first values the simulator served, in order.
 * 2. The broker is stopped (SIGTERM): the spool depth grows, nothing is
 *    confirmed (ems_scada_readings_published_total stands still at P1).
 * 3. A new, empty devbroker starts on the same port: the spool drains to 0.
 * 4. The simulator stops; its served log S is complete. Per meter, the good
 *    readings on the new broker are exactly the last values of S, in order,
 *    none twice (seq strictly increasing), and the values S holds before
 *    them add up to P1 over all meters: every reading not confirmed by the
 *    first broker (all those taken during the outage) reached the second
 *    one, once. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"

#define NMETERS 6
#define MAXVALS 4096

extern char **environ;

static char dir[64];
static char prefix[64];
static char bootstrap[64];
static int mb_port, broker_port, http_port;
static pid_t sim_pid, gw_pid, broker_pid;

static const char *env(const char *k)
{
    const char *v = getenv(k);
    ck_assert_msg(v && *v, "%s is not set", k);
    return v;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Six meters, two per unit id, all holding registers, each meter's
 * registers in one read request (the meters of a unit are far apart). */
static void write_plant(void)
{
    static const char *const power[] = {"data_type: int32, unit: W",
                                        "data_type: float32, unit: kW",
                                        "data_type: uint32, scale: 0.1, unit: W"};
    static const char *const energy[] = {"data_type: uint64, unit: Wh",
                                         "data_type: float64, unit: kWh",
                                         "data_type: uint32, scale: 0.01, unit: kWh"};
    char path[128];
    path_in(path, sizeof path, "plant.yaml");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "sites:\n  - id: s1\n    timezone: Europe/Amsterdam\n    market: NL\n"
               "    contracted_import_kw: 100000\nmeters:\n");
    for (int i = 0; i < NMETERS; i++) {
        int base = (i % 2) * 40;
        fprintf(f,
                "  - id: meter-%d\n    site: s1\n    kind: sub\n"
                "    device: {host: 127.0.0.1, port: %d, unit_id: %d}\n"
                "    poll_period_ms: 200\n    power_range_kw: [0, 1000]\n"
                "    registers:\n"
                "      - {quantity: power_kw, type: holding, address: %d, %s}\n"
                "      - {quantity: energy_kwh, type: holding, address: %d, %s}\n",
                i, mb_port, 1 + i / 2, base, power[i % 3], base + 4, energy[i % 3]);
    }
    ck_assert_int_eq(fclose(f), 0);
}

static pid_t spawn(char *const argv[], const char *log, char *const extra_env[])
{
    char logp[128];
    path_in(logp, sizeof logp, log);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *envp[300];
        int k = 0;
        for (char **e = environ; *e && k < 250; e++)
            if (strncmp(*e, "EMS_", 4) != 0)
                envp[k++] = *e;
        for (int i = 0; extra_env && extra_env[i] && k < 299; i++)
            envp[k++] = extra_env[i];
        envp[k] = NULL;
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* no orphan if the test dies */
        execve(argv[0], argv, envp);
        _exit(127);
    }
    return pid;
}

/* Waits for a --ready-file to appear (the child still running). */
static void wait_ready(const char *name, pid_t pid)
{
    char path[128];
    int st;
    path_in(path, sizeof path, name);
    for (int i = 0; i < 300; i++) {
        if (access(path, F_OK) == 0)
            return;
        ck_assert_msg(waitpid(pid, &st, WNOHANG) == 0, "%s: process exited", name);
        sleep_ms(100);
    }
    ck_abort_msg("%s never appeared", name);
}

static void stop(pid_t *pid)
{
    int st;
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    waitpid(*pid, &st, 0);
    *pid = 0;
}

static void start_broker(int n)
{
    char bin[512], port[16], pidf[128], ready[128], name[32];
    snprintf(bin, sizeof bin, "%s/devbroker", env("EMS_TEST_BIN"));
    snprintf(port, sizeof port, "%d", broker_port);
    snprintf(name, sizeof name, "broker%d.ready", n);
    path_in(pidf, sizeof pidf, "broker.pid");
    path_in(ready, sizeof ready, name);
    char *argv[] = {bin,         "--port", port,           "--prefix", prefix,
                    "--pidfile", pidf,     "--ready-file", ready,      NULL};
    broker_pid = spawn(argv, "broker.log", NULL);
    wait_ready(name, broker_pid);
}

static void start_sim(void)
{
    char bin[512], plant[128], data[512], port[16], served[128], ready[128];
    snprintf(bin, sizeof bin, "%s/meter-sim", env("EMS_TEST_BIN"));
    path_in(plant, sizeof plant, "plant.yaml");
    path_in(served, sizeof served, "served.txt");
    path_in(ready, sizeof ready, "sim.ready");
    snprintf(data, sizeof data, "%s/tests/data/openstef_nl_neerijnen/307-test-data.csv",
             env("EMS_TEST_ROOT"));
    snprintf(port, sizeof port, "%d", mb_port);
    char *argv[] = {bin,       "--plant",      plant,    "--port", port,
                    "--speed", "600",          "--data", data,     "--served",
                    served,    "--ready-file", ready,    NULL};
    sim_pid = spawn(argv, "sim.log", NULL);
    wait_ready("sim.ready", sim_pid);
}

static void start_gateway(void)
{
    static char e[16][600];
    char bin[512], *ev[17];
    int n = 0;
    snprintf(bin, sizeof bin, "%s/scada-gateway", env("EMS_TEST_BIN"));
    snprintf(e[n++], 600, "EMS_BUS_BOOTSTRAP=%s", bootstrap);
    snprintf(e[n++], 600, "EMS_BUS_REGISTRY_URL=%s", env("EMS_TEST_REGISTRY"));
    snprintf(e[n++], 600, "EMS_BUS_SCHEMA_DIR=%s/schemas", env("EMS_TEST_ROOT"));
    snprintf(e[n++], 600, "EMS_BUS_TOPIC_PREFIX=%s", prefix);
    snprintf(e[n++], 600, "EMS_PLANT_PATH=%s/plant.yaml", dir);
    snprintf(e[n++], 600, "EMS_HTTP_PORT=%d", http_port);
    snprintf(e[n++], 600, "EMS_SCADA_SPOOL_DIR=%s/spool", dir);
    snprintf(e[n++], 600, "EMS_SCADA_STATE_FILE=%s/state.json", dir);
    snprintf(e[n++], 600, "EMS_SCADA_RESPONSE_TIMEOUT=2s");
    snprintf(e[n++], 600, "EMS_SCADA_BATCH=50");
    snprintf(e[n++], 600, "EMS_SCADA_CONTROL=false");
    for (int i = 0; i < n; i++)
        ev[i] = e[i];
    ev[n] = NULL;
    /* Deliveries time out well within the outage, so the gateway's own
     * re-send path (not only librdkafka's retries) is exercised. */
    char conf[128];
    path_in(conf, sizeof conf, "gateway.yaml");
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "bus:\n  kafka:\n    message.timeout.ms: \"1500\"\n");
    ck_assert_int_eq(fclose(f), 0);
    char *argv[] = {bin, "--config", conf, NULL};
    gw_pid = spawn(argv, "gateway.log", ev);
}

/* ---- /metrics ---- */

/* The value of an unlabelled metric of the gateway, or -1 when it does not
 * answer (yet). */
static double metric(const char *name)
{
    char buf[65536], req[128];
    size_t len = 0;
    ssize_t k;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)http_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    snprintf(req, sizeof req, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return -1;
    }
    while (len < sizeof buf - 1 && (k = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)k;
    close(fd);
    buf[len] = '\0';
    size_t nl = strlen(name);
    for (char *p = buf; (p = strstr(p, name)) != NULL; p += nl)
        if ((p == buf || p[-1] == '\n') && p[nl] == ' ')
            return atof(p + nl + 1);
    return -1;
}

/* Waits up to deadline_s for metric name to satisfy the comparison
 * (at least when ge, else exactly value); returns the last value. */
static double wait_metric(const char *name, double value, bool ge, int deadline_s)
{
    double v = -1;
    time_t end = time(NULL) + deadline_s;
    while (time(NULL) < end) {
        v = metric(name);
        if (v >= 0 && (ge ? v >= value : v == value))
            return v;
        sleep_ms(200);
    }
    return v;
}

/* ---- the simulator's served log and the published readings ---- */

typedef struct series {
    int n;
    double power[MAXVALS], energy[MAXVALS];
    int64_t seq[MAXVALS];
} series_t;

static int meter_index(const char *id)
{
    int i;
    return sscanf(id, "meter-%d", &i) == 1 && i >= 0 && i < NMETERS ? i : -1;
}

static void load_served(series_t *s)
{
    char path[128], meter[64];
    double p, e;
    path_in(path, sizeof path, "served.txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "simulator wrote no served log");
    while (fscanf(f, "%63s %lf %lf", meter, &p, &e) == 3) {
        int i = meter_index(meter);
        ck_assert_msg(i >= 0 && s[i].n < MAXVALS, "served log: '%s'", meter);
        s[i].power[s[i].n] = p;
        s[i].energy[s[i].n++] = e;
    }
    fclose(f);
}

static bool same(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1, fabs(b));
}

typedef struct reader {
    bus_t *bus;
    bus_consumer_t *c;
    series_t *out;   /* good readings per meter */
    int comm_errors; /* readings of other qualities */
    int dup_or_back; /* seq not above the meter's previous one */
} reader_t;

static void reader_open(reader_t *r, series_t *out)
{
    char err[512], schemas[512], group[64];
    memset(r, 0, sizeof *r);
    r->out = out;
    snprintf(schemas, sizeof schemas, "%s/schemas", env("EMS_TEST_ROOT"));
    bus_conf_t bc = {.bootstrap = bootstrap,
                     .registry_url = env("EMS_TEST_REGISTRY"),
                     .schema_dir = schemas,
                     .topic_prefix = prefix,
                     .client_id = "test-scada-outage"};
    r->bus = bus_new(&bc, err, sizeof err);
    ck_assert_msg(r->bus != NULL, "%s", err);
    snprintf(group, sizeof group, "test-outage-%d-%ld", (int)getpid(), (long)random());
    const char *topics[] = {"energy.telemetry"};
    r->c = bus_consumer_new(r->bus, group, topics, 1, err, sizeof err);
    ck_assert_msg(r->c != NULL, "%s", err);
}

static void reader_close(reader_t *r)
{
    bus_consumer_destroy(r->c);
    bus_destroy(r->bus);
}

static double opt_double(avro_value_t *v, const char *name, bool *has)
{
    avro_value_t f, b;
    int d = 0;
    double x = NAN;
    avro_value_get_by_name(v, name, &f, NULL);
    avro_value_get_discriminant(&f, &d);
    *has = d == 1;
    if (*has) {
        avro_value_get_current_branch(&f, &b);
        avro_value_get_double(&b, &x);
    }
    return x;
}

static void take(reader_t *r, avro_value_t *v)
{
    avro_value_t f;
    const char *id;
    size_t len;
    int quality;
    int64_t seq;
    bool hp, he;
    avro_value_get_by_name(v, "meter_id", &f, NULL);
    avro_value_get_string(&f, &id, &len);
    int i = meter_index(id);
    ck_assert_msg(i >= 0, "unexpected meter '%s'", id);
    avro_value_get_by_name(v, "seq", &f, NULL);
    avro_value_get_long(&f, &seq);
    avro_value_get_by_name(v, "quality", &f, NULL);
    avro_value_get_enum(&f, &quality);
    series_t *s = &r->out[i];
    if (s->n > 0 && seq <= s->seq[s->n - 1])
        r->dup_or_back++;
    if (quality != 0) {
        r->comm_errors++;
        return;
    }
    ck_assert_msg(s->n < MAXVALS, "too many readings of %s", id);
    s->power[s->n] = opt_double(v, "power_kw", &hp);
    s->energy[s->n] = opt_double(v, "energy_kwh", &he);
    ck_assert(hp && he);
    s->seq[s->n++] = seq;
}

/* Reads until done(r, ctx) or deadline_s; returns 1 when done. */
static int read_until(reader_t *r, int deadline_s,
                      int (*done)(const reader_t *, void *), void *ctx)
{
    char err[512];
    time_t end = time(NULL) + deadline_s;
    while (time(NULL) < end) {
        bus_record_t *batch;
        int n = bus_consumer_poll(r->c, &batch, 500, 200, err, sizeof err);
        ck_assert_msg(n >= 0, "%s", err);
        for (int i = 0; i < n; i++)
            take(r, &batch[i].value);
        if (n > 0)
            bus_consumer_ack(r->c, err, sizeof err);
        if (done && done(r, ctx))
            return 1;
    }
    return 0;
}

static int each_has(const reader_t *r, void *ctx)
{
    int want = *(int *)ctx;
    for (int i = 0; i < NMETERS; i++)
        if (r->out[i].n < want)
            return 0;
    return 1;
}

/* Done when every meter's last good reading is the last value served. */
static int caught_up(const reader_t *r, void *ctx)
{
    const series_t *served = ctx;
    for (int i = 0; i < NMETERS; i++) {
        const series_t *g = &r->out[i], *s = &served[i];
        if (g->n == 0 || s->n == 0 || !same(g->energy[g->n - 1], s->energy[s->n - 1]))
            return 0;
    }
    return 1;
}

/* ---- fixture ---- */

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ems-test-outage-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(prefix, sizeof prefix, "outage%d.", (int)getpid());
    mb_port = free_port();
    broker_port = free_port();
    http_port = free_port();
    snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", broker_port);
    write_plant();
    start_broker(1);
    start_sim();
    start_gateway();
}

static void teardown(void)
{
    char cmd[128];
    stop(&gw_pid);
    stop(&sim_pid);
    stop(&broker_pid);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (getenv("EMS_TEST_KEEP") == NULL && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

START_TEST(broker_outage_loses_and_duplicates_nothing)
{
    static series_t before[NMETERS], after[NMETERS], served[NMETERS];
    reader_t r;
    int want = 5;

    /* 1: the first readings arrive through the first broker */
    reader_open(&r, before);
    ck_assert_msg(read_until(&r, 60, each_has, &want), "no readings before the outage");
    reader_close(&r);
    ck_assert_int_eq(r.dup_or_back, 0);

    /* 2: the broker goes away; the spool grows, nothing is confirmed */
    stop(&broker_pid);
    double depth = wait_metric("ems_scada_spool_depth", 10 * NMETERS, true, 60);
    ck_assert_msg(depth >= 10 * NMETERS, "spool depth %g during the outage", depth);
    double p1 = metric("ems_scada_readings_published_total");
    ck_assert_double_ge(p1, NMETERS * want);
    sleep_ms(4000); /* longer than the delivery timeout */
    ck_assert_double_eq(metric("ems_scada_readings_published_total"), p1);
    ck_assert_double_ge(metric("ems_scada_batches_redelivered_total"), 1);
    ck_assert_double_gt(metric("ems_scada_spool_depth"), depth);

    /* 3: a new (empty) broker on the same port: the spool drains */
    start_broker(2);
    depth = wait_metric("ems_scada_spool_depth", 0, false, 90);
    ck_assert_msg(depth == 0, "spool depth %g after the broker came back", depth);

    /* 4: stop the simulator; its log now holds every value served */
    stop(&sim_pid);
    load_served(served);
    depth = wait_metric("ems_scada_spool_depth", 0, false, 60);
    ck_assert_msg(depth == 0, "spool depth %g at the end", depth);
    reader_open(&r, after);
    int ok = read_until(&r, 90, caught_up, served);
    read_until(&r, 2, NULL, NULL); /* anything sent twice would show now */
    reader_close(&r);
    ck_assert_msg(ok, "the last values served never arrived");
    ck_assert_int_eq(r.dup_or_back, 0);

    double confirmed_before = 0;
    for (int i = 0; i < NMETERS; i++) {
        const series_t *s = &served[i], *a = &after[i], *b = &before[i];
        /* before: the first values served, in order */
        for (int k = 0; k < b->n; k++)
            ck_assert_msg(k < s->n && same(b->energy[k], s->energy[k]) &&
                              same(b->power[k], s->power[k]),
                          "meter-%d reading %d before the outage differs", i, k);
        /* after: exactly the last a->n values served, in order */
        int k0 = s->n - a->n;
        ck_assert_msg(k0 >= 0, "meter-%d: %d readings, %d served", i, a->n, s->n);
        for (int k = 0; k < a->n; k++)
            ck_assert_msg(same(a->energy[k], s->energy[k0 + k]) &&
                              same(a->power[k], s->power[k0 + k]),
                          "meter-%d: reading %d after the outage is not served value "
                          "%d (%.17g kWh, want %.17g)",
                          i, k, k0 + k, a->energy[k], s->energy[k0 + k]);
        confirmed_before += k0;
    }
    /* what the new broker lacks is exactly what the first one confirmed */
    ck_assert_msg(confirmed_before == p1,
                  "%g readings confirmed by the first broker, %g missing on the second",
                  p1, confirmed_before);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_outage");
    TCase *tc = tcase_create("outage");
    tcase_set_timeout(tc, 400);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, broker_outage_loses_and_duplicates_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* One process: the children started by the test are this process's, so
     * teardown can stop and reap them whatever the test's outcome. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
