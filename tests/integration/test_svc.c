/* Integration tests for the service skeleton: runs build/bin/svc-example
 * against the test stack (EMS_TEST_BOOTSTRAP, EMS_TEST_REGISTRY,
 * EMS_TEST_ROOT, EMS_TEST_BIN) and probes it from outside. */
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "bus/bus.h"

extern char **environ;

static char dir[64];

static const char *env(const char *k)
{
    const char *v = getenv(k);
    ck_assert_msg(v && *v, "%s is not set", k);
    return v;
}

static void path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ems-test-svc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    curl_global_cleanup();
}

/* A port the kernel just gave out; free again once the socket closes. */
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

/* Writes the example's config; extra is appended verbatim. */
static void write_config(const char *name, const char *bootstrap, int port,
                         const char *extra)
{
    char path[128], state[128];
    path_in(path, sizeof path, name);
    path_in(state, sizeof state, "audit.state");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "log:\n  level: debug\n"
            "http:\n  listen: 127.0.0.1\n  port: %d\n"
            "bus:\n  bootstrap: %s\n  registry_url: %s\n  schema_dir: %s/schemas\n"
            "  flush_timeout: 5s\n"
            "plant:\n  path: %s/tools/stack/plant.yaml\n"
            "audit:\n  state_file: %s\n  instance: test-1\n"
            "%s",
            port, bootstrap, env("EMS_TEST_REGISTRY"), env("EMS_TEST_ROOT"),
            env("EMS_TEST_ROOT"), state, extra ? extra : "");
    fclose(f);
}

/* Starts svc-example with args, stdout/stderr into out/err files in dir, and
 * an environment without EMS_* overrides from the test harness. */
static pid_t spawn(const char *const *args, const char *out, const char *err)
{
    char bin[512], outp[128], errp[128];
    snprintf(bin, sizeof bin, "%s/svc-example", env("EMS_TEST_BIN"));
    path_in(outp, sizeof outp, out);
    path_in(errp, sizeof errp, err);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *argv[16] = {bin};
        int n = 1;
        for (; args && args[n - 1] && n < 15; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        char *clean[256];
        int k = 0;
        for (char **e = environ; *e && k < 255; e++)
            if (strncmp(*e, "EMS_", 4) != 0)
                clean[k++] = *e;
        clean[k] = NULL;
        int fo = open(outp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int fe = open(errp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        execve(bin, argv, clean);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "child did not exit normally (status %d)", st);
    return WEXITSTATUS(st);
}

static char *slurp(const char *name)
{
    char path[128];
    path_in(path, sizeof path, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

typedef struct reply {
    long status;
    char *body;
    size_t len;
} reply_t;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    reply_t *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    memcpy(nb + r->len, p, sz * n);
    r->body = nb;
    r->len += sz * n;
    nb[r->len] = '\0';
    return sz * n;
}

/* GET; status 0 when nothing answers. */
static reply_t get(int port, const char *path)
{
    reply_t r = {0};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    if (!r.body)
        r.body = strdup("");
    return r;
}

/* Polls path until it answers want (bounded: 60 s), returning the reply. */
static reply_t await(int port, const char *path, long want, pid_t pid)
{
    for (int i = 0; i < 600; i++) {
        reply_t r = get(port, path);
        if (r.status == want)
            return r;
        free(r.body);
        ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0, "service exited early");
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("%s never answered %ld", path, want);
    return (reply_t){0};
}

/* Splits text into lines (in place) and verifies the audit chain. */
static size_t verify_audit(char *text)
{
    const char *lines[64];
    size_t n = 0, bad = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < 64;
         l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    char err[256] = "";
    ck_assert_msg(audit_verify_chain(lines, n, &bad, err, sizeof err) == 0,
                  "line %zu: %s", bad, err);
    return n;
}

static void run_and_stop(int port, const char *cfg, int expect_events)
{
    char cfgp[128];
    path_in(cfgp, sizeof cfgp, cfg);
    const char *args[] = {"--config", cfgp, NULL};
    pid_t pid = spawn(args, "out.log", "err.log");
    reply_t r = await(port, "/healthz", 200, pid);
    ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"ok\""));
    free(r.body);
    r = await(port, "/readyz", 200, pid);
    ck_assert_msg(strstr(r.body, "\"bus\":{\"ok\":true}") != NULL, "%s", r.body);
    free(r.body);
    r = get(port, "/metrics");
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "ems_build_info{version=\""));
    ck_assert_ptr_nonnull(
        strstr(r.body, "# TYPE ems_process_resident_memory_bytes gauge"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "# TYPE ems_process_start_time_seconds gauge"));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE ems_example_ticks_total counter"));
    ck_assert_ptr_nonnull(strstr(r.body, "ems_audit_events_total 1\n"));
    free(r.body);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    char *err = slurp("err.log");
    ck_assert_msg(wait_exit(pid) == 0, "exit code, stderr: %s", err);
    free(err);
    err = slurp("err.log");
    ck_assert_msg(strstr(err, "stopped cleanly") != NULL, "%s", err);
    free(err);
    char *out = slurp("out.log");
    ck_assert_int_eq(verify_audit(out), (size_t)expect_events);
    free(out);
}

START_TEST(test_serves_health_and_stops_cleanly)
{
    int port = free_port();
    write_config("svc.yaml", env("EMS_TEST_BOOTSTRAP"), port, NULL);
    run_and_stop(port, "svc.yaml", 2); /* service.start, service.stop */
    /* A restart continues the audit chain from the state file: the stdout of
     * both runs verifies as one chain. */
    run_and_stop(port, "svc.yaml", 4);
}
END_TEST

START_TEST(test_audit_events_reach_the_bus)
{
    int port = free_port();
    write_config("svc.yaml", env("EMS_TEST_BOOTSTRAP"), port, NULL);
    run_and_stop(port, "svc.yaml", 2);
    char err[512], schemas[512];
    snprintf(schemas, sizeof schemas, "%s/schemas", env("EMS_TEST_ROOT"));
    bus_conf_t bc = {.bootstrap = env("EMS_TEST_BOOTSTRAP"),
                     .registry_url = env("EMS_TEST_REGISTRY"),
                     .schema_dir = schemas};
    bus_t *bus = bus_new(&bc, err, sizeof err);
    ck_assert_msg(bus != NULL, "%s", err);
    const char *topics[] = {"audit.events"};
    char group[96];
    snprintf(group, sizeof group, "test-svc-%d", (int)getpid());
    bus_consumer_t *c = bus_consumer_new(bus, group, topics, 1, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    int found = 0;
    for (int i = 0; i < 60 && found < 2; i++) {
        bus_record_t *batch;
        int n = bus_consumer_poll(c, &batch, 100, 500, err, sizeof err);
        ck_assert_msg(n >= 0, "%s", err);
        for (int k = 0; k < n; k++) {
            avro_value_t f;
            const char *s = NULL;
            size_t len;
            avro_value_get_by_name(&batch[k].value, "instance", &f, NULL);
            avro_value_get_string(&f, &s, &len);
            if (s && strcmp(s, "test-1") == 0)
                found++;
        }
    }
    ck_assert_int_ge(found, 2);
    bus_consumer_destroy(c);
    bus_destroy(bus);
}
END_TEST

START_TEST(test_dump_config_masks_secrets)
{
    write_config("svc.yaml", "127.0.0.1:9", free_port(),
                 "example:\n  token: s3cret-token\n");
    char cfgp[128];
    path_in(cfgp, sizeof cfgp, "svc.yaml");
    const char *args[] = {"--config", cfgp, "--dump-config", NULL};
    ck_assert_int_eq(wait_exit(spawn(args, "dump.out", "dump.err")), 0);
    char *out = slurp("dump.out");
    ck_assert_ptr_null(strstr(out, "s3cret-token"));
    ck_assert_msg(strstr(out, "***") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "127.0.0.1:9") != NULL, "%s", out);
    free(out);
}
END_TEST

START_TEST(test_bad_config_names_file_and_line)
{
    write_config("bad.yaml", env("EMS_TEST_BOOTSTRAP"), free_port(),
                 "example:\n  no_such_key: 1\n");
    char cfgp[128], want[160];
    path_in(cfgp, sizeof cfgp, "bad.yaml");
    const char *args[] = {"--config", cfgp, NULL};
    ck_assert_int_eq(wait_exit(spawn(args, "bad.out", "bad.err")), 2);
    char *err = slurp("bad.err");
    snprintf(want, sizeof want, "%s:17", cfgp); /* line of no_such_key */
    ck_assert_msg(strstr(err, want) != NULL, "want '%s' in: %s", want, err);
    ck_assert_msg(strstr(err, "no_such_key") != NULL, "%s", err);
    ck_assert_int_eq((int)(strchr(err, '\n') - err + 1),
                     (int)strlen(err)); /* one line */
    free(err);
}
END_TEST

START_TEST(test_unreachable_broker_fails_start)
{
    write_config("svc.yaml", "127.0.0.1:1", free_port(), NULL);
    char cfgp[128];
    path_in(cfgp, sizeof cfgp, "svc.yaml");
    const char *args[] = {"--config", cfgp, NULL};
    int rc = wait_exit(spawn(args, "u.out", "u.err"));
    ck_assert_int_ne(rc, 0);
    char *err = slurp("u.err");
    ck_assert_msg(strstr(err, "127.0.0.1:1") != NULL, "%s", err);
    free(err);
}
END_TEST

static const struct {
    const char *arg;
    int rc;
    const char *out_has;
} arg_cases[] = {
    {"--version", 0, "svc-example "},
    {"--help", 0, "--dump-config"},
    {"--bogus", 2, NULL},
};

START_TEST(test_arguments)
{
    const char *args[] = {arg_cases[_i].arg, NULL};
    ck_assert_int_eq(wait_exit(spawn(args, "a.out", "a.err")), arg_cases[_i].rc);
    if (arg_cases[_i].out_has) {
        char *out = slurp("a.out");
        ck_assert_msg(strstr(out, arg_cases[_i].out_has) != NULL, "%s", out);
        free(out);
    }
}
END_TEST

static Suite *svc_suite(void)
{
    Suite *s = suite_create("svc");
    TCase *tc = tcase_create("example");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_serves_health_and_stops_cleanly);
    tcase_add_test(tc, test_audit_events_reach_the_bus);
    tcase_add_test(tc, test_dump_config_masks_secrets);
    tcase_add_test(tc, test_bad_config_names_file_and_line);
    tcase_add_test(tc, test_unreachable_broker_fails_start);
    tcase_add_loop_test(tc, test_arguments, 0,
                        (int)(sizeof arg_cases / sizeof arg_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(svc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
