/* Unit tests of libs/file: an atomic write creates or replaces the whole
 * file, carries binary content, and a failure keeps the old file and leaves
 * no temporary file behind. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file/file.h"
#include "support/harness.h"

static char dir[256], path[300], tmp[310];
static char errstr[512];

static void setup(void)
{
    th_tmpdir(dir, sizeof dir, "file");
    th_path(path, sizeof path, dir, "state");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    umask(022);
}

static void teardown(void)
{
    th_rmtree(dir);
}

static bool exists(const char *p)
{
    return access(p, F_OK) == 0;
}

/* The content of p into buf (size bytes at most); its length. */
static size_t read_back(const char *p, char *buf, size_t size)
{
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "cannot open '%s'", p);
    size_t n = fread(buf, 1, size, f);
    fclose(f);
    return n;
}

static void assert_content(const char *want)
{
    char buf[4096];
    size_t n = read_back(path, buf, sizeof buf);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(buf, want, n) == 0);
}

static mode_t mode_of(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return st.st_mode & 07777;
}

START_TEST(write_creates_the_file_whole)
{
    ck_assert_int_eq(ems_file_write_atomic(path, "seq 1\n", errstr, sizeof errstr), 0);
    assert_content("seq 1\n");
    ck_assert_int_eq(mode_of(path), 0640);
    ck_assert(!exists(tmp));
}
END_TEST

START_TEST(overwrite_replaces_the_old_content)
{
    ck_assert_int_eq(
        ems_file_write_atomic(path, "a longer first version\n", errstr, sizeof errstr),
        0);
    ck_assert_int_eq(ems_file_write_atomic(path, "short\n", errstr, sizeof errstr), 0);
    assert_content("short\n"); /* nothing of the longer file remains */
    ck_assert(!exists(tmp));
}
END_TEST

START_TEST(binary_content_with_nul_bytes_and_mode)
{
    static const unsigned char data[] = {0x1f, 0x8b, 0x00, 0x00, 'x', 0x00, 0xff};
    unsigned char buf[64];
    ck_assert_int_eq(
        ems_file_write_atomic_n(path, data, sizeof data, 0600, errstr, sizeof errstr),
        0);
    ck_assert_uint_eq(read_back(path, (char *)buf, sizeof buf), sizeof data);
    ck_assert(memcmp(buf, data, sizeof data) == 0);
    ck_assert_int_eq(mode_of(path), 0600);
    ck_assert_int_eq(ems_file_write_atomic_n(path, "", 0, 0600, errstr, sizeof errstr),
                     0);
    ck_assert_uint_eq(read_back(path, (char *)buf, sizeof buf), 0);
}
END_TEST

START_TEST(missing_directory_reported_with_the_file)
{
    snprintf(path, sizeof path, "%s/no-such-dir/state", dir);
    errno = 0;
    ck_assert_int_eq(ems_file_write_atomic(path, "x\n", errstr, sizeof errstr), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_msg(strstr(errstr, "no-such-dir/state.tmp") != NULL, "%s", errstr);
    ck_assert(!exists(path));
}
END_TEST

/* The write itself fails half-way (the file size limit stands in for a full
 * disk, and works as root too): the old file stays, the partial temporary
 * file is removed, and errno is the write's. */
START_TEST(failed_write_keeps_the_old_file_and_no_tmp)
{
    char big[4096];
    struct rlimit lim = {.rlim_cur = 100, .rlim_max = RLIM_INFINITY};
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(ems_file_write_atomic(path, "old\n", errstr, sizeof errstr), 0);
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = ems_file_write_atomic(path, big, errstr, sizeof errstr), err = errno;
    lim.rlim_cur = RLIM_INFINITY;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err, EFBIG);
    ck_assert_msg(strstr(errstr, tmp) != NULL, "%s", errstr);
    assert_content("old\n");
    ck_assert(!exists(tmp));
}
END_TEST

/* errno is the failed call's, not that of removing the temporary file
 * (callers such as devregistry report strerror(errno)): no descriptor left
 * makes open() fail with EMFILE, where unlink() would say ENOENT. */
START_TEST(failure_keeps_the_errno_of_the_failed_call)
{
    int next = dup(0);
    ck_assert_int_ge(next, 0);
    close(next);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    lim = (struct rlimit){.rlim_cur = (rlim_t)next, .rlim_max = old.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
    int rc = ems_file_write_atomic(path, "x\n", errstr, sizeof errstr), err = errno;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err, EMFILE);
    ck_assert_msg(strstr(errstr, strerror(EMFILE)) != NULL, "%s", errstr);
}
END_TEST

/* The rename fails (path is a directory that is not empty): what stood at
 * path stays and the temporary file is removed. */
START_TEST(failed_rename_keeps_the_target_and_no_tmp)
{
    char inner[400];
    ck_assert_int_eq(mkdir(path, 0750), 0);
    snprintf(inner, sizeof inner, "%s/keep", path);
    ck_assert_int_eq(ems_file_write_atomic(inner, "kept\n", errstr, sizeof errstr), 0);
    ck_assert_int_eq(ems_file_write_atomic(path, "new\n", errstr, sizeof errstr), -1);
    ck_assert_msg(strstr(errstr, tmp) != NULL, "%s", errstr);
    ck_assert(exists(inner));
    ck_assert(!exists(tmp));
}
END_TEST

/* Whether name starts with the string ctx. */
static int starts_with(const char *name, const void *ctx)
{
    return strncmp(name, ctx, strlen(ctx)) == 0;
}

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* The names kept, in the comparator's order; none kept: NULL. */
START_TEST(dir_names_keeps_and_sorts)
{
    static const char *const files[] = {"m.2", "x.1", "m.10", "m.1"};
    char p[512];
    size_t n;

    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        th_path(p, sizeof p, dir, files[i]);
        ck_assert_int_eq(ems_file_write_atomic(p, "", errstr, sizeof errstr), 0);
    }
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char **names = ems_file_dir_names(d, starts_with, "m.", cmp_desc, &n);
    closedir(d);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(names[0], "m.2");
    ck_assert_str_eq(names[1], "m.10");
    ck_assert_str_eq(names[2], "m.1");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_null(ems_file_dir_names(d, starts_with, "y.", cmp_desc, &n));
    ck_assert_uint_eq(n, 0);
    closedir(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("atomic");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, write_creates_the_file_whole);
    tcase_add_test(tc, overwrite_replaces_the_old_content);
    tcase_add_test(tc, binary_content_with_nul_bytes_and_mode);
    tcase_add_test(tc, missing_directory_reported_with_the_file);
    tcase_add_test(tc, failed_write_keeps_the_old_file_and_no_tmp);
    tcase_add_test(tc, failure_keeps_the_errno_of_the_failed_call);
    tcase_add_test(tc, failed_rename_keeps_the_target_and_no_tmp);
    suite_add_tcase(s, tc);
    TCase *names = tcase_create("names");
    tcase_add_checked_fixture(names, setup, teardown);
    tcase_add_test(names, dir_names_keeps_and_sorts);
    suite_add_tcase(s, names);
    return th_run_suite(s, 0);
}
