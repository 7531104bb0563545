/*
 * obs/http: a service's one HTTP listener (ulfius), serving
 *   GET /healthz  200 while the service loop beats (obs_http_heartbeat), else 503
 *   GET /readyz   200 only when every registered readiness check passed at its
 *                 last refresh; the JSON body lists each check
 *   GET /metrics  the metrics registry in Prometheus text format 0.0.4
 *
 * Readiness checks never run in the HTTP thread: the service loop calls
 * obs_http_refresh() (about once a second), which runs every check and caches
 * its result, so a hung dependency cannot block a probe. Results older than
 * stale_ms count as failed (the loop itself is stuck).
 *
 * Threads: obs_http_new/start/destroy and obs_http_add_check from the main
 * thread; obs_http_heartbeat/refresh from the service loop; the HTTP handlers
 * run on ulfius' threads and only read cached state under a mutex.
 */
#ifndef EMS_OBS_HTTP_H
#define EMS_OBS_HTTP_H

#include <stddef.h>

#include "obs/metrics.h"

typedef struct obs_http_s obs_http_t;

/* A readiness check: returns 0 when the dependency answers, or -1 with a
 * short reason in errstr. Runs on the thread calling obs_http_refresh(). It
 * should bound its own wait (a timeout of a second or so). */
typedef int (*obs_check_fn)(void *ctx, char *errstr, size_t errstr_size);

typedef struct obs_http_conf {
    const char *addr;       /* IPv4 bind address; NULL or "" = "0.0.0.0" */
    int port;               /* TCP port; 0 = ephemeral (see obs_http_port) */
    const char *version;    /* build version for ems_build_info; NULL = "dev" */
    obs_metrics_t *metrics; /* borrowed, must outlive the listener; required */
    int stale_ms;           /* heartbeat/refresh age that fails; 0 = 30000 */
} obs_http_conf_t;

/* Returns a listener (not yet listening) or NULL with errstr. Registers the
 * process metrics ems_process_resident_memory_bytes,
 * ems_process_start_time_seconds and ems_build_info{version} in the registry. */
obs_http_t *obs_http_new(const obs_http_conf_t *conf, char *errstr, size_t errstr_size);
/* Registers a named check (name copied, ctx borrowed). Until its first
 * refresh a check counts as failed ("not checked yet"). Returns 0, or -1 with
 * errstr (duplicate name, allocation). */
int obs_http_add_check(obs_http_t *h, const char *name, obs_check_fn fn, void *ctx,
                       char *errstr, size_t errstr_size);
/* Binds and starts serving. Returns 0, or -1 with errstr naming addr:port. */
int obs_http_start(obs_http_t *h, char *errstr, size_t errstr_size);
/* The bound port (the real one when conf.port was 0); 0 if not started. */
int obs_http_port(const obs_http_t *h);
/* Marks the loop alive now. Cheap; call every loop iteration. */
void obs_http_heartbeat(obs_http_t *h);
/* Beats, runs every check, caches results and updates the process metrics.
 * Returns 1 when all checks pass, 0 otherwise. */
int obs_http_refresh(obs_http_t *h);
/* The cached readiness (1/0), as /readyz would answer now. */
int obs_http_ready(obs_http_t *h);
/* Stops answering 200 on /healthz and /readyz (orderly shutdown begins). */
void obs_http_set_stopping(obs_http_t *h);
/* Stops the listener and frees. NULL is a no-op. */
void obs_http_destroy(obs_http_t *h);

/* The process' resident set size from /proc/self/statm in bytes, or -1 if
 * it cannot be read. Any thread. */
long obs_process_rss_bytes(void);

#endif
