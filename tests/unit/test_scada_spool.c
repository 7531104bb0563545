/* Unit tests of the scada-gateway spool: append, read in order, commit,
 * rewind, bound, recovery after a restart and a torn tail. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scada-gateway/spool.h"
#include "support/harness.h"

static char dir[256];
static char errstr[512];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ems-spool-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static sg_reading_t reading(int64_t seq)
{
    sg_reading_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.meter_id, sizeof r.meter_id, "m%lld", (long long)(seq % 3));
    snprintf(r.site_id, sizeof r.site_id, "s1");
    r.seq = seq;
    r.ts_ms = 1000 * seq;
    r.has = 1;
    r.v[0] = (double)seq / 4;
    return r;
}

static void append_n(sg_spool_t *s, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        sg_reading_t r = reading(i);
        ck_assert_int_eq(sg_spool_append(s, &r, errstr, sizeof errstr), 0);
    }
    ck_assert_int_eq(sg_spool_sync(s, errstr, sizeof errstr), 0);
}

/* The spool keeps a reading's bytes as they are, so they come back the same
 * byte for byte (sg_reading_t has no padding: its pad field fills the hole). */
static int same_bytes(const sg_reading_t *a, const sg_reading_t *b)
{
    /* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison): a byte round trip */
    return memcmp(a, b, sizeof *a) == 0;
}

static void expect_next(sg_spool_t *s, int from, int n)
{
    sg_reading_t out[64];
    ck_assert_int_le(n, 64);
    ck_assert_int_eq(sg_spool_read(s, out, n, errstr, sizeof errstr), n);
    for (int i = 0; i < n; i++) {
        sg_reading_t want = reading(from + i);
        ck_assert(same_bytes(&out[i], &want));
    }
}

/* The records' checksum is the standard CRC-32 (the check value of the
 * CRC catalogue), the one spool files were always written with. */
START_TEST(crc32_is_the_ieee_crc)
{
    ck_assert_uint_eq(sg_crc32("123456789", 9), 0xcbf43926u);
    ck_assert_uint_eq(sg_crc32("", 0), 0);
}
END_TEST

START_TEST(in_order_commit_and_rewind)
{
    sg_spool_t *s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    append_n(s, 1, 10);
    ck_assert_int_eq(sg_spool_pending(s), 10);
    expect_next(s, 1, 4);
    sg_spool_rewind(s); /* not delivered: read again */
    expect_next(s, 1, 4);
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), 0);
    ck_assert_int_eq(sg_spool_pending(s), 6);
    expect_next(s, 5, 6);
    sg_reading_t extra[2];
    ck_assert_int_eq(sg_spool_read(s, extra, 2, errstr, sizeof errstr), 0);
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), 0);
    ck_assert_int_eq(sg_spool_pending(s), 0);
    ck_assert_int_eq(sg_spool_bytes(s), 0);
    append_n(s, 11, 2); /* after truncation, appends start over */
    expect_next(s, 11, 2);
    sg_spool_close(s);
}
END_TEST

/* Confirmations always a few records behind the appends (the broker slower
 * than the poll): the file never empties, so it is compacted instead of
 * growing without bound, and nothing is lost or repeated, across a
 * restart too. */
START_TEST(lagging_confirmations_keep_the_file_bounded)
{
    sg_spool_t *s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    char path[300];
    struct stat st;
    int64_t biggest = 0, rec = 12 + (int64_t)sizeof(sg_reading_t);
    int next = 1, sent = 1;

    ck_assert_msg(s != NULL, "%s", errstr);
    snprintf(path, sizeof path, "%s/spool.dat", dir);
    for (int round = 0; round < 200; round++) {
        append_n(s, next, 40);
        next += 40;
        expect_next(s, sent, 40); /* sent; the last 10 stay unconfirmed */
        sent += 40;
        ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), 0);
        append_n(s, next, 10);
        next += 10;
        expect_next(s, sent, 10);
        sent += 10;
        ck_assert_int_eq(stat(path, &st), 0);
        if (st.st_size > biggest)
            biggest = st.st_size;
    }
    ck_assert_int_eq(sg_spool_pending(s), 10);
    /* 10,000 records written; the file stays near the compaction size */
    ck_assert_int_lt(biggest, (1 << 20) + 200 * rec);
    ck_assert_int_lt(biggest, (int64_t)(next - 1) * rec / 2);
    sg_spool_close(s);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    ck_assert_int_eq(sg_spool_pending(s), 10);
    expect_next(s, next - 10, 10);
    sg_spool_close(s);
}
END_TEST

/* Reads n records (any number) to move the send cursor, checking their order. */
static void send_n(sg_spool_t *s, int from, int n)
{
    while (n > 0) {
        int k = n < 64 ? n : 64;
        expect_next(s, from, k);
        from += k;
        n -= k;
    }
}

/* Reads all the spool holds: one run of consecutive readings that starts at
 * or before first and ends at last. At least once and in order: readings
 * confirmed but not yet recorded as such may come again, none may be
 * missing. */
static void expect_run_covering(sg_spool_t *s, int first, int last)
{
    sg_reading_t out[64];
    int n, start = -1, next = -1;
    while ((n = sg_spool_read(s, out, 64, errstr, sizeof errstr)) > 0) {
        for (int i = 0; i < n; i++) {
            if (next < 0)
                start = next = (int)out[i].seq;
            sg_reading_t want = reading(next++);
            ck_assert(same_bytes(&out[i], &want));
        }
    }
    ck_assert_int_eq(n, 0);
    ck_assert_int_ge(start, 1);
    ck_assert_int_le(start, first);
    ck_assert_int_eq(next - 1, last);
}

/* A commit that compacts the file but cannot write the head file (a full
 * disk, an I/O error): the service stops on the error, and the spool it
 * restarts with must still hold every unconfirmed reading. The compaction
 * cut the file before it wrote the head, so the head left on disk was the
 * previous commit's; pointing into the moved records, it made the restart
 * skip the first 500 of them. */
START_TEST(failed_head_write_in_compaction_loses_nothing)
{
    char blocker[300];
    sg_spool_t *s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    append_n(s, 1, 1000);
    send_n(s, 1, 500);
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), 0); /* head: 500 */
    append_n(s, 1001, 2500);
    send_n(s, 501, 2300); /* 2,800 sent, over 1 MiB; 700 left, more than 500 */
    /* the head file's temporary name taken by a directory: it cannot be
     * written */
    snprintf(blocker, sizeof blocker, "%s/spool.head.tmp", dir);
    ck_assert_int_eq(mkdir(blocker, 0700), 0);
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "spool.head"));
    sg_spool_close(s);
    ck_assert_int_eq(rmdir(blocker), 0);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    ck_assert_int_ge(sg_spool_pending(s), 700);
    expect_run_covering(s, 2801, 3500);
    sg_spool_close(s);
}
END_TEST

static void write_text(const char *name, const char *text)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* A crash between the truncation of a fully confirmed file and the write of
 * its new head leaves the old head, past the now empty file: the open
 * resets it to 0. It used to do so in memory only, so once the readings
 * appended after it (the broker still away) reached the old offset, the
 * next restart took them for confirmed up to there. */
START_TEST(head_reset_at_open_is_saved)
{
    char head[32];
    sg_spool_t *s;
    int64_t rec = 12 + (int64_t)sizeof(sg_reading_t);
    write_text("spool.dat", "");
    snprintf(head, sizeof head, "%lld\n", (long long)rec * 10); /* 10 sent */
    write_text("spool.head", head);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    ck_assert_int_eq(sg_spool_pending(s), 0);
    append_n(s, 1, 25); /* never confirmed */
    sg_spool_close(s);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    ck_assert_int_eq(sg_spool_pending(s), 25);
    expect_next(s, 1, 25);
    sg_spool_close(s);
}
END_TEST

/* Everything confirmed, the file is cut to zero, but the new head cannot be
 * written (disk full for a moment): the head file still holds the previous
 * commit's offset. Readings appended from 0 that reach it used to be taken
 * for confirmed up to there at the next open; now the head is written
 * before any record goes that far, and while it cannot be, the append
 * fails instead. */
START_TEST(failed_head_write_after_truncation_loses_nothing)
{
    char blocker[300];
    sg_spool_t *s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    append_n(s, 1, 30);
    send_n(s, 1, 20);
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), 0); /* head: 20 */
    send_n(s, 21, 10);
    snprintf(blocker, sizeof blocker, "%s/spool.head.tmp", dir);
    ck_assert_int_eq(mkdir(blocker, 0700), 0);
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), -1);
    ck_assert_int_eq(sg_spool_pending(s), 0);
    for (int i = 31; i < 61; i++) {
        sg_reading_t r = reading(i);
        ck_assert_int_eq(sg_spool_append(s, &r, errstr, sizeof errstr), 0);
    }
    /* 30 records would reach the offset the head file holds */
    ck_assert_int_eq(sg_spool_sync(s, errstr, sizeof errstr), -1);
    ck_assert_ptr_nonnull(strstr(errstr, "spool.head"));
    ck_assert_int_eq(rmdir(blocker), 0); /* room again */
    ck_assert_int_eq(sg_spool_sync(s, errstr, sizeof errstr), 0);
    sg_spool_close(s);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    ck_assert_int_eq(sg_spool_pending(s), 30);
    expect_next(s, 31, 30);
    sg_spool_close(s);
}
END_TEST

START_TEST(restart_drains_unconfirmed)
{
    sg_spool_t *s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    append_n(s, 1, 20);
    expect_next(s, 1, 7);
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), 0);
    expect_next(s, 8, 3); /* sent, never confirmed */
    sg_spool_close(s);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    ck_assert_int_eq(sg_spool_pending(s), 13);
    expect_next(s, 8, 13);
    sg_spool_close(s);
}
END_TEST

START_TEST(torn_tail_is_cut)
{
    char path[300];
    sg_spool_t *s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    append_n(s, 1, 5);
    sg_spool_close(s);
    snprintf(path, sizeof path, "%s/spool.dat", dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "\x31\x52\x47\x53garbage", 11), 11);
    close(fd);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_int_eq(sg_spool_pending(s), 5);
    expect_next(s, 1, 5);
    append_n(s, 6, 1);
    expect_next(s, 6, 1);
    sg_spool_close(s);
}
END_TEST

/* One damaged record among intact ones (a flipped bit, a page the disk
 * lost) is skipped and counted once; the readings after it are kept. It
 * used to end the log: the open cut the file there, and every reading
 * after it was lost without a word. */
START_TEST(corrupt_record_is_skipped_and_counted)
{
    char path[300];
    sg_spool_t *s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    sg_reading_t out[8];
    append_n(s, 1, 6);
    sg_spool_close(s);
    snprintf(path, sizeof path, "%s/spool.dat", dir);
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    off_t rec = st.st_size / 6;
    ck_assert_int_eq(pwrite(fd, "X", 1, rec * 3 + 40), 1); /* inside record 4 */
    close(fd);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    ck_assert_int_eq(sg_spool_corrupt(s), 0);
    expect_next(s, 1, 3);
    for (int round = 0; round < 2; round++) { /* read again after a rewind */
        ck_assert_int_eq(sg_spool_read(s, out, 2, errstr, sizeof errstr), 2);
        ck_assert_int_eq(out[0].seq, 5);
        ck_assert_int_eq(out[1].seq, 6);
        ck_assert_int_eq(sg_spool_corrupt(s), 1);
        sg_spool_rewind(s);
        expect_next(s, 1, 3);
    }
    ck_assert_int_eq(sg_spool_read(s, out, 8, errstr, sizeof errstr), 2);
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), 0);
    ck_assert_int_eq(sg_spool_pending(s), 0);
    sg_spool_close(s);
}
END_TEST

/* Damaged records at the end are a torn tail, cut like a partial one. */
START_TEST(corrupt_last_records_are_cut)
{
    char path[300];
    sg_spool_t *s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    append_n(s, 1, 5);
    sg_spool_close(s);
    snprintf(path, sizeof path, "%s/spool.dat", dir);
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    off_t rec = st.st_size / 5;
    ck_assert_int_eq(pwrite(fd, "X", 1, rec * 3 + 40), 1); /* records 4 */
    ck_assert_int_eq(pwrite(fd, "X", 1, rec * 4 + 40), 1); /* and 5 */
    close(fd);
    s = sg_spool_open(dir, 0, errstr, sizeof errstr);
    ck_assert_int_eq(sg_spool_pending(s), 3);
    expect_next(s, 1, 3);
    append_n(s, 6, 1);
    expect_next(s, 6, 1);
    ck_assert_int_eq(sg_spool_corrupt(s), 0);
    sg_spool_close(s);
}
END_TEST

START_TEST(full_spool_refuses_and_counts)
{
    sg_spool_t *s = sg_spool_open(dir, 3 * (12 + (int64_t)sizeof(sg_reading_t)), errstr,
                                  sizeof errstr);
    sg_reading_t r = reading(1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sg_spool_append(s, &r, errstr, sizeof errstr), 0);
    ck_assert_int_eq(sg_spool_append(s, &r, errstr, sizeof errstr), 1);
    ck_assert_int_eq(sg_spool_append(s, &r, errstr, sizeof errstr), 1);
    ck_assert_int_eq(sg_spool_dropped(s), 2);
    ck_assert_int_eq(sg_spool_pending(s), 3);
    ck_assert_int_eq(sg_spool_full(s), 1); /* while no append is tried too */
    sg_reading_t out[3];
    ck_assert_int_eq(sg_spool_read(s, out, 3, errstr, sizeof errstr), 3);
    ck_assert_int_eq(sg_spool_full(s), 1); /* sent, not confirmed */
    ck_assert_int_eq(sg_spool_commit(s, errstr, sizeof errstr), 0);
    ck_assert_int_eq(sg_spool_full(s), 0);
    ck_assert_int_eq(sg_spool_append(s, &r, errstr, sizeof errstr), 0); /* room again */
    sg_spool_close(s);
}
END_TEST

START_TEST(unwritable_dir_fails_with_path)
{
    sg_spool_t *s = sg_spool_open("/proc/nonexistent/spool", 0, errstr, sizeof errstr);
    ck_assert_ptr_null(s);
    ck_assert(strstr(errstr, "/proc/nonexistent/spool") != NULL);
}
END_TEST

START_TEST(missing_parent_directories_are_made)
{
    char nested[400];
    snprintf(nested, sizeof nested, "%s/a/b/spool", dir);
    sg_spool_t *s = sg_spool_open(nested, 0, errstr, sizeof errstr);
    ck_assert_msg(s != NULL, "%s", errstr);
    append_n(s, 1, 3);
    ck_assert_int_eq(sg_spool_pending(s), 3);
    sg_spool_close(s);
}
END_TEST

START_TEST(crc32_known_value)
{
    ck_assert_uint_eq(sg_crc32("123456789", 9), 0xcbf43926u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_spool");
    TCase *tc = tcase_create("spool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, crc32_is_the_ieee_crc);
    tcase_add_test(tc, in_order_commit_and_rewind);
    tcase_add_test(tc, restart_drains_unconfirmed);
    tcase_add_test(tc, lagging_confirmations_keep_the_file_bounded);
    tcase_add_test(tc, failed_head_write_in_compaction_loses_nothing);
    tcase_add_test(tc, head_reset_at_open_is_saved);
    tcase_add_test(tc, failed_head_write_after_truncation_loses_nothing);
    tcase_add_test(tc, torn_tail_is_cut);
    tcase_add_test(tc, corrupt_record_is_skipped_and_counted);
    tcase_add_test(tc, corrupt_last_records_are_cut);
    tcase_add_test(tc, full_spool_refuses_and_counts);
    tcase_add_test(tc, unwritable_dir_fails_with_path);
    tcase_add_test(tc, missing_parent_directories_are_made);
    tcase_add_test(tc, crc32_known_value);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
