/*
 * opt_model_int: the model builder's state, shared by the modules that
 * build the MILP (opt_model.c: layout, row helpers, life cycle, export;
 * opt_model_site.c, opt_model_task.c, opt_model_group.c,
 * opt_model_storage.c: the columns and rows of each part) and the one that
 * reads and fixes it against plans (opt_model_plan.c). Not an API: one
 * model, on its caller's thread. Internal functions carry the prefix om_.
 */
#ifndef EMS_OPT_MODEL_INT_H
#define EMS_OPT_MODEL_INT_H

#include <lp_lib.h>

#include "schedule-optimizer/opt_model.h"

/* Penalties of the elastic model, far above any price (EUR/kWh ~ 0.05). */
#define PEN_TASK_KWH 10.0
#define PEN_CAP_KW 1000.0

/* On means drawing power, as plans and the validator read it: without a
 * floor, u = 1 at 0 kW (power_min_kw 0) would join two runs into one and
 * dodge the minimum rest and the starts per day. 1 W is no cost worth
 * naming and far above the validator's 1e-6 kW. */
#define ON_MIN_KW 1e-3

typedef struct eq_cols {
    int s0, ns;     /* block: start columns for slots [lo, lo + ns) */
    int lo;         /* first slot of the columns */
    int p0, u0, y0; /* flex: power, on, start over [lo, lo + nw) */
    int nw;
    double p_base;  /* flex with on/off: power column holds p - p_base * u */
    int c0, d0, q0; /* storage: charge, discharge, soc over all slots */
    int z0;         /* storage: 1 = may charge, 0 = may discharge, per slot
                     * (0 = none: no slot where wasting energy pays) */
    int miss;       /* elastic: unmet energy / start / final SOC (0 = none) */
    int cont;       /* a run going on into the next, touching window of the
                     * group: <= u (a block: its start ending at the
                     * deadline) at this window's end and the next's start,
                     * not a start of the machine (0 = none) */
    int short0;     /* elastic: shift shortfall columns (0 = none) */
    int dur;        /* block duration */
    double p_run;   /* block power, */
    double p_last;  /* and in its last slot (less when it stops within) */
} eq_cols_t;

struct opt_model {
    const opt_problem_t *pb;
    lprec *lp;
    int elastic, ncols, nbin;
    int peak;      /* peak column, 0 = none */
    int peak_next; /* the next billing period's peak column, 0 = none */
    int cap_rows;  /* separate capacity rows used */
    int slack0;    /* elastic: capacity slack columns, one per slot */
    int xslack0;   /* elastic: export slack columns, one per slot (or 0) */
    double obj_const;
    eq_cols_t *ec;
    /* scratch row */
    double *rv;
    int *ri;
    int rn;
    /* ranges to set once row mode is off: row, width */
    int *rr;
    double *rw;
    int nr, cr;
};

/* ---- opt_model.c: the scratch row and its helpers ---- */

void om_row_reset(opt_model_t *m);
void om_row_put(opt_model_t *m, int col, double v);
/* Puts v times flex task c's power in slot c->lo + k (p_base * u + w). */
void om_row_put_flex(opt_model_t *m, const eq_cols_t *c, int k, double v);
/* Adds the scratch row as a row of the given type; 0 or -1. */
int om_row_add(opt_model_t *m, int type, double rh);
/* Adds lo <= row <= hi (the range applied after row mode); 0 or -1. */
int om_row_add_range(opt_model_t *m, double lo, double hi);
/* Names column col "<k><e>_<t>". */
void om_name_col(lprec *lp, int col, char k, int e, int t);

/* ---- opt_model_site.c ---- */

/* Whether charging and discharging a storage at once could pay in slot t
 * (there a storage's direction is a binary). */
int om_waste_slot(const opt_site_t *s, int t);
int om_any_waste_slot(const opt_site_t *s);
void om_cols_site(opt_model_t *m, double *obj);
/* The site rows of every slot; 0 or -1. */
int om_rows_site(opt_model_t *m);

/* ---- opt_model_task.c ---- */

/* Whether a flex task needs on/off binaries. */
int om_needs_bin(const opt_equipment_t *e);
/* Upper bounds of flex task e's on/off and start binaries in slot lo + k. */
double om_u_ub(const opt_model_t *m, int e, int k);
double om_y_ub(const opt_model_t *m, int e, int k);
/* A block's power in slot k of its run. */
double om_block_kw(const eq_cols_t *c, int k);
void om_cols_task(opt_model_t *m, int e, double *obj);
/* The rows of a block / of a flex task (its group's rows included); 0 or
 * -1. */
int om_rows_block(opt_model_t *m, int e);
int om_rows_flex(opt_model_t *m, int e);

/* ---- opt_model_group.c ---- */

/* The window of e's group that comes next after e's deadline, or -1. */
int om_next_window(const opt_model_t *m, int e);
/* Whether e's run may go on into its next, touching window as one run
 * that needs a continuation column. */
int om_touches_next(const opt_model_t *m, int e);
/* The touching window whose run may go on into e, or -1. */
int om_prev_touching(const opt_model_t *m, int e);
/* The end of the run of touching windows from e on. */
int om_chain_end(const opt_model_t *m, int e);
/* Puts the machine's starts in [t - L + 1, t] for a minimum-run row. */
void om_put_run_starts(opt_model_t *m, int e, int t);
/* The rows across the windows of e's equipment; 0 or -1. */
int om_rows_group(opt_model_t *m, int e);
/* The rows of block e's continuation into the next window; 0 or -1. */
int om_rows_block_continuation(opt_model_t *m, int e);

/* ---- opt_model_storage.c ---- */

void om_cols_storage(opt_model_t *m, int e, double *obj);
int om_rows_storage(opt_model_t *m, int e);

#endif
