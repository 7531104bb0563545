/*
 * devregistry against its REST contract (the Confluent Schema Registry
 * subset the suite uses), over HTTP at EMS_TEST_REGISTRY. Each run uses
 * fresh subject names, so the persisted store of earlier runs does not
 * matter.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/harness.h"

#define CT_HEADER "Content-Type: application/vnd.schemaregistry.v1+json"

static char base_url[512];
static char run_tag[64];

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    buf_t *b = ud;
    char *grown = realloc(b->data, b->len + size * n + 1);

    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* Performs one request; returns the parsed JSON reply (or NULL) and the HTTP
 * status in *status. */
static json_t *http(const char *method, const char *path, const char *body,
                    const char *content_type, long *status)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[1024];
    buf_t b = {NULL, 0};
    json_t *out = NULL;
    json_error_t err;

    ck_assert_ptr_nonnull(c);
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (body) {
        h = curl_slist_append(h, content_type ? content_type : CT_HEADER);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    ck_assert_msg(curl_easy_perform(c) == CURLE_OK, "request to '%s' failed", url);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (b.data)
        out = json_loads(b.data, JSON_DECODE_ANY, &err);
    free(b.data);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
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
    char path[512];
    char *body = schema_body(fields);
    long status = 0, id;
    json_t *r;

    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    r = http("POST", path, body, NULL, &status);
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

static void assert_error(json_t *r, long status, long want_status, long want_code)
{
    ck_assert_int_eq(status, want_status);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "error_code")), want_code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r, "message")));
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
    char subject[256], path[512];
    const char *reordered = "{\"schema\":\"{\\\"fields\\\":[{\\\"type\\\":\\\"int\\\","
                            "\\\"name\\\":\\\"a\\\"}],\\\"namespace\\\":\\\"ems.it\\\","
                            "\\\"name\\\":\\\"T\\\",\\\"type\\\":\\\"record\\\"}\"}";
    long id, status;
    json_t *r;

    subject_name(subject, sizeof(subject), "order");
    id = register_fields(subject, V1);
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    r = http("POST", path, reordered, "Content-Type: application/json", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), id);
    json_decref(r);
}
END_TEST

START_TEST(get_by_id_returns_the_schema)
{
    char subject[256], path[128];
    long id, status;
    json_t *r, *schema;
    json_error_t err;

    subject_name(subject, sizeof(subject), "byid");
    id = register_fields(subject, V1);
    snprintf(path, sizeof(path), "/schemas/ids/%ld", id);
    r = http("GET", path, NULL, NULL, &status);
    ck_assert_int_eq(status, 200);
    schema = json_loads(json_string_value(json_object_get(r, "schema")), 0, &err);
    ck_assert_ptr_nonnull(schema);
    ck_assert_str_eq(json_string_value(json_object_get(schema, "name")), "T");
    json_decref(schema);
    json_decref(r);
}
END_TEST

START_TEST(latest_tracks_new_versions)
{
    char subject[256], path[512];
    long id1, id2, status;
    json_t *r;

    subject_name(subject, sizeof(subject), "latest");
    id1 = register_fields(subject, V1);
    id2 = register_fields(subject, V2_DEFAULT);
    ck_assert_int_gt(id2, 0);
    ck_assert_int_ne(id1, id2);
    snprintf(path, sizeof(path), "/subjects/%s/versions/latest", subject);
    r = http("GET", path, NULL, NULL, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r, "subject")), subject);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "version")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), id2);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r, "schema")));
    json_decref(r);
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    r = http("GET", path, NULL, NULL, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(json_array_size(r), 2);
    json_decref(r);
}
END_TEST

START_TEST(incompatible_change_is_refused)
{
    char subject[256], path[512];
    long status;
    json_t *r;

    subject_name(subject, sizeof(subject), "incompat");
    ck_assert_int_gt(register_fields(subject, V1), 0);
    ck_assert_int_eq(register_fields(subject, V2_REQUIRED), -409);
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    r = http("GET", path, NULL, NULL, &status);
    ck_assert_int_eq(json_array_size(r), 1); /* nothing was added */
    json_decref(r);
}
END_TEST

START_TEST(compatibility_endpoint_answers)
{
    char subject[256], path[512];
    char *good = schema_body(V2_DEFAULT), *bad = schema_body(V2_REQUIRED);
    long status;
    json_t *r;

    subject_name(subject, sizeof(subject), "check");
    ck_assert_int_gt(register_fields(subject, V1), 0);
    snprintf(path, sizeof(path), "/compatibility/subjects/%s/versions/latest", subject);
    r = http("POST", path, good, NULL, &status);
    ck_assert_int_eq(status, 200);
    ck_assert(json_is_true(json_object_get(r, "is_compatible")));
    json_decref(r);
    r = http("POST", path, bad, NULL, &status);
    ck_assert_int_eq(status, 200);
    ck_assert(json_is_false(json_object_get(r, "is_compatible")));
    json_decref(r);
    free(good);
    free(bad);
}
END_TEST

START_TEST(compatibility_none_accepts_anything)
{
    char subject[256], path[512];
    long status;
    json_t *r;

    subject_name(subject, sizeof(subject), "none");
    ck_assert_int_gt(register_fields(subject, V1), 0);
    snprintf(path, sizeof(path), "/config/%s", subject);
    r = http("PUT", path, "{\"compatibility\":\"NONE\"}", NULL, &status);
    ck_assert_int_eq(status, 200);
    json_decref(r);
    ck_assert_int_gt(register_fields(subject, V2_REQUIRED), 0);
}
END_TEST

START_TEST(not_found_shapes)
{
    char subject[256], path[512];
    long status;
    json_t *r;

    subject_name(subject, sizeof(subject), "missing");
    snprintf(path, sizeof(path), "/subjects/%s/versions/latest", subject);
    r = http("GET", path, NULL, NULL, &status);
    assert_error(r, status, 404, 40401);
    json_decref(r);
    r = http("GET", "/schemas/ids/999999999", NULL, NULL, &status);
    assert_error(r, status, 404, 40403);
    json_decref(r);
    subject_name(subject, sizeof(subject), "versions");
    ck_assert_int_gt(register_fields(subject, V1), 0);
    snprintf(path, sizeof(path), "/subjects/%s/versions/7", subject);
    r = http("GET", path, NULL, NULL, &status);
    assert_error(r, status, 404, 40402);
    json_decref(r);
}
END_TEST

START_TEST(invalid_schema_is_rejected)
{
    char subject[256], path[512];
    long status;
    json_t *r;

    subject_name(subject, sizeof(subject), "invalid");
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    r = http("POST", path, "{\"schema\":\"{\\\"type\\\":\\\"nope\\\"}\"}", NULL,
             &status);
    assert_error(r, status, 422, 42201);
    json_decref(r);
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
    char subject[256], path[512], what[32];
    json_t *w = json_pack("{s:s}", "schema", compat_cases[_i].writer);
    json_t *r = json_pack("{s:s}", "schema", compat_cases[_i].reader);
    char *wbody = json_dumps(w, JSON_COMPACT), *rbody = json_dumps(r, JSON_COMPACT);
    long status;
    json_t *reply;

    snprintf(what, sizeof(what), "rule%d", _i);
    subject_name(subject, sizeof(subject), what);
    snprintf(path, sizeof(path), "/subjects/%s/versions", subject);
    reply = http("POST", path, wbody, NULL, &status);
    ck_assert_msg(status == 200, "%s: writer refused", compat_cases[_i].name);
    json_decref(reply);
    snprintf(path, sizeof(path), "/compatibility/subjects/%s/versions/latest", subject);
    reply = http("POST", path, rbody, NULL, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(json_is_true(json_object_get(reply, "is_compatible")) ==
                      compat_cases[_i].compatible,
                  "%s: expected %s", compat_cases[_i].name,
                  compat_cases[_i].compatible ? "compatible" : "incompatible");
    json_decref(reply);
    free(wbody);
    free(rbody);
    json_decref(w);
    json_decref(r);
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
