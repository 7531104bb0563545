/*
 * bench-scada: how many meters one scada-gateway polls at a 1 s period with
 * no missed poll, and its CPU per 1,000 meters, printed beside a bare
 * libmodbus read loop against the same simulator in the same run.
 *
 * Runs against the test stack (EMS_TEST_BOOTSTRAP, EMS_TEST_REGISTRY,
 * EMS_TEST_ROOT, EMS_TEST_BIN), like every bench in `make bench`:
 *   bench-scada [--meters N] [--seconds S]
 * Figures, not assertions.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock/clock.h"

#define PER_UNIT 25

extern char **environ;

static char dir[64];

static const char *env_or(const char *k, const char *def)
{
    const char *v = getenv(k);
    return v && *v ? v : def;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int write_plant(int n, int port)
{
    char path[128];
    snprintf(path, sizeof path, "%s/plant.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "sites:\n  - id: s1\n    timezone: Europe/Amsterdam\n    market: NL\n"
               "    contracted_import_kw: 10000000\nmeters:\n");
    for (int i = 0; i < n; i++) {
        int a = (i % PER_UNIT) * 16;
        fprintf(
            f,
            "  - id: m%d\n    site: s1\n    kind: sub\n"
            "    device: {host: 127.0.0.1, port: %d, unit_id: %d}\n"
            "    poll_period_ms: 1000\n    power_range_kw: [0, 1000]\n    registers:\n"
            "      - {quantity: power_kw, type: input, address: %d, data_type: "
            "float32}\n"
            "      - {quantity: energy_kwh, type: input, address: %d, data_type: "
            "float64}\n"
            "      - {quantity: voltage_v, type: input, address: %d, data_type: "
            "float32}\n"
            "      - {quantity: current_a, type: input, address: %d, data_type: "
            "float32}\n"
            "      - {quantity: frequency_hz, type: input, address: %d, data_type: "
            "uint16, scale: 0.01}\n"
            "      - {quantity: power_factor, type: input, address: %d, data_type: "
            "int16, scale: 0.001}\n",
            i, port, 1 + i / PER_UNIT, a, a + 2, a + 6, a + 8, a + 10, a + 11);
    }
    return fclose(f);
}

static pid_t spawn(char *const argv[], const char *log, char *const extra[])
{
    char logp[128];
    snprintf(logp, sizeof logp, "%s/%s", dir, log);
    pid_t pid = fork();
    if (pid == 0) {
        char *envp[300];
        int k = 0;
        for (char **e = environ; *e && k < 250; e++)
            if (strncmp(*e, "EMS_", 4) != 0)
                envp[k++] = *e;
        for (int i = 0; extra && extra[i]; i++)
            envp[k++] = extra[i];
        envp[k] = NULL;
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    return pid;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds (user + system) of a process from /proc. */
static double cpu_of(pid_t pid)
{
    char path[64], buf[2048];
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f)) {
        if (f)
            fclose(f);
        return 0;
    }
    fclose(f);
    char *p = strrchr(buf, ')');
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                    &st) == 2)
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

/* Bare loop: every meter read once per sweep, one connection per unit. */
static void bare_loop(int n, int port, double seconds)
{
    int units = (n + PER_UNIT - 1) / PER_UNIT;
    modbus_t **mb = calloc((size_t)units, sizeof *mb);
    uint16_t w[16];
    long reads = 0, errors = 0;
    for (int u = 0; u < units; u++) {
        mb[u] = modbus_new_tcp("127.0.0.1", port);
        modbus_set_slave(mb[u], 1 + u);
        if (modbus_connect(mb[u]) < 0)
            errors++;
    }
    double t0 = ems_mono_s(), c0 = cpu_self();
    while (ems_mono_s() - t0 < seconds) {
        for (int i = 0; i < n; i++, reads++)
            if (modbus_read_input_registers(mb[i / PER_UNIT], (i % PER_UNIT) * 16, 12,
                                            w) != 12)
                errors++;
    }
    double dt = ems_mono_s() - t0, cpu = cpu_self() - c0;
    printf("bare libmodbus loop: %.0f meter reads/s on one thread (%ld errors), "
           "CPU %.1f ms per 1,000 reads\n",
           reads / dt, errors, cpu * 1000 / (reads / 1000.0));
    for (int u = 0; u < units; u++) {
        modbus_close(mb[u]);
        modbus_free(mb[u]);
    }
    free(mb);
}

/* Sums every sample of a metric in the gateway's /metrics. */
static double scrape(int http_port, const char *name)
{
    char cmd[256], line[1024];
    double sum = 0, v;
    snprintf(cmd, sizeof cmd, "curl -fsS http://127.0.0.1:%d/metrics 2>/dev/null",
             http_port);
    FILE *p = popen(cmd, "r");
    size_t nl = strlen(name);
    while (p && fgets(line, sizeof line, p))
        if (strncmp(line, name, nl) == 0 && (line[nl] == ' ' || line[nl] == '{')) {
            char *sp = strrchr(line, ' ');
            if (sp && sscanf(sp, "%lf", &v) == 1)
                sum += v;
        }
    if (p)
        pclose(p);
    return sum;
}

static void gateway_run(int n, double seconds)
{
    static char e[12][600];
    char bin[512], *ev[13];
    int k = 0, http = free_port();
    const char *root = env_or("EMS_TEST_ROOT", ".");
    snprintf(bin, sizeof bin, "%s/scada-gateway", env_or("EMS_TEST_BIN", "build/bin"));
    snprintf(e[k++], 600, "EMS_BUS_BOOTSTRAP=%s",
             env_or("EMS_TEST_BOOTSTRAP", "127.0.0.1:29092"));
    snprintf(e[k++], 600, "EMS_BUS_REGISTRY_URL=%s",
             env_or("EMS_TEST_REGISTRY", "http://127.0.0.1:28081"));
    snprintf(e[k++], 600, "EMS_BUS_SCHEMA_DIR=%s/schemas", root);
    snprintf(e[k++], 600, "EMS_BUS_TOPIC_PREFIX=bench%d.", (int)getpid());
    snprintf(e[k++], 600, "EMS_PLANT_PATH=%s/plant.yaml", dir);
    snprintf(e[k++], 600, "EMS_HTTP_PORT=%d", http);
    snprintf(e[k++], 600, "EMS_SCADA_SPOOL_DIR=%s/spool", dir);
    snprintf(e[k++], 600, "EMS_SCADA_STATE_FILE=%s/state.json", dir);
    snprintf(e[k++], 600, "EMS_SCADA_CONTROL=false");
    snprintf(e[k++], 600, "EMS_LOG_LEVEL=warn");
    for (int i = 0; i < k; i++)
        ev[i] = e[i];
    ev[k] = NULL;
    char *argv[] = {bin, NULL};
    pid_t gw = spawn(argv, "gateway.log", ev);
    sleep(3); /* start-up and the first full period */
    double p0 = scrape(http, "ems_scada_polls_total"),
           m0 = scrape(http, "ems_scada_missed_polls_total");
    double c0 = cpu_of(gw), t0 = ems_mono_s();
    usleep((useconds_t)(seconds * 1e6));
    double p1 = scrape(http, "ems_scada_polls_total"),
           m1 = scrape(http, "ems_scada_missed_polls_total");
    double c1 = cpu_of(gw), dt = ems_mono_s() - t0;
    double pub = scrape(http, "ems_scada_readings_published_total");
    int devices = (n + PER_UNIT - 1) / PER_UNIT;
    printf(
        "scada-gateway: %d meters (%d devices) at 1 s: %.0f device polls/s of %d due, "
        "%.0f missed poll slots, %.0f readings published; CPU %.1f %% of a core, "
        "%.1f %% per 1,000 meters\n",
        n, devices, (p1 - p0) / dt, devices, m1 - m0, pub, (c1 - c0) / dt * 100,
        (c1 - c0) / dt * 100 / (n / 1000.0));
    kill(gw, SIGTERM);
    waitpid(gw, NULL, 0);
}

int main(int argc, char **argv)
{
    int n = 5000;
    double seconds = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--meters") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
    }
    if (n < 1 || n > 250 * PER_UNIT || seconds <= 0) {
        fprintf(stderr, "usage: bench-scada [--meters 1..%d] [--seconds S]\n",
                250 * PER_UNIT);
        return 2;
    }
    snprintf(dir, sizeof dir, "/tmp/ems-bench-scada-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    int port = free_port();
    if (write_plant(n, port) < 0)
        return 1;
    char bin[512], plant[128], data[512], ports[16];
    snprintf(bin, sizeof bin, "%s/meter-sim", env_or("EMS_TEST_BIN", "build/bin"));
    snprintf(plant, sizeof plant, "%s/plant.yaml", dir);
    snprintf(data, sizeof data, "%s/tests/data/openstef_nl_neerijnen/307-test-data.csv",
             env_or("EMS_TEST_ROOT", "."));
    snprintf(ports, sizeof ports, "%d", port);
    char *sargv[] = {bin,       "--plant", plant,    "--port", ports,
                     "--speed", "60",      "--data", data,     NULL};
    pid_t sim = spawn(sargv, "sim.log", NULL);
    sleep(1);
    bare_loop(n, port, 3);
    gateway_run(n, seconds);
    kill(sim, SIGTERM);
    waitpid(sim, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-scada: cannot remove %s\n", dir);
    return 0;
}
