/*
 * fz: what the fuzz harnesses (tests/fuzz/fuzz_*.c) share. Each harness is
 * one LLVMFuzzerTestOneInput() over bytes that reach a service from outside
 * (the bus, MQTT, Modbus, a config or plant file). The same sources are
 * linked with libFuzzer (make fuzz) and with replay.c, which feeds them the
 * files of tests/fuzz/corpus/<target>/ in make test.
 *
 * State a harness sets up once (schemas, decoders, a plant) lives until the
 * process exits, reachable from static pointers, so LeakSanitizer reports
 * only what one input leaks. A setup failure aborts: a harness that cannot
 * run must not pass.
 */
#ifndef EMS_TESTS_FUZZ_FZ_H
#define EMS_TESTS_FUZZ_FZ_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harnesses' wall clock, fixed so an input decodes the same every run. */
#define FZ_NOW_MS 1767225600000LL /* 2026-01-01 */

/* The source tree: $EMS_TEST_ROOT, else the directory make ran in. */
const char *fz_root(void);
/* The contents of path (relative to the root unless absolute), NUL-terminated, owned by
 * the caller; aborts when it cannot be read. *len may be NULL. */
char *fz_slurp(const char *relpath, size_t *len);
/* A NUL-terminated copy of n bytes (malloc'd, caller frees). */
char *fz_strndup(const uint8_t *data, size_t n);
/* Prints why setup failed and aborts. */
_Noreturn void fz_fail(const char *what, const char *why);

/* A topic as a consumer of the bus sees it: its local (reader) schema and a
 * decoder per writer schema the registry could hand out. */
typedef struct fz_topic fz_topic_t;

/* Schema ids on the fuzzed wire: FZ_ID_LOCAL is the topic's schema as in
 * schemas/<topic>.avsc; FZ_ID_LOCAL + k its k-th older version
 * (schemas/history/<topic>/v<k>.avsc); any other id is unknown to the
 * registry. */
#define FZ_ID_LOCAL 1

/* The topic, loaded on first use (aborts when its schemas do not load). */
fz_topic_t *fz_topic(const char *topic);
/* Number of writer schemas of t (the local one and its history). */
int fz_topic_writers(const fz_topic_t *t);

/* What the bus's consumer does with one record of t: splits the Confluent
 * frame, picks the writer by schema id, decodes the body into a new value
 * of the reader schema. Returns 0 with *out set (the caller decrefs it) and
 * *native when the writer is the local schema, or -1 when the consumer
 * would dead-letter the record (*out then untouched). */
int fz_decode(fz_topic_t *t, const uint8_t *data, size_t size, avro_value_t *out,
              int *native);

/* For the harnesses fed a record of one of several topics: the input's
 * first byte picks topics[byte % n], the rest is the record's wire bytes,
 * decoded as fz_decode() does. Returns the topic's index with *out set (the
 * caller decrefs it), or -1 for an empty input or a record the consumer
 * would dead-letter. */
int fz_decode_selected(const char *const *topics, size_t n, const uint8_t *data,
                       size_t size, avro_value_t *out);

#endif
