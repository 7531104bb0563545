/* fc_stopmark: how far energy.load was the service's when it last stopped
 * or crashed (see fc_service.h). */
#include "forecaster/fc_service.h"

#include "file/file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void path_of(char *out, size_t size, const char *dir, const char *wire)
{
    snprintf(out, size, "%s/%s.stop", dir, wire);
}

/* Index of partition in m, or m->n when it is not there. */
static size_t index_of(const fc_stopmark *m, int32_t partition)
{
    size_t i = 0;
    while (i < m->n && m->partition[i] != partition)
        i++;
    return i;
}

int fc_stopmark_raise(fc_stopmark *m, int32_t partition, int64_t offset)
{
    size_t i = index_of(m, partition);
    if (i == m->n) {
        if (m->n == FC_STOPMARK_MAX)
            return 0;
        m->partition[i] = partition;
        m->offset[i] = offset;
        m->n++;
        return 1;
    }
    if (offset <= m->offset[i])
        return 0;
    m->offset[i] = offset;
    return 1;
}

int fc_stopmark_raise_to_end(fc_stopmark *m, bus_consumer_t *c, const char *topic,
                             int timeout_ms, char *errstr, size_t errstr_size)
{
    bus_end_offsets_t *e = bus_consumer_end_offsets(c, timeout_ms, errstr, errstr_size);
    int changed = 0;
    if (!e)
        return -1;
    for (int i = 0; i < bus_end_offsets_count(e); i++) {
        const char *t;
        int32_t part;
        int64_t off;
        bus_end_offsets_at(e, i, &t, &part, &off);
        if (!strcmp(t, topic))
            changed += fc_stopmark_raise(m, part, off);
    }
    bus_end_offsets_destroy(e);
    return changed;
}

int fc_stopmark_write(const char *dir, const char *wire, const fc_stopmark *m,
                      char *errstr, size_t errstr_size)
{
    char path[1100], *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return snprintf(errstr, errstr_size, "out of memory"), -1;
    for (size_t i = 0; i < m->n; i++)
        fprintf(f, "%s %" PRId32 " %" PRId64 "\n", wire, m->partition[i], m->offset[i]);
    int rc = fclose(f);
    path_of(path, sizeof path, dir, wire);
    if (rc != 0 || !text)
        snprintf(errstr, errstr_size, "'%s': out of memory", path);
    else
        rc = ems_file_write_atomic(path, text, errstr, errstr_size);
    free(text);
    return rc ? -1 : 0;
}

/* One line "<topic> <partition> <offset>" of the mark of wire into m. */
static int parse_line(const char *line, const char *wire, fc_stopmark *m, char *errstr,
                      size_t errstr_size)
{
    char topic[256];
    int32_t part;
    int64_t off;
    if (sscanf(line, "%255s %" SCNd32 " %" SCNd64, topic, &part, &off) != 3 ||
        part < 0 || off < 0)
        return snprintf(errstr, errstr_size, "bad line '%.40s'", line), -1;
    if (strcmp(topic, wire))
        return snprintf(errstr, errstr_size, "a mark of topic '%.60s', not '%s'", topic,
                        wire),
               -1;
    if (index_of(m, part) == FC_STOPMARK_MAX)
        return snprintf(errstr, errstr_size, "more than %d partitions",
                        FC_STOPMARK_MAX),
               -1;
    fc_stopmark_raise(m, part, off);
    return 0;
}

int fc_stopmark_load(const char *dir, const char *wire, fc_stopmark *m, char *errstr,
                     size_t errstr_size)
{
    char path[1100], line[512], why[400];
    m->n = 0;
    path_of(path, sizeof path, dir, wire);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* never stopped here, or not since this file exists */
    while (fgets(line, sizeof line, f)) {
        if (parse_line(line, wire, m, why, sizeof why) < 0) {
            snprintf(errstr, errstr_size, "'%s': %s", path, why);
            m->n = 0;
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

int fc_stopmark_before(const fc_stopmark *m, int32_t partition, int64_t offset)
{
    size_t i = index_of(m, partition);
    return i < m->n && offset < m->offset[i];
}
