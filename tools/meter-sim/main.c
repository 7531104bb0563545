/*
 * meter-sim: a Modbus TCP server (libmodbus) serving the simulated meters of
 * a plant model: one listener, every unit id of the meters on its port,
 * poll()-based for many clients. See docs/meter-sim.md.
 *
 *   meter-sim --plant tools/stack/plant.yaml [--port 15020] [--speed 1440]
 *             [--data FILE.csv] [--control FILE] [--values FILE]
 *             [--served FILE] [--pidfile FILE] [--ready-file FILE]
 *
 * --speed is simulated seconds per wall-clock second (1440 = one day per
 * minute; 0 freezes time, so every value stays constant). --control names
 * a fault-control file, re-read when it changes or on SIGHUP. --values
 * dumps the served values after every update (for tests). --served appends
 * one line per meter per read request answered: the log the store-and-forward
 * test compares the published readings with.
 */
#include <errno.h>
#include <getopt.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataset/dataset.h"
#include "clock/clock.h"
#include "file/file.h"
#include "sim.h"

#define MAX_CLIENTS 16384
#define TICK_MS 100

static volatile sig_atomic_t stop_flag, reload_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_flag = 1;
}

typedef struct opts {
    const char *plant, *data, *control, *values, *served, *pidfile, *ready, *listen;
    int port;
    double speed;
} opts_t;

typedef struct server {
    sim_t sim;
    modbus_t *ctx;
    struct pollfd *fds; /* [0] is the listener */
    int nfds;
    int64_t wall0_ms, sim0_ms;
    struct timespec control_mtime;
    off_t control_size;
    int64_t requests, faults_applied;
    FILE *served; /* --served log, or NULL */
} server_t;

static void usage(void)
{
    fprintf(stderr,
            "usage: meter-sim --plant FILE [--port N] [--listen ADDR] [--speed X]\n"
            "                 [--data CSV] [--control FILE] [--values FILE]\n"
            "                 [--served FILE] [--pidfile FILE] [--ready-file FILE]\n");
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"plant", required_argument, NULL, 'p'},
                                       {"port", required_argument, NULL, 'P'},
                                       {"speed", required_argument, NULL, 's'},
                                       {"data", required_argument, NULL, 'd'},
                                       {"control", required_argument, NULL, 'c'},
                                       {"values", required_argument, NULL, 'v'},
                                       {"served", required_argument, NULL, 'S'},
                                       {"pidfile", required_argument, NULL, 'i'},
                                       {"ready-file", required_argument, NULL, 'r'},
                                       {"listen", required_argument, NULL, 'l'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    *o = (opts_t){.data = "tests/data/openstef_nl_neerijnen/307-test-data.csv",
                  .listen = "127.0.0.1",
                  .port = 0,
                  .speed = 1};
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->plant = optarg;
            break;
        case 'P':
            o->port = atoi(optarg);
            break;
        case 's':
            o->speed = atof(optarg);
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'c':
            o->control = optarg;
            break;
        case 'v':
            o->values = optarg;
            break;
        case 'S':
            o->served = optarg;
            break;
        case 'i':
            o->pidfile = optarg;
            break;
        case 'r':
            o->ready = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        default:
            usage();
            return -1;
        }
    }
    if (!o->plant || o->speed < 0 || o->port < 0 || o->port > 65535) {
        usage();
        return -1;
    }
    return 0;
}

/* Loads the load series; returns the normalised array or NULL. */
static double *load_series(const char *path, size_t *n, int64_t *t0, char *err,
                           size_t en)
{
    dataset_nl_row_t *rows = NULL;
    const char *paths[] = {path};
    double *mw, *norm;
    if (dataset_nl_load(paths, 1, 0, 0, &rows, n, err, en) < 0)
        return NULL;
    mw = malloc((*n ? *n : 1) * sizeof *mw);
    for (size_t i = 0; mw && i < *n; i++)
        mw[i] = rows[i].load_mw;
    *t0 = *n ? rows[0].ts_ms : 0;
    norm = mw ? sim_normalise(mw, *n) : NULL;
    free(mw);
    free(rows);
    return norm;
}

/* Writes a marker file (pid, ready) atomically; a failure is logged, and
 * start-up goes on as before. */
static void write_marker(const char *path, const char *text)
{
    char err[4200];
    if (ems_file_write_atomic(path, text, err, sizeof err) < 0)
        fprintf(stderr, "meter-sim: %s\n", err);
}

static void close_client(server_t *sv, int i)
{
    close(sv->fds[i].fd);
    sv->fds[i] = sv->fds[--sv->nfds];
}

static void drop_all(server_t *sv)
{
    while (sv->nfds > 1)
        close_client(sv, 1);
}

/* Re-reads the control file when it changed (or on SIGHUP). */
static void check_control(server_t *sv, const char *path)
{
    struct stat st;
    char err[256], *text;
    bool drop = false;
    FILE *f;
    if (!path || stat(path, &st) < 0) {
        if (path && sv->control_size >= 0) {
            sim_apply_faults(&sv->sim, "", &drop, err, sizeof err);
            sv->control_size = -1;
        }
        return;
    }
    if (!reload_flag && st.st_mtim.tv_sec == sv->control_mtime.tv_sec &&
        st.st_mtim.tv_nsec == sv->control_mtime.tv_nsec &&
        st.st_size == sv->control_size)
        return;
    reload_flag = 0;
    sv->control_mtime = st.st_mtim;
    sv->control_size = st.st_size;
    if (!(f = fopen(path, "r")))
        return;
    text = calloc(1, (size_t)st.st_size + 1);
    if (text && fread(text, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
        if (sim_apply_faults(&sv->sim, text, &drop, err, sizeof err) < 0)
            fprintf(stderr, "meter-sim: %s: %s\n", path, err);
        else
            fprintf(stderr, "meter-sim: faults from %s applied\n", path);
        if (drop)
            drop_all(sv);
    }
    free(text);
    fclose(f);
}

static void tick(server_t *sv, const opts_t *o)
{
    int64_t t =
        sv->sim0_ms + (int64_t)((double)(ems_wall_ms() - sv->wall0_ms) * o->speed);
    check_control(sv, o->control);
    sim_update(&sv->sim, t);
    if (sv->served)
        fflush(sv->served);
    if (o->values) {
        /* Replaced 10 times a second while clients wait for replies, and
         * worthless after a crash: renamed whole but not synced, unlike
         * ems_file_write_atomic(), whose fsyncs would stall the loop. */
        char tmp[4096];
        FILE *f;
        snprintf(tmp, sizeof tmp, "%s.tmp", o->values);
        if ((f = fopen(tmp, "w"))) {
            sim_dump(&sv->sim, f);
            if (fclose(f) == 0)
                rename(tmp, o->values);
        }
    }
}

/* Logs the meters a read request just answered covered (--served). The
 * request is MBAP header (7 bytes), function, address, count. */
static void log_served(server_t *sv, const uint8_t *q, int unit)
{
    int fn = q[7], address = (q[8] << 8) | q[9], count = (q[10] << 8) | q[11];
    if (!sv->served || (fn != MODBUS_FC_READ_HOLDING_REGISTERS &&
                        fn != MODBUS_FC_READ_INPUT_REGISTERS))
        return;
    sim_log_served(&sv->sim, unit,
                   fn == MODBUS_FC_READ_HOLDING_REGISTERS ? PLANT_REG_HOLDING
                                                          : PLANT_REG_INPUT,
                   address, count, sv->served);
}

/* Answers one request of client i; closes it on error. */
static void serve(server_t *sv, int i)
{
    uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
    int rc, unit;
    sim_unit_t *u;
    modbus_set_socket(sv->ctx, sv->fds[i].fd);
    rc = modbus_receive(sv->ctx, q);
    if (rc <= 0) {
        if (rc < 0)
            close_client(sv, i);
        return;
    }
    sv->requests++;
    unit = q[6];
    u = &sv->sim.units[unit];
    if (!u->used) {
        modbus_reply_exception(sv->ctx, q, MODBUS_EXCEPTION_GATEWAY_TARGET);
        return;
    }
    if (u->fault == SIM_FAULT_SILENT)
        return;
    if (u->fault == SIM_FAULT_EXCEPTION) {
        modbus_reply_exception(sv->ctx, q, u->exception_code);
        return;
    }
    modbus_mapping_t map = {.nb_bits = u->coils ? SIM_COILS : 0,
                            .tab_bits = u->coils,
                            .nb_registers = u->nholding,
                            .nb_input_registers = u->ninput,
                            .tab_registers = u->holding,
                            .tab_input_registers = u->input};
    if (modbus_reply(sv->ctx, q, rc, &map) < 0) {
        close_client(sv, i);
        return;
    }
    log_served(sv, q, unit);
}

static void accept_client(server_t *sv)
{
    int fd = accept(sv->fds[0].fd, NULL, NULL);
    if (fd < 0)
        return;
    if (sv->nfds >= MAX_CLIENTS) {
        close(fd);
        return;
    }
    sv->fds[sv->nfds].fd = fd;
    sv->fds[sv->nfds].events = POLLIN;
    sv->fds[sv->nfds].revents = 0;
    sv->nfds++;
}

static int loop(server_t *sv, const opts_t *o)
{
    int64_t next_tick = 0;
    while (!stop_flag) {
        int64_t now = ems_wall_ms();
        if (now >= next_tick) {
            tick(sv, o);
            next_tick = now + TICK_MS;
        }
        int n = poll(sv->fds, (nfds_t)sv->nfds, (int)(next_tick - now));
        if (n < 0 && errno != EINTR)
            return -1;
        if (n <= 0)
            continue;
        for (int i = sv->nfds - 1; i >= 1; i--)
            if (sv->fds[i].revents & (POLLIN | POLLHUP | POLLERR))
                serve(sv, i);
        if (sv->fds[0].revents & POLLIN)
            accept_client(sv);
    }
    return 0;
}

static int start(server_t *sv, const opts_t *o, const plant_t *plant)
{
    char err[512], buf[64];
    size_t nload = 0;
    int64_t t0 = 0;
    double *load = load_series(o->data, &nload, &t0, err, sizeof err);
    if (!load) {
        fprintf(stderr, "meter-sim: %s\n", err);
        return -1;
    }
    if (sim_init(&sv->sim, plant, o->port, load, nload, t0, err, sizeof err) < 0) {
        fprintf(stderr, "meter-sim: %s: %s\n", o->plant, err);
        return -1;
    }
    sv->ctx = modbus_new_tcp(o->listen, o->port);
    sv->fds = calloc(MAX_CLIENTS, sizeof *sv->fds);
    if (!sv->ctx || !sv->fds)
        return -1;
    sv->fds[0].fd = modbus_tcp_listen(sv->ctx, 1024);
    if (sv->fds[0].fd < 0) {
        fprintf(stderr, "meter-sim: cannot listen on %s:%d: %s\n", o->listen, o->port,
                modbus_strerror(errno));
        return -1;
    }
    sv->fds[0].events = POLLIN;
    sv->nfds = 1;
    if (o->served && !(sv->served = fopen(o->served, "a"))) {
        fprintf(stderr, "meter-sim: cannot open '%s': %s\n", o->served,
                strerror(errno));
        return -1;
    }
    sv->wall0_ms = ems_wall_ms();
    sv->sim0_ms = t0;
    sv->control_size = -1;
    if (o->pidfile) {
        snprintf(buf, sizeof buf, "%d\n", (int)getpid());
        write_marker(o->pidfile, buf);
    }
    fprintf(stderr, "meter-sim: %zu meters on %s:%d, speed %g\n", sv->sim.nmeters,
            o->listen, o->port, o->speed);
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    server_t sv;
    char err[512], buf[64];
    int rc = 1;
    plant_t *plant;
    memset(&sv, 0, sizeof sv);
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    plant = plant_load(o.plant, err, sizeof err);
    if (!plant) {
        fprintf(stderr, "meter-sim: %s\n", err);
        return 2;
    }
    if (o.port == 0)
        o.port = plant_meter_count(plant) ? plant_meter_at(plant, 0)->device.port : 502;
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    signal(SIGHUP, on_hup);
    signal(SIGPIPE, SIG_IGN);
    if (start(&sv, &o, plant) == 0) {
        tick(&sv, &o);
        snprintf(buf, sizeof buf, "127.0.0.1:%d\n", o.port);
        if (o.ready)
            write_marker(o.ready, buf);
        rc = loop(&sv, &o) < 0 ? 1 : 0;
    }
    drop_all(&sv);
    if (sv.fds && sv.nfds > 0)
        close(sv.fds[0].fd);
    free(sv.fds);
    if (sv.served)
        fclose(sv.served);
    if (sv.ctx)
        modbus_free(sv.ctx);
    free((void *)sv.sim.load);
    sim_release(&sv.sim);
    plant_destroy(plant);
    return rc;
}
