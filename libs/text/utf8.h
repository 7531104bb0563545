/*
 * utf8: checks and trims UTF-8 text that arrives from outside (Avro strings
 * are bytes to avro-c), before it reaches PostgreSQL, which refuses a whole
 * COPY for one invalid byte sequence, or a hash chain, which must hash what
 * it stores.
 */
#ifndef EMS_TEXT_UTF8_H
#define EMS_TEXT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when the n bytes of s are well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF) and hold no NUL byte. */
bool ems_utf8_valid(const char *s, size_t n);

/* Cuts a NUL-terminated string that was truncated at a byte count back to
 * the last whole character, so a multi-byte character split by the cut is
 * dropped rather than left half. Returns the new length. */
size_t ems_utf8_trim_partial(char *s);

/* A copy of the NUL-terminated s in which every byte that does not begin
 * a well-formed sequence is replaced by U+FFFD; valid text is copied as it
 * is. The caller frees it. NULL when out of memory. */
char *ems_utf8_dup_valid(const char *s);

#endif
