/*
 * ing_held: copies of the telemetry records of pending counter resets (see
 * docs/ingester.md, Counter resets). The readings themselves are stored at
 * once; the service thread keeps their records as they came so that a
 * reset that ends as a glitch dead-letters them with the reason, like a
 * record refused by the checks. Only the service thread uses them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingester/ing_service_int.h"
#include "log/log.h"
#include "obs/metrics.h"

#define TELEMETRY "energy.telemetry"

struct ing_held_rec {
    char meter[ING_ID_MAX];
    int32_t partition;
    int64_t offset;
    void *key, *raw;
    size_t key_len, raw_len;
};

static void rec_release(ing_held_rec_t *h)
{
    free(h->key);
    free(h->raw);
}

/* Room for one more copy; 0 or -1. */
static int reserve(ing_service_t *s)
{
    size_t cap = s->hreccap ? 2 * s->hreccap : 8;
    ing_held_rec_t *p;

    if (s->nhrec < s->hreccap)
        return 0;
    if (!(p = realloc(s->hrec, cap * sizeof *p)))
        return -1;
    s->hrec = p;
    s->hreccap = cap;
    return 0;
}

static bool is_held(const ing_service_t *s, const bus_record_t *rec)
{
    for (size_t i = 0; i < s->nhrec; i++)
        if (s->hrec[i].partition == rec->partition && s->hrec[i].offset == rec->offset)
            return true;
    return false;
}

/* Keeps a copy of rec (a held reading of meter); a redelivered record is
 * kept once. Out of memory only costs the dead letter of a glitch. */
static void keep(ing_service_t *s, const char *meter, const bus_record_t *rec)
{
    ing_held_rec_t *h;

    if (is_held(s, rec))
        return;
    if (reserve(s))
        goto oom;
    h = &s->hrec[s->nhrec];
    memset(h, 0, sizeof *h);
    snprintf(h->meter, sizeof h->meter, "%s", meter);
    h->partition = rec->partition;
    h->offset = rec->offset;
    h->key = malloc(rec->key_len ? rec->key_len : 1);
    h->raw = malloc(rec->raw_len ? rec->raw_len : 1);
    if (!h->key || !h->raw) {
        rec_release(h);
        goto oom;
    }
    memcpy(h->key, rec->key, rec->key_len);
    memcpy(h->raw, rec->raw, rec->raw_len);
    h->key_len = rec->key_len;
    h->raw_len = rec->raw_len;
    s->nhrec++;
    return;
oom:
    log_warn("ingester", "out of memory keeping a pending reset's record of '%s'",
             meter);
}

/* Sends h, as it came, to energy.telemetry.dlq with the reason. */
static int dead_letter(ing_service_t *s, const ing_held_rec_t *h, const char *reason)
{
    char topic[256], part[16], off[24], err[512];
    const char *headers[] = {"ems.dlq.reason",
                             reason,
                             "ems.dlq.detail",
                             reason,
                             "ems.dlq.topic",
                             topic,
                             "ems.dlq.partition",
                             part,
                             "ems.dlq.offset",
                             off,
                             NULL};

    snprintf(topic, sizeof topic, "%s%s", bus_topic_prefix(svc_bus(s->svc)), TELEMETRY);
    snprintf(part, sizeof part, "%d", (int)h->partition);
    snprintf(off, sizeof off, "%lld", (long long)h->offset);
    if (bus_produce_raw(svc_producer(s->svc), TELEMETRY ".dlq", h->key, h->key_len,
                        h->raw, h->raw_len, headers, err, sizeof err) == 0) {
        /* the series the consumer's own dead letters count in (and
         * EmsDeadLetters watches) */
        obs_count(svc_metrics(s->svc), "ems_bus_dlq_total",
                  "Records sent to a dead-letter topic, by reason.",
                  "topic=" TELEMETRY ",reason=validation", 1);
        return 0;
    }
    log_error("ingester", "dead-lettering a counter glitch failed: %s", err);
    return -1;
}

/* Drops the meter's copies; dead-letters them first when reason is set.
 * Returns how many were dead-lettered. */
static size_t drop(ing_service_t *s, const char *meter, const char *reason)
{
    size_t keep_n = 0, sent = 0;

    for (size_t i = 0; i < s->nhrec; i++) {
        ing_held_rec_t *h = &s->hrec[i];
        if (strcmp(h->meter, meter) != 0) {
            s->hrec[keep_n++] = *h;
            continue;
        }
        if (reason && dead_letter(s, h, reason) == 0)
            sent++;
        rec_release(h);
    }
    s->nhrec = keep_n;
    return sent;
}

size_t ing_held_note(ing_service_t *s, const ing_reading_t *rd, const bus_record_t *rec,
                     const char *reason)
{
    switch (rd->reset) {
    case ING_RESET_PENDING:
        keep(s, rd->meter_id, rec);
        return 0;
    case ING_RESET_CONFIRM:
        drop(s, rd->meter_id, NULL);
        return 0;
    case ING_RESET_GLITCH:
        return drop(s, rd->meter_id, reason);
    case ING_RESET_NONE:
        break;
    }
    return 0;
}

size_t ing_held_forget_moved(ing_service_t *s,
                             bool (*moved)(int32_t partition, void *ctx), void *ctx)
{
    size_t keep_n = 0, n = s->nhrec;

    for (size_t i = 0; i < n; i++) {
        if (moved(s->hrec[i].partition, ctx))
            rec_release(&s->hrec[i]);
        else
            s->hrec[keep_n++] = s->hrec[i];
    }
    s->nhrec = keep_n;
    return n - keep_n;
}

void ing_held_release(ing_service_t *s)
{
    for (size_t i = 0; i < s->nhrec; i++)
        rec_release(&s->hrec[i]);
    free(s->hrec);
    s->hrec = NULL;
    s->nhrec = s->hreccap = 0;
}
