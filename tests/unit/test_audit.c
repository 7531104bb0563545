/* Unit tests for audit: chain, ECS lines, state file, tamper detection. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "support/harness.h"

#define NEV 6

typedef struct sink {
    int calls;
    int fail;
    int64_t last_seq;
    char last_hash[AUDIT_HASH_HEX];
    char last_after[256];
} sink_t;

static int sink_publish(void *ctx, const audit_event_t *ev, char *err, size_t n)
{
    sink_t *s = ctx;
    s->calls++;
    s->last_seq = ev->seq;
    memcpy(s->last_hash, ev->hash, AUDIT_HASH_HEX);
    snprintf(s->last_after, sizeof s->last_after, "%s",
             ev->after ? ev->after : "(null)");
    if (s->fail) {
        snprintf(err, n, "broker down");
        return -1;
    }
    return 0;
}

/* Lines written to f, as an array of malloc'd strings (without newline). */
static size_t read_lines(FILE *f, char **lines, size_t max)
{
    size_t n = 0, cap = 0;
    char *line = NULL;
    rewind(f);
    while (n < max && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        lines[n++] = strdup(line);
    }
    free(line);
    return n;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}

static void record_n(audit_t *a, int n, int64_t ts0)
{
    char err[256], after[64];
    for (int i = 0; i < n; i++) {
        snprintf(after, sizeof after, "{\"setpoint_kw\": %d, \"a\": [1, 2]}", 100 + i);
        audit_event_t ev = {.ts_ms = ts0 + i * 1000,
                            .actor = "operator1",
                            .action = "control.command.write",
                            .object = "equipment/dryer-2",
                            .site_id = i % 2 ? "site-a" : NULL,
                            .reason = "cheap slot",
                            .outcome = i == 3 ? AUDIT_DENIED : AUDIT_SUCCESS,
                            .before = i ? "{\"setpoint_kw\":0}" : NULL,
                            .after = after,
                            .correlation_id = "cmd-1"};
        ck_assert_msg(audit_record(a, &ev, NULL, err, sizeof err) == 0, "%s", err);
    }
}

static audit_t *make(FILE *out, sink_t *s, const char *state)
{
    char err[256];
    audit_conf_t conf = {.service = "recommender",
                         .instance = "pod-1",
                         .state_file = state,
                         .publish = s ? sink_publish : NULL,
                         .publish_ctx = s,
                         .ecs_out = out};
    audit_t *a = audit_new(&conf, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    return a;
}

START_TEST(test_chain_and_ecs_fields)
{
    FILE *f = tmpfile();
    sink_t s = {0};
    audit_t *a = make(f, &s, NULL);
    record_n(a, NEV, 1763758937123LL);
    ck_assert_int_eq(s.calls, NEV);
    ck_assert_int_eq(s.last_seq, NEV);
    ck_assert_int_eq(audit_last_seq(a), NEV);
    ck_assert_str_eq(s.last_after, "{\"a\":[1,2],\"setpoint_kw\":105}"); /* canonical */
    char *lines[16];
    size_t n = read_lines(f, lines, 16);
    ck_assert_int_eq(n, NEV);

    json_t *j = json_loads(lines[0], 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "@timestamp")),
                     "2025-11-21T21:02:17.123Z");
    json_t *event = json_object_get(j, "event"), *ems = json_object_get(j, "ems");
    ck_assert_str_eq(json_string_value(json_object_get(event, "kind")), "event");
    ck_assert_str_eq(json_string_value(json_object_get(event, "action")),
                     "control.command.write");
    ck_assert_str_eq(json_string_value(json_object_get(event, "outcome")), "success");
    ck_assert_str_eq(json_string_value(json_object_get(event, "reason")), "cheap slot");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j, "service"), "name")),
        "recommender");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j, "user"), "name")),
        "operator1");
    ck_assert_str_eq(json_string_value(json_object_get(ems, "object")),
                     "equipment/dryer-2");
    ck_assert_str_eq(
        json_string_value(json_object_get(ems, "prev_hash")),
        "0000000000000000000000000000000000000000000000000000000000000000");
    ck_assert(json_is_object(json_object_get(ems, "after"))); /* embedded JSON */
    ck_assert_ptr_null(json_object_get(ems, "before"));
    ck_assert_ptr_null(json_object_get(ems, "site_id"));
    const char *h0 = json_string_value(json_object_get(ems, "hash"));
    json_t *j1 = json_loads(lines[1], 0, NULL);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j1, "ems"), "prev_hash")),
        h0);
    json_t *j3 = json_loads(lines[3], 0, NULL);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j3, "event"), "outcome")),
        "failure");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j3, "ems"), "outcome")),
        "denied");
    json_decref(j);
    json_decref(j1);
    json_decref(j3);

    size_t bad = 99;
    char err[256];
    ck_assert_msg(
        audit_verify_chain((const char *const *)lines, n, &bad, err, sizeof err) == 0,
        "%s", err);
    free_lines(lines, n);
    audit_destroy(a);
    fclose(f);
}
END_TEST

/* Tampering cases: each edits the sequence and names the first bad index. */
typedef enum {
    T_EDIT_ACTOR,
    T_EDIT_AFTER,
    T_DELETE,
    T_SWAP,
    T_DROP_FIRST_OK,
    T_GARBAGE
} tamper_t;
static const struct {
    tamper_t kind;
    int rc;
    size_t bad;
    const char *reason;
} tamper_cases[] = {
    {T_EDIT_ACTOR, -1, 2, "edited"}, {T_EDIT_AFTER, -1, 4, "edited"},
    {T_DELETE, -1, 2, "deleted"},    {T_SWAP, -1, 1, "deleted or reordered"},
    {T_DROP_FIRST_OK, 0, 0, NULL},   {T_GARBAGE, -1, 1, "not"},
};

static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    ck_assert_ptr_nonnull(p);
    char *out = malloc(strlen(s) + strlen(to) + 1);
    size_t pre = (size_t)(p - s);
    memcpy(out, s, pre);
    strcpy(out + pre, to);
    strcat(out, p + strlen(from));
    return out;
}

START_TEST(test_tamper_detected)
{
    FILE *f = tmpfile();
    audit_t *a = make(f, NULL, NULL);
    record_n(a, NEV, 1763758937000LL);
    char *lines[16], *tmp;
    size_t n = read_lines(f, lines, 16), bad = 99;
    const char **seq = (const char **)lines;
    const char *view[16];
    switch (tamper_cases[_i].kind) {
    case T_EDIT_ACTOR:
        tmp = replace(lines[2], "\"actor\":\"operator1\"", "\"actor\":\"intruder\"");
        free(lines[2]);
        lines[2] = tmp;
        break;
    case T_EDIT_AFTER:
        tmp = replace(lines[4], "\"setpoint_kw\":104", "\"setpoint_kw\":999");
        free(lines[4]);
        lines[4] = tmp;
        break;
    case T_DELETE:
        for (size_t i = 0, k = 0; i < n; i++)
            if (i != 2)
                view[k++] = lines[i];
        seq = view;
        n--;
        break;
    case T_SWAP:
        tmp = lines[1];
        lines[1] = lines[2];
        lines[2] = tmp;
        break;
    case T_DROP_FIRST_OK: /* a window starting mid-chain is accepted */
        seq = (const char **)lines + 2;
        n -= 2;
        break;
    case T_GARBAGE:
        free(lines[1]);
        lines[1] = strdup("{\"hello\":1}");
        break;
    }
    char err[256] = "";
    int rc = audit_verify_chain(seq, n, &bad, err, sizeof err);
    ck_assert_int_eq(rc, tamper_cases[_i].rc);
    if (rc) {
        ck_assert_int_eq(bad, tamper_cases[_i].bad);
        ck_assert_msg(strstr(err, tamper_cases[_i].reason) != NULL, "reason: %s", err);
    }
    for (size_t i = 0; i < NEV; i++)
        free(lines[i]);
    audit_destroy(a);
    fclose(f);
}
END_TEST

/* Fails the test unless f holds want ECS lines forming one valid chain. */
static void assert_chain_verifies(FILE *f, size_t want)
{
    char *lines[16], err[256];
    size_t n = read_lines(f, lines, 16), bad;
    ck_assert_uint_eq(n, want);
    ck_assert_msg(
        audit_verify_chain((const char *const *)lines, n, &bad, err, sizeof err) == 0,
        "%s", err);
    free_lines(lines, n);
}

START_TEST(test_state_file_survives_restart)
{
    char dir[] = "/tmp/ems-audit-XXXXXX", path[64], err[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/state", dir);
    FILE *f = tmpfile();
    sink_t s = {0};
    audit_t *a = make(f, &s, path);
    record_n(a, 3, 1763758937000LL);
    audit_destroy(a);
    a = make(f, &s, path); /* "restart" */
    ck_assert_int_eq(audit_last_seq(a), 3);
    record_n(a, 2, 1763758947000LL);
    ck_assert_int_eq(s.last_seq, 5);
    assert_chain_verifies(f, 5);
    audit_destroy(a);

    /* A corrupt state file stops start-up, naming the file, rather than
     * silently starting a new chain. */
    FILE *g = fopen(path, "w");
    fputs("garbage\n", g);
    fclose(g);
    audit_conf_t conf = {.service = "x", .state_file = path, .ecs_out = f};
    ck_assert_ptr_null(audit_new(&conf, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, path));

    /* A seq the next event cannot follow (INT64_MAX, or a number beyond
     * it, which fscanf gave as INT64_MAX) is corrupt too: the next seq
     * overflowed. */
    static const char *const last[] = {"9223372036854775807", "99999999999999999999"};
    for (size_t i = 0; i < sizeof last / sizeof last[0]; i++) {
        g = fopen(path, "w");
        fprintf(g, "ems-audit-state 1\nseq %s\nhash %064d\n", last[i], 0);
        fclose(g);
        ck_assert_ptr_null(audit_new(&conf, err, sizeof err));
        ck_assert_ptr_nonnull(strstr(err, "corrupt"));
    }
    unlink(path);
    rmdir(dir);
    fclose(f);
}
END_TEST

/* The state file is private and replaced whole; when it cannot be saved the
 * event is refused with the file named, the chain does not advance, and it
 * continues unbroken once the file can be written again. */
START_TEST(test_state_save_failure_refuses_the_event)
{
    char dir[] = "/tmp/ems-audit-XXXXXX", moved[64], path[64], tmp[80], err[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(moved, sizeof moved, "%s.moved", dir);
    snprintf(path, sizeof path, "%s/state", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = tmpfile();
    sink_t s = {0};
    audit_t *a = make(f, &s, path);
    record_n(a, 2, 1763758937000LL);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_ne(access(tmp, F_OK), 0);

    ck_assert_int_eq(rename(dir, moved), 0); /* the state directory is gone */
    audit_event_t ev = {
        .actor = "service:recommender", .action = "plan.publish", .object = "plan/p-9"};
    ck_assert_int_eq(audit_record(a, &ev, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot save state file") && strstr(err, path), "%s",
                  err);
    ck_assert_msg(strstr(err, "No such file or directory"), "%s", err);
    ck_assert_int_eq(audit_last_seq(a), 2);
    ck_assert_int_eq(s.calls, 2); /* nothing published */

    ck_assert_int_eq(rename(moved, dir), 0);
    record_n(a, 1, 1763758947000LL);
    ck_assert_int_eq(s.last_seq, 3);
    assert_chain_verifies(f, 3);
    audit_destroy(a);
    unlink(path);
    rmdir(dir);
    fclose(f);
}
END_TEST

START_TEST(test_publish_failure_and_bad_input)
{
    FILE *f = tmpfile();
    sink_t s = {.fail = 1};
    audit_t *a = make(f, &s, NULL);
    char err[256];
    audit_event_t out = {0};
    audit_event_t ev = {.actor = "service:recommender",
                        .action = "plan.publish",
                        .object = "plan/p-1",
                        .after = "not json"};
    ck_assert_int_eq(audit_record(a, &ev, &out, err, sizeof err), -2);
    ck_assert_str_eq(err, "broker down");
    ck_assert_int_eq(out.seq, 1);
    /* kept as a JSON string, inside an object like every before/after */
    ck_assert_str_eq(s.last_after, "{\"value\":\"not json\"}");
    ck_assert_int_eq(audit_last_seq(a), 1);
    ev.object = NULL;
    ck_assert_int_eq(audit_record(a, &ev, NULL, err, sizeof err), -1);
    ck_assert_int_eq(audit_last_seq(a), 1);
    audit_conf_t conf = {0};
    ck_assert_ptr_null(audit_new(&conf, err, sizeof err));
    audit_destroy(a);
    audit_destroy(NULL);
    fclose(f);
}
END_TEST

/* Text that is not UTF-8 (an id copied from a record) is recorded with
 * U+FFFD in place of the bad bytes, and the chain still verifies: the
 * field was left out of the line while the hash covered it. */
START_TEST(test_invalid_utf8_recorded_and_verifiable)
{
    FILE *f = tmpfile();
    audit_t *a = make(f, NULL, NULL);
    char err[256] = "";
    audit_event_t ev = {.ts_ms = 1763758937000LL,
                        .actor = "service:scada-gateway",
                        .action = "control.command.write",
                        .object = "equipment/dryer-\xff",
                        .site_id = "site-\xc3",
                        .reason = "bad value \xff\xfe",
                        .outcome = AUDIT_DENIED,
                        .correlation_id = "cmd-\xe2\x82"};
    ck_assert_msg(audit_record(a, &ev, NULL, err, sizeof err) == 0, "%s", err);
    ev.reason = "next";
    ck_assert_msg(audit_record(a, &ev, NULL, err, sizeof err) == 0, "%s", err);
    char *lines[4];
    size_t n = read_lines(f, lines, 4), bad = 99;
    ck_assert_uint_eq(n, 2);
    ck_assert_msg(strstr(lines[0], "bad value \xef\xbf\xbd\xef\xbf\xbd"), "%s",
                  lines[0]);
    ck_assert_msg(strstr(lines[0], "equipment/dryer-\xef\xbf\xbd"), "%s", lines[0]);
    ck_assert_msg(strstr(lines[0], "site-\xef\xbf\xbd"), "%s", lines[0]);
    ck_assert_msg(audit_verify_chain((const char **)lines, n, &bad, err, sizeof err) ==
                      0,
                  "event %zu: %s", bad, err);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    audit_destroy(a);
    fclose(f);
}
END_TEST

/* A time the ECS line's @timestamp cannot write as four-digit years (after
 * 9999, or INT64_MAX, where gmtime_r fails) was recorded with a timestamp
 * the verifier read back as another time, or not at all: the chain then
 * failed to verify though nothing was edited. Such an event is refused,
 * nothing emitted; the years 0000 to 9999 are recorded and verify. */
START_TEST(test_ts_beyond_four_digit_years_refused)
{
    static const int64_t bad[] = {253402300800000LL, /* 10000-01-01 */
                                  INT64_MAX, -62167219200001LL, INT64_MIN};
    static const int64_t good[] = {253402300799999LL, /* 9999-12-31T23:59:59.999 */
                                   -62167219200000LL, /* 0000-01-01 */
                                   1000};
    FILE *f = tmpfile();
    sink_t s = {0};
    audit_t *a = make(f, &s, NULL);
    char err[256] = "";
    audit_event_t ev = {.actor = "a", .action = "b", .object = "o"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ev.ts_ms = bad[i];
        ck_assert_int_eq(audit_record(a, &ev, NULL, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "out of range") != NULL, "%s", err);
    }
    ck_assert_int_eq(audit_last_seq(a), 0);
    ck_assert_int_eq(s.calls, 0);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ev.ts_ms = good[i];
        ck_assert_msg(audit_record(a, &ev, NULL, err, sizeof err) == 0, "%s", err);
    }
    char *lines[8];
    size_t n = read_lines(f, lines, 8), bad_line = 99;
    ck_assert_uint_eq(n, 3);
    ck_assert_msg(strstr(lines[0], "\"@timestamp\":\"9999-12-31T23:59:59.999Z\""), "%s",
                  lines[0]);
    ck_assert_msg(
        audit_verify_chain((const char **)lines, n, &bad_line, err, sizeof err) == 0,
        "event %zu: %s", bad_line, err);
    free_lines(lines, n);
    audit_destroy(a);
    fclose(f);
}
END_TEST

START_TEST(test_hash_known_answer)
{
    /* Pins the canonical form: changing it breaks every stored chain. */
    audit_event_t ev = {.service = "s",
                        .instance = "i",
                        .seq = 1,
                        .ts_ms = 0,
                        .actor = "a",
                        .action = "b",
                        .object = "o",
                        .outcome = AUDIT_SUCCESS};
    memset(ev.prev_hash, '0', 64);
    char h[AUDIT_HASH_HEX];
    ck_assert_int_eq(audit_event_hash(&ev, h), 0);
    /* sha256 of
     * "ems-audit-1;64:000...0,1:s,1:i,1:1,1:0,1:a,1:b,1:o,~,~,7:success,~,~,~," */
    ck_assert_str_eq(
        h, "6ba0e8bf9cf9e14ec303880e7704394142c754ab313c81aa4f8a8a9c79ae1f65");
}
END_TEST

static Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_chain_and_ecs_fields);
    tcase_add_loop_test(tc, test_tamper_detected, 0,
                        (int)(sizeof tamper_cases / sizeof tamper_cases[0]));
    tcase_add_test(tc, test_state_file_survives_restart);
    tcase_add_test(tc, test_state_save_failure_refuses_the_event);
    tcase_add_test(tc, test_publish_failure_and_bad_input);
    tcase_add_test(tc, test_hash_known_answer);
    tcase_add_test(tc, test_invalid_utf8_recorded_and_verifiable);
    tcase_add_test(tc, test_ts_beyond_four_digit_years_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(audit_suite(), 0);
}
