/*
 * mqtt_map: topic and payload mapping of MQTT input (see mqtt_map.h).
 */
#include "scada-gateway/mqtt_map.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROWS 256
#define MAX_MQTT_METERS 4096

typedef struct topic_row {
    const char *filter;
    const char *meter_id; /* NULL when by level */
    int level;            /* 1-based, for "$N" */
} topic_row_t;

typedef struct field_row {
    const char *path; /* JSON field, '.' into nested objects; NULL: unmapped */
    double factor;    /* to the canonical unit */
} field_row_t;

struct sg_mqtt_map {
    const plant_t *plant;
    topic_row_t topics[MAX_ROWS];
    const char *filters[MAX_ROWS];
    size_t ntopics;
    field_row_t fields[SG_NQ];
    const plant_meter_t **fed; /* meters fed over MQTT */
    size_t nfed;
    const char *ts_field;
};

static int quantity_of(const char *name)
{
    for (int q = 0; q < SG_NQ; q++)
        if (strcmp(plant_quantity_name((plant_quantity_t)q), name) == 0)
            return q;
    return -1;
}

static bool valid_filter(const char *f)
{
    size_t len = strlen(f);
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool start = i == 0 || f[i - 1] == '/',
             end = f[i + 1] == '\0' || f[i + 1] == '/';
        if (f[i] == '+' && !(start && end))
            return false;
        if (f[i] == '#' && !(start && f[i + 1] == '\0'))
            return false;
    }
    return true;
}

/* Number of levels of a filter when it ends in '#', else INT_MAX-like. */
static int filter_levels(const char *f)
{
    int n = 1;
    for (; *f; f++)
        n += *f == '/';
    return n;
}

static int add_fed(sg_mqtt_map_t *m, const char *id, char *errstr, size_t n)
{
    const plant_meter_t *meter = plant_meter(m->plant, id);
    if (!meter) {
        snprintf(errstr, n, "scada.mqtt: meter '%s' is not in the plant model", id);
        return -1;
    }
    if (sg_mqtt_map_feeds(m, id))
        return 0;
    if (m->nfed == MAX_MQTT_METERS) {
        snprintf(errstr, n, "scada.mqtt: more than %d meters", MAX_MQTT_METERS);
        return -1;
    }
    m->fed[m->nfed++] = meter;
    return 0;
}

static int add_topic(sg_mqtt_map_t *m, const char *filter, const char *meter,
                     char *errstr, size_t n)
{
    topic_row_t *t = &m->topics[m->ntopics];
    if (m->ntopics == MAX_ROWS || !valid_filter(filter)) {
        snprintf(errstr, n, "scada.mqtt_topics: '%s' is not a valid MQTT topic filter",
                 filter);
        return -1;
    }
    t->filter = filter;
    if (meter[0] == '$') {
        char *end;
        long lv = strtol(meter + 1, &end, 10);
        if (*end || lv < 1 || lv > filter_levels(filter)) {
            snprintf(
                errstr, n,
                "scada.mqtt_topics: '%s': '%s' must be $N, N a level of the filter",
                filter, meter);
            return -1;
        }
        t->level = (int)lv;
    } else {
        t->meter_id = meter;
        if (add_fed(m, meter, errstr, n) < 0)
            return -1;
    }
    m->filters[m->ntopics++] = filter;
    return 0;
}

static int add_field(sg_mqtt_map_t *m, const char *qname, const char *spec,
                     char *errstr, size_t n)
{
    int q = quantity_of(qname);
    const char *colon = strrchr(spec, ':');
    const char *unit = colon ? colon + 1 : NULL;
    if (q < 0) {
        snprintf(errstr, n, "scada.mqtt_fields: '%s' is not a quantity", qname);
        return -1;
    }
    double f = unit ? plant_unit_factor((plant_quantity_t)q, unit) : 1;
    if (isnan(f) || (colon && colon == spec) || !*spec) {
        snprintf(errstr, n,
                 "scada.mqtt_fields: %s: '%s' is not 'field' or 'field:unit' "
                 "with a unit of %s",
                 qname, spec, qname);
        return -1;
    }
    /* the path is the spec without ":unit"; kept inside the cfg strings by
     * storing a copy in the map */
    char *path = strndup(spec, colon ? (size_t)(colon - spec) : strlen(spec));
    if (!path)
        return -1;
    free((char *)m->fields[q].path);
    m->fields[q] = (field_row_t){.path = path, .factor = f};
    return 0;
}

sg_mqtt_map_t *sg_mqtt_map_new(const plant_t *plant, const cfg_strmap_t *topics,
                               const cfg_strmap_t *fields, const cfg_strlist_t *meters,
                               const char *ts_field, char *errstr, size_t errstr_size)
{
    sg_mqtt_map_t *m = calloc(1, sizeof *m);
    if (!m || !(m->fed = calloc(MAX_MQTT_METERS, sizeof *m->fed)))
        goto err;
    m->plant = plant;
    m->ts_field = ts_field && *ts_field ? ts_field : NULL;
    for (size_t i = 0; topics && i < topics->n; i++)
        if (add_topic(m, topics->kv[2 * i], topics->kv[2 * i + 1], errstr, errstr_size))
            goto err;
    for (size_t i = 0; meters && i < meters->n; i++)
        if (add_fed(m, meters->items[i], errstr, errstr_size) < 0)
            goto err;
    for (int q = 0; (!fields || fields->n == 0) && q < SG_NQ; q++)
        if (add_field(m, plant_quantity_name((plant_quantity_t)q),
                      plant_quantity_name((plant_quantity_t)q), errstr, errstr_size))
            goto err;
    for (size_t i = 0; fields && i < fields->n; i++)
        if (add_field(m, fields->kv[2 * i], fields->kv[2 * i + 1], errstr, errstr_size))
            goto err;
    return m;
err:
    sg_mqtt_map_destroy(m);
    return NULL;
}

void sg_mqtt_map_destroy(sg_mqtt_map_t *m)
{
    if (!m)
        return;
    for (int q = 0; q < SG_NQ; q++)
        free((char *)m->fields[q].path);
    free(m->fed);
    free(m);
}

bool sg_mqtt_map_feeds(const sg_mqtt_map_t *m, const char *meter_id)
{
    for (size_t i = 0; m && i < m->nfed; i++)
        if (strcmp(m->fed[i]->id, meter_id) == 0)
            return true;
    return false;
}

size_t sg_mqtt_map_count(const sg_mqtt_map_t *m)
{
    return m ? m->nfed : 0;
}

int sg_mqtt_map_index(const sg_mqtt_map_t *m, const plant_meter_t *meter)
{
    for (size_t i = 0; m && i < m->nfed; i++)
        if (m->fed[i] == meter)
            return (int)i;
    return -1;
}

const plant_meter_t *sg_mqtt_map_at(const sg_mqtt_map_t *m, size_t i)
{
    return i < m->nfed ? m->fed[i] : NULL;
}

size_t sg_mqtt_map_filters(const sg_mqtt_map_t *m, const char *const **filters)
{
    if (filters)
        *filters = m->filters;
    return m->ntopics;
}

bool sg_mqtt_topic_matches(const char *filter, const char *topic)
{
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    for (;;) {
        if (filter[0] == '#')
            return true;
        const char *fe = strchrnul(filter, '/'), *te = strchrnul(topic, '/');
        if (!(filter[0] == '+' && fe == filter + 1) &&
            (fe - filter != te - topic || memcmp(filter, topic, (size_t)(fe - filter))))
            return false;
        if (!*fe && !*te)
            return true;
        if (!*te) /* "a/#" also matches "a" */
            return fe[0] == '/' && fe[1] == '#' && fe[2] == '\0';
        if (!*fe)
            return false;
        filter = fe + 1;
        topic = te + 1;
    }
}

/* Level n (1-based) of topic into buf; false when there is none. */
static bool topic_level(const char *topic, int n, char *buf, size_t size)
{
    for (int i = 1; i < n; i++) {
        topic = strchr(topic, '/');
        if (!topic)
            return false;
        topic++;
    }
    size_t len = (size_t)(strchrnul(topic, '/') - topic);
    if (len == 0 || len >= size)
        return false;
    memcpy(buf, topic, len);
    buf[len] = '\0';
    return true;
}

const plant_meter_t *sg_mqtt_map_meter(const sg_mqtt_map_t *m, const char *topic,
                                       char *reason, size_t reason_size)
{
    char id[256];
    for (size_t i = 0; i < m->ntopics; i++) {
        const topic_row_t *t = &m->topics[i];
        if (!sg_mqtt_topic_matches(t->filter, topic))
            continue;
        if (!t->meter_id && !topic_level(topic, t->level, id, sizeof id)) {
            snprintf(reason, reason_size, "topic '%s' has no level %d", topic,
                     t->level);
            return NULL;
        }
        const char *mid = t->meter_id ? t->meter_id : id;
        const plant_meter_t *meter = plant_meter(m->plant, mid);
        if (!meter || !sg_mqtt_map_feeds(m, mid)) {
            snprintf(reason, reason_size,
                     meter ? "topic '%s': meter '%s' is not fed over MQTT"
                           : "topic '%s': no meter '%s' in the plant model",
                     topic, mid);
            return NULL;
        }
        return meter;
    }
    snprintf(reason, reason_size, "topic '%s' matches no mqtt_topics row", topic);
    return NULL;
}

/* ---- payloads ---- */

static json_t *lookup(json_t *obj, const char *path)
{
    char key[256];
    while (obj && json_is_object(obj)) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof key)
            return NULL;
        memcpy(key, path, len);
        key[len] = '\0';
        obj = json_object_get(obj, key);
        if (!dot)
            return obj;
        path = dot + 1;
    }
    return NULL;
}

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z" to ms; -1 when malformed. */
static int parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int frac_len = 0;
    char frac[10] = "", z = 0;
    int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
    const char *p = strchr(s, 'T');
    if (n != 6 || !p || strlen(p) < 9)
        return -1;
    p += 9;
    if (*p == '.') {
        frac_len = (int)strspn(p + 1, "0123456789");
        if (frac_len == 0 || frac_len > 9)
            return -1;
        memcpy(frac, p + 1, (size_t)frac_len);
        p += 1 + frac_len;
    }
    z = *p;
    if ((z != 'Z' && z != 'z') || p[1] || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t msfrac = 0;
    for (int i = 0; i < 3; i++)
        msfrac = msfrac * 10 + (i < frac_len ? frac[i] - '0' : 0);
    *ms = (int64_t)timegm(&tm) * 1000 + msfrac;
    return 0;
}

static int read_time(const sg_mqtt_map_t *m, json_t *doc, int64_t recv_ms, int64_t *ts,
                     char *reason, size_t n)
{
    json_t *t = m->ts_field ? lookup(doc, m->ts_field) : NULL;
    *ts = recv_ms;
    if (!t || json_is_null(t))
        return 0;
    if (json_is_number(t)) {
        double v = json_number_value(t);
        if (isfinite(v) && v > 0 && v < 1e15) {
            *ts = (int64_t)llround(v);
            return 0;
        }
    } else if (json_is_string(t) && parse_time(json_string_value(t), ts) == 0) {
        return 0;
    }
    snprintf(reason, n, "field '%s' is not ms since the epoch or an RFC 3339 UTC time",
             m->ts_field);
    return -1;
}

static int read_values(const sg_mqtt_map_t *m, json_t *doc, sg_reading_t *r,
                       char *reason, size_t n)
{
    for (int q = 0; q < SG_NQ; q++) {
        const field_row_t *f = &m->fields[q];
        json_t *v = f->path ? lookup(doc, f->path) : NULL;
        if (!v || json_is_null(v))
            continue;
        if (!json_is_number(v)) {
            snprintf(reason, n, "field '%s' (%s) is not a number", f->path,
                     plant_quantity_name((plant_quantity_t)q));
            return -1;
        }
        r->v[q] = json_number_value(v) * f->factor;
        r->has |= 1u << q;
    }
    if (r->has == 0) {
        snprintf(reason, n, "no mapped field in the payload");
        return -1;
    }
    return 0;
}

int sg_mqtt_map_payload(const sg_mqtt_map_t *m, const plant_meter_t *meter,
                        const void *payload, size_t len, int64_t recv_ms,
                        sg_reading_t *r, char *reason, size_t reason_size)
{
    json_error_t jerr;
    int64_t ts;
    int rc = -1;
    json_t *doc =
        json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!doc) {
        snprintf(reason, reason_size, "payload is not JSON: %s (at byte %d)", jerr.text,
                 jerr.position);
        return -1;
    }
    if (!json_is_object(doc)) {
        snprintf(reason, reason_size, "payload is not a JSON object");
        goto out;
    }
    if (read_time(m, doc, recv_ms, &ts, reason, reason_size) < 0)
        goto out;
    sg_reading_init(r, meter, ts, SG_SRC_MQTT);
    rc = read_values(m, doc, r, reason, reason_size);
out:
    json_decref(doc);
    return rc;
}
