/* Plumbing shared by the integration tests; see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- environment ---- */

const char *th_env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v,
                  "%s is not set (start the stack: tools/stack/stack.sh up --test)",
                  name);
    return v;
}

const char *th_env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

void th_reexec_with(char **argv, const char *name, const char *value)
{
    if (getenv(name))
        return;
    setenv(name, value, 1);
    execv("/proc/self/exe", argv);
}

/* ---- names, time, files ---- */

const char *th_unique(char *buf, size_t size, const char *stem, const char *tail)
{
    static unsigned calls;
    long id = (long)time(NULL) % 100000000L;
    int n = snprintf(buf, size, "%s%d-%ld-%u%s", stem, (int)getpid(), id, calls++,
                     tail ? tail : "");
    if (n <= 0 || (size_t)n >= size) { /* a bug of the test: stop at once */
        fprintf(stderr, "th_unique: name '%s...' does not fit in %zu bytes\n", stem,
                size);
        abort();
    }
    return buf;
}

static int kernel_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The kernel may hand the same free port out twice in a row (nothing holds
 * it between the calls), and a test that asks for two ports (an MQTT
 * broker's and the gateway's HTTP port) then starts both on one: the
 * second fails to bind, or a client talks to the wrong server. So a port
 * handed out recently by this process is never handed out again. */
int th_free_port(void)
{
    static int recent[32];
    static unsigned next;
    for (;;) {
        int p = kernel_free_port(), seen = 0;
        for (size_t i = 0; i < sizeof recent / sizeof recent[0]; i++)
            seen |= recent[i] == p;
        if (!seen) {
            recent[next++ % (sizeof recent / sizeof recent[0])] = p;
            return p;
        }
    }
}

int th_free_port_except(int other)
{
    int p;
    while ((p = th_free_port()) == other)
        ;
    return p;
}

double th_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void th_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const char *th_tmpdir(char *dir, size_t size, const char *stem)
{
    int n = snprintf(dir, size, "/tmp/ems-test-%s-XXXXXX", stem);
    ck_assert_msg(n > 0 && (size_t)n < size, "directory name too long for '%s'", stem);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp '%s': %s", dir, strerror(errno));
    return dir;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    if (remove(path) != 0) {
        fprintf(stderr, "cannot remove '%s': %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int th_rmtree(const char *dir)
{
    if (!dir || !*dir || getenv("EMS_TEST_KEEP"))
        return 0;
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

const char *th_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    ck_assert_msg(n > 0 && (size_t)n < size, "path '%s/%s' too long", dir, name);
    return buf;
}

const char *th_bin(char *buf, size_t size, const char *name)
{
    return th_path(buf, size, th_env("EMS_TEST_BIN"), name);
}

const char *th_root(char *buf, size_t size, const char *rel)
{
    return th_path(buf, size, th_env("EMS_TEST_ROOT"), rel);
}

void th_write_bytes(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path + 1) : 0;
    int n = snprintf(tmp, sizeof tmp, "%.*s.%s.tmp", dl, path, path + dl);
    ck_assert_msg(n > 0 && (size_t)n < sizeof tmp, "path '%s' too long", path);
    FILE *f = fopen(tmp, "wb");
    ck_assert_msg(f != NULL, "cannot write '%s': %s", tmp, strerror(errno));
    size_t put = fwrite(data, 1, len, f);
    ck_assert_msg(fclose(f) == 0 && put == len, "cannot write '%s'", tmp);
    ck_assert_msg(rename(tmp, path) == 0, "rename to '%s': %s", path, strerror(errno));
}

void th_write_file(const char *path, const char *text)
{
    th_write_bytes(path, text, strlen(text));
}

void th_write_filef(const char *path, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0, "out of memory formatting '%s'", path);
    th_write_bytes(path, text, (size_t)n);
    free(text);
}

char *th_read_file(const char *path)
{
    char *buf = NULL;
    size_t len = 0, cap = 0, k = 1;
    FILE *f = fopen(path, "rb");
    while (f && k > 0) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(buf, cap);
            ck_assert_ptr_nonnull(grown);
            buf = grown;
        }
        k = fread(buf + len, 1, cap - len - 1, f);
        len += k;
    }
    if (f)
        fclose(f);
    if (!buf) {
        buf = strdup("");
        ck_assert_ptr_nonnull(buf);
    }
    buf[len] = '\0';
    return buf;
}

int th_file_has(const char *path, const char *needle)
{
    char line[4096];
    int found = 0;
    FILE *f = fopen(path, "r");
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* ---- child processes ---- */

void th_env_add(th_env_list *l, const char *fmt, ...)
{
    va_list ap;
    ck_assert_msg(l->n < TH_ENV_MAX, "more than %d variables", TH_ENV_MAX);
    va_start(ap, fmt);
    int n = vasprintf(&l->v[l->n], fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0, "out of memory");
    l->v[++l->n] = NULL;
}

void th_env_add_bus(th_env_list *l, const char *bootstrap, const char *prefix)
{
    th_env_add(l, "EMS_BUS_BOOTSTRAP=%s",
               bootstrap ? bootstrap : th_env("EMS_TEST_BOOTSTRAP"));
    th_env_add(l, "EMS_BUS_REGISTRY_URL=%s", th_env("EMS_TEST_REGISTRY"));
    th_env_add(l, "EMS_BUS_SCHEMA_DIR=%s/schemas", th_env("EMS_TEST_ROOT"));
    th_env_add(l, "EMS_BUS_TOPIC_PREFIX=%s", prefix);
}

void th_env_release(th_env_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
    l->v[0] = NULL;
}

static int env_named(const char *entry, const th_env_list *over)
{
    for (int i = 0; over && i < over->n; i++) {
        size_t n = strcspn(over->v[i], "=");
        if (strncmp(entry, over->v[i], n) == 0 && entry[n] == '=')
            return 1;
    }
    return 0;
}

/* Whether a later entry of l than entry i sets the same variable. */
static int env_set_later(const th_env_list *l, int i)
{
    size_t n = strcspn(l->v[i], "=");
    for (int j = i + 1; j < l->n; j++)
        if (strncmp(l->v[j], l->v[i], n + 1) == 0)
            return 1;
    return 0;
}

/* The child's environment, built before fork() (no allocation in the child
 * of a process that may run librdkafka threads): the inherited variables
 * that opts does not replace, then opts' own, where the last setting of a
 * name wins. The array is the caller's to free; its strings are borrowed. */
static char **child_env(const th_spawn_opts *o)
{
    size_t n = 0, k = 0;
    for (char **e = environ; *e; e++)
        n++;
    n += o->env ? (size_t)o->env->n : 0;
    char **envp = calloc(n + 1, sizeof *envp);
    ck_assert_ptr_nonnull(envp);
    for (char **e = environ; *e; e++)
        if (!(o->clean_ems && strncmp(*e, "EMS_", 4) == 0) && !env_named(*e, o->env))
            envp[k++] = *e;
    for (int i = 0; o->env && i < o->env->n; i++)
        if (!env_set_later(o->env, i))
            envp[k++] = o->env->v[i];
    envp[k] = NULL;
    return envp;
}

static void redirect(const char *path, int fd)
{
    int f = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (f >= 0) {
        dup2(f, fd);
        close(f);
    }
}

pid_t th_spawn(const th_spawn_opts *o)
{
    ck_assert(o->argv && o->argv[0]);
    char **envp = child_env(o);
    pid_t parent = getpid();
    pid_t pid = fork();
    /* The child must not touch Check (no ck_assert before exec): it shares
     * the runner's message file, and a record written from here lands
     * in the middle of the test's own ("Bad message type"). */
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* no orphan if the test dies */
        if (getppid() != parent)
            _exit(127); /* the test died before prctl() */
        if (o->out)
            redirect(o->out, 1);
        if (o->out || o->err)
            redirect(o->err ? o->err : o->out, 2);
        if (o->cwd && chdir(o->cwd) != 0)
            _exit(126);
        /* Nothing of the test process beyond stdio reaches the program
         * under test: in particular not Check's message file. */
        close_range(3, ~0U, 0);
        execvpe(o->argv[0], (char *const *)o->argv, envp);
        _exit(127);
    }
    int fork_errno = errno;
    free(envp);
    ck_assert_msg(pid > 0, "fork: %s", strerror(fork_errno));
    return pid;
}

pid_t th_spawn_logged(const char *dir, const char *log, const char *const *argv,
                      const th_env_list *env)
{
    char path[1024];
    th_path(path, sizeof path, dir, log);
    return th_spawn(
        &(th_spawn_opts){.argv = argv, .env = env, .clean_ems = 1, .out = path});
}

int th_stop(pid_t *pid)
{
    int st = 0;
    if (*pid <= 0)
        return -1;
    kill(*pid, SIGTERM);
    waitpid(*pid, &st, 0);
    *pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int th_alive(pid_t pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (pid <= 0 || waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return 0;
    return info.si_pid == 0;
}

void th_assert_alive(pid_t pid, const char *what)
{
    ck_assert_msg(th_alive(pid), "%s exited", what);
}

void th_wait_file(const char *path, pid_t pid, double timeout_s)
{
    double end = th_mono_s() + timeout_s;
    while (access(path, F_OK) != 0) {
        ck_assert_msg(th_mono_s() < end, "%s never appeared", path);
        if (pid > 0)
            ck_assert_msg(th_alive(pid), "%s: process exited", path);
        th_sleep_ms(100);
    }
}

/* ---- HTTP on loopback ---- */

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    th_reply *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, sz * n);
    r->body = nb;
    r->len += sz * n;
    nb[r->len] = '\0';
    return sz * n;
}

/* The status and content type of the answer c received. */
static void get_answer(CURL *c, th_reply *r)
{
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->content_type, sizeof r->content_type, "%s", ct ? ct : "");
}

th_reply th_http_get(int port, const char *path, double timeout_s)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    return th_http_request("GET", url, NULL, NULL, timeout_s);
}

th_reply th_http_request(const char *method, const char *url, const char *body,
                         const char *header, double timeout_s)
{
    th_reply r = {0};
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();
    if (c && body && header)
        h = curl_slist_append(NULL, header);
    if (c && (!body || !header || h)) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        if (curl_easy_perform(c) == CURLE_OK)
            get_answer(c, &r);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.body = r.body ? r.body : strdup("");
    ck_assert_ptr_nonnull(r.body);
    return r;
}

void th_reply_release(th_reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static int has_all(const char *body, const char *const *needles)
{
    for (size_t i = 0; needles && needles[i]; i++)
        if (!strstr(body, needles[i]))
            return 0;
    return 1;
}

th_reply th_wait_http(int port, const char *path, long want, const char *const *needles,
                      pid_t pid, double timeout_s)
{
    double end = th_mono_s() + timeout_s;
    for (;;) {
        if (pid > 0)
            ck_assert_msg(th_alive(pid), "the service exited while waiting for %s",
                          path);
        th_reply r = th_http_get(port, path, 30);
        if (r.status == want && has_all(r.body, needles))
            return r;
        if (th_mono_s() >= end) {
            ck_abort_msg("%s: %ld '%s' after %.0f s, expected %ld with '%s'%s", path,
                         r.status, r.body, timeout_s, want,
                         needles && needles[0] ? needles[0] : "",
                         needles && needles[0] && needles[1] ? " and more" : "");
        }
        th_reply_release(&r);
        th_sleep_ms(100);
    }
}

double th_metric(int port, const char *name)
{
    th_reply r = th_http_get(port, "/metrics", 30);
    size_t nl = strlen(name);
    double v = -1;
    if (r.status == 200)
        for (char *p = r.body; (p = strstr(p, name)) != NULL; p += nl)
            if ((p == r.body || p[-1] == '\n') && p[nl] == ' ') {
                v = atof(p + nl + 1);
                break;
            }
    th_reply_release(&r);
    return v;
}

static int cmp_ok(double got, th_cmp cmp, double value)
{
    return got >= 0 && (cmp == TH_AT_LEAST ? got >= value : got == value);
}

double th_poll_metric(int port, const char *name, th_cmp cmp, double value, pid_t pid,
                      double timeout_s)
{
    double end = th_mono_s() + timeout_s, got;
    while (!cmp_ok(got = th_metric(port, name), cmp, value) && th_mono_s() < end) {
        if (pid > 0)
            ck_assert_msg(th_alive(pid), "the service exited while waiting for %s",
                          name);
        th_sleep_ms(100);
    }
    return got;
}

double th_wait_metric(int port, const char *name, double want, pid_t pid,
                      double timeout_s)
{
    double got = th_poll_metric(port, name, TH_AT_LEAST, want, pid, timeout_s);
    ck_assert_msg(got >= want, "%s: %g after %.0f s, expected at least %g", name, got,
                  timeout_s, want);
    return got;
}

/* ---- the bus ---- */

/* Connects to "host:port" (an IPv4 address) with a 10 s receive timeout. */
static int th_connect_tcp(const char *hostport)
{
    struct timeval tv = {10, 0};
    struct sockaddr_in sin = {.sin_family = AF_INET};
    char host[64];
    int port, fd;

    ck_assert_msg(sscanf(hostport, "%63[^:]:%d", host, &port) == 2 &&
                      inet_pton(AF_INET, host, &sin.sin_addr) == 1,
                  "not an IPv4 host:port: '%s'", hostport);
    sin.sin_port = htons((uint16_t)port);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
                  "connect to the devbroker's control port %s: %s", hostport,
                  strerror(errno));
    return fd;
}

void th_broker_control(const char *command)
{
    const char *where = th_env("EMS_TEST_BROKER_CONTROL");
    char line[256], reply[256] = "";
    size_t got = 0;
    ssize_t n;
    int fd = th_connect_tcp(where);

    snprintf(line, sizeof(line), "%s\n", command);
    ck_assert_msg(write(fd, line, strlen(line)) == (ssize_t)strlen(line),
                  "write to %s: %s", where, strerror(errno));
    while (got < sizeof(reply) - 1 && !memchr(reply, '\n', got) &&
           (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    reply[got] = '\0';
    ck_assert_msg(strcmp(reply, "ok\n") == 0, "devbroker control '%s': %s", command,
                  got ? reply : "no reply");
}

bus_t *th_bus_new(const bus_conf_t *conf)
{
    /* a test's reader often subscribes before the service under test has
     * created the topic; librdkafka sees a new topic only at its next
     * metadata refresh, every 5 minutes by default */
    static const char *const quick_metadata[] = {"topic.metadata.refresh.interval.ms",
                                                 "1000", NULL};
    char schemas[1024], err[512];
    bus_conf_t bc = *conf;
    if (!bc.kafka_props)
        bc.kafka_props = quick_metadata;
    if (!bc.bootstrap)
        bc.bootstrap = th_env("EMS_TEST_BOOTSTRAP");
    if (!bc.registry_url)
        bc.registry_url = th_env("EMS_TEST_REGISTRY");
    if (!bc.schema_dir) {
        bc.schema_dir = th_root(schemas, sizeof schemas, "schemas");
    }
    bus_t *b = bus_new(&bc, err, sizeof err); /* copies the strings */
    ck_assert_msg(b != NULL, "%s", err);
    return b;
}

void th_produce_garbage(const char *prefix, const char *topic, const char *key)
{
    bus_t *b = th_bus_new(&(bus_conf_t){.topic_prefix = prefix});
    char err[512];
    bus_producer_t *p = bus_producer_new(b, err, sizeof err);

    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_msg(bus_produce_raw(p, topic, key, strlen(key), "garbage", 7, NULL, err,
                                  sizeof err) == 0,
                  "%s", err);
    ck_assert_msg(bus_producer_flush(p, 30000, err, sizeof err) == 0, "%s", err);
    bus_producer_destroy(p);
    bus_destroy(b);
}

bus_consumer_t *th_consumer(bus_t *bus, const char *group, const char *topic)
{
    char err[512];
    const char *topics[] = {topic};
    bus_consumer_t *c = bus_consumer_new(bus, group, topics, 1, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

int th_consume(bus_consumer_t *c, const th_consume_opts *o)
{
    char err[512];
    double end = th_mono_s() + o->timeout_s;
    while (th_mono_s() < end) {
        bus_record_t *batch;
        int got = bus_consumer_poll(c, &batch, o->max > 0 ? o->max : 500,
                                    o->poll_ms > 0 ? o->poll_ms : 200, err, sizeof err);
        ck_assert_msg(got >= 0, "%s", err);
        for (int i = 0; o->each && i < got; i++)
            if (o->each(&batch[i], o->ctx))
                return 1;
        if (o->ack && got > 0)
            ck_assert_msg(bus_consumer_ack(c, err, sizeof err) == 0, "%s", err);
        if (o->done && o->done(got, o->ctx))
            return 1;
        if (o->alive > 0)
            ck_assert_msg(th_alive(o->alive), "the service exited while reading");
    }
    return 0;
}

int th_poll_batch(bus_consumer_t *c, bus_record_t **batch, int max, double timeout_s)
{
    char err[512];
    double end = th_mono_s() + timeout_s;
    int n = 0;
    while (n == 0 && th_mono_s() < end) {
        n = bus_consumer_poll(c, batch, max, 500, err, sizeof err);
        ck_assert_msg(n >= 0, "%s", err);
    }
    return n;
}

/* ---- topics read raw ---- */

rd_kafka_t *th_raw_consumer(const char *topic, const char *group)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    char err[512];

    rd_kafka_conf_set(conf, "bootstrap.servers", th_env("EMS_TEST_BOOTSTRAP"), NULL, 0);
    rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ck_assert_msg(rk != NULL, "%s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    ck_assert_int_eq(rd_kafka_subscribe(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

int th_raw_read(rd_kafka_t *rk, rd_kafka_message_t **out, int want, double timeout_s)
{
    double end = th_mono_s() + timeout_s;
    int n = 0;

    while (n < want && th_mono_s() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m && !m->err)
            out[n++] = m;
        else if (m)
            rd_kafka_message_destroy(m);
    }
    return n;
}

void th_raw_done(rd_kafka_t *rk, rd_kafka_message_t **msgs, int n)
{
    for (int i = 0; i < n; i++)
        rd_kafka_message_destroy(msgs[i]);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

const char *th_header(const rd_kafka_message_t *m, const char *name, char *buf,
                      size_t size)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;

    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len))
        return NULL;
    snprintf(buf, size, "%.*s", (int)len, (const char *)v);
    return buf;
}

/* ---- Avro values ---- */

void th_field(avro_value_t *v, const char *name, avro_value_t *f)
{
    ck_assert_msg(avro_value_get_by_name(v, name, f, NULL) == 0, "no field '%s'", name);
}

double th_opt_double(avro_value_t *v, const char *name, int *has)
{
    avro_value_t f, b;
    int d = 0;
    double x = NAN;
    th_field(v, name, &f);
    ck_assert_int_eq(avro_value_get_discriminant(&f, &d), 0);
    if (d == 1) {
        ck_assert_int_eq(avro_value_get_current_branch(&f, &b), 0);
        ck_assert_int_eq(avro_value_get_double(&b, &x), 0);
    }
    if (has)
        *has = d == 1;
    return x;
}

const char *th_opt_string(avro_value_t *v, const char *name)
{
    avro_value_t f, b;
    const char *s = NULL;
    size_t len;
    th_field(v, name, &f);
    ck_assert(avro_value_get_current_branch(&f, &b) == 0);
    if (avro_value_get_type(&b) == AVRO_NULL)
        return "";
    ck_assert_int_eq(avro_value_get_string(&b, &s, &len), 0);
    return s ? s : "";
}

void th_set_opt_double(avro_value_t *v, const char *name, int has, double x)
{
    avro_value_t f, b;
    th_field(v, name, &f);
    ck_assert_int_eq(avro_value_set_branch(&f, has ? 1 : 0, &b), 0);
    if (has)
        ck_assert_int_eq(avro_value_set_double(&b, x), 0);
    else
        ck_assert_int_eq(avro_value_set_null(&b), 0);
}

/* The value of field name to set: the field itself, or the value branch
 * of an optional field. */
static avro_value_t settable(avro_value_t *v, const char *name)
{
    avro_value_t f, b;
    th_field(v, name, &f);
    if (avro_value_get_type(&f) != AVRO_UNION)
        return f;
    ck_assert_msg(avro_value_set_branch(&f, 1, &b) == 0, "'%s' has no value branch",
                  name);
    return b;
}

void th_set_str(avro_value_t *v, const char *name, const char *s)
{
    avro_value_t f = settable(v, name);
    ck_assert_msg(avro_value_set_string(&f, s) == 0, "'%s' takes no string", name);
}

void th_set_long(avro_value_t *v, const char *name, int64_t x)
{
    avro_value_t f = settable(v, name);
    ck_assert_msg(avro_value_set_long(&f, x) == 0, "'%s' takes no long", name);
}

void th_set_int(avro_value_t *v, const char *name, int32_t x)
{
    avro_value_t f = settable(v, name);
    ck_assert_msg(avro_value_set_int(&f, x) == 0, "'%s' takes no int", name);
}

void th_set_dbl(avro_value_t *v, const char *name, double x)
{
    avro_value_t f = settable(v, name);
    ck_assert_msg(avro_value_set_double(&f, x) == 0, "'%s' takes no double", name);
}

void th_set_bool(avro_value_t *v, const char *name, int x)
{
    avro_value_t f = settable(v, name);
    ck_assert_msg(avro_value_set_boolean(&f, x) == 0, "'%s' takes no boolean", name);
}

void th_set_null(avro_value_t *v, const char *name)
{
    avro_value_t f, b;
    th_field(v, name, &f);
    ck_assert_msg(avro_value_set_branch(&f, 0, &b) == 0 && avro_value_set_null(&b) == 0,
                  "'%s' takes no null", name);
}

/* ---- running a suite ---- */

void th_suite_add_case(Suite *s, const char *name, const TTest *test,
                       void (*setup)(void), void (*teardown)(void), int timeout_s)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, timeout_s);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

int th_run_suite(Suite *s, int nofork)
{
    SRunner *sr = srunner_create(s);
    if (nofork)
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose names each test */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
