/*
 * ing_rollup: event-time rollups and gap detection, the ingester's core. No
 * I/O: readings go in, closed intervals and gaps come out as plain records.
 *
 * Time is cut into intervals of interval_ms (15 min) aligned on the epoch. A
 * site's watermark is the latest event time seen at the site minus the
 * allowed lateness; an interval closes when the watermark reaches its end,
 * and is then emitted for the meter (revision 0) and for the site (the sum
 * over the site's counted meters). A good reading that lands in a closed
 * interval still inside the correction horizon updates it and the interval
 * is emitted again with the next revision; older readings are "too late"
 * (stored by the caller, not rolled up).
 *
 * Interval values: energy from the energy counter when the interval holds two
 * counter readings (their delta, scaled from their time span to the whole
 * interval), else mean power times the interval length; mean_kw = energy /
 * hours; peak/min over the power readings; completeness = good readings times
 * the meter's sample period over the interval, at most 1. Only readings of
 * quality good count; others move the watermark only.
 *
 * Gaps: once a meter has reported, every closed interval without a good
 * reading belongs to a gap. A gap is emitted when it opens (ongoing), while it
 * grows (one more missing interval), when readings resume (ongoing false) and
 * when late readings fill its intervals (recovered once all are filled). A
 * gap that readings resumed after is emitted only once the watermark has
 * passed its end, like any interval close: until then a late reading for one
 * of its intervals the watermark has not closed takes that interval out of
 * it (the gap shrinks, splits or goes) instead of recovering it.
 *
 * The caller feeds each stored reading once (the database says which ones
 * are new), calls ing_rollup_advance(), reads ing_rollup_outputs() and then
 * ing_rollup_clear(). Threads: one thread at a time per handle.
 */
#ifndef EMS_INGESTER_ING_ROLLUP_H
#define EMS_INGESTER_ING_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingester/ing_types.h"

typedef struct ing_rollup_s ing_rollup_t;

typedef struct ing_rollup_conf {
    int64_t interval_ms;      /* 0 = 15 min */
    int64_t lateness_ms;      /* allowed lateness; 0 means none */
    int64_t horizon_ms;       /* closed intervals kept for corrections; 0 = 1 day */
    int64_t sample_period_ms; /* expected period of unregistered meters; 0 = 1 min */
    bool accept_unknown;      /* unregistered meters are accepted and counted */
    int reset_confirm;        /* readings that confirm a counter reset; 0 = 3 */
} ing_rollup_conf_t;

/* Returns a handle, or NULL on allocation failure. conf is copied. */
ing_rollup_t *ing_rollup_new(const ing_rollup_conf_t *conf);
/* Frees everything. NULL is a no-op. */
void ing_rollup_destroy(ing_rollup_t *r);

/* Registers a meter of the plant model: its site, whether it counts in the
 * site sum, and its sample period (0 = the default). Returns 0, or -1 on
 * allocation failure or when the meter is already registered elsewhere. */
int ing_rollup_set_meter(ing_rollup_t *r, const char *meter_id, const char *site_id,
                         bool counted, int64_t sample_period_ms);

/* Checks a reading against the meter's state before it is stored: unknown
 * meter (unless accept_unknown), a site other than the meter's, an energy
 * counter that goes down over time. On success records the counter, sets
 * rd->reset and returns 0; otherwise -1 with the reason and no state change.
 *
 * A counter that falls below the meter's newest one is a reset candidate
 * (rd->reset = ING_RESET_PENDING), accepted and stored but held out of the
 * rollups. Each later reading (event time after the newest held one) that
 * continues from it (not below the newest held counter, still below the
 * old counter) is held too; the reset_confirm-th confirms the reset
 * (ING_RESET_CONFIRM): the held readings are rolled up and the counter
 * continues from the new value. A reading back at or above the old counter
 * ends the candidate as a glitch (ING_RESET_GLITCH on that reading): the
 * held readings are never rolled up. A reading below the newest held
 * counter is refused. For CONFIRM and GLITCH reason says what happened
 * (for the log); otherwise it is left as it was.
 *
 * A reading that is not the newest is checked against its neighbours in
 * time within its counter segment (segments start at the candidates of
 * confirmed resets): refused when below the reading just before it or
 * above the one just after it. The readings and resets this needs are
 * kept for the restore window (lateness + horizon + 2 intervals) before
 * the meter's newest reading, at most ING_RESETS_MAX (8) resets. */
int ing_rollup_check(ing_rollup_t *r, ing_reading_t *rd, char *reason,
                     size_t reason_size);

/* Result of ing_rollup_add(). */
typedef enum {
    ING_ADD_USED = 0,  /* went into an interval */
    ING_ADD_IGNORED,   /* not of good quality: watermark only */
    ING_ADD_TOO_LATE,  /* beyond the correction horizon */
    ING_ADD_UNKNOWN,   /* meter not known (check it first) */
    ING_ADD_HELD,      /* a pending counter reset's: rolled up once confirmed */
    ING_ADD_ERROR = -1 /* allocation failure */
} ing_add_result_t;

/* Feeds one stored reading (each reading once). */
ing_add_result_t ing_rollup_add(ing_rollup_t *r, const ing_reading_t *rd);

/* The wall clock (epoch ms), set by the caller before it feeds readings:
 * a site's watermark follows its latest event time but no further than the
 * clock (minus the lateness). A reading dated ahead of the clock (the
 * validation allows ingester.max_future) is rolled up in its own interval,
 * which closes when the site's readings reach it, and does not close the
 * intervals before it. INT64_MAX, the default, sets no limit. */
void ing_rollup_set_clock(ing_rollup_t *r, int64_t now_ms);
int64_t ing_rollup_clock(const ing_rollup_t *r);

/* Closes intervals the watermarks passed, emits corrections and gaps into
 * the outputs. Returns 0, or -1 on allocation failure. */
int ing_rollup_advance(ing_rollup_t *r);

/* The records emitted since the last clear, borrowed until the next call
 * that changes r. Meter intervals come before the site intervals of the same
 * advance. */
void ing_rollup_outputs(const ing_rollup_t *r, const ing_interval_t **iv, size_t *niv,
                        const ing_gap_t **gaps, size_t *ngaps);
/* Empties the outputs (after they are durable and published). */
void ing_rollup_clear(ing_rollup_t *r);

/* The site's watermark, or INT64_MIN when the site has no reading yet. */
int64_t ing_rollup_watermark(const ing_rollup_t *r, const char *site_id);
/* Number of gaps currently ongoing (for the gaps-open gauge). */
size_t ing_rollup_open_gaps(const ing_rollup_t *r);
/* How many readings (candidate and followers) the meter's last glitch
 * held; 0 for an unknown meter or one without a glitch. */
int ing_rollup_glitch_readings(const ing_rollup_t *r, const char *meter_id);
/* Counter resets confirmed and readings dropped as counter glitches, since
 * the handle was made (restores included). */
void ing_rollup_reset_stats(const ing_rollup_t *r, int64_t *resets, int64_t *glitches);
/* Counters: intervals closed (revision 0), corrections, too-late readings. */
void ing_rollup_stats(const ing_rollup_t *r, int64_t *closed, int64_t *corrected,
                      int64_t *too_late);

/* ---- restoring after a restart ----
 *
 * The state of a site is rebuilt from the database the first time the
 * service sees the site (and again after a failed write whose outcome is
 * unknown): ing_rollup_forget_site(), then the site's stored readings of the
 * last correction horizon in event-time order through
 * ing_rollup_restore_reading(), its stored open (and recent) gaps through
 * ing_rollup_restore_gap(), and finally ing_rollup_restore_finish() with the
 * stored 15-min rows. The finish closes what the watermark passed and keeps
 * in the outputs only the intervals and gaps the database does not hold as
 * computed (a crash between storing readings and storing their rollups),
 * with revisions continuing the stored ones. */

/* Clears the state of the site's meters and the site (kept registered). */
void ing_rollup_forget_site(ing_rollup_t *r, const char *site_id);
/* ing_rollup_forget_site() for every site. */
void ing_rollup_forget_all(ing_rollup_t *r);
/* Notes that readings of the site arrive on partition (of the consumed
 * topic), so that ing_rollup_forget_moved() forgets the site when that
 * partition moves; the partitions are kept while the site is. 0, or -1
 * on allocation failure (the site's partitions are then unknown, and it
 * is forgotten at the next rebalance). */
int ing_rollup_note_partition(ing_rollup_t *r, const char *site_id, int32_t partition);
/* After a rebalance: forgets (ing_rollup_forget_site) every site seen on
 * a partition for which moved(partition, ctx) is true, since another
 * instance may have consumed it meanwhile, and every site whose
 * partitions are unknown; the sites of partitions kept stay as they are.
 * Returns how many restored sites were forgotten. */
size_t ing_rollup_forget_moved(ing_rollup_t *r,
                               bool (*moved)(int32_t partition, void *ctx), void *ctx);
/* Declares that every stored reading of the site at or after from_ms is fed
 * (call after forget, before finish). The finish then also publishes the
 * intervals starting at from_ms or later that are past the correction
 * horizon and missing from stored (the outputs of batches whose readings
 * were committed but whose rollups were not, which may span any event time
 * when a long replay was consumed in large batches). Stored rows past the
 * horizon are never rewritten. Without this call only intervals inside the
 * horizon are reconciled. 0, or -1 on allocation failure. */
int ing_rollup_restore_from(ing_rollup_t *r, const char *site_id, int64_t from_ms);
/* Feeds one stored reading. Returns 0 (also when the reading is skipped,
 * e.g. a meter of another site), -1 on allocation failure. */
int ing_rollup_restore_reading(ing_rollup_t *r, const ing_reading_t *rd);
/* Takes over one stored gap (after the readings). 0, or -1 on allocation
 * failure. */
int ing_rollup_restore_gap(ing_rollup_t *r, const ing_gap_t *g);
/* Closes the site's due intervals and reconciles them with stored, the
 * stored 15-min rows of the site (revision, sample_count and energy_kwh are
 * compared; stored is reordered). Marks the site restored. 0 or -1. */
int ing_rollup_restore_finish(ing_rollup_t *r, const char *site_id,
                              ing_interval_t *stored, size_t nstored);
/* Whether the site was restored since it was last forgotten. */
bool ing_rollup_restored(const ing_rollup_t *r, const char *site_id);

/* Class of a gap by its duration: minor up to 2 h, moderate up to 12 h,
 * critical beyond. */
ing_gap_class_t ing_gap_classify(int64_t duration_ms);
/* "minor", "moderate", "critical". */
const char *ing_gap_class_name(ing_gap_class_t c);

#endif
