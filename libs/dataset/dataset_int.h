/*
 * dataset internals shared by the readers of this module; not for callers.
 */
#ifndef EMS_DATASET_DATASET_INT_H
#define EMS_DATASET_DATASET_INT_H

#include <stddef.h>

/* snprintf into errstr (ignored when NULL). */
void ds_err(char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Strips the line end, splits line at commas in place into at most max
 * fields. Returns the field count, or -1 when there are more than max. */
int ds_split(char *line, char **fields, int max);
/* Parses a whole field as a double ("nan" gives NAN). Returns 0 or -1. */
int ds_number(const char *s, double *out);

#endif
