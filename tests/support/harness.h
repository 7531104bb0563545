/* Plumbing shared by the integration tests (prefix th_): the test stack's
 * endpoints, unique names per run, temporary files, child processes (the
 * service under test, a private broker, a simulator), HTTP probes of a
 * child's /healthz, /readyz and /metrics, and reading a topic up to a
 * deadline.
 *
 * Every function runs in the test's own thread. Unless its comment says
 * otherwise, a function calls Check's ck_assert (which reports progress even
 * when it passes), so it belongs inside a Check test or fixture; "fails the
 * test" says when it aborts the test, the others report through their
 * return value. Every wait is bounded by a deadline the caller gives: no
 * function assumes a speed.
 */
#ifndef EMS_TESTS_HARNESS_H
#define EMS_TESTS_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus/bus.h"

/* ---- environment ---- */

/* The value of environment variable name. Fails the test when it is unset
 * or empty, saying how to start the test stack. */
const char *th_env(const char *name);
/* The value of name, or fallback when it is unset or empty. */
const char *th_env_or(const char *name, const char *fallback);

/* When name is not set yet: sets it to value and re-executes this binary
 * with argv, so that a library reading the variable when it is loaded (e.g.
 * libgomp's OMP_WAIT_POLICY) sees it. Returns only when name was already
 * set (or when the re-execution failed). Call first thing in main(). */
void th_reexec_with(char **argv, const char *name, const char *value);

/* ---- names, time, files ---- */

/* Writes "<stem><pid>-<seconds % 10^8>-<n><tail>" into buf and returns buf:
 * n counts the calls in this process, the pid and the start time tell runs
 * apart (a pid alone comes back on a broker that lives longer than the pid
 * space takes to wrap). For topic prefixes (tail "."), consumer groups and
 * subject names. No Check call: usable in main() too; a buf too small is a
 * bug of the test and aborts the process. */
const char *th_unique(char *buf, size_t size, const char *stem, const char *tail);

/* A loopback TCP port nobody listens on now (the kernel's choice; free
 * again once this returns). Fails the test when no socket can be had. */
int th_free_port(void);
/* A second free port different from other (e.g. two servers of one test). */
int th_free_port_except(int other);

/* Seconds on the monotonic clock, for deadlines. */
double th_mono_s(void);
/* Sleeps ms milliseconds (resumed after a signal). */
void th_sleep_ms(int ms);

/* Creates a fresh directory /tmp/ems-test-<stem>-XXXXXX, writes its path
 * into dir (at least 64 bytes) and returns dir. Fails the test on error. */
const char *th_tmpdir(char *dir, size_t size, const char *stem);
/* Removes dir and everything below it, unless EMS_TEST_KEEP is set (then
 * it is kept for a post-mortem). Returns 0, or -1 after naming on stderr
 * what could not be removed. */
int th_rmtree(const char *dir);

/* "<dir>/<name>" into buf; returns buf. Fails the test when it does not
 * fit. */
const char *th_path(char *buf, size_t size, const char *dir, const char *name);

/* Writes len bytes to path, replacing it atomically: through a hidden
 * temporary beside it and rename(), so a process polling the file never
 * reads it half written. Fails the test on error. */
void th_write_bytes(const char *path, const void *data, size_t len);
/* th_write_bytes() of a string. */
void th_write_file(const char *path, const char *text);
/* th_write_file() of printf-formatted text (a configuration file). */
void th_write_filef(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The whole file as a NUL-terminated string the caller frees; "" (also
 * allocated) when it cannot be read. Fails the test only when out of
 * memory. */
char *th_read_file(const char *path);
/* 1 when some line of the file at path contains needle, else 0 (also when
 * the file cannot be read). */
int th_file_has(const char *path, const char *needle);

/* ---- child processes ---- */

/* Extra environment of a child: up to TH_ENV_MAX "NAME=value" strings. */
#define TH_ENV_MAX 63
typedef struct th_env_list {
    char *v[TH_ENV_MAX + 1]; /* allocated, NULL-terminated */
    int n;
} th_env_list; /* zero-initialised: empty */

/* Appends the printf-formatted "NAME=value" to l; fails the test when l is
 * full. */
void th_env_add(th_env_list *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends the bus settings of a service on the test stack:
 * EMS_BUS_BOOTSTRAP (bootstrap, or EMS_TEST_BOOTSTRAP when NULL),
 * EMS_BUS_REGISTRY_URL, EMS_BUS_SCHEMA_DIR (EMS_TEST_ROOT/schemas) and
 * EMS_BUS_TOPIC_PREFIX (prefix). Fails the test when a variable is missing. */
void th_env_add_bus(th_env_list *l, const char *bootstrap, const char *prefix);
/* Frees the strings; l is empty again. */
void th_env_release(th_env_list *l);

typedef struct th_spawn_opts {
    /* argv[0] is the program: a path, or a name looked up in PATH. */
    const char *const *argv;
    /* Replaces any inherited variable of the same name; within env the last
     * setting of a name wins (may be NULL). */
    const th_env_list *env;
    int clean_ems;   /* drop every inherited EMS_* variable first */
    const char *cwd; /* directory the child runs in; NULL: this one's */
    /* Files stdout and stderr are appended to (created 0644). out NULL:
     * both inherited; err NULL: stderr goes where stdout goes. */
    const char *out;
    const char *err;
} th_spawn_opts;

/* "<EMS_TEST_BIN>/<name>" (a built binary) into buf; returns buf. Fails the
 * test when the variable is unset or the path does not fit. */
const char *th_bin(char *buf, size_t size, const char *name);
/* "<EMS_TEST_ROOT>/<rel>" (schemas, data, configuration of the source
 * tree) into buf; returns buf. Fails the test as th_bin(). */
const char *th_root(char *buf, size_t size, const char *rel);

/* Starts a child as opts says. It gets SIGTERM when this thread dies
 * (PR_SET_PDEATHSIG), so a crashed or killed test leaves no orphan; a child
 * that cannot start exits 127 (126: cwd is missing). Returns its pid; fails
 * the test when fork() fails. */
pid_t th_spawn(const th_spawn_opts *opts);
/* th_spawn() as most tests start a service or tool: argv with no inherited
 * EMS_* variable, plus env (may be NULL), stdout and stderr appended to
 * <dir>/<log>. */
pid_t th_spawn_logged(const char *dir, const char *log, const char *const *argv,
                      const th_env_list *env);
/* Sends SIGTERM to *pid, reaps it and sets *pid to 0. Returns its exit
 * code, 128 + the signal when a signal ended it, -1 when *pid <= 0. */
int th_stop(pid_t *pid);
/* 1 while pid runs, else 0. Does not reap it: th_stop() still gets the
 * exit status of a child that died. */
int th_alive(pid_t pid);
/* Fails the test with "<what> exited" when pid is no longer running. */
void th_assert_alive(pid_t pid, const char *what);
/* Waits up to timeout_s for file path to exist, failing the test when the
 * deadline passes or pid (if > 0) exits first. For --ready-file flags. */
void th_wait_file(const char *path, pid_t pid, double timeout_s);

/* ---- HTTP on loopback ---- */

typedef struct th_reply {
    long status; /* 0: nothing answered (refused, timed out) */
    char *body;  /* always a NUL-terminated allocated string */
    size_t len;
    char content_type[128]; /* the Content-Type header; "" when none */
} th_reply;

/* GET http://127.0.0.1:<port><path>, waiting at most timeout_s. Never fails
 * the test; the caller releases the reply. */
th_reply th_http_get(int port, const char *path, double timeout_s);
/* A request of method (GET, POST, PUT, ...) to url (a whole URL, any
 * host), sending body when not NULL with the header line header (e.g.
 * "Content-Type: application/json"; NULL for none), waiting at most
 * timeout_s. Never fails the test (status 0: nothing answered); the caller
 * releases the reply. */
th_reply th_http_request(const char *method, const char *url, const char *body,
                         const char *header, double timeout_s);
/* Frees the body; the reply may be released twice. */
void th_reply_release(th_reply *r);
/* Polls GET path every 100 ms until it answers status want with a body
 * containing every string of needles (NULL-terminated; NULL for none).
 * While waiting, pid (if > 0) must run. Returns that reply (the caller
 * releases it); after timeout_s fails the test with the last answer. */
th_reply th_wait_http(int port, const char *path, long want, const char *const *needles,
                      pid_t pid, double timeout_s);

/* The value of the sample name (labels as rendered, e.g.
 * "x_total{topic=\"energy.load\"}") in the Prometheus text of
 * http://127.0.0.1:<port>/metrics: the first line that starts with name
 * followed by a space. -1 when nothing answers or no such line is there.
 * Never fails the test. */
double th_metric(int port, const char *name);

typedef enum { TH_AT_LEAST, TH_EXACTLY } th_cmp;
/* Reads th_metric() every 100 ms until it is at least / exactly value, or
 * timeout_s passed; returns the last value read (-1: none). While waiting,
 * pid (if > 0) must run, else the test fails; the deadline itself does not
 * fail the test (the caller asserts on the value returned). */
double th_poll_metric(int port, const char *name, th_cmp cmp, double value, pid_t pid,
                      double timeout_s);
/* th_poll_metric(TH_AT_LEAST) that fails the test at the deadline, naming
 * the metric, its last value and the deadline. Returns the value. */
double th_wait_metric(int port, const char *name, double want, pid_t pid,
                      double timeout_s);

/* ---- the bus ---- */

/* A bus client with conf as given, where bootstrap, registry_url and
 * schema_dir left NULL come from EMS_TEST_BOOTSTRAP, EMS_TEST_REGISTRY and
 * EMS_TEST_ROOT/schemas. Fails the test when a variable is missing or
 * bus_new() refuses; the caller destroys the bus. */
bus_t *th_bus_new(const bus_conf_t *conf);
/* Sends one command line to the devbroker's control port
 * (EMS_TEST_BROKER_CONTROL, docs/adr/0002: "fail <api-key> <count>
 * <error-code>", "clear <api-key>") and fails the test unless it answers
 * "ok". */
void th_broker_control(const char *command);
/* Produces bytes that are no record in the wire format ("garbage") to topic
 * (under prefix) with key, and waits for their delivery: bad input a
 * service must dead-letter. Fails the test when the broker refuses. */
void th_produce_garbage(const char *prefix, const char *topic, const char *key);
/* A consumer of group on one logical topic; fails the test on error. */
bus_consumer_t *th_consumer(bus_t *bus, const char *group, const char *topic);

/* How th_consume() reads. Zero fields take the defaults named. */
typedef struct th_consume_opts {
    double timeout_s; /* deadline from the call (required) */
    int max;          /* records per poll; 0: 500 */
    int poll_ms;      /* wait of one poll; 0: 200 */
    int ack;          /* ack after every non-empty batch */
    pid_t alive;      /* > 0: this child must run while not done */
    /* Called on every record in order; nonzero: done at once (the rest of
     * the batch is neither read nor acked). May be NULL. */
    int (*each)(bus_record_t *rec, void *ctx);
    /* Called after every batch with its size; nonzero: done. May be NULL
     * (then only each, or the deadline, ends the reading). */
    int (*done)(int got, void *ctx);
    void *ctx;
} th_consume_opts;

/* Polls c until each or done says done (returns 1) or the deadline passes
 * (returns 0; the caller asserts). Fails the test when a poll or an ack
 * fails or the child of opts->alive exits. */
int th_consume(bus_consumer_t *c, const th_consume_opts *opts);
/* Polls c (up to max records a poll) until a non-empty batch arrives or
 * timeout_s passes. Returns the batch size (0 at the deadline); *batch is
 * the consumer's, valid until its next poll. Fails the test when a poll
 * fails. */
int th_poll_batch(bus_consumer_t *c, bus_record_t **batch, int max, double timeout_s);

/* ---- topics read raw (dead letters are not Avro) ---- */

/* librdkafka's handles, as librdkafka/rdkafka.h declares them: a test that
 * reads only what these functions return need not include it (its
 * <sys/socket.h> takes names such as send). */
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;

/* A plain librdkafka consumer of topic (its full name, prefix included)
 * in group, from the earliest offset, on the test stack's broker. The
 * caller ends it with th_raw_done(). Fails the test on error. */
rd_kafka_t *th_raw_consumer(const char *topic, const char *group);
/* Polls rk until want messages arrived (into out) or timeout_s passed;
 * returns how many arrived. Failed polls are passed over. */
int th_raw_read(rd_kafka_t *rk, rd_kafka_message_t **out, int want, double timeout_s);
/* Destroys msgs[0..n), then closes and destroys rk. */
void th_raw_done(rd_kafka_t *rk, rd_kafka_message_t **msgs, int n);
/* The last header name of m, into buf (cut to size); NULL without one. */
const char *th_header(const rd_kafka_message_t *m, const char *name, char *buf,
                      size_t size);

/* ---- Avro values ---- */

/* Field name of record v into *f; fails the test when v has no such field. */
void th_field(avro_value_t *v, const char *name, avro_value_t *f);
/* The double of an optional (["null", "double"]) field; *has (if not NULL)
 * tells whether it was set; NAN when null. */
double th_opt_double(avro_value_t *v, const char *name, int *has);
/* The string of an optional (["null", "string"]) field, borrowed from v;
 * "" when null. */
const char *th_opt_string(avro_value_t *v, const char *name);
/* Sets an optional double field to x, or to null when !has. */
void th_set_opt_double(avro_value_t *v, const char *name, int has, double x);
/* Set field name of record v to a value, or an optional (["null", T])
 * field to its value branch; fail the test when v has no such field or
 * the value is not of its type. */
void th_set_str(avro_value_t *v, const char *name, const char *s);
void th_set_long(avro_value_t *v, const char *name, int64_t x);
void th_set_int(avro_value_t *v, const char *name, int32_t x);
void th_set_dbl(avro_value_t *v, const char *name, double x);
void th_set_bool(avro_value_t *v, const char *name, int x);
/* Sets an optional field to null; fails the test as th_set_str(). */
void th_set_null(avro_value_t *v, const char *name);

/* ---- running a suite ---- */

/* Runs every test of s (CK_NORMAL output), in this process when nofork
 * (children started by a test are then this process's, so teardown can
 * reap them whatever the outcome), else in Check's default mode. Frees
 * the runner; returns EXIT_SUCCESS or EXIT_FAILURE for main(). */
int th_run_suite(Suite *s, int nofork);
/* Adds to s a test case `name` holding test alone, with setup and
 * teardown as its checked fixture and a bound of timeout_s seconds. */
void th_suite_add_case(Suite *s, const char *name, const TTest *test,
                       void (*setup)(void), void (*teardown)(void), int timeout_s);

#endif
