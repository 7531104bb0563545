/* audit internals shared by audit.c and verify.c. */
#ifndef EMS_AUDIT_AUDIT_INT_H
#define EMS_AUDIT_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-21T21:02:17.123Z" from UTC milliseconds. */
void audit_format_ts(int64_t ts_ms, char *buf, size_t size);

#endif
