/*
 * audit verification: parses ECS lines back into events, recomputes each
 * hash and follows every producer's chain.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "audit/audit_int.h"

typedef struct producer {
    char *service, *instance;
    int64_t seq;
    char hash[AUDIT_HASH_HEX];
} producer_t;

struct audit_verifier_s {
    producer_t *p;
    size_t n;
};

/* Parsed event plus the JSON and strings it borrows from. */
typedef struct parsed {
    audit_event_t ev;
    json_t *root;
    char *before, *after;
} parsed_t;

static void parsed_release(parsed_t *p)
{
    json_decref(p->root);
    free(p->before);
    free(p->after);
}

static const char *get_str(json_t *root, const char *a, const char *b, const char *c)
{
    json_t *j = json_object_get(root, a);
    if (b)
        j = json_object_get(j, b);
    if (c)
        j = json_object_get(j, c);
    return json_string_value(j);
}

static int parse_ts(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int msec = 0, used = 0;
    if (!s ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &msec, &used) != 7 ||
        (size_t)used != strlen(s))
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000 + msec;
    return 0;
}

static int parse_outcome(const char *s, audit_outcome_t *o)
{
    static const audit_outcome_t all[] = {AUDIT_SUCCESS, AUDIT_FAILURE, AUDIT_DENIED};
    for (size_t i = 0; s && i < 3; i++) {
        if (strcmp(s, audit_outcome_name(all[i])) == 0) {
            *o = all[i];
            return 0;
        }
    }
    return -1;
}

static char *dump_opt(json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
}

static int hash_field(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Parses an ECS audit line. Returns 0, or -1 with the missing piece named. */
static int parse_line(const char *line, parsed_t *p, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    memset(p, 0, sizeof *p);
    p->root = json_loads(line, 0, &jerr);
    if (!json_is_object(p->root)) {
        snprintf(errstr, errstr_size, "not a JSON object: %s",
                 p->root ? "" : jerr.text);
        return -1;
    }
    json_t *r = p->root, *ems = json_object_get(r, "ems");
    audit_event_t *ev = &p->ev;
    json_t *seq = json_object_get(json_object_get(r, "event"), "sequence");
    const char *prev = json_string_value(json_object_get(ems, "prev_hash"));
    const char *hash = json_string_value(json_object_get(ems, "hash"));
    ev->service = get_str(r, "service", "name", NULL);
    ev->instance = get_str(r, "service", "node", "name");
    ev->actor = get_str(r, "ems", "actor", NULL);
    ev->action = get_str(r, "event", "action", NULL);
    ev->object = get_str(r, "ems", "object", NULL);
    ev->site_id = get_str(r, "ems", "site_id", NULL);
    ev->reason = get_str(r, "event", "reason", NULL);
    ev->correlation_id = get_str(r, "ems", "correlation_id", NULL);
    ev->seq = json_is_integer(seq) ? json_integer_value(seq) : -1;
    p->before = dump_opt(json_object_get(ems, "before"));
    p->after = dump_opt(json_object_get(ems, "after"));
    ev->before = p->before;
    ev->after = p->after;
    const char *missing =
        !ev->service        ? "service.name"
        : !ev->instance     ? "service.node.name"
        : !ev->actor        ? "ems.actor"
        : !ev->action       ? "event.action"
        : !ev->object       ? "ems.object"
        : ev->seq < 1       ? "event.sequence"
        : !hash_field(prev) ? "ems.prev_hash"
        : !hash_field(hash) ? "ems.hash"
        : parse_ts(get_str(r, "@timestamp", NULL, NULL), &ev->ts_ms) < 0 ? "@timestamp"
        : parse_outcome(get_str(r, "ems", "outcome", NULL), &ev->outcome) < 0
            ? "ems.outcome"
            : NULL;
    if (missing) {
        snprintf(errstr, errstr_size, "not an audit event: missing or bad %s", missing);
        return -1;
    }
    memcpy(ev->prev_hash, prev, AUDIT_HASH_HEX);
    memcpy(ev->hash, hash, AUDIT_HASH_HEX);
    return 0;
}

audit_verifier_t *audit_verifier_new(void)
{
    return calloc(1, sizeof(audit_verifier_t));
}

void audit_verifier_destroy(audit_verifier_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->p[i].service);
        free(v->p[i].instance);
    }
    free(v->p);
    free(v);
}

static producer_t *producer_get(audit_verifier_t *v, const audit_event_t *ev,
                                int *isnew)
{
    *isnew = 0;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->p[i].service, ev->service) == 0 &&
            strcmp(v->p[i].instance, ev->instance) == 0)
            return &v->p[i];
    producer_t *np = realloc(v->p, (v->n + 1) * sizeof *np);
    if (!np)
        return NULL;
    v->p = np;
    producer_t *p = &v->p[v->n];
    p->service = strdup(ev->service);
    p->instance = strdup(ev->instance);
    if (!p->service || !p->instance) {
        free(p->service);
        free(p->instance);
        return NULL;
    }
    v->n++;
    *isnew = 1;
    return p;
}

/* Checks ev against its producer's chain; lets the chain advance on success. */
static int check_link(audit_verifier_t *v, const audit_event_t *ev, char *errstr,
                      size_t errstr_size)
{
    char want[AUDIT_HASH_HEX];
    int isnew;
    if (audit_event_hash(ev, want) < 0 || strcmp(want, ev->hash) != 0) {
        snprintf(errstr, errstr_size,
                 "%s/%s seq %" PRId64 ": hash mismatch (event edited)", ev->service,
                 ev->instance, ev->seq);
        return -1;
    }
    producer_t *p = producer_get(v, ev, &isnew);
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int zero = strspn(ev->prev_hash, "0") == 64;
    if (isnew ? (ev->seq == 1 && !zero)
              : (ev->seq != p->seq + 1 || strcmp(ev->prev_hash, p->hash) != 0)) {
        snprintf(errstr, errstr_size,
                 "%s/%s seq %" PRId64 ": prev_hash does not match seq %" PRId64
                 " (event deleted or reordered)",
                 ev->service, ev->instance, ev->seq, isnew ? 0 : p->seq);
        if (isnew)
            v->n--, free(p->service), free(p->instance);
        return -1;
    }
    p->seq = ev->seq;
    memcpy(p->hash, ev->hash, AUDIT_HASH_HEX);
    return 0;
}

int audit_verifier_feed(audit_verifier_t *v, const char *line, char *errstr,
                        size_t errstr_size)
{
    if (strspn(line, " \t\r\n") == strlen(line))
        return 1;
    parsed_t p;
    int rc = parse_line(line, &p, errstr, errstr_size);
    if (rc == 0)
        rc = check_link(v, &p.ev, errstr, errstr_size);
    parsed_release(&p);
    return rc;
}

int audit_verify_chain(const char *const *lines, size_t n, size_t *bad, char *errstr,
                       size_t errstr_size)
{
    audit_verifier_t *v = audit_verifier_new();
    int rc = v ? 0 : -1;
    if (!v)
        snprintf(errstr, errstr_size, "out of memory");
    for (size_t i = 0; v && i < n; i++) {
        if (audit_verifier_feed(v, lines[i], errstr, errstr_size) < 0) {
            if (bad)
                *bad = i;
            rc = -1;
            break;
        }
    }
    audit_verifier_destroy(v);
    return rc;
}
