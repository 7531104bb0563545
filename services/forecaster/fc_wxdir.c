/* fc_wxdir: the weather adapter's directory scan (see fc_service.h). */
#include "forecaster/fc_codec.h"
#include "forecaster/fc_service.h"
#include "forecaster/fc_wxfile.h"
#include "log/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* 0 done or rejected, -1 publishing failed (retry later). */
static int take_file(svc_t *svc, const char *dir, const char *name,
                     const char *def_site, int64_t max, fc_wxdir_stats *st)
{
    char path[2048], err[512], provider[320];
    size_t len = 0;
    struct stat sb;
    fc_wxdata wx;
    int rc = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
        return 0;
    fc_wxdata_init(&wx);
    const char *site = site_of(svc_plant(svc), name, def_site);
    char *text = site ? read_file(path, max, &len, err, sizeof err) : NULL;
    if (!site)
        snprintf(err, sizeof err,
                 "no site: the name starts with no site id and "
                 "weather.default_site is not a plant site");
    if (text && fc_wxfile_parse(text, len, &wx, err, sizeof err) == 0) {
        snprintf(provider, sizeof provider, "%s:%s",
                 text[strspn(text, " \t\r\n")] == '{' ? "open-meteo" : "csv", name);
        int64_t issued_ms =
            (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
        rc = fc_wx_publish(svc, site, provider, issued_ms, &wx, st);
        if (rc == 0) {
            move_to(dir, "done", name);
            st->done++;
            log_info("weather",
                     "'%s': %zu slots of %zu variable(s) published for site '%s'", name,
                     wx.n, wx.nvar, site);
        }
    } else {
        move_to(dir, "rejected", name);
        st->rejected++;
        log_warn("weather", "'%s' rejected: %s", name, err);
    }
    free(text);
    fc_wxdata_release(&wx);
    return rc;
}

int fc_wxdir_scan(svc_t *svc, const char *dir, const char *default_site,
                  int64_t max_bytes, fc_wxdir_stats *st)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (!d) {
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            log_warn("weather", "cannot open '%s': %s", dir, strerror(errno));
        return 0;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *p);
            if (!p)
                break;
            names = p;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = take_file(svc, dir, names[i], default_site, max_bytes, st);
        free(names[i]);
    }
    free(names);
    return rc;
}
