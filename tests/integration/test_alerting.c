/* Alerting end to end with the real daemons: a running ingester, the Debian
 * packages' Prometheus (scraping it every second, evaluating the chart's
 * rule file helm/ems/rules/ems-alerts.yaml) and Alertmanager.
 *
 * Bytes that are no record arrive on energy.telemetry: the ingester
 * dead-letters them, Prometheus sees ems_bus_dlq_total rise from the 0 it
 * scraped before, EmsDeadLetters fires with the topic and reason, and
 * Alertmanager holds it with its severity and runbook. Before that, with
 * the same series at 0, no such alert exists; and every rule group
 * evaluates without error against the service's real metrics.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "support/harness.h"
#include "support/ingester.h"

#define WAIT_S 120
#define DLQ_SERIES "ems_bus_dlq_total{topic=\"energy.telemetry\",reason=\"bad-magic\"}"

static char dir[256], prefix[64], group[80], site[48];
static int svc_port, prom_port, am_port;
static pid_t svc, prom, am;

static void start_ingester(void)
{
    th_env_list e = {0};
    char log[400];

    th_ing_env(&e, NULL, group, prefix, svc_port);
    th_env_add(&e, "EMS_INGESTER_RESULTS=false");
    svc = th_ing_start(&e, th_path(log, sizeof log, dir, "ingester.log"));
    th_env_release(&e);
    th_reply r = th_wait_http(svc_port, "/readyz", 200, NULL, svc, WAIT_S);
    th_reply_release(&r);
}

static void start_alertmanager(void)
{
    char conf[400], data[400], listen[64];

    th_path(conf, sizeof conf, dir, "alertmanager.yml");
    th_write_filef(conf, "route:\n"
                         "  receiver: 'null'\n"
                         "  group_wait: 0s\n"
                         "  group_interval: 1s\n"
                         "  repeat_interval: 1h\n"
                         "receivers:\n"
                         "  - name: 'null'\n");
    th_path(data, sizeof data, dir, "alertmanager");
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", am_port);
    char confarg[450], dataarg[450];
    snprintf(confarg, sizeof confarg, "--config.file=%s", conf);
    snprintf(dataarg, sizeof dataarg, "--storage.path=%s", data);
    const char *argv[] = {"prometheus-alertmanager",   confarg, dataarg, listen,
                          "--cluster.listen-address=", NULL};
    am = th_spawn_logged(dir, "alertmanager.log", argv, NULL);
    th_reply r = th_wait_http(am_port, "/-/ready", 200, NULL, am, WAIT_S);
    th_reply_release(&r);
}

static void start_prometheus(void)
{
    char conf[400], rules[512], confarg[450], dataarg[450], listen[64];

    th_root(rules, sizeof rules, "helm/ems/rules/ems-alerts.yaml");
    th_path(conf, sizeof conf, dir, "prometheus.yml");
    th_write_filef(conf,
                   "global:\n"
                   "  scrape_interval: 1s\n"
                   "  evaluation_interval: 1s\n"
                   "rule_files: ['%s']\n"
                   "alerting:\n"
                   "  alertmanagers:\n"
                   "    - static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                   "scrape_configs:\n"
                   "  - job_name: ingester\n"
                   "    static_configs:\n"
                   "      - targets: ['127.0.0.1:%d']\n"
                   "        labels: {namespace: test, pod: ingester-0}\n",
                   rules, am_port, svc_port);
    snprintf(confarg, sizeof confarg, "--config.file=%s", conf);
    th_path(dataarg, sizeof dataarg, dir, "tsdb");
    char tsdb[480];
    snprintf(tsdb, sizeof tsdb, "--storage.tsdb.path=%s", dataarg);
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", prom_port);
    const char *argv[] = {"prometheus", confarg, tsdb, listen, NULL};
    prom = th_spawn_logged(dir, "prometheus.log", argv, NULL);
    th_reply r = th_wait_http(prom_port, "/-/ready", 200, NULL, prom, WAIT_S);
    th_reply_release(&r);
}

/* GET path of port as JSON (NULL when it does not answer 200 with JSON). */
static json_t *get_json(int port, const char *path)
{
    th_reply r = th_http_get(port, path, 5);
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    th_reply_release(&r);
    return j;
}

/* The value Prometheus holds for an instant query (URL-encoded), or -1
 * when it has no sample. */
static double prom_value(const char *encoded_query)
{
    char path[512];
    double v = -1;

    snprintf(path, sizeof path, "/api/v1/query?query=%s", encoded_query);
    json_t *j = get_json(prom_port, path);
    json_t *res = json_object_get(json_object_get(j, "data"), "result");
    if (json_array_size(res) == 1) {
        json_t *val =
            json_array_get(json_object_get(json_array_get(res, 0), "value"), 1);
        v = atof(json_string_value(val) ? json_string_value(val) : "-1");
    }
    json_decref(j);
    return v;
}

/* Alertmanager's alert named name with the given topic label (NULL when
 * none); the caller decrefs. */
static json_t *am_alert(const char *name, const char *topic)
{
    json_t *all = get_json(am_port, "/api/v2/alerts"), *a, *found = NULL;
    size_t i;

    json_array_foreach(all, i, a)
    {
        json_t *labels = json_object_get(a, "labels");
        const char *n = json_string_value(json_object_get(labels, "alertname"));
        const char *t = json_string_value(json_object_get(labels, "topic"));
        if (n && t && !strcmp(n, name) && !strcmp(t, topic)) {
            found = json_incref(a);
            break;
        }
    }
    json_decref(all);
    return found;
}

/* Every rule group loaded and evaluated without error. */
static void check_rules_healthy(void)
{
    json_t *j = get_json(prom_port, "/api/v1/rules"), *g, *r;
    json_t *groups = json_object_get(json_object_get(j, "data"), "groups");
    size_t i, k, nrules = 0;

    ck_assert_msg(json_array_size(groups) >= 4, "rule groups: %zu",
                  json_array_size(groups));
    json_array_foreach(groups, i, g)
    {
        json_array_foreach(json_object_get(g, "rules"), k, r)
        {
            const char *health = json_string_value(json_object_get(r, "health"));
            ck_assert_msg(health && !strcmp(health, "ok"), "rule %s: %s (%s)",
                          json_string_value(json_object_get(r, "name")),
                          health ? health : "?",
                          json_string_value(json_object_get(r, "lastError")));
            nrules++;
        }
    }
    ck_assert_int_ge(nrules, 12);
    json_decref(j);
}

START_TEST(test_dead_letter_reaches_alertmanager)
{
    /* DLQ_SERIES, URL-encoded */
    const char *q =
        "ems_bus_dlq_total%7Btopic%3D%22energy.telemetry%22%2Creason%3D%22bad-"
        "magic%22%7D";
    json_t *alert = NULL;
    double v = -1;
    time_t t0;

    th_tmpdir(dir, sizeof dir, "alerting");
    th_unique(prefix, sizeof prefix, "alert", ".");
    th_unique(group, sizeof group, "ingester-alert", "");
    th_unique(site, sizeof site, "alertsite", "");
    svc_port = th_free_port();
    prom_port = th_free_port_except(svc_port);
    do
        am_port = th_free_port();
    while (am_port == svc_port || am_port == prom_port);
    start_ingester();
    start_alertmanager();
    start_prometheus();

    /* the series exists at 0 before any dead letter (registered at start),
     * and nothing fires on it */
    for (t0 = time(NULL); time(NULL) - t0 < WAIT_S && (v = prom_value(q)) != 0;)
        th_sleep_ms(200);
    ck_assert_msg(v == 0, "Prometheus never scraped " DLQ_SERIES " at 0 (%g)", v);
    th_sleep_ms(3000); /* three evaluations */
    ck_assert_ptr_null(am_alert("EmsDeadLetters", "energy.telemetry"));
    check_rules_healthy();

    th_produce_garbage(prefix, "energy.telemetry", site);
    for (t0 = time(NULL); time(NULL) - t0 < WAIT_S && !alert;) {
        th_assert_alive(svc, "the ingester");
        th_assert_alive(prom, "prometheus");
        th_assert_alive(am, "alertmanager");
        alert = am_alert("EmsDeadLetters", "energy.telemetry");
        if (!alert)
            th_sleep_ms(250);
    }
    ck_assert_msg(alert != NULL,
                  "EmsDeadLetters did not reach Alertmanager in %d s (%s = %g)", WAIT_S,
                  DLQ_SERIES, prom_value(q));
    json_t *labels = json_object_get(alert, "labels");
    json_t *ann = json_object_get(alert, "annotations");
    ck_assert_str_eq(json_string_value(json_object_get(labels, "reason")), "bad-magic");
    ck_assert_str_eq(json_string_value(json_object_get(labels, "severity")), "warning");
    ck_assert_str_eq(json_string_value(json_object_get(ann, "runbook")),
                     "docs/alerts.md#emsdeadletters");
    const char *summary = json_string_value(json_object_get(ann, "summary"));
    ck_assert_msg(summary && strstr(summary, "of energy.telemetry dead-lettered"), "%s",
                  summary ? summary : "(none)");
    json_decref(alert);
    check_rules_healthy();

    ck_assert_int_eq(th_stop(&prom), 0);
    ck_assert_int_eq(th_stop(&am), 0);
    ck_assert_int_eq(th_stop(&svc), 0);
    th_rmtree(dir);
}
END_TEST

static void teardown(void)
{
    th_stop(&prom);
    th_stop(&am);
    th_stop(&svc);
}

int main(void)
{
    Suite *s = suite_create("alerting");
    TCase *tc = tcase_create("alerting");

    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_dead_letter_reaches_alertmanager);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 1);
}
