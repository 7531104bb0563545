/*
 * ing_rollup internals shared by ing_rollup.c (intervals, watermarks),
 * ing_counter.c (the counter check), ing_restore.c (restores) and
 * ing_gap.c (gap tracking). Not part of the public API.
 */
#ifndef EMS_INGESTER_ING_ROLLUP_INT_H
#define EMS_INGESTER_ING_ROLLUP_INT_H

#include "ingester/ing_rollup.h"

/* One interval of one meter being accumulated (or closed and kept). */
typedef struct acc {
    int64_t start;
    int32_t n_good, n_power, n_energy;
    double p_sum, p_max, p_min;
    int64_t e_t0, e_t1; /* earliest and latest counter reading */
    double e_v0, e_v1;
    int32_t revision; /* last published; -1 = never */
    bool closed, dirty;
} acc_t;

typedef struct gap_rec {
    ing_gap_t g;
    int32_t filled; /* missing intervals filled by late readings */
    bool dirty;
    bool published;
    /* ended by a reading after it, but the watermark has not passed its end
     * yet: held (not emitted), and a late reading for one of its intervals
     * still open takes that interval out of it (ing_gap_advance) */
    bool pending;
    bool rebuilt; /* pending gap found in the stored readings by a restore */
} gap_rec_t;

struct site;

/* Confirmed resets remembered per meter, in the check and in the rollups:
 * a meter resetting more often within the window forgets the oldest. */
#define ING_RESETS_MAX 8

/* One counter reading as the check keeps it. */
typedef struct ctr_pt {
    int64_t ts;
    double v; /* raw energy_kwh */
} ctr_pt_t;

/* A counter reading as the rollups keep it around a reset: its time,
 * counter (on the continuous scale for the old counter's last reading, raw
 * for a candidate) and power. */
typedef struct ctr_end {
    int64_t ts;
    double v;
    bool has_p;
    double p;
} ctr_end_t;

/* A counter segment on the rollups' continuous scale: from ts on (the
 * candidate of a confirmed reset) a raw counter counts as raw + off, which
 * continues the old counter's last reading rolled up (last) by the energy
 * between it and the candidate (cand). A later last reading arriving late
 * moves off (ing_rollup.c, seg_new_last). */
typedef struct seg {
    int64_t ts;
    double off;
    ctr_end_t last, cand;
} seg_t;

typedef struct meter {
    char id[ING_ID_MAX];
    struct site *site;
    bool counted;
    int64_t period_ms;
    acc_t *accs; /* sorted by start */
    size_t nacc, acap;
    bool has_last;
    int64_t last_end; /* end of the latest interval with a good reading */
    bool ctr_set;
    int64_t ctr_ts;
    double ctr_v;
    /* the check's reset candidate: the old counter (ctr_*) stays until it
     * is confirmed; cand is the first fallen reading, last the newest held */
    bool pend;
    int pend_n;   /* followers so far */
    int glitch_n; /* readings held by the last glitch */
    int64_t cand_ts, last_ts;
    double cand_v, last_v;
    /* the counter readings the check accepted (raw values, by time, held
     * ones included) of at least the restore window before the newest:
     * a late reading's neighbours in its counter segment (ing_counter.c) */
    ctr_pt_t *pts;
    size_t npts, pcap;
    /* the confirmed resets of that window, oldest first: the times of
     * their candidates, where a counter segment starts */
    int64_t rs_ts[ING_RESETS_MAX];
    int nrs;
    /* the newest reset dropped from rs_ts: the segment of a reading before
     * it is unknown (INT64_MIN: none dropped) */
    int64_t rs_floor;
    /* the rollup side: readings held until their reset is decided */
    ing_reading_t *held;
    size_t nheld, hcap;
    /* counter values are rolled up continuous: raw + segs[i].off from
     * segs[i].ts on (one segment per confirmed reset within the correction
     * horizon, oldest first), raw + base_off before the first */
    seg_t segs[ING_RESETS_MAX];
    int nseg;
    double base_off;
    /* newest counter reading rolled up (continuous value) and its power */
    bool rl_set;
    ctr_end_t rl;
    gap_rec_t *gaps; /* by start */
    size_t ngap, gcap;
} meter_t;

typedef struct site_rev {
    int64_t start;
    int32_t revision; /* -1 = never published */
    bool dirty;
} site_rev_t;

typedef struct site {
    char id[ING_ID_MAX];
    meter_t **meters;
    size_t nmeters, mcap;
    bool has_ts;
    int64_t max_ts;
    site_rev_t *revs;
    size_t nrev, rcap;
    bool restored;        /* state rebuilt from the database (ing_rollup_restore_*) */
    int64_t restore_from; /* stored readings fed from here on (INT64_MAX: unknown) */
    int32_t *parts;       /* partitions its readings were seen on (none: unknown) */
    size_t nparts, pcap;
} site_t;

struct ing_rollup_s {
    ing_rollup_conf_t conf;
    meter_t **slots; /* open-addressing table of meters, size cap (power of 2) */
    size_t cap, nmeters;
    site_t **sites;
    size_t nsites, scap;
    site_t *
        *site_slots; /* open-addressing table of sites, size site_cap (power of 2) */
    size_t site_cap;
    ing_interval_t *out_iv;
    size_t niv, ivcap;
    ing_gap_t *out_gap;
    size_t ngap, gapcap;
    int64_t closed, corrected, too_late;
    int64_t resets, glitches;
    bool restoring;   /* feeding stored readings: gap tracking only moves last_end */
    int64_t clock_ms; /* no site's latest event time counts beyond it (INT64_MAX) */
};

/* Grows *arr (elements of size sz) to hold at least need; 0 or -1. */
int ing_grow(void *arr, size_t *cap, size_t need, size_t sz);
int64_t ing_floor_to(int64_t t, int64_t step);

/* ing_rollup.c, shared with ing_restore.c */
meter_t *ing_meter_find(const ing_rollup_t *r, const char *id);
site_t *ing_site_get(ing_rollup_t *r, const char *id, bool create);
site_t *ing_site_find(const ing_rollup_t *r, const char *id);
size_t ing_acc_lower(const meter_t *m, int64_t start);
site_rev_t *ing_site_rev_get(site_t *s, int64_t start);
int ing_site_advance(ing_rollup_t *r, site_t *s);

/* ing_counter.c: the counter part of ing_rollup_check() (see ing_rollup.h);
 * 0, or -1 with the reason and no state change */
int ing_counter_check(ing_rollup_t *r, meter_t *m, ing_reading_t *rd, char *reason,
                      size_t reason_size);
/* Clears the meter's counter check state (a restore follows). */
void ing_counter_forget(meter_t *m);

/* ing_gap.c */
int ing_gap_on_reading(ing_rollup_t *r, meter_t *m, int64_t start, bool new_interval,
                       bool closed);
int ing_gap_advance(ing_rollup_t *r, meter_t *m, int64_t wm);
size_t ing_gap_open_count(const meter_t *m);
int ing_gap_restore(ing_rollup_t *r, meter_t *m, const ing_gap_t *g);
void ing_gap_restore_done(meter_t *m, int64_t wm);

#endif
