/*
 * metrics: a thread-safe registry of Prometheus counters, gauges and
 * histograms, rendered in the Prometheus text exposition format (0.0.4).
 *
 * A metric is identified by its name plus its label set, written as
 * "key=value,key=value" (values may not contain ',' or '='; NULL or "" means
 * no labels). Look-ups get-or-create, so callers may fetch a handle lazily and
 * cache it; handles stay valid until obs_metrics_destroy(). Every function may
 * be called from any thread.
 */
#ifndef EMS_OBS_METRICS_H
#define EMS_OBS_METRICS_H

#include <stddef.h>

typedef struct obs_metrics_s obs_metrics_t;
typedef struct obs_counter_s obs_counter_t;
typedef struct obs_gauge_s obs_gauge_t;
typedef struct obs_histogram_s obs_histogram_t;

/* Returns a new empty registry, or NULL on allocation failure. */
obs_metrics_t *obs_metrics_new(void);
/* Frees the registry and every handle it gave out. NULL is a no-op. */
void obs_metrics_destroy(obs_metrics_t *m);

/* Get-or-create. Returns NULL if name/labels are malformed or the name is
 * already registered with another type. help is used on first creation. */
obs_counter_t *obs_counter(obs_metrics_t *m, const char *name, const char *help,
                           const char *labels);
obs_gauge_t *obs_gauge(obs_metrics_t *m, const char *name, const char *help,
                       const char *labels);
/* bounds: strictly increasing upper bounds (the +Inf bucket is implicit);
 * used on first creation only. */
obs_histogram_t *obs_histogram(obs_metrics_t *m, const char *name, const char *help,
                               const char *labels, const double *bounds,
                               size_t nbounds);

/* All mutators accept NULL handles (and then do nothing), so an optional
 * registry costs callers no branches. Counters ignore negative deltas. */
void obs_counter_add(obs_counter_t *c, double delta);
void obs_counter_inc(obs_counter_t *c);
double obs_counter_value(const obs_counter_t *c);
void obs_gauge_set(obs_gauge_t *g, double v);
void obs_gauge_add(obs_gauge_t *g, double delta);
double obs_gauge_value(const obs_gauge_t *g);
void obs_histogram_observe(obs_histogram_t *h, double v);

/* Convenience: counter add by name and labels in one call. */
void obs_count(obs_metrics_t *m, const char *name, const char *help, const char *labels,
               double delta);

/* Renders every metric, grouped by name with one HELP and TYPE line each.
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL. */
char *obs_metrics_render(obs_metrics_t *m);

#endif
