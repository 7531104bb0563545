/*
 * opt_model_group: the windows of one equipment as one machine (ADR 0010,
 * item 15): starts per local day and minimum rest across them, and a run
 * going on across touching windows as one run.
 */
#include "schedule-optimizer/opt_model_int.h"

#include <lp_lib.h>

/* Whether task f is another window of task e's equipment that may run:
 * an interruptible one with on/off binaries (both have them: they share
 * their run parameters), or a non-interruptible one with a start. */
static int group_mate(const opt_model_t *m, int e, int f)
{
    const opt_equipment_t *q = &m->pb->eq[e], *r = &m->pb->eq[f];

    if (f == e || q->group <= 0 || r->group != q->group || r->kind != q->kind)
        return 0;
    return r->kind == OPT_TASK_FLEX ? m->ec[f].u0 > 0
                                    : r->kind == OPT_TASK_BLOCK && m->ec[f].ns > 0;
}

/* The window of e's group that comes next after e's deadline, or -1. */
int om_next_window(const opt_model_t *m, int e)
{
    int best = -1;

    for (int f = 0; f < m->pb->n_eq; f++)
        if (group_mate(m, e, f) && m->pb->eq[f].earliest >= m->pb->eq[e].deadline &&
            (best < 0 || m->pb->eq[f].earliest < m->pb->eq[best].earliest))
            best = f;
    return best;
}

/* Whether the next window of e's group touches it (its earliest is e's
 * deadline) and a start counts (starts per day, minimum run or start-up
 * cost; a block has only its start-up cost): a run going on across the
 * boundary is one run of the machine, so it needs its continuation
 * column. */
int om_touches_next(const opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];
    int f = om_next_window(m, e);

    if (f < 0 || m->pb->eq[f].earliest != q->deadline)
        return 0;
    if (q->kind == OPT_TASK_BLOCK)
        return m->ec[e].ns > 0 && q->startup_eur > 0;
    return m->ec[e].u0 &&
           (q->max_starts_day > 0 || q->min_run > 1 || q->startup_eur > 0);
}

/* The window of e's group whose run may go on into e (it ends where e
 * begins and has its continuation column), or -1. */
int om_prev_touching(const opt_model_t *m, int e)
{
    for (int f = 0; f < m->pb->n_eq; f++)
        if (group_mate(m, e, f) && m->ec[f].cont &&
            m->pb->eq[f].deadline == m->pb->eq[e].earliest)
            return f;
    return -1;
}

/* The end of the run of touching windows from e on: a run started in e
 * may go on up to there. */
int om_chain_end(const opt_model_t *m, int e)
{
    while (m->ec[e].cont)
        e = om_next_window(m, e);
    return m->pb->eq[e].deadline;
}

/* Puts the starts of task f in slots [a, b] (clipped to its window). */
static void put_starts(opt_model_t *m, int f, int a, int b)
{
    const eq_cols_t *c = &m->ec[f];

    for (int t = a > c->lo ? a : c->lo; t <= b && t < c->lo + c->nw; t++)
        om_row_put(m, c->y0 + t - c->lo, 1);
}

/* Puts the starts of the machine in slots [t - L + 1, t] (L = minimum
 * run) for a minimum-run row of window e: e's own, and where the range
 * reaches back into touching windows, theirs, less each continuation at a
 * boundary inside it (that window's start goes on with the run before). */
void om_put_run_starts(opt_model_t *m, int e, int t)
{
    int from = t - m->pb->eq[e].min_run + 1;

    for (int f = e; f >= 0;) {
        put_starts(m, f, from, t);
        int p = m->ec[f].lo >= from ? om_prev_touching(m, f) : -1;
        if (p >= 0)
            om_row_put(m, m->ec[p].cont, -1);
        f = m->ec[f].lo > from ? p : -1;
    }
}

/* Starts per site-local day of a group of windows, written by its first
 * task: one row per day over the starts of every window in it. */
static int rows_group_days(opt_model_t *m, int e)
{
    const opt_site_t *s = &m->pb->site;

    for (int f = 0; f < e; f++)
        if (group_mate(m, e, f))
            return 0;
    for (int t0 = 0; t0 < s->n_slots;) {
        int t1 = t0;
        while (t1 < s->n_slots && opt_slot_day(s, t1) == opt_slot_day(s, t0))
            t1++;
        om_row_reset(m);
        for (int f = 0; f < m->pb->n_eq; f++)
            if (f == e || group_mate(m, e, f)) {
                put_starts(m, f, t0, t1 - 1);
                /* the next window's start at f's deadline that goes on
                 * with f's run is not one of the machine */
                int d = m->pb->eq[f].deadline;
                if (m->ec[f].cont && d >= t0 && d < t1)
                    om_row_put(m, m->ec[f].cont, -1);
            }
        if (m->rn > 0 && om_row_add(m, LE, m->pb->eq[e].max_starts_day) < 0)
            return -1;
        t0 = t1;
    }
    return 0;
}

/* Minimum rest R from window e = [a1, b1) to the next window f = [a2, b2)
 * of its group (ADR 0010, item 15): being on in slot s forbids a start of
 * f up to slot s + R. When the windows touch (a2 == b1) a run may go on
 * across the boundary; f's first slot on then counts as its start, so
 * u1[b1 - 1] releases the row for the earlier slots and slot b1 - 1 only
 * forbids restarts after a2. */
static int rows_group_rest(opt_model_t *m, int e)
{
    const eq_cols_t *c1 = &m->ec[e];
    int R = m->pb->eq[e].min_rest, f = om_next_window(m, e);
    int a1 = c1->lo, b1 = c1->lo + c1->nw;

    if (R <= 1 || f < 0)
        return 0;
    const eq_cols_t *c2 = &m->ec[f];
    int a2 = c2->lo, b2 = c2->lo + c2->nw;
    if (a2 - b1 >= R)
        return 0;
    for (int s = a2 - R > a1 ? a2 - R : a1; s < b1; s++) {
        int last = s + R < b2 - 1 ? s + R : b2 - 1;
        om_row_reset(m);
        om_row_put(m, c1->u0 + s - a1, 1);
        if (a2 == b1 && s < b1 - 1)
            om_row_put(m, c1->u0 + b1 - 1 - a1, -1);
        put_starts(m, f, a2 == b1 && s == b1 - 1 ? a2 + 1 : a2, last);
        if (m->rn > 1 && om_row_add(m, LE, 1) < 0)
            return -1;
    }
    return 0;
}

/* The continuation of e's last run into the next window: at most e on in
 * its last slot and the next window on in its first (so at most their
 * product: the day row, the minimum-run rows and the start-up cost take
 * it off the starts only when both are on). Where a run starting at the
 * next window's first slot could not complete its minimum run, the next
 * window's first slot on must be that continuation. */
static int rows_continuation(opt_model_t *m, int e)
{
    int f = om_next_window(m, e), L = m->pb->eq[f].min_run;
    const eq_cols_t *c1 = &m->ec[e], *c2 = &m->ec[f];

    if (L > 1 && c2->lo + L > om_chain_end(m, f)) {
        om_row_reset(m);
        om_row_put(m, c2->y0, 1);
        om_row_put(m, c1->cont, -1);
        if (om_row_add(m, LE, 0) < 0)
            return -1;
    }

    om_row_reset(m);
    om_row_put(m, c1->cont, 1);
    om_row_put(m, c1->u0 + c1->nw - 1, -1);
    if (om_row_add(m, LE, 0) < 0)
        return -1;
    om_row_reset(m);
    om_row_put(m, c1->cont, 1);
    om_row_put(m, c2->u0, -1);
    return om_row_add(m, LE, 0);
}

/* Rows across the windows of one equipment. In elastic mode they need no
 * slack: every window may stay off (its unmet energy and shortfall take
 * the slack), and off satisfies them. */
int om_rows_group(opt_model_t *m, int e)
{
    const opt_equipment_t *q = &m->pb->eq[e];

    if (q->group <= 0 || !m->ec[e].u0)
        return 0;
    if (q->max_starts_day > 0 && rows_group_days(m, e) < 0)
        return -1;
    if (m->ec[e].cont && rows_continuation(m, e) < 0)
        return -1;
    return rows_group_rest(m, e);
}

/* A block going on into the block of the next, touching window (ADR 0010,
 * item 16): the two run as one, one start and one start-up cost, as the
 * cost function counts them. The continuation column is at most the start
 * that ends e's block at its deadline and the next block's start at its
 * earliest slot, so at most their product; it credits the next window's
 * start-up back (cols_all), so at an optimum it equals the product. */
int om_rows_block_continuation(opt_model_t *m, int e)
{
    const eq_cols_t *c1 = &m->ec[e], *c2 = &m->ec[om_next_window(m, e)];

    om_row_reset(m);
    om_row_put(m, c1->cont, 1);
    om_row_put(m, c1->s0 + c1->ns - 1, -1);
    if (om_row_add(m, LE, 0) < 0)
        return -1;
    om_row_reset(m);
    om_row_put(m, c1->cont, 1);
    om_row_put(m, c2->s0, -1);
    return om_row_add(m, LE, 0);
}
