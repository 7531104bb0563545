/* fc_baseline: the two baselines that always run beside the learned model.
 *
 * Weekly seasonal naive: the value at the same wall-clock slot 7 days before
 * (14 days when that slot is missing). Exponentially weighted weekly
 * profile: per day type (Monday..Sunday, public holiday) and wall-clock slot
 * of day, an average where each newer observation has weight alpha; a
 * holiday with no holiday in the history uses the Sunday profile. Both read
 * only values complete before the issue time. */
#ifndef FC_BASELINE_H
#define FC_BASELINE_H

#include "forecaster/fc_features.h"

double fc_naive_point(const fc_issue_ctx *c, int64_t t);

typedef struct fc_profile {
    int slots; /* slots per day on the wall clock */
    int step;
    double *v; /* FC_DAY_TYPES * slots, NaN where never seen */
} fc_profile;

/* Builds the profile from the known history in the `days` before the issue.
 * Returns 0, or -1 on ENOMEM. */
int fc_profile_build(fc_profile *p, const fc_issue_ctx *c, double alpha, int days);
void fc_profile_release(fc_profile *p);

/* Profile value for target t, NaN if the profile never saw that slot. */
double fc_profile_point(const fc_profile *p, const fc_calendar *cal, int64_t t);

#endif
