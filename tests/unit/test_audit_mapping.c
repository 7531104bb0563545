/* The Elasticsearch index template of the audit trail
 * (docs/examples/elasticsearch-audit-template.json) against the ECS lines
 * the audit library writes: every field of every event is mapped, with a
 * type its value fits, and before/after are flattened, so two services'
 * documents of different shapes (or one key holding a number, then a
 * string) are both accepted instead of one being refused by a dynamic
 * mapping. The Filebeat example ships exactly these lines to a data stream
 * the template matches. */
#include <check.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "support/harness.h"

static const char *root(void)
{
    const char *r = getenv("EMS_TEST_ROOT");
    return r && *r ? r : ".";
}

static char *slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root(), rel);
    char *s = th_read_file(path);
    ck_assert_msg(*s, "cannot read %s", path);
    return s;
}

static json_t *load_template(void)
{
    char *text = slurp("docs/examples/elasticsearch-audit-template.json");
    json_error_t e;
    json_t *t = json_loads(text, 0, &e);
    ck_assert_msg(t != NULL, "template line %d: %s", e.line, e.text);
    free(text);
    return t;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", what a date field gets from the library. */
static int is_iso_ms(const char *s)
{
    int y, mo, d, h, mi, sec, ms;
    char z;
    return strlen(s) == 24 &&
           sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms,
                  &z) == 8 &&
           z == 'Z';
}

/* Why value (at path) does not fit its mapping m, into why; NULL when it
 * does. Recurses into objects and arrays. */
static const char *misfit(json_t *m, const char *path, json_t *v, char *why, size_t n)
{
    const char *type = json_string_value(json_object_get(m, "type"));

    if (!m) {
        snprintf(why, n, "field %s of an audit event is not mapped", path);
        return why;
    }
    if (type && !strcmp(type, "flattened")) {
        if (json_is_object(v) || json_is_null(v))
            return NULL;
        snprintf(why, n, "%s: flattened needs an object", path);
        return why;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (misfit(m, path, x, why, n)) return why;
        return NULL;
    }
    if (json_is_object(v)) {
        json_t *props = json_object_get(m, "properties"), *x;
        const char *k;
        char sub[512];
        if (!props || type) {
            snprintf(why, n, "%s: an object where %s is mapped", path,
                     type ? type : "?");
            return why;
        }
        json_object_foreach(v, k, x)
        {
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
            if (misfit(json_object_get(props, k), sub, x, why, n))
                return why;
        }
        return NULL;
    }
    int fits;
    if (!type) {
        snprintf(why, n, "%s: a value where an object is mapped", path);
        return why;
    }
    if (!strcmp(type, "keyword") || !strcmp(type, "text"))
        fits = json_is_string(v);
    else if (!strcmp(type, "long"))
        fits = json_is_integer(v);
    else if (!strcmp(type, "date"))
        fits = json_is_string(v) && is_iso_ms(json_string_value(v));
    else {
        snprintf(why, n, "%s: type %s not expected in the audit template", path, type);
        return why;
    }
    if (fits)
        return NULL;
    snprintf(why, n, "%s: %s needs %s", path, type,
             !strcmp(type, "long")   ? "an integer"
             : !strcmp(type, "date") ? "an ISO 8601 time"
                                     : "a string");
    return why;
}

/* The ECS line of an event as the library writes it, parsed. */
static json_t *ecs_of(const audit_event_t *ev)
{
    char *line = audit_event_ecs(ev);
    ck_assert_ptr_nonnull(line);
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", line, e.text);
    free(line);
    return j;
}

START_TEST(test_every_field_mapped)
{
    json_t *t = load_template();
    json_t *mapping = json_object_get(json_object_get(t, "template"), "mappings");
    /* events of every shape: optional fields absent and present, every
     * outcome, before/after of different shapes for one key */
    audit_event_t evs[] = {
        {.actor = "service:ingester",
         .action = "service.start",
         .object = "service/ingester",
         .outcome = AUDIT_SUCCESS,
         .after = "{\"version\":\"0.1.0\"}"},
        {.actor = "operator1",
         .action = "control.command.write",
         .object = "equipment/dryer-2",
         .site_id = "nl-neerijnen",
         .reason = "cheap slot",
         .outcome = AUDIT_SUCCESS,
         .before = "{\"setpoint_kw\":0}",
         .after = "{\"setpoint_kw\":450,\"limits\":[0,800],\"ok\":true}",
         .correlation_id = "cmd-981"},
        {.actor = "operator2",
         .action = "control.command.write",
         .object = "equipment/dryer-2",
         .reason = "locked by the shift lead",
         .outcome = AUDIT_DENIED,
         .before = "{\"setpoint_kw\":\"n/a\"}",
         .after = "\"not json at all\""},
        {.actor = "service:schedule-optimizer",
         .action = "schedule.publish",
         .object = "nl-neerijnen/2020-11-29T11:00:00Z/7e7413a4",
         .outcome = AUDIT_FAILURE,
         .after = "{\"plan\":{\"slots\":[{\"kw\":1.5}],\"status\":null}}"},
    };
    FILE *f = tmpfile();
    char err[256], line[8192];
    audit_conf_t conf = {.service = "svc", .instance = "svc-0", .ecs_out = f};
    audit_t *a = audit_new(&conf, err, sizeof err);
    size_t n = 0;

    ck_assert_msg(a != NULL, "%s", err);
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        ck_assert_msg(audit_record(a, &evs[i], NULL, err, sizeof err) == 0, "%s", err);
    audit_destroy(a);
    rewind(f);
    /* the lines as written, through the library's own path */
    while (fgets(line, sizeof line, f)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        char why[600];
        ck_assert_msg(j != NULL, "%s: %s", line, e.text);
        const char *bad = misfit(mapping, "", j, why, sizeof why);
        ck_assert_msg(bad == NULL, "event %zu: %s\n%s", n, bad, line);
        json_decref(j);
        n++;
    }
    fclose(f);
    ck_assert_uint_eq(n, sizeof evs / sizeof evs[0]);
    json_decref(t);
}
END_TEST

/* The check itself: what dynamic mapping would make of after (an object
 * with a keyword), an unmapped field and a wrong type are all found. */
START_TEST(test_misfits_are_found)
{
    json_t *t = load_template();
    json_t *mapping = json_object_get(json_object_get(t, "template"), "mappings");
    json_t *ems = json_object_get(
        json_object_get(json_object_get(mapping, "properties"), "ems"), "properties");
    audit_event_t ev = {.service = "s",
                        .instance = "i",
                        .seq = 1,
                        .ts_ms = 1,
                        .actor = "a",
                        .action = "b",
                        .object = "o",
                        .site_id = "site",
                        .after = "{\"x\":1}"};
    char why[600];

    memset(ev.prev_hash, '0', 64);
    ev.prev_hash[64] = 0;
    ck_assert_int_eq(audit_event_hash(&ev, ev.hash), 0);
    json_t *j = ecs_of(&ev);
    ck_assert_ptr_null(misfit(mapping, "", j, why, sizeof why));
    json_object_set_new(ems, "after",
                        json_pack("{s{s{ss}}}", "properties", "x", "type", "keyword"));
    ck_assert_ptr_nonnull(misfit(mapping, "", j, why, sizeof why));
    ck_assert_msg(strstr(why, "ems.after.x: keyword needs a string"), "%s", why);
    json_object_del(ems, "after");
    ck_assert_ptr_nonnull(misfit(mapping, "", j, why, sizeof why));
    ck_assert_msg(strstr(why, "field ems.after of an audit event is not mapped"), "%s",
                  why);
    json_object_set_new(ems, "after", json_pack("{ss}", "type", "flattened"));
    json_object_set_new(ems, "site_id", json_pack("{ss}", "type", "long"));
    ck_assert_ptr_nonnull(misfit(mapping, "", j, why, sizeof why));
    ck_assert_msg(strstr(why, "ems.site_id: long needs an integer"), "%s", why);
    json_decref(j);
    json_decref(t);
}
END_TEST

/* The Filebeat example reads stdout, keeps the lines of the library's
 * dataset and writes them to a data stream the template matches. */
START_TEST(test_filebeat_example_matches)
{
    json_t *t = load_template();
    char *fb = slurp("docs/examples/filebeat-audit.yml");
    audit_event_t ev = {.service = "s",
                        .instance = "i",
                        .seq = 1,
                        .ts_ms = 1,
                        .actor = "a",
                        .action = "b",
                        .object = "o"};
    const char *pattern =
        json_string_value(json_array_get(json_object_get(t, "index_patterns"), 0));
    const char *idx = strstr(fb, "index: \"");
    char index[128] = "";

    ck_assert_ptr_nonnull(pattern);
    ck_assert_ptr_nonnull(idx);
    sscanf(idx + 8, "%127[^\"]", index);
    ck_assert_msg(fnmatch(pattern, index, 0) == 0, "index %s does not match %s", index,
                  pattern);
    ck_assert_ptr_nonnull(strstr(fb, "stream: stdout"));
    memset(ev.prev_hash, '0', 64);
    ev.prev_hash[64] = 0;
    ck_assert_int_eq(audit_event_hash(&ev, ev.hash), 0);
    json_t *j = ecs_of(&ev);
    const char *dataset =
        json_string_value(json_object_get(json_object_get(j, "event"), "dataset"));
    char want[128];
    snprintf(want, sizeof want, "event.dataset: %s\n", dataset ? dataset : "?");
    ck_assert_msg(strstr(fb, want), "the example does not keep %s", want);
    json_decref(j);
    free(fb);
    json_decref(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audit_mapping");
    TCase *tc = tcase_create("mapping");

    tcase_add_test(tc, test_every_field_mapped);
    tcase_add_test(tc, test_misfits_are_found);
    tcase_add_test(tc, test_filebeat_example_matches);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
