/*
 * poller: Modbus TCP polling workers (see poller.h).
 */
#include "scada-gateway/poller.h"

#include <errno.h>
#include <modbus/modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock/clock.h"
#include "log/log.h"
#include "scada-gateway/norm.h"
#include "scada-gateway/quality.h"
#include "scada-gateway/sched.h"

typedef struct pmeter {
    const plant_meter_t *m;
    sg_block_t blocks[SG_MAX_BLOCKS];
    int nblocks;
    sg_counter_t counter;
    int state_slot; /* in the poller's state, -1 when none */
    double wrap_kwh;
    sg_stale_t stale;
    int64_t last_seq;
} pmeter_t;

typedef struct device {
    const plant_device_t *addr;
    char label[96];
    modbus_t *mb;
    bool connected;
    sg_sched_t sched;
    pmeter_t *meters;
    size_t nmeters;
    obs_counter_t *polls, *errors;
    obs_histogram_t *latency;
    obs_gauge_t *up;
    bool refusing; /* a Modbus exception was logged, not yet cleared */
} device_t;

typedef struct worker {
    sg_poller_t *p;
    pthread_t th;
    size_t first, step; /* devices first, first+step, ... */
    bool started;
} worker_t;

struct sg_poller {
    const sg_conf_t *conf;
    sg_state_t *state;
    sg_queue_t *out;
    device_t *devices;
    size_t ndevices;
    worker_t *workers;
    size_t nworkers;
    _Atomic int stop;
    obs_counter_t *missed;
};

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};

static int same_device(const plant_device_t *a, const plant_device_t *b)
{
    return a->port == b->port && a->unit_id == b->unit_id &&
           strcmp(a->host, b->host) == 0;
}

static device_t *find_or_add(sg_poller_t *p, const plant_meter_t *m)
{
    for (size_t i = 0; i < p->ndevices; i++)
        if (same_device(p->devices[i].addr, &m->device))
            return &p->devices[i];
    device_t *d = &p->devices[p->ndevices++];
    d->addr = &m->device;
    snprintf(d->label, sizeof d->label, "%s:%d/%d", m->device.host, m->device.port,
             m->device.unit_id);
    return d;
}

static void device_metrics(device_t *d, obs_metrics_t *mx)
{
    char labels[128];
    snprintf(labels, sizeof labels, "device=%s", d->label);
    d->polls =
        obs_counter(mx, "ems_scada_polls_total", "Modbus polls per device.", labels);
    d->errors = obs_counter(mx, "ems_scada_poll_errors_total",
                            "Failed Modbus polls per device.", labels);
    d->latency = obs_histogram(
        mx, "ems_scada_poll_seconds", "Duration of one device poll (all its meters).",
        labels, latency_bounds, sizeof latency_bounds / sizeof latency_bounds[0]);
    d->up = obs_gauge(mx, "ems_scada_device_up",
                      "1 when the device answered its last poll.", labels);
}

/* Groups meters by device and plans their reads. */
static int plan(sg_poller_t *p, const plant_t *plant, const sg_mqtt_map_t *mqtt,
                char *errstr, size_t n)
{
    size_t nm = plant_meter_count(plant);
    p->devices = calloc(nm ? nm : 1, sizeof *p->devices);
    if (!p->devices)
        return -1;
    for (size_t i = 0; i < nm; i++) {
        const plant_meter_t *m = plant_meter_at(plant, i);
        if (sg_mqtt_map_feeds(mqtt, m->id))
            continue;
        device_t *d = find_or_add(p, m);
        pmeter_t *pm = realloc(d->meters, (d->nmeters + 1) * sizeof *pm);
        if (!pm)
            return -1;
        d->meters = pm;
        pm = &d->meters[d->nmeters++];
        memset(pm, 0, sizeof *pm);
        pm->m = m;
        pm->state_slot = -1;
        if (p->state)
            pm->state_slot = sg_state_counter_slot(p->state, m->id, &pm->counter);
        pm->nblocks =
            sg_plan_blocks(m, (int)p->conf->block_gap, pm->blocks, SG_MAX_BLOCKS);
        if (pm->nblocks < 0) {
            snprintf(errstr, n,
                     "meter '%s' (line %d): registers need more than %d reads", m->id,
                     m->line, SG_MAX_BLOCKS);
            return -1;
        }
        const plant_register_t *e = plant_meter_register(m, PLANT_Q_ENERGY_KWH);
        pm->wrap_kwh = e ? sg_counter_wrap_kwh(e) : 0;
    }
    return 0;
}

/* Reads one block with retries; 0 or -1 (errno from libmodbus). */
/* A Modbus exception: the device answered, refusing this request. */
static int is_exception(int err)
{
    return err == EMBXILADD || err == EMBXILFUN || err == EMBXILVAL ||
           err == EMBXSFAIL || err == EMBXGTAR || err == EMBXGPATH;
}

static int read_block(device_t *d, sg_block_t *b, int retries)
{
    for (int a = 0; a <= retries; a++) {
        int rc =
            b->type == PLANT_REG_HOLDING
                ? modbus_read_registers(d->mb, b->address, b->count, b->words)
                : modbus_read_input_registers(d->mb, b->address, b->count, b->words);
        if (rc == b->count)
            return 0;
        if (is_exception(errno))
            return -1; /* the device answered: retrying will not help */
    }
    return -1;
}

static int connect_device(sg_poller_t *p, device_t *d, char *why, size_t n)
{
    if (d->connected)
        return 0;
    if (!d->mb) {
        d->mb = modbus_new_tcp(d->addr->host, d->addr->port);
        if (!d->mb) {
            snprintf(why, n, "modbus context for %s: %s", d->label,
                     modbus_strerror(errno));
            return -1;
        }
        modbus_set_slave(d->mb, d->addr->unit_id);
        int64_t t = p->conf->response_timeout_ms;
        modbus_set_response_timeout(d->mb, (uint32_t)(t / 1000),
                                    (uint32_t)(t % 1000) * 1000);
    }
    if (modbus_connect(d->mb) < 0) {
        snprintf(why, n, "connect to %s failed: %s", d->label, modbus_strerror(errno));
        return -1;
    }
    d->connected = true;
    return 0;
}

static void disconnect(device_t *d)
{
    if (d->connected)
        modbus_close(d->mb);
    d->connected = false;
}

/* Polls one meter into r; returns 0, -1 when the device refused a read
 * (a Modbus exception: this meter only), or -2 when it did not answer
 * (timeout, connection lost: the device), with the reason in r. */
static int poll_meter(sg_poller_t *p, device_t *d, pmeter_t *pm, sg_reading_t *r,
                      int64_t now)
{
    uint64_t hash;
    double total;
    sg_counter_event_t ev = SG_CNT_OK;
    for (int b = 0; b < pm->nblocks; b++) {
        if (read_block(d, &pm->blocks[b], (int)p->conf->retries) < 0) {
            char why[160];
            int err = errno;
            snprintf(why, sizeof why, "modbus read of %d words at %d failed: %s",
                     pm->blocks[b].count, pm->blocks[b].address, modbus_strerror(err));
            sg_quality_comm_error(r, why);
            return is_exception(err) ? -1 : -2;
        }
    }
    sg_decode_meter(pm->m, pm->blocks, pm->nblocks, r, &hash);
    if (r->has & (1u << PLANT_Q_ENERGY_KWH)) {
        ev = sg_counter_update(&pm->counter, r->v[PLANT_Q_ENERGY_KWH], pm->wrap_kwh,
                               &total);
        r->v[PLANT_Q_ENERGY_KWH] = total;
        if (p->state)
            sg_state_counter_set(p->state, pm->state_slot, &pm->counter,
                                 ev == SG_CNT_ROLLOVER || ev == SG_CNT_REPLACED);
    }
    sg_quality_assess(pm->m, r, &pm->stale, hash, ev, now, p->conf->stale_after_ms);
    return 0;
}

static void stamp(pmeter_t *pm, sg_reading_t *r)
{
    /* Derived from the reading time, so it keeps increasing across restarts
     * without persisted state (as long as the clock does not step back). */
    r->seq = r->ts_ms > pm->last_seq ? r->ts_ms : pm->last_seq + 1;
    pm->last_seq = r->seq;
}

/* The reason of the first meter reading that failed. */
static const char *first_failed(const sg_reading_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i].quality == SG_Q_COMM_ERROR)
            return buf[i].detail;
    return "?";
}

/* Polls every meter of a device; pushes one reading per meter. */
static void poll_device(sg_poller_t *p, device_t *d, sg_reading_t *buf)
{
    struct timespec t0, t1;
    char why[160] = "";
    int64_t now = sg_now_ms();
    int failed = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int down = connect_device(p, d, why, sizeof why) < 0;
    for (size_t i = 0; i < d->nmeters; i++) {
        sg_reading_init(&buf[i], d->meters[i].m, now, SG_SRC_MODBUS);
        if (down) {
            sg_quality_comm_error(&buf[i], why);
        } else {
            int rc = poll_meter(p, d, &d->meters[i], &buf[i], now);
            failed += rc < 0;
            /* a device that does not answer is not asked for its other
             * meters: each would wait out its own timeouts, and the other
             * devices of this worker would miss their slots meanwhile */
            if (rc == -2) {
                down = 1;
                snprintf(why, sizeof why, "%s", buf[i].detail);
            }
        }
        stamp(&d->meters[i], &buf[i]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    obs_counter_inc(d->polls);
    obs_histogram_observe(d->latency, (double)(t1.tv_sec - t0.tv_sec) +
                                          (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    /* A refused read (a register the device does not have) is that meter's
     * comm_error; the device answers, so its other meters keep their
     * schedule rather than share its backoff. */
    if (failed && !down) {
        if (!d->refusing)
            log_warn("poller", "device %s refuses a read: %s", d->label,
                     first_failed(buf, d->nmeters));
        d->refusing = true;
        obs_counter_inc(d->errors);
    } else if (!down) {
        d->refusing = false;
    }
    if (down) {
        if (d->sched.failures == 0)
            log_warn("poller", "device %s: %s", d->label, why);
        obs_counter_inc(d->errors);
        obs_gauge_set(d->up, 0);
        disconnect(d); /* a clean connection on the next try */
        sg_sched_failure(&d->sched, ems_mono_ms(), p->conf->backoff_base_ms,
                         p->conf->backoff_max_ms);
    } else {
        if (d->sched.failures > 0)
            log_info("poller", "device %s answers again", d->label);
        obs_gauge_set(d->up, 1);
        int64_t missed = d->sched.missed;
        sg_sched_success(&d->sched, ems_mono_ms());
        obs_counter_add(p->missed, (double)(d->sched.missed - missed));
    }
    sg_queue_push(p->out, buf, d->nmeters);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    sg_poller_t *p = w->p;
    size_t maxm = 1;
    for (size_t i = w->first; i < p->ndevices; i += w->step)
        if (p->devices[i].nmeters > maxm)
            maxm = p->devices[i].nmeters;
    sg_reading_t *buf = calloc(maxm, sizeof *buf);
    while (buf && !p->stop) {
        /* The schedule runs on the monotonic clock, the readings' times on
         * the wall clock: on the wall clock, a step back (NTP correcting a
         * clock that ran ahead, a VM resumed) put every device's next poll
         * that far in the future, and nothing was polled until the clock
         * caught up again. */
        int64_t now = ems_mono_ms(), next = now + 50;
        for (size_t i = w->first; i < p->ndevices && !p->stop; i += w->step) {
            device_t *d = &p->devices[i];
            if (sg_sched_due(&d->sched, now)) {
                poll_device(p, d, buf);
                now = ems_mono_ms();
            }
            if (d->sched.next_ms < next)
                next = d->sched.next_ms;
        }
        if (next > now)
            sleep_ms(next - now);
    }
    free(buf);
    return NULL;
}

static int start_workers(sg_poller_t *p, char *errstr, size_t n)
{
    p->nworkers = (size_t)p->conf->workers;
    if (p->nworkers > p->ndevices)
        p->nworkers = p->ndevices ? p->ndevices : 1;
    /* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI): config workers >= 1 */
    p->workers = calloc(p->nworkers, sizeof *p->workers);
    if (!p->workers)
        return -1;
    for (size_t i = 0; i < p->nworkers; i++) {
        worker_t *w = &p->workers[i];
        *w = (worker_t){.p = p, .first = i, .step = p->nworkers};
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
            snprintf(errstr, n, "cannot start poll worker %zu", i);
            return -1;
        }
        w->started = true;
    }
    return 0;
}

sg_poller_t *sg_poller_start(const plant_t *plant, const sg_conf_t *conf,
                             const sg_mqtt_map_t *mqtt, sg_state_t *state,
                             sg_queue_t *out, obs_metrics_t *metrics, char *errstr,
                             size_t errstr_size)
{
    sg_poller_t *p = calloc(1, sizeof *p);
    int64_t now = ems_mono_ms(); /* the schedule's clock (worker_main) */
    if (!p)
        return NULL;
    p->conf = conf;
    p->state = state;
    p->out = out;
    if (plan(p, plant, mqtt, errstr, errstr_size) < 0)
        goto err;
    p->missed = obs_counter(metrics, "ems_scada_missed_polls_total",
                            "Poll slots skipped because a poll came too late.", NULL);
    for (size_t i = 0; i < p->ndevices; i++) {
        device_t *d = &p->devices[i];
        int period = d->meters[0].m->poll_period_ms;
        for (size_t k = 1; k < d->nmeters; k++)
            if (d->meters[k].m->poll_period_ms < period)
                period = d->meters[k].m->poll_period_ms;
        /* spread devices over the period so polls do not come in bursts */
        sg_sched_init(&d->sched, period, now, (int64_t)(i * 7919) % period);
        device_metrics(d, metrics);
    }
    if (start_workers(p, errstr, errstr_size) < 0)
        goto err;
    return p;
err:
    sg_poller_stop(p);
    return NULL;
}

size_t sg_poller_devices(const sg_poller_t *p)
{
    return p->ndevices;
}

void sg_poller_stop(sg_poller_t *p)
{
    if (!p)
        return;
    p->stop = 1;
    for (size_t i = 0; i < p->nworkers && p->workers; i++)
        if (p->workers[i].started)
            pthread_join(p->workers[i].th, NULL);
    for (size_t i = 0; i < p->ndevices; i++) {
        disconnect(&p->devices[i]);
        if (p->devices[i].mb)
            modbus_free(p->devices[i].mb);
        free(p->devices[i].meters);
    }
    free(p->devices);
    free(p->workers);
    free(p);
}
