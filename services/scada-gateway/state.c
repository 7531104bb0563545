/*
 * state: counters and executed command ids across restarts (see state.h).
 */
#include "scada-gateway/state.h"

#include "scada-gateway/spool.h"
#include "file/file.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_VERSION 1

typedef struct counter_slot {
    char *meter_id;
    sg_counter_t c;
} counter_slot_t;

struct sg_state {
    pthread_mutex_t mu;
    char *path;
    counter_slot_t *counters;
    size_t ncounters, cap;
    char *commands[SG_STATE_COMMANDS]; /* a ring; next is the oldest */
    size_t next;
    json_t *writes; /* equipment id -> last write to the plant, UTC ms */
    bool dirty, urgent, saved_once;
    int64_t saved_ms;
};

sg_state_t *sg_state_new(const char *path)
{
    sg_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    if (pthread_mutex_init(&st->mu, NULL) != 0 ||
        (path && !(st->path = strdup(path)))) {
        free(st);
        return NULL;
    }
    return st;
}

static void clear(sg_state_t *st)
{
    json_decref(st->writes);
    st->writes = NULL;
    for (size_t i = 0; i < st->ncounters; i++)
        free(st->counters[i].meter_id);
    st->ncounters = 0;
    for (size_t i = 0; i < SG_STATE_COMMANDS; i++) {
        free(st->commands[i]);
        st->commands[i] = NULL;
    }
    st->next = 0;
}

void sg_state_destroy(sg_state_t *st)
{
    if (!st)
        return;
    clear(st);
    free(st->counters);
    free(st->path);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* ---- codec ---- */

static int find_counter(const sg_state_t *st, const char *meter_id)
{
    for (size_t i = 0; i < st->ncounters; i++)
        if (strcmp(st->counters[i].meter_id, meter_id) == 0)
            return (int)i;
    return -1;
}

static int add_counter(sg_state_t *st, const char *meter_id, const sg_counter_t *c)
{
    if (st->ncounters == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        counter_slot_t *p = realloc(st->counters, cap * sizeof *p);
        if (!p)
            return -1;
        st->counters = p;
        st->cap = cap;
    }
    char *id = strdup(meter_id);
    if (!id)
        return -1;
    st->counters[st->ncounters] = (counter_slot_t){.meter_id = id, .c = *c};
    return (int)st->ncounters++;
}

static void push_command(sg_state_t *st, const char *id)
{
    free(st->commands[st->next]);
    st->commands[st->next] = strdup(id);
    st->next = (st->next + 1) % SG_STATE_COMMANDS;
}

/* Fills tmp from the parsed document; -1 with errstr on a bad shape. */
static int decode_doc(sg_state_t *tmp, json_t *doc, char *errstr, size_t n)
{
    json_t *counters = json_object_get(doc, "counters"),
           *commands = json_object_get(doc, "commands"), *v, *e;
    const char *key;
    size_t i;
    if (!json_is_object(doc) ||
        json_integer_value(json_object_get(doc, "version")) != STATE_VERSION) {
        snprintf(errstr, n, "not a version %d state document", STATE_VERSION);
        return -1;
    }
    json_t *writes = json_object_get(doc, "writes");
    if ((counters && !json_is_object(counters)) ||
        (commands && !json_is_array(commands)) || (writes && !json_is_object(writes))) {
        snprintf(errstr, n,
                 "'counters' must be an object, 'commands' an array, "
                 "'writes' an object");
        return -1;
    }
    json_object_foreach(writes, key, v)
    {
        if (!json_is_integer(v)) {
            snprintf(errstr, n, "last write of '%s' is not an integer", key);
            return -1;
        }
    }
    if (writes && !(tmp->writes = json_deep_copy(writes))) {
        snprintf(errstr, n, "out of memory");
        return -1;
    }
    json_object_foreach(counters, key, v)
    {
        json_t *raw = json_object_get(v, "prev_raw"),
               *off = json_object_get(v, "offset");
        if (!json_is_number(raw) || !json_is_number(off)) {
            snprintf(errstr, n, "counter of '%s' lacks a numeric prev_raw or offset",
                     key);
            return -1;
        }
        sg_counter_t c = {.has_prev = true,
                          .prev_raw = json_number_value(raw),
                          .offset = json_number_value(off)};
        if (add_counter(tmp, key, &c) < 0)
            return -1;
    }
    json_array_foreach(commands, i, e)
    {
        if (!json_is_string(e)) {
            snprintf(errstr, n, "command id %zu is not a string", i);
            return -1;
        }
        push_command(tmp, json_string_value(e));
    }
    return 0;
}

int sg_state_decode(sg_state_t *st, const char *text, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    sg_state_t *tmp = sg_state_new(NULL);
    int rc = -1;
    if (!doc)
        snprintf(errstr, errstr_size, "line %d: %s", jerr.line, jerr.text);
    else if (tmp && decode_doc(tmp, doc, errstr, errstr_size) == 0) {
        pthread_mutex_lock(&st->mu);
        clear(st);
        counter_slot_t *swap = st->counters;
        st->counters = tmp->counters;
        st->ncounters = tmp->ncounters;
        st->cap = tmp->cap;
        tmp->counters = swap;
        tmp->ncounters = tmp->cap = 0;
        memcpy(st->commands, tmp->commands, sizeof st->commands);
        memset(tmp->commands, 0, sizeof tmp->commands);
        st->next = tmp->next;
        st->writes = tmp->writes;
        tmp->writes = NULL;
        pthread_mutex_unlock(&st->mu);
        rc = 0;
    }
    json_decref(doc);
    sg_state_destroy(tmp);
    return rc;
}

/* Builds the document; the caller holds the mutex. */
static json_t *encode_doc(const sg_state_t *st)
{
    json_t *doc = json_object(), *counters = json_object(), *commands = json_array();
    int rc = !doc || !counters || !commands;
    for (size_t i = 0; !rc && i < st->ncounters; i++) {
        const counter_slot_t *s = &st->counters[i];
        if (!s->c.has_prev)
            continue;
        rc = json_object_set_new(
            counters, s->meter_id,
            json_pack("{s:f,s:f}", "prev_raw", s->c.prev_raw, "offset", s->c.offset));
    }
    for (size_t k = 0; !rc && k < SG_STATE_COMMANDS; k++) {
        const char *id = st->commands[(st->next + k) % SG_STATE_COMMANDS];
        if (id)
            rc = json_array_append_new(commands, json_string(id));
    }
    if (!rc)
        rc = json_object_set_new(doc, "version", json_integer(STATE_VERSION)) ||
             json_object_set(doc, "counters", counters) ||
             json_object_set(doc, "commands", commands) ||
             (st->writes && json_object_set(doc, "writes", st->writes));
    json_decref(counters);
    json_decref(commands);
    if (rc) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

char *sg_state_encode(sg_state_t *st)
{
    pthread_mutex_lock(&st->mu);
    json_t *doc = encode_doc(st);
    pthread_mutex_unlock(&st->mu);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(doc);
    return text;
}

/* ---- counters and commands ---- */

int sg_state_counter_slot(sg_state_t *st, const char *meter_id, sg_counter_t *c)
{
    static const sg_counter_t zero;
    pthread_mutex_lock(&st->mu);
    int slot = find_counter(st, meter_id);
    if (slot < 0)
        slot = add_counter(st, meter_id, &zero);
    *c = slot >= 0 ? st->counters[slot].c : zero;
    pthread_mutex_unlock(&st->mu);
    return slot;
}

void sg_state_counter_set(sg_state_t *st, int slot, const sg_counter_t *c, bool urgent)
{
    pthread_mutex_lock(&st->mu);
    if (slot >= 0 && (size_t)slot < st->ncounters) {
        st->counters[slot].c = *c;
        st->dirty = true;
        st->urgent |= urgent;
    }
    pthread_mutex_unlock(&st->mu);
}

bool sg_state_command_seen(sg_state_t *st, const char *id)
{
    bool found = false;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; id && i < SG_STATE_COMMANDS && !found; i++)
        found = st->commands[i] && strcmp(st->commands[i], id) == 0;
    pthread_mutex_unlock(&st->mu);
    return found;
}

/* Stores the last write to the equipment; the caller holds the mutex. */
static void set_last_write(sg_state_t *st, const char *equipment_id, int64_t ms)
{
    if (!st->writes)
        st->writes = json_object();
    if (st->writes && equipment_id &&
        json_object_set_new(st->writes, equipment_id, json_integer(ms)) == 0)
        st->dirty = st->urgent = true;
}

/* Puts back the equipment's last write as it was before a command whose
 * save failed (before: the old value, NULL when there was none). */
static void restore_last_write(sg_state_t *st, const char *equipment_id, json_t *before)
{
    pthread_mutex_lock(&st->mu);
    if (before)
        json_object_set(st->writes, equipment_id, before);
    else
        json_object_del(st->writes, equipment_id);
    pthread_mutex_unlock(&st->mu);
}

int sg_state_command_add(sg_state_t *st, const char *id, const char *equipment_id,
                         int64_t now_ms, char *errstr, size_t errstr_size)
{
    json_t *before = NULL;
    pthread_mutex_lock(&st->mu);
    push_command(st, id ? id : "");
    if (equipment_id) { /* saved in the same file as the id */
        before =
            json_incref(st->writes ? json_object_get(st->writes, equipment_id) : NULL);
        set_last_write(st, equipment_id, now_ms);
    }
    st->dirty = st->urgent = true;
    pthread_mutex_unlock(&st->mu);
    int rc = sg_state_flush(st, true, now_ms, 0, errstr, errstr_size);
    /* The command is not written to the plant: kept, its write time would
     * rate-limit the equipment for a write that never happened, after the
     * next save and a restart. */
    if (rc < 0 && equipment_id)
        restore_last_write(st, equipment_id, before);
    json_decref(before);
    return rc;
}

bool sg_state_last_write(sg_state_t *st, const char *equipment_id, int64_t *ms)
{
    pthread_mutex_lock(&st->mu);
    json_t *v =
        st->writes && equipment_id ? json_object_get(st->writes, equipment_id) : NULL;
    if (v)
        *ms = json_integer_value(v);
    pthread_mutex_unlock(&st->mu);
    return v != NULL;
}

void sg_state_set_last_write(sg_state_t *st, const char *equipment_id, int64_t ms)
{
    pthread_mutex_lock(&st->mu);
    set_last_write(st, equipment_id, ms);
    pthread_mutex_unlock(&st->mu);
}

/* ---- files ---- */

sg_state_t *sg_state_load(const char *path, char *errstr, size_t errstr_size)
{
    char err[300], dir[4096];
    sg_state_t *st = sg_state_new(path);
    FILE *f;
    if (!st)
        return NULL;
    snprintf(dir, sizeof dir, "%s", path);
    if (sg_make_dirs(dirname(dir)) < 0) {
        snprintf(errstr, errstr_size,
                 "cannot create the directory of state file '%s': %s", path,
                 strerror(errno));
        goto err;
    }
    if (!(f = fopen(path, "r"))) {
        if (errno == ENOENT)
            return st;
        snprintf(errstr, errstr_size, "cannot read state file '%s': %s", path,
                 strerror(errno));
        goto err;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    char buf[8192];
    size_t k;
    while (mem && (k = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, k, mem);
    fclose(f);
    if (mem)
        fclose(mem);
    int rc = text ? sg_state_decode(st, text, err, sizeof err) : -1;
    free(text);
    if (rc == 0)
        return st;
    snprintf(errstr, errstr_size, "state file '%s': %s", path,
             text ? err : "no memory");
err:
    sg_state_destroy(st);
    return NULL;
}

int sg_state_flush(sg_state_t *st, bool force, int64_t now_ms, int64_t interval_ms,
                   char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&st->mu);
    bool due = st->dirty && st->path &&
               (force || st->urgent || !st->saved_once ||
                now_ms - st->saved_ms >= interval_ms);
    bool urgent = st->urgent;
    if (due)
        st->dirty = st->urgent = false;
    pthread_mutex_unlock(&st->mu);
    if (!due)
        return 0;
    char *text = sg_state_encode(st);
    int rc = text ? ems_file_write_atomic(st->path, text, errstr, errstr_size) : -1;
    if (!text)
        snprintf(errstr, errstr_size, "cannot encode the state for '%s'", st->path);
    free(text);
    pthread_mutex_lock(&st->mu);
    if (rc < 0) { /* try again next time */
        st->dirty = true;
        st->urgent |= urgent;
    } else {
        st->saved_ms = now_ms;
        st->saved_once = true;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}
