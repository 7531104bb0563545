/* file: small file-system helpers shared by the services. */
#ifndef EMS_FILE_H
#define EMS_FILE_H

#include <stddef.h>

/* Replaces path by text atomically: writes path.tmp, fsyncs it, renames
 * it over path and fsyncs the directory, so a crash leaves either the old
 * file or the new one whole, and a rename that returned stays done.
 * Returns 0, or -1 with errstr naming the file (path.tmp is removed, path
 * is unchanged). Any thread, one writer per path. */
int ems_file_write_atomic(const char *path, const char *text, char *errstr,
                          size_t errstr_size);

#endif
