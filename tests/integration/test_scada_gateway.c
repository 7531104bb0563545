/* Integration tests of the scada-gateway against the meter simulator over
 * real Modbus TCP on loopback and the test stack's broker and registry
 * (EMS_TEST_BOOTSTRAP, EMS_TEST_REGISTRY, EMS_TEST_ROOT, EMS_TEST_BIN).
 *
 * A generated plant model of 50 meters (two per unit id, holding and input
 * registers, every data type, both word and byte orders, W/kW/MW and
 * Wh/kWh/MWh) is served by meter-sim with time frozen (--speed 0), so the
 * values it serves are constant and dumped to a file; the readings the
 * gateway publishes must equal them. Faults are injected through the
 * simulator's control file. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <modbus/modbus.h>

#include "bus/bus.h"
#include "scada-gateway/spool.h"
#include "support/gateway.h"
#include "support/harness.h"

#define NMETERS 50
#define NSPOOLED 300
#define DAMAGED 150 /* the spooled reading whose record is damaged on disk */

static char dir[64];
static char prefix[64];
static int mb_port;
static int http_port; /* the gateway's /metrics */
static pid_t sim_pid, gw_pid;

static void path_in(char *buf, size_t size, const char *name)
{
    th_path(buf, size, dir, name);
}

/* Replaced atomically: the simulator polls its control file. */
static void write_text(const char *name, const char *text)
{
    char path[128];
    th_write_file(th_path(path, sizeof path, dir, name), text);
}

/* One meter's register map, varied by index. */
static void write_meter(FILE *f, int i)
{
    static const char *const power[] = {"data_type: float32, unit: MW",
                                        "data_type: int32, unit: W",
                                        "data_type: uint32, scale: 0.1, unit: W",
                                        "data_type: float64, unit: kW",
                                        "data_type: int16, unit: kW",
                                        "data_type: uint16, scale: 10, unit: W",
                                        "data_type: float32, unit: W"};
    static const char *const energy[] = {
        "data_type: uint64, unit: Wh", "data_type: uint32, scale: 0.01, unit: kWh",
        "data_type: float64, unit: Wh", "data_type: float32, unit: MWh"};
    const char *type = i % 2 ? "input" : "holding";
    int base = (i % 2) * 40, unit = 1 + i / 2;
    const char *wo = (i / 2) % 2 ? "little" : "big",
               *bo = (i / 4) % 2 ? "little" : "big";
    fprintf(f,
            "  - id: meter-%02d\n    site: s1\n    kind: sub\n"
            "    device: {host: 127.0.0.1, port: %d, unit_id: %d}\n"
            "    poll_period_ms: 200\n    power_range_kw: [0, 1000]\n    registers:\n",
            i, mb_port, unit);
    fprintf(f,
            "      - {quantity: power_kw, type: %s, address: %d, %s, word_order: %s, "
            "byte_order: %s}\n",
            type, base, power[i % 7], wo, bo);
    fprintf(f,
            "      - {quantity: energy_kwh, type: %s, address: %d, %s, word_order: %s, "
            "byte_order: %s}\n",
            type, base + 4, energy[i % 4], wo, bo);
    fprintf(f,
            "      - {quantity: voltage_v, type: %s, address: %d, data_type: float32, "
            "word_order: %s}\n",
            type, base + 8, wo);
    fprintf(f,
            "      - {quantity: current_a, type: %s, address: %d, data_type: uint16, "
            "scale: 0.1}\n",
            type, base + 10);
    fprintf(
        f,
        "      - {quantity: frequency_hz, type: %s, address: %d, data_type: uint16, "
        "scale: 0.01, byte_order: %s}\n",
        type, base + 11, bo);
    fprintf(f,
            "      - {quantity: power_factor, type: %s, address: %d, data_type: int16, "
            "scale: 0.001}\n",
            type, base + 12);
}

static void write_plant(void)
{
    FILE *f = tgw_plant_open(dir, 100000);
    for (int i = 0; i < NMETERS; i++)
        write_meter(f, i);
    fprintf(f, "equipment:\n");
    /* eq-a..eq-c controllable, eq-d advisory only; eq-d..eq-f started and
     * stopped through coil 7 of their unit (the gateway's control_coils) */
    for (int k = 0; k < 6; k++)
        fprintf(
            f,
            "  - id: eq-%c\n    site: s1\n    kind: generic\n    control_enabled: %s\n"
            "    setpoint: {host: 127.0.0.1, port: %d, unit_id: %d, address: 100, "
            "data_type: float32, unit: kW}\n"
            "    power_min_kw: 100\n    power_max_kw: 400\n",
            'a' + k, k != 3 ? "true" : "false", mb_port, k + 1);
    ck_assert_int_eq(fclose(f), 0);
}

static void start_sim(void)
{
    char values[128], control[128], ready[128];
    path_in(values, sizeof values, "values.txt");
    path_in(control, sizeof control, "faults.txt");
    path_in(ready, sizeof ready, "sim.ready");
    const char *args[] = {"--speed",      "0",         "--values",
                          values,         "--control", control,
                          "--ready-file", ready,       NULL};
    sim_pid = tgw_start_sim(dir, mb_port, args);
    /* listening, with its first values written: a gateway polling earlier
     * would publish comm_error readings the checks do not expect */
    th_wait_file(ready, sim_pid, 30);
}

static void start_gateway(void)
{
    char bin[512];
    th_env_list e = {0};
    th_bin(bin, sizeof bin, "scada-gateway");
    http_port = th_free_port();
    tgw_env_add(&e, NULL, prefix, dir, 1, http_port);
    th_env_add(&e, "EMS_SCADA_RESPONSE_TIMEOUT=300ms");
    th_env_add(&e, "EMS_SCADA_BACKOFF_BASE=200ms");
    th_env_add(&e, "EMS_SCADA_BACKOFF_MAX=1s");
    th_env_add(&e, "EMS_SCADA_OVERRIDE_DIR=%s/override", dir);
    th_env_add(&e, "EMS_SCADA_CONTROL_GROUP=scada-%s", prefix);
    th_env_add(&e, "EMS_SCADA_CONTROL_COILS=eq-d=7,eq-e=7,eq-f=7");
    const char *argv[] = {bin, NULL};
    gw_pid = th_spawn_logged(dir, "gateway.log", argv, &e);
    th_env_release(&e);
}

/* Readings left in the spool by an earlier run of the gateway (one that lost
 * its broker, then stopped): the gateway must publish them at start-up, in
 * order, once each. The record of one of them is damaged on disk (a flipped
 * bit): it is skipped and counted, and the readings after it are kept. */
static void seed_spool(void)
{
    char path[128], err[256];
    path_in(path, sizeof path, "spool");
    sg_spool_t *sp = sg_spool_open(path, 0, err, sizeof err);
    ck_assert_msg(sp != NULL, "%s", err);
    for (int i = 1; i <= NSPOOLED; i++) {
        sg_reading_t r;
        memset(&r, 0, sizeof r);
        snprintf(r.site_id, sizeof r.site_id, "s1");
        snprintf(r.meter_id, sizeof r.meter_id, "spooled-%d", i % 3);
        r.ts_ms = 1600000000000LL + i * 1000LL;
        r.seq = i;
        r.has = 1;
        r.v[0] = i * 0.5;
        ck_assert_int_eq(sg_spool_append(sp, &r, err, sizeof err), 0);
    }
    ck_assert_int_eq(sg_spool_sync(sp, err, sizeof err), 0);
    sg_spool_close(sp);
    path_in(path, sizeof path, "spool/spool.dat");
    int fd = open(path, O_RDWR);
    off_t rec = 12 + (off_t)sizeof(sg_reading_t);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "X", 1, rec * (DAMAGED - 1) + 40), 1);
    close(fd);
}

static void stack_up(void)
{
    th_tmpdir(dir, sizeof dir, "scada");
    th_unique(prefix, sizeof prefix, "scada", ".");
    mb_port = th_free_port();
    write_text("faults.txt", "# no faults\n");
    char ovr[128];
    path_in(ovr, sizeof ovr, "override");
    ck_assert_int_eq(mkdir(ovr, 0755), 0);
    write_text("override/eq-c", "locked by the shift lead\n");
    write_plant();
    seed_spool();
    start_sim();
    start_gateway();
}

static void stack_down(void)
{
    th_stop(&gw_pid);
    th_stop(&sim_pid);
    th_rmtree(dir);
}

/* ---- reading what the gateway published ---- */

typedef struct seen {
    char meter[32];
    int64_t ts, seq;
    int quality;
    bool has[6];
    double v[6];
} seen_t;

static const char *const qnames[6] = {"power_kw",  "energy_kwh",   "voltage_v",
                                      "current_a", "frequency_hz", "power_factor"};

static void decode(avro_value_t *v, seen_t *s)
{
    avro_value_t f, b;
    const char *str;
    size_t len;
    int d;
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(avro_value_get_by_name(v, "meter_id", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_string(&f, &str, &len), 0);
    snprintf(s->meter, sizeof s->meter, "%s", str);
    ck_assert_int_eq(avro_value_get_by_name(v, "ts", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_long(&f, &s->ts), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "seq", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_long(&f, &s->seq), 0);
    ck_assert_int_eq(avro_value_get_by_name(v, "quality", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_enum(&f, &s->quality), 0);
    for (int q = 0; q < 6; q++) {
        ck_assert_int_eq(avro_value_get_by_name(v, qnames[q], &f, NULL), 0);
        ck_assert_int_eq(avro_value_get_discriminant(&f, &d), 0);
        if (d == 1) {
            ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
            ck_assert_int_eq(avro_value_get_double(&b, &s->v[q]), 0);
            s->has[q] = true;
        }
    }
}

static void reader_open(tgw_reader *r)
{
    tgw_reader_open(r, NULL, prefix, "test-scada");
}

typedef struct watch {
    int (*fn)(const seen_t *, void *);
    void *ctx;
} watch_t;

static int decode_and_watch(bus_record_t *rec, void *ctx)
{
    watch_t *w = ctx;
    seen_t s;
    decode(&rec->value, &s);
    return w->fn(&s, w->ctx);
}

/* Calls fn on every reading until it returns 1 or deadline_s passes;
 * returns 1 when fn said done. */
static int read_until(tgw_reader *r, int deadline_s, int (*fn)(const seen_t *, void *),
                      void *ctx)
{
    watch_t w = {fn, ctx};
    return th_consume(r->c, &(th_consume_opts){.timeout_s = deadline_s,
                                               .ack = 1,
                                               .each = decode_and_watch,
                                               .ctx = &w});
}

static int meter_index(const char *id)
{
    return tgw_meter_index(id, NMETERS);
}

/* ---- test: published readings equal the simulator's values ---- */

typedef struct expect {
    double v[NMETERS][6];
    bool has[NMETERS][6];
    bool done[NMETERS];
    int ndone;
    int64_t last_seq[NMETERS];
    int bad_seq;
} expect_t;

static void load_values(expect_t *e)
{
    char path[128], meter[64], q[32];
    double v;
    path_in(path, sizeof path, "values.txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "simulator wrote no values file");
    while (fscanf(f, "%63s %31s %lf", meter, q, &v) == 3) {
        int i = meter_index(meter);
        for (int k = 0; i >= 0 && k < 6; k++)
            if (strcmp(q, qnames[k]) == 0) {
                e->v[i][k] = v;
                e->has[i][k] = true;
            }
    }
    fclose(f);
}

static int check_equal(const seen_t *s, void *ctx)
{
    expect_t *e = ctx;
    int i = meter_index(s->meter);
    if (strncmp(s->meter, "spooled-", 8) == 0)
        return 0;
    ck_assert_msg(i >= 0, "unexpected meter '%s'", s->meter);
    if (s->seq <= e->last_seq[i])
        e->bad_seq++;
    e->last_seq[i] = s->seq;
    ck_assert_msg(s->quality == 0, "%s quality %d", s->meter, s->quality);
    for (int q = 0; q < 6; q++) {
        ck_assert_msg(s->has[q] == e->has[i][q], "%s %s presence", s->meter, qnames[q]);
        double want = e->v[i][q], tol = 1e-9 * fmax(1, fabs(want));
        ck_assert_msg(fabs(s->v[q] - want) <= tol,
                      "%s %s: published %.17g, simulator %.17g", s->meter, qnames[q],
                      s->v[q], want);
    }
    if (!e->done[i]) {
        e->done[i] = true;
        e->ndone++;
    }
    return e->ndone == NMETERS;
}

START_TEST(readings_equal_simulator)
{
    static expect_t e;
    tgw_reader r;
    memset(&e, 0, sizeof e);
    load_values(&e);
    for (int i = 0; i < NMETERS; i++)
        ck_assert_msg(e.has[i][0], "simulator serves no power for meter-%02d", i);
    reader_open(&r);
    int ok = read_until(&r, 60, check_equal, &e);
    tgw_reader_close(&r);
    ck_assert_msg(ok, "only %d of %d meters published", e.ndone, NMETERS);
    ck_assert_int_eq(e.bad_seq, 0);
    /* registered at 0 (not absent, -1), so an alert on it works from start */
    ck_assert_double_eq(th_metric(http_port, "ems_scada_queue_dropped_total"), 0);
}
END_TEST

/* ---- test: a silent device gets comm_error and comes back ---- */

enum { PHASE_FAULT = 0, PHASE_RECOVER };

typedef struct outage {
    int phase;
    int comm_errors[2]; /* meters 8 and 9 share unit 5 */
    int others_after[NMETERS];
    int recovered;
} outage_t;

static int watch_fault(const seen_t *s, void *ctx)
{
    outage_t *o = ctx;
    int i = meter_index(s->meter);
    if (i == 8 || i == 9) {
        if (s->quality == 2) {
            ck_assert(!s->has[0]); /* values null */
            o->comm_errors[i - 8]++;
        }
    } else if (s->quality == 0 && (o->comm_errors[0] || o->comm_errors[1])) {
        o->others_after[i]++;
    }
    if (!o->comm_errors[0] || !o->comm_errors[1])
        return 0;
    for (int k = 0; k < NMETERS; k++)
        if (k != 8 && k != 9 && o->others_after[k] < 2)
            return 0;
    return 1;
}

static int watch_recovery(const seen_t *s, void *ctx)
{
    outage_t *o = ctx;
    int i = meter_index(s->meter);
    if ((i == 8 || i == 9) && s->quality == 0)
        o->recovered |= 1 << (i - 8);
    return o->recovered == 3;
}

START_TEST(silent_device_comm_error_and_back)
{
    static outage_t o;
    tgw_reader r;
    memset(&o, 0, sizeof o);
    reader_open(&r);
    write_text("faults.txt", "5 silent\n");
    int ok = read_until(&r, 60, watch_fault, &o);
    ck_assert_msg(ok, "comm_error %d/%d readings; other meters not all polling on",
                  o.comm_errors[0], o.comm_errors[1]);
    write_text("faults.txt", "# cleared\n");
    ok = read_until(&r, 60, watch_recovery, &o);
    tgw_reader_close(&r);
    ck_assert_msg(ok, "unit 5 never came back (mask %d)", o.recovered);
}
END_TEST

/* ---- test: a device answering with exceptions, then out-of-range values ---- */

static int watch_exception(const seen_t *s, void *ctx)
{
    int *n = ctx;
    return meter_index(s->meter) == 20 && s->quality == 2 && ++*n >= 2;
}

static int watch_range(const seen_t *s, void *ctx)
{
    int *n = ctx;
    /* flagged and kept: the value is there */
    return meter_index(s->meter) == 20 && s->quality == 3 && s->has[0] &&
           s->v[0] > 1000 && ++*n >= 2;
}

START_TEST(exception_and_out_of_range_flagged)
{
    tgw_reader r;
    int n = 0;
    reader_open(&r);
    write_text("faults.txt", "11 exception 4\n"); /* unit 11: meters 20, 21 */
    ck_assert_msg(read_until(&r, 60, watch_exception, &n),
                  "no comm_error on exception");
    /* the device answered (refusing): it is up and keeps its schedule, not
     * backed off as one that does not answer */
    char up[160];
    snprintf(up, sizeof up, "ems_scada_device_up{device=\"127.0.0.1:%d/11\"}", mb_port);
    ck_assert_double_eq(th_metric(http_port, up), 1);
    n = 0;
    write_text("faults.txt", "11 range\n");
    ck_assert_msg(read_until(&r, 60, watch_range, &n), "no out_of_range reading");
    write_text("faults.txt", "# cleared\n");
    tgw_reader_close(&r);
}
END_TEST

/* ---- test: control commands are checked, written, verified and audited ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* action: 0 setpoint (kw), 1 start, 2 stop (kw ignored, sent as null) */
static void send_action(bus_t *bus, bus_producer_t *p, const char *id, const char *eq,
                        int action, double kw, int64_t valid_until)
{
    char err[512];
    avro_value_t v, f, b;
    ck_assert_msg(bus_value_new(bus, "energy.control.commands", &v, err, sizeof err) ==
                      0,
                  "%s", err);
    th_set_str(&v, "site_id", "s1");
    th_set_str(&v, "command_id", id);
    th_set_str(&v, "equipment_id", eq);
    ck_assert_int_eq(avro_value_get_by_name(&v, "action", &f, NULL), 0);
    ck_assert_int_eq(avro_value_set_enum(&f, action), 0);
    ck_assert_int_eq(avro_value_get_by_name(&v, "setpoint_kw", &f, NULL), 0);
    if (action == 0) {
        ck_assert_int_eq(avro_value_set_branch(&f, 1, &b), 0);
        ck_assert_int_eq(avro_value_set_double(&b, kw), 0);
    } else {
        ck_assert_int_eq(avro_value_set_branch(&f, 0, &b), 0);
        ck_assert_int_eq(avro_value_set_null(&b), 0);
    }
    th_set_long(&v, "issued_at", now_ms() - 1000);
    th_set_long(&v, "valid_until", valid_until);
    th_set_str(&v, "approved_by", "operator-1");
    th_set_long(&v, "approved_at", now_ms() - 500);
    th_set_str(&v, "reason", "integration test");
    ck_assert_msg(
        bus_produce(p, "energy.control.commands", "s1", &v, 0, err, sizeof err) == 0,
        "%s", err);
    avro_value_decref(&v);
}

static void send_command(bus_t *bus, bus_producer_t *p, const char *id, const char *eq,
                         double kw, int64_t valid_until)
{
    send_action(bus, p, id, eq, 0, kw, valid_until);
}

/* Coil address of unit as served: 0 or 1. */
static int read_coil(int unit, int address)
{
    uint8_t b = 0xff;
    modbus_t *mb = modbus_new_tcp("127.0.0.1", mb_port);
    ck_assert_ptr_nonnull(mb);
    modbus_set_slave(mb, unit);
    ck_assert_int_eq(modbus_connect(mb), 0);
    ck_assert_int_eq(modbus_read_bits(mb, address, 1, &b), 1);
    modbus_close(mb);
    modbus_free(mb);
    return b;
}

/* The setpoint register of unit (float32 kW, big endian) as served. */
static double read_setpoint(int unit)
{
    uint16_t w[2] = {0, 0};
    modbus_t *mb = modbus_new_tcp("127.0.0.1", mb_port);
    ck_assert_ptr_nonnull(mb);
    modbus_set_slave(mb, unit);
    ck_assert_int_eq(modbus_connect(mb), 0);
    ck_assert_int_eq(modbus_read_registers(mb, 100, 2, w), 2);
    modbus_close(mb);
    modbus_free(mb);
    uint32_t bits = ((uint32_t)w[0] << 16) | w[1];
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

#define NCMD 10

typedef struct verdicts {
    const char *ids[NCMD];
    int outcome[NCMD]; /* -1 unseen, else audit outcome symbol index */
    char reason[NCMD][256];
} verdicts_t;

static int all_seen(const verdicts_t *vd)
{
    for (int i = 0; i < NCMD; i++)
        if (vd->outcome[i] < 0)
            return 0;
    return 1;
}

static void audit_record(verdicts_t *vd, avro_value_t *v)
{
    avro_value_t f, b;
    const char *s;
    size_t len;
    int d, outcome;
    ck_assert_int_eq(avro_value_get_by_name(v, "action", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_string(&f, &s, &len), 0);
    if (strcmp(s, "control.command.write") != 0)
        return;
    ck_assert_int_eq(avro_value_get_by_name(v, "correlation_id", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &d), 0);
    if (d != 1)
        return;
    ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
    ck_assert_int_eq(avro_value_get_string(&b, &s, &len), 0);
    for (int i = 0; i < NCMD; i++) {
        if (strcmp(vd->ids[i], s) != 0)
            continue;
        ck_assert_int_eq(avro_value_get_by_name(v, "outcome", &f, NULL), 0);
        ck_assert_int_eq(avro_value_get_enum(&f, &outcome), 0);
        ck_assert_msg(vd->outcome[i] < 0, "command %s audited twice", s);
        vd->outcome[i] = outcome;
        ck_assert_int_eq(avro_value_get_by_name(v, "reason", &f, NULL), 0);
        ck_assert_int_eq(avro_value_get_discriminant(&f, &d), 0);
        if (d == 1) {
            ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
            ck_assert_int_eq(avro_value_get_string(&b, &s, &len), 0);
            snprintf(vd->reason[i], sizeof vd->reason[i], "%s", s);
        }
    }
}

static int audit_each(bus_record_t *rec, void *ctx)
{
    audit_record(ctx, &rec->value);
    return 0;
}

static int audit_done(int got, void *ctx)
{
    (void)got;
    return all_seen(ctx);
}

START_TEST(control_commands_checked_and_audited)
{
    char err[512], group[64];
    static verdicts_t vd = {.ids = {"c-ok", "c-bounds", "c-expired", "c-disabled",
                                    "c-rate", "c-override", "c-start", "c-start-exp",
                                    "c-stop-dis", "c-stop-rate"}};
    /* success, denied...; the coil start succeeds, the other coil commands
     * are denied */
    static const int want[NCMD] = {0, 2, 2, 2, 2, 2, 0, 2, 2, 2};
    static const char *const why[NCMD] = {
        "verified", "outside", "expired", "disabled", "rate limit",
        "override", "coil 7",  "expired", "disabled", "rate limit"};
    for (int i = 0; i < NCMD; i++)
        vd.outcome[i] = -1;
    bus_t *bus = th_bus_new(
        &(bus_conf_t){.topic_prefix = prefix, .client_id = "test-scada-control"});
    bus_producer_t *p = bus_producer_new(bus, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    int64_t later = now_ms() + 120000;
    send_command(bus, p, "c-ok", "eq-a", 250, later);
    send_command(bus, p, "c-bounds", "eq-b", 999, later);
    send_command(bus, p, "c-expired", "eq-b", 200, now_ms() - 1000);
    send_command(bus, p, "c-disabled", "eq-d", 200, later);
    send_command(bus, p, "c-rate", "eq-a", 300, later);
    send_command(bus, p, "c-override", "eq-c", 200, later);
    send_action(bus, p, "c-start", "eq-e", 1, 0, later);
    send_action(bus, p, "c-start-exp", "eq-f", 1, 0, now_ms() - 1000);
    send_action(bus, p, "c-stop-dis", "eq-d", 2, 0, later);
    send_action(bus, p, "c-stop-rate", "eq-e", 2, 0, later); /* right after start */
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof err) == 0, "%s", err);

    th_unique(group, sizeof group, "test-scada-audit-", "");
    bus_consumer_t *c = th_consumer(bus, group, "audit.events");
    th_consume(c, &(th_consume_opts){.timeout_s = 60,
                                     .max = 100,
                                     .each = audit_each,
                                     .done = audit_done,
                                     .ctx = &vd});
    bus_consumer_destroy(c);
    bus_producer_destroy(p);
    bus_destroy(bus);
    for (int i = 0; i < NCMD; i++) {
        ck_assert_msg(vd.outcome[i] == want[i], "%s: outcome %d, want %d (%s)",
                      vd.ids[i], vd.outcome[i], want[i], vd.reason[i]);
        ck_assert_msg(strstr(vd.reason[i], why[i]) != NULL,
                      "%s: reason '%s' lacks '%s'", vd.ids[i], vd.reason[i], why[i]);
    }
    ck_assert_double_eq_tol(read_setpoint(1), 250, 1e-6); /* written once, not 300 */
    ck_assert_double_eq(read_setpoint(2), 0);             /* refused: nothing written */
    ck_assert_double_eq(read_setpoint(3), 0);
    ck_assert_double_eq(read_setpoint(4), 0);
    /* start through the coil: coil on, setpoint register untouched; the
     * refused coil commands switched nothing (eq-e's stop was rate-limited) */
    ck_assert_int_eq(read_coil(5, 7), 1);
    ck_assert_double_eq(read_setpoint(5), 0);
    ck_assert_int_eq(read_coil(6, 7), 0);
    ck_assert_double_eq(read_setpoint(6), 0);
    ck_assert_int_eq(read_coil(4, 7), 0);
    ck_assert_int_eq(read_coil(1, 7), 0);
    ck_assert(strstr(vd.reason[6], "verified by read-back") != NULL);
}
END_TEST

/* ---- test: a command whose id could not be saved is not a write ---- */

/* The state file once it holds command id (saved), or NULL at the deadline. */
static char *state_with_command(const char *id, double timeout_s)
{
    char path[128], quoted[64];
    double end = th_mono_s() + timeout_s;
    path_in(path, sizeof path, "state.json");
    snprintf(quoted, sizeof quoted, "\"%s\"", id);
    for (;;) {
        char *text = th_read_file(path);
        if (text && strstr(text, quoted))
            return text;
        free(text);
        if (th_mono_s() >= end)
            return NULL;
        th_sleep_ms(100);
    }
}

/* eq-b has had no write (its commands so far were refused). A command for
 * it is refused as state_error while the state file cannot be written (a
 * directory where the save writes its temporary file). Once the file can
 * be written again, the next save holds the refused command's id (a
 * redelivery is a duplicate) but no write to eq-b: a restart would read
 * none, so the rate limit (control_min_interval, 60 s) would not hold back
 * the next command for a write that never happened. In the same run, the
 * next command for eq-b is written. (The gateway was started by the
 * fixture, not this test's process: its pid is not waited on here.) */
START_TEST(unsaved_command_not_a_write)
{
    char err[512], tmp[128];
    bus_t *bus = th_bus_new(
        &(bus_conf_t){.topic_prefix = prefix, .client_id = "test-scada-unsaved"});
    bus_producer_t *p = bus_producer_new(bus, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    path_in(tmp, sizeof tmp, "state.json.tmp");
    ck_assert_int_eq(mkdir(tmp, 0755), 0);
    send_command(bus, p, "c-unsaved", "eq-b", 200, now_ms() + 120000);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof err) == 0, "%s", err);
    th_wait_metric(http_port, "ems_scada_commands_total{result=\"state_error\"}", 1, 0,
                   60);
    ck_assert_double_eq(read_setpoint(2), 0); /* not written */
    ck_assert_int_eq(rmdir(tmp), 0);
    char *saved = state_with_command("c-unsaved", 60);
    ck_assert_msg(saved != NULL, "the state was not saved again");
    ck_assert_msg(strstr(saved, "\"eq-b\"") == NULL,
                  "the refused command is saved as a write to eq-b: %s", saved);
    free(saved);
    send_command(bus, p, "c-after", "eq-b", 200, now_ms() + 120000);
    ck_assert_msg(bus_producer_flush(p, 10000, err, sizeof err) == 0, "%s", err);
    th_wait_metric(http_port, "ems_scada_commands_total{result=\"written\"}", 3, 0,
                   60); /* c-ok and c-start of the control test, then c-after */
    ck_assert_double_eq_tol(read_setpoint(2), 200, 1e-6);
    bus_producer_destroy(p);
    bus_destroy(bus);
}
END_TEST

/* ---- test: a restart drains the spool in order, none twice ---- */

typedef struct drain {
    int n;
    int64_t last_seq;
    int out_of_order, twice;
    double sum;
    unsigned char seen[NSPOOLED + 1];
} drain_t;

static int watch_drain(const seen_t *s, void *ctx)
{
    drain_t *d = ctx;
    if (strncmp(s->meter, "spooled-", 8) != 0)
        return 0;
    if (s->seq < 1 || s->seq > NSPOOLED || s->seq == DAMAGED)
        return 0;
    if (d->seen[s->seq]++)
        d->twice++;
    if (s->seq <= d->last_seq)
        d->out_of_order++;
    d->last_seq = s->seq;
    d->sum += s->v[0];
    return ++d->n == NSPOOLED - 1;
}

START_TEST(spool_drained_after_restart)
{
    static drain_t d;
    tgw_reader r;
    memset(&d, 0, sizeof d);
    reader_open(&r);
    int ok = read_until(&r, 60, watch_drain, &d);
    /* a little longer: anything published twice would show up now */
    read_until(&r, 2, watch_drain, &d);
    tgw_reader_close(&r);
    ck_assert_msg(ok, "only %d of %d intact spooled readings published", d.n,
                  NSPOOLED - 1);
    ck_assert_int_eq(d.twice, 0);
    ck_assert_int_eq(d.out_of_order, 0);
    ck_assert_int_eq(d.n, NSPOOLED - 1);
    ck_assert_double_eq_tol(d.sum, 0.5 * NSPOOLED * (NSPOOLED + 1) / 2 - 0.5 * DAMAGED,
                            1e-6);
    ck_assert_double_eq(th_metric(http_port, "ems_scada_spool_corrupt_total"), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_gateway");
    TCase *tc = tcase_create("modbus");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, stack_up, stack_down);
    tcase_add_test(tc, readings_equal_simulator);
    tcase_add_test(tc, spool_drained_after_restart);
    tcase_add_test(tc, silent_device_comm_error_and_back);
    tcase_add_test(tc, exception_and_out_of_range_flagged);
    tcase_add_test(tc, control_commands_checked_and_audited);
    tcase_add_test(tc, unsaved_command_not_a_write);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
