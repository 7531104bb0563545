/*
 * obs/http: health, readiness and metrics over ulfius. Handlers read only
 * cached state under h->mu; checks run in obs_http_refresh() on the loop.
 */
#include "obs/http.h"
#include "clock/clock.h"
#include "text/utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ulfius.h>
#include <unistd.h>

typedef struct check {
    char *name;
    obs_check_fn fn;
    void *ctx;
    int ok;        /* last result */
    char err[256]; /* last reason when !ok */
} check_t;

struct obs_http_s {
    pthread_mutex_t mu;
    struct _u_instance inst;
    struct sockaddr_in bind; /* borrowed by ulfius: lives here */
    int inited, started, port;
    char addr[64];
    obs_metrics_t *metrics;
    obs_gauge_t *rss;
    int64_t stale_ms;
    int64_t beat_ms;    /* monotonic time of the last heartbeat */
    int64_t refresh_ms; /* monotonic time of the last refresh; 0 = never */
    int stopping;
    check_t *checks;
    size_t nchecks;
};

long obs_process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f)
        return -1;
    int n = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

static void process_metrics_init(obs_http_t *h, const char *version)
{
    char labels[128];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(labels, sizeof labels, "version=%s", version ? version : "dev");
    obs_gauge_set(obs_gauge(h->metrics, "ems_build_info",
                            "Build information; the value is always 1.", labels),
                  1);
    obs_gauge_set(
        obs_gauge(h->metrics, "ems_process_start_time_seconds",
                  "Start time of the process since the Unix epoch in seconds.", NULL),
        (double)ts.tv_sec + ts.tv_nsec / 1e9);
    h->rss = obs_gauge(h->metrics, "ems_process_resident_memory_bytes",
                       "Resident memory size in bytes.", NULL);
    obs_gauge_set(h->rss, (double)obs_process_rss_bytes());
}

obs_http_t *obs_http_new(const obs_http_conf_t *conf, char *errstr, size_t errstr_size)
{
    if (!conf || !conf->metrics || conf->port < 0 || conf->port > 65535) {
        snprintf(errstr, errstr_size,
                 "http: metrics registry and a port 0-65535 are required");
        return NULL;
    }
    obs_http_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(errstr, errstr_size, "http: out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    snprintf(h->addr, sizeof h->addr, "%s",
             conf->addr && *conf->addr ? conf->addr : "0.0.0.0");
    h->bind.sin_family = AF_INET;
    h->bind.sin_port = htons((uint16_t)conf->port);
    if (inet_pton(AF_INET, h->addr, &h->bind.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "http: bad IPv4 listen address '%s'", h->addr);
        obs_http_destroy(h);
        return NULL;
    }
    h->port = conf->port;
    h->metrics = conf->metrics;
    h->stale_ms = conf->stale_ms > 0 ? conf->stale_ms : 30000;
    h->beat_ms = ems_mono_ms();
    process_metrics_init(h, conf->version);
    return h;
}

int obs_http_add_check(obs_http_t *h, const char *name, obs_check_fn fn, void *ctx,
                       char *errstr, size_t errstr_size)
{
    int rc = -1;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->nchecks; i++) {
        if (strcmp(h->checks[i].name, name) == 0) {
            snprintf(errstr, errstr_size, "http: check '%s' already registered", name);
            goto out;
        }
    }
    check_t *nc = realloc(h->checks, (h->nchecks + 1) * sizeof *nc);
    if (!nc || !(name = strdup(name))) {
        if (nc)
            h->checks = nc;
        snprintf(errstr, errstr_size, "http: out of memory");
        goto out;
    }
    h->checks = nc;
    h->checks[h->nchecks] = (check_t){.name = (char *)name, .fn = fn, .ctx = ctx};
    snprintf(h->checks[h->nchecks].err, sizeof nc->err, "not checked yet");
    h->nchecks++;
    rc = 0;
out:
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* ---- handlers (ulfius threads) ---- */

static int respond_json(struct _u_response *resp, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    ulfius_set_string_body_response(resp, status, text ? text : "{}");
    u_map_put(resp->map_header, "Content-Type", "application/json");
    u_map_put(resp->map_header, "Cache-Control", "no-store");
    free(text);
    return U_CALLBACK_COMPLETE;
}

static int on_healthz(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    obs_http_t *h = ud;
    (void)req;
    pthread_mutex_lock(&h->mu);
    int64_t age = ems_mono_ms() - h->beat_ms;
    int stopping = h->stopping;
    pthread_mutex_unlock(&h->mu);
    const char *status = stopping ? "stopping" : age > h->stale_ms ? "stalled" : "ok";
    int ok = strcmp(status, "ok") == 0;
    return respond_json(
        resp, ok ? 200 : 503,
        json_pack("{s:s,s:I}", "status", status, "loop_age_ms", (json_int_t)age));
}

/* Cached readiness and its JSON description; lock held. */
static int ready_locked(obs_http_t *h, json_t **out)
{
    int64_t age = h->refresh_ms ? ems_mono_ms() - h->refresh_ms : -1;
    int ready = !h->stopping && age >= 0 && age <= h->stale_ms;
    json_t *checks = out ? json_object() : NULL;
    for (size_t i = 0; i < h->nchecks; i++) {
        check_t *c = &h->checks[i];
        ready = ready && c->ok;
        if (checks)
            json_object_set_new(checks, c->name,
                                c->ok
                                    ? json_pack("{s:b}", "ok", 1)
                                    : json_pack("{s:b,s:s}", "ok", 0, "error", c->err));
    }
    if (out)
        *out = json_pack("{s:b,s:b,s:I,s:o}", "ready", ready, "stopping", h->stopping,
                         "checked_ms_ago", (json_int_t)age, "checks", checks);
    return ready;
}

static int on_readyz(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    obs_http_t *h = ud;
    json_t *body = NULL;
    (void)req;
    pthread_mutex_lock(&h->mu);
    int ready = ready_locked(h, &body);
    pthread_mutex_unlock(&h->mu);
    return respond_json(resp, ready ? 200 : 503, body);
}

static int on_metrics(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    obs_http_t *h = ud;
    (void)req;
    obs_gauge_set(h->rss, (double)obs_process_rss_bytes());
    char *text = obs_metrics_render(h->metrics);
    if (!text) {
        ulfius_set_string_body_response(resp, 500, "render failed\n");
        return U_CALLBACK_COMPLETE;
    }
    ulfius_set_binary_body_response(resp, 200, text, strlen(text));
    u_map_put(resp->map_header, "Content-Type",
              "text/plain; version=0.0.4; charset=utf-8");
    free(text);
    return U_CALLBACK_COMPLETE;
}

static int on_not_found(const struct _u_request *req, struct _u_response *resp,
                        void *ud)
{
    (void)req;
    (void)ud;
    ulfius_set_string_body_response(resp, 404,
                                    "not found: try /healthz, /readyz, /metrics\n");
    return U_CALLBACK_COMPLETE;
}

/* ---- lifecycle ---- */

/* Binds and listens on addr:port ourselves so that port 0 yields a real
 * ephemeral port we can read back, then hands the socket to the daemon. */
static int listen_socket(obs_http_t *h, char *errstr, size_t errstr_size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = {0};
    socklen_t salen = sizeof sa;
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&h->bind, sizeof h->bind) < 0 ||
        listen(fd, 64) < 0 || getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
        goto fail;
    h->port = ntohs(sa.sin_port);
    return fd;
fail:
    snprintf(errstr, errstr_size, "http: cannot listen on %s:%d: %s", h->addr, h->port,
             strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int obs_http_start(obs_http_t *h, char *errstr, size_t errstr_size)
{
    int fd = listen_socket(h, errstr, errstr_size);
    if (fd < 0)
        return -1;
    if (ulfius_init_instance(&h->inst, (unsigned)h->port, &h->bind, NULL) != U_OK) {
        snprintf(errstr, errstr_size, "http: cannot init listener on %s:%d", h->addr,
                 h->port);
        close(fd);
        return -1;
    }
    h->inited = 1;
    int rc =
        ulfius_add_endpoint_by_val(&h->inst, "GET", "/healthz", NULL, 0, on_healthz, h);
    rc |= ulfius_add_endpoint_by_val(&h->inst, "GET", "/readyz", NULL, 0, on_readyz, h);
    rc |=
        ulfius_add_endpoint_by_val(&h->inst, "GET", "/metrics", NULL, 0, on_metrics, h);
    rc |= ulfius_set_default_endpoint(&h->inst, on_not_found, NULL);
    /* One internal polling thread serves every connection: the handlers only
     * read cached state, so nothing there blocks. */
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 10, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, 64, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (rc != U_OK || ulfius_start_framework_with_mhd_options(
                          &h->inst, MHD_USE_INTERNAL_POLLING_THREAD, ops) != U_OK) {
        snprintf(errstr, errstr_size, "http: cannot start listener on %s:%d", h->addr,
                 h->port);
        close(fd);
        return -1;
    }
    h->started = 1;
    return 0;
}

int obs_http_port(const obs_http_t *h)
{
    return h && h->started ? h->port : 0;
}

void obs_http_heartbeat(obs_http_t *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->beat_ms = ems_mono_ms();
    pthread_mutex_unlock(&h->mu);
}

/* Stores a failed check's reason as the JSON body can carry it: bytes that
 * are not UTF-8 replaced by U+FFFD, cut to c->err at a character boundary.
 * jansson refuses other text, and the check vanished from /readyz. Lock
 * held. */
static void check_set_reason(check_t *c, const char *why)
{
    char *valid = ems_utf8_dup_valid(why);

    snprintf(c->err, sizeof c->err, "%s", valid ? valid : "failed");
    free(valid);
    ems_utf8_trim_partial(c->err);
}

/* Runs the checks without the lock (a check may take a while), then
 * publishes the results. Checks are only added from the main thread before
 * the loop starts, so the array is stable here. */
int obs_http_refresh(obs_http_t *h)
{
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    size_t n = h->nchecks;
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        char err[256] = "";
        int ok = h->checks[i].fn(h->checks[i].ctx, err, sizeof err) == 0;
        pthread_mutex_lock(&h->mu);
        h->checks[i].ok = ok;
        check_set_reason(&h->checks[i], ok ? "" : (*err ? err : "failed"));
        pthread_mutex_unlock(&h->mu);
    }
    obs_gauge_set(h->rss, (double)obs_process_rss_bytes());
    pthread_mutex_lock(&h->mu);
    h->beat_ms = h->refresh_ms = ems_mono_ms();
    int ready = ready_locked(h, NULL);
    pthread_mutex_unlock(&h->mu);
    return ready;
}

int obs_http_ready(obs_http_t *h)
{
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    int ready = ready_locked(h, NULL);
    pthread_mutex_unlock(&h->mu);
    return ready;
}

void obs_http_set_stopping(obs_http_t *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_mutex_unlock(&h->mu);
}

void obs_http_destroy(obs_http_t *h)
{
    if (!h)
        return;
    if (h->started)
        ulfius_stop_framework(&h->inst);
    if (h->inited)
        ulfius_clean_instance(&h->inst);
    for (size_t i = 0; i < h->nchecks; i++)
        free(h->checks[i].name);
    free(h->checks);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
