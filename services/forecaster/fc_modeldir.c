/* fc_modeldir: loading the newest valid saved model of a site at start, and
 * removing the older ones after a save (see fc_service.h). */
#include "forecaster/fc_service.h"
#include "forecaster/fc_site.h"
#include "file/file.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Whether name is "<prefix>...model", prefix a string. */
static int is_model_of(const char *name, const void *prefix)
{
    size_t len = strlen(name), pl = strlen(prefix);
    return len > pl + 6 && !strncmp(name, prefix, pl) &&
           !strcmp(name + len - 6, ".model");
}

/* Names "<prefix><site>.<da|id>.<version>.model" in dir (prefix: the topic
 * prefix, site and kind), newest version first; none when dir cannot be
 * read. */
static char **candidates(const char *dir, const char *prefix, size_t *n)
{
    DIR *d = opendir(dir);
    *n = 0;
    if (!d)
        return NULL;
    char **names = ems_file_dir_names(d, is_model_of, prefix, cmp_desc, n);
    closedir(d);
    return names;
}

int fc_modeldir_load(const char *dir, const char *topic_prefix, fc_site *site,
                     fc_kind k, size_t *refused, char *errstr, size_t errstr_size)
{
    char prefix[256], path[2048];
    size_t n = 0;
    int found = 0;
    fc_forecaster *fc = fc_site_forecaster(site);
    snprintf(prefix, sizeof prefix, "%s%s.%s.", topic_prefix, fc_site_id(site),
             k == FC_DAY_AHEAD ? "da" : "id");
    char **names = candidates(dir, prefix, &n);
    errstr[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!found) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            found = fc_forecaster_load_checked(fc, k, path, fc_site_weather(site),
                                               fc_site_clock(site), errstr,
                                               errstr_size) == 0;
            if (!found && refused)
                (*refused)++;
        }
        free(names[i]);
    }
    free(names);
    return found;
}

/* Whether name is "<prefix>fc1-..." and ".model": a version as this build
 * writes it (fc_train.c), not another deployment's "<its prefix><site>"
 * that happens to start with ours. */
static int is_version_of(const char *name, const void *prefix)
{
    size_t pl = strlen(prefix);
    return is_model_of(name, prefix) && !strncmp(name + pl, "fc1-", 4);
}

int fc_modeldir_prune(const char *dir, const char *topic_prefix, const char *site_id,
                      fc_kind k, const char *saved, size_t keep, char *errstr,
                      size_t errstr_size)
{
    char prefix[256], mine[512], path[2048];
    const char *kn = k == FC_DAY_AHEAD ? "da" : "id";
    size_t n = 0, older = 0;
    int removed = 0;
    snprintf(prefix, sizeof prefix, "%s%s.%s.", topic_prefix, site_id, kn);
    snprintf(mine, sizeof mine, "%s%s.model", prefix, saved);
    DIR *d = opendir(dir);
    char **names =
        d ? ems_file_dir_names(d, is_version_of, prefix, cmp_desc, &n) : NULL;
    if (d)
        closedir(d);
    for (size_t i = 0; i < n; i++) {
        /* newest first: the keep - 1 newest below the one saved stay */
        if (removed >= 0 && strcmp(names[i], mine) < 0 && ++older >= keep) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            if (unlink(path) < 0) {
                snprintf(errstr, errstr_size, "removing '%s': %s", path,
                         strerror(errno));
                removed = -1;
            } else {
                removed++;
            }
        }
        free(names[i]);
    }
    free(names);
    return removed;
}
