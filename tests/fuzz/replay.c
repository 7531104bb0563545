/*
 * replay: runs a fuzz harness over its corpus without libFuzzer, for make
 * test. Linked with one tests/fuzz/fuzz_<target>.c (FZ_TARGET names it), it
 * calls LLVMFuzzerTestOneInput() once per file of
 * tests/fuzz/corpus/<target>/ under the source root (fz_root()), or of the
 * directory given as argument, each
 * file a Check loop iteration in a child of its own: an input that crashes,
 * trips a sanitizer or leaks fails that iteration, which names the file.
 * The seeds and every crashing input found by make fuzz stay in the
 * corpus, so a decoder that breaks on one again fails the suite.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"

#ifndef FZ_TARGET
/* cppcheck-suppress preprocessorErrorDirective ; the Makefile defines it */
#error "FZ_TARGET must name the harness (fuzz_<target>)"
#endif

#define REPLAY_MAX_FILES 4096

static char dir[4096];
static char *files[REPLAY_MAX_FILES];
static int nfiles;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the regular files of dir, sorted; returns their number. */
static int list_corpus(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return -1;
    while ((e = readdir(d)) && nfiles < REPLAY_MAX_FILES)
        if (e->d_name[0] != '.')
            files[nfiles++] = strdup(e->d_name);
    closedir(d);
    qsort(files, (size_t)nfiles, sizeof files[0], by_name);
    return nfiles;
}

START_TEST(test_input)
{
    char rel[8192];
    size_t len;
    char *buf;

    snprintf(rel, sizeof rel, "%s/%s", dir, files[_i]);
    buf = fz_slurp(rel, &len);
    fprintf(stderr, "replay %s (%zu bytes)\n", rel, len);
    /* a copy of exactly len bytes: ASan then sees a read past the input */
    uint8_t *in = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(in);
    memcpy(in, buf, len);
    free(buf);
    ck_assert_int_eq(LLVMFuzzerTestOneInput(in, len), 0);
    free(in);
}
END_TEST

START_TEST(test_corpus_present)
{
    ck_assert_msg(nfiles > 0, "no inputs in %s", dir);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create(FZ_TARGET);
    TCase *tc = tcase_create("corpus");
    SRunner *sr;
    int failed;

    if (argc > 1)
        snprintf(dir, sizeof dir, "%s", argv[1]);
    else
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", fz_root(),
                 FZ_TARGET + strlen("fuzz_"));
    list_corpus();
    tcase_add_test(tc, test_corpus_present);
    tcase_add_loop_test(tc, test_input, 0, nfiles);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < nfiles; i++)
        free(files[i]);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
