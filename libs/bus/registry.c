/* bus/registry: Confluent Schema Registry REST client. See registry.h. */
#include "bus/registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_CONTENT_TYPE "Content-Type: application/vnd.schemaregistry.v1+json"
#define REG_MAX_REPLY (4 * 1024 * 1024)

struct bus_registry_s {
    char *url;
    long timeout_ms;
    CURL *curl;
    pthread_mutex_t lock;
};

typedef struct reg_buf {
    char *data;
    size_t len;
} reg_buf_t;

static pthread_once_t reg_curl_once = PTHREAD_ONCE_INIT;

static void reg_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t reg_write_cb(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    reg_buf_t *b = opaque;
    size_t n = size * nmemb;
    char *p;

    if (b->len + n > REG_MAX_REPLY)
        return 0;
    p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

bus_registry_t *bus_registry_new(const char *url, long timeout_ms, char *errstr,
                                 size_t errstr_size)
{
    bus_registry_t *r;
    size_t n;

    pthread_once(&reg_curl_once, reg_curl_init);
    r = calloc(1, sizeof(*r));
    if (!r || !(r->url = strdup(url)) || !(r->curl = curl_easy_init())) {
        snprintf(errstr, errstr_size, "registry '%s': cannot allocate client", url);
        bus_registry_destroy(r);
        return NULL;
    }
    n = strlen(r->url);
    while (n > 0 && r->url[n - 1] == '/')
        r->url[--n] = '\0';
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void bus_registry_destroy(bus_registry_t *r)
{
    if (!r)
        return;
    if (r->curl) {
        curl_easy_cleanup(r->curl);
        pthread_mutex_destroy(&r->lock);
    }
    free(r->url);
    free(r);
}

/* Performs one request under the lock. Returns the HTTP status, or -1 with
 * errstr on a transport error. reply->data is malloc'd (may be NULL). */
static long reg_request(bus_registry_t *r, const char *endpoint, const char *body,
                        long timeout_ms, reg_buf_t *reply, char *errstr,
                        size_t errstr_size)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, REG_CONTENT_TYPE);
    CURLcode rc;
    long status = -1;

    pthread_mutex_lock(&r->lock);
    curl_easy_reset(r->curl);
    curl_easy_setopt(r->curl, CURLOPT_URL, endpoint);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, reg_write_cb);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, reply);
    if (body)
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
    rc = curl_easy_perform(r->curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(errstr, errstr_size, "registry '%s': %s", endpoint,
                 curl_easy_strerror(rc));
    pthread_mutex_unlock(&r->lock);
    curl_slist_free_all(hdrs);
    return status;
}

/* Describes a non-2xx reply, using the registry's "message" if it has one. */
static void reg_http_error(const char *endpoint, long status, const reg_buf_t *reply,
                           char *errstr, size_t errstr_size)
{
    json_t *root = reply->data ? json_loads(reply->data, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(root, "message"));

    snprintf(errstr, errstr_size, "registry '%s': HTTP %ld%s%s", endpoint, status,
             msg ? ": " : "", msg ? msg : "");
    json_decref(root);
}

int bus_registry_register(bus_registry_t *r, const char *subject,
                          const char *schema_json, int32_t *id, char *errstr,
                          size_t errstr_size)
{
    char endpoint[1024];
    reg_buf_t reply = {0};
    json_t *req = json_pack("{ss}", "schema", schema_json), *root = NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_int_t v;
    long status;
    int ret = -1;

    snprintf(endpoint, sizeof(endpoint), "%s/subjects/%s/versions", r->url, subject);
    if (!body) {
        snprintf(errstr, errstr_size, "registry '%s': cannot build request", endpoint);
        goto cleanup;
    }
    status = reg_request(r, endpoint, body, r->timeout_ms, &reply, errstr, errstr_size);
    if (status < 0)
        goto cleanup;
    if (status / 100 != 2) {
        reg_http_error(endpoint, status, &reply, errstr, errstr_size);
        goto cleanup;
    }
    root = reply.data ? json_loads(reply.data, 0, NULL) : NULL;
    if (!json_is_integer(json_object_get(root, "id"))) {
        snprintf(errstr, errstr_size, "registry '%s': reply has no integer \"id\"",
                 endpoint);
        goto cleanup;
    }
    v = json_integer_value(json_object_get(root, "id"));
    if (v < 0 || v > INT32_MAX) {
        snprintf(errstr, errstr_size, "registry '%s': id %lld out of range", endpoint,
                 (long long)v);
        goto cleanup;
    }
    *id = (int32_t)v;
    ret = 0;
cleanup:
    json_decref(root);
    json_decref(req);
    free(body);
    free(reply.data);
    return ret;
}

/* True when a 404 reply is the registry's own "schema not found" (error
 * code 40403). Any other 404 (a wrong path, a proxy in front of a registry
 * that is gone) says nothing about the id. */
static int reg_schema_not_found(const reg_buf_t *reply)
{
    json_t *root = reply->data ? json_loads(reply->data, 0, NULL) : NULL;
    json_t *code = json_object_get(root, "error_code");
    int found = json_is_integer(code) && json_integer_value(code) == 40403;

    json_decref(root);
    return found;
}

int bus_registry_get(bus_registry_t *r, int32_t id, char **schema_json, char *errstr,
                     size_t errstr_size)
{
    char endpoint[1024];
    reg_buf_t reply = {0};
    json_t *root = NULL;
    const char *s;
    long status;
    int ret = -1;

    snprintf(endpoint, sizeof(endpoint), "%s/schemas/ids/%d", r->url, (int)id);
    status = reg_request(r, endpoint, NULL, r->timeout_ms, &reply, errstr, errstr_size);
    if (status < 0)
        goto cleanup;
    if (status == 404 && reg_schema_not_found(&reply)) {
        snprintf(errstr, errstr_size, "registry '%s': schema id %d not found", endpoint,
                 (int)id);
        ret = 1;
        goto cleanup;
    }
    if (status / 100 != 2) {
        reg_http_error(endpoint, status, &reply, errstr, errstr_size);
        goto cleanup;
    }
    root = reply.data ? json_loads(reply.data, 0, NULL) : NULL;
    s = json_string_value(json_object_get(root, "schema"));
    if (!s || !(*schema_json = strdup(s))) {
        snprintf(errstr, errstr_size, "registry '%s': reply has no \"schema\" string",
                 endpoint);
        goto cleanup;
    }
    ret = 0;
cleanup:
    json_decref(root);
    free(reply.data);
    return ret;
}

int bus_registry_ping(bus_registry_t *r, long timeout_ms, char *errstr,
                      size_t errstr_size)
{
    char endpoint[1024];
    reg_buf_t reply = {0};
    long status;

    snprintf(endpoint, sizeof(endpoint), "%s/subjects", r->url);
    status = reg_request(r, endpoint, NULL, timeout_ms > 0 ? timeout_ms : r->timeout_ms,
                         &reply, errstr, errstr_size);
    if (status >= 0 && status != 200)
        reg_http_error(endpoint, status, &reply, errstr, errstr_size);
    free(reply.data);
    return status == 200 ? 0 : -1;
}
