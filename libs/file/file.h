/* file: small file-system helpers shared by the services. */
#ifndef EMS_FILE_H
#define EMS_FILE_H

#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

/* Replaces path by the len bytes of data atomically: writes path.tmp with
 * mode (before the umask), fsyncs it, renames it over path and fsyncs the
 * directory, so a crash leaves either the old file or the new one whole,
 * and a rename that returned stays done. data may hold NUL bytes.
 * Returns 0, or -1 with errstr naming the file and errno kept from the
 * failed call (path.tmp is removed, path is unchanged). Any thread, one
 * writer per path. */
int ems_file_write_atomic_n(const char *path, const void *data, size_t len, mode_t mode,
                            char *errstr, size_t errstr_size);

/* ems_file_write_atomic_n() of the string text, mode 0640. */
int ems_file_write_atomic(const char *path, const char *text, char *errstr,
                          size_t errstr_size);

/* Copies of the names of the entries of d that keep(name, ctx) accepts,
 * sorted by cmp (a qsort() comparator of char * elements); *n of them.
 * Reads d from where it stands to its end; the caller closes d and frees
 * each name and the array (NULL when *n is 0). Out of memory, the names
 * copied until then. Any thread, one caller per d. */
char **ems_file_dir_names(DIR *d, int (*keep)(const char *name, const void *ctx),
                          const void *ctx, int (*cmp)(const void *, const void *),
                          size_t *n);

#endif
