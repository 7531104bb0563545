/*
 * opt_problem: the schedule optimizer's plain data. A problem (one site over a
 * horizon of slots, its flexible equipment) goes in; a plan (power per
 * equipment per slot) and its cost come out. No I/O, no solver here: the same
 * cost function prices the optimized plan, the heuristic plan and the
 * baseline, so savings compare like with like.
 *
 * Units: kW, kWh, EUR/MWh, EUR/kW, hours. Slot t covers
 * [t * slot_h, (t + 1) * slot_h) from the horizon start. Windows are
 * half-open slot ranges [earliest, deadline).
 *
 * Ownership: a problem does not own the arrays it points at (prices, load,
 * equipment); the caller keeps them alive while the problem is in use.
 * Plans and message lists own their memory (opt_plan_release,
 * opt_msgs_release). Nothing here keeps global state; every function may be
 * called from any thread on distinct objects.
 */
#ifndef EMS_OPT_PROBLEM_H
#define EMS_OPT_PROBLEM_H

#include <stddef.h>

#define OPT_NAME_MAX 48
#define OPT_MAX_SHIFTS 8

typedef enum opt_kind {
    OPT_TASK_BLOCK = 0, /* non-interruptible: one start, fixed duration */
    OPT_TASK_FLEX,      /* interruptible load / process with SLA shifts */
    OPT_STORAGE         /* battery or thermal storage */
} opt_kind_t;

/* Minimum output of a process over a shift [start, end). */
typedef struct opt_shift {
    int start, end;
    double min_output; /* units of product */
} opt_shift_t;

typedef struct opt_equipment {
    char name[OPT_NAME_MAX];
    opt_kind_t kind;
    /* tasks (block and flex) */
    double p_min_kw;    /* power while on; 0 = may run at any level */
    double p_max_kw;    /* rated power; a block task runs at energy/duration */
    double energy_kwh;  /* energy to deliver in the window (0 = none: SLA only) */
    int earliest;       /* first slot it may run */
    int deadline;       /* slot by which it must be done (exclusive) */
    int habitual_start; /* business-as-usual start slot, -1 = earliest */
    double ramp_kw;     /* max power change between slots (flex; storage: of
                           charge - discharge), 0 = none */
    int min_run;        /* slots, flex */
    int min_rest;       /* slots, flex */
    int max_starts_day; /* flex, 0 = unlimited */
    double startup_eur; /* cost per start */
    /* Windows of one plant equipment: flex tasks with the same group > 0
     * are one machine, so minimum run, minimum rest and starts per day
     * hold across them (their power summed per slot) and a run going on
     * across touching windows starts once; 0 = a task of its own. Windows
     * of a group do not overlap and share their run parameters. */
    int group;
    double specific_kwh; /* kWh per unit of output (flex with shifts) */
    int n_shifts;
    opt_shift_t shifts[OPT_MAX_SHIFTS];
    /* storage */
    double cap_kwh, soc0_kwh, soc_min_kwh, soc_max_kwh;
    double charge_max_kw, discharge_max_kw;
    double eta_charge, eta_discharge; /* (0, 1] */
    double loss_per_slot;             /* fraction of SOC lost per slot */
    double draw_kw; /* taken from the store by a process, every slot (thermal) */
} opt_equipment_t;

typedef struct opt_site {
    int n_slots;
    double slot_h;         /* slot length in hours (0.25 by default) */
    const double *price;   /* EUR/MWh per slot */
    const double *base_kw; /* inflexible load per slot (P50 or a quantile) */
    double import_cap_kw;  /* contracted import capacity */
    double export_cap_kw;  /* max export, used when storage may export */
    double demand_eur_kw;  /* demand charge on the billing-period peak */
    double peak_so_far_kw; /* peak already reached in the period */
    /* A horizon may cross into the next billing period (the last day of a
     * month): from this slot on, the load sets that period's peak, billed
     * on its own with next_peak_so_far_kw as its floor (0 in live
     * operation: the period has not begun). 0 = one period. */
    int next_period_slot;
    double next_peak_so_far_kw;
    double co2_eur_t;         /* CO2 price, 0 = none */
    const double *co2_kg_mwh; /* grid intensity per slot, NULL = none */
    /* Site-local day of each slot (0 = the horizon start's), for starts per
     * day; NULL = days of 24 h from the horizon start. */
    const int *day;
} opt_site_t;

typedef struct opt_problem {
    opt_site_t site;
    int n_eq;
    const opt_equipment_t *eq;
} opt_problem_t;

typedef struct opt_cost {
    double energy_eur; /* imports (and exports) at the day-ahead price */
    double demand_eur; /* demand_eur_kw * (peak_kw + next_peak_kw) */
    double startup_eur;
    double co2_eur;
    double total_eur;
    double peak_kw;      /* max(peak so far, plan peak) of the first period */
    double next_peak_kw; /* the same of the next period; 0 = none */
} opt_cost_t;

/* A plan: arrays of n_eq * n_slots, index e * n_slots + t. */
typedef struct opt_plan {
    int n_eq, n_slots;
    double *power;     /* kW drawn (storage: charge - discharge) */
    double *charge;    /* storage only, else 0 */
    double *discharge; /* storage only, else 0 */
    double *soc;       /* storage SOC at the end of slot t, else 0 */
    unsigned char *on; /* 1 when the equipment draws power */
} opt_plan_t;

/* A growing list of owned, human-readable lines. */
typedef struct opt_msgs {
    char **v;
    int n, cap;
} opt_msgs_t;

/* Returns 0, or -1 when out of memory (the plan is then released). */
int opt_plan_init(opt_plan_t *pl, int n_eq, int n_slots);
void opt_plan_release(opt_plan_t *pl);
/* Copies src into an already initialised dst of the same shape. */
void opt_plan_copy(opt_plan_t *dst, const opt_plan_t *src);
/* Derives power and on from charge/discharge (storage) and power (tasks). */
void opt_plan_finish(const opt_problem_t *pb, opt_plan_t *pl);

void opt_msgs_init(opt_msgs_t *m);
void opt_msgs_release(opt_msgs_t *m);
/* Appends a formatted line; on out of memory the line is dropped. */
void opt_msgs_add(opt_msgs_t *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Non-interruptible task: duration in slots and the power it runs at:
 * energy / duration when that is at least its minimum power, else (a
 * minimum close to the rating) its rating, stopping within its last slot.
 * Returns the duration (>= 1). */
int opt_block_duration(const opt_problem_t *pb, const opt_equipment_t *e,
                       double *p_run);
/* Average power of a non-interruptible task's last slot: the energy left
 * after the others (p_run, or less when it stops within the slot). */
double opt_block_last_kw(const opt_problem_t *pb, const opt_equipment_t *e);
/* Billing period of slot t within the horizon: 0 = the horizon start's, 1 =
 * the next one (from next_period_slot). */
int opt_slot_period(const opt_site_t *s, int t);
/* Peak already reached in period k (0 or 1) before the plan. */
double opt_period_floor(const opt_site_t *s, int k);
/* Site-local day of slot t, counted from the horizon start's (0). */
int opt_slot_day(const opt_site_t *s, int t);
/* Effective price (energy + CO2) of slot t in EUR/MWh. */
double opt_slot_price(const opt_site_t *s, int t);
/* Site net import in slot t under the plan (kW). */
double opt_site_load(const opt_problem_t *pb, const opt_plan_t *pl, int t);
/* Prices a plan: energy, demand charge, start-ups (counted from the on
 * pattern; a window's first slot on that goes on with the run of the
 * touching window before it is no start), CO2. Never fails. */
void opt_plan_cost(const opt_problem_t *pb, const opt_plan_t *pl, opt_cost_t *c);
/* Checks the problem's own data (ranges, windows). Returns the number of
 * problems found; each is described in out (may be NULL). */
int opt_problem_check(const opt_problem_t *pb, opt_msgs_t *out);

#endif
