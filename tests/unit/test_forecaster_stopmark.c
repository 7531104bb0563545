/*
 * The forecaster's mark of energy.load (fc_stopmark.c): it only grows, is
 * written atomically under the topic's name on the wire and read back
 * equal, and a mark of another topic (another prefix) is refused. The
 * saved models of a site and kind are pruned to the newest few.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forecaster/fc_service.h"
#include "support/harness.h"

static char dir[256], errstr[1200];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ems-stopmark-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_text(const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(raise_only_grows)
{
    fc_stopmark m = {0};
    ck_assert_int_eq(fc_stopmark_raise(&m, 2, 100), 1);
    ck_assert_int_eq(fc_stopmark_raise(&m, 0, 7), 1);
    ck_assert_int_eq(fc_stopmark_raise(&m, 2, 50), 0); /* a lower offset */
    ck_assert_int_eq(fc_stopmark_raise(&m, 2, 100), 0);
    ck_assert_int_eq(fc_stopmark_raise(&m, 2, 101), 1);
    ck_assert_uint_eq(m.n, 2);
    ck_assert(fc_stopmark_before(&m, 2, 100));
    ck_assert(!fc_stopmark_before(&m, 2, 101));
    ck_assert(fc_stopmark_before(&m, 0, 6));
    ck_assert(!fc_stopmark_before(&m, 1, 0)); /* a partition not marked */
}
END_TEST

START_TEST(written_and_read_back_under_its_topic)
{
    fc_stopmark m = {0}, back;
    fc_stopmark_raise(&m, 0, 288);
    fc_stopmark_raise(&m, 3, 12);
    ck_assert_msg(
        fc_stopmark_write(dir, "plant1.energy.load", &m, errstr, sizeof errstr) == 0,
        "%s", errstr);
    ck_assert_int_eq(
        fc_stopmark_load(dir, "plant1.energy.load", &back, errstr, sizeof errstr), 0);
    ck_assert_uint_eq(back.n, 2);
    ck_assert(fc_stopmark_before(&back, 0, 287) && !fc_stopmark_before(&back, 0, 288));
    ck_assert(fc_stopmark_before(&back, 3, 11) && !fc_stopmark_before(&back, 3, 12));
    /* another prefix has no mark here: its own file is not there */
    ck_assert_int_eq(
        fc_stopmark_load(dir, "plant2.energy.load", &back, errstr, sizeof errstr), 0);
    ck_assert_uint_eq(back.n, 0);
}
END_TEST

/* Regression: the mark named no topic, so a model_dir reused by a
 * deployment with another prefix read another topic's offsets. */
START_TEST(mark_of_another_topic_is_refused)
{
    fc_stopmark m;
    write_text("plant2.energy.load.stop", "plant1.energy.load 0 288\n");
    ck_assert_int_eq(
        fc_stopmark_load(dir, "plant2.energy.load", &m, errstr, sizeof errstr), -1);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_msg(strstr(errstr, "'plant1.energy.load', not 'plant2.energy.load'"),
                  "%s", errstr);
    /* a mark of the time before prefixes were named: only without a prefix */
    write_text("energy.load.stop", "energy.load 0 288\n");
    ck_assert_int_eq(fc_stopmark_load(dir, "energy.load", &m, errstr, sizeof errstr),
                     0);
    ck_assert_uint_eq(m.n, 1);
    write_text("energy.load.stop", "energy.load zero 288\n");
    ck_assert_int_eq(fc_stopmark_load(dir, "energy.load", &m, errstr, sizeof errstr),
                     -1);
    ck_assert_msg(strstr(errstr, "bad line"), "%s", errstr);
}
END_TEST

static int exists(const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Eight weekly day-ahead models of site s1 saved: the four newest stay.
 * One per training was kept for ever (600 kB each, two kinds a week). Files
 * of another kind, site or prefix, a name sorting after the one saved
 * (not this service's to judge) and another deployment's whose name starts
 * like ours are left alone. */
START_TEST(saved_models_are_pruned_to_the_newest)
{
    char name[128];
    static const char *const others[] = {
        "s1.da.fc1-da-29990101T0000Z.model",    "s1.id.fc1-id-20200105T0000Z.model",
        "s1x.da.fc1-da-20200105T0500Z.model",   "p.s1.da.fc1-da-20200105T0500Z.model",
        "s1.da.da.fc1-da-20200105T0500Z.model", "s1.da.notes.txt"};
    for (int w = 0; w < 8; w++) {
        snprintf(name, sizeof name, "s1.da.fc1-da-202007%02dT0500Z.model", 1 + 4 * w);
        write_text(name, "m");
    }
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        write_text(others[i], "m");
    ck_assert_int_eq(fc_modeldir_prune(dir, "", "s1", FC_DAY_AHEAD,
                                       "fc1-da-20200729T0500Z", FC_MODELS_KEPT, errstr,
                                       sizeof errstr),
                     4);
    for (int w = 0; w < 8; w++) {
        snprintf(name, sizeof name, "s1.da.fc1-da-202007%02dT0500Z.model", 1 + 4 * w);
        ck_assert_msg(exists(name) == (w >= 4), "%s", name);
    }
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        ck_assert_msg(exists(others[i]), "%s removed", others[i]);
    /* again: nothing more to remove */
    ck_assert_int_eq(fc_modeldir_prune(dir, "", "s1", FC_DAY_AHEAD,
                                       "fc1-da-20200729T0500Z", FC_MODELS_KEPT, errstr,
                                       sizeof errstr),
                     0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecaster_stopmark");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, raise_only_grows);
    tcase_add_test(tc, written_and_read_back_under_its_topic);
    tcase_add_test(tc, mark_of_another_topic_is_refused);
    tcase_add_test(tc, saved_models_are_pruned_to_the_newest);
    suite_add_tcase(s, tc);
    return th_run_suite(s, 0);
}
