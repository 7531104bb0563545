/*
 * log: JSON log lines on stderr, one object per line:
 *   {"ts":"2026-11-21T21:02:17.123Z","level":"info","service":"ingester",
 *    "module":"bus","msg":"..."}
 * Services log; libraries return errors in errstr instead (STYLE.md).
 * The process-wide settings are set once at start-up by log_init(); writing a
 * line is thread-safe (one write(2) per line).
 */
#ifndef EMS_LOG_LOG_H
#define EMS_LOG_LOG_H

#include <stdio.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

/* service is copied. Lines below min_level are dropped. */
void log_init(const char *service, log_level_t min_level);
/* Parses "debug|info|warn|error"; returns 0 or -1. */
int log_level_parse(const char *s, log_level_t *out);
/* Redirects output (tests); NULL restores stderr. */
void log_set_stream(FILE *f);

void log_msg(log_level_t lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_msg(LOG_DEBUG, (mod), __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, (mod), __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, (mod), __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, (mod), __VA_ARGS__)

#endif
