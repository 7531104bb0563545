/*
 * devbroker: a Kafka-protocol broker for development and tests.
 *
 * It serves librdkafka's built-in mock cluster (rdkafka_mock.h) over TCP on
 * loopback, creates the suite's topics with their partition counts at start
 * and runs until SIGTERM or SIGINT. Development only: the mock keeps records
 * in memory and forgets everything at exit. Production runs Apache Kafka.
 *
 * Retention: librdkafka 2.0.2's mock keeps, per partition, at most 5 MiB of
 * record batches (as the producer sent them, after compression) and at most
 * 100,000 batches; each append beyond that deletes the oldest batches, with
 * no error to anyone. The limits are fixed in rd_kafka_mock_partition_init()
 * and no public mock call changes them, so a consumer must stay within
 * 5 MiB of the log end on every partition (docs/adr/0002).
 *
 * Port selection: the mock binds each broker's listener to 127.0.0.1 port 0
 * (an ephemeral port). This executable defines bind(), which takes precedence
 * over libc's for librdkafka's call (symbol interposition), and rewrites the
 * n-th loopback port-0 bind to base_port + n, so broker 1 listens on --port,
 * broker 2 on --port + 1 and so on. Every other bind passes through unchanged.
 */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "control.h"
#include "file/file.h"

#define DB_MAX_TOPICS 256
#define DB_NAME_MAX 249 /* Kafka's topic name limit */

/* Port rewriting state, written once before the cluster exists and then read
 * only by the bind() wrapper on the mock's own thread. */
static int db_base_port;
static int db_binds_done;

typedef int (*db_bind_fn)(int, const struct sockaddr *, socklen_t);

/* Interposes libc's bind(): a loopback IPv4 port-0 bind gets the next
 * configured port (with SO_REUSEADDR so a quick restart does not fail on
 * TIME_WAIT); anything else is forwarded untouched. */
int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static db_bind_fn real_bind;
    struct sockaddr_in sin;
    int one = 1;

    if (!real_bind)
        real_bind = (db_bind_fn)dlsym(RTLD_NEXT, "bind");
    if (!real_bind) {
        errno = ENOSYS;
        return -1;
    }
    if (db_base_port <= 0 || !addr || addr->sa_family != AF_INET ||
        len < (socklen_t)sizeof(sin))
        return real_bind(fd, addr, len);
    memcpy(&sin, addr, sizeof(sin));
    if (sin.sin_port != 0 || sin.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
        return real_bind(fd, addr, len);
    sin.sin_port = htons((uint16_t)(db_base_port + db_binds_done++));
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    return real_bind(fd, (const struct sockaddr *)&sin, sizeof(sin));
}

typedef struct {
    char name[DB_NAME_MAX + 1];
    int partitions;
} db_topic;

typedef struct {
    int port;
    int brokers;
    const char *topics_file;
    const char *prefix;
    const char *pidfile;
    const char *ready_file;
    int control_port; /* 0: no control */
    db_topic topics[DB_MAX_TOPICS];
    int ntopics;
} db_opts;

static volatile sig_atomic_t db_stop;

static void db_on_signal(int sig)
{
    (void)sig;
    db_stop = 1;
}

void db_log(const char *level, const char *fmt, ...)
{
    char msg[512], ts[32];
    time_t now = time(NULL);
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr,
            "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"devbroker\","
            "\"msg\":\"%s\"}\n",
            ts, level, msg);
}

static const struct {
    const char *name;
    int partitions;
} db_builtin_topics[] = {
    {"energy.telemetry", 6},
    {"energy.load", 6},
    {"energy.gaps", 3},
    {"energy.weather", 3},
    {"energy.forecast", 3},
    {"energy.prices", 3},
    {"energy.purchases", 3},
    {"energy.schedule", 3},
    {"energy.recommendations", 3},
    {"energy.control.commands", 3},
    {"energy.alerts", 3},
    {"energy.reports", 3},
    {"audit.events", 3},
};

/* Appends prefix+name with the given partition count; -1 when full or the
 * name is too long. */
static int db_topic_add(db_opts *o, const char *name, int partitions)
{
    db_topic *t;
    int n;

    if (o->ntopics >= DB_MAX_TOPICS) {
        db_log("error", "more than %d topics", DB_MAX_TOPICS);
        return -1;
    }
    t = &o->topics[o->ntopics];
    n = snprintf(t->name, sizeof(t->name), "%s%s", o->prefix, name);
    if (n < 0 || (size_t)n >= sizeof(t->name)) {
        db_log("error", "topic name '%s%s' too long", o->prefix, name);
        return -1;
    }
    t->partitions = partitions;
    o->ntopics++;
    return 0;
}

/* The suite's topics, each with a one-partition dead-letter topic. */
static int db_topics_builtin(db_opts *o)
{
    size_t n = sizeof(db_builtin_topics) / sizeof(db_builtin_topics[0]);
    char dlq[DB_NAME_MAX + 1];

    for (size_t i = 0; i < n; i++) {
        snprintf(dlq, sizeof(dlq), "%s.dlq", db_builtin_topics[i].name);
        if (db_topic_add(o, db_builtin_topics[i].name,
                         db_builtin_topics[i].partitions) != 0 ||
            db_topic_add(o, dlq, 1) != 0)
            return -1;
    }
    return 0;
}

/* Reads "name partitions" lines; blank lines and '#' comments are skipped.
 * Returns 0, or -1 after logging the file, line and reason. */
static int db_topics_load(db_opts *o, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512], name[DB_NAME_MAX + 1], extra[2];
    int lineno = 0, parts, rc = 0;

    if (!f) {
        db_log("error", "cannot open topics file '%s': %s", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *p = line + strspn(line, " \t");
        lineno++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        if (sscanf(p, "%249s %d %1s", name, &parts, extra) != 2 || parts < 1 ||
            parts > 1000) {
            db_log("error", "%s:%d: expected 'topic partitions' (1..1000)", path,
                   lineno);
            rc = -1;
        } else {
            rc = db_topic_add(o, name, parts);
        }
    }
    fclose(f);
    return rc;
}

/* Writes content to path atomically (ems_file_write_atomic: temporary file,
 * synced, renamed), so a reader never sees a half-written marker. */
static int db_write_file(const char *path, const char *content)
{
    char err[4200];

    if (ems_file_write_atomic(path, content, err, sizeof(err)) != 0) {
        db_log("error", "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void db_usage(FILE *out)
{
    fputs("usage: devbroker [--port N] [--brokers N] [--topics FILE]\n"
          "                 [--prefix P] [--pidfile FILE] [--ready-file FILE]\n"
          "  --port N        first broker's loopback port (default 19092)\n"
          "  --brokers N     number of brokers, on consecutive ports (1)\n"
          "  --topics FILE   'topic partitions' per line (default: the suite's"
          " topics)\n"
          "  --prefix P      prepended to every topic name\n"
          "  --pidfile FILE  write the process id here\n"
          "  --ready-file F  write the bootstrap servers here once listening\n"
          "  --control-port N  accept test commands on 127.0.0.1:N (fail or\n"
          "                  clear requests, docs/adr/0002; test stacks only)\n"
          "Each partition keeps only its newest 5 MiB of records (older ones\n"
          "are dropped silently); topics not listed are created on first use\n"
          "with 4 partitions.\n",
          out);
}

/* Parses a decimal integer in [min, max]; -1 when invalid. */
static int db_parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int db_parse_args(db_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"brokers", required_argument, NULL, 'b'},
        {"topics", required_argument, NULL, 't'},
        {"prefix", required_argument, NULL, 'x'},
        {"pidfile", required_argument, NULL, 'P'},
        {"ready-file", required_argument, NULL, 'r'},
        {"control-port", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (db_parse_int(optarg, 1, 65535, &o->port) != 0)
                return db_log("error", "invalid --port '%s'", optarg), -1;
            break;
        case 'b':
            if (db_parse_int(optarg, 1, 16, &o->brokers) != 0)
                return db_log("error", "invalid --brokers '%s' (1..16)", optarg), -1;
            break;
        case 't':
            o->topics_file = optarg;
            break;
        case 'x':
            o->prefix = optarg;
            break;
        case 'P':
            o->pidfile = optarg;
            break;
        case 'r':
            o->ready_file = optarg;
            break;
        case 'c':
            if (db_parse_int(optarg, 1, 65535, &o->control_port) != 0)
                return db_log("error", "invalid --control-port '%s'", optarg), -1;
            break;
        case 'h':
            db_usage(stdout);
            exit(0);
        default:
            db_usage(stderr);
            return -1;
        }
    }
    if (optind < argc)
        return db_log("error", "unexpected argument '%s'", argv[optind]), -1;
    if (o->port + o->brokers - 1 > 65535)
        return db_log("error", "--port + --brokers exceeds 65535"), -1;
    return 0;
}

/* The handle that owns the mock cluster; it never connects anywhere. */
static rd_kafka_t *db_handle_new(void)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        db_log("error", "cannot create handle: %s", errstr);
    }
    return rk;
}

static int db_create_topics(rd_kafka_mock_cluster_t *mc, const db_opts *o)
{
    int rf = o->brokers < 3 ? o->brokers : 3;

    for (int i = 0; i < o->ntopics; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
            mc, o->topics[i].name, o->topics[i].partitions, rf);
        if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            /* a client auto-created it in the moment since listening */
            db_log("warn", "topic '%s' was auto-created first", o->topics[i].name);
        } else if (err) {
            db_log("error", "cannot create topic '%s': %s", o->topics[i].name,
                   rd_kafka_err2str(err));
            return -1;
        }
    }
    return 0;
}

/* librdkafka 2.0 aborts when a mock listener cannot bind, so each port is
 * tried here first. Returns 0 when every port is free, -1 naming the first
 * one in use. */
static int db_ports_free(const db_opts *o)
{
    for (int i = 0; i < o->brokers; i++) {
        struct sockaddr_in sin;
        int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

        if (fd < 0)
            return db_log("error", "socket: %s", strerror(errno)), -1;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons((uint16_t)(o->port + i));
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        rc = bind(fd, (const struct sockaddr *)&sin, sizeof(sin));
        close(fd);
        if (rc != 0) {
            db_log("error", "cannot listen on 127.0.0.1:%d: %s", o->port + i,
                   strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void db_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = db_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int db_write_markers(const db_opts *o, const char *bootstraps)
{
    char buf[1024];

    if (o->pidfile) {
        snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
        if (db_write_file(o->pidfile, buf) != 0)
            return -1;
    }
    if (o->ready_file) {
        snprintf(buf, sizeof(buf), "%s\n", bootstraps);
        if (db_write_file(o->ready_file, buf) != 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    db_opts *o = calloc(1, sizeof(*o));
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    db_control *ctl = NULL;
    struct timespec nap = {0, 100 * 1000 * 1000};
    int rc = 1, marked = 0;

    if (!o)
        return 1;
    o->port = 19092;
    o->brokers = 1;
    o->prefix = "";
    if (db_parse_args(o, argc, argv) != 0)
        goto cleanup;
    if ((o->topics_file ? db_topics_load(o, o->topics_file) : db_topics_builtin(o)) !=
        0)
        goto cleanup;
    if (db_ports_free(o) != 0)
        goto cleanup;
    db_install_signals();
    if (!(rk = db_handle_new()))
        goto cleanup;
    db_base_port = o->port;
    mc = rd_kafka_mock_cluster_new(rk, o->brokers);
    if (!mc) {
        db_log("error", "cannot start %d broker(s) on 127.0.0.1:%d: port in use?",
               o->brokers, o->port);
        goto cleanup;
    }
    if (db_create_topics(mc, o) != 0)
        goto cleanup;
    if (o->control_port && !(ctl = db_control_new(mc, o->control_port)))
        goto cleanup;
    marked = 1; /* from here on the marker files are ours to remove */
    if (db_write_markers(o, rd_kafka_mock_cluster_bootstraps(mc)) != 0)
        goto cleanup;
    db_log("info",
           "listening on %s with %d topics; each partition keeps its "
           "newest 5 MiB of records",
           rd_kafka_mock_cluster_bootstraps(mc), o->ntopics);
    if (ctl)
        db_log("info", "control commands on 127.0.0.1:%d", o->control_port);
    while (!db_stop) {
        if (ctl)
            db_control_serve(ctl, 100);
        else
            nanosleep(&nap, NULL);
    }
    db_log("info", "stopping");
    rc = 0;
cleanup:
    db_control_destroy(ctl);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    if (marked && o->ready_file)
        unlink(o->ready_file);
    if (marked && o->pidfile)
        unlink(o->pidfile);
    free(o);
    return rc;
}
