/*
 * sched: when to poll each device next. Pure: times are passed in.
 *
 * A healthy device is polled every period on a fixed grid (next = previous
 * due + period); a poll that falls more than a period behind skips the
 * missed slots and counts them. A failing device waits an exponential
 * backoff (base * 2^(failures-1), capped at max, never less than its period)
 * so a dead device costs little and is retried until it answers again.
 */
#ifndef EMS_SCADA_SCHED_H
#define EMS_SCADA_SCHED_H

#include <stdint.h>

typedef struct sg_sched {
    int64_t period_ms;
    int64_t next_ms; /* when the next poll is due */
    int failures;    /* consecutive failed polls */
    int64_t missed;  /* poll slots skipped because the poller was late */
} sg_sched_t;

/* First poll due at now + phase (spreads devices over the period). */
void sg_sched_init(sg_sched_t *s, int64_t period_ms, int64_t now_ms, int64_t phase_ms);
/* 1 when a poll is due at now. */
int sg_sched_due(const sg_sched_t *s, int64_t now_ms);
/* The backoff after the given number of consecutive failures (>= 1). */
int64_t sg_backoff_ms(int failures, int64_t base_ms, int64_t max_ms);
/* Records a successful poll finished at now. */
void sg_sched_success(sg_sched_t *s, int64_t now_ms);
/* Records a failed poll finished at now. */
void sg_sched_failure(sg_sched_t *s, int64_t now_ms, int64_t base_ms, int64_t max_ms);

#endif
