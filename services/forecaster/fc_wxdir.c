/* fc_wxdir: the weather adapter's directory scan (see fc_service.h). */
#include "forecaster/fc_codec.h"
#include "forecaster/fc_service.h"
#include "forecaster/fc_wxfile.h"
#include "file/file.h"
#include "log/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CHUNK_SLOTS 744 /* a month of hours per record */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The plant site whose id starts the file name (longest match), followed by
 * '_', '-' or '.'; else the default site; NULL when neither. */
static const char *site_of(const plant_t *plant, const char *name, const char *def)
{
    const char *best = NULL;
    size_t blen = 0;
    for (size_t i = 0; plant && i < plant_site_count(plant); i++) {
        const char *id = plant_site_at(plant, i)->id;
        size_t n = strlen(id);
        if (n > blen && !strncmp(name, id, n) && strchr("_-.", name[n]) && name[n]) {
            best = id;
            blen = n;
        }
    }
    if (best)
        return best;
    if (def && *def && plant && plant_site(plant, def))
        return def;
    return NULL;
}

static char *read_file(const char *path, int64_t max, size_t *len, char *errstr,
                       size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f)
        return snprintf(errstr, errstr_size, "cannot open: %s", strerror(errno)), NULL;
    if (fstat(fileno(f), &st) < 0 || st.st_size > max) {
        fclose(f);
        return snprintf(errstr, errstr_size, "larger than %lld bytes", (long long)max),
               NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    *len = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf)
        snprintf(errstr, errstr_size, "out of memory");
    return buf;
}

static void move_to(const char *dir, const char *sub, const char *name)
{
    char from[2048], to[2048];
    snprintf(to, sizeof to, "%s/%s", dir, sub);
    if (mkdir(to, 0755) < 0 && errno != EEXIST)
        log_error("weather", "cannot make '%s': %s", to, strerror(errno));
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snprintf(to, sizeof to, "%s/%s/%s", dir, sub, name);
    if (rename(from, to) < 0)
        log_error("weather", "cannot move '%s' to '%s': %s", from, to, strerror(errno));
}

int fc_wx_publish(svc_t *svc, const char *site, const char *provider, int64_t issued_ms,
                  const fc_wxdata *wx, fc_wxdir_stats *st)
{
    char err[512];
    for (size_t i = 0; i < wx->n; i += CHUNK_SLOTS) {
        fc_wxdata part = *wx;
        avro_value_t v;
        part.t = wx->t + i;
        part.v = wx->v + i * wx->nvar;
        part.observed = NULL;
        part.n = wx->n - i < CHUNK_SLOTS ? wx->n - i : CHUNK_SLOTS;
        if (bus_value_new(svc_bus(svc), "energy.weather", &v, err, sizeof err) < 0)
            goto fail;
        int rc = fc_codec_weather_out(&v, site, provider, issued_ms, &part);
        if (rc == 0)
            rc = bus_produce(svc_producer(svc), "energy.weather", site, &v, issued_ms,
                             err, sizeof err);
        else
            snprintf(err, sizeof err, "weather does not fit the schema");
        avro_value_decref(&v);
        if (rc < 0)
            goto fail;
        st->records++;
    }
    if (bus_producer_flush(svc_producer(svc), 30000, err, sizeof err) == 0)
        return 0;
fail:
    log_error("weather", "publishing on energy.weather: %s", err);
    return -1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mtime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

/* A file modified less than unfinished_ms ago may still be written to. */
static int young(const struct stat *sb, int64_t unfinished_ms)
{
    return now_ns() - mtime_ns(sb) < unfinished_ms * 1000000;
}

/* 0 done, rejected or left for later, -1 publishing failed (retry later). */
static int take_file(svc_t *svc, const fc_wxdir_conf *c, const char *name,
                     const struct stat *sb, fc_wxdir_stats *st)
{
    char path[2048], err[512], provider[320];
    size_t len = 0;
    fc_wxdata wx;
    int rc = 0;
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    fc_wxdata_init(&wx);
    const char *site = site_of(svc_plant(svc), name, c->default_site);
    char *text = site ? read_file(path, c->max_bytes, &len, err, sizeof err) : NULL;
    if (!site)
        snprintf(err, sizeof err,
                 "no site: the name starts with no site id and "
                 "weather.default_site is not a plant site");
    int64_t issued_ms = mtime_ns(sb) / 1000000;
    if (text && fc_wxfile_parse(text, len, &wx, err, sizeof err) == 0 &&
        fc_wxdata_check_times(&wx, issued_ms / 1000, now_ns() / 1000000000, err,
                              sizeof err) == 0) {
        snprintf(provider, sizeof provider, "%s:%s",
                 text[strspn(text, " \t\r\n")] == '{' ? "open-meteo" : "csv", name);
        rc = fc_wx_publish(svc, site, provider, issued_ms, &wx, st);
        if (rc == 0) {
            move_to(c->dir, "done", name);
            st->done++;
            log_info("weather",
                     "'%s': %zu slots of %zu variable(s) published for site '%s'", name,
                     wx.n, wx.nvar, site);
        }
    } else if (text && fc_wxfile_cut_off(text, len) && young(sb, c->unfinished_ms)) {
        /* most likely still being written: read again once it changes */
        fc_wxseen_mark_cut_off(c->seen, name);
        log_info("weather", "'%s' looks unfinished (%s): read again when it changes",
                 name, err);
    } else {
        move_to(c->dir, "rejected", name);
        st->rejected++;
        log_warn("weather", "'%s' rejected: %s", name, err);
    }
    free(text);
    fc_wxdata_release(&wx);
    return rc;
}

/* Whether the scan reads the file now: once its size and modification time
 * held still since the previous scan, and, when it was found cut off, once
 * it changed or has not been written to for unfinished_ms. */
static int ready(const fc_wxdir_conf *c, const char *name, struct stat *sb)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    if (stat(path, sb) < 0 || !S_ISREG(sb->st_mode))
        return 0;
    switch (fc_wxseen_note(c->seen, name, (int64_t)sb->st_size, mtime_ns(sb))) {
    case FC_WXSEEN_STABLE:
        return 1;
    case FC_WXSEEN_CUT_OFF:
        return !young(sb, c->unfinished_ms);
    default:
        return 0;
    }
}

/* Whether name is not a dot-file (one being written). */
static int not_hidden(const char *name, const void *ctx)
{
    (void)ctx;
    return name[0] != '.';
}

int fc_wxdir_scan(svc_t *svc, const fc_wxdir_conf *c, fc_wxdir_stats *st)
{
    DIR *d = opendir(c->dir);
    size_t n = 0;
    int rc = 0;
    struct stat sb;
    if (!d) {
        if (mkdir(c->dir, 0755) < 0 && errno != EEXIST)
            log_warn("weather", "cannot open '%s': %s", c->dir, strerror(errno));
        return 0;
    }
    char **names = ems_file_dir_names(d, not_hidden, NULL, cmp_names, &n);
    closedir(d);
    fc_wxseen_begin(c->seen);
    for (size_t i = 0; i < n; i++) {
        /* every file is noted, also after a failed publish, so none waits
         * a scan longer than it must */
        if (ready(c, names[i], &sb) && rc == 0)
            rc = take_file(svc, c, names[i], &sb, st);
        free(names[i]);
    }
    fc_wxseen_end(c->seen);
    free(names);
    return rc;
}
