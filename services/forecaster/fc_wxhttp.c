/* fc_wxhttp: weather from an HTTP endpoint with retry and exponential
 * backoff (see fc_service.h). libcurl, one blocking attempt per call. */
#include "forecaster/fc_service.h"
#include "clock/clock.h"
#include "log/log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fc_wxhttp {
    fc_wxhttp_conf c;
    char *url, *site;
    double next, cycle_start;
    int fails, degraded;
    char err[640];
};

typedef struct body {
    char *p;
    size_t n, max;
    int too_big;
} body;

fc_wxhttp *fc_wxhttp_new(const fc_wxhttp_conf *c)
{
    fc_wxhttp *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->c = *c;
    h->url = strdup(c->url ? c->url : "");
    h->site = strdup(c->site ? c->site : "");
    if (!h->url || !h->site) {
        fc_wxhttp_destroy(h);
        return NULL;
    }
    return h;
}

void fc_wxhttp_destroy(fc_wxhttp *h)
{
    if (!h)
        return;
    free(h->url);
    free(h->site);
    free(h);
}

int64_t fc_wxhttp_backoff(int64_t backoff_ms, int64_t backoff_max_ms, int failures)
{
    int64_t d = backoff_ms;
    for (int i = 1; i < failures && d < backoff_max_ms; i++)
        d *= 2;
    return d < backoff_max_ms ? d : backoff_max_ms;
}

int fc_wxhttp_degraded(const fc_wxhttp *h, char *why, size_t why_size)
{
    if (h->degraded)
        snprintf(why, why_size, "%s", h->err);
    return h->degraded;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t len = size * nmemb;
    if (b->n + len > b->max) {
        b->too_big = 1;
        return 0; /* aborts the transfer */
    }
    char *p = realloc(b->p, b->n + len + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, data, len);
    b->p = p;
    b->n += len;
    return len;
}

/* GETs the URL into *b. 0, or -1 with errstr. */
static int fetch(const fc_wxhttp *h, body *b, char *errstr, size_t errstr_size)
{
    char cerr[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURL *c = curl_easy_init();
    if (!c)
        return snprintf(errstr, errstr_size, "curl_easy_init failed"), -1;
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->c.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->c.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ems-forecaster/" EMS_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (b->too_big)
        return snprintf(errstr, errstr_size, "body larger than %zu bytes", b->max), -1;
    if (rc != CURLE_OK)
        return snprintf(errstr, errstr_size, "%s",
                        cerr[0] ? cerr : curl_easy_strerror(rc)),
               -1;
    if (status >= 400)
        return snprintf(errstr, errstr_size, "HTTP status %ld", status), -1;
    return 0;
}

/* One attempt: fetch, parse, publish. 0 or -1 with h->err. */
static int attempt(fc_wxhttp *h, svc_t *svc, fc_wxdir_stats *st)
{
    body b = {.max = (size_t)h->c.max_bytes};
    fc_wxdata wx;
    char err[256], provider[32];
    int rc = fetch(h, &b, err, sizeof err);
    fc_wxdata_init(&wx);
    int64_t now_ms = ems_wall_ms();
    if (rc == 0 &&
        (fc_wxfile_parse(b.p ? b.p : "", b.n, &wx, err, sizeof err) < 0 ||
         fc_wxdata_check_times(&wx, now_ms / 1000, now_ms / 1000, err, sizeof err) < 0))
        rc = -1;
    if (rc == 0) {
        snprintf(provider, sizeof provider, "http:open-meteo");
        if (fc_wx_publish(svc, h->site, provider, now_ms, &wx, st) < 0)
            rc = -1, snprintf(err, sizeof err, "publishing on energy.weather failed");
        else
            log_info("weather",
                     "'%s': %zu slots of %zu variable(s) published for "
                     "site '%s'",
                     h->url, wx.n, wx.nvar, h->site);
    }
    if (rc < 0)
        snprintf(h->err, sizeof h->err, "%s: %s", h->url, err);
    fc_wxdata_release(&wx);
    free(b.p);
    return rc;
}

int fc_wxhttp_step(fc_wxhttp *h, svc_t *svc, double now, fc_wxdir_stats *st)
{
    if (!h->url[0] || now < h->next)
        return 0;
    if (h->fails == 0)
        h->cycle_start = now;
    double period = h->c.period_ms / 1000.0;
    if (attempt(h, svc, st) == 0) {
        if (h->degraded)
            log_info("weather", "'%s' answers again", h->url);
        h->fails = h->degraded = 0;
        h->next = h->cycle_start + period;
        st->done++;
        return 1;
    }
    st->rejected++;
    h->fails++;
    if (h->fails <= h->c.retries) {
        int64_t d = fc_wxhttp_backoff(h->c.backoff_ms, h->c.backoff_max_ms, h->fails);
        log_warn("weather", "fetch %d failed, retry in %.1f s: %s", h->fails,
                 d / 1000.0, h->err);
        h->next = now + d / 1000.0;
        return -1;
    }
    if (!h->degraded)
        log_error("weather", "weather source degraded after %d attempts: %s", h->fails,
                  h->err);
    h->degraded = 1;
    h->fails = 0;
    h->next = h->cycle_start + period;
    if (h->next < now + h->c.backoff_ms / 1000.0)
        h->next = now + h->c.backoff_ms / 1000.0;
    return -1;
}
