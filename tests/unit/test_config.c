/* Unit tests of libs/config: option tables, YAML, environment, secrets, dump. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/common.h"
#include "config/config.h"
#include "support/harness.h"

#ifndef DATA_DIR
#define DATA_DIR "tests/data/config"
#endif

typedef struct test_conf {
    const char *name;
    int64_t workers;
    double ratio;
    bool enabled;
    const char *password;
    int64_t timeout_ms;
    cfg_strmap_t props;
    cfg_strlist_t topics;
    const char *mode;
    const char *required;
} test_conf_t;

#define OFF(f) offsetof(test_conf_t, f)
static const cfg_option_t test_options[] = {
    {.section = "svc",
     .key = "name",
     .type = CFG_STRING,
     .def = "demo",
     .offset = OFF(name),
     .desc = "A name."},
    {.section = "svc",
     .key = "workers",
     .type = CFG_INT,
     .def = "4",
     .min = 1,
     .max = 64,
     .offset = OFF(workers),
     .desc = "Worker threads."},
    {.section = "svc",
     .key = "ratio",
     .type = CFG_DOUBLE,
     .def = "0.5",
     .min = 0,
     .max = 1,
     .offset = OFF(ratio),
     .desc = "A fraction."},
    {.section = "svc",
     .key = "enabled",
     .type = CFG_BOOL,
     .def = "false",
     .offset = OFF(enabled),
     .desc = "On or off."},
    {.section = "svc",
     .key = "password",
     .type = CFG_SECRET,
     .offset = OFF(password),
     .desc = "A secret."},
    {.section = "svc",
     .key = "timeout",
     .type = CFG_DURATION_MS,
     .def = "5s",
     .min = 0,
     .max = 3600000,
     .step = 500,
     .offset = OFF(timeout_ms),
     .desc = "A duration."},
    {.section = "svc.kafka",
     .key = "props",
     .type = CFG_STRING_MAP,
     .offset = OFF(props),
     .desc = "Pass-through map."},
    {.section = "svc",
     .key = "topics",
     .type = CFG_STRING_LIST,
     .def = "a,b",
     .offset = OFF(topics),
     .desc = "A list."},
    {.section = "svc",
     .key = "mode",
     .type = CFG_STRING,
     .def = "fast",
     .choices = "fast|slow",
     .offset = OFF(mode),
     .desc = "A choice."},
    {.section = "db",
     .key = "url",
     .type = CFG_STRING,
     .required = true,
     .offset = OFF(required),
     .desc = "Required."},
    CFG_END,
};

static cfg_t *cfg;
static test_conf_t conf;
static char errstr[512];

static void setup(void)
{
    static const char *const vars[] = {"EMS_SVC_WORKERS", "EMS_SVC_NAME",
                                       "EMS_SVC_TOPICS",  "EMS_SVC_KAFKA_PROPS",
                                       "EMS_DB_URL",      "EMS_SVC_TIMEOUT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    memset(&conf, 0, sizeof conf);
    errstr[0] = '\0';
    cfg = cfg_new();
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(cfg_add_table(cfg, test_options, &conf, errstr, sizeof errstr), 0);
}

static void teardown(void)
{
    cfg_destroy(cfg);
    cfg = NULL;
}

static int load(const char *text)
{
    return cfg_load_string(cfg, "t.yaml", text, strlen(text), errstr, sizeof errstr);
}

START_TEST(good_file_every_type)
{
    const char *text = "svc:\n"
                       "  name: plant-a\n"
                       "  workers: 8\n"
                       "  ratio: 0.25\n"
                       "  enabled: yes\n"
                       "  password: hunter2\n"
                       "  timeout: 1500ms\n"
                       "  topics: [energy.load, energy.prices, x]\n"
                       "  mode: slow\n"
                       "svc.kafka:\n"
                       "  props:\n"
                       "    security.protocol: SSL\n"
                       "    sasl.password: pw\n"
                       "db:\n"
                       "  url: postgres://x\n";
    ck_assert_msg(load(text) == 0, "%s", errstr);
    ck_assert_str_eq(conf.name, "plant-a");
    ck_assert_int_eq(conf.workers, 8);
    ck_assert_double_eq(conf.ratio, 0.25);
    ck_assert(conf.enabled);
    ck_assert_str_eq(conf.password, "hunter2");
    ck_assert_int_eq(conf.timeout_ms, 1500);
    ck_assert_int_eq(conf.topics.n, 3);
    ck_assert_str_eq(conf.topics.items[1], "energy.prices");
    ck_assert_ptr_null(conf.topics.items[3]);
    ck_assert_int_eq(conf.props.n, 2);
    ck_assert_str_eq(conf.props.kv[0], "security.protocol");
    ck_assert_str_eq(conf.props.kv[1], "SSL");
    ck_assert_ptr_null(conf.props.kv[4]);
    ck_assert_str_eq(conf.mode, "slow");
    ck_assert_str_eq(conf.required, "postgres://x");
    ck_assert_int_eq(cfg_source(cfg, "svc", "workers"), CFG_SRC_FILE);
}
END_TEST

START_TEST(defaults_apply)
{
    ck_assert_msg(load("db: {url: x}\n") == 0, "%s", errstr);
    ck_assert_str_eq(conf.name, "demo");
    ck_assert_int_eq(conf.workers, 4);
    ck_assert_double_eq(conf.ratio, 0.5);
    ck_assert(!conf.enabled);
    ck_assert_ptr_null(conf.password);
    ck_assert_int_eq(conf.timeout_ms, 5000);
    ck_assert_int_eq(conf.topics.n, 2);
    ck_assert_int_eq(conf.props.n, 0);
    ck_assert_ptr_null(conf.props.kv[0]);
    ck_assert_int_eq(cfg_source(cfg, "svc", "workers"), CFG_SRC_DEFAULT);
}
END_TEST

START_TEST(env_overrides_file)
{
    setenv("EMS_SVC_WORKERS", "16", 1);
    setenv("EMS_SVC_TOPICS", "x, y ,z", 1);
    setenv("EMS_SVC_KAFKA_PROPS", "security.protocol=SASL_SSL,sasl.mechanism=PLAIN", 1);
    setenv("EMS_DB_URL", "from-env", 1);
    ck_assert_msg(load("svc:\n  workers: 8\n") == 0, "%s", errstr);
    ck_assert_int_eq(conf.workers, 16);
    ck_assert_int_eq(cfg_source(cfg, "svc", "workers"), CFG_SRC_ENV);
    ck_assert_int_eq(conf.topics.n, 3);
    ck_assert_str_eq(conf.topics.items[1], "y");
    ck_assert_int_eq(conf.props.n, 2);
    ck_assert_str_eq(conf.props.kv[3], "PLAIN");
    ck_assert_str_eq(conf.required, "from-env");
}
END_TEST

START_TEST(env_bad_value)
{
    setenv("EMS_SVC_WORKERS", "lots", 1);
    ck_assert_int_eq(load("db: {url: x}\n"), -1);
    ck_assert_str_eq(
        errstr, "env EMS_SVC_WORKERS: svc.workers: expected an integer, got 'lots'");
    /* a leading blank is not skipped silently */
    setenv("EMS_SVC_WORKERS", " 8", 1);
    ck_assert_int_eq(load("db: {url: x}\n"), -1);
    ck_assert_str_eq(errstr,
                     "env EMS_SVC_WORKERS: svc.workers: expected an integer, got ' 8'");
}
END_TEST

START_TEST(env_names)
{
    char buf[64];
    ck_assert_str_eq(cfg_env_name("bus", "registry_url", buf, sizeof buf),
                     "EMS_BUS_REGISTRY_URL");
    ck_assert_str_eq(cfg_env_name("svc.kafka", "max-in-flight", buf, sizeof buf),
                     "EMS_SVC_KAFKA_MAX_IN_FLIGHT");
}
END_TEST

/* Table-driven: each bad file gives exactly this one-line error. */
static const struct bad_case {
    const char *text;
    const char *err;
} bad_cases[] = {
    {"db: {url: x}\nsvc:\n  name: a\n  colour: red\n",
     "t.yaml:4: svc.colour: unknown key"},
    {"db: {url: x}\nweb:\n  port: 1\n", "t.yaml:2: web: unknown section"},
    {"db: {url: x}\nsvc:\n  workers: many\n",
     "t.yaml:3: svc.workers: expected an integer, got 'many'"},
    {"db: {url: x}\nsvc:\n  workers: 65\n",
     "t.yaml:3: svc.workers: value 65 out of range [1, 64]"},
    {"db: {url: x}\nsvc:\n  ratio: -0.1\n",
     "t.yaml:3: svc.ratio: value -0.1 out of range [0, 1]"},
    {"db: {url: x}\nsvc:\n  enabled: maybe\n",
     "t.yaml:3: svc.enabled: expected true or false, got 'maybe'"},
    {"db: {url: x}\nsvc:\n  timeout: 5 weeks\n",
     "t.yaml:3: svc.timeout: expected a duration such as 500ms, 5s, 2m or 1h, got "
     "'5 weeks'"},
    {"db: {url: x}\nsvc:\n  timeout: 2h\n",
     "t.yaml:3: svc.timeout: value 2h out of range [0, 3.6e+06]"},
    {"db: {url: x}\nsvc:\n  timeout: 1750ms\n",
     "t.yaml:3: svc.timeout: value 1750ms is not a multiple of 500ms"},
    {"db: {url: x}\nsvc:\n  mode: medium\n",
     "t.yaml:3: svc.mode: 'medium' is not one of fast|slow"},
    {"db: {url: x}\nsvc:\n  name: [a, b]\n",
     "t.yaml:3: svc.name: expected a scalar, got a list"},
    {"db: {url: x}\nsvc:\n  topics: {a: b}\n",
     "t.yaml:3: svc.topics: expected a list, got a mapping"},
    {"db: {url: x}\nsvc.kafka:\n  props: [a]\n",
     "t.yaml:3: svc.kafka.props: expected a mapping, got a list"},
    {"db: {url: x}\nsvc:\n  name: a\n  name: b\n",
     "t.yaml:4: svc.name: duplicate key (first at line 3)"},
    {"svc:\n  name: a\n",
     "t.yaml:1: db.url: required key is missing (set it in the file or EMS_DB_URL)"},
    {"db:\n  url:\n",
     "t.yaml:2: db.url: required key is empty (set it in the file or EMS_DB_URL)"},
    {"db: {url: x}\nsvc:\n  name: [a\n  workers: 3\n",
     "t.yaml:4: yaml: did not find expected ',' or ']' while parsing a flow sequence"},
    {"db: {url: x}\nsvc:\n\tname: a\n",
     "t.yaml:3: yaml: found character that cannot start any token while scanning "
     "for the next token"},
    {"- a\n- b\n", "t.yaml:1: (top): the file must be a mapping of sections"},
    {"db: {url: x}\nsvc:\n  password: file:/nonexistent/pw\n",
     "t.yaml:3: svc.password: cannot read secret file '/nonexistent/pw' (No such file "
     "or directory)"},
};

START_TEST(bad_file)
{
    const struct bad_case *c = &bad_cases[_i];
    ck_assert_int_eq(load(c->text), -1);
    ck_assert_str_eq(errstr, c->err);
    ck_assert_ptr_null(strchr(errstr, '\n'));
}
END_TEST

START_TEST(missing_file)
{
    ck_assert_int_eq(cfg_load(cfg, "/nonexistent/x.yaml", errstr, sizeof errstr), -1);
    ck_assert_str_eq(errstr,
                     "/nonexistent/x.yaml: cannot open (No such file or directory)");
}
END_TEST

/* What cfg_dump() (of cfg) or, when options is not NULL, cfg_markdown()
 * writes, as a string the caller frees. */
static char *capture(const cfg_option_t *options)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(options ? cfg_markdown(options, f) : cfg_dump(cfg, f), 0);
    fclose(f);
    return buf;
}

static char *dump_to_string(void)
{
    return capture(NULL);
}

/* Writes content to a fresh /tmp file whose path goes to path (at least
 * 32 bytes); the caller unlinks it. */
static void temp_file(char *path, const char *content)
{
    strcpy(path, "/tmp/ems-secret-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
}

START_TEST(secret_from_file_masked_in_dump)
{
    char path[32], text[256];
    temp_file(path, "  s3cr3t-value \n");
    snprintf(text, sizeof text,
             "db: {url: x}\nsvc:\n  password: file:%s\nsvc.kafka:\n  props:\n"
             "    sasl.password: pw123\n",
             path);
    ck_assert_msg(load(text) == 0, "%s", errstr);
    unlink(path);
    ck_assert_str_eq(conf.password, "s3cr3t-value");
    char *dump = dump_to_string();
    ck_assert_ptr_null(strstr(dump, "s3cr3t"));
    ck_assert_ptr_null(strstr(dump, "pw123"));
    ck_assert_ptr_nonnull(strstr(dump, "  password: \"***\"  # file:3\n"));
    ck_assert_ptr_nonnull(strstr(dump, "\"sasl.password\": \"***\""));
    free(dump);
}
END_TEST

START_TEST(map_value_from_file)
{
    char path[32], text[256];
    temp_file(path, "sasl-pw\n");
    snprintf(text, sizeof text,
             "db: {url: x}\nsvc.kafka:\n  props:\n    sasl.password: file:%s\n"
             "    security.protocol: SASL_SSL\n",
             path);
    ck_assert_msg(load(text) == 0, "%s", errstr);
    unlink(path);
    ck_assert_uint_eq(conf.props.n, 2);
    ck_assert_str_eq(conf.props.kv[0], "sasl.password");
    ck_assert_str_eq(conf.props.kv[1], "sasl-pw");
    ck_assert_str_eq(conf.props.kv[3], "SASL_SSL");
    ck_assert_int_eq(
        load("db: {url: x}\nsvc.kafka:\n  props:\n    k: file:/nonexistent/x\n"), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "cannot read secret file '/nonexistent/x'"));
}
END_TEST

/* A secret file is taken whole or refused: one longer than the reader's
 * buffer, or holding a NUL byte, was cut short without a word, and the
 * service started with a credential that was not the file's. */
START_TEST(secret_file_cut_short_refused)
{
    char path[32], text[256];
    size_t big = 70000;
    char *content = malloc(big + 1);
    ck_assert_ptr_nonnull(content);
    memset(content, 'k', big);
    content[big] = '\0';
    temp_file(path, content);
    free(content);
    snprintf(text, sizeof text, "db: {url: x}\nsvc:\n  password: file:%s\n", path);
    ck_assert_int_eq(load(text), -1);
    ck_assert_msg(strstr(errstr, "too large") != NULL, "%s", errstr);
    unlink(path);

    strcpy(path, "/tmp/ems-secret-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "pw\0tail", 7), 7);
    close(fd);
    snprintf(text, sizeof text, "db: {url: x}\nsvc:\n  password: file:%s\n", path);
    ck_assert_int_eq(load(text), -1);
    ck_assert_msg(strstr(errstr, "NUL") != NULL, "%s", errstr);
    unlink(path);
}
END_TEST

/* The environment form of a map: a credential from a file as in YAML, and
 * an item without '=' refused without echoing it (the tail of a password
 * holding a ','). */
START_TEST(env_map_secrets)
{
    char path[32];
    temp_file(path, "from-file-pw\n");
    char val[96];
    snprintf(val, sizeof val, "sasl.password=file:%s,security.protocol=SASL_SSL", path);
    setenv("EMS_SVC_KAFKA_PROPS", val, 1);
    ck_assert_msg(load("db: {url: x}\n") == 0, "%s", errstr);
    unlink(path);
    ck_assert_str_eq(conf.props.kv[0], "sasl.password");
    ck_assert_str_eq(conf.props.kv[1], "from-file-pw");
    teardown();
    setup();
    setenv("EMS_SVC_KAFKA_PROPS", "sasl.password=Tr0ub4dor,horse", 1);
    ck_assert_int_eq(load("db: {url: x}\n"), -1);
    ck_assert_msg(strstr(errstr, "item 2 has no '='"), "%s", errstr);
    ck_assert_msg(!strstr(errstr, "horse") && !strstr(errstr, "Tr0ub4dor"), "%s",
                  errstr);
    unsetenv("EMS_SVC_KAFKA_PROPS");
}
END_TEST

/* Private keys and librdkafka's *.config strings are credentials too. */
START_TEST(dump_masks_keys_and_configs)
{
    ck_assert_msg(load("db: {url: x}\nsvc.kafka:\n  props:\n"
                       "    ssl.key.pem: KEYDATA\n"
                       "    sasl.oauthbearer.config: clientSecret=abc\n"
                       "    security.protocol: SSL\n") == 0,
                  "%s", errstr);
    char *dump = dump_to_string();
    ck_assert_ptr_null(strstr(dump, "KEYDATA"));
    ck_assert_ptr_null(strstr(dump, "clientSecret"));
    ck_assert_ptr_nonnull(strstr(dump, "\"ssl.key.pem\": \"***\""));
    ck_assert_ptr_nonnull(strstr(dump, "\"security.protocol\": \"SSL\""));
    free(dump);
}
END_TEST

START_TEST(dump_shows_sources)
{
    setenv("EMS_SVC_NAME", "from-env", 1);
    ck_assert_msg(load("db:\n  url: pg\nsvc:\n  workers: 9\n") == 0, "%s", errstr);
    char *dump = dump_to_string();
    ck_assert_ptr_nonnull(
        strstr(dump, "svc:\n  name: \"from-env\"  # env EMS_SVC_NAME\n"));
    ck_assert_ptr_nonnull(strstr(dump, "  workers: 9  # file:4\n"));
    ck_assert_ptr_nonnull(strstr(dump, "  ratio: 0.5  # default\n"));
    ck_assert_ptr_nonnull(strstr(dump, "  timeout: 5000ms  # default\n"));
    ck_assert_ptr_nonnull(strstr(dump, "  topics: [\"a\", \"b\"]  # default\n"));
    ck_assert_ptr_nonnull(strstr(dump, "db:\n  url: \"pg\"  # file:2\n"));
    free(dump);
}
END_TEST

/* The dump is itself a valid config that loads to the same values. */
START_TEST(dump_round_trips)
{
    const char *text = "db: {url: pg}\nsvc:\n  workers: 9\n  ratio: 0.125\n"
                       "svc.kafka:\n  props: {a.b: \"c d\"}\n";
    ck_assert_msg(load(text) == 0, "%s", errstr);
    char *dump = dump_to_string();
    test_conf_t again = {0};
    cfg_t *c2 = cfg_new();
    ck_assert_int_eq(cfg_add_table(c2, test_options, &again, errstr, sizeof errstr), 0);
    ck_assert_msg(
        cfg_load_string(c2, "dump", dump, strlen(dump), errstr, sizeof errstr) == 0,
        "%s\n%s", errstr, dump);
    ck_assert_int_eq(again.workers, 9);
    ck_assert_double_eq(again.ratio, 0.125);
    ck_assert_int_eq(again.timeout_ms, 5000);
    ck_assert_str_eq(again.props.kv[1], "c d");
    ck_assert_str_eq(again.required, "pg");
    cfg_destroy(c2);
    free(dump);
}
END_TEST

START_TEST(duplicate_registration)
{
    test_conf_t other;
    ck_assert_int_eq(cfg_add_table(cfg, test_options, &other, errstr, sizeof errstr),
                     -1);
    ck_assert_str_eq(errstr, "svc.name: option registered twice");
}
END_TEST

START_TEST(set_default_override)
{
    ck_assert_int_eq(
        cfg_set_default(cfg, "svc", "workers", "12", errstr, sizeof errstr), 0);
    ck_assert_int_eq(cfg_set_default(cfg, "svc", "nope", "1", errstr, sizeof errstr),
                     -1);
    ck_assert_msg(load("db: {url: x}\n") == 0, "%s", errstr);
    ck_assert_int_eq(conf.workers, 12);
}
END_TEST

START_TEST(markdown_table)
{
    char *buf = capture(test_options);
    ck_assert_ptr_nonnull(
        strstr(buf, "| key | type | default | range | description |\n"));
    ck_assert_ptr_nonnull(strstr(buf, "| `svc.workers` | int | `4` | 1 .. 64 | Worker "
                                      "threads. (`EMS_SVC_WORKERS`) |\n"));
    ck_assert_ptr_nonnull(
        strstr(buf, "| `svc.mode` | string | `fast` | fast\\|slow |"));
    ck_assert_ptr_nonnull(strstr(buf, "| `db.url` | string | required |"));
    ck_assert_ptr_nonnull(strstr(buf, "| `svc.timeout` | duration-ms | `5s` | 0 .. "
                                      "3.6e+06 ms, multiple of 500 ms |"));
    free(buf);
}
END_TEST

START_TEST(fixture_files)
{
    ck_assert_msg(cfg_load(cfg, DATA_DIR "/good.yaml", errstr, sizeof errstr) == 0,
                  "%s", errstr);
    ck_assert_int_eq(conf.workers, 2);
    cfg_t *c2 = cfg_new();
    test_conf_t other = {0};
    cfg_add_table(c2, test_options, &other, errstr, sizeof errstr);
    ck_assert_int_eq(
        cfg_load(c2, DATA_DIR "/bad-unknown-key.yaml", errstr, sizeof errstr), -1);
    ck_assert_str_eq(errstr,
                     DATA_DIR "/bad-unknown-key.yaml:6: svc.wokers: unknown key");
    ck_assert_int_eq(cfg_load(c2, DATA_DIR "/bad-yaml.yaml", errstr, sizeof errstr),
                     -1);
    ck_assert_str_eq(errstr,
                     DATA_DIR "/bad-yaml.yaml:4: yaml: did not find expected ',' "
                              "or ']' while parsing a flow sequence");
    cfg_destroy(c2);
}
END_TEST

START_TEST(common_tables)
{
    cfg_t *c = cfg_new();
    cfg_common_t common;
    /* the file's values must show: a developer's sourced stack.env must not win */
    static const char *const env[] = {"EMS_BUS_BOOTSTRAP", "EMS_BUS_KAFKA",
                                      "EMS_LOG_LEVEL", "EMS_BUS_FLUSH_TIMEOUT_MS",
                                      "EMS_BUS_TOPIC_PREFIX"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        unsetenv(env[i]);
    setenv("EMS_HTTP_PORT", "18105", 1);
    ck_assert_int_eq(cfg_common_add(c, &common, errstr, sizeof errstr), 0);
    const char *text = "bus:\n  bootstrap: k1:9092,k2:9092\n  kafka:\n"
                       "    security.protocol: SSL\nlog:\n  level: debug\n";
    ck_assert_msg(
        cfg_load_string(c, "svc.yaml", text, strlen(text), errstr, sizeof errstr) == 0,
        "%s", errstr);
    unsetenv("EMS_HTTP_PORT");
    ck_assert_str_eq(common.bus.bootstrap, "k1:9092,k2:9092");
    ck_assert_str_eq(common.bus.kafka.kv[1], "SSL");
    ck_assert_str_eq(common.log.level, "debug");
    ck_assert_int_eq(common.http.port, 18105);
    ck_assert_int_eq(common.bus.flush_timeout_ms, 10000);
    ck_assert_str_eq(common.bus.topic_prefix, "");
    cfg_destroy(c);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, good_file_every_type);
    tcase_add_test(tc, defaults_apply);
    tcase_add_test(tc, env_overrides_file);
    tcase_add_test(tc, env_bad_value);
    tcase_add_test(tc, env_names);
    tcase_add_loop_test(tc, bad_file, 0, sizeof bad_cases / sizeof bad_cases[0]);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, secret_from_file_masked_in_dump);
    tcase_add_test(tc, map_value_from_file);
    tcase_add_test(tc, env_map_secrets);
    tcase_add_test(tc, secret_file_cut_short_refused);
    tcase_add_test(tc, dump_masks_keys_and_configs);
    tcase_add_test(tc, dump_shows_sources);
    tcase_add_test(tc, dump_round_trips);
    tcase_add_test(tc, duplicate_registration);
    tcase_add_test(tc, set_default_override);
    tcase_add_test(tc, markdown_table);
    tcase_add_test(tc, fixture_files);
    tcase_add_test(tc, common_tables);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(config_suite(), 0);
}
