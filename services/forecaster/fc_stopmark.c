/* fc_stopmark: where energy.load ended when the service last stopped (see
 * fc_service.h). */
#include "forecaster/fc_service.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define STOPMARK_FILE "energy.load.stop"

static void path_of(char *out, size_t size, const char *dir, const char *suffix)
{
    snprintf(out, size, "%s/%s%s", dir, STOPMARK_FILE, suffix);
}

int fc_stopmark_save(const char *dir, bus_consumer_t *c, int timeout_ms, char *errstr,
                     size_t errstr_size)
{
    char path[1100], tmp[1100];
    bus_end_offsets_t *e = bus_consumer_end_offsets(c, timeout_ms, errstr, errstr_size);
    if (!e)
        return -1;
    path_of(path, sizeof path, dir, "");
    path_of(tmp, sizeof tmp, dir, ".tmp");
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL;
    for (int i = 0; ok && i < bus_end_offsets_count(e); i++) {
        const char *topic;
        int32_t part;
        int64_t off;
        bus_end_offsets_at(e, i, &topic, &part, &off);
        if (!strcmp(topic, "energy.load"))
            ok = fprintf(f, "energy.load %" PRId32 " %" PRId64 "\n", part, off) > 0;
    }
    if (f)
        ok &= fclose(f) == 0;
    bus_end_offsets_destroy(e);
    /* renamed whole, so a crash while writing leaves the previous mark */
    if (!ok || rename(tmp, path) < 0) {
        snprintf(errstr, errstr_size, "cannot write '%s': %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

int fc_stopmark_load(const char *dir, fc_stopmark *m, char *errstr, size_t errstr_size)
{
    char path[1100], line[128];
    int32_t part;
    int64_t off;
    m->n = 0;
    path_of(path, sizeof path, dir, "");
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* never stopped cleanly here: no mark */
    while (fgets(line, sizeof line, f)) {
        if (m->n == FC_STOPMARK_MAX ||
            sscanf(line, "energy.load %" SCNd32 " %" SCNd64, &part, &off) != 2) {
            snprintf(errstr, errstr_size, "'%s': bad line '%.40s'", path, line);
            m->n = 0;
            fclose(f);
            return -1;
        }
        m->partition[m->n] = part;
        m->offset[m->n++] = off;
    }
    fclose(f);
    return 0;
}

int fc_stopmark_before(const fc_stopmark *m, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->partition[i] == partition)
            return offset < m->offset[i];
    return 0;
}
