/*
 * audit: hash-chained audit events (schemas/audit.events.avsc).
 *
 * Every event a producer records gets the next sequence number, the hash of
 * the producer's previous event (prev_hash; 64 zeros for the first) and its
 * own hash, a SHA-256 over prev_hash and a canonical serialisation of every
 * other field. Deleting, reordering or editing an event therefore breaks the
 * chain, which audit_verifier_feed() detects.
 *
 * Each event is written as one ECS JSON line (for Filebeat) to stdout (or a
 * configured stream) and handed to a publish callback, which the service
 * skeleton wires to a bus producer on audit.events. The library does no
 * Kafka I/O itself.
 *
 * Canonical serialisation (version 1), hashed as bytes with SHA-256:
 *   "ems-audit-1;" then, for each field in the order prev_hash, service,
 *   instance, seq, ts, actor, action, object, site_id, reason, outcome,
 *   before, after, correlation_id: a netstring "<len>:<bytes>," of its UTF-8
 *   text (integers in decimal, outcome as its symbol), or "~," for null.
 * before/after are stored in canonical JSON (compact, keys sorted) so that the
 * ECS line, which embeds them as JSON objects, reproduces the same bytes.
 *
 * State: with a state file, the last seq and hash are saved (atomically,
 * before the event is emitted) and reloaded by audit_new(), so the chain goes
 * on across restarts.
 *
 * Threads: audit_record() may be called from any thread; calls are
 * serialised, and publish runs under the audit lock, in chain order.
 */
#ifndef EMS_AUDIT_AUDIT_H
#define EMS_AUDIT_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { AUDIT_SUCCESS = 0, AUDIT_FAILURE, AUDIT_DENIED } audit_outcome_t;

#define AUDIT_HASH_HEX 65 /* 64 hex digits and NUL */

typedef struct audit_event {
    /* Set by audit_record(); ignored in its input. */
    const char *service;
    const char *instance;
    int64_t seq;
    char prev_hash[AUDIT_HASH_HEX];
    char hash[AUDIT_HASH_HEX];
    /* Set by the caller. NULL optional fields mean null. */
    int64_t ts_ms;       /* when it happened, UTC ms; 0 = now */
    const char *actor;   /* user name or "service:<name>" (required) */
    const char *action;  /* "control.command.write" (required) */
    const char *object;  /* "equipment/dryer-2" (required) */
    const char *site_id; /* optional */
    const char *reason;  /* optional */
    audit_outcome_t outcome;
    const char *before;         /* optional JSON text */
    const char *after;          /* optional JSON text */
    const char *correlation_id; /* optional */
} audit_event_t;

/* Publishes one finished event (e.g. to audit.events). ev and its strings
 * are valid only during the call. Returns 0, or -1 with err filled. */
typedef int (*audit_publish_fn)(void *ctx, const audit_event_t *ev, char *err,
                                size_t err_size);

typedef struct audit_conf {
    const char *service;      /* required */
    const char *instance;     /* NULL = the host name */
    const char *state_file;   /* optional: persists the chain's last seq/hash */
    audit_publish_fn publish; /* optional */
    void *publish_ctx;
    FILE *ecs_out; /* NULL = stdout */
} audit_conf_t;

typedef struct audit_s audit_t;

/* Returns an audit producer, or NULL with errstr (unreadable or corrupt state
 * file, naming the path). Copies conf's strings. */
audit_t *audit_new(const audit_conf_t *conf, char *errstr, size_t errstr_size);
/* Frees. NULL is a no-op. */
void audit_destroy(audit_t *a);

/* Records ev: assigns seq and hashes, saves the state file, writes the ECS
 * line, then publishes. If out is given it receives a copy of the header
 * fields (seq, prev_hash, hash). Returns 0; -1 with errstr when a required
 * field is missing or the state cannot be saved (then nothing was emitted
 * and the chain did not advance); -2 with errstr when only the publish
 * callback failed (the event is in the chain and on the ECS stream). */
int audit_record(audit_t *a, const audit_event_t *ev, audit_event_t *out, char *errstr,
                 size_t errstr_size);
/* The last seq recorded (0 before the first). */
int64_t audit_last_seq(audit_t *a);

/* ---- pure helpers ---- */

/* Computes the hash of ev (using ev->prev_hash and all other fields except
 * hash) into out. Returns 0, or -1 on a crypto failure. */
int audit_event_hash(const audit_event_t *ev, char out[AUDIT_HASH_HEX]);
/* The ECS JSON line of ev (no trailing newline), malloc'd; NULL on error. */
char *audit_event_ecs(const audit_event_t *ev);
/* Canonical JSON of a JSON text (compact, sorted keys) malloc'd; a text that
 * is not JSON becomes a JSON string holding it. NULL only on allocation
 * failure. */
char *audit_json_canonical(const char *text);
const char *audit_outcome_name(audit_outcome_t o);

/* ---- verification ---- */

typedef struct audit_verifier_s audit_verifier_t;

audit_verifier_t *audit_verifier_new(void);
void audit_verifier_destroy(audit_verifier_t *v);
/* Checks the next ECS line. Chains are tracked per (service, instance); the
 * first event seen of a producer starts its chain (when its seq is 1 its
 * prev_hash must be zeros). Returns 0 when the link holds, -1 with a reason
 * in errstr (not an audit event, hash mismatch = edited, prev_hash or seq
 * gap = deleted or reordered). Blank lines return 1 and are skipped. */
int audit_verifier_feed(audit_verifier_t *v, const char *line, char *errstr,
                        size_t errstr_size);
/* Verifies n ECS lines in order. Returns 0 when the whole sequence holds, or
 * -1 with *bad the index of the first broken line and errstr its reason. */
int audit_verify_chain(const char *const *lines, size_t n, size_t *bad, char *errstr,
                       size_t errstr_size);

#endif
