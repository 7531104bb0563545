/* file: small file-system helpers shared by the services. */
#ifndef EMS_FILE_H
#define EMS_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path by the len bytes of data atomically: writes path.tmp with
 * mode (before the umask), fsyncs it, renames it over path and fsyncs the
 * directory, so a crash leaves either the old file or the new one whole,
 * and a rename that returned stays done. data may hold NUL bytes.
 * Returns 0, or -1 with errstr naming the file and errno kept from the
 * failed call (path.tmp is removed, path is unchanged). Any thread, one
 * writer per path. */
int ems_file_write_atomic_n(const char *path, const void *data, size_t len,
                            mode_t mode, char *errstr, size_t errstr_size);

/* ems_file_write_atomic_n() of the string text, mode 0640. */
int ems_file_write_atomic(const char *path, const char *text, char *errstr,
                          size_t errstr_size);

#endif
