/*
 * devregistry against its REST contract (the Confluent Schema Registry
 * subset the suite uses), over HTTP at EMS_TEST_REGISTRY. Each run uses
 * fresh subject names, so the persisted store of earlier runs does not
 * matter.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/harness.h"

#define CT_HEADER "Content-Type: application/vnd.schemaregistry.v1+json"

static char base_url[512];
static char run_tag[64];

/* Performs one request to the printf-formatted path with body (NULL for
 * none, else sent as content_type, NULL for the registry's own); returns
 * the parsed JSON reply (or NULL) and the HTTP status in *status. Fails the
 * test when nothing answers. */
static json_t *vhttp(const char *method, const char *body, const char *content_type,
                     long *status, const char *fmt, va_list ap)
{
    char path[512], url[1024];
    json_error_t err;
    vsnprintf(path, sizeof path, fmt, ap);
    snprintf(url, sizeof url, "%s%s", base_url, path);
    th_reply r =
        th_http_request(method, url, body, content_type ? content_type : CT_HEADER, 10);
    ck_assert_msg(r.status != 0, "request to '%s' failed", url);
    *status = r.status;
    json_t *out = r.len ? json_loads(r.body, JSON_DECODE_ANY, &err) : NULL;
    th_reply_release(&r);
    return out;
}

static json_t *http(const char *method, const char *body, const char *content_type,
                    long *status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static json_t *http(const char *method, const char *body, const char *content_type,
                    long *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *out = vhttp(method, body, content_type, status, fmt, ap);
    va_end(ap);
    return out;
}

/* http() that fails the test unless the registry answers status want
 * with a JSON reply; returns the reply (the caller decrefs it). */
static json_t *expect(long want, const char *method, const char *body, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
static json_t *expect(long want, const char *method, const char *body, const char *fmt,
                      ...)
{
    long status;
    va_list ap;
    va_start(ap, fmt);
    json_t *out = vhttp(method, body, NULL, &status, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(status, want);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* {"schema": "<schema text>"} for a record T with the given fields JSON. */
static char *schema_body(const char *fields)
{
    char schema[2048];
    json_t *o;
    char *text;

    snprintf(schema, sizeof(schema),
             "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"ems.it\","
             "\"fields\":%s}",
             fields);
    o = json_pack("{s:s}", "schema", schema);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void subject_name(char *out, size_t size, const char *what)
{
    snprintf(out, size, "it-%s-%s-value", run_tag, what);
}

/* Registers fields under subject; returns the id, or -status on refusal. */
static long register_fields(const char *subject, const char *fields)
{
    char *body = schema_body(fields);
    long status = 0, id;
    json_t *r = http("POST", body, NULL, &status, "/subjects/%s/versions", subject);
    free(body);
    ck_assert_ptr_nonnull(r);
    id = status == 200 ? (long)json_integer_value(json_object_get(r, "id")) : -status;
    json_decref(r);
    return id;
}

static const char *V1 = "[{\"name\":\"a\",\"type\":\"int\"}]";
static const char *V2_DEFAULT =
    "[{\"name\":\"a\",\"type\":\"int\"},"
    "{\"name\":\"b\",\"type\":\"string\",\"default\":\"x\"}]";
static const char *V2_REQUIRED = "[{\"name\":\"a\",\"type\":\"int\"},"
                                 "{\"name\":\"c\",\"type\":\"string\"}]";

/* Fails the test unless the reply to method path (body may be NULL) is
 * the Confluent error shape with this status and error code. */
static void expect_error(long want_status, long want_code, const char *method,
                         const char *body, const char *path)
{
    json_t *r = expect(want_status, method, body, "%s", path);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "error_code")), want_code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r, "message")));
    json_decref(r);
}

/* Whether the compatibility check of body against subject's latest
 * version says compatible (the answer itself must be 200). */
static int is_compatible(const char *subject, const char *body)
{
    json_t *r = expect(200, "POST", body, "/compatibility/subjects/%s/versions/latest",
                       subject);
    json_t *v = json_object_get(r, "is_compatible");
    ck_assert_msg(json_is_boolean(v), "is_compatible is not a boolean");
    int yes = json_is_true(v);
    json_decref(r);
    return yes;
}

/* The number of versions subject holds. */
static size_t count_versions(const char *subject)
{
    json_t *r = expect(200, "GET", NULL, "/subjects/%s/versions", subject);
    size_t n = json_array_size(r);
    json_decref(r);
    return n;
}

START_TEST(register_returns_same_id_for_same_schema)
{
    char subject[256];
    long id1, id2;

    subject_name(subject, sizeof(subject), "same");
    id1 = register_fields(subject, V1);
    ck_assert_int_gt(id1, 0);
    id2 = register_fields(subject, V1);
    ck_assert_int_eq(id1, id2);
}
END_TEST

START_TEST(register_canonicalises_key_order)
{
    char subject[256];
    const char *reordered = "{\"schema\":\"{\\\"fields\\\":[{\\\"type\\\":\\\"int\\\","
                            "\\\"name\\\":\\\"a\\\"}],\\\"namespace\\\":\\\"ems.it\\\","
                            "\\\"name\\\":\\\"T\\\",\\\"type\\\":\\\"record\\\"}\"}";
    long id, status;
    json_t *r;

    subject_name(subject, sizeof(subject), "order");
    id = register_fields(subject, V1);
    r = http("POST", reordered, "Content-Type: application/json", &status,
             "/subjects/%s/versions", subject);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), id);
    json_decref(r);
}
END_TEST

START_TEST(get_by_id_returns_the_schema)
{
    char subject[256];
    long id;
    json_t *r, *schema;
    json_error_t err;

    subject_name(subject, sizeof(subject), "byid");
    id = register_fields(subject, V1);
    r = expect(200, "GET", NULL, "/schemas/ids/%ld", id);
    schema = json_loads(json_string_value(json_object_get(r, "schema")), 0, &err);
    ck_assert_ptr_nonnull(schema);
    ck_assert_str_eq(json_string_value(json_object_get(schema, "name")), "T");
    json_decref(schema);
    json_decref(r);
}
END_TEST

START_TEST(latest_tracks_new_versions)
{
    char subject[256];
    long id1, id2;
    json_t *r;

    subject_name(subject, sizeof(subject), "latest");
    id1 = register_fields(subject, V1);
    id2 = register_fields(subject, V2_DEFAULT);
    ck_assert_int_gt(id2, 0);
    ck_assert_int_ne(id1, id2);
    r = expect(200, "GET", NULL, "/subjects/%s/versions/latest", subject);
    ck_assert_str_eq(json_string_value(json_object_get(r, "subject")), subject);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "version")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), id2);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r, "schema")));
    json_decref(r);
    ck_assert_uint_eq(count_versions(subject), 2);
}
END_TEST

START_TEST(incompatible_change_is_refused)
{
    char subject[256];

    subject_name(subject, sizeof(subject), "incompat");
    ck_assert_int_gt(register_fields(subject, V1), 0);
    ck_assert_int_eq(register_fields(subject, V2_REQUIRED), -409);
    ck_assert_uint_eq(count_versions(subject), 1); /* nothing was added */
}
END_TEST

START_TEST(compatibility_endpoint_answers)
{
    char subject[256];
    char *good = schema_body(V2_DEFAULT), *bad = schema_body(V2_REQUIRED);

    subject_name(subject, sizeof(subject), "check");
    ck_assert_int_gt(register_fields(subject, V1), 0);
    ck_assert(is_compatible(subject, good));
    ck_assert(!is_compatible(subject, bad));
    free(good);
    free(bad);
}
END_TEST

START_TEST(compatibility_none_accepts_anything)
{
    char subject[256];

    subject_name(subject, sizeof(subject), "none");
    ck_assert_int_gt(register_fields(subject, V1), 0);
    json_decref(
        expect(200, "PUT", "{\"compatibility\":\"NONE\"}", "/config/%s", subject));
    ck_assert_int_gt(register_fields(subject, V2_REQUIRED), 0);
}
END_TEST

START_TEST(not_found_shapes)
{
    char subject[256], path[512];

    subject_name(subject, sizeof(subject), "missing");
    snprintf(path, sizeof(path), "/subjects/%s/versions/latest", subject);
    expect_error(404, 40401, "GET", NULL, path);
    expect_error(404, 40403, "GET", NULL, "/schemas/ids/999999999");
    subject_name(subject, sizeof(subject), "versions");
    ck_assert_int_gt(register_fields(subject, V1), 0);
    snprintf(path, sizeof(path), "/subjects/%s/versions/7", subject);
    expect_error(404, 40402, "GET", NULL, path);
}
END_TEST

START_TEST(invalid_schema_is_rejected)
{
    char subject[256], path[512];

    subject_name(subject, sizeof(subject), "invalid");
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    expect_error(422, 42201, "POST", "{\"schema\":\"{\\\"type\\\":\\\"nope\\\"}\"}",
                 path);
}
END_TEST

/* BACKWARD rules, table-driven: can `reader` read data written with
 * `writer`? Schemas are whole schema texts. */
static const struct {
    const char *name, *writer, *reader;
    int compatible;
} compat_cases[] = {
    {"int promotes to long", "\"int\"", "\"long\"", 1},
    {"long does not narrow to int", "\"long\"", "\"int\"", 0},
    {"string reads as bytes", "\"string\"", "\"bytes\"", 1},
    {"int is not a string", "\"int\"", "\"string\"", 0},
    {"enum gains a symbol",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}", 1},
    {"enum loses a symbol",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}", 0},
    {"enum loses a symbol but has a default",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"A\"}", 1},
    {"union widens", "[\"null\",\"int\"]", "[\"null\",\"int\",\"string\"]", 1},
    {"union narrows", "[\"null\",\"int\",\"string\"]", "[\"null\",\"int\"]", 0},
    {"plain type into a union", "\"int\"", "[\"null\",\"long\"]", 1},
    {"field removed",
     "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
     "\"int\"},{\"name\":\"b\",\"type\":\"int\"}]}",
     "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
     "\"int\"}]}",
     1},
    {"record renamed", "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}",
     "{\"type\":\"record\",\"name\":\"S\",\"fields\":[]}", 0},
    {"named type reused by reference",
     "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":["
     "{\"name\":\"p\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}},"
     "{\"name\":\"q\",\"type\":\"F\"}]}",
     "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":["
     "{\"name\":\"p\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}},"
     "{\"name\":\"q\",\"type\":\"n.F\"}]}",
     1},
    {"recursive record gains an optional field",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"next\","
     "\"type\":[\"null\",\"L\"]}]}",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"next\","
     "\"type\":[\"null\",\"L\"]},{\"name\":\"v\",\"type\":[\"null\",\"int\"],"
     "\"default\":null}]}",
     1},
};

START_TEST(backward_rules)
{
    char subject[256], what[32];
    json_t *w = json_pack("{s:s}", "schema", compat_cases[_i].writer);
    json_t *r = json_pack("{s:s}", "schema", compat_cases[_i].reader);
    char *wbody = json_dumps(w, JSON_COMPACT), *rbody = json_dumps(r, JSON_COMPACT);
    long status;
    json_t *reply;

    snprintf(what, sizeof(what), "rule%d", _i);
    subject_name(subject, sizeof(subject), what);
    reply = http("POST", wbody, NULL, &status, "/subjects/%s/versions", subject);
    ck_assert_msg(status == 200, "%s: writer refused", compat_cases[_i].name);
    json_decref(reply);
    ck_assert_msg(is_compatible(subject, rbody) == compat_cases[_i].compatible,
                  "%s: expected %s", compat_cases[_i].name,
                  compat_cases[_i].compatible ? "compatible" : "incompatible");
    free(wbody);
    free(rbody);
    json_decref(w);
    json_decref(r);
}
END_TEST

/* A private devregistry over a store in a temporary directory: its pidfile
 * and store are replaced whole, and a store that cannot be written refuses
 * the registration with the reason while the registry keeps serving. */
START_TEST(store_save_failure_is_reported_and_nothing_half_written)
{
    char dir[256], store_dir[320], moved[320], store[400], tmp[420], pidfile[320],
        bin[512], port[16], subject[128], kept[128];
    th_tmpdir(dir, sizeof dir, "devregistry");
    th_path(store_dir, sizeof store_dir, dir, "store");
    th_path(moved, sizeof moved, dir, "moved");
    th_path(store, sizeof store, store_dir, "registry.json");
    snprintf(tmp, sizeof tmp, "%s.tmp", store);
    th_path(pidfile, sizeof pidfile, dir, "devregistry.pid");
    ck_assert_int_eq(mkdir(store_dir, 0750), 0);
    snprintf(port, sizeof port, "%d", th_free_port());
    const char *argv[] = {th_bin(bin, sizeof bin, "devregistry"),
                          "--port",
                          port,
                          "--store",
                          store,
                          "--pidfile",
                          pidfile,
                          NULL};
    pid_t pid = th_spawn_logged(dir, "devregistry.log", argv, NULL);
    th_wait_file(pidfile, pid, 10);
    char *text = th_read_file(pidfile);
    ck_assert_int_eq(atol(text), (long)pid);
    free(text);
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%s", port);

    subject_name(kept, sizeof kept, "store-kept");
    ck_assert_int_gt(register_fields(kept, V1), 0);
    ck_assert(th_file_has(store, kept));
    ck_assert_int_ne(access(tmp, F_OK), 0);

    ck_assert_int_eq(rename(store_dir, moved), 0); /* the store cannot be written */
    subject_name(subject, sizeof subject, "store-lost");
    char *body = schema_body(V1);
    json_t *r = expect(500, "POST", body, "/subjects/%s/versions", subject);
    const char *msg = json_string_value(json_object_get(r, "message"));
    ck_assert_msg(msg && strstr(msg, "Error in the backend data store: "
                                     "No such file or directory"),
                  "%s", msg ? msg : "(no message)");
    json_decref(r);
    free(body);
    ck_assert_int_eq(rename(moved, store_dir), 0);
    ck_assert_int_eq(count_versions(kept), 1); /* still serving, state kept */
    char path[256];
    snprintf(path, sizeof path, "/subjects/%s/versions", subject);
    expect_error(404, 40401, "GET", NULL, path); /* the refused one is not there */
    ck_assert(!th_file_has(store, subject));
    ck_assert_int_ne(access(tmp, F_OK), 0);

    ck_assert_int_eq(th_stop(&pid), 0);
    ck_assert_int_ne(access(pidfile, F_OK), 0);
    th_rmtree(dir);
}
END_TEST

static Suite *devregistry_suite(void)
{
    Suite *s = suite_create("devregistry");
    TCase *tc = tcase_create("rest");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, register_returns_same_id_for_same_schema);
    tcase_add_test(tc, register_canonicalises_key_order);
    tcase_add_test(tc, get_by_id_returns_the_schema);
    tcase_add_test(tc, latest_tracks_new_versions);
    tcase_add_test(tc, incompatible_change_is_refused);
    tcase_add_test(tc, compatibility_endpoint_answers);
    tcase_add_test(tc, compatibility_none_accepts_anything);
    tcase_add_test(tc, not_found_shapes);
    tcase_add_test(tc, invalid_schema_is_rejected);
    tcase_add_loop_test(tc, backward_rules, 0,
                        (int)(sizeof(compat_cases) / sizeof(compat_cases[0])));
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, store_save_failure_is_reported_and_nothing_half_written);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *url = th_env_or("EMS_TEST_REGISTRY", NULL);
    int rc;

    if (!url) {
        fprintf(stderr, "test_devregistry: EMS_TEST_REGISTRY is not set\n");
        return 1;
    }
    snprintf(base_url, sizeof(base_url), "%s", url);
    th_unique(run_tag, sizeof(run_tag), "", "");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = th_run_suite(devregistry_suite(), 0);
    curl_global_cleanup();
    return rc;
}
