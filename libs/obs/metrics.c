/*
 * metrics: Prometheus registry. One mutex per registry guards every family,
 * series and value; handles are pointers to series, valid until destroy.
 *
 * Look-up goes through a hash table keyed by "name\x01labels". The label
 * string as the caller wrote it is tried first; on a miss it is parsed and
 * canonicalised (pairs sorted by key), and the raw spelling is remembered as
 * an alias, so the hot path is one hash probe with no parsing.
 */
#include "obs/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } mtype_t;

struct series;

typedef struct family {
    char *name;
    char *help;
    mtype_t type;
    double *bounds; /* histograms only */
    size_t nbounds;
    struct series **series;
    size_t nseries, capseries;
} family_t;

typedef struct series {
    family_t *fam;
    obs_metrics_t *m;
    char *labels;      /* canonical "k=v,k=v" or "" */
    double value;      /* counter, gauge */
    uint64_t *buckets; /* histogram: nbounds + 1 non-cumulative counts */
    double sum;
    uint64_t count;
} series_t;

typedef struct slot {
    char *key;
    series_t *s;
} slot_t;

struct obs_metrics_s {
    pthread_mutex_t mu;
    family_t **fams;
    size_t nfams, capfams;
    slot_t *slots;
    size_t nslots, capslots; /* capslots is a power of two */
};

/* ---- small helpers ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static char *make_key(const char *name, const char *labels)
{
    char *k = NULL;
    if (asprintf(&k, "%s\x01%s", name, labels ? labels : "") < 0)
        return NULL;
    return k;
}

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- label canonicalisation ---- */

typedef struct pair {
    char *k, *v;
} pair_t;

static int pair_cmp(const void *a, const void *b)
{
    return strcmp(((const pair_t *)a)->k, ((const pair_t *)b)->k);
}

/* Parses "k=v,k=v" into canonical form (sorted by key) in a malloc'd string.
 * Returns NULL when malformed (bad key, missing '=', duplicate key, or the
 * reserved key "le" when reserve_le). */
static char *labels_canon(const char *labels, int reserve_le)
{
    if (!labels || !*labels)
        return strdup("");
    char *buf = strdup(labels), *out = NULL;
    pair_t *pairs = NULL;
    size_t n = 0, cap = 0;
    if (!buf)
        return NULL;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || grow((void **)&pairs, &cap, n + 1, sizeof *pairs) < 0)
            goto cleanup;
        *eq = '\0';
        if (!valid_name(tok, 0) || strchr(eq + 1, '=') ||
            (reserve_le && strcmp(tok, "le") == 0) || strncmp(tok, "__", 2) == 0)
            goto cleanup;
        pairs[n].k = tok;
        pairs[n].v = eq + 1;
        n++;
    }
    /* An empty token (",,", trailing ',') is skipped by strtok: refuse it. */
    if (labels[strlen(labels) - 1] == ',' || labels[0] == ',' || strstr(labels, ",,"))
        goto cleanup;
    if (n) /* qsort() must not be given a NULL array, even empty */
        qsort(pairs, n, sizeof *pairs, pair_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(pairs[i - 1].k, pairs[i].k) == 0)
            goto cleanup;
    out = malloc(strlen(labels) + 1);
    if (!out)
        goto cleanup;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, pairs[i].k);
        strcat(out, "=");
        strcat(out, pairs[i].v);
    }
cleanup:
    free(pairs);
    free(buf);
    return out;
}

/* ---- hash table (caller holds the lock) ---- */

static series_t *table_get(obs_metrics_t *m, const char *key)
{
    if (!m->capslots)
        return NULL;
    size_t mask = m->capslots - 1;
    for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
        if (!m->slots[i].key)
            return NULL;
        if (strcmp(m->slots[i].key, key) == 0)
            return m->slots[i].s;
    }
}

static void table_put_slot(slot_t *slots, size_t cap, char *key, series_t *s)
{
    size_t mask = cap - 1;
    size_t i = hash_str(key) & mask;
    while (slots[i].key)
        i = (i + 1) & mask;
    slots[i].key = key;
    slots[i].s = s;
}

/* Takes ownership of key (frees it on failure). */
static int table_put(obs_metrics_t *m, char *key, series_t *s)
{
    if ((m->nslots + 1) * 2 > m->capslots) {
        size_t ncap = m->capslots ? m->capslots * 2 : 64;
        slot_t *ns = calloc(ncap, sizeof *ns);
        if (!ns) {
            free(key);
            return -1;
        }
        for (size_t i = 0; i < m->capslots; i++)
            if (m->slots[i].key)
                table_put_slot(ns, ncap, m->slots[i].key, m->slots[i].s);
        free(m->slots);
        m->slots = ns;
        m->capslots = ncap;
    }
    table_put_slot(m->slots, m->capslots, key, s);
    m->nslots++;
    return 0;
}

/* ---- registry ---- */

obs_metrics_t *obs_metrics_new(void)
{
    obs_metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void family_free(family_t *f)
{
    for (size_t i = 0; i < f->nseries; i++) {
        free(f->series[i]->labels);
        free(f->series[i]->buckets);
        free(f->series[i]);
    }
    free(f->series);
    free(f->bounds);
    free(f->help);
    free(f->name);
    free(f);
}

void obs_metrics_destroy(obs_metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfams; i++)
        family_free(m->fams[i]);
    for (size_t i = 0; i < m->capslots; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m->fams);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static family_t *family_find(obs_metrics_t *m, const char *name)
{
    for (size_t i = 0; i < m->nfams; i++)
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i];
    return NULL;
}

static family_t *family_create(obs_metrics_t *m, const char *name, const char *help,
                               mtype_t type, const double *bounds, size_t nbounds)
{
    if (grow((void **)&m->fams, &m->capfams, m->nfams + 1, sizeof *m->fams) < 0)
        return NULL;
    family_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->type = type;
    if (nbounds) {
        f->bounds = malloc(nbounds * sizeof *bounds);
        if (f->bounds)
            memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    }
    f->nbounds = nbounds;
    if (!f->name || !f->help || (nbounds && !f->bounds)) {
        family_free(f);
        return NULL;
    }
    m->fams[m->nfams++] = f;
    return f;
}

static series_t *series_create(obs_metrics_t *m, family_t *f, char *canon)
{
    if (grow((void **)&f->series, &f->capseries, f->nseries + 1, sizeof *f->series) < 0)
        return NULL;
    series_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (f->type == M_HISTOGRAM) {
        s->buckets = calloc(f->nbounds + 1, sizeof *s->buckets);
        if (!s->buckets) {
            free(s);
            return NULL;
        }
    }
    s->fam = f;
    s->m = m;
    s->labels = canon;
    f->series[f->nseries++] = s;
    return s;
}

static int bounds_ok(const double *b, size_t n)
{
    if (n && !b)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (isnan(b[i]) || (i && !(b[i] > b[i - 1])) || isinf(b[i]))
            return 0;
    return 1;
}

/* Slow path of a look-up, lock held: canonicalise, find or create the family
 * and series, remember the raw spelling. */
static series_t *lookup_slow(obs_metrics_t *m, const char *name, const char *help,
                             const char *labels, mtype_t type, const double *bounds,
                             size_t nbounds, char *rawkey)
{
    char *canon = labels_canon(labels, type == M_HISTOGRAM);
    char *ckey = canon ? make_key(name, canon) : NULL;
    series_t *s = ckey ? table_get(m, ckey) : NULL;
    if (s || !ckey)
        goto done;
    family_t *f = family_find(m, name);
    if (!f && (type != M_HISTOGRAM || bounds_ok(bounds, nbounds)))
        f = family_create(m, name, help, type, bounds, nbounds);
    if (!f || f->type != type)
        goto done;
    s = series_create(m, f, canon);
    if (!s)
        goto done;
    canon = NULL; /* owned by the series now */
    if (table_put(m, ckey, s) < 0) {
        ckey = NULL;
        goto done; /* the series exists; look-ups will retry the alias */
    }
    ckey = NULL;
done:
    if (s && s->fam->type == type && table_get(m, rawkey) == NULL) {
        table_put(m, rawkey, s); /* takes rawkey, even on failure */
        rawkey = NULL;
    }
    free(rawkey);
    free(ckey);
    free(canon);
    return s && s->fam->type == type ? s : NULL;
}

static series_t *lookup(obs_metrics_t *m, const char *name, const char *help,
                        const char *labels, mtype_t type, const double *bounds,
                        size_t nbounds)
{
    if (!m || !valid_name(name, 1))
        return NULL;
    char *rawkey = make_key(name, labels);
    if (!rawkey)
        return NULL;
    pthread_mutex_lock(&m->mu);
    series_t *s = table_get(m, rawkey);
    if (s) {
        free(rawkey);
        s = s->fam->type == type ? s : NULL;
    } else {
        s = lookup_slow(m, name, help, labels, type, bounds, nbounds, rawkey);
    }
    pthread_mutex_unlock(&m->mu);
    return s;
}

obs_counter_t *obs_counter(obs_metrics_t *m, const char *name, const char *help,
                           const char *labels)
{
    return (obs_counter_t *)lookup(m, name, help, labels, M_COUNTER, NULL, 0);
}

obs_gauge_t *obs_gauge(obs_metrics_t *m, const char *name, const char *help,
                       const char *labels)
{
    return (obs_gauge_t *)lookup(m, name, help, labels, M_GAUGE, NULL, 0);
}

obs_histogram_t *obs_histogram(obs_metrics_t *m, const char *name, const char *help,
                               const char *labels, const double *bounds, size_t nbounds)
{
    return (obs_histogram_t *)lookup(m, name, help, labels, M_HISTOGRAM, bounds,
                                     nbounds);
}

/* ---- mutators ---- */

void obs_counter_add(obs_counter_t *c, double delta)
{
    series_t *s = (series_t *)c;
    if (!s || !(delta > 0))
        return;
    pthread_mutex_lock(&s->m->mu);
    s->value += delta;
    pthread_mutex_unlock(&s->m->mu);
}

void obs_counter_inc(obs_counter_t *c)
{
    obs_counter_add(c, 1.0);
}

static double series_value(const series_t *s)
{
    if (!s)
        return 0.0;
    pthread_mutex_lock(&s->m->mu);
    double v = s->value;
    pthread_mutex_unlock(&s->m->mu);
    return v;
}

double obs_counter_value(const obs_counter_t *c)
{
    return series_value((const series_t *)c);
}

void obs_gauge_set(obs_gauge_t *g, double v)
{
    series_t *s = (series_t *)g;
    if (!s)
        return;
    pthread_mutex_lock(&s->m->mu);
    s->value = v;
    pthread_mutex_unlock(&s->m->mu);
}

void obs_gauge_add(obs_gauge_t *g, double delta)
{
    series_t *s = (series_t *)g;
    if (!s)
        return;
    pthread_mutex_lock(&s->m->mu);
    s->value += delta;
    pthread_mutex_unlock(&s->m->mu);
}

double obs_gauge_value(const obs_gauge_t *g)
{
    return series_value((const series_t *)g);
}

void obs_histogram_observe(obs_histogram_t *h, double v)
{
    series_t *s = (series_t *)h;
    if (!s || isnan(v))
        return;
    family_t *f = s->fam;
    size_t i = 0;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    pthread_mutex_lock(&s->m->mu);
    s->buckets[i]++;
    s->sum += v;
    s->count++;
    pthread_mutex_unlock(&s->m->mu);
}

void obs_count(obs_metrics_t *m, const char *name, const char *help, const char *labels,
               double delta)
{
    obs_counter_add(obs_counter(m, name, help, labels), delta);
}

/* ---- rendering ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int err;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > ncap)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->err = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* Formats a sample value: integers exactly, others with the shortest of
 * %.15g / %.17g that reads back equal. */
static void fmt_double(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "NaN");
    else if (isinf(v))
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, size, "%.0f", v);
    else {
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, size, "%.17g", v);
    }
}

/* HELP text escapes '\' and newline; label values also escape '"'. */
static void sb_escaped(sbuf_t *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            sb_str(b, "\\\\");
        else if (*s == '\n')
            sb_str(b, "\\n");
        else if (quote && *s == '"')
            sb_str(b, "\\\"");
        else
            sb_put(b, s, 1);
    }
}

/* Writes {k="v",...[,le="x"]} from a canonical label string. */
static void sb_labels(sbuf_t *b, const char *canon, const char *le)
{
    if (!*canon && !le)
        return;
    sb_str(b, "{");
    const char *p = canon;
    int first = 1;
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *end = strchr(eq, ',');
        if (!end)
            end = eq + strlen(eq);
        if (!first)
            sb_str(b, ",");
        first = 0;
        sb_put(b, p, (size_t)(eq - p));
        sb_str(b, "=\"");
        char *v = strndup(eq + 1, (size_t)(end - eq - 1));
        if (!v)
            b->err = 1;
        else
            sb_escaped(b, v, 1);
        free(v);
        sb_str(b, "\"");
        p = *end ? end + 1 : end;
    }
    if (le) {
        sb_str(b, first ? "le=\"" : ",le=\"");
        sb_str(b, le);
        sb_str(b, "\"");
    }
    sb_str(b, "}");
}

static void sb_sample(sbuf_t *b, const char *name, const char *suffix,
                      const char *canon, const char *le, double v)
{
    char num[64];
    fmt_double(num, sizeof num, v);
    sb_str(b, name);
    sb_str(b, suffix);
    sb_labels(b, canon, le);
    sb_str(b, " ");
    sb_str(b, num);
    sb_str(b, "\n");
}

static void render_histogram(sbuf_t *b, const family_t *f, const series_t *s)
{
    char le[64];
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        cum += s->buckets[i];
        if (i < f->nbounds)
            fmt_double(le, sizeof le, f->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        sb_sample(b, f->name, "_bucket", s->labels, le, (double)cum);
    }
    sb_sample(b, f->name, "_sum", s->labels, NULL, s->sum);
    sb_sample(b, f->name, "_count", s->labels, NULL, (double)s->count);
}

static int fam_cmp(const void *a, const void *b)
{
    return strcmp((*(family_t *const *)a)->name, (*(family_t *const *)b)->name);
}

static int series_cmp(const void *a, const void *b)
{
    return strcmp((*(series_t *const *)a)->labels, (*(series_t *const *)b)->labels);
}

static const char *type_name(mtype_t t)
{
    return t == M_COUNTER ? "counter" : t == M_GAUGE ? "gauge" : "histogram";
}

char *obs_metrics_render(obs_metrics_t *m)
{
    sbuf_t b = {0};
    if (!m)
        return NULL;
    sb_str(&b, "");
    pthread_mutex_lock(&m->mu);
    qsort(m->fams, m->nfams, sizeof *m->fams, fam_cmp);
    for (size_t i = 0; i < m->nfams; i++) {
        family_t *f = m->fams[i];
        qsort(f->series, f->nseries, sizeof *f->series, series_cmp);
        sb_str(&b, "# HELP ");
        sb_str(&b, f->name);
        sb_str(&b, " ");
        sb_escaped(&b, f->help, 0);
        sb_str(&b, "\n# TYPE ");
        sb_str(&b, f->name);
        sb_str(&b, " ");
        sb_str(&b, type_name(f->type));
        sb_str(&b, "\n");
        for (size_t j = 0; j < f->nseries; j++) {
            series_t *s = f->series[j];
            if (f->type == M_HISTOGRAM)
                render_histogram(&b, f, s);
            else
                sb_sample(&b, f->name, "", s->labels, NULL, s->value);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (b.err) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
