/*
 * audit: chain bookkeeping, canonical hashing, state file and ECS output.
 * ECS parsing and chain verification live in verify.c.
 */
#include "audit/audit.h"
#include "clock/clock.h"
#include "file/file.h"
#include "text/utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit_int.h"

static const char zero_hash[AUDIT_HASH_HEX] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct audit_s {
    pthread_mutex_t mu;
    char *service;
    char *instance;
    char *state_file;
    audit_publish_fn publish;
    void *publish_ctx;
    FILE *ecs_out;
    int64_t seq;
    char last_hash[AUDIT_HASH_HEX];
};

const char *audit_outcome_name(audit_outcome_t o)
{
    switch (o) {
    case AUDIT_SUCCESS:
        return "success";
    case AUDIT_FAILURE:
        return "failure";
    case AUDIT_DENIED:
        return "denied";
    }
    return "failure";
}

/* ---- canonical form and hash ---- */

static int sb_netstring(char **buf, size_t *len, const char *s)
{
    char *nb;
    size_t add;
    char head[32];
    if (!s) {
        snprintf(head, sizeof head, "~,");
        add = 2;
    } else {
        add = (size_t)snprintf(head, sizeof head, "%zu:", strlen(s)) + strlen(s) + 1;
    }
    nb = realloc(*buf, *len + add + 1);
    if (!nb)
        return -1;
    *buf = nb;
    if (!s) {
        memcpy(nb + *len, head, 2);
    } else {
        size_t hl = strlen(head), sl = strlen(s);
        memcpy(nb + *len, head, hl);
        memcpy(nb + *len + hl, s, sl);
        nb[*len + hl + sl] = ',';
    }
    *len += add;
    nb[*len] = '\0';
    return 0;
}

/* The canonical bytes of ev (see audit.h); malloc'd, length in *len. */
static char *canonical(const audit_event_t *ev, size_t *len)
{
    char seq[32], ts[32];
    snprintf(seq, sizeof seq, "%" PRId64, ev->seq);
    snprintf(ts, sizeof ts, "%" PRId64, ev->ts_ms);
    const char *fields[] = {ev->prev_hash,
                            ev->service,
                            ev->instance,
                            seq,
                            ts,
                            ev->actor,
                            ev->action,
                            ev->object,
                            ev->site_id,
                            ev->reason,
                            audit_outcome_name(ev->outcome),
                            ev->before,
                            ev->after,
                            ev->correlation_id};
    char *buf = strdup("ems-audit-1;");
    *len = buf ? strlen(buf) : 0;
    for (size_t i = 0; buf && i < sizeof fields / sizeof fields[0]; i++) {
        if (sb_netstring(&buf, len, fields[i]) < 0) {
            free(buf);
            buf = NULL;
        }
    }
    return buf;
}

int audit_event_hash(const audit_event_t *ev, char out[AUDIT_HASH_HEX])
{
    size_t len;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *buf = canonical(ev, &len);
    if (!buf)
        return -1;
    int ok = EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
    free(buf);
    if (!ok || mdlen != 32)
        return -1;
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

char *audit_json_canonical(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!j)
        j = json_string(text);
    if (!j) /* not valid UTF-8 either: keep what can be kept */
        j = json_stringn_nocheck(text, strlen(text));
    /* always an object, so a log store can give before/after one mapping
     * (an index refuses a string where it has mapped an object) */
    if (j && !json_is_object(j))
        j = json_pack("{so}", "value", j);
    char *out =
        j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return out;
}

/* ---- ECS rendering ---- */

void audit_format_ts(int64_t ts_ms, char *buf, size_t size)
{
    time_t sec = (time_t)(ts_ms / 1000);
    int ms = (int)(ts_ms % 1000);
    struct tm tm;
    if (ms < 0) {
        ms += 1000;
        sec -= 1;
    }
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", ms);
}

static void set_opt_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static void set_opt_json(json_t *o, const char *k, const char *text)
{
    if (!text)
        return;
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    json_object_set_new(o, k, j ? j : json_string(text));
}

char *audit_event_ecs(const audit_event_t *ev)
{
    char ts[40];
    audit_format_ts(ev->ts_ms, ts, sizeof ts);
    json_t *event = json_pack("{s:s,s:[s],s:[s],s:s,s:s,s:I,s:s}", "kind", "event",
                              "category", "configuration", "type",
                              ev->outcome == AUDIT_DENIED ? "denied" : "change",
                              "action", ev->action, "outcome",
                              ev->outcome == AUDIT_SUCCESS ? "success" : "failure",
                              "sequence", (json_int_t)ev->seq, "dataset", "ems.audit");
    if (!event)
        return NULL;
    set_opt_str(event, "reason", ev->reason);
    json_t *ems = json_pack("{s:s,s:s,s:s,s:s,s:s}", "actor", ev->actor, "object",
                            ev->object, "outcome", audit_outcome_name(ev->outcome),
                            "prev_hash", ev->prev_hash, "hash", ev->hash);
    if (ems) {
        set_opt_str(ems, "site_id", ev->site_id);
        set_opt_str(ems, "correlation_id", ev->correlation_id);
        set_opt_json(ems, "before", ev->before);
        set_opt_json(ems, "after", ev->after);
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s %s: %s", ev->action, ev->object,
             audit_outcome_name(ev->outcome));
    json_t *root =
        json_pack("{s:s,s:s,s:{s:s},s:o,s:{s:s,s:{s:s}},s:{s:s},s:o}", "@timestamp", ts,
                  "message", msg, "ecs", "version", "8.11", "event", event, "service",
                  "name", ev->service, "node", "name", ev->instance, "user", "name",
                  ev->actor, "ems", ems);
    if (!root)
        return NULL;
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

/* ---- state file ---- */

static int state_load(audit_t *a, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(a->state_file, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(errstr, errstr_size, "audit: cannot read state file '%s': %s",
                 a->state_file, strerror(errno));
        return -1;
    }
    char hash[80] = "";
    long long seq = -1;
    int n = fscanf(f, "ems-audit-state 1\nseq %lld\nhash %79s", &seq, hash);
    fclose(f);
    /* LLONG_MAX: no next seq (and what fscanf gives for a larger number) */
    if (n != 2 || seq < 0 || seq == LLONG_MAX || strlen(hash) != 64 ||
        strspn(hash, "0123456789abcdef") != 64) {
        snprintf(errstr, errstr_size, "audit: state file '%s' is corrupt",
                 a->state_file);
        return -1;
    }
    a->seq = seq;
    memcpy(a->last_hash, hash, AUDIT_HASH_HEX);
    return 0;
}

/* Replaces the state file by seq/hash atomically (ems_file_write_atomic_n:
 * synced, renamed, directory synced), so a crash leaves either the old or
 * the new state. */
static int state_save(const audit_t *a, int64_t seq, const char *hash, char *errstr,
                      size_t errstr_size)
{
    char buf[160];
    int len = snprintf(buf, sizeof buf, "ems-audit-state 1\nseq %" PRId64 "\nhash %s\n",
                       seq, hash);
    if (ems_file_write_atomic_n(a->state_file, buf, (size_t)len, 0600, errstr,
                                errstr_size) < 0) {
        snprintf(errstr, errstr_size, "audit: cannot save state file '%s': %s",
                 a->state_file, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- producer ---- */

audit_t *audit_new(const audit_conf_t *conf, char *errstr, size_t errstr_size)
{
    char host[256] = "localhost";
    if (!conf || !conf->service || !*conf->service) {
        snprintf(errstr, errstr_size, "audit: service name is required");
        return NULL;
    }
    audit_t *a = calloc(1, sizeof *a);
    if (!a)
        goto oom;
    pthread_mutex_init(&a->mu, NULL);
    if (!conf->instance || !*conf->instance) {
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
    }
    a->service = strdup(conf->service);
    a->instance = strdup(conf->instance && *conf->instance ? conf->instance : host);
    a->state_file =
        conf->state_file && *conf->state_file ? strdup(conf->state_file) : NULL;
    if (!a->service || !a->instance ||
        (conf->state_file && *conf->state_file && !a->state_file))
        goto oom;
    a->publish = conf->publish;
    a->publish_ctx = conf->publish_ctx;
    a->ecs_out = conf->ecs_out;
    memcpy(a->last_hash, zero_hash, AUDIT_HASH_HEX);
    if (a->state_file && state_load(a, errstr, errstr_size) < 0) {
        audit_destroy(a);
        return NULL;
    }
    return a;
oom:
    audit_destroy(a);
    snprintf(errstr, errstr_size, "audit: out of memory");
    return NULL;
}

void audit_destroy(audit_t *a)
{
    if (!a)
        return;
    free(a->service);
    free(a->instance);
    free(a->state_file);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

int64_t audit_last_seq(audit_t *a)
{
    pthread_mutex_lock(&a->mu);
    int64_t s = a->seq;
    pthread_mutex_unlock(&a->mu);
    return s;
}

static void write_line(audit_t *a, const char *line)
{
    FILE *f = a->ecs_out ? a->ecs_out : stdout;
    flockfile(f);
    fputs(line, f);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
}

/* Fills the chain fields of ev (a private copy), lock held. before/after
 * point at *canon_before/after, which the caller frees. */
static int prepare(audit_t *a, audit_event_t *ev, char **cb, char **ca)
{
    ev->service = a->service;
    ev->instance = a->instance;
    ev->seq = a->seq + 1;
    if (!ev->ts_ms)
        ev->ts_ms = ems_wall_ms();
    memcpy(ev->prev_hash, a->last_hash, AUDIT_HASH_HEX);
    *cb = ev->before ? audit_json_canonical(ev->before) : NULL;
    *ca = ev->after ? audit_json_canonical(ev->after) : NULL;
    if ((ev->before && !*cb) || (ev->after && !*ca))
        return -1;
    ev->before = *cb;
    ev->after = *ca;
    return audit_event_hash(ev, ev->hash);
}

/* The times @timestamp writes with a four-digit year, 0000-01-01 to
 * 9999-12-31, which the verifier reads back to the hashed ts. */
#define AUDIT_TS_MIN_MS (-62167219200000LL)
#define AUDIT_TS_MAX_MS 253402300799999LL

int audit_record(audit_t *a, const audit_event_t *in, audit_event_t *out, char *errstr,
                 size_t errstr_size)
{
    if (!in->actor || !in->action || !in->object || !*in->actor || !*in->action ||
        !*in->object) {
        snprintf(errstr, errstr_size, "audit: actor, action and object are required");
        return -1;
    }
    if (in->ts_ms < AUDIT_TS_MIN_MS || in->ts_ms > AUDIT_TS_MAX_MS) {
        snprintf(errstr, errstr_size,
                 "audit: ts %" PRId64 " ms out of range (years 0000 to 9999)",
                 in->ts_ms);
        return -1;
    }
    audit_event_t ev = *in;
    char *cb = NULL, *ca = NULL, *line = NULL;
    int rc = -1;
    /* Text that is not UTF-8 (ids copied from records) could not go into
     * the JSON line, while the hash covered its raw bytes: the event was
     * left out, or a field was, and the chain no longer verified. The
     * event is recorded with such bytes replaced by U+FFFD, hashed as
     * stored. */
    const char **text[] = {&ev.actor,   &ev.action, &ev.object,
                           &ev.site_id, &ev.reason, &ev.correlation_id};
    char *owned[sizeof text / sizeof text[0]] = {0};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        if (*text[i] && !ems_utf8_valid(*text[i], strlen(*text[i]))) {
            if (!(owned[i] = ems_utf8_dup_valid(*text[i]))) {
                snprintf(errstr, errstr_size, "audit: out of memory");
                goto done;
            }
            *text[i] = owned[i];
        }
    pthread_mutex_lock(&a->mu);
    if (prepare(a, &ev, &cb, &ca) < 0 || !(line = audit_event_ecs(&ev))) {
        snprintf(errstr, errstr_size, "audit: cannot encode event '%s'", in->action);
        goto out;
    }
    if (a->state_file && state_save(a, ev.seq, ev.hash, errstr, errstr_size) < 0)
        goto out;
    a->seq = ev.seq;
    memcpy(a->last_hash, ev.hash, AUDIT_HASH_HEX);
    write_line(a, line);
    rc = 0;
    if (a->publish && a->publish(a->publish_ctx, &ev, errstr, errstr_size) < 0)
        rc = -2;
    if (out) {
        out->seq = ev.seq;
        memcpy(out->prev_hash, ev.prev_hash, AUDIT_HASH_HEX);
        memcpy(out->hash, ev.hash, AUDIT_HASH_HEX);
    }
out:
    pthread_mutex_unlock(&a->mu);
done:
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        free(owned[i]);
    free(line);
    free(cb);
    free(ca);
    return rc;
}
