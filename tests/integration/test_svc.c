/* Integration tests for the service skeleton: runs build/bin/svc-example
 * against the test stack (EMS_TEST_BOOTSTRAP, EMS_TEST_REGISTRY,
 * EMS_TEST_ROOT, EMS_TEST_BIN) and probes it from outside. */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "audit/audit.h"
#include "bus/bus.h"
#include "support/harness.h"

static char dir[64];

static void path_in(char *buf, size_t size, const char *name)
{
    th_path(buf, size, dir, name);
}

static void setup(void)
{
    th_tmpdir(dir, sizeof dir, "svc");
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    ck_assert_int_eq(th_rmtree(dir), 0);
    curl_global_cleanup();
}

/* Writes the example's config; extra is appended verbatim. */
/* This run's audit instance: audit.events is shared by every run on the
 * stack, so events are told apart by it. */
static char instance[64];

static const char *instance_name(void)
{
    if (!instance[0])
        th_unique(instance, sizeof instance, "test-svc", "");
    return instance;
}

static void write_config(const char *name, const char *bootstrap, int port,
                         const char *extra)
{
    char path[128], state[128];
    path_in(path, sizeof path, name);
    path_in(state, sizeof state, "audit.state");
    th_write_filef(
        path,
        "log:\n  level: debug\n"
        "http:\n  listen: 127.0.0.1\n  port: %d\n"
        "bus:\n  bootstrap: %s\n  registry_url: %s\n  schema_dir: %s/schemas\n"
        "  flush_timeout: 5s\n"
        "plant:\n  path: %s/tools/stack/plant.yaml\n"
        "audit:\n  state_file: %s\n  instance: %s\n"
        "%s",
        port, bootstrap, th_env("EMS_TEST_REGISTRY"), th_env("EMS_TEST_ROOT"),
        th_env("EMS_TEST_ROOT"), state, instance_name(), extra ? extra : "");
}

/* Starts svc-example with args, stdout/stderr into out/err files in dir, and
 * an environment without EMS_* overrides from the test harness. */
static pid_t spawn(const char *const *args, const char *out, const char *err)
{
    char bin[512], outp[128], errp[128];
    const char *argv[16] = {bin};
    th_bin(bin, sizeof bin, "svc-example");
    path_in(outp, sizeof outp, out);
    path_in(errp, sizeof errp, err);
    for (int n = 1; args && args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    return th_spawn(
        &(th_spawn_opts){.argv = argv, .clean_ems = 1, .out = outp, .err = errp});
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
    return th_read_file(th_path(path, sizeof path, dir, name));
}

typedef th_reply reply_t;

/* GET; status 0 when nothing answers. */
static reply_t get(int port, const char *path)
{
    return th_http_get(port, path, 5);
}

/* Polls path until it answers want (bounded: 60 s), returning the reply. */
static reply_t await(int port, const char *path, long want, pid_t pid)
{
    return th_wait_http(port, path, want, NULL, pid, 60);
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
    int port = th_free_port();
    write_config("svc.yaml", th_env("EMS_TEST_BOOTSTRAP"), port, NULL);
    run_and_stop(port, "svc.yaml", 2); /* service.start, service.stop */
    /* A restart continues the audit chain from the state file: the stdout of
     * both runs verifies as one chain. */
    run_and_stop(port, "svc.yaml", 4);
}
END_TEST

typedef struct audit_seen {
    int mine, all; /* events of this run's instance, events read */
} audit_seen_t;

static int count_instance(bus_record_t *rec, void *ctx)
{
    audit_seen_t *seen = ctx;
    avro_value_t f;
    const char *s = NULL;
    size_t len;
    ck_assert_int_eq(avro_value_get_by_name(&rec->value, "instance", &f, NULL), 0);
    ck_assert_int_eq(avro_value_get_string(&f, &s, &len), 0);
    seen->all++;
    if (s && strcmp(s, instance_name()) == 0)
        seen->mine++;
    return 0;
}

static int two_found(int got, void *ctx)
{
    (void)got;
    return ((audit_seen_t *)ctx)->mine >= 2;
}

START_TEST(test_audit_events_reach_the_bus)
{
    int port = th_free_port();
    write_config("svc.yaml", th_env("EMS_TEST_BOOTSTRAP"), port, NULL);
    run_and_stop(port, "svc.yaml", 2);
    bus_t *bus = th_bus_new(&(bus_conf_t){0});
    char group[96];
    bus_consumer_t *c = th_consumer(
        bus, th_unique(group, sizeof group, "test-svc-", ""), "audit.events");
    audit_seen_t seen = {0};
    /* a new group's first assignment can take long on a loaded machine */
    th_consume(c, &(th_consume_opts){.timeout_s = 90,
                                     .max = 100,
                                     .poll_ms = 500,
                                     .each = count_instance,
                                     .done = two_found,
                                     .ctx = &seen});
    ck_assert_msg(seen.mine >= 2, "%d of this run's events among %d read", seen.mine,
                  seen.all);
    bus_consumer_destroy(c);
    bus_destroy(bus);
}
END_TEST

START_TEST(test_dump_config_masks_secrets)
{
    write_config("svc.yaml", "127.0.0.1:9", th_free_port(),
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
    write_config("bad.yaml", th_env("EMS_TEST_BOOTSTRAP"), th_free_port(),
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
    write_config("svc.yaml", "127.0.0.1:1", th_free_port(), NULL);
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
    return th_run_suite(svc_suite(), 0);
}
