/* Unit tests of the scada-gateway state file: counters and executed command
 * ids survive a restart, saves are atomic and follow the flush policy, and a
 * damaged file is refused with its path and the reason. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file/file.h"
#include "scada-gateway/state.h"
#include "support/harness.h"

static char dir[256], path[300];
static char errstr[512];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ems-state-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sub/state.json", dir);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static bool exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static sg_state_t *load(void)
{
    sg_state_t *st = sg_state_load(path, errstr, sizeof errstr);
    ck_assert_msg(st != NULL, "%s", errstr);
    return st;
}

START_TEST(missing_file_is_empty_and_nothing_saved_until_changed)
{
    sg_state_t *st = load();
    sg_counter_t c;
    ck_assert_int_eq(sg_state_counter_slot(st, "m1", &c), 0);
    ck_assert(!c.has_prev);
    ck_assert(!sg_state_command_seen(st, "c1"));
    ck_assert_int_eq(sg_state_flush(st, true, 1000, 0, errstr, sizeof errstr), 0);
    ck_assert(!exists(path)); /* nothing changed: no write */
    sg_state_destroy(st);
}
END_TEST

/* A counter that rolled over keeps its total across a restart, and a
 * rollover that happened while the gateway was down is still recognised. */
START_TEST(counter_total_continues_after_restart)
{
    const double wrap = 65536 * 0.1; /* uint16 with scale 0.1 kWh */
    sg_state_t *st = load();
    sg_counter_t c;
    double total;
    int slot = sg_state_counter_slot(st, "m1", &c);
    ck_assert_int_eq(sg_counter_update(&c, 6500, wrap, &total), SG_CNT_FIRST);
    sg_state_counter_set(st, slot, &c, false);
    ck_assert_int_eq(sg_counter_update(&c, 20, wrap, &total), SG_CNT_ROLLOVER);
    ck_assert_double_eq_tol(total, 20 + wrap, 1e-9);
    sg_state_counter_set(st, slot, &c, true);
    ck_assert_int_eq(sg_state_flush(st, false, 5, 10000, errstr, sizeof errstr), 0);
    ck_assert(exists(path)); /* urgent: saved before the interval */
    sg_state_destroy(st);

    st = load(); /* the restart */
    sg_counter_t back;
    ck_assert_int_eq(sg_state_counter_slot(st, "m1", &back), 0);
    ck_assert(back.has_prev);
    ck_assert_double_eq(back.prev_raw, 20);
    ck_assert_double_eq_tol(back.offset, wrap, 1e-9);
    sg_counter_t down = back;
    ck_assert_int_eq(sg_counter_update(&back, 30, wrap, &total), SG_CNT_OK);
    ck_assert_double_eq_tol(total, 30 + wrap, 1e-9);
    /* had it gone round while the gateway was down, that is seen too */
    ck_assert_int_eq(sg_counter_update(&down, 6000, wrap, &total), SG_CNT_OK);
    ck_assert_int_eq(sg_counter_update(&down, 100, wrap, &total), SG_CNT_ROLLOVER);
    ck_assert_double_eq_tol(total, 100 + 2 * wrap, 1e-9);
    sg_state_destroy(st);
}
END_TEST

/* An energy value no counter reaches (garbage words of a float64 register,
 * a bogus MQTT payload), then its opposite: the drop overflows a double. It
 * used to make the offset infinite, which JSON cannot hold, so the state
 * file could not be written again: no counter saved, and every control
 * command refused, its id unsaveable. The offset stays finite; the
 * reading's total is not (flagged out_of_range). */
START_TEST(overflowing_counter_keeps_the_state_writable)
{
    sg_state_t *st = load();
    sg_counter_t c;
    double total;
    int slot = sg_state_counter_slot(st, "m1", &c);
    sg_counter_update(&c, 1.5e308, 0, &total);
    sg_state_counter_set(st, slot, &c, false);
    sg_counter_update(&c, -1.5e308, 0, &total);
    sg_state_counter_set(st, slot, &c, true);
    ck_assert(!isfinite(total));
    ck_assert(isfinite(c.offset));
    ck_assert_int_eq(sg_state_command_add(st, "c-1", NULL, 5, errstr, sizeof errstr),
                     0);
    sg_state_destroy(st);
    st = load();
    ck_assert(sg_state_command_seen(st, "c-1"));
    sg_state_destroy(st);
}
END_TEST

START_TEST(executed_commands_survive_restart_and_are_bounded)
{
    char id[32];
    sg_state_t *st = load();
    ck_assert_int_eq(sg_state_command_add(st, "c-0", NULL, 0, errstr, sizeof errstr),
                     0);
    sg_state_destroy(st);
    st = load(); /* the restart */
    ck_assert(sg_state_command_seen(st, "c-0"));
    sg_state_destroy(st);
    /* a full ring (built without a save per id, which would be slow here) */
    st = sg_state_new(NULL);
    for (int i = 0; i <= SG_STATE_COMMANDS; i++) {
        snprintf(id, sizeof id, "c-%d", i);
        ck_assert_int_eq(sg_state_command_add(st, id, NULL, i, errstr, sizeof errstr),
                         0);
    }
    ck_assert(!sg_state_command_seen(st, "c-0")); /* the oldest is forgotten */
    char *text = sg_state_encode(st);
    ck_assert_int_eq(ems_file_write_atomic(path, text, errstr, sizeof errstr), 0);
    free(text);
    sg_state_destroy(st);
    st = load();
    ck_assert(!sg_state_command_seen(st, "c-0"));
    ck_assert(sg_state_command_seen(st, "c-1"));
    snprintf(id, sizeof id, "c-%d", SG_STATE_COMMANDS);
    ck_assert(sg_state_command_seen(st, id));
    ck_assert(!sg_state_command_seen(st, "c-unknown"));
    /* order kept: one more forgets c-1, not a newer one */
    ck_assert_int_eq(sg_state_command_add(st, "c-new", NULL, 1, errstr, sizeof errstr),
                     0);
    ck_assert(!sg_state_command_seen(st, "c-1"));
    ck_assert(sg_state_command_seen(st, "c-2"));
    sg_state_destroy(st);
}
END_TEST

START_TEST(flush_policy_and_atomic_replace)
{
    char tmp[320];
    sg_state_t *st = load();
    sg_counter_t c = {.has_prev = true, .prev_raw = 10, .offset = 0};
    int slot = sg_state_counter_slot(st, "m1", &(sg_counter_t){0});
    sg_state_counter_set(st, slot, &c, false);
    ck_assert_int_eq(sg_state_flush(st, false, 0, 10000, errstr, sizeof errstr), 0);
    ck_assert(exists(path)); /* never saved before: the interval has passed */
    c.prev_raw = 11;
    sg_state_counter_set(st, slot, &c, false);
    ck_assert_int_eq(sg_state_flush(st, false, 5000, 10000, errstr, sizeof errstr), 0);
    sg_state_t *on_disk = load();
    sg_counter_t d;
    sg_state_counter_slot(on_disk, "m1", &d);
    ck_assert_double_eq(d.prev_raw, 10); /* within the interval: not yet saved */
    sg_state_destroy(on_disk);
    ck_assert_int_eq(sg_state_flush(st, false, 10000, 10000, errstr, sizeof errstr), 0);
    on_disk = load();
    sg_state_counter_slot(on_disk, "m1", &d);
    ck_assert_double_eq(d.prev_raw, 11);
    sg_state_destroy(on_disk);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert(!exists(tmp));
    sg_state_destroy(st);
}
END_TEST

START_TEST(encode_decode_round_trip)
{
    sg_state_t *a = sg_state_new(NULL), *b = sg_state_new(NULL);
    sg_counter_t c = {.has_prev = true, .prev_raw = 0.1 + 0.2, .offset = 4294967.296};
    sg_counter_t z;
    sg_state_counter_set(a, sg_state_counter_slot(a, "meter \"x\"", &z), &c, false);
    sg_state_counter_slot(a, "never-read", &z); /* no value yet: not written */
    sg_state_command_add(a, "c-1", NULL, 0, errstr, sizeof errstr);
    char *text = sg_state_encode(a);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(sg_state_decode(b, text, errstr, sizeof errstr), 0);
    sg_counter_t back;
    ck_assert_int_eq(sg_state_counter_slot(b, "meter \"x\"", &back), 0);
    ck_assert(back.has_prev);
    ck_assert(back.prev_raw == c.prev_raw); /* exact: 17 digits */
    ck_assert(back.offset == c.offset);
    ck_assert_int_eq(sg_state_counter_slot(b, "never-read", &back), 1);
    ck_assert(!back.has_prev);
    ck_assert(sg_state_command_seen(b, "c-1"));
    free(text);
    sg_state_destroy(a);
    sg_state_destroy(b);
}
END_TEST

/* The last write to each equipment survives a restart, so the rate limit
 * between writes holds across it. */
START_TEST(last_writes_survive_restart)
{
    int64_t ms = 0;
    sg_state_t *st = load();
    ck_assert(!sg_state_last_write(st, "dryer-1", &ms));
    sg_state_set_last_write(st, "dryer-1", 1763758937000LL);
    ck_assert_int_eq(sg_state_command_add(st, "c-1", NULL, 1, errstr, sizeof errstr),
                     0);
    sg_state_destroy(st);
    st = load(); /* the restart */
    ck_assert(sg_state_last_write(st, "dryer-1", &ms));
    ck_assert_int_eq(ms, 1763758937000LL);
    ck_assert(!sg_state_last_write(st, "kiln-2", &ms));
    sg_state_set_last_write(st, "dryer-1", 1763758997000LL); /* replaced */
    ck_assert(sg_state_last_write(st, "dryer-1", &ms));
    ck_assert_int_eq(ms, 1763758997000LL);
    sg_state_destroy(st);
}
END_TEST

/* A command whose id cannot be saved is not written to the plant, so its
 * time does not count as the equipment's last write: neither in the same run
 * nor, once the file can be written again, after a restart (the rate limit
 * would hold back the next command for a write that never happened). The
 * equipment's earlier write stays. */
START_TEST(unsaved_command_is_not_a_write)
{
    char sub[300];
    int64_t ms = 0;
    sg_state_t *st = load();
    ck_assert_int_eq(
        sg_state_command_add(st, "c-1", "dryer-1", 1000, errstr, sizeof errstr), 0);
    /* the state file's directory becomes a file: every save fails */
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(sub), 0);
    ck_assert(ems_file_write_atomic(sub, "x", errstr, sizeof errstr) == 0);
    ck_assert_int_eq(
        sg_state_command_add(st, "c-2", "dryer-1", 5000, errstr, sizeof errstr), -1);
    ck_assert_int_eq(
        sg_state_command_add(st, "c-3", "kiln-2", 6000, errstr, sizeof errstr), -1);
    ck_assert(sg_state_last_write(st, "dryer-1", &ms)); /* the same run */
    ck_assert_int_eq(ms, 1000);
    ck_assert(!sg_state_last_write(st, "kiln-2", &ms));
    ck_assert(sg_state_command_seen(st, "c-2")); /* still refused as a duplicate */
    /* writable again: the next save, then a restart */
    ck_assert_int_eq(unlink(sub), 0);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(sg_state_flush(st, true, 7000, 0, errstr, sizeof errstr), 0);
    sg_state_destroy(st);
    st = load();
    ck_assert(sg_state_last_write(st, "dryer-1", &ms));
    ck_assert_int_eq(ms, 1000);
    ck_assert(!sg_state_last_write(st, "kiln-2", &ms));
    sg_state_destroy(st);
}
END_TEST

static const struct {
    const char *text, *why;
} bad_files[] = {
    {"{\"version\":1,", "line 1"},
    {"[]", "version 1"},
    {"{\"version\":2,\"counters\":{}}", "version 1"},
    {"{\"version\":1,\"counters\":[]}", "'counters' must be an object"},
    {"{\"version\":1,\"counters\":{\"m1\":{\"prev_raw\":1}}}", "counter of 'm1'"},
    {"{\"version\":1,\"counters\":{\"m1\":{\"prev_raw\":\"1\",\"offset\":0}}}",
     "counter of 'm1'"},
    {"{\"version\":1,\"commands\":[\"c1\",7]}", "command id 1"},
    {"{\"version\":1,\"commands\":{}}", "'commands' an array"},
    {"{\"version\":1,\"writes\":[]}", "'writes' an object"},
    {"{\"version\":1,\"writes\":{\"dryer\":\"noon\"}}", "last write of 'dryer'"},
};

START_TEST(damaged_file_refused_with_path_and_reason)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/sub", dir);
    mkdir(tmp, 0755);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(bad_files[_i].text, f);
    fclose(f);
    errstr[0] = '\0';
    ck_assert_ptr_null(sg_state_load(path, errstr, sizeof errstr));
    ck_assert_msg(strstr(errstr, path) != NULL, "'%s' lacks the path", errstr);
    ck_assert_msg(strstr(errstr, bad_files[_i].why) != NULL, "'%s' lacks '%s'", errstr,
                  bad_files[_i].why);
}
END_TEST

START_TEST(unwritable_directory_reported)
{
    sg_state_t *st = sg_state_new("/proc/ems-no-such-dir/state.json");
    ck_assert_int_eq(sg_state_command_add(st, "c1", NULL, 0, errstr, sizeof errstr),
                     -1);
    ck_assert_msg(strstr(errstr, "/proc/ems-no-such-dir/state.json.tmp") != NULL, "%s",
                  errstr);
    ck_assert(sg_state_command_seen(st, "c1")); /* still refused as a duplicate */
    sg_state_destroy(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scada_state");
    TCase *tc = tcase_create("state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, missing_file_is_empty_and_nothing_saved_until_changed);
    tcase_add_test(tc, counter_total_continues_after_restart);
    tcase_add_test(tc, overflowing_counter_keeps_the_state_writable);
    tcase_add_test(tc, executed_commands_survive_restart_and_are_bounded);
    tcase_add_test(tc, flush_policy_and_atomic_replace);
    tcase_add_test(tc, encode_decode_round_trip);
    tcase_add_test(tc, last_writes_survive_restart);
    tcase_add_test(tc, unsaved_command_is_not_a_write);
    tcase_add_loop_test(tc, damaged_file_refused_with_path_and_reason, 0,
                        sizeof bad_files / sizeof bad_files[0]);
    tcase_add_test(tc, unwritable_directory_reported);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
