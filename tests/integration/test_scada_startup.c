/* Integration test of the scada-gateway binary's start-up validation: a
 * plant model with overlapping registers (within a meter and between two
 * meters of one unit), an unknown data type, a zero poll period or a
 * missing device address, and a gateway config with an unknown key, an
 * MQTT map naming no plant meter, an MQTT TLS client certificate without
 * its key or an unreadable CA file, or a start/stop coil naming no equipment,
 * stop start-up with a non-zero exit and
 * one error line naming the file, the line and the reason.
 *
 * The gateway gets the test stack's endpoints (EMS_TEST_BOOTSTRAP,
 * EMS_TEST_REGISTRY), so a refusal cannot come from a missing broker. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/gateway.h"
#include "support/harness.h"

static char dir[64];

/* The end of the gateway's log line once start-up succeeded. */
#define STARTED " started\"}"

/* Line numbers below refer to this model (line 1 is "sites:"). */
static const char base_plant[] =
    "sites:\n"                                                /* 1 */
    "  - id: s1\n"                                            /* 2 */
    "    timezone: Europe/Amsterdam\n"                        /* 3 */
    "    market: NL\n"                                        /* 4 */
    "    contracted_import_kw: 1000\n"                        /* 5 */
    "meters:\n"                                               /* 6 */
    "  - id: m1\n"                                            /* 7 */
    "    site: s1\n"                                          /* 8 */
    "    kind: sub\n"                                         /* 9 */
    "    device: {host: 127.0.0.1, port: 1502, unit_id: 1}\n" /* 10 */
    "    poll_period_ms: 1000\n"                              /* 11 */
    "    registers:\n"                                        /* 12 */
    "      - {quantity: power_kw, type: holding, address: 0, data_type: float32}\n"
    "      - {quantity: energy_kwh, type: holding, address: 2, data_type: float32}\n"
    "  - id: m2\n"                                            /* 15 */
    "    site: s1\n"                                          /* 16 */
    "    kind: sub\n"                                         /* 17 */
    "    device: {host: 127.0.0.1, port: 1502, unit_id: 1}\n" /* 18 */
    "    poll_period_ms: 1000\n"                              /* 19 */
    "    registers:\n"                                        /* 20 */
    "      - {quantity: power_kw, type: holding, address: 10, data_type: float32}\n";

static const struct {
    const char *name;
    const char *from, *to; /* one edit of the base model */
    const char *config;    /* gateway config, or NULL */
    int line;              /* expected line; 0: the config file's */
    const char *why;
} cases[] = {
    {"overlap within a meter", "address: 2, data_type: float32",
     "address: 1, data_type: float32", NULL, 14,
     "register energy_kwh at 1 overlaps power_kw of meter m1 (line 13)"},
    {"overlap between meters of one unit", "address: 10,", "address: 3,", NULL, 21,
     "overlaps energy_kwh of meter m1 (line 14)"},
    {"unknown data type", "address: 2, data_type: float32",
     "address: 2, data_type: float24", NULL, 14, "data_type: unknown value 'float24'"},
    {"zero poll period",
     "    poll_period_ms: 1000\n    registers:\n"
     "      - {quantity: power_kw, type: holding, address: 0",
     "    poll_period_ms: 0\n    registers:\n"
     "      - {quantity: power_kw, type: holding, address: 0",
     NULL, 11, "poll_period_ms: value 0 out of range"},
    {"missing device host",
     "device: {host: 127.0.0.1, port: 1502, unit_id: 1}\n"
     "    poll_period_ms: 1000\n    registers:\n"
     "      - {quantity: power_kw, type: holding, address: 0",
     "device: {port: 1502, unit_id: 1}\n    poll_period_ms: 1000\n    registers:\n"
     "      - {quantity: power_kw, type: holding, address: 0",
     NULL, 10, "missing required key 'host'"},
    {"missing device",
     "    device: {host: 127.0.0.1, port: 1502, unit_id: 1}\n"
     "    poll_period_ms: 1000\n    registers:\n"
     "      - {quantity: power_kw, type: holding, address: 10",
     "    poll_period_ms: 1000\n    registers:\n"
     "      - {quantity: power_kw, type: holding, address: 10",
     NULL, 15, "missing required key 'device'"},
    {"unknown scada key", NULL, NULL, "scada:\n  workers: 2\n  poll_sped: 3\n", 3,
     "scada.poll_sped: unknown key"},
    {"mqtt topic naming no meter", NULL, NULL,
     "scada:\n  mqtt_host: 127.0.0.1\n  mqtt_topics:\n    \"edge/m9\": m9\n", -1,
     "meter 'm9' is not in the plant model"},
    {"mqtt tls certificate without key", NULL, NULL,
     "scada:\n  mqtt_host: 127.0.0.1\n  mqtt_topics:\n    \"edge/m1\": m1\n"
     "  mqtt_tls_ca: /etc/hostname\n  mqtt_tls_cert: /etc/hostname\n",
     -1, "scada.mqtt_tls_cert and scada.mqtt_tls_key go together"},
    {"mqtt tls ca unreadable", NULL, NULL,
     "scada:\n  mqtt_host: 127.0.0.1\n  mqtt_topics:\n    \"edge/m1\": m1\n"
     "  mqtt_tls_ca: /nonexistent/ca.pem\n",
     -1, "scada.mqtt_tls_ca: cannot read '/nonexistent/ca.pem'"},
    {"control coil naming no equipment", NULL, NULL,
     "scada:\n  control_coils:\n    kiln: 4\n", -1,
     "scada.control_coils: 'kiln': no such equipment in the plant model"},
};

/* The base model with one replacement. */
static void write_plant(const char *path, const char *from, const char *to)
{
    char text[4096];
    const char *at = from ? strstr(base_plant, from) : NULL;
    if (!from) {
        th_write_file(path, base_plant);
        return;
    }
    ck_assert_msg(at != NULL, "edit '%s' not in the base model", from);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - base_plant), base_plant, to,
             at + strlen(from));
    th_write_file(path, text);
}

static void read_log(const char *logp, char *out, size_t size)
{
    char *text = th_read_file(logp);
    snprintf(out, size, "%s", text);
    free(text);
}

/* Runs the gateway until it exits, or until its output shows until (then
 * stops it). Returns its exit status, or -1 when it was stopped; its output
 * is in out. */
static int run_gateway(const char *plant, const char *conf, const char *until,
                       char *out, size_t size)
{
    char bin[512], logp[128], prefix[64];
    int st;
    th_env_list e = {0};
    th_bin(bin, sizeof bin, "scada-gateway");
    th_path(logp, sizeof logp, dir, "gateway.log");
    tgw_env_add(&e, NULL, th_unique(prefix, sizeof prefix, "startup", "."), dir, 0,
                th_free_port());
    th_env_add(&e, "EMS_SCADA_CONTROL=false");
    unlink(logp);
    const char *argv[] = {bin, "--plant", plant, conf ? "--config" : NULL, conf, NULL};
    pid_t pid = th_spawn_logged(dir, "gateway.log", argv, &e);
    th_env_release(&e);
    int rc = -1;
    for (int i = 0; i < 300; i++) { /* 30 s: far more than either needs */
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        read_log(logp, out, size);
        if (until && strstr(out, until))
            break;
        th_sleep_ms(100);
    }
    if (rc < 0)
        th_stop(&pid);
    read_log(logp, out, size);
    return rc;
}

static void setup(void)
{
    th_tmpdir(dir, sizeof dir, "startup");
}

static void teardown(void)
{
    th_rmtree(dir);
}

START_TEST(bad_input_stops_start_up_with_file_line_reason)
{
    char plant[128], conf[128], out[16384], where[300];
    snprintf(plant, sizeof plant, "%s/plant.yaml", dir);
    snprintf(conf, sizeof conf, "%s/gateway.yaml", dir);
    write_plant(plant, cases[_i].from, cases[_i].to);
    if (cases[_i].config)
        th_write_file(conf, cases[_i].config);
    int rc = run_gateway(plant, cases[_i].config ? conf : NULL, NULL, out, sizeof out);
    ck_assert_msg(rc > 0 && rc < 128, "%s: exit %d (want a refusal), output:\n%s",
                  cases[_i].name, rc, out);
    ck_assert_msg(strstr(out, cases[_i].why) != NULL, "%s: no '%s' in:\n%s",
                  cases[_i].name, cases[_i].why, out);
    if (cases[_i].line > 0) {
        snprintf(where, sizeof where, "%s:%d: ", cases[_i].config ? conf : plant,
                 cases[_i].line);
        ck_assert_msg(strstr(out, where) != NULL, "%s: no '%s' in:\n%s", cases[_i].name,
                      where, out);
    }
    ck_assert_msg(strstr(out, "\"level\":\"error\"") != NULL, "%s: no error line",
                  cases[_i].name);
    ck_assert_msg(strstr(out, STARTED) == NULL, "%s: the gateway started",
                  cases[_i].name);
}
END_TEST

/* The same files without the defect: the gateway starts (and is stopped),
 * so the refusals above come from the defects. */
START_TEST(valid_input_starts)
{
    char plant[128], out[16384];
    snprintf(plant, sizeof plant, "%s/plant.yaml", dir);
    write_plant(plant, NULL, NULL);
    int rc = run_gateway(plant, NULL, STARTED, out, sizeof out);
    ck_assert_msg(rc == -1 && strstr(out, STARTED), "exit %d, not started:\n%s", rc,
                  out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_startup");
    TCase *tc = tcase_create("startup");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, bad_input_stops_start_up_with_file_line_reason, 0,
                        sizeof cases / sizeof cases[0]);
    tcase_add_test(tc, valid_input_starts);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
